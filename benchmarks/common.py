"""Helpers shared by the benchmark scripts: environment facts and result files."""

import datetime
import json
import os
import platform
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
sys.path.insert(0, os.path.dirname(HERE))  # run from a checkout without installing


def environment():
    """Versions and machine facts recorded with every result."""
    import keras
    import tensorflow as tf
    import tensorflow_probability as tfp

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "tensorflow_probability": tfp.__version__,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
    }


def write_results(name, payload, table_rows, header, command):
    """Writes `results/<name>.json` and `results/<name>.md` (a markdown table) atomically."""
    from zoo import io_utils

    payload = {"benchmark": name, "command": command, "environment": environment(), **payload}
    io_utils.write_json(os.path.join(RESULTS, f"{name}.json"), payload)
    lines = [f"<!-- written by: {command} -->",
             "| " + " | ".join(header) + " |",
             "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in table_rows]
    io_utils.write_text(os.path.join(RESULTS, f"{name}.md"), "\n".join(lines) + "\n")
    print("\n".join(lines[1:]))
    return payload
