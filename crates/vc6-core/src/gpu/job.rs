//! Host-side preparation of one frame for the kernels (bitstream version 2): the decode
//! tables, one descriptor per plane and section, and the flat tile-job table, section by
//! section (`merge.rs` merges the frames of a batch wave by wave). Plain Rust, no
//! GPU API calls, so it is unit-tested without a device. The word layouts are documented
//! in shaders/common/decode_body.h; the constants here name the same words.

use crate::entropy::decode::{fill, fill_invalid};
use crate::plan::Plan;
use crate::quant::coeff_bound;
use crate::syntax::context::MAX_CONTEXTS;
use crate::syntax::errors;
use crate::syntax::{
    TileHeader, KIND_DENSE, KIND_LEAF, KIND_NODE_HIGH, KIND_NODE_LOW, MAX_LAYERS, MODE_STREE,
};
use crate::tableau::Rect;
use crate::{Error, Result};

/// Words per tile job, and the words `merge` rebases.
pub const TILE_WORDS: usize = 8;
/// Tile job word: first byte of the tile's payload in the stream.
pub const T_START: usize = 0;
/// Tile job word: end of the payload.
pub const T_END: usize = 1;
/// Tile job word: index of the plane descriptor.
pub const T_PLANE: usize = 2;
/// Tile job word: the tile's first column in the coefficient grid.
pub const T_X0: usize = 3;
/// Tile job word: the tile's first row.
pub const T_Y0: usize = 4;
/// Tile job word: width | height << 16.
pub const T_SIZE: usize = 5;
/// Tile job word: the tile's scratch offset (bytes).
pub const T_SCRATCH: usize = 6;
/// Tile job word: the tile's scratch length (bytes).
pub const T_SCRATCH_LEN: usize = 7;

/// Words per plane descriptor, and the words `merge` rebases.
pub const PLANE_WORDS: usize = 96;
/// Plane word: first coefficient of the plane.
pub const P_COEFF: usize = 0;
/// Plane word: coefficient grid width.
pub const P_GRID_W: usize = 1;
/// Plane word: coefficient grid height.
pub const P_GRID_H: usize = 2;
/// Plane word: residual layers.
pub const P_LAYERS: usize = 3;
/// Plane word: table log2 | tile log2 << 8.
pub const P_LOG: usize = 4;
/// Plane word: where the echelon below is (contexts), in the echelon arena.
pub const P_LOWER: usize = 5;
/// Plane word: number of context thresholds.
pub const P_NTHRESH: usize = 6;
/// Plane words: the context thresholds.
pub const P_THRESH: usize = 7;
/// Plane words: quantiser step per layer.
pub const P_STEP: usize = 15;
/// Plane words: quantiser offset per layer.
pub const P_OFFSET: usize = 19;
/// Plane word: the coefficient bound.
pub const P_BOUND: usize = 23;
/// Plane words: table offsets, [`T_SLOTS`] per layer.
pub const P_TABLES: usize = 24;
/// Table offsets per layer: dense values by context, leaf values by context, nodes at
/// level 1, nodes above.
pub const T_SLOTS: usize = 2 * MAX_CONTEXTS + 2;
/// Table slot: leaf values, by context.
pub const S_LEAF: usize = MAX_CONTEXTS;
/// Table slot: s-tree nodes at level 1.
pub const S_LOW: usize = 2 * MAX_CONTEXTS;
/// Table slot: s-tree nodes above level 1.
pub const S_HIGH: usize = 2 * MAX_CONTEXTS + 1;
const _: () = assert!(P_TABLES + MAX_LAYERS * T_SLOTS == PLANE_WORDS);
const _: () = assert!(P_THRESH + MAX_CONTEXTS <= P_STEP);

/// Error codes of `decode_tiles` (see shaders/common/decode_body.h).
pub const E_CORRUPT: u8 = 1;
/// Tile error: invalid tile header.
pub const E_HEADER: u8 = 2;
/// Tile error: payload length does not fit the lanes.
pub const E_LENGTH: u8 = 3;
/// Tile error: a lane's final state is low.
pub const E_STATE: u8 = 4;
/// Tile error: an invalid symbol.
pub const E_SYMBOL: u8 = 5;
/// Tile error: an empty s-tree node.
pub const E_EMPTY_NODE: u8 = 6;
/// Tile error: a value outside the coefficient bound.
pub const E_OUTSIDE: u8 = 7;
/// Tile error: too little scratch memory (a host bug).
pub const E_SCRATCH: u8 = 8;

