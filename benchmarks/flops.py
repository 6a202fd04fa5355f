"""How close the models' inference comes to the machine's convolution throughput.

For each model the script counts the multiply-adds (MACs) of its generator's forward pass on
one image at 256x256 and 512x512, times one inference call (batch 1, in a `tf.function`,
without and with XLA) and divides: achieved GFLOP/s, with 1 MAC = 2 FLOPs. In the same run,
interleaved with the model calls, it times a plain large `Conv2D` (1x256x256x64 -> 64
channels, 3x3, forward) whose GFLOP/s is taken as what this machine can reach (the better of
its graph and XLA figures); the last column is the model's GFLOP/s as a percentage of that.
For comparison, the authors' TF1 DeepFill v2 graph runs at about 73 % on this kind of
machine; gated_conv's target is 80 % or more.

Models (``--models``; default: `gated_conv` at the authors' width cnum = 48 and at width 24):

- ``NAME:WIDTH``: the registered model's default architecture at that width
  (``gated_conv:48``, ``global_local:32``);
- ``NAME`` (a zoo name or alias): the model as published in the zoo,
  ``keras_inpaint.zoo.load(NAME, weights=None)``, i.e. the architecture of the preset's
  ``config.json`` (weights change neither the MACs nor the time); an entry without a preset
  yet is its default architecture, labelled "default config, no preset".

Labels show the width (and `partial_conv`'s depth) actually built.

One inference is:

- for the image-to-image models, the composited call ``model({"image", "mask"})`` on an image
  with a centred rectangular hole of 10 %: the timing includes what the call does around the
  generator (padding to a size multiple, resizing), the MACs are those of the generator's
  layers at the shapes they actually receive;
- `context_encoder` is a fixed-size network (128x128 by default): the call resizes the image
  to it and the fill back, so its MACs are those of the network at its own size whatever the
  image size (the size column says so);
- `latent_search`: ONE generator pass G(z) at its native size (64x64 by default), counted and
  timed alone, in one row whatever ``--sizes``. Inpainting with it is a latent search of
  ``search_steps`` x ``candidates`` (1500 x 4 by default) forward and backward passes of G and
  D, which this script does not time: ``benchmarks/latent_search_latency.py`` does.

What is counted, per call of a generator layer during one eager run of the inference call
(the real forward pass, at its real shapes; discriminators and critics are not run):

- `Conv2D` (dilated or not), `GatedConv2D` (one convolution to 2 x filters), `PartialConv2D`
  (its convolution plus the one-channel box sum of the mask): output positions x kh x kw x
  C_in x C_out;
- `Conv2DTranspose`: input positions x kh x kw x C_in x C_out;
- `Dense`: positions x units x inputs; `ChannelwiseDense`: C x (H W)^2;
- `ContextualAttention` on [B, H, W, C] at rate r with k x k patches, fuse size f:
  N_f = N_b = (H / r)(W / r) positions and patches (stride 1); scores N_f N_b k^2 C,
  fuse 2 N_f N_b f^2 (two identity-kernel convolutions, as implemented), paste
  N_f N_b (2r)^2 C.

Element-wise work (activations, gating, normalisation, resizing, padding, softmax) is not
counted, so it lowers the percentage: it is part of what the ratio measures. A generator
layer with weights that none of these rules covers (other than batch normalisation) is an
error, so that nothing is left out silently. A count or timing that fails at some size
(e.g. `contextual_attention`'s mirror padding needs 64x64 or more; an op without an XLA
kernel) is a ``failed: ...`` cell and the others go on.

    python -m benchmarks.flops [--quick] [--repeats 3] [--models gated_conv:48 gated_conv:24]
        [--sizes 256 512]

All six zoo models as published (with gated_conv also at the authors' width):

    python -m benchmarks.flops --models gated_conv:48 gated_conv partial_conv
        contextual_attention global_local context_encoder latent_search
"""

import collections
import contextlib
import dataclasses

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
from keras_inpaint import zoo
from keras_inpaint.layers import ChannelwiseDense, ContextualAttention, GatedConv2D, PartialConv2D

