"""A static web page that samples the zoo's models in the browser, with LiteRT.js.

    npm ci --prefix export/web                       # LiteRT.js, once (pinned in package-lock.json)
    vaezoo web site --presets vae_mnist cvae_mnist   # the page, its runtime and the samplers
    python -m http.server -d site 8000               # any static file server

`write_site` exports each model's sampler to TFLite with a fixed batch (LiteRT.js has no
dynamic batch) and float inputs and outputs (it has no int8 tensors; int8 files quantize
inside), and writes them next to the page (`page/`), a `models.json` manifest and the
LiteRT.js modules and WebAssembly files. The page needs nothing else at run time.
"""

import json
import os
import shutil
import tempfile

PAGE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "page")
PAGE_FILES = ("index.html", "app.js", "style.css")
#: `npm ci --prefix` this folder installs LiteRT.js into its node_modules.
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
#: Where to look for LiteRT.js when `node_modules` is not given.
ENV_VAR = "VAEZOO_LITERT_JS"
#: The WebAssembly builds the page can load: `loadLiteRt` picks one by the browser's
#: features (relaxed SIMD or not); the threaded and JSPI builds need options it does not set.
WASM_BUILDS = ("litert_wasm_internal", "litert_wasm_compat_internal")
#: The presets `vaezoo web` writes when none are named.
DEFAULT_PRESETS = ("vae_mnist", "hvae_mnist", "flow_vae_mnist", "vaegan_mnist",
                   "vae_fashion_mnist")
#: Samples per call, the grid of the page (4 x 4).
DEFAULT_BATCH = 16
#: The built-in presets' int8 samplers with a fixed batch of `DEFAULT_BATCH`, shipped so a
#: site of presets needs no conversion (`build_preset_files` writes them).
PRESETS_DIR = os.path.join(PACKAGE_DIR, "presets")


def export_sampler(model_ref, path, quantization="int8", batch_size=DEFAULT_BATCH):
    """Exports the sampler of `model_ref` (a preset name, folder or `.keras` file) for the
    page: fixed batch, float inputs and outputs. A built-in preset's int8 file reuses the
    plan of its packaged edge sampler (`EdgeSampler.from_preset`): the same ops stay out
    of full int8, without searching again. Returns the loaded model."""
    import export
    import zoo
    from export.edge import EdgeSampler, list_presets

    model = zoo.load_model(model_ref)
    name = _model_name(model_ref)
    if len(model.data_shape) != 3:
        raise ValueError(f"The page draws images [height, width, channels]; {name} makes "
                         f"samples of shape {list(model.data_shape)}. Received: {model_ref!r}")
    plan = None
    if quantization == "int8" and str(model_ref) in list_presets():
        plan = [(p["scope"], p["mode"]) for p in
                EdgeSampler.from_preset(str(model_ref)).metadata.get("plan") or []]
    export.tflite(model, path, quantization=quantization, batch_size=batch_size, plan=plan)
    return model


def build_preset_files(names=None, out_dir=PRESETS_DIR):
    """Writes `out_dir/<name>.tflite` for built-in presets (default: all of them), as
    `write_site` uses them. Returns {name: path}."""
    import zoo

    names = list(names or zoo.list_presets())
    os.makedirs(out_dir, exist_ok=True)
    written = {}
    for name in names:
        path = os.path.join(out_dir, f"{name}.tflite")
        # export.tflite writes atomically, once the parity check passes: a failed export
        # keeps the old file.
        export_sampler(name, path)
        written[name] = path
    return written


def shipped_file(model_ref, quantization, batch_size):
    """The shipped page sampler of a built-in preset, or None (another model, another
    quantization or batch, or not shipped)."""
    path = os.path.join(PRESETS_DIR, f"{model_ref}.tflite")
    if quantization == "int8" and batch_size == DEFAULT_BATCH and isinstance(model_ref, str) \
            and os.sep not in model_ref and os.path.isfile(path):
        return path
    return None


def find_litert_js(node_modules=None):
    """The `node_modules` folder holding `@litertjs/core` and `@litertjs/wasm-utils`.

    Looks at `node_modules`, then `$VAEZOO_LITERT_JS`, then this package's own
    `node_modules` (after `npm ci --prefix export/web`).

    Raises:
      ValueError: none of them has LiteRT.js; the message says how to install it.
    """
    candidates = [node_modules] if node_modules else [os.environ.get(ENV_VAR),
                                                      os.path.join(PACKAGE_DIR, "node_modules")]
    for candidate in filter(None, candidates):
        if all(os.path.isfile(os.path.join(candidate, "@litertjs", package, "dist", "index.js"))
               for package in ("core", "wasm-utils")):
            return os.path.abspath(candidate)
    raise ValueError(
        "LiteRT.js not found: run `npm ci --prefix " + os.path.relpath(PACKAGE_DIR) + "` (it "
        f"pins @litertjs/core), or pass node_modules= / set ${ENV_VAR} to a node_modules "
        f"folder that has it. Received: node_modules={node_modules!r}")


