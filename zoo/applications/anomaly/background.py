"""The background model of the "likelihood_ratio" score: the same model, trained on
perturbed copies of the normal data.

A likelihood model's log p(x) mixes two things: how well it knows the population (the
semantics) and generic statistics of the input (how many pixels are background, how
smooth the image is). Perturbing a share of the pixels destroys the semantics but keeps
much of the generic part, so a model trained on perturbed data learns mostly the
latter; the difference of the two models' log-likelihoods keeps what the normal model
knows beyond it (Ren et al. 2019).

References:
  Ren, Liu, Fertig, Snoek, Poplin, DePristo, Dillon, Lakshminarayanan. Likelihood ratios
  for out-of-distribution detection. NeurIPS 2019.
"""

import numpy as np

from zoo import validation


def perturb(x, rate=0.2, seed=0):
    """`x` (images in [0, 1]) with each entry, independently with probability `rate`,
    replaced by a uniformly drawn 8-bit value k / 255; numpy float32, same shape.

    Ren et al. substitute each position of a sequence with a random symbol at rate mu
    (0.1-0.2 worked best for their images); this is the same for pixels."""
    x = np.asarray(x, dtype=np.float32)
    rate = validation.non_negative_float("rate", rate)
    if rate > 1.0:
        raise ValueError(f"rate must be in [0, 1]. Received: rate={rate!r}")
    if not np.all(np.isfinite(x)) or x.min(initial=0.0) < 0.0 or x.max(initial=0.0) > 1.0:
        raise ValueError("perturb needs images with values in [0, 1]. Received: values in "
                         f"[{np.nanmin(x)}, {np.nanmax(x)}]")
    rng = np.random.default_rng(seed)
    replace = rng.random(x.shape) < rate
    noise = rng.integers(0, 256, size=x.shape).astype(np.float32) / 255.0
    return np.where(replace, noise, x)


def train_background(model, x, rate=0.2, epochs=10, batch_size=128, learning_rate=1e-3,
                     seed=0, verbose=0, callbacks=None):
    """A fresh model with `model`'s configuration, trained on `perturb(x, rate)`.

    Images are binarized as `model.binarize` says (a fresh draw each epoch for
    "dynamic"), like the model's own training data. The result is the `background` of
    `AnomalyDetector(model, score="likelihood_ratio", background=...)`.

    Args:
      model: the trained zoo model of normal data (its weights are not used).
      x: array `[n, *input_shape]` of normal training images in [0, 1] (or uint8).
      rate: float in [0, 1]. Share of pixels replaced by noise. Defaults to 0.2.
      epochs, batch_size, learning_rate: of the background's training (Adam).
      seed: int. Seed of the perturbation, the shuffling and the model's initial weights.
      verbose, callbacks: as in Keras' `fit`.
    """
    import keras

    from zoo import data
    from zoo.applications.anomaly.scores import _check_models, _check_x

    (model,) = _check_models(model)
    if not model.likelihood.takes_pixels or len(model.data_shape) != 3:
        raise ValueError("train_background perturbs pixels: it needs an image model, of data "
                         "[height, width, channels]. Received: a model of data shape "
                         f"{list(model.data_shape)} with a {type(model.likelihood).__name__} "
                         "likelihood")
    x = validation.scale_pixels(_check_x("x", x))
    x = np.asarray(x)
    if tuple(x.shape[1:]) != tuple(model.data_shape):
        raise ValueError(f"x must hold examples of shape {list(model.data_shape)}, as the model "
                         f"does. Received: x.shape={list(x.shape)}")
    epochs = validation.positive_int("epochs", epochs)
    config = dict(model.get_config(), seed=seed)
    background = type(model).from_config(config)
    background.compile(optimizer=keras.optimizers.Adam(learning_rate))
    dataset = data.from_arrays(perturb(x, rate, seed), batch_size=batch_size,
                               binarize=model.binarize, shuffle=True, seed=seed)
    background.fit(dataset, epochs=epochs, verbose=verbose, callbacks=callbacks)
    return background
