"""The VAE with a learned normalizing-flow prior."""

from zoo.flow_prior.flow_prior_model import FlowPriorVAE

__all__ = ["FlowPriorVAE"]
