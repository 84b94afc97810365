"""What made many runs fast must not change an answer (issue 21, part 4).

Checking many runs at once (``pull``) reads each folder of their trees once per path
and asks git for every file size at once; listing pauses the garbage collector and
decodes only the rows it shows.  Each test compares with what one run alone, or git
itself, says.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import git, gitexp, run_refs

from gitexp.git.repo import GitRepo
from gitexp.read.trust import check_commit, check_runs

LONG = "d" * 250  # 17 nested folders of this name: paths over the 4,096-byte limit


def _tree(repo: Path, entries: list[str]) -> str:
    done = subprocess.run(
        ["git", "mktree"], cwd=repo, input="".join(f"{e}\n" for e in entries),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def _run_with(repo: Path, base: str, name: str, folder: str) -> str:
    """A commit of the run ``base``'s tree plus ``folder`` under the top entry ``name``."""
    root = git(repo, "ls-tree", f"{base}^{{tree}}").splitlines()
    tree = _tree(repo, [*root, f"040000 tree {folder}\t{name}"])
    return git(repo, "commit-tree", tree, "-p", base, "-m", "gitexp: crafted").strip()


def _nested(repo: Path, inner: str, depth: int) -> str:
    for _ in range(depth):
        inner = _tree(repo, [f"040000 tree {inner}\t{LONG}"])
    return inner


def test_a_folder_shared_by_runs_is_judged_by_its_path_in_each(repo: Path) -> None:
    assert gitexp("run", "--", "true", cwd=repo).returncode == 0
    (base,) = run_refs(repo).values()
    blob = git(repo, "hash-object", "-w", "--stdin").strip()  # an empty file
    shared = _tree(repo, [f"100644 blob {blob}\tweights.txt"])
    short = _run_with(repo, base, "src", shared)
    deep = _run_with(repo, base, "src", _nested(repo, shared, 17))
    also_short = _run_with(repo, base, "lib", shared)
    runs = {"aaaaaaaaaaaa": short.encode(), "bbbbbbbbbbbb": deep.encode()}
    runs["cccccccccccc"] = also_short.encode()
    with GitRepo.discover(str(repo)) as opened:
        alone = {run_id: check_commit(opened, sha) for run_id, sha in runs.items()}
        together = check_runs(opened, runs)
        backwards = check_runs(opened, dict(reversed(runs.items())))
    assert alone["aaaaaaaaaaaa"] is None and alone["cccccccccccc"] is None
    assert "longer than 4096 bytes" in str(alone["bbbbbbbbbbbb"])
    assert together == alone
    assert backwards == alone


def test_a_bad_folder_shared_by_runs_quarantines_each(repo: Path) -> None:
    assert gitexp("run", "--", "true", cwd=repo).returncode == 0
    (base,) = run_refs(repo).values()
    blob = git(repo, "hash-object", "-w", "--stdin").strip()
    # A folder named .git inside the run: what a hostile remote might send.
    inner = _tree(repo, [f"100644 blob {blob}\tx"])
    bad = _tree(repo, [f"040000 tree {inner}\t.git"])
    runs = {
        "dddddddddddd": _run_with(repo, base, "src", bad).encode(),
        "eeeeeeeeeeee": _run_with(repo, base, "lib", bad).encode(),
    }
    with GitRepo.discover(str(repo)) as opened:
        found = check_runs(opened, runs)
        alone = {run_id: check_commit(opened, sha) for run_id, sha in runs.items()}
    assert found == alone
    assert all("points into .git" in str(reason) for reason in found.values()), found


def test_ls_shows_projects_and_filters_without_reading_every_row(repo: Path) -> None:
    for lr in ("0.1", "0.01", "0.001"):
        assert gitexp("run", "-p", f"lr={lr}", "--", "true", cwd=repo).returncode == 0
    project = repo.name
    shown = gitexp("ls", "-n", "2", "--json", cwd=repo)
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)
    assert len(rows) == 2 and all(row["project"] == project for row in rows)
    where = gitexp("ls", "--where", "config.lr < 0.05", "--json", cwd=repo)
    assert sorted(row["config"]["lr"] for row in json.loads(where.stdout)) == [
        0.001,
        0.01,
    ]
    other = gitexp("ls", "--project", "elsewhere", "--json", cwd=repo)
    assert other.returncode == 0 and json.loads(other.stdout) == []


