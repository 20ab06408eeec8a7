//! Every decoding entry point on the same bytes, and what they must agree on.
//!
//! Whatever the bytes, no call panics; a decode that succeeds stays within [`LIMITS`] in
//! memory (when [`crate::peak`] counts allocations); and the entry points agree:
//! `decode_into`, a batch and `AsyncDecoder` give what `decode_region` gives, a prefix of
//! `required_size` bytes decodes its LoQ as the whole stream does, fewer bytes are a
//! truncation, a region is the crop of the whole picture, `probe` tells the size, and
//! `decode_picture` (the planes, for streams of any layout) succeeds where the packed
//! decode does and equals the core crate's `vc6_core::decode`.

use crate::peak;
use std::mem::discriminant;
use std::sync::OnceLock;
use vc6::{
    AsyncDecoder, Backend, Decoder, DecoderSettings, Frame, FrameRegion, Limits, Result, StreamInfo,
};

/// The limits of every fuzzed decode: the default ones, with a working-memory bound small
/// enough that forged sizes reach it within a fuzzer's memory (and its time limit).
pub const LIMITS: Limits = Limits {
    max_width: 65535,
    max_height: 65535,
    max_planes: 255,
    max_samples: 1 << 24,
    max_alloc_bytes: 24 << 20,
};

/// What a decode may allocate beyond [`LIMITS`]: the stream's own parse (section tables
/// and tile offsets, which are bounded by its length) and fixed costs (thread pools,
/// frequency tables, buffers of a tile).
pub fn slack(stream_len: usize) -> usize {
    (2 << 20) + 2 * stream_len
}

/// A one-thread decoder on `backend` under [`LIMITS`] (panics when the backend cannot run
/// here: a fuzz target that silently skips its backend finds nothing).
pub fn decoder(backend: Backend) -> Decoder {
    Decoder::new(DecoderSettings {
        backend,
        threads: 1,
        limits: LIMITS,
        ..DecoderSettings::default()
    })
    .unwrap_or_else(|e| panic!("the {backend} backend cannot run here: {e}"))
}

/// The shared one-thread CPU decoder of the checks.
pub fn cpu() -> &'static Decoder {
    static CPU: OnceLock<Decoder> = OnceLock::new();
    CPU.get_or_init(|| decoder(Backend::Cpu))
}

/// Runs every entry point on the CPU and checks that they agree.
pub fn check(data: &[u8]) {
    outcomes(cpu(), data);
}

/// One entry point's result, named for the report of a mismatch.
#[derive(Debug)]
pub struct Outcome {
    /// The call, e.g. `decode_region(loq 1)`.
    pub what: String,
    /// What it gave.
    pub result: Result<Frame>,
}

/// Runs every entry point of `dec` on `data`, checks that they agree with each other and
/// stay within their memory, and returns their results in a fixed order (so that two
/// backends can be compared call by call).
pub fn outcomes(dec: &Decoder, data: &[u8]) -> Vec<Outcome> {
    let mut out = Vec::new();
    let info = vc6::probe(data);
    let loqs = info.as_ref().map_or(1, |i| i.loqs.len().clamp(1, 3)) as u8;

    let full = bounded(data.len(), 1, || dec.decode(data));
    if let (Ok(info), Ok(f)) = (&info, &full) {
        assert_eq!(
            (f.width, f.height),
            (info.width, info.height),
            "probe and decode disagree on the size"
        );
    }
    check_decode_into(dec, data, &full);
    out.push(named("decode", full));

    for loq in 0..loqs {
        let own = (loq > 0).then(|| {
            bounded(data.len(), 1, || {
                dec.decode_region(data, FrameRegion::full(loq))
            })
        });
        let whole = own.as_ref().unwrap_or(&out[0].result);
        check_prefix(dec, data, loq, whole);
        check_picture(dec, data, loq, whole, info.as_ref().ok());
        let mut parts = Vec::new();
        for region in regions(info.as_ref().ok(), loq) {
            let part = bounded(data.len(), 1, || dec.decode_region(data, region));
            if let (Ok(w), Ok(p)) = (whole, &part) {
                check_crop(w, p, region);
            }
            parts.push(named(&format!("decode_region({region:?})"), part));
        }
        out.extend(parts);
        if let Some(own) = own {
            out.push(named(&format!("decode_region(loq {loq})"), own));
        }
    }

    check_batch(dec, data, &out);
    check_async(dec, data, &out);
    out
}

fn named(what: &str, result: Result<Frame>) -> Outcome {
    Outcome {
        what: what.to_string(),
        result,
    }
}

/// Runs one decode (of `frames` frames at most) and checks the memory it took.
fn bounded<T>(stream_len: usize, frames: usize, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let (result, grown) = peak::measure(f);
    if let (Some(grown), Ok(_)) = (grown, &result) {
        let allowed = frames * (LIMITS.max_alloc_bytes as usize + slack(stream_len));
        assert!(
            grown <= allowed,
            "a decode took {grown} bytes at its peak, over the {} bytes of its limits",
            allowed
        );
    }
    result
}

