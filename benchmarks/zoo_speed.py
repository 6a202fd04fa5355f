"""What users get from the zoo models: `inpaint` latency and memory, training throughput.

For each zoo network as published (default: every entry with trained weights,
`keras_inpaint.zoo.has_weights`), loaded once with ``zoo.load(name)``:

- **Inference** through the public one-call API, ``keras_inpaint.inference.inpaint(image,
  mask, model=model)``, on one 512x512 and one 2048x1536 (width x height) float32 image of
  uniform noise, each with a deterministic hole: a centred rectangle with the image's aspect
  ratio covering 10 % of the pixels (`common.rectangle_hole_masks`). `inpaint` fills an image
  more than twice the model's training size in crops around the hole, scaled to about that
  size (its high-resolution strategy), and gives smaller images to the network whole;
  `latent_search` runs its published number of search steps. Latency is the median of
  ``--repeats`` rounds, the two images interleaved, after ``--warmup`` untimed calls (the
  model is loaded once, before them, as users should in a loop). The peak memory is
  TensorFlow's CPU allocator peak during one more call (see `benchmarks/common.py`): the
  tensors of 256 KiB or more that TensorFlow holds, the model's large weights and its
  activations; not `inpaint`'s NumPy / OpenCV arrays (the image, the crops). One model is
  alive at a time (the previous one is released first), so the peaks of different models are
  independent.
- **Training**: images per second of ``model.train_step`` at the training resolution and
  batch size of the preset's ``metadata.json`` (``image_size`` and ``run`` -> ``batch_size``;
  128x128 and 8 when absent), on random images with per-sample rectangular holes of 25 %, in
  a `tf.function` without (graph) and with XLA (``--jit``; inference is never XLA-compiled,
  as `inpaint` calls the model eagerly), the two interleaved. The step is whatever the model
  does at its step counter (`global_local` trains in phases: a published model is in its
  last, an untrained one in its first).

Entries without trained weights (all of them until presets are published under ``zoo/``)
are measured untrained when named with ``--models``, or all six when no entry has weights:
the default architecture at half its default width, built at 128x128 and trained with
batch 8; with ``--quick``, always the tiny configurations of ``tests/tiny_models.py`` (batch
2) on 64x64 and 128x96 images. A measurement that raises (out of memory, no XLA kernel) is a
``failed: ...`` cell and the others go on. Progress goes to stderr.

    python -m benchmarks.zoo_speed [--quick] [--models gated_conv ...] [--repeats 3]
        [--warmup 1] [--jit graph xla]
"""

import dataclasses
import gc
import sys
import time

import keras

from benchmarks.common import (
    TRAIN_HOLE_FRACTION,
    benchmark_parser,
    default_argument,
    describe_error,
    images_per_second,
    jit_label,
    jit_modes,
    mebibytes,
    medians_or_errors,
    milliseconds,
    parse_arguments,
    peak_memory_bytes,
    print_report,
    random_images,
    rectangle_hole_masks,
    result_cell,
    training_batch,
    training_timings,
)
from keras_inpaint import zoo
from keras_inpaint.inference import inpaint
from tests.tiny_models import TINY_CONFIGS

NETWORKS = [name for name, entry in zoo.ENTRIES.items() if not entry.classical]
HOLE_FRACTION = 0.1
IMAGE_SIZES = ((512, 512), (1536, 2048))
"""(height, width) of the inference images."""
QUICK_IMAGE_SIZES = ((64, 64), (96, 128))
"""(height, width) of the ``--quick`` images: whole, and in crops for the tiny models."""
FALLBACK_TRAINING_SIZE = 128
FALLBACK_BATCH_SIZE = 8
QUICK_BATCH_SIZE = 2
UNTRAINED_WIDTH_DIVISOR = 2
QUICK_SETTINGS = {"models": ["gated_conv", "latent_search"], "repeats": 1, "jit": ["graph"]}


@dataclasses.dataclass
class Subject:
    """A loaded model and how it is trained: `training_size` (height, width), `batch_size`."""

    label: str
    model: keras.Model
    training_size: tuple
    batch_size: int
    trained: bool


def default_models():
    """Every zoo network with trained weights, else all of them (measured untrained)."""
    return [name for name in NETWORKS if zoo.has_weights(name)] or list(NETWORKS)


def training_settings(metadata):
    """``((height, width), batch size)`` of a preset's ``metadata.json`` (a dict), with
    `FALLBACK_TRAINING_SIZE` and `FALLBACK_BATCH_SIZE` for what it does not record."""
    size = metadata.get("image_size", FALLBACK_TRAINING_SIZE)
    height, width = (size, size) if isinstance(size, int) else size
    batch = (metadata.get("run") or {}).get("batch_size", FALLBACK_BATCH_SIZE)
    return (int(height), int(width)), int(batch)


