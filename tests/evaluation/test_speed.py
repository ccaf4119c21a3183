"""zoo.evaluation.speed: the step timer under multi-step calls."""

import numpy as np

import zoo
from zoo.evaluation import speed


def test_step_timer_records_one_duration_per_step_that_ran():
    model = zoo.VAE(input_shape=(6,), latent_dim=2, hidden_dims=(4,), likelihood="gaussian",
                    seed=0)
    model.compile(optimizer="adam", steps_per_execution=4)
    timer = speed.StepTimer()
    x = np.random.default_rng(0).normal(size=(10 * 8, 6)).astype(np.float32)
    # 10 steps in calls of 4: 4 + 4 + 2. Keras reports the last call as steps 8..11.
    model.fit(x, batch_size=8, epochs=2, verbose=0, callbacks=[timer])
    assert len(timer.durations) == 20
    assert all(d > 0 for d in timer.durations)
