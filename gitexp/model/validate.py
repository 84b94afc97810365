"""What a run read from git may look like: pure checks of names, paths, sizes and types.

A run that arrives from a remote (a teammate, a fork, a leaked CI token) is input, not
code.  Every check here answers "why this is refused" as a short sentence, or None when
the thing is acceptable, so that one caller (``read/trust.py``) can quarantine the run
with that reason.  The limits are generous (a real run is far below each) and
documented in docs/format.md, "Limits readers enforce".

Unknown fields, ``_type`` values and ref namespaces added later within format 1 are not
checked: a newer teammate's run must read here, so only what gitexp relies on is typed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from gitexp.model import values
from gitexp.model.history import CHART, MEDIA_DIR, MEDIA_TYPES, TABLE_FILE
from gitexp.model.ids import check_user_id
from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:  # `ls` imports these checks: typing is ~2.5 ms of its start-up
    from typing import Any

# -- limits (docs/format.md, "Limits readers enforce") --------------------------------------
KiB, MiB = 1 << 10, 1 << 20
MAX_ROW_BYTES = 1 * MiB  # the listing row in a commit message (gitexp writes <= 32 KiB)
MAX_RUN_JSON = 1 * MiB
MAX_CONFIG_YAML = 8 * MiB
MAX_JSON_FILE = 16 * MiB  # metrics.json, snapshot.json, hardware.json, artifacts.json, ...
MAX_HISTORY_CHUNK = 256 * MiB  # one history/NNNNNN.jsonl (10,000 rows)
MAX_SWEEP_SPEC = 256 * KiB  # a sweep ref's sweep.yaml (gitexp writes a few KiB; added in 0.3)
MAX_OUTPUT_LOG = 16 * MiB  # gitexp writes at most 2 MiB plus a marker line
MAX_TREE_ENTRIES = 2_000_000  # files and folders of a run's tree
MAX_PATH_BYTES = 4096
MAX_NODES = 1_000_000  # values (keys, items, scalars) in one JSON or YAML document
MAX_DEPTH = 100  # nesting of lists and mappings
MAX_YAML_NODES = 100_000  # a user's --config file, after anchors and merges expand

# Paths gitexp itself reads in a run's tree, and their caps.
META_LIMITS = {
    "run.json": MAX_RUN_JSON,
    "config.yaml": MAX_CONFIG_YAML,
    "output.log": MAX_OUTPUT_LOG,
}

# Names git treats specially: as a symbolic link they would make git (or gitexp) read
# or write a file outside the tree (git fsck: gitmodulesSymlink and friends).
_NO_LINK_NAMES = frozenset({".gitmodules", ".gitattributes", ".gitignore", ".mailmap"})
_DRIVE = re.compile(r"^[A-Za-z]:")
# NTFS and HFS+ spellings of .git that git itself refuses (core.protectNTFS/protectHFS).
_DOTGIT_ALIAS = re.compile(r"^(?:\.git[. ]*|git~\d+)$", re.IGNORECASE)
_HFS_IGNORED = re.compile("[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]")


def check_run_id(text: str) -> str | None:
    """Why ``text`` cannot be the name of a run ref (``refs/gitexp/runs/<text>``)."""
    if check_user_id(text) is not None:
        return f"run ref name {text[:80]!r} is not a valid run id"
    return None


def check_sweep_id(text: str) -> str | None:
    """Why ``text`` cannot be the name of a sweep ref (``refs/gitexp/sweeps/<text>``).

    A sweep's id is its group, spelled as a run id is (1 to 64 letters, digits, '.',
    '_', '-'), so that it is one ref name on every filesystem.
    """
    if check_user_id(text) is not None:
        return f"sweep ref name {text[:80]!r} is not a valid sweep id"
    return None


# Artifact and alias names (0.3): each becomes a part of a ref name,
# refs/gitexp/aliases/<name>/<alias>, so only characters every git and filesystem take.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def check_artifact_name(text: object, what: str = "artifact name") -> str | None:
    """Why ``text`` cannot name an artifact (or an alias: ``what``), or None."""
    if not isinstance(text, str) or not NAME_PATTERN.match(text) or text.endswith(".lock"):
        return (
            f"{what} {str(text)[:80]!r} is not valid: use letters, digits, '.', '_' and "
            "'-' (at most 128, starting with a letter or digit)"
        )
    if ".." in text:
        return f"{what} {text!r} holds '..'"
    return None


def check_path(path: str, *, meta: bool = False) -> str | None:
    """Why a path a run names cannot be written into a work tree (None when it can).

    Relative, ``/``-separated and normalized: no empty, ``.`` or ``..`` part, no
    backslash (a folder separator on Windows), NUL or drive letter, and nothing under
    ``.git`` (in any spelling git itself refuses).  Other control characters are
    allowed, as git allows them (a file name with a newline is a user's to keep):
    printing one goes through render/cells.py's ``printable``.  ``.gitexp/`` at the top
    is the run's own folder: only ``meta`` paths (those inside it) may start with it.
    """
    if not path:
        return "an empty path"
    shown = repr(path[:200])
    if len(path.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES:
        return f"path {shown} is longer than {MAX_PATH_BYTES} bytes"
    if "\\" in path or "\x00" in path:
        return f"path {shown} holds a backslash or a NUL"
    if path.startswith("/") or _DRIVE.match(path):
        return f"path {shown} is absolute"
    parts = path.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            return f"path {shown} is not normalized (empty, '.' or '..' part)"
        if _DOTGIT_ALIAS.match(_HFS_IGNORED.sub("", part)):
            return f"path {shown} points into .git"
    if parts[0].lower() == ".gitexp" and not meta:
        return f"path {shown} points into .gitexp/, the run's own folder"
    return None


def check_tree_entry(path: str, mode: int) -> str | None:
    """Why one entry of a run's tree is refused: its path, its mode, or a link named
    like a file git reads for itself."""
    problem = check_path(path, meta=path.split("/", 1)[0] == ".gitexp")
    if problem:
        return problem
    if mode not in (0o100644, 0o100755, 0o120000, 0o160000, 0o040000):
        return f"{path[:200]!r} has the unknown mode {mode:o}"
    if mode == 0o120000 and path.rsplit("/", 1)[-1].lower() in _NO_LINK_NAMES:
        return f"{path[:200]!r} is a symbolic link where git expects a file"
    return None


# -- parsing within bounds ------------------------------------------------------------------


def load_json(data: bytes, what: str, limit: int = MAX_JSON_FILE) -> Any:
    """JSON of a run's file within the size, depth and node limits; ValueError says why."""
    if len(data) > limit:
        raise ValueError(f"{what} is {len(data)} bytes, over the limit of {limit}")
    try:
        value = values.loads_bytes(data, "strict")
    except RecursionError:  # json's C parser recurses once per level
        raise ValueError(f"{what} nests deeper than {MAX_DEPTH} levels") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{what} is not valid JSON ({exc})") from None
    problem = check_shape(value)
    if problem:
        raise ValueError(f"{what} {problem}")
    return value


def check_shape(value: object) -> str | None:
    """Why a parsed document is too deep or too large (None when within the limits).

    Iterative, so that a deep document cannot exhaust Python's stack here, and level by
    level: each level's children are gathered by ``list.extend`` in C, ~4x faster than
    a (child, depth) pair per value (a pull of 10,000 runs shapes 60,000 documents)."""
    level = [value]
    nodes = 0
    for depth in range(MAX_DEPTH + 2):
        if not level:
            return None
        if depth > MAX_DEPTH:
            return f"nests deeper than {MAX_DEPTH} levels"
        following: list[object] = []
        for item in level:
            if isinstance(item, dict):
                following.extend(item.values())
                nodes += len(item)  # the keys
            elif isinstance(item, list):
                following.extend(item)
        nodes += len(level)
        if nodes > MAX_NODES:
            return f"holds more than {MAX_NODES} values"
        level = following
    return None  # not reached: the last level above is past MAX_DEPTH


# -- types (docs/format.md) ----------------------------------------------------------------

_NUMBER = (int, float)
_OPT_STR = (str, type(None))
# The row's fields gitexp relies on, and what docs/format.md says they are.
ROW_TYPES: dict[str, tuple[type, ...]] = {
    "format": (int,),
    "id": (str,),
    "name": (str,),
    "status": (str,),
    "start": _NUMBER,
    "end": (*_NUMBER, type(None)),
    "exit_code": (int, type(None)),
    "baseline": _OPT_STR,
    "branch": _OPT_STR,
    "dirty": (bool,),
    "tags": (list,),
    "group": _OPT_STR,
    "project": _OPT_STR,  # 0.3
    "command": (list,),
    "config": (dict,),
    "metrics": (dict,),
    "truncated": (bool,),
    "unapplied": (dict,),  # 0.3
}
RUN_JSON_TYPES: dict[str, tuple[type, ...]] = {
    **{
        k: v
        for k, v in ROW_TYPES.items()
        if k not in ("config", "metrics", "truncated", "unapplied")
    },
    "cwd": (str,),
    "signal": _OPT_STR,
    "notes": _OPT_STR,
    "job_type": _OPT_STR,
    "source": (str,),
    "host": _OPT_STR,
    "extra": (dict,),
    "gitexp_version": (str,),
    "rerun_of": _OPT_STR,
    "resumes": (list,),
    "redacted": (dict,),
    "overrides": (dict,),  # 0.3
    "command_template": (list, type(None)),  # 0.3: rerun runs it (after consent)
    "hydra": (dict, type(None)),  # 0.3
    "imported": (dict, type(None)),  # 0.3: an importer's run (no code to restore)
}
_STR_LISTS = ("tags", "command", "command_template")
_ABSENT = object()


def check_fields(data: dict[str, Any], types: dict[str, tuple[type, ...]], what: str) -> str | None:
    """Why a record's known fields have the wrong types; unknown fields are not looked at.

    Decoded JSON holds exact types (never a subclass), so a record whose every value's
    own type is one its field allows, as are its lists' items and its metrics', passes
    without the field-by-field walk: a cold ``ls`` checks 100,000 rows (~7 us each
    walked, ~2 us so).  Anything else is walked, and told as before."""
    exact = _exact_types(types)
    for name, value in data.items():
        allowed = exact.get(name)
        if allowed is not None and value.__class__ not in allowed:
            break
    else:
        if all(
            _ONLY_STR.issuperset(map(type, items))
            for items in (data.get(name) for name in _STR_LISTS)
            if isinstance(items, list)
        ) and _ONLY_DICT.issuperset(map(type, (data.get("metrics") or {}).values())):
            return None
    return _walk_fields(data, types, what)


_ONLY_STR = frozenset({str})
_ONLY_DICT = frozenset({dict})
_EXACT: dict[int, tuple[dict[str, tuple[type, ...]], dict[str, frozenset[type]]]] = {}


def _exact_types(types: dict[str, tuple[type, ...]]) -> dict[str, frozenset[type]]:
    """``types`` as sets of exact types, made once per table (the tables are constants)."""
    known = _EXACT.get(id(types))
    if known is None or known[0] is not types:
        known = (types, {name: frozenset(kinds) for name, kinds in types.items()})
        _EXACT[id(types)] = known
    return known[1]


def _walk_fields(data: dict[str, Any], types: dict[str, tuple[type, ...]], what: str) -> str | None:
    for name, kinds in types.items():
        value = data.get(name, _ABSENT)
        if value is _ABSENT:
            continue
        if not isinstance(value, kinds) or (value.__class__ is bool and bool not in kinds):
            return f"{what} field {name!r} is a {_kind(value)}, not {_names(kinds)}"
    for name in _STR_LISTS:
        items = data.get(name)
        if isinstance(items, list) and not all(isinstance(item, str) for item in items):
            return f"{what} field {name!r} holds something other than strings"
    for key, metric in (data.get("metrics") or {}).items():
        if not isinstance(metric, dict):
            return f"{what} metric {str(key)[:80]!r} is a {_kind(metric)}, not an object"
    return None


def check_row(row: dict[str, Any]) -> str | None:
    """Why a listing row cannot be listed (its known fields have the wrong types).

    ~4 us a row: ``ls`` checks every row it reads from git, so only what is nested
    (a metric's list or object value) is walked for its depth."""
    problem = check_fields(row, ROW_TYPES, "the listing row's")
    if problem:
        return problem
    config = row.get("config")
    if config and not _NESTED.isdisjoint(map(type, config.values())):
        return "the listing row's config holds a value that is not a scalar"
    for metric in (row.get("metrics") or {}).values():
        if not _NESTED.isdisjoint(map(type, metric.values())):
            problem = check_shape(metric)
            if problem:
                return f"a metric of the listing row {problem}"
    return None


_NESTED = frozenset({list, dict})


def check_run_json(data: object) -> str | None:
    if not isinstance(data, dict):
        return f"run.json is a {_kind(data)}, not an object"
    problem = check_fields(data, RUN_JSON_TYPES, "run.json")
    if problem is None:
        for item in data.get("resumes") or []:
            if not isinstance(item, dict):
                return "run.json field 'resumes' holds something other than objects"
    return problem


def check_paths(paths: Iterable[object], what: str) -> str | None:
    """Why one of the paths a file of the run names (artifacts, skipped files) is refused."""
    for path in paths:
        if not isinstance(path, str):
            return f"{what} names a path that is a {_kind(path)}, not a string"
        problem = check_path(path)
        if problem:
            return f"{what}: {problem}"
    return None


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _names(kinds: tuple[type, ...]) -> str:
    return " or ".join("null" if kind is type(None) else kind.__name__ for kind in kinds)


# -- media references (docs/format.md, "Media"; added in 0.3) -------------------------------

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Integer fields a reference may carry, each a count or a size: never negative.
_REF_COUNTS = ("size", "width", "height", "ncols", "nrows", "channels", "frames")


def check_media_path(path: object) -> str | None:
    """Why a media reference's path may not be read: it must be a normalized relative
    path under ``.gitexp/media/``, so that no reader is led out of the run's media."""
    if not isinstance(path, str):
        return f"a media reference's path is a {_kind(path)}, not a string"
    problem = check_path(path, meta=True)
    if problem:
        return f"a media reference: {problem}"
    if not path.startswith(MEDIA_DIR + "/"):
        return f"a media reference's path {path[:200]!r} lies outside {MEDIA_DIR}/"
    return None


def check_media_ref(value: object) -> str | None:
    """Why a logged value whose ``_type`` is a media type is malformed (None when fine).

    Values of other ``_type``s (a histogram, one a newer gitexp adds) are not looked at.
    A chart holds its table's reference; a list holds references one by one.
    """
    if isinstance(value, list):
        for item in value:
            problem = check_media_ref(item)
            if problem:
                return problem
        return None
    if not isinstance(value, dict) or value.get("_type") not in MEDIA_TYPES:
        return None
    if value["_type"] == CHART:
        table = value.get("table")
        if not isinstance(table, dict) or table.get("_type") != TABLE_FILE:
            return "a chart has no table-file reference"
        return check_media_ref(table)
    problem = check_media_path(value.get("path"))
    if problem:
        return problem
    if not isinstance(value.get("sha256"), str) or not _SHA256.match(value["sha256"]):
        return "a media reference has no sha256 of 64 hex digits"
    for name in _REF_COUNTS:
        count = value.get(name)
        if count is not None and (type(count) is not int or count < 0):
            return f"a media reference's {name} is {_kind(count)}, not a count"
    annotations = value.get("annotations")
    if annotations is not None:
        return check_media_path(
            annotations.get("path") if isinstance(annotations, dict) else annotations
        )
    return None


def check_media_values(row: dict[str, Any], what: str) -> str | None:
    """Why one of the media references among a row's (or a summary's) values is refused."""
    for key, value in row.items():
        if type(value) in _NESTED:
            problem = check_media_ref(value)
            if problem:
                return f"{what} {str(key)[:80]!r}: {problem}"
    return None
