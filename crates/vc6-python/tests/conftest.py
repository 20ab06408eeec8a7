"""Shared helpers of the vc6rs tests: test pictures in every format, image files written
by hand (PNG, TIFF) or shipped (a tiny JPEG), the vc6 command when it is built, and
whether an OpenCL platform is present."""

import base64
import os
import pathlib
import shutil
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

import vc6rs
from vc6rs import codec

ROOT = pathlib.Path(__file__).resolve().parents[3]
PF = codec.PictureFormat
ALL_FORMATS = [
    PF.RGB_8, PF.RGBA_8, PF.BGR_8, PF.BGRA_8, PF.Y_8, PF.RGB_16, PF.RGBA_16, PF.Y_16,
    PF.YUV420_8, PF.YUV422_8, PF.YUV444_8, PF.YUV420_16, PF.YUV422_16, PF.YUV444_16,
]

# A 24x16 RGB baseline JPEG (made with the image crate's encoder, quality 90).
SMALL_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAgAAAQABAAD/wAARCAAQABgDAREAAhEBAxEB/9sAQwADAgIDAgIDAwMDBAMDBAUIBQUEBAUKBwcGCAwK"
    "DAwLCgsLDQ4SEA0OEQ4LCxAWEBETFBUVFQwPFxgWFBgSFBUU/9sAQwEDBAQFBAUJBQUJFA0LDRQUFBQUFBQUFBQUFBQUFBQU"
    "FBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAA"
    "AgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6"
    "Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXG"
    "x8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREA"
    "AgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5"
    "OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPE"
    "xcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwD4/wBE+F/3f3X6V+2YjN/M+XyjPdtTv9E+"
    "F/3f3X6V85iM38z9ryjPdtT0DRPhf939z+lfNYjN/M/a8oz3bU73RPhf939z+lfO4jN/M/yjyjPdtTv9E+F/3f3P6V85iM38"
    "z9ryjPdtT0DRPhf9391+lfN4jN/M/a8oz3bU/9k="
)


def plane_sizes(fmt, w, h):
    """(width, height) of each plane of a planar format."""
    half = lambda v: (v + 1) // 2  # noqa: E731
    if fmt.name.startswith("YUV420"):
        c = (half(w), half(h))
    elif fmt.name.startswith("YUV422"):
        c = (half(w), h)
    else:
        c = (w, h)
    return [(w, h), c, c]


def picture(fmt, w, h, seed=0, depth=None):
    """A test picture in `fmt`, as the array the codec takes and gives back: (h, w, c)
    interleaved, (h, w) grey, (3, h, w) for YUV444, flat planes for YUV420/422. Smooth
    gradients with noise, so every coding tool has work."""
    rng = np.random.default_rng(seed)
    wide = fmt.bytes_per_sample == 2
    depth = depth or (16 if wide else 8)
    top = (1 << depth) - 1
    dtype = np.uint16 if wide else np.uint8

    def plane(pw, ph, k):
        y, x = np.mgrid[0:ph, 0:pw]
        base = (x * (k + 3) + y * (2 * k + 1)) / max(1, pw + ph) * top * 0.6
        noise = rng.normal(0, top * 0.04, (ph, pw))
        return np.clip(base + noise + top * 0.1 * k, 0, top).astype(dtype)

    if fmt.planar:
        planes = [plane(pw, ph, k) for k, (pw, ph) in enumerate(plane_sizes(fmt, w, h))]
        if fmt.name.startswith("YUV444"):
            return np.stack(planes)
        return np.concatenate([p.ravel() for p in planes])
    if fmt.channels == 1:
        return plane(w, h, 0)
    return np.stack([plane(w, h, k) for k in range(fmt.channels)], axis=2)


def write_png(path, array):
    """A PNG file of an (h, w) or (h, w, 3|4) uint8 array (by hand: zlib and struct)."""
    a = np.asarray(array, dtype=np.uint8)
    h, w = a.shape[:2]
    c = 1 if a.ndim == 2 else a.shape[2]
    colour = {1: 0, 3: 2, 4: 6}[c]
    raw = b"".join(b"\x00" + a[y].tobytes() for y in range(h))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    pathlib.Path(path).write_bytes(png)


def write_tiff(path, array):
    """An uncompressed baseline TIFF of an (h, w, 3) uint8 array (by hand)."""
    a = np.ascontiguousarray(array, dtype=np.uint8)
    h, w, c = a.shape
    assert c == 3
    data = a.tobytes()
    entries = []
    n_entries = 10
    ifd_at = 8
    extra_at = ifd_at + 2 + 12 * n_entries + 4
    bits_at, data_at = extra_at, extra_at + 6

    def entry(tag, kind, count, value):
        if kind == 3 and count == 1:
            return struct.pack("<HHIHH", tag, kind, count, value, 0)
        return struct.pack("<HHII", tag, kind, count, value)

    entries = [
        entry(256, 4, 1, w), entry(257, 4, 1, h), entry(258, 3, 3, bits_at),
        entry(259, 3, 1, 1), entry(262, 3, 1, 2), entry(273, 4, 1, data_at),
        entry(277, 3, 1, 3), entry(278, 4, 1, h), entry(279, 4, 1, len(data)),
        entry(284, 3, 1, 1),
    ]
    tiff = b"II*\x00" + struct.pack("<I", ifd_at) + struct.pack("<H", n_entries)
    tiff += b"".join(entries) + struct.pack("<I", 0) + struct.pack("<HHH", 8, 8, 8) + data
    pathlib.Path(path).write_bytes(tiff)


def find_cli():
    """The vc6 command: $VC6_CLI, else the newest built one in the workspace."""
    env = os.environ.get("VC6_CLI")
    if env:
        return pathlib.Path(env) if pathlib.Path(env).exists() else None
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    found = [p for p in (target / "release" / "vc6", target / "debug" / "vc6") if p.exists()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def opencl_device():
    """The OpenCL device this build would use, or None."""
    for name, compiled, device, _why in vc6rs.backends():
        if name == "opencl" and compiled and device:
            return device
    return None


@pytest.fixture(scope="session")
def cli():
    path = find_cli()
    if path is None:
        pytest.skip("the vc6 command is not built (cargo build -p vc6-cli, or set VC6_CLI)")
    return path


@pytest.fixture(scope="session")
def opencl():
    device = opencl_device()
    if device is None:
        if os.environ.get("VC6_REQUIRE_BACKENDS", "").find("opencl") >= 0:
            pytest.fail("VC6_REQUIRE_BACKENDS=opencl but no OpenCL platform is usable")
        pytest.skip("no OpenCL platform here (install PoCL: pocl-opencl-icd)")
    return device


@pytest.fixture
def rgb_stream():
    """A lossless 96x64 RGB_8 stream and its picture."""
    pic = picture(PF.RGB_8, 96, 64, seed=1)
    enc = codec.EncoderSync(96, 64, codec.CodecBackendType.CPU, PF.RGB_8)
    return bytes(enc.encode(pic).memoryview), pic


def run_python(args, env=None, **kw):
    """Runs this interpreter with `args` in a fresh process (per-process settings such as
    OCL_DEVICE are read once)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, *args], env=full_env, capture_output=True,
                          text=True, **kw)
