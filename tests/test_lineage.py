"""Artifacts with lineage (issue 18, part 3): versions logged and used, a registry of
aliases as refs, shared through a bare git remote and a local-folder DVC remote.

Every run is a real script (``python produce.py``) recording into a real repository;
what gitexp wrote is read back with the git binary.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git, gitexp
from sharing_servers import dvc_env_fixture, dvc_setup, ok  # noqa: F401 - fixture

PY = sys.executable

PRODUCE = """\
import os, sys
import gitexp
run = gitexp.init(name=sys.argv[1])
os.makedirs("data", exist_ok=True)
with open("data/w.bin", "wb") as f:
    f.write(sys.argv[2].encode() * 1000)
art = gitexp.Artifact("model", "model", description="a net", metadata={"tag": sys.argv[2]})
art.add_file("data/w.bin", name="weights.bin")
with art.new_file("labels.txt") as f:
    f.write("cat\\ndog\\n")
art.add_reference("s3://bucket/train.csv")
run.log_artifact(art, aliases=sys.argv[3:])
print("RUN " + run.id)
gitexp.finish()
"""

CONSUME = """\
import json, os, sys
import gitexp
run = gitexp.init(name="consumer")
out = {}
for spec in sys.argv[1:]:
    a = run.use_artifact(spec)
    folder = a.download(root=os.path.join("dl", spec.replace(":", "-")))
    with open(os.path.join(folder, "weights.bin"), "rb") as f:
        weights = f.read().decode()
    out[spec] = {"version": a.version, "digest": a.digest, "producer": a.producer_run,
                 "weights": weights[:12], "size": len(weights),
                 "files": sorted(os.listdir(folder)), "references": a.references}
