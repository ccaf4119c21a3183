"""Encoder and decoder networks: fully connected and convolutional, any input size.

Encoders map a batch of data `[batch, *data_shape]` to features `[batch, features]`.
Decoders map latents `[batch, latent]` to likelihood parameters
`[batch, *data_shape, num_params]` (see `zoo.likelihoods`). Models pick them by name
(`network="mlp"` or `"conv"`) or take any layer with the same contract.
"""

import math

import keras
import tensorflow as tf

from zoo import validation


class _Stack(keras.layers.Layer):
    """Runs `self.stack` (a list of layers) in order and builds them from shapes."""

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.stack:
            layer.build(shape)
            shape = tuple(layer.compute_output_shape(shape))

    def call(self, x, training=None):
        for layer in self.stack:
            x = layer(x)
        return x

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.stack:
            shape = tuple(layer.compute_output_shape(shape))
        return shape


def _check_dims(name, dims):
    if isinstance(dims, int):
        dims = (dims,)
    if not isinstance(dims, (list, tuple)) or not dims:
        raise ValueError(f"{name} must be a non-empty list of positive integers. Received: {name}={dims!r}")
    return tuple(validation.positive_int(name, d) for d in dims)


@keras.saving.register_keras_serializable(package="vaezoo")
class BatchReshape(keras.layers.Reshape):
    """`keras.layers.Reshape` written as a reshape to `(-1, *target_shape)`.

    Keras' own layer reshapes to `(shape(x)[0], *target_shape)`, which TFLite turns into
    SHAPE/STRIDED_SLICE/PACK ops that XNNPACK cannot run: each one split the exported
    sampler into separate delegate partitions. A constant target shape keeps it whole.

    Args:
      target_shape: tuple of ints. The shape after the batch axis, as in
        `keras.layers.Reshape`.
    """

    def call(self, inputs):
        """`inputs` `[batch, ...]` reshaped to `[batch, *target_shape]`."""
        return keras.ops.reshape(inputs, (-1, *self.target_shape))


@keras.saving.register_keras_serializable(package="vaezoo")
class NearestResize(keras.layers.Layer):
    """Nearest-neighbour resize of `[batch, h, w, c]` maps to a static `(height, width)`.

    An integer upscale (the same factor f on both axes, the case of every zoo decoder)
    is computed as f*f channel copies followed by `depth_to_space(f)`: the same values
    as `tf.image.resize(..., "nearest")`, but in ops TFLite's XNNPACK delegate runs.
    RESIZE_NEAREST_NEIGHBOR is not among them, so it split the exported sampler into
    several delegate partitions with reference kernels between them, which made the int8
    sampler slower at batch 1. Other sizes fall back to the resize op.

    Args:
      height, width: int. The output size, pixels.
    """

    def __init__(self, height, width, **kwargs):
        super().__init__(**kwargs)
        self.height, self.width = int(height), int(width)

    def _factor(self, input_shape):
        h, w = input_shape[1], input_shape[2]
        if h and w and self.height % h == 0 and self.height // h == self.width / w:
            return self.height // h
        return None

    def call(self, x):
        """`x` `[batch, h, w, c]` resized to `[batch, height, width, c]`."""
        factor = self._factor(x.shape)
        if factor == 1:
            return x
        if factor is not None:
            return tf.nn.depth_to_space(keras.ops.concatenate([x] * factor ** 2, axis=-1), factor)
        return tf.image.resize(x, (self.height, self.width), method="nearest")

    def compute_output_shape(self, input_shape):
        """`(batch, height, width, channels)`."""
        return (input_shape[0], self.height, self.width, input_shape[3])

    def get_config(self):
        """The constructor arguments, for saving."""
        return {**super().get_config(), "height": self.height, "width": self.width}


