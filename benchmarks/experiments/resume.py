"""Crash and resume of `vaezoo train`: what a SIGKILL mid-epoch costs.

Protocol. Two runs of the same `vaezoo train` command (MLP VAE, latent 16, hidden 256,
dynamically binarized MNIST, all 60,000 training images, batch 128, 6 epochs), started
together so machine load hits both alike:
  - reference: runs to the end untouched;
  - killed: SIGKILLed in the middle of epoch `--kill-epoch` (1-based; half of the previous
    epoch's duration after that epoch's row reached history.csv), then the same command
    is started again and runs to the end.
SIGKILL, not Ctrl-C: nothing in the process can clean up, like a pre-empted VM or the
OOM killer. Reported: the final-epoch training loss of both runs, their test ELBO and
k=100 NLL on the first 2,000 test images (`vaezoo eval`), the epochs in history.csv (no
epoch lost or repeated), the work lost to the kill (seconds of the killed epoch, which
is the most a kill can cost since checkpoints are written at every epoch end), and the
wall time of the killed-and-resumed run. The runs live in a temporary folder, removed
at the end. The data order after a restart is a fresh shuffle, so the two runs are not
bitwise equal: the figures say how close a resumed run ends.

    python benchmarks/experiments/resume.py            # --epochs 6 --kill-epoch 3

Writes benchmarks/results/experiments/resume.json and .md.
"""

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common

TRAIN = ["train", "--dataset", "mnist", "--network", "mlp", "--hidden-dims", "256",
         "--latent-dim", "16", "--batch-size", "128", "--seed", "0", "--quiet"]


def _cli(*args):
    return [sys.executable, "-m", "zoo.cli", *args]


def _rows(run_dir):
    path = os.path.join(run_dir, "history.csv")
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return [r for r in csv.DictReader(f)]


def _start(args, log_path, env, started):
    log = open(log_path, "a")
    proc = subprocess.Popen(_cli(*args), stdout=log, stderr=subprocess.STDOUT, env=env,
                            cwd=os.path.dirname(common.HERE))
    log.close()
    started.append(proc)
    return proc


def _wait(proc, name, log_path, timeout=3600):
    if proc.wait(timeout=timeout) != 0:
        with open(log_path) as f:
            raise RuntimeError(f"{name} exited {proc.returncode}:\n{f.read()[-3000:]}")


