"""Fréchet distance between image sets, in the feature space of a classifier.

FID (Heusel et al. 2017) compares the Gaussian fitted to Inception-v3 features of real
images with the one fitted to generated images. Inception weights cannot be downloaded
here, so the zoo ships small classifiers trained in-repo on each dataset
(`benchmarks/recipes/fd_classifier.py`) and measures the same distance in their penultimate
layer. That "FD" ranks models on one dataset but is *not* comparable with Inception FID
numbers. With a network, `inception_features` gives the standard features and the same
`frechet_distance` computes FID.

Math:
  FD = ||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a^{1/2} S_b S_a^{1/2})^{1/2}),
  where tr((S_a S_b)^{1/2}) is computed as the trace of the square root of the
  symmetric PSD matrix S_a^{1/2} S_b S_a^{1/2}, which has the same eigenvalues.

References:
  [1] Heusel et al. GANs trained by a two time-scale update rule converge to a local
      Nash equilibrium. NeurIPS 2017.
  [2] Dowson, Landau. The Fréchet distance between multivariate normal distributions.
      J. Multivariate Analysis, 1982.
"""

import os

import keras
import numpy as np

from zoo import validation

CLASSIFIER_DIR = os.path.join(os.path.dirname(__file__), "classifiers")


def _sqrtm_psd(matrix):
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(features_a, features_b):
    """Fréchet distance between the Gaussians fitted to two feature sets.

    Args:
      features_a, features_b: arrays `[n, d]` (rows are examples, n >= 2, the same d;
        the two n may differ), finite.

    Returns:
      float. The distance, in squared feature units (0 for identical sets).

    Raises:
      ValueError: wrong shapes, too few rows, or non-finite features.
    """
    a = np.asarray(features_a, np.float64)
    b = np.asarray(features_b, np.float64)
    for name, f in (("features_a", a), ("features_b", b)):
        if f.ndim != 2 or len(f) < 2:
            raise ValueError(f"{name} must be [n >= 2, dims]. Received: {name}.shape={f.shape}")
        if not np.all(np.isfinite(f)):
            raise ValueError(f"{name} must be finite. Received: {name} with NaN/inf values")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"features must have the same width. Received: {a.shape[1]} and {b.shape[1]}")
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_a = _sqrtm_psd(cov_a)
    cross = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ cov_b @ root_a), 0.0, None)))
    return float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * cross)


