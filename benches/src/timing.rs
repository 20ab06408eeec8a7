//! In-process timing for the report: several decoders of the same picture timed round by
//! round (each runs once per round, in turn), so that a slow spell of this shared machine
//! falls on all of them alike, and the best and the median of the rounds kept.

use anyhow::Result;
use std::time::{Duration, Instant};

/// The times of one task over its rounds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    /// The fastest round.
    pub best: Duration,
    /// The median round (the mean of the middle two for an even count).
    pub median: Duration,
}

impl Stats {
    /// Best and median of `times` (at least one).
    pub fn from_times(times: &[Duration]) -> Stats {
        assert!(!times.is_empty(), "Stats::from_times: no times");
        let mut t = times.to_vec();
        t.sort();
        let n = t.len();
        let median = if n % 2 == 1 {
            t[n / 2]
        } else {
            (t[n / 2 - 1] + t[n / 2]) / 2
        };
        Stats { best: t[0], median }
    }
}

/// Sums of [`Stats`] over pictures: the best times summed and the medians summed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Total {
    /// Sum of the best times.
    pub best: Duration,
    /// Sum of the median times.
    pub median: Duration,
}

impl Total {
    /// Adds one picture's stats.
    pub fn add(&mut self, s: Stats) {
        self.best += s.best;
        self.median += s.median;
    }

    /// Megapixels per second over `pixels` from the summed best times.
    pub fn mps(&self, pixels: u64) -> f64 {
        mps(pixels, self.best)
    }

    /// Megapixels per second over `pixels` from the summed median times.
    pub fn mps_median(&self, pixels: u64) -> f64 {
        mps(pixels, self.median)
    }

    /// How much slower the median is than the best, in percent: the noise of this run.
    pub fn spread_percent(&self) -> f64 {
        100.0 * (self.median.as_secs_f64() / self.best.as_secs_f64().max(1e-12) - 1.0)
    }

    /// True when nothing was timed.
    pub fn is_empty(&self) -> bool {
        self.best.is_zero()
    }
}

/// Megapixels per second.
pub fn mps(pixels: u64, d: Duration) -> f64 {
    pixels as f64 / 1e6 / d.as_secs_f64().max(1e-12)
}

/// Runs every task once per round, in turn, for `rounds` rounds, and returns each task's
/// [`Stats`]. Warm-up and output checks are the caller's, before this.
pub fn interleaved(
    rounds: usize,
    tasks: &mut [&mut dyn FnMut() -> Result<()>],
) -> Result<Vec<Stats>> {
    let rounds = rounds.max(1);
    let mut times = vec![Vec::with_capacity(rounds); tasks.len()];
    for _ in 0..rounds {
        for (task, t) in tasks.iter_mut().zip(times.iter_mut()) {
            let start = Instant::now();
            task()?;
            t.push(start.elapsed());
        }
    }
    Ok(times.iter().map(|t| Stats::from_times(t)).collect())
}

/// The best of `runs` runs of `f`, and the output of the last one.
pub fn best_of<T>(runs: usize, mut f: impl FnMut() -> Result<T>) -> Result<(Duration, T)> {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let v = f()?;
        best = best.min(t.elapsed());
        out = Some(v);
    }
    Ok((best, out.expect("at least one run")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_best_and_median() {
        let ms = Duration::from_millis;
        assert_eq!(
            Stats::from_times(&[ms(5), ms(3), ms(9)]),
            Stats {
                best: ms(3),
                median: ms(5)
            }
        );
        assert_eq!(
            Stats::from_times(&[ms(4), ms(2), ms(8), ms(6)]).median,
            ms(5)
        );
        let mut t = Total::default();
        t.add(Stats {
            best: ms(10),
            median: ms(12),
        });
        assert!((t.spread_percent() - 20.0).abs() < 1e-9);
        assert!((t.mps(1_000_000) - 100.0).abs() < 1e-9);
    }

    #[test]
    fn interleaved_runs_every_task_every_round() {
        let (mut a, mut b) = (0, 0);
        let stats = interleaved(
            4,
            &mut [
                &mut || {
                    a += 1;
                    Ok(())
                },
                &mut || {
                    b += 1;
                    Ok(())
                },
            ],
        )
        .unwrap();
        assert_eq!((a, b, stats.len()), (4, 4, 2));
        assert!(interleaved(2, &mut [&mut || anyhow::bail!("no")]).is_err());
    }
}