def _many_runs(repo: Path, count: int) -> dict[str, str]:
    """``count`` runs copied from the repository's one real run (one ``git fast-import``),
    each with its own id and name in its listing row; {id: name}."""
    ((base_id, base),) = run_refs(repo).items()
    message = git(repo, "log", "-1", "--format=%B", base).rstrip("\n")
    head, _, row_text = message.rpartition("gitexp-run: ")
    chunks, names = [], {}
    for i in range(count):
        run_id = f"zzzz{i:08d}"
        row = dict(json.loads(row_text), id=run_id, name=f"copy-{i}")
        names[run_id] = row["name"]
        body = f"{head}gitexp-run: {json.dumps(row)}\n".encode()
        chunks.append(
            f"commit refs/gitexp/runs/{run_id}\ncommitter T <t@e.invalid> 1700000000 +0000\n"
            f"data {len(body)}\n".encode()
            + body
            + f'\nfrom {base}\nM 040000 {base}^{{tree}} ""\n\n'.encode()
        )
    tree = git(repo, "rev-parse", f"{base}^{{tree}}").strip()
    stream = b"".join(chunks).replace(f"{base}^{{tree}}".encode(), tree.encode())
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=stream, check=True)
    names[base_id] = json.loads(row_text)["name"]
    return names


def test_pull_of_many_new_runs_creates_them_in_one_transaction(repo: Path, tmp_path: Path) -> None:
    assert gitexp("run", "--", "true", cwd=repo).returncode == 0
    names = _many_runs(repo, 80)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    # One run is here already (as if pulled before): it is left as it is, not recreated.
    kept = "zzzz00000007"
    git(clone, "fetch", "-q", "origin", f"refs/gitexp/runs/{kept}:refs/gitexp/runs/{kept}")
    done = gitexp("pull", "--no-artifacts", "--json", "origin", cwd=clone)
    assert done.returncode == 0, done.stderr
    report = {item["id"]: item for item in json.loads(done.stdout)["runs"]}
    assert run_refs(clone) == run_refs(repo)
    assert report[kept]["action"] == "up to date"
    new = {run_id for run_id, item in report.items() if item["action"] == "new"}
    assert new == set(names) - {kept}
    assert all(report[run_id]["name"] == names[run_id] for run_id in new)
    # Each created run's reflog says how it began here (read/trust.py, docs/sharing.md).
    reflog = (clone / ".git" / "logs" / "refs" / "gitexp" / "runs" / "zzzz00000001").read_text()
    assert reflog.splitlines()[0].endswith("\tgitexp: fetched run")


def _blob(repo: Path, content: bytes) -> str:
    done = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"], cwd=repo, input=content, capture_output=True,
        check=True,
    )  # fmt: skip
    return done.stdout.decode().strip()


def _with_meta(repo: Path, base: str, name: str, content: bytes) -> str:
    """A commit of the run ``base`` with ``.gitexp/<name>`` holding ``content``."""
    meta = git(repo, "ls-tree", f"{base}:.gitexp").splitlines()
    meta = [line for line in meta if line.split("\t")[1] != name]
    meta_tree = _tree(repo, [*meta, f"100644 blob {_blob(repo, content)}\t{name}"])
    root = git(repo, "ls-tree", f"{base}^{{tree}}").splitlines()
    root = [line for line in root if line.split("\t")[1] != ".gitexp"]
    tree = _tree(repo, [*root, f"040000 tree {meta_tree}\t.gitexp"])
    message = git(repo, "log", "-1", "--format=%B", base)
    return git(repo, "commit-tree", tree, "-p", base, "-m", message).strip()


def _literal_commit(repo: Path, body: bytes) -> str:
    """A commit object written as given (``--literally``: git's own checks skipped)."""
    done = subprocess.run(
        ["git", "hash-object", "-t", "commit", "-w", "--literally", "--stdin"],
        cwd=repo, input=body, capture_output=True, check=True,
    )  # fmt: skip
    return done.stdout.decode().strip()


