"""Normalizing flows: TFP bijectors whose networks are Keras 3 layers.

`tfb.AutoregressiveNetwork` and `tfb.real_nvp_default_template` are Keras 2 objects:
inside a Keras 3 model their variables are not tracked and they do not serialize. The
networks here (MADE, coupling MLPs) are Keras 3 layers; the bijectors (`tfb.RealNVP`,
`tfb.MaskedAutoregressiveFlow`, `tfb.Permute`) are built around them on each call, as
math, and hold no variables of their own.

Math (change of variables): for z = f(eps) with eps ~ N(0, I) and f invertible,
  log p(z) = log N(f^{-1}(z); 0, I) + log |det d f^{-1}(z) / dz|.
Each affine step y = x * exp(s) + t, with (s, t) computed from variables that do not
depend on the ones being transformed, has a triangular Jacobian, so the log-determinant
is sum(s). RealNVP [1] conditions half the dimensions on the other half (both directions
in one pass); MAF [2] conditions dimension i on dimensions < i (density in one pass,
sampling in D sequential passes, unrolled here so the sampler is a static graph).

References:
  [1] Dinh, Sohl-Dickstein, Bengio. Density estimation using Real NVP. ICLR 2017.
  [2] Papamakarios, Pavlakou, Murray. Masked autoregressive flow for density
      estimation. NeurIPS 2017.
  [3] Germain et al. MADE: Masked autoencoder for distribution estimation. ICML 2015.
"""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from zoo import networks, validation

tfb = tfp.bijectors

FLOWS = ("realnvp", "maf")


def bounded_log_scale(raw, bound):
    """`bound * tanh(raw / bound)`: log-scales of an affine step kept in (-bound, bound).

    An unbounded log-scale lets one step multiply by e^50 early in training, the usual
    way a flow produces inf and NaN.

    Args:
      raw: float tensor, the network's unbounded log-scales.
      bound: float > 0.

    Returns:
      float tensor shaped like `raw`, in (-bound, bound); close to `raw` near 0.
    """
    return bound * tf.tanh(raw / bound)


def made_degrees(event_size, hidden_units):
    """MADE connectivity degrees: inputs 1..D, hidden units cycling over 1..D-1.

    Args:
      event_size: int. D.
      hidden_units: sequence of int. Widths of the hidden layers.

    Returns:
      list of numpy int arrays: `[D]` for the inputs, then one `[units]` per hidden layer.
    """
    degrees = [np.arange(1, event_size + 1)]
    for units in hidden_units:
        span = max(event_size - 1, 1)
        degrees.append(np.arange(units) % span + 1)
    return degrees


def made_masks(event_size, hidden_units):
    """Masks `[fan_in, fan_out]` of MADE's layers; the last maps to 2 outputs per dimension.

    A hidden unit of degree k may see inputs of degree <= k; output i (shift and
    log-scale of dimension i) may see hidden units of degree < i, so it depends on
    dimensions < i only: the autoregressive property.

    Args:
      event_size: int. D.
      hidden_units: sequence of int. Widths of the hidden layers.

    Returns:
      list of numpy float32 0/1 arrays, one per layer: `[fan_in, units]` for the hidden
        layers, then `[last width, 2 D]` (shifts, then log-scales).
    """
    degrees = made_degrees(event_size, hidden_units)
    masks = [(d_in[:, None] <= d_out[None, :]).astype(np.float32)
             for d_in, d_out in zip(degrees[:-1], degrees[1:])]
    out_degrees = np.arange(1, event_size + 1)
    last = (degrees[-1][:, None] < out_degrees[None, :]).astype(np.float32)
    masks.append(np.concatenate([last, last], axis=1))  # shift and log-scale
    return masks


