"""Deeper MNIST hierarchies, compared on a validation split before any test run.

Each candidate is `hvae_mnist`'s recipe (benchmarks/recipes/hvae_mnist.py: its model with
some settings changed, its optimizer and stabilisers) trained on the first 50,000
training images, dynamically binarized, for a short schedule (`--epochs`, default 20: the
whole cosine decay and a KL warm-up of the same share, 1/12, compressed into it). It is
measured on the last 10,000 training images, binarized once (seed 0), which it never
trained on:

  - NLL by the importance-weighted bound with k (`-k`, default 1000) and its standard
    error, and the ELBO;
  - the KL and active units of each latent group (one posterior draw, seed 0);
  - parameters, and training time on this machine.

The test set is not touched: the candidate that wins here is trained by its full recipe
and measured on the test set once. The reference candidate, `hvae_mnist`, is the preset's
own configuration on the same short schedule, so every row is compared with it in the
same conditions. Runs are resumable (the run folder of each candidate and epoch count,
under `--output-dir`), and the results file keeps the rows of earlier runs.

    export VAEZOO_DATA_DIR=../shared/data
    python benchmarks/quality/hvae_candidates.py --candidates hvae_mnist deeper
    python benchmarks/quality/hvae_candidates.py --candidates wider --epochs 40

Writes benchmarks/results/quality/hvae_candidates.json and .md.
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), os.path.join(os.path.dirname(HERE), "recipes")]

import common
import hierarchies
import hvae_mnist
import keras

import zoo
from zoo import training

TRAIN_SPLIT, VALIDATION_SPLIT = "train[:50000]", "train[50000:]"
BATCH_SIZE = 128
STEPS_PER_EPOCH = 391  # ceil(50000 / 128): the cosine decay and warm-up are counted in these
WARMUP_SHARE = 10 / 120  # the recipe's 10 warm-up epochs of 120

#: name -> (settings changed from hvae_mnist's model, what the change is for).
CANDIDATES = {
    "hvae_mnist": ({}, "the preset's configuration: 2 stages (14x14, 7x7) x 2 groups"),
    "deeper": ({"groups_per_stage": 4},
               "8 groups: 4 per stage, each with its own residual cells"),
    "wider": ({"hidden_dims": (64, 128), "num_res_blocks": 2},
              "twice the channels and two residual cells per block"),
    "three_stages": ({"hidden_dims": (32, 64, 128), "latent_dims": (4, 8, 16)},
                     "a third stage at 4x4 (16 latent channels) above the two"),
}


def build(name, epochs):
    settings, _ = CANDIDATES[name]
    warmup = max(1, round(WARMUP_SHARE * epochs)) * STEPS_PER_EPOCH
    return hvae_mnist.build_model(**{"kl_warmup_steps": warmup, **settings})


def run_candidate(name, epochs, num_samples, output_dir, data_dir=None):
    """Trains (resumably) and measures one candidate on the validation split."""
    run_dir = os.path.join(output_dir, f"{name}_e{epochs}")
    keras.utils.set_random_seed(0)  # initial weights, as the recipes set them
    train = zoo.data.load("mnist", TRAIN_SPLIT, data_dir=data_dir, batch_size=BATCH_SIZE,
                          binarize="dynamic", seed=0)
    model = training.train(build(name, epochs), train, epochs=epochs, output_dir=run_dir,
                           optimizer=hvae_mnist.build_optimizer(epochs, STEPS_PER_EPOCH),
                           verbose=2)
    with open(os.path.join(run_dir, training.SUMMARY_FILE)) as f:
        run = json.load(f)
    validation = zoo.data.load("mnist", VALIDATION_SPLIT, data_dir=data_dir, batch_size=500,
                               binarize="static", seed=0)
    figures = zoo.evaluate(model, validation, num_samples=num_samples, seed=0, log_every=4,
                           progress_path=os.path.join(run_dir, f"eval_k{num_samples}.npz"))
    x, _ = zoo.data.load_numpy("mnist", VALIDATION_SPLIT, data_dir=data_dir,
                               binarize="static", seed=0)
    return {"candidate": name, "epochs": run["epochs_completed"], "k": num_samples,
            "settings": {key: list(value) if isinstance(value, tuple) else value
                         for key, value in CANDIDATES[name][0].items()},
            "validation_nll": figures["nll"], "validation_nll_stderr": figures["nll_stderr"],
            "validation_elbo": figures["elbo"], "parameters": model.count_params(),
            "train_seconds": run["train_seconds"],
            **hierarchies.group_figures(model, x)}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", nargs="+", default=["hvae_mnist", "deeper"],
                        choices=sorted(CANDIDATES))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--num-samples", "-k", type=int, default=1000)
    parser.add_argument("--output-dir", default=os.path.join("runs", "hvae_candidates"))
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    command = "python benchmarks/quality/hvae_candidates.py" + "".join(f" {a}" for a in argv)

    # Earlier rows are kept, a row of the same candidate, schedule and k replaced.
    path = common.results_path("quality", "hvae_candidates.json")
    rows_by_key = {}
    if os.path.exists(path):
        with open(path) as f:
            rows_by_key = {(r["candidate"], r["epochs"], r["k"]): r for r in json.load(f)["rows"]}
    for name in args.candidates:
        row = {**run_candidate(name, args.epochs, args.num_samples, args.output_dir,
                               args.data_dir), "command": command}
        rows_by_key[(row["candidate"], row["epochs"], row["k"])] = row
        print(name, row["validation_nll"], flush=True)

    rows = sorted(rows_by_key.values(), key=lambda r: (r["epochs"], r["k"], r["validation_nll"]))
    references = {(r["epochs"], r["k"]): r["validation_nll"] for r in rows
                  if r["candidate"] == "hvae_mnist"}
    table = []
    for r in rows:
        reference = references.get((r["epochs"], r["k"]))
        gain = ("" if reference is None or r["candidate"] == "hvae_mnist"
                else f"{reference - r['validation_nll']:+.2f}")
        groups = ", ".join(f"{g['name']} {g['kl']:.1f} ({g['active_units']}/{g['size']})"
                           for g in r["groups"])
        table.append([f"`{r['candidate']}`", CANDIDATES[r["candidate"]][1], r["epochs"],
                      f"**{r['validation_nll']:.2f}** ± {r['validation_nll_stderr']:.2f} "
                      f"(k={r['k']})", gain,
                      f"{r['validation_elbo']:.2f}", groups, f"{r['parameters']:,}",
                      f"{r['train_seconds'] / 3600:.2f} h"])
    common.write_results(
        "hvae_candidates",
        {"rows": rows, "train_split": TRAIN_SPLIT, "validation_split": VALIDATION_SPLIT,
         "protocol": "trained on mnist train[:50000] dynamically binarized; measured on "
                     "train[50000:] binarized once (seed 0); NLL by the importance-weighted "
                     "bound; KL per group from one posterior draw (seed 0)"},
        table, ["candidate", "change from hvae_mnist", "epochs", "validation NLL (nats, k)",
                "gain over hvae_mnist (same epochs, k)", "validation ELBO",
                "KL per group, nats (active / units)", "parameters", "training (2 cores)"],
        command, group="quality")
    return 0


if __name__ == "__main__":
    sys.exit(main())
