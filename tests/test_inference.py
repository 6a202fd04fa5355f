"""`keras_inpaint.inpaint` and `keras-inpaint inpaint`: input types, mask conventions, known
pixels kept bit for bit, batching, errors, the high-resolution crop strategy."""

import math
import struct
import subprocess
import sys
import types
import warnings
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest
from PIL import Image

from keras_inpaint import cli, data, inference, postprocess, zoo
from keras_inpaint.inference import inpaint, side_by_side
from test_training import subprocess_env
from toy_model import ToyInpainter

REPO = Path(__file__).resolve().parent.parent
CHELSEA = REPO / "examples" / "data" / "chelsea.png"
CHELSEA_MASK = REPO / "examples" / "data" / "chelsea_mask.png"
FILL = 0.25
FILL_LEVEL = 64  # round(0.25 * 255)


class ConstantFill:
    """A stand-in model: fills holes with `FILL`, records the batch shapes it is called with."""

    def __init__(self, image_size=None):
        if image_size is not None:
            self.image_size = image_size
        self.shapes = []

    def __call__(self, inputs):
        image, mask = np.asarray(inputs["image"]), np.asarray(inputs["mask"])
        assert image.dtype == np.float32 and mask.shape == image.shape[:-1] + (1,)
        assert not image[np.broadcast_to(mask > 0, image.shape)].any(), "holes reach the model"
        self.shapes.append(image.shape)
        return np.where(mask > 0, np.float32(FILL), image)


@pytest.fixture(autouse=True)
def empty_zoo(tmp_path, monkeypatch):
    """No trained zoo entry: the default model is telea."""
    monkeypatch.setattr(zoo, "ZOO_ROOT", tmp_path / "empty_zoo")


def photo(height=24, width=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(100, 256, size=(height, width, 3), dtype=np.uint8)


def box_mask(height=24, width=32, box=(slice(6, 14), slice(10, 20))):
    mask = np.zeros((height, width), bool)
    mask[box] = True
    return mask


def test_uint8_array_matches_telea_and_keeps_known_pixels():
    image, hole = photo(), box_mask()
    result = inpaint(image, hole.astype(np.uint8) * 255, model="telea")
    assert result.dtype == np.uint8 and result.shape == image.shape
    np.testing.assert_array_equal(result[~hole], image[~hole])
    expected = postprocess.telea(image / np.float32(255), hole[..., None])
    np.testing.assert_array_equal(result[hole], np.rint(expected[hole] * 255).astype(np.uint8))


def test_float_input_gives_float32_with_bit_identical_known_pixels():
    image = photo().astype(np.float32) / 256 + np.float32(1e-4)  # not on 8-bit levels
    hole = box_mask()
    result = inpaint(image, hole, model=ConstantFill())
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result[~hole].view(np.uint32), image[~hole].view(np.uint32))
    np.testing.assert_array_equal(result[hole], FILL)


def test_batch_array_is_split_by_batch_size():
    images = np.stack([photo(seed=s) for s in range(5)])
    masks = np.stack([box_mask()] * 5)[..., None].astype(np.float32)
    model = ConstantFill()
    result = inpaint(images, masks, model=model, batch_size=np.int64(2))  # NumPy's ints too
    assert result.shape == images.shape and result.dtype == np.uint8
    assert [shape[0] for shape in model.shapes] == [2, 2, 1]
    hole = np.broadcast_to(masks > 0, images.shape)
    np.testing.assert_array_equal(result[~hole], images[~hole])
    assert (result[hole] == FILL_LEVEL).all()


def test_list_of_different_sizes_returns_a_list():
    images = [photo(24, 32), photo(17, 9)]
    masks = [box_mask(24, 32), box_mask(17, 9, (slice(2, 5), slice(1, 4)))]
    model = ConstantFill()
    result = inpaint(images, masks, model=model)
    assert isinstance(result, list) and [r.shape for r in result] == [i.shape for i in images]
    assert len(model.shapes) == 2


