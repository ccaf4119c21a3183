"""zoo.training.train: exact resume after a crash, completion, logs."""

import glob
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests.harness import assert_weights_equal
from zoo import training


class _Crash(keras.callbacks.Callback):
    """Simulates a crash at the end of an epoch, after the checkpoint was written."""

    def __init__(self, after_epoch):
        super().__init__()
        self.after_epoch = after_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.after_epoch:
            raise KeyboardInterrupt("simulated crash")


def _model(init=None):
    model = zoo.VAE(input_shape=(28, 28, 1), latent_dim=4, hidden_dims=(64,), kl_warmup_steps=20,
                    seed=3)
    if init is not None:
        model.set_weights(init)
    return model


def _data(mnist_small):
    # Unshuffled, pre-binarized: every epoch sees the same batches, so two runs that
    # start from the same state must end in the same state.
    return tf.data.Dataset.from_tensor_slices(mnist_small[0][:512]).batch(64)


def test_resume_after_a_crash_reproduces_the_uninterrupted_run_exactly(mnist_small, tmp_path):
    init = _model().get_weights()
    ds = _data(mnist_small)
    straight = training.train(_model(init), ds, epochs=3, output_dir=str(tmp_path / "a"),
                              verbose=0, tensorboard=False)

    crashed_dir = str(tmp_path / "b")
    with pytest.raises(KeyboardInterrupt):
        training.train(_model(init), ds, epochs=3, output_dir=crashed_dir, verbose=0,
                       tensorboard=False, callbacks=[_Crash(after_epoch=1)])
    assert not os.path.exists(os.path.join(crashed_dir, training.MODEL_FILE))
    resumed = training.train(_model(init), ds, epochs=3, output_dir=crashed_dir, verbose=0,
                             tensorboard=False)

    # Weights, Adam moments and the step count (which drives the KL warm-up and the
    # training noise) all came back, so the result is bit-identical.
    assert int(resumed.optimizer.iterations) == int(straight.optimizer.iterations) == 24
    assert_weights_equal(straight, resumed)
    history = training.read_history(crashed_dir)
    assert len(history["loss"]) == 3
    np.testing.assert_allclose(history["loss"], training.read_history(str(tmp_path / "a"))["loss"])
    with open(os.path.join(crashed_dir, training.SUMMARY_FILE)) as f:
        assert json.load(f)["epochs_completed"] == 3


def test_a_completed_run_is_loaded_not_retrained(mnist_small, tmp_path, capsys):
    ds = _data(mnist_small)
    first = training.train(_model(), ds, epochs=1, output_dir=str(tmp_path), verbose=0,
                           tensorboard=False)
    again = training.train(_model(), ds, epochs=1, output_dir=str(tmp_path), verbose=0,
                           tensorboard=False)
    assert "loading it instead of training" in capsys.readouterr().out
    assert_weights_equal(first, again)


def _logged_images(log_dir):
    """`{tag: [H, W, C] uint8}` of the last image logged under each tag."""
    images = {}
    for path in glob.glob(str(log_dir / "**" / "events.out.tfevents.*"), recursive=True):
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "images":
                    encoded = tf.make_ndarray(value.tensor)[2]  # [width, height, png...]
                    images[value.tag] = tf.io.decode_png(encoded).numpy()
                else:
                    images.setdefault(value.tag, None)
    return images


def test_tensorboard_gets_scalars_and_every_plot(mnist_small, tmp_path):
    x_train, y_train, x_test, y_test = mnist_small
    training.train(_model(), _data(mnist_small), epochs=1, output_dir=str(tmp_path), verbose=0,
                   plot_examples=x_test[:200], plot_labels=y_test[:200])
    logged = _logged_images(tmp_path / "logs")
    assert {"epoch_loss", "epoch_kl", "epoch_active_units"} <= set(logged)
    plots = {"samples", "reconstructions", "interpolations", "traversals", "kl_per_dimension",
             "latent_map"}
    assert plots <= set(logged)
    # Real pictures: 8 inputs above 8 reconstructions (29-pixel tiles), each of the
    # model's 4 latent units x 7 values, and rendered figures that are not blank.
    assert logged["reconstructions"].shape[:2] == (2 * 29 + 1, 8 * 29 + 1)
    assert logged["traversals"].shape[:2] == (4 * 29 + 1, 7 * 29 + 1)
    assert logged["interpolations"].shape[:2] == (29 + 1, 8 * 29 + 1)
    for tag in ("kl_per_dimension", "latent_map"):
        assert logged[tag].ndim == 3 and logged[tag].std() > 10, tag


