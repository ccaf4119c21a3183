"""Small, fast instances of every registered model family, for tests across the zoo.

`FAMILIES` is read from the registry (`zoo.families`): each family's small configs, named
`<class>-<variant>`. A new family is in every suite that uses it (export parity, the
harness, imputation, ...) by registering itself.
"""

import keras
import numpy as np

import zoo


def binary_images(n=96, seed=0):
    rng = np.random.default_rng(seed)
    probs = rng.uniform(0.05, 0.2, size=(n, 28, 28, 1))
    for i in range(n):
        r, c = rng.integers(0, 20, size=2)
        probs[i, r:r + 8, c:c + 8] = 0.9
    return (rng.uniform(size=probs.shape) < probs).astype(np.float32)


def _factory(family, variant):
    return lambda: family.small_model(variant)


FAMILIES = {f"{family.model_class.__name__}-{variant}": _factory(family, variant)
            for family in zoo.families.all_families() for variant in family.small_configs}


_TRAINED = {}


def trained(name, epochs=2):
    """A family's model after a little training on structured binary images, and the data.

    Made once per (name, epochs) and worker, and shared: the suites that use it export,
    sample and score the model but never train or change it."""
    if (name, epochs) not in _TRAINED:
        model = FAMILIES[name]()
        x = binary_images()
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        model.fit(x, batch_size=32, epochs=epochs, verbose=0)
        _TRAINED[name, epochs] = model, x
    return _TRAINED[name, epochs]
