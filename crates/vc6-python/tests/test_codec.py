"""Encoders and decoders in the SDK's shape: round trips of every picture format, files,
presets and rates, LoQ, region and prefix decodes (against crops and the vc6 command),
batches and asynchronous decodes."""

import subprocess

import numpy as np
import pytest

import vc6rs
from vc6rs import codec
from conftest import ALL_FORMATS, PF, SMALL_JPEG, picture, run_python, write_png, write_tiff

CPU = codec.CodecBackendType.CPU


@pytest.mark.parametrize("fmt", ALL_FORMATS, ids=lambda f: f.name)
@pytest.mark.parametrize("size", [(61, 37), (128, 96)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_lossless_round_trip_of_every_format(fmt, size):
    w, h = size
    pic = picture(fmt, w, h, seed=w)
    enc = codec.EncoderSync(w, h, CPU, fmt, codec.ImageMemoryType.CPU)
    enc.set_generic_preset(codec.EncoderGenericPreset.LOSSLESS)
    encoded = enc.encode(pic)
    assert (encoded.width, encoded.height, encoded.format) == (w, h, fmt)
    info = vc6rs.probe(encoded)
    assert (info.width, info.height, info.format, info.lossless) == (w, h, fmt, True)

    dec = codec.DecoderSync(w, h, CPU, fmt, codec.ImageMemoryType.CPU)
    img = dec.decode(encoded.memoryview)
    assert (img.width, img.height, img.format, img.loq) == (w, h, fmt, 0)
    out = np.asarray(img)
    assert out.shape == pic.shape and out.dtype == pic.dtype
    assert img.shape == pic.shape and img.dtype == pic.dtype
    assert np.array_equal(out, pic)
    # The raw bytes too (16-bit samples little-endian), and the stream's own format.
    assert img.tobytes() == pic.astype(pic.dtype.newbyteorder("<")).tobytes()
    assert np.array_equal(np.asarray(codec.DecoderSync().decode(bytes(encoded))), pic)


def test_sixteen_bit_containers_keep_ten_bit_samples():
    pic = picture(PF.RGB_16, 50, 30, depth=10)
    enc = codec.EncoderSync(50, 30, CPU, PF.RGB_16)
    enc.bit_depth = 10
    img = codec.DecoderSync().decode(enc.encode(pic))
    assert img.bit_depth == 10 and int(np.asarray(img).max()) < 1024
    assert np.array_equal(np.asarray(img), pic)
    with pytest.raises(vc6rs.ParameterError, match="does not fit in 10 bits"):
        enc.encode(pic | 0x400)


def test_arrays_of_any_byte_order_and_layout_encode_alike():
    pic = picture(PF.RGB_16, 40, 24, seed=3)
    enc = codec.EncoderSync(40, 24, CPU, PF.RGB_16)
    a = bytes(enc.encode(pic).memoryview)
    assert bytes(enc.encode(pic.astype(">u2")).memoryview) == a
    assert bytes(enc.encode(np.asfortranarray(pic)).memoryview) == a
    assert bytes(enc.encode(pic.astype("<u2").tobytes()).memoryview) == a
    assert bytes(enc.encode(bytearray(pic.astype("<u2").tobytes())).memoryview) == a
    assert bytes(enc.encode(memoryview(pic.astype("<u2").tobytes())).memoryview) == a


def test_output_format_conversion():
    pic = picture(PF.RGBA_8, 32, 20, seed=4)
    enc = codec.EncoderSync(32, 20, CPU, PF.RGBA_8)
    stream = enc.encode(pic)
    bgra = np.asarray(codec.DecoderSync(32, 20, CPU, PF.BGRA_8).decode(stream))
    assert np.array_equal(bgra, pic[:, :, [2, 1, 0, 3]])
    rgb = np.asarray(codec.DecoderSync(32, 20, CPU, PF.RGB_8).decode(stream))
    assert np.array_equal(rgb, pic[:, :, :3])


def test_sdk_example_raw_files(tmp_path):
    """The SDK README's flow: a raw 1920x1080 RGB_8 file encoded losslessly, decoded back
    into a raw file."""
    pic = picture(PF.RGB_8, 1920, 1080, seed=5)
    raw = tmp_path / "in_1920x1080_rgb8.rgb"
    raw.write_bytes(pic.tobytes())
    enc = codec.EncoderSync(1920, 1080, CPU, PF.RGB_8, codec.ImageMemoryType.CPU)
    enc.set_generic_preset(codec.EncoderGenericPreset.LOSSLESS)
    encoded = enc.read(str(raw))
    dec = codec.DecoderSync(1920, 1080, CPU, PF.RGB_8, codec.ImageMemoryType.CPU)
    written = dec.write(encoded.memoryview, tmp_path / "out.rgb")
    assert written == pic.nbytes
    assert (tmp_path / "out.rgb").read_bytes() == raw.read_bytes()
    view = encoded.memoryview
    encoded.release()
    assert encoded.released and bytes(view[:4]) == b"VC6R"  # views stay valid
    with pytest.raises(ValueError, match="released"):
        encoded.memoryview
    encoded.release()  # twice is fine

    encoded_file = tmp_path / "in.vc6"
    assert enc.write(pic, encoded_file) == encoded_file.stat().st_size
    img = dec.read(encoded_file)
    assert np.array_equal(np.asarray(img), pic)
    img.save(tmp_path / "again.rgb")
    assert (tmp_path / "again.rgb").read_bytes() == raw.read_bytes()


def test_encoder_reads_image_files_at_their_own_size(tmp_path):
    enc = codec.EncoderSync(8, 8, CPU, PF.RGB_8)  # the size of raw frames only
    pic = picture(PF.RGB_8, 45, 30, seed=6)
    write_png(tmp_path / "a.png", pic)
    write_tiff(tmp_path / "a.tif", pic)
    grey = picture(PF.Y_8, 20, 10)
    write_png(tmp_path / "g.png", grey)
    for name in ("a.png", "a.tif"):
        encoded = enc.read(tmp_path / name)
        assert (encoded.width, encoded.height, encoded.format) == (45, 30, PF.RGB_8)
        assert np.array_equal(vc6rs.decode(encoded), pic)
    assert np.array_equal(vc6rs.decode(enc.read(tmp_path / "g.png")), grey)
    # No telling extension: the first bytes say PNG.
    (tmp_path / "noext").write_bytes((tmp_path / "a.png").read_bytes())
    assert np.array_equal(vc6rs.decode(enc.read(tmp_path / "noext")), pic)
    (tmp_path / "s.jpg").write_bytes(SMALL_JPEG)
    jpeg = vc6rs.read_image(tmp_path / "s.jpg")
    assert jpeg.shape == (16, 24, 3) and jpeg.dtype == np.uint8
    assert np.array_equal(vc6rs.decode(enc.read(tmp_path / "s.jpg")), jpeg)
    assert np.array_equal(vc6rs.read_image(tmp_path / "a.png"), pic)


def test_presets_quality_and_rate():
    pic = picture(PF.RGB_8, 128, 96, seed=7)
    enc = codec.EncoderSync(128, 96, CPU, PF.RGB_8)
    assert enc.preset == codec.EncoderGenericPreset.LOSSLESS and enc.quality is None
    lossless = len(enc.encode(pic))
    with pytest.raises(vc6rs.ParameterError, match="lossy preset"):
        enc.quality = 50
    enc.set_generic_preset(codec.EncoderGenericPreset.BETTER)
    assert enc.quality == 80
    sizes = {}
    for q in (30, 62.5, 90):
        enc.quality = q
        assert enc.quality == q
        data = enc.encode(pic)
        assert not vc6rs.probe(data).lossless
        sizes[q] = len(data)
        err = np.abs(vc6rs.decode(data).astype(int) - pic).mean()
        assert err < 12, (q, err)
    assert sizes[30] < sizes[62.5] < sizes[90] < lossless
    enc.target_bpp = 1.5
    assert enc.quality is None and enc.target_bpp == 1.5
    bpp = len(enc.encode(pic)) * 8 / (128 * 96)
    assert abs(bpp - 1.5) < 0.1, bpp
    with pytest.raises(vc6rs.ParameterError):
        enc.quality = 101
    enc.set_generic_preset(codec.EncoderGenericPreset.LIGHT)
    assert len(enc.encode(pic)) < lossless
    # The convenience layer.
    assert vc6rs.probe(vc6rs.encode(pic)).lossless
    assert not vc6rs.probe(vc6rs.encode(pic, quality=70.5)).lossless
    assert not vc6rs.probe(vc6rs.encode(pic, lossless=False)).lossless
    assert abs(len(vc6rs.encode(pic, bpp=2.0)) * 8 / (128 * 96) - 2.0) < 0.1
    with pytest.raises(vc6rs.ParameterError):
        vc6rs.encode(pic, quality=50, lossless=True)
    rgba = picture(PF.RGBA_8, 64, 48)
    exact_alpha = vc6rs.decode(vc6rs.encode(rgba, quality=40, lossless_alpha=True))
    assert np.array_equal(exact_alpha[:, :, 3], rgba[:, :, 3])


def test_convenience_formats_from_arrays():
    for fmt in (PF.Y_8, PF.Y_16, PF.RGB_8, PF.RGB_16, PF.RGBA_8, PF.RGBA_16):
        pic = picture(fmt, 33, 17)
        assert vc6rs.format_of(pic) == fmt
        out = vc6rs.decode(vc6rs.encode(pic))
        assert out.dtype == pic.dtype and np.array_equal(out, pic)
    assert vc6rs.format_of(np.zeros((4, 4, 1), np.uint8)) == PF.Y_8
    with pytest.raises(vc6rs.ParameterError):
        vc6rs.format_of(np.zeros((4, 4), np.float32))
    with pytest.raises(vc6rs.ParameterError):
        vc6rs.format_of(np.zeros((4, 4, 2), np.uint8))
    rgb = picture(PF.RGB_8, 20, 12)
    as_bgr = vc6rs.encode(rgb, format=PF.BGR_8)
    assert vc6rs.probe(as_bgr).format == PF.BGR_8
    assert np.array_equal(vc6rs.decode(as_bgr), rgb)  # the stream's own format: as given
    with pytest.raises(vc6rs.ParameterError, match="planar"):
        vc6rs.encode(rgb, format=PF.YUV444_8)
    # Streams from any buffer, contiguous or not.
    stream = vc6rs.encode(rgb)
    doubled = bytes(b for byte in stream for b in (byte, 0))
    assert np.array_equal(vc6rs.decode(memoryview(doubled)[::2]), rgb)
    assert np.array_equal(vc6rs.decode(np.frombuffer(doubled, np.uint8)[::2]), rgb)


def test_module_lists_backends():
    r = run_python(["-m", "vc6rs"], timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("cpu") and "opencl" in r.stdout


def test_reconfigure():
    enc = codec.EncoderSync(16, 16, CPU, PF.Y_8)
    enc.reconfigure(20, 10, PF.RGB_8)
    assert (enc.width, enc.height, enc.picture_format, enc.frame_size) == (20, 10, PF.RGB_8, 600)
    stream = enc.encode(picture(PF.RGB_8, 20, 10))
    dec = codec.DecoderSync(8, 8, CPU, PF.RGB_8)
    with pytest.raises(vc6rs.LimitsError):
        dec.decode(stream)
    dec.reconfigure(20, 10, PF.BGR_8)
    assert (dec.max_width, dec.max_height, dec.picture_format) == (20, 10, PF.BGR_8)
    assert dec.decode(stream).format == PF.BGR_8
    with pytest.raises(vc6rs.ParameterError):
        enc.reconfigure(0, 10)
    assert enc.width == 20  # unchanged after a refused change


def crop(a, x, y, w, h):
    return a[y:y + h, x:x + w]


@pytest.mark.parametrize("fmt", [PF.RGB_8, PF.Y_16, PF.RGBA_8], ids=lambda f: f.name)
def test_loq_region_and_prefix_decodes_agree(fmt):
    w, h = 200, 150
    pic = picture(fmt, w, h, seed=8)
    enc = codec.EncoderSync(w, h, CPU, fmt)
    enc.set_generic_preset(codec.EncoderGenericPreset.BETTER)
    enc.quality = 75
    stream = bytes(enc.encode(pic).memoryview)
    dec = codec.DecoderSync(w, h, CPU)
    info = vc6rs.probe(stream[:1024])
    for loq, (lw, lh, need) in enumerate(info.loqs):
        full = np.asarray(dec.decode(stream, loq))
        assert full.shape[:2] == (lh, lw) == (-(-h // 2 ** loq), -(-w // 2 ** loq))
        assert vc6rs.required_size(stream[:1024], loq) == need
        prefix = np.asarray(dec.decode(stream[:need], loq))
        assert np.array_equal(prefix, full)
        if loq == 0:
            assert need == len(stream)
        else:
            assert need < len(stream)
        for (x, y, rw, rh) in [(0, 0, lw, lh), (3, 5, 17, 9), (lw - 7, lh - 4, 7, 4)]:
            if rw <= 0 or rh <= 0 or x < 0 or y < 0 or x + rw > lw or y + rh > lh:
                continue
            region = dec.decode(stream[:need], loq=loq, region=(x, y, rw, rh))
            assert (region.width, region.height, region.loq) == (rw, rh, loq)
            assert np.array_equal(np.asarray(region), crop(full, x, y, rw, rh))
    # The convenience layer and a decoder agree.
    assert np.array_equal(vc6rs.decode(stream, 1, (2, 2, 10, 10)),
                          crop(np.asarray(dec.decode(stream, 1)), 2, 2, 10, 10))


def test_decodes_match_the_vc6_command(cli, tmp_path):
    pic = picture(PF.RGB_8, 150, 100, seed=9)
    write_png(tmp_path / "in.png", pic)
    subprocess.run([str(cli), "encode", str(tmp_path / "in.png"), "-o",
                    str(tmp_path / "cli.vc6"), "-q", "70"], check=True, capture_output=True)
    stream = (tmp_path / "cli.vc6").read_bytes()
    for args, loq, region in [([], 0, None), (["--loq", "2"], 2, None),
                              (["--region", "10,20,64,32"], 0, (10, 20, 64, 32)),
                              (["--loq", "1", "--region", "5,5,30,20"], 1, (5, 5, 30, 20))]:
        out = tmp_path / "out.rgb"
        subprocess.run([str(cli), "decode", str(tmp_path / "cli.vc6"), "-o", str(out), *args],
                       check=True, capture_output=True)
        ours = vc6rs.decode(stream, loq, region)
        assert ours.tobytes() == out.read_bytes(), args
    # And the command decodes what Python encodes.
    (tmp_path / "py.vc6").write_bytes(vc6rs.encode(pic, quality=70))
    subprocess.run([str(cli), "decode", str(tmp_path / "py.vc6"), "-o",
                    str(tmp_path / "py.rgb")], check=True, capture_output=True)
    assert (tmp_path / "py.rgb").read_bytes() == vc6rs.decode(
        (tmp_path / "py.vc6").read_bytes()).tobytes()


def test_decode_batch_with_bad_entries(rgb_stream):
    stream, pic = rgb_stream
    dec = codec.DecoderSync(96, 64, CPU)
    damaged = bytearray(stream)
    damaged[len(damaged) // 2] ^= 0x55
    items = [stream, b"not a stream", None, stream[:50], bytes(damaged), (stream, 1),
             (stream, 0, (4, 4, 8, 8)), np.frombuffer(stream, np.uint8), (stream, 99),
             (stream, 0, (90, 60, 10, 10))]
    out = dec.decode_batch(items)
    assert len(out) == len(items)
    assert np.array_equal(np.asarray(out[0]), pic)
    assert isinstance(out[1], vc6rs.NotVc6Error)
    assert isinstance(out[2], TypeError)
    assert isinstance(out[3], vc6rs.TruncatedError) and out[3].needed > 50
    assert isinstance(out[4], vc6rs.CorruptError)
    assert out[5].shape == (32, 48, 3) and out[5].loq == 1
    assert np.array_equal(np.asarray(out[6]), pic[4:12, 4:12])
    assert np.array_equal(np.asarray(out[7]), pic)
    assert isinstance(out[8], vc6rs.Vc6Error)
    assert isinstance(out[9], vc6rs.ParameterError)
    # Batch-wide loq and region; an empty batch.
    thumbs = dec.decode_batch([stream, stream], loq=2, region=(0, 0, 8, 8))
    assert [t.shape for t in thumbs] == [(8, 8, 3)] * 2
    assert dec.decode_batch([]) == []
    # A generator works too.
    assert len(dec.decode_batch(s for s in [stream, stream])) == 2


def test_async_decoding(rgb_stream, tmp_path):
    stream, pic = rgb_stream
    dec = codec.DecoderAsync(96, 64, CPU, None, codec.ImageMemoryType.CPU, in_flight=2)
    futures = [dec.decode(stream, loq=i % 3) for i in range(12)]
    for i, f in enumerate(futures):
        img = f.result(timeout=60)
        assert f.done() and f.exception() is None
        assert img.loq == i % 3
        if i % 3 == 0:
            assert np.array_equal(np.asarray(img), pic)
        assert f.result() is img  # the same object every time
    bad = dec.decode(stream[:100])
    with pytest.raises(vc6rs.TruncatedError):
        bad.result()
    assert isinstance(bad.exception(), vc6rs.TruncatedError)
    (tmp_path / "a.vc6").write_bytes(stream)
    assert np.array_equal(np.asarray(dec.read(tmp_path / "a.vc6").result()), pic)
    with pytest.raises(FileNotFoundError):
        dec.read(tmp_path / "missing.vc6")
    batch = dec.decode_batch([stream, b"junk", (stream, 1)]).result()
    assert np.array_equal(np.asarray(batch[0]), pic)
    assert isinstance(batch[1], vc6rs.NotVc6Error) and batch[2].loq == 1
    dec.reconfigure(32, 32)
    with pytest.raises(vc6rs.LimitsError):
        dec.decode(stream).result()
    assert "DecodeFuture" in repr(futures[0])


def test_async_result_timeout():
    big = picture(PF.RGB_8, 1024, 768)
    stream = vc6rs.encode(big)
    dec = codec.DecoderAsync(in_flight=1, threads=1)
    f = dec.decode(stream)
    try:
        f.result(timeout=0)
    except TimeoutError:
        pass  # not finished yet: the future stays usable
    assert np.array_equal(np.asarray(f.result(timeout=120)), big)
    with pytest.raises(vc6rs.ParameterError):
        f.result(timeout=-1)
