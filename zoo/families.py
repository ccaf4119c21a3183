"""The registry of model families: each family registers itself once, here.

A `Family` names a model class, what it is, the constructor arguments the command line
exposes, and small configurations for smoke runs. The CLI (`vaezoo train --model NAME`
and its options), the test harness (every registered family goes through it) and the
docs read this registry; nothing else keeps a list of families.

    from zoo import families
    families.get("vae").model_class        # zoo.VAE
    [f.name for f in families.all_families()]

A family's package registers it on import (`zoo/<family>/__init__.py`), and
`zoo/__init__.py` imports every built-in family package, one line each.
"""

import dataclasses
import inspect
from collections.abc import Callable, Mapping


def dims(text):
    """Comma-separated integers, e.g. "512,256" -> (512, 256): the CLI type of size lists.

    Args:
      text: str (or anything whose `str` is the list).

    Returns:
      tuple of int, at least one.

    Raises:
      ValueError: an entry is not an integer, or there is none.
    """
    try:
        values = tuple(int(v) for v in str(text).split(",") if v.strip())
    except ValueError:
        raise ValueError(f"expected comma-separated integers, got {text!r}") from None
    if not values:
        raise ValueError(f"expected comma-separated integers, got {text!r}")
    return values


@dataclasses.dataclass(frozen=True)
class Option:
    """A constructor argument the command line exposes as `--<name with dashes>`.

    Attributes:
      name: str. The constructor argument, e.g. "latent_dim" (flag `--latent-dim`).
      type: callable. Parses the command-line text (int, float, str, `dims`).
      help: str. What it sets, without the default (the CLI adds each family's).
      choices: optional tuple of allowed values.
    """

    name: str
    type: Callable = str
    help: str = ""
    choices: tuple | None = None

    @property
    def flag(self):
        """str. The command-line flag, `--<name with dashes>`."""
        return "--" + self.name.replace("_", "-")


# Constructor arguments several families share; a family lists the ones it takes.
LATENT_DIM = Option("latent_dim", int, "latent size")
NETWORK = Option("network", str, "encoder/decoder network", ("mlp", "conv"))
HIDDEN_DIMS = Option("hidden_dims", dims,
                     "widths (mlp) or channels per stride-2 stage (conv), e.g. 512,256")
ACTIVATION = Option("activation", str, "hidden activation")
NUM_RES_BLOCKS = Option("num_res_blocks", int, "residual blocks per stage")
UPSAMPLING = Option("upsampling", str, "conv decoder upsampling (nearest: resize + conv)",
                    ("nearest", "transpose"))
#: Every family is a `zoo.LatentVariableModel`: these come with all of them.
MODEL_OPTIONS = (
    Option("likelihood", str, "likelihood of the data",
           ("bernoulli", "gaussian", "discretized_logistic")),
    Option("beta", float, "KL weight (beta-VAE)"),
    Option("kl_warmup_steps", int, "steps of linear KL warm-up"),
    Option("free_bits", float, "free bits per latent unit (nats)"),
    Option("gradient_clip_norm", float, "clip each step's gradients to this global norm"),
)
#: The options of a VAE-like model (`zoo.VAE` and its subclasses).
VAE_OPTIONS = (LATENT_DIM, NETWORK, HIDDEN_DIMS, ACTIVATION, NUM_RES_BLOCKS, UPSAMPLING)


