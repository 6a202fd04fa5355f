"""When does `inpaint` gain from running a network through a `tf.function`?

`keras_inpaint.inference.inpaint` calls a Keras model eagerly unless it has at least
`keras_inpaint.inference.GRAPH_MODE_MIN_CALLS` batches of one shape to fill: tracing costs
more than one eager call, and pays back only over repeated calls. This script measures both
sides for each zoo network with trained weights (``--models`` to choose; latent_search is
left out by default: its search already runs as one `tf.function` inside the model), on
images of uniform noise with a centred rectangular hole of 10 %, at each ``--sizes`` and
``--batch``:

- **eager**: median of ``model(batch, training=False)`` after a warm-up call;
- **graph**: median of the same call through ``tf.function``, tracing excluded;
- **first graph call**: one call of a new ``tf.function`` (tracing and grappler included),
  after the eager warm-up, so the model's weights exist already;
- **break-even**: the number of calls of one shape from which the traced function is faster
  in total, ``ceil((first - graph) / (eager - graph))`` (tracing cost over the saving per
  call; "never" when graph mode is not faster).

    python -m benchmarks.eager_vs_graph [--quick] [--models gated_conv ...] [--sizes 256 512]
        [--batch 1] [--repeats 5]
"""

import math
import time

import tensorflow as tf

from benchmarks.common import (
    benchmark_parser,
    finish_outputs,
    interleaved_timings,
    medians,
    milliseconds,
    parse_arguments,
    print_report,
    random_images,
    rectangle_hole_masks,
)
from benchmarks.zoo_speed import NETWORKS, default_models, load_subject

HOLE_FRACTION = 0.1
SLOW_SEARCH = "latent_search"
QUICK_SETTINGS = {"models": ["gated_conv", "partial_conv"], "sizes": [64], "repeats": 1}


def noise_batch(batch, side):
    return {
        "image": random_images((batch, side, side, 3)),
        "mask": rectangle_hole_masks(batch, side, side, HOLE_FRACTION),
    }


def measure(model, batch, repeats):
    """``(eager, graph, first graph call)`` seconds of `model` on `batch`."""

    def eager():
        return model(batch, training=False)

    finish_outputs(eager())  # builds whatever is built lazily
    graph = tf.function(eager)
    start = time.perf_counter()
    finish_outputs(graph())
    first = time.perf_counter() - start
    steady = medians(interleaved_timings({"eager": eager, "graph": graph}, repeats, warmup=0))
    return steady["eager"], steady["graph"], first


def break_even(eager, graph, first):
    if graph >= eager:
        return "never"
    return str(max(1, math.ceil((first - graph) / (eager - graph))))


def main():
    parser = benchmark_parser(__doc__, repeats=5)
    parser.add_argument("--models", nargs="+", choices=NETWORKS, default=None,
                        help="zoo networks (default: those with trained weights but "
                             f"{SLOW_SEARCH})")
    parser.add_argument("--sizes", nargs="+", type=int, default=[256, 512],
                        help="square image sides")
    parser.add_argument("--batch", type=int, default=1, help="images per call")
    args = parse_arguments(parser, QUICK_SETTINGS)
    models = args.models or [name for name in default_models() if name != SLOW_SEARCH]
    rows = []
    for name in models:
        subject = load_subject(name, args.quick)
        for side in args.sizes:
            eager, graph, first = measure(subject.model, noise_batch(args.batch, side),
                                          args.repeats)
            rows.append((subject.label, f"{side}x{side}", milliseconds(eager),
                         milliseconds(graph), milliseconds(first), f"{eager / graph:.2f}",
                         break_even(eager, graph, first)))
    print_report(
        "Eager calls vs one traced `tf.function` (inference)",
        [f"Batch {args.batch}, centred hole of {100 * HOLE_FRACTION:.0f} %, median of "
         f"{args.repeats} interleaved rounds; first graph call = tracing + one call."],
        ("model", "image", "eager (ms)", "graph (ms)", "first graph call (ms)",
         "eager / graph", "break-even calls"),
        rows,
    )


if __name__ == "__main__":
    main()
