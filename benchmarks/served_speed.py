"""What TF Serving users get: the exported SavedModel's latency and memory on large photos.

For each zoo network as published (default: every entry with trained weights, as
`benchmarks.zoo_speed`), loaded once with ``zoo.load(name)``, exported with
`keras_inpaint.export.export_saved_model` into a temporary folder and loaded back with
``tf.saved_model.load`` (no Keras object is used from then on), on the images of
`benchmarks.zoo_speed` (one 512x512 and one 2048x1536, uniform noise, a centred rectangular
hole of 10 % of the pixels) and on the large one with `SCATTERED_GRID` scattered square holes
(a hole region each, so a crop each), as uint8 through the ``serving_default`` signature:

- the served latency, median of ``--repeats`` rounds after ``--warmup`` untimed calls (at
  least `GRAPH_MODE_MIN_CALLS`), interleaved with the reference measured in the same run:
  ``inpaint(image, mask, model=model)`` on the same image with the Keras model, by then
  through its `tf.function` (both fill a photo more than twice the model's training size in
  a crop around each hole region, so their ratio is the cost of the serving graph against
  the Python pipeline: uint8 conversions and the in-graph crops against NumPy and OpenCV);
- the served call's peak memory: TensorFlow's CPU allocator peak during one more call (see
  `benchmarks/common.py`; the graph's tensors, not the process's resident set).

``--quick`` measures the untrained tiny configurations of ``tests/tiny_models.py`` on 64x64
and 128x96 images (`QUICK_SCATTERED_GRID` holes) instead. A measurement that raises is a
``failed: ...`` cell.

    python -m benchmarks.served_speed [--quick] [--models gated_conv ...] [--repeats 3]
        [--warmup 1]
"""

import sys
import tempfile
import time

import numpy as np
import tensorflow as tf

from benchmarks.common import (
    benchmark_parser,
    describe_error,
    medians_or_errors,
    milliseconds,
    parse_arguments,
    print_report,
    random_images,
    rectangle_hole_masks,
    result_cell,
)
from benchmarks.zoo_speed import (
    HOLE_FRACTION,
    IMAGE_SIZES,
    NETWORKS,
    QUICK_IMAGE_SIZES,
    default_models,
    load_subject,
    mebibyte_cell,
    peak_or_error,
    release_models,
)
from keras_inpaint.export import OUTPUT_KEY, SERVING_SIGNATURE, export_saved_model
from keras_inpaint.inference import GRAPH_MODE_MIN_CALLS, inpaint

QUICK_SETTINGS = {"models": ["gated_conv"], "repeats": 1}
SCATTERED_GRID = (6, 8)
"""Rows and columns of the scattered holes on the large photo: 48 hole regions."""
QUICK_SCATTERED_GRID = (2, 2)
SCATTERED_HOLE_SIDE = 1 / 8
"""Each scattered hole's side, as a fraction of its grid cell's (centred in the cell)."""


def uint8_photo(height, width, grid=None):
    """``(image [H,W,3], mask [H,W,1])`` uint8 (hole 255): noise with the centred 10 % hole,
    or with one square hole centred in each cell of a `grid` of (rows, columns) cells."""
    image = np.round(random_images((height, width, 3)).numpy() * 255).astype(np.uint8)
    if grid is None:
        hole = rectangle_hole_masks(1, height, width, HOLE_FRACTION).numpy()[0]
    else:
        hole = np.zeros((height, width, 1), np.float32)
        cell_height, cell_width = height // grid[0], width // grid[1]
        side = max(1, round(min(cell_height, cell_width) * SCATTERED_HOLE_SIDE))
        for row in range(grid[0]):
            for column in range(grid[1]):
                top = row * cell_height + (cell_height - side) // 2
                left = column * cell_width + (cell_width - side) // 2
                hole[top : top + side, left : left + side] = 1.0
    return image, (hole * 255).astype(np.uint8)


