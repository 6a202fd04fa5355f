"""How close the models' inference comes to the machine's convolution throughput.

For each model (default: `gated_conv` at the authors' width cnum = 48 and at the zoo's smaller
width 24) the script counts the multiply-adds (MACs) of its generator's forward pass on one
image at 256x256 and 512x512, times one composited inference call (`model({"image", "mask"})`,
batch 1, in a `tf.function`, without and with XLA) and divides: achieved GFLOP/s, with
1 MAC = 2 FLOPs. In the same run, interleaved with the model calls, it times a plain large
`Conv2D` (1x256x256x64 -> 64 channels, 3x3, forward) whose GFLOP/s is taken as what this
machine can reach (the better of its graph and XLA figures); the last column is the model's
GFLOP/s as a percentage of that. For comparison, the authors' TF1 DeepFill v2 graph runs at
about 73 % on this kind of machine; gated_conv's target is 80 % or more.

What is counted (per layer of the generator, at the shapes of the actual forward pass, found by
running it once with every layer's input and output exposed):

- `Conv2D`, `GatedConv2D` (one convolution to 2 x filters), `PartialConv2D` (its convolution
  plus the one-channel box sum of the mask): output positions x kh x kw x C_in x C_out;
- `Conv2DTranspose`: input positions x kh x kw x C_in x C_out;
- `Dense`: positions x units x inputs; `ChannelwiseDense`: C x (H W)^2;
- `ContextualAttention` on [B, H, W, C] at rate r with k x k patches, fuse size f:
  N_f = N_b = (H / r)(W / r) positions and patches (stride 1); scores N_f N_b k^2 C,
  fuse 2 N_f N_b f^2 (two identity-kernel convolutions, as implemented), paste
  N_f N_b (2r)^2 C.

Element-wise work (activations, gating, normalisation, resizing, padding, softmax) is not
counted, so it lowers the percentage: it is part of what the ratio measures.

    python -m benchmarks.flops [--quick] [--repeats 3] [--models gated_conv:48 gated_conv:24]
        [--sizes 256 512]

``--models`` takes registered names with an optional ``:width`` (e.g. ``contextual_attention``,
``global_local:32``, ``partial_conv``, ``context_encoder``; `latent_search` is not a single
forward pass and is refused).
"""

import collections

import keras
import numpy as np

from benchmarks.common import (
    FLOPS_PER_MULTIPLY_ADD,
    benchmark_parser,
    compiled,
    describe_error,
    jit_label,
    jit_modes,
    medians_or_errors,
    milliseconds,
    parse_arguments,
    print_report,
    random_images,
    rectangle_hole_masks,
)
from keras_inpaint.layers import ChannelwiseDense, ContextualAttention, GatedConv2D, PartialConv2D
from keras_inpaint.models import get_model_class

HOLE_FRACTION = 0.1
AUTHORS_TF1_EFFICIENCY = 73
GATED_CONV_TARGET = 80
NOT_A_FORWARD_PASS = ("latent_search",)
QUICK_SETTINGS = {
    "models": ["gated_conv:8"],
    "sizes": [32, 64],
    "reference_size": 64,
    "reference_channels": 16,
    "repeats": 1,
    "jit": ["graph"],
}


def layer_multiply_adds(layer, input_shape, output_shape):
    """``(category, MACs)`` of one layer for one batch; `category` is "conv" or "attention"."""
    positions = int(np.prod(output_shape[:-1]))
    if isinstance(layer, PartialConv2D):
        box_sum = positions * int(np.prod(layer.kernel_size))
        return "conv", positions * int(np.prod(layer.kernel.shape)) + box_sum
    if isinstance(layer, (keras.layers.Conv2D, GatedConv2D, keras.layers.Dense)):
        return "conv", positions * int(np.prod(layer.kernel.shape))
    if isinstance(layer, keras.layers.Conv2DTranspose):
        return "conv", int(np.prod(input_shape[:-1])) * int(np.prod(layer.kernel.shape))
    if isinstance(layer, ChannelwiseDense):
        return "conv", int(input_shape[0]) * int(np.prod(layer.kernel.shape))
    if isinstance(layer, ContextualAttention):
        return "attention", attention_multiply_adds(layer, input_shape)
    raise TypeError(f"no multiply-add count for {type(layer).__name__}")


