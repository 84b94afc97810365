"""The read commands: ``gitexp ls``, ``show``, ``diff``, run references, the listing cache,
runs gitexp cannot read (newer format, corrupted metadata) and every command's ``--help``.

Runs are recorded once per module with ``gitexp run -p ... -- python -c '...'`` in a real
repository; tests that change the repository work on a copy of it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import git, gitexp, run_refs

from gitexp.cli import COMMANDS
from gitexp.errors import UnknownRunError
from gitexp.model import values
from gitexp.model.record import parse_row
from gitexp.read import listing

SCRIPT = (
    "import os, sys, gitexp\n"
    "run = gitexp.init()\n"
    "lr = run.config.lr\n"
    "for i in range(3):\n"
    "    gitexp.log({'loss': lr * (3 - i), 'acc': 0.5})\n"
    "print('trained with', lr)\n"
    "sys.exit(int(os.environ.get('FAIL_WITH', '0')))\n"
)


@dataclass
class Runs:
    path: Path
    ids: dict[str, str]  # alpha, beta1, beta2, gamma
    baselines: dict[str, str]  # commit1 (alpha, beta1, beta2), commit2 (gamma)


def _isolate(mp: pytest.MonkeyPatch, home: Path) -> None:
    """The same isolation as conftest's autouse fixture, for a module-scoped fixture."""
    home.mkdir()
    mp.setenv("HOME", str(home))
    mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
    mp.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    for name in list(os.environ):
        if (
            name.startswith("GITEXP_")
            or name in ("RANK", "LOCAL_RANK", "WORLD_SIZE")
            or name.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_"))
            or name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")
        ):
            mp.delenv(name, raising=False)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test User\n\temail = test@example.invalid\n"
        "[init]\n\tdefaultBranch = main\n"
    )


def record(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """``gitexp run ARGS -- python -c SCRIPT``; return the new run's id."""
    before = set(run_refs(repo))
    done = gitexp("run", *args, "--", sys.executable, "-c", SCRIPT, cwd=repo, env=env)
    expected = int((env or {}).get("FAIL_WITH", "0"))
    assert done.returncode == expected, done.stderr
    (new,) = set(run_refs(repo)) - before
    return new


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    base = tmp_path_factory.mktemp("read")
    with pytest.MonkeyPatch.context() as mp:
        _isolate(mp, base / "home")
        path = base / "project"
        path.mkdir()
        git(path, "init", "-q")
        (path / "train.py").write_text("import gitexp\nprint('trained')\n")
        (path / "config.yaml").write_text("lr: 0.05\n")
        (path / ".gitignore").write_text("data/\n")
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", "initial")
        commit1 = git(path, "rev-parse", "HEAD").strip()
        ids = {}
        ids["alpha"] = record(
            path,
            *("--name", "alpha", "--tag", "baseline", "--tag", "small"),
            *("--note", "first try", "-p", "lr=0.1", "-p", "bs=32", "-p", "warmup=5"),
        )
        # An uncommitted edit, an untracked file and an untracked secret.
        (path / "train.py").write_text("import gitexp\nprint('trained!')\n")
        (path / "helper.py").write_text("def helper():\n    return 1\n")
        (path / ".env").write_text("TOKEN=not-for-git\n")
        ids["beta1"] = record(
            path, "--name", "beta", "-p", "lr=0.01", "-p", "bs=32", "-p", "dropout=0.5"
        )
        ids["beta2"] = record(
            path, "--name", "beta", "-p", "lr=0.001", "-p", "bs=32", "-p", "dropout=0.5"
        )
        git(path, "add", "train.py", "helper.py")
        git(path, "commit", "-q", "-m", "second")
        commit2 = git(path, "rev-parse", "HEAD").strip()
        ids["gamma"] = record(
            path,
            *("--name", "gamma", "-p", "lr=0.2", "-p", "bs=32", "-p", "dropout=0.5"),
            env={"FAIL_WITH": "3"},
        )
        git(path, "fsck")
        yield Runs(path, ids, {"commit1": commit1, "commit2": commit2})


@pytest.fixture
def copy(runs: Runs, tmp_path: Path) -> Path:
    """A private copy of the runs repository, for tests that change it."""
    target = tmp_path / "copy"
    shutil.copytree(runs.path, target, symlinks=True)
    return target


def ok(*args: str, cwd: Path) -> str:
    done = gitexp(*args, cwd=cwd)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def ls_json(cwd: Path, *args: str) -> list[dict[str, Any]]:
    return list(json.loads(ok("ls", "--json", *args, cwd=cwd)))


def show_json(cwd: Path, ref: str) -> dict[str, Any]:
    return dict(values.loads(ok("show", ref, "--json", cwd=cwd)))


def parse_table(text: str) -> tuple[list[str], list[dict[str, str]]]:
    """The headers and rows of a ``tabulate`` simple table, cut at the dash line's columns;
    a column under the ``config ───  metrics ───`` group line is headed ``config.KEY``."""
    lines = text.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("--"))
    groups = [(m.start(), m.end(), m[1]) for m in re.finditer(r"(\w+) ─+", lines[0])]
    lines = lines[rule - 1 :]
    starts = [m.start() for m in re.finditer(r"-+", lines[1])]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))

    def cells(line: str) -> list[str]:
        return [line[a:b].strip() for a, b in bounds]

    def qualified(start: int, header: str) -> str:
        group = [name for a, b, name in groups if a <= start < b] if rule > 1 else []
        return f"{group[0]}.{header}" if group else header

    headers = [qualified(a, header) for (a, _), header in zip(bounds, cells(lines[0]), strict=True)]
    body = [dict(zip(headers, cells(line), strict=True)) for line in lines[2:] if line.strip()]
    return headers, [row for row in body if not row["id"].startswith("(")]


