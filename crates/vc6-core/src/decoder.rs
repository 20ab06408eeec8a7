//! The CPU reference decoder: full, LoQ, prefix and region decoding.

use crate::bytes::ByteReader;
use crate::colour;
use crate::echelon::{med_reconstruct, reconstruct_blocks, Level, Prediction};
use crate::entropy::{AnsDecoder, DecTable, FreqTable, MAX_TABLE_LOG, MIN_TABLE_LOG};
use crate::error::{Error, Result};
use crate::header::Header;
use crate::limits::Limits;
use crate::parallel;
use crate::picture::{Picture, Plane};
use crate::stree::{self, LayerTables, KINDS};
use crate::tableau::{read_tableau, Rect, TileGrid};
use crate::upsample::Upsampler;

/// A rectangle in the pixel grid of plane 0 at the requested LoQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Region {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width (at least 1).
    pub width: u32,
    /// Height (at least 1).
    pub height: u32,
}

/// What to decode and with which resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Level of quality: 0 is full resolution, k is the picture halved k times.
    pub loq: u8,
    /// Only this part of the picture (in the LoQ's grid); `None` decodes everything.
    pub region: Option<Region>,
    /// Bounds on what an untrusted stream may make the decoder allocate.
    pub limits: Limits,
    /// Worker threads (0 = all cores, 1 = the calling thread only).
    pub threads: usize,
    /// Check section CRCs when the stream has them.
    pub verify_checksums: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            loq: 0,
            region: None,
            limits: Limits::default(),
            threads: 0,
            verify_checksums: true,
        }
    }
}

/// Decode tables of one plane in one section, indexed `[layer][kind]`.
type PlaneTables = [[Option<DecTable>; KINDS]; 3];

/// Echelon buffers kept between decodes, so that decoding a series of pictures neither
/// zeroes nor faults in fresh memory each time. Holds at most [`DecodeBuffers::KEEP`]
/// buffers (the largest pictures' echelons).
#[derive(Debug, Default)]
pub struct DecodeBuffers {
    free: Vec<Vec<i32>>,
}

impl DecodeBuffers {
    /// Most buffers kept.
    pub const KEEP: usize = 8;

    /// A buffer of `n` samples. Its contents are unspecified (a reused buffer keeps old
    /// samples): the decoder writes every sample it later reads.
    fn take(&mut self, n: usize) -> Vec<i32> {
        let fit = (0..self.free.len())
            .filter(|&i| self.free[i].capacity() >= n)
            .min_by_key(|&i| self.free[i].capacity());
        let mut v = fit.map(|i| self.free.swap_remove(i)).unwrap_or_default();
        if v.len() > n {
            v.truncate(n);
        } else {
            v.resize(n, 0);
        }
        v
    }

    fn give(&mut self, v: Vec<i32>) {
        self.free.push(v);
        if self.free.len() > Self::KEEP {
            let smallest = (0..self.free.len())
                .min_by_key(|&i| self.free[i].capacity())
                .unwrap_or(0);
            self.free.swap_remove(smallest);
        }
    }
}

/// Decodes `stream` (which may be a prefix holding the sections the LoQ needs).
pub fn decode(stream: &[u8], opts: &DecodeOptions) -> Result<Picture> {
    decode_with(stream, opts, &mut DecodeBuffers::default())
}

/// Like [`decode`], reusing echelon buffers from (and returning them to) `buffers`.
pub fn decode_with(
    stream: &[u8],
    opts: &DecodeOptions,
    buffers: &mut DecodeBuffers,
) -> Result<Picture> {
    let rec = reconstruct(Header::parse(stream)?, stream, opts, buffers)?;
    let picture = rec.to_picture();
    rec.recycle(buffers);
    Ok(picture)
}

