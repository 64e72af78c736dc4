"""Imports point one way (docs/ARCHITECTURE.md, "Which module may import which").

Every import of every module counts, the ones inside functions too: a lazy import is still a
dependency, only a later one.
"""
import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Layers from the bottom up; a module may import its own layer and the ones below, never above.
MODEL = ["autoencoder", "dynamics"]
FOUNDATION = ["worldmodel.action", "worldmodel.checkpoint", "worldmodel.world_checkpoint", "worldmodel.image",
              "worldmodel.metrics", "worldmodel.stability", "worldmodel.envs", "worldmodel.data"]
TRAINERS = ["worldmodel.train"]
WORLD = ["worldmodel.world", "worldmodel.evaluate", "worldmodel.eval_report", "worldmodel.bench",
         "worldmodel.curves", "worldmodel.pipeline"]
USERS = ["agents", "play"]
TOP = ["worldmodel.cli", "worldmodel"]           # the CLI, and the package's lazy `World` export
LAYERS = [MODEL, FOUNDATION, TRAINERS, WORLD, USERS, TOP]


def _layer(module: str) -> int | None:
    """The layer of a project module (the longest prefix decides), None for a library."""
    best, depth = None, -1
    for i, layer in enumerate(LAYERS):
        for prefix in layer:
            if (module == prefix or module.startswith(prefix + ".")) and prefix.count(".") > depth:
                best, depth = i, prefix.count(".")
    return best


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


# Names the `worldmodel` package re-exports, and the module each comes from.
ALIASES = {"worldmodel.World": "worldmodel.world", "worldmodel.Action": "worldmodel.action",
           "worldmodel.ActionError": "worldmodel.action", "worldmodel.KEYS": "worldmodel.action",
           "worldmodel.ACTION_DIM": "worldmodel.action"}


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(path: Path) -> set[str]:
    """Absolute names of the modules `path` imports (relative imports resolved; `from pkg import
    module` counts as that module, `from worldmodel import World` as worldmodel.world)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            mod = node.module
            if node.level:
                parts = package.split(".")
                mod = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            for a in node.names:
                full = f"{mod}.{a.name}"
                out.add(ALIASES.get(full) or (full if _is_module(full) else mod))
    return out


def _project_modules():
    for top in ("autoencoder", "dynamics", "worldmodel", "agents", "play"):
        yield from sorted((ROOT / top).rglob("*.py"))


def test_layers_cover_every_module():
    missing = [_module_name(p) for p in _project_modules() if _layer(_module_name(p)) is None]
    assert not missing, f"modules in no layer of tests/test_architecture.py: {missing}"


@pytest.mark.parametrize("path", list(_project_modules()), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down(path):
    here = _layer(_module_name(path))
    up = sorted(m for m in _imports(path) if _layer(m) is not None and _layer(m) > here)
    assert not up, f"{_module_name(path)} (layer {here}) imports from above it: {up}"


def test_model_code_imports_nothing_of_the_project():
    for path in _project_modules():
        if _layer(_module_name(path)) != 0:
            continue
        above = sorted(m for m in _imports(path) if m.split(".")[0] in ("worldmodel", "agents", "play", "checkpoints"))
        assert not above, f"{_module_name(path)} imports {above}"


def test_the_rule_catches_an_upward_import(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    bad = tmp_path / "dynamics" / "probe.py"
    bad.parent.mkdir()
    bad.write_text("def f():\n    from worldmodel.world import World\n")
    with pytest.raises(AssertionError, match="worldmodel.world"):
        test_imports_point_down(bad)
