//! Host-side preparation of one frame for the kernels: the flat tile-job table, the
//! decode tables, the per-section planes and coefficient offsets (`run.rs` merges the
//! frames of a batch). Plain Rust, no OpenCL calls, so it is unit-tested without a device.

use vc6_core::plan::Plan;
use vc6_core::syntax::KINDS;
use vc6_core::tableau::Rect;
use vc6_core::{Error, Result};

/// Words per tile job; the layout is documented in shaders/opencl/decode.cl.
pub(crate) const TILE_WORDS: usize = 36;
/// First word of the `[layer][kind]` table offsets, of the layer steps and of the layer
/// offsets in a tile job.
pub(crate) const J_TABLES: usize = 11;
const J_STEPS: usize = 27;
const J_OFFSETS: usize = 31;
const NO_TABLE: u32 = u32::MAX;

/// A decode laid out for the kernels.
#[derive(Debug)]
pub(crate) struct Layout {
    /// Every section's decode tables, back to back: per state, the next-state base
    /// (bits 0-10), the state bits (11-14) and the symbol (16-21).
    pub tables: Vec<u32>,
    /// Tile jobs: payload offsets in this stream, coefficient offsets from the start of
    /// the section's coefficients, table offsets from the start of `tables`.
    pub jobs: Vec<[u32; TILE_WORDS]>,
    /// `(loq, plane, tx, ty)` of each job, to name a failing tile.
    pub origin: Vec<(u8, usize, u32, u32)>,
    pub sections: Vec<SectionRun>,
    /// Largest echelon a plane reconstructs (i32 elements), per plane.
    pub echelon_len: Vec<usize>,
}

#[derive(Debug)]
pub(crate) struct SectionRun {
    pub first_job: u32,
    pub job_count: u32,
    /// Coefficients (i32) of the section's planes.
    pub coeffs: usize,
    pub planes: Vec<PlaneRun>,
}

#[derive(Debug)]
pub(crate) struct PlaneRun {
    pub plane: usize,
    pub base: bool,
    /// First coefficient of the plane in the section's coefficient buffer.
    pub cbase: u32,
    pub first_job: u32,
    pub job_count: u32,
    /// Size of the echelon the section reconstructs.
    pub size: (u32, u32),
    /// Size of the echelon below (residual sections).
    pub lower: (u32, u32),
    /// Blocks (residual sections) to reconstruct, in the lower echelon's grid.
    pub blocks: Rect,
    pub range: (i32, i32),
}

/// `v` as a 32-bit kernel offset, or an `Unsupported` error naming `what` and, in
/// `advice`, what the caller can do instead.
pub(crate) fn offset_u32(v: usize, what: &str, advice: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| {
        Error::Unsupported(format!(
            "{what} ({v}) is beyond the OpenCL backend's 32-bit offsets; {advice}"
        ))
    })
}

fn to_u32(v: usize, what: &str) -> Result<u32> {
    offset_u32(v, what, "decode a region or use the CPU backend")
}

