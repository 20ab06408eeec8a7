"""vc6rs: Python bindings of vc6-rs, an open hierarchical image codec after the VC-6
architecture (levels of quality, region and prefix decoding; CPU and OpenCL backends;
CUDA device images, never yet run on a GPU).

- ``vc6rs.codec``: encoders and decoders in the shape of the VC-6 SDK's Python module
  (``EncoderSync``, ``DecoderSync``, ``DecoderAsync``, ``PictureFormat`` ...).
- ``vc6rs.decode(data, loq=0, region=None)`` -> ``numpy.ndarray``
- ``vc6rs.encode(array, quality=None, bpp=None, lossless=None, ...)`` -> ``bytes``
- ``vc6rs.read_image(path)``: a PNG, JPEG or TIFF file as an array.
- Errors: ``Vc6Error`` and its subclasses ``TruncatedError`` (``.needed``),
  ``CorruptError`` (``NotVc6Error``), ``UnsupportedError``, ``LimitsError``,
  ``ParameterError``, ``DeviceError``.

vc6-rs has its own bitstream: it is not compatible with V-Nova's VC-6 SDK.
Every encode and decode releases the GIL; every object is thread-safe.
"""

from __future__ import annotations

import threading as _threading
from typing import Any, Optional, Sequence

import numpy as _np

from . import _vc6rs
from ._vc6rs import (
    BUFFER_PROTOCOL,
    CodecBackendType,
    CorruptError,
    DecodedImage,
    DecodeFuture,
    DecoderAsync,
    DecoderSync,
    DeviceError,
    EncodedImage,
    EncoderGenericPreset,
    EncoderSync,
    ImageMemoryType,
    LimitsError,
    NotVc6Error,
    ParameterError,
    PictureFormat,
    StreamInfo,
    TruncatedError,
    UnsupportedError,
    Vc6Error,
    backends,
    probe,
    read_image,
    required_size,
)
from . import codec

__version__ = _vc6rs.__version__

__all__ = [
    "BUFFER_PROTOCOL",
    "CodecBackendType",
    "CorruptError",
    "DecodedImage",
    "DecodeFuture",
    "DecoderAsync",
    "DecoderSync",
    "DeviceError",
    "EncodedImage",
    "EncoderGenericPreset",
    "EncoderSync",
    "ImageMemoryType",
    "LimitsError",
    "NotVc6Error",
    "ParameterError",
    "PictureFormat",
    "StreamInfo",
    "TruncatedError",
    "UnsupportedError",
    "Vc6Error",
    "backends",
    "codec",
    "decode",
    "encode",
    "format_of",
    "probe",
    "read_image",
    "required_size",
]

_decoders: dict = {}
_decoders_lock = _threading.Lock()


def _decoder(backend: CodecBackendType) -> DecoderSync:
    """One shared decoder per backend (decoders are thread-safe)."""
    with _decoders_lock:
        dec = _decoders.get(backend)
        if dec is None:
            dec = DecoderSync(0, 0, backend)
            _decoders[backend] = dec
        return dec


def decode(
    data: Any,
    loq: int = 0,
    region: Optional[Sequence[int]] = None,
    *,
    backend: CodecBackendType = CodecBackendType.CPU,
) -> _np.ndarray:
    """Decodes a vc6 stream (any bytes-like object) to a NumPy array, without copying the
    pixels: LoQ ``loq`` (the picture halved ``loq`` times), optionally only ``region`` =
    ``(x, y, width, height)`` of that LoQ's grid. ``data`` may be a prefix holding
    ``required_size(data, loq)`` bytes. Shape ``(h, w, c)``, ``(h, w)`` for grey (see
    ``DecodedImage`` for YUV); dtype ``uint8`` or ``uint16``."""
    return _np.asarray(_decoder(backend).decode(data, loq, region))


