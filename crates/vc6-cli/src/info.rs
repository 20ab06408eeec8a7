//! `vc6 info`: what a stream holds, read from its first bytes only.

use anyhow::{Context, Result};
use serde::Serialize;
use std::io::{Read, Write};
use std::path::Path;
use vc6::{BackendStatus, PixelFormat, StreamInfo};

/// Bytes read from the start of the file; the header is far smaller.
const PROBE_BYTES: u64 = 64 * 1024;

/// One plane, as `info --json` prints it.
#[derive(Debug, Serialize)]
struct PlaneJson {
    width: u32,
    height: u32,
    bit_depth: u8,
    /// Lossy streams: bits below the samples' unit the plane is coded with.
    fraction_bits: u8,
    echelons: u8,
    /// `[width, height]` of each echelon, LoQ 0 first.
    echelon_sizes: Vec<[u32; 2]>,
}

/// One LoQ, as `info --json` prints it.
#[derive(Debug, Serialize)]
struct LoqJson {
    loq: u8,
    width: u32,
    height: u32,
    required_bytes: u64,
    /// The file holds the bytes this LoQ needs.
    decodable: bool,
}

/// One backend, as `info --backends --json` prints it.
#[derive(Debug, Serialize)]
struct BackendJson {
    /// `cpu`, `opencl`, ...: the `--backend` spelling.
    name: String,
    /// This build has it.
    compiled: bool,
    /// It can run on this machine.
    available: bool,
    /// The device it runs on (when available).
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<String>,
    /// Why it cannot run here (when not available).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl BackendJson {
    fn new(s: &BackendStatus) -> BackendJson {
        BackendJson {
            name: s.backend.name().to_string(),
            compiled: s.compiled,
            available: s.device.is_ok(),
            device: s.device.as_ref().ok().map(|d| one_line(d)),
            error: s.device.as_ref().err().map(|e| one_line(e)),
        }
    }
}

/// `info --backends --json` without a stream.
#[derive(Debug, Serialize)]
struct BackendsJson {
    backends: Vec<BackendJson>,
}

/// The whole `info --json` object.
#[derive(Debug, Serialize)]
struct InfoJson {
    file: String,
    width: u32,
    height: u32,
    format: String,
    format_tag: u8,
    lossless: bool,
    upsampler: String,
    colour_transform: bool,
    planes: Vec<PlaneJson>,
    loqs: Vec<LoqJson>,
    header_bytes: u64,
    total_bytes: u64,
    file_bytes: u64,
    truncated: bool,
    decodable_loqs: Vec<u8>,
    /// With `--backends`.
    #[serde(skip_serializing_if = "Option::is_none")]
    backends: Option<Vec<BackendJson>>,
}

/// Name of the pixel format a header tag stands for ("planar" for 0 or an unknown tag).
pub fn format_name(tag: u8) -> String {
    match PixelFormat::from_tag(tag) {
        Some(f) if tag != 0 => f.name().to_string(),
        _ => "planar".to_string(),
    }
}

/// Side length after `loq` halvings, rounding up.
fn halve(mut len: u32, loq: u8) -> u32 {
    for _ in 0..loq {
        len = len.div_ceil(2);
    }
    len
}

/// Reads the first bytes of `path` and probes them; returns the info and the file length.
pub fn probe_file(path: &Path) -> Result<(StreamInfo, u64)> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let file_bytes = file
        .metadata()
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    let mut head = Vec::new();
    file.take(PROBE_BYTES)
        .read_to_end(&mut head)
        .with_context(|| format!("reading {}", path.display()))?;
    let info = vc6::probe(&head).with_context(|| path.display().to_string())?;
    Ok((info, file_bytes))
}

fn build_json(path: &Path, info: &StreamInfo, file_bytes: u64) -> InfoJson {
    let loqs: Vec<LoqJson> = info
        .loqs
        .iter()
        .map(|l| LoqJson {
            loq: l.loq,
            width: l.width,
            height: l.height,
            required_bytes: l.required_bytes,
            decodable: l.required_bytes <= file_bytes,
        })
        .collect();
    InfoJson {
        file: path.display().to_string(),
        width: info.width,
        height: info.height,
        format: format_name(info.format_tag),
        format_tag: info.format_tag,
        lossless: info.lossless,
        upsampler: info.upsampler.to_string(),
        colour_transform: info.colour_transform,
        planes: info
            .planes
            .iter()
            .map(|p| PlaneJson {
                width: p.width,
                height: p.height,
                bit_depth: p.bit_depth,
                fraction_bits: p.fraction_bits,
                echelons: p.echelons,
                echelon_sizes: (0..p.echelons)
                    .map(|k| [halve(p.width, k), halve(p.height, k)])
                    .collect(),
            })
            .collect(),
        decodable_loqs: loqs.iter().filter(|l| l.decodable).map(|l| l.loq).collect(),
        loqs,
        header_bytes: info.header_bytes,
        total_bytes: info.total_bytes,
        file_bytes,
        truncated: file_bytes < info.total_bytes,
        backends: None,
    }
}

