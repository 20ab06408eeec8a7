//! Coding one section: the tiles' models (residuals, quantisation, symbols), the
//! section's contexts and tables, the tiles' rANS payloads, and for lossy streams the
//! decoder's reconstruction the next section predicts from.

use super::rate::{Rate, UnitSizes};
use super::{scaled_quant, EncoderConfig, LayerAt, Pyramid, DEAD_ZONE_ROUNDING};
use crate::bytes::ByteWriter;
use crate::entropy::{
    precision_for, rans::EncTables, rans::Queued, EncTable, FreqTable, RansEncoder, SymbolQueue,
    LANE_CLASSES, MAX_PRECISION, VALUE_ALPHABET,
};
use crate::error::Result;
use crate::header::Header;
use crate::parallel;
use crate::plan::layer_count;
use crate::pyramid::{med_quantize, med_residuals, predict_reconstruct, Level, Prediction};
use crate::quant::{coeff_bound, Quant};
use crate::syntax::context::{context_map, MAX_CONTEXTS};
use crate::syntax::{
    alphabet, choose_mode, model_layer, TileHeader, KINDS, MAX_LAYERS, MODE_DENSE, MODE_STREE,
};
use crate::tableau::{write_tableau, Rect, TileGrid};

/// The symbols of one tile, before the section's tables exist.
pub(super) struct TileModel {
    header: TileHeader,
    syms: SymbolQueue,
    /// Lossy streams: the reconstructed tile (lowest echelon) or the dequantised residual
    /// layers, as the decoder will have them.
    decoded: Vec<Vec<i32>>,
}

/// Table key: `(plane, layer, kind, context)` packed as
/// `plane * 128 + layer * 32 + kind * 8 + context`.
fn key(plane: usize, layer: usize, kind: usize, ctx: u8) -> u16 {
    (plane * 128 + layer * 32 + kind * 8 + usize::from(ctx)) as u16
}

/// The table precision the encoder uses at most: 2048-entry tables keep a layer's
/// contexts in L1 for the decoder.
const MOST_PRECISION: u32 = 11;

/// Contexts a plane gets in a section of `blocks` coefficient positions: more contexts
/// model better but cost tables, which small sections cannot pay for.
fn context_count(blocks: usize) -> usize {
    match blocks {
        0..1024 => 1,
        1024..4096 => 2,
        4096..16384 => 4,
        _ => 8,
    }
}

/// A tile's lane count from its estimated payload (bits): each lane costs about 16 bits
/// of state, so wide tiles are for payloads that make that cost small (about 1.6% at 32
/// lanes, 2% at 8), which are also the tiles whose decoding takes long enough to want
/// the lanes. 8 lanes start at `eight` bits (see [`eight_lanes_from`]).
fn lane_class(bits: f64, eight: f64) -> u8 {
    if bits >= 32.0 * 16.0 * 64.0 {
        2
    } else if bits >= eight {
        1
    } else {
        0
    }
}

/// The payload (bits) from which a tile gets 8 lanes: 768 bytes in lossless streams; 256
/// in lossy ones, whose top echelons hold many small tiles that one lane decodes at the
/// latency of its state chain. Measured on the rgb8 corpus at 1.25 bpp: one-thread decode
/// 3-5% faster than with 768 (and than issue 9's streams) for 0.03 dB.
fn eight_lanes_from(lossless: bool) -> f64 {
    match lossless {
        true => 8.0 * 16.0 * 48.0,
        false => 8.0 * 16.0 * 16.0,
    }
}

