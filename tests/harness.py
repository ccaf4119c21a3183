"""One harness every model family goes through.

A family's test module subclasses `ModelHarness` and defines `make_model()` and
`make_data()`; it then inherits every check here: config round trip, exact `.keras`
and preset round trips, training steps that move every weight, the ELBO / importance-
weighted bound relations, deterministic sampling from noise, and the bad-input table.
"""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf


_TRAINED = {}  # test class -> (trained model, data): see ModelHarness._trained
_FIRST_FIT = {}  # test class -> (weights before, train-step traces, logs) of that fit


def assert_weights_equal(a, b):
    assert len(a.weights) == len(b.weights)
    for wa, wb in zip(a.weights, b.weights):
        assert wa.path == wb.path
        np.testing.assert_array_equal(np.asarray(wa), np.asarray(wb), err_msg=wa.path)


class ModelHarness:
    """Mixin for pytest classes; subclasses set `make_model` and `make_data`."""

    #: Whether the data is binary/[0, 1] (so out-of-range values must be refused).
    unit_interval = True

    def make_model(self):
        raise NotImplementedError

    def make_data(self):
        """A float32 numpy batch `[n, *input_shape]` of valid data, n >= 64."""
        raise NotImplementedError

    def _trained(self):
        """(model after one epoch over its data, the data), once per class and worker.

        Shared by the tests that only read it (the round trips and the bounds): tracing
        the first `fit` is most of what a small model costs. It comes out the same
        whichever test builds it: the model is seeded and the steps unshuffled. The
        weights before the fit, the number of train-step traces and the logs are kept
        for `test_three_training_steps_change_every_weight`, which checks this fit."""
        key = type(self)
        if key not in _TRAINED:
            model = self.make_model()
            x = self.make_data()
            assert len(x) == 96, "the harness trains 3 steps of 32"
            model.compile(optimizer=keras.optimizers.Adam(1e-3))
            before = [np.array(w) for w in model.trainable_weights]
            traces = []
            train_step = model.train_step
            model.train_step = lambda data: traces.append(1) or train_step(data)
            # One pass, no steps_per_epoch: asking for more batches than the data has
            # (it was 5, for 3 batches of the 96 examples) only warned and stopped at 3.
            history = model.fit(x, batch_size=32, epochs=1, shuffle=False, verbose=0)
            del model.train_step  # back to the class's method for the tests that reuse it
            _TRAINED[key] = model, x
            _FIRST_FIT[key] = before, len(traces), history.history
        return _TRAINED[key]

    def test_config_round_trip(self):
        model = self.make_model()
        config = model.get_config()
        clone = type(model).from_config(config)
        assert clone.get_config() == config
        assert len(clone.weights) == len(model.weights)

    def test_three_training_steps_change_every_weight(self):
        # Three steps, not one: a zero-initialised layer (the last layer of a residual
        # block, a residual posterior's output) passes no gradient to the layers before
        # it until it has moved once, and a hierarchy chains two of them.
        model, _ = self._trained()  # the one-epoch fit: 3 batches of 32
        before, traces, logs = _FIRST_FIT[type(self)]
        # compile() built the optimizer, so the train step is traced once, not a second
        # time for the variables a first trace would create.
        assert traces == 1, f"the train step was traced {traces} times"
        assert int(model.optimizer.iterations) == 3
        assert len(before) == len(model.trainable_weights)
        for w, old in zip(model.trainable_weights, before):
            assert not np.array_equal(np.asarray(w), old), f"{w.path} did not change"
        for key in ("loss", "reconstruction", "kl", "active_units"):
            assert np.isfinite(logs[key][0]), key
        assert 0 <= logs["active_units"][0] <= model.noise_dim

    def test_keras_file_round_trip_restores_weights_and_outputs_exactly(self, tmp_path):
        model, x = self._trained()
        path = os.path.join(tmp_path, "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
        assert type(loaded) is type(model)
        assert_weights_equal(model, loaded)
        eps = np.random.default_rng(0).normal(size=(5, model.noise_dim)).astype(np.float32)
        np.testing.assert_array_equal(model.sample_from_noise(eps), loaded.sample_from_noise(eps))
        np.testing.assert_array_equal(model.reconstruct(x[:8]), loaded.reconstruct(x[:8]))
        np.testing.assert_array_equal(model.elbo(x[:8], seed=3), loaded.elbo(x[:8], seed=3))
        # The optimizer state comes back too, so training continues where it stopped.
        assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations)

    def test_preset_round_trip_and_family_check(self, tmp_path):
        import zoo

        model, x = self._trained()
        directory = os.path.join(tmp_path, "preset")
        model.save_to_preset(directory, metadata={"dataset": "test"})
        assert sorted(os.listdir(directory)) == ["MODEL_CARD.md", "config.json", "metadata.json",
                                                 "model.weights.h5"]
        loaded = type(model).from_preset(directory)
        assert_weights_equal(model, loaded)
        np.testing.assert_array_equal(model.reconstruct(x[:4]), loaded.reconstruct(x[:4]))
        assert zoo.presets.load_metadata(directory)["dataset"] == "test"
        with pytest.raises(FileExistsError):
            model.save_to_preset(directory)

    def test_iw_bound_is_at_least_the_elbo_and_rises_with_k(self):
        model, x = self._trained()
        x = x[:64]
        # k=1 is a one-sample ELBO (Monte Carlo KL instead of analytic): equal in
        # expectation. 20 independent draws of each; the difference of the means must be
        # within 5 standard errors (conservative: the spread includes between-example
        # variation).
        one = np.stack([model.log_likelihood(x, num_samples=1, seed=100 + r) for r in range(20)])
        elbo = np.stack([model.elbo(x, seed=200 + r) for r in range(20)])
        stderr = np.sqrt(one.var() / one.size + elbo.var() / elbo.size)
        assert abs(one.mean() - elbo.mean()) < 5 * stderr
        bounds = {k: float(np.mean(model.log_likelihood(x, num_samples=k, seed=k)))
                  for k in (10, 200)}
        assert elbo.mean() < bounds[10] < bounds[200]

    def test_log_likelihood_is_seeded_and_independent_of_pass_size(self):
        model, x = self._trained()
        x = x[:6]
        # k=200 in passes of 10 samples (60 rows): 20 passes, enough to exercise the
        # chunking against a single pass (6000 rows) without the suite paying for k=1000.
        a = model.log_likelihood(x, num_samples=200, seed=5, max_rows_per_pass=60)
        b = model.log_likelihood(x, num_samples=200, seed=5, max_rows_per_pass=60)
        np.testing.assert_array_equal(a, b)  # same seed, same passes: identical
        # Other pass sizes draw other samples but are the same estimator: compare the
        # means of 4 seeds each with a two-sample test at 5 standard errors.
        small = np.array([np.mean(model.log_likelihood(x, 200, seed=s, max_rows_per_pass=60))
                          for s in range(4)])
        large = np.array([np.mean(model.log_likelihood(x, 200, seed=s, max_rows_per_pass=6000))
                          for s in range(10, 14)])
        stderr = np.sqrt(small.var(ddof=1) / 4 + large.var(ddof=1) / 4)
        assert abs(small.mean() - large.mean()) <= 5 * stderr + 1e-3 * abs(small.mean())

    def test_sampling_is_deterministic_given_noise_or_seed(self):
        # The shared trained model: its sampling tools are traced once for this test and
        # the round trips, and trained weights are a stronger case than initial ones.
        model, x = self._trained()
        eps = np.random.default_rng(1).normal(size=(4, model.noise_dim)).astype(np.float32)
        a, b = model.sample_from_noise(eps), model.sample_from_noise(eps)
        np.testing.assert_array_equal(a, b)
        assert a.shape == (4, *model.data_shape)
        np.testing.assert_array_equal(model.sample(3, seed=7), model.sample(3, seed=7))
        assert not np.array_equal(model.sample(3, seed=7), model.sample(3, seed=8))
        assert model.embed(x[:2]).shape[0] == 2
        assert model.anomaly_score(x[:2], seed=0).shape == (2,)

    def test_sampler_spec_is_the_models_own_sampler(self):
        # Export builds every graph from this spec: it must compute what the model does.
        model, _ = self._trained()
        spec = model.sampler_spec()
        assert (spec.noise_dim, spec.latent_shape) == (model.noise_dim, tuple(model.latent_shape))
        assert spec.output_shape == model.data_shape
        eps = tf.constant(np.random.default_rng(2).normal(size=(3, model.noise_dim)), tf.float32)
        samples = np.asarray(spec.sample_from_noise(eps))
        np.testing.assert_allclose(samples, model.sample_from_noise(eps), atol=1e-6)
        z = spec.latent_from_noise(eps)
        np.testing.assert_allclose(spec.decode_mean(z), samples, atol=1e-5)
        np.testing.assert_allclose(spec.decode_mean(z), model.decode(z).mean(), atol=1e-6)
        # A family that says its noise is the latent gets one graph for both signatures:
        # it had better be. (The converse cannot be checked on a fresh model: an untrained
        # flow prior is the identity too.)
        if spec.noise_is_latent:
            np.testing.assert_array_equal(np.asarray(z), np.asarray(eps))

    def test_labels_and_sample_weights_reach_the_objective(self):
        model = self.make_model()
        # Eagerly: fit hands train_step the same (x, y, sample_weight) either way, and
        # tracing a second train step per family (a VAE-GAN's three updates) cost ~10 s.
        model.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)
        x = self.make_data()[:64]
        y = np.arange(64) % 3
        seen = []
        objective = model.objective

        def recording(x, y=None, sample_weight=None, **kwargs):
            seen.append((y is not None, sample_weight is not None))
            return objective(x, y, None, **kwargs)  # weights themselves: tested per family

        model.objective = recording
        data = tf.data.Dataset.from_tensor_slices((x, y, np.ones(64, np.float32))).batch(64)
        model.fit(data, epochs=1, verbose=0)
        assert seen == [(True, True)], seen  # called once, with both

    @pytest.mark.parametrize("score", ["latent_knn", "feature_knn"])
    def test_knn_scores_find_each_reference_example_at_distance_zero(self, score):
        # Every family's posterior mean and encoder features flatten to one vector per
        # example, whatever the shape of its latents (HVAE groups, convolutional maps,
        # tabular vectors).
        from zoo.applications import anomaly

        model, x = self.make_model(), self.make_data()[:6]
        # Weights nudged off their initial values: an HVAE's residual posterior starts
        # equal to its prior (zero-initialised heads), which maps every input to one code.
        rng = np.random.default_rng(0)
        for w in model.trainable_weights:
            w.assign(w + 0.05 * rng.normal(size=w.shape).astype(w.dtype))
        distances = anomaly.anomaly_scores(model, x, score, batch_size=4, reference=x,
                                           neighbours=1)
        assert distances.shape == (6,) and np.abs(distances).max() < 1e-3, distances
        away = anomaly.anomaly_scores(model, x, score, reference=x[::-1], neighbours=6)
        assert np.all(away > 0), away  # the mean over all six includes five others
        features = np.asarray(model.features(x))
        assert features.dtype == np.float32 and features.shape[0] == 6 and features.ndim == 2
        # Batch-independent (no batch statistics in inference), so reference and query
        # batches of different sizes compare like with like.
        np.testing.assert_allclose(model.features(x[:2]), features[:2], rtol=1e-5, atol=1e-6)

    # ------------------------------------------------------------------ bad input
    def bad_inputs(self, model, x):
        """(call, exception type, message fragment) triples every model must reject."""
        shape = model.data_shape
        nan = x[:2].copy()
        # NaN marks a missing entry for a likelihood that takes them (tables): inf is bad.
        nan[0].flat[0] = np.inf if model.likelihood.allows_missing else np.nan
        cases = [
            (lambda: model.elbo(x[0]), ValueError, "Add a batch axis"),
            (lambda: model.elbo(np.zeros((2, *shape, 1), np.float32)), ValueError, "x must have shape"),
            (lambda: model.elbo(np.zeros((2, sum(shape) + 1), np.float32)), ValueError, "x must have shape"),
            (lambda: model.elbo(np.full((2, *shape), "a")), TypeError, "numeric"),
            (lambda: model.elbo(nan), ValueError, "finite"),
            (lambda: model.elbo(x[:0]), ValueError, "at least one"),
            (lambda: model.log_likelihood(x[:2], num_samples=0), ValueError, "num_samples"),
            (lambda: model.sample(0), ValueError, "num_samples"),
            (lambda: model.sample(2, seed="a"), TypeError, "seed"),
            (lambda: model.sample(2, seed=-1), ValueError, "seed=-1"),
            (lambda: model.log_likelihood(x[:2], num_samples=2, precision="half"), ValueError,
             "precision"),
            (lambda: model.sample_from_noise(np.zeros((2, model.noise_dim + 1), np.float32)),
             ValueError, "eps must have shape"),
            (lambda: model.sample_from_noise(np.full((2, model.noise_dim), np.inf, np.float32)),
             ValueError, "finite"),
            (lambda: model.decode(np.zeros((2, 1, *model.latent_shape), np.float32)),
             ValueError, "z must have shape"),
            (lambda: model.fit(tf.data.Dataset.from_tensor_slices(x).batch(4).take(0)),
             ValueError, "empty"),
            (lambda: model.fit(tf.data.Dataset.from_tensor_slices(x)), ValueError, "batch"),
        ]
        if self.unit_interval:
            cases.append((lambda: model.elbo(x[:2] * 3.0), ValueError, "[0, 1]"))
        return cases

    def test_bad_inputs_raise_clear_errors(self):
        model = self.make_model()
        model.compile(optimizer="adam")
        x = self.make_data()
        for call, error, fragment in self.bad_inputs(model, x):
            with pytest.raises(error, match=None) as info:
                call()
            assert fragment in str(info.value), (fragment, str(info.value))
