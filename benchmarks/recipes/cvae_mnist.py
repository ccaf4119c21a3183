"""Recipe: the conditional VAE p(x | y) on dynamically binarized MNIST (and Fashion-MNIST).

`vae_mnist`'s model and schedule (conv 32-64 with a residual block per stage, 32
Gaussian latents, Bernoulli likelihood, KL warm-up over 5 epochs, Adam with cosine decay)
with `num_classes=10`: the one-hot label joins the encoder's features and the decoder's
input (see `zoo.VAE`). Trained on (image, label) pairs of the 60,000 training images; the
figures are of log p(x | y) on the 10,000 test images with their labels (protocol:
`common.nll_recipe`). 50 epochs, not `vae_mnist`'s 150, to fit a 2-core CPU.

    export VAEZOO_DATA_DIR=../shared/data
    python benchmarks/recipes/cvae_mnist.py                            # cvae_mnist
    python benchmarks/recipes/cvae_mnist.py --dataset fashion_mnist    # cvae_fashion_mnist

Writes benchmarks/results/recipes/cvae_<dataset>.json and .md, and the built-in preset
zoo/presets/cvae_<dataset>. `benchmarks/quality/conditional_presets.py` adds the card's
conditional accuracy, Frechet distance and sample grid.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common
from vae_mnist import STEPS_PER_EPOCH, build_optimizer  # the same schedule

import zoo

EPOCHS = 50


def build_model(dataset):
    names = zoo.data.class_names(dataset)
    return zoo.VAE(input_shape=(28, 28, 1), latent_dim=32, network="conv", hidden_dims=(32, 64),
                   num_res_blocks=1, upsampling="nearest", likelihood="bernoulli",
                   kl_warmup_steps=5 * STEPS_PER_EPOCH, seed=0, binarize="dynamic",
                   num_classes=len(names), class_names=list(names), class_prior=True)


def main(argv=None):
    common.nll_recipe(
        "cvae_mnist",
        model_description="zoo.VAE(num_classes=10) conv 32-64 + 1 residual block per stage, "
                          "resize-conv decoder, latent 32, class prior p(z | y), Bernoulli; "
                          "log p(x | y)",
        recipe={"optimizer": "Adam, cosine decay 1e-3 -> 1e-5", "kl_warmup_epochs": 5,
                "labels": "the dataset's class labels, one-hot",
                "prior": "learned Gaussian per class, starting at N(0, I)"},
        build_model=build_model, build_optimizer=build_optimizer, epochs=EPOCHS,
        published=[], argv=argv, conditional=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
