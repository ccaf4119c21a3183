"""Recipe: the benchmark VAE on dynamically binarized MNIST, and its test NLL.

One stochastic layer (32 Gaussian latents, N(0, I) prior), convolutional encoder and
decoder with one residual block per stage (the decoder upsamples by resize + conv), Bernoulli likelihood, trained on the 60,000
training images by the plain ELBO (beta = 1), with a linear KL warm-up over the first 5
epochs and Adam with cosine learning-rate decay. No early stopping, no test-set use
during training. Evaluation follows the published protocol: the 10,000 test images
binarized once with a fixed seed, NLL by the importance-weighted bound with k samples.

    export VAEZOO_DATA_DIR=../shared/data
    python benchmarks/vae_mnist.py                      # train (resumable), k=1000 NLL, preset
    python benchmarks/vae_mnist.py --eval-only -k 5000  # the k=5000 estimate of the same model

Writes benchmarks/results/vae_mnist.json and .md, and the built-in preset
zoo/presets/vae_mnist.
"""

import argparse
import json
import os
import sys

import common
import keras

import zoo
from zoo import evaluation, io_utils, training

EPOCHS = 150
BATCH_SIZE = 128
STEPS_PER_EPOCH = 469  # ceil(60000 / 128)
PRESET = os.path.join(os.path.dirname(common.HERE), "zoo", "presets", "vae_mnist")
PUBLISHED = [
    ("VAE, 1 stochastic layer (Burda et al. 2016, k=5000)", 86.76),
    ("IWAE k=50, 1 stochastic layer (Burda et al. 2016, k=5000)", 84.78),
]


def build_model():
    return zoo.VAE(input_shape=(28, 28, 1), latent_dim=32, network="conv", hidden_dims=(32, 64),
                   num_res_blocks=1, upsampling="nearest", likelihood="bernoulli", kl_warmup_steps=5 * STEPS_PER_EPOCH,
                   seed=0)


def build_optimizer(epochs):
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=epochs * STEPS_PER_EPOCH,
                                                      alpha=0.01)
    return keras.optimizers.Adam(schedule)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--num-samples", "-k", type=int, default=1000)
    parser.add_argument("--eval-only", action="store_true", help="evaluate the trained model")
    parser.add_argument("--output-dir", default=os.path.join("runs", "vae_mnist"))
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    command = "python benchmarks/vae_mnist.py " + " ".join(argv if argv is not None else sys.argv[1:])

    model_path = os.path.join(args.output_dir, training.MODEL_FILE)
    if args.eval_only:
        model = keras.saving.load_model(model_path)
    else:
        train = zoo.data.load("mnist", "train", data_dir=args.data_dir, batch_size=BATCH_SIZE,
                              binarize="dynamic", seed=0)
        model = training.train(build_model(), train, epochs=args.epochs,
                               output_dir=args.output_dir, optimizer=build_optimizer(args.epochs),
                               verbose=2)
    test = zoo.data.load("mnist", "test", data_dir=args.data_dir, batch_size=500,
                         binarize="static", seed=0)
    print(f"evaluating on 10,000 test images with k={args.num_samples}", flush=True)
    figures = zoo.evaluate(model, test, num_samples=args.num_samples, seed=0, log_every=4)
    print(evaluation.summarize(figures), flush=True)

    results_path = os.path.join(common.RESULTS, "vae_mnist.json")
    previous = {}
    if os.path.exists(results_path):
        with open(results_path) as f:
            previous = json.load(f)
    with open(os.path.join(args.output_dir, training.SUMMARY_FILE)) as f:
        run = json.load(f)
    evaluations = dict(previous.get("evaluations", {}))
    evaluations[f"k{args.num_samples}"] = {**figures, "command": command}
    payload = {
        "model": "zoo.VAE conv 32-64 + 1 residual block per stage, resize-conv decoder, latent 32, Bernoulli",
        "config": model.get_config(),
        "parameters": model.count_params(),
        "recipe": {"epochs": run["epochs_completed"], "batch_size": BATCH_SIZE,
                   "optimizer": "Adam, cosine decay 1e-3 -> 1e-5",
                   "kl_warmup_epochs": 5, "binarization": "dynamic (train), static seed 0 (test)",
                   "train_command": "python benchmarks/vae_mnist.py"},
        "train_seconds": run["train_seconds"],
        "evaluations": evaluations,
        "published": dict(PUBLISHED),
    }
    rows = []
    for key in sorted(evaluations, key=lambda k: int(k[1:])):
        e = evaluations[key]
        rows.append([f"zoo.VAE (this repo), k={e['num_samples']}", f"**{e['nll']:.2f}** ± {e['nll_stderr']:.2f}",
                     f"{e['elbo']:.2f}", e["active_units"],
                     f"{run['train_seconds'] / 3600:.1f} h, {run['epochs_completed']} epochs"])
    rows += [[name, f"{nll:.2f}", "", "", ""] for name, nll in PUBLISHED]
    common.write_results("vae_mnist", payload, rows,
                         ["model (dynamic MNIST, 1 stochastic layer)", "test NLL (nats)",
                          "test ELBO", "active units", "training (2-core CPU)"], command)

    if not args.eval_only or not os.path.exists(PRESET):
        metadata = {
            "dataset": "mnist (dynamically binarized)",
            "recipe": "python benchmarks/vae_mnist.py",
            "epochs": run["epochs_completed"], "train_seconds": run["train_seconds"],
            "metrics": {f"test_nll_k{args.num_samples}": round(figures["nll"], 2),
                        "test_elbo": round(figures["elbo"], 2)},
        }
        model.save_to_preset(PRESET, metadata=metadata, overwrite=True)
        print(f"preset written to {PRESET}")
    else:
        meta_path = os.path.join(PRESET, "metadata.json")
        with open(meta_path) as f:
            meta = json.load(f)
        meta.setdefault("metrics", {})[f"test_nll_k{args.num_samples}"] = round(figures["nll"], 2)
        io_utils.write_json(meta_path, meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
