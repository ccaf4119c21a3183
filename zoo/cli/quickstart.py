"""The first thing to run: trains a small VAE on dynamically binarized MNIST for a couple of
epochs, prints its test ELBO and NLL, and writes a PNG grid of samples.
"""

import os

NAME = "quickstart"
HELP = "train a small VAE on MNIST, evaluate it, sample it"


def add_arguments(p):
    p.add_argument("--output-dir", default="quickstart_output", help="(default: quickstart_output)")
    p.add_argument("--epochs", type=int, default=2, help="(default: 2)")
    p.add_argument("--num-samples", "-k", type=int, default=100,
                   help="importance samples for the test NLL (default: 100)")
    p.add_argument("--data-dir", default=None, help="folder with local MNIST files")
    p.add_argument("--train-examples", type=int, default=None,
                   help="train on the first N training images only (default: all 60,000)")
    p.add_argument("--test-examples", type=int, default=None,
                   help="evaluate on the first N test images only (default: all 10,000)")


def run(args):
    import keras

    import zoo
    from zoo import evaluation, plotting, training

    if args.train_examples is not None and args.train_examples < 1:
        raise ValueError(f"--train-examples must be positive. Received: {args.train_examples}")
    images = f"the first {args.train_examples:,}" if args.train_examples else "all 60,000"
    print(f"1/3 training a VAE (MLP 784-512-256-32, Bernoulli) on {images} MNIST training "
          f"images for {args.epochs} epochs")
    keras.utils.set_random_seed(0)  # before tf.data and the weights: a repeatable run
    split = f"train[:{args.train_examples}]" if args.train_examples else "train"
    train = zoo.data.load("mnist", split, data_dir=args.data_dir, binarize="dynamic")
    test = zoo.data.load("mnist", "test", data_dir=args.data_dir, binarize="static",
                         batch_size=500)
    model = zoo.VAE(input_shape=(28, 28, 1), latent_dim=32, hidden_dims=(512, 256), seed=0)
    model = training.train(model, train, epochs=args.epochs, output_dir=args.output_dir,
                           optimizer=keras.optimizers.Adam(1e-3), verbose=2)
    count = f"first {args.test_examples:,}" if args.test_examples else "10,000"
    print(f"2/3 evaluating on the {count} MNIST test images (NLL with k={args.num_samples})")
    figures = zoo.evaluate(model, test, num_samples=args.num_samples,
                           max_examples=args.test_examples)
    print("    " + evaluation.summarize(figures))
    grid = os.path.join(args.output_dir, "samples.png")
    plotting.save_image_grid(model.sample(64, seed=0).numpy(), grid, num_cols=8)
    print(f"3/3 wrote 64 samples to {grid}; the model is {os.path.join(args.output_dir, 'model.keras')}")
    return 0
