"""``gitexp shim``: make ``import wandb`` resolve to gitexp in one Python environment.

For code that cannot be edited (a library's ``WandbLogger``, ``report_to="wandb"``),
``install`` writes three things into the environment's site-packages folder:

* ``gitexp_wandb_shim.py``: the import hook (a copy of integrations/wandb_finder.py);
* ``gitexp_wandb_shim.pth``: one line that Python's ``site`` runs at start, installing it;
* ``wandb-<version>.dist-info``: package metadata, because libraries ask
  ``importlib.metadata`` whether wandb is installed and which version.  Its
  ``INSTALLER`` says ``gitexp-shim`` and its ``RECORD`` lists the three (and the
  hook's bytecode, compiled at install), so
  ``pip uninstall wandb`` removes the shim too.

The shim never shadows a real wandb: install refuses while one is installed (unless
forced), and the hook steps aside whenever one is importable.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.metadata
import os
import shutil
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

from gitexp.errors import UsageError
from gitexp.integrations.wandb_finder import is_package

# The wandb release whose surface the shim follows; "+gitexp" tells a reader it is the shim.
VERSION = "0.21.0+gitexp"
MODULE = "gitexp_wandb_shim.py"
PTH = "gitexp_wandb_shim.pth"
DIST_INFO = f"wandb-{VERSION}.dist-info"
INSTALLER = "gitexp-shim"
PTH_LINE = "import gitexp_wandb_shim; gitexp_wandb_shim.install()\n"


@dataclass
class ShimStatus:
    site: Path
    installed: bool
    files: list[Path] = field(default_factory=list)
    real_wandb: str | None = None  # where a real wandb package is, if one is


def site_dir(site: str | os.PathLike[str] | None = None) -> Path:
    """The folder to write to: ``site``, else this interpreter's site-packages."""
    if site is not None:
        return Path(site).resolve()
    return Path(sysconfig.get_paths()["purelib"])


def _shim_files(site: Path) -> list[Path]:
    return [site / MODULE, site / PTH, site / DIST_INFO]


def _bytecode(site: Path) -> Path:
    """The hook's compiled form: written at install, so no Python start compiles it."""
    import importlib.util

    return Path(importlib.util.cache_from_source(str(site / MODULE)))


def real_wandb(site: Path, explicit: bool = False) -> str | None:
    """Where a real wandb is installed (package or metadata), or None: in ``site`` when
    it was named (``--site``), else anywhere this Python imports from."""
    search = [str(site)] if explicit else [str(site), *sys.path]
    spec = importlib.machinery.PathFinder.find_spec("wandb", search)
    if is_package(spec) and spec is not None and spec.origin is not None:
        return str(Path(spec.origin).parent)
    for dist in importlib.metadata.distributions(name="wandb", path=search):
        if (dist.read_text("INSTALLER") or "").strip() != INSTALLER:
            return f"wandb {dist.version} (metadata at {dist.locate_file('')})"
    return None


def status(site: str | os.PathLike[str] | None = None) -> ShimStatus:
    where = site_dir(site)
    files = [path for path in _shim_files(where) if path.exists()]
    return ShimStatus(
        site=where,
        installed=len(files) == 3,
        files=files,
        real_wandb=real_wandb(where, explicit=site is not None),
    )


def install(site: str | os.PathLike[str] | None = None, force: bool = False) -> ShimStatus:
    """Write the shim into ``site`` (see the module's docstring); its status after."""
    where = site_dir(site)
    real = real_wandb(where, explicit=site is not None)
    if real is not None and not force:
        raise UsageError(
            f"the real wandb package is installed ({real}); the shim would not be used.\n"
            "  Uninstall it first (`pip uninstall wandb`), or pass --force to install the "
            "shim anyway (the real package still wins while it is importable)."
        )
    if not where.is_dir():
        raise UsageError(f"{where} is not a folder: pass an existing site-packages folder")
    import py_compile

    source = Path(__file__).with_name("wandb_finder.py")
    dist = where / DIST_INFO
    try:
        (where / MODULE).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
        (where / PTH).write_text(PTH_LINE, encoding="utf-8")
        dist.mkdir(exist_ok=True)
        (dist / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: wandb\n"
            f"Version: {VERSION}\n"
            "Summary: gitexp's drop-in for wandb (gitexp shim install); "
            "runs are recorded by gitexp\n",
            encoding="utf-8",
        )
        (dist / "INSTALLER").write_text(INSTALLER + "\n", encoding="utf-8")
        py_compile.compile(str(where / MODULE), cfile=str(_bytecode(where)), doraise=True)
        pyc = _bytecode(where).relative_to(where).as_posix()
        metadata = (f"{DIST_INFO}/{n}" for n in ("METADATA", "INSTALLER", "RECORD"))
        record = [MODULE, pyc, PTH, *metadata]
        (dist / "RECORD").write_text("".join(f"{name},,\n" for name in record), encoding="utf-8")
    except (OSError, py_compile.PyCompileError) as exc:
        raise UsageError(
            f"cannot write the shim into {where}: {getattr(exc, 'strerror', None) or exc}\n"
            "  Run `gitexp shim install` with the Python environment you train in, one "
            "you can write to (a virtual environment), or pass --site DIR."
        ) from exc
    return status(where)


def uninstall(site: str | os.PathLike[str] | None = None) -> list[Path]:
    """Remove the shim's files from ``site``; the paths removed (none if absent)."""
    where = site_dir(site)
    dist = where / DIST_INFO
    installer = dist / "INSTALLER"
    if installer.exists() and installer.read_text(encoding="utf-8").strip() != INSTALLER:
        raise UsageError(f"{dist} was not written by gitexp: left as it is")
    removed: list[Path] = []
    for path in [*_shim_files(where), _bytecode(where)]:
        try:
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
            else:
                continue
        except OSError as exc:
            raise UsageError(f"cannot remove {path}: {exc.strerror or exc}") from exc
        removed.append(path)
    with contextlib.suppress(OSError):  # __pycache__, when the hook's was all it held
        _bytecode(where).parent.rmdir()
    return removed
