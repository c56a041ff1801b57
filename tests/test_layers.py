"""The package's folders show the flow, and imports go one way: a module imports only from its own
layer or the layers below it (lazy imports inside functions included)."""

from __future__ import annotations

import ast
from pathlib import Path

import clusterqa

PACKAGE = Path(clusterqa.__file__).parent
# Bottom to top. The top-level modules named here are what every layer shares.
LAYERS = [
    {"errors", "models", "config", "lock", "cache_file", "result_json", ""},
    {"reading"},
    {"embedding"},
    {"index"},
    {"answering"},
    {"service"},
    {"evaluation"},
    {"cli", "__main__"},
]


def layer_of(module: str) -> int:
    """`clusterqa.index.catalog` -> the layer of `index`."""
    parts = module.split(".")
    head = parts[1] if len(parts) > 1 else ""
    for number, names in enumerate(LAYERS):
        if head in names:
            return number
    raise AssertionError(f"{module} is in no layer: add its folder or module to LAYERS")


def imports_of(path: Path) -> list[tuple[str, int]]:
    """Every clusterqa module `path` imports, resolved to its dotted name, with the line."""
    module = ".".join(("clusterqa", *path.relative_to(PACKAGE).with_suffix("").parts))
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            if not target.startswith("clusterqa"):
                continue
            if node.module is None:  # from . import name: the names may be modules
                found += [(f"{target}.{alias.name}", node.lineno) for alias in node.names]
            else:
                found.append((target, node.lineno))
        elif isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names if alias.name.startswith("clusterqa")]
    return found


def test_imports_point_down_the_layers():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(("clusterqa", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        for target, line in imports_of(path):
            if target == "clusterqa.__version__" or target == "clusterqa":
                continue
            if layer_of(target) > layer_of(module):
                upward.append(f"{path.relative_to(PACKAGE)}:{line} imports {target}")
    assert not upward, "imports that point up the layers:\n" + "\n".join(upward)


def test_every_module_is_in_a_layer():
    for path in PACKAGE.rglob("*.py"):
        layer_of(".".join(("clusterqa", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__"))
