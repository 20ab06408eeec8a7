// vc6-rs decode kernels, bitstream version 2: the bodies, written once for OpenCL and CUDA.
//
// This file is not compiled on its own: a dialect header goes first and defines the few
// words that differ between the two APIs (shaders/opencl/dialect.h for OpenCL C 1.2,
// shaders/cuda/dialect.cuh for CUDA C++ through NVRTC), and the host concatenates the
// two into one program source (crates/vc6-opencl/src/lib.rs and crates/vc6-cuda/src/lib.rs,
// KERNEL_SOURCE). For tests, shaders/host/dialect.h makes it plain C that the stand-in CUDA
// driver runs on the CPU (crates/vc6-cuda/tests/fake_kernels.c). The body uses only C that both languages read alike, plus:
//   KERNEL, KERNEL_GROUP(n)     a kernel entry point; one whose work-group has n items
//   FUNC                        a helper function called from kernels
//   GLOBAL, LOCAL               pointers into device memory / work-group memory
//   GROUP_SHARED                a work-group array declared in a kernel
//   LOCAL_ID_X, GROUP_ID_X      work item in its group, group in the launch (uint)
//   GLOBAL_ID_X, GLOBAL_ID_Y    work item in the launch (uint)
//   BARRIER_GLOBAL(), BARRIER_ALL()  a work-group barrier ordering device memory (and
//                               work-group memory too, for BARRIER_ALL)
//   POPCOUNT(x), CLZ(x), UABS(x)     uint results, as OpenCL C's popcount, clz and abs
//   i64, uchar, ushort, uint, int4, uint4, MAKE_INT4(a, b, c, d)
//   min and max (int, uint, i64), clamp (int), INT_MIN, INT_MAX
//
// Each kernel is the twin of a CPU function in crates/vc6-core and must give the same
// integers (docs/bitstream.md is the contract):
//   decode_tiles -> syntax::tile::decode_tile (entropy::decode::Lanes::phase,
//                   syntax::stree::expand, quant::CoeffMap::get) with the contexts of
//                   syntax::context::context_map, as decoder::section::SectionData::
//                   decode_band calls them
//   med_tiles    -> pyramid::med_reconstruct
//   reconstruct  -> pyramid::predict_reconstruct (= Prediction::compute + reconstruct_blocks)
//   pack_plane / pack_ycocg -> decoder::Reconstruction::write_layout (colour::inverse)
//
// The OpenCL host (crates/vc6-opencl/src/merge.rs and run.rs) runs one wave per section
// level, coarsest first, over every frame of a batch: decode_tiles (whose contexts read the
// echelon the previous wave reconstructed), then med_tiles and reconstruct; then the packs.
//
// decode_tiles is shaped for a GPU (a work-group of 32 per tile, one rANS lane per work
// item, word positions by prefix counts in local memory) but has only run on PoCL, a CPU
// OpenCL driver, so far. The CUDA build of these kernels is compiled (NVRTC) and checked
// (ptxas) in CI but has never run on a GPU; the CUDA host (crates/vc6-cuda/src/run) has
// launched them only on the stand-in driver, which runs this body as C on the CPU.

// Words per tile job (crates/vc6-opencl/src/job.rs writes them).
#define TILE_WORDS 8
#define T_START 0        // first payload byte in the stream
#define T_END 1          // one past the last payload byte
#define T_PLANE 2        // the tile's plane descriptor
#define T_X0 3           // tile's top-left coefficient in the grid
#define T_Y0 4
#define T_SIZE 5         // tile width | height << 16, in coefficients
#define T_SCRATCH 6      // byte offset of the tile's scratch (s-tree lists, then contexts)
#define T_SCRATCH_LEN 7  // its length in bytes