/// The cost of every symbol of a section's tables, to estimate a tile's payload for
/// [`lane_class`].
///
/// The reference is the `f64` sum, symbol by symbol in queue order, of each symbol's
/// cost `log - log2(freq)` computed in `f32`, plus its extra bits. Every such cost is a
/// multiple of 2^-23 (both terms are `f32` below 16, the second either 0 or at least 1,
/// so multiples of 2^-23; their difference too, and rounding it to `f32` keeps that), so
/// is every extra bit count, and so every partial sum: as long as those stay below
/// 2^30 bits in size they are exact in `f64` (53 bits), which makes the `f64` sum equal
/// to this integer sum, whatever the order: tiles are far below that (at most 2^16
/// blocks of 4 layers of at most 12 + 27 bits each, counting s-tree nodes). Were a
/// cost negative (it is not, unless `log2` rounded a power of two up), the reference
/// sum decides.
struct Cost {
    /// Per table number: where its costs start in `units` (`u32::MAX`: no table).
    starts: Vec<u32>,
    /// Costs in units of 2^-23 bit.
    units: Vec<i64>,
    /// The reference costs in bits, for sums that might not be exact.
    bits: Vec<f32>,
    /// Whether a cost is negative (only if `log2` rounded a power of two up).
    negative: bool,
    /// Payload bits from which a tile gets 8 lanes ([`eight_lanes_from`]).
    eight: f64,
}

/// One bit in the units of [`Cost`].
const COST_ONE: f64 = (1u64 << 23) as f64;

impl Cost {
    fn with_count(count: usize, eight: f64) -> Cost {
        Cost {
            starts: vec![u32::MAX; count],
            units: Vec::new(),
            bits: Vec::new(),
            negative: false,
            eight,
        }
    }

    /// Sets table `k`: frequencies `freq` of precision `log`.
    fn insert(&mut self, k: usize, freq: &[u32], log: u32) {
        self.starts[k] = self.units.len() as u32;
        for &f in freq {
            let c = (log as f32) - (f.max(1) as f32).log2();
            let units = f64::from(c) * COST_ONE;
            debug_assert_eq!(units, units.trunc(), "cost {c} is a multiple of 2^-23");
            self.units.push(units as i64);
            self.bits.push(c);
            self.negative |= c < 0.0;
        }
    }

    /// The lane class ([`lane_class`]) of a tile of symbols `syms`, from their payload
    /// estimate in bits.
    fn lane_class(&self, syms: &[Queued]) -> u8 {
        let at = |q: &Queued| self.starts[usize::from(q.table)] as usize + usize::from(q.sym);
        if self.negative {
            let bits: f64 = syms
                .iter()
                .map(|q| f64::from(self.bits[at(q)]) + f64::from(q.nb))
                .sum();
            return lane_class(bits, self.eight);
        }
        let (mut units, mut extra) = (0i64, 0u64);
        // With no negative cost the sum only grows: once past the largest class's
        // threshold it has its answer.
        let most = lane_class(f64::MAX, self.eight);
        for chunk in syms.chunks(1024) {
            for q in chunk {
                units += self.units[at(q)];
                extra += u64::from(q.nb);
            }
            if lane_class(units as f64 / COST_ONE + extra as f64, self.eight) == most {
                return most;
            }
        }
        lane_class(units as f64 / COST_ONE + extra as f64, self.eight)
    }
}

