"""Batch-vectorised ContextualAttention against the reference code's per-sample loop.

The authors' `contextual_attention` loops over the batch in Python inside the graph, running
the matching and pasting for one sample at a time. The reference structure here is that loop
with our layer's semantics: one `tf.function` that calls `ContextualAttention` on each sample
with batch 1 and concatenates the results (each sample with its own mask), against one call of
the same layer on the whole batch. The script checks that both give the same output, then
times, in the same run and interleaved (see `benchmarks/common.py`), the forward pass and the
forward + backward pass (gradient of the sum of squares of the output with respect to the
features), without and with XLA. Target: the vectorised layer at least as fast (ratio <= 1).

It then reports TensorFlow's peak CPU allocator memory for one forward pass of each (no XLA)
at a larger feature map: the vectorised layer holds the [B, h*w, h*w] score and attention
matrices of the whole batch at once (h, w = size / rate).

Default: batch 8, 64x64x96 features (foreground = background), rate 2 (the DeepFill
setting: 3x3 patches, fuse 3, softmax scale 10), per-sample rectangular holes of a quarter of
the map; memory at 128x128x96.

    python -m benchmarks.contextual_attention_speed [--quick] [--repeats 3] [--batch 8]
        [--size 64] [--channels 96] [--rate 2] [--memory-size 128]
"""

import time

import numpy as np
import tensorflow as tf

from benchmarks.common import (
    benchmark_parser,
    compiled,
    interleaved_timings,
    jit_label,
    jit_modes,
    mebibytes,
    medians,
    milliseconds,
    parse_arguments,
    peak_memory_bytes,
    print_report,
    random_images,
    rectangle_hole_masks,
)
from keras_inpaint.layers import ContextualAttention

HOLE_FRACTION = 0.25
AGREEMENT_TOLERANCE = 1e-4
QUICK_SETTINGS = {
    "batch": 2,
    "size": 16,
    "channels": 8,
    "memory_size": 16,
    "repeats": 1,
    "jit": ["graph"],
}


def vectorised(layer):
    """One call of `layer` on the whole batch."""

    def attend(features, masks):
        return layer(features, features, masks)

    return attend


def per_sample_loop(layer, batch):
    """The reference structure: a Python loop calling `layer` on each sample (batch 1)."""

    def attend(features, masks):
        outputs = [
            layer(features[i : i + 1], features[i : i + 1], masks[i : i + 1]) for i in range(batch)
        ]
        return tf.concat(outputs, axis=0)

    return attend


def with_gradient(attend):
    """Forward + backward: d/d(features) of sum(attend(features, masks) ** 2)."""

    def step(features, masks):
        with tf.GradientTape() as tape:
            tape.watch(features)
            loss = tf.reduce_sum(tf.square(attend(features, masks)))
        return tape.gradient(loss, features)

    return step


def bound(function, *arguments):
    """A zero-argument callable (what `interleaved_timings` takes)."""
    return lambda: function(*arguments)


def main():
    parser = benchmark_parser(__doc__, repeats=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=64, help="feature map height and width")
    parser.add_argument("--channels", type=int, default=96)
    parser.add_argument("--rate", type=int, default=2)
    parser.add_argument(
        "--memory-size", type=int, default=128, help="feature map side of the memory measurement"
    )
    args = parse_arguments(parser, QUICK_SETTINGS)

    layer = ContextualAttention(rate=args.rate)
    variants = {
        "vectorised": vectorised(layer),
        "per-sample loop": per_sample_loop(layer, args.batch),
    }

    def inputs(size):
        features = random_images((args.batch, size, size, args.channels))
        masks = rectangle_hole_masks(args.batch, size, size, HOLE_FRACTION, seed=0)
        return features, masks

    features, masks = inputs(args.size)
    outputs = {name: tf.function(attend)(features, masks) for name, attend in variants.items()}
    difference = float(np.max(np.abs(outputs["vectorised"] - outputs["per-sample loop"])))
    if difference > AGREEMENT_TOLERANCE:
        raise RuntimeError(
            f"vectorised and per-sample outputs differ by {difference:.2e} "
            f"(tolerance {AGREEMENT_TOLERANCE:.0e}): the comparison would be meaningless"
        )

    rows = []
    for pass_name, wrap in (("forward", lambda f: f), ("forward + backward", with_gradient)):
        for jit_compile in jit_modes(args):
            functions = {
                name: bound(compiled(wrap(attend), jit_compile), features, masks)
                for name, attend in variants.items()
            }
            timing = medians(interleaved_timings(functions, args.repeats, args.warmup))
            rows.append(
                (
                    pass_name,
                    jit_label(jit_compile),
                    milliseconds(timing["vectorised"]),
                    milliseconds(timing["per-sample loop"]),
                    f"{timing['vectorised'] / timing['per-sample loop']:.2f}",
                )
            )
    print_report(
        "ContextualAttention: batch-vectorised vs per-sample loop",
        [
            f"Batch {args.batch}, {args.size}x{args.size}x{args.channels} features, rate "
            f"{args.rate}, 3x3 patches, fuse 3; median of {args.repeats} interleaved rounds "
            f"after {args.warmup} warm-up round(s). Outputs agree to {difference:.1e}.",
        ],
        ("pass", "mode", "vectorised ms", "per-sample loop ms", "ratio (<= 1 is the target)"),
        rows,
    )

    features, masks = inputs(args.memory_size)
    memory_rows = []
    for name, attend in variants.items():
        function = tf.function(attend)
        function.get_concrete_function(features, masks)  # trace outside the measurement
        start = time.perf_counter()
        peak = peak_memory_bytes(bound(function, features, masks))
        seconds = time.perf_counter() - start
        memory_rows.append((name, f"{mebibytes(peak):.1f}", milliseconds(seconds)))
    print_report(
        "ContextualAttention: peak memory (forward, no XLA)",
        [
            f"Batch {args.batch}, {args.memory_size}x{args.memory_size}x{args.channels} "
            f"features, rate {args.rate}; peak of TensorFlow's CPU allocator during one call "
            f"(`tf.config.experimental.get_memory_info`), inputs included; one call, so the "
            f"time is indicative only. The loop's samples are independent ops, which "
            f"TensorFlow's executor may run concurrently.",
        ],
        ("variant", "peak MiB", "time of that call ms"),
        memory_rows,
    )


if __name__ == "__main__":
    main()
