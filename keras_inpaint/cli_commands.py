"""The ``keras-inpaint`` sub-commands: train, evaluate, inpaint, list, export, publish, repack,
convert.

    keras-inpaint train MODEL --data PATH|tfds:NAME --output DIR [--init-from RUN|ZOO] [options]
    keras-inpaint evaluate MODEL... --images DIR --masks DIR [--out REPORT.md] [--set LABEL.KEY=V]
    keras-inpaint inpaint IMAGE [MASK] -o OUT [--model NAME] [--postprocess poisson]
                          [--compare SIDE_BY_SIDE.png] [--mask-threshold T]
    keras-inpaint inpaint IMAGE_DIR [MASK_DIR] -o OUT_DIR [...]     (masks matched by file stem)
    keras-inpaint list
    keras-inpaint export NAME DIR [--version N] [--weights zoo|none]
    keras-inpaint publish RUN_DIR zoo/NAME [--score psnr=24.1 ...] [--float16|--int8]
                  [--generator-only] [--evaluation REPORT.json] [--notes NOTES.md] [--overwrite]
    keras-inpaint repack NAME|PRESET DIR [--float16|--int8] [--evaluation REPORT.json]
                 [--notes NOTES.md] [--overwrite]
    keras-inpaint convert deepfill_v1|deepfill_v2 CHECKPOINT OUT_DIR [--name NAME]

`keras_inpaint.cli` builds the parser and registers these with ``add_*_parser(subparsers)``
(`SUBCOMMANDS`); each handler is a thin layer over a Python function named in its help
(`keras_inpaint.training`, `keras_inpaint.evaluation`, `keras_inpaint.inference`,
`keras_inpaint.zoo`, `keras_inpaint.export`, `keras_inpaint.convert`). Errors in the user's
input are ValueError / OSError, which the CLI prints as one line with exit status 2; counts
that must be positive are checked by argparse (`positive_int`), output paths before the long
work (`_prepare_output_files`). Heavy modules are imported by the handlers, so building the
parser stays fast (no TensorFlow).
"""

import argparse
import json
import os
import sys
from pathlib import Path

from keras_inpaint.scores import score_text

OUTPUT_SUFFIX = ".png"
"""Folder mode writes lossless PNG files named after the input's stem."""


def positive_int(text):
    """An argparse type: an integer >= 1 (counts, sizes, intervals)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, received {text!r}")
    return value


def fraction(text):
    """An argparse type: a number in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), received {text!r}")
    return value


# ---- train -----------------------------------------------------------------------------------


def add_train_parser(subparsers):
    parser = subparsers.add_parser(
        "train",
        help="train a model (keras_inpaint.training.train)",
        description="Train a model on an image folder or a TFDS dataset.",
    )
    parser.add_argument("model", help="model name (see `keras-inpaint list`) or module:Class")
    parser.add_argument("--data", required=True, help="image folder or tfds:NAME")
    parser.add_argument("--output", required=True, help="run directory")
    parser.add_argument("--image-size", type=positive_int, default=256)
    parser.add_argument("--batch-size", type=positive_int, default=8)
    parser.add_argument("--steps", type=positive_int, default=1000, help="total steps of the run")
    parser.add_argument("--masks", default=None, help="mask generator spec (model default)")
    parser.add_argument("--mixed-precision", choices=["float16", "bfloat16"], default=None)
    parser.add_argument(
        "--strategy", choices=["default", "mirrored", "multi-worker"], default="default"
    )
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    parser.add_argument(
        "--init-from",
        default=None,
        metavar="RUN|MODEL",
        help="fine-tune: start from a finished run's weights, a .keras file or a zoo model "
        "(its architecture arguments, e.g. width, unless set with --set)",
    )
    parser.add_argument("--jit-compile", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--zoom", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
        help="range of the random zoom-in of the training crops, 1 <= LOW <= HIGH "
        "(default 1 2; 1 1: no zoom-in, each crop the largest region of its photo with the "
        "crop's aspect ratio)",
    )
    parser.add_argument("--checkpoint-every", type=positive_int, default=500)
    parser.add_argument("--log-every", type=positive_int, default=50)
    parser.add_argument("--image-every", type=positive_int, default=500)
    parser.add_argument("--validation-images", default=None, metavar="DIR",
                        help="held-out photos to score the model on while it trains")
    parser.add_argument("--validation-masks", default=None, metavar="DIR",
                        help="masks paired with --validation-images (both or neither)")
    parser.add_argument("--validation-stride", type=positive_int, default=1,
                        help="use every N-th validation mask")
    parser.add_argument("--validate-every", type=positive_int, default=None,
                        help="steps between validations (default: --checkpoint-every)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model constructor argument, e.g. --set width=16 (repeatable)",
    )
    parser.set_defaults(handler=run_train)


