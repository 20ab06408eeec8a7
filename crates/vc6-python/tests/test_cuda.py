"""ImageMemoryType.CUDA_DEVICE: CudaImage, __cuda_array_interface__, DLPack on CUDA, and
the refusals. The CUDA device decode has never run on a GPU; these tests run it against
the stand-in driver crates/vc6-cuda/tests/fake_libcuda.c (FAKE_CUDA=3: two made-up
devices, streams, events and memory that is host memory, kernel launches that do
nothing, so every decoded sample is 0), in a fresh interpreter per scenario because the
driver library is found through LD_LIBRARY_PATH at first use."""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

import vc6rs
from vc6rs import codec
from conftest import ROOT, PF

CUDA = codec.ImageMemoryType.CUDA_DEVICE
CPU = codec.CodecBackendType.CPU
FAKE_SOURCE = ROOT / "crates" / "vc6-cuda" / "tests" / "fake_libcuda.c"

# What every child starts with: streams to decode, the kernel cache primed with a
# stand-in cubin (the fake driver loads any ELF), and the log of driver calls.
PRELUDE = """
import ctypes, gc, os, numpy as np, vc6rs
from vc6rs import codec
PF = codec.PictureFormat
CUDA = codec.ImageMemoryType.CUDA_DEVICE
CPU = codec.CodecBackendType.CPU
LOG = os.environ.get("FAKE_CUDA_LOG")

def encode(fmt, w, h, seed):
    rng = np.random.default_rng(seed)
    shape = (h, w) if fmt.channels == 1 else (h, w, fmt.channels)
    top = 255 if fmt.bytes_per_sample == 1 else 65535
    pic = rng.integers(0, top, shape, dtype=np.uint8 if top == 255 else np.uint16)
    return bytes(codec.EncoderSync(w, h, CPU, fmt).encode(pic).memoryview)

def take_log():
    if not os.path.exists(LOG):
        return []
    with open(LOG) as f:
        lines = f.read().splitlines()
    os.remove(LOG)
    return lines

def prime_cache():
    path = codec.cuda_kernel_cache_path(os.environ["CUDA_BIN_LOC"])
    with open(path, "wb") as f:
        f.write(b"\\x7fELF a cubin, as far as the fake driver can tell")
    return path
"""


