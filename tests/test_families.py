"""The registry of families, and the shared harness run on every registered family.

A family registered in `zoo.families` gets every check of `tests/harness.py` here, on its
first small config, with no test code of its own; its folder's tests add what is
particular to it.
"""

import inspect

import numpy as np
import pytest

import zoo
from tests.families import FAMILIES, binary_images
from tests.harness import ModelHarness
from zoo import families


def _harness(family):
    class Harness(ModelHarness):
        def make_model(self):
            return family.small_model()

        def make_data(self):
            return binary_images()

    Harness.__name__ = Harness.__qualname__ = f"Test{family.model_class.__name__}Harness"
    return Harness


for _family in families.all_families():
    globals()[f"Test{_family.model_class.__name__}Harness"] = _harness(_family)


def test_every_public_model_class_is_a_registered_family():
    public = {obj for obj in vars(zoo).values()
              if inspect.isclass(obj) and issubclass(obj, zoo.LatentVariableModel)
              and obj is not zoo.LatentVariableModel}
    registered = {family.model_class for family in families.all_families()}
    assert public == registered
    assert {type(factory()) for factory in FAMILIES.values()} == registered
    assert set(families.names()) >= {"vae", "hvae", "flow_vae", "vaegan"}
    for family in families.all_families():
        assert family.model_class.__name__ in zoo.__all__
        assert families.of(family.model_class) is family
        assert families.get(family.name) is family


def test_every_option_is_a_constructor_argument_with_its_default():
    for family in families.all_families():
        defaults = family.defaults()
        for option in family.all_options:
            assert option.name in defaults, (family.name, option.name)
            if option.choices and defaults[option.name] is not None:
                assert defaults[option.name] in option.choices, (family.name, option.name)


def test_a_subclass_belongs_to_its_nearest_registered_family():
    class Tweaked(zoo.VAE):
        pass

    assert families.of(Tweaked) is families.get("vae")
    assert families.of(zoo.VAEGAN) is families.get("vaegan")  # not "vae", its base
    assert families.of(object) is None


def test_registration_refuses_duplicates_and_unknown_options():
    vae = families.get("vae")
    with pytest.raises(ValueError, match="already registered"):
        families.register(families.Family("vae2", zoo.VAE, "again", small_configs={"a": {}}))
    with pytest.raises(ValueError, match="already registered"):
        families.register(families.Family("vae", zoo.HVAE, "again", small_configs={"a": {}}))

    class Other(zoo.VAE):
        pass

    with pytest.raises(ValueError, match="--flow"):
        families.register(families.Family("other", Other, "x", options=(families.Option("flow"),),
                                          small_configs={"a": {}}))
    with pytest.raises(ValueError, match="small config"):
        families.register(families.Family("other", Other, "x"))
    with pytest.raises(TypeError, match="model_class"):
        families.register(families.Family("other", dict, "x", small_configs={"a": {}}))
    with pytest.raises(ValueError, match="Families"):
        families.get("nope")
    with pytest.raises(ValueError, match="variant"):
        vae.small_model("nope")
    assert families.names().count("vae") == 1 and "other" not in families.names()


def test_dims_parses_comma_separated_sizes():
    assert families.dims("512,256") == (512, 256)
    assert families.dims(" 8 ") == (8,)
    for bad in ("", "a,b", "1.5"):
        with pytest.raises(ValueError, match="comma-separated"):
            families.dims(bad)


def test_small_models_are_small_and_sample():
    for name, factory in FAMILIES.items():
        model = factory()
        assert model.count_params() < 200_000, name
        assert np.asarray(model.sample(2, seed=0)).shape == (2, 28, 28, 1), name