/// The regions tried at `loq`: a fixed small window and the middle quarter of the LoQ's
/// picture (from `probe`, when it could read the header).
fn regions(info: Option<&StreamInfo>, loq: u8) -> Vec<FrameRegion> {
    let mut r = vec![FrameRegion {
        loq,
        x: 3,
        y: 5,
        width: 17,
        height: 9,
    }];
    if let Some(l) = info.and_then(|i| i.loqs.get(usize::from(loq))) {
        r.push(FrameRegion {
            loq,
            x: l.width / 4,
            y: l.height / 4,
            width: (l.width / 2).max(1),
            height: (l.height / 2).max(1),
        });
    }
    r
}

/// Results that must be the same: equal frames, or errors of one kind.
pub fn same(a: &Result<Frame>, b: &Result<Frame>) -> bool {
    match (a, b) {
        (Ok(x), Ok(y)) => x == y,
        (Err(x), Err(y)) => discriminant(x) == discriminant(y),
        _ => false,
    }
}

fn describe(r: &Result<Frame>) -> String {
    match r {
        Ok(f) => format!("a {}x{} {:?} frame", f.width, f.height, f.format),
        Err(e) => format!("error {e}"),
    }
}

/// `decode_into` a buffer of the frame's length gives the frame; into a wrong-sized one
/// it fails.
fn check_decode_into(dec: &Decoder, data: &[u8], full: &Result<Frame>) {
    match full {
        Ok(f) => {
            let mut buf = vec![0xA5; f.data.len()];
            let got = dec.decode_into(data, FrameRegion::default(), &mut buf);
            assert_eq!(
                got.as_ref().ok(),
                Some(&(f.width, f.height, f.format)),
                "decode_into failed where decode succeeded: {got:?}"
            );
            assert!(buf == f.data, "decode_into wrote other pixels than decode");
            if !f.data.is_empty() {
                let mut short = vec![0u8; f.data.len() - 1];
                assert!(
                    dec.decode_into(data, FrameRegion::default(), &mut short)
                        .is_err(),
                    "decode_into accepted a buffer one byte short"
                );
            }
        }
        Err(_) => {
            let mut buf = vec![0u8; 64];
            assert!(
                dec.decode_into(data, FrameRegion::default(), &mut buf)
                    .is_err(),
                "decode_into succeeded where decode failed"
            );
        }
    }
}

/// `decode_picture` at `loq` (the generic path: planes of any size and depth, which the
/// packed decodes refuse) stays within the limits, gives every plane with plane 0 at the
/// frame's size where the packed decode succeeded, and fails where the packed decode
/// failed on the stream itself (rather than on its layout, refused as unsupported, or on
/// the limits, which the picture's copies count differently).
fn check_picture(
    dec: &Decoder,
    data: &[u8],
    loq: u8,
    whole: &Result<Frame>,
    info: Option<&StreamInfo>,
) {
    let picture = bounded(data.len(), 1, || {
        dec.decode_picture(data, FrameRegion::full(loq))
    });
    match (whole, &picture) {
        (Ok(f), Ok(p)) => {
            let p0 = &p.planes[0];
            assert_eq!(
                (p0.width, p0.height),
                (f.width, f.height),
                "decode_picture and decode disagree on LoQ {loq}'s size"
            );
        }
        (Ok(_), Err(vc6::Error::LimitsExceeded(_))) => {}
        (Ok(_), Err(e)) => panic!("decode_picture failed at LoQ {loq} where decode did not: {e}"),
        (Err(vc6::Error::Unsupported(_) | vc6::Error::LimitsExceeded(_)), _) => {}
        (Err(e), Ok(_)) => {
            panic!("decode_picture succeeded at LoQ {loq} where decode failed: {e}")
        }
        (Err(_), Err(_)) => {}
    }
    if let (Ok(p), Some(info)) = (&picture, info) {
        assert_eq!(
            p.planes.len(),
            info.planes.len(),
            "decode_picture and probe disagree on the plane count"
        );
    }
    // The core crate's own one-shot decode (published API, its own output path) gives the
    // facade's planes, or fails where the facade failed on the stream.
    let core = bounded(data.len(), 1, || {
        vc6_core::decode(
            data,
            &vc6_core::DecodeOptions {
                loq,
                region: None,
                limits: LIMITS,
                threads: 1,
                verify_checksums: true,
            },
        )
    });
    match (&picture, &core) {
        (Ok(a), Ok(b)) => assert!(a == b, "vc6_core::decode and decode_picture differ"),
        (Ok(_), Err(e)) => panic!("vc6_core::decode failed where decode_picture did not: {e}"),
        (Err(vc6::Error::LimitsExceeded(_)), _) | (_, Err(_)) => {}
        (Err(e), Ok(_)) => {
            panic!("vc6_core::decode succeeded where decode_picture failed: {e}")
        }
    }
}

