//! `vc6 encode -r SRC -o DST`: walks the folder tree SRC, mirrors it into DST and encodes
//! every image on every core. Resumable: an output that is already complete (its header
//! reads and the file holds every byte it declares) is kept. Every output is written to a
//! temporary file beside it and renamed into place, so an interrupted run never leaves a
//! partial `.vc6` under an output's name.

use crate::progress::{Progress, Summary};
use crate::{EncodeArgs, Reported, Usage};
use anyhow::{Context, Result};
use rayon::prelude::*;
use std::collections::HashMap;
use std::fs;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;
use vc6::{EncoderSettings, PixelFormat};

/// Extensions (lower case) of the image files the walk encodes: what the image reader
/// takes.
pub const IMAGE_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "tif", "tiff", "ppm", "pgm", "pam", "pnm",
];

/// Bytes read from the start of an output to check that it is complete (any header fits).
const HEAD_BYTES: u64 = 64 << 10;

/// One file encoded, before it is written.
pub struct Encoded {
    /// The stream.
    pub stream: Vec<u8>,
    /// Width of the picture.
    pub width: u32,
    /// Height of the picture.
    pub height: u32,
    /// Its pixel format.
    pub format: PixelFormat,
    /// Milliseconds the encoder took.
    pub ms: f64,
    /// A warning for the user (e.g. a --bpp out of reach), without the `vc6: warning: `.
    pub warning: Option<String>,
}

/// An input of the walk and the output it becomes.
#[derive(Debug)]
pub struct Job {
    /// The image file.
    pub input: PathBuf,
    /// Its .vc6 file in the mirrored tree.
    pub output: PathBuf,
    /// Length of the input file.
    pub bytes: u64,
}

/// What a walk found.
#[derive(Debug, Default)]
pub struct Walk {
    /// Images to encode, in path order.
    pub jobs: Vec<Job>,
    /// Files that are not images.
    pub other: u64,
    /// Failures of the walk itself (an unreadable folder; two inputs with one output),
    /// each a line `<path>: ...`.
    pub errors: Vec<String>,
}

/// Walks `src` (every folder below it, except `dst` when `dst` lies inside it: the walk
/// never takes in its own outputs) and pairs each file `take` accepts with its output
/// in `dst`: the same relative path, the extension replaced by `.vc6`. Links to files are
/// followed, links to folders are not (no cycles).
pub fn walk(src: &Path, dst: &Path, take: impl Fn(&Path) -> bool) -> Walk {
    let skip = match (fs::canonicalize(src), fs::canonicalize(dst)) {
        (Ok(s), Ok(d)) if s != d => Some(d),
        _ => None,
    };
    let mut walk = Walk::default();
    let mut found: Vec<(PathBuf, PathBuf, u64)> = Vec::new();
    let mut folders = vec![PathBuf::new()];
    while let Some(rel_dir) = folders.pop() {
        let dir = src.join(&rel_dir);
        if skip.is_some() && fs::canonicalize(&dir).ok() == skip {
            continue;
        }
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => {
                walk.errors
                    .push(format!("{}: cannot read the folder: {e}", dir.display()));
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    walk.errors
                        .push(format!("{}: cannot read the folder: {e}", dir.display()));
                    break;
                }
            };
            let rel = rel_dir.join(entry.file_name());
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                folders.push(rel);
                continue;
            }
            let meta = match kind.is_symlink() {
                true => fs::metadata(&path),
                false => entry.metadata(),
            };
            let Ok(meta) = meta else { continue };
            if !meta.is_file() {
                continue;
            }
            match take(&path) {
                true => found.push((rel, path, meta.len())),
                false => walk.other += 1,
            }
        }
    }
    found.sort();
    let mut outputs: HashMap<PathBuf, PathBuf> = HashMap::new();
    for (rel, input, bytes) in found {
        let output = dst.join(&rel).with_extension("vc6");
        if let Some(first) = outputs.get(&output) {
            walk.errors.push(format!(
                "{}: its output {} is also that of {}; rename one of them",
                input.display(),
                output.display(),
                first.display()
            ));
            continue;
        }
        outputs.insert(output.clone(), input.clone());
        walk.jobs.push(Job {
            input,
            output,
            bytes,
        });
    }
    walk
}

/// Whether `path` holds a whole stream: its header reads, and the file is as long as the
/// stream it declares. Returns what the header says.
pub fn complete(path: &Path) -> Option<vc6::StreamInfo> {
    let mut file = fs::File::open(path).ok()?;
    let len = file.metadata().ok().filter(|m| m.is_file())?.len();
    let mut head = Vec::new();
    (&mut file).take(HEAD_BYTES).read_to_end(&mut head).ok()?;
    let info = vc6::probe(&head).ok()?;
    (info.total_bytes == len).then_some(info)
}

/// The temporary file `path` is written to before it is renamed into place:
/// `.NAME.tmp-PID` in the same folder (so the rename stays on one file system).
pub fn temporary(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Writes `bytes` to `path` atomically: to [`temporary`] (overwriting any leftover), then
/// renamed over `path`. A failure removes the temporary file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temporary(path);
    let result = fs::write(&tmp, bytes).and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    Ok(())
}

