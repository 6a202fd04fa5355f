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
interleaved (see `benchmarks/common.py`); the first (warm-up) call, with tracing and XLA
compilation, is not counted. A measurement that raises is reported as failed with its error.

    python -m benchmarks.model_speed [--quick] [--models gated_conv ...] [--width 24]
        [--sizes 256 512] [--train-size 128] [--batch 4] [--search-steps 10] [--repeats 3]
"""

import inspect

from benchmarks.common import (
    benchmark_parser,
    compiled,
    describe_error,
    interleaved_timings,
    jit_label,
    jit_modes,
    medians,
    milliseconds,
    parse_arguments,
    print_report,
    random_images,
    rectangle_hole_masks,
)
from keras_inpaint.models import MODELS, get_model_class

HOLE_FRACTION = 0.1
TRAIN_HOLE_FRACTION = 0.25
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


def default_argument(model_class, name):
    return inspect.signature(model_class.__init__).parameters[name].default


def inference_batch(size):
    return {
        "image": random_images((1, size, size, 3)),
        "mask": rectangle_hole_masks(1, size, size, HOLE_FRACTION),
    }


def inference_call(model, batch, jit_compile):
    function = compiled(lambda inputs: model(inputs, training=False), jit_compile)
    return lambda: function(batch)


def training_call(model, batch, jit_compile):
    function = compiled(model.train_step, jit_compile)
    return lambda: function(batch)


def timed(functions, args):
    """Median seconds per key, or the exception for the whole group when one call raises."""
    try:
        return medians(interleaved_timings(functions, args.repeats, args.warmup))
    except Exception as error:  # noqa: BLE001 -- a failed measurement is a table entry
        return error


def time_inference(model_class, width_arguments, sizes, args):
    """``{(size, jit): seconds}`` (or the error) for an ordinary model."""
    model = model_class(**width_arguments)
    if not is_fully_convolutional(model):
        sizes = sizes[:1]
    batches = {size: inference_batch(size) for size in sizes}
    functions = {
        (size, jit): inference_call(model, batches[size], jit)
        for size in sizes
        for jit in jit_modes(args)
    }
    return model, timed(functions, args)


def time_latent_search(model_class, width_arguments, size, args):
    """``{(steps, jit): seconds}`` at ``--search-steps`` and twice as many, or the error."""
    step_counts = (args.search_steps, 2 * args.search_steps)
    batch = inference_batch(size)
    functions = {}
    for steps in step_counts:
        model = model_class(search_steps=steps, seed=0, **width_arguments)
        for jit in jit_modes(args):
            functions[(steps, jit)] = inference_call(model, batch, jit)
    return model, timed(functions, args)


def inference_rows(name, model_class, args):
    width_arguments = {} if args.width is None else {"width": args.width}
    size = args.sizes[0]
    if name == LATENT_SEARCH:
        model, timing = time_latent_search(model_class, width_arguments, size, args)
    else:
        model, timing = time_inference(model_class, width_arguments, args.sizes, args)
    if isinstance(timing, Exception):
        return [(name, model.width, "-", "-", describe_error(timing))]
    rows = []
    if name == LATENT_SEARCH:
        steps, default_steps = args.search_steps, default_argument(model_class, "search_steps")
        for jit in jit_modes(args):
            short, double = timing[(steps, jit)], timing[(2 * steps, jit)]
            per_step = (double - short) / steps
            extrapolated = short + (default_steps - steps) * per_step
            rows.append(
                (
                    name,
                    model.width,
                    f"{size}x{size}",
                    jit_label(jit),
                    f"{milliseconds(short)} ms at {steps} steps, {milliseconds(double)} ms at "
                    f"{2 * steps}: {milliseconds(per_step)} ms/step; "
                    f"{extrapolated:.1f} s at {default_steps} steps (extrapolated)",
                )
            )
        return rows
    for (size, jit), seconds in timing.items():
        rows.append((name, model.width, f"{size}x{size}", jit_label(jit), milliseconds(seconds)))
    return rows


def training_rows(name, model_class, args):
    width_arguments = {} if args.width is None else {"width": args.width}
    try:
        model = model_class(image_size=args.train_size, **width_arguments)
        model.compile()
    except Exception as error:  # noqa: BLE001 -- e.g. a size the architecture cannot take
        return [(name, args.width or "-", "-", describe_error(error))]
    batch = {
        "image": random_images((args.batch, args.train_size, args.train_size, 3)),
        "mask": rectangle_hole_masks(
            args.batch, args.train_size, args.train_size, TRAIN_HOLE_FRACTION, seed=0
        ),
    }
    timing = timed({jit: training_call(model, batch, jit) for jit in jit_modes(args)}, args)
    if isinstance(timing, Exception):
        return [(name, model.width, "-", describe_error(timing))]
    return [
        (name, model.width, jit_label(jit), f"{args.batch / seconds:.2f}")
        for jit, seconds in timing.items()
    ]


def main():
    parser = benchmark_parser(__doc__, repeats=3)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--width", type=int, default=None, help="override every model's width")
    parser.add_argument("--sizes", nargs="+", type=int, default=[256, 512])
    parser.add_argument("--train-size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--search-steps", type=int, default=10)
    args = parse_arguments(parser, QUICK_SETTINGS)

    inference, training, skipped = [], [], []
    for name in args.models:
        model_class = load_model_class(name)
        if model_class is None:
            skipped.append(f"{name} ({registered_module(name)} does not exist yet)")
            continue
        inference += inference_rows(name, model_class, args)
        training += training_rows(name, model_class, args)

    notes = [
        f"Untrained weights; median of {args.repeats} interleaved rounds after {args.warmup} "
        f"warm-up call(s) (tracing / XLA compilation excluded)."
    ]
    if skipped:
        notes.append("Skipped: " + "; ".join(skipped) + ".")
    print_report(
        "Inference latency (one image)",
        notes + [f"Centred rectangular hole of {100 * HOLE_FRACTION:.0f} % of the image."],
        ("model", "width", "size", "mode", "latency ms"),
        inference,
    )
    print_report(
        "Training throughput (model.train_step)",
        notes
        + [
            f"Batch {args.batch} of {args.train_size}x{args.train_size} images, per-sample "
            f"rectangular holes of {100 * TRAIN_HOLE_FRACTION:.0f} %."
        ],
        ("model", "width", "mode", "images/s"),
        training,
    )


if __name__ == "__main__":
    main()
