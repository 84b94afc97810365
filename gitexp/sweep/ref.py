"""A sweep in git: ``refs/gitexp/sweeps/<id>``, one commit holding only its spec.

The spec (``sweep.yaml``: method, metric and goal, trials, pruner, parameters in wandb's
spelling, command) is written once, when the sweep starts; its trials are the runs of
its group (the group is the sweep's id), so a clone that has the ref and the runs can
show the sweep and resume it, and the Optuna study is rebuilt from the runs
(sweep/study.py).  No database is shared: the ref is created once and never moves.

A sweep ref arrives from remotes like runs do: input, not code.  Its commit is checked
(read/trust.py) and its YAML parsed as an untrusted file; one that fails is quarantined:
left out of listings with a warning, exit 7 when named.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gitexp.errors import ConfigError, FormatError, UnknownRunError, UsageError
from gitexp.git.repo import MODE_FILE, GitRepo, ObjectId
from gitexp.model import validate
from gitexp.read.trust import sweep_spec_text
from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from gitexp.sweep import space as sweepmod

# PyYAML and the sweep's space (dataclasses, inspect) are imported where a spec is read
# or written: `gitexp push` and `pull` carry sweep refs and need neither (~40 ms).

SWEEP_PREFIX = b"refs/gitexp/sweeps/"
SPEC_FILE = b"sweep.yaml"


def ref_name(sweep_id: str) -> bytes:
    return SWEEP_PREFIX + sweep_id.encode()


# The reflog message of a sweep ref this clone created; one brought by a pull has another.
CREATED_HERE = b"gitexp sweep: created"


def created_here(repo: GitRepo, sweep_id: str) -> bool:
    """Whether this clone made the sweep (else its command came from elsewhere, and runs
    only with the user's consent)."""
    return CREATED_HERE.decode() in (repo.first_reflog_message(ref_name(sweep_id)) or "")


def check_id(sweep_id: str) -> None:
    problem = validate.check_sweep_id(sweep_id)
    if problem:
        raise UsageError(
            f"{problem}: a sweep's group names its ref (refs/gitexp/sweeps/<group>)",
            "Give --group NAME with 1 to 64 letters, digits, '.', '_' or '-'.",
        )


def write_spec(repo: GitRepo, sweep_id: str, spec: Mapping[str, object]) -> bool:
    """Create the sweep's ref holding ``spec``; False when it exists with this very spec.

    A sweep's spec never changes: one that exists with another spec is refused (the
    trials of two searches would be read as one study).
    """
    from gitexp.model import configfile

    check_id(sweep_id)
    text = configfile.dump_yaml(spec)
    tree = repo.write_tree([(SPEC_FILE, MODE_FILE, repo.write_blob(text.encode()))])
    for _attempt in range(2):  # a second look when another process created it meanwhile
        existing = repo.read_ref(ref_name(sweep_id))
        if existing is not None:
            if repo.commit_info(existing)[0] == tree:
                return False
            raise UsageError(
                f"sweep {sweep_id} exists with another spec (its method, metric, trials, "
                "parameters or command differ)",
                f"Continue it with `gitexp sweep --resume {sweep_id}`, see it with "
                f"`gitexp sweep show {sweep_id}`, or start a new one with --group NAME.",
            )
        commit = repo.write_commit(tree, [], f"gitexp sweep {sweep_id}\n")
        if repo.create_ref(ref_name(sweep_id), commit, CREATED_HERE):
            return True
    return False


def spec_problem(
    repo: GitRepo, sweep_id: str, sha: ObjectId
) -> tuple[sweepmod.SweepFile | None, str | None]:
    """(the sweep's parsed spec, None), or (None, why the sweep is quarantined)."""
    problem = validate.check_sweep_id(sweep_id)
    if problem:
        return None, problem
    text, problem = sweep_spec_text(repo, sha)
    if text is None:
        return None, problem
    from gitexp.model import configfile
    from gitexp.sweep import space as sweepmod

    try:
        data = configfile.load_yaml(text, source=f"sweep {sweep_id}")
        spec = sweepmod.load_spec(data, f"sweep {sweep_id}", strict=False)
    except (ConfigError, UsageError, RecursionError, ArithmeticError, ValueError) as exc:
        return None, f"its sweep.yaml is not a sweep spec ({getattr(exc, 'message', exc)})"
    if spec.group != sweep_id or spec.command is None or not spec.search.get("metric"):
        return None, "its sweep.yaml lacks the group, command or metric a sweep records"
    return spec, None


def load(repo: GitRepo, text: str) -> tuple[str, sweepmod.SweepFile]:
    """The sweep ``text`` names (its id, or a unique prefix) and its spec.

    Exit 5 when nothing or more than one sweep matches, exit 7 when it is quarantined.
    """
    refs = sweeps(repo)
    chosen = [text] if text in refs else [name for name in refs if name.startswith(text)]
    if len(chosen) != 1:
        known = ", ".join(sorted(refs)[:10]) or "none here"
        raise UnknownRunError(
            f"{'no' if not chosen else 'more than one'} sweep matches {text[:80]!r} "
            f"(sweeps: {known})",
            "Name a sweep by its group; `gitexp pull` brings a teammate's sweeps.",
        )
    spec, problem = spec_problem(repo, chosen[0], refs[chosen[0]])
    if spec is None:
        raise FormatError(
            f"sweep {chosen[0][:80]} is quarantined: {problem}",
            f"gitexp will not use it; inspect it with `git show "
            f"{ref_name(chosen[0][:80]).decode()}`.",
        )
    return chosen[0], spec


def sweeps(repo: GitRepo) -> dict[str, ObjectId]:
    """Every sweep ref of this repository, by id."""
    return {
        name.decode("utf-8", "replace"): sha for name, sha in repo.list_refs(SWEEP_PREFIX).items()
    }


def usable(repo: GitRepo, say: Callable[[str], None]) -> dict[str, sweepmod.SweepFile]:
    """The sweeps a listing may show; quarantined ones left out with one warning each."""
    out: dict[str, sweepmod.SweepFile] = {}
    for sweep_id, sha in sorted(sweeps(repo).items()):
        spec, problem = spec_problem(repo, sweep_id, sha)
        if spec is None:
            say(f"skipped quarantined sweep {ref_name(sweep_id[:80]).decode()}: {problem}")
        else:
            out[sweep_id] = spec
    return out
