"""Arguments several `vaezoo` commands share."""

import argparse

from zoo import families


def cli_type(parse):
    """`parse` as an argparse type: a `ValueError` becomes argparse's own usage error."""
    def parse_argument(text):
        try:
            return parse(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    parse_argument.__name__ = getattr(parse, "__name__", "value")
    return parse_argument


dims = cli_type(families.dims)


def add_model_arg(p):
    p.add_argument("model", help="a .keras file, a preset directory or a built-in preset name")


def add_data_args(p, split, binarize):
    p.add_argument("--dataset", default="mnist",
                   help="TFDS name (mnist, fashion_mnist, ...), IDX folder or .npz file (default: mnist)")
    p.add_argument("--split", default=split, help=f"split or slice, e.g. test[:1000] (default: {split})")
    p.add_argument("--data-dir", default=None,
                   help="folder with local dataset files (default: $VAEZOO_DATA_DIR)")
    p.add_argument("--binarize", default=binarize, choices=["none", "dynamic", "static"],
                   help=f"binarization of pixel intensities (default: {binarize})")
    p.add_argument("--batch-size", type=int, default=128, help="batch size (default: 128)")


def binarize(args):
    """`--binarize` as `zoo.data` takes it: None for "none"."""
    return None if args.binarize == "none" else args.binarize
