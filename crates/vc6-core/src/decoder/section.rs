//! One section's tiles, band by band: contexts from the echelon below, entropy decoding,
//! then prediction and reconstruction (or MED for a lowest echelon).

use crate::entropy;
use crate::error::{Error, Result};
use crate::plan::{Plan, PlanePlan, SectionPlan};
use crate::pyramid::{med_reconstruct, predict_reconstruct, Level, Prediction, Upsampler};
use crate::quant::{coeff_bound, CoeffMap};
use crate::syntax::context::context_map;
use crate::syntax::{
    dense_group, Contexts, LayerTables, TileDecoder, TileLayers, TileSpec, KIND_DENSE, KIND_LEAF,
    KIND_NODE_HIGH, KIND_NODE_LOW, MAX_LAYERS, MODE_DENSE,
};
use crate::tableau::Rect;
use std::cell::RefCell;

/// The decode tables of a section: every table's entries in one array, and a table of
/// [`entropy::INVALID_SYMBOL`] entries that stands in for the tables the section does not define.
pub(crate) struct SectionTables {
    pub(crate) entries: Vec<u32>,
    /// Offset of each of the section's tables in `entries`; the invalid table is last.
    pub(crate) offsets: Vec<usize>,
}

thread_local! {
    /// The last section's table array, for the next section to reuse: fresh memory costs
    /// a page fault per 4 KiB, which a one-picture process pays in full.
    static TABLES: RefCell<Vec<u32>> = RefCell::default();
}

impl Drop for SectionTables {
    fn drop(&mut self) {
        let entries = std::mem::take(&mut self.entries);
        // A thread keeps at most 4 MiB of tables between sections.
        if entries.capacity() <= 1 << 20 {
            let _ = TABLES.try_with(|t| {
                if let Ok(mut t) = t.try_borrow_mut() {
                    *t = entries;
                }
            });
        }
    }
}

impl SectionTables {
    pub(crate) fn new(section: &SectionPlan) -> SectionTables {
        let size = 1usize << section.log;
        let mut entries = TABLES
            .try_with(|t| t.try_borrow_mut().map(|mut t| std::mem::take(&mut *t)).ok())
            .ok()
            .flatten()
            .unwrap_or_default();
        // Every entry is written below.
        entries.resize(size * (section.tables.len() + 1), 0);
        let mut offsets = Vec::with_capacity(section.tables.len() + 1);
        for (i, (t, chunk)) in section
            .tables
            .iter()
            .zip(entries.chunks_exact_mut(size))
            .enumerate()
        {
            entropy::decode::fill(&t.freq, chunk);
            offsets.push(i * size);
        }
        let invalid = section.tables.len() * size;
        entropy::decode::fill_invalid(section.log, &mut entries[invalid..]);
        offsets.push(invalid);
        SectionTables { entries, offsets }
    }

    /// The offset of table `index` in the entries (`None`: the invalid table).
    pub(crate) fn table(&self, index: Option<usize>) -> u32 {
        self.offsets[index.unwrap_or(self.offsets.len() - 1)] as u32
    }

    /// A plane's tables, layer by layer.
    pub(crate) fn layers(&self, pp: &PlanePlan) -> [LayerTables; MAX_LAYERS] {
        std::array::from_fn(|l| {
            let t = &pp.tables[l];
            LayerTables {
                dense: std::array::from_fn(|c| self.table(t[KIND_DENSE][c])),
                leaf: std::array::from_fn(|c| self.table(t[KIND_LEAF][c])),
                low: self.table(t[KIND_NODE_LOW][0]),
                high: self.table(t[KIND_NODE_HIGH][0]),
            }
        })
    }
}

/// Each plane's part of `section`, taking its echelon below from `levels`.
pub(crate) fn plane_work<'a>(
    section: &'a SectionPlan,
    tables: &'a SectionTables,
    levels: &mut [Option<Level>],
) -> Result<Vec<PlaneWork<'a>>> {
    section
        .planes
        .iter()
        .map(|pp| {
            let lower = match pp.base {
                true => None,
                false => Some(
                    levels[pp.plane]
                        .take()
                        .ok_or_else(|| Error::format("residual section before its base"))?,
                ),
            };
            let bound = coeff_bound(pp.range);
            Ok(PlaneWork {
                pp,
                lower,
                tables: tables.layers(pp),
                entries: &tables.entries,
                maps: pp.quant.map(|q| CoeffMap::new(q, bound)),
            })
        })
        .collect()
}