/// Decodes a stream of 8-bit (or shallower) planes of one size straight into interleaved
/// bytes: plane `p` goes to byte `offsets[p]` of each pixel of `offsets.len()` bytes, rows
/// without padding. Skips the intermediate [`Picture`]; returns the frame's width, height
/// and bytes.
pub fn decode_interleaved_u8(
    stream: &[u8],
    opts: &DecodeOptions,
    buffers: &mut DecodeBuffers,
    offsets: &[usize],
) -> Result<(u32, u32, Vec<u8>)> {
    let header = Header::parse(stream)?;
    let stride = offsets.len();
    if header.planes.len() != stride || stride > 4 || offsets.iter().any(|&o| o >= stride) {
        return Err(Error::param(format!(
            "{} byte offsets for a stream of {} planes",
            stride,
            header.planes.len()
        )));
    }
    let p0 = header.planes[0];
    if header
        .planes
        .iter()
        .any(|p| p.bit_depth > 8 || (p.width, p.height) != (p0.width, p0.height))
    {
        return Err(Error::param(
            "interleaved 8-bit output needs planes of one size and at most 8 bits",
        ));
    }
    // Allocated only after `reconstruct` has checked the picture against the limits.
    let rec = reconstruct(header, stream, opts, buffers)?;
    let r = rec.rect(0);
    let mut out = vec![0u8; r.width() as usize * r.height() as usize * stride];
    rec.write_interleaved(offsets, &mut out);
    rec.recycle(buffers);
    Ok((r.width(), r.height(), out))
}

/// Every plane reconstructed at the requested LoQ, with the rectangle to output.
struct Reconstruction {
    header: Header,
    loq: u8,
    needs: Vec<Vec<Rect>>,
    levels: Vec<Level>,
}

impl Reconstruction {
    fn rect(&self, p: usize) -> Rect {
        self.needs[p][self.loq as usize]
    }

