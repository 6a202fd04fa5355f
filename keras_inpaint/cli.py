"""The ``keras-inpaint`` command line.

    keras-inpaint train MODEL --data PATH|tfds:NAME --output DIR [options]

Each sub-command is a thin layer over a Python function (named in its help); errors in the
user's input are printed as one line and exit with status 2.
"""

import argparse
import sys

from keras_inpaint import cli_commands, convert


def _add_train(subparsers):
    parser = subparsers.add_parser(
        "train",
        help="train a model (keras_inpaint.training.train)",
        description="Train a model on an image folder or a TFDS dataset.",
    )
    parser.add_argument("model", help="model name (see `keras-inpaint list`) or module:Class")
    parser.add_argument("--data", required=True, help="image folder or tfds:NAME")
    parser.add_argument("--output", required=True, help="run directory")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=1000, help="total steps of the run")
    parser.add_argument("--masks", default=None, help="mask generator spec (model default)")
    parser.add_argument("--mixed-precision", choices=["float16", "bfloat16"], default=None)
    parser.add_argument(
        "--strategy", choices=["default", "mirrored", "multi-worker"], default="default"
    )
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    parser.add_argument("--jit-compile", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-every", type=int, default=500)
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--image-every", type=int, default=500)
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model constructor argument, e.g. --set width=16 (repeatable)",
    )
    parser.set_defaults(handler=_run_train)


def _run_train(args):
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
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        log_every=args.log_every,
        image_every=args.image_every,
        command=" ".join(["keras-inpaint", *sys.argv[1:]]),
    )


def _add_evaluate(subparsers):
    parser = subparsers.add_parser(
        "evaluate",
        help="score methods per hole-ratio bin (keras_inpaint.evaluation.evaluate)",
        description="Score zoo models and classical fills side by side on photos and masks.",
    )
    parser.add_argument("models", nargs="+", help="zoo names, preset folders or .keras files")
    parser.add_argument("--images", required=True, help="folder of photos")
    parser.add_argument("--masks", required=True, help="folder of masks (white = hole)")
    parser.add_argument("--size", type=int, default=256, help="evaluation resolution")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N masks")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", default=None, help="write the Markdown report here")
    parser.add_argument("--contact-sheet", default=None, help="write a PNG contact sheet here")
    parser.set_defaults(handler=_run_evaluate)


def _run_evaluate(args):
    from keras_inpaint import evaluation, zoo

    methods = {name: zoo.load(name) for name in args.models}
    scores = evaluation.evaluate(
        methods, args.images, args.masks, size=args.size, limit=args.limit,
        batch_size=args.batch_size, contact_sheet=args.contact_sheet,
    )
    report = evaluation.comparison_markdown(scores)
    print(report)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(report + "\n")


def build_parser():
    parser = argparse.ArgumentParser(prog="keras-inpaint", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add in (_add_train, _add_evaluate, cli_commands.add_inpaint_parser,
                cli_commands.add_list_parser, cli_commands.add_export_parser,
                cli_commands.add_publish_parser, convert.add_convert_parser):
        add(subparsers)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"keras-inpaint {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
