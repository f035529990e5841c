"""The package's layers import downward only (docs/design.md): a module of one layer imports the
interfaces, its own layer and the layers below it, never one above."""

import ast
import os
import subprocess
import sys

import callcenter

PACKAGE = os.path.dirname(os.path.abspath(callcenter.__file__))
# Bottom to top; interfaces.py declares the seams every layer may use.
LAYERS = ["interfaces", "core", "store", "net", "cli", "web", "sim", "wiring"]


def layer_of(module):
    """The layer of a dotted ``callcenter.x...`` name, or None for the package itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def imports_of(path):
    tree = ast.parse(open(path, encoding="utf-8").read())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("callcenter"):
            if node.module == "callcenter":
                for alias in node.names:
                    yield "callcenter." + alias.name
            else:
                yield node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("callcenter"):
                    yield alias.name


def upward_imports():
    found = set()
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if not name.endswith(".py"):
                continue
            relative = os.path.relpath(os.path.join(folder, name), PACKAGE)
            own = relative.split(os.sep)[0] if os.sep in relative else relative[:-3]
            if own not in LAYERS:
                continue
            for module in imports_of(os.path.join(folder, name)):
                target = layer_of(module)
                if target is not None and LAYERS.index(target) > LAYERS.index(own):
                    found.add((relative.replace(os.sep, "/"), module))
    return found


def test_every_module_belongs_to_a_layer_folder():
    loose = [
        name for name in os.listdir(PACKAGE) if name.endswith(".py") and name not in ("__init__.py", "interfaces.py")
    ]
    assert loose == []
    folders = sorted(name for name in os.listdir(PACKAGE) if os.path.isfile(os.path.join(PACKAGE, name, "__init__.py")))
    assert folders == sorted(LAYERS[1:])


def test_imports_run_downward_only():
    assert upward_imports() == set()


def test_every_module_names_its_layer():
    unnamed = []
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            path = os.path.join(folder, name)
            if name.endswith(".py") and "Layer" not in (ast.get_docstring(ast.parse(open(path).read())) or ""):
                unnamed.append(os.path.relpath(path, PACKAGE))
    assert unnamed == []


def test_the_options_load_neither_the_protocols_nor_the_web():
    # Every `callcenter` start parses options; it loads the layers it runs, not those it names.
    script = (
        "import sys; from callcenter.wiring import options; "
        "print(sorted(m for m in sys.modules if m.startswith(('twisted.web', 'callcenter.net.protocol', "
        "'callcenter.web.'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", script], stdout=subprocess.PIPE, check=True).stdout
    assert loaded.decode().strip() == "[]"
