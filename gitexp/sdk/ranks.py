"""Which DDP rank this process is, and the group every rank's run shares."""

from __future__ import annotations

import os

from gitexp.model.ids import short_id
from gitexp.record.envvars import ENV_ALL_RANKS, ENV_LIVE_DIR, ENV_RUN_ID


def rank() -> int | None:
    """This process's DDP rank (``RANK``, else ``LOCAL_RANK``); None outside DDP."""
    for name in ("RANK", "LOCAL_RANK"):
        value = os.environ.get(name, "").strip()
        if value.isdigit():
            return int(value)
    return None


def int_env(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() else None


def ddp_group() -> str:
    """The default group of a DDP job's runs: the same string in every rank."""
    run_id = os.environ.get(ENV_RUN_ID)
    if os.environ.get(ENV_LIVE_DIR) and run_id:
        from gitexp.record.live import LiveDir

        state = LiveDir(os.environ[ENV_LIVE_DIR]).read_json("run.json") or {}
        return str(state.get("group") or f"ddp-{short_id(run_id)}")
    elastic = os.environ.get("TORCHELASTIC_RUN_ID", "")
    if elastic and elastic != "none":
        return f"ddp-{elastic}"
    import socket

    return f"ddp-{socket.gethostname()}-{os.getppid()}"


def this_rank_records() -> bool:
    rank = os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0"))
    return rank in ("", "0") or os.environ.get(ENV_ALL_RANKS) == "1"
