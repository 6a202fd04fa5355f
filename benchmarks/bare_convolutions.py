"""How fast a model's own convolutions run bare, beside its inference and its attention.

`flops.py` divides a model's multiply-adds by its inference time and compares the rate with a
large plain `Conv2D`'s. This script asks how much of the gap is the convolution library's:
for each model (``--models``, as in `flops.py`: ``NAME`` as published, ``NAME:WIDTH`` the
default architecture at that width) and size, one eager inference records every call of the
generator's counted layers (`flops.COUNTED_LAYERS`) with its real arguments; then,
after the reference `Conv2D`, it times in one `tf.function` each (median of ``--repeats``
calls, each part's calls in a block: see `in_blocks`):

- **inference**: the single-image inference call of `flops.py` (centred 10 % hole);
- **bare convolutions**: the convolutions of the recorded `Conv2D`, `GatedConv2D`,
  `PartialConv2D` and `Conv2DTranspose` calls alone, as `tf.nn.convolution` (the op Keras'
  convolution layers call; a first version with `tf.nn.conv2d` made the zoo's gated_conv's
  bare convolutions take 352 ms instead of 139 ms under XLA at 256x256) and
  `tf.nn.conv2d_transpose`, on the recorded inputs with the layers' kernels, strides,
  dilations and padding (a mirror-padding `GatedConv2D`'s as "SAME" zero padding; no bias,
  activation, gating or mask): what the convolution library does;
- **conv layers**: the same layer calls (and `Dense` / `ChannelwiseDense` ones) replayed
  whole at their recorded arguments: the convolutions plus what the layers add around them;
- **attention**: the recorded `ContextualAttention` calls replayed alone.

With ``--by-shape``, a second table times the bare convolution of each distinct shape of the
models' convolution calls (layer, input, kernel, strides, dilation) once, on one of its recorded
calls: its rate, how many calls have that shape and their share of the bare convolutions' time
(the sum of calls x time over the shapes): which shapes run slowly.

Each part runs its calls one at a time (every call waits for the previous one's output), as a
chain of layers does; the model itself may run independent branches concurrently on the
cores (`gated_conv`'s two refinement branches), so its parts can add up to more than its
inference, and the model can run faster per MAC than its bare convolutions do here. The
percentages are GFLOP/s against the reference `Conv2D`'s (the better of its graph and XLA
medians, as in `flops.py`): the inference's for all counted MACs (`flops.py`'s count), the
bare convolutions' for `flops.py`'s count of the convolution layers (which includes
`PartialConv2D`'s one-channel mask sum), the attention's for its counted MACs.

    python -m benchmarks.bare_convolutions [--quick] [--repeats 5] [--by-shape]
        [--models gated_conv gated_conv:48] [--sizes 256 512] [--jit graph xla]
"""

import keras
import tensorflow as tf

from benchmarks import flops
from benchmarks.common import (
    benchmark_parser,
    compiled,
    describe_error,
    jit_label,
    jit_modes,
    medians_or_errors,
    milliseconds,
    parse_arguments,
    print_report,
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
    "by_shape": True,
}
CONVOLUTIONS = (keras.layers.Conv2D, keras.layers.Conv2DTranspose, GatedConv2D, PartialConv2D)
LAYERS = tuple(kind for kind in flops.COUNTED_LAYERS if kind is not ContextualAttention)


def whole_call(layer, args, kwargs, output):
    """The layer's own `call` at its recorded arguments."""
    return layer.call(*args, **kwargs)


def bare_convolution(layer, args, kwargs, output):
    """`layer`'s convolution alone on its first input as the TF op, with the layer's kernel,
    strides, dilation and padding (a mirror-padding GatedConv2D's as "SAME": its input is
    unpadded); a transposed convolution to the recorded output's shape (undilated: the zoo's
    transposed convolutions are)."""
    inputs = keras.tree.flatten(args)[0]
    inner = layer.conv if isinstance(layer, GatedConv2D) else layer
    kernel = tf.cast(inner.kernel, inputs.dtype)
    mirrored = isinstance(layer, GatedConv2D) and layer.padding in MIRROR_PADDING_MODES
    padding = "SAME" if mirrored else inner.padding.upper()
    if isinstance(layer, keras.layers.Conv2DTranspose):
        shape = flops.first_shape(output)
        return tf.nn.conv2d_transpose(inputs, kernel, shape, inner.strides, padding=padding)
    return tf.nn.convolution(
        inputs, kernel, inner.strides, padding=padding, dilations=inner.dilation_rate
    )