    /// Rows of plane `p`'s output rectangle.
    fn rows(&self, p: usize) -> impl Iterator<Item = &[i32]> + '_ {
        let (r, l) = (self.rect(p), &self.levels[p]);
        let w = l.width as usize;
        (r.y0 as usize..r.y1 as usize)
            .map(move |y| &l.data[y * w + r.x0 as usize..y * w + r.x1 as usize])
    }

    fn max(&self, p: usize) -> i32 {
        (1i32 << self.header.planes[p].bit_depth) - 1
    }

    /// Writes the output rectangle interleaved (see [`decode_interleaved_u8`]): each row is
    /// converted into one contiguous byte row per channel, then interleaved with a fixed
    /// pattern, so both loops vectorise.
    fn write_interleaved(&self, offsets: &[usize], out: &mut [u8]) {
        let stride = offsets.len();
        let rw = self.rect(0).width() as usize;
        let mut chan = vec![vec![0u8; rw]; stride];
        let mut rows: Vec<_> = (0..stride).map(|p| self.rows(p)).collect();
        // `order[k]`: the plane that goes to byte `k` of a pixel.
        let mut order = [0; 4];
        for (p, &o) in offsets.iter().enumerate() {
            order[o] = p;
        }
        for dst in out.chunks_exact_mut(rw * stride) {
            let src: Vec<&[i32]> = rows
                .iter_mut()
                .map(|r| r.next().expect("one row per output row"))
                .collect();
            let mut first = 0;
            if self.header.colour_transform {
                let max = self.max(0);
                let [r, g, b, ..] = &mut chan[..] else {
                    unreachable!("colour needs three planes")
                };
                let (y, co, cg) = (&src[0][..rw], &src[1][..rw], &src[2][..rw]);
                let (r, g, b) = (&mut r[..rw], &mut g[..rw], &mut b[..rw]);
                for i in 0..rw {
                    let (rv, gv, bv) = colour::inverse(y[i], co[i], cg[i]);
                    r[i] = rv.clamp(0, max) as u8;
                    g[i] = gv.clamp(0, max) as u8;
                    b[i] = bv.clamp(0, max) as u8;
                }
                first = 3;
            }
            for p in first..stride {
                let max = self.max(p);
                for (c, &v) in chan[p].iter_mut().zip(src[p]) {
                    *c = v.clamp(0, max) as u8;
                }
            }
            let c = |k: usize| &chan[order[k]][..];
            match stride {
                1 => dst.copy_from_slice(c(0)),
                3 => {
                    for (px, ((&a, &b), &d)) in
                        dst.chunks_exact_mut(3).zip(c(0).iter().zip(c(1)).zip(c(2)))
                    {
                        px.copy_from_slice(&[a, b, d]);
                    }
                }
                4 => {
                    let src = c(0).iter().zip(c(1)).zip(c(2)).zip(c(3));
                    for (px, (((&a, &b), &d), &e)) in dst.chunks_exact_mut(4).zip(src) {
                        px.copy_from_slice(&[a, b, d, e]);
                    }
                }
                _ => {
                    for (i, px) in dst.chunks_exact_mut(stride).enumerate() {
                        for (k, byte) in px.iter_mut().enumerate() {
                            *byte = chan[order[k]][i];
                        }
                    }
                }
            }
        }
    }

    /// The output rectangles as a picture, colour transform undone.
    fn to_picture(&self) -> Picture {
        let n = |p: usize| (self.rect(p).width() * self.rect(p).height()) as usize;
        let mut samples: Vec<Vec<u16>> = Vec::with_capacity(self.levels.len());
        let mut first = 0;
        if self.header.colour_transform {
            let max = self.max(0);
            let rw = self.rect(0).width() as usize;
            let (mut rp, mut gp, mut bp) = (vec![0u16; n(0)], vec![0u16; n(0)], vec![0u16; n(0)]);
            let dst = rp
                .chunks_exact_mut(rw)
                .zip(gp.chunks_exact_mut(rw))
                .zip(bp.chunks_exact_mut(rw));
            let src = self.rows(0).zip(self.rows(1)).zip(self.rows(2));
            for (((rd, gd), bd), ((y, co), cg)) in dst.zip(src) {
                // Exact-length slices keep the loop free of bounds checks, so it vectorises.
                let (rd, gd, bd, co, cg) = (
                    &mut rd[..rw],
                    &mut gd[..rw],
                    &mut bd[..rw],
                    &co[..rw],
                    &cg[..rw],
                );
                for (i, &y) in y[..rw].iter().enumerate() {
                    let (r, g, b) = colour::inverse(y, co[i], cg[i]);
                    rd[i] = r.clamp(0, max) as u16;
                    gd[i] = g.clamp(0, max) as u16;
                    bd[i] = b.clamp(0, max) as u16;
                }
            }
            samples.extend([rp, gp, bp]);
            first = 3;
        }
        for p in first..self.levels.len() {
            let max = self.max(p);
            let mut out = Vec::with_capacity(n(p));
            for row in self.rows(p) {
                out.extend(row.iter().map(|&v| v.clamp(0, max) as u16));
            }
            samples.push(out);
        }
        let planes = samples
            .into_iter()
            .enumerate()
            .map(|(p, samples)| Plane {
                width: self.rect(p).width(),
                height: self.rect(p).height(),
                bit_depth: self.header.planes[p].bit_depth,
                samples,
            })
            .collect();
        Picture { planes }
    }

    /// Hands the echelon buffers back for the next decode.
    fn recycle(self, buffers: &mut DecodeBuffers) {
        self.levels.into_iter().for_each(|l| buffers.give(l.data));
    }
}