/// One plane's part of a section, with its decode tables.
pub(crate) struct PlaneWork<'a> {
    pub(crate) pp: &'a PlanePlan,
    /// The echelon below; `None` when this is the plane's lowest echelon.
    pub(crate) lower: Option<Level>,
    pub(crate) tables: [LayerTables; MAX_LAYERS],
    /// Every decode table of the section.
    pub(crate) entries: &'a [u32],
    /// Each layer's dequantisation and clamping.
    pub(crate) maps: [CoeffMap; MAX_LAYERS],
}

/// What every tile of a section shares.
pub(crate) struct SectionData<'a> {
    pub(crate) stream: &'a [u8],
    pub(crate) section: &'a SectionPlan,
    pub(crate) tile_log2: u8,
    pub(crate) upsampler: Upsampler,
    pub(crate) predicted_average: bool,
    /// Whether the AVX2 kernels run ([`crate::simd::avx2`], read once per decode).
    pub(crate) simd: bool,
}

impl<'a> SectionData<'a> {
    /// What the tiles of `section` of `plan` share, in `stream`.
    pub(crate) fn new(plan: &Plan, section: &'a SectionPlan, stream: &'a [u8]) -> Self {
        SectionData {
            stream,
            section,
            tile_log2: plan.header.tile_log2,
            upsampler: plan.header.upsampler,
            predicted_average: plan.header.predicted_average,
            simd: crate::simd::avx2(),
        }
    }

    pub(crate) fn payload(&self, wk: &PlaneWork<'_>, tx: u32, ty: u32) -> &[u8] {
        &self.stream[self.section.payload(wk.pp.tile_index(tx, ty))]
    }

    /// Decodes the needed tiles of tile row `ty` into `band`, the rows of the echelon
    /// that tile row covers.
    pub(crate) fn decode_band(&self, wk: &PlaneWork<'_>, ty: u32, band: &mut [i32]) -> Result<()> {
        with_scratch(|scratch| self.decode_band_with(wk, ty, band, scratch))
    }

