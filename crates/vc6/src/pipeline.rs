//! Asynchronous decoding: several frames in flight, submitted now and collected later.
//!
//! An [`AsyncDecoder`] owns `in_flight` worker threads that share one [`Decoder`] (and so
//! one backend). [`AsyncDecoder::submit`] hands a stream to them and returns at once with a
//! [`Pending`] result, unless `in_flight` decodes are already running or waiting for a
//! worker: then it blocks until one finishes (back-pressure, so a fast producer cannot
//! queue unbounded work). Works with every backend; a GPU backend overlaps the host-side
//! planning of one frame with the device work of the others. With the `cuda` feature,
//! [`AsyncDecoder::submit_to_cuda`] and [`AsyncDecoder::submit_batch_to_cuda`] leave the
//! frames in CUDA device memory, through the same slots (never run on a GPU).

use crate::codec::{Decoder, DecoderSettings, Frame, FrameRegion};
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;
use vc6_core::{Error, Result};

/// A unit of work for a worker: runs the decode, frees its slot and delivers its result
/// (never panics).
type Task = Box<dyn FnOnce() + Send>;

/// Decodes on background threads, at most `in_flight` frames at a time.
///
/// ```
/// use vc6::{AsyncDecoder, DecoderSettings, Encoder, EncoderSettings, FrameRegion, PixelFormat};
///
/// let enc = Encoder::new(64, 48, PixelFormat::Gray8, EncoderSettings::default())?;
/// let streams = (0..8u8)
///     .map(|i| enc.encode(&[i; 64 * 48]))
///     .collect::<Result<Vec<_>, _>>()?;
///
/// let decoder = AsyncDecoder::new(DecoderSettings::default(), 3)?;
/// // Submitting blocks only while 3 decodes are unfinished; the rest of the time the
/// // caller goes on with other work.
/// let pending: Vec<_> = streams
///     .into_iter()
///     .map(|s| decoder.submit(s, FrameRegion::default()))
///     .collect();
/// for (i, p) in pending.into_iter().enumerate() {
///     assert_eq!(p.wait()?.data, vec![i as u8; 64 * 48]);
/// }
/// # Ok::<(), vc6::Error>(())
/// ```
///
/// Dropping the `AsyncDecoder` finishes the work already submitted (its [`Pending`]
/// results stay valid) and joins the threads. A dropped [`Pending`] discards its result;
/// its decode still runs. A panic inside a decode becomes an error for that decode only.
#[derive(Debug)]
pub struct AsyncDecoder {
    decoder: Decoder,
    slots: Arc<Slots>,
    queue: Option<Sender<Task>>,
    workers: Vec<JoinHandle<()>>,
}

/// A decode submitted to an [`AsyncDecoder`]: wait for it, or poll it.
#[derive(Debug)]
#[must_use = "dropping a Pending discards the result of its decode"]
pub struct Pending<T = Frame> {
    result: Receiver<Result<T>>,
    ready: Option<Result<T>>,
}

/// Counts unfinished decodes and makes submitters wait for a free slot.
#[derive(Debug)]
struct Slots {
    busy: Mutex<usize>,
    freed: Condvar,
    capacity: usize,
}

impl AsyncDecoder {
    /// A decoder with these settings and `in_flight` worker threads (at least 1), so at
    /// most `in_flight` decodes are unfinished at any time.
    pub fn new(settings: DecoderSettings, in_flight: usize) -> Result<AsyncDecoder> {
        AsyncDecoder::with_decoder(Decoder::new(settings)?, in_flight)
    }

