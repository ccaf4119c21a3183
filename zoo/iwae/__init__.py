"""The importance-weighted autoencoder family (IWAE)."""

from zoo import families
from zoo.iwae.iwae_model import IWAE

FAMILY = families.register(families.Family(
    name="iwae",
    model_class=IWAE,
    summary="Importance-weighted autoencoder: a VAE trained on the k-sample importance-weighted bound.",
    options=(*families.VAE_OPTIONS,
             families.Option("num_samples", int, "importance samples per example in the training bound")),
    small_configs={"mlp": dict(latent_dim=8, hidden_dims=(64, 32), num_samples=4, seed=0)},
    references=("Burda, Grosse, Salakhutdinov. Importance weighted autoencoders. ICLR 2016.",),
))

__all__ = ["IWAE"]