def test_a_flow_prior_gets_every_plot_but_the_kl_per_dimension(tmp_path):
    from tests.families import FAMILIES, binary_images

    callback = training.TrainingPlots(str(tmp_path), binary_images(n=16), num_samples=4)
    callback.set_model(FAMILIES["FlowPriorVAE-realnvp"]())
    # Its KL does not split by dimension; the plot is left out instead of failing training.
    assert set(callback.plots()) == {"samples", "reconstructions", "interpolations",
                                     "traversals", "latent_map"}


def test_without_examples_only_the_sample_grid_is_plotted(mnist_small, tmp_path):
    training.train(_model(), _data(mnist_small), epochs=1, output_dir=str(tmp_path), verbose=0)
    logged = _logged_images(tmp_path / "logs")
    assert "samples" in logged and "reconstructions" not in logged


def test_plot_every_zero_logs_the_scalars_and_no_plots(mnist_small, tmp_path):
    x_test = mnist_small[2]
    for bad, error in ((-1, ValueError), (1.5, TypeError), (True, TypeError)):
        with pytest.raises(error, match=f"Received: plot_every={bad!r}"):
            training.train(_model(), _data(mnist_small), epochs=1, output_dir=str(tmp_path / "bad"),
                           plot_every=bad)
    training.train(_model(), _data(mnist_small), epochs=1, output_dir=str(tmp_path), verbose=0,
                   plot_examples=x_test[:200], plot_every=0)
    logged = _logged_images(tmp_path / "logs")
    assert "epoch_loss" in logged and "samples" not in logged and "reconstructions" not in logged


def test_sample_weights_weigh_each_examples_terms():
    from tests.families import FAMILIES, binary_images

    model = FAMILIES["VAE-mlp"]()
    x = binary_images(n=8)
    seed = tf.constant([3, 4])
    plain = model.objective(x, seed=seed, step=0, training=False)
    ones = model.objective(x, None, np.ones(8, np.float32), seed=seed, step=0, training=False)
    assert float(ones["loss"]) == pytest.approx(float(plain["loss"]), rel=1e-6)
    # Weights 2 and 1 on two examples, 0 elsewhere: a weighted mean of those two's -ELBO
    # at the same posterior draws (the same seed), for loss and reconstruction alike.
    w = np.array([2, 0, 0, 0, 1, 0, 0, 0], np.float32)
    weighted = model.objective(x, None, w, seed=seed, step=0, training=False)
    terms = model.elbo_terms(x, seed=seed)
    rec, kl = np.asarray(terms["reconstruction"]), np.asarray(terms["kl"])
    assert float(weighted["reconstruction"]) == pytest.approx((2 * rec[0] + rec[4]) / 3, rel=1e-5)
    assert float(weighted["loss"]) == pytest.approx(
        (2 * (rec[0] + kl[0]) + rec[4] + kl[4]) / 3, rel=1e-5)
    assert float(weighted["kl"]) == pytest.approx(float(np.mean(kl)), rel=1e-5)  # reported as is


def test_run_eagerly_runs_the_step_as_python_and_is_not_saved_with_the_model(mnist_small,
                                                                             tmp_path):
    with pytest.raises(TypeError, match="Received: run_eagerly='yes'"):
        training.train(_model(), _data(mnist_small), epochs=1, output_dir=str(tmp_path / "bad"),
                       run_eagerly="yes")
    init = _model().get_weights()
    runs, python_steps = {}, {}
    for name, eagerly in (("traced", False), ("eager", True)):
        model, python_steps[name] = _model(init), []
        step = model.train_step
        model.train_step = lambda data, step=step, seen=python_steps[name]: \
            seen.append(1) or step(data)
        runs[name] = training.train(model, _data(mnist_small), epochs=1, verbose=0,
                                    output_dir=str(tmp_path / name), tensorboard=False,
                                    run_eagerly=eagerly)
    # Eagerly, the Python of the step runs at each of the 8 steps; traced, only while
    # tf.function traces it.
    assert len(python_steps["eager"]) == 8 and len(python_steps["traced"]) < 4, python_steps
    # The same 8 updates either way (float reassociation aside).
    for a, b in zip(runs["traced"].weights, runs["eager"].weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5,
                                   err_msg=a.path)
    # A debugging switch, not saved with the model: the loaded one is traced.
    saved = keras.saving.load_model(str(tmp_path / "eager" / training.MODEL_FILE))
    assert not saved.run_eagerly
