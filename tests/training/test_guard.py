"""The update guard: non-finite steps skipped, threshold skips capped, clipping, EMA."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests.families import binary_images


def _model(**kwargs):
    return zoo.VAE(input_shape=(28, 28, 1), latent_dim=4, hidden_dims=(32,), seed=0, **kwargs)


def _batches(x, poisoned=None):
    batches = [x[i:i + 16] for i in range(0, len(x), 16)]
    if poisoned is not None:
        bad = batches[0].copy()
        bad[0, 0, 0, 0] = np.nan  # one NaN pixel: NaN loss, NaN gradients
        batches.insert(poisoned, bad)
    return tf.data.Dataset.from_tensor_slices(np.stack(batches)).map(lambda b: b)


def _fit(model, ds, optimizer="adam"):
    model.compile(optimizer=optimizer)
    return model.fit(ds, epochs=1, verbose=0).history


def test_a_nan_batch_is_skipped_as_if_it_had_never_been_seen():
    x = binary_images(n=64)
    init = _model().get_weights()
    clean, poisoned = _model(), _model()
    clean.set_weights(init)
    poisoned.set_weights(init)
    _fit(clean, _batches(x))
    logs = _fit(poisoned, _batches(x, poisoned=2))
    # The skipped step did not advance the step count, so the training noise of every
    # later step matches the clean run: identical weights, one skip recorded.
    assert int(poisoned.optimizer.iterations) == int(clean.optimizer.iterations) == 4
    for a, b in zip(clean.trainable_weights, poisoned.trainable_weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)
    assert float(poisoned.update_guard.skipped_steps) == 1.0
    assert logs["skipped_steps"][-1] == 1.0


def test_threshold_skips_cannot_go_on_forever():
    x = binary_images(n=128)  # 8 steps
    model = _model(skip_threshold=1e-9, max_consecutive_skips=3)  # every norm is above
    logs = _fit(model, _batches(x))
    # skip, skip, skip, forced update, skip, skip, skip, forced update
    assert float(model.update_guard.skipped_steps) == 6.0
    assert int(model.optimizer.iterations) == 2
    assert logs["grad_norm"][-1] > 1e-9


def test_clipping_bounds_the_step():
    x = binary_images(n=16)
    model = _model(gradient_clip_norm=0.5)
    before = [np.array(w) for w in model.trainable_weights]
    _fit(model, _batches(x), optimizer=keras.optimizers.SGD(1.0))  # step = -clipped gradient
    delta = np.sqrt(sum(np.sum((np.asarray(w) - b) ** 2)
                        for w, b in zip(model.trainable_weights, before)))
    assert delta == pytest.approx(0.5, rel=1e-4)  # the raw gradient norm is ~100s


def test_the_guard_works_under_mirrored_strategy(mirrored):
    x = binary_images(n=64)
    with mirrored.scope():
        model = _model(gradient_clip_norm=100.0)
        model.compile(optimizer="adam")
    model.fit(_batches(x, poisoned=1).unbatch().batch(16), epochs=1, verbose=0)
    assert float(model.update_guard.skipped_steps.numpy()) == 1.0
    assert int(model.optimizer.iterations.numpy()) == 4
    assert all(np.all(np.isfinite(np.asarray(w))) for w in model.weights)


def test_ema_weights_are_what_fit_leaves_for_evaluation():
    # Keras optimizers keep an exponential moving average of the weights with
    # use_ema=True and write it into the model when fit ends.
    x = binary_images(n=64)
    model = _model()
    optimizer = keras.optimizers.Adam(1e-3, use_ema=True, ema_momentum=0.5)
    _fit(model, _batches(x), optimizer=optimizer)
    for variable, average in zip(model.trainable_variables,
                                 optimizer._model_variables_moving_average):
        np.testing.assert_allclose(np.asarray(variable), np.asarray(average), rtol=1e-6)


def test_weights_saved_before_the_guard_existed_still_load(tmp_path):
    import h5py

    x = binary_images(n=32)
    model = _model()
    _fit(model, _batches(x))
    model.update_guard.skipped_steps.assign(3.0)
    path = str(tmp_path / "old.weights.h5")
    model.save_weights(path)
    with h5py.File(path, "r+") as f:  # what a checkpoint from an older vaezoo looks like
        guard = [name for name in f["layers"] if name.startswith("update_guard")]
        assert guard, list(f["layers"])
        for name in guard:
            del f["layers"][name]
    restored = _model()
    restored(x[:2])
    restored.load_weights(path)
    for a, b in zip(model.trainable_weights, restored.trainable_weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)
    assert float(restored.update_guard.skipped_steps) == 0.0


def test_without_the_nonfinite_guard_a_nan_batch_is_applied():
    # The opt-out for speed does what it says: no cond, no skip, the NaN reaches the weights.
    x = binary_images(n=32)
    model = _model(skip_nonfinite=False)
    _fit(model, _batches(x, poisoned=0))
    assert int(model.optimizer.iterations) == 3
    assert float(model.update_guard.skipped_steps) == 0.0
    assert not all(np.all(np.isfinite(np.asarray(w))) for w in model.trainable_weights)
    assert zoo.VAE.from_config(model.get_config()).skip_nonfinite is False


def test_skip_nonfinite_must_be_a_bool():
    with pytest.raises(TypeError, match="skip_nonfinite must be a bool. Received: skip_nonfinite='no'"):
        _model(skip_nonfinite="no")


# Four good batches, then bad ones, and a limit of 3: one step per call stops right after
# the third skip; eight per call (the default) at the end of the call that holds it.
@pytest.mark.parametrize("steps_per_execution,batch,skipped", [(1, 7, 3), ("auto", 8, 4)])
def test_a_run_of_nan_batches_stops_training_with_the_last_good_weights(
        tmp_path, steps_per_execution, batch, skipped):
    from zoo import training

    x = binary_images(n=64)
    bad = x.copy()
    bad[:, 0, 0, 0] = np.nan  # every batch from the fifth on is poisoned
    data = tf.data.Dataset.from_tensor_slices(np.concatenate([x, bad, bad])).batch(16)
    model = _model()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), steps_per_execution=steps_per_execution)
    with pytest.raises(training.TrainingDiverged,
                       match=f"epoch 1, batch {batch} .optimizer step 4.: the last {skipped} "
                             "updates were skipped") as info:
        training.train(model, data, epochs=3, output_dir=str(tmp_path), verbose=0,
                       tensorboard=False, skip_limit=3)
    assert "not finite" in str(info.value)
    # Four good steps, then the skipped ones: the weights are those of step 4, finite,
    # and the checkpoint of the last good state is kept; no model.keras is written.
    assert int(model.optimizer.iterations) == 4
    assert float(model.update_guard.skipped_steps) == skipped
    assert all(np.all(np.isfinite(np.asarray(w))) for w in model.weights)
    assert os.path.isdir(tmp_path / "backup")
    assert not os.path.exists(tmp_path / training.MODEL_FILE)
