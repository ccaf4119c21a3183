"""Reliability: crash and resume, concurrent serving, determinism.

- A `zoo.training.train` run killed with SIGKILL in the middle of an epoch, then started
  again with the same command, loses at most that epoch and ends where an uninterrupted
  run ends. SIGKILL, not an exception: nothing in the process gets to clean up, which is
  what a pre-empted VM or the OOM killer does. The run lives in a child process so the
  kill is real.
- An exported SavedModel signature called from 8 threads at once, and 8 `EdgeSampler`s
  (one per thread, the documented rule) give exactly the sequential results, no errors.
  A sampler shared between threads does not, which is why the rule exists.
- Same seed, same data, same steps on CPU: bitwise identical weights.
"""

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import export
import zoo
from export.edge import EdgeSampler
from tests.families import trained
from tests.harness import assert_weights_equal
from zoo import training

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# --------------------------------------------------------------------- crash and resume

EPOCHS = 4
BATCHES_PER_EPOCH = 2048 // 64  # 32: the first 2,048 MNIST images, unshuffled, batch 64
KILL_EPOCH, KILL_BATCH = 2, 10  # 0-based: epochs 0 and 1 are complete when the kill lands

# The run under test. `--pause` makes it write its pid to a marker file at a chosen
# point and then wait (bounded) to be killed, so the kill lands exactly there and not
# wherever the process happens to be when the parent's poll notices the marker.
TRAIN_SCRIPT = textwrap.dedent(f"""
    import argparse, json, os, sys, time

    import keras
    import tensorflow as tf

    import zoo
    from zoo import training

    parser = argparse.ArgumentParser()
    parser.add_argument("output_dir")
    parser.add_argument("--result", required=True)
    parser.add_argument("--pause", choices=["mid-epoch", "train-end"])
    parser.add_argument("--marker")
    args = parser.parse_args()

    x, _ = zoo.data.load_numpy("mnist", "train[:2048]", binarize="static")
    data = tf.data.Dataset.from_tensor_slices(x).batch(64)
    keras.utils.set_random_seed(3)
    model = zoo.VAE(input_shape=(28, 28, 1), latent_dim=4, hidden_dims=(64,), seed=3)


    def wait_to_be_killed():
        with open(args.marker + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.replace(args.marker + ".tmp", args.marker)  # the parent never reads half a pid
        time.sleep(120)
        sys.exit(3)  # not killed: the parent reports exit code 3


    class Probe(keras.callbacks.Callback):
        # After BackupAndRestore in the callback list, so on_train_begin sees the
        # restored state.
        start_step, epochs = None, []

        def on_train_begin(self, logs=None):
            Probe.start_step = int(self.model.optimizer.iterations)

        def on_epoch_begin(self, epoch, logs=None):
            Probe.epochs.append(epoch)

        def on_train_batch_end(self, batch, logs=None):
            # >=: with several steps per execution, the callback sees every N-th batch.
            if args.pause == "mid-epoch" and Probe.epochs[-1] == {KILL_EPOCH} \\
                    and batch >= {KILL_BATCH}:
                wait_to_be_killed()

        def on_train_end(self, logs=None):
            if args.pause == "train-end":
                wait_to_be_killed()


    model = training.train(model, data, epochs={EPOCHS}, output_dir=args.output_dir,
                           verbose=0, tensorboard=False, callbacks=[Probe()])
    with open(args.result, "w") as f:
        json.dump({{"start_step": Probe.start_step, "epochs": Probe.epochs,
                   "iterations": int(model.optimizer.iterations)}}, f)
""")


