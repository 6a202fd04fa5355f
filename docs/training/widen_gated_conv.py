"""Widen a trained `GatedConvInpainter` without changing what it computes (Net2WiderNet).

Chen, Goodfellow and Shlens, ICLR 2016, "Net2Net: Accelerating Learning via Knowledge
Transfer": a layer with n output channels becomes one with n' > n by copying channels; the
layer that reads them divides each copied channel's incoming weights among its copies, so the
network's function is unchanged and training goes on from where the narrow network was. Here,
for each gated convolution (`y = elu(F) * sigmoid(G)`, features and gates of one channel
copied together) with output channel c copied k times (copies j = 1..k):

    W'_next[.., copy j of c, :] = W_next[.., c, :] * a_j / s_j,   sum_j a_j = 1,

with random shares a_j (uniform in [0.5, 1.5], normalised) instead of 1/k, so that the copies
receive different gradients and drift apart (equal shares would keep them equal for ever), and
s_j the copy's scale. s_j = 1, except for the features entering contextual attention (the
`pmconv6` layer, ReLU features), which are scaled by s_j = 1 / sqrt(k): the attention compares
patches by cosine similarity, whose dot products and norms count a channel once per copy, and
1 / sqrt(k) keeps them (sum_j s_j^2 = 1); ReLU commutes with a positive scale, the gate does
not see it, and the attention's output (pasted patches of the same features) carries the scale
to `pmconv9`, whose weights divide it out. Channel c < n stays channel c; the n' - n new ones
copy channels drawn without repetition while n' - n <= n.

The discriminator is built afresh (random weights) at the new width: the zoo's `gated_conv`
trains without the adversarial term, so it is unused there; a GAN run would train it from
scratch.

    python docs/training/widen_gated_conv.py gated_conv 24 runs/gc_w24_init.keras

then `keras-inpaint train gated_conv --init-from runs/gc_w24_init.keras ...` (width 24 comes
from the file).
Beside the file it writes `runs/gc_w24_init.keras.json`, this command and the source's own
record (`zoo.initialisation_record`), which `train` keeps in the run's ``run.json`` so that the
published card lists the widening and every stage before it.
The script checks that the widened generator's outputs equal the narrow one's on a random
photo and hole (it prints the largest difference) before it saves.
"""

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

ENCODER = ("1", "2_downsample", "3", "4_downsample", "5", "6")
DILATED = ("7_atrous", "8_atrous", "9_atrous", "10_atrous")
DECODER = ("11", "12", "13_upsample_conv", "14", "15_upsample_conv", "16")
RGB_LAYER = "17"
SHARE_RANGE = (0.5, 1.5)
CHECK_SIZE = 64


class _Channels:
    """How a widened tensor's channels come from the narrow one's: `source[j]`, the narrow
    channel that channel j copies, `share[j]` (a_j) and `scale[j]` (s_j)."""

    def __init__(self, source, share, scale):
        self.source, self.share, self.scale = source, share, scale

    @classmethod
    def unchanged(cls, count):
        return cls(np.arange(count), np.ones(count), np.ones(count))

    @classmethod
    def copies(cls, narrow, wide, rng, keep_norms=False):
        added = rng.choice(narrow, wide - narrow, replace=wide - narrow > narrow)
        source = np.concatenate([np.arange(narrow), added])
        share = np.ones(wide)
        for channel in np.unique(added):
            copies = np.flatnonzero(source == channel)
            parts = rng.uniform(*SHARE_RANGE, len(copies))
            share[copies] = parts / parts.sum()
        counts = np.bincount(source, minlength=narrow)[source]
        return cls(source, share, 1.0 / np.sqrt(counts) if keep_norms else np.ones(wide))

    def __add__(self, other):  # channels concatenated: `other`'s come after `self`'s
        offset = self.source.max() + 1
        return _Channels(*(np.concatenate(pair) for pair in (
            (self.source, other.source + offset), (self.share, other.share),
            (self.scale, other.scale))))


