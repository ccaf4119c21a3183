"""Anomaly scores, the calibrated detector, and the AUROC / AUPRC it reports."""

import numpy as np
import pytest

import zoo
from zoo.applications import anomaly


def test_auroc_is_the_mann_whitney_statistic():
    from scipy.stats import mannwhitneyu

    rng = np.random.default_rng(0)
    scores = np.round(rng.normal(size=300), 1)  # rounded: plenty of ties
    labels = rng.uniform(size=300) < 0.3
    u = mannwhitneyu(scores[labels], scores[~labels]).statistic
    assert anomaly.auroc(scores, labels) == pytest.approx(u / (labels.sum() * (~labels).sum()))
    assert anomaly.auroc([0, 1, 2, 3], [0, 0, 1, 1]) == 1.0
    assert anomaly.auroc([3, 2, 1, 0], [0, 0, 1, 1]) == 0.0
    assert anomaly.auroc([1, 1, 1, 1], [0, 1, 0, 1]) == 0.5


def test_auprc_is_average_precision():
    rng = np.random.default_rng(1)
    scores, labels = rng.normal(size=200), rng.uniform(size=200) < 0.2
    brute = np.mean([labels[scores >= s].mean() for s in scores[labels]])
    assert anomaly.auprc(scores, labels) == pytest.approx(brute)
    assert anomaly.auprc([0, 1, 2, 3], [0, 0, 1, 1]) == 1.0
    assert anomaly.auprc([5, 5, 5, 5], [0, 1, 0, 0]) == 0.25  # constant score: the base rate


@pytest.fixture(scope="module")
def digits_and_clothes(data_dir):
    def first(name, split):
        return next(iter(zoo.data.load(name, split, data_dir=data_dir, batch_size=1000,
                                       binarize="static", seed=0))).numpy()

    return first("mnist", "test[:1000]"), first("mnist", "test[1000:1500]"), \
        first("fashion_mnist", "test[:500]")


@pytest.fixture(scope="module")
def normal_reference(data_dir):
    """Training digits, the normal examples "latent_knn" compares with."""
    return next(iter(zoo.data.load("mnist", "train[:2000]", data_dir=data_dir, batch_size=2000,
                                   binarize="static", seed=0))).numpy()


@pytest.mark.parametrize("score", anomaly.SCORES)
def test_clothes_are_anomalies_to_the_digit_model(digits_and_clothes, normal_reference, score):
    calibration, digits, clothes = digits_and_clothes
    reference = normal_reference if score in anomaly.REFERENCE_SCORES else None
    detector = anomaly.AnomalyDetector(zoo.from_preset("vae_mnist"), score=score,
                                       target_fpr=0.05, num_samples=4 if score == "iwae" else None,
                                       reference=reference)
    threshold = detector.calibrate(calibration)
    assert np.mean(detector.score(calibration) > threshold) <= 0.05  # by construction
    x = np.concatenate([digits, clothes])
    is_anomaly = np.r_[np.zeros(len(digits)), np.ones(len(clothes))]
    report = detector.evaluate(x, is_anomaly)
    assert report["auroc"] > 0.95 and report["auprc"] > 0.95, report
    # Held-out digits: 5 % expected; 500 of them give a standard error of ~1 %.
    assert report["fpr"] < 0.09 and report["tpr"] > 0.9, report
    np.testing.assert_array_equal(detector.predict(x), detector.score(x) > threshold)


