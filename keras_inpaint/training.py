"""The training loop behind `keras-inpaint train`.

One loop serves every placement: the default strategy (one CPU/GPU), `MirroredStrategy`
(several GPUs) and `MultiWorkerMirroredStrategy` (several machines, configured by
``TF_CONFIG``). It is our own loop rather than `Model.fit` because Keras 3's `fit` fails under
`MultiWorkerMirroredStrategy` (keras-team/keras#20585); each step runs the model's own
`train_step` through `strategy.run`, so the models behave the same under `fit`.

A run directory holds:

- ``run.json``: the model, its constructor arguments and the data settings (a folder as an
  absolute path); a resumed run must match it. It is written once the model, its initial
  weights and the data stream are ready, and removed again if the first session of a run fails
  before its first checkpoint, so that a failed start never blocks the corrected command;
- ``checkpoints/``: `tf.train.Checkpoint`s of the model (with its ``train_steps`` counter and
  its random-number generator states) and both optimizers. TensorFlow writes a checkpoint's
  files first and then atomically replaces the ``checkpoint`` index, so a kill at any moment
  leaves the previous checkpoint loadable;
- ``logs/``: TensorBoard scalars (every loss term) and images (input, mask, output, plus what
  the model's `summary_images` adds);
- ``timing.json``: one entry per training session (start time, first and last checkpointed
  step, wall-clock seconds up to that checkpoint, CPUs and accelerators used) and their total
  ``seconds``, rewritten at every checkpoint; `keras_inpaint.zoo.publish` copies it into a
  preset's metadata, so a model card states how long its training took;
- ``validation.json`` when the run has held-out photos and masks: the model's scores on them
  at the first step, every ``validate_every`` steps and at the last (`keras_inpaint.validation`);
- ``model.keras`` and ``model.weights.h5`` at the end, each written to a temporary file in the
  same folder and renamed into place.

Resuming (``resume=True``) restores the latest checkpoint and restarts the data stream at
element ``step * global_batch``: images, crops and masks are functions of (seed, element
index) (see `keras_inpaint.data`), so the resumed run sees exactly the batches an
uninterrupted run would have seen.
"""

import ast
import contextlib
import datetime
import importlib
import json
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import keras
import tensorflow as tf

from keras_inpaint import data as inpaint_data
from keras_inpaint import zoo
from keras_inpaint.files import (
    MODEL_FILE,
    RUN_CONFIG_FILE,
    TIMING_FILE,
    WEIGHTS_FILE,
    atomic_save,
    atomic_write_text,
)
from keras_inpaint.models import get_model_class
from keras_inpaint.models.base import dtype_policy_scope
from keras_inpaint.scores import TABLE_SCORES
from keras_inpaint.validation import Validation, summary_line

MIXED_PRECISION_POLICIES = {"float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}
STRATEGIES = ("default", "mirrored", "multi-worker")
DEFAULT_ZOOM = inpaint_data.DEFAULT_SCALE_RANGE


def parse_overrides(assignments):
    """``["key=value", ...]`` -> dict; values are Python literals when they parse as one.

    ``phases=900,100,5000`` gives a tuple, ``width=16`` an int, ``vgg_weights=/a/b.h5`` a string.
    """
    overrides = {}
    for assignment in assignments or ():
        key, sep, text = assignment.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects key=value, received {assignment!r}")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        overrides[key.strip()] = value
    return overrides


def make_strategy(name):
    """A `tf.distribute` strategy by name: "default", "mirrored" or "multi-worker"."""
    if name in (None, "default"):
        return tf.distribute.get_strategy()
    if name == "mirrored":
        # All GPUs; on a machine without GPUs, all logical CPU devices (tests split the CPU).
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "multi-worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "--strategy multi-worker needs the TF_CONFIG environment variable "
                "(cluster and task); see the README's multi-machine example"
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}; valid: {', '.join(STRATEGIES)}")


def _is_chief(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker"
        and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict()
    )


