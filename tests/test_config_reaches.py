"""Config that reaches the script, and a record of what it used (issue 15, point 1).

The macros (``${args}``, ...) pass overrides to programs that parse their own arguments;
every override gets a verdict, and the record never presents an override as used when
the script said otherwise.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import git, gitexp

from gitexp.errors import UsageError
from gitexp.model.config import Config
from gitexp.model.macros import expand, format_value
from gitexp.model.overrides import OverrideWatch, verdicts

ARGPARSE_SCRIPT = """\
import argparse, json, gitexp
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
gitexp.init(config=args)
with open("used.jsonl", "a") as handle:  # what the training really used
    handle.write(json.dumps(vars(args)) + "\\n")
gitexp.log({"loss": args.lr})
"""

READS_CONFIG = """\
import gitexp
run = gitexp.init(config={"lr": 0.1, "seed": 0})
print("lr", gitexp.config.lr)
"""

HYDRA_APP = """\
import json
import hydra
from omegaconf import DictConfig, OmegaConf
import gitexp

@hydra.main(version_base=None, config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    gitexp.init(config=cfg)
    with open(hydra.utils.get_original_cwd() + "/used.jsonl", "a") as handle:
        handle.write(json.dumps(OmegaConf.to_container(cfg, resolve=True)) + "\\n")
    gitexp.log({"loss": cfg.lr * cfg.model.depth})

main()
"""


def run_ids(repo: Path) -> list[str]:
    out = git(repo, "for-each-ref", "--format=%(refname:lstrip=3)", "refs/gitexp/runs")
    return out.split()


def only_run(repo: Path) -> str:
    ids = run_ids(repo)
    assert len(ids) == 1, ids
    return ids[0]


def run_file(repo: Path, run_id: str, name: str) -> str:
    return git(repo, "show", f"refs/gitexp/runs/{run_id}:.gitexp/{name}")


def run_json(repo: Path, run_id: str) -> dict[str, Any]:
    return dict(json.loads(run_file(repo, run_id, "run.json")))


def config_of(repo: Path, run_id: str) -> dict[str, Any]:
    return dict(yaml.safe_load(run_file(repo, run_id, "config.yaml")) or {})


def used(repo: Path) -> list[dict[str, Any]]:
    lines = (repo / "used.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture
def argparse_repo(repo: Path) -> Path:
    (repo / "train_args.py").write_text(ARGPARSE_SCRIPT)
    (repo / "reads.py").write_text(READS_CONFIG)
    (repo / ".gitignore").write_text("used.jsonl\noutputs/\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "scripts")
    return repo


# -- the macros --------------------------------------------------------------------------


def test_args_become_one_argument_per_leaf_key() -> None:
    config = {"lr": 0.9, "model": {"depth": 50, "norm": "layer"}, "flag": True}
    got = expand(["python", "t.py", "${args}"], config)
    assert got.command == [
        "python",
        "t.py",
        "--lr=0.9",
        "--model.depth=50",
        "--model.norm=layer",
        "--flag=true",
    ]
    assert got.passed == {"lr", "model.depth", "model.norm", "flag"}
    hydra = expand(["python", "app.py", "${args_no_hyphens}"], config).command
    assert hydra[2:] == ["lr=0.9", "model.depth=50", "model.norm=layer", "flag=true"]


def test_json_key_env_and_interpreter_macros() -> None:
    config = {"lr": 1e-5, "layers": [64, 32], "name": "a b"}
    got = expand(["${env}", "${interpreter}", "t.py", "${args_json}", "--lr", "${lr}"], config)
    assert got.command[0] == "/usr/bin/env"
    assert Path(got.command[1]).name.startswith("python")
    assert json.loads(got.command[3]) == config
    assert got.command[5] == "1e-05" and float(got.command[5]) == 1e-5
    assert got.passed == {"lr", "layers", "name"}
    single = expand(["t.py", "--lr", "${lr}"], config)
    assert single.passed == {"lr"}


def test_args_inside_a_longer_argument_are_shell_quoted() -> None:
    got = expand(["bash", "-c", "python t.py ${args}"], {"name": "a b", "n": 2})
    assert got.command[2] == "python t.py '--name=a b' --n=2"


def test_a_literal_dollar_brace_and_an_unknown_macro() -> None:
    assert expand(["echo", "$${HOME}"], {}).command == ["echo", "${HOME}"]
    with pytest.raises(UsageError) as caught:
        expand(["python", "t.py", "${lrr}"], {"lr": 0.1})
    assert "${lrr}" in str(caught.value) and "lr" in str(caught.value)
    assert "$${lrr}" in caught.value.hint
    with pytest.raises(UsageError, match="program"):
        expand(["python", "${program}"], {})


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.001, "0.001"), (True, "true"), (None, "null"), ([1, 2], "[1,2]"), ("x", "x")],
)
def test_values_are_spelled_as_yaml_reads_them(value: object, text: str) -> None:
    assert format_value(value) == text
    assert yaml.safe_load(text) == value


# -- the verdicts ------------------------------------------------------------------------


def test_the_watch_sees_reads_reports_and_nested_keys() -> None:
    overrides = {"lr": 0.9, "seed": 3, "model": {"depth": 50}, "wd": 0.1}
    config = Config({"lr": 0.9, "seed": 3, "model": {"depth": 50}, "wd": 0.1})
    watch = OverrideWatch(overrides)
    config.set_override_watch(watch)
    watch.saw_report({"lr": 0.1, "seed": 3})  # init(config=defaults)
    assert config.lr == 0.9  # read while it holds the override: applied
    _ = config["model"]  # reading the mapping reads its leaves
    config.update({"wd": 0.5})  # the script set its own value
    result = {v.path: v.as_json() for v in verdicts(overrides, watch.as_json(), frozenset())}
    assert result["lr"]["status"] == "applied" and result["lr"]["how"] == "read"
    assert result["seed"] == {"value": 3, "status": "applied", "how": "reported", "reported": 3}
    assert result["model.depth"]["status"] == "applied"
    assert result["wd"] == {"value": 0.1, "status": "unapplied", "reported": 0.5}
    # A read after the script replaced the value is not the override being used.
    assert "wd" not in watch.read
    _ = config.wd
    assert "wd" not in watch.read


def test_nothing_seen_is_unverified_and_passed_is_said() -> None:
    result = verdicts({"lr": 0.9, "n": 1}, None, frozenset({"n"}))
    assert [v.as_json() for v in result] == [
        {"value": 0.9, "status": "unverified"},
        {"value": 1, "status": "unverified", "passed": "command line"},
    ]


def test_internal_writes_of_the_config_are_not_reads() -> None:
    config = Config({"lr": 0.9})
    watch = OverrideWatch({"lr": 0.9})
    config.set_override_watch(watch)
    config.stored()
    "lr" in config  # noqa: B015 - membership is not a read of the value
    assert watch.read == set()
    dict(config.items())
    assert watch.read == {"lr"}


# -- gitexp run, end to end --------------------------------------------------------------


def test_an_override_the_argparse_script_ignored_is_recorded_as_what_it_used(
    argparse_repo: Path,
) -> None:
    done = gitexp("run", "-p", "lr=0.9", "--", sys.executable, "train_args.py", cwd=argparse_repo)
    assert done.returncode == 0, done.stderr
    run_id = only_run(argparse_repo)
    assert used(argparse_repo) == [{"lr": 0.1, "seed": 0}]
    assert config_of(argparse_repo, run_id)["lr"] == 0.1  # never the 0.9 it did not use
    info = run_json(argparse_repo, run_id)
    assert info["overrides"] == {"lr": {"value": 0.9, "status": "unapplied", "reported": 0.1}}
    assert "lr=0.9 not applied: the script reported 0.1" in done.stderr
    assert "'${args}'" in done.stderr
    listing = gitexp("ls", "--columns", "name,lr", cwd=argparse_repo)
    assert "0.1!" in listing.stdout, listing.stdout
    shown = gitexp("show", run_id, cwd=argparse_repo)
    assert "lr = 0.1!" in shown.stdout
    assert "lr=0.9 not applied" in shown.stdout


def test_args_macro_passes_the_overrides_and_the_template_is_kept(argparse_repo: Path) -> None:
    done = gitexp(
        "run",
        *("-p", "lr=0.9", "-p", "seed=3"),
        "--",
        sys.executable,
        "train_args.py",
        "${args}",
        cwd=argparse_repo,
    )
    assert done.returncode == 0, done.stderr
    run_id = only_run(argparse_repo)
    assert used(argparse_repo) == [{"lr": 0.9, "seed": 3}]
    info = run_json(argparse_repo, run_id)
    assert info["command"][-2:] == ["--lr=0.9", "--seed=3"]
    assert info["command_template"][-1] == "${args}"
    assert info["overrides"]["lr"] == {
        "value": 0.9,
        "status": "applied",
        "how": "reported",
        "reported": 0.9,
        "passed": "command line",
    }
    assert config_of(argparse_repo, run_id) == {"lr": 0.9, "seed": 3}
    assert "warning" not in done.stderr


def test_a_script_that_reads_gitexp_config_applies_its_overrides(argparse_repo: Path) -> None:
    done = gitexp("run", "-p", "lr=0.5", "--", sys.executable, "reads.py", cwd=argparse_repo)
    assert done.returncode == 0, done.stderr
    run_id = only_run(argparse_repo)
    assert "lr 0.5" in done.stdout
    info = run_json(argparse_repo, run_id)
    assert info["overrides"]["lr"] == {"value": 0.5, "status": "applied", "how": "read"}
    assert config_of(argparse_repo, run_id) == {"lr": 0.5, "seed": 0}


def test_a_program_without_gitexp_leaves_its_overrides_unverified(argparse_repo: Path) -> None:
    done = gitexp("run", "-p", "lr=0.5", "--", "true", cwd=argparse_repo)
    assert done.returncode == 0, done.stderr
    run_id = only_run(argparse_repo)
    assert run_json(argparse_repo, run_id)["overrides"] == {
        "lr": {"value": 0.5, "status": "unverified"}
    }
    assert "lr=0.5 unverified" in done.stderr
    assert "0.5?" in gitexp("ls", "--columns", "lr", cwd=argparse_repo).stdout
    # Passed on by a macro: still unverified, but said, and no longer in doubt.
    done = gitexp("run", "-p", "lr=0.5", "--", "echo", "${lr}", cwd=argparse_repo)
    assert done.stdout.strip() == "0.5"
    second = next(i for i in run_ids(argparse_repo) if i != run_id)
    assert run_json(argparse_repo, second)["overrides"]["lr"]["passed"] == "command line"
    lines = gitexp("ls", "--columns", "id,lr", cwd=argparse_repo).stdout.splitlines()
    marks = {line.split()[0][:7]: line.split()[-1] for line in lines if line[:1].isalnum()}
    assert marks[run_id[:7]] == "0.5?" and marks[second[:7]] == "0.5"


def test_an_unknown_macro_is_a_usage_error_before_anything_runs(argparse_repo: Path) -> None:
    done = gitexp("run", "-p", "lr=0.5", "--", "touch", "ran-${lrr}", cwd=argparse_repo)
    assert done.returncode == 2
    assert "unknown macro ${lrr}" in done.stderr
    assert run_ids(argparse_repo) == []
    assert not list(argparse_repo.glob("ran-*"))


def test_a_secret_override_is_redacted_in_the_verdict_too(argparse_repo: Path) -> None:
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    done = gitexp("run", "-p", f"api_token={token}", "--", "true", cwd=argparse_repo)
    assert done.returncode == 0, done.stderr
    run_id = only_run(argparse_repo)
    text = run_file(argparse_repo, run_id, "run.json")
    assert token not in text
    assert json.loads(text)["overrides"]["api_token"]["value"] == "[redacted by gitexp]"


# -- sweeps ------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_sweep_with_args_varies_an_argparse_script(argparse_repo: Path) -> None:
    done = gitexp(
        "sweep",
        *("--name", "s", "-p", "lr=0.5,0.05,0.005", "-j", "2"),
        "--",
        sys.executable,
        "train_args.py",
        "${args}",
        cwd=argparse_repo,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    trained = sorted(row["lr"] for row in used(argparse_repo))
    assert trained == [0.005, 0.05, 0.5]
    for run_id in run_ids(argparse_repo):
        info = run_json(argparse_repo, run_id)
        reported = info["overrides"]["lr"]["reported"]
        assert (
            config_of(argparse_repo, run_id)["lr"] == reported == info["overrides"]["lr"]["value"]
        )


@pytest.mark.slow
def test_a_sweep_without_macros_stops_after_one_trial_with_the_hint(argparse_repo: Path) -> None:
    done = gitexp(
        "sweep",
        *("--name", "s", "-p", "lr=0.5,0.05,0.005", "-j", "2"),
        "--",
        sys.executable,
        "train_args.py",
        cwd=argparse_repo,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert len(run_ids(argparse_repo)) == 1
    assert used(argparse_repo) == [{"lr": 0.1, "seed": 0}]
    assert "sweep stopped after trial s-lr=0.5" in done.stderr
    assert "'${args}'" in done.stderr


@pytest.mark.slow
def test_a_sweep_of_a_hydra_app_with_args_no_hyphens(argparse_repo: Path) -> None:
    pytest.importorskip("hydra", reason="pip install hydra-core")
    conf = argparse_repo / "conf"
    conf.mkdir()
    (conf / "config.yaml").write_text("lr: 0.1\nlayers: [64, 32]\nmodel:\n  depth: 18\n")
    (argparse_repo / "app.py").write_text(HYDRA_APP)
    done = gitexp(
        "sweep",
        *("--name", "h", "-p", "lr=0.5,0.05", "-p", "model.depth=34"),
        "--",
        sys.executable,
        "app.py",
        "${args_no_hyphens}",
        cwd=argparse_repo,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    trials = used(argparse_repo)
    assert sorted(t["lr"] for t in trials) == [0.05, 0.5]
    assert {t["model"]["depth"] for t in trials} == {34}
    recorded = [config_of(argparse_repo, run_id) for run_id in run_ids(argparse_repo)]
    assert sorted(recorded, key=lambda c: c["lr"]) == sorted(trials, key=lambda c: c["lr"])
    info = run_json(argparse_repo, run_ids(argparse_repo)[0])
    assert info["hydra"]["overrides"] in (
        ["lr=0.5", "model.depth=34"],
        ["lr=0.05", "model.depth=34"],
    )
    assert info["hydra"]["output_dir"].startswith("outputs/")
    assert all(v["status"] == "applied" for v in info["overrides"].values())


@pytest.mark.slow
def test_a_rerun_expands_the_template_with_its_own_config(argparse_repo: Path) -> None:
    done = gitexp(
        "run", "-p", "lr=0.9", "--", sys.executable, "train_args.py", "${args}", cwd=argparse_repo
    )
    assert done.returncode == 0, done.stderr
    first = only_run(argparse_repo)
    again = gitexp("rerun", "-p", "lr=0.3", first, cwd=argparse_repo, timeout=120)
    assert again.returncode in (0, 1), again.stderr  # 1: a different result, as it should be
    rerun = next(i for i in run_ids(argparse_repo) if i != first)
    info = run_json(argparse_repo, rerun)
    assert info["command"][-2:] == ["--lr=0.3", "--seed=0"]  # the whole config, passed
    assert config_of(argparse_repo, rerun)["lr"] == 0.3


# -- configs of other libraries ----------------------------------------------------------


def test_omegaconf_and_click_configs_are_plain_values() -> None:
    omegaconf = pytest.importorskip("omegaconf")
    click = pytest.importorskip("click")
    cfg = omegaconf.OmegaConf.create({"layers": [64, 32], "lr": "${base}", "base": 0.1})
    config = Config()
    config.update(cfg)
    assert config.as_dict() == {"layers": [64, 32], "lr": 0.1, "base": 0.1}
    ctx = click.Context(click.Command("train"))
    ctx.params = {"lr": 0.3, "epochs": 2}
    config.update(ctx)
    assert config["epochs"] == 2 and config["lr"] == 0.3
    nested = Config({"opt": {"betas": omegaconf.ListConfig([0.9, 0.99])}})
    assert nested["opt"] == {"betas": [0.9, 0.99]}


def test_the_first_trial_gate_reads_only_runs_of_this_sweep(argparse_repo: Path) -> None:
    """A sweep started again names its trials as before; an earlier run of the same name
    (here its overrides confirmed) must not answer for the new first trial."""
    from gitexp.git.repo import GitRepo
    from gitexp.sweep import probe

    done = gitexp(
        "run", "--group", "g", "--name", "g-lr=0.5", "-p", "lr=0.5",
        "--", sys.executable, "train_args.py", "${args}",
        cwd=argparse_repo,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with GitRepo.discover(str(argparse_repo)) as repo:
        assert probe.first_trial(repo, "g", "g-lr=0.5")[0] == probe.GO
        earlier = probe.group_ids(repo, "g")
        assert earlier == {only_run(argparse_repo)}
        # The new sweep's trial has not recorded anything yet: wait for it.
        assert probe.first_trial(repo, "g", "g-lr=0.5", earlier)[0] == probe.WAIT
