"""Multi-process training: a real 2-process DDP job (torch, gloo backend, CPU, 127.0.0.1)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import git, gitexp, run_refs

pytest.importorskip("torch")
pytestmark = [pytest.mark.integration, pytest.mark.slow]

DDP_TRAIN = """\
import torch, torch.distributed as dist, gitexp
dist.init_process_group("gloo")
rank = dist.get_rank()
run = gitexp.init(config={"lr": 0.1})
torch.manual_seed(0)
model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(4, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
data = torch.Generator().manual_seed(rank)
for step in range(5):
    x = torch.randn(8, 4, generator=data)
    loss = ((model(x) - x.sum(1, keepdim=True)) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    gitexp.log({"loss": loss.item(), "rank": rank})
# DDP averaged the gradients: both ranks hold the same weights.
print("WEIGHT", rank, round(model.module.weight.sum().item(), 6), flush=True)
gitexp.finish()
dist.destroy_process_group()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _torchrun() -> list[str]:
    return [
        *(sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2"),
        *("--master_addr=127.0.0.1", f"--master_port={_free_port()}", "ddp_train.py"),
    ]


def _env(all_ranks: bool) -> dict[str, str]:
    env = {"OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    if all_ranks:
        env["GITEXP_ALL_RANKS"] = "1"
    return env


def _run_json(repo: Path, run_id: str) -> dict[str, Any]:
    return dict(json.loads(git(repo, "show", f"refs/gitexp/runs/{run_id}:.gitexp/run.json")))


def _ranks_logged(repo: Path, run_id: str) -> set[int]:
    text = git(repo, "show", f"refs/gitexp/runs/{run_id}:.gitexp/history/000000.jsonl")
    return {json.loads(line)["rank"] for line in text.splitlines()}


def _weights(output: str) -> set[str]:
    return {line.split()[2] for line in output.splitlines() if line.startswith("WEIGHT")}


@pytest.fixture
def ddp_repo(repo: Path) -> Path:
    (repo / "ddp_train.py").write_text(DDP_TRAIN)
    return repo


def test_under_gitexp_run_rank_zero_records(ddp_repo: Path) -> None:
    done = gitexp("run", "--", *_torchrun(), cwd=ddp_repo, env=_env(False), timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(_weights(done.stdout)) == 1  # the two ranks really trained together
    [run_id] = run_refs(ddp_repo)
    assert _run_json(ddp_repo, run_id)["status"] == "finished"
    assert _ranks_logged(ddp_repo, run_id) == {0}


def test_all_ranks_under_gitexp_run_share_one_group(ddp_repo: Path) -> None:
    done = gitexp("run", "--group", "job7", "--", *_torchrun(), cwd=ddp_repo, env=_env(True))
    assert done.returncode == 0, done.stderr
    runs = run_refs(ddp_repo)
    assert len(runs) == 2
    infos = {run_id: _run_json(ddp_repo, run_id) for run_id in runs}
    assert {info["group"] for info in infos.values()} == {"job7"}
    for run_id, info in infos.items():
        assert info["status"] == "finished"
        assert _ranks_logged(ddp_repo, run_id) == {info["extra"]["rank"]}
        assert info["extra"]["world_size"] == 2
    assert sorted(info["extra"]["rank"] for info in infos.values()) == [0, 1]
    assert sorted(info["source"] for info in infos.values()) == ["cli", "script"]
    listed = gitexp("ls", "--group", "job7", cwd=ddp_repo)
    assert listed.returncode == 0
    # The header row is the one above tabulate's dash line (a config/metrics group line
    # may stand above it).
    lines = listed.stdout.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("--"))
    header = lines[rule - 1].split()
    assert header[:3] == ["id", "name", "group"]
    assert sum(" job7 " in line for line in listed.stdout.splitlines()) == 2


def test_all_ranks_without_the_wrapper_derive_a_group(ddp_repo: Path) -> None:
    env = {**os.environ, **_env(True)}
    done = subprocess.run(
        _torchrun(), cwd=ddp_repo, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    runs = run_refs(ddp_repo)
    assert len(runs) == 2, done.stderr
    infos = [_run_json(ddp_repo, run_id) for run_id in runs]
    groups = {info["group"] for info in infos}
    assert len(groups) == 1 and next(iter(groups)).startswith("ddp-")
    group = next(iter(groups))
    assert sorted(info["name"] for info in infos) == [f"{group}-rank0", f"{group}-rank1"]
    listed = json.loads(gitexp("ls", "--group", group, "--json", cwd=ddp_repo).stdout)
    assert len(listed) == 2
    assert gitexp("ls", "--group", "other", "--json", cwd=ddp_repo).stdout.strip() == "[]"
