"""The ``keras-inpaint`` command line.

    keras-inpaint train | evaluate | inpaint | list | average | export | publish | repack |
        convert ...

This module is the entry point (`build_parser`, `main`); each sub-command's parser and handler
live in `keras_inpaint.cli_commands` and are thin layers over a Python function (named in its
help); errors in the user's input (ValueError, and OSError such as a missing file or a folder
where a file is expected) are printed as one line and exit with status 2; any other exception
is a bug and keeps its traceback. Building the parser imports neither TensorFlow nor Keras.
"""

import argparse
import sys

from keras_inpaint import cli_commands

SUBCOMMANDS = (
    cli_commands.add_train_parser,
    cli_commands.add_evaluate_parser,
    cli_commands.add_inpaint_parser,
    cli_commands.add_list_parser,
    cli_commands.add_average_parser,
    cli_commands.add_export_parser,
    cli_commands.add_publish_parser,
    cli_commands.add_repack_parser,
    cli_commands.add_convert_parser,
)
"""The functions registering each sub-command, in the order ``--help`` lists them."""


def build_parser():
    parser = argparse.ArgumentParser(prog="keras-inpaint", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except (ValueError, OSError) as error:
        print(f"keras-inpaint {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
