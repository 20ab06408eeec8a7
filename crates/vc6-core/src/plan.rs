//! The decode plan: everything a backend needs to run a decode, read from the header,
//! the section heads (frequency tables) and the tableaux, and checked, on the host.
//!
//! Building a plan validates the request (limits, LoQ, region, prefix length), every
//! checksum, every table and every tableau. What it leaves to the backend is the bulk
//! work, which is the same on every backend: entropy decoding of tiles, the lowest
//! echelon's MED, upsample-and-add per echelon, colour conversion and packing.

use crate::bytes::ByteReader;
use crate::colour;
use crate::entropy::{FreqTable, MAX_PRECISION, MIN_PRECISION};
use crate::error::{Error, Result};
use crate::header::Header;
use crate::options::{DecodeOptions, Region};
use crate::output::OutputRange;
use crate::quant::Quant;
use crate::syntax::context::{check_thresholds, MAX_CONTEXTS};
use crate::syntax::{alphabet, is_value_kind, KINDS, MAX_LAYERS};
use crate::tableau::{read_tableau, Rect, TileGrid};

/// A checked decode request: which sections, tiles and samples to produce.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The stream's header.
    pub header: Header,
    /// The LoQ decoded.
    pub loq: u8,
    /// `needs[p][j]`: the samples of echelon `j` (LoQ `j`) plane `p` must reconstruct;
    /// `needs[p][loq]` is the plane's output rectangle.
    pub needs: Vec<Vec<Rect>>,
    /// The sections to decode, coarsest first.
    pub sections: Vec<SectionPlan>,
}

/// One section's tables and tiles.
#[derive(Debug, Clone)]
pub struct SectionPlan {
    /// The section's LoQ.
    pub loq: u8,
    /// Precision (log2 of the state count) of every table in the section.
    pub log: u32,
    /// The section's frequency tables.
    pub tables: Vec<TableSpec>,
    /// The planes present in the section, in plane order.
    pub planes: Vec<PlanePlan>,
    /// Offset in the stream of the section's first tile payload.
    pub payload_start: usize,
    /// Tile payload offsets relative to `payload_start`, one more than the tile count.
    pub offsets: Vec<u64>,
}

/// A frequency table of a section, for one plane, layer, table kind and context.
#[derive(Debug, Clone)]
pub struct TableSpec {
    /// Plane index.
    pub plane: usize,
    /// Layer (0..=3).
    pub layer: usize,
    /// Table kind (see [`crate::syntax`]).
    pub kind: usize,
    /// Context (0 for the node kinds).
    pub ctx: usize,
    /// The frequencies.
    pub freq: FreqTable,
}

/// `tables[layer][kind][ctx]` of a plane in a section: index into the section's tables.
pub type TableIndex = [[[Option<usize>; MAX_CONTEXTS]; KINDS]; MAX_LAYERS];

/// One plane's part of a section.
#[derive(Debug, Clone)]
pub struct PlanePlan {
    /// Plane index.
    pub plane: usize,
    /// The coefficient grid and its tiles.
    pub grid: TileGrid,
    /// Index of the plane's first tile in the section's tableau.
    pub first_tile: usize,
    /// Sample range of the plane.
    pub range: (i32, i32),
    /// Size of the echelon this section reconstructs.
    pub size: (u32, u32),
    /// The tiles to decode, in tile coordinates.
    pub cover: Rect,
    /// True when the section holds the plane's lowest echelon (MED-coded samples).
    pub base: bool,
    /// True for lossy streams: residual echelons carry a fourth layer (the average
    /// residual) and every layer is quantised.
    pub lossy: bool,
    /// `tables[layer][kind][ctx]`: index into the section's tables.
    pub tables: TableIndex,
    /// Dequantisation of each layer (the identity for lossless streams).
    pub quant: [Quant; MAX_LAYERS],
    /// Context thresholds of the plane's residual layers (none for a lowest echelon):
    /// `thresholds.len() + 1` contexts.
    pub thresholds: Vec<u32>,
}

impl PlanePlan {
    /// Index of tile `(tx, ty)` in the section's tableau.
    pub fn tile_index(&self, tx: u32, ty: u32) -> usize {
        self.first_tile + (ty * self.grid.tiles_x() + tx) as usize
    }

    /// Coefficient layers per tile: 1 for the lowest echelon; else `H, V, D`, and for
    /// lossy streams the average residual `A` as a fourth.
    pub fn layers(&self) -> usize {
        layer_count(self.base, self.lossy)
    }

    /// Rows of the echelon that one tile row covers: a tile's side for the lowest
    /// echelon (tiles of samples), twice that otherwise (tiles of 2x2 blocks).
    pub fn band_rows(&self) -> u32 {
        (1u32 << self.grid.tile_log2) << u32::from(!self.base)
    }
}

impl SectionPlan {
    /// Byte range in the stream of tile `index`'s payload.
    pub fn payload(&self, index: usize) -> std::ops::Range<usize> {
        let start = self.payload_start + self.offsets[index] as usize;
        start..self.payload_start + self.offsets[index + 1] as usize
    }
}

