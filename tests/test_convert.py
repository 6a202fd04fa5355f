"""Converting the authors' DeepFill v1 / v2 checkpoints, and the spectral normalisation that the
converted SN-PatchGAN needs.

The golden tests use ../shared/reference/deepfill_official (from the repository root):
checkpoints in exactly the authors' TF1 format (random weights) with the outputs the authors'
own graph code computed from them. They are skipped, saying so, where that folder is absent.
"""

import gzip
import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_inpaint import cli, zoo
from keras_inpaint.convert import convert_deepfill
from keras_inpaint.convert.deepfill_v2 import preceding_vector_u
from keras_inpaint.export import export_saved_model
from keras_inpaint.models.discriminators import build_sn_patch_gan
from keras_inpaint.models.gated_conv import GatedConvInpainter
from keras_inpaint.models.spectral_norm import SpectralNorm
from layer_harness import numpy_same_padding, numpy_windows

REPOSITORY = Path(__file__).resolve().parents[1]
REFERENCE = REPOSITORY.parent / "shared" / "reference" / "deepfill_official"
needs_reference = pytest.mark.skipif(
    not REFERENCE.is_dir(),
    reason=f"the authors'-format reference checkpoints are absent ({REFERENCE}, i.e. "
    "../shared/reference/deepfill_official from the repository root)",
)
RELEASES = {"deepfill_v1": "v1", "deepfill_v2": "v2"}
GOLDEN_TOLERANCE = 1e-4
"""Outputs in [-1, 1] must match the authors' to this absolute error (the issue's bound)."""

EPSILON = 1e-12


# ---- NumPy references (independent of keras_inpaint) -----------------------------------------


def numpy_l2_normalize(x):
    return x / (np.sqrt(np.sum(x**2)) + EPSILON)


def numpy_authors_spectral_norm(kernel, vector_u):
    """neuralgym's kernel_spectral_norm, one power iteration: (W / sigma, new u, sigma)."""
    matrix = kernel.reshape(-1, kernel.shape[-1]).astype(np.float64)
    vector_v = numpy_l2_normalize(vector_u.astype(np.float64) @ matrix.T)
    new_u = numpy_l2_normalize(vector_v @ matrix)
    sigma = (vector_v @ matrix @ new_u.T).item()
    return kernel / sigma, new_u, sigma


def numpy_conv_same(x, kernel, bias, strides):
    padding = numpy_same_padding(x.shape[1:3], kernel.shape[:2], strides)
    windows = numpy_windows(x, kernel.shape[:2], strides, padding=padding)
    return np.einsum("bijhwc,hwcf->bijf", windows, kernel) + bias


# ---- fixtures -------------------------------------------------------------------------------


def unpacked_checkpoint(release, folder):
    """The reference checkpoint copied to `folder` with its data file gunzipped; its prefix."""
    source = REFERENCE / RELEASES[release]
    folder.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as packed, open(folder / path.stem, "wb") as unpacked:
                shutil.copyfileobj(packed, unpacked)
        else:
            shutil.copyfile(path, folder / path.name)
    return folder / "model.ckpt"


@pytest.fixture(scope="module", params=sorted(RELEASES))
def converted(request, tmp_path_factory):
    """(release, checkpoint prefix, preset folder, model loaded from it, golden arrays)."""
    if not REFERENCE.is_dir():
        pytest.skip(needs_reference.kwargs["reason"])
    release = request.param
    root = tmp_path_factory.mktemp(release)
    prefix = unpacked_checkpoint(release, root / "checkpoint")
    # v1 is given as the checkpoint's folder, v2 as its prefix: both resolve.
    source = prefix.parent if release == "deepfill_v1" else prefix
    preset = convert_deepfill(release, source, root / f"{release}_preset", training_data="noise")
    golden = dict(np.load(REFERENCE / RELEASES[release] / "golden.npz"))
    return release, prefix, preset, zoo.load(preset), golden


def to_unit(signed):
    return (signed + 1.0) / 2.0


# ---- golden outputs -------------------------------------------------------------------------


@needs_reference
def test_stages_and_composite_match_the_authors(converted):
    release, _, _, model, golden = converted
    image, mask = to_unit(golden["image"]), golden["mask"]
    coarse, refined = model.generate_stages(image, mask)[:2]
    for name, ours in (("stage1", coarse), ("stage2", refined)):
        error = np.abs(np.asarray(ours) * 2 - 1 - golden[name]).max()
        assert error < GOLDEN_TOLERANCE, (release, name, error)
    composited = np.asarray(model({"image": image, "mask": mask})) * 2 - 1
    expected = golden["stage2"] * mask + golden["masked_input"] * (1 - mask)
    assert np.abs(composited - expected).max() < GOLDEN_TOLERANCE