impl Layout {
    pub(crate) fn new(plan: &Plan) -> Result<Layout> {
        if plan.header.tile_log2 > 0 {
            return Err(Error::Unsupported(
                "the OpenCL kernels do not implement bitstream version 2 yet".into(),
            ));
        }
        let tile_log2 = u32::from(plan.header.tile_log2);
        let mut tables = Vec::new();
        let mut jobs = Vec::new();
        let mut origin = Vec::new();
        let mut sections = Vec::with_capacity(plan.sections.len());
        let mut entry_count = 0usize;
        for s in &plan.sections {
            let size = 1usize << s.log;
            let mut table_at = Vec::with_capacity(s.tables.len());
            for t in &s.tables {
                table_at.push(to_u32(entry_count, "table offset")?);
                tables.extend(t.freq.freq.iter().copied());
                entry_count += size;
            }
            let section_first = origin.len();
            let mut coeffs = 0usize;
            let mut planes = Vec::with_capacity(s.planes.len());
            for pp in &s.planes {
                let (gw, gh) = (pp.grid.width as usize, pp.grid.height as usize);
                let cbase = to_u32(coeffs, "coefficient offset")?;
                let layer = gw * gh;
                coeffs += layer * pp.layers();
                let first_job = origin.len();
                for ty in pp.cover.y0..pp.cover.y1 {
                    for tx in pp.cover.x0..pp.cover.x1 {
                        let r = pp.grid.tile_rect(tx, ty);
                        let payload = s.payload(pp.tile_index(tx, ty));
                        let mut words = [0u32; TILE_WORDS];
                        words[0] = to_u32(payload.start, "stream offset")?;
                        words[1] = to_u32(payload.end, "stream offset")?;
                        words[2] = cbase;
                        words[3] = gw as u32;
                        words[4] = to_u32(layer, "layer size")?;
                        words[5] = r.x0;
                        words[6] = r.y0;
                        words[7] = r.width();
                        words[8] = r.height();
                        words[9] = pp.layers() as u32;
                        words[10] = s.log | tile_log2 << 8;
                        for l in 0..4 {
                            for k in 0..KINDS {
                                words[J_TABLES + KINDS * l + k] =
                                    pp.tables[l][k][0].map_or(NO_TABLE, |i| table_at[i]);
                            }
                            words[J_STEPS + l] = pp.quant[l].step;
                            words[J_OFFSETS + l] = u32::from(pp.quant[l].offset);
                        }
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
            sections.push(SectionRun {
                first_job: to_u32(section_first, "tile count")?,
                job_count: to_u32(origin.len() - section_first, "tile count")?,
                coeffs,
                planes,
            });
        }
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
            jobs,
            origin,
            sections,
            echelon_len,
        })
    }

    /// The error of tile `i`, from the kernel's error code (0: none).
    pub(crate) fn tile_error(&self, i: usize, code: u8) -> Result<()> {
        if code == 0 {
            return Ok(());
        }
        let (loq, p, tx, ty) = self.origin[i];
        let what = match code {
            1 => "entropy-coded data does not match its length (corrupted tile)",
            2 => "mode byte sets unused layers",
            3 => "tile uses a table kind that its section does not define",
            4 => "s-tree node with no children or children outside its tile",
            5 => "reserved layer mode",
            6 => "s-tree marks data outside its tile",
            7 => "empty tile payload",
            _ => "unknown tile error",
        };
        Err(Error::Format(format!(
            "tile ({tx},{ty}) of plane {p} at LoQ {loq}: {what}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vc6_core::{encode, DecodeOptions, EncoderConfig, Picture, Plane, Region};

    fn stream() -> Vec<u8> {
        let (w, h) = (150u32, 70u32);
        let plane = |k: u32| Plane {
            width: w,
            height: h,
            bit_depth: 8,
            samples: (0..w * h)
                .map(|i| ((i % w) * k + (i / w) * 3) as u16 % 256)
                .collect(),
        };
        let cfg = EncoderConfig {
            tile_log2: 4,
            threads: 1,
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
    fn jobs_cover_the_plans_tiles_and_tables_are_state_tables() {
        let s = stream();
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
            let lay = Layout::new(&plan).unwrap();
            assert_eq!(lay.jobs.len(), plan.tile_count());
            assert_eq!(lay.origin.len(), lay.jobs.len());
            let entries: usize = plan
                .sections
                .iter()
                .map(|sec| sec.tables.len() << sec.log)
                .sum();
            assert_eq!(lay.tables.len(), entries);
            for (job, sec) in lay.sections.iter().zip(&plan.sections) {
                let tiles: u32 = job.planes.iter().map(|p| p.job_count).sum();
                assert_eq!(tiles, job.job_count);
                let layers: usize = sec
                    .planes
                    .iter()
                    .map(|p| p.layers() * (p.grid.width * p.grid.height) as usize)
                    .sum();
                assert_eq!(job.coeffs, layers);
            }
            for words in &lay.jobs {
                assert!(words[0] < words[1] && words[1] as usize <= s.len());
                assert!(words[7] >= 1 && words[7] <= 16 && words[8] >= 1 && words[8] <= 16);
            }
            // Every state of every table leads to a state inside its table.
            let mut at = 0;
            for sec in &plan.sections {
                let n = sec.tables.len() << sec.log;
                for &e in &lay.tables[at..at + n] {
                    let (base, nbits) = (e & 0x7ff, (e >> 11) & 15);
                    assert!(base + (1 << nbits) - 1 < 1 << sec.log, "entry {e:#x}");
                    assert!(e >> 16 < 62, "symbol of entry {e:#x}");
                }
                at += n;
            }
        }
    }

    #[test]
    fn error_codes_name_the_tile() {
        let s = stream();
        let plan = Plan::new(&s, &DecodeOptions::default()).unwrap();
        let lay = Layout::new(&plan).unwrap();
        assert!(lay.tile_error(0, 0).is_ok());
        let last = lay.jobs.len() - 1;
        let (loq, p, tx, ty) = lay.origin[last];
        let e = lay.tile_error(last, 1).unwrap_err().to_string();
        assert!(
            e.contains(&format!("tile ({tx},{ty}) of plane {p} at LoQ {loq}")),
            "{e}"
        );
        assert!(e.contains("corrupt"), "{e}");
    }
}
