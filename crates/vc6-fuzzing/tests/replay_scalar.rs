//! Every fuzzing finding again with the SIMD paths off, as on a CPU without AVX2: the
//! scalar twins are the reference, and one of them overflowed where its AVX2 twin wrapped
//! (`roundtrip_kernel_sum_overflow_on_the_scalar_path`). A test binary of its own,
//! because the switch (`vc6_core::simd::force_scalar`) holds for the whole process.

use std::path::Path;
use vc6_fuzzing::{decode, nocrc, roundtrip};

#[test]
fn every_finding_passes_on_the_scalar_path() {
    vc6_core::simd::force_scalar(true);
    assert_eq!(vc6_core::simd::level(), "scalar");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    let mut replayed = 0;
    for (target, check) in [
        ("decode", decode::check as fn(&[u8])),
        ("decode_nocrc", nocrc::check),
        ("roundtrip", roundtrip::check),
    ] {
        let Ok(entries) = std::fs::read_dir(root.join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("readable folder").path();
            eprintln!("{target}: {}", path.display());
            check(&std::fs::read(&path).expect("readable finding"));
            replayed += 1;
        }
    }
    assert!(replayed >= 5, "only {replayed} findings replayed");
}