    /// Like [`AsyncDecoder::new`], sharing an existing decoder (and its backend).
    pub fn with_decoder(decoder: Decoder, in_flight: usize) -> Result<AsyncDecoder> {
        if in_flight == 0 {
            return Err(Error::Parameter(
                "an AsyncDecoder needs at least one decode in flight".into(),
            ));
        }
        let slots = Arc::new(Slots {
            busy: Mutex::new(0),
            freed: Condvar::new(),
            capacity: in_flight,
        });
        let (queue, tasks) = mpsc::channel::<Task>();
        let tasks = Arc::new(Mutex::new(tasks));
        let mut pool = AsyncDecoder {
            decoder,
            slots,
            queue: Some(queue),
            workers: Vec::with_capacity(in_flight),
        };
        for i in 0..in_flight {
            let tasks = Arc::clone(&tasks);
            let worker = std::thread::Builder::new()
                .name(format!("vc6-decode-{i}"))
                .spawn(move || work(&tasks))?;
            // On an error here, dropping `pool` joins the workers already started.
            pool.workers.push(worker);
        }
        Ok(pool)
    }

    /// Queues a decode of `region` of `stream` (a whole stream, or a prefix holding the
    /// bytes its LoQ needs). Blocks while `in_flight` decodes are unfinished. Errors of
    /// the decode itself come from [`Pending::wait`].
    ///
    /// `stream` is anything that becomes an `Arc<[u8]>`: a `Vec<u8>` (copied once), or an
    /// `Arc<[u8]>` shared by several submissions without copying.
    pub fn submit(&self, stream: impl Into<Arc<[u8]>>, region: FrameRegion) -> Pending<Frame> {
        let (stream, decoder) = (stream.into(), self.decoder.clone());
        self.execute(move || decoder.decode_region(&stream, region))
    }

    /// Queues many decodes as one [`Decoder::decode_batch`] (a GPU backend's fast path),
    /// taking one slot. Results are in input order; a bad stream fails only its entry.
    pub fn submit_batch<S: Into<Arc<[u8]>>>(
        &self,
        items: Vec<(S, FrameRegion)>,
    ) -> Pending<Vec<Result<Frame>>> {
        let items = shared(items);
        let decoder = self.decoder.clone();
        self.execute(move || Ok(decoder.decode_batch(&borrowed(&items))))
    }

    /// Queues a [`Decoder::decode_to_cuda`] of `region` of `stream`: the frame stays in
    /// CUDA device memory. Takes a slot and blocks as [`AsyncDecoder::submit`] does; the
    /// decode's errors (such as the CUDA backend's refusal where it cannot run) come from
    /// [`Pending::wait`]. **Never run on a GPU**: refused unless `VC6_CUDA_UNTESTED=1`.
    #[cfg(feature = "cuda")]
    pub fn submit_to_cuda(
        &self,
        stream: impl Into<Arc<[u8]>>,
        region: FrameRegion,
    ) -> Pending<crate::cuda::DeviceFrame> {
        let (stream, decoder) = (stream.into(), self.decoder.clone());
        self.execute(move || decoder.decode_to_cuda(&stream, region))
    }

    /// Queues many decodes as one [`Decoder::decode_batch_to_cuda`], taking one slot, as
    /// [`AsyncDecoder::submit_batch`] does. **Never run on a GPU.**
    #[cfg(feature = "cuda")]
    pub fn submit_batch_to_cuda<S: Into<Arc<[u8]>>>(
        &self,
        items: Vec<(S, FrameRegion)>,
    ) -> Pending<Vec<Result<crate::cuda::DeviceFrame>>> {
        let items = shared(items);
        let decoder = self.decoder.clone();
        self.execute(move || Ok(decoder.decode_batch_to_cuda(&borrowed(&items))))
    }

    /// The decoder the workers share.
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// Most decodes unfinished at once (the `in_flight` given to [`AsyncDecoder::new`]).
    pub fn capacity(&self) -> usize {
        self.slots.capacity
    }

    /// Decodes submitted and not yet finished (running or waiting for a worker).
    pub fn in_flight(&self) -> usize {
        *self.slots.lock()
    }

