//! `DecodeFuture`: the result of a `DecoderAsync` decode, waited for without the GIL.

use super::*;

/// What a device image needs beside its frame: the stream's own pixel format (or why it
/// has none, raised only if the decode succeeds, as `DecoderSync` does), its LoQ and the
/// device's ordinal.
pub(super) struct DeviceItem {
    pub(super) format: vc6::Result<vc6::PixelFormat>,
    pub(super) loq: u8,
    pub(super) ordinal: usize,
}

/// A decoded frame before it becomes a Python image.
enum Image {
    Host(vc6::Frame, u8),
    Device(vc6::cuda::DeviceFrame, DeviceItem),
}

impl Image {
    fn make(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self {
            Image::Host(frame, loq) => host_image(py, frame, loq),
            Image::Device(frame, item) => {
                let format = item.format.map_err(to_py)?;
                device_image(py, frame, format, item.loq, item.ordinal)
            }
        }
    }
}

/// One item of a finished batch.
enum Entry {
    Image(Image),
    /// Its decode failed.
    Failed(vc6::Error),
    /// It could not be read: the exception object, made at submission.
    Refused(Py<PyAny>),
}

/// A finished decode before it becomes Python objects.
enum Finished {
    One(vc6::Result<Image>),
    Batch(vc6::Result<Vec<Entry>>),
}

/// Waits up to a time (`None`: until the end) for a decode: its outcome, or `None` when
/// it has not finished. A closure, so that host and device decodes share the waiting.
type Waiter = Box<dyn FnMut(Option<Duration>) -> Option<Finished> + Send>;

/// The waiter of `pending`, whose result `finish` turns into the outcome.
fn waiter<T: Send + 'static>(
    pending: vc6::Pending<T>,
    finish: impl FnOnce(vc6::Result<T>) -> Finished + Send + 'static,
) -> Waiter {
    let (mut pending, mut finish) = (Some(pending), Some(finish));
    Box::new(move |left| {
        let p = pending.take()?;
        let result = match left {
            None => p.wait(),
            Some(t) => match p.wait_timeout(t) {
                Ok(r) => r,
                Err(p) => {
                    pending = Some(p);
                    return None;
                }
            },
        };
        finish.take().map(|f| f(result))
    })
}

/// A batch's entries, in input order: the frames of the readable items, made into images
/// with what each slot knows, and the exceptions of the unreadable ones.
fn entries<T, M>(
    frames: Vec<vc6::Result<T>>,
    slots: Vec<Result<M, Py<PyAny>>>,
    image: impl Fn(T, M) -> Image,
) -> Vec<Entry> {
    let mut frames = frames.into_iter();
    slots
        .into_iter()
        .map(|slot| match slot {
            Err(exc) => Entry::Refused(exc),
            Ok(meta) => match frames.next() {
                Some(Ok(frame)) => Entry::Image(image(frame, meta)),
                Some(Err(e)) => Entry::Failed(e),
                None => Entry::Failed(vc6::Error::Device(
                    "a batch decode returned too few results".into(),
                )),
            },
        })
        .collect()
}

enum Slot {
    Waiting(Waiter),
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
    fn waiting(w: Waiter) -> DecodeFuture {
        DecodeFuture {
            slot: Mutex::new(Slot::Waiting(w)),
            done: OnceLock::new(),
        }
    }

    /// A host decode at `loq`: a `DecodedImage`.
    pub(super) fn single(p: vc6::Pending<vc6::Frame>, loq: u8) -> DecodeFuture {
        DecodeFuture::waiting(waiter(p, move |r| {
            Finished::One(r.map(|f| Image::Host(f, loq)))
        }))
    }

    /// A host batch: one slot per item, its LoQ or the exception of an unreadable item.
    pub(super) fn batch(
        p: vc6::Pending<Vec<vc6::Result<vc6::Frame>>>,
        slots: Vec<Result<u8, Py<PyAny>>>,
    ) -> DecodeFuture {
        DecodeFuture::waiting(waiter(p, move |r| {
            Finished::Batch(r.map(|frames| entries(frames, slots, Image::Host)))
        }))
    }

    /// A device decode: a `CudaImage`.
    pub(super) fn device(
        p: vc6::Pending<vc6::cuda::DeviceFrame>,
        item: DeviceItem,
    ) -> DecodeFuture {
        DecodeFuture::waiting(waiter(p, move |r| {
            Finished::One(r.map(|f| Image::Device(f, item)))
        }))
    }

    /// A device batch, its slots as a host batch's.
    pub(super) fn device_batch(
        p: vc6::Pending<Vec<vc6::Result<vc6::cuda::DeviceFrame>>>,
        slots: Vec<Result<DeviceItem, Py<PyAny>>>,
    ) -> DecodeFuture {
        DecodeFuture::waiting(waiter(p, move |r| {
            Finished::Batch(r.map(|frames| entries(frames, slots, Image::Device)))
        }))
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
                let mut waiting = match std::mem::replace(&mut *slot, Slot::Taken) {
                    Slot::Waiting(w) => w,
                    other => {
                        *slot = other;
                        return true;
                    }
                };
                let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
                let (next, ready) = match waiting(left) {
                    Some(finished) => (Slot::Finished(finished), true),
                    None => (Slot::Waiting(waiting), false),
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
                let outcome = outcome(py, f);
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
}

/// The Python object of a finished decode: its image (a list for a batch, with exception
/// objects for the items that failed), or the exception instance.
fn outcome(py: Python<'_>, f: Finished) -> Result<Py<PyAny>, Py<PyAny>> {
    let err = |e: PyErr| e.into_value(py).into_any();
    match f {
        Finished::One(r) => r.map_err(to_py).and_then(|img| img.make(py)).map_err(err),
        Finished::Batch(Err(e)) => Err(err(to_py(e))),
        Finished::Batch(Ok(entries)) => {
            let out = PyList::empty(py);
            for entry in entries {
                let obj = match entry {
                    Entry::Image(img) => img.make(py).unwrap_or_else(err),
                    Entry::Failed(e) => err(to_py(e)),
                    Entry::Refused(exc) => exc,
                };
                out.append(obj).map_err(err)?;
            }
            Ok(out.into_any().unbind())
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
