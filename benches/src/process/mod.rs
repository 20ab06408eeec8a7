//! The whole-process comparison: `vc6 decode --backend cpu --threads 1` (the command-line
//! binary) against OpenJPH's `ojph_expand` (HTJ2K) and, for lossy streams, libjpeg-turbo's
//! `djpeg`, each started as its own process pinned to one core (`taskset -c 0`), reading
//! its stream and writing a PPM. Start-up and file I/O are part of the time.
//!
//! Per picture (500x500 to 3840x2160 by default):
//!
//! * lossless: `vc6 encode` (default settings, lossless) against `ojph_compress
//!   -reversible true`; both decodes are checked bit-exact against the source before they
//!   are timed;
//! * lossy: `vc6 encode --bpp B` against `ojph_compress -qstep` bisected to the same rate
//!   and `cjpeg -quality` (4:4:4, optimised Huffman tables) bisected to it; PSNR of each
//!   decode against the source.
//!
//! Timing: `hyperfine -N` when installed (warm-up runs, then the mean and the minimum of
//! the timed runs), else a loop here that runs the commands in turn, round by round. The
//! `report` binary runs this as its last section; the `process` binary runs it alone
//! (`cargo xtask bench --process`).

use crate::lossy::{bisect_f64, bisect_int, find_on_path, read_ppm, target_bytes, write_ppm};
use crate::quality::{psnr_from_mse, sse};
use crate::{load_png_rgb8, Target};
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

mod print;

/// The default pictures: one of each size the issue names, from the corpus folders
/// `rgb8/` and `uhd/`.
pub const DEFAULT_PICTURES: [&str; 4] = [
    "rgb8/cvo9xd_keong_macan_srgb8_500x500.png",
    "rgb8/garden_1280x800.png",
    "rgb8/flower_2268x1512.png",
    "uhd/elephants_3840x2160.png",
];

/// The peers' programs, and the Debian packages that hold them.
pub const PEER_TOOLS: [(&str, &str); 5] = [
    ("ojph_compress", "openjph-tools"),
    ("ojph_expand", "openjph-tools"),
    ("cjpeg", "libjpeg-turbo-progs"),
    ("djpeg", "libjpeg-turbo-progs"),
    ("hyperfine", "hyperfine"),
];

/// What to run.
#[derive(Debug, Clone)]
pub struct ProcessOptions {
    /// The release `vc6` binary.
    pub vc6_cli: PathBuf,
    /// The PNG pictures.
    pub pictures: Vec<PathBuf>,
    /// Timed runs per command.
    pub runs: usize,
    /// Untimed warm-up runs per command.
    pub warmup: usize,
    /// The lossy rate, bits per pixel.
    pub bpp: f64,
    /// Bisection steps for HTJ2K's `-qstep`.
    pub qstep_steps: u32,
}

impl ProcessOptions {
    /// Defaults for the corpus root `corpus` (the folder holding `rgb8/`, `uhd/`):
    /// [`DEFAULT_PICTURES`] that exist there, 20 runs after 3 warm-ups (`quick`: 5 after
    /// 1), 1.25 bpp. Pictures that are missing are returned apart, for a note.
    pub fn new(vc6_cli: PathBuf, corpus: &Path, quick: bool) -> (ProcessOptions, Vec<PathBuf>) {
        let (found, missing) = DEFAULT_PICTURES
            .iter()
            .map(|p| corpus.join(p))
            .partition(|p| p.is_file());
        (
            ProcessOptions {
                vc6_cli,
                pictures: found,
                runs: if quick { 5 } else { 20 },
                warmup: if quick { 1 } else { 3 },
                bpp: 1.25,
                qstep_steps: if quick { 8 } else { 12 },
            },
            missing,
        )
    }
}

/// Wall-clock times of one command, seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measure {
    /// Mean of the timed runs.
    pub mean: f64,
    /// Fastest run.
    pub min: f64,
    /// Standard deviation of the runs.
    pub stddev: f64,
}

impl Measure {
    fn cell(&self) -> String {
        format!(
            "{:.1} ±{:.1} / {:.1}",
            self.mean * 1e3,
            self.stddev * 1e3,
            self.min * 1e3
        )
    }
}

