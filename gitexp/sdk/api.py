"""``gitexp.Api()``: read runs from Python, shaped like wandb's public API.

An analysis notebook written for ``wandb.Api()`` works on a git repository's runs::

    api = gitexp.Api()                       # the repository of the current folder
    for run in api.runs("lr_project", filters={"config.lr": {"$lt": 0.05}},
                        order="-summary_metrics.acc"):
        print(run.name, run.config["lr"], run.summary["acc"])
        frame = run.history()                # pandas, with `gitexp[pandas]`

Listing reads one cached row per run (read/listing.py), so ``api.runs()`` costs what
``gitexp ls`` costs; a run's config, summary and history are read from git the first
time they are asked for.  The runs, ``gitexp ls --json`` and ``gitexp show`` agree on
id, name, project, state, tags, config and summary (docs/api.md#reading-runs).
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

from gitexp.git.repo import GitRepo
from gitexp.model import config as configmod
from gitexp.read import filters as filtersmod
from gitexp.read.listing import RunEntry, list_runs
from gitexp.read.projects import default_project, project_of
from gitexp.read.resolve import find_run
from gitexp.read.runview import RunView, load_run, read_history
from gitexp.read.selection import known_names
from gitexp.read.trust import listed

if TYPE_CHECKING:
    from gitexp.model.shapes import HistoryRow


def _warn(message: str) -> None:
    import warnings

    from gitexp.render.cells import printable

    warnings.warn(f"gitexp: {printable(message)}", stacklevel=4)  # names from refs


class Api:
    """The runs of one repository: ``Api()`` (the current folder's) or ``Api(path)``."""

    def __init__(self, path: str | os.PathLike[str] | None = None, **_wandb: object) -> None:
        # wandb's overrides=, timeout=, api_key= mean nothing here: no server is asked.
        self._path = os.fspath(path) if path is not None else None
        self._repo: GitRepo | None = None
        self._entries: list[RunEntry] | None = None
        self._default: str | None = None

    @property
    def repo(self) -> GitRepo:
        if self._repo is None:
            self._repo = GitRepo.discover(self._path)
        return self._repo

    @property
    def default_project(self) -> str:
        """The project of runs that name none (read/projects.py)."""
        if self._default is None:
            self._default = default_project(self.repo)
        return self._default

    def flush(self) -> None:
        """Forget what was read, so that runs recorded since are seen (as wandb's)."""
        self._entries = None

    def _all(self) -> list[RunEntry]:
        if self._entries is None:
            # A quarantined run (read/trust.py) is left out with one warning, as ls does.
            self._entries = listed(list_runs(self.repo), _warn)
        return self._entries

    def runs(
        self,
        path: str | None = None,
        filters: str | Mapping[str, Any] | None = None,
        order: str | None = None,
        per_page: int | None = None,  # wandb's paging: every run is local, nothing to page
    ) -> Runs:
        """The runs of project ``path`` (``"entity/project"`` or ``"project"``; None: all),
        matching ``filters`` (the ``--where`` language or a wandb dict), newest first or in
        ``order`` (``"-summary_metrics.acc"``, ``"+created_at"``).  Lazy: nothing is read
        until the sequence is used."""
        project = path.rsplit("/", 1)[-1] if path else None
        return Runs(self, project, filters, order)

    def run(self, path: str) -> ApiRun:
        """One run: its id, a unique prefix, its name, ``latest``, or ``project/id``."""
        return ApiRun(self, find_run(self.repo, path.rsplit("/", 1)[-1]))

    def close(self) -> None:
        if self._repo is not None:
            self._repo.close()
            self._repo = None

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class Runs(Sequence["ApiRun"]):
    """The runs an ``Api.runs`` call selects: a sequence, computed on first use."""

    def __init__(
        self,
        api: Api,
        project: str | None,
        filters: str | Mapping[str, Any] | None,
        order: str | None,
    ) -> None:
        self._api = api
        self._project = project
        self._filters = filters
        self._order = order
        self._picked: list[ApiRun] | None = None

    def _runs(self) -> list[ApiRun]:
        if self._picked is None:
            from gitexp.read import query

            entries = self._api._all()
            if self._project is not None:
                default = self._api.default_project
                entries = [e for e in entries if project_of(e.row, default) == self._project]
            # Rows are parsed only when something asks about them: ``api.runs()[0]`` on
            # 10,000 runs costs the listing alone (docs/benchmarks.md).
            known = known_names(entries)
            if self._filters is not None:
                predicate = filtersmod.compile_filters(self._filters, known)
                entries = [e for e in entries if predicate(e.row)]
            keys = filtersmod.order_keys(self._order, known)
            if keys:
                query.sort_rows(entries, keys, lambda entry: entry.row)
            self._picked = [ApiRun(self._api, entry) for entry in entries]
        return self._picked

    @overload
    def __getitem__(self, index: int) -> ApiRun: ...
    @overload
    def __getitem__(self, index: slice) -> list[ApiRun]: ...
    def __getitem__(self, index: int | slice) -> ApiRun | list[ApiRun]:
        return self._runs()[index]

    def __len__(self) -> int:
        return len(self._runs())

    def __iter__(self) -> Iterator[ApiRun]:
        return iter(self._runs())

    def __repr__(self) -> str:
        return f"<Runs {self._project or 'all projects'}: {len(self)}>"


class ApiRun:
    """A recorded run, read from git: wandb's ``Run`` of the public API."""

    def __init__(self, api: Api, entry: RunEntry) -> None:
        self._api = api
        self._entry = entry
        self._view: RunView | None = None

    def _load(self) -> RunView:
        if self._view is None:
            self._view = load_run(self._api.repo, self._entry)
        return self._view

    # -- what the listing row says (cheap) ---------------------------------------------

    @property
    def id(self) -> str:
        return self._entry.id

    @property
    def name(self) -> str:
        return self._entry.name

    display_name = name

    @property
    def state(self) -> str:
        """``running``, ``finished``, ``failed``, ``interrupted``, ``killed``, ``crashed``."""
        return self._entry.status

    @property
    def project(self) -> str:
        return project_of(self._entry.row, self._api.default_project)

    @property
    def entity(self) -> None:
        return None  # no accounts: a run belongs to a repository, not to a user

    @property
    def path(self) -> list[str]:
        return [self.project, self.id]

    @property
    def tags(self) -> list[str]:
        tags = self._entry.row.get("tags")
        return [str(t) for t in tags] if isinstance(tags, list) else []

    @property
    def group(self) -> str | None:
        group = self._entry.row.get("group")
        return group if isinstance(group, str) else None

    @property
    def created_at(self) -> str:
        """The start, as wandb spells it: ISO 8601 in UTC (``2026-12-04T13:40:02``)."""
        start = datetime.datetime.fromtimestamp(self._entry.start, datetime.timezone.utc)
        return start.strftime("%Y-%m-%dT%H:%M:%S")

    @property
    def commit(self) -> str:
        return self._entry.commit.decode()

    # -- what the run's files say (read on first use) ------------------------------------

    @property
    def notes(self) -> str | None:
        return self._load().info.notes

    @property
    def job_type(self) -> str | None:
        return self._load().info.job_type

    @property
    def config(self) -> dict[str, object]:
        """The config as recorded (nested, as ``config.yaml`` holds it)."""
        return dict(self._load().config)

    @property
    def summary(self) -> dict[str, object]:
        """The summary: each metric's last value unless the script set it (metrics.json)."""
        return dict(self._load().summary)

    @property
    def metadata(self) -> dict[str, object]:
        """The machine and environment (hardware.json) and the command."""
        view = self._load()
        return {"hardware": view.hardware, "command": view.info.command, "host": view.info.host}

    def flat_config(self) -> dict[str, object]:
        """The config flattened with ``.`` as ``gitexp ls --json`` shows it."""
        return configmod.flatten_config(self._load().config)

    def scan_history(self, keys: list[str] | None = None) -> Iterator[dict[str, object]]:
        """Every logged row in step order, as dicts (``_step``, ``_time``... and the keys);
        with ``keys``, only the rows holding all of them, and only those keys."""
        for row in self._rows():
            if keys is None:
                yield dict(row)
            elif all(key in row for key in keys):
                yield {"_step": row.get("_step"), **{key: row[key] for key in keys}}

    def history(self, keys: list[str] | None = None, samples: int | None = None,
                pandas: bool = True) -> Any:  # fmt: skip
        """The logged rows as a pandas DataFrame (``pip install 'gitexp[pandas]'``), or a
        list of dicts without pandas or with ``pandas=False``.  ``samples`` keeps that
        many rows spread evenly over the run (the first and last included)."""
        rows = list(self.scan_history(keys))
        if samples is not None and 0 < samples < len(rows):
            step = (len(rows) - 1) / (samples - 1) if samples > 1 else 0
            rows = [rows[round(i * step)] for i in range(samples)]
        if not pandas:
            return rows
        try:
            import pandas as pd
        except ImportError:
            return rows
        return pd.DataFrame(rows)

    def _rows(self) -> list[HistoryRow]:
        return read_history(self._api.repo, self._load())

    def files(self) -> list[str]:
        """The paths in the run's commit: its code snapshot and ``.gitexp/``."""
        repo = self._api.repo
        paths: list[str] = []

        def walk(tree: bytes, prefix: str) -> None:
            for name, (mode, sha) in sorted(repo.tree_entries(tree).items()):
                path = prefix + name.decode("utf-8", "surrogateescape")
                if mode == 0o040000:
                    walk(sha, path + "/")
                else:
                    paths.append(path)

        walk(self._load().root_tree, "")
        return paths

    def logged_artifacts(self) -> list[object]:
        """The outputs the run kept: artifacts.json's entries (``--out``, a path given to
        ``log_artifact``), then a ``gitexp.Artifact`` per version it logged."""
        from gitexp.model import values

        repo = self._api.repo
        found = repo.lookup_path(self._load().meta_tree, b"artifacts.json")
        out: list[object] = []
        if found is not None:
            data = values.loads(repo.read_blob(found[1]).decode("utf-8", "replace"))
            items = data.get("artifacts") if isinstance(data, dict) else None
            out = (
                [item for item in items if isinstance(item, dict)]
                if isinstance(items, list)
                else []
            )
        return out + self._versions(inputs=False)

    def used_artifacts(self) -> list[object]:
        """A ``gitexp.Artifact`` per version the run used (``use_artifact``)."""
        return self._versions(inputs=True)

    def _versions(self, inputs: bool) -> list[object]:
        if self._api.repo.lookup_path(self._load().meta_tree, b"lineage.json") is None:
            return []
        from gitexp.artifacts.catalog import Catalog
        from gitexp.sdk.artifact import Artifact

        catalog = Catalog(self._api.repo)
        pairs = catalog.run_inputs(self.id) if inputs else catalog.run_outputs(self.id)
        root = self._api.repo.root
        return [Artifact.from_version(root, version) for _item, version in pairs if version]

    def update(self, *, tags: list[str] | None = None, notes: str | None = None,
               name: str | None = None) -> None:  # fmt: skip
        """Change tags, notes or name, as ``gitexp tag/note/rename`` do (an edit commit)."""
        from gitexp.record.edit import Edit, apply_edit

        current = set(self.tags)
        wanted = current if tags is None else set(tags)
        edit = Edit(
            add_tags=sorted(wanted - current),
            remove_tags=sorted(current - wanted),
            note=notes,
            name=name,
        )
        _info, commit = apply_edit(self._api.repo, self._entry, edit)
        from gitexp.read.listing import run_entry

        self._entry = run_entry(self._api.repo, self.id, commit)
        self._view = None
        self._api.flush()

    def __repr__(self) -> str:
        return f"<Run {self.project}/{self.id} ({self.state})>"