def test_pil_and_path_inputs(tmp_path):
    image, hole = photo(), box_mask()
    Image.fromarray(image).save(tmp_path / "image.png")
    Image.fromarray(hole.astype(np.uint8) * 255).save(tmp_path / "mask.png")
    from_pil = inpaint(Image.fromarray(image), Image.fromarray(hole), model=ConstantFill())
    assert isinstance(from_pil, Image.Image) and from_pil.mode == "RGB"
    from_path = inpaint(str(tmp_path / "image.png"), tmp_path / "mask.png", model=ConstantFill())
    assert isinstance(from_path, np.ndarray) and from_path.dtype == np.uint8
    np.testing.assert_array_equal(np.asarray(from_pil), from_path)
    np.testing.assert_array_equal(from_path[~hole], image[~hole])
    assert (from_path[hole] == FILL_LEVEL).all()


def test_photo_whose_exif_pil_cannot_parse_is_used_as_stored_with_a_warning(tmp_path):
    """EXIF data that PIL cannot parse says nothing of the pixels: `inpaint()` and `load_image`
    read the photo as stored and warn naming the file (they refused it: "cannot read image
    file ...: not a TIFF file"), as the served graph reads it; a readable orientation still
    turns the photo."""
    image, hole = photo(), box_mask()
    broken, sideways = tmp_path / "broken.png", tmp_path / "sideways.png"
    Image.fromarray(image).save(broken, exif=b"garbage!" * 4)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned a quarter clockwise
    Image.fromarray(image).save(sideways, exif=exif)
    with pytest.warns(UserWarning, match=r"broken\.png'.*EXIF data cannot be read.*as stored"):
        filled = inpaint(broken, hole, model=ConstantFill())
    np.testing.assert_array_equal(filled, inpaint(image, hole, model=ConstantFill()))
    with pytest.warns(UserWarning, match=r"broken\.png'.*EXIF data cannot be read"):
        np.testing.assert_array_equal(data.load_image(broken), image / np.float32(255))
    turned = np.rot90(image, -1)
    np.testing.assert_array_equal(data.load_image(sideways), turned / np.float32(255))
    # PIL reads this orientation, then fails to rewrite the EXIF (a FLOAT camera make) in
    # ImageOps.exif_transpose: the photo is still turned, without a warning
    exif = (b"Exif\0\0MM\0*" + struct.pack(">IH", 8, 2) + struct.pack(">HHIH2x", 0x0112, 3, 1, 6)
            + struct.pack(">HHIf", 0x010F, 11, 1, 1.0) + b"\0" * 4)
    float_make = tmp_path / "float_make.png"
    Image.fromarray(image).save(float_make, exif=exif)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(data.load_image(float_make), turned / np.float32(255))
    np.testing.assert_array_equal(inpaint(sideways, np.rot90(hole, -1), model=ConstantFill()),
                                  inpaint(turned, np.rot90(hole, -1), model=ConstantFill()))


def mask_variants(hole):
    """The same hole written in every accepted mask format (value, description)."""
    levels = hole.astype(np.uint8) * 255
    transparent_white = np.zeros(hole.shape + (4,), np.uint8)
    transparent_white[..., :3] = 255  # white everywhere, but only opaque in the hole
    transparent_white[..., 3] = levels
    palette = Image.fromarray(levels).convert("P")
    return [
        (hole, "bool"),
        (hole.astype(np.int64), "int64 0/1"),
        (hole.astype(np.float32)[..., None], "float [H,W,1]"),
        (levels, "uint8 L"),
        (hole.astype(np.uint16) * 65535, "uint16"),
        (np.stack([levels] * 3, axis=-1), "uint8 RGB"),
        (transparent_white, "RGBA, transparent = known"),
        (Image.fromarray(levels), "PIL L"),
        (Image.fromarray(levels).convert("1"), "PIL 1-bit"),
        (Image.fromarray(levels).convert("RGB"), "PIL RGB"),
        (Image.fromarray(transparent_white, "RGBA"), "PIL RGBA"),
        (palette, "PIL palette"),
        (Image.fromarray(hole.astype(np.uint16) * 65535), "PIL 16-bit"),
    ]


