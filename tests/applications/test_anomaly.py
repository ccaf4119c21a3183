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

    return first("mnist", "test[:600]"), first("mnist", "test[600:900]"), \
        first("fashion_mnist", "test[:300]")


@pytest.fixture
def digit_model(builtin_preset):
    """The MNIST preset shared by the tests that only score with it (a new instance traces
    its score graphs, and draws the 5,000 samples "sample_knn" compares with, again). The
    test that changes a model's weights loads its own."""
    return builtin_preset("vae_mnist")


@pytest.fixture(scope="module")
def normal_reference(data_dir):
    """Training digits, the normal examples "latent_knn" compares with."""
    return next(iter(zoo.data.load("mnist", "train[:2000]", data_dir=data_dir, batch_size=2000,
                                   binarize="static", seed=0))).numpy()


# "likelihood_ratio" needs a background model and "level_ratio" a hierarchy: tested below.
@pytest.mark.parametrize("score", [s for s in anomaly.SCORES
                                   if s not in ("likelihood_ratio", "level_ratio")])
def test_clothes_are_anomalies_to_the_digit_model(digits_and_clothes, normal_reference,
                                                  digit_model, score):
    calibration, digits, clothes = digits_and_clothes
    # 300 calibration digits (each scored twice below), not 600: the threshold's own
    # sampling error grows from ~0.9 % to ~1.3 % of FPR; measured held-out FPRs 0.027-0.063
    # (0.037-0.080 with all 600), inside the bound below. The other tests use all 600.
    calibration = calibration[:300]
    reference = normal_reference if score in anomaly.REFERENCE_SCORES else None
    detector = anomaly.AnomalyDetector(digit_model, score=score,
                                       target_fpr=0.05, num_samples=4 if score == "iwae" else None,
                                       reference=reference)
    threshold = detector.calibrate(calibration)
    assert np.mean(detector.score(calibration) > threshold) <= 0.05  # by construction
    x = np.concatenate([digits, clothes])
    is_anomaly = np.r_[np.zeros(len(digits)), np.ones(len(clothes))]
    report = detector.evaluate(x, is_anomaly)
    assert report["auroc"] > 0.95 and report["auprc"] > 0.95, report
    # Held-out digits: 5 % expected; 300 of them give a standard error of ~1.3 %.
    assert report["fpr"] < 0.1 and report["tpr"] > 0.9, report
    # Every 5th example, digits and clothes alike: scoring all 600 twice more cost as
    # much as the evaluation itself ("iwae", "sample_knn").
    np.testing.assert_array_equal(detector.predict(x[::5]), detector.score(x[::5]) > threshold)


