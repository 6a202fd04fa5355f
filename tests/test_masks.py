"""Tests of keras_inpaint.masks: shapes, determinism, documented hole ratios, folder reading."""

import re

import cv2
import numpy as np
import pytest
from PIL import Image

from keras_inpaint import masks

GENERATORS = {
    "rectangle": masks.RectangleMask(),
    "center": masks.CenterMask(),
    "free_form": masks.FreeFormMask(),
    "irregular": masks.IrregularMask(),
    "blob": masks.BlobMask(),
    "free_form+rectangle": masks.get_mask_generator("free_form+rectangle"),
}
RANDOM_GENERATORS = [name for name in GENERATORS if name != "center"]

_DOCUMENTED = re.compile(
    r"mean\s+([0-9.]+),\s+5th\s+percentile\s+([0-9.]+),\s+95th\s+percentile\s+([0-9.]+)"
)


@pytest.mark.parametrize("name", list(GENERATORS))
def test_shape_dtype_binary(name):
    mask = GENERATORS[name](48, 64, np.random.default_rng(1))
    assert mask.shape == (48, 64, 1)
    assert mask.dtype == np.float32
    assert set(np.unique(mask)) <= {0.0, 1.0}
    assert 0.0 < mask.mean() < 1.0


@pytest.mark.parametrize("name", RANDOM_GENERATORS)
def test_seed_and_index_determinism(name):
    generator = GENERATORS[name]
    first = masks.sample_mask(generator, 64, 64, seed=5, index=11)
    again = masks.sample_mask(generator, 64, 64, seed=np.int64(5), index=np.int64(11))
    other_indices = [masks.sample_mask(generator, 64, 64, seed=5, index=i) for i in range(12, 15)]
    np.testing.assert_array_equal(first, again)
    assert any(not np.array_equal(first, other) for other in other_indices)


@pytest.mark.parametrize("name", RANDOM_GENERATORS)
def test_hole_ratio_matches_docstring(name):
    generator = GENERATORS[name]
    documented_in = masks.UnionMask if isinstance(generator, masks.UnionMask) else type(generator)
    match = _DOCUMENTED.search(documented_in.__doc__)
    assert match, f"{documented_in.__name__} docstring does not report its hole ratio"
    mean, p5, p95 = (float(value) for value in match.groups())
    ratios = [masks.hole_ratio(masks.sample_mask(generator, 256, 256, 0, i)) for i in range(200)]
    assert abs(np.mean(ratios) - mean) < 0.03
    assert abs(np.percentile(ratios, 5) - p5) < 0.05
    assert abs(np.percentile(ratios, 95) - p95) < 0.05


def test_measure_hole_ratio_of_center_mask():
    assert masks.measure_hole_ratio(masks.CenterMask(0.5), 64, 64, samples=3) == {
        "mean": 0.25,
        "p5": 0.25,
        "p95": 0.25,
    }


def test_rectangle_sizes_and_centering():
    rng = np.random.default_rng(0)
    for _ in range(20):
        mask = masks.RectangleMask(0.25, 0.5)(40, 80, rng)[..., 0]
        rows, cols = np.nonzero(mask)
        height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert mask.sum() == height * width  # one solid rectangle
        assert 10 <= height <= 20 and 20 <= width <= 40
    centered = masks.CenterMask(0.5)(8, 12, rng)[..., 0]
    expected = np.zeros((8, 12))
    expected[2:6, 3:9] = 1
    np.testing.assert_array_equal(centered, expected)


def test_free_form_flips_apply():
    unflipped = masks.FreeFormMask(flip_probability=0.0)(64, 96, np.random.default_rng(3))
    flipped = masks.FreeFormMask(flip_probability=1.0)(64, 96, np.random.default_rng(3))
    assert not np.array_equal(flipped, unflipped)
    np.testing.assert_array_equal(flipped, unflipped[::-1, ::-1])


def test_free_form_single_stroke_stays_connected():
    generator = masks.FreeFormMask(min_strokes=1, max_strokes=1)
    for index in range(10):
        mask = masks.sample_mask(generator, 128, 128, seed=0, index=index)
        components, _ = cv2.connectedComponents(mask[..., 0].astype(np.uint8))
        assert components == 2  # background + one stroke


