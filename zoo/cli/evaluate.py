"""Evaluate a model on a dataset split and print JSON: ELBO, importance-weighted NLL with k
samples, bits/dim, KL and active units.
"""

import argparse
import json

from zoo.cli import common
from zoo.cli.common import MODEL_BINARIZE

NAME = "eval"
HELP = "evaluate a model; prints JSON"


def add_arguments(p):
    common.add_model_arg(p)
    common.add_data_args(p, "test", MODEL_BINARIZE)
    p.add_argument("--num-samples", "-k", type=int, default=1000,
                   help="importance samples for the NLL (default: 1000)")
    p.add_argument("--max-examples", type=int, default=None, help="evaluate only this many examples")
    p.add_argument("--progress-file", default=None,
                   help="an .npz file saved after every batch; run the same command again after "
                        "an interruption and it resumes where it stopped (long k=5000 runs)")
    p.add_argument("--precision", choices=("float32", "bfloat16"), default="float32",
                   help="arithmetic of the networks in the NLL estimate; distributions and "
                        "log-densities stay float32. bfloat16 is several times faster on "
                        "hardware with bfloat16 units (default: float32)")
    p.add_argument("--jit-compile", action="store_true",
                   help="compile the NLL estimate with XLA (often slower on CPUs)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                   help="show the running NLL and an ETA on stderr (default: on)")
    p.add_argument("--fd", action="store_true",
                   help="also the Fréchet distance of 10,000 samples to the split's grey-level "
                        "images, in the dataset's in-repo classifier space (mnist, fashion_mnist)")
    p.add_argument("--fd-samples", type=int, default=10_000, help="samples for --fd (default: 10000)")
    p.add_argument("--nll", action=argparse.BooleanOptionalAction, default=True,
                   help="the likelihood figures (default: on); --fd --no-nll measures only "
                        "sample quality, the figure that matters for a VAE-GAN")
    p.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    p.add_argument("--output", default=None, help="also write the JSON to this file")


def run(args):
    import zoo
    from zoo import io_utils

    if not args.nll and not args.fd:
        raise ValueError("Nothing to evaluate: --no-nll needs --fd.")
    model = zoo.load_model(args.model)
    figures = {}
    if args.nll:
        if zoo.tables.is_table_path(args.dataset):  # rows encoded by the model's own schema
            ds = zoo.data.from_arrays(common.model_data(args, model, args.split),
                                      batch_size=args.batch_size, allow_missing=True)
        else:
            ds = zoo.data.load(args.dataset, args.split, data_dir=args.data_dir,
                               batch_size=args.batch_size, binarize=common.model_binarize(args, model),
                               shuffle=False, seed=args.seed, **common.image_options(args))
        figures = zoo.evaluate(model, ds, num_samples=args.num_samples, seed=args.seed,
                               max_examples=args.max_examples, progress_path=args.progress_file,
                               precision=args.precision, jit_compile=args.jit_compile,
                               progress=args.progress)
    if args.fd:
        from zoo.evaluation import frechet as fd

        classifier = fd.load_classifier(args.dataset)
        real, _ = zoo.data.load_numpy(args.dataset, args.split, data_dir=args.data_dir,
                                      **common.image_options(args))
        figures["fd"] = fd.model_fd(model, real[:args.max_examples], classifier,
                                    num_samples=args.fd_samples, seed=args.seed)
        figures["fd_note"] = "in-repo classifier features; not comparable with Inception FID"
    figures = {"model": args.model, "dataset": args.dataset, "split": args.split,
               # FD compares grey levels; binarization only concerns the likelihood
               **({"binarize": str(common.model_binarize(args, model)).lower()} if args.nll else {}),
               **figures}
    text = json.dumps(figures, indent=2)
    print(text)
    if args.output:
        io_utils.write_text(args.output, text + "\n")
    return 0