    /// Runs `work` on a worker once a slot is free; a panic in it becomes an error.
    fn execute<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Pending<T> {
        // Capacity 1: the worker's send never blocks, even when nobody waits.
        let (result, receiver) = mpsc::sync_channel(1);
        let slots = Arc::clone(&self.slots);
        let task: Task = Box::new(move || {
            let outcome =
                catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|p| Err(panicked(&*p)));
            // Free the slot first, so that a caller who has the result sees it free.
            slots.release();
            // The Pending may be gone: then the result is simply dropped.
            let _ = result.send(outcome);
        });
        self.slots.acquire();
        let queue = self
            .queue
            .as_ref()
            .expect("the queue lives as long as self");
        if queue.send(task).is_err() {
            // Unreachable while the workers run (they exit only when the queue closes,
            // and a task never panics); the Pending then reports a lost decode.
            self.slots.release();
        }
        Pending {
            result: receiver,
            ready: None,
        }
    }
}

impl Drop for AsyncDecoder {
    fn drop(&mut self) {
        // Closing the queue lets each worker finish what is queued, then exit.
        self.queue = None;
        for worker in self.workers.drain(..) {
            // Tasks catch their panics, so a worker never ends with one.
            let _ = worker.join();
        }
    }
}

/// A batch's streams, owned so that they can travel to a worker.
fn shared<S: Into<Arc<[u8]>>>(items: Vec<(S, FrameRegion)>) -> Vec<(Arc<[u8]>, FrameRegion)> {
    items.into_iter().map(|(s, r)| (s.into(), r)).collect()
}

/// A batch as the decoder's batch calls take it.
fn borrowed(items: &[(Arc<[u8]>, FrameRegion)]) -> Vec<(&[u8], FrameRegion)> {
    items.iter().map(|(s, r)| (&s[..], *r)).collect()
}

/// A worker's loop: take the next task and run it; stop when the queue closes.
fn work(tasks: &Mutex<Receiver<Task>>) {
    loop {
        // The lock is held only while waiting for a task, not while running it.
        let next = tasks.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(task) = next else { return };
        task();
    }
}

impl Slots {
    fn lock(&self) -> std::sync::MutexGuard<'_, usize> {
        self.busy.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until fewer than `capacity` decodes are unfinished, then takes a slot.
    fn acquire(&self) {
        let mut busy = self.lock();
        while *busy >= self.capacity {
            busy = self
                .freed
                .wait(busy)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *busy += 1;
    }

    fn release(&self) {
        *self.lock() -= 1;
        self.freed.notify_one();
    }
}

/// The error a panic inside a decode becomes.
fn panicked(payload: &(dyn Any + Send)) -> Error {
    let msg = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message");
    Error::Device(format!("a decode worker panicked: {msg}"))
}

/// The error of a decode whose result never came (its task was lost).
fn lost() -> Error {
    Error::Device("a decode ended without a result".into())
}

impl<T> Pending<T> {
    /// Blocks until the decode has finished and returns its result.
    pub fn wait(self) -> Result<T> {
        match self.ready {
            Some(r) => r,
            None => self.result.recv().unwrap_or_else(|_| Err(lost())),
        }
    }

    /// Waits at most `timeout`: the result, or `Err(self)` to wait again later.
    pub fn wait_timeout(mut self, timeout: Duration) -> std::result::Result<Result<T>, Self> {
        if let Some(r) = self.ready.take() {
            return Ok(r);
        }
        match self.result.recv_timeout(timeout) {
            Ok(r) => Ok(r),
            Err(RecvTimeoutError::Disconnected) => Ok(Err(lost())),
            Err(RecvTimeoutError::Timeout) => Err(self),
        }
    }

    /// The result if the decode has finished, else `Err(self)` at once.
    pub fn try_wait(mut self) -> std::result::Result<Result<T>, Self> {
        if self.is_ready() {
            Ok(self.ready.take().expect("is_ready keeps the result"))
        } else {
            Err(self)
        }
    }

    /// Whether the decode has finished (then [`Pending::wait`] returns at once).
    pub fn is_ready(&mut self) -> bool {
        if self.ready.is_none() {
            match self.result.try_recv() {
                Ok(r) => self.ready = Some(r),
                Err(TryRecvError::Disconnected) => self.ready = Some(Err(lost())),
                Err(TryRecvError::Empty) => {}
            }
        }
        self.ready.is_some()
    }
}

#[cfg(test)]
mod tests {
    //! The pool's guarantees with tasks the test controls: back-pressure, panics,
    //! dropped results and shutdown. (Decodes on every backend: tests/backends.rs.)
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    /// Waits, failing the test instead of hanging when the result never comes.
    fn within<T>(p: Pending<T>) -> Result<T> {
        p.wait_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no result after 20 s: deadlock"))
    }

