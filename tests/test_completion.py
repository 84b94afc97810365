"""`gitexp completion SHELL`: the scripts load in the real shells and complete as a user expects."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import gitexp, run_refs


def _script(shell: str, cwd: Path) -> Path:
    done = gitexp("completion", shell, cwd=cwd)
    assert done.returncode == 0, done.stderr
    path = cwd.parent / f"completion.{shell}"
    path.write_text(done.stdout)
    return path


def _bash_complete(script: Path, cwd: Path, *words: str) -> list[str]:
    """What bash offers for the last of ``words`` (as bash calls a -F function on Tab)."""
    quoted = " ".join(f"'{word}'" for word in words)
    program = (
        f"source '{script}' && complete -p gitexp >/dev/null && "
        f"COMP_WORDS=(gitexp {quoted}); COMP_CWORD={len(words)}; _gitexp; "
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(["bash", "-c", program], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.fixture
def recorded(repo: Path) -> tuple[Path, str]:
    done = gitexp("run", "--name", "quick-one", "--", sys.executable, "-c", "1", cwd=repo)
    assert done.returncode == 0, done.stderr
    (run_id,) = run_refs(repo)
    return repo, run_id


def test_bash_script_registers_and_completes_commands_and_options(repo: Path) -> None:
    script = _script("bash", repo)
    done = subprocess.run(
        ["bash", "-c", f"source '{script}' && complete -p gitexp"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "-F _gitexp gitexp" in done.stdout, done.stderr
    assert _bash_complete(script, repo, "l") == ["ls"]
    assert set(_bash_complete(script, repo, "d")) == {"diff", "demo", "doctor"}
    assert "--no-system-metrics" in _bash_complete(script, repo, "run", "--no")
    assert _bash_complete(script, repo, "completion", "") == ["bash", "zsh", "fish"]
    assert _bash_complete(script, repo, "plot", "--band", "") != []  # choices of --band
    (repo / "conf.yaml").write_text("lr: 1\n")
    assert _bash_complete(script, repo, "run", "--config", "conf.") == ["conf.yaml"]


def test_bash_completes_run_ids_and_names_from_refs(recorded: tuple[Path, str]) -> None:
    repo, run_id = recorded
    script = _script("bash", repo)
    assert _bash_complete(script, repo, "show", "quick") == ["quick-one"]
    assert _bash_complete(script, repo, "diff", run_id[:3]) == [run_id]
    assert "latest" in _bash_complete(script, repo, "run", "--resume", "")
    # after `--`, the words are the recorded command's: no run ids there
    assert run_id not in _bash_complete(script, repo, "run", "--", "")


def test_bash_outside_a_repository_offers_no_runs(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    script = _script("bash", outside)
    assert _bash_complete(script, outside, "show", "") == ["latest"]


# Drives an interactive zsh in a pseudo-terminal (zsh's own zpty): each line typed ends in
# a Tab, and what zsh draws back (the completion list) is printed after a marker.
ZSH_DRIVER = """\
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PS1='> '; autoload -Uz compinit; compinit -u -D; source ${(q)1}; echo READ''Y"
# Wait for READY, printed only by the echo: the command line zsh echoes reads READ''Y.
out=""
for i in {1..600}; do
    if zpty -r -t z chunk; then out+=$chunk; else sleep 0.05; fi
    [[ $out == *READY* ]] && break
done
[[ $out == *READY* ]] || { print -u2 "zsh never got ready: $out"; exit 3 }
for line in "${@[2,-1]}"; do
    zpty -w -n z $'\\x15'"$line"$'\\t'
    sleep 1
    out=""
    while zpty -r -t z chunk; do out+=$chunk; done
    print -r -- "=== $line"
    print -r -- "$out"
done
zpty -d z
"""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_script_completes_commands_options_and_runs(recorded: tuple[Path, str]) -> None:
    repo, run_id = recorded
    script = _script("zsh", repo)
    lines = ["gitexp show ", "gitexp run --no", "gitexp complet"]
    done = subprocess.run(
        ["zsh", "-f", "-c", ZSH_DRIVER, "driver", str(script), *lines],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    shown = dict(part.split("\n", 1) for part in done.stdout.split("=== ")[1:])
    assert run_id in shown["gitexp show "] and "quick-one" in shown["gitexp show "]
    assert "--no-system-metrics" in shown["gitexp run --no"]
    assert "gitexp completion" in shown["gitexp complet"]  # the one match, typed in


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_script_completes_commands_options_and_runs(recorded: tuple[Path, str]) -> None:
    repo, run_id = recorded
    script = _script("fish", repo)

    def complete(line: str) -> list[str]:
        program = f"source '{script}'; complete --do-complete '{line}'"
        done = subprocess.run(
            ["fish", "--no-config", "-c", program], cwd=repo, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return [row.split("\t")[0] for row in done.stdout.splitlines()]

    assert complete("gitexp l") == ["ls"]
    assert "--no-system-metrics" in complete("gitexp run --no")
    assert {run_id, "quick-one", "latest"} <= set(complete("gitexp show "))
