"""Recipe: the top-down hierarchical VAE on CIFAR-10's JPEG copy, and its test bits/dim.

`zoo.HVAE` with three stages (16x16, 8x8, 4x4; 32-64-128 channels, one residual cell each)
and two latent groups per stage (16x16x4, 8x8x8, 4x4x16 each: 3,584 latent units), the
discretized logistic mixture likelihood (5 components), and the stabilisers of the MNIST
recipe: KL warm-up over 5 epochs with KL balancing, soft-clamped latent parameters,
gradient clipping with update skipping (the skip threshold is VDVAE's 400 per dimension
times 3,072 dimensions: gradient norms grow to about 400k as the mixture sharpens, and a
500k threshold skipped a third of the steps by epoch 12 and stalled the loss), and Adamax
with cosine decay and EMA weights. EPOCHS = 18: 1.7-2 h on 2 cores at the 330-390 s an
epoch took alone on one day here, twice that on a slower day (670-790 s an epoch); the run
resumes from its last epoch when started again. An HVAE step takes 1/1.30
of a `vae_cifar10` step (`benchmarks/speed/cifar10_step_times.py`), so 18 epochs are the
training time of about 14 of the VAE's 32; the side-by-side gives a second VAE run and the
Keras baseline this recipe's training time, counted in steps by the same ratios.
Protocol: `common.nll_recipe`, 8-bit levels, k = 100 on the 10,000 test JPEGs, reported in
bits/dim.

    export VAEZOO_DATA_DIR=../shared/data
    python benchmarks/recipes/hvae_cifar10.py            # train (resumably), k=100, preset

Writes benchmarks/results/recipes/hvae_cifar10.json and .md, and the built-in preset
zoo/presets/hvae_cifar10.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common
from vae_cifar10 import BATCH_SIZE, DATASET, LIMITS, STEPS_PER_EPOCH

import zoo
from zoo import likelihoods

# An earlier 42-epoch schedule (the VAE's whole training time, over 4 h) outgrew a sitting
# on this CPU; 18 fit one on a fast day.
EPOCHS = 18
# VDVAE's CIFAR-10 skip threshold is 400 per dimension of its per-dimension loss; ours is
# per image, so it scales by the 32 x 32 x 3 dimensions.
SKIP_THRESHOLD = 400.0 * 32 * 32 * 3


def build_model():
    return zoo.HVAE(input_shape=(32, 32, 3), network="conv", hidden_dims=(32, 64, 128),
                    latent_dims=(4, 8, 16), groups_per_stage=2, num_res_blocks=1,
                    activation="swish", soft_clamp=5.0, kl_balancing=True,
                    kl_warmup_steps=5 * STEPS_PER_EPOCH, gradient_clip_norm=50_000.0,
                    skip_threshold=SKIP_THRESHOLD, max_consecutive_skips=10,
                    likelihood=likelihoods.DiscretizedLogisticMixture(5), seed=0)


def build_optimizer(epochs):
    return common.cosine_optimizer("Adamax", 2e-3, epochs, STEPS_PER_EPOCH, use_ema=True,
                                   ema_momentum=0.999)


def main(argv=None):
    common.nll_recipe(
        "hvae_cifar10",
        model_description="zoo.HVAE conv 32-64-128, 6 latent groups (2 x 16x16x4, 2 x 8x8x8, "
                          "2 x 4x4x16), discretized logistic mixture (5)",
        recipe={"optimizer": "Adamax, cosine decay 2e-3 -> 2e-5, EMA 0.999",
                "kl_warmup_epochs": 5, "kl_balancing": True, "gradient_clip_norm": 50_000,
                "skip_threshold": SKIP_THRESHOLD, "data": "CIFAR-10 JPEG copy, 50,000 training images"},
        build_model=build_model, build_optimizer=build_optimizer, epochs=EPOCHS,
        published=[], argv=argv, batch_size=BATCH_SIZE, datasets=(DATASET,), binarize=False,
        num_samples=100, limits=LIMITS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
