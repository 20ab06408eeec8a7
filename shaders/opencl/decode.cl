// vc6-rs decode kernels, OpenCL C 1.2.
//
// Each kernel is the twin of a CPU function in crates/vc6-core and must give the same
// integers (docs/bitstream.md is the contract):
//   decode_tiles -> decoder::decode_payload + stree::decode_layer + entropy::ans
//   med_tiles    -> echelon::med_reconstruct
//   reconstruct  -> echelon::predict_reconstruct (= Prediction::compute + reconstruct_blocks)
//   pack_plane / pack_ycocg -> decoder::Reconstruction::write_layout (colour::inverse)

// Words per tile job (see crates/vc6-opencl/src/job.rs, which writes them).
#define TILE_WORDS 36
#define J_START 0      // first payload byte in the stream
#define J_END 1        // one past the last payload byte
#define J_COEFF 2      // the plane's first coefficient in `coeffs`
#define J_GRID_W 3     // coefficient row stride (grid width)
#define J_LAYER 4      // coefficients per layer (grid width x height)
#define J_X0 5         // tile's top-left coefficient
#define J_Y0 6
#define J_W 7          // tile size in coefficients
#define J_H 8
#define J_LAYERS 9     // 1 (lowest echelon), 3 (lossless) or 4 (lossy: H, V, D, A)
#define J_LOG 10       // table precision | tile_log2 << 8
#define J_TABLES 11    // 16 table offsets [layer][kind] in `tables` (entries), NO_TABLE if absent
#define J_STEPS 27     // 4 quantiser steps in sixteenths, one per layer (16: lossless)
#define J_OFFSETS 31   // 4 reconstruction offsets in 1/256 of a step

#define NO_TABLE 0xffffffffu

// Error codes written to err[job]; crates/vc6-opencl/src/job.rs turns them into messages.
#define E_CORRUPT 1    // entropy-coded data does not match its length
#define E_MODES 2      // mode byte sets unused layers
#define E_TABLE 3      // a table the section does not define
#define E_NODE 4       // s-tree node with no children or children outside its tile
#define E_RESERVED 5   // reserved layer mode
#define E_OUTSIDE 6    // s-tree marks data outside its tile
#define E_EMPTY 7      // empty tile payload

// LSB-first bit reader over stream[pos..end); bytes past `end` read as zero.
typedef struct {
    ulong acc;
    uint count;
    uint pos;
    uint end;
} Bits;

inline void bits_refill(Bits *b, global const uchar *s) {
    if (b->pos + 8 <= b->end) {
        // Eight bytes at once (vload8 needs only byte alignment), as many whole bytes as
        // fit kept: the same bits as the byte loop below.
        b->acc |= as_ulong(vload8(0, s + b->pos)) << b->count;
        uint taken = (63 - b->count) >> 3;
        b->pos += taken;
        b->count += taken * 8;
        return;
    }
    while (b->count <= 56) {
        uchar byte = b->pos < b->end ? s[b->pos] : (uchar)0;
        b->acc |= (ulong)byte << b->count;
        b->pos++;
        b->count += 8;
    }
}

inline ulong bits_read(Bits *b, global const uchar *s, uint n) {
    if (b->count < n) bits_refill(b, s);
    ulong v = n == 0 ? 0 : (b->acc & (((ulong)1 << n) - 1));
    b->acc = n == 0 ? b->acc : (b->acc >> n);
    b->count -= n;
    return v;
}

// Two interleaved tANS states; symbol i of the tile uses state i mod 2.
typedef struct {
    Bits bits;
    uint st[2];
    uint lane;
} Ans;

// Table entries (crates/vc6-opencl/src/job.rs packs them from entropy::decode_states):
// bits 0-10 next-state base, 11-14 state bits, 16-21 symbol. Half the size of the CPU's
// entries, so more of a wave's tables stay in L1.
inline uint e_base(uint e) { return e & 0x7ff; }
inline uint e_bits(uint e) { return (e >> 11) & 15; }
inline uint e_sym(uint e) { return e >> 16; }

// Value tokens (docs/bitstream.md 7.4): below 16 the token is the value; above, it
// gives the top two bits of an n-bit value and n - 1 extra bits follow.
inline uint token_extra(uint t) { return t < 16 ? 0 : (t - 16) / 2 + 3; }
inline uint token_base(uint t) {
    if (t < 16) return t;
    uint n = (t - 16) / 2 + 4;
    return (1u << n) | (((t - 16) & 1u) << (n - 1));
}

