"""Priors p(z) as Keras layers that build TFP distributions."""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from zoo import flows, networks, validation

tfd = tfp.distributions


def standard_normal(latent_dim):
    """N(0, I) over `latent_dim` dimensions.

    Returns:
      A float32 `tfd.Independent` with batch shape [] and event shape [latent_dim].
    """
    zeros = tf.zeros([latent_dim], tf.float32)
    return tfd.Independent(tfd.Normal(zeros, tf.ones_like(zeros)), reinterpreted_batch_ndims=1)


@keras.saving.register_keras_serializable(package="vaezoo")
class FlowPrior(keras.layers.Layer):
    """A learned prior: N(0, I) pushed through a normalizing flow, p(z) = f_# N(0, I).

    Math:
      z = f(eps), eps ~ N(0, I), f = f_K o P o ... o P o f_1 (P reverses the order);
      log p(z) = log N(f^{-1}(z); 0, I) + sum_k log |det J_{f_k^{-1}}|. See `zoo.flows`.

    Args:
      latent_dim: int. Size of z (>= 2).
      flow: str. "realnvp" (affine couplings) or "maf" (masked autoregressive).
        Defaults to "realnvp".
      num_flows: int. Flow steps. Defaults to 4.
      hidden_units: list of ints. Widths of each step's network. Defaults to (256, 256).
      activation: str. Defaults to "relu".
      log_scale_bound: float. Bound on each step's log-scale. Defaults to 3.0.
    """

    def __init__(self, latent_dim, flow="realnvp", num_flows=4, hidden_units=(256, 256),
                 activation="relu", log_scale_bound=3.0, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = validation.positive_int("latent_dim", latent_dim)
        if self.latent_dim < 2:
            raise ValueError(f"A flow prior needs latent_dim >= 2. Received: latent_dim={latent_dim}")
        self.flow = validation.one_of("flow", flow, flows.FLOWS)
        self.num_flows = validation.positive_int("num_flows", num_flows)
        self.hidden_units = networks._check_dims("hidden_units", hidden_units)
        self.activation = activation
        self.log_scale_bound = validation.positive_float("log_scale_bound", log_scale_bound)
        half = self.latent_dim // 2
        if self.flow == "realnvp":
            self.step_networks = [
                flows.CouplingNetwork(self.latent_dim - half, self.hidden_units, activation,
                                      self.log_scale_bound, name=f"coupling_{i}")
                for i in range(self.num_flows)]
        else:
            self.step_networks = [
                flows.MADE(self.latent_dim, self.hidden_units, activation, self.log_scale_bound,
                           name=f"made_{i}")
                for i in range(self.num_flows)]

    def build(self, input_shape=None):
        """Builds each step's network; `input_shape` is ignored (the size is `latent_dim`)."""
        fan_in = self.latent_dim // 2 if self.flow == "realnvp" else self.latent_dim
        for network in self.step_networks:
            network.build((None, fan_in))

    def bijector(self, unroll=False):
        """The flow f (noise to latent) as a `tfb.Chain` over the layer's networks.

        Args:
          unroll: bool. Unroll MAF's sequential passes into a static graph (see
            `zoo.flows.flow_bijector`). Defaults to False.
        """
        return flows.flow_bijector(self.flow, self.step_networks, self.latent_dim, unroll=unroll)

    def distribution(self, base=None):
        """p(z), a `tfd.TransformedDistribution` with event shape [latent_dim];
        `log_prob(z)` is in nats.

        Args:
          base: the distribution the flow transforms, event shape [latent_dim] (e.g. a
            class's Gaussian, batch shape [batch]). Defaults to N(0, I), batch shape [].
        """
        base = standard_normal(self.latent_dim) if base is None else base
        return tfd.TransformedDistribution(base, self.bijector())

    def forward(self, eps):
        """z = f(eps), as a static graph (MAF's sequential passes unrolled).

        Args:
          eps: float32 tensor `[n, latent_dim]`, standard-normal noise.

        Returns:
          float32 tensor `[n, latent_dim]`.
        """
        return self.bijector(unroll=True).forward(eps)

    def get_config(self):
        """The constructor arguments, for saving."""
        return {**super().get_config(), "latent_dim": self.latent_dim, "flow": self.flow,
                "num_flows": self.num_flows, "hidden_units": self.hidden_units,
                "activation": self.activation, "log_scale_bound": self.log_scale_bound}
