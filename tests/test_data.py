"""zoo.data: local IDX/npz/array loading, binarization, TFDS path, and bad input."""

import gzip
import os
import shutil
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import zoo
from zoo import data


def _collect(ds):
    xs, ys = [], []
    for batch in ds:
        x, y = batch if isinstance(batch, tuple) else (batch, None)
        xs.append(x.numpy())
        if y is not None:
            ys.append(y.numpy())
    return np.concatenate(xs), (np.concatenate(ys) if ys else None)


def test_mnist_idx_files_load_with_the_published_counts_and_labels(data_dir):
    x, y = zoo.data.load_numpy("mnist", "test", data_dir=data_dir)
    assert x.shape == (10_000, 28, 28, 1) and x.dtype == np.float32
    assert 0.0 == x.min() and x.max() == 1.0
    assert np.bincount(y).tolist()[:3] == [980, 1135, 1032]  # MNIST test class counts
    assert y[:5].tolist() == [7, 2, 1, 0, 4]  # the first test digits, famously
    ds = zoo.data.load("fashion_mnist", "train", data_dir=data_dir, batch_size=1000)
    assert sum(int(b.shape[0]) for b in ds) == 60_000


def test_environment_variable_points_at_local_files(data_dir, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, data_dir)
    x, _ = zoo.data.load_numpy("mnist", "test[:10]")
    assert x.shape == (10, 28, 28, 1)


def test_split_slices_select_the_right_examples(data_dir):
    _, y_all = zoo.data.load_numpy("mnist", "test", data_dir=data_dir)
    _, y_slice = zoo.data.load_numpy("mnist", "test[100:250]", data_dir=data_dir)
    _, y_pct = zoo.data.load_numpy("mnist", "test[90%:]", data_dir=data_dir)
    np.testing.assert_array_equal(y_slice, y_all[100:250])
    np.testing.assert_array_equal(y_pct, y_all[9000:])


def test_dynamic_binarization_redraws_every_epoch_with_the_pixel_probability(data_dir):
    ds = zoo.data.load("mnist", "test[:512]", data_dir=data_dir, binarize="dynamic",
                       batch_size=256, seed=4)
    first, second = _collect(ds)[0], _collect(ds)[0]
    grey, _ = zoo.data.load_numpy("mnist", "test[:512]", data_dir=data_dir)
    assert set(np.unique(first)) == {0.0, 1.0}
    # Fresh draws for each new iteration: grey pixels (0 < p < 1) flip between epochs
    # with probability 2p(1-p); pure black and white pixels never do.
    grey_pixels = (grey > 0) & (grey < 1)
    flips = np.mean(first[grey_pixels] != second[grey_pixels])
    expected = np.mean(2 * grey[grey_pixels] * (1 - grey[grey_pixels]))
    assert flips == pytest.approx(expected, rel=0.1)
    assert np.all(first[grey == 0] == 0) and np.all(first[grey == 1] == 1)
    # E[x] = pixel intensity: over 512 images the mean per pixel matches to ~3 std errors.
    draws = np.stack([_collect(ds)[0] for _ in range(8)])
    err = np.abs(draws.mean(axis=0) - grey).mean()
    assert err < 0.06, err
    # Reproducible from the seed: a new pipeline with the same seed repeats the first epoch.
    again = zoo.data.load("mnist", "test[:512]", data_dir=data_dir, binarize="dynamic",
                          batch_size=256, seed=4)
    np.testing.assert_array_equal(_collect(again)[0], first)


def test_static_binarization_is_fixed_whatever_the_batching(data_dir):
    a = zoo.data.load("mnist", "test[:300]", data_dir=data_dir, binarize="static", batch_size=100)
    b = zoo.data.load("mnist", "test[:300]", data_dir=data_dir, binarize="static", batch_size=7)
    xa, xb = _collect(a)[0], _collect(b)[0]
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(xa, _collect(a)[0])  # and across epochs


def test_shuffling_reorders_training_data_but_keeps_every_example(data_dir):
    ds = zoo.data.load("mnist", "train[:1000]", data_dir=data_dir, batch_size=100,
                       with_labels=True, seed=1)
    _, y1 = _collect(ds)
    _, y2 = _collect(ds)
    _, y_plain = zoo.data.load_numpy("mnist", "train[:1000]", data_dir=data_dir)
    assert not np.array_equal(y1, y_plain) and not np.array_equal(y1, y2)
    np.testing.assert_array_equal(np.sort(y1), np.sort(y_plain))


