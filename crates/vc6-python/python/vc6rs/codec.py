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
``OCL_BIN_LOC`` caches compiled kernels). ``ImageMemoryType.CUDA_DEVICE`` raises
``UnsupportedError``: the CUDA backend is not built yet. The same names as the SDK's do
not make the streams compatible: vc6-rs has its own bitstream.
"""

from ._vc6rs import (
    CodecBackendType,
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
    "probe",
    "required_size",
]
