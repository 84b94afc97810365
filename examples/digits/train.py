"""Train a small network on scikit-learn's digits with gitexp recording the run.

The data set (1,797 8x8 images of handwritten digits) ships inside scikit-learn, so
nothing is downloaded.  Runs on a CPU in seconds.  Logs per batch the training loss
and the learning rate, per epoch the validation loss and accuracy, and every
``watch_freq`` batches histograms of the gradients and weights (``gitexp.watch``).

    gitexp run -p lr=0.2 -- python examples/digits/train.py          # one run
    sh examples/digits/sweep.sh                                         # lr 0.01, 0.05, 0.2

Run directly (``python examples/digits/train.py``) it records a run of its own.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.nn import functional as F

import gitexp

CONFIG = Path(__file__).with_name("config.yaml")


def make_model(hidden: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(64, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, 10),
    )


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    logits = model(x)
    loss = F.cross_entropy(logits, y).item()
    accuracy = (logits.argmax(dim=1) == y).float().mean().item()
    model.train()
    return loss, accuracy


def main() -> None:
    # The YAML file gives the defaults; `gitexp run -p lr=...` overrides them.
    run = gitexp.init(project="digits", config=str(CONFIG))
    cfg = run.config
    gitexp.define_metric("train/loss", goal="minimize")
    gitexp.define_metric("val/loss", goal="minimize")
    gitexp.define_metric("val/accuracy", goal="maximize")

    torch.manual_seed(cfg.seed)
    images, labels = load_digits(return_X_y=True)
    x = torch.tensor(images / 16.0, dtype=torch.float32)
    y = torch.tensor(labels, dtype=torch.long)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(cfg.seed))
    n_val = int(len(x) * cfg.val_fraction)
    val_idx, train_idx = order[:n_val], order[n_val:]

    model = make_model(cfg.hidden)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )
    total_steps = cfg.epochs * math.ceil(len(train_idx) / cfg.batch_size)
    if cfg.schedule == "cosine":
        scheduler: torch.optim.lr_scheduler.LRScheduler = (
            torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
        )
    else:
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    gitexp.watch(model, log="all", log_freq=cfg.watch_freq)

    best = 0.0
    for epoch in range(cfg.epochs):
        shuffled = train_idx[torch.randperm(len(train_idx))]
        for start in range(0, len(shuffled), cfg.batch_size):
            batch = shuffled[start : start + cfg.batch_size]
            loss = F.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            gitexp.log({"train/loss": loss.item(), "lr": scheduler.get_last_lr()[0]})
            scheduler.step()
        val_loss, val_accuracy = evaluate(model, x[val_idx], y[val_idx])
        train_loss, train_accuracy = evaluate(model, x[train_idx], y[train_idx])
        best = max(best, val_accuracy)
        gitexp.log(
            {
                "epoch": epoch,
                "val/loss": val_loss,
                "val/accuracy": val_accuracy,
                "train/accuracy": train_accuracy,
            }
        )
        print(
            f"epoch {epoch:3d}  train loss {train_loss:.4f}  val loss {val_loss:.4f}  "
            f"val accuracy {val_accuracy:.4f}"
        )
    run.summary["best_val_accuracy"] = best
    gitexp.finish()


if __name__ == "__main__":
    main()
