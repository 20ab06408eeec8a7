"""Ray Data helpers: transcode image datasets to vc6 on a cluster, and encode or decode
in ``Dataset.map_batches``. Needs Ray Data (``pip install "vc6-rs[ray]"``).

    import ray, vc6rs.ray
    ray.init()
    summary = vc6rs.ray.transcode_dataset("images/", "images-vc6/", quality=90)

    ds = vc6rs.ray.read_vc6("images-vc6/", loq=2)          # rows: path, image (quarter size)
    ds = ray.data.read_images("images/").map_batches(vc6rs.ray.Vc6Encode(quality=90))

The workers decode and encode with the GIL released. ``transcode_dataset`` needs ``SRC``
and ``DST`` on a filesystem every worker sees (one machine, or a shared mount); it
mirrors the tree, skips complete outputs and writes through temporary files, like
``python -m vc6rs.transcode``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from . import DecoderSync, EncoderGenericPreset, encode
from .transcode import find_images, is_complete, plan, transcode_file


def _ray_data():
    try:
        import ray.data  # noqa: F401  (the Ray package, not this module)
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            'vc6rs.ray needs Ray Data: pip install "ray[data]" (or "vc6-rs[ray]")'
        ) from e
    import ray

    return ray


class TranscodeBatch:
    """A ``map_batches`` callable: each row names an input (``src``) and an output
    (``dst``) file; encodes each image and adds ``bytes_out`` (0 on failure) and ``error``
    (empty on success) columns."""

    def __init__(self, quality: Optional[float] = None, bpp: Optional[float] = None,
                 lossless: Optional[bool] = None,
                 preset: Optional[EncoderGenericPreset] = None):
        self.kwargs = dict(quality=quality, bpp=bpp, lossless=lossless, preset=preset)

    def __call__(self, batch: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        sizes, errors = [], []
        for s, d in zip(batch["src"], batch["dst"]):
            try:
                sizes.append(transcode_file(Path(str(s)), Path(str(d)), threads=1,
                                            **self.kwargs))
                errors.append("")
            except Exception as e:  # reported per row, the others go on
                sizes.append(0)
                errors.append(f"{type(e).__name__}: {e}")
        out = dict(batch)
        out["bytes_out"] = np.asarray(sizes, dtype=np.int64)
        out["error"] = np.asarray(errors, dtype=object)
        return out


def transcode_dataset(
    src: os.PathLike,
    dst: os.PathLike,
    *,
    quality: Optional[float] = None,
    bpp: Optional[float] = None,
    lossless: Optional[bool] = None,
    preset: Optional[EncoderGenericPreset] = None,
    overwrite: bool = False,
    batch_size: int = 8,
) -> Dict[str, Any]:
    """Transcodes every PNG/JPEG/TIFF image under ``src`` to ``dst`` with Ray Data (one
    task per batch of ``batch_size`` images, on every CPU of the cluster). Returns
    ``{"encoded": n, "skipped": n, "failed": [(path, error), ...], "bytes_out": n}``.
    Call ``ray.init()`` first (or let Ray start a local instance)."""
    ray = _ray_data()
    src, dst = Path(src), Path(dst)
    pairs = plan(src, dst, find_images(src))
    todo = [(s, d) for s, d in pairs if overwrite or not is_complete(d)]
    summary: Dict[str, Any] = {"encoded": 0, "skipped": len(pairs) - len(todo),
                               "failed": [], "bytes_out": 0}
    if not todo:
        return summary
    ds = ray.data.from_items([{"src": str(s), "dst": str(d)} for s, d in todo])
    ds = ds.map_batches(TranscodeBatch(quality, bpp, lossless, preset),
                        batch_size=batch_size, batch_format="numpy")
    for row in ds.iter_rows():
        if row["error"]:
            summary["failed"].append((row["src"], row["error"]))
        else:
            summary["encoded"] += 1
            summary["bytes_out"] += int(row["bytes_out"])
    return summary


class Vc6Encode:
    """A ``map_batches`` callable: encodes the arrays of column ``column`` (as
    ``ray.data.read_images`` gives them) into a ``vc6`` column of ``bytes``."""

    def __init__(self, column: str = "image", out: str = "vc6", **encode_kwargs):
        self.column, self.out, self.kwargs = column, out, encode_kwargs

    def __call__(self, batch: Dict[str, Any]) -> Dict[str, Any]:
        out = dict(batch)
        out[self.out] = np.asarray(
            [encode(np.asarray(a), threads=1, **self.kwargs) for a in batch[self.column]],
            dtype=object,
        )
        return out


class Vc6Decode:
    """A ``map_batches`` callable: decodes the streams of column ``column`` (``bytes``,
    as ``ray.data.read_binary_files`` gives them) at LoQ ``loq`` (and ``region``) into
    an ``image`` column; the ``column`` itself is dropped unless ``keep``."""

    def __init__(self, column: str = "bytes", out: str = "image", loq: int = 0,
                 region=None, keep: bool = False):
        self.column, self.out, self.loq, self.region, self.keep = column, out, loq, region, keep
        self._decoder: Optional[DecoderSync] = None

    def __getstate__(self):
        # Sent to Ray workers without the decoder (each makes its own).
        state = dict(self.__dict__)
        state["_decoder"] = None
        return state

    def __call__(self, batch: Dict[str, Any]) -> Dict[str, Any]:
        if self._decoder is None:
            self._decoder = DecoderSync(threads=1)
        streams = list(batch[self.column])
        results = self._decoder.decode_batch(streams, self.loq, self.region)
        images: List[np.ndarray] = []
        for r in results:
            if isinstance(r, BaseException):
                raise r
            images.append(np.asarray(r))
        out = {k: v for k, v in batch.items() if self.keep or k != self.column}
        arr = np.empty(len(images), dtype=object)
        arr[:] = images
        out[self.out] = arr
        return out


def read_vc6(paths, loq: int = 0, region=None, **read_kwargs):
    """A Ray Dataset of ``.vc6`` files decoded at LoQ ``loq``: columns ``path`` and
    ``image``. ``paths`` as for ``ray.data.read_binary_files``."""
    ray = _ray_data()
    ds = ray.data.read_binary_files(paths, include_paths=True, **read_kwargs)
    return ds.map_batches(Vc6Decode(loq=loq, region=region), batch_format="numpy")


__all__ = ["TranscodeBatch", "Vc6Decode", "Vc6Encode", "read_vc6", "transcode_dataset"]