// Words per plane descriptor: one plane of one frame in one section.
#define PLANE_WORDS 96
#define P_COEFF 0        // first coefficient of the plane's layers in `coeffs`
#define P_GRID_W 1       // coefficient grid (= the echelon below, for residual planes)
#define P_GRID_H 2
#define P_LAYERS 3       // 1 (lowest echelon), 3 (lossless) or 4 (lossy: H, V, D, A)
#define P_LOG 4          // table precision | tile_log2 << 8
#define P_LOWER 5        // the echelon below in `ech` (residual planes)
#define P_NTHRESH 6      // context thresholds, 0..=7
#define P_THRESH 7       // the thresholds (7 words, one spare)
#define P_STEP 15        // per layer: quantiser step in sixteenths
#define P_OFFSET 19      // per layer: reconstruction offset in 1/256 of a step
#define P_BOUND 23       // coefficient bound 4 (hi - lo)
#define P_TABLES 24      // per layer, T_SLOTS table offsets (entries) in `tables`
#define T_SLOTS 18       // dense by context (8), leaf by context (8), node low, node high
#define S_DENSE 0
#define S_LEAF 8
#define S_LOW 16
#define S_HIGH 17

// Error codes written to err[job]; crates/vc6-opencl/src/job.rs turns them into the
// CPU's messages.
#define E_CORRUPT 1      // final states or word count wrong
#define E_HEADER 2       // invalid tile header byte
#define E_LENGTH 3       // payload is not N states and whole words
#define E_STATE 4        // initial state below 2^16
#define E_SYMBOL 5       // missing table, or symbol outside its alphabet
#define E_EMPTY_NODE 6   // s-tree node with no children
#define E_OUTSIDE 7      // s-tree flags a quadrant outside the tile
#define E_SCRATCH 8      // the host gave too little scratch (a host bug)

#define STATE_LOW 0x10000u
#define GROUP 32

// What a lane puts in the exchange byte of a step: bits 0-3 are counted (s-tree child
// flags), bit 4 counted separately (needs a word), bits 5-7 OR-ed (flags).
#define B_KIDS 0x0fu
#define B_WORD 0x10u
#define F_EXTRA 0x20u    // value phases: the token has extra bits
#define F_LONG 0x40u     // value phases: more than 16 extra bits
#define F_EMPTY 0x20u    // node phases: a node without children
#define F_OUTSIDE 0x40u  // node phases: a flagged quadrant starts outside the tile
#define F_BAD 0x80u      // a symbol outside its alphabet (a missing table's entries)

// A step's exchange over the lanes.
typedef struct {
    uint words_before, words;  // B_WORD set in lower lanes / in all lanes
    uint kids_before, kids;    // bits of B_KIDS set in lower lanes / in all lanes
    uint any;                  // flags of all lanes, OR-ed
    uint first;                // flags of the lowest lane that has any
} Sync;

// Value tokens (docs/bitstream.md 7.5, entropy::token_base): below 16 the token is the
// value; up to 61 it gives the top two bits of an n-bit value and n - 1 extra bits
// follow; 62 and 63 are invalid (no extra bits, value 0).
FUNC uint token_extra(uint t) { return (t < 16 || t >= 62) ? 0 : (t - 16) / 2 + 3; }
FUNC uint token_base(uint t) {
    if (t < 16) return t;
    if (t >= 62) return 0;
    uint n = (t - 16) / 2 + 4;
    return (1u << n) | (((t - 16) & 1u) << (n - 1));
}

// A decoded code to a coefficient (quant::CoeffMap::get): unzigzag, dequantise with the
// layer's step (sixteenths) and offset, clamp to the plane's bound. 64-bit products.
FUNC int coeff(uint u, int bound, uint step, uint off) {
    int q = (int)(u >> 1) ^ -(int)(u & 1);
    if (q == 0) return 0;
    i64 m = ((i64)UABS(q) * step + (((i64)step * off) >> 8)) >> 4;
    int v = (int)min(m, (i64)bound);
    return q < 0 ? -v : v;
}

// Steps of a tile's decode. Every step is one exchange over the lanes: each lane gives a
// byte, and gets back prefix counts and flags (Sync). Phases: the initial state check,
// per layer a dense value phase or s-tree node phases (one per level) and a leaf value
// phase, and the final check. A fence is an empty step between s-tree levels, so that a
// level's node list, written after one exchange, is read only after the next.
#define PH_INIT 0
#define PH_DENSE 1
#define PH_NODES 2
#define PH_LEAF 3
#define PH_FENCE 4
#define PH_FINAL 5
#define PH_DONE 6

