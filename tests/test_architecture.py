"""The house rules of docs/architecture.md, checked on the code itself.

Imports are read with ``ast`` (every import, also those inside functions), so a lazy
import breaks a rule as surely as a top-level one.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gitexp"

# The layers, top down: a module may import its own layer's neighbours and anything below.
MIDDLE = (
    "sdk", "read", "record", "reproduce", "share", "artifacts", "render", "sweep", "media",
)  # fmt: skip
MIDDLE += ("importers",)
FOUNDATION = ("errors", "slotted", "typecheck")
# What commands share (opening the repository, tables, progress bars, completion, the
# guide): beside cli.py, above the stages.
CLI_HELPERS = (
    "cli_support",
    "cli_progress",
    "cli_completion",
    "guide",
)  # imported from every layer, importing nothing of gitexp
MAX_LINES = 500
MAX_MODULES_PER_FOLDER = 16


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


def _imports(path: Path) -> Iterator[tuple[str, list[str]]]:
    """(module imported, names taken from it) for every import in ``path``."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [alias.name for alias in node.names]
            yield node.module, names
            for name in names:  # `from gitexp.read import diff` imports gitexp.read.diff
                yield f"{node.module}.{name}", []


def _stage(module: str) -> str:
    """The package (stage) a gitexp module belongs to: ``gitexp.read.diff`` -> ``read``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _gitexp_imports(path: Path) -> set[str]:
    return {m for m, _ in _imports(path) if m == "gitexp" or m.startswith("gitexp.")}


MODULES = list(_modules())


@pytest.mark.parametrize("name,path", MODULES, ids=[name for name, _ in MODULES])
def test_imports_point_down_the_layers(name: str, path: Path) -> None:
    stage = _stage(name)
    imported = {_stage(m) for m in _gitexp_imports(path)} - {stage, ""}
    imported -= {"_version", "_scm_version"}
    if stage == "git":
        allowed: set[str] = set(FOUNDATION)
    elif stage == "model":
        allowed = {"git", *FOUNDATION}
    elif stage in MIDDLE:
        allowed = {*MIDDLE, "model", "git", *FOUNDATION}
    elif stage == "commands":
        allowed = {*MIDDLE, "model", "git", *CLI_HELPERS, *FOUNDATION}
        if name == "gitexp.commands.shim":
            allowed.add("integrations")  # installs integrations/wandb_finder.py's hook
        if name == "gitexp.commands.completion":
            allowed.add("cli")  # it describes the whole command line: it reads the parser
    elif stage in CLI_HELPERS:
        allowed = {*MIDDLE, "model", "git", *FOUNDATION}
    elif stage in ("cli", "__main__"):
        allowed = {"cli", "commands", *CLI_HELPERS, *FOUNDATION}
    elif stage == "integrations":
        allowed = {"sdk", "model", "media", *FOUNDATION}  # media: charts they log (sklearn)
    else:  # gitexp/__init__, demo, the foundation modules themselves
        allowed = {"sdk", "model", *FOUNDATION} if name in ("gitexp", "gitexp.demo") else set()
        if name == "gitexp.slotted":
            allowed.add("typecheck")  # run path: TYPE_CHECKING without importing typing
        if name == "gitexp":
            allowed.add("media")  # gitexp.Image, Table, plot...: imported on first use
    assert imported <= allowed, f"{name} imports {sorted(imported - allowed)}"


@pytest.mark.parametrize("name,path", MODULES, ids=[name for name, _ in MODULES])
def test_nothing_imports_a_command_but_the_cli(name: str, path: Path) -> None:
    if name in ("gitexp.cli", "gitexp.__main__"):
        return
    commands = {m for m in _gitexp_imports(path) if _stage(m) == "commands"}
    assert not commands, f"{name} imports {sorted(commands)}: commands are leaves"


@pytest.mark.parametrize("name,path", MODULES, ids=[name for name, _ in MODULES])
def test_one_package_owns_git_and_one_module_owns_dvc(name: str, path: Path) -> None:
    outside = {m.split(".")[0] for m, _ in _imports(path)}
    if _stage(name) != "git":
        assert "dulwich" not in outside, f"{name} imports dulwich: only gitexp/git/ may"
    if name != "gitexp.artifacts.dvc":
        dvc = outside & {"dvc", "dvc_data", "dvc_objects"}
        assert not dvc, f"{name} imports {sorted(dvc)}: only gitexp/artifacts/dvc.py may"
    # _version asks git about gitexp's own source checkout (--version), never a user's.
    if _stage(name) != "git" and name != "gitexp._version":
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.List, ast.Tuple)) and node.elts:
                first = node.elts[0]
                runs_git = isinstance(first, ast.Constant) and first.value == "git"
                assert not runs_git, f"{name}:{node.lineno} runs git: use gitexp.git.binary"


@pytest.mark.parametrize("name,path", MODULES, ids=[name for name, _ in MODULES])
def test_no_private_name_is_borrowed_from_another_module(name: str, path: Path) -> None:
    for module, names in _imports(path):
        if not module.startswith("gitexp"):
            continue
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        assert not private, f"{name} imports {private} from {module}: make them public"


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    """Ids of the nodes inside ``if TYPE_CHECKING:`` blocks (never run)."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        test = node.test if isinstance(node, ast.If) else None
        if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
            inside.update(id(sub) for stmt in node.body for sub in ast.walk(stmt))
    return inside


@pytest.mark.parametrize("name,path", MODULES, ids=[name for name, _ in MODULES])
def test_typed_shapes_cost_nothing_at_run_time(name: str, path: Path) -> None:
    """A TypedDict class costs ~0.2 ms to create and the run path reads most shapes, so
    they live under TYPE_CHECKING, and so does every import of model/shapes.py."""
    if name == "gitexp.model.shapes":
        return  # the shapes themselves: never imported at run time (checked below)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    guarded = _type_checking_nodes(tree)
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        if isinstance(node, ast.ClassDef):
            bases = {getattr(base, "id", getattr(base, "attr", "")) for base in node.bases}
            assert "TypedDict" not in bases, (
                f"{name}:{node.lineno} defines {node.name} at run time: "
                "put it under `if TYPE_CHECKING:`"
            )
        if isinstance(node, ast.ImportFrom):
            modules = {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
            assert "gitexp.model.shapes" not in modules, (
                f"{name}:{node.lineno} imports gitexp.model.shapes at run time: "
                "import it under `if TYPE_CHECKING:`"
            )


def test_modules_stay_small_and_folders_hold_one_idea_each() -> None:
    too_long = {
        name: lines
        for name, path in MODULES
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not too_long, f"over {MAX_LINES} lines: {too_long}"
    for folder in PACKAGE.iterdir():
        if not folder.is_dir() or folder.name in ("commands", "__pycache__"):
            continue
        count = len([p for p in folder.glob("*.py") if p.name != "__init__.py"])
        assert count <= MAX_MODULES_PER_FOLDER, f"gitexp/{folder.name} holds {count} modules"
