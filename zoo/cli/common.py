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


#: `--binarize auto` of the commands that read data for a trained model.
MODEL_BINARIZE = "as the model was trained: a fixed draw for a model trained on binarized images"


def add_data_args(p, split, binarize_help):
    p.add_argument("--dataset", "--data", dest="dataset", default="mnist",
                   help="TFDS name (mnist, fashion_mnist, ...), a folder of photos in class "
                        "subfolders (JPEG/PNG), IDX folder, .npz file, or a .csv / .parquet "
                        "table (default: mnist)")
    p.add_argument("--split", default=split,
                   help=f"split or slice, e.g. test[:1000]; a table or an .npz holding one 'x' is "
                        f"one split, 'train': hold rows out with slices such as train[80%%:] "
                        f"(default: {split})")
    p.add_argument("--data-dir", default=None,
                   help="folder with local dataset files (default: $VAEZOO_DATA_DIR)")
    p.add_argument("--binarize", default="auto", choices=["auto", "none", "dynamic", "static"],
                   help=f"binarization of pixel intensities (default: auto, {binarize_help})")
    p.add_argument("--batch-size", type=int, default=128, help="batch size (default: 128)")
    p.add_argument("--image-size", type=int, nargs="+", default=None, metavar="N",
                   help="resize images to N x N (or H W); needed for photos of different sizes")
    p.add_argument("--crop", action="store_true",
                   help="with --image-size, centre-crop to its aspect ratio instead of stretching")
    p.add_argument("--color-mode", default=None, choices=["grayscale", "rgb"],
                   help="folders of photos: convert every image (default: keep their channels; "
                        "a folder mixing grey and colour is refused)")
    p.add_argument("--skip-bad-files", action="store_true",
                   help="folders of photos: leave out files that are no readable image, with a "
                        "warning (default: stop, naming the file)")


def image_options(args, resize=True):
    """The `zoo.data.load` options of the image arguments; without `resize` only those
    `zoo.data.inspect` takes."""
    options = {"color_mode": args.color_mode,
               "on_error": "skip" if args.skip_bad_files else "raise"}
    if resize:
        size = args.image_size
        options.update(image_size=tuple(size) if size and len(size) > 1 else (size or [None])[0],
                       crop_to_aspect_ratio=args.crop)
    return options


def binarize(args):
    """An explicit `--binarize` as `zoo.data` takes it: None for "none" (not for "auto")."""
    return None if args.binarize == "none" else args.binarize


def model_binarize(args, model):
    """`--binarize` for data a trained model scores: "auto" follows the model's record
    (a fixed draw, "static", for a model trained on binarized images; none otherwise)."""
    if args.binarize == "auto":
        return "static" if getattr(model, "binarize", None) else None
    return binarize(args)


def model_data(args, model, split):
    """The rows (a table, encoded by the model's schema) or images of `split` for `model`,
    as numpy; images binarized as `model_binarize` says."""
    import zoo
    from zoo import tables

    if tables.is_table_path(args.dataset):
        schema = getattr(model.likelihood, "schema", None)
        if schema is None:
            raise ValueError(f"--dataset {args.dataset} is a table, but the model was not trained "
                             "on one (it has no table schema)")
        return zoo.data.read_table_split(args.dataset, split, schema)
    x, _ = zoo.data.load_numpy(args.dataset, split, data_dir=args.data_dir,
                               binarize=model_binarize(args, model), seed=args.seed,
                               **image_options(args))
    return x