// A tile's decode as one work item sees it: the fields up to `code` are the same in
// every work item (they change only with exchange results), the rest are this lane's.
typedef struct {
    uint phase, after;    // phase, and the phase after a fence
    uint layer, modes;    // current layer; 2 bits of mode per layer
    uint k;               // s-tree level of a node phase
    uint m, base, step;   // phase length in symbols, first symbol of the round, step 1-3
    uint rflags;          // flags of the round's first step
    uint any, first;      // flags of the phase; flags of its first failing node
    uint count;           // nodes flagged so far in a node phase
    uint pos;             // words taken (past nw: the tile read past its end)
    uint code;            // result: 0 or an error code
    uint x;               // this lane's state
    uint on, need;        // this lane has a symbol this round; needs a word this step
    uint tok, e, px, py, extra, kids;  // this lane's symbol in the round
} Tile;

// What every step needs, the same for the whole tile.
typedef struct {
    GLOBAL const uchar *s;
    GLOBAL const uint *tables;
    GLOBAL const uint *p;      // the plane descriptor
    GLOBAL int *tile0;         // the tile's first coefficient of layer 0
    GLOBAL ushort *list0;      // s-tree positions (y << 8 | x): levels 0, 2, 4 ... (side^2)
    GLOBAL ushort *list1;      // levels 1, 3, 5 ... (side^2 / 4)
    GLOBAL const uchar *ctx;   // context of each position (when use_ctx)
    uint use_ctx;
    uint words, nw;            // first byte and count of the words
    uint lane, lanes, log, tlog, layers, w, h, gw, layer_len;
} Env;

// The prefix counts and flags of a step from the lanes' bytes (`slot`: 32 bytes, lane
// i's at byte i; little-endian devices only, which the host checks).
FUNC Sync exchange(LOCAL const uint *slot, uint lane) {
    Sync r;
    uint q = lane >> 2;
    uint below = (1u << (8 * (lane & 3))) - 1;
    r.words_before = 0;
    r.words = 0;
    r.kids_before = 0;
    r.kids = 0;
    r.any = 0;
    r.first = 0;
    for (uint k = 0; k < 8; k++) {
        uint v = slot[k];
        uint m = k < q ? 0xffffffffu : (k == q ? below : 0);
        r.kids += POPCOUNT(v & 0x0f0f0f0fu);
        r.words += POPCOUNT(v & 0x10101010u);
        r.kids_before += POPCOUNT(v & m & 0x0f0f0f0fu);
        r.words_before += POPCOUNT(v & m & 0x10101010u);
        uint f = v & 0xe0e0e0e0u;
        if (r.first == 0 && f != 0) r.first = (f >> ((31 - CLZ(f & (0u - f))) & ~7u)) & 0xe0u;
        r.any |= f;
    }
    r.any = (r.any | r.any >> 8 | r.any >> 16 | r.any >> 24) & 0xe0u;
    return r;
}

// The same for a tile of one lane.
FUNC Sync alone(uint byte) {
    Sync r;
    r.words_before = 0;
    r.words = (byte & B_WORD) >> 4;
    r.kids_before = 0;
    r.kids = POPCOUNT(byte & B_KIDS);
    r.any = byte & 0xe0u;
    r.first = r.any;
    return r;
}

// Starts a phase of m symbols.
FUNC void begin(Tile *t, uint phase, uint m) {
    t->phase = phase;
    t->m = m;
    t->base = 0;
    t->step = 1;
    t->any = 0;
    t->first = 0;
    t->count = 0;
}

// Starts layer l, or the final check after the last (zero layers have no phase).
FUNC void begin_layer(Tile *t, const Env *v, uint l) {
    while (l < v->layers && ((t->modes >> (2 * l)) & 3) == 0) l++;
    t->layer = l;
    if (l == v->layers) begin(t, PH_FINAL, 0);
    else if (((t->modes >> (2 * l)) & 3) == 1) begin(t, PH_DENSE, v->w * v->h);
    else {
        t->k = v->tlog;
        begin(t, PH_NODES, 1);
    }
}

FUNC void fail(Tile *t, uint code) {
    t->code = code;
    t->phase = PH_DONE;
}