def test_blob_is_one_region_of_bounded_size():
    generator = masks.BlobMask(min_coverage=0.05, max_coverage=0.25)
    for index in range(20):
        mask = masks.sample_mask(generator, 96, 128, seed=1, index=index)
        components, _ = cv2.connectedComponents(mask[..., 0].astype(np.uint8))
        assert components == 2
        assert 0.03 < masks.hole_ratio(mask) < 0.27


def test_union_is_elementwise_max():
    union = masks.UnionMask([masks.CenterMask(0.5), masks.RectangleMask(0.25, 0.25)])
    mask = union(32, 32, np.random.default_rng(0))
    center = masks.CenterMask(0.5)(32, 32, np.random.default_rng(0))
    assert np.all(mask >= center)
    assert 0.25 < masks.hole_ratio(mask) <= 0.25 + 1 / 16


def test_get_mask_generator_names(tmp_path):
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(tmp_path / "a.png")
    for name, cls in [
        ("rectangle", masks.RectangleMask),
        ("center", masks.CenterMask),
        ("free_form", masks.FreeFormMask),
        ("irregular", masks.IrregularMask),
        ("blob", masks.BlobMask),
        (f"folder:{tmp_path}", masks.FolderMask),
    ]:
        assert type(masks.get_mask_generator(name)) is cls
    union = masks.get_mask_generator(f"free_form+rectangle+folder:{tmp_path}")
    assert [type(g) for g in union.generators] == [
        masks.FreeFormMask,
        masks.RectangleMask,
        masks.FolderMask,
    ]
    generator = masks.BlobMask()
    assert masks.get_mask_generator(generator) is generator


@pytest.mark.parametrize("spec", ["squares", "free_form+triangle", "", 3])
def test_unknown_spec_lists_valid_names(spec):
    with pytest.raises(ValueError, match="'free_form'.*'blob'.*folder:PATH"):
        masks.get_mask_generator(spec)


def test_bad_arguments():
    with pytest.raises(ValueError, match="numpy.random.Generator"):
        masks.FreeFormMask()(8, 8, 0)
    with pytest.raises(ValueError, match=r"positive integers, received \(0, 8\)"):
        masks.FreeFormMask()(0, 8, np.random.default_rng(0))
    with pytest.raises(ValueError, match="min_size=0.6, max_size=0.5"):
        masks.RectangleMask(0.6, 0.5)
    with pytest.raises(ValueError, match=r"received shape \(2, 3, 4, 5, 1\)"):
        masks.hole_ratio(np.zeros((2, 3, 4, 5, 1)))


def test_hole_ratio_single_and_batch():
    batch = np.zeros((2, 4, 4, 1), np.float32)
    batch[0, :2] = 1
    batch[1, 0, 0] = 1
    np.testing.assert_allclose(masks.hole_ratio(batch), [0.5, 1 / 16])
    assert masks.hole_ratio(batch[0]) == 0.5