class _Runs:
    """Starts the training script in child processes and kills whatever is left."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.script = tmp_path / "train_run.py"
        self.script.write_text(TRAIN_SCRIPT)
        self.procs = []
        pythonpath = os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH")) if p)
        self.env = {**os.environ, "PYTHONPATH": pythonpath, "TF_CPP_MIN_LOG_LEVEL": "3",
                    "VAEZOO_DATA_DIR": os.environ["VAEZOO_DATA_DIR"]}  # set by conftest

    def start(self, name, output_dir, *args):
        # Output to files, not pipes: a child blocked on a full pipe would never finish.
        log = open(self.tmp_path / f"{name}.log", "w")
        proc = subprocess.Popen(
            [sys.executable, str(self.script), str(output_dir),
             "--result", str(self.tmp_path / f"{name}.json"), *args],
            stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=str(self.tmp_path))
        log.close()
        proc.name = name
        self.procs.append(proc)
        return proc

    def log(self, proc):
        return (self.tmp_path / f"{proc.name}.log").read_text()[-3000:]

    def finish(self, proc, timeout=180):
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{proc.name} did not finish in {timeout} s:\n{self.log(proc)}")
        assert proc.returncode == 0, f"{proc.name} exited {proc.returncode}:\n{self.log(proc)}"
        return json.loads((self.tmp_path / f"{proc.name}.json").read_text())

    def kill_at_marker(self, proc, marker, timeout=180):
        """Waits for `proc` to reach its pause point, then SIGKILLs it."""
        deadline = time.monotonic() + timeout
        while not os.path.exists(marker):
            if proc.poll() is not None:
                pytest.fail(f"{proc.name} exited {proc.returncode} before the kill point:\n"
                            f"{self.log(proc)}")
            if time.monotonic() > deadline:
                pytest.fail(f"{proc.name} did not reach the kill point in {timeout} s")
            time.sleep(0.05)
        with open(marker) as f:
            assert int(f.read()) == proc.pid
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, self.log(proc)

    def cleanup(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)


def _history_rows(output_dir):
    with open(os.path.join(output_dir, training.HISTORY_FILE), newline="") as f:
        return list(csv.DictReader(f))


def _summary(output_dir):
    with open(os.path.join(output_dir, training.SUMMARY_FILE)) as f:
        return json.load(f)


def test_a_run_killed_mid_epoch_resumes_and_matches_an_uninterrupted_run(tmp_path, data_dir):
    runs = _Runs(tmp_path)
    resumed, reference = tmp_path / "resumed", tmp_path / "reference"
    marker, end_marker = str(tmp_path / "kill-here"), str(tmp_path / "kill-at-end")
    try:
        # The uninterrupted run goes alongside the first attempt, to save wall time. It is
        # itself killed after its last epoch, before saving (in on_train_end of a user
        # callback; TensorBoard's on_train_end and save_model sit in the same window), and
        # started again: that must save the model without training again.
        first = runs.start("first", resumed, "--pause", "mid-epoch", "--marker", marker)
        ref_proc = runs.start("reference", reference, "--pause", "train-end", "--marker", end_marker)
        runs.kill_at_marker(first, marker)

        # What the kill left: two epochs logged and checkpointed, no final model.
        assert [r["epoch"] for r in _history_rows(resumed)] == ["0", "1"]
        assert _summary(resumed)["epochs_completed"] == KILL_EPOCH
        assert os.path.isdir(resumed / "backup")
        assert not os.path.exists(resumed / training.MODEL_FILE)

        again_proc = runs.start("again", resumed)
        runs.kill_at_marker(ref_proc, end_marker)
        assert [r["epoch"] for r in _history_rows(reference)] == ["0", "1", "2", "3"]
        assert not os.path.exists(reference / training.MODEL_FILE)
        ref = runs.finish(runs.start("reference-again", reference))
        again = runs.finish(again_proc)
    finally:
        runs.cleanup()

    # At most the killed epoch is lost: the second run restored the optimizer after
    # epoch 1 (step 64, which also seeds the reparameterisation noise) and ran 2 and 3.
    assert again["start_step"] == KILL_EPOCH * BATCHES_PER_EPOCH
    assert again["epochs"] == [2, 3]
    assert again["iterations"] == ref["iterations"] == EPOCHS * BATCHES_PER_EPOCH
    assert ref["epochs"] == []  # killed after its last epoch: nothing left to train
    assert [r["epoch"] for r in _history_rows(reference)] == ["0", "1", "2", "3"]

    # One row per epoch: the killed epoch logged nothing, nothing was logged twice.
    rows = _history_rows(resumed)
    assert [r["epoch"] for r in rows] == ["0", "1", "2", "3"]
    assert _summary(resumed)["epochs_completed"] == EPOCHS
    assert not os.path.exists(resumed / "backup")  # removed once training completed

    # Bound: 2 %. Measured here: 0 (the resumed run's weights are bitwise those of the
    # uninterrupted run, since weights, optimizer state and step all come back and the
    # data is unshuffled). The bound is set below what a lost epoch of progress costs at
    # this point of training (epoch 2 -> 3 lowers the loss by about 5 %), so a resume that
    # restarted, skipped or repeated an epoch fails, while any harmless float
    # reordering (a different thread count, another CPU) still passes.
    reference_rows = _history_rows(reference)
    assert len(reference_rows) == EPOCHS
    loss, reference_loss = float(rows[-1]["loss"]), float(reference_rows[-1]["loss"])
    assert abs(loss - reference_loss) <= 0.02 * abs(reference_loss), (loss, reference_loss)
    assert float(reference_rows[-2]["loss"]) - reference_loss > 0.02 * abs(reference_loss), \
        "the 2 % bound must be tighter than one epoch of progress"

    # The saved model is the trained one: it loads and scores held-out data like the
    # uninterrupted run's model (same bound and reason).
    model = keras.saving.load_model(str(resumed / training.MODEL_FILE))
    reference_model = keras.saving.load_model(str(reference / training.MODEL_FILE))
    assert int(model.optimizer.iterations) == EPOCHS * BATCHES_PER_EPOCH
    x, _ = zoo.data.load_numpy("mnist", "test[:256]", data_dir=data_dir, binarize="static")
    elbo = float(np.mean(model.elbo(x, seed=0)))
    reference_elbo = float(np.mean(reference_model.elbo(x, seed=0)))
    assert abs(elbo - reference_elbo) <= 0.02 * abs(reference_elbo), (elbo, reference_elbo)


# ------------------------------------------------------------------- concurrent serving

THREADS, CALLS, BATCH = 8, 125, 4  # the benchmark's figure is 8 x 1,000: benchmarks/experiments/concurrency.py


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A little-trained VAE-mlp as a loaded SavedModel signature and a float32 .tflite."""
    model, _ = trained("VAE-mlp")
    directory = tmp_path_factory.mktemp("served")
    signature = tf.saved_model.load(export.saved_model(model, str(directory / "served"))) \
        .signatures["serving_default"]
    path = export.tflite(model, str(directory / "sampler.tflite"), quantization="float32")
    noise = np.random.default_rng(0).standard_normal(
        (CALLS, BATCH, model.noise_dim)).astype(np.float32)
    return signature, path, noise