@keras.saving.register_keras_serializable(package="vaezoo")
class ResidualBlock(keras.layers.Layer):
    """Pre-activation residual block: `x + conv(act(conv(act(x))))`, same shape out.

    The second convolution starts at zero so a deep stack begins as the identity, the
    initialisation that keeps deep VAEs stable early in training.

    `preactivate=False` drops the first `act`, for inputs that already went through an
    idempotent activation (relu after relu changes nothing). The result is the same,
    but an int8 TFLite graph then has no standalone RELU: XNNPACK does not run int8
    RELU, so each one is a slow reference kernel between delegate partitions.

    Args:
      filters: int. Channels of both convolutions; must equal the input's channels.
      kernel_size: int. Defaults to 3.
      activation: str. Keras activation. Defaults to "relu".
      preactivate: bool. Apply the activation to the input first. Defaults to True.
    """

    def __init__(self, filters, kernel_size=3, activation="relu", preactivate=True, **kwargs):
        super().__init__(**kwargs)
        self.filters = validation.positive_int("filters", filters)
        self.kernel_size = validation.positive_int("kernel_size", kernel_size)
        self.activation = activation
        self.preactivate = bool(preactivate)
        self._act = keras.activations.get(activation)
        self.conv1 = keras.layers.Conv2D(filters, kernel_size, padding="same", name="conv1")
        self.conv2 = keras.layers.Conv2D(filters, kernel_size, padding="same",
                                         kernel_initializer="zeros", name="conv2")

    def build(self, input_shape):
        """Builds both convolutions for `[batch, h, w, filters]` inputs."""
        self.conv1.build(input_shape)
        self.conv2.build(self.conv1.compute_output_shape(input_shape))

    def call(self, x):
        """`[batch, h, w, filters]` -> the same shape."""
        h = self._act(x) if self.preactivate else x
        return x + self.conv2(self._act(self.conv1(h)))

    def compute_output_shape(self, input_shape):
        """`input_shape`: the block keeps the shape."""
        return input_shape

    def get_config(self):
        """The constructor arguments, for saving."""
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "activation": self.activation,
                "preactivate": self.preactivate}