/// The first `required_size(loq)` bytes decode that LoQ as the whole stream does; fewer
/// bytes than that are a truncation that names at least that many.
fn check_prefix(dec: &Decoder, data: &[u8], loq: u8, whole: &Result<Frame>) {
    let Ok(need) = vc6::required_size(data, loq) else {
        return;
    };
    let need = usize::try_from(need).unwrap_or(usize::MAX);
    if need > data.len() {
        if let Ok(f) = whole {
            panic!(
                "LoQ {loq} decoded into a {}x{} frame from {} bytes, required_size says {need}",
                f.width,
                f.height,
                data.len()
            );
        }
        return;
    }
    let prefix = bounded(need, 1, || {
        dec.decode_region(&data[..need], FrameRegion::full(loq))
    });
    if let (Ok(w), Ok(p)) = (whole, &prefix) {
        assert!(
            w == p,
            "LoQ {loq} from its {need}-byte prefix differs from the whole stream's"
        );
    }
    if need > 0 {
        let short = dec.decode_region(&data[..need - 1], FrameRegion::full(loq));
        if let Ok(f) = short {
            panic!(
                "LoQ {loq} decoded into a {}x{} frame from {} bytes, one short of required_size",
                f.width,
                f.height,
                need - 1
            );
        }
    }
}

/// A region is the crop of its LoQ's whole picture (for interleaved formats, whose crop
/// is rows of bytes).
fn check_crop(whole: &Frame, part: &Frame, region: FrameRegion) {
    assert_eq!(
        (part.width, part.height),
        (region.width, region.height),
        "region decode of {region:?} has the wrong size"
    );
    if whole.format != part.format || whole.format.is_planar() {
        return;
    }
    let px = whole.format.bytes_per_sample() * whole.format.plane_count();
    let row = whole.width as usize * px;
    let (x, w) = (region.x as usize * px, region.width as usize * px);
    let crop: Vec<u8> = (region.y..region.y + region.height)
        .flat_map(|y| {
            let start = y as usize * row + x;
            whole.data[start..start + w].iter().copied()
        })
        .collect();
    assert!(
        crop == part.data,
        "region decode of {region:?} differs from the crop of its LoQ"
    );
}

/// A batch of the whole stream, LoQ 1 and the first region gives the same results as
/// the single calls (one bad entry fails only itself).
fn check_batch(dec: &Decoder, data: &[u8], singles: &[Outcome]) {
    let picks = batch_picks(singles);
    let items: Vec<(&[u8], FrameRegion)> = picks.iter().map(|(_, r)| (data, *r)).collect();
    let (results, grown) = peak::measure(|| dec.decode_batch(&items));
    for ((i, region), got) in picks.iter().zip(&results) {
        let want = &singles[*i];
        assert!(
            same(&want.result, got),
            "batch entry {region:?} gave {} where {} gave {}",
            describe(got),
            want.what,
            describe(&want.result)
        );
    }
    if let Some(grown) = grown {
        let allowed = items.len() * (LIMITS.max_alloc_bytes as usize + slack(data.len()));
        assert!(
            grown <= allowed,
            "a batch of {} took {grown} bytes",
            items.len()
        );
    }
}

/// Which single results a batch repeats: the whole picture, LoQ 1 when the stream has
/// one, and the first region.
fn batch_picks(singles: &[Outcome]) -> Vec<(usize, FrameRegion)> {
    let mut picks = vec![(0, FrameRegion::default()), (1, fixed_region(0))];
    if let Some(i) = singles
        .iter()
        .position(|o| o.what == "decode_region(loq 1)")
    {
        picks.push((i, FrameRegion::full(1)));
    }
    picks
}

fn fixed_region(loq: u8) -> FrameRegion {
    regions(None, loq)[0]
}

/// `AsyncDecoder` gives the single call's result for the whole picture.
fn check_async(dec: &Decoder, data: &[u8], singles: &[Outcome]) {
    static POOLS: OnceLock<std::sync::Mutex<Vec<(String, &'static AsyncDecoder)>>> =
        OnceLock::new();
    let key = format!("{} {}", dec.backend_name(), dec.device());
    let pool = {
        let mut pools = POOLS.get_or_init(Default::default).lock().unwrap();
        match pools.iter().find(|(k, _)| *k == key) {
            Some((_, p)) => *p,
            None => {
                let p: &'static AsyncDecoder = Box::leak(Box::new(
                    AsyncDecoder::with_decoder(dec.clone(), 2).expect("async decoder"),
                ));
                pools.push((key, p));
                p
            }
        }
    };
    let got = pool.submit(data.to_vec(), FrameRegion::default()).wait();
    assert!(
        same(&singles[0].result, &got),
        "AsyncDecoder gave {} where decode gave {}",
        describe(&got),
        describe(&singles[0].result)
    );
}