def _hammer(make_call, noise, reference, threads=THREADS):
    """Runs call index i on `noise[i]` for every i, from `threads` threads at once.

    Each thread makes its own callable (`make_call()`, not timed) and starts at another
    offset, so different inputs are in flight together: were all threads on the same
    index at the same moment, results crossing between threads would go unnoticed.
    Returns (exceptions, [(thread, index)] of results not bitwise the reference, calls done).
    """
    calls = len(noise)
    barrier = threading.Barrier(threads, timeout=120)
    errors, mismatches, done = [], [], [0] * threads

    def work(k):
        try:
            call = make_call()
            barrier.wait()
            for j in range(calls):
                i = (j + k * calls // threads) % calls
                if not np.array_equal(call(noise[i]), reference[i]):
                    mismatches.append((k, i))
                done[k] += 1
        except Exception as err:  # noqa: BLE001 -- every failure is counted, none lost
            errors.append(repr(err))
            barrier.abort()

    workers = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=300)
    assert not any(w.is_alive() for w in workers), "a serving thread hung"
    return errors, mismatches, sum(done)


def test_saved_model_signature_from_8_threads_matches_sequential_calls(served):
    signature, _, noise = served

    def call(eps):
        return signature(noise=tf.constant(eps))["samples"].numpy()

    reference = [call(eps) for eps in noise]
    assert reference[0].shape == (BATCH, 28, 28, 1)
    errors, mismatches, done = _hammer(lambda: call, noise, reference)
    assert errors == []
    assert mismatches == []
    assert done == THREADS * CALLS


def test_one_edge_sampler_per_thread_matches_sequential_calls(served):
    _, path, noise = served
    sequential = EdgeSampler(path)
    reference = [sequential.sample_from_noise(eps) for eps in noise]
    errors, mismatches, done = _hammer(lambda: EdgeSampler(path).sample_from_noise, noise,
                                       reference)
    assert errors == []
    assert mismatches == []
    assert done == THREADS * CALLS


# One interpreter invoked from several threads: in a child process (numpy and LiteRT
# only, no TensorFlow), so that a crash, not just wrong results, cannot take pytest down.
SHARED_SAMPLER = textwrap.dedent("""
    import json, sys, threading, time

    import numpy as np

    from export.edge import EdgeSampler

    path, threads, calls = sys.argv[1], 8, 250
    shared = EdgeSampler(path)
    noise = np.random.default_rng(0).standard_normal(
        (calls, 4, shared.noise_dim)).astype(np.float32)
    reference = [shared.sample_from_noise(eps) for eps in noise]
    errors, mismatches, rounds = [], [], 0
    deadline = time.monotonic() + 30
    # Races are timing-dependent: repeat rounds until one shows, for at most 30 s.
    while not (errors or mismatches) and time.monotonic() < deadline:
        rounds += 1
        barrier = threading.Barrier(threads, timeout=60)

        def work(k):
            try:
                barrier.wait()
                for j in range(calls):
                    i = (j + k * calls // threads) % calls
                    if not np.array_equal(shared.sample_from_noise(noise[i]), reference[i]):
                        mismatches.append(i)
            except Exception as err:
                errors.append(repr(err))

        workers = [threading.Thread(target=work, args=(k,), daemon=True)
                   for k in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=120)
    print(json.dumps({"rounds": rounds, "errors": errors[:5], "mismatches": len(mismatches),
                      "calls": rounds * threads * calls}))
""")


