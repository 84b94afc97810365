"""Which project a run belongs to: its own, else the repository's default.

wandb groups runs by project; a script's ``init(project=...)`` names one.  A run that
names none belongs to the repository's default project, chosen so that every clone
agrees whatever its folder is called: ``git config gitexp.project``, else the name of
the ``origin`` remote's repository, else the name of the repository's folder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from gitexp.git.repo import GitRepo
from gitexp.read.listing import RunEntry


def default_project(repo: GitRepo) -> str:
    repo.ask_git_config()
    configured = repo.config_value("gitexp", "project")
    if configured:
        return configured
    url = repo.remote_url("origin")
    if url:
        # git@host:team/lr_project.git, https://host/team/lr_project(.git)(/), /srv/lr_project
        name = re.split(r"[/:\\]", url.rstrip("/"))[-1]
        name = name.removesuffix(".git")
        if name:
            return name
    return os.path.basename(os.path.normpath(repo.root))


def project_of(row: Mapping[str, object], default: str) -> str:
    """A listing row's project (rows written before 0.3 name none: the default)."""
    project = row.get("project")
    return project if isinstance(project, str) and project else default


def with_projects(repo: GitRepo, entries: list[RunEntry]) -> list[RunEntry]:
    """The entries with each listing row's ``project`` filled in (the default for a run
    that names none), so that ``--where "project == 'x'"`` and tables see one value.
    Only the rows in memory change; the listing cache keeps what git holds."""
    if entries:
        default = default_project(repo)
        for entry in entries:
            entry.row["project"] = project_of(entry.row, default)
    return entries


def in_project(repo: GitRepo, entries: list[RunEntry], project: str | None) -> list[RunEntry]:
    """The runs of ``project`` (all of them for None)."""
    if project is None:
        return entries
    return [e for e in with_projects(repo, entries) if e.row.get("project") == project]


def project_counts(repo: GitRepo, entries: list[RunEntry]) -> list[tuple[str, int, float]]:
    """Each project with its number of runs and its latest start, most recent first."""
    counts: dict[str, tuple[int, float]] = {}
    for entry in with_projects(repo, entries):
        name = str(entry.row.get("project"))
        number, latest = counts.get(name, (0, 0.0))
        counts[name] = (number + 1, max(latest, entry.start))
    return sorted(((name, n, latest) for name, (n, latest) in counts.items()), key=lambda t: -t[2])
