"""Which untracked file names look like secrets, so snapshots leave them out.

A tracked file is the user's decision and is always kept; an untracked ``.env`` is far
more often an accident waiting to be pushed.  The list is documented in docs/format.md.
"""

from __future__ import annotations

import fnmatch

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
)

# Templates are committed on purpose and hold no values.
HARMLESS_SUFFIXES: tuple[str, ...] = (".example", ".sample", ".template", ".dist")


def looks_secret(name: str) -> bool:
    """True when a file's base name matches a common credential-file shape."""
    lowered = name.lower()
    if lowered.endswith(HARMLESS_SUFFIXES):
        return False
    return any(fnmatch.fnmatchcase(lowered, pattern) for pattern in SECRET_PATTERNS)