def test_a_shared_edge_sampler_gives_wrong_results_which_is_why_one_per_thread(served, tmp_path):
    _, path, _ = served
    script = tmp_path / "shared.py"
    script.write_text(SHARED_SAMPLER)
    env = {**os.environ, "PYTHONPATH": REPO}
    child = subprocess.run([sys.executable, str(script), path], capture_output=True, text=True,
                           timeout=180, env=env)
    if child.returncode < 0:  # killed by a signal (a segfault): also a reason
        return
    assert child.returncode == 0, child.stderr[-3000:]
    outcome = json.loads(child.stdout.strip().splitlines()[-1])
    # If this fails, LiteRT's interpreter became safe to share: the rule in export/edge.py
    # and the one-per-thread pattern could be relaxed.
    assert outcome["errors"] or outcome["mismatches"], outcome


# -------------------------------------------------------------------------- determinism

def _after_ten_steps(x, seed, steps_per_execution="auto", run_eagerly=False):
    keras.backend.clear_session()  # fresh layer names, so weight paths compare equal
    keras.utils.set_random_seed(seed)
    model = zoo.VAE(input_shape=(28, 28, 1), latent_dim=8, hidden_dims=(64, 32), seed=seed)
    initial = [np.array(w) for w in model.weights]
    model.compile(optimizer=keras.optimizers.Adam(1e-3), steps_per_execution=steps_per_execution,
                  run_eagerly=run_eagerly)
    model.history_ = model.fit(tf.data.Dataset.from_tensor_slices(x[:640]).batch(64), epochs=1,
                               verbose=0).history
    assert int(model.optimizer.iterations) == 10
    return model, initial


_DEFAULT_RUN = []  # the seed-0 run with the default steps per call, made once per worker


def _default_run(x):
    """`_after_ten_steps(x, 0)`, shared by the two tests below, which only read it."""
    if not _DEFAULT_RUN:
        _DEFAULT_RUN.append(_after_ten_steps(x, 0))
    return _DEFAULT_RUN[0]


def test_same_seed_and_data_give_identical_weights_after_ten_steps(mnist_small):
    x = mnist_small[0]
    a, initial = _default_run(x)
    b, _ = _after_ten_steps(x, 0)
    assert_weights_equal(a, b)
    for va, vb in zip(a.optimizer.variables, b.optimizer.variables):  # Adam moments too
        np.testing.assert_array_equal(np.asarray(va), np.asarray(vb), err_msg=va.path)
    # Not vacuous: training moved the weights, and another seed ends elsewhere.
    assert not all(np.array_equal(np.asarray(w), w0) for w, w0 in zip(a.weights, initial))
    c, _ = _after_ten_steps(x, 1, run_eagerly=True)  # eagerly: no third trace for this
    assert not all(np.array_equal(np.asarray(wa), np.asarray(wc))
                   for wa, wc in zip(a.trainable_weights, c.trainable_weights))


def test_several_steps_per_call_train_exactly_as_one_step_per_call(mnist_small):
    # The default runs 8 steps per call of the compiled step (10 steps: a call of 8, then
    # one that meets the end of the data after 2): the same updates and epoch figures.
    x = mnist_small[0]
    one, _ = _after_ten_steps(x, 0, steps_per_execution=1)
    eight, _ = _default_run(x)
    assert eight.steps_per_execution == 8 and one.steps_per_execution == 1
    for wa, wb in zip(one.weights, eight.weights):
        np.testing.assert_allclose(np.asarray(wa), np.asarray(wb), rtol=1e-5, atol=1e-6, err_msg=wa.path)
    for name, values in one.history_.items():
        np.testing.assert_allclose(values, eight.history_[name], rtol=1e-5, err_msg=name)


@pytest.mark.parametrize("value", [0, -2, 1.5, True, "fast"])
def test_steps_per_execution_must_be_a_positive_int_or_auto(value):
    model = zoo.VAE(input_shape=(28, 28, 1), latent_dim=2, hidden_dims=(8,))
    with pytest.raises(ValueError, match=f"steps_per_execution must be a positive int or 'auto'. "
                                         f"Received: steps_per_execution={value!r}"):
        model.compile(optimizer="adam", steps_per_execution=value)