def _evaluate(model_path, data_dir, env):
    out = subprocess.run(_cli("eval", model_path, "--dataset", "mnist", "--max-examples", "2000",
                              "-k", "100", "--data-dir", data_dir),
                         capture_output=True, text=True, env=env, timeout=3600,
                         cwd=os.path.dirname(common.HERE))
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--kill-epoch", type=int, default=3, help="1-based epoch to kill in")
    parser.add_argument("--data-dir", default=os.environ.get("VAEZOO_DATA_DIR"))
    args = parser.parse_args(argv)
    if not args.data_dir:
        parser.error("set VAEZOO_DATA_DIR or pass --data-dir (see ../shared/data/README.md)")
    # An epoch's length is timed between two epoch ends (the first also holds start-up
    # and tracing), so the kill lands in the third epoch at the earliest.
    if not 3 <= args.kill_epoch <= args.epochs:
        parser.error(f"--kill-epoch must be in 3..{args.epochs}. Received: {args.kill_epoch}")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "VAEZOO_DATA_DIR": args.data_dir}
    with tempfile.TemporaryDirectory(prefix="vaezoo-resume-") as work:
        # Children still running when something fails are killed before the folder goes.
        started = []
        try:
            runs = {name: os.path.join(work, name) for name in ("reference", "killed")}
            logs = {name: os.path.join(work, f"{name}.log") for name in runs}
            train = TRAIN + ["--epochs", str(args.epochs), "--data-dir", args.data_dir]

            start = time.monotonic()
            reference = _start(train + ["--output-dir", runs["reference"]], logs["reference"],
                               env, started)
            killed = _start(train + ["--output-dir", runs["killed"]], logs["killed"], env, started)
            # Epoch ends are seen as rows appearing in history.csv (CSVLogger writes one per epoch).
            seen = {}
            done_before = args.kill_epoch - 1
            while len(seen) < done_before:
                if killed.poll() is not None:
                    raise RuntimeError(f"the run to kill exited {killed.returncode} early")
                n = len(_rows(runs["killed"]))
                for epoch in range(n):
                    seen.setdefault(epoch, time.monotonic())
                time.sleep(0.05)
            epoch_seconds = seen[done_before - 1] - seen[done_before - 2]
            time.sleep(epoch_seconds / 2)
            if len(_rows(runs["killed"])) != done_before:
                raise RuntimeError("the kill would land after the epoch ended; the machine is too "
                                   "uneven for this protocol, run again")
            os.kill(killed.pid, signal.SIGKILL)
            killed.wait(timeout=60)
            lost_seconds = time.monotonic() - seen[done_before - 1]
            killed_at = time.monotonic() - start
            with open(os.path.join(runs["killed"], "training.json")) as f:
                epochs_on_disk = json.load(f)["epochs_completed"]
            model_written = os.path.exists(os.path.join(runs["killed"], "model.keras"))

            again = _start(train + ["--output-dir", runs["killed"]], logs["killed"], env, started)
            _wait(again, "resumed run", logs["killed"])
            killed_wall = time.monotonic() - start
            _wait(reference, "reference run", logs["reference"])

            rows = {name: _rows(path) for name, path in runs.items()}
            figures = {name: _evaluate(os.path.join(path, "model.keras"), args.data_dir, env)
                       for name, path in runs.items()}
            final = {name: float(r[-1]["loss"]) for name, r in rows.items()}
            payload = {
                "protocol": {"command": "vaezoo " + " ".join(train + ["--output-dir", "<run>"]),
                             "kill": f"SIGKILL in epoch {args.kill_epoch}, half an epoch after "
                                     f"epoch {done_before} ended; then the same command again"},
                "killed_at_seconds": round(killed_at, 1),
                "epochs_on_disk_at_kill": epochs_on_disk,
                "model_file_at_kill": model_written,
                "lost_seconds": round(lost_seconds, 1),
                "epoch_seconds": round(epoch_seconds, 1),
                "history_epochs": {name: [int(r["epoch"]) for r in rs] for name, rs in rows.items()},
                "final_train_loss": final,
                "final_loss_relative_difference": abs(final["killed"] - final["reference"]) / final["reference"],
                "test": {name: {k: f[k] for k in ("elbo", "nll", "num_examples", "num_samples")}
                         for name, f in figures.items()},
                "test_nll_difference": figures["killed"]["nll"] - figures["reference"]["nll"],
                "wall_seconds_killed_and_resumed": round(killed_wall, 1),
            }
            table = [
                ["reference (uninterrupted)", len(rows["reference"]), f"{final['reference']:.3f}",
                 f"{figures['reference']['elbo']:.2f}", f"{figures['reference']['nll']:.2f}", "-"],
                [f"killed in epoch {args.kill_epoch}, restarted", len(rows["killed"]),
                 f"{final['killed']:.3f}", f"{figures['killed']['elbo']:.2f}",
                 f"{figures['killed']['nll']:.2f}",
                 f"{lost_seconds:.1f} s ({lost_seconds / epoch_seconds:.2f} epoch)"],
            ]
            command = ("python benchmarks/experiments/resume.py "
                       + " ".join(argv if argv is not None else sys.argv[1:]))
            common.write_results("resume", payload, table,
                                 ["run", "epochs in history", "final train loss", "test ELBO (2,000)",
                                  "test NLL k=100 (2,000)", "work lost to the kill"], command,
                                 group="experiments")
        finally:
            for proc in started:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
