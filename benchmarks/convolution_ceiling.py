"""How fast a model's own convolutions run bare: the ceiling of `flops.py`'s percentage.

`flops.py` divides a model's multiply-adds by its inference time and compares the rate with a
large plain `Conv2D`'s. This script asks how much of the gap is the convolution library's:
for each model (``--models``, as in `flops.py`: ``NAME`` as published, ``NAME:WIDTH`` the
default architecture at that width) and size, one eager inference records every call of the
generator's counted layers (`flops.COUNTED_LAYERS`) with its real arguments; then,
after the reference `Conv2D`, it times in one `tf.function` each (median of ``--repeats``
calls, each part's calls in a block: see `in_blocks`):

- **inference**: the single-image inference call of `flops.py` (centred 10 % hole);
- **bare convolutions**: the convolutions of the recorded `Conv2D`, `GatedConv2D`,
  `PartialConv2D` and `Conv2DTranspose` calls alone, as `tf.nn.convolution` /
  `tf.nn.conv2d_transpose` (the ops Keras' layers call; `tf.nn.conv2d` with dilations is
  up to several times slower here) on the recorded inputs with the layers' kernels, strides,
  dilations and padding (a mirror-padding `GatedConv2D`'s as "SAME" zero padding; no bias,
  activation, gating or mask): what the convolution library does;
- **conv layers**: the same layer calls (and `Dense` / `ChannelwiseDense` ones) replayed
  whole at their recorded arguments: the convolutions plus what the layers add around them;
- **attention**: the recorded `ContextualAttention` calls replayed alone.

Each part runs its calls one at a time (every call waits for the previous one's output), as a
chain of layers does; the model itself may run independent branches concurrently on the
cores (`gated_conv`'s two refinement branches), so its parts can add up to more than its
inference. The percentages are GFLOP/s against the reference `Conv2D`'s (the better of graph
and XLA in the run, as in `flops.py`): the inference's for all counted MACs, the bare
convolutions' for the convolutions' MACs alone (the model cannot beat that figure unless its
other work is free and overlapped), the attention's for its counted MACs.

    python -m benchmarks.convolution_ceiling [--quick] [--repeats 5]
        [--models gated_conv gated_conv:48] [--sizes 256 512] [--jit graph xla]
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from benchmarks import flops
from benchmarks.common import (
    benchmark_parser,
    compiled,
    jit_label,
    jit_modes,
    medians_or_errors,
    milliseconds,
    parse_arguments,
    print_report,
    result_cell,
)
from keras_inpaint.layers import ContextualAttention, GatedConv2D, PartialConv2D
from keras_inpaint.layers.padding import MIRROR_PADDING_MODES

QUICK_SETTINGS = {
    "models": ["gated_conv:8"],
    "sizes": [64],
    "repeats": 1,
    "jit": ["graph"],
    "reference_size": 64,
    "reference_channels": 16,
}
CONVOLUTIONS = (keras.layers.Conv2D, keras.layers.Conv2DTranspose, GatedConv2D, PartialConv2D)


@dataclasses.dataclass(eq=False)
class Replay:
    """The recorded layer calls of one inference: ``(layer, args, kwargs, output)`` each."""

    case: flops.Case
    calls: list


def record(case):
    """Run `case`'s inference once eagerly and keep every counted layer call's arguments."""
    with flops.recorded_calls(flops.counted_layers(case.subject.model.generator)) as calls:
        case.function(case.inputs)
    return Replay(case, calls)


def layer_calls(calls, kinds):
    """A function replaying the calls of layers of `kinds` at their recorded arguments."""
    selected = [
        (layer, args, kwargs) for layer, args, kwargs, _ in calls if isinstance(layer, kinds)
    ]
    arguments = [(args, kwargs) for _, args, kwargs in selected]

    def replay(arguments):
        return in_sequence(
            lambda index: selected[index][0].call(*arguments[index][0], **arguments[index][1]),
            len(selected),
        )

    return replay, arguments


def in_sequence(step, count):
    """``[step(0), ..., step(count - 1)]``, each step's ops made to wait for the previous
    step's output, so that the calls run one at a time as in the model (the executor would
    otherwise run the independent calls concurrently on the cores)."""
    outputs, previous = [], []
    for index in range(count):
        with tf.control_dependencies(previous):
            output = step(index)
        outputs.append(output)
        previous = keras.tree.flatten(output)
    return outputs


def bare_convolution(layer, inputs, output):
    """`layer`'s convolution alone on `inputs` as the TF op, with the layer's kernel, strides,
    dilation and padding (a mirror-padding GatedConv2D's as "SAME": its input is unpadded)."""
    inner = layer.conv if isinstance(layer, GatedConv2D) else layer
    kernel = tf.cast(inner.kernel, inputs.dtype)
    mirrored = isinstance(layer, GatedConv2D) and layer.padding in MIRROR_PADDING_MODES
    padding = "SAME" if mirrored else inner.padding.upper()
    if isinstance(layer, keras.layers.Conv2DTranspose):
        shape = tf.shape(output)
        return tf.nn.conv2d_transpose(inputs, kernel, shape, inner.strides, padding=padding)
    return tf.nn.convolution(
        inputs, kernel, inner.strides, padding=padding, dilations=inner.dilation_rate
    )


def bare_convolutions(calls):
    """A function running the bare convolution of each recorded convolution layer call."""
    selected = [
        (layer, keras.tree.flatten(args)[0], output)
        for layer, args, _, output in calls
        if isinstance(layer, CONVOLUTIONS)
    ]
    arguments = [inputs for _, inputs, _ in selected]

    def replay(arguments):
        return in_sequence(
            lambda index: bare_convolution(
                selected[index][0], arguments[index], keras.tree.flatten(selected[index][2])[0]
            ),
            len(selected),
        )

    return replay, arguments


def convolution_multiply_adds(calls):
    """MACs of the bare convolutions of the recorded calls (see `bare_convolutions`)."""
    total = 0
    for layer, args, _, output in calls:
        if isinstance(layer, CONVOLUTIONS):
            kernel = (layer.conv if isinstance(layer, GatedConv2D) else layer).kernel
            transposed = isinstance(layer, keras.layers.Conv2DTranspose)
            positions = flops.first_shape(args if transposed else output)[:-1]
            total += int(np.prod(positions)) * int(np.prod(kernel.shape))
    return total


def part_functions(replay, jit_compile):
    """``{part: zero-argument callable}`` for the timed parts of one replay that have calls."""
    conv_kinds = tuple(kind for kind in flops.COUNTED_LAYERS if kind is not ContextualAttention)
    functions = {"inference": flops.timed_call(replay.case, jit_compile)}
    for part, (function, arguments) in (
        ("bare convolutions", bare_convolutions(replay.calls)),
        ("conv layers", layer_calls(replay.calls, conv_kinds)),
        ("attention", layer_calls(replay.calls, ContextualAttention)),
    ):
        if arguments:
            function = compiled(function, jit_compile)
            functions[part] = lambda function=function, arguments=arguments: function(arguments)
    return functions


def in_blocks(functions, warmup, repeats):
    """``{name: median seconds or the exception}``, each function's rounds in a block of its
    own rather than interleaved (`common.medians_or_errors` on one function at a time).

    Interleaved, the parts slowed each other down here: gated_conv at width 48 and 512x512,
    its bare convolutions took 717 ms timed alone and 1,777-2,080 ms interleaved with the
    other parts (whose convolutions have other shapes); the cause (cached oneDNN primitives,
    CPU caches) was not looked into.
    """
    results = {}
    for name, function in functions.items():
        results.update(medians_or_errors({name: function}, warmup, repeats))
    return results


def rate_cell(seconds, multiply_adds, limit):
    """``"12.3 ms, 45 %"`` (of the limit; no percentage without `multiply_adds`); "-" for a
    part without calls; the error text for a failed one."""
    if seconds is None:
        return "-"
    if isinstance(seconds, Exception):
        return result_cell(seconds, milliseconds)
    if multiply_adds is None:
        return f"{milliseconds(seconds)} ms"
    percent = 100 * flops.gigaflops_per_second(multiply_adds, seconds) / limit
    return f"{milliseconds(seconds)} ms, {percent:.0f} %"


def table_row(replay, jit_compile, timings, limit):
    counts = replay.case.counts
    return (
        replay.case.subject.label,
        flops.size_cell(replay.case),
        jit_label(jit_compile),
        rate_cell(timings["inference"], counts["conv"] + counts["attention"], limit),
        rate_cell(timings.get("bare convolutions"), convolution_multiply_adds(replay.calls), limit),
        rate_cell(timings.get("conv layers"), None, limit),
        rate_cell(timings.get("attention"), counts["attention"], limit),
    )


def main():
    parser = benchmark_parser(__doc__, repeats=5)
    parser.add_argument("--models", nargs="+", default=["gated_conv", "gated_conv:48"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[256, 512])
    parser.add_argument("--reference-size", type=int, default=256)
    parser.add_argument("--reference-channels", type=int, default=64)
    args = parse_arguments(parser, QUICK_SETTINGS)
    try:
        specs = [flops.parse_model(spec) for spec in args.models]
    except ValueError as error:
        parser.error(str(error))
    replays = [
        record(flops.make_case(subject, size))
        for subject in (flops.load_subject(name, width) for name, width in specs)
        for size in flops.subject_sizes(subject, args.sizes)
    ]
    measured, reference_gflops = [], {}
    for jit_compile in jit_modes(args):
        reference, reference_macs = flops.reference_convolution(
            args.reference_size, args.reference_channels, jit_compile
        )
        for replay in replays:
            functions = {"reference": reference, **part_functions(replay, jit_compile)}
            timings = in_blocks(functions, args.warmup, args.repeats)
            seconds = timings.pop("reference")
            if isinstance(seconds, Exception):
                raise seconds
            gflops = flops.gigaflops_per_second(reference_macs, seconds)
            reference_gflops[jit_compile] = max(reference_gflops.get(jit_compile, 0.0), gflops)
            measured.append((replay, jit_compile, timings))
    limit = max(reference_gflops.values())
    reference_text = ", ".join(
        f"{jit_label(jit)} {gflops:.1f}" for jit, gflops in reference_gflops.items()
    )
    print_report(
        "The model's convolutions run bare",
        [
            f"Batch 1, centred 10 % hole; parts timed each in its own `tf.function`, one "
            f"after the other (not interleaved), median of {args.repeats} calls after "
            f"{max(1, args.warmup)} warm-up call(s). Reference: Conv2D "
            f"1x{args.reference_size}x{args.reference_size}x{args.reference_channels} -> "
            f"{args.reference_channels}, 3x3, forward, best of its runs: {reference_text} "
            f"GFLOP/s; limit = {limit:.1f} GFLOP/s. Percentages are of the limit.",
        ],
        (
            "model",
            "size",
            "mode",
            "inference (all MACs)",
            "bare convolutions (their MACs)",
            "conv layers",
            "attention (its MACs)",
        ),
        [table_row(replay, jit, timings, limit) for replay, jit, timings in measured],
    )


if __name__ == "__main__":
    main()
