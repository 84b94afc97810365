#!/bin/sh
# Record the digits example with three learning rates, then compare and plot the runs.
# Extra arguments go to each `gitexp run`, e.g.: sh examples/digits/sweep.sh -p epochs=5
set -e
here=$(dirname "$0")
python=${PYTHON:-python}
for lr in 0.01 0.05 0.2; do
    gitexp run --name "lr-$lr" --tag sweep -p lr="$lr" "$@" -- "$python" "$here/train.py"
done
gitexp compare latest~2 latest~1 latest
gitexp plot val/accuracy train/loss --runs latest~2 latest~1 latest
