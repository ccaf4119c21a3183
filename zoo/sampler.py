"""The sampler contract: what a model hands to export, and all that export may use of it.

A sampler turns standard-normal noise into samples (the decoder's mean at latents made
from the noise). `LatentVariableModel.sampler_spec()` describes it with plain functions
over tensors, so `export` builds SavedModel and TFLite graphs without knowing how a
family is built: a new family, or a change inside one, needs no change in export.

Every target (Keras, SavedModel, TFLite) runs the same functions, so all of them can be
compared on identical noise.
"""

import dataclasses
from collections.abc import Callable, Mapping

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class SamplerSpec:
    """A model's sampler as functions over tensors, with the shapes they take.

    Attributes:
      noise_dim: int. Size of the standard-normal noise vector of one sample.
      latent_shape: tuple of ints. Shape of one latent code, as `decode_mean` takes it.
      output_shape: tuple of ints. Shape of one sample.
      latent_from_noise: noise `[n, noise_dim]` -> latent codes `[n, *latent_shape]`
        distributed as the prior (the identity for a N(0, I) prior).
      decode_mean: latent codes `[n, *latent_shape]` -> the mean of p(x|z),
        `[n, *output_shape]`.
      sample_from_noise: noise -> samples, `decode_mean(latent_from_noise(noise))`
        (a family may compute it in one pass).
      noise_is_latent: bool. `latent_from_noise` is the identity and `latent_shape` is
        `(noise_dim,)`: the sampler and `decode_mean` are the same graph, so an export
        may ship it once under both names.
      extra_inputs: `{name: tf.TensorSpec}` of further inputs every function takes after
        its tensor, in this order: `labels` (int32 class ids `[batch]`) for a
        conditional model, none otherwise.
      num_classes: int or None. The number of classes `labels` may name.
    """

    noise_dim: int
    latent_shape: tuple
    output_shape: tuple
    latent_from_noise: Callable
    decode_mean: Callable
    sample_from_noise: Callable
    noise_is_latent: bool = False
    extra_inputs: Mapping = dataclasses.field(default_factory=dict)
    num_classes: int | None = None

    def __post_init__(self):
        if self.noise_is_latent and tuple(self.latent_shape) != (self.noise_dim,):
            raise ValueError(
                "noise_is_latent needs latent_shape == (noise_dim,). Received: "
                f"latent_shape={tuple(self.latent_shape)}, noise_dim={self.noise_dim}")

    def noise_signature(self, batch_size=None):
        """Input signature of `sample_from_noise`, a list of `tf.TensorSpec`: `noise`
        `[batch, noise_dim]` float32, then the extra inputs. `batch` is dynamic (None),
        or `batch_size` for runtimes that refuse a dynamic batch (LiteRT.js)."""
        return [tf.TensorSpec([batch_size, self.noise_dim], tf.float32, name="noise"),
                *self._extra_signature(batch_size)]

    def latent_signature(self, batch_size=None):
        """Input signature of `decode_mean`, a list of `tf.TensorSpec`: `z`
        `[batch, *latent_shape]` float32, then the extra inputs (batch as in
        `noise_signature`)."""
        return [tf.TensorSpec([batch_size, *self.latent_shape], tf.float32, name="z"),
                *self._extra_signature(batch_size)]

    def _extra_signature(self, batch_size):
        return [tf.TensorSpec([batch_size, *spec.shape[1:]], spec.dtype, name=spec.name)
                for spec in self.extra_inputs.values()]
