"""Measure a model on this machine and print JSON: training throughput of Keras fit (images/s,
from the median step time of short chunks, so stalls do not decide it) and p50/p95 latency
of sample_from_noise at batch 1 and 64. The loaded model is trained for the measurement but
never saved. For the repository's benchmark tables (NLL, FD, export), see benchmarks/ in the
source tree.
"""

import json

from zoo.cli import common

NAME = "bench"
HELP = "measure training throughput and sampling latency"


def add_arguments(p):
    common.add_model_arg(p)
    common.add_data_args(p, "train", "as the model was trained")
    p.add_argument("--steps", type=int, default=100, help="training steps per round (default: 100)")
    p.add_argument("--rounds", type=int, default=3, help="timed rounds (default: 3)")
    p.add_argument("--repeats", type=int, default=100, help="timed sampling calls (default: 100)")
    p.add_argument("--seed", type=int, default=0, help="data seed (default: 0)")
    p.add_argument("--output", default=None, help="also write the JSON to this file")


def run(args):
    import keras

    import zoo
    from zoo import io_utils, validation
    from zoo.evaluation import speed

    for name in ("steps", "rounds", "repeats"):  # before anything slow
        validation.positive_int(name, getattr(args, name))
    model = zoo.load_model(args.model)
    train = zoo.data.load(args.dataset, args.split, data_dir=args.data_dir,
                          batch_size=args.batch_size, binarize=common.binarize(args) if args.binarize != "auto" else model.binarize, seed=args.seed,
                          drop_remainder=True, **common.image_options(args)).repeat()
    latency = speed.sampling_latency(model, repeats=args.repeats)
    model.compile(optimizer=keras.optimizers.Adam(1e-4))  # training changes only this copy
    throughput = speed.training_throughput(model, train, args.batch_size, steps=args.steps,
                                           rounds=args.rounds)
    figures = {"model": args.model, "class_name": type(model).__name__,
               "parameters": int(model.count_params()), "dataset": args.dataset,
               "training": throughput, "sampling_latency_keras": latency}
    text = json.dumps(figures, indent=2)
    print(text)
    if args.output:
        io_utils.write_text(args.output, text + "\n")
    return 0