// This lane's part of a step (before the exchange): returns its byte.
FUNC uint produce(Tile *t, const Env *v) {
    t->need = 0;
    bool lane_on = v->lane < v->lanes;
    if (t->phase == PH_INIT) return lane_on && t->x < STATE_LOW ? F_BAD : 0;
    if (t->phase == PH_FINAL) return lane_on && t->x != STATE_LOW ? F_BAD : 0;
    if (t->phase == PH_FENCE || t->phase == PH_DONE) return 0;
    uint mask = (1u << v->log) - 1;
    GLOBAL const uint *tab = v->p + P_TABLES + t->layer * T_SLOTS;
    if (t->step == 1) {
        // Step 1: every lane's symbol (Lanes::phase), with the table of its context.
        uint j = t->base + v->lane;
        t->on = lane_on && j < t->m;
        t->tok = 0;
        t->e = 0;
        t->extra = 0;
        t->kids = 0;
        if (!t->on) return 0;
        uint slot;
        if (t->phase == PH_DENSE) {
            t->px = j % v->w;
            t->py = j / v->w;
        } else {
            // Level k's nodes are in list (k & 1), the leaves (level 0) in list0.
            GLOBAL const ushort *cur = (t->phase == PH_NODES && (t->k & 1)) ? v->list1 : v->list0;
            uint q = (t->phase == PH_NODES && t->k == v->tlog) ? 0 : cur[j];
            t->px = q & 0xffu;
            t->py = q >> 8;
        }
        if (t->phase == PH_NODES) {
            slot = t->k == 1 ? S_LOW : S_HIGH;
        } else {
            uint c = v->use_ctx ? v->ctx[t->py * v->w + t->px] : 0;
            slot = (t->phase == PH_DENSE ? S_DENSE : S_LEAF) + c;
        }
        uint en = v->tables[tab[slot] + (t->x & mask)];
        t->x = ((en >> 12) & 0x1fffu) * (t->x >> v->log) + (en & 0xfffu);
        t->tok = en >> 25;
        t->need = t->x < STATE_LOW;
        uint byte = t->need ? B_WORD : 0;
        if (t->phase != PH_NODES) {
            t->e = token_extra(t->tok);
            return byte | (t->tok >= 62 ? F_BAD : 0) | (t->e > 0 ? F_EXTRA : 0) |
                   (t->e > 16 ? F_LONG : 0);
        }
        // Node flags (stree::expand's checks).
        uint f = t->tok;
        if (f >= 16) return byte | F_BAD;
        if (f == 0) return byte | F_EMPTY;
        t->kids = f;
        for (uint i = 0; i < 4; i++) {
            uint cx = 2 * t->px + (i & 1), cy = 2 * t->py + (i >> 1);
            if (((f >> i) & 1) && ((cx << (t->k - 1)) >= v->w || (cy << (t->k - 1)) >= v->h))
                byte |= F_OUTSIDE;
        }
        return byte | f;
    }
    // Steps 2 and 3: bypass steps for the low 16 extra bits, then the rest.
    uint b = t->step == 2 ? min(t->e, 16u) : (t->e > 16 ? t->e - 16 : 0);
    if (b > 0) {
        t->extra |= (t->x & ((1u << b) - 1)) << (t->step == 2 ? 0 : 16);
        t->x >>= b;
        t->need = t->x < STATE_LOW;
    }
    return t->need ? B_WORD : 0;
}