/// Encodes the section of LoQ `loq`: contexts, tables, tableau, tile payloads, CRC. For
/// lossy streams, `recon` holds each plane's reconstruction of the echelon below and gets
/// this section's.
pub(super) fn encode_section(
    header: &Header,
    pyramids: &[Pyramid],
    loq: u8,
    cfg: &EncoderConfig,
    rate: Option<&Rate>,
    recon: &mut [Option<Level>],
    units: &mut UnitSizes,
) -> Result<Vec<u8>> {
    let t = cfg.tile_log2;
    // Every tile of every plane present in this section, in stream order.
    let mut jobs = Vec::new();
    for (p, desc) in header.planes.iter().enumerate() {
        if loq >= desc.echelons {
            continue;
        }
        let grid = tile_grid(&pyramids[p], loq, desc.echelons, t);
        for ty in 0..grid.tiles_y() {
            for tx in 0..grid.tiles_x() {
                jobs.push((p, grid.tile_rect(tx, ty)));
            }
        }
    }
    let quants: Vec<[Quant; MAX_LAYERS]> = (0..header.planes.len())
        .map(|p| {
            let base = loq + 1 == header.planes[p].echelons;
            let exact = cfg.exact_plane.is_some_and(|e| usize::from(e) == p);
            std::array::from_fn(|l| match rate {
                Some(_) if exact => Quant::IDENTITY,
                Some(r) => {
                    let at = LayerAt {
                        loq,
                        plane: p,
                        bit_depth: header.coded_depth(p),
                        colour: header.colour_transform,
                        base,
                        layer: l,
                    };
                    scaled_quant(r.scale(loq, p, l), at)
                }
                None => Quant::IDENTITY,
            })
        })
        .collect();
    // Context thresholds of each plane with a residual echelon here, from the activity of
    // the echelon below as the decoder will have it.
    // The activity map of each such plane gives its thresholds, then every coefficient's
    // context.
    let (thresholds, ctx_maps): (Vec<Vec<u32>>, Vec<Vec<u8>>) = (0..header.planes.len())
        .map(|p| {
            let desc = header.planes[p];
            if loq + 1 >= desc.echelons {
                return (Vec::new(), Vec::new());
            }
            let lower = lower_level(header, &pyramids[p], recon, p, loq);
            let (lw, lh) = (lower.width as usize, lower.height as usize);
            let count = cfg.contexts.map_or(context_count(lw * lh), usize::from);
            if count <= 1 {
                return (Vec::new(), vec![0; lw * lh]);
            }
            let hist = activity_histogram(&lower.data, lw, lh);
            let t = quantile_thresholds(&hist, count);
            let mut map = Vec::new();
            let all = Rect::full(lower.width, lower.height);
            context_map(&lower.data, lw, lh, all, &t, &mut map);
            (t, map)
        })
        .unzip();
    let ctx = TileContext {
        header,
        loq,
        cfg,
        recon,
        quants: &quants,
        ctx_maps: &ctx_maps,
        rounding: DEAD_ZONE_ROUNDING,
        thin: rate.map_or(0.0, |r| r.thin),
    };
    let indexed: Vec<(usize, (usize, Rect))> = jobs.iter().copied().enumerate().collect();
    let models: Vec<TileModel> = parallel::map(cfg.threads, indexed, |(i, (p, rect))| {
        model_tile(&pyramids[p], p, rect, thinned(i, ctx.thin), &ctx)
    });
    if !header.lossless {
        reconstruct_section(header, pyramids, loq, &jobs, &models, recon, cfg.threads);
    }

    // Statistics of the whole section give one table per (plane, layer, kind, context).
    // Indexed by table key; tables that no symbol uses stay absent from the stream.
    let keys = header.planes.len() * 128;
    let mut hist = vec![[0u64; VALUE_ALPHABET]; keys];
    for m in &models {
        for q in m.syms.symbols() {
            hist[usize::from(q.table)][usize::from(q.sym)] += 1;
        }
    }
    let used: Vec<usize> = (0..keys)
        .filter(|&k| hist[k].iter().any(|&n| n > 0))
        .collect();
    // One precision for the whole section, sized to its busiest table.
    let busiest = used.iter().map(|&k| hist[k].iter().sum::<u64>()).max();
    let log = match cfg.precision {
        Some(p) => u32::from(p),
        None => precision_for(busiest.unwrap_or(0), MOST_PRECISION.min(MAX_PRECISION)),
    };
    let mut out = Vec::new();
    out.put_u8(loq);
    out.put_u8(log as u8);
    if !header.lossless {
        for (p, desc) in header.planes.iter().enumerate() {
            if loq < desc.echelons {
                for q in &quants[p][..layer_count(loq + 1 == desc.echelons, true)] {
                    out.put_varint(q.step);
                    out.put_u8(q.offset);
                }
            }
        }
    }
    for (p, desc) in header.planes.iter().enumerate() {
        if loq + 1 < desc.echelons {
            out.put_u8(thresholds[p].len() as u8);
            thresholds[p].iter().for_each(|&t| out.put_varint(t));
        }
    }
    let mut tables = EncTables::with_count(keys);
    // Cost of each symbol of each table, to choose the tiles' lane counts: in bits as
    // `f32` (the reference), held exactly in units of 2^-23 bit (see [`Cost`]).
    let mut costs = Cost::with_count(keys, eight_lanes_from(header.lossless));
    out.put_varint(used.len() as u32);
    for &k in &used {
        let (plane, layer, kind, c) = (k / 128, (k / 32) % 4, (k / 8) % 4, k % 8);
        debug_assert!(c < MAX_CONTEXTS && kind < KINDS);
        let table = FreqTable::from_counts(&hist[k][..alphabet(kind)], log);
        out.put_u8(plane as u8);
        out.put_u8((layer | kind << 2 | c << 4) as u8);
        table.write(&mut out);
        costs.insert(k, &table.freq, log);
        tables.insert(k, &EncTable::new(&table));
    }
    let payloads: Vec<Vec<u8>> = parallel::map(cfg.threads, models, |m| {
        if m.header.is_empty() {
            return Vec::new();
        }
        let class = match cfg.lanes {
            Some(l) => LANE_CLASSES.iter().position(|&c| c == l).unwrap_or(0) as u8,
            None => costs.lane_class(m.syms.symbols()),
        };
        let head = TileHeader { class, ..m.header };
        let mut payload = Vec::with_capacity(1 + 2 * m.syms.len() + 4 * LANE_CLASSES[2]);
        payload.put_u8(head.byte());
        RansEncoder::encode_with(&m.syms, head.lanes(), &tables, &mut payload);
        payload
    });
    let sizes: Vec<u32> = payloads.iter().map(|p| p.len() as u32).collect();
    for (&(p, _), &n) in jobs.iter().zip(&sizes) {
        match units.iter_mut().find(|(u, _)| *u == (loq, p)) {
            Some((_, total)) => *total += f64::from(n),
            None => units.push(((loq, p), f64::from(n))),
        }
    }
    write_tableau(&sizes, &mut out);
    payloads.iter().for_each(|p| out.extend_from_slice(p));
    if header.checksums {
        let crc = crc32fast::hash(&out);
        out.put_u32(crc);
    }
    Ok(out)
}

