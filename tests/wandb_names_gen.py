"""Write tests/data/wandb_names.txt: the public names of a pinned wandb.

The list tests/test_wandb_surface.py walks, so that every wandb name a script may reach
for either works in gitexp, warns once and does nothing, or is documented as not
applicable (docs/api.md#compatibility-with-wandb).  It is generated, not hand-written,
so a newer wandb is one command away::

    pip install wandb==0.31.0      # into a scratch environment: gitexp never depends on it
    python tests/wandb_names_gen.py

Names: the module's ``__all__``, the few module names wandb exports without listing them
there that issue 18 names (:data:`ALSO_MODULE`), and the public attributes of
``wandb.sdk.wandb_run.Run``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

PINNED = "0.31.0"
OUT = Path(__file__).resolve().parent / "data" / "wandb_names.txt"
# Reached for by wandb scripts and exported by wandb, though not in its __all__.
ALSO_MODULE = (
    "Artifact",
    "Settings",
    "alert",
    "login",
    "mark_preempting",
    "plot",
    "require",
    "run",
    "teardown",
)


def names() -> tuple[str, list[str]]:
    wandb = importlib.import_module("wandb")
    run_class = importlib.import_module("wandb.sdk.wandb_run").Run
    module = set(wandb.__all__) | {name for name in ALSO_MODULE if hasattr(wandb, name)}
    attributes = {name for name in dir(run_class) if not name.startswith("_")}
    lines = [f"wandb.{name}" for name in sorted(module)]
    lines += [f"run.{name}" for name in sorted(attributes)]
    return str(wandb.__version__), lines


def main() -> int:
    version, lines = names()
    if version != PINNED:
        print(f"wandb {version} is installed; the list is pinned to {PINNED}", file=sys.stderr)
        return 1
    header = (
        f"# wandb {version}: its __all__, module names scripts use beyond it, and the public "
        "attributes of wandb.sdk.wandb_run.Run (tests/wandb_names_gen.py writes this file)"
    )
    OUT.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} names to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