@needs_reference
def test_discriminators_match_the_authors(converted):
    release, prefix, _, model, golden = converted
    expected = golden["discriminator_output"]
    if release == "deepfill_v1":
        scores = np.concatenate(
            [
                model.local_critic(golden["discriminator_local_input"]),
                model.global_critic(golden["discriminator_input"]),
            ],
            axis=1,
        )
        assert np.abs(scores - expected).max() < GOLDEN_TOLERANCE
        return
    layers = [model.discriminator.get_layer(f"conv{k}") for k in range(1, 7)]
    assert all(isinstance(layer, SpectralNorm) for layer in layers)
    converted_u = [layer.vector_u.numpy() for layer in layers]
    try:
        inference = np.asarray(model.discriminator(golden["discriminator_input"]))
        assert np.abs(inference - expected).max() < GOLDEN_TOLERANCE
        assert all(np.array_equal(l.vector_u.numpy(), u) for l, u in zip(layers, converted_u))
        # A training pass normalises the same way and then holds the checkpoint's own u, as
        # the authors' graph did after the pass that produced the golden output.
        training = np.asarray(model.discriminator(golden["discriminator_input"], training=True))
        assert np.abs(training - expected).max() < GOLDEN_TOLERANCE
        reader = tf.train.load_checkpoint(str(prefix))
        for k, layer in enumerate(layers, start=1):
            stored = reader.get_tensor(f"discriminator/sn_patch_gan/conv{k}/kernel_sn/u")
            np.testing.assert_allclose(layer.vector_u.numpy(), stored, atol=1e-5)
    finally:
        for layer, u in zip(layers, converted_u):
            layer.vector_u.assign(u)


@needs_reference
def test_preset_records_the_source_and_reloads_every_variable(converted):
    release, prefix, preset, model, _ = converted
    metadata = json.loads((preset / "metadata.json").read_text())
    source = metadata["source"]
    assert source["release"] == release and source["license"] == "CC BY-NC 4.0"
    assert source["checkpoint"] == "checkpoint/model.ckpt"
    assert source["files"] == {
        name: zoo.sha256_of(prefix.parent / name)
        for name in ("model.ckpt.index", "model.ckpt.data-00000-of-00001")
    }
    assert source["ignored_variables"] == {} and source["discriminator"] == "converted"
    assert metadata["data"] == "noise"
    assert metadata["command"].startswith(f"keras-inpaint convert {release} checkpoint/model.ckpt")
    config = json.loads((preset / "config.json").read_text())["config"]
    assert config["reference_compatibility"] is True
    assert config["width"] == {"deepfill_v1": 32, "deepfill_v2": 48}[release]
    assert "CC BY-NC 4.0" in (preset / "README.md").read_text()
    # Every variable in the checkpoint is in the reloaded preset, bit for bit.
    reader = tf.train.load_checkpoint(str(prefix))
    values = {tuple(v.shape): [] for v in model.weights}
    for weight in model.weights:
        values[tuple(weight.shape)].append(weight.numpy())
    for name, shape in reader.get_variable_to_shape_map().items():
        if not name.endswith("kernel_sn/u"):  # stored rewound, see the discriminator test
            stored = reader.get_tensor(name)
            assert any(np.array_equal(stored, v) for v in values[tuple(shape)]), name


# ---- errors, optimizer state, command line --------------------------------------------------


def write_checkpoint(prefix, arrays):
    """A name-based (TF1-layout) checkpoint holding exactly `arrays`."""
    names = sorted(arrays)
    tf.raw_ops.SaveV2(
        prefix=str(prefix),
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(arrays[name]) for name in names],
    )
    return prefix


