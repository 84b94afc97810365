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


def default_project(repo: GitRepo) -> str:
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
