"""Datasets: `python -m vc6rs.transcode`, the Ray Data helpers and example on a local Ray
instance, and the PyTorch-style Dataset example (tested without torch)."""

import importlib.util
import os
import pathlib
import sys

import numpy as np
import pytest

import vc6rs
from vc6rs import transcode
from conftest import PF, SMALL_JPEG, picture, run_python, write_png, write_tiff

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def make_tree(root):
    """A small tree of PNG, TIFF and JPEG files (and files to ignore); returns the
    pictures by relative path."""
    pics = {}
    for rel, fmt, size in [("a.png", PF.RGB_8, (40, 30)), ("sub/b.png", PF.Y_8, (33, 21)),
                           ("sub/deeper/c.tif", PF.RGB_8, (25, 17)),
                           ("d.png", PF.RGBA_8, (20, 20)), ("d.tiff", PF.RGB_8, (40, 9))]:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        pic = picture(fmt, *size, seed=len(rel))
        (write_tiff if rel.endswith(("tif", "tiff")) else write_png)(path, pic)
        pics[rel] = pic
    (root / "sub" / "e.JPG").write_bytes(SMALL_JPEG)
    pics["sub/e.JPG"] = vc6rs.read_image(root / "sub" / "e.JPG")
    (root / "notes.txt").write_text("not an image")
    return pics


def expected_output(rel):
    if rel.startswith("d."):  # d.png and d.tiff would both be d.vc6
        return rel + ".vc6"
    return str(pathlib.PurePosixPath(rel).with_suffix(".vc6"))


