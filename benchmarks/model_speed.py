"""Inference latency and training throughput of every registered model.

For each model of `keras_inpaint.models.MODELS` (a model whose module does not exist yet is
listed as skipped), built with its constructor defaults (``--width`` overrides the width of
all of them) and untrained weights (the cost does not depend on them):

- **Inference**: one composited call ``model({"image", "mask"})`` on a single image with a
  centred rectangular hole of 10 % of the area, in a `tf.function` without and with XLA, at
  256x256 and, for fully convolutional models (generator with free height and width), also at
  512x512. Fixed-size models resize to their network size inside the call.
  `latent_search`'s inference is its latent search: it is run with ``--search-steps`` steps
  and with twice as many, the time per step is the difference, and the time at the model's
  default step count (1500, the paper's) is *extrapolated* as
  ``t(s) + (1500 - s) x per-step`` and labelled so.
- **Training**: images per second of ``model.train_step`` (everything one step of the
  paper's algorithm does: generator and discriminator / critic updates) in a `tf.function`
  without and with XLA, on batches of ``--batch`` random images of ``--train-size`` (the model
  is built with that ``image_size``) with per-sample rectangular holes.

Every figure is the median of ``--repeats`` rounds, the graph and XLA variants of one model
interleaved (see `benchmarks/common.py`), with the XLA speed-up (graph time / XLA time); the
first (warm-up) call of each, with tracing and XLA compilation, is not counted. A measurement
that raises (e.g. an op without an XLA kernel) is reported as failed with its error, and the
others go on. Progress goes to stderr.

    python -m benchmarks.model_speed [--quick] [--models gated_conv ...] [--width 24]
        [--sizes 256 512] [--train-size 128] [--batch 4] [--search-steps 10] [--repeats 3]
"""

import sys
import time

from benchmarks.common import (
    TRAIN_HOLE_FRACTION,
    benchmark_parser,
    compiled,
    default_argument,
    images_per_second,
    jit_label,
    jit_modes,
    medians_or_errors,
    milliseconds,
    parse_arguments,
    print_report,
    random_images,
    rectangle_hole_masks,
    result_cell,
    training_batch,
    training_timings,
)
from keras_inpaint.models import MODELS, get_model_class

HOLE_FRACTION = 0.1
LATENT_SEARCH = "latent_search"
QUICK_SETTINGS = {
    "models": ["gated_conv", LATENT_SEARCH],
    "width": 8,
    "sizes": [32, 64],
    "train_size": 32,
    "batch": 2,
    "search_steps": 2,
    "repeats": 1,
    "jit": ["graph"],
}


def load_model_class(name):
    """The registered class, or None when its module does not exist (yet)."""
    try:
        return get_model_class(name)
    except ModuleNotFoundError as error:
        if error.name != registered_module(name):
            raise  # the module exists but imports something missing: a real error
        return None


def registered_module(name):
    return MODELS[name].split(":")[0]


def is_fully_convolutional(model):
    """Whether the generator takes images of any height and width."""
    shape = model.generator.inputs[0].shape
    return len(shape) == 4 and shape[1] is None and shape[2] is None


def inference_batch(size):
    return {
        "image": random_images((1, size, size, 3)),
        "mask": rectangle_hole_masks(1, size, size, HOLE_FRACTION),
    }


def inference_call(model, batch, jit_compile):
    function = compiled(lambda inputs: model(inputs, training=False), jit_compile)
    return lambda: function(batch)


def timing_row(label, width, size, results, modes, formatter):
    """`label`, width, size, one cell per mode (`results[jit]`: seconds or an exception) and
    the XLA speed-up (graph seconds / XLA seconds) when both modes were measured."""
    cells = [result_cell(results[jit], formatter) for jit in modes]
    if len(modes) == 2:
        graph, xla = (results[jit] for jit in modes)
        measured = not isinstance(graph, Exception) and not isinstance(xla, Exception)
        cells.append(f"{graph / xla:.2f}" if measured else "-")
    return (label, width, size, *cells)


def extrapolate(short, double, steps, target_steps):
    """Time at `target_steps` from times at `steps` and ``2 * steps`` (linear in steps)."""
    for value in (short, double):
        if isinstance(value, Exception):
            return value
    return short + (target_steps - steps) * (double - short) / steps


