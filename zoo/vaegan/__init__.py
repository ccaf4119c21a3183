"""VAE-GAN: the decoder trained against a discriminator."""

from zoo.vaegan.discriminator import Discriminator
from zoo.vaegan.vaegan_model import VAEGAN

__all__ = ["Discriminator", "VAEGAN"]