/// `path: message` for a failure of `path` (the message names it first already, or
/// gets it in front).
fn failure_line(path: &Path, e: &anyhow::Error) -> String {
    let msg = crate::one_line(e);
    let name = path.display().to_string();
    match msg.starts_with(&name) {
        true => format!("vc6: error: {msg}"),
        false => format!("vc6: error: {name}: {msg}"),
    }
}

/// `vc6 encode -r`: checks SRC and DST, walks SRC, encodes what is not done yet, prints
/// the summary. Failed files are reported one line each as they happen and make the
/// result [`Reported`].
pub fn encode_tree(
    args: &EncodeArgs,
    settings: &EncoderSettings,
    out: &mut dyn Write,
) -> Result<()> {
    let start = Instant::now();
    let [src] = &args.inputs[..] else {
        return Err(Usage(format!(
            "-r takes one folder to walk, not {} inputs",
            args.inputs.len()
        ))
        .into());
    };
    if !src.is_dir() {
        return Err(Usage(format!(
            "{}: -r walks a folder, and this is not one",
            src.display()
        ))
        .into());
    }
    if args.output.exists() && !args.output.is_dir() {
        return Err(Usage(format!(
            "{}: with -r, -o must be a folder, and this is a file",
            args.output.display()
        ))
        .into());
    }
    fs::create_dir_all(&args.output)
        .with_context(|| format!("creating folder {}", args.output.display()))?;
    // --size makes every input raw: then the walk takes raw sample files.
    let raw = args.size.is_some();
    let walk = walk(src, &args.output, |p| {
        let ext = crate::imageio::extension(p);
        match raw {
            true => crate::imageio::is_raw_path(p),
            false => IMAGE_EXTENSIONS.contains(&ext.as_str()),
        }
    });
    let inputs: Vec<PathBuf> = walk.jobs.iter().map(|j| j.input.clone()).collect();
    let outputs: Vec<PathBuf> = walk.jobs.iter().map(|j| j.output.clone()).collect();
    crate::outputs_spare_inputs(&inputs, &outputs)?;

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()
        .context("starting the worker threads")?;
    // Files run side by side, each on one thread, largest first (so no large file is
    // left alone at the end); fewer files than threads share the pool inside each file.
    let mut order: Vec<&Job> = walk.jobs.iter().collect();
    order.sort_by_key(|j| std::cmp::Reverse(j.bytes));
    let settings = EncoderSettings {
        threads: if order.len() >= pool.current_num_threads() {
            1
        } else {
            0
        },
        ..settings.clone()
    };
    let show = !args.quiet && std::io::stderr().is_terminal();
    let total_bytes = walk.jobs.iter().map(|j| j.bytes).sum();
    let progress = Progress::new(show, "encoding", walk.jobs.len() as u64, total_bytes);
    for e in &walk.errors {
        progress.message(&format!("vc6: error: {e}"));
    }
    let summary = Mutex::new(Summary {
        other: walk.other,
        failed: walk.errors.len() as u64,
        ..Summary::default()
    });
    pool.install(|| {
        order.par_iter().with_max_len(1).for_each(|job| {
            let result = encode_job(args, &settings, job, &progress);
            let mut s = summary.lock().unwrap_or_else(|e| e.into_inner());
            match result {
                Ok(Some((pixels, bytes))) => {
                    s.done += 1;
                    s.pixels += pixels;
                    s.stream_pixels += pixels;
                    s.stream_bytes += bytes;
                    drop(s);
                    progress.advance(1, job.bytes, pixels);
                }
                Ok(None) => {
                    s.already += 1;
                    drop(s);
                    progress.skip(job.bytes);
                }
                Err(e) => {
                    s.failed += 1;
                    drop(s);
                    progress.message(&failure_line(&job.input, &e));
                    progress.advance(1, job.bytes, 0);
                }
            }
        })
    });
    progress.finish();
    let mut summary = summary.into_inner().unwrap_or_else(|e| e.into_inner());
    summary.seconds = start.elapsed().as_secs_f64();
    if !args.quiet {
        writeln!(out, "{}", summary.encode_line())?;
    }
    match summary.failed {
        0 => Ok(()),
        _ => Err(Reported.into()),
    }
}

/// Encodes one file of the walk unless its output is complete already: `None` then,
/// else the picture's pixels and the stream's bytes.
fn encode_job(
    args: &EncodeArgs,
    settings: &EncoderSettings,
    job: &Job,
    progress: &Progress,
) -> Result<Option<(u64, u64)>> {
    if complete(&job.output).is_some() {
        return Ok(None);
    }
    let encoded = crate::encode_stream(args, settings, &job.input)?;
    if let Some(folder) = job.output.parent() {
        fs::create_dir_all(folder)
            .with_context(|| format!("creating folder {}", folder.display()))?;
    }
    write_atomic(&job.output, &encoded.stream)?;
    if let Some(warning) = &encoded.warning {
        progress.message(&format!("vc6: warning: {warning}"));
    }
    let pixels = u64::from(encoded.width) * u64::from(encoded.height);
    Ok(Some((pixels, encoded.stream.len() as u64)))
}