def replayed(calls, kinds, step):
    """``(function, arguments)``: ``function(arguments)`` runs ``step(layer, args, kwargs,
    output)`` for the recorded calls of layers of `kinds`, one at a time (each step's ops wait
    for the previous step's output, as in a chain of layers: the executor would otherwise run
    the independent calls concurrently on the cores); `arguments` are the calls' recorded
    ``(args, kwargs)``, passed in so that they are inputs, not constants of the graph."""
    selected = [call for call in calls if isinstance(call[0], kinds)]
    arguments = [(args, kwargs) for _, args, kwargs, _ in selected]

    def function(arguments):
        outputs, previous = [], []
        for (layer, _, _, output), (args, kwargs) in zip(selected, arguments):
            with tf.control_dependencies(previous):
                result = step(layer, args, kwargs, output)
            outputs.append(result)
            previous = keras.tree.flatten(result)
        return outputs

    return function, arguments


def part_functions(case, jit_compile):
    """``{part: zero-argument callable}`` for the timed parts of `case` that have calls."""
    functions = {"inference": flops.timed_call(case, jit_compile)}
    for part, (function, arguments) in (
        ("bare convolutions", replayed(case.calls, CONVOLUTIONS, bare_convolution)),
        ("conv layers", replayed(case.calls, LAYERS, whole_call)),
        ("attention", replayed(case.calls, ContextualAttention, whole_call)),
    ):
        if arguments:
            function = compiled(function, jit_compile)
            functions[part] = lambda function=function, arguments=arguments: function(arguments)
    return functions


def in_blocks(functions, warmup, repeats):
    """``{name: median seconds or the exception}``, each function's calls in a block of its
    own rather than interleaved with the others (`common.medians_or_errors` on one function at
    a time): interleaved, the parts slowed each other down here (two interleaved runs timed
    gated_conv:48's bare convolutions at 512x512 at 1,680 and 1,768 ms, a blocked run at 998
    ms; why was not looked into)."""
    results = {}
    for name, function in functions.items():
        results.update(medians_or_errors({name: function}, warmup, repeats))
    return results


def convolution_multiply_adds(calls):
    """`flops.py`'s MACs of the recorded calls of convolution layers."""
    return sum(
        flops.call_multiply_adds(*call)[1] for call in calls if isinstance(call[0], CONVOLUTIONS)
    )


def rate_cell(seconds, multiply_adds, limit):
    """``"12.3 ms, 45 %"`` (of the limit; no percentage without `multiply_adds`); "-" for a
    part without calls; the error text for a failed one."""
    if seconds is None:
        return "-"
    if isinstance(seconds, Exception):
        return describe_error(seconds)
    if multiply_adds is None:
        return f"{milliseconds(seconds)} ms"
    percent = 100 * flops.gigaflops_per_second(multiply_adds, seconds) / limit
    return f"{milliseconds(seconds)} ms, {percent:.0f} %"


def table_row(case, jit_compile, timings, limit):
    counts = case.counts
    if isinstance(counts, Exception):  # nothing was recorded: only the inference was timed
        convolutions = attention = None
        first = f"{rate_cell(timings['inference'], None, limit)} ({describe_error(counts)})"
    else:
        convolutions, attention = convolution_multiply_adds(case.calls), counts["attention"]
        first = rate_cell(timings["inference"], counts["conv"] + attention, limit)
    return (
        case.subject.label,
        flops.size_cell(case),
        jit_label(jit_compile),
        first,
        rate_cell(timings.get("bare convolutions"), convolutions, limit),
        rate_cell(timings.get("conv layers"), None, limit),
        rate_cell(timings.get("attention"), attention, limit),
    )


def shape_key(call):
    """What a recorded convolution call's speed depends on: ``(layer class, input shape
    without the batch, kernel shape, strides, dilation)``."""
    layer, args, _, _ = call
    inner = layer.conv if isinstance(layer, GatedConv2D) else layer
    inputs = keras.tree.flatten(args)[0]
    return (
        type(layer).__name__,
        tuple(inputs.shape[1:]),
        tuple(inner.kernel.shape),
        tuple(inner.strides),
        tuple(inner.dilation_rate),
    )


def calls_by_shape(calls):
    """``{shape_key: [calls]}`` of the recorded convolution calls, in order of first use."""
    groups = {}
    for call in calls:
        if isinstance(call[0], CONVOLUTIONS):
            groups.setdefault(shape_key(call), []).append(call)
    return groups


