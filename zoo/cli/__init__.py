"""The `vaezoo` command line, one module per command.

Each command module has `NAME`, `HELP` (its line in `vaezoo --help`), a docstring (its
`--help` description), `add_arguments(parser)` and `run(args)`, which returns the exit
code. Errors a user can fix (`ValueError`, `TypeError`, an existing output) are printed
without a traceback, exit 2.
"""

import argparse
import sys

from zoo.cli import (bench, demo, evaluate, export, impute, plot, presets, quickstart, sample,
                     score, train, web)

#: The commands, in the order `vaezoo --help` lists them.
COMMANDS = (presets, train, evaluate, sample, export, web, score, impute, plot, bench, demo,
            quickstart)


def parser():
    """The `vaezoo` argument parser with every command."""
    import zoo

    p = argparse.ArgumentParser(prog="vaezoo",
                                description="Variational autoencoders: train, evaluate, sample, export.")
    p.add_argument("--version", action="version", version=f"vaezoo {zoo.__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        parser_ = sub.add_parser(command.NAME, help=command.HELP, description=command.__doc__)
        command.add_arguments(parser_)
        parser_.set_defaults(run=command.run)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    from zoo.training import TrainingDiverged

    try:
        return args.run(args)
    except (ValueError, TypeError, FileExistsError) as err:
        print(f"vaezoo {args.command}: error: {err}", file=sys.stderr)
        return 2
    except TrainingDiverged as err:  # the checkpoint is kept: the message says what to do
        print(f"vaezoo {args.command}: {err}", file=sys.stderr)
        return 1
