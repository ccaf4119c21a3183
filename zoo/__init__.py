"""vaezoo: variational autoencoders as Keras 3 models over TensorFlow Probability.

    import zoo
    model = zoo.VAE(input_shape=(28, 28, 1), latent_dim=32, likelihood="bernoulli")
"""

import os as _os

# TensorFlow's C++ start-up chatter buries the messages users need; callers can
# still raise the level by setting the variable themselves.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

from zoo import (applications, data, evaluation, families, flows, labels, likelihoods,  # noqa: E402
                 losses, networks, presets, priors, tables, training)
from zoo.evaluation import evaluate  # noqa: E402
from zoo.model import LatentVariableModel  # noqa: E402
from zoo.presets import from_preset, list_presets, load_model  # noqa: E402

# The built-in families, one line each: importing a family's package registers it.
from zoo.vae import VAE  # noqa: E402, F401
from zoo.hvae import HVAE  # noqa: E402, F401
from zoo.flow_prior import FlowPriorVAE, fit_flow_prior  # noqa: E402, F401
from zoo.vaegan import VAEGAN  # noqa: E402, F401
from zoo.iwae import IWAE  # noqa: E402, F401

__all__ = [
    "LatentVariableModel", "applications", "data", "evaluate", "evaluation", "families", "fit_flow_prior",
    "flows", "labels",
    "from_preset", "likelihoods", "list_presets", "load_model", "losses", "networks", "presets",
    "priors", "tables", "training", *(family.model_class.__name__ for family in families.all_families()),
]