// Consumes an entry's state bits (and a value's extra bits): returns the symbol, or the
// value when `value`.
inline uint ans_take(Ans *a, uint lane, uint e, bool value, global const uchar *s) {
    uint nbits = e_bits(e), sym = e_sym(e);
    uint extra = value ? token_extra(sym) : 0;
    ulong v = bits_read(&a->bits, s, nbits + extra);
    a->st[lane] = e_base(e) + ((uint)v & ((1u << nbits) - 1));
    return value ? (token_base(sym) | (uint)(v >> nbits)) : sym;
}

// One tANS step (entropy::ans::AnsDecoder::get).
inline uint ans_get(Ans *a, global const uint *table, bool value, global const uchar *s) {
    uint lane = a->lane;
    a->lane ^= 1;
    return ans_take(a, lane, table[a->st[lane]], value, s);
}

// Two consecutive values from one table: both entries are fetched before either is
// consumed, so the two states' table loads overlap.
inline void ans_get2(Ans *a, global const uint *table, global const uchar *s, uint *v0, uint *v1) {
    uint l0 = a->lane, l1 = l0 ^ 1;
    uint e0 = table[a->st[l0]];
    uint e1 = table[a->st[l1]];
    *v0 = ans_take(a, l0, e0, true, s);
    *v1 = ans_take(a, l1, e1, true, s);
}

inline int unzigzag(uint u) {
    return (int)(u >> 1) ^ -(int)(u & 1);
}

// Dequantisation (quant::Quant::dequantize), steps in sixteenths:
// sign(q) * ((|q| * step + (step * offset) >> 8) >> 4), its magnitude clamped to 2^27.
inline int dequantize(int q, uint step, uint offset) {
    if (q == 0) return 0;
    long m = ((long)abs(q) * step + (((long)step * offset) >> 8)) >> 4;
    int v = (int)min(m, (long)(1 << 27));
    return q < 0 ? -v : v;
}

