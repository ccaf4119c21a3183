"""Reference outputs of every built-in preset, to prove a refactor changes no number.

`tests/data/preset_outputs.npz` holds, for each preset, what it computed on fixed inputs
when the file was recorded (a conditional preset's samples with every class in turn as
the labels, and its figures of the test images with their own labels):
  - `<preset>/samples`: `sample_from_noise(eps)`, eps = 4 standard-normal rows (seed 0);
  - `<preset>/elbo`: `elbo(x, seed=0)` on the first 16 test images of the preset's
    dataset, statically binarized with seed 0;
  - `<preset>/log_likelihood`: `log_likelihood(x[:4], num_samples=8, seed=0)`;
  - `<preset>/reconstruct`, `<preset>/embed`: of `x[:4]`.
`test_presets.py` recomputes them and requires equality within 1e-5.

Re-record (only from a commit whose numbers are known to be right, e.g. before a
restructuring, and only when a preset's weights change on purpose), or add a new preset's
entries and keep every other preset's:

    python -m tests.preset_outputs
    python -m tests.preset_outputs cvae_mnist
"""

import os
import re
import sys

import numpy as np

PATH = os.path.join(os.path.dirname(__file__), "data", "preset_outputs.npz")
NUM_NOISE, NUM_IMAGES = 4, 16


#: The dataset a preset name ends with (before a label count, as in m2_mnist_100), and the
#: dataset it names under $VAEZOO_DATA_DIR; longest first, so that fashion_mnist is not
#: read as mnist.
DATASETS = (("fashion_mnist", "fashion_mnist"), ("mnist", "mnist"), ("cifar10", "cifar10_jpeg"))
#: The datasets whose presets model binarized images; the others keep their 8-bit levels.
BINARIZED = ("mnist", "fashion_mnist")


def dataset_of(preset):
    """The dataset a built-in preset was trained on, from its name."""
    base = re.sub(r"_[0-9]+$", "", preset)
    for suffix, dataset in DATASETS:
        if base.endswith(f"_{suffix}"):
            return dataset
    raise ValueError(f"No known dataset in the preset name {preset!r}")


def scored_images(dataset, split, data_dir, **kwargs):
    """`zoo.data.load_numpy` of a preset's dataset as its recipe scored it: binarized once
    (static, seed 0) where the presets model binary images."""
    import zoo

    return zoo.data.load_numpy(dataset, split, data_dir=data_dir, seed=0,
                               binarize="static" if dataset in BINARIZED else None, **kwargs)


def inputs(model, preset, data_dir):
    """The fixed noise and images a preset's outputs are recorded on: (eps, x, labels of
    the noise, labels of the images); the labels are None for an unconditional preset."""
    eps = np.random.default_rng(0).standard_normal((NUM_NOISE, model.noise_dim)).astype(np.float32)
    x, y = scored_images(dataset_of(preset), f"test[:{NUM_IMAGES}]", data_dir)
    if model.num_classes is None:
        return eps, x, None, None
    return eps, x, np.arange(NUM_NOISE) % model.num_classes, y


def outputs(model, eps, x, noise_labels=None, labels=None):
    """`{name: array}` of what the preset computes on the fixed inputs."""
    head = None if labels is None else labels[:4]
    return {
        "samples": np.asarray(model.sample_from_noise(eps, labels=noise_labels)),
        "elbo": np.asarray(model.elbo(x, seed=0, labels=labels)),
        "log_likelihood": np.asarray(model.log_likelihood(x[:4], num_samples=8, seed=0, labels=head)),
        "reconstruct": np.asarray(model.reconstruct(x[:4], labels=head)),
        "embed": np.asarray(model.embed(x[:4], labels=head)),
    }


def record(data_dir, presets=None):
    """Records every built-in preset's outputs, or only `presets`' (the file's other
    entries are kept)."""
    import zoo
    from zoo import io_utils

    arrays = {}
    if presets and os.path.exists(PATH):
        with np.load(PATH) as previous:
            arrays = {key: previous[key] for key in previous.files
                      if key.split("/")[0] not in presets}
    for preset in presets or zoo.list_presets():
        model = zoo.from_preset(preset)
        for name, value in outputs(model, *inputs(model, preset, data_dir)).items():
            arrays[f"{preset}/{name}"] = value
    os.makedirs(os.path.dirname(PATH), exist_ok=True)
    with io_utils.atomic_path(PATH, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)
    return sorted(arrays)


if __name__ == "__main__":
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    data = os.environ.get("VAEZOO_DATA_DIR") or os.path.join(os.path.dirname(root), "shared", "data")
    print("\n".join(record(data, sys.argv[1:] or None)))