def run_train(args):
    from keras_inpaint import training

    training.train(
        args.model,
        args.data,
        args.output,
        image_size=args.image_size,
        batch_size=args.batch_size,
        steps=args.steps,
        masks=args.masks,
        mixed_precision=args.mixed_precision,
        strategy=args.strategy,
        resume=args.resume,
        jit_compile=args.jit_compile,
        overrides=training.parse_overrides(args.overrides),
        init_from=args.init_from,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        log_every=args.log_every,
        image_every=args.image_every,
        validation_images=args.validation_images,
        validation_masks=args.validation_masks,
        validation_stride=args.validation_stride,
        validate_every=args.validate_every,
        zoom=training.DEFAULT_ZOOM if args.zoom is None else tuple(args.zoom),
        command=" ".join(["keras-inpaint", *sys.argv[1:]]),
    )


# ---- evaluate --------------------------------------------------------------------------------


def add_evaluate_parser(subparsers):
    parser = subparsers.add_parser(
        "evaluate",
        help="score methods per hole-ratio bin (keras_inpaint.evaluation.evaluate)",
        description="Score zoo models and classical fills side by side on photos and masks.",
    )
    parser.add_argument(
        "models",
        nargs="+",
        help="zoo names, preset folders or .keras files; LABEL=PATH names a column (e.g. "
        "gated_conv=runs/gc/model.keras)",
    )
    parser.add_argument("--images", required=True, help="folder of photos")
    parser.add_argument("--masks", required=True, help="folder of masks (white = hole)")
    parser.add_argument("--size", type=positive_int, default=256, help="evaluation resolution")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="use only the first N masks")
    parser.add_argument("--stride", type=positive_int, default=1,
                        help="use every N-th mask (a subset spread over the bins)")
    parser.add_argument("--batch-size", type=positive_int, default=8)
    parser.add_argument("--out", default=None, help="write the Markdown report here")
    parser.add_argument("--json", default=None,
                        help="write the scores as JSON here (`keras-inpaint publish --evaluation`)")
    parser.add_argument("--contact-sheet", default=None, help="write a PNG contact sheet here")
    parser.add_argument("--contact-rows", type=positive_int, default=4,
                        help="rows of the contact sheet")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="LABEL.KEY=VALUE",
        help="a constructor argument of one method, e.g. --set latent_search.search_steps=200 "
        "(repeatable; recorded in the --json protocol)",
    )
    parser.add_argument(
        "--postprocess",
        dest="postprocessors",
        action="append",
        default=[],
        metavar="LABEL=NAME",
        help="score one method after a post-processor, e.g. --postprocess gated_conv=poisson "
        "(Iizuka et al.'s Poisson blending; repeatable; recorded in the --json protocol)",
    )
    parser.add_argument(
        "--flips",
        dest="flip_counts",
        action="append",
        default=[],
        metavar="LABEL=N",
        help="score one model as the mean of its fills of N mirror images, N 2 or 4 "
        "(keras_inpaint.ensemble.FlipEnsemble; repeatable; recorded in the --json protocol)",
    )
    parser.set_defaults(handler=run_evaluate)


def method_overrides(assignments, labels):
    """``["label.key=value", ...]`` -> ``{label: {key: value}}`` for the given method labels."""
    from keras_inpaint import training

    overrides = {}
    for assignment in assignments:
        label, rest = _split_method_label(assignment, ".", "--set LABEL.KEY=VALUE", labels)
        overrides.setdefault(label, {}).update(training.parse_overrides([rest]))
    return overrides


def method_postprocessors(assignments, labels):
    """``["label=name", ...]`` -> ``{label: name}``, each name a known post-processor."""
    from keras_inpaint.postprocess import get_postprocessor

    def known(name):
        get_postprocessor(name)  # raises for an unknown name
        return name

    return _one_per_label(assignments, labels, "--postprocess", "NAME", known)


