"""Every module of the project imports on its own, first, in a fresh interpreter: no
import cycle that only works in the order the CLI happens to import things."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("cotmill", "datagen", "verifiers", "mixtures", "train")
# files loaded by path, not imported as modules of the package
BY_PATH = {"verifiers.sandbox_worker"}  # sandbox_cmd.BOOT loads it beside sandbox_harness, in the sandbox

# One interpreter for all modules (a fresh one per module would cost minutes in torch
# imports): before each module every project module is dropped from sys.modules, so the
# module is imported first, as `python -c "import cotmill.cmd_mix"` would; third-party
# libraries stay loaded, which changes nothing about the project's own import order.
PROBE = """
import importlib, json, sys, traceback
names, project, failures = json.loads(sys.argv[1]), tuple(json.loads(sys.argv[2])), {}
for name in names:
    for loaded in [m for m in sys.modules if m.split(".")[0] in project]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failures[name] = traceback.format_exc(limit=3)[-600:]
print(json.dumps(failures))
"""


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            if parts[-1] == "__main__":
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            if name not in BY_PATH:
                names.append(name)
    return names


def test_every_module_imports_first():
    names = _modules()
    assert "cotmill.cmd_mix" in names and len(names) > 50
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(names), json.dumps(PACKAGES)],
        capture_output=True, text=True, cwd=REPO, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    failures = json.loads(result.stdout.strip().splitlines()[-1])
    assert not failures, "\n\n".join(f"{name}:\n{tb}" for name, tb in failures.items())


# The house rule (DESIGN.md): verifiers <- datagen <- mixtures; train uses verifiers and the
# store (datagen); cotmill, the front door, may use them all. Imports written anywhere in a
# module count, lazy ones inside functions too, and so do module names in strings (a
# registry's built-ins): `hf:` is cotmill's own entry point, not a name datagen keeps.
MAY_USE = {
    "verifiers": set(),
    "datagen": {"verifiers"},
    "mixtures": {"verifiers", "datagen"},
    "train": {"verifiers", "datagen"},
    "cotmill": set(PACKAGES) - {"cotmill"},
}


def _imported(path: Path, module_strings: bool = False) -> set[str]:
    """Top-level names of the modules `path` imports, anywhere in it; with module_strings,
    also the project's packages named by a module path in a string."""
    import ast

    used = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            used |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            used.add(node.module.split(".")[0])
        elif module_strings and isinstance(node, ast.Constant) and isinstance(node.value, str):
            # a string naming one of the project's modules ("train.hf_teacher"), not a file
            # name such as "cotmill.duckdb"
            parts = node.value.split(".")
            if parts[0] in PACKAGES and len(parts) > 1 and all(p.isidentifier() for p in parts):
                where = REPO.joinpath(*parts)
                if where.with_suffix(".py").is_file() or (where / "__init__.py").is_file():
                    used.add(parts[0])
    return used


def test_dependencies_point_one_way():
    wrong = {}
    for package, allowed in MAY_USE.items():
        for path in sorted((REPO / package).rglob("*.py")):
            extra = (_imported(path, module_strings=True) & set(PACKAGES)) - allowed - {package}
            if extra:
                wrong[str(path.relative_to(REPO))] = sorted(extra)
    assert not wrong, f"imports against the dependency order: {wrong}"


# imported where present, never required (the README says when each is used)
OPTIONAL = {"vllm", "bitsandbytes"}
# distribution name -> the module it installs, where they differ
MODULE_OF = {"pyyaml": "yaml"}


def _third_party(path: Path) -> set[str]:
    local = {p.stem for p in path.parent.glob("*.py")}  # files loaded beside it (the sandbox's)
    return _imported(path) - set(sys.stdlib_module_names) - set(PACKAGES) - local


def test_every_import_is_declared():
    import re

    import pytest

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [
        r for extra in project["optional-dependencies"].values() for r in extra
    ]
    declared = set()
    for requirement in requirements:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group().lower()
        declared.add(MODULE_OF.get(name, name.replace("-", "_")))
    undeclared = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            missing = _third_party(path) - declared - OPTIONAL
            if missing:
                undeclared[str(path.relative_to(REPO))] = sorted(missing)
    assert not undeclared, f"imported but not in pyproject.toml: {undeclared}"
