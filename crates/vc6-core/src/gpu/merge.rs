//! The frames of a batch merged for the kernels, wave by wave: wave `w` is every frame's
//! section `w` (coarsest first). Per wave, one `decode_tiles` launch decodes every tile
//! (contexts need the echelon the previous wave reconstructed), then one `med_tiles` and
//! one `reconstruct` launch rebuild the echelons. Coefficients and scratch are reused from
//! wave to wave; echelons live in one arena, two regions per plane that take turns.
//! Plain Rust, no GPU API calls.

use super::job::{
    offset_u32, Layout, PLANE_WORDS, P_COEFF, P_LOWER, P_TABLES, TILE_WORDS, T_END, T_PLANE,
    T_SCRATCH, T_START,
};
use crate::{Error, OutputLayout, Plan, Result, Upsampler};

/// A batch prepared on the host: per item, the index of its frame in `frames` or why
/// it was left out (a bad layout or stream fails only its own item).
pub struct Prepared<'a> {
    /// Per item, its frame's index, or its error.
    pub slots: Vec<Result<usize>>,
    /// The frames that go to the device.
    pub frames: Vec<FramePrep<'a>>,
}

/// The item of each frame, in frame order, from [`Prepared::slots`].
pub fn item_of(slots: &[Result<usize>]) -> Vec<usize> {
    slots
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.as_ref().ok().map(|_| i))
        .collect()
}

/// A batch's results in item order: `early[i]` is item `i`'s error where it was left out
/// before the batch ran (a wrong output buffer), and `ran` holds the results of the
/// others, in order.
pub fn interleave<T>(early: Vec<Option<Error>>, ran: Vec<Result<T>>) -> Vec<Result<T>> {
    let mut ran = ran.into_iter();
    early
        .into_iter()
        .map(|e| match e {
            Some(e) => Err(e),
            None => ran.next().expect("one result per item that ran"),
        })
        .collect()
}

/// Checks and lays out each item of a batch for the kernels (on every core); a bad
/// frame is left out of the batch.
pub fn prepare<'a>(items: &[(&'a Plan, &'a [u8], &'a OutputLayout)]) -> Prepared<'a> {
    let preps = crate::parallel::map(0, items.to_vec(), |(plan, stream, layout)| {
        layout
            .check(plan, layout.len)
            .and_then(|()| plan.check_stream(stream))
            .and_then(|()| {
                let needed = plan.header.required_size(plan.loq)? as usize;
                Ok(FramePrep {
                    plan,
                    // Tile payloads end within `needed` (the plan checked every offset).
                    stream: &stream[..needed],
                    layout,
                    lay: Layout::new(plan, &stream[..needed])?,
                    stream_base: 0,
                    ech: Vec::new(),
                    current: Vec::new(),
                })
            })
    });
    let mut frames = Vec::new();
    let slots = preps
        .into_iter()
        .map(|prep| {
            prep.map(|p| {
                frames.push(p);
                frames.len() - 1
            })
        })
        .collect();
    Prepared { slots, frames }
}

/// Words per entry of the reconstruct and MED job tables (see shaders/common/decode_body.h).
pub const RECON_WORDS: usize = 20;
/// Words per MED job.
pub const MED_WORDS: usize = 4;

/// One frame of a batch, prepared on the host: its layout and where its data sits in the
/// batch's shared buffers.
pub struct FramePrep<'a> {
    /// The frame's plan.
    pub plan: &'a Plan,
    /// The frame's stream (up to the bytes the plan needs).
    pub stream: &'a [u8],
    /// Where the frame's samples go.
    pub layout: &'a OutputLayout,
    /// The frame laid out for the kernels.
    pub lay: Layout,
    /// Where the frame's stream starts in the batch's stream buffer.
    pub stream_base: usize,
    /// Per plane: the offsets (in samples) of its two echelon regions in the batch's
    /// arena.
    pub ech: Vec<[u32; 2]>,
    /// Per plane: which of its two regions holds its latest echelon.
    pub current: Vec<usize>,
}

/// One wave's launches, each as (first entry, entry count) in its table.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wave {
    /// Tile jobs (`decode_tiles`).
    pub tiles: (u32, u32),
    /// MED jobs (`med_tiles`).
    pub meds: (u32, u32),
    /// Reconstruct jobs (`reconstruct`).
    pub recons: (u32, u32),
    /// Blocks over all of the wave's reconstruct jobs (the launch size).
    pub blocks: u32,
}

