"""Denoising: reconstructions of noisy test images, PSNR against the clean images.

The `vae_<dataset>` preset reconstructs (decoder mean at the posterior mean,
`model.reconstruct`) the first 1,000 grey-level test images after noise is added:
Gaussian (sigma 0.1, 0.3, 0.5, clipped to [0, 1]) and salt-and-pepper (10 % and 30 % of
the pixels set to 0 or 1). PSNR = 10 log10(1 / MSE) per image against the clean image,
averaged over images, for the noisy input itself, a 3x3 median filter (the simple
baseline: scipy.ndimage.median_filter) and the model. The model's PSNR on clean inputs
is the ceiling of its reconstructions (it was trained on binarized digits, so it
returns pixel probabilities, not grey levels).

Two model estimates: `model.reconstruct(noisy)` (the encoder's code, decoded) and
`model.denoise(noisy, ...)`, a MAP fit of the latent code under a noise model (200 Adam
steps from the encoder's code): Gaussian with the true sigma for Gaussian noise, and
Laplace with scale 0.3 for salt-and-pepper (picked on the first 200 test images against
Laplace 0.1 and a Gaussian with sigma 0.3).

    VAEZOO_DATA_DIR=../shared/data python benchmarks/quality/denoising.py [--dataset mnist] [--preset hvae_mnist]

Writes benchmarks/results/quality/denoising_<dataset>.json and .md (`denoising_<preset>` with --preset).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common
import numpy as np

import zoo

NUM_TEST = 1000
NOISES = [("gaussian", 0.1), ("gaussian", 0.3), ("gaussian", 0.5),
          ("salt_and_pepper", 0.1), ("salt_and_pepper", 0.3)]


def add_noise(x, kind, level, seed=0):
    rng = np.random.default_rng(seed)
    if kind == "gaussian":
        return np.clip(x + level * rng.standard_normal(x.shape), 0.0, 1.0).astype(np.float32)
    hit = rng.uniform(size=x.shape) < level
    return np.where(hit, rng.integers(0, 2, size=x.shape), x).astype(np.float32)


def psnr(estimate, clean):
    """Mean over images of 10 log10(1 / MSE), pixel range 1."""
    mse = np.mean(np.reshape((estimate - clean) ** 2, (len(clean), -1)), axis=1)
    return float(np.mean(10.0 * np.log10(1.0 / np.maximum(mse, 1e-10))))


def main(argv=None):
    from scipy import ndimage

    argv, dataset, preset, model, suffix = common.dataset_and_preset(__doc__, argv)
    clean, _ = zoo.data.load_numpy(dataset, f"test[:{NUM_TEST}]")

    def reconstruct(x):
        return np.asarray(model.reconstruct(x))

    ceiling = psnr(reconstruct(clean), clean)
    results, rows = {"reconstruction_of_clean_inputs": ceiling}, []
    for kind, level in NOISES:
        noisy = add_noise(clean, kind, level)
        median = ndimage.median_filter(noisy, size=(1, 3, 3, 1))
        noise, scale = ("gaussian", level) if kind == "gaussian" else ("laplace", 0.3)
        start = time.perf_counter()
        denoised = np.asarray(model.denoise(noisy, noise=noise, noise_scale=scale))
        seconds = time.perf_counter() - start
        figures = {"noisy input": psnr(noisy, clean), "3x3 median filter": psnr(median, clean),
                   preset: psnr(reconstruct(noisy), clean),
                   f"{preset} denoise": psnr(denoised, clean), "denoise_seconds": seconds,
                   "noise_model": f"{noise} {scale:g}"}
        name = f"{kind.replace('_', '-')} {level:g}"
        results[name] = figures
        rows.append([name] + [f"{figures[k]:.2f}" for k in ("noisy input", "3x3 median filter", preset)]
                    + [f"**{figures[f'{preset} denoise']:.2f}** ({figures['noise_model']})"])
        print(name, figures, flush=True)
    rows.append(["none (clean input)", "", "", f"{ceiling:.2f}", ""])
    common.write_results(
        f"denoising_{suffix}",
        {"dataset": dataset, "test_images": NUM_TEST, "model": preset, "psnr_db": results},
        rows, ["noise", "PSNR noisy (dB)", "PSNR median 3x3 (dB)", f"PSNR {preset} reconstruct (dB)",
               f"PSNR {preset} denoise (dB, noise model)"],
        command="python benchmarks/quality/denoising.py " + " ".join(argv), group="quality")
    return 0


if __name__ == "__main__":
    sys.exit(main())
