"""Every registered model: forward (finite, known pixels exact), one train step under each
dtype policy (every weight moves), `.keras` round trip, and training from the command line on
a photo folder and on a mocked TFDS dataset, under MirroredStrategy on two logical CPUs."""

import json
import math
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_inpaint.models import MODELS, get_model_class
from test_evaluation import write_masks
from test_training import subprocess_env
from tiny_models import TINY_CONFIGS

NAMES = sorted(MODELS)


def tiny(name, **kwargs):
    config = dict(TINY_CONFIGS[name])
    config.update(kwargs)
    return get_model_class(name)(**config)


def batch_for(model, batch_size=2):
    height, width = model.image_size
    rng = np.random.default_rng(1)
    mask = np.zeros((batch_size, height, width, 1), "float32")
    mask[0, height // 4 : height // 2, width // 4 : width // 2] = 1.0
    mask[1, height // 2 :, width // 2 :] = 1.0
    return {"image": rng.random((batch_size, height, width, 3)).astype("float32"), "mask": mask}


def test_every_model_has_a_tiny_config():
    assert sorted(TINY_CONFIGS) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_architecture_arguments_give_the_weights_their_shapes(name):
    """What `train --init-from` takes from a source: the declared arguments alone rebuild a
    model whose weights fit the tiny one's (which sets width, depth, latent_dim, ...)."""
    model = tiny(name)
    config = model.get_config()
    declared = type(model).architecture_arguments
    assert set(declared) <= set(config)
    rebuilt = get_model_class(name)(image_size=model.image_size,
                                    **{key: config[key] for key in declared})
    assert [w.shape for w in rebuilt.weights] == [w.shape for w in model.weights]


@pytest.mark.parametrize("name", NAMES)
def test_forward_finite_and_composited(name):
    model = tiny(name)
    batch = batch_for(model)
    output = np.asarray(model(batch))
    assert output.shape == batch["image"].shape and output.dtype == np.float32
    assert np.isfinite(output).all()
    known = batch["mask"][..., 0] == 0
    np.testing.assert_array_equal(output[known], batch["image"][known])
    eight_bit = {"image": (batch["image"] * 255).astype("uint8"), "mask": batch["mask"]}
    with pytest.raises(ValueError, match=r"image must be float in \[0, 1\] .*dtype uint8"):
        model(eight_bit)


@pytest.mark.parametrize("name", NAMES)
def test_any_size_in_the_same_size_out(name):
    """Sides of one or two pixels (a thin photo's crop) too: the fully convolutional networks
    mirror what is too small for their padding, the fixed-size ones resize."""
    model = tiny(name)
    for height, width in ((1, 1), (2, 9), (9, 2)):
        image = np.random.default_rng(height).random((1, height, width, 3)).astype("float32")
        mask = np.zeros((1, height, width, 1), "float32")
        mask[0, 0, 0] = 1.0
        output = np.asarray(model({"image": image, "mask": mask}))
        assert output.shape == image.shape and np.isfinite(output).all(), (height, width)
        np.testing.assert_array_equal(output[0, 1:], image[0, 1:])
        np.testing.assert_array_equal(output[0, :, 1:], image[0, :, 1:])


@pytest.mark.parametrize("policy", ["float32", "mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("name", NAMES)
def test_train_step_moves_every_weight(name, policy):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        model = tiny(name)
        model.compile()
        before = [v.numpy().copy() for v in model.trainable_variables]
        results = tf.function(model.train_step)(batch_for(model))
        assert set(model.loss_terms) <= set(results)
        assert all(np.isfinite(float(v)) for v in results.values()), results
        if policy != "float32":
            return  # a float16 first step may be skipped by the loss scale; finite is the check
        assert_every_weight_moved(model, before)
    finally:
        keras.config.set_dtype_policy(previous)


def test_compile_takes_keras_optimizer_arguments():
    """``compile(optimizer=...)`` as for any Keras model, optimizer names, and a clear error
    for one optimizer instance shared by both networks (a TypeError, an AttributeError at
    compile and Keras' "Unknown variable" at the first step before)."""
    model = tiny("latent_search")
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    assert isinstance(model.generator_optimizer, keras.optimizers.SGD)
    assert isinstance(model.discriminator_optimizer, keras.optimizers.Adam)  # the paper's
    model.compile(generator_optimizer="rmsprop", discriminator_optimizer="sgd")
    assert isinstance(model.generator_optimizer, keras.optimizers.RMSprop)
    assert isinstance(model.discriminator_optimizer, keras.optimizers.SGD)
    shared = keras.optimizers.Adam()
    with pytest.raises(ValueError, match="two optimizer instances.*same Adam"):
        model.compile(generator_optimizer=shared, discriminator_optimizer=shared)
    with pytest.raises(ValueError, match="generator_optimizer or as optimizer, not both"):
        model.compile(generator_optimizer="adam", optimizer="sgd")



def test_compile_builds_no_default_optimizer_it_is_given(monkeypatch):
    """With both networks' optimizers passed, the paper's are not built (they were, and
    dropped: two optimizers and their step counters made for nothing, under the strategy's
    scope too). With one passed, only the other comes from `default_optimizers`."""
    model = tiny("gated_conv")
    built = []
    defaults = model.default_optimizers
    monkeypatch.setattr(model, "default_optimizers", lambda: built.append(1) or defaults())
    model.compile(generator_optimizer="sgd", discriminator_optimizer="rmsprop")
    assert not built
    assert isinstance(model.discriminator_optimizer, keras.optimizers.RMSprop)
    model.compile(generator_optimizer="sgd")
    assert built and isinstance(model.discriminator_optimizer, keras.optimizers.Adam)
    without_discriminator = tiny("partial_conv")
    monkeypatch.setattr(without_discriminator, "default_optimizers",
                        lambda: built.append("partial_conv") or defaults())
    without_discriminator.compile(optimizer="sgd")
    assert "partial_conv" not in built


def unknown_shape_dataset(batch):
    """`batch` as one element of a dataset whose tensors have unknown rank (what a
    `tf.py_function` in a user's pipeline yields)."""
    def load(_):
        return [tf.py_function(lambda key=key: batch[key], [], tf.float32)
                for key in ("image", "mask")]

    return tf.data.Dataset.range(1).map(load).map(lambda i, m: {"image": i, "mask": m})


def test_fit_and_evaluate_on_tensors_of_unknown_rank():
    """Fit and evaluate on a `tf.py_function` pipeline ("Cannot iterate over a shape with
    unknown rank" before); an image of the wrong shape still fails, naming its shape."""
    model = tiny("latent_search")
    model.compile()
    batch = batch_for(model)
    history = model.fit(unknown_shape_dataset(batch), verbose=0).history
    assert all(np.isfinite(values[-1]) for values in history.values()), history
    assert np.isfinite(model.evaluate(unknown_shape_dataset(batch), verbose=0)).all()
    rgba = {"image": np.concatenate([batch["image"], batch["mask"]], -1), "mask": batch["mask"]}
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[2,32,32,4\].*\[\?,\?,\?,3\]"):
        model.fit(unknown_shape_dataset(rgba), verbose=0)


def test_image_and_mask_sizes_unknown_until_run_time_are_compared_then():
    """In a graph traced for any size, a mask of another size fails naming the mismatch
    (before: "Incompatible shapes" from whichever operation first combined them)."""
    model = tiny("gated_conv")
    batch = batch_for(model)
    spec = {key: tf.TensorSpec((None, None, None, channels), tf.float32)
            for key, channels in (("image", 3), ("mask", 1))}
    call = tf.function(model.__call__, input_signature=[spec])
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="image and mask must have the same batch size, height and width"):
        call({"image": batch["image"], "mask": batch["mask"][:, :16, :16]})


@pytest.mark.parametrize("name", NAMES)
def test_fit_under_xla_moves_every_weight(name):
    """`fit` as Keras runs it on a GPU machine, where ``jit_compile="auto"`` means XLA."""
    model = tiny(name)
    model.compile(jit_compile=True)
    before = [v.numpy().copy() for v in model.trainable_variables]
    history = model.fit(tf.data.Dataset.from_tensors(batch_for(model)), verbose=0)
    assert all(np.isfinite(values[-1]) for values in history.history.values()), history.history
    assert_every_weight_moved(model, before)


def assert_every_weight_moved(model, before):
    unchanged = [
        v.path for v, b in zip(model.trainable_variables, before) if np.array_equal(v.numpy(), b)
    ]
    assert not unchanged, f"{model.name}: weights without an update: {unchanged}"


@pytest.mark.parametrize("name", NAMES)
def test_keras_file_round_trip(name, tmp_path):
    model = tiny(name)
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    assert reloaded.get_config() == model.get_config()
    for a, b in zip(model.get_weights(), reloaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def run_cli(*args, timeout=600):
    result = subprocess.run([sys.executable, "-m", "keras_inpaint.cli", *args],
                            env=subprocess_env(), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result


def cli_in_subprocess(options, *commands, timeout=900):
    """Each of `commands` (keras-inpaint arguments) in turn in one fresh process."""
    command = [sys.executable, str(__import__("pathlib").Path(__file__).parent
                                   / "run_training_subprocess.py"), "cli", *options]
    for args in commands:
        command += ["--", *args]
    result = subprocess.run(command, env=subprocess_env(), capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


def tiny_set_args(name):
    return [f"--set={key}={value!r}" if isinstance(value, str) else f"--set={key}={value}"
            for key, value in TINY_CONFIGS[name].items() if key != "image_size"]


@pytest.mark.parametrize("name", NAMES)
def test_cli_trains_mirrored_on_folder_then_resumes(name, photo_folder, tmp_path):
    size = str(TINY_CONFIGS[name].get("image_size", 32))
    masks = write_masks(tmp_path / "masks", [0.1, 0.3, 0.5])
    run = tmp_path / "run"
    common = ["train", name, "--data", str(photo_folder), "--output", str(run),
              "--image-size", size, "--batch-size", "2", "--checkpoint-every", "1",
              "--image-every", "1", "--validation-images", str(photo_folder),
              "--validation-masks", str(masks), *tiny_set_args(name)]
    # resumed on the default strategy in the same process (a fresh model from the checkpoint)
    cli_in_subprocess(["--two-cpus"], [*common, "--steps", "1", "--strategy", "mirrored"],
                      [*common, "--steps", "2", "--resume"])
    get_model_class(name)  # Keras finds the class once its module is imported
    model = keras.saving.load_model(run / "model.keras")
    assert int(model.train_steps.numpy()) == 2
    curve = json.loads((run / "validation.json").read_text())["steps"]
    assert [point["step"] for point in curve] == [0, 1, 2]
    assert all(math.isfinite(point["scores"][-1]["psnr"]) for point in curve)


@pytest.mark.parametrize("name", NAMES)
def test_predict_under_xla_at_another_size(name):
    """What Keras does on a GPU machine, where ``jit_compile="auto"`` means XLA (context_encoder
    and latent_search failed here while they resized with TensorFlow's ScaleAndTranslate)."""
    model = tiny(name)
    height, width = (side + step for side, step in zip(model.image_size, (16, 8)))
    rng = np.random.default_rng(2)
    image = rng.random((2, height, width, 3)).astype("float32")
    mask = np.zeros((2, height, width, 1), "float32")
    mask[:, 4:20, 6:18] = 1.0
    inputs = {"image": image, "mask": mask}
    model.compile(jit_compile=False)
    graph = model.predict(inputs, verbose=0)
    model.compile(jit_compile=True)
    compiled = model.predict(inputs, verbose=0)
    assert compiled.shape == image.shape
    np.testing.assert_array_equal(compiled[mask[..., 0] == 0], image[mask[..., 0] == 0])
    # The latent search's Adam steps amplify float rounding a little.
    np.testing.assert_allclose(compiled, graph, atol=1e-3 if name == "latent_search" else 1e-4)


@pytest.mark.parametrize("name", ["gated_conv", "partial_conv"])
def test_cli_trains_on_mocked_tfds_with_mixed_precision(name, tmp_path):
    size = str(TINY_CONFIGS[name].get("image_size", 32))
    cli_in_subprocess(["--mock-tfds"], [
        "train", name, "--data", "tfds:celeb_a_hq/256", "--output", str(tmp_path),
        "--image-size", size, "--batch-size", "2", "--steps", "1",
        "--mixed-precision", "bfloat16", *tiny_set_args(name)])
    assert (tmp_path / "model.weights.h5").exists()


@pytest.mark.parametrize("name", NAMES)
def test_exported_saved_model_serves_like_the_keras_model(name, tmp_path):
    from keras_inpaint.export import export_saved_model
    from test_export import keras_reference, uint8_inputs

    model = tiny(name)
    height, width = model.image_size
    image, mask = uint8_inputs(height, width)
    served = tf.saved_model.load(str(export_saved_model(model, tmp_path / name)))
    output = served.signatures["serving_default"](
        image=tf.constant(image), mask=tf.constant(mask))["inpainted"].numpy()
    assert output.dtype == np.uint8 and output.shape == image.shape
    known = mask[..., 0] == 0
    np.testing.assert_array_equal(output[known], image[known])
    if name != "latent_search":  # the search draws new random codes on every call
        difference = np.abs(output.astype(int) - keras_reference(model, image, mask).astype(int))
        assert difference.max() <= 1


@pytest.mark.parametrize("name", ["global_local", "latent_search", "contextual_attention"])
def test_saved_files_keep_the_random_streams(name, tmp_path, monkeypatch):
    """A `.keras` or `.weights.h5` file keeps the state of the models' random streams (crop
    positions, gradient-penalty mixes, latent codes): the reloaded model draws what the saved
    one would next (Keras saved none: it drew from step 0 again). A file written without them
    still loads, leaving the streams where they are."""
    model = tiny(name, seed=3)
    for generator in model._seed_generators:
        for _ in range(5):
            generator.next()
    model.save(tmp_path / "model.keras")
    model.save_weights(tmp_path / "model.weights.h5")
    expected = [keras.random.uniform((4,), seed=g) for g in model._seed_generators]
    loaded = keras.models.load_model(tmp_path / "model.keras")
    into = tiny(name, seed=3)
    into.load_weights(tmp_path / "model.weights.h5")
    for reloaded in (loaded, into):
        assert len(reloaded._seed_generators) == len(expected) >= 1
        for generator, draw in zip(reloaded._seed_generators, expected):
            np.testing.assert_array_equal(keras.random.uniform((4,), seed=generator), draw)
    base = keras.Model
    monkeypatch.setattr(type(model), "save_own_variables", base.save_own_variables)
    model.save_weights(tmp_path / "without_streams.weights.h5")
    monkeypatch.undo()
    fresh = tiny(name, seed=3)
    for generator in fresh._seed_generators:
        generator.next()
    fresh.load_weights(tmp_path / "without_streams.weights.h5")
    for generator in fresh._seed_generators:
        assert int(np.asarray(generator.state)[1]) == 1  # where it stood, not reset