@needs_reference
def test_optimizer_state_is_skipped_and_mismatches_are_listed(tmp_path, capsys):
    prefix = unpacked_checkpoint("deepfill_v1", tmp_path / "reference")
    reader = tf.train.load_checkpoint(str(prefix))
    arrays = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
    optimizer_state = {
        "inpaint_net/conv1/kernel/Adam": arrays["inpaint_net/conv1/kernel"],
        "inpaint_net/conv1/kernel/Adam_1": arrays["inpaint_net/conv1/kernel"],
        "beta1_power": np.float32(0.5),
        "beta2_power_1": np.float32(0.9),
        "global_step": np.int64(7),
    }
    with_optimizer = write_checkpoint(tmp_path / "adam" / "snap-0", {**arrays, **optimizer_state})
    preset = convert_deepfill("deepfill_v1", with_optimizer, tmp_path / "adam_preset")
    ignored = json.loads((preset / "metadata.json").read_text())["source"]["ignored_variables"]
    assert sorted(ignored) == sorted(optimizer_state)

    def convert(checkpoint, *options):
        return cli.main(["convert", "deepfill_v1", str(checkpoint), str(output), *options])

    broken = dict(arrays)
    broken["inpaint_net/conv1/weights"] = broken.pop("inpaint_net/conv1/kernel")
    broken["discriminator/dout_local_fc/bias"] = np.zeros(2, np.float32)
    del broken["discriminator/discriminator_global/conv4/bias"]
    output = tmp_path / "broken_preset"
    assert convert(write_checkpoint(tmp_path / "broken" / "x", broken)) == 2
    message = capsys.readouterr().err
    assert "missing variables (2): discriminator/discriminator_global/conv4/bias, " \
        "inpaint_net/conv1/kernel" in message
    assert "unexpected variables (1): inpaint_net/conv1/weights" in message
    assert "shape mismatches (1): discriminator/dout_local_fc/bias: checkpoint (2,), " \
        "model (1,)" in message
    assert "allow-missing-discriminator" not in message and not output.exists()

    # The authors released some models without their discriminator: an error unless allowed.
    generator_only = write_checkpoint(
        tmp_path / "generator" / "snap-0",
        {name: value for name, value in arrays.items() if name.startswith("inpaint_net/")},
    )
    assert convert(generator_only) == 2
    message = capsys.readouterr().err
    assert "missing variables (20)" in message and "--allow-missing-discriminator" in message
    output = preset
    assert convert(generator_only) == 2
    assert "already exists" in capsys.readouterr().err
    options = ("--allow-missing-discriminator", "--overwrite", "--name", "generator_only")
    assert convert(generator_only, *options) == 0
    metadata = json.loads((preset / "metadata.json").read_text())
    assert metadata["name"] == "generator_only"
    assert metadata["source"]["discriminator"] == "not in the checkpoint: randomly initialised"
    assert "randomly initialised" in (preset / "README.md").read_text()
    assert metadata["command"].endswith("--allow-missing-discriminator")

    output = tmp_path / "never_written"
    assert convert(tmp_path) == 2
    assert "exactly one checkpoint" in capsys.readouterr().err
    with pytest.raises(ValueError, match="version must be one of"):
        convert_deepfill("deepfill_v3", with_optimizer, tmp_path / "v3")


@needs_reference
@pytest.mark.parametrize("converted", ["deepfill_v1"], indirect=True)  # the generator's graph
def test_converted_model_serves_like_the_keras_model(converted, tmp_path):
    _, _, _, model, golden = converted
    version_dir = export_saved_model(model, tmp_path / "served")
    image = np.round(to_unit(golden["image"][:, 64:128, 64:128]) * 255).astype(np.uint8)
    mask = np.zeros((1, 64, 64, 1), np.uint8)
    mask[:, 16:40, 20:48] = 255
    hole = (mask > 0).astype(np.float32)
    output = np.asarray(model({"image": image / np.float32(255) * (1 - hole), "mask": hole}))
    expected = np.where(mask > 0, np.rint(np.clip(output, 0, 1) * 255).astype(np.uint8), image)
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(version_dir))
        signature = meta_graph.signature_def["serving_default"]
        served = session.run(
            signature.outputs["inpainted"].name,
            {signature.inputs["image"].name: image, signature.inputs["mask"].name: mask},
        )
    assert served.dtype == np.uint8
    assert np.abs(served.astype(int) - expected.astype(int)).max() <= 1


# ---- spectral normalisation -----------------------------------------------------------------