def test_runs_checked_in_batches_get_the_verdict_each_gets_alone(repo: Path) -> None:
    """Many runs are checked with their objects read ahead by git in batches
    (read/readahead.py); each hostile one among them is quarantined for the same reason
    as when it is checked alone, object by object, and the good ones pass."""
    assert gitexp("run", "-p", "lr=0.1", "--", "true", cwd=repo).returncode == 0
    (base,) = run_refs(repo).values()
    tree = git(repo, "rev-parse", f"{base}^{{tree}}").strip()
    inner = _tree(repo, [f"100644 blob {_blob(repo, b'')}\tx"])
    dot_git = _tree(repo, [f"040000 tree {inner}\t.git"])
    sha = tree.encode()
    hostile = {
        "badrunjson00": _with_meta(repo, base, "run.json", b"not json"),
        "badconfig000": _with_meta(repo, base, "config.yaml", b"a: [\n"),
        "badutf8cfg00": _with_meta(repo, base, "config.yaml", b"a: \xff\n"),
        "listmetrics0": _with_meta(repo, base, "metrics.json", b"[]"),
        "escapingart0": _with_meta(
            repo, base, "artifacts.json", b'{"artifacts": [{"path": "../x", "md5": "0"}]}'
        ),
        "dotgitfolder": _run_with(repo, base, "src", dot_git),
        "deepfolder00": _run_with(repo, base, "src", _nested(repo, _tree(repo, []), 17)),
        "atreenotcomm": tree,
        "nosuchobject": "1" * 40,
        # the tree line after the author: git and dulwich refuse it; a batch must too
        "treenotfirst": _literal_commit(
            repo,
            b"author a <a@b> 0 +0000\ntree %s\ncommitter a <a@b> 0 +0000\n\nm\n" % tree.encode(),
        ),
    }
    runs = {run_id: sha.encode() for run_id, sha in hostile.items()}
    for i in range(20):  # good runs: one commit each, the same tree
        sha = git(repo, "commit-tree", tree, "-p", base, "-m", f"copy {i}").strip()
        runs[f"goodrun{i:05d}"] = sha.encode()
    with GitRepo.discover(str(repo)) as opened:
        alone = {run_id: check_commit(opened, sha) for run_id, sha in runs.items()}
        together = check_runs(opened, runs)
    assert together == alone
    assert all(alone[run_id] for run_id in hostile), alone
    assert not any(alone[run_id] for run_id in runs if run_id.startswith("goodrun")), alone


def test_ls_after_a_pull_reads_the_rows_the_pull_checked(repo: Path, tmp_path: Path) -> None:
    """A pull leaves the rows it checked in the listing cache (read/listing.py,
    ``remember_rows``): the first ``ls`` after it lists what reading every commit lists."""
    assert gitexp("run", "-p", "lr=0.1", "--", "true", cwd=repo).returncode == 0
    _many_runs(repo, 70)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    assert gitexp("pull", "--no-artifacts", "origin", cwd=clone).returncode == 0
    cache = clone / ".git" / "gitexp" / "cache" / "rows.tsv"
    lines = cache.read_text().splitlines()[1:]  # after the mark (read/listing.py)
    assert {line.split("\t")[0] for line in lines} == set(run_refs(repo).values())
    primed = gitexp("ls", "--all", "--json", cwd=clone)
    assert primed.returncode == 0, primed.stderr
    cache.unlink()
    from_git = gitexp("ls", "--all", "--json", cwd=clone)
    assert json.loads(primed.stdout) == json.loads(from_git.stdout)
    assert len(json.loads(primed.stdout)) == 71


def test_a_bad_second_name_of_a_good_run_does_not_mark_it_in_the_cache(
    repo: Path, tmp_path: Path
) -> None:
    """A remote names one good commit twice, first under a ref name that fails its check:
    the pull refuses that name, and the run under its good name lists as it is."""
    assert gitexp("run", "-p", "lr=0.1", "--", "true", cwd=repo).returncode == 0
    _many_runs(repo, 20)  # enough for the batched check
    run_id, sha = sorted(run_refs(repo).items())[0]
    git(repo, "update-ref", "refs/gitexp/runs/0/x", sha)  # sorts before every good id
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    gitexp("pull", "--no-artifacts", "origin", cwd=clone)
    cache = (clone / ".git" / "gitexp" / "cache" / "rows.tsv").read_text().splitlines()
    (line,) = [line for line in cache if line.startswith(sha)]  # cached by the pull
    assert "quarantined" not in line.lower(), line
    listed = {
        row["id"]: row for row in json.loads(gitexp("ls", "--all", "--json", cwd=clone).stdout)
    }
    assert run_id in listed and listed[run_id]["status"] != "quarantined", listed.get(run_id)
    shown = gitexp("show", run_id, cwd=clone)
    assert shown.returncode == 0, shown.stderr
