"""The browser sampler page: time per sample in headless Chromium (LiteRT.js, WebAssembly on
one CPU thread) next to the Python edge sampler (LiteRT, one thread) on the same files,
and how far the page's canvas is from the Python sampler's 8-bit images.

For each model of the site (every built-in preset's shipped int8 page sampler, batch 16):
  - browser: `--repeats` presses of "sample" (new noise each time, the page's own timer
    around `model.run`), median ms per sample;
  - Python: `EdgeSampler.sample_from_noise` on the same batch of 16, same file, median of
    the same number of calls, in the same run (so the ratio holds on a noisy machine);
  - canvas error: mean |canvas - EdgeSampler(dtype="uint8")| / 255 on the last grid.
Also writes the page's screenshot to docs/images/web_sampler.png (--screenshot).

    npm ci --prefix export/web
    python benchmarks/speed/web_sampler.py

Writes benchmarks/results/speed/web_sampler.json and .md.
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common
import numpy as np

import zoo
from export import web
from export.edge import EdgeSampler
from export.web import browser


def python_ms_per_sample(path, noise, labels, repeats):
    sampler = EdgeSampler(path, num_threads=1)
    sampler.sample_from_noise(noise, labels=labels)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        sampler.sample_from_noise(noise, labels=labels)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times)) / len(noise)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=None, help="default: every built-in preset")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--screenshot", default=os.path.join(os.path.dirname(common.HERE), "docs",
                                                             "images", "web_sampler.png"))
    parser.add_argument("--screenshot-preset", default=None,
                        help="the model shown in the screenshot (default: the first conditional one)")
    args = parser.parse_args(argv)
    reason = browser.missing()
    if reason:
        raise SystemExit(f"cannot drive the page: {reason}")
    names = args.presets or zoo.list_presets()
    command = "python benchmarks/speed/web_sampler.py " + " ".join(argv if argv is not None else sys.argv[1:])
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        site = os.path.join(tmp, "site")
        manifest = web.write_site(site, names)
        with browser.headless_page(site, viewport={"width": 1100, "height": 1000}) as (page, errors):
            for entry in manifest["models"]:
                name = entry["name"]
                browser.select(page, name)
                seconds = []
                for i in range(args.repeats):
                    page.fill("#seed", str(100 + i))
                    page.click("#sample")
                    page.wait_for_function(f"window.vaezooPage.last.seed === {100 + i}")
                    seconds.append(page.evaluate("window.vaezooPage.last.seconds"))
                last = page.evaluate("window.vaezooPage.last")
                batch, dim = entry["batch_size"], entry["noise_dim"]
                noise = np.asarray(last["noise"], np.float32).reshape(batch, dim)
                labels = np.asarray(last["labels"]) if last["labels"] else None
                path = os.path.join(site, entry["file"])
                expected = EdgeSampler(path).sample_from_noise(noise, labels=labels, dtype="uint8")
                canvas_error = float(np.mean(np.abs(browser.grid_images(page).astype(np.float64)
                                                    - expected)) / 255.0)
                browser_ms = 1000 * float(np.median(seconds)) / batch
                python_ms = python_ms_per_sample(path, noise, labels, args.repeats)
                results[name] = {"file_kb": entry["size_bytes"] / 1024, "batch_size": batch,
                                 "browser_ms_per_sample": browser_ms,
                                 "python_ms_per_sample": python_ms,
                                 "browser_over_python": browser_ms / python_ms,
                                 "canvas_vs_python_mean_abs_error": canvas_error,
                                 "int8_vs_keras_mean_abs_error": entry["parity_mean_abs_error"]}
                rows.append([f"`{name}`", f"{entry['size_bytes'] / 1024:.0f}", f"{browser_ms:.2f}",
                             f"{python_ms:.2f}", f"{browser_ms / python_ms:.2f}",
                             f"{canvas_error:.4f}", f"{entry['parity_mean_abs_error']:.4f}"])
                print(name, results[name], flush=True)
            shown = args.screenshot_preset or next(
                (e["name"] for e in manifest["models"] if e["num_classes"]), manifest["models"][0]["name"])
            browser.select(page, shown)
            if args.screenshot:
                os.makedirs(os.path.dirname(os.path.abspath(args.screenshot)), exist_ok=True)
                page.screenshot(path=args.screenshot, full_page=True)
            if errors:
                raise RuntimeError(f"the page raised: {errors}")
        litert_js = manifest["litert_js"]
    common.write_results(
        "web_sampler", {"litert_js": litert_js, "repeats": args.repeats, "presets": results}, rows,
        ["preset", "file (KB, int8)", "browser ms/sample (WASM, 1 thread)",
         "Python LiteRT ms/sample (1 thread)", "browser / Python", "canvas vs Python (mean abs)",
         "int8 vs Keras (mean abs)"],
        command, group="speed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
