"""vaezoo: variational autoencoders as Keras 3 models over TensorFlow Probability.

    import zoo
    model = zoo.VAE(input_shape=(28, 28, 1), latent_dim=32, likelihood="bernoulli")
"""

import os as _os

# TensorFlow's C++ start-up chatter buries the messages users need; callers can
# still raise the level by setting the variable themselves.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

from zoo import (anomaly, data, evaluation, fd, flows, imputation, latent_space, metrics,  # noqa: E402
                 likelihoods, losses, networks, presets, priors, speed)
from zoo.evaluation import evaluate  # noqa: E402
from zoo.flow_prior import FlowPriorVAE  # noqa: E402
from zoo.hvae import HVAE  # noqa: E402
from zoo.latent_variable_model import LatentVariableModel  # noqa: E402
from zoo.presets import from_preset, list_presets, load_model  # noqa: E402
from zoo.vae import VAE  # noqa: E402
from zoo.vaegan import VAEGAN  # noqa: E402

__all__ = [
    "FlowPriorVAE", "HVAE", "VAE", "VAEGAN", "LatentVariableModel", "anomaly", "data", "evaluate",
    "evaluation", "fd", "flows", "from_preset", "imputation", "latent_space", "likelihoods", "list_presets",
    "load_model", "losses", "metrics", "networks", "presets", "priors", "speed",
]
