"""Trials as Ray tasks on an existing cluster: ``gitexp sweep --executor ray``.

Every trial is one Ray task that runs the trial's ``gitexp run`` command line on the node
Ray chose, in one of two places:

- the repository itself, when the node sees it at the same path (a shared filesystem).
  "Sees it" is proven, not assumed: the sweep writes a mark with a random name into the
  repository's ``.git/gitexp/``, and the task looks for it, so another clone that happens
  to sit at the same path on the node is never taken for the sweep's.  The trial then
  runs as a local one does (its live folder is what pruning reads).
- otherwise a fresh clone from a git remote (``--remote NAME``, or ``origin``) checked
  out at the sweep's commit; the task pushes the run back to that remote and removes the
  clone, and the sweep pulls the run when the task has ended, so results meet in git.
  A clone holds only committed code, so the sweep refuses ``--remote`` while the work
  tree has changes or the remote lacks the commit, rather than run other code than asked.

Ray is imported here only, and only when a sweep asks for it (``gitexp[ray]``).  The
task body is a module-level function, so that Ray ships it by reference: every node
needs gitexp installed, as it needs the training script's own packages.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from gitexp.errors import GitexpError, RepositoryStateError, TransferError, UsageError
from gitexp.git import binary as gitbin
from gitexp.git import clone as gitclone
from gitexp.git.repo import GitRepo
from gitexp.model.record import REF_PREFIX
from gitexp.sweep.executor import trial_env

NAME = "ray"
INSTALL = "pip install 'gitexp[ray]'"
POLL_SECONDS = 0.2  # how often a task looks up from its trial (cancellation arrives then)
CANCEL_AGAIN = 1.0  # seconds between two cancellations of a task that has not stopped
Say = Callable[[str], None]


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError(
            "--executor ray needs Ray, which is not installed here", f"Install it: {INSTALL}"
        ) from None
    return ray


def parse_resources(text: str | None) -> dict[str, Any]:
    """``cpu=1,gpu=1,accel=2`` as ``ray.remote`` options (a trial takes one CPU by default)."""
    options: dict[str, Any] = {"num_cpus": 1.0}
    custom: dict[str, float] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, _, amount = item.partition("=")
        key = key.strip().lower()
        try:
            value = float(amount)
        except ValueError:
            value = -1.0
        if not key or value < 0:
            raise UsageError(
                f"--resources: {item.strip()!r} is not NAME=AMOUNT",
                "Example: --resources cpu=2,gpu=1 (other names are the cluster's custom "
                "resources).",
            )
        if key in ("cpu", "gpu"):
            options[f"num_{key}s"] = value
        else:
            custom[key] = value
    if custom:
        options["resources"] = custom
    return options


def clone_source(root: str, remote: str | None) -> tuple[dict[str, str] | None, str]:
    """Where a node without the repository clones it from: ``--remote`` (refused when a
    clone would not hold the sweep's code) or ``origin`` (left out, with the reason)."""
    name = remote or ("origin" if "origin" in gitbin.remotes(root) else None)
    if name is None:
        return None, "the repository has no remote named origin (give --remote NAME)"
    url = gitbin.config_get(root, f"remote.{name}.url")
    if url is None:
        raise UsageError(
            f"--remote: there is no git remote named {name!r}",
            "See them with `git remote -v`; the remote must be reachable from every node.",
        )
    if os.path.isdir(os.path.join(root, url)):  # a path remote: the same from any folder
        url = os.path.abspath(os.path.join(root, url))
    with GitRepo.discover(root) as repo:
        head, branch = repo.head_commit(), repo.head_branch()
    changes = gitclone.work_tree_changes(root)
    reason = ""
    if head is None:
        reason = "the repository has no commit yet"
    elif changes:
        reason = f"the work tree has changes a clone would not hold ({', '.join(changes)})"
    elif not gitclone.remote_has(root, name, head.decode()):
        reason = f"{name} does not have commit {head.decode()[:12]} (git push {name} HEAD)"
    if reason and remote:
        raise RepositoryStateError(
            f"--remote {name}: trials would run in clones, but {reason}",
            "Commit and push the code the sweep should run, or run the trials on a "
            "shared filesystem (no --remote).",
        )
    if reason or head is None:
        return None, reason
    return {"remote": name, "url": url, "commit": head.decode(), "branch": branch or ""}, ""


def _check_reachable(address: str) -> None:
    """Refuse a cluster nobody answers at: ray.init would wait for it without end."""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return  # ray://, auto: Ray's own forms, left to Ray
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as exc:
        raise TransferError(
            f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}",
            f"Is its head running? `ray status --address {address}` on a node tells.",
        ) from None