/// The activity (docs/bitstream.md 7.3) of every sample of row `y` of a `w x h` echelon
/// `l` into `out` (`w` long): the range of its 3x3 window, edges clamped. Separable: the
/// range of a window is the largest of three column maxima minus the smallest of three
/// column minima. `cols` is scratch space.
fn activity_row(l: &[i32], (w, h): (usize, usize), y: usize, cols: &mut Vec<i32>, out: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::pyramid::x86_predict::activity_row(l, (w, h), y, cols, out) {
        return;
    }
    activity_row_scalar(l, (w, h), y, cols, out);
}

/// [`activity_row`] in plain Rust: the reference of the SIMD twin.
fn activity_row_scalar(
    l: &[i32],
    (w, h): (usize, usize),
    y: usize,
    cols: &mut Vec<i32>,
    out: &mut [u32],
) {
    if cols.len() < 2 * w {
        cols.resize(2 * w, 0);
    }
    let (hi, lo) = cols[..2 * w].split_at_mut(w);
    let rows = [y.saturating_sub(1), y, (y + 1).min(h - 1)].map(|r| &l[r * w..][..w]);
    for x in 0..w {
        let c = [rows[0][x], rows[1][x], rows[2][x]];
        hi[x] = c[0].max(c[1]).max(c[2]);
        lo[x] = c[0].min(c[1]).min(c[2]);
    }
    for (x, o) in out[..w].iter_mut().enumerate() {
        let (a, b) = (x.saturating_sub(1), (x + 1).min(w - 1));
        let mx = hi[a].max(hi[x]).max(hi[b]);
        let mn = lo[a].min(lo[x]).min(lo[b]);
        *o = mx.abs_diff(mn);
    }
}

/// Activities from this one up count as this one in [`activity_histogram`].
const MOST_ACTIVITY: u32 = (1 << 16) - 1;

