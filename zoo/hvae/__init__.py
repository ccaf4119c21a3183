"""The hierarchical (top-down) VAE family."""

from zoo.hvae.hvae_model import HVAE

__all__ = ["HVAE"]
