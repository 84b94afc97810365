"""Environment variables through which ``gitexp run`` talks to the command it records,
and those a user sets for every run."""

ENV_RUN_ID = "GITEXP_RUN_ID"  # the run the command's gitexp.init() joins
ENV_LIVE_DIR = "GITEXP_LIVE_DIR"  # the run's live folder
ENV_CONFIG = "GITEXP_CONFIG"  # path of a JSON file with the resolved config
ENV_ALL_RANKS = "GITEXP_ALL_RANKS"  # "1": every DDP rank records (default: rank 0 only)
ENV_PUSH = "GITEXP_PUSH"  # the remote a run pushes to while it trains (share/livepush.py)
ENV_PUSH_EVERY = "GITEXP_PUSH_EVERY"  # how often