def test_every_mask_format_gives_the_same_hole():
    image, hole = photo(), box_mask()
    for mask, description in mask_variants(hole):
        result = inpaint(image, mask, model=ConstantFill())
        found = (result != image).any(axis=-1)
        np.testing.assert_array_equal(found, hole, err_msg=description)


def test_threshold_on_grey_masks():
    image = photo()
    mask = np.zeros((24, 32), np.uint8)
    mask[2:6, 2:6] = 100  # grey: a hole by default (nonzero), known at threshold 0.5
    mask[10:14, 10:14] = 200
    default = (inpaint(image, mask, model=ConstantFill()) != image).any(-1)
    strict = (inpaint(image, mask, model=ConstantFill(), mask_threshold=np.float32(0.5))
              != image).any(-1)
    np.testing.assert_array_equal(default, mask > 0)
    np.testing.assert_array_equal(strict, mask > 127)


def test_rgba_image_alpha_is_the_hole_without_a_mask(tmp_path):
    image, hole = photo(), box_mask()
    rgba = np.concatenate([image, np.where(hole, 0, 255).astype(np.uint8)[..., None]], -1)
    rgba[hole, :3] = 7  # colour under transparent pixels is ignored
    result = inpaint(rgba, model=ConstantFill())
    assert result.shape == image.shape
    np.testing.assert_array_equal(result[~hole], image[~hole])
    assert (result[hole] == FILL_LEVEL).all()
    Image.fromarray(rgba, "RGBA").save(tmp_path / "cutout.png")
    from_file = inpaint(tmp_path / "cutout.png", model=ConstantFill())
    np.testing.assert_array_equal(from_file, result)


def test_all_zero_mask_returns_input_unchanged_without_calling_the_model():
    image = photo()
    model = ConstantFill()
    result = inpaint(image, np.zeros((24, 32), np.uint8), model=model)
    np.testing.assert_array_equal(result, image)
    assert result is not image and model.shapes == []


@pytest.mark.parametrize("model", ["telea", "navier_stokes", "toy"])
def test_all_hole_mask_gives_a_finite_image(model):
    if model == "toy":
        keras.utils.set_random_seed(0)
        model = ToyInpainter(image_size=16, width=3)
    image = photo().astype(np.float32) / 255
    masks = [np.zeros((24, 32), bool), np.ones((24, 32), bool)]
    with pytest.warns(UserWarning, match=r"the mask of image 1 \(0-based\) marks every pixel"):
        result = inpaint([image, image], masks, model=model)[1]
    assert np.isfinite(result).all() and result.min() >= 0 and result.max() <= 1


def test_keras_model_at_an_odd_size_matches_a_direct_call():
    keras.utils.set_random_seed(0)
    model = ToyInpainter(image_size=16, width=3)
    image, hole = photo(13, 17), box_mask(13, 17, (slice(3, 9), slice(4, 11)))
    result = inpaint(image, hole, model=model)
    mask = hole[None, ..., None].astype(np.float32)
    direct = np.asarray(model({"image": image[None] / np.float32(255) * (1 - mask), "mask": mask}))
    expected = np.where(hole[..., None], np.rint(np.clip(direct[0], 0, 1) * 255), image)
    np.testing.assert_array_equal(result, expected.astype(np.uint8))


def test_tiny_images_are_filled_by_a_padded_network():
    """gated_conv reflects to a multiple of 8, which needs 5 pixels: smaller images are
    mirrored up to that first; an image without pixels is refused."""
    model = zoo.load("gated_conv", weights=None, image_size=32, width=4)
    for height, width in ((4, 9), (1, 1), (3, 200)):
        image, hole = photo(height, width), box_mask(height, width, (slice(0, 1), slice(0, 1)))
        result = inpaint(image, hole, model=model)
        assert result.shape == (height, width, 3)
        np.testing.assert_array_equal(result[~hole], image[~hole])
    with pytest.raises(ValueError, match=r"at least 1x1 pixels .* received shape \(1, 0, 9, "):
        model({"image": np.zeros((1, 0, 9, 3), np.float32), "mask": np.zeros((1, 0, 9, 1))})