/// A peer's result, or why there is none.
pub type Peer<T> = std::result::Result<T, String>;

/// One coded and timed stream.
#[derive(Debug, Clone)]
pub struct Coded {
    /// Stream size in bytes.
    pub bytes: u64,
    /// PSNR of the decode against the source, dB (lossy only; lossless decodes are
    /// checked exact).
    pub psnr: Option<f64>,
    /// The bisected parameter, shown with the table (quality, step).
    pub param: Option<String>,
    /// Decode time of the whole process.
    pub time: Measure,
}

/// One picture at one mode (lossless or lossy).
#[derive(Debug, Clone)]
pub struct Row {
    /// File name.
    pub name: String,
    /// Width and height.
    pub size: (u32, u32),
    /// vc6.
    pub vc6: Coded,
    /// HTJ2K (OpenJPH).
    pub ojph: Peer<Coded>,
    /// JPEG (libjpeg-turbo), lossy only.
    pub jpeg: Option<Peer<Coded>>,
}

impl Row {
    fn px(&self) -> u64 {
        u64::from(self.size.0) * u64::from(self.size.1)
    }

    fn bpp(&self, c: &Coded) -> f64 {
        c.bytes as f64 * 8.0 / self.px() as f64
    }
}

/// Everything the comparison measured.
#[derive(Debug, Clone)]
pub struct ProcessResults {
    /// How it was run, one line each.
    pub setup: Vec<String>,
    /// Per picture, lossless.
    pub lossless: Vec<Row>,
    /// Per picture, lossy.
    pub lossy: Vec<Row>,
    /// The rate of the lossy rows.
    pub bpp: f64,
}

/// How the commands are timed.
enum Timer {
    Hyperfine(PathBuf),
    Loop,
}

struct Env {
    /// `taskset -c 0`, when it works here.
    pin: Vec<String>,
    timer: Timer,
    runs: usize,
    warmup: usize,
    /// Why a peer tool is missing, per tool.
    missing: Vec<(&'static str, &'static str)>,
}

impl Env {
    fn has(&self, tool: &str) -> bool {
        !self.missing.iter().any(|(t, _)| *t == tool)
    }

    fn why_missing(&self, tools: &[&str]) -> Option<String> {
        let gone: Vec<&str> = tools.iter().copied().filter(|t| !self.has(t)).collect();
        if gone.is_empty() {
            return None;
        }
        let pkgs: Vec<&str> = self
            .missing
            .iter()
            .filter(|(t, _)| gone.contains(t))
            .map(|(_, p)| *p)
            .collect();
        Some(format!(
            "not installed ({}; Debian: {})",
            gone.join(", "),
            dedup(pkgs).join(" ")
        ))
    }

    /// The decode command, pinned.
    fn pinned(&self, argv: &[&str]) -> Vec<String> {
        self.pin
            .iter()
            .cloned()
            .chain(argv.iter().map(|s| s.to_string()))
            .collect()
    }

    /// Times `cmds` (each an argv): hyperfine or the loop here.
    fn time(&self, cmds: &[Vec<String>], scratch: &Path) -> Result<Vec<Measure>> {
        let plain = cmds.iter().flatten().all(|a| {
            !a.is_empty() && !a.contains(|c: char| c.is_whitespace() || "'\"\\".contains(c))
        });
        match &self.timer {
            Timer::Hyperfine(h) if plain => {
                let csv = scratch.join("hyperfine.csv");
                let mut c = Command::new(h);
                c.args(["-N", "--style", "none", "--warmup"])
                    .arg(self.warmup.to_string())
                    .arg("--runs")
                    .arg(self.runs.max(2).to_string())
                    .arg("--export-csv")
                    .arg(&csv);
                for cmd in cmds {
                    c.arg(cmd.join(" "));
                }
                run_checked(&mut c)?;
                let text = std::fs::read_to_string(&csv)
                    .with_context(|| format!("reading {}", csv.display()))?;
                let m = parse_hyperfine_csv(&text)?;
                ensure!(
                    m.len() == cmds.len(),
                    "hyperfine gave {} results for {} commands",
                    m.len(),
                    cmds.len()
                );
                Ok(m)
            }
            _ => time_loop(cmds, self.runs, self.warmup),
        }
    }
}

