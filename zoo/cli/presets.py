"""`vaezoo presets`: list the built-in pretrained presets."""

def add_parser(sub):
    p = sub.add_parser("presets", help="list the built-in pretrained presets",
                   description="List the built-in presets with their headline metric.")
    p.set_defaults(run=run)
    return p


def run(args):
    import zoo

    names = zoo.list_presets()
    if not names:
        print("No built-in presets are shipped yet.")
    for name in names:
        meta = zoo.presets.load_metadata(name)
        metrics = meta.get("metrics", {})
        headline = ", ".join(f"{k} {v}" for k, v in metrics.items() if not isinstance(v, dict))
        print(f"{name:28s} {meta.get('class_name', '?'):14s} {headline}")
    return 0
