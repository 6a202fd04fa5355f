"""docs/diagnostics/border_distance.py: hole error by distance to the border, checked against a
brute-force distance and on a tiny folder end to end."""

import importlib.util
import sys
from pathlib import Path

import numpy as np

from keras_inpaint import evaluation
from test_evaluation import write_masks

SCRIPT = Path(__file__).resolve().parent.parent / "docs" / "diagnostics" / "border_distance.py"


def load_script(path=SCRIPT):
    """The module of a script under docs/."""
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def brute_force_distance(hole):
    """Euclidean distance of each pixel to the nearest non-hole pixel, by trying them all."""
    known = np.argwhere(~hole)
    rows, cols = np.indices(hole.shape)
    distance = np.sqrt((rows[..., None] - known[:, 0]) ** 2 + (cols[..., None] - known[:, 1]) ** 2)
    return np.where(hole, distance.min(axis=-1), 0.0)


def test_error_by_distance_pools_each_band():
    script = load_script()
    rng = np.random.default_rng(0)
    masks = np.zeros((2, 24, 24, 1), np.float32)
    masks[0, 3:17, 4:21] = 1
    masks[1, 10:24, 0:9] = 1  # touches the image's edge: distance counts known pixels only
    images = rng.uniform(size=(2, 24, 24, 3)).astype(np.float32)
    filled = np.clip(images + rng.normal(0, 0.1, images.shape), 0, 1).astype(np.float32)
    rows = script.error_by_distance(images, masks, filled)
    hole = masks[..., 0] > 0.5
    distance = np.stack([brute_force_distance(h) for h in hole])
    assert [band for band, *_ in rows] == list(script.DISTANCE_BANDS)
    assert sum(count for _, count, *_ in rows) == hole.sum()
    for (low, high), count, absolute, signed in rows:
        chosen = hole & (distance > low) & (distance <= high)
        error = (filled - images)[chosen] * 100
        assert count == chosen.sum()
        if count:
            np.testing.assert_allclose(absolute, np.abs(error).mean(), rtol=1e-5)
            np.testing.assert_allclose(signed, error.mean(axis=0), rtol=1e-4, atol=1e-5)
        else:
            assert np.isnan(absolute) and np.isnan(signed).all()
    assert rows[-1][1] == 0  # no hole pixel lies more than 16 pixels from the border here


def test_fill_all_keeps_pair_order_across_batches(photo_folder, tmp_path):
    script = load_script()
    masks = write_masks(tmp_path / "masks", [0.1, 0.2, 0.3, 0.4, 0.5], size=16)
    pairs = list(evaluation.evaluation_pairs(photo_folder, masks, size=16))
    calls = []

    def grey_by_ratio(batch):
        calls.append(len(batch["image"]))
        return np.where(batch["mask"] > 0.5, batch["mask"].mean(axis=(1, 2, 3), keepdims=True),
                        batch["image"])

    filled = script.fill_all(grey_by_ratio, pairs, batch_size=2)
    assert calls == [2, 2, 1]
    expected = grey_by_ratio({"image": np.stack([p[0] for p in pairs]),
                              "mask": np.stack([p[1] for p in pairs])})
    np.testing.assert_array_equal(filled, expected)


def test_main_prints_bands_and_flat_fills(photo_folder, tmp_path, monkeypatch, capsys):
    script = load_script()
    masks = write_masks(tmp_path / "masks", [0.3, 0.45], size=96)
    monkeypatch.setattr(sys, "argv", ["border_distance.py", "navier_stokes", "--images",
                                      str(photo_folder), "--masks", str(masks), "--size", "96"])
    script.main()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "2 pairs at 96x96"
    assert sum(line.startswith("  (") for line in lines) == len(script.DISTANCE_BANDS)
    flat = [line for line in lines if line.startswith("  flat ")]
    assert len(flat) == len(script.FLAT_GREYS)
    for grey, line in zip(script.FLAT_GREYS, flat):  # a classical fill returns the flat grey
        values = [float(value) for value in line.split("-> ")[1].split(", ")]
        np.testing.assert_allclose(values, grey, atol=0.01)


def load_mask_statistics():
    sys.path.insert(0, str(SCRIPT.parent))  # it imports border_distance beside it
    try:
        spec = importlib.util.spec_from_file_location(
            "mask_statistics", SCRIPT.parent / "mask_statistics.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return module


def test_mask_statistics_shares_per_bin(tmp_path):
    script = load_mask_statistics()
    square = np.zeros((64, 64, 1), np.float32)
    square[10:50, 12:52] = 1  # 40x40, 39 %: 304 pixels within 2 of the border, 24x24 beyond 8
    line = np.zeros((64, 64, 1), np.float32)
    line[30, 2:60] = 1  # one pixel wide, 1.4 %: all within 2
    stats = script.hole_statistics([square, line, np.zeros((64, 64, 1), np.float32)])
    assert list(stats) == ["1-10%", "30-40%", "all"]
    np.testing.assert_allclose(stats["30-40%"], (1, 304 / 1600, 576 / 1600))
    np.testing.assert_allclose(stats["1-10%"], (1, 1.0, 0.0))
    np.testing.assert_allclose(stats["all"], (2, (1 + 304 / 1600) / 2, 576 / 3200))
    hole = square[..., 0] > 0
    distance = brute_force_distance(hole)[hole]
    assert np.sum(distance <= 2) == 304 and np.sum(distance > 8) == 576

    folder = script.source_masks(str(write_masks(tmp_path / "m", [0.1, 0.3, 0.5])), 32, count=99)
    assert [round(float(m.mean()), 2) for m in folder] == [0.09, 0.28, 0.5]  # rows at 32
    drawn = script.source_masks("irregular:max_shapes=4", 32, count=5)
    assert len(drawn) == 5 and not np.array_equal(drawn[0], drawn[1])