def _copy_runtime(node_modules, site):
    """The LiteRT.js modules and WebAssembly builds the page imports, under site/litert/."""
    core = os.path.join(node_modules, "@litertjs", "core")
    for package, target in (("core", "core"), ("wasm-utils", "wasm-utils")):
        os.makedirs(os.path.join(site, "litert", target))
        shutil.copy2(os.path.join(node_modules, "@litertjs", package, "dist", "index.js"),
                     os.path.join(site, "litert", target, "index.js"))
    os.makedirs(os.path.join(site, "litert", "wasm"))
    for build in WASM_BUILDS:
        for ext in (".js", ".wasm"):
            shutil.copy2(os.path.join(core, "wasm", build + ext), os.path.join(site, "litert", "wasm"))
    with open(os.path.join(core, "package.json")) as f:
        return json.load(f)["version"]


def _model_name(model_ref):
    return os.path.splitext(os.path.basename(os.path.normpath(str(model_ref))))[0]


def write_site(out_dir, models=DEFAULT_PRESETS, quantization="int8", batch_size=DEFAULT_BATCH,
               node_modules=None, overwrite=False):
    """Writes the sampler page for `models` into `out_dir`, ready for a static file server.

    Args:
      out_dir: str. The site's folder; must not exist unless `overwrite`.
      models: list of built-in preset names, preset folders or `.keras` files (anything
        `zoo.load_model` takes), image models only. Defaults to `DEFAULT_PRESETS`.
      quantization: str. "float32", "float16", "dynamic" or "int8" (the default: the
        smallest files, within the int8 error budget of `export.quantize`).
      batch_size: int. Samples per call, fixed in the files. Defaults to 16 (a 4 x 4 grid).
      node_modules: str or None. Where LiteRT.js is installed; see `find_litert_js`.
      overwrite: bool. Replace an existing `out_dir`. Defaults to False.

    Returns:
      dict. The manifest written to `models.json`: `{"litert_js": version, "models":
        [{"name", "file", "family", "shipped", "noise_dim", "output_shape", "batch_size",
        "num_classes", "class_names", "quantization", "parity_mean_abs_error",
        "size_bytes"}, ...]}`.

    Raises:
      ValueError: no models, a model that does not make images, or LiteRT.js is missing.
      FileExistsError: `out_dir` exists and `overwrite` is False.
    """
    import export
    from export.edge import EdgeSampler

    if isinstance(models, (str, os.PathLike)):
        models = [models]
    models = list(models)
    if not models:
        raise ValueError(f"models must name at least one model. Received: models={models!r}")
    names = [_model_name(m) for m in models]
    if len(set(names)) != len(names):
        raise ValueError(f"models must have distinct names. Received: models={models!r}")
    if quantization not in export.QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {list(export.QUANTIZATIONS)}. "
                         f"Received: quantization={quantization!r}")
    out_dir = os.path.abspath(os.fspath(out_dir))
    if os.path.exists(out_dir) and not overwrite:
        raise FileExistsError(f"{out_dir} exists; pass overwrite=True (--overwrite) to replace it")
    node_modules = find_litert_js(node_modules)

    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    # Built beside the target and moved into place whole: an interrupted run leaves no
    # half-written site.
    staging = tempfile.mkdtemp(prefix=".vaezoo-web-", dir=parent)
    try:
        for name in PAGE_FILES:
            shutil.copy2(os.path.join(PAGE_DIR, name), os.path.join(staging, name))
        version = _copy_runtime(node_modules, staging)
        os.makedirs(os.path.join(staging, "models"))
        entries = []
        for ref, name in zip(models, names):
            path = os.path.join(staging, "models", f"{name}.tflite")
            shipped = shipped_file(ref, quantization, batch_size)
            if shipped:
                shutil.copy2(shipped, path)
            else:
                export_sampler(ref, path, quantization, batch_size)
            meta = EdgeSampler(path).metadata
            entries.append({
                "name": name, "file": f"models/{name}.tflite", "family": meta["model_class"],
                "shipped": bool(shipped),
                "noise_dim": meta["noise_dim"], "output_shape": meta["output_shape"],
                "batch_size": meta["batch_size"], "num_classes": meta.get("num_classes"),
                "class_names": meta.get("class_names"), "quantization": quantization,
                "parity_mean_abs_error": meta["parity"]["mean_abs_error"],
                "size_bytes": os.path.getsize(path)})
        manifest = {"litert_js": version, "models": entries}
        with open(os.path.join(staging, "models.json"), "w") as f:
            json.dump(manifest, f, indent=1)
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest
