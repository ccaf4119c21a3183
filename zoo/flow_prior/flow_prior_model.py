"""The VAE with a normalizing-flow prior, trained jointly with the encoder and decoder."""

import keras

from zoo import losses, priors, validation
from zoo.vae.vae_model import VAE


@keras.saving.register_keras_serializable(package="vaezoo")
class FlowPriorVAE(VAE):
    """A VAE whose prior is a normalizing flow over N(0, I), learned with the rest.

    With a N(0, I) prior the aggregate posterior q(z) = E_x q(z|x) never matches the
    prior exactly: regions the prior favours but no posterior covers decode to poor
    samples, and the KL term pays for the mismatch. A flow prior p(z) = f_# N(0, I)
    (RealNVP couplings or MAF steps, `zoo.priors.FlowPrior`) is trained jointly by the
    same ELBO and moves towards q(z), which tightens the bound [3, 4].

    Math:
      p(z) = N(f^{-1}(z); 0, I) |det d f^{-1}(z)/dz| (change of variables). The KL term
      has no closed form, so the ELBO uses the one-sample Monte Carlo estimate at the
      reparameterised posterior sample z ~ q(z|x):
        KL(q(z|x) || p(z)) ~ log q(z|x) - log p(z),
      unbiased, and the same z serves the reconstruction term. Sampling runs
      eps ~ N(0, I) -> z = f(eps) -> the decoder's mean as one graph
      (`sample_from_noise`), which is what `export` converts.

    Conditional (`num_classes`): as in `zoo.VAE`, the one-hot label enters the encoder
    head and the decoder. One flow serves every class: it transforms the class's learned
    Gaussian p(z0 | y) (`class_prior`, the default), or N(0, I) with
    `class_prior=False`.

    Active units: the per-dimension KL is not defined against a non-factorised prior, so
    `active_units` uses the covariance criterion of Burda et al. on each batch
    (`zoo.losses.active_units_by_variance`).

    Args:
      input_shape, latent_dim, likelihood, network, hidden_dims, ...: as `zoo.VAE`.
      flow: str. "realnvp" or "maf". Defaults to "realnvp".
      num_flows: int. Flow steps. Defaults to 4.
      flow_hidden_units: list of ints. Widths of each step's network. Defaults to (256, 256).
      flow_activation: str. Defaults to "relu".
      log_scale_bound: float. Bound on each step's log-scale. Defaults to 3.0.

    Example:

    ```python
    import numpy as np, zoo
    x = (np.random.rand(64, 28, 28, 1) > 0.5).astype("float32")
    model = zoo.FlowPriorVAE(input_shape=(28, 28, 1), latent_dim=8, hidden_dims=(64,),
                             flow="maf", num_flows=2, flow_hidden_units=(32,))
    model.compile(optimizer="adam")
    model.fit(x, epochs=1, batch_size=32, verbose=0)
    images = model.sample(4, seed=0)
    ```

    References:
      [1] Dinh, Sohl-Dickstein, Bengio. Density estimation using Real NVP. ICLR 2017.
      [2] Papamakarios, Pavlakou, Murray. Masked autoregressive flow. NeurIPS 2017.
      [3] Chen et al. Variational lossy autoencoder. ICLR 2017.
      [4] Tomczak, Welling. VAE with a VampPrior. AISTATS 2018.
    """

    def __init__(self, input_shape, latent_dim=32, flow="realnvp", num_flows=4,
                 flow_hidden_units=(256, 256), flow_activation="relu", log_scale_bound=3.0,
                 **kwargs):
        validation.positive_int("latent_dim", latent_dim)
        super().__init__(input_shape=input_shape, latent_dim=latent_dim, **kwargs)
        self.prior_flow = priors.FlowPrior(latent_dim, flow=flow, num_flows=num_flows,
                                           hidden_units=flow_hidden_units,
                                           activation=flow_activation,
                                           log_scale_bound=log_scale_bound, name="prior_flow")
        self.prior_flow.build()

    def _prior(self, y=None):
        # The flow transforms N(0, I), or a conditional model's class Gaussian p(z0|y).
        return self.prior_flow.distribution(super()._prior(y) if self.class_prior else None)

    def latent_from_noise(self, eps, y=None):
        """Latent codes z = f(eps) distributed as the flow prior.

        Args:
          eps: float32 tensor `[n, latent_dim]`, standard-normal noise.
          y: a conditional model's one-hot labels `[n, num_classes]`: with a class prior
            the flow starts from mu_y + sigma_y * eps (see `zoo.VAE`).

        Returns:
          float32 tensor `[n, latent_dim]`.
        """
        return self.prior_flow.forward(super().latent_from_noise(eps, y))

    kl_splits_by_dimension = False
    noise_is_latent = False

    def _active_units(self, terms):
        return losses.active_units_by_variance(terms.posterior_mean, self.active_unit_threshold)

    def get_config(self):
        """The constructor arguments, `zoo.VAE`'s and the flow prior's, for saving."""
        config = super().get_config()
        flow = self.prior_flow
        config.update({"flow": flow.flow, "num_flows": flow.num_flows,
                       "flow_hidden_units": flow.hidden_units, "flow_activation": flow.activation,
                       "log_scale_bound": flow.log_scale_bound})
        return config