def format_of(array: Any) -> PictureFormat:
    """The picture format of an array: ``(h, w)`` or ``(h, w, 1)`` grey, ``(h, w, 3)``
    RGB, ``(h, w, 4)`` RGBA; ``uint8`` or ``uint16``."""
    a = _np.asarray(array)
    if a.dtype.kind != "u" or a.dtype.itemsize not in (1, 2):
        raise ParameterError(f"expected uint8 or uint16 samples, got {a.dtype}")
    wide = a.dtype.itemsize == 2
    channels = 1 if a.ndim == 2 else (a.shape[2] if a.ndim == 3 else 0)
    table = {
        1: (PictureFormat.Y_8, PictureFormat.Y_16),
        3: (PictureFormat.RGB_8, PictureFormat.RGB_16),
        4: (PictureFormat.RGBA_8, PictureFormat.RGBA_16),
    }
    if channels not in table:
        raise ParameterError(
            f"cannot tell the picture format of an array of shape {a.shape}: expected "
            "(h, w), (h, w, 1), (h, w, 3) or (h, w, 4)"
        )
    return table[channels][wide]


def encode(
    array: Any,
    quality: Optional[float] = None,
    bpp: Optional[float] = None,
    lossless: Optional[bool] = None,
    *,
    preset: Optional[EncoderGenericPreset] = None,
    format: Optional[PictureFormat] = None,
    bit_depth: Optional[int] = None,
    lossless_alpha: bool = False,
    threads: int = 0,
) -> bytes:
    """Encodes an image array to a vc6 stream (``bytes``): ``(h, w)`` or ``(h, w, 1)``
    grey, ``(h, w, 3)`` RGB, ``(h, w, 4)`` RGBA, ``uint8`` or ``uint16`` (see
    ``format_of``). ``format`` overrides the inferred format with an interleaved one of
    the same shape (``BGR_8`` for an array in B, G, R order); planar YUV frames go through
    ``codec.EncoderSync``.

    Lossless by default; ``quality`` (0 to 100, fractions allowed) or ``bpp`` (bits per
    pixel) make it lossy, with the ``BETTER`` preset unless ``preset`` says otherwise;
    ``lossless=False`` alone is lossy at the preset's quality (80). ``lossless=True`` with
    a quality or a rate is a ``ParameterError``. ``bit_depth`` declares 10 or 12-bit
    samples in ``uint16``; ``lossless_alpha`` codes alpha exactly in a lossy stream;
    ``threads`` is the encode's worker threads (0: every core)."""
    a = _np.asarray(array)
    fmt = format if format is not None else format_of(a)
    if fmt.planar:
        raise ParameterError(f"{fmt.name} frames are planar: encode them with codec.EncoderSync")
    if a.ndim not in (2, 3):
        raise ParameterError(f"expected an image array of 2 or 3 dimensions, got shape {a.shape}")
    height, width = a.shape[0], a.shape[1]
    lossy = quality is not None or bpp is not None
    if lossless and lossy:
        raise ParameterError("lossless=True takes no quality or bpp")
    if lossless is False and not lossy and preset in (None, EncoderGenericPreset.LOSSLESS):
        preset = EncoderGenericPreset.BETTER  # lossy at the preset's quality (80)
    if preset is None:
        preset = EncoderGenericPreset.BETTER if lossy else EncoderGenericPreset.LOSSLESS
    if preset == EncoderGenericPreset.LOSSLESS and lossy:
        raise ParameterError("the LOSSLESS preset takes no quality or bpp")
    enc = EncoderSync(width, height, CodecBackendType.CPU, fmt, threads=threads)
    enc.set_generic_preset(preset)
    if bit_depth is not None:
        enc.bit_depth = bit_depth
    if lossless_alpha:
        enc.lossless_alpha = True
    if quality is not None and bpp is not None:
        raise ParameterError("give a quality or a bpp, not both")
    if quality is not None:
        enc.quality = float(quality)
    if bpp is not None:
        enc.target_bpp = float(bpp)
    encoded = enc.encode(a)
    try:
        return bytes(encoded.memoryview)
    finally:
        encoded.release()