fn dedup(mut v: Vec<&str>) -> Vec<&str> {
    let mut seen = Vec::new();
    v.retain(|x| {
        let new = !seen.contains(x);
        seen.push(*x);
        new
    });
    v
}

/// Parses `hyperfine --export-csv`: `command,mean,stddev,median,user,system,min,max`
/// (seconds), one line per command in order. The command may hold commas; the seven
/// numbers are the last fields.
pub fn parse_hyperfine_csv(text: &str) -> Result<Vec<Measure>> {
    let mut lines = text.lines();
    let header = lines.next().context("hyperfine CSV is empty")?;
    ensure!(
        header.starts_with("command,mean,stddev,median,user,system,min,max"),
        "unexpected hyperfine CSV header {header:?}"
    );
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.rsplitn(8, ',').collect();
            ensure!(f.len() == 8, "hyperfine CSV line {l:?}");
            let num = |i: usize| -> Result<f64> {
                f[i].trim()
                    .parse::<f64>()
                    .with_context(|| format!("hyperfine CSV field {:?}", f[i]))
            };
            // Reversed: max, min, system, user, median, stddev, mean, command.
            Ok(Measure {
                mean: num(6)?,
                stddev: num(5)?,
                min: num(1)?,
            })
        })
        .collect()
}

/// Runs each command `warmup` times, then `runs` rounds of every command in turn.
fn time_loop(cmds: &[Vec<String>], runs: usize, warmup: usize) -> Result<Vec<Measure>> {
    let once = |argv: &[String]| -> Result<f64> {
        let start = Instant::now();
        let status = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .with_context(|| format!("cannot start {}", argv[0]))?;
        let t = start.elapsed().as_secs_f64();
        ensure!(status.success(), "{} failed ({status})", argv.join(" "));
        Ok(t)
    };
    for cmd in cmds {
        for _ in 0..warmup {
            once(cmd)?;
        }
    }
    let runs = runs.max(2);
    let mut times = vec![Vec::with_capacity(runs); cmds.len()];
    for _ in 0..runs {
        for (cmd, t) in cmds.iter().zip(times.iter_mut()) {
            t.push(once(cmd)?);
        }
    }
    Ok(times
        .iter()
        .map(|t| {
            let n = t.len() as f64;
            let mean = t.iter().sum::<f64>() / n;
            let var = t.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
            Measure {
                mean,
                min: t.iter().copied().fold(f64::INFINITY, f64::min),
                stddev: var.sqrt(),
            }
        })
        .collect())
}

/// Runs a command to completion; fails with its output when it fails.
fn run_checked(c: &mut Command) -> Result<String> {
    let shown = format!("{c:?}");
    let out = c
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start {shown}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        bail!("{shown} failed ({}):\n{}", out.status, text.trim_end());
    }
    Ok(text)
}

fn run_argv(argv: &[String]) -> Result<String> {
    run_checked(Command::new(&argv[0]).args(&argv[1..]))
}

fn argv(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str()
        .with_context(|| format!("{} is not valid UTF-8", p.display()))
}

fn file_len(p: &Path) -> Result<u64> {
    Ok(std::fs::metadata(p)
        .with_context(|| format!("{} was not written", p.display()))?
        .len())
}

/// PSNR of a decoded PPM against the source pixels.
fn psnr_of(out: &Path, src: &[u8], w: u32, h: u32) -> Result<f64> {
    let (dw, dh, rgb) = read_ppm(out)?;
    ensure!(
        (dw, dh) == (w as usize, h as usize),
        "{} is {dw}x{dh}, expected {w}x{h}",
        out.display()
    );
    Ok(psnr_from_mse(sse(src, &rgb) as f64 / rgb.len() as f64))
}

/// Whether a decoded PPM is the source, exactly; `Err` says where it differs.
fn exact(out: &Path, src: &[u8], w: u32, h: u32) -> Result<std::result::Result<(), String>> {
    let (dw, dh, rgb) = read_ppm(out)?;
    if (dw, dh) != (w as usize, h as usize) {
        return Ok(Err(format!("decoded {dw}x{dh}, expected {w}x{h}")));
    }
    Ok(match rgb.iter().zip(src).position(|(a, b)| a != b) {
        None => Ok(()),
        Some(i) => Err(format!("NOT lossless: first difference at byte {i}")),
    })
}

