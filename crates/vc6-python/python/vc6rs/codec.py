"""The codec in the shape of the VC-6 SDK's Python module.

    from vc6rs import codec as vc6codec

    enc = vc6codec.EncoderSync(1920, 1080, vc6codec.CodecBackendType.CPU,
                               vc6codec.PictureFormat.RGB_8, vc6codec.ImageMemoryType.CPU)
    enc.set_generic_preset(vc6codec.EncoderGenericPreset.LOSSLESS)
    encoded = enc.read("in_1920x1080_rgb8.rgb")
    dec = vc6codec.DecoderSync(1920, 1080, vc6codec.CodecBackendType.GPU,
                               vc6codec.PictureFormat.RGB_8, vc6codec.ImageMemoryType.CPU)
    dec.write(encoded.memoryview, "out.rgb")

``CodecBackendType.GPU`` is the OpenCL backend (``OCL_DEVICE`` picks the device,
``OCL_BIN_LOC`` caches compiled kernels). The same names as the SDK's do not make the
streams compatible: vc6-rs has its own bitstream.

``ImageMemoryType.CUDA_DEVICE`` (decoders only) leaves decoded frames in CUDA
device memory. **The CUDA device decode has never run on a GPU** (only against a
stand-in driver that runs the kernels on the CPU), so it is off unless ``VC6_CUDA_UNTESTED=1`` is set:
without it, or without an NVIDIA driver, creating such a decoder raises
``UnsupportedError`` saying which; a device that cannot start raises ``DeviceError``.
With it, ``decode``, ``decode_batch`` and ``read`` return ``CudaImage`` objects
(``DecoderAsync``'s through their ``DecodeFuture``), decoded by the CUDA backend in each
stream's own picture format, whatever ``backend`` says:

- the attributes of ``DecodedImage`` (``shape``, ``dtype``, ``strides``, ``width`` ...),
  with the same shapes;
- ``__cuda_array_interface__`` (version 3; the host waits for the decode first, and
  ``stream`` is the decode's stream, never 0);
- ``__dlpack__(stream=...)`` / ``__dlpack_device__()`` (``(2, device)``): the consumer's
  stream (``None`` or 1: legacy default, 2: per-thread, or a ``CUstream`` handle) waits
  for the decode through an event; -1 makes the host wait; 0 raises ``ValueError``;
- ``.cpu()`` (a host ``DecodedImage``), ``tobytes()`` and ``save(path)`` copy to the host;
  ``numpy.asarray(img)`` raises ``TypeError``.

``CUDA_BIN_LOC`` caches the compiled CUDA kernels (``cuda_kernel_cache_path(folder)``
says which file serves the device ``VC6_CUDA_DEVICE`` picks), ``VC6_CUDA_DEVICE`` picks
the device (an index or part of its name). Encoders take host memory only.
"""

from ._vc6rs import (
    CodecBackendType,
    CudaImage,
    DecodedImage,
    DecodeFuture,
    DecoderAsync,
    DecoderSync,
    EncodedImage,
    EncoderGenericPreset,
    EncoderSync,
    ImageMemoryType,
    PictureFormat,
    StreamInfo,
    backends,
    cuda_kernel_cache_path,
    probe,
    required_size,
)
from ._vc6rs import (
    CorruptError,
    DeviceError,
    LimitsError,
    NotVc6Error,
    ParameterError,
    TruncatedError,
    UnsupportedError,
    Vc6Error,
)

__all__ = [
    "CodecBackendType",
    "CorruptError",
    "CudaImage",
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
    "cuda_kernel_cache_path",
    "probe",
    "required_size",
]