class RayExecutor:
    """Trials as tasks on the Ray cluster at ``address`` (default ``RAY_ADDRESS``)."""

    name = NAME
    here = False  # tasks elsewhere: a Ctrl-C is forwarded to them

    def __init__(
        self, address: str | None, resources: str | None, remote: str | None, say: Say
    ) -> None:
        options = parse_resources(resources)
        address = address or os.environ.get("RAY_ADDRESS")
        if not address:
            raise UsageError(
                "--executor ray runs trials on an existing Ray cluster: give --address "
                "HOST:PORT or set RAY_ADDRESS",
                "Start one with `ray start --head` (docs/workflow.md#sweeps-on-ray).",
            )
        with GitRepo.discover() as repo:
            root, commondir = repo.root, repo.commondir
        clone, why = clone_source(root, remote)
        self.say, self.root = say, root
        self.ray = import_ray()
        _check_reachable(address)
        try:
            self.ray.init(address=address, logging_level=logging.WARNING, log_to_driver=True)
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
            raise TransferError(
                f"cannot reach the Ray cluster at {address}: {str(exc).strip()[:300]}",
                f"Check it with `ray status --address {address}`.",
            ) from None
        self.task = self.ray.remote(max_retries=0, **options)(run_trial)
        marks = os.path.join(commondir, "gitexp", "ray")
        os.makedirs(marks, exist_ok=True)
        self.mark = os.path.join(marks, secrets.token_hex(8))
        with open(self.mark, "w", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()}\n")  # proves to a task that it sees this repository
        self.where = {
            "root": root,
            "cwd": os.path.relpath(os.getcwd(), root),
            "mark": self.mark,
            "in_clone": "1" if remote else "",
            "no_clone": why,
            **(clone or {}),
        }

    def submit(self, name: str, argv: list[str]) -> RayJob:
        return RayJob(self, name, self.task.remote(self.where, argv))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.remove(self.mark)
        self.ray.shutdown()

    def bring_back(self, name: str, result: dict[str, Any]) -> None:
        """Pull the run a trial in a clone pushed; a failure is said, the run waits there."""
        from gitexp.share.pull import pull_runs

        if result.get("error"):
            self.say(f"sweep: {name} on {result.get('node')}: {result['error']}")
        run, remote = result.get("run"), str(self.where.get("remote", ""))
        if not run or not result.get("pushed"):
            return
        try:
            report = pull_runs(self.root, remote, [str(run)], artifacts=False)
        except GitexpError as exc:
            self.say(f"sweep: {name} is on {remote} but not here: {exc.message}")
            return
        for item in report.failed:
            self.say(f"sweep: {name} is on {remote} but not here: {item.error}")


class RayJob:
    """One trial's task, shaped as subprocess.Popen for the sweep's loops."""

    def __init__(self, executor: RayExecutor, name: str, ref: Any) -> None:
        self.executor, self.name, self.ref = executor, name, ref
        self.code: int | None = None
        self.stop = False  # asked to stop the trial
        self.told = 0.0  # when Ray was last told to cancel the task

    def poll(self) -> int | None:
        if self.code is None:
            self._cancel()
            ready, _ = self.executor.ray.wait([self.ref], timeout=0)
            if ready:
                self._finish()
        return self.code

    def send_signal(self, signum: int) -> None:
        # Called from the sweep's signal handler, which may interrupt a call into Ray's
        # core: Ray is told at the next poll or wait, never from inside the handler.
        # The task stops its trial with SIGTERM whatever the signal (Ray carries none):
        # gitexp run records it as any interrupted run, pruned when the mark says so.
        self.stop = self.code is None

    def wait(self) -> int:
        while self.code is None:
            self._cancel()
            ready, _ = self.executor.ray.wait([self.ref], timeout=CANCEL_AGAIN)
            if ready:
                self._finish()
        return self.code

    def _cancel(self) -> None:
        # Told again every CANCEL_AGAIN seconds until the task ends: a cancel that reaches
        # a task while its worker is still starting it is lost (Ray 2.x).
        if self.stop and time.monotonic() - self.told >= CANCEL_AGAIN:
            self.told = time.monotonic()
            self.executor.ray.cancel(self.ref)

    def _finish(self) -> None:
        try:
            result: dict[str, Any] = self.executor.ray.get(self.ref)
        except Exception as exc:  # the task or its node died: the trial's run says more
            self.executor.say(f"sweep: {self.name}: the Ray task failed: {str(exc)[:300]}")
            result = {"code": 1}
        self.executor.bring_back(self.name, result)
        self.code = int(result.get("code", 1))


