"""Mixed precision on this machine: the zoo models' training and inference speed under each
Keras dtype policy, and how far a mixed-precision fill is from the float32 one.

For each zoo network as published (default: every entry with trained weights but
`latent_search`, whose inference is a search: `latent_search_latency.py`), loaded three times
with ``zoo.load(name, dtype=POLICY)`` for ``float32``, ``mixed_bfloat16`` and
``mixed_float16`` (the same weights; float32 variables, the policy's compute dtype):

- **Inference**: milliseconds of one ``model(inputs)`` call on a 512x512 noise image with a
  centred 10 % hole, in a `tf.function`, the policies interleaved.
- **Fill difference**: the largest and the mean absolute difference, in 8-bit levels, between
  the policy's fill and float32's in the hole of that image (the same weights, copied from the
  float32 model): what the lower precision changes in what users get. Measured with the
  inference, before the training steps change the weights.
- **Training**: images per second of ``model.train_step`` at the preset's training size and
  batch (as `zoo_speed.py`: random images, per-sample rectangular holes of 25 %), in a
  `tf.function` (graph mode: XLA is slower on CPUs, see the model-speed table), the three
  policies interleaved. Under ``mixed_float16`` the optimizers are loss-scaled, as
  `keras-inpaint train --mixed-precision float16` does.

``--quick`` measures the tiny untrained configurations of ``tests/tiny_models.py`` at 64x64.
A measurement that raises is a ``failed: ...`` cell and the others go on. Progress goes to
stderr.

    python -m benchmarks.precision_speed [--quick] [--models gated_conv ...] [--repeats 5]
        [--policies mixed_bfloat16 mixed_float16]
"""

import sys
import time

import numpy as np

from benchmarks.common import (
    benchmark_parser,
    describe_error,
    images_per_second,
    medians_or_errors,
    milliseconds,
    parse_arguments,
    print_report,
    result_cell,
    training_batch,
    training_call,
)
from benchmarks.model_speed import inference_batch, inference_call
from benchmarks.zoo_speed import NETWORKS, load_subject, release_models
from keras_inpaint import zoo

POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")
REFERENCE = "float32"
INFERENCE_SIZE = 512
QUICK_INFERENCE_SIZE = 64
LEVELS = 255.0
QUICK_SETTINGS = {"models": ["gated_conv", "partial_conv"], "repeats": 1}


def default_models():
    """The zoo networks with trained weights but latent_search, else all but it (untrained)."""
    networks = [name for name in NETWORKS if name != "latent_search"]
    return [name for name in networks if zoo.has_weights(name)] or networks


def fill_difference(outputs, reference, hole):
    """``(max, mean)`` absolute difference in 8-bit levels between two fills, in the hole."""
    difference = np.abs(np.asarray(outputs, np.float32) - np.asarray(reference, np.float32))
    in_hole = difference[np.broadcast_to(np.asarray(hole) > 0, difference.shape)] * LEVELS
    return float(in_hole.max()), float(in_hole.mean())


def measure(name, args):
    """The rows of one model, one per policy of ``--policies``."""
    policies = [policy for policy in POLICIES if policy in args.policies]
    subjects = {}
    for policy in policies:
        try:
            subjects[policy] = load_subject(name, args.quick, dtype=policy)
        except Exception as error:  # noqa: BLE001 -- a failed measurement is a table entry
            subjects[policy] = error
    loaded = {policy: subject for policy, subject in subjects.items()
              if not isinstance(subject, Exception)}
    if REFERENCE not in loaded:
        return [(name, policy, *[describe_error(subjects[REFERENCE])] * 5) for policy in policies]
    reference = loaded[REFERENCE]
    for subject in loaded.values():  # untrained stand-ins are initialised at random each
        subject.model.set_weights(reference.model.get_weights())
    size = QUICK_INFERENCE_SIZE if args.quick else INFERENCE_SIZE
    image = inference_batch(size)
    callers = {policy: inference_call(subject.model, image, jit_compile=False)
               for policy, subject in loaded.items()}
    inference = medians_or_errors(callers, args.warmup, args.repeats)
    fills = {policy: callers[policy]() for policy in loaded  # before training moves the weights
             if not isinstance(inference[policy], Exception)}
    height, width = reference.training_size
    batch = training_batch(reference.batch_size, height, width)
    trainers, errors = {}, {}
    for policy, subject in loaded.items():
        try:
            subject.model.compile()
            trainers[policy] = training_call(subject.model, batch, jit_compile=False)
        except Exception as error:  # noqa: BLE001
            errors[policy] = error
    training = {**errors, **medians_or_errors(trainers, args.warmup, args.repeats)}
    rows = []
    for policy in policies:
        failed = subjects[policy] if isinstance(subjects[policy], Exception) else None
        train = failed or training[policy]
        infer = failed or inference[policy]
        if policy in fills and REFERENCE in fills:
            largest, mean = fill_difference(fills[policy], fills[REFERENCE], image["mask"])
            difference = f"{largest:.2f} / {mean:.3f}"
        else:
            difference = "-"
        rows.append((
            reference.label if policy == REFERENCE else "",
            policy,
            result_cell(train, images_per_second(reference.batch_size)),
            ratio_cell(training, policy),
            result_cell(infer, milliseconds),
            ratio_cell(inference, policy),
            difference,
        ))
    return rows


def ratio_cell(results, policy):
    """float32's time over `policy`'s: the speed-up (above 1: faster than float32)."""
    reference, measured = results.get(REFERENCE), results.get(policy)
    if not (isinstance(reference, float) and isinstance(measured, float)):
        return "-"  # not measured, or it raised
    return f"{reference / measured:.2f}x"


def main():
    parser = benchmark_parser(__doc__, repeats=5)
    parser.add_argument("--models", nargs="+", choices=NETWORKS, default=None,
                        help="zoo networks (default: those with trained weights but "
                             "latent_search)")
    parser.add_argument("--policies", nargs="+", choices=POLICIES[1:], default=list(POLICIES[1:]),
                        help="the mixed policies to measure against float32 (mixed_float16 "
                             "trains slowly on CPUs)")
    args = parse_arguments(parser, QUICK_SETTINGS)
    args.policies = [REFERENCE, *args.policies]
    start = time.perf_counter()
    rows = []
    for name in args.models or default_models():
        print(f"[{time.perf_counter() - start:6.0f} s] {name}", file=sys.stderr)
        rows += measure(name, args)
        release_models()
    print(f"[{time.perf_counter() - start:6.0f} s] done", file=sys.stderr)
    size = QUICK_INFERENCE_SIZE if args.quick else INFERENCE_SIZE
    notes = [
        f"Training: `model.train_step` at the preset's size and batch, graph mode; inference: "
        f"one `model(inputs)` call on a {size}x{size} image with a centred 10 % hole, graph "
        f"mode; medians of {args.repeats} rounds, the policies interleaved. Speed-up: "
        f"float32's time over the policy's. Fill difference: max / mean absolute difference "
        f"from float32's fill in the hole, 8-bit levels, same weights.",
    ]
    headers = ("model", "policy", "train (images/s)", "train speed-up",
               f"inference {size}x{size} (ms)", "inference speed-up", "fill difference")
    print_report("Zoo models under each dtype policy", notes, headers, rows)


if __name__ == "__main__":
    main()
