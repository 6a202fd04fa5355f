"""The benchmark scripts run (``--quick``) and print Markdown tables; their helpers are right.

The scripts are started together in subprocesses (module fixture) so that their start-up
(importing TensorFlow, tracing) overlaps; each test then waits for its own script.
"""

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from benchmarks import (
    common,
    bare_convolutions,
    eager_vs_graph,
    flops,
    precision_speed,
    zoo_speed,
)
from benchmarks.flops import attention_multiply_adds, count_multiply_adds
from keras_inpaint import zoo
from keras_inpaint.layers import ChannelwiseDense, ContextualAttention, GatedConv2D, PartialConv2D
from keras_inpaint.models import get_model_class
from keras_inpaint.models.gated_conv import GatedConvInpainter
from keras_inpaint.models.partial_conv import PartialConvInpainter
from tests.tiny_models import TINY_CONFIGS

ROOT = Path(__file__).resolve().parents[1]
SCRIPT_TIMEOUT_SECONDS = 240
SCRIPTS = {
    "layer_overhead": ("PartialConv2D", "GatedConv2D"),
    "contextual_attention_speed": ("vectorised", "per-sample loop"),
    "model_speed": ("gated_conv", "latent_search", "extrapolated"),
    "flops": (
        "gated_conv (width 8)",
        "% of Conv2D limit",
        "32x32, network at its native 128x128",
        "64x64 (native), one G(z)",
        "1500 x 4 forward + backward passes",
    ),
    "zoo_speed": ("gated_conv (untrained, width 4)", "latent_search (untrained", "latency 128x96"),
    "served_speed": ("gated_conv (untrained, width 4)", "128x96, 4 scattered holes"),
    "eager_vs_graph": ("gated_conv (untrained, width 4)", "partial_conv (untrained", "break-even"),
    "resize_speed": ("64x48", "op, graph", "matrices, xla"),
    "precision_speed": ("gated_conv (untrained, width 4)", "| mixed_bfloat16 |", "fill difference"),
    "bare_convolutions": ("gated_conv (width 8)", "bare convolutions (their MACs)", " ms, ",
                          "| GatedConv2D | 64x64x3 | 5x5x3x8 | 1x1 | 1x1 | 2 |"),
}