def git_in(cwd: Path, data: str, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, input=data, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def craft_run(repo: Path, source_id: str, new_id: str, run_json: str, message: str) -> str:
    """Copy a run with git plumbing, with its run.json and commit message replaced."""
    commit = git(repo, "rev-parse", f"refs/gitexp/runs/{source_id}").strip()
    meta = git(repo, "rev-parse", f"{commit}:.gitexp").strip()
    blob = git_in(repo, run_json, "hash-object", "-w", "--stdin")
    meta_lines = [
        f"100644 blob {blob}\trun.json" if line.endswith("\trun.json") else line
        for line in git(repo, "ls-tree", meta).splitlines()
    ]
    new_meta = git_in(repo, "\n".join(meta_lines) + "\n", "mktree")
    root_lines = [
        f"040000 tree {new_meta}\t.gitexp" if line.endswith("\t.gitexp") else line
        for line in git(repo, "ls-tree", commit).splitlines()
    ]
    new_root = git_in(repo, "\n".join(root_lines) + "\n", "mktree")
    new_commit = git_in(repo, message, "commit-tree", new_root, "-p", commit)
    git(repo, "update-ref", f"refs/gitexp/runs/{new_id}", new_commit)
    return new_commit


def source_texts(repo: Path, run_id: str) -> tuple[str, str]:
    ref = f"refs/gitexp/runs/{run_id}"
    return git(repo, "show", f"{ref}:.gitexp/run.json"), git(repo, "log", "-1", "--format=%B", ref)


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, (old, text)
    return text.replace(old, new)


# -- gitexp ls --------------------------------------------------------------------------------


def test_ls_lists_newest_first_with_the_varying_columns(runs: Runs) -> None:
    columns, rows = parse_table(ok("ls", cwd=runs.path))
    assert columns[:3] == ["id", "name", "status"]
    assert {"config.lr", "config.warmup", "config.dropout", "metrics.loss"} <= set(columns)
    assert "config.bs" not in columns  # the same in every run
    assert "metrics.acc" not in columns  # the same in every run
    order = ["gamma", "beta2", "beta1", "alpha"]
    assert [row["id"] for row in rows] == [runs.ids[name][:7] for name in order]
    assert [row["name"] for row in rows] == ["gamma", "beta", "beta", "alpha"]
    assert [row["status"] for row in rows] == ["failed", "finished", "finished", "finished"]
    assert [row["config.lr"] for row in rows] == ["0.2", "0.001", "0.01", "0.1"]
    # -p warmup=5 reached a script that never read it: marked unverified (issue 15).
    assert [row["config.warmup"] for row in rows] == ["", "", "", "5?"]
    assert [row["metrics.loss"] for row in rows] == ["0.2", "0.001", "0.01", "0.1"]
    assert rows[1]["baseline"] == runs.baselines["commit1"][:7] + "+"  # dirty
    assert rows[0]["baseline"].startswith(runs.baselines["commit2"][:7])


def test_ls_n_limits_the_rows(runs: Runs) -> None:
    out = ok("ls", "-n", "1", cwd=runs.path)
    _, rows = parse_table(out)
    assert [row["id"] for row in rows] == [runs.ids["gamma"][:7]]
    assert re.search(r"\b3 (older |more )?runs not shown", out), out
    assert [r["id"] for r in ls_json(runs.path, "-n", "1")] == [runs.ids["gamma"]]
    assert len(ls_json(runs.path, "--all")) == 4


def test_ls_json_rows(runs: Runs) -> None:
    rows = ls_json(runs.path)
    assert [r["id"] for r in rows] == [runs.ids[n] for n in ("gamma", "beta2", "beta1", "alpha")]
    refs = run_refs(runs.path)
    for row in rows:
        assert {"id", "name", "status", "config", "metrics"} <= set(row)
        assert row["commit"] == refs[row["id"]]
    alpha = rows[-1]
    assert alpha["name"] == "alpha"
    assert alpha["status"] == "finished"
    assert alpha["config"] == {"lr": 0.1, "bs": 32, "warmup": 5}
    assert alpha["metrics"]["loss"] == {"last": 0.1, "min": 0.1, "max": pytest.approx(0.3)}
    assert alpha["tags"] == ["baseline", "small"]
    assert rows[0]["exit_code"] == 3


def test_ls_without_runs_prints_a_hint(empty_repo: Path, repo: Path) -> None:
    for where in (empty_repo, repo):
        done = gitexp("ls", cwd=where)
        assert done.returncode == 0, done.stderr
        assert "No runs yet" in done.stdout
        assert "gitexp run" in done.stdout
        assert ls_json(where) == []


def test_ls_outside_a_repository_exits_3(tmp_path: Path) -> None:
    done = gitexp("ls", cwd=tmp_path)
    assert done.returncode == 3
    assert "git" in done.stderr


def test_ls_tells_a_config_key_from_a_metric_of_the_same_name(repo: Path) -> None:
    script = "import gitexp\nrun = gitexp.init()\ngitexp.log({'lr': run.config.lr * 2})\n"
    for lr in ("0.1", "0.2"):
        done = gitexp("run", "-p", f"lr={lr}", "--", sys.executable, "-c", script, cwd=repo)
        assert done.returncode == 0, done.stderr
    columns, rows = parse_table(ok("ls", cwd=repo))
    assert len(columns) == len(set(columns)), columns
    assert [row["config.lr"] for row in rows] == ["0.2", "0.1"]
    assert [row["metrics.lr"] for row in rows] == ["0.4", "0.2"]


# -- gitexp show --------------------------------------------------------------------------------


def test_show_text(runs: Runs) -> None:
    out = ok("show", runs.ids["alpha"], cwd=runs.path)
    assert runs.ids["alpha"] in out and "alpha" in out
    assert "finished (exit code 0)" in out
    assert "-c import os, sys, gitexp" in out  # the command
    assert "lr = 0.1" in out and "bs = 32" in out and "warmup = 5" in out
    assert "loss" in out and "acc" in out
    assert "note      first try" in out
    assert "baseline, small" in out
    assert "files changed against the baseline (0)" in out

    beta = ok("show", runs.ids["beta1"], cwd=runs.path)
    assert "files changed against the baseline (2)" in beta
    assert "  M train.py" in beta
    assert "  A helper.py" in beta
    assert "left out of the snapshot" in beta
    assert ".env (secret" in beta
    assert "A .env" not in beta

    gamma = ok("show", runs.ids["gamma"], cwd=runs.path)
    assert "failed (exit code 3)" in gamma


def test_show_json(runs: Runs) -> None:
    data = show_json(runs.path, runs.ids["beta1"])
    run = data["run"]
    assert run["id"] == runs.ids["beta1"]
    assert run["status"] == "finished" and run["exit_code"] == 0
    assert run["command"][1:3] == ["-c", SCRIPT]
    assert run["baseline"] == runs.baselines["commit1"] and run["dirty"] is True
    assert run["commit"] == run_refs(runs.path)[runs.ids["beta1"]]
    assert data["config"] == {"lr": 0.01, "bs": 32, "dropout": 0.5}
    assert data["metrics"]["summary"] == {"loss": 0.01, "acc": 0.5}
    assert data["metrics"]["metrics"]["loss"]["max"] == pytest.approx(0.03)
    changed = {f["path"]: f["change"] for f in data["changed_files"]}
    assert changed == {"train.py": "modify", "helper.py": "add"}
    skipped = data["snapshot"]["skipped"]
    assert [(s["path"], s["reason"]) for s in skipped] == [(".env", "secret")]

    alpha = show_json(runs.path, runs.ids["alpha"])["run"]
    assert alpha["notes"] == "first try"
    assert alpha["tags"] == ["baseline", "small"]
    assert show_json(runs.path, runs.ids["gamma"])["run"]["exit_code"] == 3


# -- gitexp diff ---------------------------------------------------------------------------------


def test_diff_text(runs: Runs) -> None:
    out = ok("diff", runs.ids["alpha"], runs.ids["beta1"], cwd=runs.path)
    lines = [line.split() for line in out.splitlines()]
    assert ["dropout", "0.5", "added"] in lines
    assert ["warmup", "5", "removed"] in lines
    assert ["lr", "0.1", "0.01", "changed"] in lines
    assert not any(line[:1] == ["bs"] for line in lines)  # unchanged keys are not listed
    assert ["loss", "0.1", "0.01", "-0.09"] in lines
    assert ["acc", "0.5", "0.5", "+0"] in lines
    assert "code (2 files changed)" in out
    assert ["train.py", "|", "+1", "-1"] in lines
    assert ["helper.py", "|", "+2", "-0"] in lines
    assert "environment" in out and "packages" in out
    assert "--- a/train.py" not in out  # the full diff only with --code

    env = ok("diff", runs.ids["alpha"], runs.ids["gamma"], cwd=runs.path)
    assert f"baseline: {runs.baselines['commit1']} -> {runs.baselines['commit2']}" in env


def test_diff_code(runs: Runs) -> None:
    out = ok("diff", runs.ids["alpha"], runs.ids["beta1"], "--code", cwd=runs.path)
    assert "--- a/train.py" in out and "+++ b/train.py" in out
    assert "\n-print('trained')\n" in out
    assert "\n+print('trained!')\n" in out
    assert "+++ b/helper.py" in out
    assert ".env" not in out
    assert ".gitexp/" not in out  # the metadata is not code


def test_diff_json(runs: Runs) -> None:
    data = values.loads(ok("diff", "alpha", runs.ids["beta1"], "--json", cwd=runs.path))
    assert data["a"] == {"id": runs.ids["alpha"], "name": "alpha"}
    assert data["b"] == {"id": runs.ids["beta1"], "name": "beta"}
    assert data["config"] == {
        "added": {"dropout": 0.5},
        "removed": {"warmup": 5},
        "changed": {"lr": [0.1, 0.01]},
    }
    metrics = {m["key"]: m for m in data["metrics"]}
    assert metrics["loss"]["a"] == 0.1 and metrics["loss"]["b"] == 0.01
    assert metrics["loss"]["delta"] == pytest.approx(-0.09)
    assert metrics["acc"]["delta"] == 0
    code = {c["path"]: c for c in data["code"]}
    assert code["train.py"] == {"path": "train.py", "change": "modify", "added": 1, "removed": 1}
    assert code["helper.py"]["change"] == "add"
    env = data["environment"]
    assert set(env) >= {"packages", "hardware", "baseline"}
    assert set(env["packages"]) == {"added", "removed", "changed"}
    assert env["baseline"] is None

    with_code = values.loads(
        ok("diff", "alpha", runs.ids["beta1"], "--json", "--code", cwd=runs.path)
    )
    assert "+print('trained!')" in with_code["code_diff"]
    later = values.loads(ok("diff", "alpha", "gamma", "--json", cwd=runs.path))
    assert later["environment"]["baseline"] == {
        "a": runs.baselines["commit1"],
        "b": runs.baselines["commit2"],
    }


def test_diff_of_a_run_with_itself_is_empty(runs: Runs) -> None:
    data = values.loads(ok("diff", "alpha", "alpha", "--json", cwd=runs.path))
    assert data["config"] == {"added": {}, "removed": {}, "changed": {}}
    assert data["code"] == []
    assert all(m["delta"] == 0 for m in data["metrics"])


# -- run references ------------------------------------------------------------------------------


def shortest_unique_prefix(run_id: str, others: list[str]) -> str:
    for length in range(1, len(run_id) + 1):
        prefix = run_id[:length]
        if not any(o.startswith(prefix) for o in others if o != run_id):
            return prefix
    raise AssertionError(run_id)


def test_run_references(runs: Runs) -> None:
    ids = runs.ids
    prefix = shortest_unique_prefix(ids["beta2"], list(ids.values()))
    prefix = ids["beta2"][: max(len(prefix), 4)]
    expected = {
        ids["alpha"]: ids["alpha"],
        "latest": ids["gamma"],
        "latest~0": ids["gamma"],
        "latest~1": ids["beta2"],
        "latest~3": ids["alpha"],
        prefix: ids["beta2"],
        "alpha": ids["alpha"],
        "gamma": ids["gamma"],
    }
    for ref, run_id in expected.items():
        assert show_json(runs.path, ref)["run"]["id"] == run_id, ref


def test_find_run_answers_as_resolve_over_every_run(runs: Runs, tmp_path: Path) -> None:
    """The fast path (ref names, one commit) never answers differently from the listing."""
    from gitexp.git.repo import GitRepo
    from gitexp.read.listing import list_runs
    from gitexp.read.resolve import find_run, resolve

    ids = list(runs.ids.values())
    texts = [*ids, *runs.ids, "latest", "latest~2", "", " ", "zz", "../heads/main", "a..b"]
    texts += [run_id[:n] for run_id in ids for n in range(1, 13)]
    texts += [f"  {ids[0]}\t", ids[0] + "x", ids[0].upper()]
    with GitRepo.discover(str(runs.path)) as repo:
        every = list_runs(repo)
        for text in texts:
            try:
                expected: object = resolve(text, every).id
            except UnknownRunError as exc:
                expected = (exc.message, exc.hint)
            try:
                found: object = find_run(repo, text).id
            except UnknownRunError as exc:
                found = (exc.message, exc.hint)
            assert found == expected, text
        fast = find_run(repo, ids[0])
        listed = next(entry for entry in every if entry.id == ids[0])
        assert (fast.commit, fast.row) == (listed.commit, listed.row)


def test_unknown_reference_exits_5_with_candidates(runs: Runs) -> None:
    done = gitexp("show", "alp", cwd=runs.path)  # 'l' is never in an id: a name search
    assert done.returncode == 5
    assert "no run matches 'alp'" in done.stderr
    assert "alpha" in done.stderr and runs.ids["alpha"][:7] in done.stderr
    assert done.stdout == ""

    done = gitexp("diff", "alpha", "no-such-run", cwd=runs.path)
    assert done.returncode == 5
    assert "no-such-run" in done.stderr and "gitexp ls" in done.stderr


def test_ambiguous_name_exits_5_listing_both(runs: Runs) -> None:
    done = gitexp("show", "beta", cwd=runs.path)
    assert done.returncode == 5
    assert "matches 2 runs" in done.stderr
    assert runs.ids["beta1"][:7] in done.stderr
    assert runs.ids["beta2"][:7] in done.stderr
    assert runs.ids["alpha"][:7] not in done.stderr


def test_latest_beyond_the_oldest_run_exits_5(runs: Runs) -> None:
    for ref in ("latest~4", "latest~99"):
        done = gitexp("show", ref, cwd=runs.path)
        assert done.returncode == 5, ref
        assert "only 4 runs" in done.stderr


def test_ambiguous_id_prefix_exits_5(copy: Path, runs: Runs) -> None:
    commit = run_refs(copy)[runs.ids["alpha"]]
    for new_id in ("zzzzzzzzzz01", "zzzzzzzzzz02"):
        git(copy, "update-ref", f"refs/gitexp/runs/{new_id}", commit)
    done = gitexp("show", "zzzzzzzzzz0", cwd=copy)
    assert done.returncode == 5
    assert "id prefix" in done.stderr
    assert "zzzzzzz" in done.stderr
    assert show_json(copy, "zzzzzzzzzz02")["run"]["name"] == "alpha"  # a full id wins


def test_empty_reference_exits_5(runs: Runs) -> None:
    done = gitexp("show", "", cwd=runs.path)
    assert done.returncode == 5


# -- the listing cache -----------------------------------------------------------------------------


def test_listing_cache(copy: Path) -> None:
    cache = copy / ".git" / "gitexp" / "cache" / "rows.tsv"
    cache.unlink(missing_ok=True)
    old = cache.with_name("rows.json")  # an earlier version's cache: removed
    old.write_text("{}")
    first = ok("ls", cwd=copy)
    assert cache.exists() and not old.exists()
    mark, *body = cache.read_text().splitlines(keepends=True)
    assert mark == listing.CHECKED_MARK  # the rows were checked before they were written
    lines = [line.rstrip("\n").split("\t") for line in body]
    assert {line[0] for line in lines} == set(run_refs(copy).values())  # keyed by commit id
    for commit, start, status, raw in lines:
        row = values.loads(raw)
        assert (float(start), status) == (row["start"], row["status"])
        assert row == parse_row(git(copy, "log", "-1", "--format=%B", commit))

    assert ok("ls", cwd=copy) == first  # from the cache
    cache.unlink()
    assert ok("ls", cwd=copy) == first
    assert cache.exists()
    cache.write_bytes(b"\x00\xffnot json at all{{{")
    assert ok("ls", cwd=copy) == first
    assert ok("ls", cwd=copy) == first
    cache.write_text("[1, 2, 3]")
    assert ok("ls", cwd=copy) == first


def test_listing_cache_follows_a_deleted_run(copy: Path, runs: Runs) -> None:
    ok("ls", cwd=copy)
    git(copy, "update-ref", "-d", f"refs/gitexp/runs/{runs.ids['beta1']}")
    rows = ls_json(copy)
    assert [r["id"] for r in rows] == [runs.ids[n] for n in ("gamma", "beta2", "alpha")]
    assert ok("show", "beta", "--json", cwd=copy)  # no longer ambiguous


def test_listing_cache_with_wrong_shaped_rows(copy: Path) -> None:
    first = ok("ls", cwd=copy)
    cache = copy / ".git" / "gitexp" / "cache" / "rows.tsv"
    as_json = ok("ls", "--json", cwd=copy)
    good = [line.split("\t")[:3] for line in cache.read_text().splitlines()[1:]]
    mark = listing.CHECKED_MARK
    for raw in ('"x"', "[1]", "{not json", "", "[" * 5000):  # rows that do not parse: git's
        cache.write_text(
            mark + "".join(f"{sha}\t{start}\t{status}\t{raw}\n" for sha, start, status in good)
        )
        assert ok("ls", cwd=copy) == first, raw
        assert ok("ls", "--json", cwd=copy) == as_json, raw
    shas = run_refs(copy).values()
    cache.write_text(mark + "".join(f"{sha}\tnot-a-time\tx\t{{}}\n" for sha in shas))
    assert ok("ls", cwd=copy) == first
    # A row of the wrong types, cached by gitexp 0.2, which did not check rows (and wrote
    # no mark): the whole file is set aside, every row read from git again.
    forged = '{"start": "yesterday", "config": [1, 2], "tags": "x"}'
    cache.write_text(
        "".join(f"{sha}\t{start}\t{status}\t{forged}\n" for sha, start, status in good)
    )
    assert ok("ls", cwd=copy) == first
    assert ok("ls", "--json", cwd=copy) == as_json
    assert cache.read_text().startswith(mark) and forged not in cache.read_text()


def test_listing_reads_uncached_rows_in_one_batch_as_one_by_one(
    copy: Path, runs: Runs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first listing after a clone reads many commits through one git cat-file; it
    must give what reading them one by one gives, odd runs included."""
    from gitexp.git.repo import GitRepo

    source = runs.ids["alpha"]
    run_json, message = source_texts(copy, source)
    info = dict(json.loads(run_json), format=99, id=NEWER)
    message = replace_once(message, '"format":1,', '"format":99,')
    craft_run(copy, source, NEWER, json.dumps(info), replace_once(message, source, NEWER))
    git(copy, "update-ref", f"refs/gitexp/runs/{CORRUPT}", runs.baselines["commit2"])
    blob = git_in(copy, "not a commit", "hash-object", "-w", "--stdin")
    git(copy, "update-ref", "refs/gitexp/runs/xxxxxxxxxxxx", blob)
    cache = copy / ".git" / "gitexp" / "cache" / listing.CACHE_NAME

    def rows(batch_from: int) -> dict[str, tuple[bytes, dict[str, Any]]]:
        cache.unlink(missing_ok=True)
        monkeypatch.setattr(listing, "BATCH_READ_MIN", batch_from)
        monkeypatch.setattr(listing, "BATCH_READ_MIN_UNOPENED", batch_from)
        with GitRepo.discover(str(copy)) as repo:
            return {entry.id: (entry.commit, entry.row) for entry in listing.list_runs(repo)}

    one_by_one = rows(10**9)
    singly: list[str] = []
    read_row = listing._read_row
    monkeypatch.setattr(
        listing,
        "_read_row",
        lambda repo, sha, run_id: singly.append(run_id) or read_row(repo, sha, run_id),
    )
    batched = rows(1)
    assert singly == ["xxxxxxxxxxxx"]  # only the blob, which is no commit, read singly
    assert batched == one_by_one
    assert len(batched) == 7
    assert batched[NEWER][1]["status"].endswith("(newer format)")
    assert batched[CORRUPT][1]["status"] == batched["xxxxxxxxxxxx"][1]["status"] == "corrupt"


# -- runs this gitexp cannot read ----------------------------------------------------------------

NEWER = "zzzzzzzzzzzz"
CORRUPT = "yyyyyyyyyyyy"


def test_run_in_a_newer_format(copy: Path, runs: Runs) -> None:
    source = runs.ids["alpha"]
    run_json, message = source_texts(copy, source)
    info = json.loads(run_json)
    info["format"] = 99
    info["id"] = NEWER
    message = replace_once(message, '"format":1,', '"format":99,')
    message = replace_once(message, f'"id":"{source}"', f'"id":"{NEWER}"')
    craft_run(copy, source, NEWER, json.dumps(info, indent=2) + "\n", message)
    git(copy, "fsck")

    done = gitexp("show", NEWER, cwd=copy)
    assert done.returncode == 7
    assert "format 99" in done.stderr
    assert "upgrade" in done.stderr.lower()
    done = gitexp("diff", source, NEWER, cwd=copy)
    assert done.returncode == 7
    assert "upgrade" in done.stderr.lower()

    out = ok("ls", cwd=copy)
    shown = [row["id"] for row in parse_table(out)[1]]
    assert set(shown) == {NEWER[:7]} | {run_id[:7] for run_id in runs.ids.values()}
    assert "newer format" in out
    assert len(ls_json(copy)) == 5
    assert show_json(copy, source)["run"]["id"] == source  # the others still read


@pytest.mark.parametrize("content", ["{this is not json", "[1, 2]", ""])
def test_run_with_corrupted_run_json(copy: Path, runs: Runs, content: str) -> None:
    source = runs.ids["beta2"]
    _, message = source_texts(copy, source)
    craft_run(copy, source, CORRUPT, content, replace_once(message, source, CORRUPT))

    done = gitexp("show", CORRUPT, cwd=copy)
    assert done.returncode == 7
    assert "corrupted" in done.stderr and "run.json" in done.stderr
    assert "Traceback" not in done.stderr
    # show checked the commit once and quarantined it: ls now leaves it out, with a warning.
    listing = gitexp("ls", "--json", cwd=copy)
    assert len(json.loads(listing.stdout)) == 4
    assert f"quarantined run refs/gitexp/runs/{CORRUPT}: corrupted metadata" in listing.stderr
    assert ok("show", "alpha", cwd=copy)


def test_run_json_with_wrongly_typed_fields_exits_7(copy: Path, runs: Runs) -> None:
    source = runs.ids["beta2"]
    run_json, message = source_texts(copy, source)
    info = json.loads(run_json)
    info.update(id=CORRUPT, start="yesterday", command="python train.py")
    craft_run(copy, source, CORRUPT, json.dumps(info), replace_once(message, source, CORRUPT))
    done = gitexp("show", CORRUPT, cwd=copy)
    assert done.returncode == 7, done.stderr
    assert "corrupted" in done.stderr


def test_ref_to_a_commit_gitexp_did_not_write(copy: Path, runs: Runs) -> None:
    git(copy, "update-ref", f"refs/gitexp/runs/{CORRUPT}", runs.baselines["commit2"])
    rows = {r["id"]: r for r in ls_json(copy)}
    assert rows[CORRUPT]["status"] == "corrupt"
    assert len(rows) == 5
    done = gitexp("show", CORRUPT, cwd=copy)
    assert done.returncode == 7
    assert "not written by gitexp" in done.stderr


def test_newer_format_with_different_fields_asks_to_upgrade(copy: Path, runs: Runs) -> None:
    source = runs.ids["alpha"]
    run_json, message = source_texts(copy, source)
    info = json.loads(run_json)
    restructured = {"format": 99, "id": NEWER, "run": {"name": info.pop("name")}}
    message = replace_once(message, '"format":1,', '"format":99,')
    craft_run(copy, source, NEWER, json.dumps(restructured), message)
    done = gitexp("show", NEWER, cwd=copy)
    assert done.returncode == 7
    assert "upgrade" in done.stderr.lower(), done.stderr


# -- --help ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_shows_an_example(command: str, tmp_path: Path) -> None:
    done = gitexp(command, "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "usage: gitexp " + command in done.stdout
    assert "example" in done.stdout
    assert f"gitexp {command}" in done.stdout.split("example", 1)[1]


def test_top_level_help(tmp_path: Path) -> None:
    done = gitexp("--help", cwd=tmp_path)
    assert done.returncode == 0
    for command in ("run", "ls", "show", "diff"):
        assert command in done.stdout
