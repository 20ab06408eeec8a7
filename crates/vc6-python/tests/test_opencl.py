"""The GPU backend type (OpenCL; PoCL on machines without a GPU): the same pixels as the
CPU, and OCL_BIN_LOC / OCL_DEVICE honoured through Python."""

import os

import numpy as np
import pytest

import vc6rs
from vc6rs import codec
from conftest import PF, picture, run_python

GPU, CPU = codec.CodecBackendType.GPU, codec.CodecBackendType.CPU


@pytest.fixture(scope="module")
def gpu(opencl):
    return codec.DecoderSync(0, 0, GPU)


@pytest.mark.parametrize("fmt", [PF.RGB_8, PF.RGBA_16, PF.Y_8, PF.YUV420_8, PF.BGR_8],
                         ids=lambda f: f.name)
def test_gpu_decodes_like_the_cpu(gpu, fmt):
    assert gpu.backend_name == "opencl"
    pic = picture(fmt, 150, 90, seed=13)
    cpu = codec.DecoderSync(0, 0, CPU)
    for quality in (None, 70):
        enc = codec.EncoderSync(150, 90, GPU, fmt)
        if quality is not None:
            enc.set_generic_preset(codec.EncoderGenericPreset.BETTER)
            enc.quality = quality
        stream = bytes(enc.encode(pic))
        out = np.asarray(gpu.decode(stream))
        assert np.array_equal(out, np.asarray(cpu.decode(stream)))
        if quality is None:
            assert np.array_equal(out, pic)
        for loq, region in [(1, None), (0, (10, 6, 32, 20)), (2, (2, 2, 8, 8))]:
            assert np.array_equal(np.asarray(gpu.decode(stream, loq, region)),
                                  np.asarray(cpu.decode(stream, loq, region)))


def test_gpu_batches_and_async(opencl):
    pics = [picture(PF.RGB_8, 64 + 16 * i, 48, seed=i) for i in range(4)]
    streams = [vc6rs.encode(p) for p in pics]
    dec = codec.DecoderSync(0, 0, GPU, PF.RGB_8)
    out = dec.decode_batch(streams + [b"junk", (streams[0], 1)])
    for p, img in zip(pics, out):
        assert np.array_equal(np.asarray(img), p)
    assert isinstance(out[4], vc6rs.NotVc6Error) and out[5].loq == 1
    adec = codec.DecoderAsync(0, 0, GPU, in_flight=3)
    futures = [adec.decode(s) for s in streams]
    for p, f in zip(pics, futures):
        assert np.array_equal(np.asarray(f.result(timeout=120)), p)
    assert vc6rs.decode(streams[0], backend=GPU).shape == (48, 64, 3)
    dlp = np.from_dlpack(dec.decode(streams[1]))
    assert np.array_equal(dlp, pics[1])


CHILD = """
import sys, numpy as np, vc6rs
from vc6rs import codec
pic = (np.arange(90 * 60 * 3) % 253).astype(np.uint8).reshape(60, 90, 3)
dec = codec.DecoderSync(0, 0, codec.CodecBackendType.GPU)
assert np.array_equal(np.asarray(dec.decode(vc6rs.encode(pic))), pic)
print(dec.device)
"""


def test_ocl_bin_loc_caches_kernels(opencl, tmp_path):
    cache = tmp_path / "kernels"
    cache.mkdir()
    first = run_python(["-c", CHILD], env={"OCL_BIN_LOC": str(cache)}, timeout=600)
    assert first.returncode == 0, first.stderr
    cached = sorted(p.name for p in cache.iterdir())
    assert cached, "OCL_BIN_LOC stayed empty"
    again = run_python(["-c", CHILD], env={"OCL_BIN_LOC": str(cache)}, timeout=600)
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in cache.iterdir()) == cached  # reused, not rebuilt


def test_ocl_device_picks_the_device(opencl):
    word = opencl.split()[0].split("-")[0].lower()  # e.g. "pthread" for PoCL
    env = {"OCL_DEVICE": word}
    if os.environ.get("OCL_BIN_LOC"):
        env["OCL_BIN_LOC"] = os.environ["OCL_BIN_LOC"]
    ok = run_python(["-c", CHILD], env=env, timeout=600)
    assert ok.returncode == 0, ok.stderr
    assert word in ok.stdout.lower()
    bad = run_python(["-c", CHILD], env={"OCL_DEVICE": "no-such-device-anywhere"}, timeout=600)
    assert bad.returncode != 0 and "DeviceError" in bad.stderr
