"""Decoded images as arrays: no copies, DLPack capsules a consumer can own, the buffer
protocol where the build has it, the YUV layouts."""

import ctypes
import gc
import sys

import numpy as np
import pytest

import vc6rs
from vc6rs import codec
from conftest import PF, picture

CPU = codec.CodecBackendType.CPU


def decoded(fmt=PF.RGB_8, w=40, h=30, **kw):
    pic = picture(fmt, w, h, seed=11)
    stream = codec.EncoderSync(w, h, CPU, fmt).encode(pic)
    return codec.DecoderSync(**kw).decode(stream), pic


def test_array_views_share_the_decoded_memory():
    img, pic = decoded()
    a, b = np.asarray(img), np.asarray(img)
    assert a is not b and np.shares_memory(a, b)
    assert np.shares_memory(a, img.numpy())
    assert np.shares_memory(a, np.frombuffer(img.memoryview, np.uint8))
    assert a.flags.c_contiguous and a.flags.writeable
    assert img.shape == a.shape == (30, 40, 3) and img.dtype == np.uint8
    assert img.strides == a.strides == (120, 3, 1) and img.ndim == 3 and img.nbytes == 3600
    assert img.cpu() is img and img.memory_type == codec.ImageMemoryType.CPU
    # Writes through one view show in the others (one buffer, as with NumPy views).
    a[0, 0, 0] = 255 - a[0, 0, 0]
    assert np.asarray(img)[0, 0, 0] == a[0, 0, 0]


def test_array_protocol_arguments():
    img, pic = decoded()
    assert not np.shares_memory(np.array(img, copy=True), np.asarray(img))
    assert np.array_equal(np.array(img, copy=True), pic)
    as16 = np.asarray(img, dtype=np.uint16)
    assert as16.dtype == np.uint16 and np.array_equal(as16, pic)
    assert np.shares_memory(np.asarray(img, dtype=np.uint8), np.asarray(img))
    with pytest.raises(ValueError):
        img.__array__(dtype=np.float32, copy=False)
    if np.lib.NumpyVersion(np.__version__) >= "2.0.0":
        assert np.shares_memory(np.asarray(img, copy=False), np.asarray(img))


def test_the_array_outlives_the_image_and_decoder():
    img, pic = decoded()
    a = np.asarray(img)
    del img
    gc.collect()
    assert np.array_equal(a, pic)


def test_sixteen_bit_and_grey_shapes():
    img, pic = decoded(PF.RGBA_16)
    assert img.dtype == np.uint16 and img.shape == (30, 40, 4) and img.strides == (320, 8, 2)
    assert np.array_equal(np.asarray(img), pic)
    grey, gpic = decoded(PF.Y_8)
    assert grey.shape == (30, 40) and np.array_equal(np.asarray(grey), gpic)


@pytest.mark.parametrize("fmt", [PF.YUV420_8, PF.YUV422_16, PF.YUV444_8], ids=lambda f: f.name)
def test_planar_layouts_and_planes(fmt):
    img, pic = decoded(fmt, 41, 29)
    a = np.asarray(img)
    assert a.shape == pic.shape
    y, u, v = img.planes()
    assert y.shape == (29, 41)
    if fmt == PF.YUV420_8:
        assert a.ndim == 1 and u.shape == v.shape == (15, 21)
    elif fmt == PF.YUV422_16:
        assert a.ndim == 1 and u.shape == (29, 21) and a.dtype == np.uint16
    else:
        assert a.shape == (3, 29, 41) and u.shape == (29, 41)
        assert np.array_equal(u, a[1])
    assert np.array_equal(np.concatenate([y.ravel(), u.ravel(), v.ravel()]), a.ravel())
    assert all(np.shares_memory(p, a) for p in (y, u, v))
    rgb, _ = decoded()
    with pytest.raises(vc6rs.ParameterError, match="not planar"):
        rgb.planes()


@pytest.mark.parametrize("fmt", [PF.RGB_8, PF.Y_16, PF.YUV420_8], ids=lambda f: f.name)
def test_from_dlpack_shares_memory(fmt):
    img, pic = decoded(fmt)
    assert img.__dlpack_device__() == (1, 0)
    x = np.from_dlpack(img)
    assert x.shape == pic.shape and x.dtype == pic.dtype and np.array_equal(x, pic)
    assert np.shares_memory(x, np.asarray(img))
    del img
    gc.collect()
    assert np.array_equal(x, pic)  # the capsule's owner keeps the memory alive


