"""The zoo: registry and aliases, loading by name / folder / .keras file, refusing what it
must refuse (unknown names, path escapes, tampered weights, untrained entries), publishing a
training run as a preset, the SavedModel cache, the CLI, and the wheel's contents."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from keras_inpaint import cli, training, weight_storage, zoo
from keras_inpaint.export import GRAPH_VERSION
from keras_inpaint.postprocess import ClassicalInpainter
from test_weight_storage import has_int8

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
PRESET_FILES = {"config.json", "model.weights.h5", "metadata.json", "README.md"}


def tiny_run(tmp_path_factory, photo_folder):
    """A finished one-step training run of the toy model, made once per session (the export
    tests use it too)."""
    run = tmp_path_factory.getbasetemp() / "tiny_run"
    if not (run / "model.keras").exists():
        training.train(
            "toy_model:ToyInpainter", str(photo_folder), run, image_size=16, batch_size=2,
            steps=1, overrides={"width": 3}, checkpoint_every=1, log_every=1, image_every=1,
            verbose=0,
        )
    return run


def tiny_preset(tmp_path_factory, photo_folder):
    """The tiny run published as a preset folder named ``toy``, once per session."""
    preset = tmp_path_factory.getbasetemp() / "presets" / "toy"
    if not preset.exists():
        zoo.publish(tiny_run(tmp_path_factory, photo_folder), preset)
    return preset


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, photo_folder):
    return tiny_run(tmp_path_factory, photo_folder)


@pytest.fixture(scope="module")
def preset(tmp_path_factory, photo_folder):
    return tiny_preset(tmp_path_factory, photo_folder)


@pytest.fixture
def zoo_root(tmp_path, monkeypatch):
    root = tmp_path / "zoo"
    root.mkdir()
    monkeypatch.setattr(zoo, "ZOO_ROOT", root)
    return root


def batch(size=16, seed=0):
    rng = np.random.default_rng(seed)
    mask = np.zeros((2, size, size, 1), np.float32)
    mask[:, 3:9, 4:12] = 1
    return {"image": rng.random((2, size, size, 3)).astype(np.float32), "mask": mask}


def assert_same_weights(a, b):
    assert len(a.weights) == len(b.weights)
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(x, y)


def test_registry_names_and_aliases():
    assert list(zoo.ENTRIES) == ["context_encoder", "global_local", "latent_search",
                                 "contextual_attention", "partial_conv", "gated_conv", "telea",
                                 "navier_stokes"]
    assert zoo.ALIASES == {"pathak2016": "context_encoder", "glcic": "global_local",
                           "yeh2017": "latent_search", "deepfill_v1": "contextual_attention",
                           "pconv": "partial_conv", "deepfill_v2": "gated_conv"}
    assert zoo.get_entry("deepfill_v2") is zoo.ENTRIES["gated_conv"]
    from keras_inpaint.models import MODELS

    assert {name for name, entry in zoo.ENTRIES.items() if not entry.classical} == set(MODELS)


def test_unknown_names_and_paths_are_refused(zoo_root, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="unknown zoo name 'deepfill_v3'; valid names: .*pconv"):
        zoo.get_entry("deepfill_v3")
    # A name never addresses a file: only registered names map into the zoo folder, and
    # anything else must be an existing folder or .keras file (here, relative to the cwd).
    (tmp_path / "outside").mkdir()
    monkeypatch.chdir(zoo_root)
    for name in ("deepfill_v3", "../missing", "gated_conv/../../outside",
                 "../../../etc/passwd", "model.h5"):
        with pytest.raises(ValueError, match="neither a zoo name .* nor an existing preset"):
            zoo.load(name)
    with pytest.raises(ValueError, match="not a preset folder: it has no config.json"):
        zoo.load("../outside")


def test_classical_entries():
    telea = zoo.load("telea")
    assert isinstance(telea, ClassicalInpainter) and telea.method == "telea"
    assert zoo.load("navier_stokes", radius=5).radius == 5
    with pytest.raises(ValueError, match="classical OpenCV fill"):
        zoo.load("telea", format="saved_model")


def test_load_names_unknown_and_architecture_arguments(preset, zoo_root):
    with pytest.raises(ValueError, match=r"has no constructor argument 'widht'; its "
                                         r"arguments: .*width"):
        zoo.load(preset, widht=4)
    with pytest.raises(ValueError, match=r"do not fit the model built with \{'width': 5\}: "
                                         r".*needs weights=None"):
        zoo.load(preset, width=5)
    assert zoo.load(preset, weights=None, width=5).width == 5
    with pytest.raises(ValueError, match="telea has no constructor argument 'radiuz'; its "
                                         "arguments: radius$"):
        zoo.load("telea", radiuz=5)
    with pytest.raises(ValueError, match="no constructor argument 'method'"):
        zoo.load("telea", method="navier_stokes")
    with pytest.raises(ValueError, match="gated_conv has no constructor argument 'depth'"):
        zoo.load("gated_conv", weights=None, depth=3)  # no preset here: the class's arguments


def test_load_in_mixed_precision_keeps_the_trained_weights(preset):
    keras.config.set_dtype_policy("mixed_float16")
    try:
        reference = zoo.load(preset)  # the preset's policy, whatever the global one
    finally:
        keras.config.set_dtype_policy("float32")
    mixed = zoo.load(preset, dtype="mixed_float16")
    assert reference.dtype_policy.name == "float32"
    assert mixed.dtype_policy.name == "mixed_float16"
    assert_same_weights(mixed, reference)  # float32 variables, the preset's values


def test_untrained_entry_needs_weights_none(zoo_root):
    with pytest.raises(ValueError, match=r"no trained weights yet; zoo.load\('gated_conv', "
                                         r"weights=None\)"):
        zoo.load("deepfill_v2")
    model = zoo.load("deepfill_v2", weights=None, image_size=32, width=4)
    assert type(model).__name__ == "GatedConvInpainter"
    assert model.width == 4 and model.image_size == (32, 32)
    with pytest.raises(ValueError, match="no trained weights yet"):
        zoo.load("gated_conv", format="saved_model")
    with pytest.raises(ValueError, match="weights must be 'zoo' or None"):
        zoo.load("gated_conv", weights="imagenet")
    with pytest.raises(ValueError, match="format must be one of"):
        zoo.load("gated_conv", format="onnx")


def test_publish_writes_a_complete_preset(preset, run_dir, photo_folder):
    umask = os.umask(0)
    os.umask(umask)
    assert preset.stat().st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's private 0o700
    assert {p.name for p in preset.iterdir()} == PRESET_FILES
    assert [p.name for p in preset.parent.iterdir()] == ["toy"]  # no temporary folder left
    metadata = json.loads((preset / "metadata.json").read_text())
    digest = hashlib.sha256((preset / "model.weights.h5").read_bytes()).hexdigest()
    assert metadata["sha256"] == digest
    # the run's weights without the optimizer's state (Adam's moments are not shipped)
    run_weights = datasets(run_dir / "model.weights.h5")
    assert any(name.startswith("generator_optimizer/") for name in run_weights)
    model_weights = {name: value for name, value in run_weights.items()
                     if not name.split("/")[0].endswith("optimizer")}
    preset_weights = datasets(preset / "model.weights.h5")
    assert preset_weights.keys() == model_weights.keys()
    for name, value in model_weights.items():
        np.testing.assert_array_equal(preset_weights[name], value)
    assert metadata["data"] == str(photo_folder) and metadata["steps"] == 1
    assert metadata["image_size"] == [16, 16] and metadata["scores"] is None
    assert metadata["command"] == (
        f"keras-inpaint train toy_model:ToyInpainter --data {photo_folder} --output RUN_DIR "
        "--image-size 16 --batch-size 2 --steps 1 --masks rectangle --seed 0 --set width=3")
    run = json.loads((run_dir / "run.json").read_text())
    assert run.pop("initialised_from") is None and metadata["initialised_from"] is None
    assert metadata["run"] == run  # the record is kept once, as "initialised_from"
    reference = keras.saving.load_model(run_dir / "model.keras")
    assert metadata["parameters"] == reference.count_params()
    config = json.loads((preset / "config.json").read_text())
    assert config["class_name"] == "ToyInpainter" and config["config"]["width"] == 3
    assert "compile_config" not in config and "build_config" not in config
    card = (preset / "README.md").read_text()
    for text in ("# toy", "ToyInpainter", str(photo_folder), "for 1 steps at 16x16", digest,
                 "Not measured yet"):
        assert text in card


def test_load_preset_folder_restores_the_trained_model(preset, run_dir):
    model = zoo.load(preset)
    reference = keras.saving.load_model(run_dir / "model.keras")
    assert_same_weights(model, reference)
    np.testing.assert_array_equal(np.asarray(model(batch())), np.asarray(reference(batch())))
    random = zoo.load(preset, weights=None)
    assert random.width == 3
    assert any(not np.array_equal(a, b)
               for a, b in zip(random.get_weights(), reference.get_weights()))


def test_zoo_names_load_published_entries_and_rank_the_default(zoo_root, run_dir):
    assert zoo.default_model() == "navier_stokes"
    zoo.publish(run_dir, zoo_root / "gated_conv")
    assert zoo.has_weights("gated_conv") and zoo.default_model() == "gated_conv"
    assert_same_weights(zoo.load("deepfill_v2"), keras.saving.load_model(run_dir / "model.keras"))
    zoo.publish(run_dir, zoo_root / "partial_conv", scores={"psnr": 23.0})
    zoo.publish(run_dir, zoo_root / "context_encoder", scores={"psnr": 21.5, "ssim": 0.8})
    assert zoo.default_model() == "partial_conv"  # measured scores beat unmeasured entries
    card = (zoo_root / "context_encoder" / "README.md").read_text()
    assert "| psnr | 21.50 |" in card and "| ssim | 0.8000 |" in card  # as evaluate prints them
    assert "Pathak et al., CVPR 2016" in card


def evaluation_report(model_psnr, model_l1=2.0):
    """An evaluate --json report: the model ("gated_conv") and Telea (L1 3 %) on two bins, and
    a third bin without pairs (its scores null)."""
    def rows(psnr_20, psnr_30, l1):
        return [{"bin": "20-30%", "count": 2, "l1_percent": l1, "l2_percent": 1.0,
                 "psnr": psnr_20, "ssim": 0.9},
                {"bin": "30-40%", "count": 2, "l1_percent": l1, "l2_percent": 1.0,
                 "psnr": psnr_30, "ssim": 0.8},
                {"bin": "40-50%", "count": 0, "l1_percent": None, "l2_percent": None,
                 "psnr": None, "ssim": None},
                {"bin": "all", "count": 4, "l1_percent": l1, "l2_percent": 1.0,
                 "psnr": (psnr_20 + psnr_30) / 2, "ssim": 0.85}]
    return {"protocol": {"images": "kodak", "masks": "nvidia", "size": 128, "limit": None},
            "methods": {"gated_conv": rows(model_psnr, model_psnr - 3, model_l1),
                        "telea": rows(25.0, 23.0, 3.0)}}


def test_generator_only_preset_ships_and_restores_the_generator(zoo_root, run_dir, monkeypatch):
    preset = zoo.publish(run_dir, zoo_root / "gated_conv", generator_only=True)
    full = zoo.publish(run_dir, zoo_root / "partial_conv")
    with h5py.File(preset / "model.weights.h5") as small, h5py.File(full / "model.weights.h5") as big:
        assert set(small) == set(big["generator"])  # the generator's own layout, nothing else
        assert set(big) > {"generator", "discriminator"}
    assert zoo.read_metadata(preset)["weights_of"] == "generator"
    assert "The generator's weights only" in (preset / "README.md").read_text()
    reference = keras.saving.load_model(run_dir / "model.keras")
    model = zoo.load("gated_conv")
    assert_same_weights(model.generator, reference.generator)
    np.testing.assert_array_equal(np.asarray(model(batch())), np.asarray(reference(batch())))
    assert any(not np.array_equal(a, b) for a, b in
               zip(model.discriminator.get_weights(), reference.discriminator.get_weights()))
    # a model whose inference needs its discriminator is refused, e.g. the latent search
    from keras_inpaint.models import get_model_class

    assert get_model_class("latent_search").inference_needs_discriminator
    monkeypatch.setattr(type(reference), "inference_needs_discriminator", True)
    with pytest.raises(ValueError, match="needs more than a generator"):
        zoo.publish(run_dir, zoo_root / "other", generator_only=True)


def test_publish_records_evaluation_training_time_and_shortfalls(zoo_root, run_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    timing = json.loads((run / "timing.json").read_text())
    assert timing["sessions"][0]["to_step"] == 1 and timing["seconds"] >= 0
    timing["sessions"] = [dict(timing["sessions"][0], seconds=3000.0, cpus=1)] * 2
    timing["seconds"] = 6000.0
    (run / "timing.json").write_text(json.dumps(timing))
    with pytest.raises(ValueError, match="no column 'gated_conv'"):
        zoo.publish(run, zoo_root / "gated_conv",
                    evaluation={"methods": {"telea": evaluation_report(26.0)["methods"]["telea"]}})
    for option, key, value in (("--postprocess", "postprocess", "poisson"), ("--flips", "flips", 4)):
        altered = evaluation_report(24.5)
        altered["protocol"][key] = {"gated_conv": value}
        message = rf"column 'gated_conv' was scored with {option} gated_conv={value}"
        with pytest.raises(ValueError, match=message):
            zoo.publish(run, zoo_root / "gated_conv", evaluation=altered)
    zoo.publish(run, zoo_root / "gated_conv", evaluation=evaluation_report(24.5),
                notes="Trained with a smaller width.")
    metadata = zoo.read_metadata(zoo_root / "gated_conv")
    assert metadata["scores"] == {"l1_percent": 2.0, "l2_percent": 1.0, "psnr": 23.0,
                                  "ssim": 0.85}
    assert metadata["evaluation"]["protocol"]["size"] == 128
    assert set(metadata["evaluation"]["baselines"]) == {"telea"}
    assert metadata["training_time"]["seconds"] == 6000.0
    assert metadata["paper_command"].startswith("keras-inpaint train gated_conv")
    card = (zoo_root / "gated_conv" / "README.md").read_text()
    assert "in 1 h 40 min of wall time on 1 CPU core (2 sessions)" in card
    assert "- 20-30%: PSNR 24.50 vs telea 25.00 dB, L1 2.000 vs 3.000 %" in card
    assert "- 30-40%: PSNR 21.50 vs telea 23.00 dB" in card
    assert "| 40-50% | 0 | - | - |" in card and "- 40-50%" not in card  # the empty bin
    assert "## Notes\n\nTrained with a smaller width." in card
    assert "on the same pairs.\n" in card  # no extra protocol settings to mention
    assert "At the paper's scale: `keras-inpaint train gated_conv --data tfds:" in card
    # Telea's overall PSNR (24.0) beats the model's (23.0): the classical default stays
    assert zoo.default_model() == "navier_stokes"
    # a higher PSNR than Telea's but a higher L1 (3.5 against 3.0 %): still beaten
    zoo.publish(run, zoo_root / "gated_conv", evaluation=evaluation_report(26.5, model_l1=3.5),
                overwrite=True)
    assert zoo.default_model() == "navier_stokes"
    report = evaluation_report(26.5)
    report["protocol"].update(stride=10, search={"steps": 200})
    zoo.publish(run, zoo_root / "gated_conv", evaluation=report, overwrite=True)
    assert zoo.default_model() == "gated_conv"
    card = (zoo_root / "gated_conv" / "README.md").read_text()
    assert "- 20-30%" not in card and "beats every classical fill in PSNR and L1" in card
    assert 'same pairs. Also: `stride=10`, `search={"steps": 200}`' in card


def test_publish_records_where_a_fine_tuned_run_started(run_dir, photo_folder, tmp_path):
    tuned = tmp_path / "tuned"
    training.train("toy_model:ToyInpainter", str(photo_folder), tuned, image_size=16,
                   batch_size=2, steps=1, overrides={"width": 3}, init_from=run_dir, verbose=0)
    again = tmp_path / "again"
    training.train("toy_model:ToyInpainter", str(photo_folder), again, image_size=16,
                   batch_size=2, steps=1, overrides={"width": 3},
                   init_from=tuned / "model.keras", verbose=0)
    metadata = zoo.read_metadata(zoo.publish(again, tmp_path / "presets" / "toy"))
    first = json.loads((run_dir / "run.json").read_text())
    chain = metadata["initialised_from"]
    assert chain["source"] == str(tuned / "model.keras") and chain["steps"] == 1
    assert chain["command"].endswith(f"--init-from {run_dir} --set width=3")
    assert chain["initialised_from"]["command"] == zoo.train_command(first)
    assert chain["initialised_from"]["training_time"]["sessions"][0]["to_step"] == 1
    assert chain["initialised_from"]["initialised_from"] is None
    card = (tmp_path / "presets" / "toy" / "README.md").read_text()
    assert card.count("- Fine-tuned from: `") == 2
    assert f"- Fine-tuned from: `{zoo.train_command(first)}` (1 steps, in 0 h 00 min" in card
    training.train("toy_model:ToyInpainter", str(photo_folder), tmp_path / "from_zoo",
                   image_size=16, batch_size=2, steps=1, overrides={"width": 3},
                   init_from=tmp_path / "presets" / "toy", verbose=0)
    from_preset = zoo.read_metadata(zoo.publish(tmp_path / "from_zoo", tmp_path / "p2" / "toy"))
    # a preset's own record continues the chain, with the weights it started from
    assert from_preset["initialised_from"] == {
        "source": str(tmp_path / "presets" / "toy"),
        "sha256": metadata["sha256"],
        "command": metadata["command"],
        "steps": 1,
        "training_time": metadata["training_time"],
        "initialised_from": chain,
    }
    card = (tmp_path / "p2" / "toy" / "README.md").read_text()
    assert card.count("- Fine-tuned from: `") == 3
    # a stage that was not training (a command, no steps): its own line, the chain goes on
    made = {"source": "wide.keras", "command": "python widen.py toy 6 wide.keras",
            "initialised_from": chain}
    assert zoo._initialisation_lines(made) == [
        "- Made with: `python widen.py toy 6 wide.keras`", *zoo._initialisation_lines(chain)]


def test_a_source_run_resumed_past_its_model_file_is_recorded_at_the_model_s_step(
        photo_folder, tmp_path):
    """The source finished 2 steps (model.keras), then a resumed session trained a third step
    and was killed before writing a new model.keras: a run fine-tuned from the source starts
    from 2 steps, made by the first session only, and so does the source's preset."""
    def toy(output, steps, **kwargs):
        training.train("toy_model:ToyInpainter", str(photo_folder), output, image_size=16,
                       batch_size=2, steps=steps, checkpoint_every=1, verbose=0, **kwargs)

    source = tmp_path / "source"
    toy(source, 2)
    kept = (source / "model.keras").read_bytes(), (source / "model.weights.h5").read_bytes()
    toy(source, 3, resume=True)
    (source / "model.keras").write_bytes(kept[0])  # as if killed before its model files
    (source / "model.weights.h5").write_bytes(kept[1])
    timing = json.loads((source / "timing.json").read_text())
    assert [(s["from_step"], s["to_step"]) for s in timing["sessions"]] == [(0, 2), (2, 3)]
    toy(tmp_path / "tuned", 1, init_from=source)
    record = json.loads((tmp_path / "tuned" / "run.json").read_text())["initialised_from"]
    assert record["steps"] == 2
    assert record["training_time"] == {"seconds": timing["sessions"][0]["seconds"],
                                       "sessions": timing["sessions"][:1]}
    published = zoo.read_metadata(zoo.publish(source, tmp_path / "presets" / "toy"))
    assert published["steps"] == 2 and published["training_time"] == record["training_time"]


