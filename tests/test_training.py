"""The training loop: runs, checkpoints, resumes (also after SIGKILL), refuses to clobber a
run, and trains under mixed precision, MirroredStrategy and MultiWorkerMirroredStrategy."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_inpaint import training
from keras_inpaint.models.gated_conv import GatedConvInpainter
from toy_model import ToyInpainter

TESTS = Path(__file__).parent
TOY = "toy_model:ToyInpainter"


def subprocess_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(TESTS.parent), env.get("PYTHONPATH", "")])
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return env


def toy_train(photo_folder, output, steps, **kwargs):
    return training.train(
        TOY, str(photo_folder), output, image_size=16, batch_size=2, steps=steps,
        checkpoint_every=1, log_every=1, image_every=2, verbose=0, **kwargs,
    )


def test_parse_overrides():
    assert training.parse_overrides(["width=16", "phases=9,1,50", "vgg_weights=/a/b.h5"]) == {
        "width": 16, "phases": (9, 1, 50), "vgg_weights": "/a/b.h5"}
    with pytest.raises(ValueError, match="key=value"):
        training.parse_overrides(["width"])


def test_train_writes_model_checkpoints_and_logs(photo_folder, tmp_path):
    model = toy_train(photo_folder, tmp_path, steps=2, overrides={"width": 3})
    assert int(model.train_steps.numpy()) == 2
    assert {"model.keras", "model.weights.h5", "run.json", "checkpoints", "logs"} <= {
        p.name for p in tmp_path.iterdir()}
    assert not list(tmp_path.glob("tmp-*"))
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    assert reloaded.width == 3
    batch = {"image": np.random.rand(1, 16, 16, 3).astype("float32"),
             "mask": np.ones((1, 16, 16, 1), "float32")}
    np.testing.assert_allclose(reloaded(batch), model(batch), atol=1e-6)
    assert json.loads((tmp_path / "run.json").read_text())["overrides"] == {"width": 3}
    assert list((tmp_path / "logs").iterdir())


def test_timing_counts_each_session_up_to_its_last_checkpoint(photo_folder, tmp_path):
    toy_train(photo_folder, tmp_path, steps=2)
    first = json.loads((tmp_path / "timing.json").read_text())
    assert [(s["from_step"], s["to_step"]) for s in first["sessions"]] == [(0, 2)]
    toy_train(photo_folder, tmp_path, steps=3, resume=True)
    timing = json.loads((tmp_path / "timing.json").read_text())
    sessions = timing["sessions"]
    assert [(s["from_step"], s["to_step"]) for s in sessions] == [(0, 2), (2, 3)]
    assert sessions[0] == first["sessions"][0] and sessions[1]["seconds"] > 0
    assert timing["seconds"] == round(sum(s["seconds"] for s in sessions), 1)
    assert sessions[1]["cpus"] >= 1 and sessions[1]["accelerators"] == []


def test_existing_run_needs_resume_and_same_settings(photo_folder, tmp_path):
    toy_train(photo_folder, tmp_path, steps=1)
    with pytest.raises(ValueError, match="--resume"):
        toy_train(photo_folder, tmp_path, steps=2)
    with pytest.raises(ValueError, match="batch_size"):
        training.train(TOY, str(photo_folder), tmp_path, image_size=16, batch_size=4, steps=2,
                       resume=True, verbose=0)


def test_resume_refuses_fewer_steps_and_passes_a_damaged_checkpoint(photo_folder, tmp_path,
                                                                    capsys):
    toy_train(photo_folder, tmp_path, steps=3)  # keeps the checkpoints of steps 2 and 3
    recorded = (tmp_path / "run.json").read_text()
    with pytest.raises(ValueError, match=r"already at step 3, past steps=2 \(--steps\)"):
        toy_train(photo_folder, tmp_path, steps=2, resume=True)
    assert (tmp_path / "run.json").read_text() == recorded
    newest = tmp_path / "checkpoints" / "ckpt-3.data-00000-of-00001"
    newest.write_bytes(newest.read_bytes()[:100])  # cut short outside the program
    resumed = training.train(TOY, str(photo_folder), tmp_path, image_size=16, batch_size=2,
                             steps=4, checkpoint_every=1, log_every=1, image_every=2,
                             resume=True)
    out = capsys.readouterr().out
    assert "Cannot restore" in out and "ckpt-3" in out and f"Resuming {tmp_path} at step 2" in out
    assert int(resumed.train_steps.numpy()) == 4
    fresh = tmp_path / "fresh"
    training.train(TOY, str(photo_folder), fresh, image_size=16, batch_size=2, steps=1,
                   resume=True)
    assert f"No run in {fresh} yet: starting a new one" in capsys.readouterr().out


def test_resume_matches_uninterrupted_run(photo_folder, tmp_path):
    straight = toy_train(photo_folder, tmp_path / "straight", steps=4)
    toy_train(photo_folder, tmp_path / "split", steps=2)
    resumed = toy_train(photo_folder, tmp_path / "split", steps=4, resume=True)
    assert int(resumed.train_steps.numpy()) == 4
    assert int(resumed.generator_optimizer.iterations.numpy()) == 4
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_init_from_a_run_fine_tunes_from_its_weights(photo_folder, tmp_path):
    source = toy_train(photo_folder, tmp_path / "source", steps=2, overrides={"width": 3})
    tuned = toy_train(photo_folder, tmp_path / "tuned", steps=0, overrides={"width": 3},
                      init_from=tmp_path / "source")
    assert int(tuned.train_steps.numpy()) == 0  # the fine-tuning run counts its own steps
    for a, b in zip(source.trainable_variables, tuned.trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    run = json.loads((tmp_path / "tuned" / "run.json").read_text())
    assert run["init_from"] == str(tmp_path / "source")
    assert int(tuned.generator_optimizer.iterations.numpy()) == 0  # a fresh optimizer
    # a .keras file works too; resuming keeps the checkpoint, not the initial weights
    toy_train(photo_folder, tmp_path / "file", steps=1, overrides={"width": 3},
              init_from=tmp_path / "source" / "model.keras")
    resumed = toy_train(photo_folder, tmp_path / "file", steps=2, overrides={"width": 3},
                        init_from=tmp_path / "source" / "model.keras", resume=True)
    assert int(resumed.train_steps.numpy()) == 2
    assert int(resumed.generator_optimizer.iterations.numpy()) == 2


def test_init_from_a_zoo_model_fine_tunes_its_published_weights(photo_folder, tmp_path):
    from keras_inpaint import zoo

    published = zoo.load("gated_conv")
    # no --set width: the preset's architecture arguments are taken from it
    tuned = training.train("gated_conv", str(photo_folder), tmp_path, image_size=32,
                           batch_size=2, steps=0, init_from="gated_conv", verbose=0)
    assert tuned.width == published.width != GatedConvInpainter(image_size=32).width
    for a, b in zip(published.generator.weights, tuned.generator.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["overrides"] == {"width": published.width, "guidance_channels": 0,
                                "discriminator_width": None}


def test_init_from_takes_only_unset_architecture_arguments(photo_folder, tmp_path, capsys):
    source = toy_train(photo_folder, tmp_path / "source", steps=1,
                       overrides={"width": 3, "adversarial_weight": 0.3})
    fine_tune = dict(init_from=tmp_path / "source", overrides={"adversarial_weight": 0.5})
    tuned = training.train(TOY, str(photo_folder), tmp_path / "tuned", image_size=16,
                           batch_size=2, steps=1, **fine_tune)
    assert f"From {tmp_path / 'source'}: width=3" in capsys.readouterr().out
    assert tuned.width == 3 and tuned.adversarial_weight == 0.5  # loss weights are not taken
    run = json.loads((tmp_path / "tuned" / "run.json").read_text())
    assert run["overrides"] == {"width": 3, "adversarial_weight": 0.5}
    resumed = toy_train(photo_folder, tmp_path / "tuned", steps=2, resume=True, **fine_tune)
    assert int(resumed.train_steps.numpy()) == 2
    default = toy_train(photo_folder, tmp_path / "default", steps=0, init_from=tmp_path / "source")
    assert default.adversarial_weight == ToyInpainter().adversarial_weight != 0.3
    # a source of another model class gives nothing: its weights are refused by name
    with pytest.raises(ValueError, match="cannot start from 'gated_conv'.*do not fit"):
        toy_train(photo_folder, tmp_path / "other", steps=1, init_from="gated_conv")
    assert source.width == 3
    # The source re-trained at another width, then deleted: a resume reads the architecture
    # the run began with from its run.json, and the weights from its checkpoint.
    shutil.rmtree(tmp_path / "source")
    toy_train(photo_folder, tmp_path / "source", steps=1, overrides={"width": 4})
    resumed = toy_train(photo_folder, tmp_path / "tuned", steps=3, resume=True, **fine_tune)
    assert resumed.width == 3 and int(resumed.train_steps.numpy()) == 3
    shutil.rmtree(tmp_path / "source")
    resumed = toy_train(photo_folder, tmp_path / "tuned", steps=4, resume=True, **fine_tune)
    assert resumed.width == 3 and int(resumed.train_steps.numpy()) == 4


def test_init_from_with_another_architecture_names_the_source(photo_folder, tmp_path):
    toy_train(photo_folder, tmp_path / "source", steps=1, overrides={"width": 3})
    with pytest.raises(ValueError, match="cannot start from .*source.*do not fit ToyInpainter"):
        toy_train(photo_folder, tmp_path / "wide", steps=1, overrides={"width": 5},
                  init_from=tmp_path / "source")
    with pytest.raises(ValueError, match="neither a zoo name"):
        toy_train(photo_folder, tmp_path / "missing", steps=1, init_from=tmp_path / "nothing")
    assert not (tmp_path / "missing" / "run.json").exists()  # the same command can be retried
    with pytest.raises(ValueError, match="widht"):
        toy_train(photo_folder, tmp_path / "typo", steps=1, overrides={"widht": 3})
    assert not (tmp_path / "typo" / "run.json").exists()
    (tmp_path / "source" / "model.keras").unlink()  # as if killed before the end
    with pytest.raises(ValueError, match="has not finished"):
        toy_train(photo_folder, tmp_path / "unfinished", steps=1, overrides={"width": 3},
                  init_from=tmp_path / "source")


def image_tags(log_dir):
    return {value.tag for path in Path(log_dir).iterdir()
            for event in tf.compat.v1.train.summary_iterator(str(path))
            for value in event.summary.value}


def test_image_summaries_run_the_generator_once(tmp_path):
    class SummarisesItsOutput:
        summarize_output = True

        def summary_images(self, inputs):
            return {"output": inputs["image"], "coarse": inputs["image"]}

        def __call__(self, inputs, training=False):
            raise AssertionError("the output came with summary_images")

    batch = {"image": tf.zeros((2, 8, 8, 3)), "mask": tf.ones((2, 8, 8, 1))}
    writer = tf.summary.create_file_writer(str(tmp_path))
    training._write_images(writer, SummarisesItsOutput(), batch, tf.distribute.get_strategy(), 1)
    assert image_tags(tmp_path) == {"input", "mask", "output", "coarse"}


def test_sigkill_then_resume(photo_folder, tmp_path):
    command = [sys.executable, "-m", "keras_inpaint.cli", "train", TOY, "--data",
               str(photo_folder), "--output", str(tmp_path), "--image-size", "16",
               "--batch-size", "2", "--checkpoint-every", "1", "--log-every", "1000",
               "--image-every", "1000"]
    process = subprocess.Popen(command + ["--steps", "100000"], env=subprocess_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    index = tmp_path / "checkpoints" / "checkpoint"
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if index.exists() and "ckpt-3" in index.read_text():
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = int(tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).rsplit("-", 1)[1])
    assert killed_at >= 3
    result = subprocess.run(command + ["--steps", str(killed_at + 2), "--resume"],
                            env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"Resuming {tmp_path} at step {killed_at}" in result.stdout
    model = keras.saving.load_model(tmp_path / "model.keras")
    assert int(model.train_steps.numpy()) == killed_at + 2


def test_cli_reports_bad_input_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "keras_inpaint.cli", "train", "no_such_model", "--data",
         str(tmp_path), "--output", str(tmp_path / "run")],
        env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "unknown model 'no_such_model'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def restore_policy():
    previous = keras.config.dtype_policy()
    yield
    keras.config.set_dtype_policy(previous)


def test_mixed_float16_uses_loss_scaling_and_skips_overflow(restore_policy):
    keras.config.set_dtype_policy("mixed_float16")
    model = ToyInpainter(image_size=16)
    model.compile()
    for optimizer in (model.generator_optimizer, model.discriminator_optimizer):
        assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    batch = {"image": np.random.rand(2, 16, 16, 3).astype("float32"),
             "mask": np.ones((2, 16, 16, 1), "float32")}
    step = tf.function(model.train_step)
    results = step(batch)
    assert all(np.isfinite(float(v)) for v in results.values())
    before = [w.copy() for w in model.generator.get_weights()]
    # A loss scale of 1e38 overflows float16 gradients: the step must be skipped, not applied.
    model.generator_optimizer.dynamic_scale.assign(1e38)
    step(batch)
    for a, b in zip(before, model.generator.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert float(model.generator_optimizer.dynamic_scale.numpy()) < 1e38


@pytest.mark.parametrize("precision", ["float16", "bfloat16"])
def test_train_mixed_precision(photo_folder, tmp_path, precision, restore_policy):
    """Both train on a CPU; float16 with a warning where there is no GPU (it trains 60-80x
    slower than float32 on this machine's CPU, benchmarks/precision_speed.py), bfloat16
    without."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = toy_train(photo_folder, tmp_path, steps=2, mixed_precision=precision)
    slow = [w for w in caught if "without a GPU" in str(w.message)]
    expected = precision == "float16" and not tf.config.list_physical_devices("GPU")
    assert len(slow) == expected, [str(w.message) for w in caught]
    if slow:
        assert "'bfloat16' trains" in str(slow[0].message)
    assert model.dtype_policy.name == f"mixed_{precision}"
    assert keras.config.dtype_policy().name == "float32"  # the global policy is left alone
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_mirrored_step_matches_single_replica(tmp_path):
    out = tmp_path / "weights.npz"
    subprocess.run([sys.executable, str(TESTS / "run_training_subprocess.py"), "mirrored",
                    str(out)], env=subprocess_env(), check=True, timeout=300,
                   capture_output=True)
    result = np.load(out)
    assert int(result["replicas"]) == 2
    count = sum(1 for key in result.files if key.startswith("default_"))
    assert count > 0
    # Summing over two replicas changes the order of float32 additions: measured up to 2.1e-6
    # apart on a loaded machine, far below one step's change of the weights.
    for index in range(count):
        np.testing.assert_allclose(result[f"default_{index}"], result[f"mirrored_{index}"],
                                   rtol=1e-5, atol=5e-6)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_multi_worker_training_reaches_identical_weights(photo_folder, tmp_path):
    ports = [str(free_port()), str(free_port())]
    workers = [
        subprocess.Popen([sys.executable, str(TESTS / "run_training_subprocess.py"), "worker",
                          str(index), *ports, str(tmp_path), str(photo_folder)],
                         env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
        for index in range(2)
    ]
    logs = [worker.communicate(timeout=300)[0] for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), logs[0][-3000:] + logs[1][-3000:]
    chief, other = np.load(tmp_path / "weights0.npz"), np.load(tmp_path / "weights1.npz")
    for key in chief.files:
        np.testing.assert_allclose(chief[key], other[key], rtol=1e-6)
    assert (tmp_path / "model.keras").exists()
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith("ckpt-2")


def test_float16_check_leaves_a_multi_worker_strategy_possible():
    """The no-GPU check of ``mixed_precision="float16"`` runs before `train` makes its
    strategy: it must not start TensorFlow's runtime, after which `MultiWorkerMirroredStrategy`
    fails ("Collective ops must be configured at program startup"), as it did for a while."""
    config = {"cluster": {"worker": [f"localhost:{free_port()}"]},
              "task": {"type": "worker", "index": 0}}
    code = ("import warnings; warnings.simplefilter('ignore')\n"
            "from keras_inpaint import training\n"
            "training._mixed_precision_policy('float16')\n"
            "import tensorflow as tf\n"
            "print('replicas', tf.distribute.MultiWorkerMirroredStrategy().num_replicas_in_sync)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env={**subprocess_env(), "TF_CONFIG": json.dumps(config)})
    assert "replicas 1" in result.stdout, result.stderr[-2000:]