/// Parses, checks and reconstructs every plane at the requested LoQ and region.
fn reconstruct(
    header: Header,
    stream: &[u8],
    opts: &DecodeOptions,
    buffers: &mut DecodeBuffers,
) -> Result<Reconstruction> {
    check_limits(&header, opts)?;
    let loq = opts.loq;
    let needed = header.required_size(loq)?;
    if (stream.len() as u64) < needed {
        return Err(Error::truncated(
            format!("decoding at LoQ {loq}"),
            needed,
            stream.len() as u64,
        ));
    }
    let p0 = header.planes[0];
    let (w0, h0) = p0.size_at(loq);
    let region = opts.region.unwrap_or(Region {
        x: 0,
        y: 0,
        width: w0,
        height: h0,
    });
    if region.width == 0
        || region.height == 0
        || u64::from(region.x) + u64::from(region.width) > u64::from(w0)
        || u64::from(region.y) + u64::from(region.height) > u64::from(h0)
    {
        return Err(Error::param(format!(
            "region {}x{} at ({},{}) is outside the {w0}x{h0} picture at LoQ {loq}",
            region.width, region.height, region.x, region.y
        )));
    }
    let margin = if header.upsampler == Upsampler::Nearest {
        0
    } else {
        2
    };
    // needs[p][j]: samples of echelon j (LoQ j) plane p must reconstruct.
    let needs: Vec<Vec<Rect>> = header
        .planes
        .iter()
        .map(|d| {
            let (wk, hk) = d.size_at(loq);
            let (x0, x1) = map_span(region.x, region.width, w0, wk);
            let (y0, y1) = map_span(region.y, region.height, h0, hk);
            let mut r = Rect { x0, y0, x1, y1 };
            let mut v = vec![Rect::default(); d.echelons as usize];
            v[loq as usize] = r;
            for (j, need) in v.iter_mut().enumerate().skip(loq as usize + 1) {
                let (lw, lh) = d.size_at(j as u8);
                r = r.halved().grown(margin, lw, lh);
                *need = r;
            }
            v
        })
        .collect();

    let mut levels: Vec<Option<Level>> = vec![None; header.planes.len()];
    let mut offset = header.encoded_len();
    for s in 0..header.section_count() - loq as usize {
        let size = header.section_sizes[s] as usize;
        let section = &stream[offset..offset + size];
        decode_section(
            &header,
            section,
            header.section_loq(s),
            &needs,
            &mut levels,
            opts,
            buffers,
        )
        .map_err(|e| match e {
            Error::Truncated { .. } => Error::format(format!(
                "section for LoQ {} is shorter than its contents: {e}",
                header.section_loq(s)
            )),
            e => e,
        })?;
        offset += size;
    }

    let levels = levels
        .into_iter()
        .map(|l| l.expect("every plane reached the requested LoQ"))
        .collect();
    Ok(Reconstruction {
        header,
        loq,
        needs,
        levels,
    })
}

/// Maps the span `[start, start + len)` of a side of `full` samples (plane 0) onto a
/// side of `size` samples. A side that is `full` halved `s` times (rounding up, as for
/// chroma planes) maps exactly, `[start >> s, ceil((start + len) / 2^s))`; any other
/// size maps proportionally, rounding outwards. The result holds at least one sample.
pub fn map_span(start: u32, len: u32, full: u32, size: u32) -> (u32, u32) {
    let end = u64::from(start) + u64::from(len);
    if let Some(s) = (0..17u8).find(|&s| crate::header::echelon_len(full, s) == size) {
        let lo = start >> s;
        let hi = (end.div_ceil(1 << s) as u32).clamp(lo + 1, size);
        return (lo.min(size - 1), hi);
    }
    let lo = (u64::from(start) * u64::from(size) / u64::from(full)) as u32;
    let hi = (end * u64::from(size)).div_ceil(u64::from(full)) as u32;
    (lo.min(size - 1), hi.clamp(lo + 1, size))
}

