"""Test set-up shared by the whole suite.

- Two logical CPU devices, configured before TensorFlow initialises its devices, so
  `tf.distribute.MirroredStrategy` can be exercised without a GPU. Code that does not
  ask for a strategy still runs on the first device only.
- The dataset folder: `$VAEZOO_DATA_DIR` if set (made absolute), else `../shared/data`
  beside the repository (where CI puts it). Tests never download.
"""

import gc
import os
import types

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# One intra-op thread per xdist worker when the workers already fill the cores: two
# workers each running a core-wide thread pool (and oneDNN's) on two cores spend much of
# their time contending. $VAEZOO_TEST_THREADS overrides (0: TensorFlow's default).
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
_threads = int(os.environ.get("VAEZOO_TEST_THREADS",
                              "1" if _workers >= (os.cpu_count() or 1) > 1 else "0"))
if _threads:
    tf.config.threading.set_intra_op_parallelism_threads(_threads)
_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Absolute: the README's command passes ../shared/data, and the tests that train in child
# processes run them from temporary folders, where a relative path points nowhere.
DATA_DIR = os.path.abspath(os.environ.get("VAEZOO_DATA_DIR")
                           or os.path.join(os.path.dirname(REPO), "shared", "data"))
os.environ["VAEZOO_DATA_DIR"] = DATA_DIR


def _young_collection():
    gc.collect(1)


def _quiet_the_converters_full_collection():
    """TFLite's converter ends every conversion with a full `gc.collect()`. In a worker
    that holds a few hundred traced graphs each of those scans them all (0.23 s a call,
    measured in the export-parity and preset files; more later in a worker's life), and
    dozens of tests convert. Here it collects the young generations only,
    which hold the converter's own temporaries; the rest is freed on Python's schedule,
    as for every other test. Tests only: a user's process is small and keeps TF's call."""
    from tensorflow.lite.python import lite

    if getattr(lite, "gc", None) is gc:  # a future TensorFlow may drop or rename it
        lite.gc = types.SimpleNamespace(collect=_young_collection)


_quiet_the_converters_full_collection()


def pytest_collection_finish(session):
    """Moves everything imported so far out of the garbage collector's sight.

    TensorFlow, Keras, TFP, scikit-learn and SciPy leave ~480,000 tracked objects that
    live as long as the worker, and every full collection walked all of them again:
    0.2 s each, ~100 times per worker, plus an occasional 16 s pause. Frozen, they are
    never scanned; what the tests create is collected as before. Measured: the suite
    went from 553 s to 499 s (worker-seconds in full collections: 90 -> 50)."""
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session")
def data_dir():
    """The folder holding mnist/ and fashion_mnist/ in their original IDX files."""
    if not os.path.isfile(os.path.join(DATA_DIR, "mnist", "train-images-idx3-ubyte.gz")):
        pytest.fail(f"MNIST IDX files not found under {DATA_DIR}; set VAEZOO_DATA_DIR "
                    "to the folder holding mnist/ and fashion_mnist/ (../shared/data).")
    return DATA_DIR


@pytest.fixture(scope="session")
def mnist_small(data_dir):
    """2,000 training and 500 test MNIST images, statically binarized, as numpy."""
    import zoo

    x_train, y_train = zoo.data.load_numpy("mnist", "train[:2000]", data_dir=data_dir,
                                           binarize="static", seed=1)
    x_test, y_test = zoo.data.load_numpy("mnist", "test[:500]", data_dir=data_dir,
                                         binarize="static", seed=2)
    return x_train, y_train, x_test, y_test


@pytest.fixture(scope="session")
def builtin_preset():
    """`builtin_preset(name)`: the built-in preset `zoo.from_preset(name)`, loaded once per
    worker and shared by every test that only reads it (scores, samples, embeds, exports).

    A loaded preset keeps its traced sampling and scoring graphs (and the anomaly
    detector's reference samples), which are most of what a check of it costs. A test
    that compiles, fits, or loads with overrides must load its own copy."""
    import zoo

    loaded = {}

    def load(name):
        if name not in loaded:
            loaded[name] = zoo.from_preset(name)
        return loaded[name]

    return load


@pytest.fixture(scope="session")
def mirrored():
    """One MirroredStrategy over the two logical CPUs, shared by every test.

    TensorFlow restarts collective instance keys with each new strategy: a second
    MirroredStrategy over the same devices in one process collides with the first
    ("Shape mismatch in the collective instance"), plain Keras models included.
    """
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    return strategy


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts from a clean Keras session and the same global seed, so weight
    initialisation (and with it every figure a test checks) is the same on every run.

    free_memory=False: a full `gc.collect()` before every test cost up to 2 s once a
    worker held a few hundred traced graphs, about a quarter of the suite's time;
    Python's own generational collector still frees them (peak RSS per worker ~4.6 GB)."""
    import keras

    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(1234)
    yield
