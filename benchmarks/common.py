"""Timing and reporting helpers shared by the benchmark scripts.

The machines these benchmarks run on are shared and noisy, so every script times its
reference in the same run as the thing it measures, *interleaved*: each round calls every
candidate once, in a rotated order, and the reported figure is the median over rounds. Ratios
of medians measured this way are far more stable than absolute times.

Peak memory is TensorFlow's own allocator statistic for the CPU device
(`tf.config.experimental.get_memory_info("CPU:0")["peak"]` after `reset_memory_stats`): the
tensors TensorFlow holds during the call, live inputs included; not Python objects and not the
process's resident set size. Checked on TensorFlow 2.21 CPU: an 8x128x128x64 float32 input
(32 MiB) convolved to 64 channels reports a 64 MiB peak (input and output); the same
convolution compiled with XLA reports 96 MiB, so XLA's buffers are counted as well. Only
allocations of 256 KiB or more are counted: the statistic is that of oneDNN's CPU allocator
(TensorFlow's default on x86; with ``TF_ENABLE_ONEDNN_OPTS=0`` there is none), whose pool for
smaller allocations keeps no statistics (checked: a 200,000-byte tensor adds 0 bytes, a
262,144-byte one 262,144). Activations at image sizes are counted; most weights of a
convolutional network (a 3x3x64x64 kernel is 144 KiB) are not.
"""

import argparse
import inspect
import os
import platform
import re
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

# Keep Python-side TensorFlow warnings out of the printed tables (e.g. "triggered tf.function
# retracing": each benchmark wraps the same step code in several tf.functions on purpose).
tf.get_logger().setLevel("ERROR")

MEMORY_DEVICE = "CPU:0"
BYTES_PER_MIB = 2**20
FLOPS_PER_MULTIPLY_ADD = 2
JIT_MODES = ("graph", "xla")
TRAIN_HOLE_FRACTION = 0.25
"""Area of the per-sample rectangular holes in the training batches (`training_batch`)."""
KERAS_CALL_ERROR = re.compile(
    r"Exception encountered when calling [^\n]*\n(.*?)(?:\n\s*Arguments received by|$)", re.DOTALL
)
"""Keras' wrapper of an error raised in a layer's or model's ``call``; group 1 is the message."""
TERMINAL_ESCAPES = re.compile(r"\x1b\[[0-9;]*m")
"""ANSI colour codes (Keras prints the wrapped message in bold)."""


def benchmark_parser(description, repeats, warmup=1):
    """An `ArgumentParser` with the options every script shares.

    ``--quick`` (tiny shapes, one round: a smoke run of a few seconds), ``--repeats`` (timed
    rounds; the median is reported), ``--warmup`` (untimed rounds first: tracing, XLA
    compilation, allocator warm-up) and ``--jit`` (which `tf.function` modes to run: "graph"
    and / or "xla"; `jit_modes(args)` gives them as ``jit_compile`` flags).
    """
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny shapes, one round (smoke run)")
    parser.add_argument("--repeats", type=int, default=repeats, help="timed rounds (median)")
    parser.add_argument("--warmup", type=int, default=warmup, help="untimed rounds first")
    parser.add_argument(
        "--jit",
        nargs="+",
        choices=JIT_MODES,
        default=list(JIT_MODES),
        help="tf.function modes to measure: graph (jit_compile=False) and/or xla",
    )
    return parser


def jit_modes(args):
    """The ``jit_compile`` flags selected by ``--jit``, graph mode first."""
    return [mode == "xla" for mode in JIT_MODES if mode in args.jit]


def parse_arguments(parser, quick_defaults):
    """Parse the command line; with ``--quick``, `quick_defaults` replace the defaults (options
    given explicitly still win)."""
    args = parser.parse_args()
    if args.quick:
        parser.set_defaults(**quick_defaults)
        args = parser.parse_args()
    return args


