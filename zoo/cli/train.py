"""Train a model with Keras fit. Re-running the same command resumes an interrupted run from
its last completed epoch. Model options left out take the family's own defaults; an option
the chosen family does not take is refused.

The likelihood and binarization follow the data unless given: Bernoulli for binary data,
the discretized logistic for 8-bit images, Gaussian for other numbers, and for a table
(.csv, .parquet) the tabular likelihood over its columns' types. A choice that contradicts
the data (binarizing colour, Bernoulli on values outside [0, 1]) is refused or warned about.
"""

import os
import warnings

from zoo import families
from zoo.cli import common

NAME = "train"
HELP = "train a model"


def add_arguments(p):
    p.add_argument("--model", default="vae", choices=families.names(),
                   help="model family: " + "; ".join(
                       f"{f.name}: {f.summary.rstrip('.')}" for f in families.all_families())
                   + " (default: vae)")
    common.add_data_args(p, "train", "dynamic for a Bernoulli likelihood on grey-level "
                                     "images, none otherwise")
    p.add_argument("--epochs", type=int, default=10, help="epochs (default: 10)")
    group = p.add_argument_group("model options (the constructor arguments of each family)")
    for option, takers in model_options().items():
        group.add_argument(option.flag, dest=option.name, type=common.cli_type(option.type),
                           choices=option.choices, default=None,
                           help=f"{option.help} (default: {defaults_text(option, takers)})")
    p.add_argument("--conditional", action="store_true",
                   help="learn p(x | y) from the dataset's class labels (num_classes and class "
                        "names from the data); sample with `vaezoo sample --labels`")
    p.add_argument("--labeled", type=int, default=None, metavar="N",
                   help="semi-supervised (M2): keep N of the dataset's labels, drawn balanced over "
                        "the classes with --seed, the rest unlabelled; a tenth of each batch is "
                        "labelled. vae and flow_vae; implies --conditional")
    p.add_argument("--learning-rate", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--skip-limit", type=int, default=100,
                   help="stop, with the last good weights checkpointed, after this many updates "
                        "in a row were skipped for a NaN/inf loss or gradient (default: 100)")
    p.add_argument("--plot-every", type=int, default=1, metavar="N",
                   help="epochs between the TensorBoard plots (samples, reconstructions, latent "
                        "space; also after the last epoch); 0: none (default: 1)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the weights, the data order and the training noise (default: 0)")
    p.add_argument("--run-eagerly", action="store_true",
                   help="run the training step as plain Python, not a compiled graph (Keras' "
                        "run_eagerly): for debugging, several times slower")
    p.add_argument("--output-dir", required=True, help="run directory (checkpoints, logs, model)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def model_options():
    """`{Option: [families that take it]}` over every registered family, in first-seen order."""
    found = {}
    for family in families.all_families():
        for option in family.all_options:
            found.setdefault(option.name, (option, []))[1].append(family)
    return {option: takers for option, takers in found.values()}


def defaults_text(option, takers):
    """Each family's constructor default for `option`, e.g. "vae: 32; hvae: not taken"."""
    values = {}
    for family in takers:
        default = family.defaults()[option.name]
        text = "set by the model" if default is None else str(default)
        values.setdefault(text, []).append(family.name)
    if len(values) == 1 and len(takers) == len(families.all_families()):
        return next(iter(values))
    return "; ".join(f"{', '.join(names)}: {value}" for value, names in values.items())


def model_kwargs(args, family):
    """The constructor arguments given on the command line for `family`; refuses options
    of other families, which would otherwise be silently ignored."""
    taken = {option.name for option in family.all_options}
    kwargs = {}
    for option, takers in model_options().items():
        value = getattr(args, option.name)
        if value is None:
            continue
        if option.name not in taken:
            raise ValueError(
                f"{option.flag} is not an option of --model {family.name}; it applies to "
                f"{', '.join(f.name for f in takers)}. Received: {option.flag} {value}")
        kwargs[option.name] = value
    return kwargs


def run(args):
    import keras

    import zoo
    from zoo import training

    family = families.get(args.model)
    kwargs = model_kwargs(args, family)  # before any data is read: a stray flag fails at once
    if args.labeled is not None:
        if not getattr(family.model_class, "trains_semi_supervised", False):
            raise ValueError(f"--labeled trains a semi-supervised model: --model vae or flow_vae. "
                             f"Received: --model {args.model}")
        if args.labeled < 1:
            raise ValueError(f"--labeled must be a positive number of labels. Received: "
                             f"--labeled {args.labeled}")
        args.conditional = True
    # The model's `seed` covers its training noise; the initial weights come from Keras'
    # global seed, which tf.data's seeded ops also combine with, so it is set first.
    # Both from --seed: the same command trains the same weights.
    keras.utils.set_random_seed(args.seed)
    kwargs["likelihood"], binarize = data_settings(args, kwargs.get("likelihood"))
    if isinstance(kwargs["likelihood"], zoo.likelihoods.Tabular):
        schema = kwargs["likelihood"].schema
        train = zoo.data.load(args.dataset, args.split, batch_size=args.batch_size,
                              seed=args.seed, schema=schema)
        print(f"table: {len(schema.columns)} columns, " + ", ".join(
            f"{c['name']} ({c['type']})" for c in schema.columns))
    else:
        train = zoo.data.load(args.dataset, args.split, data_dir=args.data_dir,
                              batch_size=args.batch_size, binarize=binarize, seed=args.seed,
                              with_labels=args.conditional, **common.image_options(args))
    if args.conditional:
        if isinstance(kwargs["likelihood"], zoo.likelihoods.Tabular):
            raise ValueError("--conditional needs a labelled image dataset. Received: a table")
        kwargs.update(conditional_settings(args.dataset, train, args.data_dir))
    spec = train.element_spec[0] if args.conditional else train.element_spec
    if args.labeled is not None:
        train = semi_supervised_batches(args, kwargs, binarize)
    model = family.model_class(input_shape=tuple(spec.shape[1:]), seed=args.seed,
                               binarize=binarize, **kwargs)
    examples = labels = None
    if args.plot_every and not isinstance(kwargs["likelihood"], zoo.likelihoods.Tabular):
        try:  # held-out examples for the TensorBoard plots, when the dataset has a test split
            examples, labels = zoo.data.load_numpy(args.dataset, "test[:500]", data_dir=args.data_dir,
                                                   binarize=binarize and "static", seed=args.seed,
                                                   **common.image_options(args))
        except ValueError:
            pass
    model = training.train(model, train, epochs=args.epochs, output_dir=args.output_dir,
                           optimizer=keras.optimizers.Adam(args.learning_rate),
                           verbose=0 if args.quiet else "auto", plot_examples=examples,
                           plot_labels=labels, plot_every=args.plot_every,
                           skip_limit=args.skip_limit, run_eagerly=args.run_eagerly)
    print(f"model saved to {os.path.join(args.output_dir, training.MODEL_FILE)}")
    return 0


def semi_supervised_batches(args, kwargs, binarize):
    """`--labeled N`: the training images with all but N labels hidden (a balanced draw),
    in batches a tenth labelled; sets the model's `semi_supervised` and the paper's alpha."""
    import zoo
    from zoo.vae import semi_supervised

    x, y = zoo.data.load_numpy(args.dataset, args.split, data_dir=args.data_dir,
                               **common.image_options(args))
    if args.labeled >= len(y):
        raise ValueError(f"--labeled must leave some of the {len(y)} images unlabelled. "
                         f"Received: --labeled {args.labeled}")
    hidden = semi_supervised.hide_labels(y, args.labeled, seed=args.seed,
                                         num_classes=kwargs["num_classes"])
    kwargs.update(semi_supervised=True,
                  alpha=semi_supervised.paper_alpha(len(y), args.labeled))
    print(f"semi-supervised: {args.labeled} labelled, {len(y) - args.labeled} unlabelled images")
    return semi_supervised.mixed_batches(x, hidden, batch_size=args.batch_size,
                                         labelled_per_batch=max(1, args.batch_size // 10),
                                         binarize=binarize, seed=args.seed)


def conditional_settings(dataset, train, data_dir=None):
    """`num_classes` (and `class_names` when the dataset has them) for a conditional model
    of `dataset`; without known names, the classes are the labels seen in `train`."""
    import zoo

    names = zoo.data.class_names(dataset, data_dir)
    if names:
        return {"num_classes": len(names), "class_names": list(names)}
    largest = train.reduce(-1, lambda m, batch: max_label(m, batch[1]))
    if int(largest) < 1:
        raise ValueError(f"--conditional needs at least 2 classes in the labels of {dataset}. "
                         f"Received: labels up to {int(largest)}")
    return {"num_classes": int(largest) + 1}


def max_label(current, labels):
    import tensorflow as tf

    return tf.maximum(current, tf.cast(tf.reduce_max(labels), tf.int32))


def data_settings(args, likelihood):
    """(likelihood, binarize) for `--dataset`: the user's choice, else what fits the data
    (`zoo.data.DEFAULT_LIKELIHOODS`); a `ValueError` or a warning where they disagree."""
    import zoo

    info = zoo.data.inspect(args.dataset, args.split, data_dir=args.data_dir,
                            **common.image_options(args, resize=False))
    kind, channels = info["kind"], info["channels"]
    if kind == "table":
        if likelihood is not None or args.binarize not in ("auto", "none"):
            raise ValueError(
                "A table's likelihood is zoo.likelihoods.Tabular, built from its columns' types, "
                f"and tables are not binarized. Received: --likelihood {likelihood} "
                f"--binarize {args.binarize} with --dataset {args.dataset}")
        return zoo.likelihoods.Tabular.from_table(zoo.data.table_split(args.dataset, args.split)), None
    colour = channels is not None and channels > 1
    if likelihood is None and kind == "8bit" and colour:
        # Colour pixels are correlated across channels: the mixture with channel
        # coefficients models that, one logistic per channel cannot.
        likelihood = "discretized_logistic_mixture"
    likelihood = likelihood or zoo.data.DEFAULT_LIKELIHOODS[kind]
    binarize = args.binarize
    if binarize == "auto":
        binarize = "dynamic" if likelihood == "bernoulli" and kind in ("8bit", "unit_interval") \
            and not colour else "none"
    if likelihood == "bernoulli" and kind == "real":
        raise ValueError(f"A Bernoulli likelihood needs values in [0, 1]; {args.dataset} holds "
                         "other numbers. Use --likelihood gaussian. Received: --likelihood bernoulli")
    if binarize != "none" and kind == "real":
        raise ValueError(f"--binarize needs values in [0, 1]; {args.dataset} holds other numbers. "
                         f"Received: --binarize {binarize}")
    if binarize != "none" and colour:
        warnings.warn(f"--binarize {binarize} turns each colour channel into random bits, "
                      "which destroys colour images; --binarize none with --likelihood "
                      "discretized_logistic models 8-bit colour", UserWarning, stacklevel=2)
    elif binarize != "none" and likelihood != "bernoulli":
        warnings.warn(f"--binarize {binarize} makes binary data, which a {likelihood} "
                      "likelihood does not expect; --likelihood bernoulli models it",
                      UserWarning, stacklevel=2)
    elif likelihood == "bernoulli" and kind in ("8bit", "unit_interval") and binarize == "none":
        warnings.warn("A Bernoulli likelihood on grey levels is a relaxation, not a normalized "
                      "likelihood: its NLL is not comparable with published figures. "
                      "--likelihood discretized_logistic models 8-bit images",
                      UserWarning, stacklevel=2)
    if likelihood == "discretized_logistic" and kind in ("unit_interval", "real"):
        warnings.warn(f"The discretized logistic models 8-bit levels, but {args.dataset} holds "
                      "other values, which it rounds to 256 levels; --likelihood gaussian "
                      "models them as they are", UserWarning, stacklevel=2)
    return likelihood, (None if binarize in ("none", None) or kind == "binary" else binarize)
