"""Run references: what a user may type where a command takes RUN.

In order of precedence: a full run id; ``latest`` or ``latest~N`` (by recorded start
time, newest first); a unique prefix of a run id; a run name.  Anything that matches
nothing, or several runs, is an error that lists candidates.
"""

from __future__ import annotations

import re

from gitexp.errors import UnknownRunError
from gitexp.git.repo import GitRepo
from gitexp.model.ids import short_id
from gitexp.model.record import REF_PREFIX
from gitexp.read.listing import RunEntry, list_runs, run_entry
from gitexp.render.words import plural

_LATEST = re.compile(r"^latest(?:~(\d+))?$")
_MAX_LISTED = 8
_RUN_ID_TEXT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")  # could be a run id or prefix


def _describe(entry: RunEntry) -> str:
    return f"{short_id(entry.id)}  {entry.name}  ({entry.status})"


def find_run(repo: GitRepo, text: str) -> RunEntry:
    """The one run ``text`` names, as :func:`resolve` over every run would answer.

    A full id or a unique id prefix, the usual references, is answered from the ref
    names and that one run's commit; ``latest``, names, and every error (which lists
    candidates) need the whole listing.
    """
    wanted = text.strip()
    if _RUN_ID_TEXT.match(wanted) and not _LATEST.match(wanted):
        exact = wanted.encode()
        sha = repo.read_ref(REF_PREFIX + exact)
        if sha is not None:
            return run_entry(repo, wanted, sha)
        names = repo.ref_names(REF_PREFIX)
        matches = [name for name in names if name.startswith(exact)]
        if len(matches) == 1:
            sha = repo.read_ref(REF_PREFIX + matches[0])
            if sha is not None:
                return run_entry(repo, matches[0].decode(), sha)
    return resolve(text, list_runs(repo))


def resolve(text: str, runs: list[RunEntry]) -> RunEntry:
    """The one run ``text`` names; ``runs`` newest first, as ``list_runs`` returns them."""
    text = text.strip()
    if not text:
        raise UnknownRunError("an empty run reference", "Name a run by id prefix, name or latest.")
    for entry in runs:
        if entry.id == text:
            return entry
    latest = _LATEST.match(text)
    if latest:
        back = int(latest.group(1) or 0)
        if back < len(runs):
            return runs[back]
        raise UnknownRunError(
            f"{text}: there are only {plural(len(runs), 'run')}",
            "See them with `gitexp ls`." if runs else "Record one with `gitexp run -- CMD`.",
        )
    by_prefix = [entry for entry in runs if entry.id.startswith(text)]
    if len(by_prefix) == 1:
        return by_prefix[0]
    if len(by_prefix) > 1:
        raise _ambiguous(text, by_prefix, "id prefix")
    by_name = [entry for entry in runs if entry.name == text]
    if len(by_name) == 1:
        return by_name[0]
    if len(by_name) > 1:
        raise _ambiguous(text, by_name, "name")
    close = [entry for entry in runs if text.lower() in entry.name.lower()][:_MAX_LISTED]
    hint = "See the runs with `gitexp ls`."
    if close:
        hint = "Did you mean one of these?\n" + "\n".join(f"    {_describe(e)}" for e in close)
    elif not runs:
        hint = "This repository has no runs yet: record one with `gitexp run -- CMD`."
    raise UnknownRunError(f"no run matches {text!r}", hint)


def _ambiguous(text: str, matches: list[RunEntry], what: str) -> UnknownRunError:
    listed = "\n".join(f"    {_describe(e)}" for e in matches[:_MAX_LISTED])
    more = f"\n    ... and {len(matches) - _MAX_LISTED} more" if len(matches) > _MAX_LISTED else ""
    return UnknownRunError(
        f"{text!r} matches {plural(len(matches), 'run')} by {what}",
        f"Use a longer id prefix:\n{listed}{more}",
    )
