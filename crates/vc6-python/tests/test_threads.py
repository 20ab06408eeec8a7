"""Concurrency: decoders and encoders shared by Python threads, the GIL released."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import vc6rs
from vc6rs import codec
from conftest import PF, picture

CPU = codec.CodecBackendType.CPU


def test_concurrent_decodes_on_one_decoder():
    pics = [picture(PF.RGB_8, 64 + 8 * i, 48, seed=i) for i in range(6)]
    streams = [vc6rs.encode(p, quality=None) for p in pics]
    dec = codec.DecoderSync()  # shared by every thread

    def work(i):
        k = i % len(pics)
        img = dec.decode(streams[k], loq=i % 2)
        if i % 2 == 0:
            assert np.array_equal(np.asarray(img), pics[k])
        return img.shape

    with ThreadPoolExecutor(8) as pool:
        shapes = list(pool.map(work, range(96)))
    assert len(shapes) == 96


def test_concurrent_encodes_on_one_encoder():
    enc = codec.EncoderSync(80, 60, CPU, PF.Y_16)
    pics = [picture(PF.Y_16, 80, 60, seed=i) for i in range(16)]
    with ThreadPoolExecutor(4) as pool:
        streams = list(pool.map(lambda p: bytes(enc.encode(p)), pics))
    for p, s in zip(pics, streams):
        assert np.array_equal(vc6rs.decode(s), p)
    batch = enc.encode_batch(pics[:3] + [b"short"])
    assert np.array_equal(vc6rs.decode(batch[1]), pics[1])
    assert isinstance(batch[3], vc6rs.ParameterError)


def test_decode_releases_the_gil():
    """While one thread decodes large pictures, Python code keeps running in another."""
    big = picture(PF.RGB_8, 1600, 1200, seed=1)
    stream = vc6rs.encode(big)
    dec = codec.DecoderSync(threads=1)
    t0 = time.perf_counter()
    dec.decode(stream)
    one = time.perf_counter() - t0
    ticks = 0
    done = threading.Event()

    def decode_many():
        for _ in range(3):
            dec.decode(stream)
        done.set()

    worker = threading.Thread(target=decode_many)
    worker.start()
    start = time.perf_counter()
    while not done.is_set():
        ticks += 1
        time.sleep(0)  # a bytecode boundary: needs the GIL back each time
    worker.join()
    elapsed = time.perf_counter() - start
    # Were the GIL held during a decode, this loop could only run between the three
    # decodes (a few ticks); released, it spins all along.
    assert one > 0.002, one
    assert ticks >= 100, (ticks, elapsed, one)

def test_threads_and_async_together():
    pic = picture(PF.RGBA_8, 100, 70)
    stream = vc6rs.encode(pic)
    adec = codec.DecoderAsync(in_flight=3)

    def work(_):
        fs = [adec.decode(stream, loq=k) for k in range(3)]
        return [f.result(timeout=60).shape for f in fs]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(work, range(12)))
    assert all(r == [(70, 100, 4), (35, 50, 4), (18, 25, 4)] for r in results)
    # Several threads waiting on the same future all get the same image.
    f = adec.decode(stream)
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda _: f.result(timeout=60), range(8)))
    assert all(g is got[0] for g in got)