@pytest.mark.parametrize("call,error,fragment", [
    (lambda d, x: anomaly.AnomalyDetector(d.model, score="psnr"), ValueError, "score must be one of"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, target_fpr=1.5), ValueError, "target_fpr must be a number in"),
    (lambda d, x: d.predict(x), ValueError, "call calibrate"),
    (lambda d, x: d.evaluate(x, np.zeros(len(x))), ValueError, "both normal .0. and anomalous"),
    (lambda d, x: d.evaluate(x, np.ones(3)), ValueError, r"is_anomaly must have one entry per example"),
    (lambda d, x: anomaly.anomaly_scores(d.model, x[:0]), ValueError, "at least one example"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, score="latent_knn"), ValueError,
     "pass reference=<normal data>.*Received: reference=None"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, score="elbo").calibrate(x[:5]), ValueError,
     "x_normal is too small for target_fpr=0.05"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, score="feature_knn"), ValueError,
     "score='feature_knn' compares.*pass reference=<normal data>.*Received: reference=None"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, score="elbo", reference=x), ValueError,
     "reference is only used by the scores .'latent_knn', 'feature_knn', 'typicality'.. "
     "Received: score='elbo' with a reference set"),
    (lambda d, x: anomaly.anomaly_scores(d.model, x, "typicality"), ValueError,
     "score='typicality' compares .*Received: reference=None"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, score="elbo", neighbours=3), ValueError,
     r"neighbours is only used by the scores \['sample_knn', 'latent_knn', 'feature_knn'\]. "
     "Received: score='elbo' with neighbours=3"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, neighbours=5001), ValueError,
     r"at most the number of reference examples \(5000\). Received: neighbours=5001"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, score="elbo", compressor="webp"), ValueError,
     r"compressor is only used by the scores \['elbo_complexity'\]. Received: score='elbo' "
     "with compressor='webp'"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, score="elbo_complexity", compressor="gif"),
     ValueError, r"compressor must be one of \['png', 'webp'\]. Received: compressor='gif'"),
    (lambda d, x: anomaly.input_complexity(np.zeros((1, 4, 4, 1)), compressor="jpeg"),
     ValueError, "compressor must be one of .*Received: compressor='jpeg'"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, score="likelihood_ratio"), ValueError,
     "pass background=<model>.*train_background.*Received: background=None"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, score="likelihood_ratio", background="bg.keras"),
     TypeError, "background must be a zoo model .*Received: str 'bg.keras'"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, score="elbo", background=d.model), ValueError,
     r"background is only used by the scores \['likelihood_ratio'\]. Received: score='elbo' "
     "with a background model"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, score="level_ratio"), ValueError,
     r"score='level_ratio' compares the levels of a hierarchical model \(zoo.HVAE\). "
     "Received: a VAE"),
    (lambda d, x: anomaly.AnomalyDetector(d.model, score="elbo", levels=2), ValueError,
     "levels is only used by the scores .'level_ratio'.. Received: score='elbo' with levels=2"),
    (lambda d, x: anomaly.fpr_at_tpr([0, 1], [0, 1], tpr=0), ValueError,
     r"tpr must be a number in \(0, 1\]. Received: tpr=0"),
    (lambda d, x: anomaly.perturb(x, rate=1.5), ValueError, r"rate must be in \[0, 1\]"),
    (lambda d, x: anomaly.perturb(x * 2, rate=0.1), ValueError, r"values in \[0, 1\]"),
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


def test_latent_knn_score_is_the_knn_distance_between_posterior_means(digits_and_clothes,
                                                                      digit_model):
    _, digits, clothes = digits_and_clothes
    model = digit_model
    reference, x = digits[:250], np.concatenate([digits[250:270], clothes[:20]])
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


def test_feature_knn_score_compares_the_encoder_features(digits_and_clothes, digit_model):
    _, digits, clothes = digits_and_clothes
    model = digit_model
    reference, x = digits[:250], np.concatenate([digits[250:270], clothes[:20]])
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


def test_complexity_score_is_the_elbo_score_minus_the_code_length(digits_and_clothes,
                                                                  digit_model):
    _, digits, _ = digits_and_clothes
    model = digit_model
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
        digits_and_clothes, normal_reference, digit_model):
    calibration, digits, clothes = digits_and_clothes
    model = digit_model
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
    half = len(calibration) // 2
    fit, rest = calibration[order[:half]], calibration[order[half:]]
    fit_scores = [d.score(fit) for d in singles]
    location, scale = [f.mean() for f in fit_scores], [f.std() for f in fit_scores]
    np.testing.assert_allclose(combined.location, location, rtol=1e-6)
    np.testing.assert_allclose(combined.scale, scale, rtol=1e-6)
    assert np.mean(combined.score(rest) > threshold) <= 0.05
    x = np.concatenate([digits, clothes])
    single_scores = [d.score(x) for d in singles]
    # A one-score list is that score, uncombined (what the CLI's --score passes).
    one = anomaly.AnomalyDetector(model, score=["reconstruction"])
    assert one.score_name == "reconstruction"
    np.testing.assert_array_equal(one.score(x), single_scores[1])
    expected = np.mean([(v - m) / s for v, m, s in zip(single_scores, location, scale)], axis=0)
    np.testing.assert_allclose(combined.score(x), expected, rtol=1e-5, atol=1e-6)
    report = combined.evaluate(x, np.r_[np.zeros(len(digits)), np.ones(len(clothes))])
    assert report["score"] == "latent_knn+reconstruction" and report["auroc"] > 0.95, report
    assert report["fpr"] < 0.1 and report["tpr"] > 0.9, report


