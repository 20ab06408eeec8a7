//! Coding one section: the tiles' models (residuals, quantisation, symbols), the
//! section's contexts and tables, the tiles' rANS payloads, and for lossy streams the
//! decoder's reconstruction the next section predicts from.

use super::rate::{Rate, UnitSizes};
use super::{scaled_quant, EncoderConfig, LayerAt, Pyramid, DEAD_ZONE_ROUNDING};
use crate::bytes::ByteWriter;
use crate::entropy::{
    precision_for, EncTable, FreqTable, RansEncoder, SymbolQueue, LANE_CLASSES, MAX_PRECISION,
    VALUE_ALPHABET,
};
use crate::error::Result;
use crate::header::Header;
use crate::parallel;
use crate::plan::layer_count;
use crate::pyramid::{med_quantize, med_residuals, predict_reconstruct, Level, Prediction};
use crate::quant::{coeff_bound, Quant};
use crate::syntax::context::{context_of, MAX_CONTEXTS};
use crate::syntax::{alphabet, choose_mode, model_layer, TileHeader, KINDS, MAX_LAYERS};
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
/// the lanes.
fn lane_class(bits: f64) -> u8 {
    if bits >= 32.0 * 16.0 * 64.0 {
        2
    } else if bits >= 8.0 * 16.0 * 48.0 {
        1
    } else {
        0
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
                        bit_depth: header.planes[p].bit_depth,
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
            let acts = activity_map(&lower.data, lw, lh);
            let t = quantile_thresholds(&acts, count);
            let map = acts.iter().map(|&a| context_of(a, &t)).collect();
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
    let mut tables: Vec<Option<EncTable>> = vec![None; keys];
    // Cost of each symbol of each table in bits, to choose the tiles' lane counts.
    let mut costs: Vec<Vec<f32>> = vec![Vec::new(); keys];
    out.put_varint(used.len() as u32);
    for &k in &used {
        let (plane, layer, kind, c) = (k / 128, (k / 32) % 4, (k / 8) % 4, k % 8);
        debug_assert!(c < MAX_CONTEXTS && kind < KINDS);
        let table = FreqTable::from_counts(&hist[k][..alphabet(kind)], log);
        out.put_u8(plane as u8);
        out.put_u8((layer | kind << 2 | c << 4) as u8);
        table.write(&mut out);
        costs[k] = table
            .freq
            .iter()
            .map(|&f| (log as f32) - (f.max(1) as f32).log2())
            .collect();
        tables[k] = Some(EncTable::new(&table));
    }
    let payloads: Vec<Vec<u8>> = parallel::map(cfg.threads, models, |m| {
        if m.header.is_empty() {
            return Vec::new();
        }
        let bits: f64 = m
            .syms
            .symbols()
            .iter()
            .map(|q| f64::from(costs[usize::from(q.table)][usize::from(q.sym)]) + f64::from(q.nb))
            .sum();
        let class = match cfg.lanes {
            Some(l) => LANE_CLASSES.iter().position(|&c| c == l).unwrap_or(0) as u8,
            None => lane_class(bits),
        };
        let head = TileHeader { class, ..m.header };
        let mut payload = Vec::with_capacity(1 + (bits / 8.0) as usize + 4 * LANE_CLASSES[2]);
        payload.put_u8(head.byte());
        RansEncoder::encode(&m.syms, head.lanes(), &tables, &mut payload);
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

/// The activity (docs/bitstream.md 7.3) of every sample of a `w x h` echelon: the range
/// of its 3x3 window, edges clamped. Separable: the range of a window is the largest of
/// three column maxima minus the smallest of three column minima.
fn activity_map(l: &[i32], w: usize, h: usize) -> Vec<u32> {
    let mut out = vec![0u32; w * h];
    let (mut hi, mut lo) = (vec![0i32; w], vec![0i32; w]);
    for y in 0..h {
        let rows = [y.saturating_sub(1), y, (y + 1).min(h - 1)].map(|r| &l[r * w..][..w]);
        for x in 0..w {
            let c = [rows[0][x], rows[1][x], rows[2][x]];
            hi[x] = c[0].max(c[1]).max(c[2]);
            lo[x] = c[0].min(c[1]).min(c[2]);
        }
        let row = &mut out[y * w..][..w];
        for x in 0..w {
            let (a, b) = (x.saturating_sub(1), (x + 1).min(w - 1));
            let mx = hi[a].max(hi[x]).max(hi[b]);
            let mn = lo[a].min(lo[x]).min(lo[b]);
            row[x] = mx.abs_diff(mn);
        }
    }
    out
}

/// Thresholds for `count` contexts at the quantiles of `acts`, so that each context
/// holds about as many coefficients (ties merge contexts: a mass of one activity cannot
/// be split). Activities from 65535 up count as 65535.
fn quantile_thresholds(acts: &[u32], count: usize) -> Vec<u32> {
    const BINS: usize = 1 << 16;
    let most = acts.iter().copied().max().unwrap_or(0).min(BINS as u32 - 1) as usize;
    let mut hist = vec![0u64; most + 1];
    for &a in acts {
        hist[(a as usize).min(most)] += 1;
    }
    let total = acts.len() as u64;
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
        let mut pred = Prediction::default();
        pred.compute(
            ctx.header.upsampler,
            lower,
            (upper.width, upper.height),
            rect,
            pyr.range,
            average,
        );
        for l in 0..3 {
            let coeffs = crop(&det.layers[l], lower.width as usize, rect);
            layers.push(if pred.zero {
                coeffs
            } else {
                coeffs
                    .iter()
                    .zip(&pred.layers[l])
                    .map(|(&c, &p)| c - p)
                    .collect()
            });
        }
        if lossy {
            // The average residual: the true A (the exact echelon below) against the
            // predicted A, which is the reconstructed sample below with the
            // predicted-average step (or for the nearest upsampler).
            let truth = crop(
                &pyr.levels[loq as usize + 1].data,
                lower.width as usize,
                rect,
            );
            let below = crop(&lower.data, lower.width as usize, rect);
            let base = if ctx.header.predicted_average || pred.zero {
                below
            } else {
                pred.average[..w * h].to_vec()
            };
            layers.push(truth.iter().zip(&base).map(|(&t, &b)| t - b).collect());
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
    let mut syms = SymbolQueue::new();
    for (l, vals) in layers.iter().enumerate() {
        modes[l] = choose_mode(vals);
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

    #[test]
    fn activity_map_is_the_decoders_activity() {
        let (w, h) = (13, 7);
        let mut seed = 5u32;
        let l: Vec<i32> = (0..w * h)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (seed >> 16) as i32 % 300 - 40
            })
            .collect();
        let map = activity_map(&l, w, h);
        for y in 0..h {
            for x in 0..w {
                let want = crate::syntax::context::activity(&l, w, h, x, y);
                assert_eq!(map[y * w + x], want, "({x},{y})");
            }
        }
        assert_eq!(activity_map(&[7], 1, 1), vec![0]);
    }

    #[test]
    fn quantile_thresholds_split_by_population() {
        let acts: Vec<u32> = (0..1000).map(|i| i % 100).collect();
        let t = quantile_thresholds(&acts, 4);
        crate::syntax::context::check_thresholds(&t).unwrap();
        let per: Vec<usize> = (0..4)
            .map(|c| acts.iter().filter(|&&a| context_of(a, &t) == c).count())
            .collect();
        assert!(per.iter().all(|&n| (240..=260).contains(&n)), "{per:?}");
        // Mostly flat: the zeros stay together.
        let acts: Vec<u32> = (0..1000).map(|i| if i < 900 { 0 } else { i % 7 }).collect();
        let t = quantile_thresholds(&acts, 6);
        crate::syntax::context::check_thresholds(&t).unwrap();
        assert!(t.len() < 5 && t[0] == 0, "{t:?}");
        assert!(quantile_thresholds(&acts, 1).is_empty());
        assert!(quantile_thresholds(&[0; 50], 8).is_empty());
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