/// What `merge` lays out for a batch, on the host.
#[derive(Default)]
pub struct HostTables {
    /// Every frame's decode tables.
    pub table_bytes: Vec<u8>,
    /// Plane descriptors, wave after wave.
    pub plane_bytes: Vec<u8>,
    /// Tile jobs, wave after wave.
    pub job_bytes: Vec<u8>,
    /// Reconstruct jobs ([`RECON_WORDS`] each).
    pub recon_bytes: Vec<u8>,
    /// MED jobs ([`MED_WORDS`] each).
    pub med_bytes: Vec<u8>,
    /// `(frame, tile index in the frame's layout)` of each merged tile.
    pub owner: Vec<(usize, usize)>,
    /// The launches of each wave.
    pub waves: Vec<Wave>,
    /// Bytes of every frame's stream together.
    pub stream_len: usize,
    /// Coefficients (i32) of the largest wave.
    pub coeffs: usize,
    /// Scratch bytes of the largest wave.
    pub scratch: usize,
    /// The echelon arena's length (i32 elements).
    pub arena: usize,
}

impl HostTables {
    /// The error of the first failing tile of each frame, in wave order, from the error
    /// byte the kernels left for each merged tile (`codes[m]` for tile `owner[m]`).
    pub fn tile_errors(&self, frames: &[FramePrep<'_>], codes: &[u8]) -> Vec<Option<Error>> {
        let mut errors: Vec<Option<Error>> = (0..frames.len()).map(|_| None).collect();
        for (m, &code) in codes.iter().enumerate() {
            let (fi, t) = self.owner[m];
            if code != 0 && errors[fi].is_none() {
                let f = &frames[fi];
                errors[fi] = f.lay.tile_error(t, code, f.stream).err();
            }
        }
        errors
    }
}

/// `v` as a 32-bit offset into the batch's `what`, or an `Unsupported` error.
pub fn sum_u32(v: usize, what: &str) -> Result<u32> {
    offset_u32(
        v,
        &format!("the batch's {what}"),
        "decode fewer frames at once",
    )
}

fn put_words(out: &mut Vec<u8>, words: &[u32]) {
    words
        .iter()
        .for_each(|w| out.extend_from_slice(&w.to_le_bytes()));
}

/// Lays the frames out together, wave by wave, so a batch costs as many launches as its
/// deepest frame has sections (three per wave, plus its packs).
pub fn merge(frames: &mut [FramePrep<'_>]) -> Result<HostTables> {
    let mut t = HostTables::default();
    let mut table_base = Vec::with_capacity(frames.len());
    for f in frames.iter_mut() {
        f.stream_base = t.stream_len;
        t.stream_len += f.stream.len();
        table_base.push(sum_u32(t.table_bytes.len() / 4, "table entries")?);
        put_words(&mut t.table_bytes, &f.lay.tables);
        for &n in &f.lay.echelon_len {
            let a = sum_u32(t.arena, "echelon samples")?;
            let b = sum_u32(t.arena + n, "echelon samples")?;
            f.ech.push([a, b]);
            f.current.push(0);
            t.arena += 2 * n;
        }
    }
    sum_u32(t.table_bytes.len() / 4, "table entries")?;
    sum_u32(t.arena, "echelon samples")?;
    sum_u32(t.stream_len, "stream bytes")?;
    let waves = frames
        .iter()
        .map(|f| f.lay.sections.len())
        .max()
        .unwrap_or(0);
    let (mut recon_count, mut med_count, mut desc_count) = (0usize, 0usize, 0usize);
    for w in 0..waves {
        let (tile_first, recon_first, med_first) = (t.owner.len(), recon_count, med_count);
        let (mut coeffs, mut scratch, mut blocks) = (0usize, 0usize, 0usize);
        for (fi, f) in frames.iter_mut().enumerate() {
            let Some(sec) = f.lay.sections.get(w) else {
                continue;
            };
            let stream_base = sum_u32(f.stream_base, "stream bytes")?;
            let cbase = sum_u32(coeffs, "coefficient count")?;
            let sbase = sum_u32(scratch, "scratch bytes")?;
            let desc_base = sum_u32(desc_count, "plane count")?;
            let tile_base = t.owner.len();
            coeffs += sec.coeffs;
            scratch += sec.scratch;
            // Plane descriptors: the wave's coefficients, the batch's tables, the arena.
            for p in &sec.planes {
                let mut d: [u32; PLANE_WORDS] = f.lay.planes[p.desc as usize];
                d[P_COEFF] += cbase;
                for slot in &mut d[P_TABLES..] {
                    *slot += table_base[fi];
                }
                if !p.base {
                    d[P_LOWER] = f.ech[p.plane][f.current[p.plane]];
                }
                put_words(&mut t.plane_bytes, &d);
                desc_count += 1;
            }
            let range = sec.first_job as usize..(sec.first_job + sec.job_count) as usize;
            for tile in range {
                let mut words: [u32; TILE_WORDS] = f.lay.jobs[tile];
                words[T_START] += stream_base;
                words[T_END] += stream_base;
                words[T_PLANE] = words[T_PLANE] - sec.first_desc + desc_base;
                words[T_SCRATCH] += sbase;
                put_words(&mut t.job_bytes, &words);
                t.owner.push((fi, tile));
            }
            let header = &f.plan.header;
            let taps = header.upsampler.taps();
            // Bit 0: nearest upsampler; bit 1: lossy (an average residual layer); bit 2:
            // the predicted-average step.
            let flags = u32::from(header.upsampler == Upsampler::Nearest)
                | u32::from(!header.lossless) << 1
                | u32::from(header.predicted_average) << 2;
            for p in &sec.planes {
                let cur = f.current[p.plane];
                let [e0, e1] = f.ech[p.plane];
                let (this, other) = if cur == 0 { (e0, e1) } else { (e1, e0) };
                let (lo, hi) = (p.range.0 as u32, p.range.1 as u32);
                if p.base {
                    let first = tile_base + (p.first_job - sec.first_job) as usize;
                    for i in 0..p.job_count as usize {
                        let tile = sum_u32(first + i, "tile count")?;
                        let words: [u32; MED_WORDS] = [tile, this, lo, hi];
                        put_words(&mut t.med_bytes, &words);
                        med_count += 1;
                    }
                    continue;
                }
                f.current[p.plane] = 1 - cur;
                let r = p.blocks;
                if r.is_empty() {
                    continue;
                }
                let words: [u32; RECON_WORDS] = [
                    sum_u32(blocks, "block count")?,
                    cbase + p.cbase,
                    this,
                    p.lower.0,
                    p.lower.1,
                    other,
                    p.size.0,
                    p.size.1,
                    r.x0,
                    r.y0,
                    r.width(),
                    r.height(),
                    lo,
                    hi,
                    taps[0] as u32,
                    taps[1] as u32,
                    taps[2] as u32,
                    taps[3] as u32,
                    flags,
                    0,
                ];
                put_words(&mut t.recon_bytes, &words);
                recon_count += 1;
                blocks += r.width() as usize * r.height() as usize;
            }
        }
        sum_u32(coeffs, "coefficient count")?;
        sum_u32(scratch, "scratch bytes")?;
        t.coeffs = t.coeffs.max(coeffs);
        t.scratch = t.scratch.max(scratch);
        t.waves.push(Wave {
            tiles: (
                sum_u32(tile_first, "tile count")?,
                sum_u32(t.owner.len() - tile_first, "tile count")?,
            ),
            meds: (
                sum_u32(med_first, "tile count")?,
                sum_u32(med_count - med_first, "tile count")?,
            ),
            recons: (
                sum_u32(recon_first, "plane count")?,
                sum_u32(recon_count - recon_first, "plane count")?,
            ),
            blocks: sum_u32(blocks, "block count")?,
        });
    }
    Ok(t)
}

/// Device memory a frame takes while it decodes, roughly: its stream and output, two
/// `i32` echelons per plane, and a wave's coefficients and scratch (about one `i32` and
/// one byte per sample at the top).
pub fn frame_bytes(item: (&Plan, &[u8], &OutputLayout)) -> u64 {
    let (plan, _, layout) = item;
    let samples: u64 = plan
        .header
        .planes
        .iter()
        .map(|d| {
            let (w, h) = d.size_at(plan.loq.min(d.echelons - 1));
            u64::from(w) * u64::from(h)
        })
        .sum();
    plan.header.required_size(plan.loq).unwrap_or(0) + layout.len as u64 + samples * 14
}

/// A batch split into runs of items (in order) whose [`frame_bytes`] stay within
/// `budget`; an item larger than the budget runs alone.
pub fn chunks(items: &[(&Plan, &[u8], &OutputLayout)], budget: u64) -> Vec<std::ops::Range<usize>> {
    chunks_within(items, budget, None)
}

/// As [`chunks`], and with `out_budget`, also within that many bytes of output (the
/// layouts' lengths) a run: for backends that stage each run's output in host memory.
pub fn chunks_within(
    items: &[(&Plan, &[u8], &OutputLayout)],
    budget: u64,
    out_budget: Option<u64>,
) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes, mut out_bytes) = (0, 0u64, 0u64);
    for (i, &item) in items.iter().enumerate() {
        let (b, o) = (frame_bytes(item), item.2.len as u64);
        if i > start && (bytes + b > budget || out_budget.is_some_and(|m| out_bytes + o > m)) {
            out.push(start..i);
            (start, bytes, out_bytes) = (i, 0, 0);
        }
        bytes += b;
        out_bytes += o;
    }
    if start < items.len() {
        out.push(start..items.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::job::{P_GRID_H, P_GRID_W, P_LAYERS, T_SCRATCH_LEN};
    use crate::{encode, DecodeOptions, EncoderConfig, Picture, Plane, SampleType};

    fn stream(w: u32, h: u32, planes: u32, echelons: u8, quality: Option<f32>) -> Vec<u8> {
        let plane = |k: u32| Plane {
            width: w,
            height: h,
            bit_depth: 8,
            samples: (0..w * h)
                .map(|i| ((i % w) * k + (i / w) * 5 + (i * i) % 11) as u16 % 256)
                .collect(),
        };
        let cfg = EncoderConfig {
            tile_log2: 3,
            echelons: Some(echelons),
            quality,
            contexts: Some(3),
            threads: 1,
            ..EncoderConfig::default()
        };
        let planes = (1..=planes).map(plane).collect();
        encode(&Picture { planes }, &cfg).unwrap()
    }

    #[test]
    fn interleave_puts_early_errors_back_in_place() {
        let early = vec![None, Some(Error::param("short")), None];
        let got = interleave(early, vec![Ok(1), Err(Error::format("bad"))]);
        assert!(matches!(got[0], Ok(1)));
        assert!(matches!(&got[1], Err(Error::Parameter(m)) if m == "short"));
        assert!(matches!(&got[2], Err(Error::Format(m)) if m == "bad"));
    }

    /// Batches split where the next frame would pass the budget; a frame alone above the
    /// budget still runs; `prepare` leaves out only the bad item.
    #[test]
    fn chunks_keep_to_the_budget_and_prepare_drops_only_bad_items() {
        let streams: Vec<Vec<u8>> = [20, 40, 30, 50]
            .iter()
            .map(|&w| stream(w, 20, 1, 2, None))
            .collect();
        let plans: Vec<Plan> = streams
            .iter()
            .map(|s| Plan::new(s, &DecodeOptions::default()).unwrap())
            .collect();
        let layouts: Vec<OutputLayout> = plans
            .iter()
            .map(|p| OutputLayout::planar(p, SampleType::U8))
            .collect();
        let items: Vec<(&Plan, &[u8], &OutputLayout)> = (0..4)
            .map(|i| (&plans[i], &streams[i][..], &layouts[i]))
            .collect();
        let sizes: Vec<u64> = items.iter().map(|&it| frame_bytes(it)).collect();
        assert_eq!(chunks(&items, u64::MAX), vec![0..4]);
        assert_eq!(chunks(&items, 0), vec![0..1, 1..2, 2..3, 3..4]);
        assert_eq!(chunks(&items, sizes[0] + sizes[1]), vec![0..2, 2..3, 3..4]);
        assert!(chunks(&[], 10).is_empty());
        // An output budget splits too (20x20, 40x20, 30x20, 50x20 bytes of output).
        let outs: Vec<u64> = layouts.iter().map(|l| l.len as u64).collect();
        assert_eq!(outs, [400, 800, 600, 1000]);
        assert_eq!(
            chunks_within(&items, u64::MAX, Some(1400)),
            vec![0..2, 2..3, 3..4]
        );
        assert_eq!(chunks_within(&items, u64::MAX, Some(0)), chunks(&items, 0));
        assert_eq!(
            chunks_within(&items, sizes[0] + sizes[1], Some(1000)),
            vec![0..1, 1..2, 2..3, 3..4]
        );

        let cut = &streams[2][..streams[2].len() - 1];
        let mut bad = items.clone();
        bad[2].1 = cut;
        let p = prepare(&bad);
        assert_eq!(p.frames.len(), 3);
        assert!(p.slots[2].is_err());
        assert_eq!(item_of(&p.slots), vec![0, 1, 3]);
    }

    /// Two frames of other depths: every tile once, in its frame's section's wave, with
    /// its offsets rebased into the batch's stream, tables, descriptors, coefficients and
    /// scratch; residual planes read the region their previous wave wrote.
    #[test]
    fn waves_rebase_every_frames_jobs_into_the_batch() {
        let streams = [stream(70, 50, 2, 4, None), stream(33, 21, 1, 2, Some(40.0))];
        let plans: Vec<Plan> = streams
            .iter()
            .map(|s| Plan::new(s, &DecodeOptions::default()).unwrap())
            .collect();
        let layouts: Vec<OutputLayout> = plans
            .iter()
            .map(|p| OutputLayout::planar(p, SampleType::U8))
            .collect();
        let mut frames: Vec<FramePrep<'_>> = (0..2)
            .map(|i| FramePrep {
                plan: &plans[i],
                stream: &streams[i],
                layout: &layouts[i],
                lay: Layout::new(&plans[i], &streams[i]).unwrap(),
                stream_base: 0,
                ech: Vec::new(),
                current: Vec::new(),
            })
            .collect();
        let t = merge(&mut frames).unwrap();
        assert_eq!(t.waves.len(), 4);
        let words = |b: &[u8]| -> Vec<u32> {
            b.chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        let (jobs, descs) = (words(&t.job_bytes), words(&t.plane_bytes));
        let entries = t.table_bytes.len() / 4;
        let tiles: usize = frames.iter().map(|f| f.lay.jobs.len()).sum();
        assert_eq!(t.owner.len(), tiles);
        assert_eq!(jobs.len(), tiles * TILE_WORDS);
        let mut seen = 0;
        for (w, wave) in t.waves.iter().enumerate() {
            assert_eq!(wave.tiles.0 as usize, seen);
            seen += wave.tiles.1 as usize;
            for m in wave.tiles.0 as usize..seen {
                let (fi, tile) = t.owner[m];
                let f = &frames[fi];
                let sec = &f.lay.sections[w];
                assert!((sec.first_job..sec.first_job + sec.job_count).contains(&(tile as u32)));
                let j = &jobs[m * TILE_WORDS..][..TILE_WORDS];
                let own = &f.lay.jobs[tile];
                assert_eq!(j[T_START] as usize, own[T_START] as usize + f.stream_base);
                assert_eq!(j[T_END] as usize, own[T_END] as usize + f.stream_base);
                assert!(j[T_END] as usize <= t.stream_len);
                assert!((j[T_SCRATCH] + j[T_SCRATCH_LEN]) as usize <= t.scratch);
                let d = &descs[j[T_PLANE] as usize * PLANE_WORDS..][..PLANE_WORDS];
                let n = d[P_GRID_W] as usize * d[P_GRID_H] as usize * d[P_LAYERS] as usize;
                assert!(d[P_COEFF] as usize + n <= t.coeffs);
                assert!(d[P_TABLES..].iter().all(|&s| (s as usize) < entries));
            }
        }
        assert_eq!(seen, tiles);
        // The arena: two regions per plane; each frame's last echelons where `current` says.
        let planes: usize = frames.iter().map(|f| f.ech.len()).sum();
        assert_eq!(planes, 3);
        let arena: usize = frames
            .iter()
            .flat_map(|f| &f.lay.echelon_len)
            .map(|n| 2 * n)
            .sum();
        assert_eq!(t.arena, arena);
        // Frame 0's plane 0: MED in wave 0 into region 0, then three residual waves.
        assert_eq!(frames[0].current[0], 1);
        assert_eq!(frames[1].current[0], 1);
        // Every frame's lowest echelons are in wave 0: MED jobs for all its tiles only.
        assert_eq!(t.waves[0].meds.1, t.waves[0].tiles.1);
        assert!(t.waves[1..].iter().all(|w| w.meds.1 == 0 && w.blocks > 0));
        // Wave 1 reads frame 0's lowest echelons where MED wrote them (region 0).
        let m = t.waves[1].tiles.0 as usize;
        assert_eq!(t.owner[m].0, 0);
        let d = jobs[m * TILE_WORDS + T_PLANE] as usize * PLANE_WORDS;
        assert_eq!(descs[d + P_LOWER], frames[0].ech[0][0]);
    }
}
