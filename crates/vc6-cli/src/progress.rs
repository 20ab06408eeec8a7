//! The progress line of work on many files (on stderr, only when it is a terminal) and
//! the summary line printed at the end.

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Least time between two redraws of the progress line.
const REDRAW: Duration = Duration::from_millis(100);

/// Width of the bar, in characters.
const BAR: usize = 20;

/// A one-line progress display on stderr, redrawn in place with `\r`; a disabled one
/// (stderr not a terminal, or `--quiet`) draws nothing. Other lines for stderr go through
/// [`Progress::message`], which clears the line first. Safe to share between threads.
pub struct Progress {
    line: Option<Mutex<Line>>,
    start: Instant,
}

struct Line {
    what: &'static str,
    files: u64,
    files_done: u64,
    /// Input bytes, for the ETA (files differ in size; bytes track the work better).
    bytes: u64,
    bytes_done: u64,
    pixels_done: u64,
    drawn_at: Option<Instant>,
    /// Characters of the line now on the screen.
    drawn: usize,
}

impl Progress {
    /// A display of `what` ("encoding") over `files` files of `bytes` input bytes;
    /// `enabled` false makes it silent.
    pub fn new(enabled: bool, what: &'static str, files: u64, bytes: u64) -> Progress {
        let line = enabled.then(|| {
            Mutex::new(Line {
                what,
                files,
                files_done: 0,
                bytes,
                bytes_done: 0,
                pixels_done: 0,
                drawn_at: None,
                drawn: 0,
            })
        });
        let progress = Progress {
            line,
            start: Instant::now(),
        };
        progress.advance(0, 0, 0);
        progress
    }

    /// Counts a file of `bytes` input bytes as needing no work (its output is complete
    /// already): it leaves the work left, so it does not speed the ETA up.
    pub fn skip(&self, bytes: u64) {
        if let Some(line) = &self.line {
            let mut line = line.lock().unwrap_or_else(|e| e.into_inner());
            line.bytes = line.bytes.saturating_sub(bytes);
            line.files_done += 1;
        }
        self.advance(0, 0, 0);
    }

    /// Counts `files` files of `bytes` input bytes and `pixels` pixels as done; redraws
    /// at most every [`REDRAW`] (and when the last file is done).
    pub fn advance(&self, files: u64, bytes: u64, pixels: u64) {
        let Some(line) = &self.line else { return };
        let mut line = line.lock().unwrap_or_else(|e| e.into_inner());
        line.files_done += files;
        line.bytes_done += bytes;
        line.pixels_done += pixels;
        let now = Instant::now();
        let due = line.drawn_at.is_none_or(|t| now - t >= REDRAW);
        if due || line.files_done == line.files {
            line.drawn_at = Some(now);
            let text = line.text(now - self.start);
            line.draw(&text);
        }
    }

    /// Prints `text` as a line of its own on stderr, above the progress line.
    pub fn message(&self, text: &str) {
        match &self.line {
            Some(line) => {
                let mut line = line.lock().unwrap_or_else(|e| e.into_inner());
                line.clear();
                eprintln!("{text}");
                line.drawn_at = None;
            }
            None => eprintln!("{text}"),
        }
    }

    /// Takes the progress line off the screen.
    pub fn finish(&self) {
        if let Some(line) = &self.line {
            line.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }
}

impl Line {
    fn text(&self, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64();
        // Done so far, by input bytes (by files when the sizes are unknown).
        let (done, total) = match self.bytes {
            0 => (self.files_done as f64, self.files as f64),
            b => (self.bytes_done as f64, b as f64),
        };
        let fraction = if total > 0.0 {
            (done / total).min(1.0)
        } else {
            1.0
        };
        let full = (fraction * BAR as f64).round() as usize;
        let bar = format!("{}{}", "#".repeat(full), "-".repeat(BAR - full));
        let rate = self.pixels_done as f64 / 1e6 / secs.max(1e-9);
        let eta = if done > 0.0 && done < total {
            clock(secs * (total - done) / done)
        } else {
            "-".to_string()
        };
        format!(
            "{} [{bar}] {}/{} files, {rate:.1} MP/s, ETA {eta}",
            self.what, self.files_done, self.files
        )
    }

    fn draw(&mut self, text: &str) {
        let pad = self.drawn.saturating_sub(text.chars().count());
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{text}{}", " ".repeat(pad));
        let _ = err.flush();
        self.drawn = text.chars().count();
    }

    fn clear(&mut self) {
        if self.drawn > 0 {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{}\r", " ".repeat(self.drawn));
            let _ = err.flush();
            self.drawn = 0;
        }
    }
}

/// Seconds as m:ss or h:mm:ss.
fn clock(secs: f64) -> String {
    let s = secs.round().min(1e9) as u64;
    match s / 3600 {
        0 => format!("{}:{:02}", s / 60, s % 60),
        h => format!("{h}:{:02}:{:02}", s / 60 % 60, s % 60),
    }
}

/// What a run over many files did, for its summary line.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    /// Files encoded or decoded by this run.
    pub done: u64,
    /// Outputs already complete from an earlier run, left as they were.
    pub already: u64,
    /// Files that are not images (not looked at).
    pub other: u64,
    /// Files that failed (each reported on its own line).
    pub failed: u64,
    /// Pixels of the pictures coded (decoded: of the outputs).
    pub pixels: u64,
    /// Bytes of the .vc6 streams of the files done.
    pub stream_bytes: u64,
    /// Full-size pixels of those streams (for their bits per pixel).
    pub stream_pixels: u64,
    /// Wall time of the whole run, in seconds.
    pub seconds: f64,
}

impl Summary {
    /// `encoded 120 files (3 already done, 2 other files skipped, 1 failed): 248.3 MP at
    /// 2.41 bpp in 12.8 s (19.4 MP/s)`.
    pub fn encode_line(&self) -> String {
        format!(
            "encoded {} ({} already done, {} skipped, {} failed){}",
            files(self.done),
            self.already,
            match self.other {
                1 => "1 other file".to_string(),
                n => format!("{n} other files"),
            },
            self.failed,
            self.figures()
        )
    }

    /// `decoded 40 files (1 failed): 82.9 MP from 2.41 bpp in 1.3 s (63.8 MP/s)`.
    pub fn decode_line(&self) -> String {
        format!(
            "decoded {} ({} failed){}",
            files(self.done),
            self.failed,
            self.figures()
        )
    }

    /// `: 248.3 MP at 2.41 bpp in 12.8 s (19.4 MP/s)`; with no file done, ` in 0.012 s`.
    fn figures(&self) -> String {
        if self.done == 0 {
            return format!(" in {} s", significant(self.seconds));
        }
        let mp = self.pixels as f64 / 1e6;
        let bpp = match self.stream_pixels {
            0 => 0.0,
            p => self.stream_bytes as f64 * 8.0 / p as f64,
        };
        let rate = mp / self.seconds.max(1e-9);
        format!(
            ": {} MP at {bpp:.2} bpp in {} s ({rate:.1} MP/s)",
            significant(mp),
            significant(self.seconds)
        )
    }
}

fn files(n: u64) -> String {
    match n {
        1 => "1 file".to_string(),
        n => format!("{n} files"),
    }
}

/// One decimal from 10 up, more below (small runs would all read 0.0).
fn significant(x: f64) -> String {
    match x {
        x if x >= 10.0 => format!("{x:.1}"),
        x if x >= 1.0 => format!("{x:.2}"),
        x => format!("{x:.3}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_and_lines() {
        assert_eq!(clock(42.4), "0:42");
        assert_eq!(clock(3725.0), "1:02:05");
        let s = Summary {
            done: 120,
            already: 3,
            other: 1,
            failed: 1,
            pixels: 248_300_000,
            stream_bytes: 74_794_000,
            stream_pixels: 248_300_000,
            seconds: 12.8,
        };
        assert_eq!(
            s.encode_line(),
            "encoded 120 files (3 already done, 1 other file skipped, 1 failed): \
             248.3 MP at 2.41 bpp in 12.8 s (19.4 MP/s)"
        );
        let none = Summary {
            already: 2,
            seconds: 0.0123,
            ..Summary::default()
        };
        assert_eq!(
            none.encode_line(),
            "encoded 0 files (2 already done, 0 other files skipped, 0 failed) in 0.012 s"
        );
        let line = Line {
            what: "encoding",
            files: 4,
            files_done: 1,
            bytes: 400,
            bytes_done: 100,
            pixels_done: 2_000_000,
            drawn_at: None,
            drawn: 0,
        };
        assert_eq!(
            line.text(Duration::from_secs(2)),
            "encoding [#####---------------] 1/4 files, 1.0 MP/s, ETA 0:06"
        );
    }
}
