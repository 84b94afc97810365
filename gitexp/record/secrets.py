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
import fnmatch
import json
import os
import re
from collections.abc import Iterable

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


_names: re.Pattern[str] | None = None  # compiled on first use


def looks_secret(path: str) -> bool:
    """True when a file's name (or the end of its path, for patterns such as
    ``.aws/credentials``) matches a common credential-file shape."""
    global _names
    lowered = path.lower()
    if lowered.endswith(HARMLESS_SUFFIXES):
        return False
    if _names is None:
        either = "|".join(fnmatch.translate(pattern) for pattern in SECRET_PATTERNS)
        _names = re.compile(f"(?:^|/)(?:{either})")
    return _names.search(lowered) is not None


def tracked_secret_warnings(cache_path: str, stamp: int, paths: Iterable[bytes]) -> list[str]:
    """Warnings for tracked files whose names look secret: once per file.

    Kept, as every tracked file is; ``cache_path`` remembers which were named, and the
    index's ``stamp`` (its modification time) spares the look when the index is unchanged.
    """
    try:
        with open(cache_path, encoding="utf-8") as handle:
            cached = json.load(handle)
        warned = set(cached["warned"])
        if cached["stamp"] == stamp:
            return []
    except (OSError, ValueError, KeyError, TypeError):
        warned = set()
    found = {
        shown for path in paths if looks_secret(shown := path.decode("utf-8", "surrogateescape"))
    }
    new = sorted(found - warned)
    with contextlib.suppress(OSError):
        os.makedirs(os.path.dirname(cache_path), exist_ok=True)
        tmp = f"{cache_path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump({"stamp": stamp, "warned": sorted(found | warned)}, handle)
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