HOLE_FRACTION = 0.1
AUTHORS_TF1_EFFICIENCY = 73
GATED_CONV_TARGET = 80
LATENT_SEARCH = "latent_search"
NO_PRESET = "default config, no preset"
PRESET = "zoo preset"
QUICK_SETTINGS = {
    "models": ["gated_conv:8", "context_encoder:8", "latent_search:8"],
    "sizes": [32, 64],
    "reference_size": 64,
    "reference_channels": 16,
    "repeats": 1,
    "jit": ["graph"],
}
COUNTED_LAYERS = (
    keras.layers.Conv2D,
    keras.layers.Conv2DTranspose,
    keras.layers.Dense,
    GatedConv2D,
    ChannelwiseDense,
    ContextualAttention,
)
UNCOUNTED_LAYERS_WITH_WEIGHTS = (keras.layers.BatchNormalization,)
"""Generator layers whose weights take part in element-wise work only."""


# ---- counting --------------------------------------------------------------------------------


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


def counted_layers(network):
    """The layers of the functional `network` that `layer_multiply_adds` counts.

    Raises TypeError for a layer with weights that no rule counts (a nested model, an unknown
    layer; batch normalisation excepted), so that nothing is left out silently.
    """
    layers = []
    for layer in network.layers:
        if isinstance(layer, COUNTED_LAYERS):
            layers.append(layer)
        elif layer.weights and not isinstance(layer, UNCOUNTED_LAYERS_WITH_WEIGHTS):
            raise TypeError(f"no multiply-add count for {type(layer).__name__} {layer.name!r}")
    return layers


def first_shape(structure):
    """The shape of the first tensor in a (nested) structure of call arguments or outputs."""
    return tuple(keras.tree.flatten(structure)[0].shape)


@contextlib.contextmanager
def recorded_calls(layers):
    """Record every call of `layers` made inside the context.

    Yields a list that receives ``(layer, args, kwargs, outputs)`` per call (what ``call``
    received and returned). Each layer's ``call`` is wrapped for the duration (an instance
    attribute, removed on exit).
    """
    calls = []

    def recording(layer):
        original = layer.call

        def call(*args, **kwargs):
            outputs = original(*args, **kwargs)
            calls.append((layer, args, kwargs, outputs))
            return outputs

        return call

    for layer in layers:
        layer.call = recording(layer)
    try:
        yield calls
    finally:
        for layer in layers:
            del layer.call


def forward_calls(network, forward):
    """The calls of `network`'s counted layers while `forward()` runs, once, eagerly (it may
    call `network` inside a model's own code: padding, resizing): `recorded_calls`' list."""
    with recorded_calls(counted_layers(network)) as calls:
        forward()
    return calls


def call_multiply_adds(layer, args, kwargs, outputs):
    """``(category, MACs)`` of one recorded call, at the shapes it actually received."""
    return layer_multiply_adds(layer, first_shape((args, kwargs)), first_shape(outputs))


def calls_multiply_adds(calls):
    """``{"conv": MACs, "attention": MACs}`` of recorded calls (`forward_calls`)."""
    totals = collections.Counter({"conv": 0, "attention": 0})
    for call in calls:
        category, count = call_multiply_adds(*call)
        totals[category] += count
    return totals


def network_inputs(network, size):
    """Zeros in the structure of `network`'s inputs, batch 1; a free height or width is
    `size`, fixed dimensions keep their size."""
    return keras.tree.map_structure(
        lambda tensor: np.zeros(
            (1, *(size if dim is None else dim for dim in tensor.shape[1:])), "float32"
        ),
        network.input,
    )


def count_multiply_adds(network, size):
    """`calls_multiply_adds` of the bare functional `network` run once on
    `network_inputs(network, size)`."""
    inputs = network_inputs(network, size)
    return calls_multiply_adds(forward_calls(network, lambda: network(inputs)))


# ---- models ----------------------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class Subject:
    """A model to measure: its zoo name, its table label and the model."""

    name: str
    label: str
    model: keras.Model


@dataclasses.dataclass(eq=False)
class Case:
    """A subject at one image size: ``function(inputs)`` is one inference, `counts` its MACs
    (or the exception counting raised), `calls` its recorded layer calls if kept."""

    subject: Subject
    size: int
    function: object
    inputs: object
    counts: object
    calls: list = dataclasses.field(default_factory=list)


def parse_model(spec):
    """``"name"`` or ``"name:width"`` -> (canonical zoo name, width or None); ValueError for
    an unknown name, a classical fill or a width that is not an integer."""
    name, _, width = spec.partition(":")
    entry = zoo.get_entry(name)
    if entry.classical:
        raise ValueError(f"{entry.name!r} is a classical OpenCV fill, not a network")
    try:
        return entry.name, int(width) if width else None
    except ValueError:
        raise ValueError(f"the width in {spec!r} must be an integer") from None