/// A decode laid out for the kernels. Offsets are relative to this frame: its stream,
/// its tables, its plane descriptors, and per section its coefficients and scratch.
#[derive(Debug)]
pub struct Layout {
    /// Every section's decode tables (`entropy::decode::fill` entries: bits 0-11 bias,
    /// 12-24 frequency, 25-30 symbol), each section's followed by one table of invalid
    /// symbols that stands in for the tables it does not define.
    pub tables: Vec<u32>,
    /// One descriptor per plane of each section, section after section.
    pub planes: Vec<[u32; PLANE_WORDS]>,
    /// Tile jobs, section after section, plane after plane, in raster order.
    pub jobs: Vec<[u32; TILE_WORDS]>,
    /// `(loq, plane, tx, ty)` of each job, to name a failing tile.
    pub origin: Vec<(u8, usize, u32, u32)>,
    /// Per section: its jobs, descriptors, coefficients and scratch.
    pub sections: Vec<SectionRun>,
    /// Largest echelon a plane reconstructs (i32 elements), per plane.
    pub echelon_len: Vec<usize>,
}

/// One section of a frame's [`Layout`].
#[derive(Debug)]
pub struct SectionRun {
    /// First job (in [`Layout::jobs`]).
    pub first_job: u32,
    /// Number of jobs.
    pub job_count: u32,
    /// The section's first plane descriptor (its planes' are consecutive).
    pub first_desc: u32,
    /// Coefficients (i32) of the section's planes.
    pub coeffs: usize,
    /// Scratch bytes of the section's tiles.
    pub scratch: usize,
    /// The section's planes.
    pub planes: Vec<PlaneRun>,
}

/// One plane of a [`SectionRun`].
#[derive(Debug)]
pub struct PlaneRun {
    /// The plane's index in the picture.
    pub plane: usize,
    /// Whether this is the plane's lowest echelon (MED, no residual upsampling).
    pub base: bool,
    /// Index of the plane's descriptor in [`Layout::planes`].
    pub desc: u32,
    /// First coefficient of the plane in the section's coefficients.
    pub cbase: u32,
    /// First job (in [`Layout::jobs`]).
    pub first_job: u32,
    /// Number of jobs.
    pub job_count: u32,
    /// Size of the echelon the section reconstructs.
    pub size: (u32, u32),
    /// Size of the echelon below (residual sections).
    pub lower: (u32, u32),
    /// Blocks (residual sections) to reconstruct, in the lower echelon's grid.
    pub blocks: Rect,
    /// The echelon's sample range (clamp bounds).
    pub range: (i32, i32),
}

/// `v` as a 32-bit kernel offset, or an `Unsupported` error naming `what` and, in
/// `advice`, what the caller can do instead.
pub fn offset_u32(v: usize, what: &str, advice: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| {
        Error::Unsupported(format!(
            "{what} ({v}) is beyond the GPU backends' 32-bit offsets; {advice}"
        ))
    })
}

fn to_u32(v: usize, what: &str) -> Result<u32> {
    offset_u32(v, what, "decode a region or use the CPU backend")
}

/// Scratch bytes of a tile whose payload is `payload`: its s-tree node lists (side^2
/// and side^2 / 4 positions of 2 bytes) when a layer is an s-tree, and one context byte
/// per coefficient when the plane has contexts. The kernel reads the same header byte,
/// and checks that it got enough.
fn scratch_len(payload: &[u8], layers: usize, tile_log2: u8, contexts: bool, n: usize) -> usize {
    let Some(head) = payload
        .first()
        .and_then(|&b| TileHeader::read(b, layers).ok())
    else {
        return 0;
    };
    let side2 = 1usize << (2 * tile_log2);
    let lists = match head.modes.contains(&MODE_STREE) {
        true => 2 * (side2 + side2 / 4),
        false => 0,
    };
    (lists + if contexts { n } else { 0 }).next_multiple_of(4)
}