def test_npz_and_arrays(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(50, 8, 8, 1), dtype=np.uint8)
    labels = rng.integers(0, 10, size=50)
    path = str(tmp_path / "tiny.npz")
    np.savez(path, x_train=images, y_train=labels, x_test=images[:10], y_test=labels[:10])
    x, y = _collect(zoo.data.load(path, "test", batch_size=4, with_labels=True))
    np.testing.assert_allclose(x, images[:10] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, labels[:10])
    x, _ = _collect(zoo.data.from_arrays(images, batch_size=16))
    np.testing.assert_allclose(x, images / 255.0, rtol=1e-6)
    features = rng.normal(size=(20, 5)).astype(np.float32)  # tabular data passes as is
    x, _ = _collect(zoo.data.from_arrays(features, batch_size=8))
    np.testing.assert_array_equal(x, features)
    # Rows in an .npz load as they are, and binarizing them is refused, not turned into 1s.
    rows_path = str(tmp_path / "rows.npz")
    np.savez(rows_path, x_test=features * 100)
    x, _ = zoo.data.load_numpy(rows_path, "test")
    np.testing.assert_allclose(x, features * 100, rtol=1e-6)
    with pytest.raises(ValueError, match="needs pixel values in \\[0, 1\\].*binarize=None"):
        zoo.data.load_numpy(rows_path, "test", binarize="static")


def test_tfds_path_with_mock_data(monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "_network_available", lambda: True)  # pretend to be online
    with tfds.testing.mock_data(num_examples=24):
        x, y = _collect(zoo.data.load("mnist", "train", batch_size=10, with_labels=True,
                                      binarize="dynamic"))
        assert x.shape == (24, 28, 28, 1) and set(np.unique(x)) <= {0.0, 1.0}
        assert y.dtype == np.int64
        x, _ = _collect(zoo.data.load("cifar10", "test", batch_size=10))
        assert x.shape == (24, 32, 32, 3) and 0.0 <= x.min() and x.max() <= 1.0
        x, _ = _collect(zoo.data.load("binarized_mnist", "validation", batch_size=10))
        assert x.shape == (24, 28, 28, 1)  # pixels kept unscaled: they are {0, 1} already


def test_offline_without_local_files_fails_fast_with_instructions(monkeypatch, tmp_path):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "_TFDS_HOST", ("127.0.0.1", 9))  # nothing listens: refused
    start = time.time()
    with pytest.raises(ValueError) as info:
        zoo.data.load("mnist", data_dir=str(tmp_path))
    assert time.time() - start < 30  # TFDS itself retries for minutes
    message = str(info.value)
    assert "VAEZOO_DATA_DIR" in message and "train-images-idx3-ubyte.gz" in message


def _copy_mnist(data_dir, tmp_path):
    folder = tmp_path / "mnist"
    shutil.copytree(os.path.join(data_dir, "mnist"), folder)
    for path in folder.iterdir():
        os.chmod(path, 0o644)
    return folder