/// Runs `vc6 info` on a stream; with `backends` (from `--backends`) lists them too:
/// after the stream's lines, or as the `backends` field of the JSON object.
pub fn run(
    path: &Path,
    json: bool,
    backends: Option<&[BackendStatus]>,
    out: &mut dyn Write,
) -> Result<()> {
    let (info, file_bytes) = probe_file(path)?;
    let mut j = build_json(path, &info, file_bytes);
    if json {
        j.backends = backends.map(|b| b.iter().map(BackendJson::new).collect());
        serde_json::to_writer(&mut *out, &j).context("writing JSON")?;
        writeln!(out)?;
        return Ok(());
    }
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    writeln!(out, "file:             {} ({} bytes)", j.file, j.file_bytes)?;
    writeln!(out, "size:             {}x{}", j.width, j.height)?;
    writeln!(out, "format:           {} (tag {})", j.format, j.format_tag)?;
    writeln!(out, "lossless:         {}", yes_no(j.lossless))?;
    writeln!(out, "upsampler:        {}", j.upsampler)?;
    writeln!(out, "colour transform: {}", yes_no(j.colour_transform))?;
    writeln!(out, "planes:           {}", j.planes.len())?;
    for (i, p) in j.planes.iter().enumerate() {
        let sizes: Vec<String> = p
            .echelon_sizes
            .iter()
            .map(|[w, h]| format!("{w}x{h}"))
            .collect();
        let fraction = match p.fraction_bits {
            0 => String::new(),
            f => format!(" (coded with {f} fraction bits)"),
        };
        writeln!(
            out,
            "  plane {i}: {}x{}, {} bits{fraction}, {} echelons: {}",
            p.width,
            p.height,
            p.bit_depth,
            p.echelons,
            sizes.join(", ")
        )?;
    }
    writeln!(out, "levels of quality:")?;
    for l in &j.loqs {
        writeln!(
            out,
            "  LoQ {}: {}x{}, needs {} bytes{}",
            l.loq,
            l.width,
            l.height,
            l.required_bytes,
            if l.decodable {
                ""
            } else {
                " (missing from the file)"
            }
        )?;
    }
    writeln!(out, "header:           {} bytes", j.header_bytes)?;
    writeln!(out, "stream:           {} bytes", j.total_bytes)?;
    if j.truncated {
        let decodable = if j.decodable_loqs.is_empty() {
            "none".to_string()
        } else {
            j.decodable_loqs
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(
            out,
            "truncated:        the file holds {} of {} bytes; decodable LoQs: {decodable}",
            j.file_bytes, j.total_bytes
        )?;
    } else if j.file_bytes > j.total_bytes {
        writeln!(
            out,
            "trailing data:    {} bytes after the stream",
            j.file_bytes - j.total_bytes
        )?;
    }
    if let Some(backends) = backends {
        writeln!(out, "backends:")?;
        for s in backends {
            writeln!(out, "  {}", backend_line(s))?;
        }
    }
    Ok(())
}

/// `text` with line breaks turned into spaces (driver messages can span lines).
fn one_line(text: &str) -> String {
    text.split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// One backend on one line: `NAME  compiled|not compiled  device: ...|cannot run here: ...`.
fn backend_line(s: &BackendStatus) -> String {
    let compiled = if s.compiled {
        "compiled in"
    } else {
        "not compiled in"
    };
    let device = match &s.device {
        Ok(d) => format!("runs on {}", one_line(d)),
        Err(e) => format!("cannot run here: {}", one_line(e)),
    };
    format!("{:<7} {compiled:<15}  {device}", s.backend.name())
}

/// Runs `vc6 info --backends`: one line per backend.
pub fn backends(backends: &[BackendStatus], out: &mut dyn Write) -> Result<()> {
    for s in backends {
        writeln!(out, "{}", backend_line(s))?;
    }
    Ok(())
}

/// Runs `vc6 info --backends --json`: `{"backends": [{"name", "compiled", "available",
/// "device" or "error"}, ...]}`.
pub fn backends_json(backends: &[BackendStatus], out: &mut dyn Write) -> Result<()> {
    let j = BackendsJson {
        backends: backends.iter().map(BackendJson::new).collect(),
    };
    serde_json::to_writer(&mut *out, &j).context("writing JSON")?;
    writeln!(out)?;
    Ok(())
}
