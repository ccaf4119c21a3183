"""Sample from a model and write a PNG grid."""

from zoo.cli import common

NAME = "sample"
HELP = "write a PNG grid of samples"


def add_arguments(p):
    common.add_model_arg(p)
    p.add_argument("--num-samples", "-n", type=int, default=64, help="images (default: 64)")
    p.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    p.add_argument("--temperature", type=float, default=1.0, help="noise scale (default: 1)")
    p.add_argument("--output", "-o", default="samples.png", help="PNG path (default: samples.png)")
    p.add_argument("--labels", default=None,
                   help="a conditional model's classes, comma-separated ids or names: the "
                        "samples are split evenly between them, in order (e.g. 10 classes "
                        "and -n 80: a row of 8 per class). Default: classes drawn at the "
                        "training frequencies")


def run(args):
    import zoo
    from zoo import plotting

    model = zoo.load_model(args.model)
    labels = None
    if args.labels is not None:
        chosen = [c.strip() for c in args.labels.split(",") if c.strip()]
        chosen = [int(c) if c.lstrip("-").isdigit() else c for c in chosen]
        if not chosen or args.num_samples % len(chosen):
            raise ValueError(f"--num-samples must split evenly between the {len(chosen)} "
                             f"--labels. Received: --num-samples {args.num_samples}, "
                             f"--labels {args.labels}")
        labels = [c for c in chosen for _ in range(args.num_samples // len(chosen))]
    images = model.sample(args.num_samples, seed=args.seed, temperature=args.temperature,
                          labels=labels)
    # One row per label when they are given.
    plotting.save_image_grid(images.numpy(), args.output,
                             num_cols=args.num_samples // len(chosen) if labels else None)
    print(f"wrote {args.num_samples} samples to {args.output}")
    return 0
