"""Writes PNG plots of a model on a dataset: a grid of samples, inputs above their
reconstructions, interpolation strips, latent traversals, a 2-D map of the latent space
coloured by label and the KL per latent dimension.
"""

import os

from zoo import plotting
from zoo.cli import common

NAME = "plot"
HELP = "PNG plots: samples, reconstructions, interpolations, ..."


def add_arguments(p):
    common.add_model_arg(p)
    p.add_argument("--kinds", nargs="+", default=None, choices=plotting.PLOT_KINDS,
                   help="plots to write (default: all that apply to the model: latent_map "
                        "and kl for non-image data, no kl for a flow prior)")
    common.add_data_args(p, "test[:2000]", common.MODEL_BINARIZE)
    p.add_argument("--output-dir", default="plots", help="(default: plots)")
    p.add_argument("--seed", type=int, default=0, help="seed of samples and examples (default: 0)")


def run(args):
    import numpy as np

    import zoo
    from zoo.applications import latent_space

    model = zoo.load_model(args.model)
    # By default every plot that applies; kinds asked for by name are refused with the
    # reason before any data is loaded.
    if args.kinds is None:
        args.kinds = plotting.applicable_plots(model)
    plotting.check_plot_kinds(model, args.kinds)
    x, labels = zoo.data.load_numpy(args.dataset, args.split, data_dir=args.data_dir,
                                    binarize=common.model_binarize(args, model), seed=args.seed,
                                    **common.image_options(args))
    pick = np.random.default_rng(args.seed).permutation(len(x))
    os.makedirs(args.output_dir, exist_ok=True)
    written = []

    def path(name):
        written.append(os.path.join(args.output_dir, f"{name}.png"))
        return written[-1]

    if "samples" in args.kinds:
        images, columns = plotting.samples_grid(model, 64, args.seed)
        plotting.save_image_grid(images, path("samples"), num_cols=columns)
    if "reconstructions" in args.kinds:
        plotting.save_image_grid(plotting.reconstruction_rows(model, x[pick[:16]]),
                                 path("reconstructions"), num_cols=16)
    if "interpolations" in args.kinds:
        pairs = pick[16:24].reshape(4, 2)
        strips = [np.asarray(latent_space.interpolate(model, x[a], x[b], steps=10)) for a, b in pairs]
        plotting.save_image_grid(np.concatenate(strips), path("interpolations"), num_cols=10)
    if "traversals" in args.kinds:
        rows, _ = plotting.traversal_rows(model, x[pick[0]])
        plotting.save_image_grid(rows, path("traversals"), num_cols=7)
    if "latent_map" in args.kinds:
        codes = np.concatenate([np.asarray(model.embed(x[i:i + 500])) for i in range(0, len(x), 500)])
        plotting.save_figure(plotting.latent_map_figure(
            codes, labels, title=f"{args.dataset} {args.split}: posterior means"), path("latent_map"))
    if "kl" in args.kinds:
        plotting.save_figure(plotting.kl_figure(plotting.kl_per_dimension(model, x),
                                                model.active_unit_threshold), path("kl"))
    print("\n".join(f"wrote {p}" for p in written))
    return 0