@pytest.mark.parametrize("call,error,fragment", [
    (lambda d, x: anomaly.AnomalyDetector(d.model, score="psnr"), ValueError, "score must be one of"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, target_fpr=1.5), ValueError, "target_fpr must be a number in"),
    (lambda d, x: d.predict(x), ValueError, "call calibrate"),
    (lambda d, x: d.calibrate(x[:5]), ValueError, "x_normal is too small for target_fpr=0.05"),
    (lambda d, x: d.evaluate(x, np.zeros(len(x))), ValueError, "both normal .0. and anomalous"),
    (lambda d, x: d.evaluate(x, np.ones(3)), ValueError, r"is_anomaly must have one entry per example"),
    (lambda d, x: anomaly.anomaly_scores(d.model, x[:0]), ValueError, "at least one example"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, score="latent_knn"), ValueError,
     "pass reference=<normal data>.*Received: reference=None"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, score="feature_knn"), ValueError,
     "score='feature_knn' compares.*pass reference=<normal data>.*Received: reference=None"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, score="elbo", reference=x), ValueError,
     "reference is only used by the scores .'latent_knn', 'feature_knn'.. Received: score='elbo'"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, score="latent_knn", reference=x, neighbours=9),
     ValueError, r"neighbours must be at most the number of reference examples \(8\). Received: neighbours=9"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, score="latent_knn", reference=x, neighbours=0),
     ValueError, "neighbours must be positive. Received: neighbours=0"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, score="latent_knn", reference=x[:0]),
     ValueError, "reference must contain at least one example"),
    (lambda d, x: anomaly.anomaly_scores(d.model, x, "latent_knn", reference=x, neighbours=2.5),
     TypeError, "neighbours must be a positive integer. Received: neighbours=2.5"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, score="latent_knn", reference=x, metric="cosine"),
     ValueError, r"metric must be one of \['euclidean', 'seuclidean'\]. Received: metric='cosine'"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, score="elbo", metric="seuclidean"), ValueError,
     "metric is only used by the scores .*Received: score='elbo' with metric='seuclidean'"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, score=[]), ValueError,
     r"score must be one of .*or a list of them to combine. Received: score=\[\]"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, score=["elbo", "psnr"]), ValueError,
     r"Received: score=\['elbo', 'psnr'\]"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, score=3), ValueError, "Received: score=3"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, score=["elbo", "elbo"]), ValueError,
     "score must list each score once"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, score=["elbo", "latent_knn"]), ValueError,
     r"score=\['elbo', 'latent_knn'\] compares each example with normal examples"),
    (lambda d, x: anomaly.anomaly_scores(d.model, x, ["elbo", "reconstruction"]), ValueError,
     r"To combine scores, use AnomalyDetector\(model, score=\[...\]\)"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, score=["elbo", "reconstruction"]).score(x),
     ValueError, "combined score elbo\+reconstruction standardises .* call calibrate"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, score=["elbo", "reconstruction"]).calibrate(x),
     ValueError, "too small for target_fpr=0.05 with a combined score: it needs at least 37 "
                 "examples. Received: 8"),
    (lambda d, x: anomaly.AnomalyDetector([d.model, d.model], score="elbo").calibrate(x),
     ValueError, "too small for target_fpr=0.05 with a combined score"),
    (lambda d, x: anomaly.AnomalyDetector([], score="elbo"), ValueError,
     r"model must be a zoo model, or a non-empty list of them. Received: model=\[\]"),
    (lambda d, x: anomaly.AnomalyDetector([d.model, "runs/model.keras"]), TypeError,
     "model must be a zoo model .*Received: str 'runs/model.keras'"),
    (lambda d, x: anomaly.AnomalyDetector(None), TypeError,
     "model must be a zoo model .*Received: NoneType None"),
])
def test_bad_anomaly_input_is_named(call, error, fragment):
    from tests.families import FAMILIES, binary_images

    detector = anomaly.AnomalyDetector(FAMILIES["VAE-mlp"]())
    with pytest.raises(error, match=fragment):
        call(detector, binary_images(n=8))


def test_knn_distance_is_the_mean_distance_to_the_nearest_reference_rows(monkeypatch):
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(0)
    queries, reference = rng.normal(size=(25, 5)), rng.normal(size=(40, 5))
    # Small blocks, so the blocked computation is exercised across block edges.
    monkeypatch.setattr(anomaly.scores, "_KNN_BLOCK_ENTRIES", 7 * 40)  # blocks of 7 queries
    for k in (1, 3, 40):
        expected = np.sort(cdist(queries, reference), axis=1)[:, :k].mean(axis=1)
        np.testing.assert_allclose(anomaly.knn_distance(queries, reference, k), expected, rtol=1e-9)
    # A query that is a reference row is at distance 0 from it, not a rounding error below.
    assert anomaly.knn_distance(reference[:3] * 1e3, reference * 1e3, 1).min() == 0.0


