"""``${args}`` and friends: a run's overrides passed on to a program that reads its own arguments.

The names are wandb's sweep command macros, so that a wandb user's sweep command works as
is (docs/workflow.md#passing-config-to-a-program):

=====================  ============================================================
``${args}``            ``--lr=0.9 --model.depth=50`` (one argument each)
``${args_no_hyphens}`` ``lr=0.9 model.depth=50`` (Hydra's override syntax)
``${args_json}``       ``{"lr": 0.9, "model": {"depth": 50}}`` (one argument)
``${args_json_file}``  the path of a file holding that JSON
``${env}``             ``/usr/bin/env``
``${interpreter}``     the ``python`` on PATH
``${program}``         a sweep file's ``program``
``${KEY}``             the value of config key KEY (dotted for nested keys)
=====================  ============================================================

``$${`` stands for a literal ``${``.  An argument that is exactly ``${args}`` (or
``${args_no_hyphens}``) becomes one argument per key; inside a longer argument (``bash -c
"python t.py ${args}"``) the pieces are shell-quoted and joined by spaces.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Mapping

from gitexp.errors import UsageError
from gitexp.model.overrides import leaf_paths, missing, value_at
from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

NAMES = (
    "args",
    "args_no_hyphens",
    "args_json",
    "args_json_file",
    "env",
    "interpreter",
    "program",
)
_MACRO = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_WHOLE_CONFIG = frozenset({"args", "args_no_hyphens", "args_json", "args_json_file"})


def uses_macros(command: list[str]) -> bool:
    return any("${" in part for part in command)


def format_value(value: object) -> str:
    """A config value as a program's argument: YAML-flow spelling, which argparse's
    ``type=float``/``int`` and Hydra's override grammar both read back."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)  # 0.001, 1e-05, inf, nan: what float() and Hydra read back
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Expansion:
    """The command as it runs, the command as given when macros changed it (``template``,
    else None), and the config keys the macros put on its command line."""

    __slots__ = ("command", "passed", "template")

    def __init__(
        self, command: list[str], passed: frozenset[str], given: list[str] | None = None
    ) -> None:
        self.command = command
        self.passed = passed
        self.template = given if given is not None and given != command else None


def expand(
    command: list[str],
    config: Mapping[str, Any],
    program: str | None = None,
    json_file: Callable[[str], str] | None = None,
) -> Expansion:
    """Replace the macros in ``command`` by ``config``'s values (see the module's table).

    ``json_file(text)`` writes ``${args_json_file}``'s file and returns its path.
    Raises UsageError for an unknown macro, naming the known ones.
    """
    leaves = leaf_paths(config)
    passed: set[str] = set()
    out: list[str] = []
    for part in command:
        whole = _MACRO.fullmatch(part)
        if whole and whole.group(1) in ("args", "args_no_hyphens"):
            out.extend(_arg_list(whole.group(1), leaves))
            passed.update(leaves)
            continue
        pieces: list[str] = []
        end = 0
        for match in _MACRO.finditer(part):
            pieces.append(part[end : match.start()])
            end = match.end()
            name = match.group(1)
            if name is None:  # $${ : a literal ${
                pieces.append("${")
                continue
            pieces.append(_one(name, config, leaves, program, json_file, part))
            if name in _WHOLE_CONFIG:
                passed.update(leaves)
            elif name not in NAMES:
                passed.add(name)
        pieces.append(part[end:])
        out.append("".join(pieces))
    return Expansion(out, frozenset(passed), command)


def _arg_list(name: str, leaves: Mapping[str, Any]) -> list[str]:
    dashes = "--" if name == "args" else ""
    return [f"{dashes}{key}={format_value(value)}" for key, value in leaves.items()]


def _one(
    name: str,
    config: Mapping[str, Any],
    leaves: Mapping[str, Any],
    program: str | None,
    json_file: Callable[[str], str] | None,
    part: str,
) -> str:
    if name in ("args", "args_no_hyphens"):
        import shlex  # only for ${args} in a single string: a run without macros skips it

        return " ".join(shlex.quote(arg) for arg in _arg_list(name, leaves))
    if name == "args_json":
        return json.dumps(config, ensure_ascii=False)
    if name == "args_json_file":
        if json_file is None:
            raise UsageError("${args_json_file} is not available here")
        return json_file(json.dumps(config, ensure_ascii=False))
    if name == "env":
        return "/usr/bin/env"
    if name == "interpreter":
        import shutil  # off the run path: it imports bz2 and lzma

        return shutil.which("python") or shutil.which("python3") or sys.executable
    if name == "program":
        if program is None:
            raise UsageError(
                "${program} needs a program: it comes from a sweep file's 'program:' key",
                "Write the script's path instead, or add program: train.py to the sweep file.",
            )
        return program
    value = value_at(config, name)
    if missing(value):
        known = ", ".join(f"${{{n}}}" for n in NAMES)
        keys = ", ".join(sorted(leaves)) or "none"
        raise UsageError(
            f"unknown macro ${{{name}}} in the command argument {part!r}: it is neither a "
            f"macro ({known}) nor a config key (the config has: {keys})",
            f"Set it with -p {name}=VALUE, or write $${{{name}}} for a literal ${{{name}}}.",
        )
    return format_value(value)
