"""Recipe: the benchmark VAE on dynamically binarized MNIST, and its test NLL.

One stochastic layer (32 Gaussian latents, N(0, I) prior), convolutional encoder and
decoder with one residual block per stage (the decoder upsamples by resize + conv),
Bernoulli likelihood, trained on the 60,000 training images by the plain ELBO
(beta = 1), with a linear KL warm-up over the first 5 epochs and Adam with cosine
learning-rate decay. Protocol: see `common.nll_recipe`.

    export VAEZOO_DATA_DIR=../shared/data
    python benchmarks/recipes/vae_mnist.py                      # train (resumable), k=1000 NLL, preset
    python benchmarks/recipes/vae_mnist.py --eval-only -k 5000  # the k=5000 estimate of the same model

Writes benchmarks/results/recipes/vae_mnist.json and .md, and the built-in preset
zoo/presets/vae_mnist.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common

import zoo

EPOCHS = 150
STEPS_PER_EPOCH = 469  # ceil(60000 / 128)
PUBLISHED = [
    ("VAE, 1 stochastic layer (Burda et al. 2016, k=5000)", 86.76),
    ("IWAE k=50, 1 stochastic layer (Burda et al. 2016, k=5000)", 84.78),
]


def build_model():
    return zoo.VAE(input_shape=(28, 28, 1), latent_dim=32, network="conv", hidden_dims=(32, 64),
                   num_res_blocks=1, upsampling="nearest", likelihood="bernoulli",
                   kl_warmup_steps=5 * STEPS_PER_EPOCH, seed=0, binarize="dynamic")


def build_optimizer(epochs):
    return common.cosine_optimizer("Adam", 1e-3, epochs, STEPS_PER_EPOCH)


def main(argv=None):
    common.nll_recipe(
        "vae_mnist",
        model_description="zoo.VAE conv 32-64 + 1 residual block per stage, resize-conv decoder, "
                          "latent 32, Bernoulli",
        recipe={"optimizer": "Adam, cosine decay 1e-3 -> 1e-5", "kl_warmup_epochs": 5},
        build_model=build_model, build_optimizer=build_optimizer, epochs=EPOCHS,
        published=PUBLISHED, argv=argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
