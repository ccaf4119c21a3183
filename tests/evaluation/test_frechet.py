"""Fréchet distance: closed forms, behaviour under noise, the shipped classifiers."""

import os

import numpy as np
import pytest

import zoo
from zoo.evaluation import frechet


def test_fd_of_gaussians_matches_the_closed_form():
    rng = np.random.default_rng(0)
    # Diagonal covariances: FD = ||m1 - m2||^2 + sum (s1 - s2)^2 in the std devs.
    a = rng.normal(0.0, 1.0, size=(200_000, 3)) * [1.0, 2.0, 0.5]
    b = rng.normal(1.0, 1.0, size=(200_000, 3)) * [3.0, 1.0, 0.5] + [0.0, 1.0, 0.0]
    mean_b = np.array([3.0, 2.0, 0.5])
    expected = np.sum(mean_b**2) + np.sum((np.array([1.0, 2.0, 0.5]) - np.array([3.0, 1.0, 0.5])) ** 2)
    # Sampling error of the moments with 200k draws: well under 1% of the value.
    assert frechet.frechet_distance(a, b) == pytest.approx(expected, rel=0.01)


def test_fd_of_a_set_with_itself_is_zero_and_grows_with_noise():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2000, 16)) @ rng.normal(size=(16, 16))
    assert abs(frechet.frechet_distance(x, x)) < 1e-6
    distances = [frechet.frechet_distance(x, x + rng.normal(scale=s, size=x.shape)) for s in (0.1, 0.5, 2.0)]
    assert distances[0] < distances[1] < distances[2]


def test_bad_features_are_named():
    with pytest.raises(ValueError, match="same width"):
        frechet.frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="n >= 2"):
        frechet.frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="finite"):
        frechet.frechet_distance(np.full((5, 3), np.nan), np.zeros((5, 3)))


@pytest.mark.parametrize("dataset,accuracy", [("mnist", 0.985), ("fashion_mnist", 0.91),
                                              ("cifar10_jpeg", 0.68)])
def test_shipped_classifiers_load_and_classify(dataset, accuracy, data_dir):
    classifier = frechet.load_classifier(dataset)
    meta = zoo.presets.load_metadata(os.path.join(frechet.CLASSIFIER_DIR, dataset))
    assert meta["metrics"]["test_accuracy"] >= accuracy
    x, y = zoo.data.load_numpy(dataset, "test[:1000]", data_dir=data_dir)
    predicted = np.argmax(np.asarray(classifier(x)), axis=-1)
    assert np.mean(predicted == y) >= accuracy - 0.02  # the recorded accuracy reproduces


def test_fd_in_classifier_space_separates_real_from_corrupted_images(data_dir):
    classifier = frechet.load_classifier("mnist")
    x, _ = zoo.data.load_numpy("mnist", "test", data_dir=data_dir)
    half_a, half_b = x[:2000], x[2000:4000]
    rng = np.random.default_rng(2)
    noisy = np.clip(half_b + rng.normal(scale=0.3, size=half_b.shape), 0, 1).astype(np.float32)
    same = frechet.frechet_distance(frechet.classifier_features(classifier, half_a),
                               frechet.classifier_features(classifier, half_b))
    corrupted = frechet.frechet_distance(frechet.classifier_features(classifier, half_a),
                                    frechet.classifier_features(classifier, noisy))
    assert corrupted > 5 * same


def test_inception_feature_path_runs_without_downloading():
    # The real FID code path, with random weights (ImageNet weights need a network).
    features = frechet.inception_features(np.random.default_rng(3).uniform(size=(2, 28, 28, 1)),
                                     weights=None)
    assert features.shape == (2, 2048) and np.all(np.isfinite(features))


def test_unknown_classifier_is_named():
    with pytest.raises(ValueError, match="No FD classifier"):
        frechet.load_classifier("cifar100")


def test_model_fd_reproduces_with_a_seed_and_draws_fresh_samples_without(data_dir,
                                                                         builtin_preset):
    model = builtin_preset("vae_mnist")
    classifier = frechet.load_classifier("mnist")
    real, _ = zoo.data.load_numpy("mnist", "test[:300]", data_dir=data_dir)
    fd = lambda seed: frechet.model_fd(model, real, classifier, num_samples=300, seed=seed,  # noqa: E731
                                       batch_size=100)
    assert fd(3) == fd(3)
    fresh = [fd(None), fd(None)]
    assert all(np.isfinite(fresh)) and fresh[0] != fresh[1]
    with pytest.raises(ValueError, match="seed"):
        fd(-1)
