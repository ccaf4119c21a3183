"""Write a static web page that samples models in the browser (LiteRT.js on WebAssembly):
the page, its runtime and each model's TFLite sampler with a fixed batch. Serve the folder
with any static file server, e.g. `python -m http.server -d DIR 8000`. Needs LiteRT.js
installed once with `npm ci --prefix export/web`.
"""

NAME = "web"
HELP = "write a browser sampler page for presets (LiteRT.js)"


def add_arguments(p):
    from export import QUANTIZATIONS
    from export import web

    p.add_argument("output_dir", help="the site's folder (must not exist, unless --overwrite)")
    p.add_argument("--presets", "--models", dest="models", nargs="+", default=list(web.DEFAULT_PRESETS),
                   help="built-in preset names, preset folders or .keras files of image models "
                        f"(default: {' '.join(web.DEFAULT_PRESETS)})")
    p.add_argument("--quantization", default="int8", choices=QUANTIZATIONS,
                   help="the samplers' quantization (default: int8)")
    p.add_argument("--batch-size", type=int, default=web.DEFAULT_BATCH,
                   help=f"samples per call, fixed in the files (default: {web.DEFAULT_BATCH}, a 4 x 4 grid)")
    p.add_argument("--node-modules", default=None,
                   help="a node_modules folder with @litertjs/core (default: $VAEZOO_LITERT_JS, "
                        "then export/web/node_modules)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output_dir")


def run(args):
    from export import web

    manifest = web.write_site(args.output_dir, args.models, quantization=args.quantization,
                              batch_size=args.batch_size, node_modules=args.node_modules,
                              overwrite=args.overwrite)
    for entry in manifest["models"]:
        print(f"{entry['name']}: {entry['size_bytes'] / 1024:.0f} KB {entry['quantization']}, "
              f"mean error against Keras {entry['parity_mean_abs_error']:.4f}")
    print(f"Page written to {args.output_dir} (LiteRT.js {manifest['litert_js']}). Serve it with: "
          f"python -m http.server -d {args.output_dir} 8000")
    return 0