def finish_outputs(outputs):
    """Bring every tensor of a (nested) result to the host, so the timed call has finished."""
    return tf.nest.map_structure(
        lambda value: value.numpy() if hasattr(value, "numpy") else value, outputs
    )


def interleaved_timings(functions, repeats, warmup=1):
    """Time zero-argument callables round by round; returns ``{name: [seconds, ...]}``.

    Each of the `warmup` rounds calls every function once untimed (tracing, compilation);
    each of the `repeats` timed rounds then calls every function once, starting at a
    different one each round (rotation), so slow phases of a noisy machine hit all
    candidates alike. A function's outputs are fetched to the host inside its timing.

    Args:
        functions: ``{name: callable}``; insertion order is the first round's order.
        repeats: timed rounds (>= 1).
        warmup: untimed rounds first (>= 0).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, received {repeats}")
    names = list(functions)
    for _ in range(warmup):
        for name in names:
            finish_outputs(functions[name]())
    timings = {name: [] for name in names}
    for round_index in range(repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            finish_outputs(functions[name]())
            timings[name].append(time.perf_counter() - start)
    return timings


def medians(timings):
    """``{name: median seconds}`` of `interleaved_timings`' result."""
    return {name: statistics.median(values) for name, values in timings.items()}


def medians_or_errors(functions, warmup, repeats):
    """``{name: median seconds, or the exception the function raised}``.

    Like `interleaved_timings` + `medians`, but each function is first warmed up alone (at
    least one call: tracing, XLA compilation), so one that fails (say, an op without an XLA
    kernel) drops out alone; the others are then timed interleaved.
    """
    results, working = {}, {}
    for name, function in functions.items():
        try:
            for _ in range(max(1, warmup)):
                finish_outputs(function())
        except Exception as error:  # noqa: BLE001 -- a failed measurement is a table entry
            results[name] = error
        else:
            working[name] = function
    if working:
        results.update(medians(interleaved_timings(working, repeats, warmup=0)))
    return results


def training_call(model, batch, jit_compile):
    """A zero-argument callable running ``model.train_step(batch)`` in a `tf.function`."""
    function = compiled(model.train_step, jit_compile)
    return lambda: function(batch)


def training_timings(model, batch, modes, warmup, repeats):
    """``{jit_compile: median seconds of one train step, or the exception}`` for `modes`.

    Compiles `model` (its paper optimizers), then times ``model.train_step(batch)`` in one
    `tf.function` per mode, interleaved (`medians_or_errors`: a mode that fails, e.g. without
    an XLA kernel, drops out alone). An error in compiling is every mode's result.
    """
    try:
        model.compile()
    except Exception as error:  # noqa: BLE001 -- a failed measurement is a table entry
        return dict.fromkeys(modes, error)
    functions = {jit: training_call(model, batch, jit) for jit in modes}
    return medians_or_errors(functions, warmup, repeats)


def training_batch(batch, height, width, seed=0):
    """``{"image", "mask"}``: `batch` random images of `height` x `width` with per-sample
    rectangular holes of `TRAIN_HOLE_FRACTION` of the area."""
    return {
        "image": random_images((batch, height, width, 3), seed=seed),
        "mask": rectangle_hole_masks(batch, height, width, TRAIN_HOLE_FRACTION, seed=seed),
    }


def peak_memory_bytes(function):
    """Peak bytes held by TensorFlow's CPU allocator while `function()` runs (see module doc:
    allocations under 256 KiB are not counted).

    Call `function` once before (tracing and compilation allocate too, and are not what is
    being measured).
    """
    tf.config.experimental.reset_memory_stats(MEMORY_DEVICE)
    finish_outputs(function())
    return tf.config.experimental.get_memory_info(MEMORY_DEVICE)["peak"]


def mebibytes(num_bytes):
    return num_bytes / BYTES_PER_MIB