/// How many samples of a `w x h` echelon `l` have each activity ([`activity_row`]), up
/// to the largest (activities from [`MOST_ACTIVITY`] up counting as it).
fn activity_histogram(l: &[i32], w: usize, h: usize) -> Vec<u64> {
    let l = &l[..w * h];
    let (lo, hi) = l
        .iter()
        .fold((i32::MAX, i32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    // No window spans more than the whole echelon.
    let most = hi.abs_diff(lo).min(MOST_ACTIVITY) as usize;
    // Small ranges take four interleaved histograms, so that runs of one activity do not
    // wait on the store of the count before.
    let ways = if most < 4096 { 4 } else { 1 };
    let mut counts = vec![0u64; (most + 1) * ways];
    let (mut row, mut cols) = (vec![0u32; w], Vec::new());
    for y in 0..h {
        activity_row(l, (w, h), y, &mut cols, &mut row);
        if ways == 4 {
            for (i, &a) in row.iter().enumerate() {
                counts[(a.min(MOST_ACTIVITY) as usize) * 4 + (i & 3)] += 1;
            }
        } else {
            for &a in &row {
                counts[a.min(MOST_ACTIVITY) as usize] += 1;
            }
        }
    }
    let mut hist: Vec<u64> = counts.chunks_exact(ways).map(|c| c.iter().sum()).collect();
    let last = hist.iter().rposition(|&n| n > 0).unwrap_or(0);
    hist.truncate(last + 1);
    hist
}

/// Thresholds for `count` contexts at the quantiles of the activities counted in `hist`
/// (`hist[a]` of activity `a`, the last entry not empty), so that each context holds
/// about as many coefficients (ties merge contexts: a mass of one activity cannot be
/// split).
fn quantile_thresholds(hist: &[u64], count: usize) -> Vec<u32> {
    let most = hist.len().saturating_sub(1);
    let total: u64 = hist.iter().sum();
    let mut out: Vec<u32> = Vec::new();
    let (mut acc, mut k) = (0u64, 1usize);
    for (a, &n) in hist.iter().enumerate() {
        // The blocks of activity `a` end the context of every quantile they reach.
        while k < count.min(MAX_CONTEXTS) && (acc + n) * count as u64 > total * k as u64 {
            if a < most && out.last().is_none_or(|&t| t < a as u32) {
                out.push(a as u32);
            }
            k += 1;
        }
        acc += n;
    }
    out
}

/// The echelon below the residual echelon `loq` of plane `p` as the decoder will have it:
/// the exact one for lossless streams, the reconstruction for lossy ones.
fn lower_level<'a>(
    header: &Header,
    pyr: &'a Pyramid,
    recon: &'a [Option<Level>],
    p: usize,
    loq: u8,
) -> &'a Level {
    match header.lossless {
        true => &pyr.levels[loq as usize + 1],
        false => recon[p]
            .as_ref()
            .expect("the echelon below is reconstructed first"),
    }
}

/// The tile grid of plane data at `loq`: samples for the lowest echelon, blocks (the
/// grid of the echelon below) otherwise.
fn tile_grid(pyr: &Pyramid, loq: u8, echelons: u8, tile_log2: u8) -> TileGrid {
    let grid_level = if loq + 1 == echelons { loq } else { loq + 1 };
    let l = &pyr.levels[grid_level as usize];
    TileGrid {
        width: l.width,
        height: l.height,
        tile_log2,
    }
}

/// What every tile of a section shares while it is modelled.
struct TileContext<'a> {
    header: &'a Header,
    loq: u8,
    cfg: &'a EncoderConfig,
    /// Lossy streams: the decoder's reconstruction of each plane's echelon below.
    recon: &'a [Option<Level>],
    quants: &'a [[Quant; MAX_LAYERS]],
    /// The context of every coefficient of each plane's grid (residual echelons).
    ctx_maps: &'a [Vec<u8>],
    /// Dead-zone rounding of the quantiser, in 1/256 of a step.
    rounding: u32,
    /// Fraction of tiles whose residual layers are thinned ([`Quant::quantize_layer`]).
    thin: f64,
}

/// Whether tile `i` of a section is among the `thin` fraction that rate control thins:
/// a low-discrepancy sequence, so any fraction spreads evenly over the picture.
fn thinned(i: usize, thin: f64) -> bool {
    const GOLDEN: f64 = 0.618_033_988_749_894_8;
    thin > 0.0 && ((i + 1) as f64 * GOLDEN).fract() < thin
}