print("RESULT " + json.dumps(out))
print("RUN " + run.id)
gitexp.finish()
"""


@pytest.fixture
def project(tmp_path: Path, repo: Path) -> Path:
    """``repo`` (conftest) with DVC, a local-folder DVC remote and a bare ``origin``."""
    dvc_setup(repo, str(tmp_path / "dvcstore"))
    (repo / ".gitignore").write_text("data/\ndl/\n*.ckpt\n")
    (repo / "produce.py").write_text(PRODUCE)
    (repo / "consume.py").write_text(CONSUME)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Set up DVC")
    git(tmp_path, "init", "-q", "--bare", "origin.git")
    git(repo, "remote", "add", "origin", str(tmp_path / "origin.git"))
    git(repo, "push", "-q", "-u", "origin", "main")
    return repo


def _script(cwd: Path, *args: str) -> tuple[str, str]:
    done = subprocess.run(
        [PY, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    run_id = next(line[4:] for line in done.stdout.splitlines() if line.startswith("RUN "))
    return run_id, done.stdout


def produce(cwd: Path, name: str, tag: str, *aliases: str) -> str:
    return _script(cwd, "produce.py", name, tag, *aliases)[0]


def consume(cwd: Path, *specs: str) -> tuple[str, dict[str, dict[str, object]]]:
    run_id, out = _script(cwd, "consume.py", *specs)
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    return run_id, json.loads(line[7:])


def meta(cwd: Path, run_id: str, name: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(
        git(cwd, "show", f"refs/gitexp/runs/{run_id}:.gitexp/{name}")
    )
    return loaded


def versions(cwd: Path) -> dict[str, dict[str, object]]:
    listed = json.loads(ok("artifacts", "--json", cwd=cwd))
    return {item["version"]: item for item in listed}


@pytest.mark.slow
def test_a_version_is_used_by_name_number_and_alias_and_travels_to_a_fresh_clone(
    project: Path, tmp_path: Path
) -> None:
    a = produce(project, "producer-a", "alpha", "best")
    logged = meta(project, a, "lineage.json")
    (output,) = logged["outputs"]  # type: ignore[misc]
    assert output["name"] == "model" and output["aliases"] == ["best"]
    assert [f["name"] for f in output["files"]] == ["labels.txt", "weights.bin"]
    assert output["references"] == [{"uri": "s3://bucket/train.csv", "name": "train.csv"}]

    b, used = consume(project, "model:latest", "model:v0", "model:best", "model")
    assert {item["version"] for item in used.values()} == {"v0"}
    assert {item["producer"] for item in used.values()} == {a}
    assert {item["digest"] for item in used.values()} == {output["digest"]}
    assert used["model:best"]["weights"] == "alpha" * 2 + "al"
    assert used["model:best"]["size"] == 5000
    assert used["model:v0"]["files"] == ["labels.txt", "weights.bin"]
    assert used["model"]["references"] == [{"uri": "s3://bucket/train.csv", "name": "train.csv"}]
    # The consumer records what it used, once: name, digest, number here, producing run.
    assert meta(project, b, "lineage.json")["inputs"] == [
        {"name": "model", "digest": output["digest"], "version": "v0", "run": a}
    ]

    # show names the run on the other side, both ways.
    shown_a, shown_b = ok("show", a, cwd=project), ok("show", b, cwd=project)
    assert "artifacts logged" in shown_a and f"used by {b[:7]}" in shown_a
    assert "artifacts used" in shown_b and f"logged by {a[:7]}" in shown_b
    as_json = json.loads(ok("show", b, "--json", cwd=project))
    assert as_json["lineage"]["inputs"][0]["logged_by"] == [a]
    # The read API says the same.
    import gitexp

    with gitexp.Api(str(project)) as api:
        (used_here,) = api.run(b).used_artifacts()
        (logged_here,) = api.run(a).logged_artifacts()
    assert isinstance(used_here, gitexp.Artifact) and used_here.version == "v0"
    assert used_here.producer_run == a and logged_here.digest == output["digest"]

    # A second producer with other content: v1, the new latest; `best` stays on v0.
    c = produce(project, "producer-c", "gamma")
    listed = versions(project)
    assert sorted(listed) == ["v0", "v1"]
    assert listed["v0"]["logged_by"] == [a] and listed["v0"]["used_by"] == [b]
    assert listed["v1"]["logged_by"] == [c] and listed["v1"]["aliases"] == ["latest"]
    assert listed["v0"]["aliases"] == ["best"]
    table = ok("artifacts", cwd=project)
    assert "v0" in table and "v1" in table and a[:7] in table and c[:7] in table
    # The same content logged again is the same version, not a third one.
    produce(project, "producer-d", "alpha")
    again = versions(project)
    assert sorted(again) == ["v0", "v1"] and len(again["v0"]["logged_by"]) == 2  # type: ignore[arg-type]

    ok("push", cwd=project)
    store = tmp_path / "dvcstore" / "files" / "md5"
    md5s = {f["md5"] for f in output["files"]}
    assert all((store / m[:2] / m[2:]).exists() for m in md5s)

    # A fresh clone: runs without their artifacts, then the download fetches from DVC.
    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(fresh))
    ok("pull", "--no-artifacts", cwd=fresh)
    assert not (fresh / ".dvc" / "cache").exists() or not any((fresh / ".dvc" / "cache").rglob("*"))
    _run, got = consume(fresh, "model:v1", "model:best")
    assert got["model:v1"]["weights"] == "gammagammaga" and got["model:v1"]["size"] == 5000
    assert got["model:best"]["version"] == "v0" and got["model:best"]["producer"] == a


@pytest.mark.slow
def test_an_unknown_artifact_or_version_says_what_there_is(project: Path) -> None:
    produce(project, "producer-a", "alpha")
    done = gitexp("artifacts", "model:v7", cwd=project)
    assert done.returncode == 5
    assert "has no version 'v7'" in done.stderr and "v0 (latest)" in done.stderr
    done = gitexp("artifacts", "alias", "nomodel:v0", "production", cwd=project)
    assert done.returncode == 5 and "no artifact named 'nomodel'" in done.stderr
    done = gitexp("artifacts", "alias", "model:v0", "v2", cwd=project)
    assert done.returncode == 2 and "reserved" in done.stderr
    (project / "use.py").write_text(
        "import gitexp\n"
        "gitexp.init()\n"
        "try:\n"
        "    gitexp.use_artifact('model:v9')\n"
        "except Exception as exc:\n"
        "    print('ERR', type(exc).__name__, exc)\n"
        "gitexp.finish()\n"
    )
    out = subprocess.run([PY, "use.py"], cwd=project, capture_output=True, text=True, check=True)
    assert "ERR UnknownRunError artifact 'model' has no version 'v9'" in out.stdout


def _move(cwd: Path, spec: str, alias: str) -> str:
    moved = json.loads(ok("artifacts", "alias", spec, alias, "--json", cwd=cwd))
    return str(moved["commit"])


def _ref(cwd: Path, name: str) -> str:
    return git(cwd, "rev-parse", "--verify", "-q", name, check=False).strip()


@pytest.mark.slow
def test_alias_moves_travel_and_concurrent_moves_diverge_without_loss(
    project: Path, tmp_path: Path
) -> None:
    produce(project, "producer-a", "alpha")
    produce(project, "producer-c", "gamma")
    first = _move(project, "model:v0", "production")
    second = _move(project, "model:latest", "production")
    ref = "refs/gitexp/aliases/model/production"
    # An append-only log: each move a commit on the previous one, what it says in alias.json.
    assert git(project, "rev-list", ref).split() == [second, first]
    moved = json.loads(git(project, "show", f"{ref}:alias.json"))
    assert moved["name"] == "model" and moved["alias"] == "production"
    assert moved["version"] == "v1" and moved["by"] == "Test User <test@example.invalid>"
    assert git(project, "ls-tree", "--name-only", ref).split() == ["alias.json"]
    history = json.loads(ok("artifacts", "history", "model:production", "--json", cwd=project))
    assert [item["version"] for item in history] == ["v1", "v0"]
    assert versions(project)["v1"]["aliases"] == ["latest", "production"]

    pushed = ok("push", cwd=project)
    assert "alias model:production" in pushed
    assert _ref(tmp_path / "origin.git", ref) == second

    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(other))
    ok("pull", "--no-artifacts", cwd=other)
    assert _ref(other, ref) == second
    assert versions(other)["v1"]["aliases"] == ["latest", "production"]

    # Both clones move the alias; the first push wins, the second is told, nothing is lost.
    here = _move(project, "model:v0", "production")
    there = _move(other, "model:v0", "production")
    ok("push", cwd=project)
    refused = gitexp("push", cwd=other)
    assert refused.returncode == 9, refused.stderr
    assert "diverged" in refused.stdout and "alias model:production" in refused.stdout
    assert _ref(tmp_path / "origin.git", ref) == here
    pulled = gitexp("pull", "--no-artifacts", cwd=other)
    assert pulled.returncode == 9 and "diverged" in pulled.stdout, pulled.stdout
    assert _ref(other, ref) == there  # this clone's move kept
    assert _ref(other, "refs/remotes/origin/gitexp/aliases/model/production") == here
    for sha in (here, there):  # both moves descend from the shared one
        assert git(other, "merge-base", "--is-ancestor", second, sha, check=False) == ""


@pytest.mark.slow
def test_a_hostile_alias_ref_is_ignored_here_and_never_pulled(
    project: Path, tmp_path: Path
) -> None:
    produce(project, "producer-a", "alpha")
    blob = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"],
        cwd=project,
        input="not a move\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    git(project, "update-ref", "refs/gitexp/aliases/model/evil", blob)
    # A commit whose alias.json claims another alias, and one whose tree holds more.
    good = _move(project, "model:v0", "good")
    tree = git(project, "rev-parse", f"{good}^{{tree}}").strip()
    forged = git(project, "commit-tree", tree, "-m", "forged").strip()
    git(project, "update-ref", "refs/gitexp/aliases/model/stolen", forged)
    listed = gitexp("artifacts", cwd=project)
    assert listed.returncode == 0, listed.stderr
    assert "alias ref model/evil is not one gitexp wrote: ignored" in listed.stderr
    assert "alias ref model/stolen is not one gitexp wrote: ignored" in listed.stderr
    assert "evil" not in listed.stdout and "stolen" not in listed.stdout
    assert "good" in listed.stdout

    git(project, "push", "-q", "origin", "refs/gitexp/aliases/*:refs/gitexp/aliases/*")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(other))
    pulled = gitexp("pull", "--no-artifacts", cwd=other)
    assert pulled.returncode == 9, pulled.stderr
    assert "quarantined" in pulled.stdout and "model:evil" in pulled.stdout
    assert "model:stolen" in pulled.stdout
    assert _ref(other, "refs/gitexp/aliases/model/good") == good
    assert _ref(other, "refs/gitexp/aliases/model/evil") == ""
    assert _ref(other, "refs/gitexp/aliases/model/stolen") == ""


@pytest.mark.slow
def test_after_install_plain_git_push_and_fetch_carry_aliases(
    project: Path, tmp_path: Path
) -> None:
    produce(project, "producer-a", "alpha")
    ok("install", cwd=project)
    assert "refs/remotes/origin/gitexp/aliases/*" in git(
        project, "config", "--get-all", "remote.origin.fetch"
    )
    moved = _move(project, "model:v0", "production")
    git(project, "push", "-q")  # the pre-push hook pushes runs and aliases too
    ref = "refs/gitexp/aliases/model/production"
    assert _ref(tmp_path / "origin.git", ref) == moved

    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(other))
    ok("install", cwd=other)
    git(other, "fetch", "-q")
    listed = json.loads(ok("artifacts", "--json", cwd=other))  # drains what the hook queued
    assert listed[0]["aliases"] == ["latest", "production"]
    assert _ref(other, ref) == moved
    ok("uninstall", cwd=other)
    assert "aliases" not in git(other, "config", "--get-all", "remote.origin.fetch")


RESUMABLE = """\
import os, sys
import gitexp
run = gitexp.init(id="lineage-resume", resume="allow")
os.makedirs("data", exist_ok=True)
with open("data/w.bin", "w") as f:
    f.write(sys.argv[1])
