"""benchmarks/speed/devices.py, the one command for a GPU host, runs here on the CPU and
on two logical CPU devices (its MirroredStrategy path).

It runs in a child process: a MirroredStrategy made in a test worker would share the
worker's collective-op keys with the strategies of later tests there, and collide."""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The results are written and closed when main returns: the child then leaves at once,
# without the seconds TensorFlow's interpreter teardown (two strategies' runtimes) takes.
CHILD = """
import os, sys
sys.path[:0] = [{benchmarks!r}, {speed!r}]
import common, devices
common.results_path = lambda group, name: {out!r} + "/" + name
code = devices.main(["--presets", "vae_mnist", "--batch-size", "4", "--steps", "2",
                     "--num-examples", "2", "--num-samples", "8", "--logical-cpus", "2"])
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
"""


def test_it_writes_its_fixed_format_for_every_strategy_the_devices_allow(tmp_path):
    code = CHILD.format(benchmarks=os.path.join(REPO, "benchmarks"),
                        speed=os.path.join(REPO, "benchmarks", "speed"), out=str(tmp_path))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "devices.json") as f:
        payload = json.load(f)
    assert payload["devices"]["cpus"] and payload["command"].startswith(
        "python benchmarks/speed/devices.py")
    rows = {row["strategy"]: row for row in payload["rows"]}
    assert set(rows) == {"one_device", "mirrored"} and rows["mirrored"]["replicas"] == 2
    for row in rows.values():
        assert set(row) == {"preset", "strategy", "replicas", "precision",
                            "train_images_per_second", "eval_rows_per_second"}
        assert row["train_images_per_second"] > 0
    # Evaluation is measured once, on one device.
    assert rows["one_device"]["eval_rows_per_second"] > 0
    assert rows["mirrored"]["eval_rows_per_second"] is None