fn check_limits(h: &Header, opts: &DecodeOptions) -> Result<()> {
    let lim = &opts.limits;
    if h.planes.len() > lim.max_planes {
        return Err(Error::LimitsExceeded(format!(
            "{} planes, limit {}",
            h.planes.len(),
            lim.max_planes
        )));
    }
    let mut samples = 0u64;
    let mut bytes = 0u64;
    for p in &h.planes {
        if p.width > lim.max_width || p.height > lim.max_height {
            return Err(Error::LimitsExceeded(format!(
                "plane of {}x{}, limit {}x{}",
                p.width, p.height, lim.max_width, lim.max_height
            )));
        }
        samples += u64::from(p.width) * u64::from(p.height);
        let (w, h) = p.size_at(opts.loq.min(p.echelons - 1));
        let n = u64::from(w) * u64::from(h);
        // Current and next echelon (i32) plus the output plane (u16).
        bytes += n * 4 + n.div_ceil(4) * 4 + n * 2;
    }
    if samples > lim.max_samples {
        return Err(Error::LimitsExceeded(format!(
            "{samples} samples, limit {}",
            lim.max_samples
        )));
    }
    lim.check_alloc(bytes, "the picture")
}

fn plane_grid(h: &Header, p: usize, loq: u8) -> TileGrid {
    let d = h.planes[p];
    let grid_loq = if loq + 1 == d.echelons { loq } else { loq + 1 };
    let (width, height) = d.size_at(grid_loq);
    TileGrid {
        width,
        height,
        tile_log2: h.tile_log2,
    }
}

fn decode_section(
    header: &Header,
    section: &[u8],
    loq: u8,
    needs: &[Vec<Rect>],
    levels: &mut [Option<Level>],
    opts: &DecodeOptions,
    buffers: &mut DecodeBuffers,
) -> Result<()> {
    let body = if header.checksums {
        if section.len() < 4 {
            return Err(Error::format(format!(
                "section for LoQ {loq} is too short for its checksum"
            )));
        }
        let (body, crc) = section.split_at(section.len() - 4);
        if opts.verify_checksums && crc32fast::hash(body).to_le_bytes() != crc {
            return Err(Error::format(format!(
                "checksum mismatch in the section for LoQ {loq} (corrupted data)"
            )));
        }
        body
    } else {
        section
    };
    let mut r = ByteReader::new(body);
    let got = r.u8("section LoQ")?;
    if got != loq {
        return Err(Error::format(format!(
            "section says LoQ {got}, expected {loq}"
        )));
    }
    let present: Vec<usize> = (0..header.planes.len())
        .filter(|&p| loq < header.planes[p].echelons)
        .collect();
    let mut tables: Vec<PlaneTables> = (0..header.planes.len())
        .map(|_| Default::default())
        .collect();
    let log = u32::from(r.u8("section table precision")?);
    if !(MIN_TABLE_LOG..=MAX_TABLE_LOG).contains(&log) {
        return Err(Error::format(format!(
            "section table precision {log} outside {MIN_TABLE_LOG}..={MAX_TABLE_LOG}"
        )));
    }
    let table_count = r.varint("table count")? as usize;
    for _ in 0..table_count {
        let p = r.u8("table plane")? as usize;
        let layer = r.u8("table layer")? as usize;
        let kind = r.u8("table kind")? as usize;
        if !present.contains(&p) || layer >= 3 || kind >= KINDS {
            return Err(Error::format(format!(
                "table for plane {p} layer {layer} kind {kind} is not allowed here"
            )));
        }
        let t = FreqTable::read(&mut r, stree::alphabet(kind), log)?;
        if tables[p][layer][kind]
            .replace(DecTable::new(&t, stree::is_value_kind(kind)))
            .is_some()
        {
            return Err(Error::format("duplicate table in section"));
        }
    }
    let grids: Vec<(usize, TileGrid)> = present
        .iter()
        .map(|&p| (p, plane_grid(header, p, loq)))
        .collect();
    let tile_count: usize = grids.iter().map(|(_, g)| g.count()).sum();
    let tableau_start = r.pos();
    let offsets = read_tableau(&mut r, tile_count, body.len() as u64)?;
    let payload_start = r.pos();
    if payload_start as u64 + offsets[tile_count] != body.len() as u64 {
        return Err(Error::format(format!(
            "section for LoQ {loq}: tiles take {} bytes but {} remain after the tableau (at byte {tableau_start})",
            offsets[tile_count],
            body.len() - payload_start
        )));
    }
    let payloads = &body[payload_start..];

    // Every plane of the section at once: the tile rows of all planes form one pool of
    // parallel work (three times as much as plane after plane for colour pictures).
    let side = 1u32 << header.tile_log2;
    let mut work = Vec::with_capacity(grids.len());
    let mut outs = Vec::with_capacity(grids.len());
    let mut first_tile = 0usize;
    for (p, grid) in grids {
        let d = header.planes[p];
        let (w, h) = d.size_at(loq);
        let need = needs[p][loq as usize];
        let base = loq + 1 == d.echelons;
        let lower = match base {
            true => None,
            false => Some(
                levels[p]
                    .take()
                    .ok_or_else(|| Error::format("residual section before its base"))?,
            ),
        };
        let t = &tables[p];
        work.push(PlaneWork {
            p,
            grid,
            first_tile,
            range: colour::plane_range(d.bit_depth, p, header.colour_transform),
            size: (w, h),
            cover: grid.tiles_covering(if base { need } else { need.halved() }),
            lower,
            tables: std::array::from_fn(|layer| std::array::from_fn(|k| t[layer][k].as_ref())),
        });
        outs.push(Level {
            width: w,
            height: h,
            data: buffers.take((w * h) as usize),
        });
        first_tile += grid.count();
    }
    let mut jobs: Vec<(usize, u32, &mut [i32])> = Vec::new();
    for (i, out) in outs.iter_mut().enumerate() {
        let wk = &work[i];
        let rows = if wk.lower.is_none() { side } else { 2 * side };
        let bands = out.data.chunks_mut((rows * wk.size.0) as usize).enumerate();
        jobs.extend(
            bands
                .map(|(ty, b)| (i, ty as u32, b))
                .filter(|(_, ty, _)| (wk.cover.y0..wk.cover.y1).contains(ty)),
        );
    }
    let section = SectionData {
        payloads,
        offsets: &offsets,
        log,
        loq,
        tile_log2: header.tile_log2,
        upsampler: header.upsampler,
    };
    let results = parallel::map(opts.threads, jobs, |(i, ty, band)| {
        section.decode_band(&work[i], ty, band)
    });
    results.into_iter().collect::<Result<()>>()?;
    for (wk, out) in work.into_iter().zip(outs) {
        if let Some(lower) = wk.lower {
            buffers.give(lower.data);
        }
        levels[wk.p] = Some(out);
    }
    Ok(())
}