@keras.saving.register_keras_serializable(package="vaezoo")
class FeatureClassifier(keras.Model):
    """A small CNN classifier whose penultimate layer is the FD feature space.

    Two pairs of 3x3 convolutions (32 then 64 channels; the second of each pair has
    stride 2), a dense feature layer on the flattened map, and a linear head.

    Args:
      input_shape: tuple of ints. Image shape, e.g. (28, 28, 1).
      num_classes: int. Defaults to 10.
      feature_dim: int. Width of the feature layer. Defaults to 128.
    """

    def __init__(self, input_shape=(28, 28, 1), num_classes=10, feature_dim=128, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = validation.shape_tuple("input_shape", input_shape)
        self.num_classes = validation.positive_int("num_classes", num_classes)
        self.feature_dim = validation.positive_int("feature_dim", feature_dim)
        self.convs = [keras.layers.Conv2D(c, 3, strides=s, padding="same", activation="relu",
                                          name=f"conv_{i}")
                      for i, (c, s) in enumerate(((32, 1), (32, 2), (64, 1), (64, 2)))]
        self.flatten = keras.layers.Flatten(name="flatten")
        self.feature_layer = keras.layers.Dense(feature_dim, activation="relu", name="features")
        self.head = keras.layers.Dense(num_classes, name="logits")
        self(keras.ops.zeros((1, *self.image_shape)))

    def features(self, x):
        """Penultimate-layer activations (the FD feature space).

        Args:
          x: images `[batch, *input_shape]`, pixels in [0, 1].

        Returns:
          float32 tensor `[batch, feature_dim]`.
        """
        h = x
        for conv in self.convs:
            h = conv(h)
        return self.feature_layer(self.flatten(h))

    def call(self, x):
        """Class logits `[batch, num_classes]` of images `[batch, *input_shape]` in [0, 1]."""
        return self.head(self.features(x))

    def get_config(self):
        """The constructor arguments, for saving."""
        return {"name": self.name, "input_shape": self.image_shape,
                "num_classes": self.num_classes, "feature_dim": self.feature_dim}


def load_classifier(dataset):
    """The built-in FD classifier for a dataset.

    Args:
      dataset: str. "mnist", "fashion_mnist" or "cifar10_jpeg" (a folder in
        `CLASSIFIER_DIR`; the CIFAR-10 one is trained on the JPEG copy).

    Returns:
      A trained `FeatureClassifier`.

    Raises:
      ValueError: no classifier ships for `dataset`.
    """
    from zoo import presets

    path = os.path.join(CLASSIFIER_DIR, str(dataset))
    if not os.path.isdir(path):
        available = sorted(os.listdir(CLASSIFIER_DIR)) if os.path.isdir(CLASSIFIER_DIR) else []
        raise ValueError(f"No FD classifier for this dataset. Received: dataset={dataset!r}. "
                         f"Available: {available}")
    return presets.from_preset(path)


def classifier_features(classifier, images, batch_size=500):
    """The classifier's features of `images`, computed in batches.

    Args:
      classifier: a `FeatureClassifier` (anything with a `features(x)` method).
      images: array `[n, *input_shape]`, pixels in [0, 1].
      batch_size: int. Images per call. Defaults to 500.

    Returns:
      numpy float32 `[n, feature_dim]`.
    """
    images = np.asarray(images, np.float32)
    return np.concatenate([np.asarray(classifier.features(images[i:i + batch_size]))
                           for i in range(0, len(images), batch_size)])


def inception_features(images, batch_size=64, weights="imagenet"):
    """Inception-v3 pool features `[n, 2048]` of images in [0, 1], for standard FID.

    Downloads the ImageNet weights on first use (network needed). Grey images are
    repeated to three channels; all are resized to 299x299.

    Args:
      images: array `[n, height, width, 1 or 3]`, pixels in [0, 1].
      batch_size: int. Images per call. Defaults to 64.
      weights: passed to `keras.applications.InceptionV3`. Defaults to "imagenet".

    Returns:
      numpy float32 `[n, 2048]`.
    """
    import tensorflow as tf

    net = keras.applications.InceptionV3(include_top=False, pooling="avg", weights=weights,
                                         input_shape=(299, 299, 3))
    images = np.asarray(images, np.float32)
    out = []
    for i in range(0, len(images), batch_size):
        x = tf.image.resize(images[i:i + batch_size], (299, 299))
        if x.shape[-1] == 1:
            x = tf.repeat(x, 3, axis=-1)
        out.append(np.asarray(net(keras.applications.inception_v3.preprocess_input(x * 255.0))))
    return np.concatenate(out)


def model_fd(model, real_images, classifier, num_samples=10_000, seed=0, batch_size=500):
    """FD between `num_samples` samples of `model` and `real_images`, in `classifier`'s space.

    Args:
      model: a zoo model of images.
      real_images: array `[n, *input_shape]`, pixels in [0, 1].
      classifier: a `FeatureClassifier` (see `load_classifier`).
      num_samples: int. Samples drawn from `model`. Defaults to 10,000.
      seed: int or None. Seed of the samples: the batch starting at sample i uses
        `seed + i`; None draws fresh samples. Defaults to 0.
      batch_size: int. Samples per `model.sample` call. Defaults to 500.

    Returns:
      float. The Fréchet distance (see `frechet_distance`).
    """
    num_samples = validation.positive_int("num_samples", num_samples)
    if seed is not None:
        seed = validation.non_negative_int("seed", seed)
    samples = np.concatenate([np.asarray(model.sample(min(batch_size, num_samples - i),
                                                      seed=None if seed is None else seed + i))
                              for i in range(0, num_samples, batch_size)])
    return frechet_distance(classifier_features(classifier, real_images),
                            classifier_features(classifier, samples))
