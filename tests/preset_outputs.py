"""Reference outputs of every built-in preset, to prove a refactor changes no number.

`tests/data/preset_outputs.npz` holds, for each preset, what it computed on fixed inputs
when the file was recorded:
  - `<preset>/samples`: `sample_from_noise(eps)`, eps = 4 standard-normal rows (seed 0);
  - `<preset>/elbo`: `elbo(x, seed=0)` on the first 16 test images of the preset's
    dataset, statically binarized with seed 0;
  - `<preset>/log_likelihood`: `log_likelihood(x[:4], num_samples=8, seed=0)`;
  - `<preset>/reconstruct`, `<preset>/embed`: of `x[:4]`.
`test_presets.py` recomputes them and requires equality within 1e-5.

Re-record (only from a commit whose numbers are known to be right, e.g. before a
restructuring, and only when a preset's weights change on purpose):

    python -m tests.preset_outputs
"""

import os

import numpy as np

PATH = os.path.join(os.path.dirname(__file__), "data", "preset_outputs.npz")
NUM_NOISE, NUM_IMAGES = 4, 16


def dataset_of(preset):
    """The dataset a built-in preset was trained on, from its name."""
    return "fashion_mnist" if preset.endswith("fashion_mnist") else "mnist"


def inputs(model, preset, data_dir):
    """The fixed noise and images a preset's outputs are recorded on."""
    import zoo

    eps = np.random.default_rng(0).standard_normal((NUM_NOISE, model.noise_dim)).astype(np.float32)
    x, _ = zoo.data.load_numpy(dataset_of(preset), f"test[:{NUM_IMAGES}]", data_dir=data_dir,
                               binarize="static", seed=0)
    return eps, x


def outputs(model, eps, x):
    """`{name: array}` of what the preset computes on the fixed inputs."""
    return {
        "samples": np.asarray(model.sample_from_noise(eps)),
        "elbo": np.asarray(model.elbo(x, seed=0)),
        "log_likelihood": np.asarray(model.log_likelihood(x[:4], num_samples=8, seed=0)),
        "reconstruct": np.asarray(model.reconstruct(x[:4])),
        "embed": np.asarray(model.embed(x[:4])),
    }


def record(data_dir):
    import zoo
    from zoo import io_utils

    arrays = {}
    for preset in zoo.list_presets():
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
    print("\n".join(record(data)))