@keras.saving.register_keras_serializable(package="vaezoo")
class MaskedDense(keras.layers.Layer):
    """A dense layer whose kernel is multiplied by a fixed 0/1 mask (part of MADE).

    Args:
      units: int. Output width.
      mask: array `[fan_in, units]`. Which connections exist.
      activation: str or None. Defaults to None.
      zero_init: bool. Start the kernel at zero. Defaults to False.
    """

    def __init__(self, units, mask, activation=None, zero_init=False, **kwargs):
        super().__init__(**kwargs)
        self.units = validation.positive_int("units", units)
        self.mask = np.asarray(mask, np.float32)
        if self.mask.ndim != 2 or self.mask.shape[1] != units:
            raise ValueError(f"mask must have shape [fan_in, {units}]. Received: {self.mask.shape}")
        self.activation = activation
        self.zero_init = bool(zero_init)
        self._act = keras.activations.get(activation)

    def build(self, input_shape):
        """Creates the kernel `[fan_in, units]` and bias `[units]`."""
        self.kernel = self.add_weight(
            name="kernel", shape=self.mask.shape,
            initializer="zeros" if self.zero_init else "glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def call(self, x):
        """`activation(x @ (kernel * mask) + bias)`: `[batch, fan_in]` -> `[batch, units]`."""
        kernel = tf.convert_to_tensor(self.kernel)  # in the compute dtype inside `call`
        mask = self._mask_tensor()
        if mask.dtype != kernel.dtype:  # mixed precision: a float32 mask, a bfloat16 kernel
            mask = tf.cast(mask, kernel.dtype)
        return self._act(tf.matmul(x, kernel * mask) + self.bias)

    def _mask_tensor(self):
        """The mask as one eager constant, made once and captured by every graph.

        A numpy mask would become a new graph constant at each use; the unrolled MAF
        sampler calls this layer D times per step, which put a copy of the masks into an
        exported SavedModel for every call, a graph many times the size of the weights.
        A captured eager tensor is stored once per function. `init_scope` keeps it eager when the
        layer is first called inside a traced function."""
        if getattr(self, "_mask_constant", None) is None:
            with tf.init_scope():
                self._mask_constant = tf.constant(self.mask)
        return self._mask_constant

    def compute_output_shape(self, input_shape):
        """`input_shape` with the last axis replaced by `units`."""
        return (*input_shape[:-1], self.units)

    def get_config(self):
        """The constructor arguments (the mask as nested lists), for saving."""
        return {**super().get_config(), "units": self.units, "mask": self.mask.tolist(),
                "activation": self.activation, "zero_init": self.zero_init}


class _AffineParameters(networks._Stack):
    """A stack of layers whose output splits into (shift, bounded log-scale)."""

    def __init__(self, hidden_units, activation, log_scale_bound, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = networks._check_dims("hidden_units", hidden_units)
        self.activation = activation
        self.log_scale_bound = validation.positive_float("log_scale_bound", log_scale_bound)

    def call(self, x):
        # float32 out under any policy: TFP's affine step combines them with the float32
        # latent, and the log-determinant (their sum) is part of the float32 log p(z).
        shift, raw = tf.split(tf.cast(super().call(x), tf.float32), 2, axis=-1)
        return shift, bounded_log_scale(raw, self.log_scale_bound)

    def get_config(self):
        return {**super().get_config(), "hidden_units": self.hidden_units,
                "activation": self.activation, "log_scale_bound": self.log_scale_bound}


@keras.saving.register_keras_serializable(package="vaezoo")
class MADE(_AffineParameters):
    """Masked autoencoder for distribution estimation [3]: shift and log-scale of each
    dimension from the dimensions before it.

    Called on `x` `[batch, D]`, it returns `(shift, log_scale)`, each float32
    `[batch, D]`; both start at zero, so a flow of MADEs starts as the identity.

    Args:
      event_size: int. D.
      hidden_units: list of ints. Defaults to (128, 128).
      activation: str. Defaults to "relu".
      log_scale_bound: float. See `bounded_log_scale`. Defaults to 3.0.
    """

    def __init__(self, event_size, hidden_units=(128, 128), activation="relu",
                 log_scale_bound=3.0, **kwargs):
        super().__init__(hidden_units, activation, log_scale_bound, **kwargs)
        self.event_size = validation.positive_int("event_size", event_size)
        masks = made_masks(self.event_size, self.hidden_units)
        self.stack = [MaskedDense(u, m, activation, name=f"masked_{i}")
                      for i, (u, m) in enumerate(zip(self.hidden_units, masks[:-1]))]
        # Zero output: the flow starts as the identity.
        self.stack.append(MaskedDense(2 * self.event_size, masks[-1], zero_init=True, name="output"))

    def get_config(self):
        """The constructor arguments, for saving."""
        return {**super().get_config(), "event_size": self.event_size}


@keras.saving.register_keras_serializable(package="vaezoo")
class CouplingNetwork(_AffineParameters):
    """The MLP of one RealNVP coupling: shift and log-scale of the transformed half.

    Called on the conditioning half `[batch, d]`, it returns `(shift, log_scale)`, each
    float32 `[batch, output_units]`; both start at zero (the identity coupling).

    Args:
      output_units: int. Size of the transformed half.
      hidden_units: list of ints. Defaults to (128, 128).
      activation: str. Defaults to "relu".
      log_scale_bound: float. See `bounded_log_scale`. Defaults to 3.0.
    """

    def __init__(self, output_units, hidden_units=(128, 128), activation="relu",
                 log_scale_bound=3.0, **kwargs):
        super().__init__(hidden_units, activation, log_scale_bound, **kwargs)
        self.output_units = validation.positive_int("output_units", output_units)
        self.stack = [keras.layers.Dense(u, activation=activation, name=f"dense_{i}")
                      for i, u in enumerate(self.hidden_units)]
        self.stack.append(keras.layers.Dense(2 * self.output_units, kernel_initializer="zeros",
                                             name="output"))

    def get_config(self):
        """The constructor arguments, for saving."""
        return {**super().get_config(), "output_units": self.output_units}


def _shift_and_log_scale_fn(network):
    """Adapts a Keras network to TFP's `shift_and_log_scale_fn(x, output_units, **kw)`.

    The output size is fixed when the network is built, so TFP's `output_units` (an
    int, which a Keras 3 layer may not take positionally) is checked, not passed on.
    """

    def fn(x, output_units=None, **condition_kwargs):
        built_for = getattr(network, "output_units", None)
        if output_units is not None and built_for is not None and int(output_units) != built_for:
            raise ValueError(f"The flow asks its coupling network for {int(output_units)} outputs; "
                             f"it was built for {built_for}. Received: output_units={output_units!r}")
        return network(x)

    return fn


def reverse_permutation(event_size):
    """The permutation between flow steps: reverse the order, so every dimension is
    transformed by (RealNVP) or conditions (MAF) the others across two steps.

    Args:
      event_size: int. D.

    Returns:
      A `tfb.Permute` bijector over `[..., D]`.
    """
    return tfb.Permute(permutation=list(reversed(range(event_size))))


def flow_bijector(kind, networks_, event_size, unroll=False):
    """A chain of `len(networks_)` flow steps with reversals between them.

    Args:
      kind: "realnvp" (networks are `CouplingNetwork`s) or "maf" (`MADE`s).
      networks_: the Keras networks, one per step, applied in list order.
      event_size: int. D.
      unroll: bool. MAF only: unroll the D sequential passes of the forward (sampling)
        direction into a static graph, for export. Defaults to False.

    Returns:
      A `tfb.Chain` over `[..., D]` events: `forward` maps noise to samples.
    """
    steps = []
    for i, network in enumerate(networks_):
        if kind == "realnvp":
            steps.append(tfb.RealNVP(num_masked=event_size // 2,
                                     shift_and_log_scale_fn=_shift_and_log_scale_fn(network),
                                     name=f"realnvp_{i}"))
        else:
            steps.append(tfb.MaskedAutoregressiveFlow(
                shift_and_log_scale_fn=_shift_and_log_scale_fn(network), unroll_loop=unroll,
                event_ndims=1, name=f"maf_{i}"))
        if i < len(networks_) - 1:
            steps.append(reverse_permutation(event_size))
    # tfb.Chain applies the last bijector first: reverse so steps run in list order.
    return tfb.Chain(list(reversed(steps)))