// Entropy-decodes one tile per work item into the coefficient grids. A launch covers
// jobs first_job .. first_job + job_count: the host launches every tile of every section
// of every frame of a batch at once (tiles depend only on the stream). Each work item keeps its s-tree leaf list in
// scratch[gid * scratch_stride ..] (one entry per coefficient of the largest tile).
kernel void decode_tiles(global const uchar *stream,
                         global const uint *tables,
                         global const uint *jobs,
                         uint first_job,
                         uint job_count,
                         global int *coeffs,
                         global ushort *scratch,
                         uint scratch_stride,
                         global uchar *err) {
    uint gid = get_global_id(0);
    if (gid >= job_count) return;
    uint job = first_job + gid;
    global const uint *j = jobs + (size_t)job * TILE_WORDS;
    uint start = j[J_START], end = j[J_END];
    uint gw = j[J_GRID_W];
    uint w = j[J_W], h = j[J_H];
    uint layers = j[J_LAYERS];
    uint log = j[J_LOG] & 0xff;
    uint tlog = j[J_LOG] >> 8;
    global ushort *leaves = scratch + (size_t)gid * scratch_stride;
    err[job] = 0;
    if (start >= end) {
        err[job] = E_EMPTY;
        return;
    }
    uint modes = stream[start];
    if ((modes >> (2 * layers)) != 0) {
        err[job] = E_MODES;
        return;
    }
    Ans a;
    a.bits.acc = 0;
    a.bits.count = 0;
    a.bits.pos = start + 1;
    a.bits.end = end;
    a.lane = 0;
    a.st[0] = (uint)bits_read(&a.bits, stream, log);
    a.st[1] = (uint)bits_read(&a.bits, stream, log);
    for (uint l = 0; l < layers; l++) {
        uint mode = (modes >> (2 * l)) & 3;
        global int *out = coeffs + j[J_COEFF] + (size_t)l * j[J_LAYER] + (size_t)j[J_Y0] * gw + j[J_X0];
        global const uint *tab = j + J_TABLES + 4 * l;
        if (mode != 1) {
            for (uint y = 0; y < h; y++)
                for (uint x = 0; x < w; x++) out[(size_t)y * gw + x] = 0;
        }
        if (mode == 0) continue;
        if (mode == 1) {
            if (tab[0] == NO_TABLE) {
                err[job] = E_TABLE;
                return;
            }
            global const uint *t = tables + tab[0];
            uint n = w * h, x = 0;
            global int *row = out;
            for (uint i = 0; i + 1 < n; i += 2) {
                uint v0, v1;
                ans_get2(&a, t, stream, &v0, &v1);
                row[x] = unzigzag(v0);
                if (++x == w) { x = 0; row += gw; }
                row[x] = unzigzag(v1);
                if (++x == w) { x = 0; row += gw; }
            }
            if (n & 1) row[x] = unzigzag(ans_get(&a, t, true, stream));
            continue;
        }
        if (mode != 2) {
            err[job] = E_RESERVED;
            return;
        }
        if (tab[1] == NO_TABLE || tab[2] == NO_TABLE || (tlog > 1 && tab[3] == NO_TABLE)) {
            err[job] = E_TABLE;
            return;
        }
        global const uint *leaf = tables + tab[1];
        global const uint *low = tables + tab[2];
        global const uint *high = tables + tab[3];
        // Depth-first, pre-order, quadrants in Z order; each pop pushes at most four.
        uint sx[40], sy[40], sk[40];
        uint top = 1, n = 0;
        sx[0] = 0;
        sy[0] = 0;
        sk[0] = tlog;
        while (top > 0) {
            top--;
            uint x = sx[top], y = sy[top], k = sk[top];
            if (k == 1) {
                uint flags = ans_get(&a, low, false, stream);
                uint valid = 1u | (uint)(x + 1 < w) << 1 | (uint)(y + 1 < h) << 2;
                valid |= (valid & (valid >> 1) & (valid >> 2) & 1u) << 3;
                if (flags == 0 || (flags & ~valid) != 0) {
                    err[job] = E_NODE;
                    return;
                }
                for (uint i = 0; i < 4; i++)
                    if (flags & (1u << i)) leaves[n++] = (ushort)((y + (i >> 1)) * w + x + (i & 1));
                continue;
            }
            uint flags = ans_get(&a, high, false, stream);
            if (flags == 0) {
                err[job] = E_NODE;
                return;
            }
            uint hs = 1u << (k - 1);
            for (int i = 3; i >= 0; i--) {
                if (flags & (1u << i)) {
                    uint cx = x + (i & 1) * hs, cy = y + (i >> 1) * hs;
                    if (cx >= w || cy >= h) {
                        err[job] = E_OUTSIDE;
                        return;
                    }
                    sx[top] = cx;
                    sy[top] = cy;
                    sk[top] = k - 1;
                    top++;
                }
            }
        }
        for (uint i = 0; i + 1 < n; i += 2) {
            uint v0, v1;
            ans_get2(&a, leaf, stream, &v0, &v1);
            uint p0 = leaves[i], p1 = leaves[i + 1];
            out[(size_t)(p0 / w) * gw + p0 % w] = unzigzag(v0 + 1);
            out[(size_t)(p1 / w) * gw + p1 % w] = unzigzag(v1 + 1);
        }
        if (n & 1) {
            uint at = leaves[n - 1];
            out[(size_t)(at / w) * gw + at % w] = unzigzag(ans_get(&a, leaf, true, stream) + 1);
        }
    }
    for (uint l = 0; l < layers; l++) {
        uint step = j[J_STEPS + l], off = j[J_OFFSETS + l];
        if (step == 16 && off == 0) continue;
        global int *out = coeffs + j[J_COEFF] + (size_t)l * j[J_LAYER] + (size_t)j[J_Y0] * gw + j[J_X0];
        for (uint y = 0; y < h; y++)
            for (uint x = 0; x < w; x++) out[(size_t)y * gw + x] = dequantize(out[(size_t)y * gw + x], step, off);
    }
    uint total = (end - start - 1) * 8;
    ulong consumed = (ulong)(a.bits.pos - start - 1) * 8 - a.bits.count;
    bool ok = modes == 0 ? end - start == 1
                         : (a.st[0] == 0 && a.st[1] == 0 && consumed <= total && consumed + 8 > total);
    if (!ok) err[job] = E_CORRUPT;
}

// Words per MED job: tile job index, echelon offset (samples) in the arena, echelon
// width, lo, hi (crates/vc6-opencl/src/run.rs writes them).
#define MED_WORDS 8

