"""Recipe: the benchmark hierarchical VAE on dynamically binarized MNIST, and its test NLL.

Convolutional top-down hierarchy: stages at 14x14 (32 channels) and 7x7 (64 channels),
two latent groups per stage (14x14x4 and 7x7x8 latent maps), one residual cell per
stage and per group, swish, residual posteriors, soft clamps at 5, Bernoulli
likelihood. Trained by the ELBO with a 10-epoch KL warm-up during which the groups' KL
is balanced, gradients clipped at norm 200, updates skipped above norm 1000 (at most 10
in a row), Adamax with cosine decay, and EMA weights (momentum 0.999) for evaluation.
Protocol: see `common.nll_recipe`.

    export VAEZOO_DATA_DIR=../shared/data
    python benchmarks/recipes/hvae_mnist.py                      # train (resumable), k=1000 NLL, preset
    python benchmarks/recipes/hvae_mnist.py --eval-only -k 5000  # the k=5000 estimate of the same model

Writes benchmarks/results/recipes/hvae_mnist.json and .md, and the built-in preset
zoo/presets/hvae_mnist.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common

import zoo

EPOCHS = 120
STEPS_PER_EPOCH = 469  # ceil(60000 / 128)
PUBLISHED = [
    ("Ladder VAE, 5 stochastic layers (Sønderby et al. 2016)", 81.74),
    ("IWAE k=50, 2 stochastic layers (Burda et al. 2016)", 82.90),
    ("VAE, 2 stochastic layers (Burda et al. 2016)", 85.33),
]


def build_model(**overrides):
    """The recipe's model; `overrides` change its settings (the deeper candidates of
    benchmarks/quality/hvae_candidates.py start from it)."""
    return zoo.HVAE(**{**dict(
        input_shape=(28, 28, 1), network="conv", hidden_dims=(32, 64), latent_dims=(4, 8),
        groups_per_stage=2, num_res_blocks=1, activation="swish", soft_clamp=5.0,
        kl_balancing=True, kl_warmup_steps=10 * STEPS_PER_EPOCH, gradient_clip_norm=200.0,
        skip_threshold=1000.0, max_consecutive_skips=10, likelihood="bernoulli", seed=0,
        binarize="dynamic"), **overrides})


def build_optimizer(epochs, steps_per_epoch=STEPS_PER_EPOCH):
    return common.cosine_optimizer("Adamax", 2e-3, epochs, steps_per_epoch, use_ema=True,
                                   ema_momentum=0.999)


def main(argv=None):
    common.nll_recipe(
        "hvae_mnist",
        model_description="zoo.HVAE conv, 4 latent groups (2 x 14x14x4, 2 x 7x7x8), Bernoulli",
        recipe={"optimizer": "Adamax, cosine decay 2e-3 -> 2e-5, EMA 0.999",
                "kl_warmup_epochs": 10, "kl_balancing": True, "gradient_clip_norm": 200,
                "skip_threshold": 1000},
        build_model=build_model, build_optimizer=build_optimizer, epochs=EPOCHS,
        published=PUBLISHED, argv=argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
