"""Sample from a model and write a PNG grid."""

NAME = "sample"
HELP = "write a PNG grid of samples"


def add_arguments(p):
    p.add_argument("model", nargs="?", default=None,
                   help="a .keras file, a preset directory or a built-in preset name")
    p.add_argument("--preset", default=None,
                   help="a built-in preset name, in place of MODEL (e.g. --preset cvae_mnist)")
    p.add_argument("--num-samples", "-n", type=int, default=None,
                   help="images (default: 64, or one per --labels value)")
    p.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    p.add_argument("--temperature", type=float, default=1.0, help="noise scale (default: 1)")
    p.add_argument("--output", "-o", default="samples.png", help="PNG path (default: samples.png)")
    p.add_argument("--labels", nargs="+", default=None,
                   help="a conditional model's classes, ids or names, separated by spaces or "
                        "commas. Without -n, one sample per value (--labels 3 3 7: two 3s and "
                        "a 7); with -n, the samples are split evenly between them, in order "
                        "(10 classes and -n 80: a row of 8 per class). Default: classes drawn "
                        "at the training frequencies")


def run(args):
    import zoo
    from zoo import plotting

    if (args.model is None) == (args.preset is None):
        raise ValueError("give the model either as MODEL or as --preset, not both or neither. "
                         f"Received: MODEL={args.model!r}, --preset={args.preset!r}")
    model = zoo.load_model(args.model if args.preset is None else args.preset)
    labels, num_cols, num_samples = None, None, args.num_samples or 64
    if args.labels is not None:
        chosen = [c.strip() for value in args.labels for c in value.split(",") if c.strip()]
        chosen = [int(c) if c.lstrip("-").isdigit() else c for c in chosen]
        if not chosen:
            raise ValueError(f"--labels must name at least one class. Received: {args.labels}")
        if args.num_samples is None:
            labels, num_cols = chosen, len(chosen)  # one sample per value, in one row
        elif args.num_samples % len(chosen):
            raise ValueError(f"--num-samples must split evenly between the {len(chosen)} "
                             f"--labels. Received: --num-samples {args.num_samples}, "
                             f"--labels {' '.join(args.labels)}")
        else:
            labels = [c for c in chosen for _ in range(args.num_samples // len(chosen))]
            num_cols = args.num_samples // len(chosen)  # one row per class
        num_samples = len(labels)
    images = model.sample(num_samples, seed=args.seed, temperature=args.temperature,
                          labels=labels)
    plotting.save_image_grid(images.numpy(), args.output, num_cols=num_cols)
    print(f"wrote {num_samples} samples to {args.output}")
    return 0