def inference_rows(name, model_class, args):
    width = {} if args.width is None else {"width": args.width}
    modes = jit_modes(args)
    if name == LATENT_SEARCH:
        steps = args.search_steps
        size = args.sizes[0]
        batch = inference_batch(size)
        functions = {}
        for count in (steps, 2 * steps):
            model = model_class(search_steps=count, seed=0, **width)
            functions.update({(count, jit): inference_call(model, batch, jit) for jit in modes})
        results = medians_or_errors(functions, args.warmup, args.repeats)
        default_steps = default_argument(model_class, "search_steps")
        extrapolated = {
            jit: extrapolate(results[(steps, jit)], results[(2 * steps, jit)], steps, default_steps)
            for jit in modes
        }
        size_text = f"{size}x{size}"
        return [
            *(
                timing_row(
                    f"{name} ({count} search steps)",
                    model.width,
                    size_text,
                    {jit: results[(count, jit)] for jit in modes},
                    modes,
                    milliseconds,
                )
                for count in (steps, 2 * steps)
            ),
            timing_row(
                f"{name} ({default_steps} search steps, **extrapolated**)",
                model.width,
                size_text,
                extrapolated,
                modes,
                milliseconds,
            ),
        ]
    model = model_class(**width)
    sizes = args.sizes if is_fully_convolutional(model) else args.sizes[:1]
    functions = {
        (size, jit): inference_call(model, inference_batch(size), jit)
        for size in sizes
        for jit in modes
    }
    results = medians_or_errors(functions, args.warmup, args.repeats)
    return [
        timing_row(
            name,
            model.width,
            f"{size}x{size}",
            {jit: results[(size, jit)] for jit in modes},
            modes,
            milliseconds,
        )
        for size in sizes
    ]


def training_row(name, model_class, args):
    width = {} if args.width is None else {"width": args.width}
    modes = jit_modes(args)
    size_text = f"{args.train_size}x{args.train_size}, batch {args.batch}"
    try:
        model = model_class(image_size=args.train_size, **width)
    except Exception as error:  # noqa: BLE001 -- e.g. a size the architecture cannot take
        failed = dict.fromkeys(modes, error)
        return timing_row(name, args.width, size_text, failed, modes, milliseconds)
    batch = training_batch(args.batch, args.train_size, args.train_size)
    results = training_timings(model, batch, modes, args.warmup, args.repeats)
    return timing_row(name, model.width, size_text, results, modes, images_per_second(args.batch))


def main():
    parser = benchmark_parser(__doc__, repeats=3)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--width", type=int, default=None, help="override every model's width")
    parser.add_argument("--sizes", nargs="+", type=int, default=[256, 512])
    parser.add_argument("--train-size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--search-steps", type=int, default=10)
    args = parse_arguments(parser, QUICK_SETTINGS)
    modes = jit_modes(args)

    start = time.perf_counter()
    inference, training, skipped = [], [], []
    for name in args.models:
        model_class = load_model_class(name)
        if model_class is None:
            skipped.append(f"{name} ({registered_module(name)} does not exist yet)")
            continue
        print(f"[{time.perf_counter() - start:6.0f} s] {name}: inference", file=sys.stderr)
        inference += inference_rows(name, model_class, args)
        print(f"[{time.perf_counter() - start:6.0f} s] {name}: training", file=sys.stderr)
        training.append(training_row(name, model_class, args))
    print(f"[{time.perf_counter() - start:6.0f} s] done", file=sys.stderr)

    notes = [
        f"Untrained weights; median of {args.repeats} interleaved rounds after "
        f"{max(1, args.warmup)} warm-up call(s) (tracing / XLA compilation excluded)."
    ]
    if skipped:
        notes.append("Skipped: " + "; ".join(skipped) + ".")
    speed_up = ["xla speed-up"] if len(modes) == 2 else []
    print_report(
        "Inference latency (one image)",
        notes
        + [
            f"Centred rectangular hole of {100 * HOLE_FRACTION:.0f} % of the image. The "
            "latent search's time at its default step count is extrapolated linearly from "
            "the two measured step counts."
        ],
        ("model", "width", "image", *(f"{jit_label(jit)} ms" for jit in modes), *speed_up),
        inference,
    )
    print_report(
        "Training throughput (model.train_step)",
        notes + [f"Per-sample rectangular holes of {100 * TRAIN_HOLE_FRACTION:.0f} %."],
        (
            "model",
            "width",
            "training batch",
            *(f"{jit_label(jit)} images/s" for jit in modes),
            *speed_up,
        ),
        training,
    )


if __name__ == "__main__":
    main()