/// One plane's part of a section.
struct PlaneWork<'a> {
    p: usize,
    grid: TileGrid,
    /// Index of the plane's first tile in the section's tableau.
    first_tile: usize,
    range: (i32, i32),
    /// Size of the echelon being decoded.
    size: (u32, u32),
    /// Tiles to decode (tile coordinates).
    cover: Rect,
    /// The echelon below; `None` when this is the plane's lowest echelon.
    lower: Option<Level>,
    tables: [LayerTables<'a>; 3],
}

/// What every tile of a section shares.
struct SectionData<'a> {
    payloads: &'a [u8],
    offsets: &'a [u64],
    log: u32,
    loq: u8,
    tile_log2: u8,
    upsampler: Upsampler,
}

impl SectionData<'_> {
    fn payload(&self, wk: &PlaneWork<'_>, tx: u32, ty: u32) -> &[u8] {
        let i = wk.first_tile + (ty * wk.grid.tiles_x() + tx) as usize;
        &self.payloads[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    /// Decodes the needed tiles of tile row `ty` into `band`, the rows of the echelon
    /// that tile row covers.
    fn decode_band(&self, wk: &PlaneWork<'_>, ty: u32, band: &mut [i32]) -> Result<()> {
        let side = 1usize << self.tile_log2;
        let (w, h) = wk.size;
        let err = |e, tx| tile_error(e, self.loq, wk.p, tx, ty);
        let Some(lower) = &wk.lower else {
            // Lowest echelon: MED residuals, tiles over samples.
            let mut buf = vec![0i32; side * side];
            for tx in wk.cover.x0..wk.cover.x1 {
                let rect = wk.grid.tile_rect(tx, ty);
                let (tw, th) = (rect.width() as usize, rect.height() as usize);
                decode_payload(
                    self.payload(wk, tx, ty),
                    self.log,
                    &wk.tables[..1],
                    self.tile_log2,
                    tw,
                    th,
                    &mut [&mut buf],
                )
                .map_err(|e| err(e, tx))?;
                med_reconstruct(&mut buf, tw, th, wk.range);
                for y in 0..th {
                    let dst = y * w as usize + rect.x0 as usize;
                    band[dst..dst + tw].copy_from_slice(&buf[y * tw..(y + 1) * tw]);
                }
            }
            return Ok(());
        };
        let n = side * side;
        let (mut l0, mut l1, mut l2) = (vec![0i32; n], vec![0i32; n], vec![0i32; n]);
        let mut pred = Prediction::default();
        let mut scratch = Vec::new();
        for tx in wk.cover.x0..wk.cover.x1 {
            let rect = wk.grid.tile_rect(tx, ty);
            let (tw, th) = (rect.width() as usize, rect.height() as usize);
            let layers = &mut [&mut l0, &mut l1, &mut l2];
            decode_payload(
                self.payload(wk, tx, ty),
                self.log,
                &wk.tables,
                self.tile_log2,
                tw,
                th,
                layers,
            )
            .map_err(|e| err(e, tx))?;
            pred.compute(self.upsampler, lower, (w, h), rect, wk.range);
            let residuals = [&l0[..], &l1[..], &l2[..]];
            reconstruct_blocks(
                lower,
                (w, h),
                rect,
                &pred,
                &residuals,
                wk.range,
                band,
                rect.y0,
                &mut scratch,
            );
        }
        Ok(())
    }
}

fn tile_error(e: Error, loq: u8, p: usize, tx: u32, ty: u32) -> Error {
    match e {
        Error::Format(m) => {
            Error::format(format!("tile ({tx},{ty}) of plane {p} at LoQ {loq}: {m}"))
        }
        e => e,
    }
}

/// Decodes one tile payload: the mode byte, then the tile's ANS bit stream.
fn decode_payload(
    payload: &[u8],
    log: u32,
    tables: &[LayerTables<'_>],
    tile_log2: u8,
    w: usize,
    h: usize,
    out: &mut [&mut Vec<i32>],
) -> Result<()> {
    let mut r = ByteReader::new(payload);
    let modes = r.u8("tile modes")?;
    let layers = tables.len();
    if u32::from(modes) >> (2 * layers) != 0 {
        return Err(Error::format(format!(
            "mode byte {modes:#04x} sets unused layers"
        )));
    }
    let stream = &payload[r.pos()..];
    let mut ans = AnsDecoder::new(stream, log);
    let mut leaves = Vec::with_capacity(w * h);
    for (l, buf) in out.iter_mut().enumerate() {
        let mode = (modes >> (2 * l)) & 3;
        let buf = &mut buf[..w * h];
        if mode != stree::MODE_DENSE {
            buf.fill(0);
        }
        stree::decode_layer(
            mode,
            &tables[l],
            &mut ans,
            buf,
            w,
            h,
            tile_log2,
            &mut leaves,
        )?;
    }
    let ok = if modes == 0 {
        stream.is_empty()
    } else {
        ans.finished_cleanly()
    };
    if !ok {
        return Err(Error::format(
            "entropy-coded data does not match its length (corrupted tile)",
        ));
    }
    Ok(())
}
