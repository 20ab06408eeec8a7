"""A PyTorch-style ``Dataset`` of ``.vc6`` files decoded at a chosen level of quality.

    from torch_dataset import Vc6Dataset
    ds = Vc6Dataset("images-vc6/", loq=1)            # half-size pictures
    loader = torch.utils.data.DataLoader(ds, batch_size=32, num_workers=4)

Each item reads only the bytes its LoQ needs (``vc6rs.required_size``: a prefix of the
file) and decodes them; the decoder releases the GIL, so thread-based loaders scale too.
Items are ``torch.uint8`` / ``torch.uint16`` tensors of shape ``(C, H, W)`` when torch is
installed and ``channels_first`` (the default), else NumPy arrays (``(H, W, C)`` with
``channels_first=False``). Without torch the class still works: it is a plain sequence.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import numpy as np

import vc6rs

try:  # torch is optional
    import torch
    from torch.utils.data import Dataset as _Base
except ImportError:  # pragma: no cover - depends on the environment
    torch = None
    _Base = object

#: Bytes read first: enough for the header of any picture of up to 150 planes.
HEADER_BYTES = 1024


def read_prefix(path: os.PathLike, loq: int) -> bytes:
    """The first bytes of a ``.vc6`` file that decoding at ``loq`` needs."""
    with open(path, "rb") as f:
        head = f.read(HEADER_BYTES)
        need = vc6rs.required_size(head, loq)
        return head[:need] if need <= len(head) else head + f.read(need - len(head))


class Vc6Dataset(_Base):
    """``.vc6`` files under ``root`` (sorted), decoded at LoQ ``loq``; ``region`` =
    ``(x, y, w, h)`` in that LoQ's grid crops every item. ``transform`` is applied last."""

    def __init__(
        self,
        root: os.PathLike,
        loq: int = 0,
        region: Optional[Sequence[int]] = None,
        transform: Optional[Callable] = None,
        channels_first: bool = True,
        files: Optional[List[os.PathLike]] = None,
    ):
        self.root = Path(root)
        self.files = [Path(f) for f in files] if files is not None else sorted(
            p for p in self.root.rglob("*.vc6") if p.is_file()
        )
        self.loq, self.region, self.transform = loq, region, transform
        self.channels_first = channels_first
        self._decoder = None  # made in each worker process on first use

    @property
    def decoder(self) -> vc6rs.DecoderSync:
        if self._decoder is None:
            # One thread per decode: a DataLoader's workers are the parallelism.
            self._decoder = vc6rs.DecoderSync(threads=1)
        return self._decoder

    def __getstate__(self):
        # DataLoader workers started by "spawn" get a pickled copy: without the decoder.
        state = dict(self.__dict__)
        state["_decoder"] = None
        return state

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        if not -len(self.files) <= index < len(self.files):
            raise IndexError(index)
        data = read_prefix(self.files[index], self.loq)
        image = self.decoder.decode(data, self.loq, self.region)
        if torch is not None:
            item = torch.from_dlpack(image)  # the decoded memory itself, through DLPack
            if item.ndim == 2:
                item = item.unsqueeze(-1)
            if self.channels_first:
                item = item.permute(2, 0, 1)
        else:
            item = np.asarray(image)  # no copy either
            if item.ndim == 2:
                item = item[:, :, None]
            if self.channels_first:
                item = np.moveaxis(item, 2, 0)
        return self.transform(item) if self.transform else item


if __name__ == "__main__":
    import sys

    ds = Vc6Dataset(sys.argv[1], loq=int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    print(f"{len(ds)} files; first item: {tuple(ds[0].shape) if len(ds) else None}")
