"""The variational autoencoder family (VAE, beta-VAE)."""

from zoo import families
from zoo.vae.vae_model import VAE

FAMILY = families.register(families.Family(
    name="vae",
    model_class=VAE,
    summary="Variational autoencoder (and beta-VAE): Gaussian posterior, N(0, I) prior.",
    options=families.VAE_OPTIONS,
    small_configs={
        "mlp": dict(latent_dim=8, hidden_dims=(64, 32), seed=0),
        "conv": dict(latent_dim=8, network="conv", hidden_dims=(8, 16), num_res_blocks=1, seed=0),
        "conv-transpose": dict(latent_dim=8, network="conv", hidden_dims=(8, 16),
                               upsampling="transpose", seed=0),
    },
    references=("Kingma, Welling. Auto-encoding variational Bayes. ICLR 2014.",
                "Higgins et al. beta-VAE. ICLR 2017."),
))

__all__ = ["VAE"]