// MED (LOCO-I) prediction inside each tile of a lowest echelon, one tile per work item:
// residuals from `coeffs`, samples to the echelon in `ech`.
kernel void med_tiles(global const uint *jobs,
                      global const uint *meds,
                      uint first,
                      uint count,
                      global const int *coeffs,
                      global int *ech) {
    uint gid = get_global_id(0);
    if (gid >= count) return;
    global const uint *m = meds + (size_t)(first + gid) * MED_WORDS;
    global const uint *j = jobs + (size_t)m[0] * TILE_WORDS;
    uint width = m[2];
    int lo = (int)m[3], hi = (int)m[4];
    uint x0 = j[J_X0], y0 = j[J_Y0], w = j[J_W], h = j[J_H];
    global const int *res = coeffs + j[J_COEFF] + (size_t)y0 * width + x0;
    global int *tile = ech + m[1] + (size_t)y0 * width + x0;
    int mid = (lo + hi + 1) >> 1;
    for (uint y = 0; y < h; y++) {
        for (uint x = 0; x < w; x++) {
            int p;
            if (x == 0 && y == 0) {
                p = mid;
            } else if (y == 0) {
                p = tile[x - 1];
            } else if (x == 0) {
                p = tile[(size_t)(y - 1) * width];
            } else {
                int a = tile[(size_t)y * width + x - 1];
                int b = tile[(size_t)(y - 1) * width + x];
                int c = tile[(size_t)(y - 1) * width + x - 1];
                int mx = max(a, b), mn = min(a, b);
                p = c >= mx ? mn : (c <= mn ? mx : a + b - c);
            }
            tile[(size_t)y * width + x] = clamp(p + res[(size_t)y * width + x], lo, hi);
        }
    }
}

inline int tap4(int4 k, int s0, int s1, int s2, int s3, int lo, int hi) {
    int acc = k.x * s0 + k.y * s1 + k.z * s2 + k.w * s3;
    return clamp((acc + 8192) >> 14, lo, hi);
}

// Words per reconstruct job (one plane of one frame in a wave): first block (running
// count over the wave), coefficient base, lower echelon offset, its width and height,
// upper echelon offset, its width and height, block rectangle x0, y0, width, height,
// lo, hi, four kernel taps, flags (1 nearest, 2 lossy, 4 predicted average), unused.
#define RECON_WORDS 20

// Upsample-and-add: one 2x2 block of an upper echelon per work item, over every plane of
// every frame in a wave. The residual layers H, V, D of a job are at
// coeffs[cbase + l * lw * lh], row stride lw (the lower echelon's grid).
kernel void reconstruct(global const int *coeffs,
                        global int *ech,
                        global const uint *recons,
                        uint first,
                        uint count,
                        uint blocks) {
    uint gid = get_global_id(0);
    if (gid >= blocks) return;
    // The job whose block range holds gid (ranges ascend from 0).
    uint lo_j = 0, hi_j = count;
    while (hi_j - lo_j > 1) {
        uint mid = (lo_j + hi_j) >> 1;
        if (recons[(size_t)(first + mid) * RECON_WORDS] <= gid) lo_j = mid; else hi_j = mid;
    }
    global const uint *r = recons + (size_t)(first + lo_j) * RECON_WORDS;
    uint local_id = gid - r[0];
    uint cbase = r[1], lw = r[3], lh = r[4], uw = r[6], uh = r[7], bw = r[10];
    global const int *lower = ech + r[2];
    global int *upper = ech + r[5];
    int lo = (int)r[12], hi = (int)r[13];
    int4 k = (int4)((int)r[14], (int)r[15], (int)r[16], (int)r[17]);
    int bx = (int)(r[8] + local_id % bw), by = (int)(r[9] + local_id / bw);
    uint flags = r[18];
    int ph = 0, pv = 0, pd = 0, pa = 0;
    if (!(flags & 1)) {
        int4 m = k.wzyx;
        int e[5], o[5];
        int xs[5];
        for (int i = 0; i < 5; i++) xs[i] = clamp(bx + i - 2, 0, (int)lw - 1);
        for (int row_i = 0; row_i < 5; row_i++) {
            int ly = clamp(by + row_i - 2, 0, (int)lh - 1);
            global const int *row = lower + (size_t)ly * lw;
            int s0 = row[xs[0]], s1 = row[xs[1]], s2 = row[xs[2]], s3 = row[xs[3]], s4 = row[xs[4]];
            e[row_i] = tap4(m, s0, s1, s2, s3, lo, hi);
            o[row_i] = tap4(k, s1, s2, s3, s4, lo, hi);
        }
        int a = tap4(m, e[0], e[1], e[2], e[3], lo, hi);
        int b = tap4(m, o[0], o[1], o[2], o[3], lo, hi);
        int c = tap4(k, e[1], e[2], e[3], e[4], lo, hi);
        int d = tap4(k, o[1], o[2], o[3], o[4], lo, hi);
        // Forward transform of the predicted block (transform::forward).
        int h1 = a - b, l1 = b + (h1 >> 1), h2 = c - d, l2 = d + (h2 >> 1);
        pv = l1 - l2;
        pd = h1 - h2;
        ph = h2 + (pd >> 1);
        pa = l2 + (pv >> 1);
        if (2 * by + 1 >= (int)uh) {
            pv = 0;
            pd = 0;
        }
        if (2 * bx + 1 >= (int)uw) {
            ph = 0;
            pd = 0;
        }
    }
    size_t at = (size_t)by * lw + bx;
    size_t layer = (size_t)lw * lh;
    int A = lower[at];
    if (flags & 2) {
        // Lossy: the average residual, on the sample below (predicted-average step, or
        // the nearest upsampler) or on the predicted block's own average.
        int base = (flags & 5) ? A : pa;
        A = base + coeffs[cbase + 3 * layer + at];
    }
    int H = ph + coeffs[cbase + at];
    int V = pv + coeffs[cbase + layer + at];
    int D = pd + coeffs[cbase + 2 * layer + at];
    // Inverse transform (transform::inverse).
    int l2 = A - (V >> 1), l1 = V + l2, h2 = H - (D >> 1), h1 = D + h2;
    int b = l1 - (h1 >> 1), a = h1 + b, d = l2 - (h2 >> 1), c = h2 + d;
    size_t x = 2 * (size_t)bx, y = 2 * (size_t)by;
    upper[y * uw + x] = clamp(a, lo, hi);
    bool right = x + 1 < uw, down = y + 1 < uh;
    if (right) upper[y * uw + x + 1] = clamp(b, lo, hi);
    if (down) upper[(y + 1) * uw + x] = clamp(c, lo, hi);
    if (right && down) upper[(y + 1) * uw + x + 1] = clamp(d, lo, hi);
}