impl Plan {
    /// Parses and checks everything the request needs from `stream` (which may be a
    /// prefix holding the sections the LoQ needs).
    pub fn new(stream: &[u8], opts: &DecodeOptions) -> Result<Plan> {
        Plan::with_header(Header::parse(stream)?, stream, opts)
    }

    /// Like [`Plan::new`], with the header already parsed from `stream`.
    pub fn with_header(header: Header, stream: &[u8], opts: &DecodeOptions) -> Result<Plan> {
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
        let needs = needed_rects(&header, loq, opts.region)?;
        let mut sections = Vec::with_capacity(header.section_count() - loq as usize);
        let mut offset = header.encoded_len();
        for s in 0..header.section_count() - loq as usize {
            let size = header.section_sizes[s] as usize;
            let sloq = header.section_loq(s);
            let section = plan_section(&header, stream, offset, size, sloq, &needs, opts).map_err(
                |e| match e {
                    Error::Truncated { .. } => Error::format(format!(
                        "section for LoQ {sloq} is shorter than its contents: {e}"
                    )),
                    e => e,
                },
            )?;
            sections.push(section);
            offset += size;
        }
        Ok(Plan {
            header,
            loq,
            needs,
            sections,
        })
    }

    /// Checks that `stream` is long enough for this plan (a backend reads the plan's
    /// tile payloads from it).
    pub fn check_stream(&self, stream: &[u8]) -> Result<()> {
        let needed = self.header.required_size(self.loq)?;
        if (stream.len() as u64) < needed {
            return Err(Error::param(format!(
                "the stream given with the plan has {} bytes, the plan needs {needed}",
                stream.len()
            )));
        }
        Ok(())
    }

    /// The output rectangle of plane `p` (in its echelon at the plan's LoQ).
    pub fn output_rect(&self, p: usize) -> Rect {
        self.needs[p][self.loq as usize]
    }

    /// The output size of plane `p`.
    pub fn output_size(&self, p: usize) -> (u32, u32) {
        let r = self.output_rect(p);
        (r.width(), r.height())
    }

    /// How plane `p`'s reconstructed samples become output samples: its fraction bits
    /// shifted out, then clamped to its bit depth.
    pub fn output_range(&self, p: usize) -> OutputRange {
        OutputRange {
            max: (1i32 << self.header.planes[p].bit_depth) - 1,
            shift: u32::from(self.header.planes[p].fraction_bits),
        }
    }

    /// Number of tiles the plan decodes, over every section.
    pub fn tile_count(&self) -> usize {
        let area = |r: Rect| r.width() as usize * r.height() as usize;
        self.sections
            .iter()
            .flat_map(|s| &s.planes)
            .map(|p| area(p.cover))
            .sum()
    }
}

fn needed_rects(header: &Header, loq: u8, region: Option<Region>) -> Result<Vec<Vec<Rect>>> {
    let p0 = header.planes[0];
    let (w0, h0) = p0.size_at(loq);
    let region = region.unwrap_or(Region {
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
    Ok(header
        .planes
        .iter()
        .enumerate()
        .map(|(p, d)| {
            let (wk, hk) = d.size_at(loq);
            let (x0, x1) = map_span(region.x, region.width, w0, wk);
            let (y0, y1) = map_span(region.y, region.height, h0, hk);
            let mut r = Rect { x0, y0, x1, y1 };
            let mut v = vec![Rect::default(); d.echelons as usize];
            v[loq as usize] = r;
            for (j, need) in v.iter_mut().enumerate().skip(loq as usize + 1) {
                // Echelon `j - 1` decodes whole tiles, and each tile's contexts and
                // predictions read the echelon below around every block of the tile:
                // the tiles' blocks, grown by the kernel's support (docs/bitstream.md 9).
                let grid = plane_grid(header, p, j as u8 - 1);
                let tiles = grid.tiles_covering(r.halved());
                let s = header.tile_log2;
                let blocks = Rect {
                    x0: tiles.x0 << s,
                    y0: tiles.y0 << s,
                    x1: (tiles.x1 << s).min(grid.width),
                    y1: (tiles.y1 << s).min(grid.height),
                };
                r = blocks.grown(NEED_MARGIN, grid.width, grid.height);
                *need = r;
            }
            v
        })
        .collect())
}

/// How far around a decoded tile's blocks the echelon below must be reconstructed: the
/// upsampling kernels reach two samples, contexts one.
const NEED_MARGIN: u32 = 2;

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
        let top = opts.loq.min(p.echelons - 1);
        let area = |j: u8| {
            let (w, h) = p.size_at(j);
            u64::from(w) * u64::from(h)
        };
        // Every echelon from the requested one down (i32; the lower ones stay allocated,
        // for the next decode, while the higher are decoded), plus the output plane (u16).
        bytes += (top..p.echelons).map(|j| area(j) * 4).sum::<u64>() + area(top) * 2;
    }
    if samples > lim.max_samples {
        return Err(Error::LimitsExceeded(format!(
            "{samples} samples, limit {}",
            lim.max_samples
        )));
    }
    lim.check_alloc(bytes, "the picture")
}