@dataclasses.dataclass(frozen=True)
class Family:
    """One model family of the zoo.

    Attributes:
      name: str. Short name: `vaezoo train --model NAME`, the docs page, test ids.
      model_class: the `zoo.LatentVariableModel` subclass.
      summary: str. One line: what the family is.
      options: tuple of `Option`. Constructor arguments the CLI exposes, beyond
        `MODEL_OPTIONS`, which every family takes.
      small_configs: `{variant: constructor kwargs}` of small, fast instances for
        28x28x1 images in [0, 1] (without `input_shape`): smoke runs and the test
        harness, which runs every family's first one. At least one.
      references: tuple of str. The papers the family implements.
    """

    name: str
    model_class: type
    summary: str
    options: tuple = ()
    small_configs: Mapping = dataclasses.field(default_factory=dict)
    references: tuple = ()

    @property
    def all_options(self):
        """tuple of `Option`: `MODEL_OPTIONS` and the family's own, without repeats."""
        seen = {}
        for option in (*MODEL_OPTIONS, *self.options):
            seen.setdefault(option.name, option)
        return tuple(seen.values())

    def defaults(self):
        """The defaults of the model's constructor, through its base classes.

        Returns:
          dict `{argument name: default}`; arguments without a default are left out.
        """
        found = {}
        for cls in self.model_class.__mro__:
            init = cls.__dict__.get("__init__")
            if init is None:
                continue
            for parameter in inspect.signature(init).parameters.values():
                if parameter.default is not inspect.Parameter.empty:
                    found.setdefault(parameter.name, parameter.default)
        return found

    def small_model(self, variant=None, input_shape=(28, 28, 1), **overrides):
        """A small instance: the `variant` (default: the first) of `small_configs`.

        Args:
          variant: str or None. A key of `small_configs`. Defaults to the first.
          input_shape: tuple of int. Defaults to (28, 28, 1).
          **overrides: constructor arguments replacing the config's.

        Returns:
          A new, unbuilt instance of `model_class`.

        Raises:
          ValueError: unknown `variant`.
        """
        variant = next(iter(self.small_configs)) if variant is None else variant
        if variant not in self.small_configs:
            raise ValueError(f"variant must be one of {list(self.small_configs)}. "
                             f"Received: variant={variant!r}")
        return self.model_class(input_shape=input_shape,
                                **{**self.small_configs[variant], **overrides})


_REGISTRY = {}


def register(family):
    """Adds `family` to the registry and returns it; its name and class must be new.

    Raises:
      TypeError: `family` is not a `Family`, or its class not a `zoo.LatentVariableModel`.
      ValueError: no small config, an option that is not a constructor argument with a
        default, or a name or class already registered.
    """
    if not isinstance(family, Family):
        raise TypeError(f"family must be a zoo.families.Family. Received: family={family!r}")
    from zoo.model import LatentVariableModel

    if not (inspect.isclass(family.model_class)
            and issubclass(family.model_class, LatentVariableModel)):
        raise TypeError("model_class must be a subclass of zoo.LatentVariableModel. "
                        f"Received: model_class={family.model_class!r}")
    if not family.small_configs:
        raise ValueError(f"family {family.name!r} needs at least one small config.")
    known = family.defaults()
    for option in family.all_options:
        if option.name not in known:
            raise ValueError(f"option {option.flag} of family {family.name!r} is not an argument "
                             f"of {family.model_class.__name__}.")
    for other in _REGISTRY.values():
        if other.name == family.name or other.model_class is family.model_class:
            raise ValueError(f"family {family.name!r} ({family.model_class.__name__}) is "
                             f"already registered as {other.name!r}.")
    _REGISTRY[family.name] = family
    return family


def all_families():
    """Every registered family, in registration order, as a tuple of `Family`."""
    return tuple(_REGISTRY.values())


def names():
    """The registered families' names, a tuple of str in registration order."""
    return tuple(_REGISTRY)


def get(name):
    """The family called `name`, or a `ValueError` listing the registered ones."""
    if name not in _REGISTRY:
        raise ValueError(f"Unknown model family. Received: {name!r}. Families: {list(_REGISTRY)}")
    return _REGISTRY[name]


def of(model):
    """The family of a model (or model class): the registered class nearest in its MRO,
    or None for an unregistered class."""
    cls = model if inspect.isclass(model) else type(model)
    by_class = {family.model_class: family for family in _REGISTRY.values()}
    return next((by_class[c] for c in cls.__mro__ if c in by_class), None)