/// Runs the whole comparison.
pub fn run(opts: &ProcessOptions) -> Result<ProcessResults> {
    ensure!(
        opts.vc6_cli.is_file(),
        "the vc6 binary {} does not exist (cargo build --release -p vc6-cli)",
        opts.vc6_cli.display()
    );
    let mut setup = Vec::new();
    let pin = match find_on_path("taskset") {
        Some(_)
            if Command::new("taskset")
                .args(["-c", "0", "true"])
                .status()
                .is_ok_and(|s| s.success()) =>
        {
            setup.push("every decode runs pinned to core 0: `taskset -c 0 ...`".to_string());
            argv(&["taskset", "-c", "0"])
        }
        Some(_) => {
            setup.push("`taskset -c 0` fails here: decodes are NOT pinned to one core".into());
            Vec::new()
        }
        None => {
            setup.push(
                "taskset is not installed (Debian: util-linux): decodes are NOT pinned to one core"
                    .into(),
            );
            Vec::new()
        }
    };
    let missing: Vec<(&str, &str)> = PEER_TOOLS
        .iter()
        .copied()
        .filter(|(t, _)| find_on_path(t).is_none())
        .collect();
    let timer = match find_on_path("hyperfine") {
        Some(h) => {
            let version = run_checked(Command::new(&h).arg("--version"))
                .map(|v| v.trim().to_string())
                .unwrap_or_else(|_| "hyperfine".into());
            setup.push(format!(
                "timed by {version} (`-N`, no shell): {} warm-up runs, then the mean ± standard \
                 deviation / the minimum of {} runs per command, in ms",
                opts.warmup,
                opts.runs.max(2)
            ));
            Timer::Hyperfine(h)
        }
        None => {
            setup.push(format!(
                "hyperfine is not installed: timed here, {} warm-up runs, then {} rounds of \
                 every command in turn; mean ± standard deviation / minimum, in ms",
                opts.warmup,
                opts.runs.max(2)
            ));
            Timer::Loop
        }
    };
    let env = Env {
        pin,
        timer,
        runs: opts.runs,
        warmup: opts.warmup,
        missing,
    };
    let vc6 = path_str(&opts.vc6_cli)?.to_string();
    setup.push(format!(
        "vc6: `{vc6} decode IN.vc6 -o OUT.ppm --backend cpu --threads 1`; streams from \
         `vc6 encode IN.ppm` (lossless) and `vc6 encode IN.ppm --bpp {}`",
        opts.bpp
    ));
    setup.push(match env.why_missing(&["ojph_compress", "ojph_expand"]) {
        None => format!(
            "HTJ2K: OpenJPH `ojph_compress -reversible true` (lossless) and `ojph_compress \
             -qstep S` with S bisected to {} bpp (lossy); decoded by `ojph_expand -i IN.j2c -o \
             OUT.ppm` (single-threaded)",
            opts.bpp
        ),
        Some(why) => format!("HTJ2K: {why}: skipped"),
    });
    setup.push(match env.why_missing(&["cjpeg", "djpeg"]) {
        None => format!(
            "JPEG: libjpeg-turbo `cjpeg -quality Q -sample 1x1 -optimize` (4:4:4, Q bisected to \
             {} bpp); decoded by `djpeg -pnm -outfile OUT.ppm IN.jpg` (single-threaded)",
            opts.bpp
        ),
        Some(why) => format!("JPEG: {why}: skipped"),
    });
    setup.push(
        "ratio = the peer's mean time / vc6's mean time: above 1, vc6's whole process is faster"
            .into(),
    );

    let dir = crate::lossy::TempDir::new("process")?;
    // Start-up floors: any process (`true`), and the vc6 binary doing nothing.
    let floor = env.time(
        &[env.pinned(&["true"]), env.pinned(&[&vc6, "--version"])],
        dir.path(),
    )?;
    setup.push(format!(
        "start-up floors (mean ±sd / min, ms): starting a process (`true`) {}, `vc6 --version` {}",
        floor[0].cell(),
        floor[1].cell()
    ));

    let mut lossless = Vec::new();
    let mut lossy = Vec::new();
    for pic in &opts.pictures {
        eprintln!("process: {}", pic.display());
        let (a, b) = picture(&env, opts, &vc6, pic, dir.path())
            .with_context(|| format!("whole-process comparison on {}", pic.display()))?;
        lossless.push(a);
        lossy.push(b);
    }
    Ok(ProcessResults {
        setup,
        lossless,
        lossy,
        bpp: opts.bpp,
    })
}

