"""VAE-GAN: a VAE whose decoder is also trained against a discriminator."""

from zoo import families
from zoo.vaegan.discriminator import Discriminator
from zoo.vaegan.vaegan_model import VAEGAN

FAMILY = families.register(families.Family(
    name="vaegan",
    model_class=VAEGAN,
    summary="VAE-GAN: reconstruction measured in a discriminator's features, for sharp samples.",
    options=(*families.VAE_OPTIONS,
             families.Option("gamma", float,
                             "weight of reconstruction against realism in the decoder's loss "
                             "(the presets' recipe uses 0.01)"),
             families.Option("pixel_weight", float,
                             "weight of the pixel likelihood inside the reconstruction term "
                             "(0: the paper's objective; the presets use 1)")),
    small_configs={
        "conv": dict(latent_dim=8, network="conv", hidden_dims=(8, 16), discriminator_dims=(8, 16),
                     spectral_norm=True, seed=0),
    },
    references=("Larsen, Sønderby, Larochelle, Winther. Autoencoding beyond pixels using a "
                "learned similarity metric. ICML 2016.",),
))

__all__ = ["Discriminator", "VAEGAN"]