def _model_class(name):
    """`get_model_class`, with a ``module:Class`` whose module or class does not exist as a
    ValueError naming it (an import failing inside the module keeps its traceback)."""
    module_name, sep, class_name = name.partition(":")
    if sep:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name is None or not f"{module_name}.".startswith(f"{error.name}."):
                raise
            raise ValueError(f"cannot import the model {name!r}: {error}") from error
        if not hasattr(module, class_name):
            raise ValueError(f"cannot find the model {name!r}: module {module_name!r} has no "
                             f"{class_name!r}")
    return get_model_class(name)


def _data_setting(data):
    """`data` as run.json records it: ``tfds:NAME`` as given, a folder as an absolute path (a
    relative path recorded by an older version is resolved against the working directory)."""
    data = os.fspath(data)
    if data.startswith(inpaint_data.TFDS_PREFIX):
        return data
    return str(Path(data).resolve())


def _check_tfds_name(data):
    """Refuse a ``tfds:NAME`` that TFDS does not know, in one line (TFDS's own error lists
    every dataset it has)."""
    data = os.fspath(data)
    if not data.startswith(inpaint_data.TFDS_PREFIX):
        return
    import tensorflow_datasets as tfds  # noqa: PLC0415 (heavy import, only for TFDS sources)

    name = data[len(inpaint_data.TFDS_PREFIX) :]
    try:
        tfds.builder(name)
    except tfds.core.registered.DatasetNotFoundError as error:
        raise ValueError(
            f"TFDS has no dataset {name!r} (data {data!r}); the names are listed at "
            "https://www.tensorflow.org/datasets/catalog"
        ) from error


def _check_run_config(path, run_config, resume):
    """Refuse an existing run without `resume`, and a resume with other settings (run.json
    is written by `_write_run_config` once the model is built and initialised and the data
    read, so that a bad argument leaves no half-started run behind). Returns the existing
    run.json as a dict, None for a new run."""
    run_config = json.loads(json.dumps(run_config))  # compare as stored: tuples become lists
    if path.exists():
        previous = json.loads(path.read_text())
        if "data" in previous:
            previous["data"] = _data_setting(previous["data"])
        previous.setdefault("zoom", list(DEFAULT_ZOOM))  # runs from before the setting
        if not resume:
            raise ValueError(
                f"{path.parent} already holds a training run; pass --resume to continue it "
                "or choose another --output"
            )
        changed = {
            key: (previous.get(key), value)
            for key, value in run_config.items()
            if key not in ("steps", "command") and previous.get(key) != value
        }
        if changed:
            details = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
            raise ValueError(f"cannot resume {path.parent} with different settings ({details})")
        return previous
    return None


def _write_run_config(path, run_config):
    atomic_write_text(path, json.dumps(run_config, indent=2, sort_keys=True))


@contextlib.contextmanager
def _forgotten_if_failing_before_a_checkpoint(path, manager, new_run):
    """For a `new_run`, remove its run.json at `path` if the block fails before `manager` saves
    a checkpoint: there is nothing to resume, and the corrected command must not be refused as
    another run."""
    try:
        yield
    except BaseException:
        if new_run and manager.latest_checkpoint is None:
            path.unlink(missing_ok=True)
        raise


def _with_source_architecture(model_class, source, overrides, verbose):
    """`overrides` plus the values that `source` (``init_from``) has for the model's
    `architecture_arguments` they do not set, so that ``--init-from gated_conv`` builds the
    preset's width without ``--set width=...``. A source of another class gives nothing (its
    weights will not fit, and `_initialise_weights` says so)."""
    class_name, config = zoo.source_config(source)
    if class_name != model_class.__name__:
        return overrides
    taken = {
        key: config[key]
        for key in model_class.architecture_arguments
        if key not in overrides and key in config
    }
    if taken and verbose:
        settings = ", ".join(f"{key}={value!r}" for key, value in taken.items())
        print(f"From {os.fspath(source)}: {settings}")
    return {**taken, **overrides}


