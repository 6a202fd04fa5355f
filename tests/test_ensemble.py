"""FlipEnsemble against a NumPy mean of mirrored fills, its serialization, its errors, and its
command-line options (evaluate, inpaint, export)."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_inpaint import cli, evaluation, inpaint
from keras_inpaint.ensemble import FlipEnsemble
from keras_inpaint.postprocess import ClassicalInpainter
from test_evaluation import write_masks
from test_export import model  # noqa: F401 (a fixture: a ToyInpainter at 16x16)


@pytest.fixture(scope="module")
def toy_file(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("toy") / "toy.keras"
    model.save(path)
    return path


def batch(seed=0):
    rng = np.random.default_rng(seed)
    mask = np.zeros((2, 12, 10, 1), np.float32)
    mask[0, 2:7, 1:6] = 1
    mask[1, 5:12, 4:10] = 1
    return {"image": rng.uniform(size=(2, 12, 10, 3)).astype(np.float32), "mask": mask}


def numpy_flip_mean(model, inputs, flips):
    """The mean over the first `flips` of (none, left-right, top-bottom, both) of the mirrored
    model output of the mirrored inputs, flipped with NumPy slicing."""
    steps = [(1, 1), (1, -1), (-1, 1), (-1, -1)][:flips]
    fills = []
    for rows, columns in steps:
        mirrored = {key: np.ascontiguousarray(value[:, ::rows, ::columns])
                    for key, value in inputs.items()}
        fills.append(np.asarray(model(mirrored))[:, ::rows, ::columns])
    return np.mean(fills, axis=0)


@pytest.mark.parametrize("flips", [1, 2, 4])
def test_flip_ensemble_is_the_mean_of_mirrored_fills(model, flips):
    inputs = batch()
    ensemble = FlipEnsemble(model, flips)
    output = np.asarray(ensemble(inputs))
    np.testing.assert_allclose(output, numpy_flip_mean(model, inputs, flips), atol=1e-6)
    known = inputs["mask"][..., 0] == 0
    np.testing.assert_array_equal(output[known], inputs["image"][known])  # still composited
    if flips > 1:  # the model is not mirror-symmetric, so the mean differs from one fill
        assert np.abs(output - np.asarray(model(inputs))).max() > 1e-3
    assert ensemble.image_size == (16, 16)


def test_flip_ensemble_saves_and_loads(model, tmp_path):
    ensemble = FlipEnsemble(model, 2)
    ensemble.save(tmp_path / "e.keras")
    loaded = keras.saving.load_model(tmp_path / "e.keras")
    assert isinstance(loaded, FlipEnsemble) and loaded.flips == 2
    np.testing.assert_array_equal(np.asarray(loaded(batch())), np.asarray(ensemble(batch())))


def test_flip_ensemble_refuses_bad_arguments(model):
    for flips in (3, 0, True, "4"):
        with pytest.raises(ValueError, match=rf"flips must be one of \(1, 2, 4\), received "
                                             rf"{flips!r}"):
            FlipEnsemble(model, flips)
    with pytest.raises(ValueError, match="takes an inpainting keras.Model, received "
                                         "ClassicalInpainter"):
        FlipEnsemble(ClassicalInpainter("telea"), 2)


def test_evaluate_scores_a_flip_ensemble_column(model, toy_file, photo_folder, tmp_path,
                                                 capsys):
    photos = photo_folder
    masks = write_masks(tmp_path / "masks", [0.25, 0.35])
    common = ["--images", str(photos), "--masks", str(masks), "--size", "16"]
    assert cli.main(["evaluate", f"toy={toy_file}", f"mean={toy_file}", "--flips", "mean=4",
                     "--json", str(tmp_path / "r.json"), *common]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["protocol"]["flips"] == {"mean": 4}
    expected = evaluation.evaluate({"mean": FlipEnsemble(model, 4)}, photos, masks,
                                   size=16)["mean"].table()
    scored = [row for row in report["methods"]["mean"] if row["count"]]
    assert scored == [pytest.approx(row) for row in expected if row["count"]]
    assert report["methods"]["toy"] != report["methods"]["mean"]
    for arguments, message in [
        (["telea", "--flips", "telea=2"], "--flips telea=2: FlipEnsemble takes an inpainting "
                                          "keras.Model, received ClassicalInpainter"),
        ([str(toy_file), "--flips", f"{toy_file}=3"], "--flips expects N one of (1, 2, 4), "
                                                      "received '3'"),
        (["telea", "--flips", "toy=2"], "--flips LABEL=N expects LABEL one of telea"),
    ]:
        capsys.readouterr()
        assert cli.main(["evaluate", *arguments, *common]) == 2
        assert message in capsys.readouterr().err


def test_inpaint_and_export_take_flips(model, toy_file, tmp_path, capsys):
    image = np.random.default_rng(1).integers(0, 256, (20, 24, 3), np.uint8)
    mask = np.zeros((20, 24), np.uint8)
    mask[4:11, 6:15] = 255
    Image.fromarray(image).save(tmp_path / "photo.png")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    assert cli.main(["inpaint", str(tmp_path / "photo.png"), str(tmp_path / "mask.png"),
                     "-o", str(tmp_path / "out.png"), "--model", str(toy_file),
                     "--flips", "4"]) == 0
    expected = np.asarray(inpaint(image, mask, model=FlipEnsemble(model, 4)))
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out.png")), expected)
    assert (expected != np.asarray(inpaint(image, mask, model=model))).any()
    assert cli.main(["inpaint", str(tmp_path / "photo.png"), str(tmp_path / "mask.png"),
                     "-o", str(tmp_path / "x.png"), "--model", "telea", "--flips", "2"]) == 2
    assert "--flips 2: FlipEnsemble takes an inpainting keras.Model" in capsys.readouterr().err

    assert cli.main(["export", str(toy_file), str(tmp_path / "served"), "--flips", "4"]) == 0
    signature = tf.saved_model.load(str(tmp_path / "served" / "1")).signatures["serving_default"]
    served = signature(image=image[None], mask=mask[None, ..., None])["inpainted"].numpy()[0]
    np.testing.assert_array_equal(served, expected)