def widen(model, width, seed=0):
    """A `GatedConvInpainter` of `width` computing what `model` (narrower) computes."""
    if width <= model.width or width % 4:
        raise ValueError(f"width must be a multiple of 4 above the model's {model.width}, "
                         f"received {width!r}")
    wide = type(model).from_config({**model.get_config(), "width": width})
    rng = np.random.default_rng(seed)
    narrow_net, wide_net = model.generator, wide.generator

    def layer(name, channels, keep_norms=False):
        kernel, bias = narrow_net.get_layer(name).get_weights()
        kernel = kernel[:, :, channels.source, :] * (channels.share / channels.scale)[:, None]
        target = wide_net.get_layer(name)
        if name.endswith(RGB_LAYER):  # the RGB Conv2D: only its inputs widen
            target.set_weights([kernel, bias])
            return None
        half = kernel.shape[-1] // 2
        out = _Channels.copies(half, target.filters, rng, keep_norms)
        features = kernel[..., :half][..., out.source] * out.scale
        gates = kernel[..., half:][..., out.source]
        target.set_weights([np.concatenate([features, gates], -1).astype("float32"),
                            np.concatenate([bias[:half][out.source] * out.scale,
                                            bias[half:][out.source]]).astype("float32")])
        return out

    def chain(prefix, suffixes, channels, keep_last_norms=False):
        for index, suffix in enumerate(suffixes):
            last = index == len(suffixes) - 1
            channels = layer(prefix + suffix, channels, keep_norms=keep_last_norms and last)
        return channels

    def inputs(name):
        return _Channels.unchanged(narrow_net.get_layer(name).kernel.shape[2])

    coarse = chain("conv", ENCODER + DILATED + DECODER, inputs("conv1"))
    layer("conv" + RGB_LAYER, coarse)
    hallucinated = chain("xconv", ENCODER + DILATED, inputs("xconv1"))
    attended = chain("pmconv", ENCODER, inputs("pmconv1"), keep_last_norms=True)
    attended = chain("pmconv", ("9", "10"), attended)
    refined = chain("allconv", DECODER, hallucinated + attended)
    layer("allconv" + RGB_LAYER, refined)
    return wide


def largest_difference(model, wide, seed=0):
    """Largest difference between the two generators' coarse and refined outputs on a random
    photo with a rectangular hole."""
    rng = np.random.default_rng(seed)
    image = rng.uniform(-1, 1, (1, CHECK_SIZE, CHECK_SIZE, 3 + model.guidance_channels))
    mask = np.zeros((1, CHECK_SIZE, CHECK_SIZE, 1))
    mask[:, CHECK_SIZE // 4: 3 * CHECK_SIZE // 4, CHECK_SIZE // 8: CHECK_SIZE // 2] = 1
    inputs = [(image * (1 - mask)).astype("float32"), mask.astype("float32")]
    narrow_out, wide_out = model.generator(inputs), wide.generator(inputs)
    return max(float(np.abs(np.asarray(a) - np.asarray(b)).max())
               for a, b in zip(narrow_out[:2], wide_out[:2]))


def main(argv=None):
    from keras_inpaint import zoo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="zoo name, preset folder or .keras file of a gated_conv")
    parser.add_argument("width", type=int)
    parser.add_argument("output", help=".keras file to write")
    parser.add_argument("--seed", type=int, default=0, help="seed of the copies and shares")
    parser.add_argument("--tolerance", type=float, default=1e-4,
                        help="largest output difference accepted")
    args = parser.parse_args(argv)
    model = zoo.load(args.source)
    wide = widen(model, args.width, seed=args.seed)
    difference = largest_difference(model, wide)
    print(f"width {model.width} -> {args.width}: {model.generator.count_params():,} -> "
          f"{wide.generator.count_params():,} generator parameters; largest output "
          f"difference {difference:.2e}")
    if difference > args.tolerance:
        raise SystemExit(f"the widened model's outputs differ by {difference:.2e} (more than "
                         f"--tolerance {args.tolerance}); not saved")
    wide.save(args.output)
    # where the widened model came from, for the cards of runs that start from it
    record = {"command": shlex.join(["python", "docs/training/widen_gated_conv.py",
                                     *(argv if argv is not None else sys.argv[1:])]),
              "initialised_from": zoo.initialisation_record(args.source)}
    Path(args.output + ".json").write_text(json.dumps(record, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
