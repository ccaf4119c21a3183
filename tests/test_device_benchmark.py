"""benchmarks/speed/devices.py, the one command for a GPU host, runs here on the CPU and
on the two logical CPU devices conftest.py sets up (its MirroredStrategy path)."""

import importlib.util
import json
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def devices_script():
    sys.path.insert(0, os.path.join(REPO, "benchmarks"))
    spec = importlib.util.spec_from_file_location(
        "devices_benchmark", os.path.join(REPO, "benchmarks", "speed", "devices.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_it_writes_its_fixed_format_for_every_strategy_the_devices_allow(devices_script, tmp_path,
                                                                         monkeypatch):
    import common

    monkeypatch.setattr(common, "results_path", lambda group, name: str(tmp_path / name))
    assert devices_script.main(["--presets", "vae_mnist", "--batch-size", "4", "--steps", "2",
                                "--num-examples", "2", "--num-samples", "8"]) == 0
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
