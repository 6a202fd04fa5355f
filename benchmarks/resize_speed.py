"""The XLA-compilable antialiased resize against TensorFlow's `ScaleAndTranslate` op.

`context_encoder` and `latent_search` resize a photo (or a crop around its hole) to their
fixed network size and the fill back, antialiased bilinear. They use
`keras_inpaint.models.resampling.antialiased_resize` (two dense matrix products, which XLA
compiles) rather than ``tf.image.resize(..., antialias=True)`` (the op, which it does not).
This script measures what that costs: the round trip of one image of each ``--sizes`` down
to ``--network``x``--network`` and back, both ways, in graph mode (and the matrix way under
XLA), medians of interleaved rounds.

    python -m benchmarks.resize_speed [--quick] [--sizes 384x384 512x512 2048x1536]
        [--network 128] [--repeats 7]
"""

import tensorflow as tf

from benchmarks.common import (
    benchmark_parser,
    compiled,
    interleaved_timings,
    jit_label,
    jit_modes,
    medians,
    milliseconds,
    parse_arguments,
    print_report,
    random_images,
)
from keras_inpaint.models.resampling import antialiased_resize

QUICK_SETTINGS = {"sizes": ["64x48"], "network": 16, "repeats": 1}


def op_resize(images, size):
    return tf.image.resize(images, size, method="bilinear", antialias=True)


def round_trip(resize, network):
    """image -> network x network -> the image's size (known when traced), with `resize`."""

    def run(images):
        return resize(resize(images, (network, network)), images.shape[1:3])

    return run


def parse_size(text):
    height, width = (int(side) for side in text.split("x"))
    return height, width


def main():
    parser = benchmark_parser(__doc__, repeats=7)
    parser.add_argument("--sizes", nargs="+", default=["384x384", "512x512", "2048x1536"],
                        help="image sizes HEIGHTxWIDTH")
    parser.add_argument("--network", type=int, default=128, help="side of the network size")
    args = parse_arguments(parser, QUICK_SETTINGS)
    candidates = {"op, graph": (op_resize, False)}
    for jit_compile in jit_modes(args):
        candidates[f"matrices, {jit_label(jit_compile)}"] = (antialiased_resize, jit_compile)
    rows = []
    for text in args.sizes:
        height, width = parse_size(text)
        images = random_images((1, height, width, 3))
        functions = {
            name: (lambda f=compiled(round_trip(resize, args.network), jit_compile): f(images))
            for name, (resize, jit_compile) in candidates.items()
        }
        times = medians(interleaved_timings(functions, args.repeats, args.warmup))
        reference = times["op, graph"]
        rows.append([f"{height}x{width}"] + [
            f"{milliseconds(seconds)} ({seconds / reference:.2f}x)" for seconds in times.values()
        ])
    print_report(
        "Antialiased resize: dense matrices vs the ScaleAndTranslate op",
        [f"One image to {args.network}x{args.network} and back, ms (ratio to the op), median "
         f"of {args.repeats} interleaved rounds."],
        ["image", *candidates],
        rows,
    )


if __name__ == "__main__":
    main()