impl Layout {
    /// Lays out `plan` over `stream` (the tile headers size the scratch).
    pub fn new(plan: &Plan, stream: &[u8]) -> Result<Layout> {
        let tile_log2 = plan.header.tile_log2;
        let mut tables = Vec::new();
        let mut descs = Vec::new();
        let mut jobs = Vec::new();
        let mut origin = Vec::new();
        let mut sections = Vec::with_capacity(plan.sections.len());
        for s in &plan.sections {
            let size = 1usize << s.log;
            let first_table = tables.len();
            tables.resize(first_table + size * (s.tables.len() + 1), 0);
            let mut table_at = Vec::with_capacity(s.tables.len());
            for (i, t) in s.tables.iter().enumerate() {
                let at = first_table + i * size;
                fill(&t.freq, &mut tables[at..at + size]);
                table_at.push(to_u32(at, "table offset")?);
            }
            let invalid = first_table + s.tables.len() * size;
            fill_invalid(s.log, &mut tables[invalid..]);
            let invalid = to_u32(invalid, "table offset")?;
            let section_first = origin.len();
            let first_desc = to_u32(descs.len(), "plane count")?;
            let (mut coeffs, mut scratch) = (0usize, 0usize);
            let mut planes = Vec::with_capacity(s.planes.len());
            for pp in &s.planes {
                let (gw, gh) = (pp.grid.width, pp.grid.height);
                let layers = pp.layers();
                let cbase = to_u32(coeffs, "coefficient offset")?;
                coeffs += gw as usize * gh as usize * layers;
                let mut d = [0u32; PLANE_WORDS];
                d[P_COEFF] = cbase;
                d[P_GRID_W] = gw;
                d[P_GRID_H] = gh;
                d[P_LAYERS] = layers as u32;
                d[P_LOG] = s.log | u32::from(tile_log2) << 8;
                d[P_NTHRESH] = pp.thresholds.len() as u32;
                d[P_THRESH..P_THRESH + pp.thresholds.len()].copy_from_slice(&pp.thresholds);
                d[P_BOUND] = coeff_bound(pp.range) as u32;
                for l in 0..MAX_LAYERS {
                    d[P_STEP + l] = pp.quant[l].step;
                    d[P_OFFSET + l] = u32::from(pp.quant[l].offset);
                    let t = &pp.tables[l];
                    let at = |i: Option<usize>| i.map_or(invalid, |i| table_at[i]);
                    let slots = &mut d[P_TABLES + l * T_SLOTS..][..T_SLOTS];
                    for c in 0..MAX_CONTEXTS {
                        slots[c] = at(t[KIND_DENSE][c]);
                        slots[S_LEAF + c] = at(t[KIND_LEAF][c]);
                    }
                    slots[S_LOW] = at(t[KIND_NODE_LOW][0]);
                    slots[S_HIGH] = at(t[KIND_NODE_HIGH][0]);
                }
                let desc = to_u32(descs.len(), "plane count")?;
                descs.push(d);
                let first_job = origin.len();
                for ty in pp.cover.y0..pp.cover.y1 {
                    for tx in pp.cover.x0..pp.cover.x1 {
                        let r = pp.grid.tile_rect(tx, ty);
                        let payload = s.payload(pp.tile_index(tx, ty));
                        let n = r.width() as usize * r.height() as usize;
                        let contexts = !pp.thresholds.is_empty();
                        let len =
                            scratch_len(&stream[payload.clone()], layers, tile_log2, contexts, n);
                        let mut words = [0u32; TILE_WORDS];
                        words[T_START] = to_u32(payload.start, "stream offset")?;
                        words[T_END] = to_u32(payload.end, "stream offset")?;
                        words[T_PLANE] = desc;
                        words[T_X0] = r.x0;
                        words[T_Y0] = r.y0;
                        words[T_SIZE] = r.width() | r.height() << 16;
                        words[T_SCRATCH] = to_u32(scratch, "scratch offset")?;
                        words[T_SCRATCH_LEN] = len as u32;
                        scratch += len;
                        jobs.push(words);
                        origin.push((s.loq, pp.plane, tx, ty));
                    }
                }
                let lower = if pp.base {
                    (0, 0)
                } else {
                    plan.header.planes[pp.plane].size_at(s.loq + 1)
                };
                planes.push(PlaneRun {
                    plane: pp.plane,
                    base: pp.base,
                    desc,
                    cbase,
                    first_job: to_u32(first_job, "tile count")?,
                    job_count: to_u32(origin.len() - first_job, "tile count")?,
                    size: pp.size,
                    lower,
                    blocks: plan.needs[pp.plane][s.loq as usize].halved(),
                    range: pp.range,
                });
            }
            to_u32(coeffs, "coefficient count")?;
            to_u32(scratch, "scratch size")?;
            sections.push(SectionRun {
                first_job: to_u32(section_first, "tile count")?,
                job_count: to_u32(origin.len() - section_first, "tile count")?,
                first_desc,
                coeffs,
                scratch,
                planes,
            });
        }
        to_u32(tables.len(), "table entries")?;
        let echelon_len = plan
            .header
            .planes
            .iter()
            .map(|d| {
                let (w, h) = d.size_at(plan.loq);
                w as usize * h as usize
            })
            .collect();
        Ok(Layout {
            tables,
            planes: descs,
            jobs,
            origin,
            sections,
            echelon_len,
        })
    }