with open("data/notes-" + sys.argv[1] + ".txt", "w") as f:
    f.write(sys.argv[1])
art = gitexp.Artifact("model", "model")
art.add_file("data/w.bin")
run.log_artifact(art)
gitexp.save("data/notes-" + sys.argv[1] + ".txt", base_path="data")
gitexp.alert("epoch", sys.argv[1])
gitexp.finish()
"""


@pytest.mark.slow
def test_a_resumed_run_keeps_what_its_earlier_life_logged(project: Path) -> None:
    (project / "resumable.py").write_text(RESUMABLE)
    for tag in ("alpha", "beta"):
        done = subprocess.run(
            [PY, "resumable.py", tag], cwd=project, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
    lineage = meta(project, "lineage-resume", "lineage.json")
    assert len(lineage["outputs"]) == 2  # type: ignore[arg-type]
    ref = "refs/gitexp/runs/lineage-resume"
    alerts = git(project, "show", f"{ref}:.gitexp/alerts.jsonl").splitlines()
    assert [json.loads(line)["text"] for line in alerts] == ["alpha", "beta"]
    files = git(project, "ls-tree", "-r", "--name-only", ref, ".gitexp/files").split()
    assert files == [".gitexp/files/notes-alpha.txt", ".gitexp/files/notes-beta.txt"]
    assert sorted(versions(project)) == ["v0", "v1"]


@pytest.mark.slow
def test_without_a_dvc_project_logging_a_version_warns_and_training_goes_on(repo: Path) -> None:
    (repo / "produce.py").write_text(PRODUCE)
    done = subprocess.run(
        [PY, "produce.py", "no-dvc", "alpha", "best"], cwd=repo, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "could not record artifact model" in done.stderr and "dvc init" in done.stderr
    assert "training goes on" in done.stderr
    (bad := repo / "bad_alias.py").write_text(
        "import gitexp\n"
        "run = gitexp.init()\n"
        "gitexp.Artifact('model', 'model').add_file('no-such-file.bin')\n"
        "try:\n"
        "    run.log_artifact(gitexp.Artifact('model', 'model'), aliases=['no good'])\n"
        "except ValueError as exc:\n"
        "    print('ERR', exc)\n"
        "gitexp.finish()\n"
    )
    done = subprocess.run([PY, bad.name], cwd=repo, capture_output=True, text=True)
    assert "ERR alias 'no good' is not valid" in done.stdout, done.stdout + done.stderr
    assert "no-such-file.bin is not a file: left out of artifact model" in done.stderr


@pytest.mark.slow
def test_a_remote_alias_replaced_by_a_blob_never_replaces_the_local_one(
    project: Path, tmp_path: Path
) -> None:
    produce(project, "producer-a", "alpha")
    moved = _move(project, "model:v0", "production")
    ok("push", cwd=project)
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(other))
    ok("pull", "--no-artifacts", cwd=other)
    bare = tmp_path / "origin.git"
    blob = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"], cwd=bare, input="x\n", capture_output=True,
        text=True, check=True,
    ).stdout.strip()  # fmt: skip
    git(bare, "update-ref", "refs/gitexp/aliases/model/production", blob)
    pulled = gitexp("pull", "--no-artifacts", cwd=other)
    assert pulled.returncode == 9, pulled.stderr
    assert "Traceback" not in pulled.stderr
    assert _ref(other, "refs/gitexp/aliases/model/production") == moved


def test_a_run_cannot_claim_another_versions_digest() -> None:
    """The digest names a version (aliases, use_artifact): an output whose digest is not
    its own files' is refused, so a teammate's run cannot swap the files behind one."""
    from gitexp.model.lineage import VersionFile, check_lineage, version_digest

    files = [{"name": "model.bin", "md5": "0" * 32, "size": 3}]
    own = version_digest([VersionFile("model.bin", "0" * 32, 3, False)], [], {"layers": 2})
    output = {"name": "model", "digest": own, "files": files, "metadata": {"layers": 2}}
    assert check_lineage({"format": 1, "outputs": [output], "inputs": []}) is None
    forged = dict(output, digest="f" * 64)
    problem = check_lineage({"format": 1, "outputs": [forged], "inputs": []})
    assert problem and "digest is not that of its files" in problem