def test_transcode_tree_mirrors_and_resumes(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    pics = make_tree(src)
    r = run_python(["-m", "vc6rs.transcode", str(src), str(dst), "--jobs", "2"], timeout=300)
    assert r.returncode == 0, r.stderr
    assert "6 encoded, 0 skipped, 0 failed" in r.stderr
    assert "[" in r.stderr and "6/6" in r.stderr  # the progress bar, plain text
    outputs = sorted(str(p.relative_to(dst)) for p in dst.rglob("*") if p.is_file())
    assert outputs == sorted(expected_output(rel) for rel in pics)
    for rel, pic in pics.items():
        data = (dst / expected_output(rel)).read_bytes()
        assert vc6rs.probe(data).lossless
        assert np.array_equal(vc6rs.decode(data), pic), rel

    # Resume: complete outputs are skipped; a damaged or half-written one is redone, and
    # a temporary file an interrupted run left behind is cleaned away.
    a = dst / "a.vc6"
    a.write_bytes(a.read_bytes()[:-10])
    stale = dst / "sub" / ".b.vc6.999.1.tmp"
    stale.write_bytes(b"partial")
    (dst / "sub" / "b.vc6").unlink()
    summary = transcode.transcode_tree(src, dst, jobs=2, progress=False)
    assert (summary.encoded, summary.skipped, summary.failed) == (2, 4, [])
    assert np.array_equal(vc6rs.decode(a.read_bytes()), pics["a.png"])
    assert not stale.exists()
    again = transcode.transcode_tree(src, dst, progress=False)
    assert (again.encoded, again.skipped) == (0, 6)
    lossy = transcode.transcode_tree(src, tmp_path / "lossy", quality=50, progress=False)
    assert lossy.encoded == 6
    assert not vc6rs.probe((tmp_path / "lossy" / "a.vc6").read_bytes()).lossless


def test_transcode_reports_bad_images(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    write_png(src / "good.png", picture(PF.RGB_8, 16, 16))
    (src / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(50))
    r = run_python(["-m", "vc6rs.transcode", str(src), str(tmp_path / "dst"), "--quiet"],
                   timeout=300)
    assert r.returncode == 1
    assert "bad.png" in r.stderr and "1 encoded, 0 skipped, 1 failed" in r.stderr
    assert (tmp_path / "dst" / "good.vc6").exists()
    assert not (tmp_path / "dst" / "bad.vc6").exists()
    missing = run_python(["-m", "vc6rs.transcode", str(tmp_path / "nope"), str(tmp_path / "d")])
    assert missing.returncode == 2 and "not a folder" in missing.stderr


def test_progress_bar_text():
    import io

    out = io.StringIO()
    bar = transcode.Progress(4, out)
    for _ in range(4):
        bar.step()
    bar.close()
    text = out.getvalue()
    assert "4/4" in text and "100.0%" in text and "#" * 30 in text


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # so that pickle finds its classes
    spec.loader.exec_module(module)
    return module


def test_torch_dataset_example(tmp_path):
    pics = [picture(PF.RGB_8, 64, 40, seed=i) for i in range(3)] + [picture(PF.Y_8, 64, 40)]
    root = tmp_path / "ds"
    (root / "x").mkdir(parents=True)
    for i, p in enumerate(pics):
        (root / ("x" if i % 2 else "") / f"{i}.vc6").write_bytes(vc6rs.encode(p, quality=80))
    (root / "skip.txt").write_text("-")
    mod = load_example("torch_dataset")
    ds = mod.Vc6Dataset(root, loq=1, channels_first=False)
    assert len(ds) == 4
    with pytest.raises(IndexError):
        ds[4]
    items = [ds[i] for i in range(len(ds))]
    files = [str(f.relative_to(root)) for f in ds.files]
    assert files == ["0.vc6", "2.vc6", "x/1.vc6", "x/3.vc6"]
    for item, name in zip(items, files):
        full = vc6rs.decode((root / name).read_bytes(), loq=1)
        expect = full if full.ndim == 3 else full[:, :, None]
        got = item if isinstance(item, np.ndarray) else item.numpy()  # torch, when present
        assert np.array_equal(got, expect), name
    # Prefix reads: only the bytes LoQ 1 needs.
    data = (root / "0.vc6").read_bytes()
    assert mod.read_prefix(root / "0.vc6", 1) == data[:vc6rs.required_size(data, 1)]
    import pickle

    clone = pickle.loads(pickle.dumps(ds))  # as DataLoader workers started by "spawn" get it
    assert len(clone) == 4 and np.array_equal(np.asarray(clone[0]), np.asarray(items[0]))
    chw = mod.Vc6Dataset(root, loq=2, region=(0, 0, 8, 4), transform=lambda t: t)
    assert tuple(chw[0].shape) == (3, 4, 8)
    assert tuple(chw[3].shape) == (1, 4, 8)  # x/3.vc6 is grey


def have_ray():
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
        return True
    except Exception:
        return False


ray_needed = pytest.mark.skipif(not have_ray(), reason="Ray Data is not installed (pip install 'ray[data]')")


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             ignore_reinit_error=True)
    yield ray
    ray.shutdown()


@ray_needed
def test_ray_transcode_and_map_batches(local_ray, tmp_path):
    import vc6rs.ray as vray

    src, dst = tmp_path / "src", tmp_path / "dst"
    pics = make_tree(src)
    summary = vray.transcode_dataset(src, dst, batch_size=2)
    assert summary["encoded"] == 6 and summary["failed"] == [] and summary["skipped"] == 0
    for rel, pic in pics.items():
        assert np.array_equal(vc6rs.decode((dst / expected_output(rel)).read_bytes()), pic)
    assert vray.transcode_dataset(src, dst)["skipped"] == 6

    rows = sorted(vray.read_vc6(str(dst), loq=1).take_all(), key=lambda r: r["path"])
    assert len(rows) == 6
    for row in rows:
        full = vc6rs.decode(pathlib.Path(row["path"]).read_bytes(), loq=1)
        assert np.array_equal(row["image"], full)

    arrays = [picture(PF.RGB_8, 24, 16, seed=i) for i in range(4)]
    ds = local_ray.data.from_items([{"image": a} for a in arrays])
    out = ds.map_batches(vray.Vc6Encode(quality=90), batch_format="numpy").take_all()
    assert len(out) == 4 and all(not vc6rs.probe(r["vc6"]).lossless for r in out)
    back = local_ray.data.from_items([{"bytes": vc6rs.encode(a)} for a in arrays])
    decoded = back.map_batches(vray.Vc6Decode(loq=0), batch_format="numpy").take_all()
    assert sorted(r["image"].tobytes() for r in decoded) == sorted(a.tobytes() for a in arrays)


@ray_needed
def test_ray_example_runs(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_tree(src)
    r = run_python([str(EXAMPLES / "ray_transcode.py"), str(src), str(dst), "--quality", "85",
                    "--num-cpus", "2"], timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "encoded 6, skipped 0, failed 0" in r.stdout
    assert r.stdout.count("uint8") == 6
