"""A small, real training script for the gitexp demo (pure Python, no downloads).

Logistic regression by mini-batch gradient descent on a synthetic two-class problem,
written against the wandb API: ``import gitexp as wandb`` is the only gitexp-specific
line.  Run it under ``gitexp run -p lr=0.1 -- python train.py`` or directly.
"""

from __future__ import annotations

import math
import random

import gitexp as wandb

Data = list[tuple[list[float], float]]
DEFAULTS = {"lr": 0.05, "epochs": 12, "batch_size": 32, "seed": 0, "model": {"l2": 0.001}}


def make_data(n: int, seed: int) -> Data:
    rng = random.Random(seed)
    points = []
    for _ in range(n):
        label = rng.random() < 0.5
        center = (1.0, 1.0) if label else (-1.0, -0.5)
        x = [center[0] + rng.gauss(0, 1.0), center[1] + rng.gauss(0, 1.0)]
        points.append((x, 1.0 if label else 0.0))
    return points


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def evaluate(
    w: list[float], b: float, data: list[tuple[list[float], float]]
) -> tuple[float, float]:
    loss = correct = 0.0
    for x, y in data:
        p = sigmoid(w[0] * x[0] + w[1] * x[1] + b)
        loss -= y * math.log(p + 1e-12) + (1 - y) * math.log(1 - p + 1e-12)
        correct += (p > 0.5) == (y > 0.5)
    return loss / len(data), correct / len(data)


def main() -> None:
    run = wandb.init(project="demo", config=DEFAULTS)
    cfg = wandb.config
    train, valid = make_data(800, cfg.seed), make_data(200, cfg.seed + 1)
    rng = random.Random(cfg.seed)
    w, b = [0.0, 0.0], 0.0
    for epoch in range(cfg.epochs):
        rng.shuffle(train)
        for start in range(0, len(train), cfg.batch_size):
            batch = train[start : start + cfg.batch_size]
            gw, gb = [0.0, 0.0], 0.0
            for x, y in batch:
                err = sigmoid(w[0] * x[0] + w[1] * x[1] + b) - y
                gw[0] += err * x[0]
                gw[1] += err * x[1]
                gb += err
            for i in range(2):
                w[i] -= cfg.lr * (gw[i] / len(batch) + cfg.model["l2"] * w[i])
            b -= cfg.lr * gb / len(batch)
        train_loss, train_acc = evaluate(w, b, train)
        val_loss, val_acc = evaluate(w, b, valid)
        wandb.log(
            {
                "epoch": epoch,
                "train/loss": train_loss,
                "train/acc": train_acc,
                "val/loss": val_loss,
                "val/acc": val_acc,
                "lr": cfg.lr,
            }
        )
        print(f"epoch {epoch:2d}  loss {train_loss:.4f}  val_acc {val_acc:.3f}")
    run.summary["best_val_acc"] = val_acc
    wandb.finish()


if __name__ == "__main__":
    main()