def test_repeated_shapes_run_traced_with_the_eager_result(monkeypatch):
    monkeypatch.setattr(inference, "GRAPH_MODE_MIN_CALLS", 3)
    keras.utils.set_random_seed(0)
    model = ToyInpainter(image_size=16, width=3)
    images = np.stack([photo(seed=seed) for seed in range(2)]).astype(np.float32) / 255
    holes = np.broadcast_to(box_mask(), (2, 24, 32))
    eager = inpaint(images, holes, model=model, batch_size=1)  # calls 1 and 2 of the shape
    assert inference._MODEL_CALLS[model].traced is None
    traced = inpaint(images, holes, model=model, batch_size=1)  # calls 3 and 4: traced
    assert inference._MODEL_CALLS[model].traced is not None
    assert inference._MODEL_CALLS[model].counts == {(1, 24, 32, 3): 4}
    np.testing.assert_allclose(traced, eager, atol=1e-6)
    plain = ConstantFill()
    assert inference._runner(plain, (1, 24, 32, 3)) is plain  # plain callables as they are


def test_poisson_postprocess_equals_blending_the_fill():
    image, hole = photo(), box_mask()
    result = inpaint(image, hole, model=ConstantFill(), postprocess="poisson")
    pixels = image.astype(np.float32) / 255
    filled = np.where(hole[..., None], np.float32(FILL), pixels)
    blended = postprocess.poisson_blend(pixels, hole[..., None], filled)
    np.testing.assert_array_equal(result, np.rint(blended * 255).astype(np.uint8))
    assert (result[hole] != FILL_LEVEL).any()  # the colours moved towards the context


def test_default_model_is_the_classical_default_when_no_network_beats_it(monkeypatch):
    monkeypatch.setattr(zoo, "has_weights", lambda name: False)
    assert zoo.default_model() == zoo.CLASSICAL_DEFAULT == "navier_stokes"
    image, hole = photo(), box_mask()
    np.testing.assert_array_equal(inpaint(image, hole),
                                  inpaint(image, hole, model="navier_stokes"))


def test_errors(tmp_path):
    image, hole = photo(), box_mask()
    (tmp_path / "broken.png").write_bytes(b"not a png")
    nan_image = image.astype(np.float32) / 255
    nan_image[0, 0, 0] = np.nan
    nan_mask = hole.astype(np.float32)
    nan_mask[1, 1] = np.nan
    cases = [
        ((image, box_mask(20, 32)), {}, r"mask has size \(20, 32\).*image has size \(24, 32\)"),
        ((image, tmp_path / "broken.png"), {}, "cannot read mask file .*broken.png"),
        ((tmp_path / "broken.png", hole), {}, "cannot read image file .*broken.png"),
        ((nan_image, hole), {}, "image contains NaN"),
        ((image, nan_mask), {}, "mask contains NaN"),
        ((image * 2.0, hole), {}, r"float images must be in \[0, 1\]"),
        ((np.zeros((0, 8, 8, 3), np.uint8), None), {}, "empty batch"),
        (([], None), {}, "empty batch"),
        ((image,), {}, "no alpha channel, so a mask is needed"),
        ((image[..., 0], hole), {}, r"image must have shape \[H, W, 3\]"),
        ((np.stack([image] * 2), hole), {}, "a batch of 2 images needs 2 masks"),
        ((image, hole), {"model": "no_such_model"}, "valid names: .*gated_conv"),
        ((image, hole), {"model": 3}, "model must be a zoo name"),
        ((image, hole), {"model": types.SimpleNamespace(signatures={})},
         r"received SimpleNamespace \(a loaded SavedModel is called through its signatures"),
        ((image, hole), {"model": "gated_conv"}, "no trained weights yet"),
        ((image, hole), {"postprocess": "sharpen"}, "postprocessor"),
        ((image, hole), {"batch_size": 0}, "batch_size"),
        ((image, hole), {"mask_threshold": 1.5}, "mask_threshold"),
    ]
    for args, kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            inpaint(*args, **kwargs)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        inpaint(tmp_path / "missing.png", hole)
    with pytest.raises(IsADirectoryError, match="is a folder, not an image file"):
        inpaint(tmp_path, hole)


