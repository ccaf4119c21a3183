"""Tabular data: the mixed Gaussian/categorical likelihood, its in-model standardisation,
training to the data's true entropy, round trips and the exported sampler."""

import keras
import numpy as np
import pytest
from scipy import stats

import export
import zoo
from export.edge import EdgeSampler
from tests.harness import ModelHarness, assert_weights_equal
from zoo import likelihoods


def mixed_rows(n=2000, seed=0):
    """Rows (continuous, 3-class code, continuous, 2-class code) with a known entropy.

    c ~ U{0,1,2}, x0 | c ~ N(10 + 6c, 1), x2 | x0 ~ N(-7 + 0.2 x0, 0.1^2), x3 ~ U{0,1}.
    Returns the rows and their entropy per row in nats, the floor of any model's NLL:
    H = H(c) + H(x0|c) + H(x2|x0) + H(x3).
    """
    rng = np.random.default_rng(seed)
    c = rng.integers(0, 3, n)
    x0 = 10 + 6 * c + rng.normal(size=n)
    x = np.stack([x0, c, -7 + 0.2 * x0 + 0.1 * rng.normal(size=n), rng.integers(0, 2, n)],
                 axis=1).astype(np.float32)
    entropy = np.log(3) + stats.norm(0, 1).entropy() + stats.norm(0, 0.1).entropy() + np.log(2)
    return x, float(entropy)


CATEGORICAL = {1: 3, 3: 2}


def _model(x, latent_dim=2, seed=0):
    likelihood = likelihoods.Tabular.from_data(x, categorical=CATEGORICAL)
    return zoo.VAE(input_shape=(4,), latent_dim=latent_dim, hidden_dims=(32, 32),
                   likelihood=likelihood, seed=seed)


class TestMixedTabularVAE(ModelHarness):
    unit_interval = False

    def make_model(self):
        return _model(mixed_rows(96)[0])

    def make_data(self):
        return mixed_rows(96, seed=1)[0]


def test_log_prob_matches_scipy_in_the_data_units():
    x, _ = mixed_rows(8)
    layer = likelihoods.Tabular.from_data(x, categorical=CATEGORICAL)
    layer.build((4,))
    assert layer.num_params == 3
    params = np.random.default_rng(3).normal(size=(8, 4, 3)).astype(np.float32)
    dist = layer.distribution(params)
    assert dist.batch_shape == (8,) and dist.event_shape == (4,)
    scale = np.log1p(np.exp(0.5413)) + 1e-3  # the initial standardised scale
    expected = np.zeros(8)
    for j in (0, 2):  # continuous: N(mean + std loc, std scale) on the raw values
        expected += stats.norm(layer.mean[j] + layer.std[j] * params[:, j, 0],
                               layer.std[j] * scale).logpdf(x[:, j])
    for j, k in CATEGORICAL.items():  # categorical: softmax over the first k outputs only
        logits = params[:, j, :k].astype(np.float64)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        expected += log_p[np.arange(8), x[:, j].astype(int)]
    np.testing.assert_allclose(dist.log_prob(x), expected, rtol=1e-5)


def test_categorical_columns_are_normalised_over_their_own_classes():
    x, _ = mixed_rows(8)
    layer = likelihoods.Tabular.from_data(x, categorical=CATEGORICAL)
    layer.build((4,))
    params = np.random.default_rng(4).normal(size=(1, 4, 3)).astype(np.float32)
    base = layer.distribution(params).distribution  # element-wise [1, 4]
    for j, k in CATEGORICAL.items():
        total = 0.0
        for code in range(k):
            row = x[:1].copy()
            row[0, j] = code
            total += float(np.exp(base.log_prob(row)[0, j]))
        assert total == pytest.approx(1.0, abs=1e-6), j
    mode = np.asarray(base.mean())[0]
    for j, k in CATEGORICAL.items():  # the point prediction of a code is its arg-max
        assert mode[j] == np.argmax(params[0, j, :k])


def test_rescaling_the_data_shifts_the_log_density_by_the_jacobian():
    # A model standardised on 10 x the data, with the same weights, gives the same
    # standardised density; in data units each continuous column pays log 10.
    x, _ = mixed_rows(64)
    scaled = x.copy()
    scaled[:, [0, 2]] *= 10.0
    a = likelihoods.Tabular.from_data(x, categorical=CATEGORICAL)
    b = likelihoods.Tabular.from_data(scaled, categorical=CATEGORICAL)
    a.build((4,)), b.build((4,))
    params = np.random.default_rng(5).normal(size=(64, 4, 3)).astype(np.float32)
    diff = a.distribution(params).log_prob(x) - b.distribution(params).log_prob(scaled)
    np.testing.assert_allclose(diff, 2 * np.log(10.0), rtol=1e-4)


