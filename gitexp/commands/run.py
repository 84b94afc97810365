"""``gitexp run``: record a command as a run.

The wrapper snapshots the workspace, creates the run's ref (status ``running``), starts
the command with its output copied to the terminal and the run's log, commits
checkpoints while it runs, and finalizes the run with the command's exit status.  It
exits with the command's exit code (128 + N when the command died from signal N).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

from gitexp.cli_support import add_example, say
from gitexp.errors import UsageError
from gitexp.git.repo import GitRepo
from gitexp.model import config as configmod
from gitexp.model.ids import short_id
from gitexp.record.envvars import ENV_PUSH
from gitexp.record.keeper import recover_stale_runs
from gitexp.record.starting import expand_command, start_run
from gitexp.record.supervise import supervise
from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    from gitexp.record.recorder import Recorder


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="record a command as a run",
        description="Run CMD and record it as a run: the code as it is now (uncommitted and "
        "untracked files included), the config, the metrics, the output and the environment, "
        "as one commit on refs/gitexp/runs/<id>. Exits with CMD's exit code.",
    )
    parser.add_argument("--name", help="a human-readable name (generated when not given)")
    parser.add_argument("--config", metavar="FILE", help="a YAML or JSON config file")
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a config value (typed: 0.01, true, [1,2]; dotted keys nest); repeatable",
    )
    parser.add_argument("--tag", action="append", default=[], help="a tag; repeatable")
    parser.add_argument("--note", help="a note kept with the run")
    parser.add_argument("--group", help="a group the run belongs to")
    parser.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="PATH",
        help="keep an untracked file or folder that would be left out as no code (secret-"
        "looking, large, binary, an --out path, a tool's output folder); repeatable",
    )
    parser.add_argument(
        "--tensorboard",
        action="append",
        default=[],
        metavar="DIR",
        help="add the TensorBoard event files the command writes under DIR to the run's "
        "history when it ends; repeatable",
    )
    parser.add_argument(
        "--out",
        action="append",
        default=[],
        metavar="PATH",
        help="record this file or folder the command writes as an artifact (DVC), never as "
        "code; repeatable",
    )
    parser.add_argument(
        "--resume",
        metavar="RUN",
        help="continue RUN (crashed, interrupted, preempted): same id, history goes on",
    )
    parser.add_argument(
        "--no-system-metrics",
        action="store_true",
        help="do not sample CPU, memory and GPU use (GITEXP_SYSTEM_METRICS=0)",
    )
    parser.add_argument(
        "--push",
        metavar="REMOTE",
        help="push the run to REMOTE while it trains (each checkpoint, as a fast-forward; "
        "failures are retried, never fatal) and when it ends",
    )
    parser.add_argument(
        "--every",
        metavar="DURATION",
        help="with --push: how often (30s, 5m, 1h; default 5m)",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    add_example(
        parser,
        "gitexp run -p lr=0.01 --tag baseline -- python train.py --epochs 3",
        "gitexp run -p lr=0.01 -- python train.py '${args}'   # argparse gets --lr=0.01",
        "gitexp run --name resnet-warmup --config config.yaml --out model.ckpt -- python train.py",
        "gitexp run --resume latest -- python train.py",
        "gitexp run --push origin --every 1m -- python train.py   # watch it from elsewhere",
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError(
            "missing the command to run after --",
            "Example: gitexp run -p lr=0.01 -- python train.py",
        )
    overrides = [configmod.parse_override(text) for text in args.param]
    every = _push_every(args)
    with GitRepo.discover() as repo:
        if args.push:
            from gitexp.share.livepush import check_remote

            check_remote(repo.root, args.push)
        file_config = configmod.load_config_file(args.config) if args.config else None
        config = configmod.resolve(None, file_config, overrides)
        recover_stale_runs(repo)
        if args.out:
            from gitexp.artifacts.record import check_outputs

            args.out = check_outputs(repo.root, args.out)  # before anything starts
        if args.resume:
            return _resume(repo, args, command, file_config, overrides)
        expansion = expand_command(repo, command, config)
        cli_fields = tuple(
            field
            for field, given in (("name", args.name), ("tags", args.tag), ("notes", args.note))
            if given
        )
        recorder, snapshot = start_run(
            repo,
            command=expansion.command,
            macros=expansion,
            config=config,
            source="cli",
            name=args.name,
            tags=args.tag,
            notes=args.note,
            group=args.group,
            extra={"tensorboard": _relative_dirs(repo.root, args.tensorboard)}
            if args.tensorboard
            else None,
            include=frozenset(args.include),
            outputs=_relative(repo.root, args.out),
            cli_fields=(*cli_fields, "group") if args.group else cli_fields,
            warn=lambda message: say(f"warning: {message}"),
        )
        _request_outputs(recorder.live.path, args.out)
        code = _supervised(
            args,
            every,
            recorder,
            lambda started: supervise(
                recorder,
                expansion.command,
                config,
                snapshot.skipped,
                say,
                not args.no_system_metrics,
                started,
            ),
        )
        warn_untaken(recorder.info.overrides)
        return code


def _push_every(args: argparse.Namespace) -> float | None:
    """Seconds between two pushes of --push; None: the default (the run path imports
    nothing for it)."""
    if args.every is None:
        return None
    if not args.push:
        raise UsageError(
            "--every needs --push REMOTE",
            "Example: gitexp run --push origin --every 5m -- python train.py",
        )
    from gitexp.share.livepush import parse_every

    return parse_every(args.every)


def _supervised(
    args: argparse.Namespace,
    every: float | None,
    recorder: Recorder,
    run: Callable[[Callable[[], None] | None], int],
) -> int:
    """``run(started)`` (the supervised command), the run pushed as it goes when --push
    (or ``GITEXP_PUSH``, ``git config gitexp.push``) asks: from ``started()`` on (its
    helpers forked), and once more at its end."""
    remote = args.push
    if not (remote or os.environ.get(ENV_PUSH) or recorder.repo.config_value("gitexp", "push")):
        return run(None)  # the common case, without importing the pusher
    from gitexp.share.livepush import DEFAULT_EVERY, LivePush, configured

    every = DEFAULT_EVERY if every is None else every
    if not remote:
        try:  # a configured push is a default, not a request: a bad one only warns
            remote, every = configured(recorder.repo) or (None, every)
        except UsageError as exc:
            say(f"warning: not pushing the run while it trains: {exc.message}")
    if not remote:
        return run(None)
    live = LivePush(recorder.repo.root, remote, every, recorder.info.id, lambda: recorder.head, say)
    try:
        return run(live.start)
    finally:
        live.finish()


def _resume(
    repo: GitRepo,
    args: argparse.Namespace,
    command: list[str],
    file_config: dict[str, Any] | None,
    overrides: list[tuple[list[str], Any]],
) -> int:
    """``gitexp run --resume RUN``: the run goes on under its id (docs/workflow.md)."""
    from gitexp.read.resolve import find_run
    from gitexp.record.resume import resume_run

    if args.name or args.tag or args.note or args.group:
        raise UsageError(
            "--resume keeps the run's name, tags, note and group",
            "Change them afterwards with gitexp rename / tag / note.",
        )
    entry = find_run(repo, args.resume)
    recorder, snapshot, config = resume_run(
        repo,
        entry.id,
        config=configmod.resolve(None, file_config, overrides),
        include=frozenset(args.include),
        outputs=_relative(repo.root, args.out),
        cli_fields=("name", "tags", "notes", "group"),
        warn=lambda message: say(f"warning: {message}"),
    )
    resumed = recorder.info.resumes[-1]
    changed = "; the code changed since it started" if resumed["code_changed"] else ""
    name = f"{recorder.info.name} ({short_id(entry.id)})"
    say(f"resuming run {name} at step {resumed['from_step']}{changed}")
    _request_outputs(recorder.live.path, args.out)
    ran = expand_command(repo, command, config).command  # ${args}: the resumed run's config
    return _supervised(
        args,
        _push_every(args),
        recorder,
        lambda started: supervise(
            recorder, ran, config, snapshot.skipped, say, not args.no_system_metrics, started
        ),
    )


def warn_untaken(overrides: dict[str, Any]) -> None:
    """Say which overrides the script did not take, and how to pass them on."""
    if not overrides:
        return
    from gitexp.render import overrides as words

    told = words.problems(overrides)
    if told:
        say("warning: " + "; ".join(told))
        if words.needs_hint(overrides):
            say("  " + words.HINT)


def _relative(root: str, paths: list[str]) -> frozenset[str]:
    """``--out`` paths (absolute, from check_outputs) as the snapshot names them."""
    return frozenset(os.path.relpath(path, root).replace(os.sep, "/") for path in paths)


def _relative_dirs(root: str, paths: list[str]) -> list[str]:
    """``--tensorboard`` folders from the repository root (run.json ``extra``)."""
    return [os.path.relpath(os.path.abspath(path), root).replace(os.sep, "/") for path in paths]


def _request_outputs(live_path: str, paths: list[str]) -> None:
    if paths:  # the artifact modules are imported only for runs that keep outputs
        from gitexp.artifacts.record import request_outputs

        request_outputs(live_path, paths)