    fn pool(in_flight: usize) -> AsyncDecoder {
        let settings = DecoderSettings {
            backend: crate::Backend::Cpu,
            threads: 1,
            ..Default::default()
        };
        AsyncDecoder::new(settings, in_flight).unwrap()
    }

    /// A task that blocks until the returned sender sends (or is dropped).
    fn gated(p: &AsyncDecoder, value: u32) -> (Sender<()>, Pending<u32>) {
        let (open, gate) = mpsc::channel::<()>();
        let pending = p.execute(move || {
            let _ = gate.recv();
            Ok(value)
        });
        (open, pending)
    }

    /// A device decode's outcome, comparable: the frame's size, or the error's variant
    /// and message.
    #[cfg(feature = "cuda")]
    fn device_outcome(
        r: &Result<crate::cuda::DeviceFrame>,
    ) -> std::result::Result<(u32, u32), String> {
        r.as_ref()
            .map(|f| (f.width, f.height))
            .map_err(|e| format!("{e:?}"))
    }

    /// Device submissions give what `Decoder::decode_to_cuda` and `decode_batch_to_cuda`
    /// give, item by item: without a GPU (or without `VC6_CUDA_UNTESTED=1`) the CUDA
    /// backend's refusal, as a result, not a hang or a panic.
    #[cfg(feature = "cuda")]
    #[test]
    fn cuda_submissions_resolve_as_the_synchronous_calls() {
        use crate::{Encoder, EncoderSettings, PixelFormat};
        let enc = Encoder::new(24, 16, PixelFormat::Gray8, EncoderSettings::default()).unwrap();
        let stream: Arc<[u8]> = enc.encode(&[7; 24 * 16]).unwrap().into();
        let p = pool(2);
        let whole = FrameRegion::default();
        let want = p.decoder().decode_to_cuda(&stream, whole);
        if !crate::cuda::driver_present() || !crate::cuda::untested_decode_enabled() {
            assert!(
                want.is_err(),
                "the CUDA decode ran without a driver or its gate"
            );
        }
        let got = within(p.submit_to_cuda(Arc::clone(&stream), whole));
        assert_eq!(device_outcome(&got), device_outcome(&want));

        // A good item, a truncated one, a foreign one, a LoQ: each keeps its own outcome.
        let items: Vec<(Arc<[u8]>, FrameRegion)> = vec![
            (Arc::clone(&stream), whole),
            (stream[..stream.len() - 1].into(), whole),
            (Arc::from(&b"GIF89a not a vc6 stream"[..]), whole),
            (Arc::clone(&stream), FrameRegion::full(1)),
        ];
        let want = p.decoder().decode_batch_to_cuda(&borrowed(&items));
        let got = within(p.submit_batch_to_cuda(items)).unwrap();
        let outcomes = |v: &[Result<_>]| v.iter().map(device_outcome).collect::<Vec<_>>();
        assert_eq!(outcomes(&got), outcomes(&want));
        assert_eq!(got.len(), 4);
        assert!(
            matches!(got[2], Err(Error::NotVc6(_))),
            "{:?}",
            device_outcome(&got[2])
        );
        assert_eq!(p.in_flight(), 0, "a device decode kept its slot");
    }

    /// A device submission waits for a slot like any other.
    #[cfg(feature = "cuda")]
    #[test]
    fn cuda_submissions_block_while_every_slot_is_busy() {
        let p = pool(1);
        let (open, busy) = gated(&p, 1);
        std::thread::scope(|s| {
            let p = &p;
            let submitter =
                s.spawn(move || p.submit_to_cuda(&b"not a stream"[..], FrameRegion::default()));
            std::thread::sleep(Duration::from_millis(100));
            assert!(!submitter.is_finished(), "submit_to_cuda did not block");
            open.send(()).unwrap();
            let refused = within(submitter.join().unwrap());
            assert!(refused.is_err());
        });
        assert_eq!(within(busy).unwrap(), 1);
    }

