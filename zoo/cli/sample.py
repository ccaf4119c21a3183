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


def run(args):
    import zoo
    from zoo import plotting

    model = zoo.load_model(args.model)
    images = model.sample(args.num_samples, seed=args.seed, temperature=args.temperature)
    plotting.save_image_grid(images.numpy(), args.output)
    print(f"wrote {args.num_samples} samples to {args.output}")
    return 0
