"""The sampler page in a headless browser: a local static server and Playwright driving the
system's Chromium (Debian's `chromium`), for the tests and the browser benchmark.

    with headless_page("site") as (page, errors):
        select(page, "vae_mnist")
        images = grid_images(page)        # what the canvas shows, uint8 [n, h, w, c]
"""

import contextlib
import functools
import http.server
import json
import shutil
import threading

import numpy as np

#: Flags Chromium needs in a container: no sandbox as root, no GPU, and no background
#: connections (a closed network refuses them, and every retry slows the page).
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run")


def find_chromium():
    """Path of the system's Chromium, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def missing():
    """Why the page cannot be driven here (a sentence naming what to install), or None."""
    from export import web

    if find_chromium() is None:
        return "Chromium is not installed (Debian: apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright)"
    try:
        web.find_litert_js()
    except ValueError as err:
        return str(err)
    return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # one line per file on stderr otherwise
        pass


@contextlib.contextmanager
def serve(directory):
    """Serves `directory` on 127.0.0.1 (a free port) for the `with` block; yields the URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def headless_page(directory, timeout_ms=120_000, viewport=None):
    """The page of the site in `directory`, loaded in headless Chromium, its first preset
    sampled. Yields `(page, errors)`: a Playwright page and the list the page's uncaught
    errors are appended to."""
    from playwright.sync_api import sync_playwright

    with serve(directory) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page(viewport=viewport)
            errors = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(url + "index.html")
            page.wait_for_function("window.vaezooPage && window.vaezooPage.last !== null",
                                   timeout=timeout_ms)
            yield page, errors
        finally:
            browser.close()


def select(page, name, timeout_ms=60_000):
    """Chooses model `name` and waits until its first grid is drawn."""
    page.select_option("#preset", name)
    page.wait_for_function(
        f"document.getElementById('status').textContent === {json.dumps(name + ' ready.')}",
        timeout=timeout_ms)


def grid_images(page):
    """The grid canvas as uint8 images `[batch, h, w, c]`, read row by row."""
    entry = page.evaluate("window.vaezooPage.entry")
    (h, w, c), count = entry["output_shape"], entry["batch_size"]
    width, height, data = page.evaluate(
        "() => { const c = document.getElementById('grid');"
        " return [c.width, c.height, Array.from(c.getContext('2d')"
        ".getImageData(0, 0, c.width, c.height).data)]; }")
    rgba = np.asarray(data, np.uint8).reshape(height, width, 4)
    columns = width // w
    images = np.stack([rgba[(n // columns) * h:(n // columns + 1) * h,
                            (n % columns) * w:(n % columns + 1) * w, :3] for n in range(count)])
    return images[..., :1] if c == 1 else images
