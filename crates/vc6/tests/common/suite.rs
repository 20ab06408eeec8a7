//! The backend suite's comparison: each request runs on every backend that runs here
//! and is checked against the CPU reference, bytes and errors alike.

use super::test_decoders;
use std::panic::{catch_unwind, AssertUnwindSafe};
use vc6::{Backend, Decoder, Error, Frame, Picture};

/// A decode as compared: a description of its shape, and its bytes.
pub type Outcome = Result<(String, Vec<u8>), Error>;

pub fn frame(r: vc6::Result<Frame>) -> Outcome {
    r.map(|f| {
        let shape = format!(
            "{}x{} {} depth {}",
            f.width, f.height, f.format, f.bit_depth
        );
        (shape, f.data)
    })
}

pub fn picture(r: vc6::Result<Picture>) -> Outcome {
    r.map(|p| {
        let shape: Vec<String> = p
            .planes
            .iter()
            .map(|q| format!("{}x{}/{}", q.width, q.height, q.bit_depth))
            .collect();
        let bytes = p
            .planes
            .iter()
            .flat_map(|q| q.samples.iter().flat_map(|s| s.to_le_bytes()))
            .collect();
        (shape.join(" "), bytes)
    })
}

/// Where two byte strings differ: how many bytes, and the first few positions.
pub fn diff(want: &[u8], got: &[u8]) -> String {
    if want.len() != got.len() {
        return format!("{} bytes, CPU {}", got.len(), want.len());
    }
    let at: Vec<usize> = (0..want.len()).filter(|&i| want[i] != got[i]).collect();
    let first: Vec<String> = at
        .iter()
        .take(6)
        .map(|&i| format!("[{i}] cpu {} got {}", want[i], got[i]))
        .collect();
    format!(
        "{} of {} bytes differ: {}",
        at.len(),
        want.len(),
        first.join(", ")
    )
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Runs each request on every backend and compares it with the CPU.
pub struct Suite {
    pub decoders: Vec<(Backend, Decoder)>,
    /// Requests every backend decoded to the CPU's bytes.
    pub oks: usize,
    /// Requests every backend refused.
    pub errs: usize,
    pub mismatches: Vec<String>,
}

impl Suite {
    pub fn new() -> Suite {
        let decoders = test_decoders();
        let names: Vec<String> = decoders
            .iter()
            .map(|(b, d)| format!("{b} ({})", d.device()))
            .collect();
        eprintln!("backends under test: {}", names.join(", "));
        Suite {
            decoders,
            oks: 0,
            errs: 0,
            mismatches: Vec::new(),
        }
    }

    pub fn cpu(&self) -> &Decoder {
        &self.decoders[0].1
    }

    /// Runs `run` on every decoder; any backend that disagrees with the CPU (other
    /// bytes, Ok against Err, another kind of error, or a panic) is recorded. Returns
    /// the CPU's outcome.
    pub fn compare(
        &mut self,
        what: impl Fn() -> String,
        run: impl Fn(&Decoder) -> Outcome,
    ) -> Outcome {
        let guarded =
            |d: &Decoder| catch_unwind(AssertUnwindSafe(|| run(d))).map_err(|p| panic_text(&*p));
        let want = match guarded(self.cpu()) {
            Ok(w) => w,
            Err(p) => {
                self.mismatches
                    .push(format!("{}: cpu panicked: {p}", what()));
                return Err(Error::Parameter(format!("cpu panicked: {p}")));
            }
        };
        let mut agreed = true;
        for (b, dec) in &self.decoders[1..] {
            let problem = match (&want, guarded(dec)) {
                (_, Err(p)) => Some(format!("{b} panicked: {p}")),
                (Ok(w), Ok(Ok(g))) if *w == g => None,
                (Err(w), Ok(Err(g))) if std::mem::discriminant(w) == std::mem::discriminant(&g) => {
                    None
                }
                (Err(w), Ok(Err(g))) => Some(format!("cpu fails with ({w}), {b} with ({g})")),
                (Ok((ws, wb)), Ok(Ok((gs, gb)))) if *ws == gs => {
                    Some(format!("{b} gives other bytes: {}", diff(wb, &gb)))
                }
                (Ok((ws, _)), Ok(Ok((gs, _)))) => Some(format!("{b} gives {gs}, cpu {ws}")),
                (Ok(_), Ok(Err(e))) => Some(format!("cpu decodes, {b} fails: {e}")),
                (Err(e), Ok(Ok(_))) => Some(format!("cpu fails ({e}), {b} decodes")),
            };
            if let Some(p) = problem {
                self.mismatches.push(format!("{}: {p}", what()));
                agreed = false;
            }
        }
        if agreed {
            if want.is_ok() {
                self.oks += 1;
            } else {
                self.errs += 1;
            }
        }
        want
    }

    /// [`Suite::compare`] when the CPU's outcome is not needed.
    pub fn check(&mut self, what: impl Fn() -> String, run: impl Fn(&Decoder) -> Outcome) {
        let _ = self.compare(what, run);
    }

    /// Fails on any disagreement, and unless at least `min_ok` requests decoded and
    /// `min_err` were refused everywhere (so the requests test what they mean to).
    pub fn finish(self, name: &str, min_ok: usize, min_err: usize) {
        eprintln!(
            "{name}: {} requests decoded alike, {} refused by every backend, {} mismatches",
            self.oks,
            self.errs,
            self.mismatches.len()
        );
        assert!(
            self.mismatches.is_empty(),
            "{name}: backends disagree with the CPU in {} requests:\n{}",
            self.mismatches.len(),
            self.mismatches.join("\n")
        );
        assert!(self.oks >= min_ok, "{name}: only {} decodes", self.oks);
        assert!(self.errs >= min_err, "{name}: only {} refusals", self.errs);
    }
}