def photos(quick):
    """``{label: (height, width, grid)}``: the centred-hole photos and the scattered one."""
    sizes = QUICK_IMAGE_SIZES if quick else IMAGE_SIZES
    grid = QUICK_SCATTERED_GRID if quick else SCATTERED_GRID
    cases = {f"{width}x{height}, centred hole": (height, width, None) for height, width in sizes}
    height, width = sizes[-1]
    cases[f"{width}x{height}, {grid[0] * grid[1]} scattered holes"] = (height, width, grid)
    return cases


def served_signature(model, folder):
    """The ``serving_default`` signature of `model` exported into `folder` and reloaded."""
    version = export_saved_model(model, folder, version=1)
    return tf.saved_model.load(str(version)).signatures[SERVING_SIGNATURE]


def calls(model, signature, photo):
    """``{"served": ..., "inpaint": ...}`` zero-argument calls on the `photo` of `photos`."""
    image, mask = uint8_photo(*photo)
    batch = {"image": tf.constant(image[None]), "mask": tf.constant(mask[None])}
    return {
        "served": lambda: signature(**batch)[OUTPUT_KEY],
        "inpaint": lambda: inpaint(image, mask[..., 0] > 0, model=model),
    }


def measure(name, cases, args):
    """The table rows of one model: one per photo."""
    try:
        subject = load_subject(name, args.quick)
        with tempfile.TemporaryDirectory() as folder:
            signature = served_signature(subject.model, folder)
            rows = []
            for label, photo in cases.items():
                functions = calls(subject.model, signature, photo)
                warmup = max(args.warmup, GRAPH_MODE_MIN_CALLS)  # inpaint() traced by then
                timings = medians_or_errors(functions, warmup, args.repeats)
                served, reference = timings["served"], timings["inpaint"]
                peak = "-" if isinstance(served, Exception) else result_cell(
                    peak_or_error(functions["served"]), mebibyte_cell)
                ratio = ("-" if isinstance(served, Exception) or isinstance(reference, Exception)
                         else f"{served / reference:.2f}")
                rows.append((subject.label, label, result_cell(served, milliseconds), peak,
                             result_cell(reference, milliseconds), ratio))
    except Exception as error:  # noqa: BLE001 -- e.g. a preset that does not load or export
        return [(name, "all", *[describe_error(error)] * 4)]
    return rows


HEADERS = ("model", "photo", "served (ms)", "served peak (MiB)", "inpaint() (ms)",
           "served / inpaint()")


def notes(args):
    return [
        f"Served: the `{SERVING_SIGNATURE}` signature of the exported SavedModel (uint8 in and "
        f"out); centred hole: a rectangle of {100 * HOLE_FRACTION:.0f} % of the pixels; "
        "scattered holes: squares of 1/8 of a grid cell's side, one per cell; "
        f"reference: `inpaint()` with the Keras model on the same image; medians of "
        f"{args.repeats} interleaved rounds after "
        f"{max(args.warmup, GRAPH_MODE_MIN_CALLS)} warm-up calls (`inpaint()` runs its "
        "`tf.function` by then); peak: "
        "TensorFlow's CPU allocator during one served call (tensors of 256 KiB or more).",
    ]


def main():
    parser = benchmark_parser(__doc__, repeats=3)
    parser.add_argument("--models", nargs="+", choices=NETWORKS, default=None,
                        help="zoo networks (default: those with trained weights, else all)")
    args = parse_arguments(parser, QUICK_SETTINGS)
    models = args.models or default_models()
    cases = photos(args.quick)
    start = time.perf_counter()
    rows = []
    for name in models:
        print(f"[{time.perf_counter() - start:6.0f} s] {name}", file=sys.stderr)
        rows += measure(name, cases, args)
        release_models()
    print(f"[{time.perf_counter() - start:6.0f} s] done", file=sys.stderr)
    print_report("Zoo models served: SavedModel latency and memory against `inpaint()`",
                 notes(args), HEADERS, rows)


if __name__ == "__main__":
    main()
