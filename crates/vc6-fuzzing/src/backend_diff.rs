//! The CPU and OpenCL decodes of the same bytes, call by call: identical frames, or
//! errors of one kind. The checksums are fixed first ([`crate::nocrc`]), so the two
//! backends' tile decoders, where they differ in code, see the mutations.

use crate::{decode, nocrc};
use std::sync::OnceLock;
use vc6::{Backend, Decoder};

fn opencl() -> &'static Decoder {
    static OPENCL: OnceLock<Decoder> = OnceLock::new();
    OPENCL.get_or_init(|| decode::decoder(Backend::OpenCl))
}

/// Runs every entry point on both backends and compares their results.
pub fn check(data: &[u8]) {
    let fixed = nocrc::fix_checksums(data);
    let cpu = decode::outcomes(decode::cpu(), &fixed);
    let gpu = decode::outcomes(opencl(), &fixed);
    assert_eq!(cpu.len(), gpu.len(), "the backends ran different calls");
    for (c, g) in cpu.iter().zip(&gpu) {
        assert_eq!(c.what, g.what);
        assert!(
            decode::same(&c.result, &g.result),
            "{}: the CPU gave {:?}, OpenCL gave {:?}",
            c.what,
            c.result.as_ref().map(|f| (f.width, f.height, f.data.len())),
            g.result.as_ref().map(|f| (f.width, f.height, f.data.len())),
        );
    }
}
