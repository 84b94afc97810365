"""Whether gitattributes can make git store a file other than as it is read.

Most ML repositories carry a ``.gitattributes`` (git-lfs patterns, ``linguist-*`` hints
for GitHub), and nearly none of its lines change what ``git add`` stores: only ``text``,
``eol`` and ``crlf`` (line endings), ``filter``, ``ident`` and
``working-tree-encoding`` do.  Sending every snapshot through dulwich's blob normalizer
whenever the file exists cost a run ~70 ms (importing dulwich and building the
normalizer; issue 22), so the attribute files are read here first, as text, and the
exact path is taken only where it can matter:

* ``NONE``: no attribute that changes content is named anywhere, ``core.autocrlf`` is
  off: every file is stored as read;
* ``LINE_ENDINGS``: only line-ending attributes (or ``core.autocrlf``): git's check-in
  conversion only turns CRLF into LF, so a file without a CR byte is stored as read,
  and only a file with one takes the exact path;
* ``EXACT``: a filter, ``ident`` or ``working-tree-encoding`` applies: the file takes the
  exact path (dulwich's normalizer with the repository's filters, as before).

Decided per path, from the lines whose pattern can match it (``*.pt filter=lfs`` sends
only ``.pt`` files down the exact path).  Read conservatively: an attribute counts
whether set or unset, a macro (``[attr]name ...``) by what it names, and where a file
cannot be read every path is ``EXACT``.
"""

from __future__ import annotations

import fnmatch
import os

NONE = "none"
LINE_ENDINGS = "line endings"
EXACT = "exact"

_LINE_ENDING_ATTRIBUTES = frozenset({"text", "eol", "crlf"})
_CONTENT_ATTRIBUTES = frozenset({"filter", "ident", "working-tree-encoding"})
_OFF = ("false", "0", "no", "off", "")


def attribute_lines(text: str) -> list[tuple[str, set[str]]]:
    """Each line of a gitattributes file as (pattern, the attribute names it names: set,
    unset, unspecified or valued); a macro definition ``[attr]NAME ...`` as
    (``[attr]NAME``, what it names)."""
    lines: list[tuple[str, set[str]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith('"'):  # a quoted pattern, which may hold spaces
            end = line.find('"', 1)
            while end > 0 and line[end - 1] == "\\":
                end = line.find('"', end + 1)
            pattern, rest = line[1:end] if end > 0 else line[1:], line[end + 1 :] if end > 0 else ""
        else:
            pattern, _, rest = line.replace("\t", " ").partition(" ")
        names = {token.lstrip("-!").partition("=")[0] for token in rest.split()} - {""}
        lines.append((pattern, names))
    return lines


class Conversions:
    """Which paths git's check-in conversion can change: ``for_path`` answers ``NONE``,
    ``LINE_ENDINGS`` or ``EXACT`` (module docstring) from the lines whose pattern can
    match the path.  Patterns are matched generously (``*`` across folders; ``**``, a
    character class or an escape matches every path): a path wrongly sent down the
    exact path is stored right, only slower."""

    def __init__(self, files: list[tuple[str, str]], autocrlf: str | None) -> None:
        self.default = NONE if (autocrlf or "false").lower() in _OFF else LINE_ENDINGS
        self.rules: list[tuple[str, str, str]] = []  # (folder, pattern, level)
        self.unreadable = False
        macros: dict[str, set[str]] = {}
        for path, folder in files:
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    lines = attribute_lines(handle.read())
            except FileNotFoundError:
                continue
            except OSError:
                self.unreadable = True
                continue
            for pattern, names in lines:
                if pattern.startswith("[attr]"):
                    macros[pattern[len("[attr]") :]] = names
                    continue
                for name in list(names):
                    names |= macros.get(name, set())
                if names & _CONTENT_ATTRIBUTES:
                    self.rules.append((folder, pattern, EXACT))
                elif names & _LINE_ENDING_ATTRIBUTES:
                    self.rules.append((folder, pattern, LINE_ENDINGS))

    @property
    def level(self) -> str:
        """The most any path can need."""
        if self.unreadable or any(level == EXACT for *_rest, level in self.rules):
            return EXACT
        return LINE_ENDINGS if self.rules else self.default

    def for_path(self, path: str) -> str:
        if self.unreadable:
            return EXACT
        level = self.default
        for folder, pattern, rule_level in self.rules:
            if rule_level != level and _matches(pattern, folder, path):
                if rule_level == EXACT:
                    return EXACT
                level = LINE_ENDINGS
        return level


def _matches(pattern: str, folder: str, path: str) -> bool:
    if folder:
        if not path.startswith(folder + "/"):
            return False
        path = path[len(folder) + 1 :]
    if "**" in pattern or "[" in pattern or "\\" in pattern:
        return True
    anchored = "/" in pattern.rstrip("/")
    pattern = pattern.lstrip("/")
    if anchored:
        return fnmatch.fnmatchcase(path, pattern)
    return fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], pattern)


def attribute_files(
    root: str, commondir: str, tracked: list[str], attributes_file: str | None
) -> list[tuple[str, str]]:
    """The attribute files git reads for ``git add`` here, each with the folder its
    patterns are relative to: ``core.attributesFile`` (or its default under
    ``$XDG_CONFIG_HOME``), ``info/attributes`` and the ``.gitattributes`` of the work
    tree, at its root and in any folder (``tracked``: those the index has)."""
    files: list[tuple[str, str]] = []
    if attributes_file:
        files.append((os.path.expanduser(attributes_file), ""))
    else:
        config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
        files.append((os.path.join(config_home, "git", "attributes"), ""))
    files.append((os.path.join(commondir, "info", "attributes"), ""))
    files.append((os.path.join(root, ".gitattributes"), ""))
    files.extend(
        (os.path.join(root, path), path.rpartition("/")[0])
        for path in tracked
        if path != ".gitattributes"
    )
    return files