fn model_tile(
    pyr: &Pyramid,
    plane: usize,
    rect: Rect,
    thin: bool,
    ctx: &TileContext<'_>,
) -> TileModel {
    let (loq, cfg) = (ctx.loq, ctx.cfg);
    let lossy = !ctx.header.lossless;
    let echelons = ctx.header.planes[plane].echelons;
    let quant = &ctx.quants[plane];
    let (w, h) = (rect.width() as usize, rect.height() as usize);
    let bound = coeff_bound(pyr.range);
    let mut ctx_map = Vec::new();
    let mut layers: Vec<Vec<i32>> = Vec::new();
    // Lossy: what the decoder will have, the reconstructed tile (lowest echelon) or the
    // dequantised residual layers.
    let mut decoded: Vec<Vec<i32>> = Vec::new();
    if loq + 1 == echelons {
        let level = &pyr.levels[loq as usize];
        let mut tile = crop(&level.data, level.width as usize, rect);
        let mut res = vec![0; w * h];
        if lossy {
            med_quantize(&mut tile, w, h, pyr.range, quant[0], ctx.rounding, &mut res);
            decoded.push(tile);
        } else {
            med_residuals(&tile, w, h, pyr.range, &mut res);
        }
        layers.push(res);
        ctx_map.resize(w * h, 0);
    } else {
        // Lossless: the exact echelon below; lossy: the decoder's reconstruction of it.
        let lower = lower_level(ctx.header, pyr, ctx.recon, plane, loq);
        let gw = lower.width as usize;
        for y in rect.y0 as usize..rect.y1 as usize {
            ctx_map.extend_from_slice(&ctx.ctx_maps[plane][y * gw + rect.x0 as usize..][..w]);
        }
        let upper = &pyr.levels[loq as usize];
        let det = &pyr.details[loq as usize];
        let average = lossy && !ctx.header.predicted_average;
        PREDICTION.with_borrow_mut(|pred| {
            pred.compute(
                ctx.header.upsampler,
                lower,
                (upper.width, upper.height),
                rect,
                pyr.range,
                average,
            );
            for l in 0..3 {
                layers.push(if pred.zero {
                    crop(&det.layers[l], lower.width as usize, rect)
                } else {
                    residuals(&det.layers[l], lower.width as usize, rect, &pred.layers[l])
                });
            }
            if lossy {
                // The average residual: the true A (the exact echelon below) against the
                // predicted A, which is the reconstructed sample below with the
                // predicted-average step (or for the nearest upsampler).
                let truth = &pyr.levels[loq as usize + 1].data;
                layers.push(if ctx.header.predicted_average || pred.zero {
                    let below = crop(&lower.data, lower.width as usize, rect);
                    let truth = crop(truth, lower.width as usize, rect);
                    truth.iter().zip(&below).map(|(&t, &b)| t - b).collect()
                } else {
                    residuals(truth, lower.width as usize, rect, &pred.average)
                });
            }
        });
        if lossy {
            for (l, vals) in layers.iter_mut().enumerate() {
                quant[l].quantize_layer(vals, w, h, ctx.rounding, thin);
                decoded.push(
                    vals.iter()
                        .map(|&q| quant[l].dequantize(q, bound))
                        .collect(),
                );
            }
        }
    }
    let mut modes = [0u8; MAX_LAYERS];
    for (l, vals) in layers.iter().enumerate() {
        modes[l] = choose_mode(vals);
    }
    // Room for every symbol, so the queue is not copied as it grows: a dense layer has
    // one per value, an s-tree (under a quarter of its values not zero) rarely more
    // than half as many.
    let mut syms = SymbolQueue::new();
    syms.reserve(
        modes[..layers.len()]
            .iter()
            .map(|&m| match m {
                MODE_DENSE => w * h,
                MODE_STREE => w * h / 2,
                _ => 0,
            })
            .sum(),
    );
    for (l, vals) in layers.iter().enumerate() {
        model_layer(
            vals,
            w,
            h,
            cfg.tile_log2,
            modes[l],
            &ctx_map,
            &mut syms,
            |kind, c| key(plane, l, kind, c),
        );
    }
    TileModel {
        header: TileHeader { modes, class: 0 },
        syms,
        decoded,
    }
}