def _restore_newest_readable(manager, verbose):
    """Restore the newest of `manager`'s checkpoints that reads back whole; a damaged one (a
    file cut short or overwritten outside this program: checkpoints are written atomically) is
    reported and the one before it tried, so a resume loses the steps since that one only."""
    for path in reversed(manager.checkpoints):
        try:
            manager.checkpoint.restore(path).assert_existing_objects_matched()
            return
        except (tf.errors.OpError, ValueError, IndexError, AssertionError) as error:
            if verbose:
                print(f"Cannot restore {path} ({type(error).__name__}: {error}); trying the "
                      "checkpoint before it")
    raise ValueError(
        f"none of the checkpoints in {manager.directory} can be restored "
        f"({', '.join(os.path.basename(path) for path in manager.checkpoints)})"
    )


def _recorded_architecture(run_file, model_class, init_from, resume):
    """For a fine-tuning run being resumed (its run.json at `run_file` records this
    `init_from`), the architecture arguments it took from its source when it began; None
    otherwise. A resume reads them there, not from the source, which may have been re-published
    with another width or deleted since (the checkpoint holds the weights)."""
    if not (resume and run_file.is_file()):
        return None
    previous = json.loads(run_file.read_text())
    if previous.get("init_from") != str(init_from):
        return None  # _check_run_config refuses the changed setting
    recorded = previous.get("overrides") or {}
    return {key: recorded[key] for key in model_class.architecture_arguments if key in recorded}


def _initialise_weights(model, source):
    """Copy the weights (not the optimizer state) of `source` (see `train`'s ``init_from``)
    into `model`; its step counter restarts at 0, so a fine-tuning run counts (and schedules)
    its own steps. Returns the source's step counter (None if it has none)."""
    source = zoo.trained_model_file(source)
    loaded = zoo.load(source)
    weights = loaded.get_weights()
    try:
        model.set_weights(weights)
    except ValueError as error:
        raise ValueError(
            f"cannot start from {os.fspath(source)!r}: its weights do not fit "
            f"{type(model).__name__} with these settings (check --set width and the other "
            f"architecture arguments): {error}"
        ) from error
    model.train_steps.assign(0)
    counter = getattr(loaded, "train_steps", None)
    return None if counter is None else int(counter.numpy())


def _record_initialisation(run_config, previous, init_from, source_steps):
    """Add to `run_config` the record of where the run started (``initialised_from``,
    `zoo.initialisation_record`; None from scratch), made when the run begins (`previous`,
    the existing run.json, is None) and kept as it was on every resume: the source may change
    later (a zoo name's preset re-published, a source run trained on). A resumed run that
    began before this record existed gets none (`zoo.publish` then reads the source as it
    is). `source_steps`: the step counter of the weights the run started from."""
    if previous is None:
        run_config["initialised_from"] = zoo.initialisation_record(init_from, source_steps)
        return
    if "initialised_from" in previous:
        run_config["initialised_from"] = previous["initialised_from"]


def _atomic_save(model, directory):
    """``model.keras`` and ``model.weights.h5`` via temporary files renamed into place."""
    atomic_save(model.save, directory / MODEL_FILE)
    atomic_save(model.save_weights, directory / WEIGHTS_FILE)


