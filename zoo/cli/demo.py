"""Loads a built-in preset (offline), writes a PNG grid of samples, measures its test NLL on
1,000 images, exports its decoder to a SavedModel and an int8 TFLite file, samples the
TFLite file with EdgeSampler and prints a table of NLL, sizes and parity error.
"""

import os

import export
from zoo.cli import common

NAME = "demo"
HELP = "a built-in preset end to end: samples, export, edge sampling"


def add_arguments(p):
    p.add_argument("--preset", default="vae_mnist", help="preset name or directory (default: vae_mnist)")
    p.add_argument("--dataset", default="mnist", help="test data for the NLL (default: mnist)")
    p.add_argument("--binarize", default="static", choices=["none", "dynamic", "static"],
                   help="binarization of the test images (default: static)")
    p.add_argument("--output-dir", default="demo_output", help="(default: demo_output)")
    p.add_argument("--data-dir", default=None, help="folder with local dataset files")


def run(args):
    import numpy as np

    import zoo
    from export.edge import EdgeSampler
    from zoo import io_utils, plotting

    os.makedirs(args.output_dir, exist_ok=True)
    model = zoo.from_preset(args.preset)
    meta = zoo.presets.load_metadata(args.preset)
    print(f"1/4 loaded preset {args.preset}: {type(model).__name__}, "
          f"{model.count_params():,} parameters")
    grid = os.path.join(args.output_dir, "samples.png")
    plotting.save_image_grid(np.asarray(model.sample(64, seed=0)), grid, num_cols=8)
    test = zoo.data.load(args.dataset, "test[:1000]", data_dir=args.data_dir, batch_size=500,
                         binarize=common.binarize(args), shuffle=False)
    nll = zoo.evaluate(model, test, num_samples=100)["nll"]
    print(f"2/4 wrote 64 samples to {grid}; test NLL (k=100, 1,000 images) {nll:.2f} nats")
    version_dir = export.saved_model(model, os.path.join(args.output_dir, "saved_model"), version=1,
                                     overwrite=True)
    tflite = export.tflite(model, os.path.join(args.output_dir, "model_int8.tflite"),
                           quantization="int8")
    print(f"3/4 exported {version_dir} and {tflite}")
    edge = EdgeSampler(tflite, num_threads=1)
    eps = np.random.default_rng(0).standard_normal((256, model.noise_dim)).astype(np.float32)
    edge_samples = edge.sample_from_noise(eps)
    error = np.abs(edge_samples - np.asarray(model.sample_from_noise(eps)))
    edge_grid = os.path.join(args.output_dir, "samples_int8_tflite.png")
    plotting.save_image_grid(edge_samples[:64], edge_grid, num_cols=8)
    print(f"4/4 sampled the int8 file with EdgeSampler (no TensorFlow needed): {edge_grid}")
    size = io_utils.directory_size(version_dir)
    recorded = {k: v for k, v in meta.get("metrics", {}).items() if k.startswith("test_nll")}
    rows = [("test NLL now (k=100, 1,000 images)", f"{nll:.2f} nats")]
    rows += [(f"{k} (recorded in the preset)", f"{v} nats") for k, v in recorded.items()]
    rows += [("SavedModel size", f"{size / 1024:,.0f} KiB"),
             ("int8 TFLite size", f"{os.path.getsize(tflite) / 1024:,.0f} KiB"),
             ("int8 vs Keras, max abs error (256 noise vectors)", f"{error.max():.4f}"),
             ("int8 vs Keras, mean abs error", f"{error.mean():.5f}")]
    width = max(len(r[0]) for r in rows)
    print()
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    return 0