def attention_multiply_adds(layer, input_shape):
    """MACs of `ContextualAttention` on foreground = background of `input_shape` (see doc)."""
    batch, height, width, channels = input_shape
    rate, stride = layer.rate, layer.stride
    small_height, small_width = height // rate, width // rate
    queries = small_height * small_width
    patches = -(-small_height // stride) * -(-small_width // stride)
    pairs = queries * patches
    scores = pairs * layer.patch_size**2 * channels
    fuse = 2 * pairs * layer.fuse_size**2 if layer.fuse_size > 1 else 0
    paste = pairs * (2 * rate) ** 2 * channels
    return batch * (scores + fuse + paste)


COUNTED_LAYERS = (
    keras.layers.Conv2D,
    keras.layers.Conv2DTranspose,
    keras.layers.Dense,
    GatedConv2D,
    ChannelwiseDense,
    ContextualAttention,
)


def count_multiply_adds(network, size):
    """``{"conv": MACs, "attention": MACs}`` of `network`'s forward pass on one sample.

    `network` is a functional `keras.Model`; inputs with unknown height and width get
    `size` x `size`, fixed-size inputs keep their size. The network is run once with every
    counted layer's first input and first output exposed, to read their actual shapes.
    """
    counted = [layer for layer in network.layers if isinstance(layer, COUNTED_LAYERS)]
    exposed = []
    for layer in counted:
        exposed += [keras.tree.flatten(layer.input)[0], keras.tree.flatten(layer.output)[0]]
    probe = keras.Model(network.inputs, exposed)
    inputs = [
        np.zeros((1, *(size if dim is None else dim for dim in tensor.shape[1:])), "float32")
        for tensor in network.inputs
    ]
    shapes = [tuple(value.shape) for value in probe(inputs)]
    totals = collections.Counter({"conv": 0, "attention": 0})
    for index, layer in enumerate(counted):
        category, count = layer_multiply_adds(layer, shapes[2 * index], shapes[2 * index + 1])
        totals[category] += count
    return totals


def parse_model(spec):
    """``"name"`` or ``"name:width"`` -> (name, width or None)."""
    name, _, width = spec.partition(":")
    if name in NOT_A_FORWARD_PASS:
        raise ValueError(
            f"{name}'s inference is an iterative latent search, not one forward pass; "
            "see benchmarks/model_speed.py for its latency"
        )
    return name, int(width) if width else None


def build_model(name, width):
    model_class = get_model_class(name)
    return model_class() if width is None else model_class(width=width)


def inference(model, size, jit_compile):
    """A zero-argument callable: one composited inference on a `size` x `size` image."""
    batch = {
        "image": random_images((1, size, size, 3)),
        "mask": rectangle_hole_masks(1, size, size, HOLE_FRACTION),
    }
    function = compiled(lambda inputs: model(inputs, training=False), jit_compile)
    return lambda: function(batch)


def reference_convolution(size, channels, jit_compile):
    """``(callable, MACs)``: a plain 3x3 `Conv2D`, [1, size, size, channels] -> channels."""
    layer = keras.layers.Conv2D(channels, 3, padding="same")
    inputs = random_images((1, size, size, channels))
    layer.build(inputs.shape)
    function = compiled(layer, jit_compile)
    return (lambda: function(inputs)), size * size * 9 * channels * channels


def gigaflops_per_second(multiply_adds, seconds):
    return FLOPS_PER_MULTIPLY_ADD * multiply_adds / seconds / 1e9


def main():
    parser = benchmark_parser(__doc__, repeats=3)
    parser.add_argument("--models", nargs="+", default=["gated_conv:48", "gated_conv:24"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[256, 512])
    parser.add_argument("--reference-size", type=int, default=256)
    parser.add_argument("--reference-channels", type=int, default=64)
    args = parse_arguments(parser, QUICK_SETTINGS)

    try:
        specs = [parse_model(spec) for spec in args.models]
    except ValueError as error:
        parser.error(str(error))
    models = {}
    for name, width in specs:
        model = build_model(name, width)
        models[f"{name} (width {model.width})"] = model
    counts = {
        (label, size): count_multiply_adds(model.generator, size)
        for label, model in models.items()
        for size in args.sizes
    }

    timing, reference_gflops = {}, {}
    for jit_compile in jit_modes(args):
        reference, reference_macs = reference_convolution(
            args.reference_size, args.reference_channels, jit_compile
        )
        functions = {"reference": reference}
        for label, model in models.items():
            for size in args.sizes:
                functions[(label, size)] = inference(model, size, jit_compile)
        measured = medians_or_errors(functions, args.warmup, args.repeats)
        reference_seconds = measured.pop("reference")
        if isinstance(reference_seconds, Exception):
            raise reference_seconds
        reference_gflops[jit_compile] = gigaflops_per_second(reference_macs, reference_seconds)
        timing.update({(*key, jit_compile): seconds for key, seconds in measured.items()})
    limit = max(reference_gflops.values())

    rows = []
    for (label, size), count in counts.items():
        total = count["conv"] + count["attention"]
        for jit_compile in jit_modes(args):
            seconds = timing[(label, size, jit_compile)]
            if isinstance(seconds, Exception):
                measured_cells = (describe_error(seconds), "-", "-")
            else:
                achieved = gigaflops_per_second(total, seconds)
                measured_cells = (
                    milliseconds(seconds),
                    f"{achieved:.1f}",
                    f"{100 * achieved / limit:.0f}",
                )
            rows.append(
                (
                    label,
                    f"{size}x{size}",
                    f"{total / 1e9:.2f}",
                    f"{100 * count['attention'] / total:.1f}",
                    jit_label(jit_compile),
                    *measured_cells,
                )
            )
    reference_text = ", ".join(
        f"{jit_label(jit)} {gflops:.1f} GFLOP/s" for jit, gflops in reference_gflops.items()
    )
    print_report(
        "Inference efficiency against a plain Conv2D",
        [
            f"Reference: Conv2D 1x{args.reference_size}x{args.reference_size}x"
            f"{args.reference_channels} -> {args.reference_channels}, 3x3, forward: "
            f"{reference_text}; limit = {limit:.1f} GFLOP/s (the better one). Models: one "
            f"image, {100 * HOLE_FRACTION:.0f} % centred rectangular hole, composited output; "
            f"median of {args.repeats} interleaved rounds after {max(1, args.warmup)} "
            f"warm-up round(s). 1 MAC = 2 FLOPs. The authors' TF1 DeepFill v2 graph reaches about "
            f"{AUTHORS_TF1_EFFICIENCY} % on this kind of machine; target for gated_conv: "
            f">= {GATED_CONV_TARGET} %.",
        ],
        (
            "model",
            "size",
            "GMAC",
            "attention % of MACs",
            "mode",
            "ms",
            "GFLOP/s",
            "% of Conv2D limit",
        ),
        rows,
    )


if __name__ == "__main__":
    main()
