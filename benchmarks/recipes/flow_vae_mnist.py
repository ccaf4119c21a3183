"""Recipe: the flow-prior VAE on dynamically binarized MNIST, against the same-size VAE.

The benchmark VAE of benchmarks/recipes/vae_mnist.py (same encoder, decoder, latent size,
likelihood, optimizer, schedule, warm-up and epochs) with its N(0, I) prior replaced by
a MAF prior (4 steps, MADE 256-256), trained jointly by the ELBO with the Monte Carlo KL.
Protocol: see `common.nll_recipe`; the results table also lists the VAE's measured NLL.

    export VAEZOO_DATA_DIR=../shared/data
    python benchmarks/recipes/flow_vae_mnist.py                      # train (resumable), k=1000, preset
    python benchmarks/recipes/flow_vae_mnist.py --eval-only -k 5000  # the k=5000 estimate

Writes benchmarks/results/recipes/flow_vae_mnist.json and .md, and the built-in preset
zoo/presets/flow_vae_mnist.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common
import vae_mnist

import zoo

PUBLISHED = [
    ("VAE + VampPrior, 1 stochastic layer (Tomczak & Welling 2018)", 85.57),
]


def build_model():
    return zoo.FlowPriorVAE(input_shape=(28, 28, 1), latent_dim=32, network="conv",
                            hidden_dims=(32, 64), num_res_blocks=1, upsampling="nearest",
                            likelihood="bernoulli", flow="maf", num_flows=4,
                            flow_hidden_units=(256, 256),
                            kl_warmup_steps=5 * vae_mnist.STEPS_PER_EPOCH, seed=0,
                            binarize="dynamic")


def _same_size_vae():
    """The VAE's measured NLL, for the side-by-side row (from its own results file)."""
    path = common.results_path("recipes", "vae_mnist.json")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        evaluations = json.load(f)["evaluations"]
    return [(f"zoo.VAE, same encoder/decoder, N(0, I) prior (this repo, k={e['num_samples']})",
             round(e["nll"], 2)) for e in evaluations.values()]


def main(argv=None):
    common.nll_recipe(
        "flow_vae_mnist",
        model_description="zoo.FlowPriorVAE: the benchmark VAE with a 4-step MAF prior",
        recipe={"optimizer": "Adam, cosine decay 1e-3 -> 1e-5", "kl_warmup_epochs": 5,
                "prior": "MAF, 4 steps, MADE 256-256, log-scales bounded by 3"},
        build_model=build_model, build_optimizer=vae_mnist.build_optimizer,
        epochs=vae_mnist.EPOCHS, published=_same_size_vae() + PUBLISHED, argv=argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
