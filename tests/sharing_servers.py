"""Real servers for the sharing tests, started on 127.0.0.1 by the tests themselves.

* ``git_daemon``: ``git daemon`` serving bare repositories over git:// (receive-pack
  enabled), the network transport the runs travel through;
* ``s3_server``: moto's S3-compatible server, used as a DVC S3 remote with dummy
  credentials.

Both are started once per test session and stopped at its end; every test makes its own
bare repository and bucket prefix, so tests never see each other's data.  A test module
uses them by importing the ``*_fixture`` functions (and gets ``dvc_env`` automatically).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import git, gitexp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class GitDaemon:
    base: Path
    port: int

    def new_bare(self, name: str) -> str:
        """A new empty bare repository; returns its git:// URL."""
        path = self.base / f"{name}.git"
        subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
        subprocess.run(
            ["git", "-C", str(path), "symbolic-ref", "HEAD", "refs/heads/main"], check=True
        )
        return f"git://127.0.0.1:{self.port}/{name}.git"


@pytest.fixture(scope="session", name="git_daemon")
def git_daemon_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitDaemon]:
    if not shutil.which("git"):
        pytest.skip("git is not installed")
    base = tmp_path_factory.mktemp("git-daemon")
    port = free_port()
    process = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            f"--base-path={base}",
            "--export-all",
            "--enable=receive-pack",
            f"--port={port}",
            "--listen=127.0.0.1",
            str(base),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
        yield GitDaemon(base, port)
    finally:
        _stop(process)


@dataclass
class S3Server:
    endpoint: str


@pytest.fixture(scope="session", name="s3_server")
def s3_server_fixture() -> Iterator[S3Server]:
    pytest.importorskip("moto.server")
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from moto.server import main; main()",
            "-H",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        _stop(process)


@pytest.fixture(autouse=True, name="dvc_env")
def dvc_env_fixture(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DVC quiet and local: no analytics, its site cache in a temporary folder, dummy
    AWS credentials that only the local S3 server accepts."""
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.setenv("DVC_SITE_CACHE_DIR", str(tmp_path_factory.mktemp("dvc-site")))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)


def make_bucket(server: S3Server, name: str) -> None:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=name)


def dvc(cwd: Path | str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run DVC's own command line (as a DVC user would)."""
    exe = os.path.join(os.path.dirname(sys.executable), "dvc")
    done = subprocess.run(
        [exe if os.path.exists(exe) else "dvc", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"dvc {' '.join(args)}: {done.stdout}{done.stderr}"
    return done


def dvc_setup(path: Path, url: str, **options: str) -> None:
    """``dvc init`` plus ``dvc remote add -d store URL`` (and ``dvc remote modify``
    options), written as DVC writes them, without paying for DVC's command line."""
    dvc(path, "init", "-q")
    lines = ["[core]", "    remote = store", "['remote \"store\"']", f"    url = {url}"]
    lines += [f"    {key} = {value}" for key, value in options.items()]
    (path / ".dvc" / "config").write_text("\n".join(lines) + "\n")


def seed_project(path: Path, url: str, dvc_url: str, **options: str) -> None:
    """A project on the git server: a training script, DVC set up with its remote."""
    path.mkdir()
    git(path, "init", "-q")
    (path / "train.py").write_text(
        "import os, sys\n"
        "import gitexp\n"
        "run = gitexp.init(config={'lr': 0.1})\n"
        "os.makedirs('outputs', exist_ok=True)\n"
        "tag = sys.argv[1] if len(sys.argv) > 1 else 'x'\n"
        "with open('outputs/model.bin', 'wb') as f:\n"
        "    f.write(('weights of ' + tag + '\\n').encode() * 1000)\n"
        "with open('outputs/shared.txt', 'w') as f:\n"
        "    f.write('the same in every run\\n')\n"
        "gitexp.log({'loss': 0.5})\n"
        "gitexp.log_artifact('outputs/shared.txt', name='shared')\n"
        "gitexp.finish()\n"
    )
    (path / ".gitignore").write_text("outputs/\n*.ckpt\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    dvc_setup(path, dvc_url, **options)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "Set up DVC")
    git(path, "remote", "add", "origin", url)
    git(path, "push", "-q", "-u", "origin", "main")


def clone(url: str, path: Path) -> Path:
    subprocess.run(["git", "clone", "-q", url, str(path)], check=True, capture_output=True)
    return path


def ok(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run gitexp; assert it succeeded; return stdout."""
    done = gitexp(*args, cwd=cwd, env=env, timeout=120)
    assert done.returncode == 0, f"gitexp {' '.join(args)} -> {done.returncode}\n{done.stderr}"
    return done.stdout