    /// [`SectionData::decode_band`] with this thread's scratch space.
    pub(crate) fn decode_band_with(
        &self,
        wk: &PlaneWork<'_>,
        ty: u32,
        band: &mut [i32],
        scratch: &mut BandScratch,
    ) -> Result<()> {
        let pp = wk.pp;
        let (w, h) = pp.size;
        let err = |e, tx| tile_error(e, self.section.loq, pp.plane, tx, ty);
        let BandScratch {
            tiles,
            decoders,
            ctx,
            pred,
        } = scratch;
        // One layer of MED residuals over samples for a lowest echelon, else the residual
        // layers over blocks.
        let layers = pp.layers();
        // Tiles go in groups, so that their dense layers can share the entropy decoder's
        // rounds (see `syntax::dense_group`); each is reconstructed after its group.
        // Big tiles have 32 lanes (two share rounds) and big buffers: two at a time.
        let size = if self.tile_log2 >= 7 { 2 } else { GROUP as u32 };
        let mut tx0 = pp.cover.x0;
        while tx0 < pp.cover.x1 {
            let group = tx0..(tx0 + size).min(pp.cover.x1);
            tx0 = group.end;
            let count = group.len();
            let rects: Vec<Rect> = group.clone().map(|tx| pp.grid.tile_rect(tx, ty)).collect();
            let spec = |r: &Rect, ctx| TileSpec {
                log: self.section.log,
                tile_log2: self.tile_log2,
                w: r.width() as usize,
                h: r.height() as usize,
                ctx,
                entries: wk.entries,
            };
            let mut results: Vec<Result<()>> = Vec::with_capacity(count);
            for (i, tx) in group.clone().enumerate() {
                results.push(decoders[i].begin(
                    self.payload(wk, tx, ty),
                    &spec(&rects[i], Contexts::Zero),
                    layers,
                    &mut tiles[i],
                    self.simd,
                ));
            }
            // Contexts: a map for tiles with a dense layer; leaves alone take theirs one
            // by one; a lowest echelon, or a tile with nothing coded, needs none.
            let has_dense: Vec<bool> = decoders[..count]
                .iter()
                .map(|d| (0..layers).any(|l| d.mode(l) == MODE_DENSE))
                .collect();
            for ((c, rect), &dense) in ctx.iter_mut().zip(&rects).zip(&has_dense) {
                c.clear();
                if let (Some(lower), true, false) = (&wk.lower, dense, pp.thresholds.is_empty()) {
                    context_map(
                        &lower.data,
                        lower.width as usize,
                        lower.height as usize,
                        *rect,
                        &pp.thresholds,
                        c,
                    );
                } else if dense {
                    c.resize((rect.width() * rect.height()) as usize, 0);
                }
                // Vector loads read 8 bytes past the last position.
                c.extend_from_slice(&[0; 8]);
            }
            let specs: Vec<TileSpec<'_>> = rects
                .iter()
                .zip(ctx.iter())
                .zip(&has_dense)
                .map(|((r, c), &dense)| {
                    let ctx = match &wk.lower {
                        _ if dense => Contexts::Map(c),
                        Some(lower) if !pp.thresholds.is_empty() => Contexts::Lower {
                            lower: &lower.data,
                            lw: lower.width as usize,
                            lh: lower.height as usize,
                            x0: r.x0 as usize,
                            y0: r.y0 as usize,
                            thresholds: &pp.thresholds,
                        },
                        _ => Contexts::Zero,
                    };
                    spec(r, ctx)
                })
                .collect();
            for l in 0..layers {
                let (t, map) = (&wk.tables[l], &wk.maps[l]);
                let mut dense = Vec::with_capacity(count);
                for (i, ((d, out), spec)) in decoders
                    .iter_mut()
                    .zip(tiles.iter_mut())
                    .zip(&specs)
                    .enumerate()
                {
                    if results[i].is_err() {
                        continue;
                    }
                    if d.mode(l) == MODE_DENSE {
                        dense.push((i, (d, spec, out)));
                    } else {
                        results[i] = d.layer(l, spec, t, map, out);
                    }
                }
                let (index, mut group): (Vec<usize>, Vec<_>) = dense.into_iter().unzip();
                for (i, r) in index.into_iter().zip(dense_group(l, &mut group, t, map)) {
                    results[i] = r;
                }
            }
            for (r, d) in results.iter_mut().zip(decoders.iter()) {
                if r.is_ok() {
                    *r = d.finish();
                }
            }
            for (i, (tx, r)) in group.zip(results).enumerate() {
                r.map_err(|e| err(e, tx))?;
                let (rect, tile) = (rects[i], &mut tiles[i]);
                let (tw, th) = (rect.width() as usize, rect.height() as usize);
                let Some(lower) = &wk.lower else {
                    let buf = tile.decoded_mut(0, tw * th);
                    med_reconstruct(buf, tw, th, pp.range);
                    for y in 0..th {
                        let dst = y * w as usize + rect.x0 as usize;
                        band[dst..dst + tw].copy_from_slice(&buf[y * tw..(y + 1) * tw]);
                    }
                    continue;
                };
                let residuals: Vec<&[i32]> = tile.bufs[..layers].iter().map(|b| &b[..]).collect();
                predict_reconstruct(
                    pred,
                    self.upsampler,
                    lower,
                    (w, h),
                    rect,
                    &residuals,
                    self.predicted_average,
                    pp.range,
                    band,
                    rect.y0,
                );
            }
        }
        Ok(())
    }
}

/// Tiles decoded together (their dense layers' rounds interleaved).
const GROUP: usize = 4;

pub(crate) fn tile_error(e: Error, loq: u8, p: usize, tx: u32, ty: u32) -> Error {
    match e {
        Error::Format(m) => {
            Error::format(format!("tile ({tx},{ty}) of plane {p} at LoQ {loq}: {m}"))
        }
        e => e,
    }
}

/// What a band job works in, kept per thread from band to band and decode to decode, so
/// that its buffers are allocated and zeroed once per thread rather than once per band.
#[derive(Default)]
pub(crate) struct BandScratch {
    tiles: [TileLayers; GROUP],
    decoders: [TileDecoder; GROUP],
    ctx: [Vec<u8>; GROUP],
    pred: Prediction,
}

thread_local! {
    static SCRATCH: RefCell<BandScratch> = RefCell::default();
}

/// Runs `f` with this thread's [`BandScratch`] (a fresh one if that is in use or gone).
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut BandScratch) -> R) -> R {
    let mut f = Some(f);
    let kept = SCRATCH.try_with(|s| {
        let mut s = s.try_borrow_mut().ok()?;
        f.take().map(|f| f(&mut s))
    });
    match (kept, f) {
        (Ok(Some(r)), _) => r,
        (_, Some(f)) => f(&mut BandScratch::default()),
        (_, None) => unreachable!("the scratch closure ran but returned nothing"),
    }
}
