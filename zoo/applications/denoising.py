"""Denoising by a MAP fit of the latent code under a noise model: what `model.denoise` runs.

Reconstructing a noisy input (`model.reconstruct`) trusts the encoder, which never saw
noise and maps noisy inputs to wrong codes. Here the noise is part of the model:
y = mu(z) + noise, with mu(z) the decoder mean, and z maximises

    log p(z) + log p_noise(y | mu(z))

by Adam from the encoder's code (`model.latent_code`). The result is mu(z*): the closest
clean input the model can generate, weighed against its prior. Only the model's public
`latent_code`, `decoder_distribution` and `log_prior` are used (with a conditional
model's labels).
"""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from zoo import labels as zoo_labels
from zoo import validation

tfd = tfp.distributions

#: Noise models: y given the decoder mean.
NOISE_MODELS = {"gaussian": lambda mean, scale: tfd.Normal(mean, scale),
                "laplace": lambda mean, scale: tfd.Laplace(mean, scale)}


class LatentMapFit:
    """The MAP fit for batches of `rows` examples under one noise model, compiled once.

    A service that denoises request after request would otherwise trace a new graph
    for every call (a fresh latent variable and optimizer each time). This holds one
    latent variable, one Adam and one compiled loop; each call resets them and pads a
    short batch to the traced shape by repeating its first row. The loss is a sum over
    rows, so each row's fit does not depend on the rows beside it (padding included).
    The learning rate is an optimizer variable, set on every call, so a new rate does
    not trace again either. A plain object, not a Keras layer: its state is scratch and
    is never saved.

    Args:
      model: a zoo model.
      rows: int. Examples per optimisation.
      noise: str. A key of `NOISE_MODELS`.
    """

    def __init__(self, model, rows, noise):
        self.model, self.rows = model, rows
        self.noise_dist = NOISE_MODELS[noise]
        self.z = self.optimizer = None

    def __call__(self, y, noise_scale, num_steps, learning_rate, ids=None):
        """Denoised `y` `[n <= rows, *input_shape]` (already checked), float32; `ids` are
        a conditional model's checked class ids `[n]` (`model.label_ids`).

        Returns:
          float32 tensor `[n, *input_shape]`: the decoder mean at the MAP code.
        """
        count = int(y.shape[0])
        if count < self.rows:
            y = tf.concat([y, tf.repeat(y[:1], self.rows - count, axis=0)], axis=0)
            if ids is not None:
                ids = np.concatenate([ids, np.repeat(ids[:1], self.rows - count)])
        start = self.model.latent_code(y, labels=ids)  # from the encoder's code
        codes = None if ids is None else zoo_labels.one_hot(ids, self.model.num_classes)
        if self.z is None:
            self.z = tf.Variable(start, name="denoise_z")
            self.optimizer = keras.optimizers.Adam(learning_rate)
            self.optimizer.build([self.z])
        else:  # a fresh start: the code, zero moments, step 0, this call's rate
            self.z.assign(start)
            for v in self.optimizer.variables:
                v.assign(tf.zeros_like(v))
            self.optimizer.learning_rate = learning_rate
        return self._fit(y, tf.constant(noise_scale, tf.float32), tf.constant(num_steps),
                         codes)[:count]

    @tf.function
    def _fit(self, y, noise_scale, num_steps, codes=None):
        model, z = self.model, self.z
        axes = list(range(1, len(model.data_shape) + 1))
        for _ in tf.range(num_steps):
            with tf.GradientTape() as tape:
                mean = model.decoder_distribution(z, codes).mean()
                log_p_y = tf.reduce_sum(self.noise_dist(mean, noise_scale).log_prob(y), axis=axes)
                loss = -tf.reduce_sum(log_p_y + model.log_prior(z, codes))
            self.optimizer.apply_gradients([(tape.gradient(loss, z), z)])
        return model.decoder_distribution(z, codes).mean()


class Denoiser:
    """Denoising with one model: one `LatentMapFit` per (batch rows, noise model), made
    on first use and reused (what `model.denoise` runs; same arguments).

    Args:
      model: a zoo model.

    Call it as `model.denoise`; see that method for the arguments. It returns a float32
    tensor `[n, *input_shape]`.
    """

    def __init__(self, model):
        self.model = model
        self.fits = {}  # (rows, noise) -> LatentMapFit

    def __call__(self, y, noise="gaussian", noise_scale=0.1, num_steps=200, learning_rate=0.05,
                 batch_size=500, labels=None):
        noise = validation.one_of("noise", noise, NOISE_MODELS)
        noise_scale = validation.positive_float("noise_scale", noise_scale)
        num_steps = validation.positive_int("num_steps", num_steps)
        learning_rate = validation.positive_float("learning_rate", learning_rate)
        batch_size = validation.positive_int("batch_size", batch_size)
        y = self.model.check_input("y", y)
        ids = self.model.label_ids(labels, int(y.shape[0]))
        rows = min(batch_size, int(y.shape[0]))
        fit = self.fits.get((rows, noise))
        if fit is None:
            fit = self.fits[(rows, noise)] = LatentMapFit(self.model, rows, noise)
        parts = [fit(y[start:start + rows], noise_scale, num_steps, learning_rate,
                     None if ids is None else ids[start:start + rows])
                 for start in range(0, int(y.shape[0]), rows)]
        return tf.concat(parts, axis=0)
