"""The package's layering, checked on the source: families are reached only through the build
table, nothing asks which concrete model or head it holds, and nothing below the engine (nor
``predict``) imports it. Parsed with ``ast``; nothing is imported."""

import ast
from pathlib import Path

import pytest

import openhoi

PACKAGE = Path(openhoi.__file__).parent
SHARED_MODELS = {"detr", "clip", "convert"}
"""``openhoi.models`` sub-packages that are shared parts, not families."""
FAMILY_TOOLS = {"openhoi.models.build", "openhoi.cli.verb_repr"}
"""Allowed to import families: the build table, and HOICLIP's own data-preparation command
(``openhoi verb-repr`` computes the verb representations only that family reads)."""
FAMILIES = sorted(p.name for p in (PACKAGE / "models").iterdir()
                  if p.is_dir() and (p / "build.py").is_file() and p.name not in SHARED_MODELS)
CONCRETE = {"HOIDetector", "HOICLIPHead", "GenVLKTHead"}


def _module(path: Path) -> str:
    return ".".join(("openhoi", *path.relative_to(PACKAGE).with_suffix("").parts))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


MODULES = {_module(p): p for p in PACKAGE.rglob("*.py")}


def test_the_families_are_found():
    assert {"hoiclip", "gen_vlkt"} <= set(FAMILIES)


@pytest.mark.parametrize("family", FAMILIES)
def test_only_the_build_table_imports_a_family(family):
    prefix = f"openhoi.models.{family}"
    offenders = [name for name, path in MODULES.items()
                 if not name.startswith(prefix) and name not in FAMILY_TOOLS
                 and not name.startswith("openhoi.models.convert")
                 and any(i == prefix or i.startswith(prefix + ".") for i in _imports(path))]
    assert offenders == []


def test_no_isinstance_on_concrete_models_outside_the_model_packages():
    offenders = []
    for name, path in MODULES.items():
        if name.startswith("openhoi.models."):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance":
                names = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
                if names & CONCRETE:
                    offenders.append(f"{name}:{node.lineno}")
    assert offenders == []


def test_nothing_below_the_engine_imports_it():
    below = [n for n in MODULES if not n.startswith(("openhoi.engine", "openhoi.cli"))
             and n not in ("openhoi.demo", "openhoi.__main__")]
    offenders = [n for n in below
                 if any(i.startswith("openhoi.engine") for i in _imports(MODULES[n]))]
    assert "openhoi.predict" in below and "openhoi.models.build" in below
    assert offenders == []