    #[test]
    fn zero_in_flight_is_a_parameter_error() {
        let e = AsyncDecoder::new(DecoderSettings::default(), 0).unwrap_err();
        assert!(matches!(e, Error::Parameter(_)), "{e}");
    }

    #[test]
    fn submit_blocks_while_every_slot_is_busy() {
        let p = pool(2);
        let (open_a, a) = gated(&p, 1);
        let (open_b, mut b) = gated(&p, 2);
        assert_eq!(p.in_flight(), 2);
        std::thread::scope(|s| {
            let (started, running) = mpsc::channel();
            let p = &p;
            let submitter = s.spawn(move || {
                started.send(()).unwrap();
                p.execute(|| Ok(3u32))
            });
            running.recv().unwrap();
            // The third submission must wait: no slot frees while both gates are shut.
            std::thread::sleep(Duration::from_millis(100));
            assert!(!submitter.is_finished(), "submit did not block");
            assert!(!b.is_ready());
            open_a.send(()).unwrap();
            let c = submitter.join().unwrap();
            assert_eq!(a.wait().unwrap(), 1);
            assert_eq!(within(c).unwrap(), 3);
        });
        assert!(p.in_flight() <= 1);
        drop(open_b); // a closed gate opens too
        assert_eq!(within(b).unwrap(), 2);
    }

    #[test]
    fn try_wait_and_is_ready_poll_without_blocking() {
        let p = pool(1);
        let (open, pending) = gated(&p, 7);
        let pending = pending.try_wait().expect_err("not finished yet");
        open.send(()).unwrap();
        let mut pending = match pending.wait_timeout(Duration::from_millis(1)) {
            Ok(r) => return assert_eq!(r.unwrap(), 7),
            Err(p) => p,
        };
        let t = Instant::now();
        while !pending.is_ready() {
            assert!(t.elapsed() < Duration::from_secs(20), "never became ready");
            std::thread::yield_now();
        }
        assert_eq!(pending.try_wait().expect("finished").unwrap(), 7);
    }

    #[test]
    fn a_panic_fails_only_its_own_decode() {
        let p = pool(1);
        let bad: Pending<u32> = p.execute(|| panic!("boom"));
        let good = p.execute(|| Ok(5u32));
        let e = within(bad).unwrap_err();
        assert!(e.to_string().contains("boom"), "{e}");
        // The single worker survived and the slot came back.
        assert_eq!(within(good).unwrap(), 5);
        for i in 0..4 {
            let _ = p.execute(move || -> Result<u32> { panic!("again {i}") });
        }
        assert_eq!(p.execute(|| Ok(6u32)).wait().unwrap(), 6);
    }

    #[test]
    fn drop_finishes_queued_work_and_dropped_pendings_free_their_slot() {
        let done = Arc::new(AtomicUsize::new(0));
        let p = pool(3);
        let (open, gate) = mpsc::channel::<()>();
        let gated_done = Arc::clone(&done);
        // Dropped at once: the decode still runs, its result is discarded.
        drop(p.execute(move || {
            let _ = gate.recv();
            gated_done.fetch_add(100, Ordering::SeqCst);
            Ok(())
        }));
        let mut kept = Vec::new();
        for i in 0..10 {
            let done = Arc::clone(&done);
            let pending = p.execute(move || {
                std::thread::sleep(Duration::from_millis(5));
                done.fetch_add(1, Ordering::SeqCst);
                Ok(i)
            });
            if i % 2 == 0 {
                kept.push((i, pending));
            }
        }
        let opener = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            open.send(()).unwrap();
        });
        drop(p); // waits for the gated task and everything queued
        assert_eq!(done.load(Ordering::SeqCst), 110);
        opener.join().unwrap();
        for (i, pending) in kept {
            assert_eq!(pending.try_wait().expect("finished").unwrap(), i);
        }
    }
}
