"""Folders of photos as data: layouts, labels, sizes, channels, bad files, the real
CIFAR-10 JPEG copy and the command line."""

import os

import numpy as np
import pytest
from PIL import Image

import zoo
from zoo import data, image_folders


def _write(path, array, fmt=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path, format=fmt)


def _photos(root, classes=("cat", "dog"), per_class=6, shape=(8, 8, 3), split=None, seed=0):
    """Writes PNGs (lossless, so decoded pixels can be compared) and returns
    {path: pixels}."""
    rng = np.random.default_rng(seed)
    written = {}
    for c in classes:
        for i in range(per_class):
            pixels = rng.integers(0, 256, shape, dtype=np.uint8)
            folder = os.path.join(root, *(split and [split] or []), c)
            path = os.path.join(folder, f"{i:03d}.png")
            _write(path, pixels.squeeze(-1) if shape[-1] == 1 else pixels)
            written[path] = pixels
    return written


def _collect(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(xs), np.concatenate(ys)


def test_class_folders_give_labels_by_sorted_name_and_exact_pixels(tmp_path):
    written = _photos(tmp_path, classes=("dog", "cat", "bird"), per_class=5)
    x, y = _collect(zoo.data.load(str(tmp_path), batch_size=4, with_labels=True, shuffle=False))
    assert x.shape == (15, 8, 8, 3) and np.bincount(y).tolist() == [5, 5, 5]
    assert zoo.data.class_names(str(tmp_path)) == ("bird", "cat", "dog")
    # Every image comes out once, with its own pixels (/255) and its folder's label.
    idx = image_folders.index(str(tmp_path))
    for path, image, label in zip(idx.paths, x, y):
        np.testing.assert_array_equal(np.round(image * 255).astype(np.uint8), written[path])
        assert os.path.basename(os.path.dirname(path)) == ("bird", "cat", "dog")[label]
    assert zoo.data.inspect(str(tmp_path)) == {"kind": "8bit", "channels": 3}


def test_train_and_test_subfolders_are_splits_and_slices_hold_every_class(tmp_path):
    _photos(tmp_path, split="train", classes=("a", "b", "c", "d"), per_class=25)
    _photos(tmp_path, split="test", classes=("a", "b", "c", "d"), per_class=3, seed=1)
    _, y_test = _collect(zoo.data.load(str(tmp_path), "test", with_labels=True))
    assert len(y_test) == 12
    _, head = _collect(zoo.data.load(str(tmp_path), "train[:20%]", with_labels=True))
    _, tail = _collect(zoo.data.load(str(tmp_path), "train[20%:]", with_labels=True))
    assert len(head) == 20 and len(tail) == 80
    # The fixed file order mixes the classes: a 20-image slice in name order would be
    # class "a" only.
    assert len(set(head.tolist())) >= 3
    with pytest.raises(ValueError, match="split='validation'"):
        zoo.data.load(str(tmp_path), "validation")


def test_shuffling_reorders_files_each_epoch_and_the_seed_repeats_it(tmp_path):
    _photos(tmp_path, per_class=20)
    ds = zoo.data.load(str(tmp_path), batch_size=40, with_labels=True, seed=3)
    first, second = (next(iter(ds))[0].numpy() for _ in range(2))
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(np.sort(first.ravel()), np.sort(second.ravel()))
    again = next(iter(zoo.data.load(str(tmp_path), batch_size=40, with_labels=True, seed=3)))
    np.testing.assert_array_equal(again[0].numpy(), first)


def test_image_size_resizes_or_crops_and_keeps_8bit_levels(tmp_path):
    rng = np.random.default_rng(0)
    _write(str(tmp_path / "c" / "wide.png"), rng.integers(0, 256, (20, 40, 3), dtype=np.uint8))
    _write(str(tmp_path / "c" / "tall.png"), rng.integers(0, 256, (30, 10, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="image_size=None"):
        zoo.data.load(str(tmp_path))
    x, _ = zoo.data.load_numpy(str(tmp_path), "train", image_size=16)
    assert x.shape == (2, 16, 16, 3)
    np.testing.assert_array_equal(x * 255, np.round(x * 255))  # still 8-bit levels
    # Cropping a constant-coloured centre keeps exactly that colour.
    left, centre = np.zeros((16, 16, 3), np.uint8), np.full((16, 16, 3), 200, np.uint8)
    _write(str(tmp_path / "c" / "wide.png"), np.concatenate([left, centre, left], axis=1))
    os.remove(tmp_path / "c" / "tall.png")
    crop, _ = zoo.data.load_numpy(str(tmp_path), "train", image_size=(8, 8),
                                  crop_to_aspect_ratio=True)
    np.testing.assert_allclose(crop * 255, 200, atol=0.5)
    stretched, _ = zoo.data.load_numpy(str(tmp_path), "train", image_size=(8, 8))
    assert stretched[0, 4, 0].max() < 100  # the black sides are squeezed in


def test_grey_and_colour_mixed_is_refused_until_a_color_mode_is_chosen(tmp_path):
    _photos(tmp_path, classes=("grey",), shape=(8, 8, 1), per_class=2)
    _photos(tmp_path, classes=("colour",), shape=(8, 8, 3), per_class=2)
    with pytest.raises(ValueError, match=r"differ in channels.*color_mode='rgb'"):
        zoo.data.load(str(tmp_path))
    x, _ = zoo.data.load_numpy(str(tmp_path), "train", color_mode="rgb")
    assert x.shape == (4, 8, 8, 3)
    grey = [i for i, p in enumerate(image_folders.index(str(tmp_path), color_mode="rgb").paths)
            if os.path.basename(os.path.dirname(p)) == "grey"]
    assert len(grey) == 2
    # A grey image converted to RGB has three equal channels.
    np.testing.assert_array_equal(x[grey, ..., 0], x[grey, ..., 2])
    x, _ = zoo.data.load_numpy(str(tmp_path), "train", color_mode="grayscale")
    assert x.shape == (4, 8, 8, 1)


def test_undecodable_files_are_named_or_skipped_with_a_warning(tmp_path):
    _photos(tmp_path, per_class=3)
    bad = tmp_path / "cat" / "broken.jpg"
    bad.write_bytes(b"not a jpeg at all")
    with pytest.raises(ValueError, match="broken.jpg.*on_error='skip'"):
        zoo.data.load(str(tmp_path))
    with pytest.warns(UserWarning, match="Skipped 1 files.*broken.jpg"):
        x, _ = zoo.data.load_numpy(str(tmp_path), "train", on_error="skip")
    assert len(x) == 6


@pytest.mark.parametrize("make, kwargs, error, fragment", [
    (lambda p: os.makedirs(p / "cat"), {}, ValueError, "No images, IDX or .npz"),
    (lambda p: _photos(p), {"color_mode": "cmyk"}, ValueError, "color_mode='cmyk'"),
    (lambda p: _photos(p), {"on_error": "ignore"}, ValueError, "on_error='ignore'"),
    (lambda p: _photos(p), {"image_size": (8, 8, 3)}, ValueError, "image_size=(8, 8, 3)"),
    (lambda p: _photos(p), {"image_size": -4}, ValueError, "image_size=-4"),
    (lambda p: _photos(p), {"image_size": "big"}, TypeError, "image_size='big'"),
])
def test_bad_folder_arguments_are_named(tmp_path, make, kwargs, error, fragment):
    make(tmp_path)
    with pytest.raises(error) as info:
        zoo.data.load(str(tmp_path), **kwargs)
    assert fragment in str(info.value)


def test_unlabelled_folders_and_options_for_other_sources(tmp_path, data_dir):
    rng = np.random.default_rng(0)
    for i in range(3):
        _write(str(tmp_path / f"{i}.jpg"), rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    assert next(iter(zoo.data.load(str(tmp_path)))).shape == (3, 8, 8, 3)
    with pytest.raises(ValueError, match="with_labels needs class folders"):
        zoo.data.load(str(tmp_path), with_labels=True)
    with pytest.raises(ValueError, match="color_mode and on_error are for folders of photos"):
        zoo.data.load("mnist", color_mode="rgb")
    # image_size applies to every image source: MNIST at 32 x 32.
    x = next(iter(zoo.data.load("mnist", "test[:4]", image_size=32)))
    assert x.shape == (4, 32, 32, 1)


def test_offline_cifar10_points_at_a_folder_of_photos(monkeypatch, tmp_path):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "_TFDS_HOST", ("127.0.0.1", 9))
    with pytest.raises(ValueError, match="cifar10_jpeg"):
        zoo.data.load("cifar10", data_dir=str(tmp_path))


def test_the_cifar10_jpeg_copy_streams_with_class_names(data_dir):
    folder = os.path.join(data_dir, "cifar10_jpeg")
    if not os.path.isdir(folder):
        pytest.fail(f"{folder} is missing: the shared data holds CIFAR-10 as JPEG folders")
    # By name under $VAEZOO_DATA_DIR, like the IDX folders.
    x, y = _collect(zoo.data.load("cifar10_jpeg", "test[:500]", with_labels=True, batch_size=128))
    assert x.shape == (500, 32, 32, 3) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and len(np.unique(y)) == 10
    assert zoo.data.class_names("cifar10_jpeg")[:3] == ("airplane", "automobile", "bird")
    assert len(image_folders.index(folder, "test").paths) == 10_000
