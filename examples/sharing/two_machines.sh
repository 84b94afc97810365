#!/bin/bash
# Two machines sharing runs and artifacts, replayed on one: a git server (git daemon,
# git://) and an S3-compatible store (moto's server) as the DVC remote, both on
# 127.0.0.1; clones A and B stand for the two machines. Needs gitexp installed with its
# test extra (moto[server]): pip install '.[test]'. The transcript is in docs/sharing.md.
set -euo pipefail
W=$(mktemp -d)
mkdir -p "$W/srv" "$W/home"
export HOME="$W/home" DVC_NO_ANALYTICS=1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
git config --global user.name "Ada"
git config --global user.email ada@example.org
git config --global init.defaultBranch main
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
GIT_PORT=$(free_port)
S3_PORT=$(free_port)
git init -q --bare "$W/srv/project.git"
git daemon --reuseaddr --base-path="$W/srv" --export-all --enable=receive-pack \
    --port="$GIT_PORT" --listen=127.0.0.1 "$W/srv" >/dev/null 2>&1 &
DAEMON=$!
python3 -c "from moto.server import main; main()" -H 127.0.0.1 -p "$S3_PORT" >/dev/null 2>&1 &
MOTO=$!
trap 'kill $DAEMON $MOTO; rm -rf "$W"' EXIT
sleep 2
python3 -c "import boto3; boto3.client('s3', endpoint_url='http://127.0.0.1:$S3_PORT').create_bucket(Bucket='team-artifacts')"

# The project, set up once by whoever creates it.
mkdir "$W/seed" && cd "$W/seed" && git init -q
cat > train.py <<'PY'
import os
import gitexp
run = gitexp.init(config={"lr": 0.1})
os.makedirs("checkpoints", exist_ok=True)
with open("checkpoints/model.pt", "wb") as f:
    f.write(f"weights trained with lr={run.config.lr}\n".encode() * 10000)
gitexp.log({"loss": 0.1 / run.config.lr})
gitexp.finish()
PY
printf 'checkpoints/\n' > .gitignore
git add -A && git commit -qm "training script"
dvc init -q
dvc remote add -q -d storage s3://team-artifacts/dvc
dvc remote modify storage endpointurl "http://127.0.0.1:$S3_PORT"
git add -A && git commit -qm "Set up DVC"
git remote add origin "git://127.0.0.1:$GIT_PORT/project.git" && git push -q -u origin main
cd "$W"
git clone -q "git://127.0.0.1:$GIT_PORT/project.git" A
git clone -q "git://127.0.0.1:$GIT_PORT/project.git" B

step() { local who=$1; shift; printf '\n%s$ %s\n' "$who" "$*"; (cd "$W/$who" && eval "$@") 2>&1; }
step A 'gitexp install'
step A 'gitexp run --name lr-0.05 -p lr=0.05 --out checkpoints -- python train.py'
step B 'gitexp install'
step B 'echo "# try a schedule" >> train.py'
step B 'gitexp run --name lr-0.2 -p lr=0.2 --out checkpoints -- python train.py'
step A 'gitexp push'
step B 'git push'
step A 'gitexp pull'
step A 'gitexp ls'
step A 'gitexp restore lr-0.2 || echo "(exit $?)"'
step A 'gitexp restore lr-0.2 --force'
step A 'git status --short'
step A 'head -1 checkpoints/model.pt; tail -1 train.py'
step A 'rm -rf checkpoints .dvc/cache && dvc pull'