def test_dlpack_capsules_legacy_and_versioned():
    img, pic = decoded()
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    legacy = img.__dlpack__()
    assert get_name(legacy) == b"dltensor"
    versioned = img.__dlpack__(max_version=(1, 0))
    assert get_name(versioned) == b"dltensor_versioned"
    old = img.__dlpack__(max_version=(0, 8))
    assert get_name(old) == b"dltensor"
    # Capsules nobody consumed free their tensors when dropped (no leak, no crash).
    del legacy, versioned, old
    gc.collect()
    copied = np.from_dlpack(img, copy=True) if np.lib.NumpyVersion(np.__version__) >= "2.1.0" \
        else np.array(img, copy=True)
    assert not np.shares_memory(copied, np.asarray(img)) and np.array_equal(copied, pic)
    with pytest.raises(BufferError):
        img.__dlpack__(dl_device=(2, 0))


def test_dlpack_tensor_layout():
    """Reads the DLManagedTensor a legacy capsule holds, as torch would."""
    img, pic = decoded(PF.RGB_16, 10, 6)

    class DLDevice(ctypes.Structure):
        _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]

    class DLDataType(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]

    class DLTensor(ctypes.Structure):
        _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice), ("ndim", ctypes.c_int32),
                    ("dtype", DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                    ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]

    class DLManagedTensor(ctypes.Structure):
        pass

    DLManagedTensor._fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p),
                                ("deleter", ctypes.CFUNCTYPE(None, ctypes.POINTER(DLManagedTensor)))]
    get_ptr = ctypes.pythonapi.PyCapsule_GetPointer
    get_ptr.restype, get_ptr.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    set_name = ctypes.pythonapi.PyCapsule_SetName
    set_name.restype, set_name.argtypes = ctypes.c_int, [ctypes.py_object, ctypes.c_char_p]

    capsule = img.__dlpack__()
    managed = ctypes.cast(get_ptr(capsule, b"dltensor"), ctypes.POINTER(DLManagedTensor)).contents
    t = managed.dl_tensor
    assert (t.device.device_type, t.device.device_id, t.ndim) == (1, 0, 3)
    assert (t.dtype.code, t.dtype.bits, t.dtype.lanes) == (1, 16, 1)
    assert [t.shape[i] for i in range(3)] == [6, 10, 3]
    assert [t.strides[i] for i in range(3)] == [30, 3, 1]
    assert t.data == np.asarray(img).ctypes.data and t.byte_offset == 0
    # Consume it as a framework does: rename, then call the deleter when done.
    assert set_name(capsule, b"used_dltensor") == 0
    del img
    gc.collect()
    first = np.ctypeslib.as_array(ctypes.cast(t.data, ctypes.POINTER(ctypes.c_uint16)), (6, 10, 3))
    assert np.array_equal(first, pic)  # still alive: the tensor holds the memory
    managed.deleter(ctypes.pointer(managed))
    del capsule
    gc.collect()


def test_buffer_protocol_where_the_build_has_it():
    img, pic = decoded(PF.RGB_16)
    enc = codec.EncoderSync(40, 30, CPU, PF.RGB_16).encode(pic)
    if not vc6rs.BUFFER_PROTOCOL:
        with pytest.raises(TypeError):
            memoryview(img)
        pytest.skip("this build targets the stable ABI of CPython 3.10: no buffer protocol "
                    "on the images (build with --features abi3-py311)")
    m = memoryview(img)
    assert m.shape == (30, 40, 3) and m.format in ("<H", "H") and m.itemsize == 2
    assert np.array_equal(np.asarray(m), pic) and np.shares_memory(np.asarray(m), np.asarray(img))
    assert bytes(memoryview(enc)) == bytes(enc)


def test_encoded_image_memory():
    pic = picture(PF.RGB_8, 40, 30)
    enc = codec.EncoderSync(40, 30, CPU, PF.RGB_8).encode(pic)
    m = enc.memoryview
    assert m.format == "B" and m.ndim == 1 and len(m) == len(enc) == enc.size
    assert bytes(m) == bytes(enc) == enc.tobytes()
    assert np.shares_memory(np.frombuffer(enc.memoryview, np.uint8), np.frombuffer(m, np.uint8))
    refs = sys.getrefcount(enc)
    enc.release()
    assert sys.getrefcount(enc) == refs and bytes(m[:4]) == b"VC6R"
    with pytest.raises(ValueError):
        bytes(enc)
    with pytest.raises(ValueError):
        vc6rs.decode(enc)
