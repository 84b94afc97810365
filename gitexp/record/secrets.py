"""Which untracked files look like secrets, so snapshots leave them out.

By name (:data:`SECRET_PATTERNS`; a pattern with a ``/`` matches the end of the path),
and by content (:func:`holds_secret`): a private-key block, or a cloud service account's
JSON key.  The content is checked only in what the snapshot reads anyway, an untracked
file's bytes before they become a blob, so no file is read for it.  A tracked file is
the user's decision and is always kept, with one warning per file.  The lists are
documented in docs/format.md.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping

from gitexp.model import redact
from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

SECRET_PATTERNS: tuple[str, ...] = (
    ".env",
    ".env.*",
    "*.env",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".netrc",
    "_netrc",
    ".pgpass",
    ".git-credentials",
    ".npmrc",
    ".pypirc",
    ".htpasswd",
    "credentials",
    "credentials.json",
    "application_default_credentials.json",
    "service-account*.json",
    "*.tfvars",
    "kubeconfig",
    "secrets.yaml",
    "secrets.yml",
    "secrets.json",
    "secrets.toml",
    "kaggle.json",
    ".envrc",
    "client_secret*.json",
    "token.json",
    ".my.cnf",
    ".huggingface/token",
    "huggingface/token",
    ".docker/config.json",
    ".kube/config",
    ".aws/credentials",
    ".aws/config",
)

# Templates are committed on purpose and hold no values.
HARMLESS_SUFFIXES: tuple[str, ...] = (".example", ".sample", ".template", ".dist")


def _split(pattern: str) -> tuple[str, str]:
    """``"*.pem"`` -> ``("", ".pem")``: every pattern above has at most one ``*``."""
    before, _star, after = pattern.partition("*")
    return before, after


# Plain string checks, no regular expression: a run checks every untracked file.
_EXACT = frozenset(p for p in SECRET_PATTERNS if "*" not in p and "/" not in p)
_TAILS = tuple("/" + p for p in SECRET_PATTERNS if "/" in p)
_WILD = tuple(_split(p) for p in SECRET_PATTERNS if "*" in p)
_WILD_PREFIXES = tuple(before for before, _after in _WILD if before)
_WILD_SUFFIXES = tuple(after for before, after in _WILD if not before)


def looks_secret(path: str) -> bool:
    """True when a file's name (or the end of its path, for patterns such as
    ``.aws/credentials``) matches a common credential-file shape."""
    lowered = path.lower()
    if lowered.endswith(HARMLESS_SUFFIXES):
        return False
    name = lowered.rpartition("/")[2]
    if name in _EXACT or ("/" + lowered).endswith(_TAILS) or name.endswith(_WILD_SUFFIXES):
        return True
    if not name.startswith(_WILD_PREFIXES):
        return False
    return any(
        name.startswith(before) and name.endswith(after) and len(name) >= len(before + after)
        for before, after in _WILD
    )


def tracked_secret_warnings(cache_path: str, paths: list[str]) -> list[str]:
    """Warnings for changed tracked files whose names look secret: once per file.

    Kept, as every tracked file is; the snapshot names the files it read anew (their
    new content goes into the run), and ``cache_path`` remembers which were warned of.
    """
    try:
        with open(cache_path, encoding="utf-8") as handle:
            warned = set(json.load(handle)["warned"])
    except (OSError, ValueError, KeyError, TypeError):
        warned = set()
    new = sorted(set(paths) - warned)
    if new:
        with contextlib.suppress(OSError):
            os.makedirs(os.path.dirname(cache_path), exist_ok=True)
            tmp = f"{cache_path}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump({"warned": sorted(warned | set(new))}, handle)
            os.replace(tmp, cache_path)
    return [
        f"{path} is tracked by git and looks like a secret: it is recorded with the run "
        "(and pushed with it); remove it with `git rm --cached` if it should not be"
        for path in new
    ]


# A private-key block's first line (PEM, OpenSSH, PGP); ``in`` finds it at memchr speed.
_KEY_BLOCK = b"PRIVATE KEY"
_BEGIN = b"-----BEGIN "


def holds_secret(path: str, data: bytes) -> str | None:
    """Why a file's content is a secret (None when it is not): a private-key block, or a
    JSON service-account key (``"type": "service_account"`` with ``"private_key"``)."""
    at = data.find(_KEY_BLOCK)
    while at >= 0:
        line_start = data.rfind(b"\n", 0, at) + 1
        begin = data.find(_BEGIN, line_start, at)
        if begin >= 0 and data[at + len(_KEY_BLOCK) :].startswith((b"-----", b" BLOCK-----")):
            return "it holds a private key"
        at = data.find(_KEY_BLOCK, at + 1)
    if path.lower().endswith(".json") and b'"service_account"' in data and b'"private_key"' in data:
        return "it is a service account's key"
    return None


def newly_redacted(redacted: Mapping[str, Any], warned: set[str]) -> str | None:
    """The warning for what a run's record newly redacts (``run.json`` ``redacted``):
    names and positions, never values; ``warned`` keeps what was said already."""
    command = redacted.get("command", [])
    config = redacted.get("config", [])
    shown = [
        f"argument {item['index']} ({redact.env_name(item['key'])} for a rerun)"
        for item in command
        if f"arg:{item['index']}" not in warned
    ]
    shown += [f"config {key}" for key in config if key not in warned]
    if not shown:
        return None
    warned.update(f"arg:{item['index']}" for item in command)
    warned.update(config)
    return (
        "replaced what looks like a secret by [redacted by gitexp] in the run's record: "
        + ", ".join(shown)
        + " (keep a value with git config --add gitexp.allowSecret KEY)"
    )