def run_trial(where: dict[str, str], argv: list[str]) -> dict[str, Any]:
    """The Ray task: run one trial on this node; its exit code, node, and run if pushed."""
    import ray

    # ray.cancel interrupts a task as SIGINT would (_thread.interrupt_main), which does
    # nothing where the worker inherited SIGINT ignored: a head started in the background
    # by a shell (nohup, `&`) passes that on to every worker.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
    env = trial_env(NAME, ray.get_runtime_context().get_task_id())
    if argv[1:3] == ["-m", "gitexp"]:  # the sweep's Python path may not exist here
        argv = [sys.executable, *argv[1:]]
    node = platform.node()
    if not where["in_clone"] and os.path.isfile(where["mark"]):
        return {"code": _supervise(argv, os.path.join(where["root"], where["cwd"]), env)}
    if "url" not in where:
        return {
            "code": RepositoryStateError.exit_code,
            "node": node,
            "error": f"this node does not see the repository at {where['root']} (no shared "
            f"filesystem), and trials cannot run in clones: {where['no_clone']}",
        }
    dest = tempfile.mkdtemp(prefix="gitexp-ray-")
    try:
        gitclone.clone_at(where["url"], dest, where["commit"], where["branch"])
    except GitexpError as exc:
        shutil.rmtree(dest, ignore_errors=True)
        return {"code": exc.exit_code, "node": node, "error": exc.message}
    except BaseException:  # cancelled while cloning: no clone left behind
        shutil.rmtree(dest, ignore_errors=True)
        raise
    code = _supervise(argv, os.path.join(dest, where["cwd"]), env)
    # The trial has ended: a cancel from now on (the sweep repeats it until the task
    # ends) must not cut the push of its run short, so it is ignored from here (the
    # next task of this worker sets it back above).
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    return {"code": code, "node": node, **_push_back(dest, node)}


def _push_back(dest: str, node: str) -> dict[str, Any]:
    """Push the clone's run to the remote it came from; the clone goes once it is there,
    and stays (named in the error) when it is not: a trial's run is never thrown away."""
    from gitexp.share.push import push_runs

    with GitRepo.discover(dest) as repo:
        runs = {name.decode(): sha for name, sha in repo.list_refs(REF_PREFIX).items()}
        if not runs:  # the trial failed before its run began
            shutil.rmtree(dest, ignore_errors=True)
            return {}
        try:
            report = push_runs(repo, "origin")
            failed = [item.error or item.action for item in report.failed]
        except GitexpError as exc:
            failed = [exc.message]
    run = sorted(runs)[0]
    if failed:
        kept = f"the run stays in {dest} on {node}: `gitexp push` it from there"
        return {"run": run, "error": f"push failed ({'; '.join(failed)}); {kept}"}
    shutil.rmtree(dest, ignore_errors=True)
    return {"run": run, "pushed": True}


def _supervise(argv: list[str], cwd: str, env: dict[str, str]) -> int:
    """Run the trial's ``gitexp run``; stop it with SIGTERM when the task is cancelled.

    ray.cancel raises KeyboardInterrupt in the task between two Python instructions, so
    the wait is short polls rather than one blocking call, which would hold it off."""
    child = subprocess.Popen(argv, cwd=cwd, env=env)
    stopped = False
    while True:
        try:
            return child.wait(timeout=POLL_SECONDS)
        except subprocess.TimeoutExpired:
            continue
        except KeyboardInterrupt:
            if not stopped:
                stopped = True
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signal.SIGTERM)