def method_flips(assignments, labels):
    """``["label=n", ...]`` -> ``{label: n}``, each n a flip count of `FlipEnsemble`."""
    from keras_inpaint.ensemble import FLIP_COUNTS

    def count(text):
        if text not in [str(n) for n in FLIP_COUNTS]:
            raise ValueError(f"--flips expects N one of {FLIP_COUNTS}, received {text!r}")
        return int(text)

    return _one_per_label(assignments, labels, "--flips", "N", count)


def _one_per_label(assignments, labels, option, value_name, parse):
    """``["label=value", ...]`` -> ``{label: parse(value)}``, each label once."""
    values = {}
    for assignment in assignments:
        label, text = _split_method_label(assignment, "=", f"{option} LABEL={value_name}", labels)
        if label in values:
            raise ValueError(f"{option} names {label!r} twice; one per column (label the model "
                             "twice to compare two)")
        values[label] = parse(text)
    return values


def _split_method_label(assignment, separator, usage, labels):
    label, sep, rest = assignment.partition(separator)
    if not sep or label not in labels:
        raise ValueError(
            f"{usage} expects LABEL one of {', '.join(labels)}, received {assignment!r}"
        )
    return label, rest


def _load_method(zoo, label, source, overrides):
    """`zoo.load` of one column; a constructor argument it rejects names the --set given."""
    try:
        return zoo.load(source, **overrides)
    except TypeError as error:
        if not overrides:
            raise
        given = " ".join(f"--set {label}.{key}={value!r}" for key, value in overrides.items())
        raise ValueError(f"cannot load {source!r} with {given}: {error}") from error


def run_evaluate(args):
    from keras_inpaint import evaluation, zoo

    sources = {}
    for argument in args.models:
        label, sep, source = argument.partition("=")
        if not sep:
            label, source = argument, argument
        if label in sources:
            raise ValueError(f"two methods are labelled {label!r}; use LABEL=PATH to rename one")
        sources[label] = source
    overrides = method_overrides(args.overrides, list(sources))
    postprocessors = method_postprocessors(args.postprocessors, list(sources))
    flips = method_flips(args.flip_counts, list(sources))
    _prepare_output_files({"--out": args.out, "--json": args.json,
                           "--contact-sheet": args.contact_sheet}, images=("--contact-sheet",))
    methods = {label: _load_method(zoo, label, source, overrides.get(label, {}))
               for label, source in sources.items()}
    for label, count in flips.items():
        methods[label] = _with_flips(methods[label], count, f"--flips {label}={count}")
    for label, name in postprocessors.items():
        methods[label] = evaluation.postprocessed(methods[label], name)
    scores = evaluation.evaluate(
        methods, args.images, args.masks, size=args.size, limit=args.limit,
        batch_size=args.batch_size, contact_sheet=args.contact_sheet,
        contact_rows=args.contact_rows, stride=args.stride,
    )
    report = evaluation.comparison_markdown(scores)
    print(report)
    if args.out:
        Path(args.out).write_text(report + "\n", encoding="utf-8")
    if args.json:
        protocol = {"images": str(args.images), "masks": str(args.masks), "size": args.size,
                    "limit": args.limit, "stride": args.stride, **overrides}
        if postprocessors:
            protocol["postprocess"] = postprocessors
        if flips:
            protocol["flips"] = flips
        Path(args.json).write_text(
            json.dumps(evaluation.report_json(scores, **protocol), indent=2) + "\n",
            encoding="utf-8",
        )


def _add_flips_argument(parser):
    parser.add_argument(
        # ensemble.FLIP_COUNTS, not imported: building the parser must not import Keras.
        "--flips", type=int, choices=(1, 2, 4), default=1,
        help="fill the image and 1 or 3 mirror images of it and average (a test-time ensemble, "
        "keras_inpaint.ensemble.FlipEnsemble: N times the time; default 1, the model alone)",
    )


def _with_flips(model, flips, option=None):
    """`model`, or its `FlipEnsemble` of `flips` mirror images (a ValueError naming `option`
    for a classical fill)."""
    if flips == 1:
        return model  # the ensemble module imports Keras: not for classical fills
    from keras_inpaint.ensemble import FlipEnsemble

    try:
        return FlipEnsemble(model, flips)
    except ValueError as error:
        raise ValueError(f"{option or f'--flips {flips}'}: {error}") from error


# ---- inpaint ---------------------------------------------------------------------------------


