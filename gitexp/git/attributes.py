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
* ``EXACT``: a filter, ``ident`` or ``working-tree-encoding`` is named: every file takes
  the exact path (dulwich's normalizer with the repository's filters, as before).

Read conservatively: an attribute named in any line of any attribute file counts, for
any pattern and whether set or unset, and a macro (``[attr]name ...``) counts by what
it names.  Where a file cannot be read, ``EXACT``.
"""

from __future__ import annotations

import os

NONE = "none"
LINE_ENDINGS = "line endings"
EXACT = "exact"

_LINE_ENDING_ATTRIBUTES = frozenset({"text", "eol", "crlf"})
_CONTENT_ATTRIBUTES = frozenset({"filter", "ident", "working-tree-encoding"})
_OFF = ("false", "0", "no", "off", "")


def attribute_names(text: str) -> set[str]:
    """Every attribute a gitattributes file names (set, unset, unspecified or valued)."""
    names: set[str] = set()
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith('"'):  # a quoted pattern, which may hold spaces
            end = line.find('"', 1)
            while end > 0 and line[end - 1] == "\\":
                end = line.find('"', end + 1)
            rest = line[end + 1 :] if end > 0 else ""
        else:
            _pattern, _, rest = line.partition(" ")
            if "\t" in _pattern:
                _pattern, _, more = _pattern.partition("\t")
                rest = f"{more} {rest}"
        for token in rest.split():
            name = token.lstrip("-!").partition("=")[0]
            if name:
                names.add(name)
    return names


def conversion(files: list[str], autocrlf: str | None) -> str:
    """How much of git's check-in conversion can apply, given the attribute files that
    exist (``files``) and ``core.autocrlf``."""
    level = NONE if (autocrlf or "false").lower() in _OFF else LINE_ENDINGS
    for path in files:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                names = attribute_names(handle.read())
        except FileNotFoundError:
            continue
        except OSError:
            return EXACT
        if names & _CONTENT_ATTRIBUTES:
            return EXACT
        if names & _LINE_ENDING_ATTRIBUTES:
            level = LINE_ENDINGS
    return level


def attribute_files(
    root: str, commondir: str, tracked: list[str], attributes_file: str | None
) -> list[str]:
    """The attribute files git reads for ``git add`` here: ``core.attributesFile`` (or
    its default under ``$XDG_CONFIG_HOME``), ``info/attributes`` and the ``.gitattributes``
    of the work tree, at its root and in any folder (``tracked``: those the index has)."""
    files: list[str] = []
    if attributes_file:
        files.append(os.path.expanduser(attributes_file))
    else:
        config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
        files.append(os.path.join(config_home, "git", "attributes"))
    files.append(os.path.join(commondir, "info", "attributes"))
    files.append(os.path.join(root, ".gitattributes"))
    files.extend(os.path.join(root, path) for path in tracked if path != ".gitattributes")
    return files
