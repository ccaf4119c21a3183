"""Which op groups of a colour sampler move its samples' distribution when quantized.

The int8 plan search (`export.quantize`) minimises the mean absolute error against Keras;
the int8 budget also bounds the Fréchet distance (FD) of the samples
(`benchmarks/quality/int8_presets.py`). On `vae_cifar10` the two disagree: a plan within
the mean error failed the FD ratio. This script exports the preset's sampler under a
fixed list of plans (one op group or network at a time in or out of int8) and measures,
for each, on the same noise:

  - mean absolute and mean signed error against Keras, in pixel units;
  - FD(int8 on noise A, Keras on noise A): what quantization alone moves, in the features
    of the zoo's CIFAR-10 classifier; and the ratio FD(int8 on A, Keras on B) /
    FD(Keras on A, Keras on B), the budget's measure (one draw, `--num-samples` each);
  - size against the float32 file.

    export VAEZOO_DATA_DIR=../shared/data
    python benchmarks/experiments/int8_groups.py [--num-samples 5000]
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common
import numpy as np

import export
import zoo
from export import quantize
from export.edge import EdgeSampler
from zoo.evaluation import frechet

PRESET = "vae_cifar10"
SEEDS = (1000, 1001)  # noise A, noise B


def plans(groups):
    """{label: plan} over the preset's op groups (`export.quantize.op_groups`)."""
    decoder = next(g.split("/")[0] for g in groups if g.startswith("decoder"))
    flow = next(quantize.scope_of(g) for g in groups if g.startswith("chain_of"))
    d = f"^{decoder}/"

    def layers(*names):
        return [(d + name + "_1/", "float") for name in names]

    everything = [(".*", "dynamic")]
    return {
        "float32 (no plan: the reference)": None,
        "every weight layer dynamic": everything,
        "dynamic; decoder head float": everything + layers("head"),
        "dynamic; decoder upsampling convolutions and head float":
            everything + layers("up_0", "up_1", "up_2", "head"),
        "dynamic; decoder upsampling and residual convolutions and head float":
            everything + layers("up_0", "up_1", "up_2", "res_0_0", "res_1_0", "res_2_0", "head"),
        "flow dynamic, decoder float": [(".*", "float"), (flow, "dynamic")],
        "dynamic; decoder float16": everything + [(d, "float16")],
        "dynamic; decoder float16 except its first dense layer":
            everything + [(d, "float16"), (d + "seed_1/", "dynamic")],
        "dynamic; decoder float16 except its head":
            everything + [(d, "float16"), (d + "head_1/", "dynamic")],
    }


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-samples", type=int, default=5000)
    args = parser.parse_args(argv)
    n = args.num_samples

    model = zoo.from_preset(PRESET)
    classifier = frechet.load_classifier("cifar10_jpeg")
    noise_a, noise_b = (np.random.default_rng(s).standard_normal((n, model.noise_dim))
                        .astype(np.float32) for s in SEEDS)

    def samples(sample, noise):
        return np.concatenate([np.asarray(sample(noise[i:i + 500]), np.float32)
                               for i in range(0, n, 500)])

    keras_a = samples(model.sample_from_noise, noise_a)
    features_a = frechet.classifier_features(classifier, keras_a)
    features_b = frechet.classifier_features(classifier, samples(model.sample_from_noise, noise_b))
    floor = frechet.frechet_distance(features_a, features_b)
    figures, rows = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        float_path = export.tflite(model, os.path.join(tmp, "float32.tflite"), quantization="float32")
        groups = quantize.op_groups(open(float_path, "rb").read())
        for i, (label, plan) in enumerate(plans(groups).items()):
            path = float_path if plan is None else export.tflite(
                model, os.path.join(tmp, f"{i}.tflite"), quantization="int8", plan=plan,
                verify=False)
            got = samples(EdgeSampler(path).sample_from_noise, noise_a)
            features = frechet.classifier_features(classifier, got)
            diff = got - keras_a
            entry = {"plan": plan, "mean_abs_error": float(np.abs(diff).mean()),
                     "mean_signed_error": float(diff.mean()),
                     "fd_same_noise": frechet.frechet_distance(features, features_a),
                     "fd_ratio": frechet.frechet_distance(features, features_b) / floor,
                     "size_ratio": os.path.getsize(path) / os.path.getsize(float_path)}
            figures[label] = entry
            print(label, entry, flush=True)
            rows.append([label, f"{entry['mean_abs_error']:.4f}", f"{entry['mean_signed_error']:+.4f}",
                         f"{max(entry['fd_same_noise'], 0.0):.4f}", f"{entry['fd_ratio']:.3f}",
                         f"{entry['size_ratio']:.2f}×"])
    common.write_results(
        "int8_groups", {"preset": PRESET, "num_samples": n, "noise_seeds": list(SEEDS),
                        "fd_keras_vs_keras": floor, "figures": figures},
        rows, ["plan", "mean abs err", "mean signed err", "FD int8 vs Keras, same noise",
               "FD ratio (one draw)", "size / float32"],
        command=" ".join(["python benchmarks/experiments/int8_groups.py", *argv]),
        group="experiments")
    return 0


if __name__ == "__main__":
    sys.exit(main())
