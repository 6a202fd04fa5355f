"""Tests for keras_inpaint.data: image decoding, folder and TFDS pipelines, resuming."""

import contextlib
import os
import re

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_inpaint import data, masks

SIZE = 16
BATCH = 4
IGNORE_SKIP_WARNINGS = pytest.mark.filterwarnings(
    "ignore::keras_inpaint.data.UnreadableImageWarning"
)


class StripeMask:
    """A tiny mask generator: one (H/2, W/2) hole at an rng-chosen position."""

    def __call__(self, height, width, rng):
        mask = np.zeros((height, width, 1), np.float32)
        top = rng.integers(0, height // 2 + 1)
        left = rng.integers(0, width // 2 + 1)
        mask[top : top + height // 2, left : left + width // 2] = 1.0
        return mask


def _rng_pixels(seed, shape):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _take(dataset, count):
    return [{key: value.numpy() for key, value in batch.items()} for batch in dataset.take(count)]


def _assert_same_batches(first, second):
    assert len(first) == len(second)
    for one, other in zip(first, second):
        np.testing.assert_array_equal(one["image"], other["image"])
        np.testing.assert_array_equal(one["mask"], other["mask"])


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A folder mixing formats, modes, sizes, nesting, extension cases and broken files.

    Returns (folder, {name: (path, expected float image or None)}).
    """
    root = tmp_path_factory.mktemp("photos")
    (root / "a" / "b").mkdir(parents=True)
    files = {}

    rgba = _rng_pixels(1, (24, 16, 4))
    rgba[0, 0, 3], rgba[0, 1, 3] = 0, 255
    Image.fromarray(rgba, "RGBA").save(root / "a" / "b" / "rgba.png")
    colour, alpha = rgba[..., :3] / 255.0, rgba[..., 3:] / 255.0
    files["rgba"] = (root / "a" / "b" / "rgba.png", colour * alpha + (1.0 - alpha))

    grey = _rng_pixels(2, (12, 10))  # smaller than the crop: must be enlarged
    Image.fromarray(grey, "L").save(root / "grey.png")
    files["grey"] = (root / "grey.png", np.repeat(grey[..., None] / 255.0, 3, axis=-1))

    deep = np.random.default_rng(3).integers(0, 65536, (20, 18), dtype=np.uint16)
    Image.fromarray(deep).save(root / "deep16.png")
    files["deep16"] = (root / "deep16.png", np.repeat(deep[..., None] / 65535.0, 3, axis=-1))

    bmp = _rng_pixels(4, (18, 18, 3))
    Image.fromarray(bmp).save(root / "upper.BMP")
    files["bmp"] = (root / "upper.BMP", bmp / 255.0)

    tiff = _rng_pixels(5, (30, 22, 3))
    Image.fromarray(tiff).save(root / "a" / "scan.TIF")
    files["tiff"] = (root / "a" / "scan.TIF", tiff / 255.0)

    frames = [Image.new("RGB", (20, 16), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(root / "anim.gif", save_all=True, append_images=frames[1:])
    files["gif"] = (root / "anim.gif", np.broadcast_to([1.0, 0.0, 0.0], (16, 20, 3)))

    Image.fromarray(_rng_pixels(6, (17, 25, 3))).save(root / "a" / "pic.webp")
    files["webp"] = (root / "a" / "pic.webp", None)

    jpeg_path = root / "a" / "rgb.jpg"
    Image.fromarray(_rng_pixels(7, (20, 28, 3))).save(jpeg_path, quality=90)
    files["jpeg"] = (jpeg_path, None)

    encoded = jpeg_path.read_bytes()
    (root / "a" / "b" / "truncated.jpg").write_bytes(encoded[: len(encoded) // 2])
    (root / "corrupt.jpg").write_bytes(np.random.default_rng(8).bytes(400))
    (root / "notes.txt").write_text("not an image")
    return root, files


BROKEN = ("corrupt.jpg", "truncated.jpg")


def test_list_image_files_recursive_any_case(photos):
    root, files = photos
    paths = data.list_image_files(root)
    assert paths == sorted(paths)
    names = {os.path.basename(path) for path in paths}
    assert names == {os.path.basename(path) for path, _ in files.values()} | set(BROKEN)
    assert not any(path.endswith(".txt") for path in paths)


def test_load_image_modes(photos):
    _, files = photos
    for name, (path, expected) in files.items():
        image = data.load_image(path)
        assert image.dtype == np.float32 and image.ndim == 3 and image.shape[-1] == 3, name
        assert 0.0 <= image.min() and image.max() <= 1.0, name
        if expected is not None:
            np.testing.assert_allclose(image, expected, atol=1e-6, err_msg=name)
    rgba = data.load_image(files["rgba"][0])
    np.testing.assert_allclose(rgba[0, 0], 1.0)  # fully transparent -> white


def test_load_image_errors(photos):
    root, _ = photos
    with pytest.raises(ValueError, match="corrupt.jpg"):
        data.load_image(root / "corrupt.jpg")
    with pytest.raises(ValueError, match="truncated.jpg"):
        data.load_image(root / "a" / "b" / "truncated.jpg")
    with pytest.raises(FileNotFoundError, match="missing.png"):
        data.load_image(root / "missing.png")


def test_load_mask_threshold_and_resize(tmp_path):
    assert data.load_mask is masks.load_mask  # one implementation, shared with FolderMask
    values = np.array([[0, 100], [140, 255]], np.uint8)
    Image.fromarray(values, "L").save(tmp_path / "mask.png")
    mask = data.load_mask(tmp_path / "mask.png", size=(4, 4), threshold=0.5)
    expected = np.kron(values / 255.0 > 0.5, np.ones((2, 2)))[..., None]
    assert mask.dtype == np.float32
    np.testing.assert_array_equal(mask, expected)


def test_folder_batches_skip_broken_files(photos):
    root, _ = photos
    data.SKIPPED_FILES.clear()
    generator = StripeMask()
    with pytest.warns(data.UnreadableImageWarning) as record:
        dataset = data.make_dataset(root, image_size=SIZE, batch_size=BATCH, masks=generator)
        # 3 batches = 12 elements: the whole first epoch of 10 files, broken ones included.
        batches = _take(dataset, 3)
    assert dataset.element_spec["image"].shape == (BATCH, SIZE, SIZE, 3)
    assert dataset.element_spec["mask"].shape == (BATCH, SIZE, SIZE, 1)
    for index, batch in enumerate(batches):
        assert batch["image"].dtype == np.float32 and batch["mask"].dtype == np.float32
        assert batch["image"].min() >= 0.0 and batch["image"].max() <= 1.0
        for row, mask in enumerate(batch["mask"]):
            element = index * BATCH + row
            expected = generator(SIZE, SIZE, np.random.default_rng([0, element]))
            np.testing.assert_array_equal(mask, expected)
    messages = " ".join(str(warning.message) for warning in record)
    assert all(name in messages for name in BROKEN)
    assert data.SKIPPED_FILES.count == 2
    assert sorted(os.path.basename(path) for path in data.SKIPPED_FILES.paths) == sorted(BROKEN)
    report = data.skipped_files_report()
    assert report.startswith("2 unreadable image files") and all(name in report for name in BROKEN)


@IGNORE_SKIP_WARNINGS
def test_resume_equals_uninterrupted_stream(photos):
    root, _ = photos
    settings = dict(image_size=SIZE, batch_size=3, masks="rectangle", seed=7)
    data.SKIPPED_FILES.clear()
    # 5 batches of 3 cross the epoch boundary (10 files) inside batch 3.
    uninterrupted = _take(data.make_dataset(root, **settings), 5)
    # Same seed, with the broken files now known: the same stream.
    _assert_same_batches(uninterrupted, _take(data.make_dataset(root, **settings), 5))
    resumed = _take(data.make_dataset(root, start_index=2 * 3, **settings), 3)
    _assert_same_batches(uninterrupted[2:], resumed)
    other = _take(data.make_dataset(root, **{**settings, "seed": 8}), 1)
    assert not np.array_equal(other[0]["image"], uninterrupted[0]["image"])


def test_centre_crop_and_enlargement_match_numpy(tmp_path):
    pixels = _rng_pixels(9, (12, 16, 3))
    (tmp_path / "one").mkdir()
    Image.fromarray(pixels).save(tmp_path / "one" / "image.png")
    dataset = data.make_dataset(
        tmp_path / "one", image_size=(12, 8), batch_size=1, masks=StripeMask(),
        augment=False, shuffle=False, repeat=False,
    )
    batches = _take(dataset, 2)
    assert len(batches) == 1  # one pass over one image
    np.testing.assert_allclose(batches[0]["image"][0], pixels[:, 4:12] / 255.0, atol=1e-6)

    colour = np.array([30, 160, 240], np.uint8)
    (tmp_path / "small").mkdir()
    Image.fromarray(np.broadcast_to(colour, (5, 4, 3)).copy()).save(tmp_path / "small" / "a.png")
    image = _take(data.make_dataset(tmp_path / "small", image_size=SIZE, batch_size=2,
                                    masks=StripeMask()), 1)[0]["image"]
    assert image.shape == (2, SIZE, SIZE, 3)
    np.testing.assert_allclose(image, np.broadcast_to(colour / 255.0, image.shape), atol=1e-6)


def _epoch_source(kind, tmp_path):
    """(source, context manager) of 6 images for the epoch-order test."""
    if kind == "tfds":
        tfds = pytest.importorskip("tensorflow_datasets")
        return "tfds:celeb_a_hq/256", tfds.testing.mock_data(num_examples=6)
    for index in range(6):
        colour = np.array([40 * index, 255 - 40 * index, 100], np.uint8)
        Image.fromarray(np.broadcast_to(colour, (20, 20, 3)).copy()).save(tmp_path / f"{index}.png")
    return tmp_path, contextlib.nullcontext()


@pytest.mark.parametrize("kind", ["folder", "tfds"])
def test_each_epoch_is_a_new_permutation(kind, tmp_path):
    source, context = _epoch_source(kind, tmp_path)
    settings = dict(image_size=8, batch_size=6, masks=StripeMask(), augment=False)
    with context:  # without augment, an output image depends only on its source image
        reference = _take(data.make_dataset(source, shuffle=False, **settings), 2)
        shuffled = _take(data.make_dataset(source, seed=5, **settings), 2)
    fixed = [image for image in reference[0]["image"]]
    np.testing.assert_array_equal(reference[1]["image"], reference[0]["image"])

    def order(images):
        return [next(k for k, known in enumerate(fixed) if np.array_equal(known, image))
                for image in images]

    first, second = (order(batch["image"]) for batch in shuffled)
    assert sorted(first) == sorted(second) == list(range(6))
    assert first != second and first != list(range(6))


def test_errors(tmp_path, photos):
    root, _ = photos
    with pytest.raises(FileNotFoundError, match="nowhere"):
        data.make_dataset(tmp_path / "nowhere", masks=StripeMask())
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty.*\.jpg"):
        data.make_dataset(tmp_path / "empty", masks=StripeMask())
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"text.*no image files"):
        data.make_dataset(tmp_path / "text", masks=StripeMask())
    (tmp_path / "broken").mkdir()
    for name in ("x.jpg", "y.png"):
        (tmp_path / "broken" / name).write_bytes(b"definitely not an image")
    with pytest.warns(data.UnreadableImageWarning):
        with pytest.raises(ValueError, match=r"none of the 2 .*broken"):  # fails fast, no hang
            data.make_dataset(tmp_path / "broken", masks=StripeMask())
    assert {"x.jpg", "y.png"} <= {os.path.basename(p) for p in data.SKIPPED_FILES.paths}
    with pytest.raises(ValueError, match="received the file"):
        data.make_dataset(root / "grey.png", masks=StripeMask())
    bad_arguments = [
        dict(image_size=0),
        dict(image_size=(16,)),
        dict(image_size=16.0),
        dict(batch_size=0),
        dict(seed=-1),
        dict(scale_range=(0.5, 1.0)),
        dict(masks=42),
        dict(masks="no_such_mask"),
        dict(repeat=False, start_index=10),
    ]
    for arguments in bad_arguments:
        with pytest.raises(ValueError):
            data.make_dataset(root, **{"masks": StripeMask(), **arguments})


@pytest.mark.parametrize("name", ["celeb_a_hq/256", "oxford_flowers102", "mnist"])
def test_tfds_source(name):
    tfds = pytest.importorskip("tensorflow_datasets")
    settings = dict(image_size=SIZE, batch_size=2, masks=StripeMask(), seed=1)
    with tfds.testing.mock_data(num_examples=6):  # random image sizes, some below the crop
        batches = _take(data.make_dataset("tfds:" + name, **settings), 4)  # crosses an epoch
        resumed = _take(data.make_dataset("tfds:" + name, start_index=4, **settings), 2)
    _assert_same_batches(batches[2:], resumed)
    for batch in batches:
        assert batch["image"].shape == (2, SIZE, SIZE, 3) and batch["image"].dtype == np.float32
        assert batch["image"].min() >= 0.0 and batch["image"].max() <= 1.0
        assert set(np.unique(batch["mask"])) == {0.0, 1.0}
    if name == "mnist":  # grey: repeated over the channels
        image = batches[0]["image"]
        np.testing.assert_array_equal(image[..., 0], image[..., 2])


def test_tfds_source_without_image_feature():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=2), pytest.raises(ValueError, match="'image' feature"):
        data.make_dataset("tfds:imdb_reviews", masks=StripeMask())


@IGNORE_SKIP_WARNINGS
def test_distributed_dataset_has_static_shapes(photos):
    root, _ = photos
    dataset = data.make_dataset(root, image_size=SIZE, batch_size=2, masks=StripeMask())
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    batch = next(iter(strategy.experimental_distribute_dataset(dataset)))
    assert set(batch) == {"image", "mask"}
    assert batch["image"].shape == (2, SIZE, SIZE, 3) and batch["mask"].shape == (2, SIZE, SIZE, 1)


def test_folder_error_names_only_its_own_files(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "zero").mkdir()
    for name in ("x.jpg", "y.png"):
        (tmp_path / "broken" / name).write_bytes(b"definitely not an image")
    (tmp_path / "zero" / "zero.png").write_bytes(b"")
    with pytest.warns(data.UnreadableImageWarning):
        with pytest.raises(ValueError, match="none of the 2 image files"):
            data.make_dataset(tmp_path / "broken", masks=StripeMask())
        with pytest.raises(ValueError) as error:
            data.make_dataset(tmp_path / "zero", masks=StripeMask())
    message = str(error.value)
    assert "could be read; 1 unreadable image file was skipped:" in message
    assert "zero.png" in message and "x.jpg" not in message
    report = data.skipped_files_report()
    assert report.startswith("1 unreadable image file was skipped") and "y.png" not in report


def test_one_pass_smaller_than_a_batch(photos):
    root, _ = photos
    with pytest.raises(ValueError, match=r"holds 10 images, 2 from start_index=8: fewer than "
                                         r"batch_size=4, so with repeat=False and drop_rem"):
        data.make_dataset(root, batch_size=4, start_index=8, repeat=False, masks=StripeMask())


@IGNORE_SKIP_WARNINGS
def test_custom_mask_output_is_checked(photos):
    root, _ = photos

    def make(generator):
        return data.make_dataset(root, image_size=SIZE, batch_size=2, masks=generator)

    with pytest.raises(ValueError, match=r"must return values 0 and 1 .*received values \[255\]"):
        make(lambda h, w, rng: np.full((h, w, 1), 255, np.uint8))
    with pytest.raises(ValueError, match=r"\(16, 16\), received shape \(16, 16, 3\)"):
        make(lambda h, w, rng: np.zeros((h, w, 3), np.float32))
    mask = _take(make(lambda h, w, rng: rng.random((h, w)) < 0.5), 1)[0]["mask"]  # bool (H, W)
    assert mask.shape == (2, SIZE, SIZE, 1) and set(np.unique(mask)) == {0.0, 1.0}


@IGNORE_SKIP_WARNINGS
def test_irregular_masks_one_pixel_high(photos):
    root, _ = photos
    dataset = data.make_dataset(root, image_size=(1, 64), batch_size=8, masks="irregular")
    assert _take(dataset, 1)[0]["mask"].shape == (8, 1, 64, 1)


@pytest.mark.parametrize("scale_range", [2, (1.0, "2"), (2.0, 1.0), (1.0, float("inf"))])
def test_bad_scale_range(photos, scale_range):
    expected = f"with 1 <= low <= high, received {scale_range!r}"
    with pytest.raises(ValueError, match=re.escape(expected)):
        data.make_dataset(photos[0], scale_range=scale_range, masks=StripeMask())


def test_tfds_unknown_split_fails_before_preparing(tmp_path, monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")

    class TinyImages(tfds.core.GeneratorBasedBuilder):
        """Three 8x8 images in a "train" split, prepared locally (nothing to download)."""

        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            features = tfds.features.FeaturesDict({"image": tfds.features.Image(shape=(8, 8, 3))})
            return tfds.core.DatasetInfo(builder=self, features=features)

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples()}

        def _generate_examples(self):
            for index in range(3):
                yield index, {"image": np.full((8, 8, 3), index, np.uint8)}

    TinyImages(data_dir=tmp_path).download_and_prepare()

    def refuse(*args, **kwargs):
        raise AssertionError("download_and_prepare called before the split was checked")

    monkeypatch.setattr(TinyImages, "download_and_prepare", refuse)
    with pytest.raises(ValueError, match=r"'tiny_images' has no split 'nosuchsplit'; its splits "
                                         r"are \['train'\]"):
        data.make_dataset("tfds:tiny_images", split="nosuchsplit", data_dir=str(tmp_path),
                          masks=StripeMask())