@keras.saving.register_keras_serializable(package="vaezoo")
class DenseResidualBlock(keras.layers.Layer):
    """Pre-activation residual block of two dense layers: `x + W2 act(W1 act(x))`.

    The second layer starts at zero, so a stack of blocks begins as the identity.

    Args:
      units: int. Width of both layers; must equal the input's width.
      activation: str. Keras activation. Defaults to "relu".
    """

    def __init__(self, units, activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.units = validation.positive_int("units", units)
        self.activation = activation
        self._act = keras.activations.get(activation)
        self.dense1 = keras.layers.Dense(units, name="dense1")
        self.dense2 = keras.layers.Dense(units, kernel_initializer="zeros", name="dense2")

    def build(self, input_shape):
        """Builds both dense layers for `[batch, units]` inputs."""
        self.dense1.build(input_shape)
        self.dense2.build(self.dense1.compute_output_shape(input_shape))

    def call(self, x):
        """`[batch, units]` -> the same shape."""
        return x + self.dense2(self._act(self.dense1(self._act(x))))

    def compute_output_shape(self, input_shape):
        """`input_shape`: the block keeps the shape."""
        return input_shape

    def get_config(self):
        """The constructor arguments, for saving."""
        return {**super().get_config(), "units": self.units, "activation": self.activation}


@keras.saving.register_keras_serializable(package="vaezoo")
class MLPEncoder(_Stack):
    """Flatten, then dense layers: `[batch, *data_shape]` -> `[batch, hidden_dims[-1]]`.

    Args:
      hidden_dims: list of ints. Widths of the hidden layers. Defaults to (512, 256).
      activation: str. Keras activation. Defaults to "relu".
    """

    def __init__(self, hidden_dims=(512, 256), activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.hidden_dims = _check_dims("hidden_dims", hidden_dims)
        self.activation = activation
        self.stack = [keras.layers.Flatten(name="flatten")] + [
            keras.layers.Dense(d, activation=activation, name=f"dense_{i}")
            for i, d in enumerate(self.hidden_dims)
        ]

    def get_config(self):
        """The constructor arguments, for saving."""
        return {**super().get_config(), "hidden_dims": self.hidden_dims,
                "activation": self.activation}


@keras.saving.register_keras_serializable(package="vaezoo")
class MLPDecoder(_Stack):
    """Dense layers, then a linear layer reshaped to `target_shape`.

    Args:
      target_shape: tuple of ints. `(*data_shape, num_params)`.
      hidden_dims: list of ints. Widths of the hidden layers. Defaults to (256, 512).
      activation: str. Keras activation. Defaults to "relu".
    """

    def __init__(self, target_shape, hidden_dims=(256, 512), activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.target_shape = validation.shape_tuple("target_shape", target_shape)
        self.hidden_dims = _check_dims("hidden_dims", hidden_dims)
        self.activation = activation
        self.stack = [keras.layers.Dense(d, activation=activation, name=f"dense_{i}")
                      for i, d in enumerate(self.hidden_dims)]
        self.stack += [
            keras.layers.Dense(math.prod(self.target_shape), name="output"),
            keras.layers.Reshape(self.target_shape, name="reshape"),
        ]

    def get_config(self):
        """The constructor arguments, for saving."""
        return {**super().get_config(), "target_shape": self.target_shape,
                "hidden_dims": self.hidden_dims, "activation": self.activation}


@keras.saving.register_keras_serializable(package="vaezoo")
class ConvEncoder(_Stack):
    """Stride-2 convolutions (each optionally followed by residual blocks), flattened.

    `[batch, height, width, channels]` -> `[batch, ceil(height / 2**stages) *
    ceil(width / 2**stages) * filters[-1]]`.

    Args:
      filters: list of ints. Channels of each stride-2 stage. Defaults to (32, 64).
      kernel_size: int. Defaults to 3.
      num_res_blocks: int. Residual blocks after each stage. Defaults to 0.
      activation: str. Keras activation. Defaults to "relu".
    """

    def __init__(self, filters=(32, 64), kernel_size=3, num_res_blocks=0, activation="relu",
                 **kwargs):
        super().__init__(**kwargs)
        self.filters = _check_dims("filters", filters)
        self.kernel_size = validation.positive_int("kernel_size", kernel_size)
        self.num_res_blocks = validation.non_negative_int("num_res_blocks", num_res_blocks)
        self.activation = activation
        self.stack = []
        for i, f in enumerate(self.filters):
            self.stack.append(keras.layers.Conv2D(f, kernel_size, strides=2, padding="same",
                                                  activation=activation, name=f"down_{i}"))
            self.stack += [ResidualBlock(f, kernel_size, activation, name=f"res_{i}_{j}")
                           for j in range(self.num_res_blocks)]
        self.stack.append(keras.layers.Flatten(name="flatten"))

    def build(self, input_shape):
        """Builds the stages for `[batch, height, width, channels]` inputs.

        Raises:
          ValueError: the input is not a batch of images.
        """
        if len(input_shape) != 4:
            raise ValueError(
                "A convolutional encoder needs image data of shape (height, width, channels). "
                f"Received: input_shape={tuple(input_shape[1:])}"
            )
        super().build(input_shape)

    def get_config(self):
        """The constructor arguments, for saving."""
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "num_res_blocks": self.num_res_blocks,
                "activation": self.activation}


@keras.saving.register_keras_serializable(package="vaezoo")
class ConvDecoder(keras.layers.Layer):
    """Dense to a coarse feature map, then (residual blocks, 2x upsampling) per stage.

    The mirror of `ConvEncoder`: `filters` are the channels at each resolution below the
    full one, coarse to fine, and the full-resolution map keeps `filters[-1]` channels
    before a 3x3 convolution emits the likelihood parameters. Residual blocks sit before
    each upsampling, at coarse resolutions, where they are cheap; full-resolution
    convolutions dominate the cost on a CPU. Any image size works: the coarse map is
    `ceil(size / 2**stages)` on each side and the output is cropped after upsampling.

    Args:
      target_shape: tuple of ints. `(height, width, channels, num_params)`.
      filters: list of ints. Channels per stage, coarse to fine. Defaults to (64, 32).
      kernel_size: int. Defaults to 3.
      num_res_blocks: int. Residual blocks per stage. Defaults to 0.
      activation: str. Keras activation. Defaults to "relu".
      upsampling: str. "transpose" (stride-2 transposed convolutions) or "nearest"
        (nearest-neighbour 2x resize, then a convolution [1]): 4x the multiply-adds, but
        no checkerboard artefacts, and faster in TFLite, int8 above all, where transposed
        convolutions have slow kernels. Defaults to "nearest".

    References:
      [1] Odena, Dumoulin, Olah. Deconvolution and checkerboard artifacts. Distill 2016.
    """

    def __init__(self, target_shape, filters=(64, 32), kernel_size=3, num_res_blocks=0,
                 activation="relu", upsampling="nearest", **kwargs):
        super().__init__(**kwargs)
        self.target_shape = validation.shape_tuple("target_shape", target_shape)
        if len(self.target_shape) != 4:
            raise ValueError(
                "A convolutional decoder needs target_shape=(height, width, channels, num_params). "
                f"Received: target_shape={self.target_shape}"
            )
        self.filters = _check_dims("filters", filters)
        self.kernel_size = validation.positive_int("kernel_size", kernel_size)
        self.num_res_blocks = validation.non_negative_int("num_res_blocks", num_res_blocks)
        self.activation = activation
        self.upsampling = validation.one_of("upsampling", upsampling, ("transpose", "nearest"))
        height, width, channels, num_params = self.target_shape
        scale = 2 ** len(self.filters)
        self.seed_shape = (math.ceil(height / scale), math.ceil(width / scale), self.filters[0])
        self.seed = keras.layers.Dense(math.prod(self.seed_shape), activation=activation,
                                       name="seed")
        self.reshape = BatchReshape(self.seed_shape, name="reshape")
        self.up = []
        size = self.seed_shape[:2]
        for i, f in enumerate(self.filters):
            # The first block of a stage takes the output of a relu layer (the seed or
            # the previous upsampling convolution), so its pre-activation is a no-op.
            self.up += [ResidualBlock(f, kernel_size, activation,
                                      preactivate=not (j == 0 and activation == "relu"),
                                      name=f"res_{i}_{j}")
                        for j in range(self.num_res_blocks)]
            out = self.filters[min(i + 1, len(self.filters) - 1)]
            size = (2 * size[0], 2 * size[1])
            if self.upsampling == "transpose":
                self.up.append(keras.layers.Conv2DTranspose(
                    out, kernel_size, strides=2, padding="same", activation=activation,
                    name=f"up_{i}"))
            else:
                # A resize to a static size (UpSampling2D lowers to tf.repeat, which loses
                # the static shape TFLite's convolution needs).
                self.up += [NearestResize(*size, name=f"resize_{i}"),
                            keras.layers.Conv2D(out, kernel_size, padding="same",
                                                activation=activation, name=f"up_{i}")]
        self.head = keras.layers.Conv2D(channels * num_params, kernel_size, padding="same",
                                        name="head")
        self.to_params = BatchReshape(self.target_shape, name="to_params")

    def build(self, input_shape):
        """Builds every layer for latents `[batch, latent]`."""
        self.seed.build(input_shape)
        shape = (input_shape[0], *self.seed_shape)
        for layer in self.up:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.head.build(shape)

    def call(self, z):
        """Latents `[batch, latent]` -> parameters `[batch, *target_shape]`."""
        x = self.reshape(self.seed(z))
        for layer in self.up:
            x = layer(x)
        height, width = self.target_shape[:2]
        x = self.head(x)
        if tuple(x.shape[1:3]) != (height, width):  # odd sizes: crop the upsampled map
            x = x[:, :height, :width, :]
        return self.to_params(x)

    def compute_output_shape(self, input_shape):
        """`(batch, *target_shape)`."""
        return (input_shape[0], *self.target_shape)

    def get_config(self):
        """The constructor arguments, for saving."""
        return {**super().get_config(), "target_shape": self.target_shape,
                "filters": self.filters, "kernel_size": self.kernel_size,
                "num_res_blocks": self.num_res_blocks, "activation": self.activation,
                "upsampling": self.upsampling}


NETWORKS = ("mlp", "conv")


def default_hidden_dims(network):
    """Encoder widths (MLP units or conv filters) used when a model is given none.

    Args:
      network: str. "mlp" or "conv".

    Returns:
      tuple of int: (512, 256) for "mlp", (32, 64) for "conv".
    """
    return (512, 256) if network == "mlp" else (32, 64)


def build_encoder(network, hidden_dims, activation="relu", num_res_blocks=0):
    """Returns an encoder layer of the named family, called "encoder".

    Args:
      network: str. "mlp" (`MLPEncoder`) or "conv" (`ConvEncoder`).
      hidden_dims: list of ints. Widths (MLP) or channels per stride-2 stage (conv).
      activation: str. Keras activation. Defaults to "relu".
      num_res_blocks: int. Residual blocks per conv stage (ignored by "mlp").
        Defaults to 0.

    Returns:
      An unbuilt Keras layer mapping `[batch, *data_shape]` to `[batch, features]`.
    """
    if network == "mlp":
        return MLPEncoder(hidden_dims, activation, name="encoder")
    return ConvEncoder(hidden_dims, num_res_blocks=num_res_blocks, activation=activation,
                       name="encoder")


def build_decoder(network, hidden_dims, target_shape, activation="relu", num_res_blocks=0,
                  upsampling="nearest"):
    """Returns the decoder mirroring `build_encoder(network, hidden_dims, ...)`, called
    "decoder".

    Args:
      network: str. "mlp" (`MLPDecoder`) or "conv" (`ConvDecoder`).
      hidden_dims: list of ints. The encoder's widths; the decoder uses them reversed.
      target_shape: tuple of ints. `(*data_shape, num_params)`.
      activation: str. Keras activation. Defaults to "relu".
      num_res_blocks: int. Residual blocks per conv stage (ignored by "mlp").
        Defaults to 0.
      upsampling: str. "nearest" or "transpose" (conv only). Defaults to "nearest".

    Returns:
      An unbuilt Keras layer mapping `[batch, latent]` to `[batch, *target_shape]`.
    """
    mirrored = tuple(reversed(hidden_dims))
    if network == "mlp":
        return MLPDecoder(target_shape, mirrored, activation, name="decoder")
    return ConvDecoder(target_shape, mirrored, num_res_blocks=num_res_blocks,
                       activation=activation, upsampling=upsampling, name="decoder")