// After the exchange: the words, the round's results and the next step.
FUNC void consume(Tile *t, const Env *v, Sync r) {
    // The lanes that need a word take the next ones in lane order (WordReader: a word
    // past the end reads as 0, and the tile then fails its final check).
    if (t->need) {
        uint k = t->pos + r.words_before;
        uint w = 0;
        if (k < v->nw) {
            uint at = v->words + 2 * k;
            w = (uint)v->s[at] | (uint)v->s[at + 1] << 8;
        }
        t->x = (t->x << 16) | w;
    }
    t->pos += r.words;
    switch (t->phase) {
    case PH_INIT:
        if (r.any) fail(t, E_STATE);
        else begin_layer(t, v, 0);
        return;
    case PH_FINAL:
        fail(t, (r.any || t->pos != v->nw) ? E_CORRUPT : 0);
        return;
    case PH_FENCE:
        begin(t, t->after, t->m);
        return;
    case PH_DONE:
        return;
    }
    if (t->phase == PH_NODES) {
        // The flagged quadrants go to the next level's list in node order, then bit order.
        if (t->first == 0) t->first = r.first;
        t->any |= r.any;
        GLOBAL ushort *next = (t->k & 1) ? v->list0 : v->list1;
        uint side2 = 1u << (2 * v->tlog);
        uint cap = (t->k & 1) ? side2 : side2 / 4;
        uint at = t->count + r.kids_before;
        for (uint i = 0; i < 4; i++) {
            if ((t->kids >> i) & 1) {
                if (at < cap) next[at] = (ushort)(((2 * t->py + (i >> 1)) << 8) | (2 * t->px + (i & 1)));
                at++;
            }
        }
        t->count += r.kids;
    } else {
        if (t->step == 1) {
            t->rflags = r.any;
            t->any |= r.any;
        }
        if (t->step == 1 && (t->rflags & F_EXTRA)) {
            t->step = 2;
            return;
        }
        if (t->step <= 2 && (t->rflags & F_LONG)) {
            t->step = 3;
            return;
        }
        if (t->on) {
            // quant::CoeffMap::get; leaves code zigzag(v) - 1.
            uint l = t->layer;
            uint u = (token_base(t->tok) | t->extra) + (t->phase == PH_LEAF ? 1u : 0u);
            GLOBAL int *out = v->tile0 + (size_t)l * v->layer_len;
            out[(size_t)t->py * v->gw + t->px] =
                coeff(u, (int)v->p[P_BOUND], v->p[P_STEP + l], v->p[P_OFFSET + l]);
        }
    }
    // The round is done.
    t->step = 1;
    t->base += v->lanes;
    if (t->base < t->m) return;
    if (t->any & F_BAD) {
        fail(t, E_SYMBOL);
    } else if (t->phase != PH_NODES) {
        begin_layer(t, v, t->layer + 1);
    } else if (t->first & F_EMPTY) {
        fail(t, E_EMPTY_NODE);
    } else if (t->first & F_OUTSIDE) {
        fail(t, E_OUTSIDE);
    } else {
        // The next level (or the leaves) after a fence.
        t->after = t->k > 1 ? PH_NODES : PH_LEAF;
        if (t->k > 1) t->k--;
        uint n = t->count;
        begin(t, PH_FENCE, n);
    }
}

// The context of block (bx, by) (syntax::context::activity and context_of): the range of
// the echelon below over the 3x3 window, clamped to the echelon, against the thresholds.
FUNC uint context(GLOBAL const int *lower, uint gw, uint gh, uint bx, uint by,
                    GLOBAL const uint *th, uint n) {
    uint xa = bx > 0 ? bx - 1 : 0, xb = min(bx + 1, gw - 1);
    uint ya = by > 0 ? by - 1 : 0, yb = min(by + 1, gh - 1);
    int lo = INT_MAX, hi = INT_MIN;
    for (uint y = ya; y <= yb; y++) {
        GLOBAL const int *row = lower + (size_t)y * gw;
        for (uint x = xa; x <= xb; x++) {
            lo = min(lo, row[x]);
            hi = max(hi, row[x]);
        }
    }
    uint act = (uint)hi - (uint)lo, c = 0;
    for (uint i = 0; i < n; i++) c += act > th[i] ? 1 : 0;
    return c;
}

