"""Transcode a folder tree of PNG, JPEG and TIFF images to .vc6 files.

    python -m vc6rs.transcode SRC_DIR DST_DIR [--quality Q | --bpp B] [--jobs N]

The tree is mirrored (``SRC/a/b.png`` -> ``DST/a/b.vc6``; when two sources differ only by
their extension, both keep it: ``b.png.vc6``, ``b.jpg.vc6``). Lossless unless ``--quality``
or ``--bpp`` is given. Every core works (one image per thread; encodes release the GIL).
Resumable: an output that exists and is a complete stream is skipped, and outputs are
written through a temporary file renamed into place, so an interrupted run leaves no
half-written ``.vc6`` file. Progress goes to stderr as plain text. Exit status 1 when any
image failed (the others are still written).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

from . import EncoderGenericPreset, Vc6Error, encode, probe, read_image

#: File extensions read as images (case-insensitive).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


def find_images(src: Path) -> List[Path]:
    """The image files under ``src``, sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        for name in sorted(filenames):
            if name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith("."):
                found.append(Path(dirpath) / name)
    return found


def plan(src: Path, dst: Path, files: Iterable[Path]) -> List[Tuple[Path, Path]]:
    """(input, output) pairs: the tree mirrored, ``.vc6`` for the extension, or appended
    to the full name when two inputs of one folder would give the same output."""
    files = list(files)
    stems: dict = {}
    for f in files:
        key = (f.parent, f.stem.lower())
        stems[key] = stems.get(key, 0) + 1
    pairs = []
    for f in files:
        rel = f.relative_to(src)
        if stems[(f.parent, f.stem.lower())] > 1:
            out = dst / rel.parent / (rel.name + ".vc6")
        else:
            out = dst / rel.with_suffix(".vc6")
        pairs.append((f, out))
    return pairs


def is_complete(path: Path) -> bool:
    """Whether ``path`` holds a whole vc6 stream (its header's length matches the file)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(min(size, 1 << 16))
        return probe(head).total_bytes == size
    except (OSError, Vc6Error):
        return False


def _temp_name(out: Path) -> Path:
    return out.with_name(f".{out.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def write_atomic(out: Path, data: bytes) -> None:
    """Writes ``data`` to ``out`` through a temporary file renamed into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(out)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, out)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


def remove_stale_temps(out: Path) -> None:
    """Removes temporary files an interrupted run left for ``out``."""
    try:
        for stale in out.parent.glob(f".{out.name}.*.tmp"):
            try:
                stale.unlink()
            except OSError:
                pass
    except OSError:
        pass


def transcode_file(
    src: Path,
    out: Path,
    *,
    quality: Optional[float] = None,
    bpp: Optional[float] = None,
    lossless: Optional[bool] = None,
    preset: Optional[EncoderGenericPreset] = None,
    threads: int = 0,
) -> int:
    """Encodes one image file to ``out`` (atomically); returns the stream's length."""
    array = read_image(src)
    data = encode(array, quality=quality, bpp=bpp, lossless=lossless, preset=preset,
                  threads=threads)
    remove_stale_temps(out)
    write_atomic(out, data)
    return len(data)


@dataclasses.dataclass
class Summary:
    """What a transcode did."""

    encoded: int = 0
    skipped: int = 0
    failed: List[Tuple[Path, str]] = dataclasses.field(default_factory=list)
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0