def _pattern(height=20, width=30):
    """A 0/1 test pattern: left third and a bottom strip are holes."""
    hole = np.zeros((height, width), bool)
    hole[:, : width // 3] = True
    hole[-4:, :] = True
    return hole


def _write_mask_files(folder, hole):
    """The same hole pattern as L, RGB, RGBA (alpha-composited), 16-bit and 1-bit files."""
    folder.mkdir(exist_ok=True)
    grey = np.where(hole, 230, 40).astype(np.uint8)  # 0.90 and 0.16 after scaling
    Image.fromarray(grey, "L").save(folder / "grey.png")
    rgb = np.stack([grey, grey, grey], axis=-1)
    Image.fromarray(rgb, "RGB").save(folder / "colour.bmp")
    # RGBA: white everywhere, the hole opaque, the rest fully transparent -> known.
    rgba = np.dstack([np.full_like(grey, 255)] * 3 + [np.where(hole, 255, 0).astype(np.uint8)])
    Image.fromarray(rgba, "RGBA").save(folder / "alpha.PNG")
    sixteen = np.where(hole, 60000, 20000).astype(np.uint16)
    Image.fromarray(sixteen).save(folder / "deep.png")
    Image.fromarray(hole).save(folder / "binary.png")
    (folder / "notes.txt").write_text("not a mask")


def test_load_mask_modes_and_resize(tmp_path):
    hole = _pattern()
    _write_mask_files(tmp_path, hole)
    expected_small = cv2.resize(
        hole.astype(np.uint8), (15, 10), interpolation=cv2.INTER_NEAREST_EXACT
    )
    for name in ["grey.png", "colour.bmp", "alpha.PNG", "deep.png", "binary.png"]:
        assert Image.open(tmp_path / name).mode in ("L", "RGB", "RGBA", "I;16", "1")
        full = masks.load_mask(tmp_path / name)
        assert full.shape == (20, 30, 1) and full.dtype == np.float32
        np.testing.assert_array_equal(full[..., 0], hole, err_msg=name)
        small = masks.load_mask(tmp_path / name, size=(10, 15))
        np.testing.assert_array_equal(small[..., 0], expected_small, err_msg=name)
    assert masks.load_mask(tmp_path / "grey.png", size=7).shape == (7, 7, 1)


def test_load_mask_threshold(tmp_path):
    values = np.array([[0, 100, 150, 255]], np.uint8)
    Image.fromarray(values, "L").save(tmp_path / "ramp.png")
    np.testing.assert_array_equal(masks.load_mask(tmp_path / "ramp.png")[0, :, 0], [0, 0, 1, 1])
    lenient = masks.load_mask(tmp_path / "ramp.png", threshold=0.3)
    np.testing.assert_array_equal(lenient[0, :, 0], [0, 1, 1, 1])


def test_load_mask_unreadable_file(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"\x00not an image")
    with pytest.raises(ValueError, match="broken.png"):
        masks.load_mask(tmp_path / "broken.png")


def test_folder_mask_reads_every_file_type(tmp_path):
    hole = _pattern()
    _write_mask_files(tmp_path, hole)
    generator = masks.FolderMask(str(tmp_path), flip_probability=0.0)
    assert len(generator.files) == 5  # notes.txt ignored, upper-case .PNG found
    for index in range(8):
        mask = masks.sample_mask(generator, 20, 30, seed=0, index=index)
        np.testing.assert_array_equal(mask[..., 0], hole)


def test_folder_mask_flips_and_resizes(tmp_path):
    hole = _pattern()
    Image.fromarray(np.where(hole, 255, 0).astype(np.uint8)).save(tmp_path / "one.png")
    generator = masks.FolderMask(str(tmp_path))
    flips = (hole, hole[::-1], hole[:, ::-1], hole[::-1, ::-1])
    variants = {flipped.tobytes() for flipped in flips}
    seen = set()
    for index in range(16):
        mask = masks.sample_mask(generator, 20, 30, seed=2, index=index)[..., 0].astype(bool)
        assert mask.tobytes() in variants
        seen.add(mask.tobytes())
    assert len(seen) == 4
    assert masks.sample_mask(generator, 40, 50, seed=2, index=0).shape == (40, 50, 1)


def test_folder_mask_skips_unreadable_files_when_made(tmp_path):
    hole = _pattern()
    Image.fromarray(np.where(hole, 255, 0).astype(np.uint8)).save(tmp_path / "good.png")
    good = (tmp_path / "good.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(good[: len(good) // 2])  # cut short mid-file
    (tmp_path / "junk.png").write_bytes(b"\x00not an image")
    with pytest.warns(UserWarning, match=r"skipping 2 unreadable file\(s\) .*cut.png.*junk.png"):
        generator = masks.FolderMask(str(tmp_path), flip_probability=0.0)
    assert generator.files == [str(tmp_path / "good.png")]
    for index in range(4):
        np.testing.assert_array_equal(masks.sample_mask(generator, 20, 30, 0, index)[..., 0], hole)
    (tmp_path / "good.png").unlink()
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="no readable mask file"):
        masks.FolderMask(str(tmp_path))


def test_folder_mask_empty_or_missing_folder(tmp_path):
    (tmp_path / "readme.txt").write_text("no masks here")
    with pytest.raises(ValueError, match=re.escape(str(tmp_path))):
        masks.FolderMask(str(tmp_path))
    with pytest.raises(ValueError, match="does not exist"):
        masks.FolderMask(str(tmp_path / "missing"))


@pytest.mark.parametrize("name", list(GENERATORS))
@pytest.mark.parametrize("size", [(1, 64), (64, 1), (1, 1)])
def test_sides_of_one_pixel(name, size):
    for index in range(30):  # IrregularMask's arcs failed in most draws
        assert masks.sample_mask(GENERATORS[name], *size, 0, index).shape == (*size, 1)


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: masks.BlobMask(num_points=2), "BlobMask num_points must be an integer in [3, "),
        (lambda: masks.BlobMask(num_harmonics=-1), "BlobMask num_harmonics must be an integer"),
        (lambda: masks.BlobMask(roughness=-1), "BlobMask roughness must be a finite number in"),
        (lambda: masks.FreeFormMask(angle_range=-1), "FreeFormMask angle_range must be"),
        (lambda: masks.FreeFormMask(max_strokes=float("inf")), "max_strokes must be an integer"),
        (lambda: masks.FreeFormMask(min_strokes=1.5), "received 1.5"),
        (lambda: masks.FreeFormMask(flip_probability=2), "flip_probability must be a finite"),
        (lambda: masks.IrregularMask(4.5, 6.5), "IrregularMask min_shapes must be an integer"),
        (lambda: masks.FolderMask(".", threshold=1), "threshold must be a finite number in [0.0"),
        (lambda: masks.FolderMask(".", threshold=-1), "FolderMask threshold"),
        (lambda: masks.CenterMask(0), "CenterMask fraction must be a finite number in (0.0, 1.0]"),
        (lambda: masks.RectangleMask("0.3", "0.5"), "min_size must be a finite number"),
        (lambda: masks.RectangleMask(0.6, 0.5), "needs min_size <= max_size, received min_size"),
    ],
)
def test_bad_constructor_arguments(make, fragment):
    with pytest.raises(ValueError, match=re.escape(fragment)):
        make()