/// Lossy streams: rebuilds each plane's echelon of this section exactly as the decoder
/// will, from the tiles' decoded data, for the next section to predict from (a band of
/// tile rows per job, as the decoder does).
fn reconstruct_section(
    header: &Header,
    pyramids: &[Pyramid],
    loq: u8,
    jobs: &[(usize, Rect)],
    models: &[TileModel],
    recon: &mut [Option<Level>],
    threads: usize,
) {
    let side = 1usize << header.tile_log2;
    for (p, desc) in header.planes.iter().enumerate() {
        if loq >= desc.echelons {
            continue;
        }
        let pyr = &pyramids[p];
        let upper = &pyr.levels[loq as usize];
        let (uw, uh) = (upper.width, upper.height);
        let tiles: Vec<(Rect, &TileModel)> = jobs
            .iter()
            .zip(models)
            .filter(|((q, _), _)| *q == p)
            .map(|(&(_, rect), m)| (rect, m))
            .collect();
        let mut data = vec![0; (uw * uh) as usize];
        if loq + 1 == desc.echelons {
            for (rect, m) in &tiles {
                let w = rect.width() as usize;
                for (y, row) in m.decoded[0].chunks_exact(w).enumerate() {
                    let at = (rect.y0 as usize + y) * uw as usize + rect.x0 as usize;
                    data[at..at + w].copy_from_slice(row);
                }
            }
        } else {
            let lower = recon[p]
                .as_ref()
                .expect("the echelon below is reconstructed first");
            // A tile row of blocks covers 2 * side rows of this echelon.
            let bands: Vec<(usize, &mut [i32])> = data
                .chunks_mut(2 * side * uw as usize)
                .enumerate()
                .collect();
            parallel::map(threads, bands, |(ty, band)| {
                let mut work = Prediction::default();
                for (rect, m) in tiles.iter().filter(|(r, _)| r.y0 as usize == ty * side) {
                    let residuals: Vec<&[i32]> = m.decoded.iter().map(|d| &d[..]).collect();
                    predict_reconstruct(
                        &mut work,
                        header.upsampler,
                        lower,
                        (uw, uh),
                        *rect,
                        &residuals,
                        header.predicted_average,
                        pyr.range,
                        band,
                        rect.y0,
                    );
                }
            });
        }
        recon[p] = Some(Level {
            width: uw,
            height: uh,
            data,
        });
    }
}

thread_local! {
    /// The prediction of [`model_tile`], kept from tile to tile.
    static PREDICTION: std::cell::RefCell<Prediction> = std::cell::RefCell::default();
}

/// The residuals of rectangle `r` of `data` (row stride `stride`) against `pred` (the
/// predictions of `r`, row-major).
fn residuals(data: &[i32], stride: usize, r: Rect, pred: &[i32]) -> Vec<i32> {
    let w = r.width() as usize;
    let mut out = Vec::with_capacity(w * r.height() as usize);
    if w == 0 {
        return out;
    }
    for (y, p) in (r.y0 as usize..r.y1 as usize).zip(pred.chunks_exact(w)) {
        let row = &data[y * stride + r.x0 as usize..][..w];
        out.extend(row.iter().zip(p).map(|(&c, &p)| c - p));
    }
    out
}

