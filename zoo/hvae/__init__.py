"""The hierarchical (top-down) VAE family."""

from zoo import families
from zoo.hvae.hvae_model import HVAE

FAMILY = families.register(families.Family(
    name="hvae",
    model_class=HVAE,
    summary="Hierarchical VAE: latent groups generated top-down, posterior relative to the prior.",
    options=(
        families.Option("latent_dims", families.dims,
                        "latent units (mlp) or channels (conv) per stage, e.g. 4,8"),
        families.Option("groups_per_stage", int, "latent groups per stage"),
        families.NETWORK, families.HIDDEN_DIMS, families.ACTIVATION, families.NUM_RES_BLOCKS,
    ),
    small_configs={
        "mlp": dict(latent_dims=(6, 4), hidden_dims=(48, 32), seed=0),
        "conv": dict(network="conv", hidden_dims=(8, 16), latent_dims=(2, 3), seed=0),
    },
    references=("Sønderby et al. Ladder variational autoencoders. NeurIPS 2016.",
                "Vahdat, Kautz. NVAE: A deep hierarchical variational autoencoder. NeurIPS 2020."),
))

__all__ = ["HVAE"]
