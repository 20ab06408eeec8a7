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
    out = subprocess.run([cc, "-shared", "-fPIC", "-pthread", "-o", str(lib / "libcuda.so.1"),
                          "-I", str(ROOT / "shaders" / "host"), "-I", str(ROOT / "shaders" / "common"),
                          str(FAKE_SOURCE), str(FAKE_SOURCE.with_name("fake_kernels.c"))],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return lib


def run_child(code, tmp_path, lib=None, untested=True, mode="3", run_kernels=False):
    """Runs PRELUDE + `code` in a fresh interpreter with the fake driver in `lib` (None:
    the plain environment) and the CUDA settings of a test (`run_kernels`: the fake runs
    the kernels on the CPU, FAKE_CUDA_RUN=1); returns its output."""
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
    env.pop("FAKE_CUDA_RUN", None)
    if run_kernels:
        env["FAKE_CUDA_RUN"] = "1"
    script = PRELUDE + textwrap.dedent(code) + "\nprint('CHILD OK')\n"
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                       text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0 and "CHILD OK" in r.stdout, r.stdout + r.stderr
    return r.stdout


def test_device_images_hold_the_cpu_pixels(fake_driver, tmp_path):
    # The stand-in runs the kernels on the CPU: what a consumer reads through the
    # interfaces is the host decode's image, synchronous and asynchronous, one by one and
    # in batches.
    run_child("""
    prime_cache()
    sync, host_dec = codec.DecoderSync(0, 0, CPU, None, CUDA), codec.DecoderSync()
    adec = codec.DecoderAsync(0, 0, CPU, None, CUDA, in_flight=3)
    rgb, y16, rgba16 = encode(PF.RGB_8, 96, 64, 1), encode(PF.Y_16, 40, 24, 2), encode(PF.RGBA_16, 20, 12, 3)
    enc = codec.EncoderSync(96, 64, CPU, PF.RGB_8)
    enc.set_generic_preset(codec.EncoderGenericPreset.BETTER)
    enc.quality = 40
    lossy = bytes(enc.encode(
        np.random.default_rng(4).integers(0, 255, (64, 96, 3), dtype=np.uint8)).memoryview)
    cases = [(rgb, 0, None), (rgb, 1, None), (rgb, 0, (8, 4, 32, 16)), (y16, 0, None),
             (y16, 1, None), (rgba16, 0, None), (lossy, 0, None), (lossy, 2, None)]
    futures = [adec.decode(s, loq, region) for s, loq, region in cases]
    batch = sync.decode_batch([(s, loq, region) for s, loq, region in cases])
    for (s, loq, region), fut, from_batch in zip(cases, futures, batch):
        ref = np.asarray(host_dec.decode(s, loq, region))
        assert ref.any()
        for img in (sync.decode(s, loq, region), fut.result(timeout=60), from_batch):
            assert isinstance(img, codec.CudaImage)
            got = np.asarray(img.cpu())
            assert got.dtype == ref.dtype and np.array_equal(got, ref), (loq, region)
            cai = img.__cuda_array_interface__
            raw = ctypes.string_at(cai["data"][0], img.nbytes)
            assert raw == ref.tobytes(), (loq, region)
    """, tmp_path, fake_driver, run_kernels=True)


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


# The DecoderAsync tests below run several decodes at once (in_flight=3) on the stand-in
# driver, and read device memory from the main thread only once every decode is done.


def test_async_device_images(fake_driver, tmp_path):
    run_child("""
    prime_cache()
    dec = codec.DecoderAsync(0, 0, CPU, None, CUDA, in_flight=3)
    assert dec.memory_type == CUDA and dec.backend_name == "cuda"
    assert "memory=CUDA_DEVICE" in repr(dec)
    sync, host_dec = codec.DecoderSync(0, 0, CPU, None, CUDA), codec.DecoderSync()
    rgb, y16, rgba16 = encode(PF.RGB_8, 96, 64, 1), encode(PF.Y_16, 40, 24, 2), encode(PF.RGBA_16, 20, 12, 3)
    cases = [(rgb, 0, None, "|u1"), (rgb, 1, None, "|u1"), (rgb, 0, (8, 4, 32, 16), "|u1"),
             (y16, 0, None, "<u2"), (y16, 1, None, "<u2"), (rgba16, 0, None, "<u2")]
    # All submitted before any is collected: more than in_flight, so submitting waits.
    futures = [(dec.decode(stream, loq, region), stream, loq, region, typestr)
               for stream, loq, region, typestr in cases * 2]
    images = [fut.result(timeout=60) for fut, *_ in futures]
    for img, (fut, stream, loq, region, typestr) in zip(images, futures):
        assert fut.done() and fut.exception() is None and fut.result() is img
        ref, same = host_dec.decode(stream, loq, region), sync.decode(stream, loq, region)
        assert type(img) is codec.CudaImage and type(same) is codec.CudaImage
        assert img.memory_type == CUDA and img.loq == loq and img.device_id == 0
        for attr in ("width", "height", "format", "bit_depth", "shape", "dtype", "strides",
                     "ndim", "nbytes"):
            assert getattr(img, attr) == getattr(ref, attr) == getattr(same, attr), attr
        cai = img.__cuda_array_interface__
        assert set(cai) == {"shape", "typestr", "descr", "data", "strides", "version", "stream"}
        assert cai["version"] == 3 and cai["stream"] != 0 and cai["strides"] is None
        assert cai["shape"] == ref.shape and cai["typestr"] == typestr
        ptr, read_only = cai["data"]
        assert ptr != 0 and read_only is False
        # The fake's device memory is host memory: all zeros (no kernel ran).
        assert ctypes.string_at(ptr, img.nbytes) == bytes(img.nbytes)
        assert not np.asarray(img.cpu()).any()
        assert img.__dlpack_device__() == (2, 0)

    with open("s.vc6", "wb") as f:
        f.write(rgb)
    img = dec.read("s.vc6", loq=1).result(timeout=60)
    assert isinstance(img, codec.CudaImage) and img.shape == (32, 48, 3)
    # A decode's error is the future's, as DecoderSync raises it.
    for bad, exc in [(rgb[:-1], vc6rs.TruncatedError), (b"GIF89a" + bytes(100), vc6rs.NotVc6Error)]:
        fut = dec.decode(bad)
        assert isinstance(fut.exception(timeout=60), exc), fut.exception()
        try:
            fut.result()
            raise AssertionError("a bad stream decoded")
        except exc as e:
            try:
                sync.decode(bad)
                raise AssertionError("a bad stream decoded")
            except exc as s:
                assert str(e) == str(s), (e, s)
    try:
        codec.DecoderAsync(0, 0, CPU, PF.BGR_8, CUDA).decode(rgb).result(timeout=60)
        raise AssertionError("converted on the device")
    except vc6rs.UnsupportedError as e:
        assert "own pixel format" in str(e), e
    """, tmp_path, fake_driver)


def test_async_batch_and_reconfigure(fake_driver, tmp_path):
    run_child("""
    prime_cache()
    rgb, y16 = encode(PF.RGB_8, 96, 64, 1), encode(PF.Y_16, 40, 24, 2)
    dec = codec.DecoderAsync(in_flight=3)
    assert dec.memory_type == codec.ImageMemoryType.CPU and dec.backend_name == "cpu"
    dec.reconfigure(0, 0, None, CUDA)
    assert dec.memory_type == CUDA and dec.backend_name == "cuda"
    items = [rgb, rgb[:-1], (y16, 1), b"GIF89a" + bytes(100), (rgb, 0, (0, 0, 16, 8)), 12345]
    out = dec.decode_batch(items).result(timeout=60)
    ref = codec.DecoderSync(0, 0, CPU, None, CUDA).decode_batch(items)
    assert len(out) == 6 and [type(o) for o in out] == [type(r) for r in ref], (out, ref)
    assert isinstance(out[0], codec.CudaImage) and out[0].shape == (64, 96, 3)
    assert (out[0].width, out[0].height, out[0].format) == (96, 64, PF.RGB_8)
    assert isinstance(out[1], vc6rs.TruncatedError), out[1]
    assert isinstance(out[2], codec.CudaImage) and out[2].shape == (12, 20) and out[2].loq == 1
    assert (out[2].width, out[2].height, out[2].format) == (20, 12, PF.Y_16)
    assert out[2].__cuda_array_interface__["typestr"] == "<u2"
    assert isinstance(out[3], vc6rs.NotVc6Error), out[3]
    assert isinstance(out[4], codec.CudaImage) and out[4].shape == (8, 16, 3)
    assert isinstance(out[5], TypeError), out[5]
    for img in (out[0], out[2], out[4]):
        cai = img.__cuda_array_interface__
        assert cai["version"] == 3 and cai["shape"] == img.shape and cai["stream"] != 0
        assert ctypes.string_at(cai["data"][0], img.nbytes) == bytes(img.nbytes)
    # Several batches in flight (more than in_flight), collected afterwards.
    futures = [dec.decode_batch([rgb, (y16, i % 2)]) for i in range(5)]
    batches = [fut.result(timeout=60) for fut in futures]
    for i, (a, b) in enumerate(batches):
        assert isinstance(a, codec.CudaImage) and isinstance(b, codec.CudaImage)
        assert a.shape == (64, 96, 3) and b.loq == i % 2
    assert dec.decode_batch([]).result(timeout=60) == []
    # A reconfigure without memory_type keeps it; CPU goes back to host images.
    dec.reconfigure(0, 0)
    assert isinstance(dec.decode(rgb).result(timeout=60), codec.CudaImage)
    dec.reconfigure(0, 0, None, codec.ImageMemoryType.CPU)
    assert dec.memory_type == codec.ImageMemoryType.CPU and dec.backend_name == "cpu"
    img = dec.decode(rgb).result(timeout=60)
    assert isinstance(img, codec.DecodedImage) and np.asarray(img).any()
    assert isinstance(dec.decode_batch([rgb]).result(timeout=60)[0], codec.DecodedImage)
    """, tmp_path, fake_driver)


def test_refusals_with_a_driver(fake_driver, tmp_path):
    run_child("""
    prime_cache()
    # The gate: without VC6_CUDA_UNTESTED=1 the device decode is refused at construction,
    # in the same words by every decoder.
    said = set()
    adec = codec.DecoderAsync()
    for make in (lambda: codec.DecoderSync(0, 0, CPU, None, CUDA),
                 lambda: codec.DecoderSync().reconfigure(8, 8, None, CUDA),
                 lambda: codec.DecoderAsync(0, 0, CPU, None, CUDA),
                 lambda: codec.DecoderAsync(8, 8, CPU, None, CUDA, in_flight=1),
                 lambda: adec.reconfigure(8, 8, None, CUDA)):
        try:
            make()
            raise AssertionError("the gate is open")
        except vc6rs.UnsupportedError as e:
            assert "never run on a GPU" in str(e) and "VC6_CUDA_UNTESTED=1" in str(e), e
            said.add(str(e))
    assert len(said) == 1, said
    assert adec.memory_type == codec.ImageMemoryType.CPU
    assert isinstance(adec.decode(encode(PF.RGB_8, 8, 8, 1)).result(timeout=60), codec.DecodedImage)
    """, tmp_path, fake_driver, untested=False)
    run_child("""
    prime_cache()
    try:
        codec.EncoderSync(8, 8, CPU, PF.RGB_8, CUDA)
        raise AssertionError("accepted")
    except vc6rs.UnsupportedError as e:
        assert "encoding from CUDA device memory is not supported" in str(e), e
    # A device the driver does not have: a DeviceError at construction, the same from
    # every decoder.
    os.environ["VC6_CUDA_DEVICE"] = "7"
    said = set()
    for make in (lambda: codec.DecoderSync(0, 0, CPU, None, CUDA),
                 lambda: codec.DecoderAsync(0, 0, CPU, None, CUDA),
                 lambda: codec.DecoderAsync().reconfigure(8, 8, None, CUDA)):
        try:
            make()
            raise AssertionError("device 7 opened")
        except vc6rs.DeviceError as e:
            assert "CUDA_DEVICE" in str(e), e
            said.add(str(e))
    assert len(said) == 1, said
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
    with pytest.raises(vc6rs.UnsupportedError, match="no NVIDIA driver found") as sync:
        codec.DecoderSync(0, 0, CPU, None, CUDA)
    with pytest.raises(vc6rs.UnsupportedError) as asynchronous:
        codec.DecoderAsync(0, 0, CPU, None, CUDA)
    assert str(asynchronous.value) == str(sync.value)
    with pytest.raises(vc6rs.DeviceError, match="no NVIDIA driver found"):
        codec.cuda_kernel_cache_path("/tmp")
    for dec in (codec.DecoderSync(), codec.DecoderAsync()):
        with pytest.raises(vc6rs.UnsupportedError) as refused:
            dec.reconfigure(8, 8, None, CUDA)
        assert str(refused.value) == str(sync.value)
        assert dec.memory_type == codec.ImageMemoryType.CPU