fn crop(data: &[i32], stride: usize, r: Rect) -> Vec<i32> {
    let mut out = Vec::with_capacity((r.width() * r.height()) as usize);
    for y in r.y0..r.y1 {
        let start = y as usize * stride;
        out.extend_from_slice(&data[start + r.x0 as usize..start + r.x1 as usize]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The activities of a `w x h` echelon, row by row, with the scalar or the dispatched
    /// row.
    fn activities(l: &[i32], w: usize, h: usize, scalar: bool) -> Vec<u32> {
        let (mut out, mut cols) = (vec![u32::MAX; w * h], vec![-7; 3]);
        for (y, row) in out.chunks_exact_mut(w).enumerate() {
            match scalar {
                true => activity_row_scalar(l, (w, h), y, &mut cols, row),
                false => activity_row(l, (w, h), y, &mut cols, row),
            }
        }
        out
    }

    #[test]
    fn activity_rows_are_the_decoders_activity() {
        let mut seed = 5u32;
        let mut next = move || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            seed >> 8
        };
        for (w, h) in [
            (13, 7),
            (1, 1),
            (1, 5),
            (8, 1),
            (9, 2),
            (16, 3),
            (31, 4),
            (40, 9),
        ] {
            for (lo, span) in [
                (-40, 300),
                (0, 1),
                (0, 65536),
                (-65535, 131071),
                (i32::MIN / 2, i32::MAX),
            ] {
                let l: Vec<i32> = (0..w * h)
                    .map(|_| lo.wrapping_add((next() % span as u32) as i32))
                    .collect();
                let want: Vec<u32> = (0..w * h)
                    .map(|i| crate::syntax::context::activity(&l, w, h, i % w, i / w))
                    .collect();
                assert_eq!(activities(&l, w, h, true), want, "{w}x{h} scalar");
                assert_eq!(activities(&l, w, h, false), want, "{w}x{h}");
                // The histogram counts them, from 65535 up as 65535, up to the largest.
                let most = want.iter().map(|&a| a.min(MOST_ACTIVITY)).max().unwrap();
                let mut hist = vec![0u64; most as usize + 1];
                want.iter().for_each(|&a| hist[a.min(most) as usize] += 1);
                assert_eq!(activity_histogram(&l, w, h), hist, "{w}x{h}");
            }
        }
        assert_eq!(activities(&[7], 1, 1, false), vec![0]);
    }

    /// `hist[a]`: how many of `acts` are `a`, up to the largest.
    fn histogram(acts: &[u32]) -> Vec<u64> {
        let mut hist = vec![0u64; *acts.iter().max().unwrap() as usize + 1];
        acts.iter().for_each(|&a| hist[a as usize] += 1);
        hist
    }

    #[test]
    fn quantile_thresholds_split_by_population() {
        use crate::syntax::context::context_of;
        let acts: Vec<u32> = (0..1000).map(|i| i % 100).collect();
        let t = quantile_thresholds(&histogram(&acts), 4);
        crate::syntax::context::check_thresholds(&t).unwrap();
        let per: Vec<usize> = (0..4)
            .map(|c| acts.iter().filter(|&&a| context_of(a, &t) == c).count())
            .collect();
        assert!(per.iter().all(|&n| (240..=260).contains(&n)), "{per:?}");
        // Mostly flat: the zeros stay together.
        let acts: Vec<u32> = (0..1000).map(|i| if i < 900 { 0 } else { i % 7 }).collect();
        let t = quantile_thresholds(&histogram(&acts), 6);
        crate::syntax::context::check_thresholds(&t).unwrap();
        assert!(t.len() < 5 && t[0] == 0, "{t:?}");
        assert!(quantile_thresholds(&histogram(&acts), 1).is_empty());
        assert!(quantile_thresholds(&histogram(&[0; 50]), 8).is_empty());
    }

    #[test]
    fn thinned_tiles_spread_by_fraction() {
        for f in [0.1, 0.25, 0.5, 0.9] {
            let n = (0..1000).filter(|&i| thinned(i, f)).count();
            assert!((n as f64 - 1000.0 * f).abs() <= 10.0, "{f}: {n}");
            // Evenly: every run of 40 tiles has its share, give or take one or two.
            for start in (0..960).step_by(40) {
                let k = (start..start + 40).filter(|&i| thinned(i, f)).count();
                assert!((k as f64 - 40.0 * f).abs() <= 2.0, "{f} at {start}: {k}");
            }
        }
        assert!((0..1000).all(|i| !thinned(i, 0.0) && thinned(i, 1.0)));
    }
}
