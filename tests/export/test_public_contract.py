"""Export knows models only through their public API: the sampler contract and public methods.

A change inside a model family must never break export silently, so export may not touch
a private attribute of anything but its own objects. The check reads export/'s source:
every `<expr>._name` must have a receiver known not to be a model.
"""

import ast
import os

import export

EXPORT_DIR = os.path.dirname(export.__file__)
# Receivers whose private attributes export may use: its own classes' `self`, and the
# TFLite converter's switch for per-tensor dense quantization (a TensorFlow object).
ALLOWED_RECEIVERS = {"self", "converter"}


def private_accesses(source):
    """`(line, receiver, attribute)` of every `<receiver>._attribute` in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                and not (node.attr.startswith("__") and node.attr.endswith("__"))):
            found.append((node.lineno, node.col_offset, ast.unparse(node.value), node.attr))
    return [(line, receiver, attr) for line, _, receiver, attr in sorted(found)]


def test_the_check_sees_private_access_through_any_name():
    source = "def f(model, m):\n    a = model._decode(z)\n    b = m.sampler_spec()._x\n    self._ok = 1\n"
    assert [(r, a) for _, r, a in private_accesses(source)] == [
        ("model", "_decode"), ("m.sampler_spec()", "_x"), ("self", "_ok")]


def test_export_touches_no_private_attribute_of_a_model():
    violations = []
    for name in sorted(os.listdir(EXPORT_DIR)):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(EXPORT_DIR, name), encoding="utf-8") as f:
            source = f.read()
        violations += [f"export/{name}:{line}: {receiver}.{attr}"
                       for line, receiver, attr in private_accesses(source)
                       if receiver not in ALLOWED_RECEIVERS]
    assert not violations, "export must use the model's public API:\n" + "\n".join(violations)


def test_no_class_in_export_is_a_model():
    # `self` is allowed above because export's own classes are not models.
    import zoo

    for name in sorted(os.listdir(EXPORT_DIR)):
        if name.endswith(".py"):
            module = __import__(f"export.{name[:-3]}", fromlist=["_"])
            for obj in vars(module).values():
                if isinstance(obj, type) and obj.__module__ == module.__name__:
                    assert not issubclass(obj, zoo.LatentVariableModel), obj