def test_encoder_sees_standardised_columns_and_one_hot_codes():
    x, _ = mixed_rows(500)
    layer = likelihoods.Tabular.from_data(x, categorical=CATEGORICAL)
    features = np.asarray(layer.encoder_input(x))
    # standardised columns, their missing indicators, then the one-hot codes
    assert features.shape == (500, 2 + 2 + 3 + 2) == (500, *layer.encoder_input_shape((4,)))
    np.testing.assert_allclose(features[:, :2].mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(features[:, :2].std(axis=0), 1.0, atol=1e-4)
    assert np.all(features[:, 2:4] == 0)  # nothing missing
    np.testing.assert_array_equal(features[:, 4:7].argmax(axis=1), x[:, 1])
    np.testing.assert_array_equal(features[:, 7:].argmax(axis=1), x[:, 3])
    assert np.all(features[:, 4:].sum(axis=1) == 2)


def test_the_encoder_tells_a_missing_number_from_one_at_the_mean():
    x, _ = mixed_rows(500)
    layer = likelihoods.Tabular.from_data(x, categorical=CATEGORICAL)
    at_mean, missing = x[:1].copy(), x[:1].copy()
    at_mean[0, 0], missing[0, 0] = layer.mean[0], np.nan
    a, b = np.asarray(layer.encoder_input(at_mean)), np.asarray(layer.encoder_input(missing))
    assert a[0, 0] == pytest.approx(0.0, abs=1e-5) and b[0, 0] == 0.0  # same value...
    assert (a[0, 2], b[0, 2]) == (0.0, 1.0)  # ...told apart by the indicator
    plain = likelihoods.Tabular.from_data(x, categorical=CATEGORICAL, missing_indicators=False)
    assert plain.encoder_input_shape((4,)) == (2 + 3 + 2,)
    np.testing.assert_array_equal(plain.encoder_input(at_mean), plain.encoder_input(missing))


def skewed_rows(n=4000, seed=0):
    """Rows (a log-normal count shifted by -1, a Gaussian): the first column is skewed."""
    rng = np.random.default_rng(seed)
    return np.stack([np.expm1(rng.normal(3.0, 1.2, n)), rng.normal(size=n)], 1).astype(np.float32)


def test_a_log1p_column_is_a_shifted_log_normal_in_the_data_units():
    x = skewed_rows(16)
    layer = likelihoods.Tabular.from_data(x, log1p=[0])
    layer.build((2,))
    params = np.random.default_rng(6).normal(size=(16, 2, 1)).astype(np.float32)
    base = layer.distribution(params).distribution
    scale = np.log1p(np.exp(0.5413)) + 1e-3
    m = layer.mean[0] + layer.std[0] * params[:, 0, 0]
    s = layer.std[0] * scale
    # log(1 + x) ~ N(m, s): 1 + x is log-normal with median exp(m)
    expected = stats.lognorm(s=s, scale=np.exp(m)).logpdf(1.0 + x[:, 0].astype(np.float64))
    np.testing.assert_allclose(np.asarray(base.log_prob(x))[:, 0], expected, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(base.mean())[:, 0], np.exp(m + s ** 2 / 2) - 1, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(base.mode())[:, 0], np.exp(m - s ** 2) - 1, rtol=1e-4)
    draws = np.asarray(base.sample(20000, seed=[1, 2]))[:, 0, 0]
    assert draws.min() > -1
    mc_stderr = draws.std() / np.sqrt(len(draws))
    assert abs(draws.mean() - (np.exp(m[0] + s ** 2 / 2) - 1)) < 5 * mc_stderr


def test_log1p_columns_are_saved_and_checked(tmp_path):
    x = skewed_rows(64)
    layer = likelihoods.Tabular.from_data(x, log1p=[0])
    np.testing.assert_allclose(layer.mean[0], np.log1p(x[:, 0]).mean(), rtol=1e-5)
    model = zoo.VAE(input_shape=(2,), latent_dim=2, hidden_dims=(8,), likelihood=layer, seed=0)
    model.elbo(x[:4])
    path = str(tmp_path / "m.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    assert restored.likelihood.log1p == [0]
    np.testing.assert_allclose(restored.elbo(x[:4], seed=1), model.elbo(x[:4], seed=1), rtol=1e-6)
    bad = x[:4].copy()
    bad[0, 0] = -1.0
    with pytest.raises(ValueError, match=r"x\[:, 0\] is modelled as log\(1 \+ x\)"):
        model.elbo(bad)
    with pytest.raises(ValueError, match="log1p must list continuous columns"):
        likelihoods.Tabular.from_data(x, log1p=[5])
    with pytest.raises(TypeError, match="missing_indicators must be True or False"):
        likelihoods.Tabular.from_data(x, missing_indicators="no")


def test_training_reaches_the_entropy_of_the_data():
    x, entropy = mixed_rows(3000)
    x_test, _ = mixed_rows(1000, seed=9)
    model = _model(x)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = -float(np.mean(model.log_likelihood(x_test, num_samples=50, seed=0)))
    model.fit(x, batch_size=100, epochs=40, verbose=0)
    after = -float(np.mean(model.log_likelihood(x_test, num_samples=50, seed=0)))
    # Untrained, the standardised model scores each column on its own (~4 nats above
    # the entropy). The NLL can't go below the entropy (up to the test sample's noise);
    # a model that learned the clusters of x0 by c and the slope of x2 on x0 gets
    # within 0.25 nats of it (0.14 after 50 epochs).
    assert before > entropy + 3.0, (before, entropy)
    assert entropy - 0.1 < after < entropy + 0.25, (after, entropy)


def test_keras_round_trip_keeps_the_standardisation(tmp_path):
    x, _ = mixed_rows(200)
    model = _model(x)
    model.compile(optimizer="adam")
    model.fit(x, batch_size=50, epochs=1, verbose=0)
    path = str(tmp_path / "tabular.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.likelihood.get_config() == model.likelihood.get_config()
    assert_weights_equal(model, loaded)
    np.testing.assert_array_equal(loaded.elbo(x[:20], seed=1), model.elbo(x[:20], seed=1))


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"mean": [0.0, 1.0], "std": [1.0]}, ValueError, "one entry per column"),
    ({"mean": [0.0], "std": [0.0]}, ValueError, "std must be positive"),
    ({"mean": [np.nan], "std": [1.0]}, ValueError, "mean must be finite"),
    ({"mean": [[0.0]], "std": [1.0]}, ValueError, "1-D"),
    ({"mean": ["a"], "std": [1.0]}, TypeError, "mean must be"),
    ({"mean": [0.0, 0.0], "std": [1.0, 1.0], "categorical": {2: 3}}, ValueError, "categorical"),
    ({"mean": [0.0, 0.0], "std": [1.0, 1.0], "categorical": {1: 1}}, ValueError, "2 classes"),
    ({"mean": [0.0, 0.0], "std": [1.0, 1.0], "categorical": "a"}, TypeError, "categorical"),
])
def test_bad_likelihood_arguments_raise_clear_errors(kwargs, error, fragment):
    with pytest.raises(error, match=None) as info:
        likelihoods.Tabular(**kwargs)
    assert fragment in str(info.value)