def has_preset(name):
    """Whether the zoo entry `name` has a preset folder with a ``config.json``."""
    return (zoo.get_entry(name).preset_dir / zoo.CONFIG_FILE).is_file()


def architecture(model):
    """``"width 48"``, with ``", depth 8"`` for models that have a depth (`partial_conv`)."""
    depth = getattr(model, "depth", None)
    return f"width {model.width}" + (f", depth {depth}" if depth is not None else "")


def load_subject(name, width):
    """The model `name` at `width` (default architecture), or, with `width` None, as published
    in the zoo (`zoo.load` with ``weights=None``: the preset's architecture, else the default
    one, which the label says)."""
    if width is not None:
        model = zoo.get_entry(name).build(width=width)
        return Subject(name, f"{name} ({architecture(model)})", model)
    model = zoo.load(name, weights=None)
    source = PRESET if has_preset(name) else NO_PRESET
    return Subject(name, f"{name} ({architecture(model)}; {source})", model)


def network_size(subject):
    """``(height, width)`` of a fixed-size network (`context_encoder`, `latent_search`): the
    only size its generator runs at; None for fully convolutional generators."""
    spatial = subject.model.generator.inputs[0].shape[1:3]
    if subject.name == LATENT_SEARCH or None not in spatial:
        return tuple(subject.model.image_size)
    return None


def subject_sizes(subject, sizes):
    """The image sizes to measure `subject` at: one for `latent_search` (G(z) has no image
    size), else all of `sizes`."""
    return sizes[:1] if subject.name == LATENT_SEARCH else sizes


def inference_step(subject, size):
    """``(function, inputs)``: ``function(inputs)`` is one single-image inference at `size`:
    the composited model call, or one G(z) for `latent_search`."""
    model = subject.model
    if subject.name == LATENT_SEARCH:
        return (lambda z: model.generator(z, training=False)), network_inputs(model.generator, size)
    batch = {
        "image": random_images((1, size, size, 3)),
        "mask": rectangle_hole_masks(1, size, size, HOLE_FRACTION),
    }
    return (lambda inputs: model(inputs, training=False)), batch


def make_case(subject, size, keep_calls=False):
    """The `Case` of `subject` at `size`, its MACs counted (one eager inference); with
    `keep_calls`, the recorded layer calls too (`forward_calls`; none when counting failed)."""
    function, inputs = inference_step(subject, size)
    calls = []
    try:
        calls = forward_calls(subject.model.generator, lambda: function(inputs))
        counts = calls_multiply_adds(calls)
    except Exception as error:  # noqa: BLE001 -- a failed count is a table entry
        counts = error
    return Case(subject, size, function, inputs, counts, calls if keep_calls else [])


def size_cell(case):
    """The size column: the image size, and the network's own size for fixed-size models."""
    fixed = network_size(case.subject)
    if fixed is None:
        return f"{case.size}x{case.size}"
    network = f"{fixed[1]}x{fixed[0]}"
    if case.subject.name == LATENT_SEARCH:
        return f"{network} (native), one G(z)"
    return f"{case.size}x{case.size}, network at its native {network}"


def subject_note(subject):
    """A note under the title for fixed-size models (None for the others)."""
    fixed = network_size(subject)
    if fixed is None:
        return None
    network = f"{fixed[1]}x{fixed[0]}"
    if subject.name == LATENT_SEARCH:
        model = subject.model
        return (
            f"{subject.label}: one generator pass G(z) at its native {network}, batch 1, "
            f"counted and timed alone; inpainting runs search_steps x candidates = "
            f"{model.search_steps} x {model.candidates} forward + backward passes of G and D "
            "(not timed here: `benchmarks/latent_search_latency.py`)."
        )
    return (
        f"{subject.label}: a fixed-size network: the call resizes the image to {network} and "
        f"the fill back (timed); its MACs are the network's at {network} for every image size."
    )


# ---- timing ----------------------------------------------------------------------------------


def reference_convolution(size, channels, jit_compile):
    """``(callable, MACs)``: a plain 3x3 `Conv2D`, [1, size, size, channels] -> channels."""
    layer = keras.layers.Conv2D(channels, 3, padding="same")
    inputs = random_images((1, size, size, channels))
    layer.build(inputs.shape)
    function = compiled(layer, jit_compile)
    return (lambda: function(inputs)), size * size * 9 * channels * channels


def timed_call(case, jit_compile):
    """A zero-argument callable: the case's inference in a `tf.function`."""
    function = compiled(case.function, jit_compile)
    return lambda: function(case.inputs)