@pytest.fixture(scope="module")
def quick_runs():
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    environment = dict(os.environ, PYTHONPATH=path)
    processes = {
        name: subprocess.Popen(
            [sys.executable, "-m", f"benchmarks.{name}", "--quick"],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in SCRIPTS
    }
    yield processes
    for process in processes.values():
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_break_even_is_tracing_cost_over_saving_per_call():
    assert eager_vs_graph.break_even(eager=0.5, graph=0.2, first=2.0) == "6"  # 1.8 / 0.3
    assert eager_vs_graph.break_even(eager=0.5, graph=0.2, first=0.1) == "1"
    assert eager_vs_graph.break_even(eager=0.2, graph=0.2, first=2.0) == "never"


def markdown_tables(text):
    """Every Markdown table in `text` as a list of rows (lists of cell strings)."""
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            current.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif current:
            tables.append(current)
            current = []
    return tables


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_quick_run_prints_a_table(quick_runs, name):
    stdout, stderr = quick_runs[name].communicate(timeout=SCRIPT_TIMEOUT_SECONDS)
    assert quick_runs[name].returncode == 0, stderr[-3000:]
    tables = markdown_tables(stdout)
    assert tables, stdout
    for table in tables:
        header, separator, *rows = table
        assert all(re.fullmatch(r"-{3,}", cell) for cell in separator), table
        assert rows, table
        assert all(len(row) == len(header) for row in rows), table
    assert "failed:" not in stdout, stdout
    for expected in SCRIPTS[name]:
        assert expected in stdout, stdout
    assert "load average" in stdout


def test_interleaved_timings_rotates_the_order():
    calls = []
    functions = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    timings = common.interleaved_timings(functions, repeats=3, warmup=1)
    assert "".join(calls) == "abc" + "abc" + "bca" + "cab"
    assert {name: len(values) for name, values in timings.items()} == {"a": 3, "b": 3, "c": 3}
    assert all(value >= 0 for values in timings.values() for value in values)
    with pytest.raises(ValueError, match="repeats must be at least 1"):
        common.interleaved_timings(functions, repeats=0)


def test_medians_or_errors_drops_only_the_failing_function():
    calls = []

    def failing():
        calls.append("x")
        raise RuntimeError("no kernel")

    functions = {"a": lambda: calls.append("a"), "x": failing, "b": lambda: calls.append("b")}
    results = common.medians_or_errors(functions, warmup=1, repeats=2)
    assert isinstance(results["x"], RuntimeError)
    assert results["a"] >= 0 and results["b"] >= 0
    assert "".join(calls) == "axb" + "ab" + "ba"


def test_medians_and_markdown_table():
    assert common.medians({"a": [3.0, 1.0, 2.0], "b": [4.0, 8.0]}) == {"a": 2.0, "b": 6.0}
    table = common.markdown_table(("x", "y"), [(1, "p"), (2.5, "q")])
    assert table.splitlines() == ["| x | y |", "| --- | --- |", "| 1 | p |", "| 2.5 | q |"]


def test_rectangle_hole_masks():
    centred = common.rectangle_hole_masks(2, 20, 40, 0.25).numpy()
    assert centred.shape == (2, 20, 40, 1)
    assert set(np.unique(centred)) == {0.0, 1.0}
    rows, columns = np.nonzero(centred[0, ..., 0])
    assert (rows.min(), rows.max(), columns.min(), columns.max()) == (5, 14, 10, 29)
    placed = common.rectangle_hole_masks(16, 20, 40, 0.25, seed=3).numpy()
    assert np.all(placed.sum(axis=(1, 2, 3)) == 10 * 20)
    assert len({placed[i].tobytes() for i in range(16)}) > 1
    with pytest.raises(ValueError, match="hole_fraction"):
        common.rectangle_hole_masks(1, 8, 8, 1.5)


def test_peak_memory_counts_the_output():
    size = 256
    inputs = np.ones((size, size), np.float32)
    peak = common.peak_memory_bytes(lambda: keras.ops.convert_to_tensor(inputs) * 2.0)
    assert peak >= inputs.nbytes


def test_count_multiply_adds_matches_hand_count():
    image = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same")(image)
    x = GatedConv2D(4, 3)(x)
    y, _ = PartialConv2D(2, 3)(x, keras.ops.ones_like(x[..., :1]))
    y = keras.layers.Conv2DTranspose(2, 4, strides=2, padding="same")(y)
    attended = ContextualAttention(rate=2)(x, x, None)
    network = keras.Model(image, [y, attended])

    counts = count_multiply_adds(network, 16)

    positions = 8 * 8  # every layer but the transposed convolution's output works at 8x8
    convolution = positions * 3 * 3 * 3 * 4
    gated = positions * 3 * 3 * 4 * (2 * 4)
    partial = positions * 3 * 3 * 4 * 2 + positions * 3 * 3
    transposed = positions * 4 * 4 * 2 * 2
    pairs = (4 * 4) * (4 * 4)  # 8x8 features at rate 2: 16 queries x 16 patches
    attention = pairs * 3 * 3 * 4 + 2 * pairs * 3 * 3 + pairs * 4 * 4 * 4
    assert counts == {"conv": convolution + gated + partial + transposed, "attention": attention}


def test_count_of_a_single_conv2d_is_the_hand_count():
    height, width, channels, filters, kernel = 10, 12, 3, 5, 3
    image = keras.Input((height, width, channels))
    layer = keras.layers.Conv2D(filters, kernel, padding="same", dilation_rate=2)
    network = keras.Model(image, layer(image))
    counts = count_multiply_adds(network, 99)  # fixed input size: 99 is not used
    assert counts == {"conv": height * width * channels * filters * kernel * kernel, "attention": 0}
    assert "call" not in vars(layer)  # the recording wrapper is gone


def test_count_of_dense_layers_is_the_hand_count():
    z = keras.Input((7,))
    x = keras.layers.Reshape((2, 3, 4))(keras.layers.Dense(24)(z))
    network = keras.Model(z, ChannelwiseDense()(x))
    assert count_multiply_adds(network, 16) == {"conv": 7 * 24 + 4 * 6 * 6, "attention": 0}


def test_count_refuses_a_layer_with_weights_it_cannot_count():
    image = keras.Input((None, None, 3))
    network = keras.Model(image, keras.layers.DepthwiseConv2D(3)(image))
    with pytest.raises(TypeError, match="no multiply-add count for DepthwiseConv2D"):
        count_multiply_adds(network, 8)


@pytest.mark.parametrize("name", sorted(TINY_CONFIGS))
def test_every_model_kind_has_a_positive_count(name):
    model = get_model_class(name)(**TINY_CONFIGS[name])
    case = flops.make_case(flops.Subject(name, name, model), 64)
    assert not isinstance(case.counts, Exception), case.counts
    assert case.counts["conv"] > 0
    has_attention = name in ("gated_conv", "contextual_attention")
    assert (case.counts["attention"] > 0) == has_attention


def test_count_follows_the_real_forward_pass():
    model = GatedConvInpainter(image_size=32, width=4)
    subject = flops.Subject("gated_conv", "gated_conv", model)
    # 60x60 images are padded to 64x64 (a multiple of 8) before the generator runs.
    assert flops.make_case(subject, 60).counts == count_multiply_adds(model.generator, 64)
    model = get_model_class("context_encoder")(**TINY_CONFIGS["context_encoder"])
    subject = flops.Subject("context_encoder", "context_encoder", model)
    counts = [flops.make_case(subject, size).counts for size in (16, 64)]
    assert counts[0] == counts[1] == count_multiply_adds(model.generator, 32)
    assert flops.size_cell(flops.make_case(subject, 64)) == "64x64, network at its native 32x32"


def test_a_failing_count_is_a_cell():
    model = get_model_class("gated_conv")(**TINY_CONFIGS["gated_conv"])
    case = flops.make_case(flops.Subject("gated_conv", "gc", model), 0)
    cells = flops.count_cells(case.counts)
    assert cells[0].startswith("failed: ValueError (images must be at least 1x1 pixels")
    assert cells[1] == "-"


def test_flops_models_as_published_or_at_a_width(tmp_path, monkeypatch):
    preset = PartialConvInpainter(image_size=32, depth=3, width=4)
    metadata = {"name": "partial_conv", "image_size": [32, 32]}
    zoo.write_preset(
        tmp_path / "partial_conv", preset, preset.save_weights, metadata, lambda complete: "card"
    )
    monkeypatch.setattr(zoo, "ZOO_ROOT", tmp_path)
    assert flops.parse_model("pconv") == ("partial_conv", None)
    assert flops.parse_model("gated_conv:24") == ("gated_conv", 24)
    published = flops.load_subject("partial_conv", None)
    assert published.label == "partial_conv (width 4, depth 3; zoo preset)"
    assert flops.load_subject("partial_conv", 8).label == "partial_conv (width 8, depth 8)"
    default = flops.load_subject("latent_search", None)
    assert default.label == "latent_search (width 64; default config, no preset)"
    for spec, message in (("telea", "classical"), ("nope", "unknown"), ("gated_conv:x", "width")):
        with pytest.raises(ValueError, match=message):
            flops.parse_model(spec)


def test_attention_multiply_adds_with_stride_and_batch():
    layer = ContextualAttention(rate=1, stride=2, fuse_size=1, patch_size=3)
    pairs = (6 * 6) * (3 * 3)
    expected = 2 * (pairs * 3 * 3 * 5 + pairs * 2 * 2 * 5)
    assert attention_multiply_adds(layer, (2, 6, 6, 5)) == expected


def test_describe_error():
    missing_kernel = RuntimeError(
        "Detected unsupported operations when trying to compile graph f[_XlaMustCompile=true] "
        "on XLA_CPU_JIT: ScaleAndTranslate (No registered 'ScaleAndTranslate' OpKernel)"
    )
    assert common.describe_error(missing_kernel) == "failed: no XLA kernel for ScaleAndTranslate"
    traced = ValueError("in user code:\n\n  File x.py\n  ValueError: size | 3 is odd\n")
    assert common.describe_error(traced) == "failed: ValueError (ValueError: size / 3 is odd)"
    assert common.describe_error(KeyError()) == "failed: KeyError"


def test_describe_error_unwraps_keras_call_errors():
    message = (
        "Exception encountered when calling Model.call().\n\n\x1b[1mpadding='symmetric' needs "
        "64x64\x1b[0m\n\nArguments received by Model.call():\n  \u2022 training=False"
    )
    expected = "failed: ValueError (padding='symmetric' needs 64x64)"
    assert common.describe_error(ValueError(message)) == expected
    traced = "in user code:\n\n  File x.py\n  ValueError: " + message.replace("\n", "\n    ")
    assert common.describe_error(ValueError(traced)) == expected


def test_zoo_speed_training_settings_from_metadata():
    metadata = {"image_size": [96, 128], "run": {"batch_size": 16}}
    assert zoo_speed.training_settings(metadata) == ((96, 128), 16)
    assert zoo_speed.training_settings({"image_size": 64, "run": {}}) == ((64, 64), 8)
    assert zoo_speed.training_settings({}) == ((128, 128), 8)


def test_zoo_speed_loads_a_published_preset(tmp_path, monkeypatch):
    model = GatedConvInpainter(image_size=32, width=4)
    metadata = {"name": "gated_conv", "image_size": [32, 32], "run": {"batch_size": 3}}
    zoo.write_preset(
        tmp_path / "gated_conv", model, model.save_weights, metadata, lambda complete: "card"
    )
    monkeypatch.setattr(zoo, "ZOO_ROOT", tmp_path)
    assert zoo_speed.default_models() == ["gated_conv"]
    subject = zoo_speed.load_subject("gated_conv", quick=False)
    assert (subject.label, subject.training_size, subject.batch_size) == ("gated_conv", (32, 32), 3)
    assert subject.trained and subject.model.width == 4
    assert not zoo_speed.load_subject("gated_conv", quick=True).trained


def test_zoo_speed_reports_a_failing_image_size_in_its_cells():
    def model(batch):
        if batch["image"].shape[1] > 8:
            raise MemoryError("out of memory")
        return batch["image"]

    arguments = argparse.Namespace(warmup=1, repeats=1)
    cells = zoo_speed.inference_cells(model, ((8, 8), (16, 16)), arguments)
    assert float(cells[0]) >= 0 and float(cells[1]) >= 0
    assert cells[2:] == ["failed: MemoryError (out of memory)", "-"]


def test_precision_fill_difference_is_in_eight_bit_levels_inside_the_hole():
    reference = np.zeros((1, 4, 4, 3), np.float32)
    outputs = reference.copy()
    outputs[0, 0, 0, 0] = 1.0  # outside the hole: not counted
    outputs[0, 1, 1, 2] = 2.0 / 255.0
    hole = np.zeros((1, 4, 4, 1), np.float32)
    hole[0, 1:3, 1:3] = 1.0
    largest, mean = precision_speed.fill_difference(outputs, reference, hole)
    assert largest == pytest.approx(2.0) and mean == pytest.approx(2.0 / 12)


@pytest.mark.parametrize("name", ["gated_conv", "global_local"])
def test_bare_convolutions_are_the_layers_convolutions_and_their_count(name):
    """The replayed bare convolutions are the recorded layers' convolutions: with the bias
    added, what each layer's convolution computed (Conv2D, GatedConv2D's inner one before
    its gating, Conv2DTranspose; all of these two models' layers without activation); and
    their MACs are `flops.py`'s count of those layers (for these models, all their MACs but
    the attention's)."""
    model = get_model_class(name)(**TINY_CONFIGS[name])
    case = flops.make_case(flops.Subject(name, name, model), 64, keep_calls=True)
    function, arguments = bare_convolutions.replayed(
        case.calls, bare_convolutions.CONVOLUTIONS, bare_convolutions.bare_convolution
    )
    outputs = function(arguments)
    kinds = bare_convolutions.CONVOLUTIONS
    convolutions = [call for call in case.calls if isinstance(call[0], kinds)]
    assert len(outputs) == len(convolutions) > 0
    checked = set()
    for (layer, args, kwargs, output), bare in zip(convolutions, outputs):
        inner = layer.conv if isinstance(layer, GatedConv2D) else layer
        if inner.activation not in (None, keras.activations.linear):
            continue
        expected = inner(args[0]) if isinstance(layer, GatedConv2D) else layer.call(*args, **kwargs)
        bias = inner.bias if inner.use_bias else 0.0
        np.testing.assert_allclose(bare + bias, expected, rtol=1e-4, atol=1e-4)
        checked.add(type(layer).__name__)
    assert checked >= ({"GatedConv2D", "Conv2D"} if name == "gated_conv" else {"Conv2DTranspose"})
    macs = bare_convolutions.convolution_multiply_adds(case.calls)
    assert macs == case.counts["conv"]
    groups = bare_convolutions.calls_by_shape(case.calls)
    assert sum(len(calls) for calls in groups.values()) == len(convolutions)
    assert macs == sum(len(calls) * flops.call_multiply_adds(*calls[0])[1]
                       for calls in groups.values())