def test_spectral_norm_matches_the_authors_formula_and_updates_u_in_training():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 9, 8, 3)).astype("float32")
    layer = SpectralNorm(keras.layers.Conv2D(4, 3, strides=2, padding="same"), name="sn")
    layer(x)
    kernel = rng.normal(size=(3, 3, 3, 4)).astype("float32")
    bias = rng.normal(size=4).astype("float32")
    vector_u = rng.normal(size=(1, 4)).astype("float32") * 3  # not of unit norm
    layer.layer.kernel.assign(kernel)
    layer.layer.bias.assign(bias)
    layer.vector_u.assign(vector_u)
    normalized, new_u, sigma = numpy_authors_spectral_norm(kernel, vector_u)
    expected = numpy_conv_same(x, normalized, bias, (2, 2))
    inference = np.asarray(layer(x))
    np.testing.assert_allclose(inference, expected, atol=1e-5)
    np.testing.assert_array_equal(layer.vector_u.numpy(), vector_u)  # not updated
    np.testing.assert_array_equal(layer.layer.kernel.numpy(), kernel)  # never written back
    training = np.asarray(layer(x, training=True))
    np.testing.assert_allclose(training, expected, atol=1e-5)
    np.testing.assert_allclose(layer.vector_u.numpy(), new_u, atol=1e-6)
    np.testing.assert_array_equal(layer.layer.kernel.numpy(), kernel)
    assert 0 < sigma < np.linalg.norm(kernel.reshape(-1, 4), 2) + 1e-6  # the estimate is below

    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(revived, SpectralNorm) and revived.get_config() == layer.get_config()
    revived(x)
    revived.set_weights(layer.get_weights())
    np.testing.assert_allclose(np.asarray(revived(x)), np.asarray(layer(x)), atol=1e-6)
    with pytest.raises(ValueError, match="convolution layer"):
        SpectralNorm(keras.layers.Dense(3))
    with pytest.raises(ValueError, match="power_iterations"):
        SpectralNorm(keras.layers.Conv2D(3, 3), power_iterations=0)


def test_preceding_vector_u_reproduces_the_stored_u_and_its_sigma():
    rng = np.random.default_rng(1)
    kernel = rng.normal(size=(5, 5, 4, 16)).astype("float32")
    stored_u = numpy_l2_normalize(rng.normal(size=(1, 16)))
    preceding = preceding_vector_u(kernel, stored_u.astype("float32"))
    assert preceding.dtype == np.float32 and abs(np.linalg.norm(preceding) - 1) < 1e-6
    _, new_u, sigma = numpy_authors_spectral_norm(kernel, preceding)
    np.testing.assert_allclose(new_u, stored_u, atol=1e-6)
    # The sigma of the pass that wrote u: 1 / ||u W^+|| (v lies in W's column space).
    pseudo_inverse = np.linalg.pinv(kernel.reshape(-1, 16).astype(np.float64))
    np.testing.assert_allclose(sigma, 1 / np.linalg.norm(stored_u @ pseudo_inverse), rtol=1e-5)
    with pytest.raises(ValueError, match="linearly dependent"):
        preceding_vector_u(np.zeros((1, 1, 2, 3), "float32"), stored_u[:, :3])


def test_reference_discriminator_under_mixed_float16():
    x = np.random.default_rng(2).normal(size=(2, 64, 64, 4)).astype("float32")
    reference = build_sn_patch_gan(channels=4, reference_compatibility=True)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        mixed = build_sn_patch_gan(channels=4, reference_compatibility=True)
    finally:
        keras.config.set_dtype_policy(previous)
    mixed.set_weights(reference.get_weights())
    assert all(v.dtype == "float32" for v in mixed.weights)
    scores = mixed(x)
    assert scores.dtype == "float16" and np.isfinite(np.asarray(scores)).all()
    expected = np.asarray(reference(x))
    np.testing.assert_allclose(np.asarray(scores, "float32"), expected, atol=0.02)


def test_reference_compatible_deepfill_v2_trains():
    model = GatedConvInpainter(image_size=32, width=4, reference_compatibility=True)
    model.compile()
    rng = np.random.default_rng(3)
    mask = np.zeros((2, 32, 32, 1), "float32")
    mask[:, 8:20, 10:24] = 1
    batch = {"image": rng.random((2, 32, 32, 3)).astype("float32"), "mask": mask}
    weights = model.generator.trainable_variables + model.discriminator.weights
    before = [v.numpy().copy() for v in weights]
    results = model.train_step(batch)
    assert all(np.isfinite(float(value)) for value in results.values())
    unchanged = [v.path for v, b in zip(weights, before) if np.array_equal(v.numpy(), b)]
    assert not unchanged, unchanged  # every weight, and every u, moved