def test_seuclidean_knn_is_scipys_standardised_euclidean_distance():
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(1)
    # Columns on scales 0.5 to 4, all above the floor (1 % of their mean scale).
    scales = np.array([0.5, 1.0, 4.0, 2.0])
    queries, reference = rng.normal(size=(30, 4)) * scales, rng.normal(size=(50, 4)) * scales
    scale = anomaly.reference_scale(reference)
    np.testing.assert_allclose(scale, reference.std(axis=0), rtol=1e-12)  # no floor hit
    for k in (1, 4):
        expected = np.sort(cdist(queries, reference, "seuclidean", V=reference.var(axis=0)),
                           axis=1)[:, :k].mean(axis=1)
        np.testing.assert_allclose(anomaly.knn_distance(queries, reference, k, scale), expected,
                                   rtol=1e-9)
    # Rescaling a column rescales its standard deviation alike: the distances do not move,
    # while the Euclidean ones do.
    stretched = np.array([1.0, 1.0, 1.0, 10.0])
    np.testing.assert_allclose(
        anomaly.knn_distance(queries * stretched, reference * stretched, 2,
                             anomaly.reference_scale(reference * stretched)),
        anomaly.knn_distance(queries, reference, 2, scale), rtol=1e-9)
    assert not np.allclose(anomaly.knn_distance(queries * stretched, reference * stretched, 2),
                           anomaly.knn_distance(queries, reference, 2))
    # A column constant over the reference (a unit no normal example uses) gets the floor,
    # 1 % of the mean scale: finite distances, larger the more a query activates it.
    dead = np.c_[reference[:, :3], np.zeros(50)]
    floor = 0.01 * reference[:, :3].std(axis=0).sum() / 4
    np.testing.assert_allclose(anomaly.reference_scale(dead)[3], floor, rtol=1e-12)
    q = np.c_[np.repeat(reference[:1, :3], 3, axis=0), [[0.0], [1.0], [2.0]]]
    np.testing.assert_allclose(anomaly.knn_distance(q, dead, 1, anomaly.reference_scale(dead)),
                               [0.0, 1.0 / floor, 2.0 / floor], rtol=1e-9)
    np.testing.assert_array_equal(anomaly.reference_scale(np.zeros((5, 3))), np.ones(3))


def test_latent_knn_score_is_the_knn_distance_between_posterior_means(digits_and_clothes):
    _, digits, clothes = digits_and_clothes
    model = zoo.from_preset("vae_mnist")
    reference, x = digits[:300], np.concatenate([digits[300:320], clothes[:20]])
    means = lambda images: np.asarray(model.embed(images)).reshape(len(images), -1)  # noqa: E731
    expected = anomaly.knn_distance(means(x), means(reference), 3)
    np.testing.assert_allclose(anomaly.anomaly_scores(model, x, "latent_knn", batch_size=16,
                                                      reference=reference, neighbours=3),
                               expected, rtol=1e-6)
    detector = anomaly.AnomalyDetector(model, score="latent_knn", reference=reference, neighbours=3)
    np.testing.assert_allclose(detector.score(x), expected, rtol=1e-6)
    assert detector.score(x[20:]).mean() > 1.5 * detector.score(x[:20]).mean()  # clothes: far away
    # The standardised metric: each latent divided by its spread over the reference means.
    scale = means(reference).std(axis=0)
    standardised = anomaly.knn_distance(means(x) / scale, means(reference) / scale, 3)
    assert not np.allclose(standardised, expected)
    detector = anomaly.AnomalyDetector(model, score="latent_knn", reference=reference, neighbours=3,
                                       metric="seuclidean")
    np.testing.assert_allclose(detector.score(x), standardised, rtol=1e-6)
    np.testing.assert_allclose(anomaly.anomaly_scores(model, x, "latent_knn", reference=reference,
                                                      neighbours=3, metric="seuclidean"),
                               standardised, rtol=1e-6)


