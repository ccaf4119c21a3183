"""Recipe: the conditional hierarchical VAE p(x | y) on dynamically binarized Fashion-MNIST (or MNIST).

`hvae_mnist`'s hierarchy and schedule (conv, 4 latent groups, KL balancing during the
warm-up, clipping, skipping, Adamax with cosine decay and EMA weights) with
`num_classes=10` and Fashion-MNIST's class names: the label's embedding starts the
top-down path (see `zoo.HVAE`). Trained on (image, label) pairs; the figures are of
log p(x | y) on the 10,000 test images with their labels (protocol: `common.nll_recipe`).

    export VAEZOO_DATA_DIR=../shared/data
    python benchmarks/recipes/chvae_mnist.py --dataset fashion_mnist --epochs 28   # chvae_fashion_mnist

Writes benchmarks/results/recipes/chvae_fashion_mnist.json and .md, and the built-in
preset zoo/presets/chvae_fashion_mnist. `benchmarks/quality/conditional_presets.py` adds the
card's conditional accuracy, Frechet distance and sample grid.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common
from hvae_mnist import EPOCHS, build_model as unconditional, build_optimizer  # the same recipe

import zoo


def build_model(dataset):
    names = zoo.data.class_names(dataset)
    model = unconditional()
    config = {**model.get_config(), "num_classes": len(names), "class_names": list(names)}
    return zoo.HVAE.from_config(config)


def main(argv=None):
    common.nll_recipe(
        "chvae_mnist",
        model_description="zoo.HVAE(num_classes=10) conv, 4 latent groups (2 x 14x14x4, "
                          "2 x 7x7x8), Bernoulli; log p(x | y)",
        recipe={"optimizer": "Adamax, cosine decay 2e-3 -> 2e-5, EMA 0.999",
                "kl_warmup_epochs": 10, "kl_balancing": True, "gradient_clip_norm": 200,
                "skip_threshold": 1000, "labels": "the dataset's class labels, one-hot"},
        build_model=build_model, build_optimizer=build_optimizer, epochs=EPOCHS,
        published=[], argv=argv, conditional=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
