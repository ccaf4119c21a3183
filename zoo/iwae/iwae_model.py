"""The importance-weighted autoencoder: a VAE trained on the k-sample importance-weighted bound."""

import keras
import tensorflow as tf

from zoo import losses, validation
from zoo.vae.vae_model import VAE


def iwae_bound(log_px, log_prior, log_q, kl_weight=1.0):
    """The k-sample importance-weighted bound per example, `[batch]`, from `[k, batch]` terms.

    Args:
      log_px: float32 `[k, batch]`, log p(x|z_i) in nats.
      log_prior: float32 `[k, batch]`, log p(z_i).
      log_q: float32 `[k, batch]`, log q(z_i|x).
      kl_weight: float or scalar tensor, a below. Defaults to 1.0.

    Returns:
      float32 tensor `[batch]`, L_k(x) in nats.

    Math:
      L_k(x) = log (1/k) sum_i w_i,  log w_i = log p(x|z_i) + a (log p(z_i) - log q(z_i|x)),
      z_i ~ q(z|x), with a = `kl_weight` (1 for the bound itself; below 1 during a KL
      warm-up). At a = 1, L_k <= L_{k+1} <= log p(x) in expectation, and L_1 is the ELBO
      with a Monte Carlo KL [1, Theorem 1].

    References:
      [1] Burda, Grosse, Salakhutdinov. Importance weighted autoencoders. ICLR 2016.
    """
    return losses.importance_weighted_bound(log_px + kl_weight * (log_prior - log_q))


@keras.saving.register_keras_serializable(package="vaezoo")
class IWAE(VAE):
    """Importance-weighted autoencoder (Burda et al. 2016): a VAE trained on a tighter bound.

    The model is `zoo.VAE`'s (diagonal-Gaussian q(z|x), N(0, I) prior, any likelihood and
    network); only the objective changes. Each example draws k = `num_samples` posterior
    samples and the loss is minus the importance-weighted bound L_k (`iwae_bound`), which
    lies between the ELBO (k = 1) and log p(x). Its reparameterised gradient weighs each
    sample by its normalised importance weight, so the encoder is not pushed to cover only
    the posterior's bulk: IWAEs use more latent units and reach a higher log-likelihood
    than a VAE of the same size [1].

    Math:
      loss = -E_batch[L_k(x)],  L_k(x) = log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x).
      With a KL warm-up or beta != 1, the log-ratio log p(z_i) - log q(z_i|x) is scaled by
      the KL weight w_t (an annealed bound); at w_t = 1 it is L_k itself.

    Reported by `fit`: `loss` (-L_k), `reconstruction` (-log p(x|z) averaged over the k
    samples), `kl` (closed-form KL(q(z|x) || p(z))) and `active_units` (latent dimensions
    whose batch-mean KL exceeds `active_unit_threshold`). Evaluation (`log_likelihood`,
    `elbo`) is the same as for any zoo model. Training costs about k times a VAE's decoder
    work per example.

    Args:
      input_shape, latent_dim, likelihood, network, hidden_dims, ...: as `zoo.VAE`.
      num_samples: int. Importance samples k per example in the training bound; 1 trains
        the ELBO (with a Monte Carlo KL). Defaults to 5.
      **kwargs: as `zoo.VAE`, except `free_bits`: the bound has no separate KL term to
        floor, so it must stay 0.

    Example:

    ```python
    import numpy as np, zoo
    x = (np.random.rand(64, 28, 28, 1) > 0.5).astype("float32")
    model = zoo.IWAE(input_shape=(28, 28, 1), latent_dim=8, hidden_dims=(64,), num_samples=5)
    model.compile(optimizer="adam")
    model.fit(x, epochs=1, batch_size=32, verbose=0)
    log_px = model.log_likelihood(x[:4], num_samples=100)  # nats, [4]
    ```

    References:
      [1] Burda, Grosse, Salakhutdinov. Importance weighted autoencoders. ICLR 2016.
    """

    trains_semi_supervised = False  # its own objective

    def __init__(self, input_shape, latent_dim=32, num_samples=5, **kwargs):
        if kwargs.get("free_bits"):
            raise ValueError("IWAE trains on the importance-weighted bound, which has no separate "
                             f"KL term for free bits. Received: free_bits={kwargs['free_bits']!r}")
        super().__init__(input_shape=input_shape, latent_dim=latent_dim, **kwargs)
        self.num_samples = validation.positive_int("num_samples", num_samples)

    def objective(self, x, y=None, sample_weight=None, *, seed, step, training):
        """Minus the k-sample bound, and the terms `fit` reports, for one batch.

        Args:
          x: float32 `[batch, *input_shape]`.
          y: class labels `[batch]`, used by a conditional model (`num_classes`) only.
          sample_weight: optional `[batch]` weights of the examples' bounds.
          seed: stateless seed of the posterior samples.
          step: the optimizer step, for the KL weight.
          training: bool. Passed to the layers.

        Returns:
          dict of float32 scalars: `loss` (-L_k, nats), `reconstruction` (-log p(x|z)
            averaged over the k samples, nats), `kl` (closed form, nats) and
            `active_units`.
        """
        codes = self.batch_labels(y, training)
        log_px, log_prior, log_q, posterior = self._importance_terms(
            x, self.num_samples, seed, training=training, y=codes)  # [k, batch] each
        weight = losses.kl_weight(step, self.beta, self.kl_warmup_steps)
        bound = iwae_bound(log_px, log_prior, log_q, weight)  # [batch]
        reconstruction = -tf.reduce_mean(log_px, axis=0)  # [batch]
        if sample_weight is not None:
            weights = losses.example_weights(sample_weight)  # [batch], mean 1
            bound, reconstruction = bound * weights, reconstruction * weights
        kl_dims = losses.kl_units(posterior, self._prior(codes))  # [batch, latent], closed form
        return {"loss": -tf.reduce_mean(bound),
                "reconstruction": tf.reduce_mean(reconstruction),
                "kl": tf.reduce_mean(tf.reduce_sum(kl_dims, axis=-1)),
                "active_units": losses.active_units(kl_dims, self.active_unit_threshold)}

    def get_config(self):
        """The constructor arguments, for saving."""
        return {**super().get_config(), "num_samples": self.num_samples}