def train(
    model,
    data,
    output,
    image_size=256,
    batch_size=8,
    steps=1000,
    masks=None,
    mixed_precision=None,
    strategy="default",
    resume=False,
    jit_compile=False,
    overrides=None,
    init_from=None,
    seed=0,
    checkpoint_every=500,
    log_every=50,
    image_every=500,
    validation_images=None,
    validation_masks=None,
    validation_stride=1,
    validate_every=None,
    zoom=DEFAULT_ZOOM,
    verbose=1,
    command=None,
):
    """Train a registered model (or ``"module:Class"``) on a folder or ``tfds:NAME``.

    Args:
        model: a name from `keras_inpaint.models.MODELS` or ``"package.module:Class"`` for a
            user's own `InpaintingModel` subclass.
        data: an image folder or ``"tfds:NAME"``.
        output: the run directory (see the module docstring).
        image_size: training crop size (int or (height, width)).
        batch_size: global batch size (split across replicas).
        steps: total optimisation steps of the run (a resumed run continues up to it).
        masks: mask generator spec; the model's ``default_masks`` when None.
        mixed_precision: None (the global dtype policy), "float16" or "bfloat16": the run
            builds and trains the model under Keras' ``mixed_float16`` or
            ``mixed_bfloat16`` policy and restores the global policy when it returns.
        strategy: "default", "mirrored" or "multi-worker".
        resume: continue from the latest checkpoint in ``output``.
        jit_compile: compile each replica's train step with XLA.
        overrides: constructor arguments of the model (``--set key=value``).
        init_from: fine-tune instead of starting from random weights: a finished run directory
            (its ``model.keras``) or anything `keras_inpaint.zoo.load` takes (a zoo name, a
            preset folder, a ``.keras`` file). The model's `architecture_arguments` that
            `overrides` do not set are taken from it (recorded in ``run.json`` as overrides);
            those set must match it. Loss weights, learning rates and the data may differ
            (they are not taken from it: the model's defaults and `overrides` apply). Only
            weights are copied (optimizers start fresh) and the new run counts its steps from
            0; on ``resume`` the checkpoint wins.
        seed: seed of the initial weights and of the data stream (file order, crops, flips,
            masks).
        checkpoint_every, log_every, image_every: intervals in steps.
        validation_images, validation_masks: folders of held-out photos and masks, given
            together: the model is scored on their pairs (every `validation_stride`-th mask,
            at the training size, which must then be square) at the run's first step, every
            `validate_every` steps (default `checkpoint_every`) and at its last, into
            ``validation.json`` and TensorBoard (see `keras_inpaint.validation`).
        zoom: ``(low, high)``, the range of the random zoom-in of the training crops
            (`keras_inpaint.data.make_dataset`'s `scale_range`): with ``(1, 1)`` every crop
            is the largest region of the photo with the crop's aspect ratio, resized to the
            crop size (evaluation resizes its centred square); ``(1, 2)``, the default, zooms
            in by up to 2x.
        verbose: 1 shows a progress bar.
        command: the command line that started the run, recorded in ``run.json``.

    Returns:
        The trained model.
    """
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise ValueError(f"output must be a run directory, received the file {str(output)!r}")
    _check_validation_arguments(validation_images, validation_masks, validation_stride,
                                validate_every)
    policy = _mixed_precision_policy(mixed_precision)
    model_class = _model_class(model)
    _check_tfds_name(data)
    masks = masks or model_class.default_masks
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    overrides = dict(overrides or {})
    if init_from is not None:
        recorded = _recorded_architecture(output / RUN_CONFIG_FILE, model_class, init_from,
                                          resume)
        overrides = ({**recorded, **overrides} if recorded is not None else
                     _with_source_architecture(model_class, init_from, overrides, verbose))
    run_config = {
        "model": model,
        "overrides": overrides,
        "init_from": None if init_from is None else str(init_from),
        "data": _data_setting(data),
        "image_size": list(size),
        "batch_size": batch_size,
        "masks": masks,
        "zoom": list(inpaint_data.checked_scale_range(zoom, "zoom")),
        "seed": seed,
        "mixed_precision": mixed_precision,
        "steps": steps,
        "command": command,
    }
    strategy = make_strategy(strategy)
    chief = _is_chief(strategy)
    run_file = output / RUN_CONFIG_FILE
    previous_run = _check_run_config(run_file, run_config, resume) if chief else None
    new_run = chief and previous_run is None
    held_out = None
    if chief and validation_images is not None:
        held_out = Validation(validation_images, validation_masks, size,
                              stride=validation_stride, batch_size=batch_size)

    with dtype_policy_scope(policy):
        keras.utils.set_random_seed(seed)  # the same initial weights for the same seed
        with strategy.scope():
            net = model_class(image_size=size, **overrides)
            net.compile()
        checkpoint_dir = output / "checkpoints"
        if not chief:  # every worker writes (the save is collective); only the chief's is kept
            checkpoint_dir = Path(tempfile.mkdtemp(prefix="worker-checkpoints-"))
        manager = tf.train.CheckpointManager(_checkpoint(net), str(checkpoint_dir),
                                             max_to_keep=2)
        source_steps = None
        if resume and manager.latest_checkpoint:
            _restore_newest_readable(manager, verbose)
        elif init_from is not None:
            source_steps = _initialise_weights(net, init_from)
        start = int(net.train_steps.numpy())
        if start > steps:
            raise ValueError(
                f"{output} is already at step {start}, past steps={steps} (--steps): pass "
                f"{start} or more to train on"
            )
        dataset = inpaint_data.make_dataset(
            data,
            image_size=size,
            batch_size=batch_size,
            masks=masks,
            seed=seed,
            start_index=start * batch_size,
            scale_range=zoom,
        )
        output.mkdir(parents=True, exist_ok=True)
        if chief:
            _record_initialisation(run_config, previous_run, init_from, source_steps)
            _write_run_config(run_file, run_config)
        if verbose and start:
            print(f"Resuming {output} at step {start}")
        elif verbose and resume and new_run:
            print(f"No run in {output} yet: starting a new one")
        validation_log = None if held_out is None else held_out.open_log(output, start, resume)
        with _forgotten_if_failing_before_a_checkpoint(run_file, manager, new_run):
            _run_steps(
                net, strategy, dataset, manager, output if chief else None, start, steps,
                jit_compile=jit_compile, verbose=verbose, resume=resume,
                intervals=(checkpoint_every, log_every, image_every,
                           validate_every or checkpoint_every),
                validation_log=validation_log,
            )
    if not chief:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    report = inpaint_data.skipped_files_report()
    if report and verbose:
        print(report)
    return net