def test_corrupt_truncated_and_missing_files_are_refused(data_dir, tmp_path):
    folder = _copy_mnist(data_dir, tmp_path)
    target = folder / "t10k-labels-idx1-ubyte.gz"
    raw = gzip.decompress(target.read_bytes())
    target.write_bytes(gzip.compress(raw[:-10]))  # valid gzip, truncated IDX body
    with pytest.raises(ValueError, match="SHA-256 differs"):  # official name: hash checked
        zoo.data.load("mnist", "test", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="truncated"):  # unknown name: header checked
        zoo.data.load(str(folder), "test")
    (folder / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(ValueError, match="missing t10k-images-idx3-ubyte.gz"):
        zoo.data.load(str(folder), "test")


@pytest.mark.parametrize("kwargs,error,fragment", [
    (dict(name="mnsit"), ValueError, "Did you mean 'mnist'"),
    (dict(name=np.zeros((3, 2))), TypeError, "from_arrays"),
    (dict(name="mnist", split="valid"), ValueError, "split"),
    (dict(name="mnist", split="train[::2]"), ValueError, "split must look like"),
    (dict(name="mnist", split="test[5:5]"), ValueError, "selects no examples"),
    (dict(name="mnist", binarize="yes"), ValueError, "binarize must be one of"),
    (dict(name="mnist", batch_size=0), ValueError, "batch_size must be positive"),
    (dict(name="mnist", data_dir="/no/such/dir"), ValueError, "data_dir does not exist"),
    (dict(name="./missing.npz"), ValueError, "No such .npz file"),
    (dict(name="./no/such/folder"), ValueError, "No images, IDX or .npz data found"),
])
def test_bad_load_arguments_are_named(data_dir, kwargs, error, fragment):
    with pytest.raises(error) as info:
        zoo.data.load(**kwargs)
    assert fragment in str(info.value)


@pytest.mark.parametrize("x,error,fragment", [
    (np.zeros((0, 4)), ValueError, "non-empty"),
    (np.array(["a", "b"]), TypeError, "numeric"),
    (np.full((3, 2), np.nan), ValueError, "finite"),
    (np.full((3, 2), np.inf), ValueError, "finite"),
])
def test_bad_arrays_are_named(x, error, fragment):
    with pytest.raises(error) as info:
        zoo.data.from_arrays(x)
    assert fragment in str(info.value)


def test_binarizing_out_of_range_floats_is_refused():
    with pytest.raises(ValueError, match="binarize needs pixel values in"):
        zoo.data.from_arrays(np.full((3, 2), 2.0, np.float32), binarize="static")


def test_batches_feed_model_fit_directly(data_dir):
    ds = zoo.data.load("mnist", "train[:256]", data_dir=data_dir, binarize="dynamic", batch_size=64)
    model = zoo.VAE(input_shape=(28, 28, 1), latent_dim=4, hidden_dims=(32,), seed=0)
    model.compile(optimizer="adam")
    history = model.fit(ds, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert isinstance(ds, tf.data.Dataset)


# ----------------------------------------------------------------------------- own data
def test_an_npz_of_one_array_has_no_test_split(tmp_path):
    path = str(tmp_path / "mine.npz")
    np.savez(path, x=np.random.default_rng(0).random((20, 3)).astype(np.float32))
    assert sum(len(b) for b in zoo.data.load(path, "train[:15]")) == 15
    with pytest.raises(ValueError, match="holds one array 'x' and no 'test' split"):
        zoo.data.load(path, "test")


@pytest.mark.parametrize("y,error,fragment", [
    (np.array(["cat", "dog", "cat"]), TypeError, "y must hold integer class ids"),
    (np.array([0.0, 1.5, 2.0]), ValueError, "value 1.5"),
    (np.array([0, -1, 2]), ValueError, "class ids >= 0"),
    (np.array([0, 1]), ValueError, "one label per example of x (3)"),
    ("abc", TypeError, "y must be an array"),
])
def test_bad_labels_are_named(y, error, fragment):
    with pytest.raises(error) as info:
        zoo.data.from_arrays(np.zeros((3, 2), np.float32), y)
    assert fragment in str(info.value)


def test_whole_float_and_boolean_labels_are_class_ids():
    ds = zoo.data.from_arrays(np.zeros((3, 2), np.float32), np.array([0.0, 2.0, 1.0]), batch_size=3)
    assert next(iter(ds))[1].numpy().tolist() == [0, 2, 1]
    ds = zoo.data.from_arrays(np.zeros((2, 2), np.float32), np.array([True, False]), batch_size=2)
    assert next(iter(ds))[1].numpy().tolist() == [1, 0]


def test_uint8_images_are_the_same_data_for_fit_from_arrays_and_every_method():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (32, 4, 4, 1)).astype(np.uint8)
    scaled = pixels.astype(np.float32) / 255.0
    np.testing.assert_array_equal(next(iter(zoo.data.from_arrays(pixels, batch_size=32))).numpy(), scaled)
    model = zoo.VAE(input_shape=(4, 4, 1), latent_dim=2, hidden_dims=(8,), seed=0)
    model.compile(optimizer="adam")
    np.testing.assert_allclose(model.elbo(pixels, seed=0), model.elbo(scaled, seed=0), rtol=1e-6)
    # fit takes the raw uint8 array (it used to refuse values outside [0, 1]) and sees [0, 1]
    from_uint8 = model.evaluate(pixels, batch_size=32, verbose=0, return_dict=True)["loss"]
    from_float = model.evaluate(scaled, batch_size=32, verbose=0, return_dict=True)["loss"]
    assert from_uint8 == pytest.approx(from_float, rel=1e-5)
    model.fit(pixels, epochs=1, batch_size=16, verbose=0)
    model.fit(tf.data.Dataset.from_tensor_slices(pixels).batch(16), epochs=1, verbose=0)
    # Other integers are numbers, not pixels: a table of counts is not divided by 255.
    counts = np.array([[3, 400]], np.int64)
    assert next(iter(zoo.data.from_arrays(counts))).numpy().tolist() == [[3.0, 400.0]]


@pytest.mark.parametrize("values,kind", [
    (np.array([0.0, 1.0, 1.0]), "binary"),
    (np.array([0, 17, 255], np.uint8), "8bit"),
    (np.array([0.0, 17 / 255, 1.0], np.float32), "8bit"),
    (np.array([0.0, 0.123456, 1.0]), "unit_interval"),
    (np.array([-2.0, 3.5]), "real"),
])
def test_data_kind_names_what_the_numbers_are(values, kind):
    assert zoo.data.data_kind(values) == kind
    assert kind in zoo.data.DEFAULT_LIKELIHOODS


def test_evaluating_a_binarized_model_on_grey_levels_warns():
    model = zoo.VAE(input_shape=(4,), latent_dim=2, hidden_dims=(8,), binarize="dynamic")
    grey = zoo.data.from_arrays(np.full((4, 4), 0.5, np.float32))
    with pytest.warns(UserWarning, match="trained on binarized images"):
        zoo.evaluate(model, grey, num_samples=2)
    with pytest.raises(ValueError, match="binarize must be one of"):
        zoo.VAE(input_shape=(4,), latent_dim=2, binarize="yes")


def test_binarizing_colour_images_warns():
    colour = np.random.default_rng(0).integers(0, 256, (4, 3, 3, 3)).astype(np.uint8)
    with pytest.warns(UserWarning, match="colour channels into random bits"):
        zoo.data.from_arrays(colour, binarize="dynamic")
