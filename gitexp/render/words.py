"""Counting words in messages: "1 file", "2 files", never "1 files" or "file(s)"."""

from __future__ import annotations


def plural(count: int, singular: str, many: str | None = None) -> str:
    """``count`` and the noun that agrees with it: ``plural(2, "run")`` is ``"2 runs"``.

    Irregular nouns name their plural: ``plural(n, "artifact object", "artifact objects")``
    reads naturally; the default adds ``s``.
    """
    noun = singular if count == 1 else (many or f"{singular}s")
    return f"{count} {noun}"