def test_a_run_keeps_the_record_of_the_preset_it_started_from(run_dir, photo_folder, tmp_path):
    """The record is made when the run begins: re-publishing the source preset later (as the
    zoo does after each fine-tuning stage) does not rewrite where an earlier run started."""
    source = zoo.publish(run_dir, tmp_path / "presets" / "toy")
    original = zoo.read_metadata(source)
    tuned = tmp_path / "tuned"

    def fine_tune(steps, resume=False):
        training.train("toy_model:ToyInpainter", str(photo_folder), tuned, image_size=16,
                       batch_size=2, steps=steps, overrides={"width": 3}, init_from=source,
                       resume=resume, verbose=0)

    fine_tune(steps=1)
    zoo.publish(tuned, source, overwrite=True)  # the source preset is now the tuned run
    fine_tune(steps=2, resume=True)
    metadata = zoo.read_metadata(zoo.publish(tuned, tmp_path / "p2" / "toy"))
    record = metadata["initialised_from"]
    assert zoo.read_metadata(source)["sha256"] != original["sha256"]
    assert record["sha256"] == original["sha256"] and record["command"] == original["command"]
    assert "initialised_from" not in metadata["run"]
    # a run.json from before the record: the source is read as it is at publishing
    run_file = tuned / "run.json"
    run = json.loads(run_file.read_text())
    del run["initialised_from"]
    run_file.write_text(json.dumps(run))
    record = zoo.read_metadata(zoo.publish(tuned, tmp_path / "p3" / "toy"))["initialised_from"]
    assert record["sha256"] == zoo.read_metadata(source)["sha256"]