def add_inpaint_parser(subparsers):
    parser = subparsers.add_parser(
        "inpaint",
        help="fill the holes of photos (keras_inpaint.inference.inpaint)",
        description="Fill the holes (white / nonzero mask pixels) of an image or of a folder of "
        "images. Any size; known pixels are kept bit for bit.",
    )
    parser.add_argument("image", help="image file, or a folder of images")
    parser.add_argument(
        "mask",
        nargs="?",
        default=None,
        help="mask file (white / nonzero = hole) or a folder of masks matched to the images by "
        "file name without extension; omit it to use the images' alpha channel (transparent = "
        "hole)",
    )
    parser.add_argument("-o", "--output", required=True, help="output file (or folder)")
    parser.add_argument(
        "--model",
        default=None,
        help="zoo name, preset folder or .keras file (default: the best zoo model with trained "
        "weights that beats the classical fills, else navier_stokes; see `keras-inpaint list`)",
    )
    parser.add_argument("--postprocess", default=None, help="poisson: Poisson blending")
    _add_flips_argument(parser)
    parser.add_argument(
        "--compare",
        default=None,
        help="also write input-with-hole | mask | result side by side to this file (or folder)",
    )
    parser.add_argument(
        "--mask-threshold",
        type=fraction,
        default=None,
        help="mask values above this (in [0, 1]) are holes; default 0: any nonzero pixel (use "
        "0.5 for JPEG masks)",
    )
    parser.set_defaults(handler=run_inpaint)


def run_inpaint(args):
    from keras_inpaint import inference
    from keras_inpaint.postprocess import get_postprocessor

    if args.mask_threshold is None:
        args.mask_threshold = inference.DEFAULT_MASK_THRESHOLD
    get_postprocessor(args.postprocess)  # raises for an unknown name, before any image
    outputs = {"-o": args.output, "--compare": args.compare}
    _check_distinct({"IMAGE": args.image, "MASK": args.mask, **outputs})  # never overwrite input
    if os.path.isdir(args.image):
        _check_folder_mode_paths(args.mask, outputs)
        _inpaint_folder(args, _with_flips(inference.resolve_model(args.model), args.flips))
    else:
        _prepare_output_files(outputs, images=tuple(outputs))
        model = _with_flips(inference.resolve_model(args.model), args.flips)
        _save_pictures(_inpainted(args, model, args.image, args.mask), args.output, args.compare)
        print(f"wrote {args.output}" + (f" and {args.compare}" if args.compare else ""))


def _inpainted(args, model, image, mask):
    """(result, side-by-side picture or None) of one image; errors concern only this image."""
    from keras_inpaint import inference

    result = inference.inpaint(
        image, mask, model=model, postprocess=args.postprocess,
        mask_threshold=args.mask_threshold,
    )
    if not args.compare:
        return result, None
    return result, inference.side_by_side(image, mask, result, args.mask_threshold)


def _save_pictures(pictures, output, compare):
    result, panels = pictures
    _save(result, output)
    if compare:
        _save(panels, compare)


def _inpaint_folder(args, model):
    """Inpaint every image that has a mask; an image that cannot be read or does not fit its
    mask is skipped with a warning, and the run then ends with an error listing them."""
    from tqdm import tqdm

    images = _image_files(args.image, "image")
    masks = None
    if args.mask is not None:
        masks = {path.stem: path for path in _image_files(args.mask, "mask")}
    duplicates = sorted({p.stem for p in images if sum(q.stem == p.stem for q in images) > 1})
    if duplicates:
        raise ValueError(
            f"several images in {args.image!r} share a name without extension: "
            f"{', '.join(duplicates)} (outputs are named <name>{OUTPUT_SUFFIX})"
        )
    output, compare = Path(args.output), Path(args.compare) if args.compare else None
    missing, failed, written = [], [], 0
    for path in tqdm(images, desc="inpaint", unit="image", file=sys.stderr):
        mask = None if masks is None else masks.get(path.stem)
        if masks is not None and mask is None:
            missing.append(path.name)
            continue
        try:
            pictures = _inpainted(args, model, path, mask)
        except (ValueError, OSError) as error:  # a bad or unreadable input file
            failed.append(path.name)
            tqdm.write(f"keras-inpaint inpaint: warning: skipped {path.name}: {error}",
                       file=sys.stderr)
            continue
        name = path.stem + OUTPUT_SUFFIX
        _save_pictures(pictures, output / name, compare and compare / name)
        written += 1
    if missing:
        print(
            f"keras-inpaint inpaint: no mask in {args.mask!r} for {len(missing)} image(s), "
            f"skipped: {', '.join(missing)}",
            file=sys.stderr,
        )
    if failed:
        raise ValueError(
            f"{len(failed)} image(s) failed and were skipped (reasons above): "
            f"{', '.join(failed)}; wrote {written} image(s) to {output}"
        )
    if not written:
        raise ValueError(
            f"no image of {args.image!r} has a mask in {args.mask!r} (masks are matched by file "
            "name without extension)"
        )
    print(f"wrote {written} image(s) to {output}")