def compiled(function, jit_compile):
    """`tf.function(function)`, XLA-compiled when `jit_compile`."""
    return tf.function(function, jit_compile=jit_compile)


def jit_label(jit_compile):
    return "xla" if jit_compile else "graph"


def default_argument(model_class, name):
    """The default value of the constructor argument `name` of `model_class`."""
    return inspect.signature(model_class.__init__).parameters[name].default


def random_images(shape, seed=0):
    """A float32 tensor of uniform [0, 1) values of `shape`."""
    return tf.constant(np.random.default_rng(seed).random(shape, dtype=np.float32))


def rectangle_hole_masks(batch, height, width, hole_fraction, seed=None):
    """``[batch, height, width, 1]`` float32 masks, 1 = hole: a rectangle of about
    `hole_fraction` of the image area with the image's aspect ratio, centred when `seed` is
    None, else at a random position per sample."""
    if not 0.0 < hole_fraction < 1.0:
        raise ValueError(f"hole_fraction must be in (0, 1), received {hole_fraction}")
    side = hole_fraction**0.5
    hole_height, hole_width = max(1, round(height * side)), max(1, round(width * side))
    if seed is None:
        tops = np.full(batch, (height - hole_height) // 2)
        lefts = np.full(batch, (width - hole_width) // 2)
    else:
        rng = np.random.default_rng(seed)
        tops = rng.integers(0, height - hole_height + 1, batch)
        lefts = rng.integers(0, width - hole_width + 1, batch)
    masks = np.zeros((batch, height, width, 1), np.float32)
    for mask, top, left in zip(masks, tops, lefts):
        mask[top : top + hole_height, left : left + hole_width] = 1.0
    return tf.constant(masks)


def machine_summary():
    """One line: load average, CPUs, TensorFlow / Keras versions, platform."""
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"load average (1, 5, 15 min): {load}; {os.cpu_count()} CPUs; "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}; {platform.platform()}"
    )


def markdown_table(headers, rows):
    """A Markdown table (a string) of `rows` (sequences of cells, formatted with `str`)."""
    lines = [
        "| " + " | ".join(str(cell) for cell in headers) + " |",
        "|" + "|".join(" --- " for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def print_report(title, notes, headers, rows):
    """Print a Markdown section: title, machine summary, notes, then the table."""
    print(f"### {title}\n")
    print(machine_summary() + "\n")
    for note in notes:
        print(note)
    if notes:
        print()
    print(markdown_table(headers, rows))
    print(flush=True)


def milliseconds(seconds):
    return f"{1000.0 * seconds:.1f}"


def images_per_second(batch):
    """A cell formatter: seconds of one step on `batch` images -> images per second."""
    return lambda seconds: f"{batch / seconds:.2f}"


def result_cell(result, formatter):
    """`formatter(result)`, or `describe_error(result)` when the measurement raised."""
    return describe_error(result) if isinstance(result, Exception) else formatter(result)


def describe_error(error, max_length=160):
    """Short cell text for a measurement that raised: the type and the message's first line
    (its last line after TensorFlow's "in user code:" traceback); for XLA's "unsupported
    operations" error, just the op that has no XLA kernel; for an error that Keras wrapped in
    "Exception encountered when calling <class>.call()." (eagerly or inside a `tf.function`),
    the first line of the wrapped message."""
    text = str(error)
    missing_kernel = re.search(r"unsupported operations .*? on XLA_\w+: (\w+)", text)
    if missing_kernel:
        return f"failed: no XLA kernel for {missing_kernel.group(1)}"
    keras_call = KERAS_CALL_ERROR.search(text)
    if keras_call:
        text = TERMINAL_ESCAPES.sub("", keras_call.group(1))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines and lines[0].startswith("in user code"):
        lines = lines[-1:]
    message = lines[0][:max_length].replace("|", "/") if lines else ""
    return f"failed: {type(error).__name__}" + (f" ({message})" if message else "")