def gigaflops_per_second(multiply_adds, seconds):
    return FLOPS_PER_MULTIPLY_ADD * multiply_adds / seconds / 1e9


def measure(cases, args):
    """``(timings, reference GFLOP/s)``: ``{(case index, jit_compile): seconds or the
    exception}`` and ``{jit_compile: GFLOP/s}`` of the reference, interleaved per mode."""
    timings, reference_gflops = {}, {}
    for jit_compile in jit_modes(args):
        reference, reference_macs = reference_convolution(
            args.reference_size, args.reference_channels, jit_compile
        )
        functions = {"reference": reference}
        functions.update({index: timed_call(case, jit_compile) for index, case in enumerate(cases)})
        measured = medians_or_errors(functions, args.warmup, args.repeats)
        reference_seconds = measured.pop("reference")
        if isinstance(reference_seconds, Exception):
            raise reference_seconds
        reference_gflops[jit_compile] = gigaflops_per_second(reference_macs, reference_seconds)
        timings.update({(index, jit_compile): seconds for index, seconds in measured.items()})
    return timings, reference_gflops


# ---- report ----------------------------------------------------------------------------------


def count_cells(counts):
    """GMAC and attention share, or the counting error and "-"."""
    if isinstance(counts, Exception):
        return describe_error(counts), "-"
    total = counts["conv"] + counts["attention"]
    return f"{total / 1e9:.3g}", f"{100 * counts['attention'] / total:.1f}"


def timing_cells(counts, seconds, limit):
    """ms, GFLOP/s and % of the limit; "-" where the count or the timing failed."""
    if isinstance(seconds, Exception):
        return describe_error(seconds), "-", "-"
    if isinstance(counts, Exception):
        return milliseconds(seconds), "-", "-"
    achieved = gigaflops_per_second(counts["conv"] + counts["attention"], seconds)
    return milliseconds(seconds), f"{achieved:.1f}", f"{100 * achieved / limit:.0f}"


def table_rows(cases, timings, limit, modes):
    rows = []
    for index, case in enumerate(cases):
        for jit_compile in modes:
            rows.append(
                (
                    case.subject.label,
                    size_cell(case),
                    *count_cells(case.counts),
                    jit_label(jit_compile),
                    *timing_cells(case.counts, timings[(index, jit_compile)], limit),
                )
            )
    return rows


def report_notes(args, subjects, reference_gflops, limit):
    reference_text = ", ".join(
        f"{jit_label(jit)} {gflops:.1f} GFLOP/s" for jit, gflops in reference_gflops.items()
    )
    notes = [
        f"Reference: Conv2D 1x{args.reference_size}x{args.reference_size}x"
        f"{args.reference_channels} -> {args.reference_channels}, 3x3, forward: "
        f"{reference_text}; limit = {limit:.1f} GFLOP/s (the better one). Models: one "
        f"image, {100 * HOLE_FRACTION:.0f} % centred rectangular hole, composited output; "
        f"median of {args.repeats} interleaved rounds after {max(1, args.warmup)} "
        f"warm-up round(s). 1 MAC = 2 FLOPs. The authors' TF1 DeepFill v2 graph reaches about "
        f"{AUTHORS_TF1_EFFICIENCY} % on this kind of machine; target for gated_conv: "
        f">= {GATED_CONV_TARGET} %.",
    ]
    notes += [note for note in map(subject_note, subjects) if note]
    return notes


def main():
    parser = benchmark_parser(__doc__, repeats=3)
    parser.add_argument(
        "--models",
        nargs="+",
        default=["gated_conv:48", "gated_conv:24"],
        help="NAME:WIDTH (default architecture at that width) or NAME (as published in the zoo)",
    )
    parser.add_argument("--sizes", nargs="+", type=int, default=[256, 512])
    parser.add_argument("--reference-size", type=int, default=256)
    parser.add_argument("--reference-channels", type=int, default=64)
    args = parse_arguments(parser, QUICK_SETTINGS)

    try:
        specs = [parse_model(spec) for spec in args.models]
    except ValueError as error:
        parser.error(str(error))
    subjects = [load_subject(name, width) for name, width in specs]
    cases = [
        make_case(subject, size)
        for subject in subjects
        for size in subject_sizes(subject, args.sizes)
    ]
    timings, reference_gflops = measure(cases, args)
    limit = max(reference_gflops.values())
    print_report(
        "Inference efficiency against a plain Conv2D",
        report_notes(args, subjects, reference_gflops, limit),
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
        table_rows(cases, timings, limit, jit_modes(args)),
    )


if __name__ == "__main__":
    main()
