"""Validation during training: scores on held-out pairs at the first step, every
``validate_every`` steps and the last, equal to `keras-inpaint evaluate`'s; kept across a resume."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_inpaint import evaluation, training, zoo
from keras_inpaint.files import VALIDATION_FILE
from keras_inpaint.validation import Validation, summary_line
from test_evaluation import write_masks
from test_training import toy_train


@pytest.fixture
def masks(tmp_path):
    return write_masks(tmp_path / "masks", [0.05, 0.25, 0.35, 0.45, 0.15], size=32)


def validated_train(photo_folder, masks, output, steps, **kwargs):
    return toy_train(photo_folder, output, steps, validation_images=photo_folder,
                     validation_masks=masks, **kwargs)


def scalar_steps(log_dir, tag):
    steps = []
    for path in log_dir.glob("events.out.tfevents.*"):
        for record in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            steps += [event.step for value in event.summary.value if value.tag == tag]
    return sorted(steps)


def assert_same_table(rows, expected):
    assert [(r["bin"], r["count"]) for r in rows] == [(r["bin"], r["count"]) for r in expected]
    keys = ("l1_percent", "l2_percent", "psnr", "ssim")
    # an empty bin's scores are None (null in the JSON file): NaN here, compared as equal
    np.testing.assert_allclose(np.array([[r[k] for k in keys] for r in rows], float),
                               np.array([[r[k] for k in keys] for r in expected], float), rtol=1e-5)


def test_curve_points_are_evaluate_scores(photo_folder, masks, tmp_path):
    run = tmp_path / "run"
    model = validated_train(photo_folder, masks, run, steps=3, validate_every=2)
    log = json.loads((run / VALIDATION_FILE).read_text())
    assert [entry["step"] for entry in log["steps"]] == [0, 2, 3]
    assert log["protocol"] == {"images": str(photo_folder), "masks": str(masks), "size": 16,
                               "stride": 1, "pairs": 5}
    expected = evaluation.evaluate({"model": model}, photo_folder, masks, size=16)["model"]
    assert_same_table(log["steps"][-1]["scores"], expected.table())
    # training changed the model: the first point differs from the last
    assert log["steps"][0]["scores"][-1]["l1_percent"] != log["steps"][-1]["scores"][-1][
        "l1_percent"]
    assert scalar_steps(run / "logs", "validation/psnr") == [0, 2, 3]
    reloaded = keras.saving.load_model(run / "model.keras")
    again = Validation(photo_folder, masks, 16).scores(reloaded).table()
    assert_same_table(again, expected.table())


def test_resume_drops_points_of_lost_steps_and_refuses_another_protocol(photo_folder, masks,
                                                                         tmp_path):
    run = tmp_path / "run"
    validated_train(photo_folder, masks, run, steps=2, validate_every=1)
    path = run / VALIDATION_FILE
    log = json.loads(path.read_text())
    kept = log["steps"][:3]
    # a point measured after the last checkpoint, before a kill
    log["steps"].append({"step": 5, "scores": log["steps"][-1]["scores"]})
    path.write_text(json.dumps(log))
    with pytest.raises(ValueError, match="measured with .*'stride': 1.*'stride': 2"):
        validated_train(photo_folder, masks, run, steps=4, validate_every=1, resume=True,
                        validation_stride=2)
    validated_train(photo_folder, masks, run, steps=4, validate_every=1, resume=True)
    steps = json.loads(path.read_text())["steps"]
    assert [entry["step"] for entry in steps] == [0, 1, 2, 3, 4]
    assert steps[:3] == kept  # step 2 was measured already: not scored again


def test_bad_validation_arguments_name_what_was_received(photo_folder, masks, tmp_path):
    with pytest.raises(ValueError, match="needs both .* masks=None"):
        toy_train(photo_folder, tmp_path / "a", 1, validation_images=photo_folder)
    with pytest.raises(ValueError, match="validate_every=5 need validation_images"):
        toy_train(photo_folder, tmp_path / "b", 1, validate_every=5)
    with pytest.raises(ValueError, match="validate_every must be a positive int, received 0"):
        validated_train(photo_folder, masks, tmp_path / "c", 1, validate_every=0)
    with pytest.raises(ValueError, match=r"square training size, received \(16, 24\)"):
        training.train("toy_model:ToyInpainter", str(photo_folder), tmp_path / "d",
                       image_size=(16, 24), steps=1, validation_images=photo_folder,
                       validation_masks=masks, verbose=0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no image files"):
        validated_train(tmp_path / "empty", masks, tmp_path / "e", 1)
    assert not any((tmp_path / name).exists() for name in "abcde")


def test_summary_line():
    row = {"l1_percent": 2.1039, "l2_percent": 0.4, "psnr": 27.314, "ssim": None}
    assert summary_line(500, row) == ("validation at step 500: L1 (%) 2.104, L2 (%) 0.400, "
                                      "PSNR (dB) 27.31, SSIM -")


def test_publish_carries_the_curve_up_to_the_published_weights(photo_folder, masks, tmp_path):
    run = tmp_path / "run"
    validated_train(photo_folder, masks, run, steps=2, validate_every=1)
    log = json.loads((run / VALIDATION_FILE).read_text())
    log["steps"].append({"step": 3, "scores": log["steps"][-1]["scores"]})  # a lost session's
    (run / VALIDATION_FILE).write_text(json.dumps(log))
    metadata = zoo.read_metadata(zoo.publish(run, tmp_path / "presets" / "toy"))
    curve = metadata["validation"]
    assert curve["protocol"] == log["protocol"]
    assert [point["step"] for point in curve["steps"]] == [0, 1, 2]
    last = log["steps"][2]["scores"][-1]
    assert curve["steps"][-1]["psnr"] == last["psnr"]
    card = (tmp_path / "presets" / "toy" / "README.md").read_text()
    assert "## Validation during training" in card and "(5 pairs at 16x16)" in card
    assert (f"| 2 | {last['l1_percent']:.3f} | {last['l2_percent']:.3f} | {last['psnr']:.2f} | "
            f"{last['ssim']:.4f} |") in card
    unvalidated = tmp_path / "plain"
    toy_train(photo_folder, unvalidated, 1)
    plain = zoo.read_metadata(zoo.publish(unvalidated, tmp_path / "presets" / "plain"))
    assert plain["validation"] is None
    assert "Validation" not in (tmp_path / "presets" / "plain" / "README.md").read_text()