@pytest.fixture(scope="module")
def fake_driver(tmp_path_factory):
    """A folder holding the stand-in libcuda.so.1."""
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler (cc) to build the stand-in CUDA driver")
    lib = tmp_path_factory.mktemp("fake-cuda")
    out = subprocess.run([cc, "-shared", "-fPIC", "-o", str(lib / "libcuda.so.1"),
                          str(FAKE_SOURCE)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return lib


def run_child(code, tmp_path, lib=None, untested=True, mode="3"):
    """Runs PRELUDE + `code` in a fresh interpreter with the fake driver in `lib` (None:
    the plain environment) and the CUDA settings of a test; returns its output."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("VC6_CUDA_DEVICE", "CUDA_VISIBLE_DEVICES", "VC6_CUDA_UNTESTED",
                        "CUDA_BIN_LOC", "FAKE_CUDA", "FAKE_CUDA_LOG")}
    cache = tmp_path / "kernels"
    cache.mkdir(exist_ok=True)
    env["CUDA_BIN_LOC"] = str(cache)
    env["FAKE_CUDA_LOG"] = str(tmp_path / "driver.log")
    env["FAKE_CUDA"] = mode
    if lib is not None:
        old = env.get("LD_LIBRARY_PATH")
        env["LD_LIBRARY_PATH"] = str(lib) + (":" + old if old else "")
    if untested:
        env["VC6_CUDA_UNTESTED"] = "1"
    script = PRELUDE + textwrap.dedent(code) + "\nprint('CHILD OK')\n"
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                       text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0 and "CHILD OK" in r.stdout, r.stdout + r.stderr
    return r.stdout


def test_device_images(fake_driver, tmp_path):
    run_child("""
    path = prime_cache()
    assert path.startswith(os.environ["CUDA_BIN_LOC"]) and "sm_80" in path, path
    dec = codec.DecoderSync(0, 0, CPU, None, CUDA)
    assert dec.memory_type == CUDA and dec.backend_name == "cuda"
    assert "Fake A100" in dec.device, dec.device
    host_dec = codec.DecoderSync()
    rgb, y16, rgba16 = encode(PF.RGB_8, 96, 64, 1), encode(PF.Y_16, 40, 24, 2), encode(PF.RGBA_16, 20, 12, 3)
    cases = [(rgb, 0, None, "|u1"), (rgb, 1, None, "|u1"), (rgb, 0, (8, 4, 32, 16), "|u1"),
             (y16, 0, None, "<u2"), (y16, 1, None, "<u2"), (rgba16, 0, None, "<u2")]
    for stream, loq, region, typestr in cases:
        img = dec.decode(stream, loq, region)
        ref = host_dec.decode(stream, loq, region)
        assert type(img).__name__ == "CudaImage" and isinstance(img, codec.CudaImage)
        assert img.memory_type == CUDA and img.loq == loq and img.device_id == 0
        for attr in ("width", "height", "format", "bit_depth", "shape", "dtype", "strides",
                     "ndim", "nbytes"):
            assert getattr(img, attr) == getattr(ref, attr), (attr, getattr(img, attr), getattr(ref, attr))

        cai = img.__cuda_array_interface__
        assert set(cai) == {"shape", "typestr", "descr", "data", "strides", "version", "stream"}
        assert cai["version"] == 3 and cai["stream"] != 0 and cai["strides"] is None
        assert cai["shape"] == ref.shape and cai["typestr"] == typestr
        assert cai["descr"] == [("", typestr)]
        ptr, read_only = cai["data"]
        assert ptr != 0 and read_only is False
        # The fake's device memory is host memory: the frame is all zeros (no kernel ran).
        assert ctypes.string_at(ptr, img.nbytes) == bytes(img.nbytes)

        host = img.cpu()
        assert isinstance(host, codec.DecodedImage) and host.memory_type == codec.ImageMemoryType.CPU
        a = np.asarray(host)
        assert a.shape == np.asarray(ref).shape and a.dtype == np.asarray(ref).dtype
        assert not a.any()
        assert img.tobytes() == bytes(img.nbytes)
        try:
            np.asarray(img)
            raise AssertionError("np.asarray read device memory")
        except TypeError as e:
            assert "CUDA device memory" in str(e) and ".cpu()" in str(e), e
        assert img.__dlpack_device__() == (2, 0)
        img.synchronize()
        assert "CudaImage" in repr(img)

    with open("s.vc6", "wb") as f:
        f.write(rgb)
    img = dec.read("s.vc6", loq=1)
    assert isinstance(img, codec.CudaImage) and img.shape == (32, 48, 3)
    img.save("out.raw")
    assert open("out.raw", "rb").read() == bytes(32 * 48 * 3)
    # write() decodes on the host, with the decoder's own backend: the real pixels.
    assert dec.write(rgb, "w.raw") == 96 * 64 * 3
    assert open("w.raw", "rb").read() == host_dec.decode(rgb).tobytes()
    try:
        codec.DecoderSync(0, 0, CPU, PF.BGR_8, CUDA).decode(rgb)
        raise AssertionError("converted on the device")
    except vc6rs.UnsupportedError as e:
        assert "own pixel format" in str(e), e
    """, tmp_path, fake_driver)


def test_dlpack_streams(fake_driver, tmp_path):
    run_child("""
    prime_cache()
    dec = codec.DecoderSync(0, 0, CPU, None, CUDA)
    img = dec.decode(encode(PF.RGB_8, 96, 64, 1), 1)
    cai = img.__cuda_array_interface__
    ptr, producer = cai["data"][0], cai["stream"]

    class DLTensor(ctypes.Structure):
        _fields_ = [("data", ctypes.c_void_p), ("device_type", ctypes.c_int32),
                    ("device_id", ctypes.c_int32), ("ndim", ctypes.c_int32),
                    ("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16),
                    ("shape", ctypes.POINTER(ctypes.c_int64)),
                    ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]

    class Versioned(ctypes.Structure):
        _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32),
                    ("manager_ctx", ctypes.c_void_p), ("deleter", ctypes.c_void_p),
                    ("flags", ctypes.c_uint64), ("dl_tensor", DLTensor)]

    api = ctypes.pythonapi
    api.PyCapsule_GetName.restype = ctypes.c_char_p
    api.PyCapsule_GetName.argtypes = [ctypes.py_object]
    api.PyCapsule_GetPointer.restype = ctypes.c_void_p
    api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]

    def tensor(cap, versioned=False):
        name = api.PyCapsule_GetName(cap)
        assert name == (b"dltensor_versioned" if versioned else b"dltensor"), name
        at = api.PyCapsule_GetPointer(cap, name)
        if versioned:
            v = Versioned.from_address(at)
            assert (v.major, v.minor, v.flags) == (1, 0, 0)
            return v.dl_tensor
        return DLTensor.from_address(at)

    take_log()
    caps = []
    for stream, waited in [(1, "1"), (2, "2"), (None, "1"), (0x1234, "1234")]:
        cap = img.__dlpack__(stream=stream)
        log = take_log()
        assert any(l.startswith(f"wait stream {waited} event ") for l in log), (stream, log)
        t = tensor(cap)
        assert (t.device_type, t.device_id, t.data) == (2, 0, ptr)
        assert t.ndim == 3 and [t.shape[i] for i in range(3)] == [32, 48, 3]
        assert [t.strides[i] for i in range(3)] == [144, 3, 1]
        assert (t.code, t.bits, t.lanes, t.byte_offset) == (1, 8, 1, 0)
        caps.append(cap)
    # -1: no stream to wait; the host waits instead. (Reading the address orders it on
    # the producer stream itself: cudarc's own bookkeeping.)
    cap = img.__dlpack__(stream=-1, max_version=(1, 0))
    log = take_log()
    waits = [l for l in log if l.startswith("wait stream")]
    assert all(l.startswith(f"wait stream {producer:x} ") for l in waits), log
    t = tensor(cap, versioned=True)
    assert (t.device_type, t.data) == (2, ptr)
    caps.append(cap)
    assert img.__dlpack__(dl_device=(2, 0)) is not None
    take_log()
    for bad, exc in [(dict(stream=0), ValueError), (dict(stream=-2), ValueError),
                     (dict(stream=1 << 70), ValueError),
                     (dict(stream="s"), TypeError), (dict(dl_device=(2, 1)), BufferError),
                     (dict(dl_device=(1, 0)), BufferError), (dict(copy=True), BufferError)]:
        try:
            img.__dlpack__(**bad)
            raise AssertionError(f"{bad} accepted")
        except exc:
            pass
    # The capsules keep the image alive; once all are gone, the producer waits for each
    # consumer stream's work, then frees the frame.
    del img
    gc.collect()
    assert not any(l.startswith("free ") for l in take_log())
    del caps, cap, t
    gc.collect()
    log = take_log()
    free = log.index(f"free {ptr:x}")
    for consumer in ("1", "2", "1234"):
        rec = [i for i, l in enumerate(log) if l.startswith("record event ") and l.endswith(f" stream {consumer}")]
        assert rec and rec[0] < free, (consumer, log)
        event = log[rec[0]].split(" ")[2]
        assert f"wait stream {producer:x} event {event}" in log[rec[0]:free], log
    """, tmp_path, fake_driver)


def test_batch_and_reconfigure(fake_driver, tmp_path):
    run_child("""
    prime_cache()
    rgb, y16 = encode(PF.RGB_8, 96, 64, 1), encode(PF.Y_16, 40, 24, 2)
    dec = codec.DecoderSync()
    assert dec.memory_type == codec.ImageMemoryType.CPU
    dec.reconfigure(0, 0, None, CUDA)
    assert dec.memory_type == CUDA and dec.backend_name == "cuda"
    out = dec.decode_batch([rgb, rgb[:-1], (y16, 1), b"GIF89a" + bytes(100), (rgb, 0, (0, 0, 16, 8))])
    assert len(out) == 5
    assert isinstance(out[0], codec.CudaImage) and out[0].shape == (64, 96, 3)
    assert isinstance(out[1], vc6rs.TruncatedError), out[1]
    assert isinstance(out[2], codec.CudaImage) and out[2].shape == (12, 20) and out[2].loq == 1
    assert out[2].__cuda_array_interface__["typestr"] == "<u2"
    assert isinstance(out[3], vc6rs.NotVc6Error), out[3]
    assert isinstance(out[4], codec.CudaImage) and out[4].shape == (8, 16, 3)
    assert not np.asarray(out[2].cpu()).any()
    # A reconfigure without memory_type keeps it; CPU goes back to host images.
    dec.reconfigure(0, 0)
    assert isinstance(dec.decode(rgb), codec.CudaImage)
    dec.reconfigure(0, 0, None, codec.ImageMemoryType.CPU)
    img = dec.decode(rgb)
    assert isinstance(img, codec.DecodedImage) and np.asarray(img).any()
    assert "CudaImage" in codec.__all__ and "cuda_kernel_cache_path" in codec.__all__
    """, tmp_path, fake_driver)


def test_refusals_with_a_driver(fake_driver, tmp_path):
    run_child("""
    prime_cache()
    # The gate: without VC6_CUDA_UNTESTED=1 the device decode is refused at construction.
    for make in (lambda: codec.DecoderSync(0, 0, CPU, None, CUDA),
                 lambda: codec.DecoderSync().reconfigure(8, 8, None, CUDA)):
        try:
            make()
            raise AssertionError("the gate is open")
        except vc6rs.UnsupportedError as e:
            assert "never run on a GPU" in str(e) and "VC6_CUDA_UNTESTED=1" in str(e), e
    """, tmp_path, fake_driver, untested=False)
    run_child("""
    prime_cache()
    for make, why in ((lambda: codec.EncoderSync(8, 8, CPU, PF.RGB_8, CUDA),
                       "encoding from CUDA device memory is not supported"),
                      (lambda: codec.DecoderAsync(8, 8, CPU, None, CUDA), "DecoderSync"),
                      (lambda: codec.DecoderAsync().reconfigure(8, 8, None, CUDA), "DecoderSync")):
        try:
            make()
            raise AssertionError("accepted")
        except vc6rs.UnsupportedError as e:
            assert why in str(e), e
    # A device the driver does not have: a DeviceError at construction.
    os.environ["VC6_CUDA_DEVICE"] = "7"
    try:
        codec.DecoderSync(0, 0, CPU, None, CUDA)
        raise AssertionError("device 7 opened")
    except vc6rs.DeviceError as e:
        assert "CUDA_DEVICE" in str(e), e
    """, tmp_path, fake_driver)
    # The second device (sm_90) keys its own cache entry.
    out = run_child("""
    os.environ["VC6_CUDA_DEVICE"] = "h100"
    print(codec.cuda_kernel_cache_path("/k"))
    """, tmp_path, fake_driver)
    assert "/k/vc6-cuda-sm_90-" in out


def _cuda_reason():
    for name, _compiled, device, why in vc6rs.backends():
        if name == "cuda":
            return device, why or ""
    return None, ""


def test_without_a_driver():
    _device, why = _cuda_reason()
    if "no NVIDIA driver found" not in why:
        pytest.skip(f"an NVIDIA driver is present here ({why or _device})")
    with pytest.raises(vc6rs.UnsupportedError, match="no NVIDIA driver found"):
        codec.DecoderSync(0, 0, CPU, None, CUDA)
    with pytest.raises(vc6rs.DeviceError, match="no NVIDIA driver found"):
        codec.cuda_kernel_cache_path("/tmp")
    dec = codec.DecoderSync()
    with pytest.raises(vc6rs.UnsupportedError, match="no NVIDIA driver found"):
        dec.reconfigure(8, 8, None, CUDA)
    assert dec.memory_type == codec.ImageMemoryType.CPU