def shape_timings(case, jit_compile, warmup, repeats):
    """``{shape_key: median seconds of one bare convolution of that shape}``."""
    functions = {}
    for key, calls in calls_by_shape(case.calls).items():
        function, arguments = replayed(calls[:1], CONVOLUTIONS, bare_convolution)
        function = compiled(function, jit_compile)
        functions[key] = lambda function=function, arguments=arguments: function(arguments)
    return in_blocks(functions, warmup, repeats)


def shape_rows(case, jit_compile, timings, limit):
    """One row per convolution shape of `case` (see `shape_key`), slowest total first."""
    groups = calls_by_shape(case.calls)
    totals = {key: len(groups[key]) * seconds for key, seconds in timings.items()
              if not isinstance(seconds, Exception)}
    whole = sum(totals.values())
    rows = []
    for key, calls in sorted(groups.items(), key=lambda item: -totals.get(item[0], 0)):
        layer, inputs, kernel, strides, dilation = key
        share = f"{100 * totals[key] / whole:.0f} %" if key in totals else "-"
        rows.append((
            case.subject.label,
            flops.size_cell(case),
            jit_label(jit_compile),
            layer,
            "x".join(map(str, inputs)),
            "x".join(map(str, kernel)),
            "x".join(map(str, strides)),
            "x".join(map(str, dilation)),
            len(calls),
            rate_cell(timings[key], flops.call_multiply_adds(*calls[0])[1], limit),
            share,
        ))
    return rows


def reference_gigaflops(args, jit_compile):
    """GFLOP/s of `flops.py`'s reference Conv2D, timed in a block (`in_blocks`)."""
    reference, multiply_adds = flops.reference_convolution(
        args.reference_size, args.reference_channels, jit_compile
    )
    seconds = in_blocks({"reference": reference}, args.warmup, args.repeats)["reference"]
    if isinstance(seconds, Exception):
        raise seconds
    return flops.gigaflops_per_second(multiply_adds, seconds)


def main():
    parser = benchmark_parser(__doc__, repeats=5)
    parser.add_argument("--models", nargs="+", default=["gated_conv", "gated_conv:48"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[256, 512])
    parser.add_argument("--reference-size", type=int, default=256)
    parser.add_argument("--reference-channels", type=int, default=64)
    parser.add_argument("--by-shape", action="store_true",
                        help="also time each distinct convolution shape (second table)")
    args = parse_arguments(parser, QUICK_SETTINGS)
    try:
        specs = [flops.parse_model(spec) for spec in args.models]
    except ValueError as error:
        parser.error(str(error))
    cases = [
        flops.make_case(subject, size, keep_calls=True)
        for subject in (flops.load_subject(name, width) for name, width in specs)
        for size in flops.subject_sizes(subject, args.sizes)
    ]
    measured, reference = [], {}
    for jit_compile in jit_modes(args):
        reference[jit_compile] = reference_gigaflops(args, jit_compile)
        for case in cases:
            timings = in_blocks(part_functions(case, jit_compile), args.warmup, args.repeats)
            shapes = (shape_timings(case, jit_compile, args.warmup, args.repeats)
                      if args.by_shape else {})  # none recorded when counting failed
            measured.append((case, jit_compile, timings, shapes))
    limit = max(reference.values())
    reference_text = ", ".join(f"{jit_label(jit)} {value:.1f}" for jit, value in reference.items())
    print_report(
        "The model's convolutions run bare",
        [
            f"Batch 1, centred 10 % hole; parts timed each in its own `tf.function`, one "
            f"after the other (not interleaved), median of {args.repeats} calls after "
            f"{max(1, args.warmup)} warm-up call(s). Reference: Conv2D "
            f"1x{args.reference_size}x{args.reference_size}x{args.reference_channels} -> "
            f"{args.reference_channels}, 3x3, forward: {reference_text} GFLOP/s; limit = "
            f"{limit:.1f} GFLOP/s (the better one). Percentages are of the limit.",
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
        [table_row(case, jit, timings, limit) for case, jit, timings, _ in measured],
    )
    if args.by_shape:
        print_report(
            "The bare convolutions by shape",
            [
                "One bare convolution per distinct shape (input H x W x C, kernel as the "
                "layer stores it, strides, dilation), timed in a block of its own; ms and % "
                "of the limit per call; share = calls x time over the sum for the model.",
            ],
            ("model", "size", "mode", "layer", "input", "kernel", "strides", "dilation",
             "calls", "one call", "share"),
            [row for case, jit, _, shapes in measured
             for row in shape_rows(case, jit, shapes, limit)],
        )


if __name__ == "__main__":
    main()