def test_tampered_weights_are_refused(preset, tmp_path):
    tampered = tmp_path / "tampered"
    shutil.copytree(preset, tampered)
    expected = json.loads((tampered / "metadata.json").read_text())["sha256"]
    with open(tampered / "model.weights.h5", "ab") as f:
        f.write(b"\0")
    actual = hashlib.sha256((tampered / "model.weights.h5").read_bytes()).hexdigest()
    with pytest.raises(ValueError, match=f"sha256 is {actual} but metadata.json records "
                                         f"{expected}"):
        zoo.load(tampered)
    (tampered / "metadata.json").write_text("{}")
    with pytest.raises(ValueError, match="has no sha256"):
        zoo.load(tampered)


def datasets(path):
    """``{name: array}`` of every dataset in an HDF5 weights file."""
    values = {}
    with h5py.File(path) as f:
        f.visititems(lambda name, item: values.update({name: item[()]})
                     if isinstance(item, h5py.Dataset) else None)
    return values


def test_float16_weights_halve_the_floats_and_load_as_float32(preset, run_dir, tmp_path):
    half = zoo.publish(run_dir, tmp_path / "half", weights_dtype="float16")
    assert json.loads((half / "metadata.json").read_text())["weights_dtype"] == "float16"

    def float_bytes(path):
        return sum(value.nbytes for value in datasets(path).values() if value.dtype.kind == "f")

    assert float_bytes(half / "model.weights.h5") * 2 == float_bytes(preset / "model.weights.h5")
    model = zoo.load(half)
    reference = keras.saving.load_model(run_dir / "model.keras")
    for variable, value in zip(model.weights, reference.get_weights()):
        assert variable.dtype == ("int64" if value.dtype == np.int64 else "float32")
        np.testing.assert_allclose(variable.numpy(), value.astype(np.float16), rtol=0, atol=0)