// Entropy-decodes one tile per work-group of 32 into the coefficient grids: jobs
// first_job .. first_job + groups, every tile of one wave of every frame of a batch.
// The tile's header byte gives its lanes N (1, 8 or 32): lane i runs on work item i and
// the others idle through the exchanges, one barrier per step (a single barrier in a
// loop, which PoCL compiles quickly, unlike one per phase and step). One-lane tiles run
// on work item 0 alone, without barriers. Every coefficient of the tile is written
// (zeros where the tile fails). CPU twin: SectionData::decode_band's context_map and
// decode_tile for one tile.
KERNEL_GROUP(GROUP)
void decode_tiles(GLOBAL const uchar *stream,
                  GLOBAL const uint *tables,
                  GLOBAL const uint *planes,
                  GLOBAL const uint *jobs,
                  uint first_job,
                  GLOBAL int *coeffs,
                  GLOBAL const int *ech,
                  GLOBAL uchar *scratch,
                  GLOBAL uchar *err) {
    GROUP_SHARED uint ex[16];
    GROUP_SHARED uint shared_code;
    uint lid = LOCAL_ID_X;
    uint job = first_job + GROUP_ID_X;
    GLOBAL const uint *j = jobs + (size_t)job * TILE_WORDS;
    GLOBAL const uint *p = planes + (size_t)j[T_PLANE] * PLANE_WORDS;
    uint start = j[T_START], end = j[T_END];
    uint x0 = j[T_X0], y0 = j[T_Y0], w = j[T_SIZE] & 0xffffu, h = j[T_SIZE] >> 16;
    uint gw = p[P_GRID_W], gh = p[P_GRID_H], layers = p[P_LAYERS];
    uint tlog = p[P_LOG] >> 8;
    uint layer_len = gw * gh;
    GLOBAL int *tile0 = coeffs + p[P_COEFF] + (size_t)y0 * gw + x0;

    // The header byte (TileHeader::read) and the payload's length.
    uint code = 0, lanes = 1, modes = 0;
    if (start < end) {
        uint b = stream[start];
        uint m = b % 81, cls = b / 81;
        uint limit = layers == 1 ? 3 : (layers == 3 ? 27 : 81);
        if (cls > 2 || m >= limit || m == 0) {
            code = E_HEADER;
        } else {
            lanes = cls == 0 ? 1 : (cls == 1 ? 8 : 32);
            uint body = end - start - 1;
            if (body < 4 * lanes || ((body - 4 * lanes) & 1)) code = E_LENGTH;
            for (uint l = 0; l < 4; l++) {
                modes |= (m % 3) << (2 * l);
                m /= 3;
            }
        }
    }
    bool stree = false;
    for (uint l = 0; l < 4; l++) stree |= ((modes >> (2 * l)) & 3) == 2;
    uint nthresh = min(p[P_NTHRESH], 7u);
    uint side2 = 1u << (2 * tlog);
    uint list_bytes = stree ? 2 * (side2 + side2 / 4) : 0;
    bool run = code == 0 && modes != 0;
    if (run && list_bytes + (nthresh > 0 ? w * h : 0) > j[T_SCRATCH_LEN]) {
        code = E_SCRATCH;
        run = false;
    }
    GLOBAL uchar *sc = scratch + j[T_SCRATCH];

    // Layers that are not dense start at zero (all of them in an empty or failing tile);
    // every position's context, from the echelon below.
    GLOBAL const int *lower = ech + p[P_LOWER];
    for (uint i = lid; i < w * h; i += GROUP) {
        uint x = i % w, y = i / w;
        for (uint l = 0; l < layers; l++)
            if (!run || ((modes >> (2 * l)) & 3) != 1) tile0[(size_t)l * layer_len + (size_t)y * gw + x] = 0;
        if (run && nthresh > 0)
            sc[list_bytes + i] = (uchar)context(lower, gw, gh, x0 + x, y0 + y, p + P_THRESH, nthresh);
    }
    BARRIER_GLOBAL();

    if (run) {
        Env v;
        v.s = stream;
        v.tables = tables;
        v.p = p;
        v.tile0 = tile0;
        v.list0 = (GLOBAL ushort *)sc;
        v.list1 = v.list0 + side2;
        v.ctx = sc + list_bytes;
        v.use_ctx = nthresh > 0;
        v.words = start + 1 + 4 * lanes;
        v.nw = (end - v.words) / 2;
        v.lane = lid;
        v.lanes = lanes;
        v.log = p[P_LOG] & 0xffu;
        v.tlog = tlog;
        v.layers = layers;
        v.w = w;
        v.h = h;
        v.gw = gw;
        v.layer_len = layer_len;
        Tile t;
        t.modes = modes;
        t.pos = 0;
        t.code = 0;
        t.on = 0;
        t.x = STATE_LOW;
        if (lid < lanes) {
            uint a = start + 1 + 4 * lid;
            t.x = (uint)stream[a] | (uint)stream[a + 1] << 8 | (uint)stream[a + 2] << 16 |
                  (uint)stream[a + 3] << 24;
        }
        begin(&t, PH_INIT, 0);
        if (lanes > 1) {
            for (uint odd = 0;; odd ^= 1) {
                LOCAL uint *slot = ex + 8 * odd;
                uint byte = produce(&t, &v);
                ((LOCAL uchar *)slot)[lid] = (uchar)byte;
                // Also orders the node lists written after one exchange before the reads
                // after the next (the fence steps).
                BARRIER_ALL();
                consume(&t, &v, exchange(slot, lid));
                if (t.phase == PH_DONE) break;
            }
        } else if (lid == 0) {
            for (;;) {
                consume(&t, &v, alone(produce(&t, &v)));
                if (t.phase == PH_DONE) break;
            }
        }
        code = t.code;
    }
    if (lid == 0) shared_code = code;
    BARRIER_ALL();
    code = shared_code;
    if (run && code != 0) {
        for (uint i = lid; i < w * h; i += GROUP)
            for (uint l = 0; l < layers; l++)
                tile0[(size_t)l * layer_len + (size_t)(i / w) * gw + i % w] = 0;
    }
    if (lid == 0) err[job] = (uchar)code;
}

