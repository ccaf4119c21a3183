"""Training and evaluation throughput per preset on whatever devices TensorFlow sees.

The same command on a laptop, a GPU server or a TPU-less cloud VM: it lists the devices,
then for each preset and each strategy that the devices allow
  - "one_device": the first GPU, else the CPU;
  - "mirrored": `tf.distribute.MirroredStrategy` over all GPUs (or, with
    --logical-cpus N, over N logical CPU devices, to exercise the path without a GPU);
and each precision (float32, and with --precisions the Keras mixed policies), it measures
  - training images/s through Keras' own `fit` (global batch = --batch-size x replicas,
    synthetic binarized images, after a warm-up epoch that traces the step);
  - evaluation decoder rows/s of the importance-weighted estimator (k = --num-samples)
    on one device.
Output format (results/speed/devices.json, fixed): {"devices": {...}, "rows": [{"preset",
"strategy", "replicas", "precision", "train_images_per_second",
"eval_rows_per_second"}, ...]} plus the usual command and environment.

    python benchmarks/speed/devices.py                                    # all MNIST presets
    python benchmarks/speed/devices.py --presets vae_mnist --logical-cpus 2 --steps 5
    python benchmarks/speed/devices.py --precisions float32 mixed_bfloat16 mixed_float16   # on a GPU

Writes benchmarks/results/speed/devices.json and .md (--output-name to keep several
machines' files side by side).
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

PRESETS = ("vae_mnist", "flow_vae_mnist", "hvae_mnist", "vaegan_mnist")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def split_cpu(count):
    """Splits the first CPU into `count` logical devices; before TensorFlow starts them."""
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(count)])


def device_report():
    import tensorflow as tf

    logical = tf.config.list_logical_devices()
    return {"gpus": [d.name for d in logical if d.device_type == "GPU"],
            "cpus": [d.name for d in logical if d.device_type == "CPU"],
            "tensorflow": tf.__version__}


def strategies():
    """(name, strategy) for every strategy these devices allow."""
    import tensorflow as tf

    devices = device_report()
    first = devices["gpus"][0] if devices["gpus"] else devices["cpus"][0]
    found = [("one_device", tf.distribute.OneDeviceStrategy(first))]
    group = devices["gpus"] if devices["gpus"] else devices["cpus"]
    if len(group) > 1:
        found.append(("mirrored", tf.distribute.MirroredStrategy(group)))
    return found


def synthetic_images(shape, count, seed=0):
    """Binary images, as the MNIST presets train on; speed does not depend on content."""
    import numpy as np

    return (np.random.default_rng(seed).random((count, *shape)) < 0.2).astype("float32")


def train_rate(preset, strategy, precision, batch_size, steps):
    """Training images/s of `preset`'s architecture under `strategy` through `fit`."""
    import keras
    import tensorflow as tf

    import zoo

    with strategy.scope():  # the preset's architecture and weights, in `precision`
        model = zoo.from_preset(preset, dtype=precision)
        model.compile(optimizer=keras.optimizers.Adam(1e-4))
    global_batch = batch_size * strategy.num_replicas_in_sync
    x = synthetic_images(model.data_shape, global_batch * steps)
    data = tf.data.Dataset.from_tensor_slices(x).batch(global_batch, drop_remainder=True)
    model.fit(data.take(2), epochs=1, verbose=0)  # traces the step
    start = time.perf_counter()
    model.fit(data, epochs=1, verbose=0)
    return global_batch * steps / (time.perf_counter() - start), model


def eval_rate(model, num_examples, num_samples, precision):
    """Estimator decoder rows/s on one device, networks in `precision`'s compute dtype."""
    from zoo.evaluation import ImportanceWeightedEstimator

    x = synthetic_images(model.data_shape, num_examples, seed=1)
    compute = "bfloat16" if precision == "mixed_bfloat16" else "float32"
    estimator = ImportanceWeightedEstimator(model, precision=compute)
    estimator(model.check_input("x", x), num_samples, 0)  # traces
    start = time.perf_counter()
    estimator(model.check_input("x", x), num_samples, 0).numpy()
    return num_examples * num_samples / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--precisions", nargs="+", default=["float32"], choices=PRECISIONS)
    parser.add_argument("--batch-size", type=int, default=128, help="per replica (default: 128)")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps (default: 20)")
    parser.add_argument("--num-examples", type=int, default=8)
    parser.add_argument("--num-samples", "-k", type=int, default=1000)
    parser.add_argument("--logical-cpus", type=int, default=0,
                        help="split the CPU into this many logical devices (no GPU needed)")
    parser.add_argument("--output-name", default="devices")
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    if args.logical_cpus > 1:
        split_cpu(args.logical_cpus)

    import common  # imports TensorFlow: after the device split
    import keras

    rows, table = [], []
    # One object per strategy for the whole run: a second MirroredStrategy over the same
    # devices restarts the collective-op keys and collides with the first one's ops.
    found = strategies()
    for preset in args.presets:
        for name, strategy in found:
            for precision in args.precisions:
                images, model = train_rate(preset, strategy, precision, args.batch_size, args.steps)
                # Evaluation is a one-device job: measured once per preset and precision.
                evaluation = (eval_rate(model, args.num_examples, args.num_samples, precision)
                              if name == "one_device" else None)
                keras.config.set_dtype_policy("float32")
                rows.append({"preset": preset, "strategy": name,
                             "replicas": strategy.num_replicas_in_sync, "precision": precision,
                             "train_images_per_second": images,
                             "eval_rows_per_second": evaluation})
                table.append([preset, name, strategy.num_replicas_in_sync, precision,
                              f"{images:.0f}", "" if evaluation is None else f"{evaluation:.0f}"])
    payload = {"devices": device_report(), "rows": rows,
               "protocol": {"batch_size_per_replica": args.batch_size, "steps": args.steps,
                            "eval_examples": args.num_examples, "eval_samples": args.num_samples}}
    common.write_results(args.output_name, payload, table,
                         ["preset", "strategy", "replicas", "precision", "train images/s",
                          "eval rows/s (one device)"],
                         "python benchmarks/speed/devices.py " + " ".join(argv), group="speed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
