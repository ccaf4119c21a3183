"""Concurrent sampling from the exported vae_mnist sampler: 8 threads x 1,000 calls.

Protocol. The built-in `vae_mnist` preset is exported to a SavedModel (loaded with
`tf.saved_model.load`, `serving_default` signature) and to a float32 `.tflite` read by
`EdgeSampler`. 1,000 noise vectors N(0, I) (seed 0), batch 1: call i samples from
noise[i]. The reference is the 1,000 calls made once, sequentially. Then, per round and
per target:
  - sequential: one thread makes the 8 x 1,000 calls (8 passes over the inputs);
  - threaded: 8 threads make 1,000 calls each, released together by a barrier; thread k
    starts at input k * 125, so different inputs are in flight at once (results crossing
    between threads would show as mismatches).
Every output is compared bitwise (np.array_equal) with the reference and every exception
is counted. The SavedModel signature is shared by the threads (TensorFlow functions may be
called concurrently); EdgeSampler follows its documented rule, one sampler per thread
(built before the clock starts). The two passes of a round run back to back and the
rounds alternate, so load from other processes on the machine hits both alike; calls/s
are total calls over total seconds of all rounds, and the ratio threaded / sequential
is also given per round (median). A last row, in a child process so that a crash cannot
lose the results, shares ONE EdgeSampler between the 8 threads, which the rule forbids,
to show what it would cost.

    python benchmarks/experiments/concurrency.py            # --rounds 3 --calls 1000 --threads 8

Writes benchmarks/results/experiments/concurrency.json and .md.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def hammer(make_call, noise, reference, threads):
    """`threads` threads each run every input once, from staggered offsets, at once.

    Returns (exceptions, mismatching calls, seconds from the barrier's release to the last
    thread's end). `make_call()` runs in each thread before the barrier, untimed.
    """
    calls = len(noise)
    barrier = threading.Barrier(threads + 1, timeout=600)
    errors, mismatches = [], [0] * threads

    def work(k):
        try:
            call = make_call()
        except Exception as err:  # noqa: BLE001 -- reported, and the barrier released
            errors.append(repr(err))
            barrier.abort()
            return
        try:
            barrier.wait()
            for j in range(calls):
                i = (j + k * calls // threads) % calls
                if not np.array_equal(call(noise[i]), reference[i]):
                    mismatches[k] += 1
        except Exception as err:  # noqa: BLE001 -- every failure is counted
            errors.append(repr(err))

    workers = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    start = time.perf_counter()
    for w in workers:
        w.join(timeout=3600)
    seconds = time.perf_counter() - start
    if any(w.is_alive() for w in workers):
        errors.append("a thread did not finish within an hour")
    return errors, sum(mismatches), seconds


def sequential(call, noise, reference, passes):
    """`passes` passes over the inputs in this thread: (exceptions, mismatches, seconds)."""
    errors, mismatches = [], 0
    start = time.perf_counter()
    for _ in range(passes):
        for i, eps in enumerate(noise):
            try:
                if not np.array_equal(call(eps), reference[i]):
                    mismatches += 1
            except Exception as err:  # noqa: BLE001
                errors.append(repr(err))
    return errors, mismatches, time.perf_counter() - start


def make_noise(calls, noise_dim, seed=0):
    return np.random.default_rng(seed).standard_normal((calls, 1, noise_dim)).astype(np.float32)


def shared_edge_child(path, calls, threads):
    """Child-process mode: ONE EdgeSampler used by every thread (what the rule forbids)."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))  # the repository: export
    from export.edge import EdgeSampler

    shared = EdgeSampler(path)
    noise = make_noise(calls, shared.noise_dim)
    reference = [shared.sample_from_noise(eps) for eps in noise]
    errors, mismatches, seconds = hammer(lambda: shared.sample_from_noise, noise, reference,
                                         threads)
    print(json.dumps({"errors": len(errors), "error_examples": sorted(set(errors))[:3],
                      "mismatches": mismatches, "seconds": seconds}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vae_mnist", help="preset name/dir")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--calls", type=int, default=1000, help="calls per thread")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shared-edge-child", metavar="TFLITE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.shared_edge_child:
        return shared_edge_child(args.shared_edge_child, args.calls, args.threads)
    command = ("python benchmarks/experiments/concurrency.py "
               + " ".join(argv if argv is not None else sys.argv[1:]))

    import common
    import tensorflow as tf

    import export
    import zoo
    from export.edge import EdgeSampler

    model = zoo.from_preset(args.model)
    noise = make_noise(args.calls, model.noise_dim)
    total = args.threads * args.calls
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        signature = tf.saved_model.load(export.saved_model(model, os.path.join(tmp, "served"))) \
            .signatures["serving_default"]
        path = export.tflite(model, os.path.join(tmp, "sampler.tflite"), quantization="float32")
        one_edge = EdgeSampler(path)
        targets = {
            "SavedModel serving_default (shared)": (
                lambda: (lambda eps: signature(noise=tf.constant(eps))["samples"].numpy())),
            "EdgeSampler float32 (one per thread)": (lambda: EdgeSampler(path).sample_from_noise),
        }
        sequential_calls = {"SavedModel serving_default (shared)":
                            lambda eps: signature(noise=tf.constant(eps))["samples"].numpy(),
                            "EdgeSampler float32 (one per thread)": one_edge.sample_from_noise}
        for name, call in sequential_calls.items():
            reference = [call(eps) for eps in noise]  # also warms up (tracing, allocation)
            measured = {"errors": [], "mismatches_threaded": 0, "mismatches_sequential": 0,
                        "threaded_seconds": [], "sequential_seconds": []}
            for r in range(args.rounds):
                e, m, s = sequential(call, noise, reference, args.threads)
                measured["errors"] += e
                measured["mismatches_sequential"] += m
                measured["sequential_seconds"].append(s)
                e, m, s = hammer(targets[name], noise, reference, args.threads)
                measured["errors"] += e
                measured["mismatches_threaded"] += m
                measured["threaded_seconds"].append(s)
                print(f"{name} round {r + 1}: sequential {total / measured['sequential_seconds'][-1]:.0f}"
                      f" calls/s, threaded {total / s:.0f} calls/s, errors {len(measured['errors'])},"
                      f" mismatches {measured['mismatches_threaded']}", flush=True)
            seq_rate = total * args.rounds / sum(measured["sequential_seconds"])
            thr_rate = total * args.rounds / sum(measured["threaded_seconds"])
            ratios = [a / b for a, b in zip(measured["sequential_seconds"], measured["threaded_seconds"])]
            results[name] = {
                "errors": len(measured["errors"]), "error_examples": sorted(set(measured["errors"]))[:3],
                "mismatches_threaded": measured["mismatches_threaded"],
                "mismatches_sequential": measured["mismatches_sequential"],
                "calls_threaded": total * args.rounds, "calls_sequential": total * args.rounds,
                "threaded_seconds": [round(s, 3) for s in measured["threaded_seconds"]],
                "sequential_seconds": [round(s, 3) for s in measured["sequential_seconds"]],
                "threaded_calls_per_second": thr_rate, "sequential_calls_per_second": seq_rate,
                "ratio": thr_rate / seq_rate, "ratio_per_round": [round(x, 3) for x in ratios],
            }
            rows.append([name, f"{args.threads} x {args.calls} x {args.rounds} rounds",
                         len(measured["errors"]),
                         "yes" if measured["mismatches_threaded"] == 0 else
                         f"**no** ({measured['mismatches_threaded']} differ)",
                         f"{sum(measured['threaded_seconds']):.1f}", f"{thr_rate:,.0f}",
                         f"{seq_rate:,.0f}",
                         f"{thr_rate / seq_rate:.2f} (median/round {statistics.median(ratios):.2f})"])

        child = subprocess.run([sys.executable, os.path.abspath(__file__), "--shared-edge-child", path,
                                "--calls", str(args.calls), "--threads", str(args.threads)],
                               capture_output=True, text=True, timeout=3600)
        if child.returncode == 0:
            shared = json.loads(child.stdout.strip().splitlines()[-1])
            equal = "yes" if shared["mismatches"] == 0 else f"**no** ({shared['mismatches']} differ)"
            rows.append(["EdgeSampler float32 ONE shared by all threads (breaks the rule)",
                         f"{args.threads} x {args.calls} x 1 round", shared["errors"], equal,
                         f"{shared['seconds']:.1f}", f"{total / shared['seconds']:,.0f}", "", ""])
        else:
            shared = {"crashed": True, "returncode": child.returncode, "stderr": child.stderr[-2000:]}
            rows.append(["EdgeSampler float32 ONE shared by all threads (breaks the rule)",
                         f"{args.threads} x {args.calls}", f"process died ({child.returncode})",
                         "", "", "", "", ""])
        results["EdgeSampler float32 ONE shared by all threads"] = shared

    header = ["target", "threads x calls", "errors", "threaded results equal sequential",
              "threaded s (total)", "threaded calls/s", "sequential calls/s",
              "threaded / sequential"]
    common.write_results("concurrency", {
        "model": args.model, "noise_dim": model.noise_dim, "batch": 1, "threads": args.threads,
        "calls_per_thread": args.calls, "rounds": args.rounds, "results": results,
        "tf_threads": {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                       "inter_op": tf.config.threading.get_inter_op_parallelism_threads()},
        "protocol": __doc__.split("Protocol. ", 1)[1].split("\n\n")[0].replace("\n", " "),
    }, rows, header, command, group="experiments")
    broken = [n for n in sequential_calls
              if results[n]["errors"] or results[n]["mismatches_threaded"]
              or results[n]["mismatches_sequential"]]
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