/// Codes, checks and times one picture: (lossless row, lossy row).
fn picture(
    env: &Env,
    opts: &ProcessOptions,
    vc6: &str,
    pic: &Path,
    dir: &Path,
) -> Result<(Row, Row)> {
    let img = load_png_rgb8(pic)?;
    let (w, h) = (img.width, img.height);
    let px = img.pixel_count();
    let p = |name: &str| dir.join(name);
    let src = p("src.ppm");
    write_ppm(&src, &img.pixels, w as usize, h as usize)?;
    let s = path_str(&src)?;
    let (ll_vc6, ll_j2c, ly_vc6, ly_j2c, ly_jpg) = (
        p("ll.vc6"),
        p("ll.j2c"),
        p("ly.vc6"),
        p("ly.j2c"),
        p("ly.jpg"),
    );
    let (out_vc6, out_ojph, out_jpeg) = (p("vc6.ppm"), p("ojph.ppm"), p("djpeg.ppm"));
    let vc6_dec = |stream: &Path| -> Result<Vec<String>> {
        Ok(env.pinned(&[
            vc6,
            "decode",
            path_str(stream)?,
            "-o",
            path_str(&out_vc6)?,
            "--backend",
            "cpu",
            "--threads",
            "1",
        ]))
    };
    let ojph_dec = |stream: &Path| -> Result<Vec<String>> {
        Ok(env.pinned(&[
            "ojph_expand",
            "-i",
            path_str(stream)?,
            "-o",
            path_str(&out_ojph)?,
        ]))
    };
    let has_ojph = env.why_missing(&["ojph_compress", "ojph_expand"]);
    let has_jpeg = env.why_missing(&["cjpeg", "djpeg"]);

    // ---- lossless ----
    run_argv(&argv(&[vc6, "encode", s, "-o", path_str(&ll_vc6)?]))?;
    let dec = vc6_dec(&ll_vc6)?;
    run_argv(&dec)?;
    if let Err(why) = exact(&out_vc6, &img.pixels, w, h)? {
        bail!("vc6 on {}: {why}", img.name);
    }
    let mut cmds = vec![dec];
    let ojph: Peer<()> = match &has_ojph {
        Some(why) => Err(why.clone()),
        None => {
            run_argv(&argv(&[
                "ojph_compress",
                "-i",
                s,
                "-o",
                path_str(&ll_j2c)?,
                "-reversible",
                "true",
            ]))?;
            let dec = ojph_dec(&ll_j2c)?;
            run_argv(&dec)?;
            let ok = exact(&out_ojph, &img.pixels, w, h)?;
            if ok.is_ok() {
                cmds.push(dec);
            }
            ok
        }
    };
    let times = env.time(&cmds, dir)?;
    let lossless = Row {
        name: img.name.clone(),
        size: (w, h),
        vc6: Coded {
            bytes: file_len(&ll_vc6)?,
            psnr: None,
            param: None,
            time: times[0],
        },
        ojph: ojph.map(|()| -> Coded {
            Coded {
                bytes: file_len(&ll_j2c).unwrap_or(0),
                psnr: None,
                param: None,
                time: times[1],
            }
        }),
        jpeg: None,
    };

    // ---- lossy ----
    let target = target_bytes(px, opts.bpp);
    run_argv(&argv(&[
        vc6,
        "encode",
        s,
        "-o",
        path_str(&ly_vc6)?,
        "--bpp",
        &opts.bpp.to_string(),
    ]))?;
    let dec = vc6_dec(&ly_vc6)?;
    run_argv(&dec)?;
    let vc6_psnr = psnr_of(&out_vc6, &img.pixels, w, h)?;
    ensure!(
        vc6_psnr > 12.0,
        "vc6's lossy decode of {} is nothing like the source ({vc6_psnr:.2} dB)",
        img.name
    );
    let mut cmds = vec![dec];
    // (index in cmds, bytes, psnr, parameter)
    let ojph: Peer<(usize, u64, f64, String)> = match &has_ojph {
        Some(why) => Err(why.clone()),
        None => {
            let out = path_str(&ly_j2c)?;
            // Bisect ln(1 / qstep) over qstep 0.5 .. 0.0002: the size grows with it.
            let fit = bisect_f64(2f64.ln(), 5000f64.ln(), opts.qstep_steps, target, |v| {
                let _ = std::fs::remove_file(&ly_j2c);
                let q = format!("{:.6}", (-v).exp());
                run_argv(&argv(&["ojph_compress", "-i", s, "-o", out, "-qstep", &q]))?;
                std::fs::read(&ly_j2c).with_context(|| format!("reading {out}"))
            })?;
            std::fs::write(&ly_j2c, &fit.bytes)?;
            let dec = ojph_dec(&ly_j2c)?;
            run_argv(&dec)?;
            let psnr = psnr_of(&out_ojph, &img.pixels, w, h)?;
            cmds.push(dec);
            Ok((
                cmds.len() - 1,
                fit.bytes.len() as u64,
                psnr,
                format!("qstep {:.5}", (-fit.param).exp()),
            ))
        }
    };
    let jpeg: Peer<(usize, u64, f64, String)> = match &has_jpeg {
        Some(why) => Err(why.clone()),
        None => {
            let out = path_str(&ly_jpg)?;
            let fit = bisect_int(1, 100, target, |q| {
                let q = q.to_string();
                run_argv(&argv(&[
                    "cjpeg",
                    "-quality",
                    &q,
                    "-sample",
                    "1x1",
                    "-optimize",
                    "-outfile",
                    out,
                    s,
                ]))?;
                std::fs::read(&ly_jpg).with_context(|| format!("reading {out}"))
            })?;
            std::fs::write(&ly_jpg, &fit.bytes)?;
            let dec = env.pinned(&["djpeg", "-pnm", "-outfile", path_str(&out_jpeg)?, out]);
            run_argv(&dec)?;
            let psnr = psnr_of(&out_jpeg, &img.pixels, w, h)?;
            cmds.push(dec);
            Ok((
                cmds.len() - 1,
                fit.bytes.len() as u64,
                psnr,
                format!("q {}", fit.param),
            ))
        }
    };
    let times = env.time(&cmds, dir)?;
    let coded = |(i, bytes, psnr, param): (usize, u64, f64, String)| Coded {
        bytes,
        psnr: Some(psnr),
        param: Some(param),
        time: times[i],
    };
    let lossy = Row {
        name: img.name.clone(),
        size: (w, h),
        vc6: Coded {
            bytes: file_len(&ly_vc6)?,
            psnr: Some(vc6_psnr),
            param: None,
            time: times[0],
        },
        ojph: ojph.map(coded),
        jpeg: Some(jpeg.map(coded)),
    };
    Ok((lossless, lossy))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyperfine_csv_parses() {
        let text = "command,mean,stddev,median,user,system,min,max\n\
                    taskset -c 0 a -o x,y.ppm,0.030,0.002,0.0305,0.017,0.011,0.028,0.033\n\
                    b,0.0018,0.00003,0.0018,0.0017,0,0.00178,0.00185\n";
        let m = parse_hyperfine_csv(text).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].mean, m[0].stddev, m[0].min), (0.030, 0.002, 0.028));
        assert_eq!(m[1].min, 0.00178);
        assert!(parse_hyperfine_csv("mean\n1\n").is_err());
    }

    #[test]
    fn own_loop_times_commands() {
        if find_on_path("true").is_none() {
            return;
        }
        let m = time_loop(&[argv(&["true"]), argv(&["true"])], 2, 1).unwrap();
        assert_eq!(m.len(), 2);
        assert!(m[0].min > 0.0 && m[0].min <= m[0].mean);
        assert!(time_loop(&[argv(&["false"])], 2, 0).is_err());
    }
}
