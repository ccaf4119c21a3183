"""Probes: classifiers fit on a model's representation (`zoo.applications.probes`)."""

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="fit_probe needs scikit-learn (the test extra installs it)")

from zoo.applications import probes  # noqa: E402
from tests.test_conditional import conditional, halves  # noqa: E402
from tests.families import trained  # noqa: E402


@pytest.fixture(scope="module")
def model_and_data():
    model, _ = trained("VAE-conv")
    x, y = halves(n=240, seed=3)  # the class says where the ink is: a probe can read it
    return model, x, y


@pytest.mark.parametrize("features", probes.FEATURES)
@pytest.mark.parametrize("probe", probes.PROBES)
def test_a_probe_learns_the_classes_and_reads_raw_inputs(model_and_data, features, probe):
    model, x, y = model_and_data
    fitted = probes.fit_probe(model, x[:180], y[:180], features=features, probe=probe)
    assert fitted.score(x[180:], y[180:]) > 0.9  # three classes: chance is 1/3
    vectors = probes.representation(model, x[180:], features, batch_size=7)  # batch-independent
    np.testing.assert_array_equal(fitted.predict(x[180:]), fitted.pipeline.predict(vectors))
    width = {"pixels": 28 * 28, "embed": model.noise_dim}.get(features)
    assert vectors.shape[0] == 60 and (width is None or vectors.shape[1] == width)


def test_a_conditional_model_offers_its_label_free_features_only():
    model = conditional("vae")
    x, y = halves(n=30)
    fitted = probes.fit_probe(model, x, y, features="features")
    assert fitted.predict(x[:3]).shape == (3,)
    with pytest.raises(ValueError, match="features='embed' of a conditional model needs the label"):
        probes.fit_probe(model, x, y, features="embed")


def test_bad_arguments_are_named(model_and_data):
    model, x, y = model_and_data
    with pytest.raises(ValueError, match="probe must be one of"):
        probes.fit_probe(model, x, y, probe="forest")
    with pytest.raises(ValueError, match="features must be one of"):
        probes.fit_probe(model, x, y, features="logits")
    with pytest.raises(ValueError, match=r"y must hold one label per example \(240\)"):
        probes.fit_probe(model, x, y[:10])
    with pytest.raises(ValueError, match="at least two classes"):
        probes.fit_probe(model, x, np.zeros(240, int))
    with pytest.raises(ValueError, match="x must have shape"):
        probes.fit_probe(model, x[:, :10], y)
