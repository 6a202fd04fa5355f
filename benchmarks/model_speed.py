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


def measure(functions, args):
    """``{key: median seconds, or the exception its first call raised}``.

    Each function is first warmed up alone (at least one call: tracing, XLA compilation), so
    one that fails (e.g. an op without an XLA kernel) drops out alone; the others are then
    timed interleaved.
    """
    results, working = {}, {}
    for key, function in functions.items():
        try:
            for _ in range(max(1, args.warmup)):
                finish_outputs(function())
        except Exception as error:  # noqa: BLE001 -- a failed measurement is a table entry
            results[key] = error
        else:
            working[key] = function
    if working:
        results.update(medians(interleaved_timings(working, args.repeats, warmup=0)))
    return results


def cell(result, formatter):
    return describe_error(result) if isinstance(result, Exception) else formatter(result)


def mode_columns(result_of_mode, formatter):
    """One cell per selected mode, then the xla / graph ratio when both were measured."""
    modes = jit_modes(args_of_run())
    cells = [cell(result_of_mode(jit), formatter) for jit in modes]
    if len(modes) == 2:
        graph, xla = (result_of_mode(jit) for jit in modes)
        numeric = not isinstance(graph, Exception) and not isinstance(xla, Exception)
        cells.append(f"{xla / graph:.2f}" if numeric else "-")
    return cells


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