def untrained_overrides(name, quick):
    """Constructor arguments of an untrained stand-in: the tiny configuration with `quick`,
    else the default architecture at 1/`UNTRAINED_WIDTH_DIVISOR` of its default width."""
    if quick:
        return TINY_CONFIGS[name]
    width = default_argument(zoo.get_entry(name).model_class(), "width")
    return {"image_size": FALLBACK_TRAINING_SIZE, "width": width // UNTRAINED_WIDTH_DIVISOR}


def load_subject(name, quick, **overrides):
    """The published model `name` (never with `quick`), else its untrained stand-in; with
    constructor `overrides` that keep the architecture (e.g. ``dtype``)."""
    if zoo.has_weights(name) and not quick:
        size, batch = training_settings(zoo.read_metadata(zoo.get_entry(name).preset_dir))
        return Subject(name, zoo.load(name, **overrides), size, batch, trained=True)
    model = zoo.load(name, weights=None, **untrained_overrides(name, quick), **overrides)
    return Subject(
        f"{name} (untrained, width {model.width})",
        model,
        tuple(model.image_size),
        QUICK_BATCH_SIZE if quick else FALLBACK_BATCH_SIZE,
        trained=False,
    )


def inpaint_call(model, height, width):
    """A zero-argument `inpaint` call on a noise image with the centred 10 % hole."""
    image = random_images((height, width, 3)).numpy()
    hole = rectangle_hole_masks(1, height, width, HOLE_FRACTION).numpy()[0, ..., 0] > 0
    return lambda: inpaint(image, hole, model=model)


def peak_or_error(function):
    """`peak_memory_bytes(function)`, or the exception it raised."""
    try:
        return peak_memory_bytes(function)
    except Exception as error:  # noqa: BLE001 -- a failed measurement is a table entry
        return error


def mebibyte_cell(num_bytes):
    return f"{mebibytes(num_bytes):.1f}"


def inference_cells(model, sizes, args):
    """Latency (ms) and peak (MiB) cells per image size; the peak is measured after the
    timings (so after the warm-up), and not at all ("-") for a size whose timing failed."""
    calls = {size: inpaint_call(model, *size) for size in sizes}
    latencies = medians_or_errors(calls, args.warmup, args.repeats)
    cells = []
    for size in sizes:
        latency = latencies[size]
        cells.append(result_cell(latency, milliseconds))
        if isinstance(latency, Exception):
            cells.append("-")
        else:
            cells.append(result_cell(peak_or_error(calls[size]), mebibyte_cell))
    return cells


def measure(name, sizes, args):
    """``(row, trained)`` of one model: inference first, then (compiled) training."""
    modes = jit_modes(args)
    try:
        subject = load_subject(name, args.quick)
    except Exception as error:  # noqa: BLE001 -- e.g. a preset that does not load
        failed = [describe_error(error)] * (2 * len(sizes) + len(modes))
        return (name, "-", "-", *failed), zoo.has_weights(name) and not args.quick
    height, width = subject.training_size
    inference = inference_cells(subject.model, sizes, args)
    batch = training_batch(subject.batch_size, height, width)
    training = training_timings(subject.model, batch, modes, args.warmup, args.repeats)
    row = (
        subject.label,
        f"{subject.model.count_params():,}",
        f"{width}x{height}, batch {subject.batch_size}",
        *inference,
        *(result_cell(training[jit], images_per_second(subject.batch_size)) for jit in modes),
    )
    return row, subject.trained


def release_models():
    """Free the previous model's tensors, so that the next model's peak excludes them."""
    gc.collect()
    keras.backend.clear_session()


def title(trained):
    """The table title; says "untrained" unless every row is a published model."""
    if all(trained):
        return "Zoo models as published: `inpaint` latency and memory, training throughput"
    which = "some untrained" if any(trained) else "untrained"
    return f"Zoo models, {which}: `inpaint` latency and memory, training throughput"


def notes(args):
    return [
        f"Inference: `inpaint(image, mask, model=model)`, centred rectangular hole of "
        f"{100 * HOLE_FRACTION:.0f} % of the pixels, median of {args.repeats} interleaved "
        f"rounds after {max(1, args.warmup)} warm-up call(s); peak: TensorFlow's CPU allocator "
        "during one call (tensors of 256 KiB or more, large weights included; not NumPy arrays).",
        f"Training: `model.train_step` at the training size and batch, per-sample rectangular "
        f"holes of {100 * TRAIN_HOLE_FRACTION:.0f} %, tracing / XLA compilation excluded.",
    ]


def headers(sizes, modes):
    inference = []
    for height, width in sizes:
        inference += [f"latency {width}x{height} (ms)", f"peak {width}x{height} (MiB)"]
    training = [f"train {jit_label(jit)} (images/s)" for jit in modes]
    return ("model", "parameters", "training size", *inference, *training)


def main():
    parser = benchmark_parser(__doc__, repeats=3)
    parser.add_argument(
        "--models",
        nargs="+",
        choices=NETWORKS,
        default=None,
        help="zoo networks (default: those with trained weights, else all, untrained)",
    )
    args = parse_arguments(parser, QUICK_SETTINGS)
    models = args.models or default_models()
    sizes = QUICK_IMAGE_SIZES if args.quick else IMAGE_SIZES

    start = time.perf_counter()
    rows, trained = [], []
    for name in models:
        print(f"[{time.perf_counter() - start:6.0f} s] {name}", file=sys.stderr)
        row, is_trained = measure(name, sizes, args)
        rows.append(row)
        trained.append(is_trained)
        release_models()
    print(f"[{time.perf_counter() - start:6.0f} s] done", file=sys.stderr)
    print_report(title(trained), notes(args), headers(sizes, jit_modes(args)), rows)


if __name__ == "__main__":
    main()