def test_an_ensemble_averages_every_models_standardised_scores(digits_and_clothes,
                                                               normal_reference, digit_model,
                                                               builtin_preset):
    calibration, digits, clothes = digits_and_clothes
    models = [digit_model, builtin_preset("flow_vae_mnist")]
    reference = normal_reference[:1000]
    names = ["feature_knn", "reconstruction"]
    ensemble = anomaly.AnomalyDetector(models, score=names, seed=5, reference=reference)
    threshold = ensemble.calibrate(calibration)
    singles = [anomaly.AnomalyDetector(m, score=n, reference=reference if n in
                                       anomaly.REFERENCE_SCORES else None)
               for m in models for n in names]  # the ensemble's order: model-major
    fit = calibration[np.random.default_rng(5).permutation(len(calibration))[:len(calibration) // 2]]
    fit_scores = [d.score(fit) for d in singles]
    location, scale = [f.mean() for f in fit_scores], [f.std() for f in fit_scores]
    np.testing.assert_allclose(ensemble.location, location, rtol=1e-6)
    np.testing.assert_allclose(ensemble.scale, scale, rtol=1e-6)
    x = np.concatenate([digits, clothes])
    single_scores = [d.score(x) for d in singles]
    expected = np.mean([(v - m) / s for v, m, s in zip(single_scores, location, scale)], axis=0)
    np.testing.assert_allclose(ensemble.score(x), expected, rtol=1e-5, atol=1e-6)
    report = ensemble.evaluate(x, np.r_[np.zeros(len(digits)), np.ones(len(clothes))])
    assert report["score"] == "feature_knn+reconstruction (ensemble of 2)", report
    assert report["num_models"] == 2 and report["auroc"] > 0.95, report
    assert report["threshold"] == threshold and report["fpr"] < 0.1, report
    # One model in a list is that model: no standardisation, the raw score.
    one = anomaly.AnomalyDetector(models[:1], score="reconstruction")
    assert not one.combined and one.score_name == "reconstruction"
    np.testing.assert_array_equal(one.score(x), single_scores[1])


def test_fpr_at_95_tpr_is_the_normal_share_above_the_threshold_that_keeps_95_percent():
    normal, anomalies = np.arange(100.0), np.arange(50.0, 150.0)
    scores, labels = np.r_[normal, anomalies], np.r_[np.zeros(100), np.ones(100)]
    # The 95th highest anomaly is 55: normal scores 55..99 (45 of 100) are at least as high.
    assert anomaly.fpr_at_tpr(scores, labels) == pytest.approx(0.45)
    assert anomaly.fpr_at_tpr(scores, labels, tpr=1.0) == pytest.approx(0.5)
    assert anomaly.fpr_at_tpr([0, 1, 2, 3], [0, 0, 1, 1]) == 0.0


@pytest.fixture(scope="module")
def clothes_and_digits(data_dir):
    """Fashion-MNIST test images (normal for the Fashion preset) and MNIST digits (foreign),
    binarized once as the preset's evaluation does."""
    def first(name):
        return zoo.data.load_numpy(name, "test[:300]", data_dir=data_dir, binarize="static",
                                   seed=0)[0]

    return first("fashion_mnist"), first("mnist")


def test_the_default_score_survives_the_likelihood_trap(clothes_and_digits, builtin_preset):
    # Nalisnick et al. (2019): a model of clothes gives digits a *higher* likelihood than
    # clothes, so the negative ELBO ranks digits as normal. The default score does not.
    clothes, digits = clothes_and_digits
    model = builtin_preset("vae_fashion_mnist")
    labels = np.r_[np.zeros(len(clothes)), np.ones(len(digits))]
    elbo = np.r_[anomaly.anomaly_scores(model, clothes, "elbo"), anomaly.anomaly_scores(model, digits, "elbo")]
    assert anomaly.auroc(elbo, labels) < 0.5
    default = np.r_[model.anomaly_score(clothes), model.anomaly_score(digits)]
    assert anomaly.auroc(default, labels) > 0.95
    assert anomaly.AnomalyDetector(model).score_name == anomaly.DEFAULT_SCORE == "sample_knn"
    np.testing.assert_allclose(anomaly.AnomalyDetector(model).score(digits), default[300:], rtol=1e-6)
    # The WebP code length corrects the ELBO too (the PNG one, a weaker compressor, less).
    # On 150 of each: WebP's slowest setting takes ~3 ms an image. Measured AUROC 0.977
    # (0.984 on all 300 of each; PNG's 0.92 either way).
    webp = np.r_[anomaly.anomaly_scores(model, clothes[:150], "elbo_complexity", compressor="webp"),
                 anomaly.anomaly_scores(model, digits[:150], "elbo_complexity", compressor="webp")]
    assert anomaly.auroc(webp, np.repeat([0, 1], 150)) > 0.95


def test_sample_knn_is_the_feature_distance_to_the_models_own_samples(monkeypatch):
    import tensorflow as tf

    from tests.families import binary_images
    from zoo.applications.anomaly import scores

    model, x = zoo.from_preset("vae_mnist"), binary_images(n=20)
    # The reference: decoder means at prior draws, stateless seed (0, batch index).
    samples = anomaly.model_samples(model, 700)
    expected_samples = np.concatenate([
        model.sample_from_noise(tf.random.stateless_normal([n, model.noise_dim], seed=[0, i]))
        for i, n in enumerate((500, 200))])
    np.testing.assert_allclose(samples, expected_samples, rtol=1e-6)
    monkeypatch.setattr(scores, "SAMPLE_REFERENCE_SIZE", 700)
    features = lambda images: np.asarray(model.features(images), np.float64)  # noqa: E731
    expected = anomaly.knn_distance(features(x), features(samples), 5)
    np.testing.assert_allclose(model.anomaly_score(x), expected, rtol=1e-5)
    np.testing.assert_allclose(anomaly.anomaly_scores(model, x, neighbours=2),
                               anomaly.knn_distance(features(x), features(samples), 2), rtol=1e-5)
    # Drawn once per model and weights: a fine-tuned model draws a new reference.
    calls, original = [], scores.model_samples
    monkeypatch.setattr(scores, "model_samples",
                        lambda *a, **k: calls.append(1) or original(*a, **k))
    model.anomaly_score(x)
    assert calls == []
    kernel = model.decoder.trainable_weights[0]
    kernel.assign(kernel * 1.01)
    model.anomaly_score(x)
    assert calls == [1]


def test_typicality_is_the_distance_of_the_elbo_from_its_mean_over_normal_data(digits_and_clothes,
                                                                               digit_model):
    calibration, digits, clothes = digits_and_clothes
    model, reference, x = digit_model, calibration[:400], np.r_[digits[:50], clothes[:50]]
    mean = np.mean(-np.asarray(model.elbo(reference, seed=0)))  # one batch: seed 0
    expected = np.abs(-np.asarray(model.elbo(x, seed=0)) - mean)
    detector = anomaly.AnomalyDetector(model, score="typicality", reference=reference)
    np.testing.assert_allclose(detector.score(x), expected, rtol=1e-5)
    assert anomaly.auroc(expected, np.repeat([0, 1], 50)) > 0.95


def test_perturb_replaces_the_given_share_of_pixels_with_uniform_8_bit_values():
    x = np.full((200, 28, 28, 1), 0.3, np.float32)
    np.testing.assert_array_equal(anomaly.perturb(x, rate=0.0), x)
    everything = anomaly.perturb(x, rate=1.0, seed=1)
    np.testing.assert_allclose(everything * 255, np.round(everything * 255), atol=1e-4)
    assert abs(everything.mean() - 0.5) < 0.01 and everything.min() == 0 and everything.max() == 1
    # A replaced pixel keeps 0.3 only if the draw is 0.3*255 = 76.5: never an 8-bit value.
    changed = np.mean(anomaly.perturb(x, rate=0.2, seed=2) != x)
    assert abs(changed - 0.2) < 0.005  # 156,800 pixels: standard error 0.001


def test_likelihood_ratio_subtracts_a_background_trained_on_perturbed_data():
    from tests.families import FAMILIES, binary_images

    model, x = FAMILIES["VAE-mlp"](), binary_images(n=64)
    background = anomaly.train_background(model, x, rate=0.2, epochs=2, batch_size=32, seed=4)
    assert type(background) is type(model) and background is not model
    assert background.get_config() == dict(model.get_config(), seed=4)
    assert int(background.optimizer.iterations) == 4  # 2 epochs of 2 batches
    assert not all(np.array_equal(a, b) for a, b in zip(model.get_weights(), background.get_weights()))
    expected = -np.asarray(model.elbo(x, seed=7)) + np.asarray(background.elbo(x, seed=7))
    np.testing.assert_allclose(anomaly.anomaly_scores(model, x, "likelihood_ratio", seed=7,
                                                      background=background), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="needs an image model"):
        anomaly.train_background(FAMILIES["VAE-mlp"]().__class__(
            input_shape=(3,), likelihood="gaussian", network="mlp", hidden_dims=(8,), latent_dim=2),
            np.zeros((4, 3)))


def test_level_elbo_is_a_looser_bound_and_level_ratio_its_gap(digits_and_clothes,
                                                               builtin_preset):
    _, digits, clothes = digits_and_clothes
    model, x = builtin_preset("hvae_mnist"), digits[:20]
    groups = len(model.latent_groups)
    # No group from the prior: the ELBO (estimated with log p(z) - log q(z|x) at the draw
    # where `elbo` uses the closed-form KL: equal means, 16 x 20 draws, ~0.3 nat error).
    assert abs(np.mean(model.level_elbo(x, levels=0, num_samples=16, seed=3))
               - np.mean(model.elbo(x, num_samples=16, seed=3))) < 1.0
    # With the lowest groups from their conditional prior it is still a bound on log p(x),
    # looser the more groups are left to the prior (means of 8 draws; gaps of many nats).
    # 20 importance samples: their bound is itself below log p(x) (by ~0.5 nats more than
    # 100 samples'), so "below it" asks more of the ELBO; the margin measured is 3 nats.
    log_px = np.mean(model.log_likelihood(x, num_samples=20, seed=0))
    bounds = [np.mean(model.level_elbo(x, levels=k, num_samples=8, seed=1)) for k in range(groups)]
    assert bounds[0] < log_px and all(a > b + 1.0 for a, b in zip(bounds, bounds[1:])), (bounds, log_px)
    np.testing.assert_allclose(
        anomaly.anomaly_scores(model, x, "level_ratio", levels=2, seed=5),
        np.asarray(model.level_elbo(x, levels=0, seed=5))
        - np.asarray(model.level_elbo(x, levels=2, seed=5)), rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match=f"levels must be below the number of latent groups "
                                         f"\\({groups}\\).*Received: levels={groups}"):
        model.level_elbo(x, levels=groups)


def test_webp_code_length_is_a_real_lossless_file_shorter_than_png(digits_and_clothes):
    import io

    from PIL import Image

    _, digits, clothes = digits_and_clothes
    x = np.r_[digits[:20], clothes[:20]]
    webp = anomaly.input_complexity(x, compressor="webp")
    png = anomaly.input_complexity(x, compressor="png")
    assert np.mean(webp) < np.mean(png)
    from zoo.applications.anomaly.scores import _webp_lossless
    data = _webp_lossless(np.round(x[0] * 255).astype(np.uint8))
    assert len(data) * 8 * np.log(2) == pytest.approx(webp[0])
    decoded = np.asarray(Image.open(io.BytesIO(data)).convert("L"))
    np.testing.assert_array_equal(decoded, np.round(x[0, ..., 0] * 255).astype(np.uint8))


def test_tables_are_scored_in_their_own_values():
    import pandas as pd

    rng = np.random.default_rng(0)
    table = pd.DataFrame({"size": rng.normal(10, 2, size=120),
                          "city": rng.choice(["Lyon", "Oslo", "Rome"], size=120)})
    likelihood = zoo.likelihoods.Tabular.from_table(table)
    model = zoo.VAE(input_shape=(2,), latent_dim=2, hidden_dims=(16,), likelihood=likelihood, seed=0)
    rows = np.asarray(likelihood.schema.encode(table))
    # The reference of the default: valid rows (a class code per category), not class means.
    samples = anomaly.model_samples(model, 50)
    assert set(np.unique(samples[:, 1])) <= {0.0, 1.0, 2.0}
    np.testing.assert_allclose(model.anomaly_score(table), model.anomaly_score(rows), rtol=1e-6)
    detector = anomaly.AnomalyDetector(model, score="typicality", reference=table)
    detector.calibrate(table)
    np.testing.assert_array_equal(detector.predict(table), detector.predict(rows))
