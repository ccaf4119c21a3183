"""List the built-in presets with their family and headline metrics."""

NAME = "presets"
HELP = "list the built-in pretrained presets"


def add_arguments(p):
    """No options."""


def run(args):
    import zoo

    names = zoo.list_presets()
    if not names:
        print("No built-in presets are shipped yet.")
    family_of = {f.model_class.__name__: f.name for f in zoo.families.all_families()}
    for name in names:
        meta = zoo.presets.load_metadata(name)
        metrics = meta.get("metrics", {})
        headline = ", ".join(f"{k} {v}" for k, v in metrics.items() if not isinstance(v, dict))
        family = family_of.get(meta.get("class_name"), "?")
        print(f"{name:28s} {family:10s} {headline}")
    return 0