def _image_files(folder, role):
    """Image files directly in `folder` (extensions PIL can read), sorted by name."""
    from PIL import Image

    extensions = Image.registered_extensions()
    files = sorted(
        path for path in Path(folder).iterdir()
        if path.is_file() and path.suffix.lower() in extensions
    )
    if not files:
        raise ValueError(f"{role} folder {os.fspath(folder)!r} holds no image files")
    return files


def _check_folder_mode_paths(mask, outputs):
    """Folder mode, before the model is loaded: MASK (if given) must be a folder, and each of
    `outputs` (``{option: path or None}``) a folder or a path still free."""
    if mask is not None and not os.path.isdir(mask):
        raise ValueError(f"IMAGE is a folder, so MASK must be a folder too: {mask!r}")
    for option, path in outputs.items():
        if path is None:
            continue
        if os.path.exists(path) and not os.path.isdir(path):
            raise ValueError(f"IMAGE is a folder, so {option} must be a folder too: {path!r} "
                             "is a file")


def _prepare_output_files(outputs, images=()):
    """Before any long work: check that each of `outputs` (``{option: path or None}``) names a
    file of its own (an image file PIL can write for the options in `images`), and create its
    folder."""
    _check_distinct(outputs)
    given = {option: path for option, path in outputs.items() if path is not None}
    for option, path in given.items():
        _check_file_name(path, option, image=option in images)
    for option, path in given.items():
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ValueError(f"cannot create the folder of {option} {path!r}: {error}") from error


def _check_distinct(outputs):
    """Refuse two options of `outputs` (``{option: path or None}``) naming the same path."""
    seen = {}
    for option, path in outputs.items():
        if path is None:
            continue
        key = os.path.realpath(path)
        if key in seen:
            raise ValueError(f"{seen[key]} and {option} name the same path {path!r}; the second "
                             "would overwrite the first")
        seen[key] = option


def _check_file_name(path, option, image=False):
    """Refuse a folder or a name ending in a separator (and, for an `image`, a name PIL
    cannot write) where `option` needs a file name."""
    from PIL import Image

    text = os.fspath(path)
    writable = Image.registered_extensions().get(Path(text).suffix.lower()) in Image.SAVE
    if os.path.isdir(text) or text.endswith(("/", os.sep)) or (image and not writable):
        kind = "an image file name (.png, .jpg, ...)" if image else "a file name"
        raise ValueError(f"{option} must be {kind}, received {text!r}")