def test_bad_rows_raise_clear_errors():
    x, _ = mixed_rows(64)
    model = _model(x)
    for bad, fragment in [(1.5, "integer codes 0..2"), (3.0, "integer codes 0..2"),
                          (-1.0, "integer codes 0..2")]:
        rows = x[:4].copy()
        rows[2, 1] = bad
        with pytest.raises(ValueError, match="x\\[:, 1\\] is categorical") as info:
            model.elbo(rows)
        assert fragment in str(info.value)
    with pytest.raises(ValueError, match="rows of 4 columns"):
        zoo.VAE(input_shape=(5,), likelihood=model.likelihood)
    with pytest.raises(ValueError, match="at least 2 rows"):
        likelihoods.Tabular.from_data(x[:1])
    # A constant column keeps unit spread instead of dividing by zero.
    constant = x.copy()
    constant[:, 2] = 7.0
    assert likelihoods.Tabular.from_data(constant, categorical=CATEGORICAL).std[2] == 1.0


def test_exported_sampler_matches_keras_on_the_same_noise(tmp_path):
    x, _ = mixed_rows(500)
    model = _model(x)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(x, batch_size=100, epochs=3, verbose=0)
    noise = np.random.default_rng(0).standard_normal((256, model.noise_dim)).astype(np.float32)
    expected = np.asarray(model.sample_from_noise(noise))
    # Samples are whole rows in data units, with valid codes in the categorical columns.
    for j, k in CATEGORICAL.items():
        assert set(np.unique(expected[:, j])) <= set(range(k))
    path = export.tflite(model, str(tmp_path / "tabular.tflite"), quantization="float32")
    got = EdgeSampler(path).sample_from_noise(noise)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)
    import tensorflow as tf
    served = tf.saved_model.load(export.saved_model(model, str(tmp_path / "served")))
    out = served.signatures["serving_default"](noise=tf.constant(noise))["samples"].numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-4)


def test_a_config_saved_before_missing_indicators_loads_without_them():
    x, _ = mixed_rows(64)
    config = likelihoods.Tabular.from_data(x, categorical=CATEGORICAL).get_config()
    del config["missing_indicators"]  # as written by earlier versions
    old = likelihoods.Tabular.from_config(config)
    assert old.missing_indicators is False and old.encoder_input_shape((4,)) == (2 + 3 + 2,)