/// Layers per tile of a plane in a section.
pub fn layer_count(base: bool, lossy: bool) -> usize {
    match (base, lossy) {
        (true, _) => 1,
        (false, false) => 3,
        (false, true) => 4,
    }
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

/// Reads and checks the section at `stream[offset..offset + size]`: its checksum, LoQ,
/// tables and tableau.
fn plan_section(
    header: &Header,
    stream: &[u8],
    offset: usize,
    size: usize,
    loq: u8,
    needs: &[Vec<Rect>],
    opts: &DecodeOptions,
) -> Result<SectionPlan> {
    let section = &stream[offset..offset + size];
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
    let log = u32::from(r.u8("section table precision")?);
    if !(MIN_PRECISION..=MAX_PRECISION).contains(&log) {
        return Err(Error::format(format!(
            "section table precision {log} outside {MIN_PRECISION}..={MAX_PRECISION}"
        )));
    }
    let lossy = !header.lossless;
    let base = |p: usize| loq + 1 == header.planes[p].echelons;
    let layers = |p: usize| layer_count(base(p), lossy);
    // Lossy sections signal each present plane's quantisers, layer by layer.
    let mut quant = vec![[Quant::IDENTITY; MAX_LAYERS]; header.planes.len()];
    if lossy {
        for &p in &present {
            for q in quant[p].iter_mut().take(layers(p)) {
                let step = r.varint("quantiser step")?;
                *q = Quant::new(step, r.u8("quantiser offset")?)?;
            }
        }
    }
    // Context thresholds of each present plane with a residual echelon here.
    let mut thresholds: Vec<Vec<u32>> = vec![Vec::new(); header.planes.len()];
    for &p in present.iter().filter(|&&p| !base(p)) {
        let n = usize::from(r.u8("context count")?);
        if n >= MAX_CONTEXTS {
            return Err(Error::format(format!(
                "plane {p} at LoQ {loq} has {} contexts, at most {MAX_CONTEXTS}",
                n + 1
            )));
        }
        let t = (0..n)
            .map(|_| r.varint("context threshold"))
            .collect::<Result<Vec<u32>>>()?;
        check_thresholds(&t)?;
        thresholds[p] = t;
    }
    let mut index: Vec<TableIndex> = vec![Default::default(); header.planes.len()];
    let table_count = r.varint("table count")? as usize;
    // Each table takes at least three bytes, so the count is bounded by the data.
    if table_count > r.remaining() / 3 {
        return Err(Error::format(format!(
            "section for LoQ {loq} lists {table_count} tables in {} bytes",
            r.remaining()
        )));
    }
    let mut tables = Vec::with_capacity(table_count);
    for _ in 0..table_count {
        let plane = r.u8("table plane")? as usize;
        let key = r.u8("table key")?;
        let (layer, kind, ctx) = (
            usize::from(key & 3),
            usize::from((key >> 2) & 3),
            usize::from(key >> 4),
        );
        let contexts = if plane < thresholds.len() {
            thresholds[plane].len() + 1
        } else {
            0
        };
        let ctx_ok = if is_value_kind(kind) {
            ctx < contexts
        } else {
            ctx == 0
        };
        if !present.contains(&plane) || layer >= layers(plane) || !ctx_ok {
            return Err(Error::format(format!(
                "table for plane {plane} layer {layer} kind {kind} context {ctx} is not allowed here"
            )));
        }
        let freq = FreqTable::read(&mut r, alphabet(kind), log)?;
        if index[plane][layer][kind][ctx]
            .replace(tables.len())
            .is_some()
        {
            return Err(Error::format("duplicate table in section"));
        }
        tables.push(TableSpec {
            plane,
            layer,
            kind,
            ctx,
            freq,
        });
    }
    let mut planes = Vec::with_capacity(present.len());
    let mut first_tile = 0usize;
    for &p in &present {
        let d = header.planes[p];
        let grid = plane_grid(header, p, loq);
        let need = needs[p][loq as usize];
        let base = loq + 1 == d.echelons;
        planes.push(PlanePlan {
            plane: p,
            grid,
            first_tile,
            range: colour::plane_range(header.coded_depth(p), p, header.colour_transform),
            size: d.size_at(loq),
            cover: grid.tiles_covering(if base { need } else { need.halved() }),
            base,
            lossy,
            tables: index[p],
            quant: quant[p],
            thresholds: std::mem::take(&mut thresholds[p]),
        });
        first_tile += grid.count();
    }
    let tableau_start = r.pos();
    let offsets = read_tableau(&mut r, first_tile, body.len() as u64)?;
    let payload_start = r.pos();
    if payload_start as u64 + offsets[first_tile] != body.len() as u64 {
        return Err(Error::format(format!(
            "section for LoQ {loq}: tiles take {} bytes but {} remain after the tableau (at byte {tableau_start})",
            offsets[first_tile],
            body.len() - payload_start
        )));
    }
    Ok(SectionPlan {
        loq,
        log,
        tables,
        planes,
        payload_start: offset + payload_start,
        offsets,
    })
}