def _check_validation_arguments(images, masks, stride, every):
    if (images is None) != (masks is None):
        raise ValueError(
            "validation needs both validation_images and validation_masks (--validation-images"
            f" and --validation-masks), received images={images!r}, masks={masks!r}"
        )
    if images is None and (stride != 1 or every is not None):
        raise ValueError(
            f"validation_stride={stride!r} and validate_every={every!r} need "
            "validation_images and validation_masks"
        )
    if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
        raise ValueError(f"validate_every must be a positive int, received {every!r}")


def _mixed_precision_policy(mixed_precision):
    """The dtype policy a run builds its model under: the global one, or a mixed one."""
    if mixed_precision is None:
        return keras.config.dtype_policy()
    if mixed_precision not in MIXED_PRECISION_POLICIES:
        raise ValueError(
            f"mixed_precision must be one of {sorted(MIXED_PRECISION_POLICIES)}, "
            f"received {mixed_precision!r}"
        )
    # Physical devices: listing logical ones would start the runtime before a multi-worker
    # strategy can configure its collectives.
    if mixed_precision == "float16" and not tf.config.list_physical_devices("GPU"):
        warnings.warn(
            "mixed_precision='float16' without a GPU: CPUs train in float16 far slower than in "
            "float32 (60-80x for partial_conv and context_encoder on the CPU of the README's "
            "benchmarks); on a CPU with AVX512-BF16 / AMX, 'bfloat16' trains 1.3-1.6x faster "
            "than float32 there; otherwise use no mixed precision", stacklevel=3)
    return MIXED_PRECISION_POLICIES[mixed_precision]


def _checkpoint(net):
    """What a checkpoint holds: the model (with its step counter), its random-number generator
    states (latent draws, gradient-penalty mixing resume exactly too) and its optimizers."""
    optimizers = {
        name: optimizer
        for name, optimizer in (
            ("generator_optimizer", net.generator_optimizer),
            ("discriminator_optimizer", net.discriminator_optimizer),
        )
        if optimizer is not None
    }
    return tf.train.Checkpoint(
        model=net,
        seed_generator_states=[
            v for v in net.variables if v.path.endswith("seed_generator_state")
        ],
        **optimizers,
    )