def random_boxes(seed, count, largest_image, largest_model):
    """`count` random ``(top, left, height, width, model_size, image_size)`` arguments of
    `inference._context_window`: boxes inside images of up to `largest_image` pixels a side,
    models of 8 to `largest_model`."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        image_size = tuple(int(v) for v in rng.integers(20, largest_image, size=2))
        model_size = tuple(int(v) for v in rng.integers(8, largest_model, size=2))
        height, width = (int(rng.integers(1, side + 1)) for side in image_size)
        top = int(rng.integers(0, image_size[0] - height + 1))
        left = int(rng.integers(0, image_size[1] - width + 1))
        yield top, left, height, width, model_size, image_size


def test_context_window_contains_the_box_and_stays_inside():
    for top, left, height, width, model_size, image_size in random_boxes(0, 200, 400, 64):
        rows, columns, scale = inference._context_window(
            top, left, height, width, model_size, image_size)
        assert 0 <= rows.start <= top and top + height <= rows.stop <= image_size[0]
        assert 0 <= columns.start <= left and left + width <= columns.stop <= image_size[1]
        assert scale >= 1
        crops = [crop.stop - crop.start for crop in (rows, columns)]
        scaled = [inference.scaled_size(crop, scale) for crop in crops]
        floors = [min(crop, inference.MIN_SCALED_FRACTION * side)
                  for crop, side in zip(crops, model_size)]
        assert all(side >= math.floor(floor) for side, floor in zip(scaled, floors))
        fits = all(side <= model_side for side, model_side in zip(scaled, model_size))
        fills = any(side == model_side for side, model_side in zip(scaled, model_size))
        at_floor = any(side <= math.ceil(floor) for side, floor in zip(scaled, floors))
        # Scaled down to fit, and no more than that (one side fills the model's), unless a side
        # would then fall below its floor: then it is at its floor.
        assert at_floor or (fits and (fills or scale == 1))


def test_thin_crops_of_long_photos_keep_half_the_model_side():
    # A 400x50 hole in a 300x2000 photo: the 3x crop is clipped to the photo's 300 rows. Fitted
    # into 128x128 it would reach the model at 31x128, under contextual_attention's 64-pixel
    # minimum; the factor is capped at 300 / 64 instead: 64x266.
    model = ConstantFill(image_size=128)
    image, hole = photo(300, 2000), box_mask(300, 2000, (slice(125, 175), slice(800, 1200)))
    result = inpaint(image, hole, model=model)
    assert model.shapes == [(1, 64, 266, 3)]
    np.testing.assert_array_equal(result[~hole], image[~hole])
    assert (result[hole] != image[hole]).all(axis=-1).mean() > 0.9


def test_context_window_clipped_by_the_image_is_scaled_down_only_to_fit():
    # Chelsea's larger hole region (95x235 at (43, 43), 300x451 photo) for a 128x128 model: the
    # wanted crop (3x the box) is clipped to the whole photo, which then needs a factor of only
    # 451 / 128, not 3 * 235 / 128: the model sees it at 85x128, not 54x82.
    rows, columns, scale = inference._context_window(43, 43, 95, 235, (128, 128), (300, 451))
    assert (rows, columns) == (slice(0, 300), slice(0, 451))
    assert scale == pytest.approx(451 / 128)
    assert [inference.scaled_size(side, scale) for side in (300, 451)] == [85, 128]


def test_high_resolution_image_is_filled_in_model_sized_crops():
    height, width, model_size = 1500, 2000, (32, 32)
    image = np.full((height, width, 3), 200, np.uint8)
    image[:, : width // 2] = 120
    hole = np.zeros((height, width), bool)
    hole[700:740, 985:1015] = True  # small hole across the colour edge
    hole[100:104, 100:130] = True  # a second region far away
    hole[100:104, 135:140] = True  # close to the previous one: the same crop
    model = ConstantFill(image_size=model_size)
    result = inpaint(image, hole, model=model)
    assert len(model.shapes) == 2
    assert all(max(shape[1:3]) <= model_size[0] for shape in model.shapes)
    np.testing.assert_array_equal(result[~hole], image[~hole])
    # Bilinear upscaling blends the fill with the scaled-down context near the hole's edge
    # only: the inside of the hole (farther than a scaled-down pixel from it) is the fill.
    inside = cv2.erode(hole.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    assert inside.sum() > 100 and (result[inside] == FILL_LEVEL).all()
    assert (result[hole] != image[hole]).all(axis=-1).mean() > 0.9


def test_high_resolution_with_a_keras_model():
    keras.utils.set_random_seed(0)
    model = ToyInpainter(image_size=16, width=3)
    image = np.full((1500, 2000, 3), 90, np.uint8)
    hole = np.zeros((1500, 2000), bool)
    hole[40:70, 1900:1950] = True
    result = inpaint(image, hole, model=model)
    np.testing.assert_array_equal(result[~hole], image[~hole])
    assert (result[hole] != 90).any()


def test_side_by_side_panels():
    image, hole = photo(), box_mask()
    result = inpaint(image, hole, model=ConstantFill())
    panels = side_by_side(image, hole, result)
    assert panels.shape == (24, 96, 3) and panels.dtype == np.uint8
    shown, mask_panel, result_panel = np.split(panels, 3, axis=1)
    assert (shown[hole] == 255).all()
    np.testing.assert_array_equal(shown[~hole], image[~hole])
    np.testing.assert_array_equal(mask_panel[..., 0] > 0, hole)
    np.testing.assert_array_equal(result_panel, result)


def test_cli_single_file_and_compare(tmp_path, capsys):
    code = cli.main(["inpaint", str(CHELSEA), str(CHELSEA_MASK), "-o", str(tmp_path / "r.png"),
                     "--compare", str(tmp_path / "c.png")])
    assert code == 0, capsys.readouterr().err
    result = np.asarray(Image.open(tmp_path / "r.png"))
    original = np.asarray(Image.open(CHELSEA).convert("RGB"))
    hole = np.asarray(Image.open(CHELSEA_MASK)) > 0
    np.testing.assert_array_equal(result[~hole], original[~hole])
    assert (result[hole] != original[hole]).any()
    assert np.asarray(Image.open(tmp_path / "c.png")).shape == (300, 3 * 451, 3)


def test_cli_folders_match_masks_by_stem_and_report_missing(tmp_path, capsys):
    images, masks, out = tmp_path / "images", tmp_path / "masks", tmp_path / "out"
    images.mkdir()
    masks.mkdir()
    for index in range(3):
        Image.fromarray(photo(seed=index)).save(images / f"p{index}.jpg")
    for index in (0, 2):
        Image.fromarray(box_mask().astype(np.uint8) * 255).save(masks / f"p{index}.png")
    code = cli.main(["inpaint", str(images), str(masks), "-o", str(out), "--compare",
                     str(tmp_path / "compare")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert sorted(p.name for p in out.iterdir()) == ["p0.png", "p2.png"]
    assert sorted(p.name for p in (tmp_path / "compare").iterdir()) == ["p0.png", "p2.png"]
    assert "for 1 image(s), skipped: p1.jpg" in captured.err
    assert "inpaint" in captured.err  # the progress bar


def test_cli_bad_input_exits_non_zero_with_one_line(tmp_path):
    Image.fromarray(photo()).save(tmp_path / "image.png")
    Image.fromarray(box_mask(20, 32).astype(np.uint8) * 255).save(tmp_path / "mask.png")
    result = subprocess.run(
        [sys.executable, "-m", "keras_inpaint.cli", "inpaint", str(tmp_path / "image.png"),
         str(tmp_path / "mask.png"), "-o", str(tmp_path / "out.png"), "--model", "telea"],
        env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("keras-inpaint inpaint: error: mask")
    assert "image has size (24, 32)" in lines[0]
    assert not (tmp_path / "out.png").exists()


def test_classical_command_line_does_not_import_tensorflow(tmp_path):
    code = (
        "import sys; from keras_inpaint.cli import main; "
        f"assert main(['inpaint', {str(CHELSEA)!r}, {str(CHELSEA_MASK)!r}, '-o', "
        f"{str(tmp_path / 'r.png')!r}, '--model', 'telea']) == 0; "
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], env=subprocess_env(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "r.png").exists()
