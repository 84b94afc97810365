"""``config.yaml`` for plain configs, written without importing PyYAML.

Importing PyYAML costs ~10 ms, a twentieth of a whole ``gitexp run -- true``, and most
configs are a few nested keys with numbers, flags and simple words.  For exactly those,
this module writes the text :func:`gitexp.model.configfile.dump_yaml` would write (the
tests compare the two on generated configs); for anything else it answers None and the
caller uses PyYAML.  Strings are written plain only when no YAML 1.1 or 1.2 reader could
take them for anything but a string.  :func:`load_plain` reads such text back, and only
text that :func:`dump_plain` would write exactly (anything else: None, read by PyYAML).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

# Starts with a letter or '_', then letters, digits and _ . / -: never a YAML indicator,
# number, date or special float, and nothing the emitter would quote.
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*\Z")
# Words a YAML 1.1 or 1.2 reader resolves to a bool or null (compared lower-cased; a
# generous list: a word on it only means PyYAML writes that config).
_RESERVED = frozenset(
    ["y", "n", "yes", "no", "on", "off", "true", "false", "null", "none", "nil", "nan", "inf"]
)


def dump_plain(cfg: Mapping[str, object]) -> str | None:
    """Block-style YAML for ``cfg``, or None when it holds anything this module leaves to PyYAML."""
    if not cfg:
        return "{}\n"
    lines: list[str] = []
    if not _emit(cfg, "", lines):
        return None
    return "\n".join(lines) + "\n"


def _emit(mapping: Mapping[str, object], indent: str, lines: list[str]) -> bool:
    for key, value in mapping.items():
        if type(key) is not str or not _plain_word(key):
            return False
        if type(value) is dict:
            if not value:
                lines.append(f"{indent}{key}: {{}}")
                continue
            lines.append(f"{indent}{key}:")
            if not _emit(value, indent + "  ", lines):
                return False
            continue
        text = _scalar(value)
        if text is None:
            return False
        lines.append(f"{indent}{key}: {text}")
    return True


def _plain_word(text: str) -> bool:
    return bool(_PLAIN.match(text)) and text.lower() not in _RESERVED


def _scalar(value: object) -> str | None:
    kind = type(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if type(value) is float:
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value).lower()
        if "." not in text and "e" in text:
            text = text.replace("e", ".0e", 1)  # 1e-05 -> 1.0e-05: a float to YAML 1.1 too
        return text
    if type(value) is str and _plain_word(value):
        return str(value)
    return None


_INT = re.compile(r"-?[0-9]+\Z")
_FLOAT = re.compile(r"-?[0-9]+\.[0-9]*(?:e[-+][0-9]+)?\Z")
_WORDS: dict[str, object] = {
    "null": None,
    "true": True,
    "false": False,
    ".nan": math.nan,
    ".inf": math.inf,
    "-.inf": -math.inf,
    "{}": {},
}


def load_plain(text: str) -> dict[str, object] | None:
    """The config :func:`dump_plain` wrote as ``text``; None for any other text."""
    if text == "{}\n":
        return {}
    root: dict[str, object] = {}
    stack: list[tuple[int, dict[str, object]]] = [(0, root)]
    for line in text.split("\n")[:-1]:
        body = line.lstrip(" ")
        depth = len(line) - len(body)
        while stack and stack[-1][0] > depth:
            stack.pop()
        if not stack or stack[-1][0] != depth:
            return None
        key, colon, rest = body.partition(":")
        if not colon:
            return None
        if rest == "":
            child: dict[str, object] = {}
            stack[-1][1][key] = child
            stack.append((depth + 2, child))
            continue
        if rest[:1] != " ":
            return None
        stack[-1][1][key] = _parse_scalar(rest[1:])
    try:
        same = dump_plain(root) == text  # the exact inverse, or PyYAML decides
    except RecursionError:
        return None
    return root if same else None


def _parse_scalar(text: str) -> object:
    if text in _WORDS:
        value = _WORDS[text]
        return {} if value == {} else value
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text