def _run_steps(net, strategy, dataset, manager, output, start, steps, jit_compile, verbose,
               resume, intervals, validation_log=None):
    """Steps `start` .. `steps` of `net.train_step` under `strategy`; logs, pictures, timing,
    validation scores (`validation_log`: a `ValidationLog`, or None) and the final model
    files go to `output` (None on a non-chief worker)."""
    checkpoint_every, log_every, image_every, validate_every = intervals
    iterator = iter(strategy.experimental_distribute_dataset(dataset))
    replica_step = net.train_step
    if jit_compile:
        replica_step = tf.function(net.train_step, jit_compile=True)

    @tf.function
    def distributed_step(batch):
        results = strategy.run(replica_step, args=(batch,))
        return {
            name: strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
            for name, value in results.items()
        }

    writer = clock = progress = None
    if output is not None:
        writer = tf.summary.create_file_writer(str(output / "logs"))
        clock = _SessionClock(output / TIMING_FILE, start, resume)
    if verbose:
        progress = keras.utils.Progbar(steps, stateful_metrics=list(net.loss_terms))
        progress.update(start)
    if validation_log is not None and not validation_log.has(start):
        _validate(net, validation_log, writer, start, verbose)
    step = start
    while step < steps:
        batch = next(iterator)
        results = distributed_step(batch)
        step += 1
        values = {name: float(value) for name, value in results.items()}
        if progress is not None:
            progress.update(step, list(values.items()), finalize=step == steps)
        if step % log_every == 0 or step == steps:
            _write_scalars(writer, values, step)
            for tracker in net.loss_trackers.values():
                tracker.reset_state()
        if step % image_every == 0 or step == steps:
            _write_images(writer, net, batch, strategy, step)
        if step % checkpoint_every == 0 or step == steps:
            manager.save(checkpoint_number=step)
            if clock is not None:
                clock.record(step)
        if validation_log is not None and (step % validate_every == 0 or step == steps):
            _validate(net, validation_log, writer, step, verbose)
    if output is not None:
        _atomic_save(net, output)


class _SessionClock:
    """Keeps ``timing.json`` up to date: earlier sessions (when resuming) plus this one.

    Only checkpointed progress counts: each write records this session's steps and seconds up
    to the checkpoint just saved, so steps lost to a kill are not in the total.
    """

    def __init__(self, path, start_step, resume):
        self.path = path
        self.earlier = []
        if resume and path.is_file():
            self.earlier = json.loads(path.read_text(encoding="utf-8"))["sessions"]
        self.session = {
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "from_step": start_step,
            "to_step": start_step,
            "seconds": 0.0,
            "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count(),
            "accelerators": [device.name for device in tf.config.list_logical_devices()
                             if device.device_type != "CPU"],
        }
        self.started = time.monotonic()

    def record(self, step):
        self.session.update(to_step=step, seconds=round(time.monotonic() - self.started, 1))
        sessions = [*self.earlier, self.session]
        atomic_write_text(self.path, json.dumps(
            {"seconds": round(sum(s["seconds"] for s in sessions), 1), "sessions": sessions},
            indent=2,
        ))


def _validate(net, log, writer, step, verbose):
    """Score `net` on the held-out pairs into `log`, its ``all`` row to TensorBoard."""
    row = log.record(step, net)
    _write_scalars(writer, {f"validation/{key}": row[key] for key, _, _ in TABLE_SCORES}, step)
    if verbose:
        print("\n" + summary_line(step, row))


def _write_scalars(writer, values, step):
    if writer is None:
        return
    with writer.as_default(step=step):
        for name, value in values.items():
            tf.summary.scalar(name, value)
    writer.flush()


def _write_images(writer, model, batch, strategy, step, max_images=4):
    """Input (holes greyed), mask, output and the model's own extra pictures (the output
    comes from `summary_images` when it provides one, so the generator runs once)."""
    if writer is None:
        return
    local = strategy.experimental_local_results(batch)[0]
    inputs = {key: value[:max_images] for key, value in local.items()}
    images = {
        "input": inputs["image"] * (1.0 - inputs["mask"]) + 0.5 * inputs["mask"],
        "mask": inputs["mask"],
    }
    if hasattr(model, "summary_images"):
        images.update(model.summary_images(inputs))
    if model.summarize_output and "output" not in images:
        images["output"] = model(inputs, training=False)
    with writer.as_default(step=step):
        for name, value in images.items():
            tf.summary.image(name, tf.clip_by_value(tf.cast(value, tf.float32), 0.0, 1.0),
                             max_outputs=max_images)
    writer.flush()
