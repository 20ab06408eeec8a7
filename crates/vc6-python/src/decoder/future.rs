//! `DecodeFuture`: the result of a `DecoderAsync` decode, waited for without the GIL.

use super::*;

/// The result of a decode, waited for without the GIL.
enum Waiting {
    One(vc6::Pending<vc6::Frame>, u8),
    Batch(
        vc6::Pending<Vec<vc6::Result<vc6::Frame>>>,
        Vec<Result<u8, Py<PyAny>>>,
    ),
}

/// A finished decode before it becomes Python objects.
enum Finished {
    One(vc6::Result<vc6::Frame>, u8),
    Batch(
        vc6::Result<Vec<vc6::Result<vc6::Frame>>>,
        Vec<Result<u8, Py<PyAny>>>,
    ),
}

enum Slot {
    Waiting(Waiting),
    Finished(Finished),
    /// Taken by a thread that is making the Python objects (`done` is set next).
    Taken,
}

/// A decode in flight (like `concurrent.futures.Future`): `result(timeout=None)` waits for
/// it without the GIL and returns the image (or raises its error); `done()` polls.
#[pyclass(frozen, module = "vc6rs.codec")]
pub struct DecodeFuture {
    slot: Mutex<Slot>,
    /// The outcome as a Python object: the image (or list), or the exception instance.
    done: OnceLock<Result<Py<PyAny>, Py<PyAny>>>,
}

impl DecodeFuture {
    pub(super) fn single(p: vc6::Pending<vc6::Frame>, loq: u8) -> DecodeFuture {
        DecodeFuture {
            slot: Mutex::new(Slot::Waiting(Waiting::One(p, loq))),
            done: OnceLock::new(),
        }
    }

    pub(super) fn batch(
        p: vc6::Pending<Vec<vc6::Result<vc6::Frame>>>,
        slots: Vec<Result<u8, Py<PyAny>>>,
    ) -> DecodeFuture {
        DecodeFuture {
            slot: Mutex::new(Slot::Waiting(Waiting::Batch(p, slots))),
            done: OnceLock::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits (without the GIL) up to `timeout`; true when finished.
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let timeout = match timeout {
            Some(t) if !(t.is_finite() && t >= 0.0) => {
                return Err(param(format!("timeout must be 0 or more seconds, got {t}")))
            }
            t => t.map(Duration::from_secs_f64),
        };
        if self.done.get().is_some() {
            return Ok(true);
        }
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        loop {
            let ready = py.detach(|| {
                let mut slot = self.lock();
                let waiting = match std::mem::replace(&mut *slot, Slot::Taken) {
                    Slot::Waiting(w) => w,
                    other => {
                        *slot = other;
                        return true;
                    }
                };
                let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
                let (next, ready) = match waiting {
                    Waiting::One(p, loq) => match left {
                        None => (Slot::Finished(Finished::One(p.wait(), loq)), true),
                        Some(t) => match p.wait_timeout(t) {
                            Ok(r) => (Slot::Finished(Finished::One(r, loq)), true),
                            Err(p) => (Slot::Waiting(Waiting::One(p, loq)), false),
                        },
                    },
                    Waiting::Batch(p, slots) => match left {
                        None => (Slot::Finished(Finished::Batch(p.wait(), slots)), true),
                        Some(t) => match p.wait_timeout(t) {
                            Ok(r) => (Slot::Finished(Finished::Batch(r, slots)), true),
                            Err(p) => (Slot::Waiting(Waiting::Batch(p, slots)), false),
                        },
                    },
                };
                *slot = next;
                ready
            });
            if !ready {
                return Ok(false);
            }
            // Finished: make the Python objects (once), outside the lock.
            let finished = match std::mem::replace(&mut *self.lock(), Slot::Taken) {
                Slot::Finished(f) => Some(f),
                _ => None,
            };
            if let Some(f) = finished {
                let outcome = self.outcome(py, f);
                let _ = self.done.set(outcome);
                return Ok(true);
            }
            if self.done.get().is_some() {
                return Ok(true);
            }
            // Another thread is making the objects: give it the GIL for a moment.
            py.detach(|| std::thread::sleep(Duration::from_micros(100)));
        }
    }

    fn outcome(&self, py: Python<'_>, f: Finished) -> Result<Py<PyAny>, Py<PyAny>> {
        let err = |e: PyErr| e.into_value(py).into_any();
        match f {
            Finished::One(Ok(frame), loq) => DecodedImage::new(py, frame, loq)
                .and_then(|img| Bound::new(py, img))
                .map(|b| b.into_any().unbind())
                .map_err(err),
            Finished::One(Err(e), _) => Err(err(to_py(e))),
            Finished::Batch(Err(e), _) => Err(err(to_py(e))),
            Finished::Batch(Ok(frames), slots) => {
                let mut frames = frames.into_iter();
                let out = PyList::empty(py);
                for s in slots {
                    let obj = match s {
                        Err(exc) => exc,
                        Ok(loq) => match frames.next() {
                            Some(Ok(frame)) => match DecodedImage::new(py, frame, loq)
                                .and_then(|img| Bound::new(py, img))
                            {
                                Ok(b) => b.into_any().unbind(),
                                Err(e) => err(e),
                            },
                            Some(Err(e)) => err(to_py(e)),
                            None => err(to_py(vc6::Error::Device(
                                "a batch decode returned too few results".into(),
                            ))),
                        },
                    };
                    out.append(obj).map_err(err)?;
                }
                Ok(out.into_any().unbind())
            }
        }
    }
}

#[pymethods]
impl DecodeFuture {
    /// Waits for the decode (at most `timeout` seconds: then `TimeoutError`) and returns
    /// its image (a list for a batch), or raises its error.
    #[pyo3(signature = (timeout=None))]
    fn result(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        if !self.wait(py, timeout)? {
            return Err(PyTimeoutError::new_err("the decode has not finished"));
        }
        match self.done.get().expect("set when finished") {
            Ok(v) => Ok(v.clone_ref(py)),
            Err(e) => Err(PyErr::from_value(e.bind(py).clone())),
        }
    }

    /// Waits like `result` and returns the error instead of raising it (`None` when the
    /// decode succeeded).
    #[pyo3(signature = (timeout=None))]
    fn exception(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Py<PyAny>>> {
        if !self.wait(py, timeout)? {
            return Err(PyTimeoutError::new_err("the decode has not finished"));
        }
        Ok(match self.done.get().expect("set when finished") {
            Ok(_) => None,
            Err(e) => Some(e.clone_ref(py)),
        })
    }

    /// Whether the decode has finished (never blocks).
    fn done(&self, py: Python<'_>) -> PyResult<bool> {
        self.wait(py, Some(0.0))
    }

    fn __repr__(&self) -> String {
        match self.done.get() {
            None => "<DecodeFuture pending>".into(),
            Some(Ok(_)) => "<DecodeFuture finished>".into(),
            Some(Err(_)) => "<DecodeFuture failed>".into(),
        }
    }
}
