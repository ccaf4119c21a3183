"""The variational autoencoder family (VAE, beta-VAE)."""

from zoo.vae.vae_model import VAE

__all__ = ["VAE"]
