"""Overhead of PartialConv2D and GatedConv2D over the plain convolution they are built on.

One training step's worth of work per layer, forward and backward: the sum of squares of the
output is differentiated with respect to the input and the layer's weights, inside one
`tf.function` (once without and once with XLA, ``jit_compile=True``). Compared, in the same run
and interleaved (see `benchmarks/common.py`):

- `PartialConv2D(filters, k)` with a per-sample mask (1 = valid; the hole is a rectangle of a
  quarter of the image at a random place in each sample) against `keras.layers.Conv2D(filters,
  k)` of the same shape: the extra work is a one-channel box sum of the mask, the input
  masking and the rescaling. Target: at most 1.3x.
- `GatedConv2D(filters, k)` (ELU features times sigmoid gates) against `keras.layers.Conv2D`
  with ``2 * filters`` filters (the convolution inside it): the extra work is the split and the
  element-wise gating. Target: at most 1.1x.

Default shapes: batch 8, 128x128x64 inputs to 64 channels, 3x3 kernels.

    python -m benchmarks.layer_overhead [--quick] [--repeats 7] [--batch 8] [--size 128]
        [--channels 64] [--filters 64] [--kernel-size 3]
"""

import keras
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
    rectangle_hole_masks,
)
from keras_inpaint.layers import GatedConv2D, PartialConv2D

PARTIAL_TARGET = 1.3
GATED_TARGET = 1.1
HOLE_FRACTION = 0.25
QUICK_SETTINGS = {"batch": 2, "size": 16, "channels": 8, "filters": 8, "repeats": 1}


def forward_backward(layer, inputs, extra_inputs=()):
    """A step function: d/d(inputs, weights) of sum(layer(inputs, *extra_inputs)[0] ** 2)."""

    def step():
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = layer(inputs, *extra_inputs)
            if isinstance(outputs, (tuple, list)):
                outputs = outputs[0]
            loss = tf.reduce_sum(tf.square(outputs))
        return tape.gradient(loss, [inputs, *layer.trainable_weights])

    return step


def main():
    parser = benchmark_parser(__doc__, repeats=7)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=128, help="input height and width")
    parser.add_argument("--channels", type=int, default=64, help="input channels")
    parser.add_argument("--filters", type=int, default=64, help="output channels")
    parser.add_argument("--kernel-size", type=int, default=3)
    args = parse_arguments(parser, QUICK_SETTINGS)

    shape = (args.batch, args.size, args.size, args.channels)
    inputs = random_images(shape)
    holes = rectangle_hole_masks(args.batch, args.size, args.size, HOLE_FRACTION, seed=0)
    valid_mask = 1.0 - holes
    layers = {
        "Conv2D": keras.layers.Conv2D(args.filters, args.kernel_size, padding="same"),
        "PartialConv2D": PartialConv2D(args.filters, args.kernel_size, padding="same"),
        "Conv2D 2x filters": keras.layers.Conv2D(
            2 * args.filters, args.kernel_size, padding="same"
        ),
        "GatedConv2D": GatedConv2D(args.filters, args.kernel_size, padding="same"),
    }
    for layer in layers.values():
        layer.build(shape)
    comparisons = (
        ("PartialConv2D", "Conv2D", PARTIAL_TARGET),
        ("GatedConv2D", "Conv2D 2x filters", GATED_TARGET),
    )

    rows = []
    for jit_compile in jit_modes(args):
        steps = {
            name: compiled(
                forward_backward(layer, inputs, (valid_mask,) if name == "PartialConv2D" else ()),
                jit_compile,
            )
            for name, layer in layers.items()
        }
        timing = medians(interleaved_timings(steps, args.repeats, args.warmup))
        for name, reference, target in comparisons:
            ratio = timing[name] / timing[reference]
            rows.append(
                (
                    name,
                    reference,
                    jit_label(jit_compile),
                    milliseconds(timing[name]),
                    milliseconds(timing[reference]),
                    f"{ratio:.2f}x",
                    f"<= {target}x",
                    "yes" if ratio <= target else "no",
                )
            )

    print_report(
        "Layer overhead (forward + backward)",
        [
            f"Batch {args.batch}, {args.size}x{args.size}x{args.channels} -> {args.filters} "
            f"channels, {args.kernel_size}x{args.kernel_size} kernels, float32; median of "
            f"{args.repeats} interleaved rounds after {args.warmup} warm-up round(s).",
        ],
        ("layer", "reference", "mode", "layer ms", "reference ms", "ratio", "target", "met"),
        rows,
    )


if __name__ == "__main__":
    main()
