//! Stream surgery: a stream taken apart with the core's own parser into its header and,
//! per section, its quantisers, contexts, tables and tile payloads; edited; and put back
//! together along the documented layout (docs/bitstream.md §3, §7.2) with consistent
//! lengths and checksums.
//! Used to corrupt tile payloads behind valid section heads, and to build pictures whose
//! planes have different echelon counts (which the encoder never writes).

use vc6_core::entropy::FreqTable;
use vc6_core::{DecodeOptions, Header, Plan};

/// One frequency table of a section.
#[derive(Debug, Clone)]
pub struct Table {
    /// Plane index.
    pub plane: u8,
    /// Layer (0..=3).
    pub layer: u8,
    /// Table kind (0..=3).
    pub kind: u8,
    /// Context (0..=7).
    pub ctx: u8,
    /// The frequencies.
    pub freq: FreqTable,
}

/// What a section says of one plane before its tables: quantisers (lossy streams) and
/// context thresholds (residual echelons).
#[derive(Debug, Clone)]
pub struct PlaneHead {
    /// `(step, offset)` of each layer; empty in lossless streams.
    pub quant: Vec<(u32, u8)>,
    /// Context thresholds; `None` for a lowest echelon (which has none to send).
    pub thresholds: Option<Vec<u32>>,
}

/// One section: its LoQ, table precision, plane heads, tables and tile payloads in
/// tableau order.
#[derive(Debug, Clone)]
pub struct Section {
    /// The section's LoQ.
    pub loq: u8,
    /// Precision of every table.
    pub log: u8,
    /// The present planes' heads, in plane order.
    pub planes: Vec<PlaneHead>,
    /// The tables, in stream order.
    pub tables: Vec<Table>,
    /// Tile payloads (header byte, lane states, words), every plane's tiles in tableau
    /// order.
    pub tiles: Vec<Vec<u8>>,
}

/// A stream taken apart.
#[derive(Debug, Clone)]
pub struct Dissected {
    /// The header (`section_sizes` is recomputed by [`Dissected::build`]).
    pub header: Header,
    /// The sections, coarsest LoQ first.
    pub sections: Vec<Section>,
}

impl Dissected {
    /// Takes a valid stream apart (panics on an invalid one).
    pub fn of(stream: &[u8]) -> Dissected {
        let plan = Plan::new(stream, &DecodeOptions::default()).expect("a valid stream");
        let sections = plan
            .sections
            .iter()
            .map(|s| {
                let tile_count = s.offsets.len() - 1;
                Section {
                    loq: s.loq,
                    log: s.log as u8,
                    planes: s
                        .planes
                        .iter()
                        .map(|pp| PlaneHead {
                            quant: match pp.lossy {
                                true => pp.quant[..pp.layers()]
                                    .iter()
                                    .map(|q| (q.step, q.offset))
                                    .collect(),
                                false => Vec::new(),
                            },
                            thresholds: (!pp.base).then(|| pp.thresholds.clone()),
                        })
                        .collect(),
                    tables: s
                        .tables
                        .iter()
                        .map(|t| Table {
                            plane: t.plane as u8,
                            layer: t.layer as u8,
                            kind: t.kind as u8,
                            ctx: t.ctx as u8,
                            freq: t.freq.clone(),
                        })
                        .collect(),
                    tiles: (0..tile_count)
                        .map(|i| stream[s.payload(i)].to_vec())
                        .collect(),
                }
            })
            .collect();
        Dissected {
            header: plan.header,
            sections,
        }
    }

    /// Serialises with fresh section sizes, header CRC and (when the header's flag says
    /// so) section CRCs.
    pub fn build(&self) -> Vec<u8> {
        let bodies: Vec<Vec<u8>> = self
            .sections
            .iter()
            .map(|s| s.body(self.header.checksums))
            .collect();
        let mut header = self.header.clone();
        header.section_sizes = bodies.iter().map(|b| b.len() as u32).collect();
        let mut out = Vec::new();
        header.write(&mut out);
        bodies.iter().for_each(|b| out.extend_from_slice(b));
        out
    }

    /// One picture from single-plane streams, each plane keeping its own size, depth and
    /// echelon count: the section of LoQ `k` holds the planes with more than `k` echelons
    /// (their tables renumbered, their tiles in plane order). Every stream must use the
    /// same upsampler and tile size, and sections of the same LoQ the same precision.
    pub fn merge(parts: &[Dissected]) -> Dissected {
        let first = &parts[0].header;
        let mut header = first.clone();
        header.planes = parts.iter().map(|d| d.header.planes[0]).collect();
        header.checksums = true;
        let count = header.planes.iter().map(|p| p.echelons).max().unwrap();
        let sections = (0..count)
            .rev()
            .map(|loq| {
                let mut merged: Option<Section> = None;
                for (p, d) in parts.iter().enumerate() {
                    assert_eq!(d.header.planes.len(), 1, "single-plane streams only");
                    assert_eq!(
                        (d.header.upsampler, d.header.tile_log2),
                        (first.upsampler, first.tile_log2)
                    );
                    let Some(s) = d.sections.iter().find(|s| s.loq == loq) else {
                        continue;
                    };
                    let m = merged.get_or_insert_with(|| Section {
                        loq,
                        log: s.log,
                        planes: Vec::new(),
                        tables: Vec::new(),
                        tiles: Vec::new(),
                    });
                    assert_eq!(m.log, s.log, "LoQ {loq}: planes coded at other precisions");
                    m.planes.extend(s.planes.iter().cloned());
                    m.tables.extend(s.tables.iter().map(|t| Table {
                        plane: p as u8,
                        ..t.clone()
                    }));
                    m.tiles.extend(s.tiles.iter().cloned());
                }
                merged.expect("some plane has this LoQ")
            })
            .collect();
        Dissected { header, sections }
    }
}

/// Byte ranges of every tile payload of a stream, from the core's plan.
pub fn tile_payloads(stream: &[u8]) -> Vec<std::ops::Range<usize>> {
    let plan = Plan::new(stream, &DecodeOptions::default()).unwrap();
    plan.sections
        .iter()
        .flat_map(|s| (0..s.offsets.len() - 1).map(|i| s.payload(i)))
        .filter(|r| !r.is_empty())
        .collect()
}

impl Section {
    /// The section's bytes (docs/bitstream.md §7.2).
    pub fn body(&self, checksum: bool) -> Vec<u8> {
        let mut out = vec![self.loq, self.log];
        for (step, offset) in self.planes.iter().flat_map(|p| &p.quant) {
            put_varint(&mut out, *step);
            out.push(*offset);
        }
        for t in self.planes.iter().filter_map(|p| p.thresholds.as_ref()) {
            out.push(t.len() as u8);
            t.iter().for_each(|&v| put_varint(&mut out, v));
        }
        put_varint(&mut out, self.tables.len() as u32);
        for t in &self.tables {
            out.extend_from_slice(&[t.plane, t.layer | t.kind << 2 | t.ctx << 4]);
            t.freq.write(&mut out);
        }
        for tile in &self.tiles {
            put_varint(&mut out, tile.len() as u32);
        }
        self.tiles.iter().for_each(|t| out.extend_from_slice(t));
        if checksum {
            let crc = crc32fast::hash(&out);
            out.extend_from_slice(&crc.to_le_bytes());
        }
        out
    }
}

/// LEB128, as the stream's varints.
fn put_varint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}