def test_int8_weights_load_as_float32_close_to_the_trained_ones(run_dir, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setattr(weight_storage, "INT8_MIN_SIZE", 1)  # the toy's kernels are tiny
    small = zoo.publish(run_dir, tmp_path / "small", weights_dtype="int8")
    assert zoo.read_metadata(small)["weights_dtype"] == "int8"
    assert has_int8(small / "model.weights.h5")
    assert "(int8)" in (small / "README.md").read_text()
    model = zoo.load(small)
    reference = keras.saving.load_model(run_dir / "model.keras")
    for variable, value in zip(model.weights, reference.get_weights()):
        assert variable.dtype == ("int64" if value.dtype == np.int64 else "float32")
        if value.ndim >= 2:  # a kernel: within half a step of its channel's scale
            step = np.abs(value.reshape(-1, value.shape[-1])).max(axis=0) / 127
            assert (np.abs(variable.numpy() - value) <= step / 2 + 1e-7).all()
    with pytest.raises(ValueError, match="weights_dtype must be one of"):
        zoo.publish(run_dir, tmp_path / "x", weights_dtype="bfloat16")
    metadata = zoo.read_metadata(small)  # the storage type is read from the metadata
    (small / "metadata.json").write_text(json.dumps({**metadata, "weights_dtype": "int4"}))
    with pytest.raises(ValueError, match="weights_dtype must be one of .* received 'int4'"):
        zoo.load(small)


def test_repack_keeps_the_story_and_drops_or_replaces_the_scores(zoo_root, run_dir, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setattr(weight_storage, "INT8_MIN_SIZE", 1)
    source = zoo.publish(run_dir, zoo_root / "gated_conv", evaluation=evaluation_report(24.5),
                         notes="Trained briefly.")
    old = zoo.read_metadata(source)
    scratch = zoo.repack("gated_conv", tmp_path / "gated_conv", "int8")
    new = zoo.read_metadata(scratch)
    assert new["weights_dtype"] == "int8" and new["sha256"] != old["sha256"]
    assert new["scores"] is None and new["evaluation"] is None  # measured on the old weights
    assert new["repacked_from"] == {"weights_dtype": "float32", "sha256": old["sha256"],
                                    "created": old["created"]}
    for key in ("name", "command", "steps", "data", "notes", "training_time", "run"):
        assert new[key] == old[key], key
    card = (scratch / "README.md").read_text()
    assert "Not measured yet" in card and "Trained briefly." in card
    np.testing.assert_allclose(zoo.load(scratch).get_weights()[0],
                               zoo.load(source).get_weights()[0], atol=0.01)
    with pytest.raises(ValueError, match="already exists"):
        zoo.repack(scratch, source, "int8")
    zoo.repack(scratch, source, "float16", evaluation=evaluation_report(23.0), overwrite=True)
    final = zoo.read_metadata(source)
    assert final["weights_dtype"] == "float16" and final["scores"]["psnr"] == 23.0 - 1.5
    assert final["repacked_from"]["weights_dtype"] == "int8"
    assert {str(value.dtype) for value in datasets(source / "model.weights.h5").values()} <= {
        "float16", "int64"}
    zoo.repack(source, tmp_path / "float32", "float32")  # float16 arrays widened again
    assert "float32" in {str(value.dtype)
                         for value in datasets(tmp_path / "float32" / "model.weights.h5").values()}
    assert "| psnr | 21.50 |" in (source / "README.md").read_text()
    with pytest.raises(ValueError, match="is not a preset folder with trained weights"):
        zoo.repack(tmp_path, tmp_path / "y", "int8")
    with pytest.raises(ValueError, match="the evaluation report has no column 'gated_conv'"):
        zoo.repack(source, tmp_path / "z", "int8",
                   evaluation={"methods": {"telea": evaluation_report(26.0)["methods"]["telea"]}})
    (tmp_path / "notes.md").write_text("Now int8.")
    assert cli.main(["repack", str(source), str(tmp_path / "cli"), "--int8", "--notes",
                     str(tmp_path / "notes.md")]) == 0
    assert zoo.read_metadata(tmp_path / "cli")["weights_dtype"] == "int8"
    assert zoo.read_metadata(tmp_path / "cli")["notes"] == "Now int8."
    with pytest.raises(SystemExit):
        cli.main(["repack", str(source), str(tmp_path / "cli2"), "--int8", "--float16"])


def test_publish_refuses_overwrites_bad_names_and_unfinished_runs(run_dir, preset, tmp_path):
    with pytest.raises(ValueError, match=r"already exists; pass overwrite=True \(--overwrite"):
        zoo.publish(run_dir, preset)
    target = zoo.publish(run_dir, tmp_path / "again")
    before = (target / "metadata.json").read_text()
    zoo.publish(run_dir, target, scores={"psnr": 20.0}, overwrite=True)
    assert (target / "metadata.json").read_text() != before
    assert {p.name for p in tmp_path.iterdir()} == {"again"}
    # --overwrite replaces presets only: never the run itself, nor any other folder
    for destination in (run_dir, run_dir / "checkpoints", run_dir.parent):
        with pytest.raises(ValueError, match="refusing to replace"):
            zoo.publish(run_dir, destination, overwrite=True)
    assert (run_dir / "run.json").is_file()
    with pytest.raises(ValueError, match="a training run is made a preset with publish"):
        zoo.repack(run_dir, tmp_path / "packed", "float16")
    with pytest.raises(ValueError, match="preset name must be"):
        zoo.publish(run_dir, tmp_path / "x", name="../escape")
    with pytest.raises(ValueError, match="scores must map names to finite numbers"):
        zoo.publish(run_dir, tmp_path / "x", scores={"psnr": float("nan")})
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    shutil.copy(run_dir / "run.json", unfinished)
    with pytest.raises(ValueError, match="missing model.keras, model.weights.h5"):
        zoo.publish(unfinished, tmp_path / "y")


def test_keras_files_load_in_safe_mode(run_dir, tmp_path):
    assert_same_weights(zoo.load(run_dir / "model.keras"),
                        keras.saving.load_model(run_dir / "model.keras"))
    with pytest.raises(ValueError, match="holds its own architecture and weights"):
        zoo.load(run_dir / "model.keras", weights=None)
    inputs = keras.Input((4,))
    unsafe = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    unsafe.save(tmp_path / "unsafe.keras")
    with pytest.raises(ValueError, match="safe_mode"):
        zoo.load(tmp_path / "unsafe.keras")


def test_saved_model_format_is_exported_once_into_the_cache(preset, tmp_path, monkeypatch):
    monkeypatch.setenv(zoo.CACHE_ENV, str(tmp_path / "cache"))
    served = zoo.load(preset, format="saved_model")
    digest = zoo._preset_digest(preset)
    assert (tmp_path / "cache" / "saved_models" / f"toy-{digest[:12]}-g{GRAPH_VERSION}" / "1"
            / "saved_model.pb").is_file()
    data = batch()
    image = np.rint(data["image"] * 255).astype(np.uint8)
    mask = data["mask"].astype(np.uint8) * 255
    output = served.signatures["serving_default"](image=image, mask=mask)["inpainted"].numpy()
    expected = zoo.load(preset)({"image": image / np.float32(255), "mask": data["mask"]})
    expected = np.where(mask > 0, np.rint(np.asarray(expected) * 255), image)
    np.testing.assert_array_equal(output, expected.astype(np.uint8))

    def no_second_export(*args, **kwargs):
        raise AssertionError("exported again instead of using the cache")

    monkeypatch.setattr("keras_inpaint.export.export_saved_model", no_second_export)
    zoo.load(preset, format="saved_model")
    # An edited config.json (same weights) is a different served graph: exported afresh.
    edited = tmp_path / "toy"
    shutil.copytree(preset, edited)
    config = json.loads((edited / "config.json").read_text())
    config["config"]["name"] = "edited"
    (edited / "config.json").write_text(json.dumps(config))
    with pytest.raises(AssertionError, match="exported again"):
        zoo.load(edited, format="saved_model")


def test_keras_file_of_package_layers_loads_in_a_fresh_process(tmp_path):
    """A functional model built from the package's layers, saved, then loaded by `zoo.load` in
    a process that imported only `keras_inpaint.zoo` (the layers' module is imported on first
    use, so the loader must import it)."""
    from keras_inpaint.layers import GatedConv2D, PartialConv2D

    image, mask = keras.Input((None, None, 3)), keras.Input((None, None, 1))
    features, _ = PartialConv2D(4, 3)(image, mask)
    keras.Model([image, mask], GatedConv2D(2, 3)(features)).save(tmp_path / "mine.keras")
    code = ("import sys; from keras_inpaint import zoo; "
            "assert 'keras_inpaint.layers' not in sys.modules; "
            f"model = zoo.load({str(tmp_path / 'mine.keras')!r}); "
            "print(sorted(type(layer).__name__ for layer in model.layers))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "'GatedConv2D', 'InputLayer', 'InputLayer', 'PartialConv2D'" in result.stdout


def test_list_describes_each_entry(zoo_root, run_dir, monkeypatch):
    # Only two networks (the fast ones to build) plus a classical fill, to keep this quick.
    monkeypatch.setattr(zoo, "ENTRIES", {name: zoo.ENTRIES[name] for name in
                                         ("latent_search", "gated_conv", "telea")})
    zoo.publish(run_dir, zoo_root / "gated_conv", scores={"psnr": 19.0})
    latent, gated, telea = zoo.list()
    assert latent["name"] == "latent_search" and latent["aliases"] == ("yeh2017",)
    assert latent["trained"] is False and latent["scores"] is None
    assert latent["input_size"] == (64, 64)
    from keras_inpaint.models import get_model_class

    assert latent["parameters"] == get_model_class("latent_search")().count_params()
    assert gated["trained"] and gated["input_size"] == (16, 16)
    assert gated["scores"] == {"psnr": 19.0} and gated["steps"] == 1
    assert gated["parameters"] == keras.saving.load_model(run_dir / "model.keras").count_params()
    assert telea["classical"] and telea["parameters"] == 0 and telea["input_size"] is None


def test_cli_list_publish_and_score_errors(zoo_root, run_dir, monkeypatch, capsys):
    monkeypatch.setattr(zoo, "ENTRIES", {name: zoo.ENTRIES[name] for name in
                                         ("gated_conv", "navier_stokes")})
    assert cli.main(["publish", str(run_dir), str(zoo_root / "gated_conv"), "--score",
                     "psnr=20.5", "--float16"]) == 0
    metadata = json.loads((zoo_root / "gated_conv" / "metadata.json").read_text())
    assert metadata["scores"] == {"psnr": 20.5} and metadata["weights_dtype"] == "float16"
    capsys.readouterr()
    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "aliases", "paper", "input", "parameters", "weights",
                                "scores"]
    assert lines[1].startswith("gated_conv") and "psnr 20.50" in lines[1] and "16x16" in lines[1]
    assert lines[2].startswith("navier_stokes") and "classical" in lines[2]
    assert lines[-1].startswith("default of `keras-inpaint inpaint` and inpaint(): gated_conv ")
    assert cli.main(["publish", str(run_dir), str(zoo_root / "x"), "--score", "psnr"]) == 2
    assert "--score expects NAME=NUMBER" in capsys.readouterr().err


def test_importing_the_zoo_is_light():
    code = ("import sys; from keras_inpaint import zoo, inference; zoo.default_model(); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]


def test_wheel_ships_the_zoo_and_the_example_data(run_dir, tmp_path):
    """Packaging: build a wheel from a copy of the tree holding a published preset, check its
    file list, then use it unpacked (outside the checkout) as an installed package. About 10 s."""
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "runs"))
    shipped = sorted(path.name for path in (REPO / "zoo").iterdir() if path.is_dir())
    zoo.publish(run_dir, source / "zoo" / "gated_conv", overwrite=True)  # a toy, unmeasured
    with pytest.MonkeyPatch.context() as patch:  # the installed package must choose the same
        patch.setattr(zoo, "ZOO_ROOT", source / "zoo")
        default = zoo.default_model()
    subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps",
                    "--no-build-isolation", "-q", "-w", str(tmp_path / "dist")],
                   cwd=source, check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("keras_inpaint-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"keras_inpaint/zoo_presets/{preset}/{name}"
                for preset in {"gated_conv", *shipped} for name in PRESET_FILES} | {
        "keras_inpaint/zoo_presets/__init__.py",
        "keras_inpaint/examples_data/chelsea.png",
        "keras_inpaint/examples_data/chelsea_mask.png",
        "keras_inpaint/cli_commands.py",
    }
    assert expected <= names, sorted(expected - names)
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    data = site / "keras_inpaint" / "examples_data"
    from keras_inpaint.models import get_model_class

    get_model_class("context_encoder")(image_size=32, width=8).save(tmp_path / "ce.keras")
    script = (
        # the submodules are attributes of the package as soon as it is imported
        "import keras_inpaint; assert keras_inpaint.zoo.load('telea').name == 'telea'; "
        "from pathlib import Path; from keras_inpaint import zoo; "
        "from keras_inpaint.cli import main; "
        f"assert zoo.ZOO_ROOT == Path({str(site)!r}) / 'keras_inpaint' / 'zoo_presets', "
        "zoo.ZOO_ROOT; "
        f"assert zoo.default_model() == {default!r}; "
        f"assert main(['inpaint', {str(data / 'chelsea.png')!r}, "
        f"{str(data / 'chelsea_mask.png')!r}, '-o', 'result.png', '--model', 'telea']) == 0; "
        # a package model's module is imported by the loader; a user's own class is not
        "assert zoo.load('ce.keras').width == 8; "
        "import toy_model; assert zoo.load('gated_conv').width == 3"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{site}:{TESTS}", "HOME": str(tmp_path),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "result.png").exists()