// Words per MED job: tile job index, echelon offset (samples) in the arena, lo, hi
// (crates/vc6-opencl/src/merge.rs writes them).
#define MED_WORDS 4

// MED (LOCO-I) prediction inside each tile of a lowest echelon, one tile per work item:
// residuals from the tile's coefficients, samples to the echelon (as wide as the grid).
// CPU twin: pyramid::med_reconstruct.
KERNEL void med_tiles(GLOBAL const uint *planes,
                      GLOBAL const uint *jobs,
                      GLOBAL const uint *meds,
                      uint first,
                      uint count,
                      GLOBAL const int *coeffs,
                      GLOBAL int *ech) {
    uint gid = GLOBAL_ID_X;
    if (gid >= count) return;
    GLOBAL const uint *m = meds + (size_t)(first + gid) * MED_WORDS;
    GLOBAL const uint *j = jobs + (size_t)m[0] * TILE_WORDS;
    GLOBAL const uint *p = planes + (size_t)j[T_PLANE] * PLANE_WORDS;
    uint width = p[P_GRID_W];
    int lo = (int)m[2], hi = (int)m[3];
    uint x0 = j[T_X0], y0 = j[T_Y0], w = j[T_SIZE] & 0xffffu, h = j[T_SIZE] >> 16;
    GLOBAL const int *res = coeffs + p[P_COEFF] + (size_t)y0 * width + x0;
    GLOBAL int *tile = ech + m[1] + (size_t)y0 * width + x0;
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

FUNC int tap4(int4 k, int s0, int s1, int s2, int s3, int lo, int hi) {
    int acc = k.x * s0 + k.y * s1 + k.z * s2 + k.w * s3;
    return clamp((acc + 8192) >> 14, lo, hi);
}

// Words per reconstruct job (one plane of one frame in a wave): first block (running
// count over the wave), coefficient base, lower echelon offset, its width and height,
// upper echelon offset, its width and height, block rectangle x0, y0, width, height,
// lo, hi, four kernel taps, flags (1 nearest, 2 lossy, 4 predicted average), unused
// (crates/vc6-opencl/src/merge.rs writes them).
#define RECON_WORDS 20

// Upsample-and-add: one 2x2 block of an upper echelon per work item, over every plane of
// every frame in a wave. The residual layers H, V, D of a job are at
// coeffs[cbase + l * lw * lh], row stride lw (the lower echelon's grid). CPU twin:
// pyramid::predict_reconstruct.
KERNEL void reconstruct(GLOBAL const int *coeffs,
                        GLOBAL int *ech,
                        GLOBAL const uint *recons,
                        uint first,
                        uint count,
                        uint blocks) {
    uint gid = GLOBAL_ID_X;
    if (gid >= blocks) return;
    // The job whose block range holds gid (ranges ascend from 0).
    uint lo_j = 0, hi_j = count;
    while (hi_j - lo_j > 1) {
        uint mid = (lo_j + hi_j) >> 1;
        if (recons[(size_t)(first + mid) * RECON_WORDS] <= gid) lo_j = mid; else hi_j = mid;
    }
    GLOBAL const uint *r = recons + (size_t)(first + lo_j) * RECON_WORDS;
    uint local_id = gid - r[0];
    uint cbase = r[1], lw = r[3], lh = r[4], uw = r[6], uh = r[7], bw = r[10];
    GLOBAL const int *lower = ech + r[2];
    GLOBAL int *upper = ech + r[5];
    int lo = (int)r[12], hi = (int)r[13];
    int4 k = MAKE_INT4((int)r[14], (int)r[15], (int)r[16], (int)r[17]);
    int bx = (int)(r[8] + local_id % bw), by = (int)(r[9] + local_id / bw);
    uint flags = r[18];
    int ph = 0, pv = 0, pd = 0, pa = 0;
    if (!(flags & 1)) {
        int4 m = MAKE_INT4(k.w, k.z, k.y, k.x);
        int e[5], o[5];
        int xs[5];
        for (int i = 0; i < 5; i++) xs[i] = clamp(bx + i - 2, 0, (int)lw - 1);
        for (int row_i = 0; row_i < 5; row_i++) {
            int ly = clamp(by + row_i - 2, 0, (int)lh - 1);
            GLOBAL const int *row = lower + (size_t)ly * lw;
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

FUNC void store(GLOBAL uchar *out, size_t at, int v, uint bytes) {
    out[at] = (uchar)v;
    if (bytes == 2) out[at + 1] = (uchar)(v >> 8);
}

// An output sample: the stream's fraction bits shifted out with rounding, clamped to
// [0, max_v] (CPU twin: OutputRange::apply).
FUNC int out_sample(int v, int max_v, uint shift) {
    return clamp((v + ((1 << shift) >> 1)) >> shift, 0, max_v);
}

// Packs the w x h window at (x0, y0) of an echelon (at ech + src_off, `src_w` samples a
// row) into the output: sample (x, y) at byte offset + y * row_stride + x * pixel_stride.
// CPU twin: Reconstruction::write_layout.
KERNEL void pack_plane(GLOBAL const int *ech,
                       uint src_off,
                       uint src_w,
                       uint x0,
                       uint y0,
                       uint w,
                       uint h,
                       int max_v,
                       uint shift,
                       GLOBAL uchar *out,
                       uint offset,
                       uint pixel_stride,
                       uint row_stride,
                       uint bytes) {
    uint x = GLOBAL_ID_X, y = GLOBAL_ID_Y;
    if (x >= w || y >= h) return;
    GLOBAL const int *src = ech + src_off;
    int v = out_sample(src[(size_t)(y0 + y) * src_w + x0 + x], max_v, shift);
    store(out, offset + (size_t)y * row_stride + (size_t)x * pixel_stride, v, bytes);
}

// The same for planes 0-2 of a colour-transformed picture: YCoCg-R back to R, G, B
// (CPU twin: Reconstruction::write_layout with colour::inverse).
KERNEL void pack_ycocg(GLOBAL const int *ech,
                       uint4 src_off,
                       uint src_w,
                       uint x0,
                       uint y0,
                       uint w,
                       uint h,
                       int max_v,
                       uint shift,
                       GLOBAL uchar *out,
                       uint4 offsets,
                       uint4 pixel_strides,
                       uint4 row_strides,
                       uint bytes) {
    uint x = GLOBAL_ID_X, y = GLOBAL_ID_Y;
    if (x >= w || y >= h) return;
    size_t at = (size_t)(y0 + y) * src_w + x0 + x;
    int cg = ech[src_off.z + at], co = ech[src_off.y + at];
    int t = ech[src_off.x + at] - (cg >> 1);
    int g = cg + t;
    int b = t - (co >> 1);
    int r = b + co;
    store(out, offsets.x + (size_t)y * row_strides.x + (size_t)x * pixel_strides.x, out_sample(r, max_v, shift), bytes);
    store(out, offsets.y + (size_t)y * row_strides.y + (size_t)x * pixel_strides.y, out_sample(g, max_v, shift), bytes);
    store(out, offsets.z + (size_t)y * row_strides.z + (size_t)x * pixel_strides.z, out_sample(b, max_v, shift), bytes);
}