def _save(pixels, path):
    """Write a uint8 RGB array (or PIL image) to `path`, creating its folder."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    image.save(path)


# ---- list ------------------------------------------------------------------------------------


def add_list_parser(subparsers):
    parser = subparsers.add_parser(
        "list",
        help="the model zoo (keras_inpaint.zoo.list)",
        description="Names, papers, input sizes, parameter counts, training data and scores "
        "of the zoo.",
    )
    parser.set_defaults(handler=run_list)


def run_list(args):
    from keras_inpaint import zoo

    header = ("name", "aliases", "paper", "input", "parameters", "weights", "scores")
    rows = [header] + [_list_row(entry) for entry in zoo.list()]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    print(f"\ndefault of `keras-inpaint inpaint` and inpaint(): {zoo.default_model()} "
          "(the best trained network that beats the classical fills on its own evaluation, "
          f"else {zoo.CLASSICAL_DEFAULT})")


def _list_row(entry):
    if entry["classical"]:
        weights = "classical (none needed)"
    elif entry["trained"]:
        weights = f"{entry['training_data']}, {entry['steps']} steps"
    else:
        weights = "not trained yet"
    size = entry["input_size"]
    scores = entry["scores"] or {}
    return (
        entry["name"],
        ", ".join(entry["aliases"]) or "-",
        entry["paper"],
        "any" if size is None else f"{size[0]}x{size[1]}",
        "-" if entry["parameters"] is None else f"{entry['parameters']:,}",
        weights,
        ", ".join(f"{key} {score_text(key, value)}" for key, value in sorted(scores.items()))
        or "-",
    )


# ---- average ---------------------------------------------------------------------------------


def add_average_parser(subparsers):
    parser = subparsers.add_parser(
        "average",
        help="average trained models' weights (keras_inpaint.averaging.average_weights)",
        description="Write the mean of the weights of two or more models of one architecture "
        "(checkpoints or fine-tuning runs of one model) as a .keras file.",
    )
    parser.add_argument("sources", nargs="+",
                        help="run directories, .keras files, preset folders or zoo names")
    parser.add_argument("--output", required=True, help="the .keras file to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    parser.set_defaults(handler=run_average)


def run_average(args):
    from keras_inpaint.averaging import average_weights

    average_weights(args.sources, args.output, overwrite=args.overwrite)
    print(f"averaged {len(args.sources)} models into {args.output}")


# ---- export ----------------------------------------------------------------------------------


def add_export_parser(subparsers):
    parser = subparsers.add_parser(
        "export",
        help="write a TF Serving SavedModel (keras_inpaint.export.export_saved_model)",
        description="Export a zoo model as DIR/<version>/ for TF Serving (signatures "
        "serving_default: uint8 image + mask -> inpainted; inpaint_bytes: PNG, JPEG, GIF, "
        "BMP or WebP bytes -> PNG bytes).",
    )
    parser.add_argument("name", help="zoo name, preset folder or .keras file")
    parser.add_argument("directory", help="model base folder (TF Serving's model_base_path)")
    parser.add_argument("--version", type=positive_int, default=1,
                        help="version folder (default 1)")
    parser.add_argument(
        "--weights",
        choices=("zoo", "none"),
        default="zoo",
        help="none: export the architecture with random weights",
    )
    _add_flips_argument(parser)
    parser.set_defaults(handler=run_export)


def run_export(args):
    from keras_inpaint import zoo
    from keras_inpaint.export import export_saved_model

    model = zoo.load(args.name, weights=None if args.weights == "none" else "zoo")
    model = _with_flips(model, args.flips)
    path = export_saved_model(model, args.directory, version=args.version)
    print(f"wrote {path} (signatures serving_default and inpaint_bytes)")


# ---- publish, repack ------------------------------------------------------------------------


def add_publish_parser(subparsers):
    parser = _add_preset_writer_parser(
        subparsers,
        "publish",
        help_text="turn a training run into a zoo preset (keras_inpaint.zoo.publish)",
        description="Write a preset folder (config.json, model.weights.h5, metadata.json with "
        "the weights' sha256, README.md model card) from a `keras-inpaint train` run.",
        source_help="training run directory",
        notes_help="added to the model card under Notes",
        handler=run_publish,
    )
    parser.add_argument("--name", default=None, help="preset name (default: folder name)")
    parser.add_argument(
        "--score",
        dest="scores",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a measured score, e.g. --score psnr=24.1 (repeatable)",
    )
    parser.add_argument("--generator-only", action="store_true",
                        help="ship the generator's weights without the discriminators")


def add_repack_parser(subparsers):
    _add_preset_writer_parser(
        subparsers,
        "repack",
        help_text="store a preset's weights in another type (keras_inpaint.zoo.repack)",
        description="Write a preset folder with a preset's weights stored as float32 (no "
        "option), float16 or int8, keeping its metadata; its scores are dropped unless "
        "--evaluation gives ones measured on the repacked weights.",
        source_help="zoo name or preset folder",
        notes_help="replacing the model card's notes (default: the source's)",
        handler=run_repack,
    )


def _add_preset_writer_parser(subparsers, command, help_text, description, source_help,
                              notes_help, handler):
    """The arguments `publish` and `repack` share: source, destination folder, storage type,
    evaluation report, notes and --overwrite."""
    parser = subparsers.add_parser(command, help=help_text, description=description)
    parser.add_argument("source", help=source_help)
    parser.add_argument("destination", help="preset folder to write, e.g. zoo/gated_conv")
    storage = parser.add_mutually_exclusive_group()
    storage.add_argument("--float16", dest="weights_dtype", action="store_const",
                         const="float16", default="float32", help="store weights as float16")
    storage.add_argument("--int8", dest="weights_dtype", action="store_const", const="int8",
                         help="store kernels as int8 with a scale per channel, the rest as "
                         "float16 (keras_inpaint.weight_storage)")
    parser.add_argument(
        "--evaluation",
        default=None,
        help="a `keras-inpaint evaluate --json` report with a column named like the preset: "
        "its scores, and the classical fills', go into the metadata and the model card",
    )
    parser.add_argument("--notes", default=None, help=f"a Markdown file {notes_help}")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    parser.set_defaults(handler=handler)
    return parser


def run_publish(args):
    from keras_inpaint import zoo

    notes, evaluation = _notes_and_report(args)
    path = zoo.publish(
        args.source, args.destination, name=args.name, scores=parse_scores(args.scores),
        weights_dtype=args.weights_dtype, generator_only=args.generator_only,
        overwrite=args.overwrite, evaluation=evaluation, notes=notes,
    )
    print(f"wrote {path}")


def run_repack(args):
    from keras_inpaint import zoo

    notes, evaluation = _notes_and_report(args)
    path = zoo.repack(args.source, args.destination, args.weights_dtype,
                      evaluation=evaluation, notes=notes, overwrite=args.overwrite)
    print(f"wrote {path}")


def _notes_and_report(args):
    """The text of --notes and the report of --evaluation (None where not given)."""
    notes = _read_text(args.notes, "--notes") if args.notes else None
    return notes, _read_report(args.evaluation) if args.evaluation else None


def _read_text(path, option):
    """The UTF-8 text of the file given to `option`; errors name the file."""
    if os.path.isdir(path):
        raise ValueError(f"{option} must be a file, received the folder {path!r}")
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{option} {path!r} is not UTF-8 text: {error}") from error


def _read_report(path):
    """The `keras-inpaint evaluate --json` report at `path` (for ``publish --evaluation``)."""
    text = _read_text(path, "--evaluation")
    not_a_report = f"--evaluation {path!r} is not a `keras-inpaint evaluate --json` report"
    try:
        report = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{not_a_report}: {error}") from error
    if not isinstance(report, dict) or "methods" not in report:
        raise ValueError(f"{not_a_report} (it has no \"methods\")")
    return report


def parse_scores(assignments):
    """``["psnr=24.1", ...]`` -> ``{"psnr": 24.1}``, or None when empty."""
    scores = {}
    for assignment in assignments:
        name, sep, text = assignment.partition("=")
        try:
            value = float(text)
        except ValueError:
            value = None
        if not sep or not name.strip() or value is None:
            raise ValueError(f"--score expects NAME=NUMBER, received {assignment!r}")
        scores[name.strip()] = value
    return scores or None


# ---- convert ---------------------------------------------------------------------------------


def add_convert_parser(subparsers):
    from keras_inpaint.convert import VERSIONS

    parser = subparsers.add_parser(
        "convert",
        help="convert the authors' DeepFill checkpoints (keras_inpaint.convert.convert_deepfill)",
        description="Convert a DeepFill v1 or v2 checkpoint released by Yu et al. (TF1 format, "
        "CC BY-NC 4.0) into a preset folder that `zoo.load` and `keras-inpaint inpaint "
        "--model OUT_DIR` read.",
    )
    parser.add_argument("version", choices=sorted(VERSIONS), help="which release")
    parser.add_argument(
        "checkpoint",
        help="checkpoint prefix (e.g. model_logs/release_places2_256/snap-0) or its folder",
    )
    parser.add_argument("output_dir", help="preset folder to write")
    parser.add_argument("--name", default=None, help="preset name (default: folder name)")
    parser.add_argument(
        "--training-data", default=None, help="what the authors trained it on, e.g. Places2"
    )
    parser.add_argument(
        "--allow-missing-discriminator",
        action="store_true",
        help="accept a checkpoint without discriminator variables (randomly initialised then)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    parser.set_defaults(handler=run_convert)


def run_convert(args):
    from keras_inpaint.convert import convert_deepfill

    path = convert_deepfill(
        args.version,
        args.checkpoint,
        args.output_dir,
        name=args.name,
        training_data=args.training_data,
        allow_missing_discriminator=args.allow_missing_discriminator,
        overwrite=args.overwrite,
    )
    print(f"wrote {path}")