inline void store(global uchar *out, size_t at, int v, uint bytes) {
    out[at] = (uchar)v;
    if (bytes == 2) out[at + 1] = (uchar)(v >> 8);
}

// Packs the w x h window at (x0, y0) of an echelon (at ech + src_off, `src_w` samples a
// row) into the output: sample (x, y) at byte offset + y * row_stride + x * pixel_stride.
kernel void pack_plane(global const int *ech,
                       uint src_off,
                       uint src_w,
                       uint x0,
                       uint y0,
                       uint w,
                       uint h,
                       int max_v,
                       global uchar *out,
                       uint offset,
                       uint pixel_stride,
                       uint row_stride,
                       uint bytes) {
    uint x = get_global_id(0), y = get_global_id(1);
    if (x >= w || y >= h) return;
    global const int *src = ech + src_off;
    int v = clamp(src[(size_t)(y0 + y) * src_w + x0 + x], 0, max_v);
    store(out, offset + (size_t)y * row_stride + (size_t)x * pixel_stride, v, bytes);
}

// The same for planes 0-2 of a colour-transformed picture: YCoCg-R back to R, G, B.
kernel void pack_ycocg(global const int *ech,
                       uint4 src_off,
                       uint src_w,
                       uint x0,
                       uint y0,
                       uint w,
                       uint h,
                       int max_v,
                       global uchar *out,
                       uint4 offsets,
                       uint4 pixel_strides,
                       uint4 row_strides,
                       uint bytes) {
    uint x = get_global_id(0), y = get_global_id(1);
    if (x >= w || y >= h) return;
    size_t at = (size_t)(y0 + y) * src_w + x0 + x;
    int cg = ech[src_off.z + at], co = ech[src_off.y + at];
    int t = ech[src_off.x + at] - (cg >> 1);
    int g = cg + t;
    int b = t - (co >> 1);
    int r = b + co;
    store(out, offsets.x + (size_t)y * row_strides.x + (size_t)x * pixel_strides.x, clamp(r, 0, max_v), bytes);
    store(out, offsets.y + (size_t)y * row_strides.y + (size_t)x * pixel_strides.y, clamp(g, 0, max_v), bytes);
    store(out, offsets.z + (size_t)y * row_strides.z + (size_t)x * pixel_strides.z, clamp(b, 0, max_v), bytes);
}
