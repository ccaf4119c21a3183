"""The semi-supervised VAE (M2): its bound in closed form, its objective against the
model's own conditional bounds, learning from few labels, saving, export and bad input."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import logsumexp, softmax

import export
import zoo
from export.edge import EdgeSampler
from tests.test_conditional import NUM_CLASSES, halves
from zoo.vae import semi_supervised as ssl


def m2(**overrides):
    settings = dict(input_shape=(28, 28, 1), latent_dim=4, hidden_dims=(64,),
                    num_classes=NUM_CLASSES, class_names=["top", "bottom", "left"],
                    semi_supervised=True, seed=0)
    return zoo.VAE(**{**settings, **overrides})


_TRAINED = {}


def trained():
    """An M2 after 15 epochs on `halves` with one label per class (3 of 192), once."""
    if not _TRAINED:
        keras.utils.set_random_seed(0)
        x, y = halves(n=192)
        hidden = ssl.hide_labels(y, NUM_CLASSES, seed=0)
        model = m2()
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        model.fit(x, hidden, batch_size=32, epochs=15, verbose=0)
        _TRAINED["model"] = model, x, y, hidden
    return _TRAINED["model"]


def test_the_unlabelled_bound_is_the_expected_loss_minus_the_entropy():
    rng = np.random.default_rng(0)
    per_class = rng.uniform(80, 120, size=(5, 4))
    logits = rng.normal(size=(5, 4))
    log_q = logits - logsumexp(logits, axis=-1, keepdims=True)
    q = np.exp(log_q)
    expected = np.sum(q * per_class, axis=-1) - (-np.sum(q * log_q, axis=-1))
    got = ssl.unlabelled_bound(tf.constant(per_class, tf.float32), tf.constant(log_q, tf.float32))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # It bounds -log sum_y exp(-L(x, y)), with equality at q(y|x) = softmax(-L): the best
    # classifier is the model's own posterior over the classes.
    assert np.all(got.numpy() >= -logsumexp(-per_class, axis=-1) - 1e-4)
    best = np.log(softmax(-per_class, axis=-1))
    np.testing.assert_allclose(
        ssl.unlabelled_bound(tf.constant(per_class, tf.float32), tf.constant(best, tf.float32)),
        -logsumexp(-per_class, axis=-1), rtol=1e-5)


def test_hide_labels_keeps_a_balanced_draw_and_refuses_what_it_cannot_balance():
    y = np.arange(300) % 3
    hidden = ssl.hide_labels(y, 30, seed=1)
    kept = hidden >= 0
    assert kept.sum() == 30 and np.array_equal(np.bincount(hidden[kept]), [10, 10, 10])
    assert np.all(hidden[kept] == y[kept]) and np.all(hidden[~kept] == -1)
    assert not np.array_equal(hidden, ssl.hide_labels(y, 30, seed=2))
    with pytest.raises(ValueError, match="num_labelled must be a positive multiple of the 3"):
        ssl.hide_labels(y, 31)
    with pytest.raises(ValueError, match="class 2 has 0 examples"):
        ssl.hide_labels(np.arange(10) % 2, 6, num_classes=3)
    assert ssl.paper_alpha(60000, 100) == pytest.approx(60.0)


def _mean_objective(model, x, y, repeats=16):
    return np.mean([float(model.objective(x, y, seed=tf.constant([r, 7]), step=10**6,
                                          training=False)["loss"]) for r in range(repeats)])


def test_the_objective_is_the_conditional_bound_for_labelled_rows_and_the_sum_for_the_rest():
    model, x, y, _ = trained()
    x, y = x[:24], y[:24]
    k = NUM_CLASSES
    # L(x, c) = -ELBO(x | c) - log p(c), from the model's own conditional bound.
    per_class = np.stack([-np.asarray(model.elbo(x, num_samples=32, seed=c, labels=[c] * len(x)))
                          for c in range(k)], axis=-1) + np.log(k)
    q = model.predict_proba(x)
    cross_entropy = -np.mean(np.log(q[np.arange(len(x)), y]))
    labelled = per_class[np.arange(len(x)), y].mean() + 0.1 * cross_entropy  # alpha: 0.1 B / B
    unlabelled = np.mean(np.sum(q * (per_class + np.log(q)), axis=-1))
    # One-sample Monte Carlo (16 draws) against 32 samples: within a nat on this model's ~200 nats.
    assert _mean_objective(model, x, y) == pytest.approx(labelled, abs=1.0)
    assert _mean_objective(model, x, np.full(len(x), -1)) == pytest.approx(unlabelled, abs=1.0)
    assert _mean_objective(model, x, None) == pytest.approx(unlabelled, abs=1.0)


def test_three_labels_and_unlabelled_images_train_a_classifier_and_a_conditional_decoder():
    model, x, y, hidden = trained()
    assert np.array_equal(model.class_counts.numpy(), [15, 15, 15])  # labelled rows only
    test_x, test_y = halves(n=96, seed=5)
    assert np.mean(model.predict_labels(test_x) == test_y) >= 0.9
    proba = model.predict_proba(test_x[:4])
    assert proba.shape == (4, NUM_CLASSES) and np.allclose(proba.sum(-1), 1, atol=1e-5)
    # The decoder takes the label: the same noise moves ink towards where the class puts it
    # (a small model after 15 epochs: blurred, but shifted the right way).
    def top_minus_bottom(label):
        images = np.asarray(model.sample(64, labels=label, seed=0))
        return images[:, :14].mean() - images[:, 14:].mean()

    assert top_minus_bottom("top") > top_minus_bottom("bottom") + 0.03


def test_it_saves_loads_and_exports_a_label_taking_sampler(tmp_path):
    model, x, _, _ = trained()
    path = os.path.join(tmp_path, "m2.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.semi_supervised and loaded.alpha is None and not loaded.class_prior
    np.testing.assert_array_equal(loaded.predict_proba(x[:8]), model.predict_proba(x[:8]))
    tflite = str(tmp_path / "m2.tflite")
    export.tflite(model, tflite)
    eps = np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32)
    ids = np.array([0, 1, 2, 1])
    np.testing.assert_allclose(EdgeSampler(tflite).sample_from_noise(eps, labels=ids),
                               model.sample_from_noise(eps, labels=ids), atol=1e-4)


@pytest.mark.parametrize("kwargs,error,fragment", [
    (dict(num_classes=None, class_names=None), ValueError, "semi_supervised trains a classifier"),
    (dict(semi_supervised=False, alpha=1.0), ValueError, "alpha weighs"),
    (dict(alpha=0.0), ValueError, "alpha"),
    (dict(free_bits=0.5), ValueError, "free_bits=0.5"),
    (dict(semi_supervised="yes"), TypeError, "semi_supervised"),
])
def test_bad_settings_are_named(kwargs, error, fragment):
    with pytest.raises(error, match=None) as info:
        m2(**kwargs)
    assert fragment in str(info.value)


def test_families_with_their_own_objective_refuse_it_and_others_have_no_classifier():
    for cls in (zoo.IWAE, zoo.VAEGAN):
        with pytest.raises(ValueError, match="has no semi-supervised form"):
            cls(input_shape=(28, 28, 1), latent_dim=4, hidden_dims=(16,), num_classes=3,
                semi_supervised=True)
    plain = zoo.VAE(input_shape=(28, 28, 1), latent_dim=4, hidden_dims=(16,), num_classes=3)
    with pytest.raises(ValueError, match="predict_proba needs the classifier"):
        plain.predict_proba(np.zeros((1, 28, 28, 1), np.float32))


def test_a_label_below_minus_one_stops_training():
    model = m2()
    model.compile(optimizer="adam")
    x, y = halves(n=32)
    with pytest.raises(tf.errors.InvalidArgumentError, match="or -1 for none"):
        model.fit(x, np.where(y == 0, -2, y), batch_size=32, epochs=1, verbose=0)


def test_the_flow_prior_vae_trains_semi_supervised_too():
    keras.utils.set_random_seed(0)
    model = zoo.FlowPriorVAE(input_shape=(28, 28, 1), latent_dim=4, hidden_dims=(32,),
                             num_classes=NUM_CLASSES, semi_supervised=True, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    x, y = halves(n=64)
    logs = model.fit(x, ssl.hide_labels(y, 6), batch_size=32, epochs=1, verbose=0).history
    assert np.isfinite(logs["loss"][0]) and np.isfinite(logs["classification"][0])
    assert model.predict_labels(x[:3]).shape == (3,)


def test_mixed_batches_hold_the_labelled_share_asked_for_and_every_unlabelled_row_once():
    x, y = halves(n=96)
    x[:, 0, 0, 0] = np.arange(96) / 96.0  # a row's identity, kept through the pipeline
    hidden = ssl.hide_labels(y, 6, seed=0)
    batches = list(ssl.mixed_batches(x, hidden, batch_size=20, labelled_per_batch=4, seed=0))
    assert len(batches) == 6 and all(b[0].shape[0] <= 20 for b in batches)
    ids = np.concatenate([b[1].numpy() for b in batches])
    rows = np.round(np.concatenate([b[0].numpy()[:, 0, 0, 0] for b in batches]) * 96).astype(int)
    unlabelled = rows[ids == -1]
    assert sorted(unlabelled.tolist()) == np.flatnonzero(hidden == -1).tolist()
    assert all(int(np.sum(b[1].numpy() >= 0)) == 4 for b in batches)
    np.testing.assert_array_equal(ids[ids >= 0], y[rows[ids >= 0]])  # labels stay with their rows
    with pytest.raises(ValueError, match="labelled_per_batch must be in"):
        ssl.mixed_batches(x, hidden, batch_size=20, labelled_per_batch=20)
    with pytest.raises(ValueError, match="keep some labels"):
        ssl.mixed_batches(x, np.full(96, -1), batch_size=20)


def test_the_cli_trains_with_a_few_labels_and_the_model_classifies(data_dir, tmp_path):
    from zoo import cli

    run = str(tmp_path / "run")
    assert cli.main(["train", "--plot-every", "0",
                     "--dataset", "fashion_mnist", "--data-dir", data_dir, "--split",
                     "train[:300]", "--labeled", "30", "--epochs", "1", "--latent-dim", "4",
                     "--hidden-dims", "32", "--output-dir", run, "--quiet"]) == 0
    model = zoo.load_model(os.path.join(run, "model.keras"))
    assert model.semi_supervised and model.class_names[8] == "Bag"
    assert model.alpha == pytest.approx(ssl.paper_alpha(300, 30))
    # 270 unlabelled images in batches of 116 (128 less 12 labelled): 3 batches, 36 labels.
    assert model.class_counts.numpy().sum() == 36
    x, _ = zoo.data.load_numpy("fashion_mnist", "test[:5]", data_dir=data_dir)
    assert model.predict_labels(x).shape == (5,)
    # Families without a semi-supervised objective are refused before any data is read.
    assert cli.main(["train", "--model", "vaegan", "--labeled", "30", "--output-dir", run]) == 2