class Progress:
    """A plain-text progress bar on a stream (stderr): redrawn in place on a terminal,
    a line every few seconds otherwise."""

    def __init__(self, total: int, stream=None, width: int = 30):
        self.total, self.done, self.width = total, 0, width
        self.stream = stream if stream is not None else sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = self.last = time.monotonic()
        self.lock = threading.Lock()

    def line(self) -> str:
        frac = self.done / self.total if self.total else 1.0
        filled = int(frac * self.width)
        elapsed = time.monotonic() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        bar = "#" * filled + "-" * (self.width - filled)
        return (f"[{bar}] {self.done}/{self.total} {100 * frac:5.1f}% "
                f"{rate:.1f} files/s ETA {int(eta) // 60}:{int(eta) % 60:02d}")

    def step(self, n: int = 1) -> None:
        with self.lock:
            self.done += n
            now = time.monotonic()
            if self.tty:
                self.stream.write("\r" + self.line())
                self.stream.flush()
            elif now - self.last >= 2.0 or self.done == self.total:
                self.stream.write(self.line() + "\n")
                self.stream.flush()
                self.last = now

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def transcode_tree(
    src: os.PathLike,
    dst: os.PathLike,
    *,
    quality: Optional[float] = None,
    bpp: Optional[float] = None,
    lossless: Optional[bool] = None,
    preset: Optional[EncoderGenericPreset] = None,
    jobs: Optional[int] = None,
    overwrite: bool = False,
    progress: bool = True,
    stream=None,
) -> Summary:
    """Transcodes every image under ``src`` to ``dst`` (see the module docs)."""
    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise NotADirectoryError(f"{src} is not a folder")
    started = time.monotonic()
    pairs = plan(src, dst, find_images(src))
    summary = Summary()
    todo = []
    for s, o in pairs:
        if not overwrite and is_complete(o):
            summary.skipped += 1
        else:
            todo.append((s, o))
    jobs = max(1, jobs or os.cpu_count() or 1)
    # Many files: one per core, each encode on one thread; few: each on every core.
    threads = 1 if len(todo) >= jobs else 0
    bar = Progress(len(todo), stream) if progress and todo else None
    if progress and summary.skipped:
        print(f"vc6rs.transcode: {summary.skipped} complete outputs skipped",
              file=stream if stream is not None else sys.stderr)

    def one(pair):
        s, o = pair
        size = s.stat().st_size
        return size, transcode_file(s, o, quality=quality, bpp=bpp, lossless=lossless,
                                    preset=preset, threads=threads)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(one, p): p for p in todo}
        for fut in as_completed(futures):
            s, _ = futures[fut]
            try:
                size_in, size_out = fut.result()
                summary.encoded += 1
                summary.bytes_in += size_in
                summary.bytes_out += size_out
            except (OSError, Vc6Error) as e:
                summary.failed.append((s, f"{type(e).__name__}: {e}"))
            if bar:
                bar.step()
    if bar:
        bar.close()
    summary.seconds = time.monotonic() - started
    return summary


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m vc6rs.transcode",
        description="Transcode a folder tree of PNG/JPEG/TIFF images to .vc6 files "
        "(mirrored, parallel, resumable).",
    )
    p.add_argument("src", type=Path, help="folder of images (searched recursively)")
    p.add_argument("dst", type=Path, help="output folder (created)")
    rate = p.add_mutually_exclusive_group()
    rate.add_argument("-q", "--quality", type=float, help="lossy at this quality, 0 to 100")
    rate.add_argument("--bpp", type=float, help="lossy at this many bits per pixel")
    p.add_argument("--preset", choices=["lossless", "light", "better"],
                   help="coding tools (default: lossless, or better with --quality/--bpp)")
    p.add_argument("-j", "--jobs", type=int, default=None,
                   help="images encoded at once (default: every core)")
    p.add_argument("--overwrite", action="store_true", help="redo complete outputs too")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    a = p.parse_args(argv)
    preset = getattr(EncoderGenericPreset, a.preset.upper()) if a.preset else None
    try:
        s = transcode_tree(a.src, a.dst, quality=a.quality, bpp=a.bpp, preset=preset,
                           jobs=a.jobs, overwrite=a.overwrite, progress=not a.quiet)
    except (OSError, Vc6Error) as e:
        print(f"vc6rs.transcode: error: {e}", file=sys.stderr)
        return 2
    for path, why in s.failed:
        print(f"vc6rs.transcode: {path}: {why}", file=sys.stderr)
    ratio = f", {s.bytes_out / s.bytes_in:.3f}x the input size" if s.bytes_in else ""
    print(f"vc6rs.transcode: {s.encoded} encoded, {s.skipped} skipped, {len(s.failed)} "
          f"failed in {s.seconds:.1f} s{ratio}", file=sys.stderr)
    return 1 if s.failed else 0


if __name__ == "__main__":
    sys.exit(main())