def test_sample_mask_refuses_non_integers():
    generator = masks.CenterMask()
    with pytest.raises(ValueError, match=re.escape("positive integers, received (64.7, 64)")):
        masks.sample_mask(generator, 64.7, 64, 1, 0)
    with pytest.raises(ValueError, match="sample_mask seed must be an integer in .0, inf., rece"):
        masks.sample_mask(generator, 64, 64, 1.5, 0)
    with pytest.raises(ValueError, match="sample_mask index must be an integer .*received -1"):
        masks.sample_mask(generator, 64, 64, 0, -1)
    assert masks.sample_mask(generator, np.int64(4), 4, np.int64(1), np.int32(2)).shape == (4, 4, 1)


@pytest.mark.parametrize("spec", ["rectangle+", "+blob", "rectangle++blob"])
def test_empty_name_in_spec(spec):
    with pytest.raises(ValueError, match=re.escape(f"unknown mask generator '' in spec '{spec}'")):
        masks.get_mask_generator(spec)


def test_spec_sets_constructor_arguments(tmp_path):
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(tmp_path / "a.png")
    union = masks.get_mask_generator(
        f"irregular:min_shapes=2, max_width=26.5+blob:max_coverage=0.4+folder:{tmp_path}"
    )
    irregular, blob, folder = union.generators
    assert irregular.get_config() == {
        "min_shapes": 2, "max_shapes": 12, "min_width": 5.0, "max_width": 26.5
    }
    assert type(irregular.min_shapes) is int and blob.max_coverage == 0.4
    assert folder.path == str(tmp_path)
    same = masks.sample_mask(masks.IrregularMask(2, 12, 5.0, 26.5), 64, 64, 0, 3)
    assert np.array_equal(masks.sample_mask(irregular, 64, 64, 0, 3), same)


@pytest.mark.parametrize(
    "spec, bad",
    [
        ("irregular:max_width", "'max_width'"),
        ("irregular:max_width=wide", "'max_width=wide'"),
        ("irregular:width=3", "'width=3'"),
        ("irregular:min_shapes=2,min_shapes=3", "'min_shapes=3'"),
        ("irregular:", "''"),
    ],
)
def test_spec_arguments_refused(spec, bad):
    with pytest.raises(ValueError, match=re.escape(f"bad argument {bad} for mask generator")):
        masks.get_mask_generator(spec)


def test_spec_argument_values_are_checked_by_the_generator():
    with pytest.raises(ValueError, match="IrregularMask min_shapes must be an integer.*2.5"):
        masks.get_mask_generator("irregular:min_shapes=2.5")
    with pytest.raises(ValueError, match="IrregularMask max_width must be a finite number.*nan"):
        masks.get_mask_generator("irregular:max_width=nan")