def test_feature_knn_score_compares_the_encoder_features(digits_and_clothes):
    _, digits, clothes = digits_and_clothes
    model = zoo.from_preset("vae_mnist")
    reference, x = digits[:300], np.concatenate([digits[300:320], clothes[:20]])
    # The conv encoder's last feature map, flattened: what the posterior head reads.
    encoder_out = lambda images: np.asarray(  # noqa: E731
        model.encoder(model.likelihood.encoder_input(images))).reshape(len(images), -1)
    features = np.asarray(model.features(x))
    assert features.shape == (40, encoder_out(x[:1]).shape[1]) and features.shape[1] > 1000
    np.testing.assert_allclose(features, encoder_out(x), rtol=1e-5, atol=1e-6)
    expected = anomaly.knn_distance(features, encoder_out(reference), 3)
    detector = anomaly.AnomalyDetector(model, score="feature_knn", reference=reference, neighbours=3)
    np.testing.assert_allclose(detector.score(x), expected, rtol=1e-5)
    np.testing.assert_allclose(anomaly.anomaly_scores(model, x, "feature_knn", batch_size=16,
                                                      reference=reference, neighbours=3),
                               expected, rtol=1e-5)
    # Not the latent score under another name.
    assert not np.allclose(expected, anomaly.anomaly_scores(model, x, "latent_knn",
                                                            reference=reference, neighbours=3))
    assert anomaly.auroc(detector.score(x), np.repeat([0, 1], 20)) > 0.95  # clothes: far away
    with pytest.raises(ValueError, match=r"kind must be one of \['feature', 'latent'\]. Received: kind='pixels'"):
        anomaly.embeddings(model, x, kind="pixels")


def test_input_complexity_is_the_png_code_length():
    import io

    import matplotlib.image

    rng = np.random.default_rng(0)
    flat = np.full((1, 28, 28, 1), 0.5)
    noise = rng.uniform(size=(1, 28, 28, 1))
    digit_like = np.zeros((1, 28, 28, 1))
    digit_like[0, 6:22, 12:16] = 1.0
    sizes = anomaly.input_complexity(np.concatenate([flat, digit_like, noise]))
    assert sizes[0] < sizes[1] < sizes[2]
    # Noise of 784 8-bit pixels cannot compress below ~784 bytes (plus the PNG header).
    assert sizes[2] / (8 * np.log(2)) > 784
    # The code length is that of a real PNG file: it decodes back to the quantized image.
    import tensorflow as tf
    png = tf.io.encode_png(np.round(noise[0] * 255).astype(np.uint8), compression=9).numpy()
    assert len(png) * 8 * np.log(2) == pytest.approx(sizes[2])
    decoded = matplotlib.image.imread(io.BytesIO(png), format="png")
    np.testing.assert_allclose(decoded[..., 0] if decoded.ndim == 3 else decoded,
                               np.round(noise[0, ..., 0] * 255) / 255, atol=1e-6)


def test_complexity_score_is_the_elbo_score_minus_the_code_length(digits_and_clothes):
    _, digits, _ = digits_and_clothes
    model = zoo.from_preset("vae_mnist")
    x = digits[:50]
    np.testing.assert_allclose(
        anomaly.anomaly_scores(model, x, "elbo_complexity", seed=3),
        anomaly.anomaly_scores(model, x, "elbo", seed=3) - anomaly.input_complexity(x), rtol=1e-6)


@pytest.mark.parametrize("x,fragment", [
    (np.zeros((4, 6)), r"images \[n, height, width, channels\]"),
    (np.zeros((4, 8, 8, 5)), "1-4 channels"),
    (np.full((2, 8, 8, 1), 1.5), r"values in \[0, 1\]"),
    (np.full((2, 8, 8, 1), np.nan), r"values in \[0, 1\]"),
])
def test_input_complexity_refuses_what_is_not_an_image(x, fragment):
    with pytest.raises(ValueError, match=fragment):
        anomaly.input_complexity(x)


