"""Imputation: half of each test image hidden, filled in by the VAE and by two baselines.

Protocol: the first 1,000 test images (binarized once, static seed 0, as in the NLL
benchmarks) with half of their pixels hidden, two ways:
  - "random pixels": each pixel hidden independently with probability 1/2 (seed 0);
  - "bottom half": rows 14-27 hidden.
Imputers, each seeing only the observed pixels of a test image:
  - mean: the training set's mean of each pixel (scikit-learn's SimpleImputer);
  - KNN: scikit-learn's KNNImputer, the 5 (its default) or 10 nearest training images by
    the nan-Euclidean distance on the observed pixels, uniform weights (the reference set
    is the first 10,000 training images, binarized like the test images);
  - the `vae_<dataset>` preset's (or --preset's) `model.impute`, pseudo-Gibbs and
    Metropolis-within-Gibbs, 8 chains (--num-chains) of 100 steps, returning
    E[x_mis | x_obs] (the mean of the decoder means over the chains' second halves), and
    "importance": the same pseudo-Gibbs chains, then a self-normalised
    importance-sampling estimate of E[x_mis | x_obs] with 16 proposals per chain from
    the mixture of the chains' posteriors (the default num_samples). --methods picks
    some of the three.
Errors are over the hidden pixels only: mean squared error (the Brier score for binary
pixels; the criterion the expected value minimises) and mean absolute error.

    VAEZOO_DATA_DIR=../shared/data python benchmarks/quality/imputation.py [--dataset mnist] [--preset hvae_mnist]
        [--methods importance] [--num-chains 32]

Writes benchmarks/results/quality/imputation_<dataset>.json and .md (`imputation_<preset>` with --preset).
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common
import numpy as np

import zoo
from zoo.applications import imputation

NUM_TEST, NUM_REFERENCE, NUM_ITERATIONS = 1000, 10000, 100


def masks(shape, seed=0):
    """1 = observed, 0 = hidden, for each protocol."""
    rng = np.random.default_rng(seed)
    random = (rng.uniform(size=shape) >= 0.5).astype(np.float32)
    bottom = np.ones(shape, np.float32)
    bottom[:, shape[1] // 2:] = 0.0
    return {"random pixels": random, "bottom half": bottom}


def baselines(train, test, mask):
    from sklearn.impute import KNNImputer, SimpleImputer

    flat_train = train.reshape(len(train), -1)
    hidden_flat = np.where(mask == 1, test, np.nan).reshape(len(test), -1)
    out = {}
    for name, imputer in [("mean (per-pixel training mean)", SimpleImputer(strategy="mean")),
                          ("KNN (k=5, scikit-learn KNNImputer)", KNNImputer(n_neighbors=5)),
                          ("KNN (k=10, scikit-learn KNNImputer)", KNNImputer(n_neighbors=10))]:
        start = time.perf_counter()
        imputer.fit(flat_train)
        filled = imputer.transform(hidden_flat).reshape(test.shape)
        out[name] = (np.where(mask == 1, test, filled), time.perf_counter() - start)
    return out


def errors(filled, test, mask):
    hidden = mask == 0
    diff = (filled - test)[hidden]
    return {"mse": float(np.mean(diff ** 2)), "mae": float(np.mean(np.abs(diff))),
            "hidden_pixels": int(hidden.sum())}


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--methods", nargs="+", default=list(imputation.METHODS),
                        choices=imputation.METHODS, help="model.impute methods (default: all)")
    parser.add_argument("--num-chains", type=int, default=8, help="chains per image (default: 8)")
    argv, dataset, preset, model, suffix = common.dataset_and_preset(__doc__, argv, parser)
    methods, chains = parser.parsed.methods, parser.parsed.num_chains
    test, _ = zoo.data.load_numpy(dataset, f"test[:{NUM_TEST}]", binarize="static")
    train, _ = zoo.data.load_numpy(dataset, f"train[:{NUM_REFERENCE}]", binarize="static")

    results, rows = {}, []
    for protocol, mask in masks(test.shape).items():
        filled = baselines(train, test, mask)
        for method in methods:
            start = time.perf_counter()
            proposals = imputation.PROPOSALS_PER_CHAIN * chains  # impute's default num_samples
            out = np.asarray(model.impute(test, mask, num_iterations=NUM_ITERATIONS, method=method,
                                          num_chains=chains, seed=0))
            extra = f" + {proposals} proposals" if method == "importance" else ""
            filled[f"{preset} ({method.replace('_', '-')}, {chains}x{NUM_ITERATIONS} steps{extra})"] = (
                out, time.perf_counter() - start)
        results[protocol] = {}
        for name, (out, seconds) in filled.items():
            if not np.array_equal(out[mask == 1], test[mask == 1]):
                raise AssertionError(f"{name} changed observed pixels")
            figures = {**errors(out, test, mask), "seconds": seconds}
            results[protocol][name] = figures
            rows.append([protocol, name, f"{figures['mse']:.4f}", f"{figures['mae']:.4f}",
                         f"{seconds:.1f}"])
            print(protocol, name, figures, flush=True)
        best_baseline = min(v["mse"] for k, v in results[protocol].items() if not k.startswith(preset))
        best_model = min(v["mse"] for k, v in results[protocol].items() if k.startswith(preset))
        results[protocol]["model_mse_over_best_baseline"] = best_model / best_baseline
        rows.append([protocol, f"**{preset} / best baseline (MSE)**", f"**{best_model / best_baseline:.3f}**",
                     "", ""])
    common.write_results(
        f"imputation_{suffix}",
        {"dataset": dataset, "test_images": NUM_TEST, "knn_reference_images": NUM_REFERENCE,
         "binarization": "static, seed 0", "num_iterations": NUM_ITERATIONS, "num_chains": chains, "results": results},
        rows, ["hidden", "imputer", "MSE on hidden pixels", "MAE on hidden pixels", "seconds"],
        command="python benchmarks/quality/imputation.py " + " ".join(argv), group="quality")
    return 0


if __name__ == "__main__":
    sys.exit(main())