    /// The error of tile `i`, from the kernel's error code (0: none), with the CPU
    /// decoder's message (`syntax::tile::decode_tile`); `stream` is this frame's.
    pub fn tile_error(&self, i: usize, code: u8, stream: &[u8]) -> Result<()> {
        if code == 0 {
            return Ok(());
        }
        let (loq, p, tx, ty) = self.origin[i];
        let job = &self.jobs[i];
        let payload = stream
            .get(job[T_START] as usize..job[T_END] as usize)
            .unwrap_or_default();
        let layers = self.planes[job[T_PLANE] as usize][P_LAYERS] as usize;
        let header = || payload.first().map(|&b| TileHeader::read(b, layers));
        let what = match code {
            E_CORRUPT => errors::CORRUPT.into(),
            E_HEADER => match header() {
                Some(Err(Error::Format(m))) => m,
                _ => "invalid tile header".into(),
            },
            E_LENGTH => {
                let lanes = match header() {
                    Some(Ok(h)) => h.lanes(),
                    _ => 0,
                };
                errors::bad_length(lanes, payload.len().saturating_sub(1))
            }
            E_STATE => errors::LOW_STATE.into(),
            E_SYMBOL => errors::BAD_SYMBOL.into(),
            E_EMPTY_NODE => errors::EMPTY_NODE.into(),
            E_OUTSIDE => errors::OUTSIDE.into(),
            E_SCRATCH => {
                return Err(Error::Device(format!(
                    "tile ({tx},{ty}) of plane {p} at LoQ {loq}: the GPU backend gave the tile too little scratch memory (a bug)"
                )))
            }
            _ => format!("unknown tile error {code}"),
        };
        Err(Error::Format(format!(
            "tile ({tx},{ty}) of plane {p} at LoQ {loq}: {what}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::decode::unpack;
    use crate::{encode, DecodeOptions, EncoderConfig, Picture, Plane, Region};

    fn stream(quality: Option<f32>) -> Vec<u8> {
        let (w, h) = (150u32, 70u32);
        let plane = |k: u32| Plane {
            width: w,
            height: h,
            bit_depth: 8,
            samples: (0..w * h)
                .map(|i| ((i % w) * k + (i / w) * 3 + (i * i) % 7) as u16 % 256)
                .collect(),
        };
        let cfg = EncoderConfig {
            tile_log2: 4,
            threads: 1,
            quality,
            lanes: Some(8),
            contexts: Some(4),
            ..EncoderConfig::default()
        };
        encode(
            &Picture {
                planes: vec![plane(1), plane(2)],
            },
            &cfg,
        )
        .unwrap()
    }

    #[test]
    fn jobs_cover_the_plans_tiles_and_tables_are_decode_tables() {
        for s in [stream(None), stream(Some(60.0))] {
            for region in [
                None,
                Some(Region {
                    x: 40,
                    y: 20,
                    width: 9,
                    height: 5,
                }),
            ] {
                let opts = DecodeOptions {
                    region,
                    ..DecodeOptions::default()
                };
                let plan = Plan::new(&s, &opts).unwrap();
                let lay = Layout::new(&plan, &s).unwrap();
                assert_eq!(lay.jobs.len(), plan.tile_count());
                assert_eq!(lay.origin.len(), lay.jobs.len());
                let entries: usize = plan
                    .sections
                    .iter()
                    .map(|sec| (sec.tables.len() + 1) << sec.log)
                    .sum();
                assert_eq!(lay.tables.len(), entries);
                for (run, sec) in lay.sections.iter().zip(&plan.sections) {
                    let tiles: u32 = run.planes.iter().map(|p| p.job_count).sum();
                    assert_eq!(tiles, run.job_count);
                    let layers: usize = sec
                        .planes
                        .iter()
                        .map(|p| p.layers() * (p.grid.width * p.grid.height) as usize)
                        .sum();
                    assert_eq!(run.coeffs, layers);
                    let jobs = run.first_job as usize..(run.first_job + run.job_count) as usize;
                    let scratch: usize = lay.jobs[jobs]
                        .iter()
                        .map(|j| j[T_SCRATCH_LEN] as usize)
                        .sum();
                    assert_eq!(scratch, run.scratch);
                    // Every table slot of every plane names a whole table of its section.
                    let at = lay.sections[..]
                        .iter()
                        .zip(&plan.sections)
                        .take_while(|(r, _)| !std::ptr::eq(*r, run))
                        .map(|(_, s)| (s.tables.len() + 1) << s.log)
                        .sum::<usize>();
                    let end = at + ((sec.tables.len() + 1) << sec.log);
                    for p in &run.planes {
                        let d = &lay.planes[p.desc as usize];
                        for &t in &d[P_TABLES..] {
                            let t = t as usize;
                            assert!(t >= at && t + (1 << sec.log) <= end);
                            assert_eq!((t - at) % (1 << sec.log), 0);
                        }
                    }
                }
                for words in &lay.jobs {
                    assert!(words[T_START] <= words[T_END] && words[T_END] as usize <= s.len());
                    let (w, h) = (words[T_SIZE] & 0xffff, words[T_SIZE] >> 16);
                    assert!((1..=16).contains(&w) && (1..=16).contains(&h));
                }
                // Entries: a symbol of the alphabet with its frequency, or the invalid
                // symbol; the biases of one symbol run from 0.
                let mut at = 0;
                for sec in &plan.sections {
                    for t in 0..=sec.tables.len() {
                        let n = 1 << sec.log;
                        let mut prev = None;
                        for &e in &lay.tables[at..at + n] {
                            let (bias, f, sym) = unpack(e);
                            assert!(f >= 1 && f <= n as u32 && bias < f, "entry {e:#x}");
                            if t < sec.tables.len() {
                                assert!(sym < 62);
                                if prev != Some(sym) {
                                    assert_eq!(bias, 0);
                                }
                            } else {
                                assert_eq!(sym, 63);
                            }
                            prev = Some(sym);
                        }
                        at += n;
                    }
                }
            }
        }
    }

    #[test]
    fn error_codes_name_the_tile_with_the_cpus_message() {
        let s = stream(None);
        let plan = Plan::new(&s, &DecodeOptions::default()).unwrap();
        let lay = Layout::new(&plan, &s).unwrap();
        assert!(lay.tile_error(0, 0, &s).is_ok());
        let last = lay.jobs.len() - 1;
        let (loq, p, tx, ty) = lay.origin[last];
        let e = lay.tile_error(last, E_CORRUPT, &s).unwrap_err().to_string();
        assert!(
            e.contains(&format!("tile ({tx},{ty}) of plane {p} at LoQ {loq}")),
            "{e}"
        );
        assert!(e.contains("corrupt"), "{e}");
        // A header byte the kernel refused: the message comes from TileHeader::read.
        let i = (0..lay.jobs.len())
            .find(|&i| lay.jobs[i][T_END] > lay.jobs[i][T_START])
            .unwrap();
        let mut bad = s.clone();
        bad[lay.jobs[i][T_START] as usize] = 250;
        let e = lay.tile_error(i, E_HEADER, &bad).unwrap_err().to_string();
        assert!(e.contains("lane class 3"), "{e}");
        let e = lay.tile_error(i, E_SCRATCH, &s).unwrap_err();
        assert!(matches!(e, Error::Device(_)), "{e}");
    }
}
