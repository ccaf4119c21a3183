"""Does the hierarchy pay? The likelihood presets side by side, with their KL per latent group.

For each preset (default: the VAE, HVAE and flow-prior presets of MNIST and Fashion-MNIST),
one row: the test NLL its recipe measured (k = 1000 and, where run, k = 5000; read from
benchmarks/results/recipes/<preset>.json, not re-measured), the test ELBO, parameters and
training time, and, measured here on the 10,000 test images (binarized once, seed 0; one
posterior draw each, seed 0), the KL of each latent group and its active units (latent
dimensions with a mean KL above the model's threshold, 0.01 nats). A flow prior's KL does
not split by dimension: its total only. Each dataset's rows end with the gap to its VAE
and, for MNIST, the published deep hierarchies.

    export VAEZOO_DATA_DIR=../shared/data
    python benchmarks/quality/hierarchies.py
    python benchmarks/quality/hierarchies.py --presets hvae_mnist vae_mnist   # a subset

Writes benchmarks/results/quality/hierarchies.json and .md.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common
import numpy as np

import zoo
from zoo import losses

PRESETS = ("vae_mnist", "hvae_mnist", "flow_vae_mnist",
           "vae_fashion_mnist", "hvae_fashion_mnist", "flow_vae_fashion_mnist")
#: Published test NLL on dynamically binarized MNIST (nats), deep hierarchies.
PUBLISHED_MNIST = {
    "BIVA (Maaløe et al. 2019)": 78.41,
    "NVAE (Vahdat & Kautz 2020)": 78.01,
    "CR-NVAE (Sinha & Dieng 2021)": 76.93,
    "Ladder VAE (Sønderby et al. 2016)": 81.74,
}


def recipe_figures(preset):
    """What the preset's recipe measured: {k: nll}, ELBO, parameters, training seconds."""
    with open(common.results_path("recipes", f"{preset}.json")) as f:
        run = json.load(f)
    evaluations = run["evaluations"]
    return {"nll": {int(key[1:]): e["nll"] for key, e in evaluations.items()},
            "nll_stderr": max(evaluations.items(), key=lambda item: int(item[0][1:]))[1]["nll_stderr"],
            "elbo": next(iter(evaluations.values()))["elbo"],
            "parameters": run["parameters"], "train_seconds": run["train_seconds"]}


def group_figures(model, x, batch_size=500):
    """KL (mean nats) and active units of each latent group on `x` (the split the training
    logs report, `zoo.losses.group_terms`), and the total KL."""
    kl_dims, kl = [], []
    for i in range(0, len(x), batch_size):
        terms = model.elbo_terms(x[i:i + batch_size], seed=i)
        kl.append(terms["kl"].numpy())
        if model.kl_splits_by_dimension:
            kl_dims.append(terms["kl_dims"].numpy())
    figures = {"kl": float(np.concatenate(kl).mean()), "groups": None}
    if kl_dims:
        kl_dims = np.concatenate(kl_dims)
        groups = model.latent_groups or (("z", kl_dims.shape[1]),)
        terms = losses.group_terms(kl_dims, groups, model.active_unit_threshold)
        figures["groups"] = [{"name": name, "size": size, "kl": float(terms[f"kl_{name}"]),
                              "active_units": int(terms[f"active_units_{name}"])}
                             for name, size in groups]
    return figures


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    command = "python benchmarks/quality/hierarchies.py" + "".join(f" {a}" for a in argv)

    results, test_images = {}, {}
    for preset in args.presets:
        dataset = zoo.presets.load_metadata(preset)["dataset"].split(" ")[0]
        if dataset not in test_images:
            test_images[dataset] = zoo.data.load_numpy(dataset, "test", data_dir=args.data_dir,
                                                       binarize="static", seed=0)[0]
        model = zoo.from_preset(preset)
        results[preset] = {"family": type(model).__name__, "dataset": dataset,
                           **recipe_figures(preset), **group_figures(model, test_images[dataset])}
        print(preset, results[preset]["nll"], flush=True)

    rows = []
    for preset, r in results.items():
        vae = results.get(f"vae_{r['dataset']}")
        gap = ""
        if vae is not None and not preset.startswith("vae_"):
            k = min(max(vae["nll"]), max(r["nll"]))  # the largest k both were measured with
            gap = f"{vae['nll'][k] - r['nll'][k]:+.2f}"
        groups = "" if r["groups"] is None else ", ".join(
            f"{g['name']} {g['kl']:.1f} ({g['active_units']}/{g['size']})" for g in r["groups"])
        rows.append([f"`{preset}`", r["family"], f"{r['nll'][1000]:.2f}",
                     f"{r['nll'][5000]:.2f}" if 5000 in r["nll"] else "", gap,
                     f"{r['elbo']:.2f}", f"{r['kl']:.2f}", groups, f"{r['parameters']:,}",
                     f"{r['train_seconds'] / 3600:.1f} h"])
    rows += [[name, "published", "", f"{nll:.2f}", "", "", "", "", "", ""]
             for name, nll in PUBLISHED_MNIST.items()]
    common.write_results(
        "hierarchies",
        {"results": results, "published_mnist_nll": PUBLISHED_MNIST,
         "protocol": "NLL and ELBO from each preset's recipe results; KL per group on the "
                     "10,000 test images binarized once (seed 0), one posterior draw (seed 0); "
                     "active unit: mean KL > the model's threshold"},
        rows, ["preset", "family", "test NLL k=1000", "k=5000",
               "gain over the VAE (nats, same k)", "test ELBO", "KL",
               "KL per group, nats (active / units)", "parameters", "training (2 cores)"],
        command, group="quality")
    return 0


if __name__ == "__main__":
    sys.exit(main())