def test_combined_score_averages_the_scores_standardised_on_half_the_normal_data(
        digits_and_clothes, normal_reference):
    calibration, digits, clothes = digits_and_clothes
    model = zoo.from_preset("vae_mnist")
    reference = normal_reference[:1000]
    names = ["latent_knn", "reconstruction"]
    combined = anomaly.AnomalyDetector(model, score=names, target_fpr=0.05, seed=3,
                                       reference=reference)
    threshold = combined.calibrate(calibration)
    singles = [anomaly.AnomalyDetector(model, score=n, reference=reference if n in
                                       anomaly.REFERENCE_SCORES else None) for n in names]
    # The standardisation comes from a random half of the calibration data (by seed),
    # the threshold from the other half: at most 5 % of that half lies above it.
    order = np.random.default_rng(3).permutation(len(calibration))
    fit, rest = calibration[order[:500]], calibration[order[500:]]
    location = [d.score(fit).mean() for d in singles]
    scale = [d.score(fit).std() for d in singles]
    np.testing.assert_allclose(combined.location, location, rtol=1e-6)
    np.testing.assert_allclose(combined.scale, scale, rtol=1e-6)
    assert np.mean(combined.score(rest) > threshold) <= 0.05
    x = np.concatenate([digits, clothes])
    # A one-score list is that score, uncombined (what the CLI's --score passes).
    one = anomaly.AnomalyDetector(model, score=["reconstruction"])
    assert one.score_name == "reconstruction"
    np.testing.assert_array_equal(one.score(x), singles[1].score(x))
    expected = np.mean([(d.score(x) - m) / s for d, m, s in zip(singles, location, scale)], axis=0)
    np.testing.assert_allclose(combined.score(x), expected, rtol=1e-5, atol=1e-6)
    report = combined.evaluate(x, np.r_[np.zeros(len(digits)), np.ones(len(clothes))])
    assert report["score"] == "latent_knn+reconstruction" and report["auroc"] > 0.95, report
    assert report["fpr"] < 0.1 and report["tpr"] > 0.9, report


def test_an_ensemble_averages_every_models_standardised_scores(digits_and_clothes,
                                                               normal_reference):
    calibration, digits, clothes = digits_and_clothes
    models = [zoo.from_preset("vae_mnist"), zoo.from_preset("flow_vae_mnist")]
    reference = normal_reference[:1000]
    names = ["feature_knn", "reconstruction"]
    ensemble = anomaly.AnomalyDetector(models, score=names, seed=5, reference=reference)
    threshold = ensemble.calibrate(calibration)
    singles = [anomaly.AnomalyDetector(m, score=n, reference=reference if n in
                                       anomaly.REFERENCE_SCORES else None)
               for m in models for n in names]  # the ensemble's order: model-major
    fit = calibration[np.random.default_rng(5).permutation(len(calibration))[:500]]
    location = [d.score(fit).mean() for d in singles]
    scale = [d.score(fit).std() for d in singles]
    np.testing.assert_allclose(ensemble.location, location, rtol=1e-6)
    np.testing.assert_allclose(ensemble.scale, scale, rtol=1e-6)
    x = np.concatenate([digits, clothes])
    expected = np.mean([(d.score(x) - m) / s for d, m, s in zip(singles, location, scale)], axis=0)
    np.testing.assert_allclose(ensemble.score(x), expected, rtol=1e-5, atol=1e-6)
    report = ensemble.evaluate(x, np.r_[np.zeros(len(digits)), np.ones(len(clothes))])
    assert report["score"] == "feature_knn+reconstruction (ensemble of 2)", report
    assert report["num_models"] == 2 and report["auroc"] > 0.95, report
    assert report["threshold"] == threshold and report["fpr"] < 0.1, report
    # One model in a list is that model: no standardisation, the raw score.
    one = anomaly.AnomalyDetector(models[:1], score="reconstruction")
    assert not one.combined and one.score_name == "reconstruction"
    np.testing.assert_array_equal(one.score(x), singles[1].score(x))
