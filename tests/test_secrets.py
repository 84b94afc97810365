"""Secrets never reach a git object: the rules of gitexp/model/redact.py, and a sweep.

The sweep plants canaries of every secret shape in every way a run can meet one (the
command's arguments, ``-p``, a config file, ``init(config=)``, ``config.update``, the
environment, stdout and stderr, a token split across two writes with a checkpoint in
between, credential files), records runs through ``gitexp run``, a script recording
itself and ``gitexp sweep``, pushes them to a bare remote, clones it, and searches every
object of both repositories (``git cat-file --batch-all-objects --batch``): none of the
canaries is there, while the text around each is.  tests/test_hostile.py holds the
environment and secret-file tests that came first.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import gitexp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import git, make_repo, run_json, run_refs, show

from gitexp.model import output, redact
from gitexp.record.secrets import holds_secret, looks_secret

PY = sys.executable


def shapes(tag: str) -> list[tuple[str, str, str]]:
    """(shape, text as planted, the secret in it): every shape the issue lists, each
    with a canary unique to ``tag`` (where it was planted) and its number."""

    def body(n: int, length: int) -> str:
        return (f"CANARY{tag}{n:02d}" + "7" * length)[:length]

    pem = "-----BEGIN {0} PRIVATE KEY-----\n{1}\n-----END {0} PRIVATE KEY-----"
    listed = [
        ("github classic", "ghp_{}", 36),
        ("github oauth", "gho_{}", 36),
        ("github server", "ghs_{}", 36),
        ("github user", "ghu_{}", 36),
        ("github fine-grained", "github_pat_{}", 50),
        ("gitlab", "glpat-{}", 20),
        ("hugging face", "hf_{}", 34),
        ("openai", "sk-{}", 40),
        ("openai project", "sk-proj-{}", 48),
        ("anthropic", "sk-ant-api03-{}", 40),
        ("stripe secret", "sk_live_{}", 24),
        ("stripe restricted", "rk_live_{}", 24),
        ("slack bot", "xoxb-{}", 24),
        ("slack user", "xoxp-{}", 24),
        ("slack app", "xoxa-{}", 24),
        ("slack refresh", "xoxr-{}", 24),
        ("aws key id", "AKIA{}", 16),
        ("aws session key id", "ASIA{}", 16),
        ("aws secret", "aws_secret_access_key={}", 40),
        ("bearer", "Authorization: Bearer {}", 32),
        ("jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.{}", 24),
        ("url password", "postgres://alice:{}@db.internal:5432/prod", 20),
        ("pem", pem.format("RSA", "{}"), 40),
        ("openssh", pem.format("OPENSSH", "{}"), 40),
        ("slack webhook", "https://hooks.slack.com/services/T0000/B0000/{}", 24),
        ("discord webhook", "https://discord.com/api/webhooks/1234567890/{}", 30),
        ("google api", "AIza{}", 35),
        ("azure sas", "https://acct.blob.core.windows.net/c/f.bin?sv=2022-11-02&sig={}", 30),
    ]
    return [
        (name, form.format(body(n, length)), body(n, length))
        for n, (name, form, length) in enumerate(listed)
    ]


def plain(tag: str, n: int) -> str:
    """A secret with no telling shape: only its key or option gives it away."""
    return f"plainCANARY{tag}{n:02d}x"


# -- the rules, one by one --------------------------------------------------------------


@pytest.mark.parametrize(("name", "text", "secret"), shapes("U"), ids=lambda v: str(v)[:20])
def test_every_shape_is_replaced_and_its_surroundings_kept(
    name: str, text: str, secret: str
) -> None:
    line = f"before {text} after"
    for scrubbed in (redact.scrub_text(line), output.scrub(line.encode()).decode()):
        assert secret not in scrubbed, name
        assert redact.PLACEHOLDER in scrubbed
        assert scrubbed.startswith("before ") and scrubbed.endswith(" after")
    keep = {"url password": "postgres://alice:", "bearer": "Bearer ", "azure sas": "&sig="}
    if name in keep:
        assert keep[name] + redact.PLACEHOLDER in redact.scrub_text(text)


LOOK_ALIKES = [
    "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",  # a commit id
    "sha256:" + "0" * 64,
    "sk-learn-pipeline-configuration",
    "mask-rcnn-resnet50-fpn-coco-2017",
    "https://example.com:8080/path@v2",
    "postgres://localhost:5432/db",
    "Bearer of bad news",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGmoVp public-key user@host",
    "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
    "meta-llama/Llama-3.1-8B-Instruct",
    "hf_hub_download",
    "gs://bucket/path/model.ckpt",
]


def test_look_alikes_are_kept() -> None:
    for text in LOOK_ALIKES:
        assert redact.scrub_text(text) == text, text
        assert redact.redact_command(["python", text]) == (["python", text], [])


LLM_CONFIG: dict[str, Any] = {
    "model_name": "meta-llama/Llama-3.1-8B-Instruct",
    "tokenizer_name": "gpt2",
    "tokenizer": {"padding_side": "left", "truncation": True},
    "max_tokens": 4096,
    "max_new_tokens": 256,
    "num_tokens": 1_000_000,
    "pad_token_id": 0,
    "bos_token_id": 1,
    "eos_token_id": [2, 32000],
    "pad_token": "<pad>",
    "eos_token": "</s>",
    "unk_token": "[UNK]",
    "special_tokens": ["<|im_start|>", "<|im_end|>"],
    "add_special_tokens": True,
    "token_budget": 512,
    "author": "Ada Lovelace",
    "authors": ["Ada", "Alan"],
    "use_auth_token": True,
    "token_file": "~/.cache/huggingface/token",
    "api_key_env": "OPENAI_API_KEY",
    "password_path": "/run/secrets/db",
    "hf_token": "${HF_TOKEN}",
    "lr": 3e-4,
}


def test_llm_style_configs_survive_unchanged() -> None:
    assert redact.redact_config(LLM_CONFIG) == (LLM_CONFIG, [])
    argv = ["python", "train.py", "--max-tokens", "4096", "--tokenizer", "gpt2"]
    argv += ["--pad-token-id", "0", "--author", "ada", "max_new_tokens=256"]
    assert redact.redact_command(argv) == (argv, [])


def test_key_names_apply_to_strings_only() -> None:
    config = {
        "api_key": "abc-123-def",
        "db": {"password": "hunter2", "port": 5432},
        "password": 123456,  # a number is never hidden
        "token": True,
        "secret": None,
        "clientSecret": "s3cr3t",
        "credentials": ["one-secret", "two-secret"],
        "wandb": {"apiKey": "k" * 40},
    }
    redacted, keys = redact.redact_config(config)
    assert keys == [
        "api_key", "clientSecret", "credentials[0]", "credentials[1]", "db.password",
        "wandb.apiKey",
    ]  # fmt: skip
    assert redacted["db"] == {"password": redact.PLACEHOLDER, "port": 5432}
    assert (redacted["password"], redacted["token"], redacted["secret"]) == (123456, True, None)


def test_arguments_by_option_assignment_and_shape() -> None:
    url = "postgres://u:pw-canary-1@h/db"
    argv = ["python", "t.py", "--token", "tok-canary", "--password=pw-canary-2"]
    argv += ["--db-url", url, "db.password=pw-canary-3", "--epochs", "3", "ghp_" + "a" * 36]
    argv += ["--api-key", "--verbose"]  # an option right after: nothing to hide
    recorded, changed = redact.redact_command(argv)
    assert not any("canary" in arg or "aaaa" in arg for arg in recorded)
    assert recorded[4] == "--password=" + redact.PLACEHOLDER
    assert recorded[6] == f"postgres://u:{redact.PLACEHOLDER}@h/db"
    assert recorded[7:10] == ["db.password=" + redact.PLACEHOLDER, "--epochs", "3"]
    assert recorded[-2:] == ["--api-key", "--verbose"]
    assert changed == [
        {"index": 3, "key": "TOKEN"},
        {"index": 4, "key": "PASSWORD"},
        {"index": 6, "key": "DB_URL"},
        {"index": 7, "key": "DB_PASSWORD"},
        {"index": 10, "key": "ARG10"},
    ]
    assert redact.fill(recorded[6], "pw-canary-1") == url


def test_the_allow_list_keeps_a_value_by_key_or_option() -> None:
    config = {"eval": {"token_pattern": "xoxb-not-a-real-one"}, "api_key": "abc"}
    kept, keys = redact.redact_config(config, ["eval.*"])
    assert kept["eval"] == config["eval"] and keys == ["api_key"]
    argv = ["t.py", "--hf-token", "hf_" + "a" * 34, "--password=x1"]
    recorded, changed = redact.redact_command(argv, ["hf-token"])
    assert recorded[:3] == argv[:3] and [c["index"] for c in changed] == [3]


# -- hypothesis: a shape with anything around it ------------------------------------------

SEPARATORS = st.sampled_from([" ", "\n", "\t", "=", ":", ",", ";", "'", '"', "(", "|", "\r"])
SURROUNDINGS = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@st.composite
def secret_in_text(draw: st.DrawFn) -> tuple[str, str, str]:
    _name, text, secret = draw(st.sampled_from(shapes("H")))
    before = draw(SURROUNDINGS) + draw(SEPARATORS)
    after = draw(SEPARATORS) + draw(SURROUNDINGS)
    return before + text + after, secret, text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secret_in_text(), st.sampled_from(["value", "api_key", "max_tokens", "note"]))
def test_no_shape_with_any_surroundings_survives(case: tuple[str, str, str], key: str) -> None:
    whole, secret, _text = case
    config, _keys = redact.redact_config({key: whole, "nested": [{"x": whole}]})
    command, _changed = redact.redact_command(["python", whole, f"--{key}", whole])
    written = json.dumps(config) + json.dumps(command)
    assert secret not in written and secret not in redact.scrub_text(whole)
    assert secret.encode() not in output.scrub(whole.encode("utf-8", "surrogatepass"))


@settings(max_examples=200, deadline=None)
@given(secret_in_text(), st.integers(min_value=0, max_value=10_000))
def test_no_half_of_a_token_reaches_a_checkpoint(case: tuple[str, str, str], cut: int) -> None:
    """Output written in two parts with a checkpoint between: the first commit holds no
    part of the token from its start to the cut, the final commit none of it."""
    whole, secret, _text = case
    data = ("log line\n" + whole + "\n").encode()
    cut = cut % (len(data) + 1)
    written = data[:cut]
    first = output.scrub(written[: output.unfinished_line(written)])
    start = data.find(secret.encode())
    half = data[start:cut]
    if len(half) >= 8:
        assert half not in first
    assert secret.encode() not in output.scrub(data)


def test_a_token_straddling_the_cap_is_never_cut_in_half(tmp_path: Path) -> None:
    token = "hf_" + "q1" * 20
    head, tail = 1000, 1000
    for offset in (-len(token), -len(token) // 2, -3, -1, 0, 1):
        data = b"x" * (head + offset) + token.encode() + b"\n" + b"y" * (4 * output.OVERLAP)
        data += b"z" * (tail - 10) + token.encode() + b"z" * 5
        path = tmp_path / "out.log"
        path.write_bytes(data)
        capped = output.read_capped(str(path), head, tail)
        assert capped is not None
        assert b"q1q1q1" not in capped, offset


# -- files ---------------------------------------------------------------------------

SECRET_FILES = [
    "kaggle.json", ".huggingface/token", "cache/huggingface/token", ".envrc",
    ".docker/config.json", ".kube/config", "secrets.toml", ".streamlit/secrets.toml",
    "client_secret_1234.apps.json", "token.json", "credentials.json", ".aws/credentials",
    ".aws/config", ".git-credentials", "id_ed25519", "id_ecdsa", "id_dsa", "store.p12",
    "store.pfx", "store.jks", "app.keystore", ".pgpass", ".my.cnf", ".env",
]  # fmt: skip


def test_secret_file_names_and_contents() -> None:
    for name in SECRET_FILES:
        assert looks_secret(name), name
    for name in ["tokenizer.json", "config.json", "docker/config.yaml", "kube.py", "tokens.txt"]:
        assert not looks_secret(name), name
    pem = b"-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----\n"
    assert holds_secret("notes.txt", b"key:\n" + pem) is not None
    assert holds_secret("pgp.asc", b"-----BEGIN PGP PRIVATE KEY BLOCK-----\n") is not None
    service = b'{"type": "service_account", "private_key_id": "1", "private_key": "..."}'
    assert holds_secret("prod-sa.json", service) is not None
    assert holds_secret("doc.md", b"a PRIVATE KEY is ... -----BEGIN PUBLIC KEY-----") is None
    assert holds_secret("sa.json", b'{"type": "service_account"}') is None


NAME_PARTS = st.sampled_from(
    ["", ".", "env", ".env", "id_rsa", "id_ed25519", ".pub", ".pem", "secrets", ".toml",
     "client_secret", ".json", "token", "aws", ".aws", "/", "config", "credentials", "x",
     "huggingface", ".huggingface", "kube", ".kube", "docker", ".docker", ".example",
     "service-account", "-prod", ".tfvars", "kaggle", ".P12", "Id_Rsa"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(NAME_PARTS, min_size=1, max_size=5).map("".join))
def test_file_name_checks_agree_with_fnmatch(path: str) -> None:
    """The plain string checks of looks_secret say what fnmatch on the path's end says."""
    import fnmatch

    from gitexp.record.secrets import HARMLESS_SUFFIXES, SECRET_PATTERNS

    lowered = path.lower()
    parts = lowered.split("/")
    expected = not lowered.endswith(HARMLESS_SUFFIXES) and any(
        len(parts) >= p.count("/") + 1
        and fnmatch.fnmatchcase("/".join(parts[-(p.count("/") + 1) :]), p)
        for p in SECRET_PATTERNS
    )
    assert looks_secret(path) == expected


# -- the sweep -------------------------------------------------------------------------

TRAIN = """\
import json, os, sys, time
import gitexp

spec = json.load(open(os.environ["CANARY_SPEC"]))
run = gitexp.init(config=spec["init_config"])
run.config.update(spec["update"])
gitexp.log({"loss": 1.0})
for line in spec["stdout"]:
    print(line, flush=True)
for line in spec["stderr"]:
    print(line, file=sys.stderr, flush=True)
first, second = spec["split"]
sys.stdout.write(first)
sys.stdout.flush()
gitexp.log({"loss": 0.5})
time.sleep(float(os.environ.get("CANARY_PAUSE", "0")))  # a checkpoint lands here
sys.stdout.write(second + "\\n")
sys.stdout.flush()
with open(os.environ["CANARY_ARGV"], "a") as seen:
    seen.write(json.dumps(sys.argv[1:]) + "\\n")
print("argv seen by the script:", len(sys.argv) - 1)
gitexp.finish()
"""


def _spec(tmp_path: Path, tag: str) -> tuple[dict[str, Any], list[str], list[str]]:
    """What a script prints and configures; the secrets and the text that must stay."""
    out, err, init = shapes(tag + "O"), shapes(tag + "E"), shapes(tag + "I")
    split = shapes(tag + "S")[0][1]  # a GitHub token, written in two halves
    printed = "<before-{0}{1}> {2} <after-{0}{1}>"
    spec = {
        "init_config": {
            **LLM_CONFIG,
            "hf_token": plain(tag + "I", 0),
            "shapes": {f"s{n}": text for n, (_, text, _s) in enumerate(init)},
        },
        "update": {"wandb_api_key": plain(tag + "I", 1)},
        "stdout": [printed.format(tag + "O", n, text) for n, (_, text, _) in enumerate(out)],
        "stderr": [printed.format(tag + "E", n, text) for n, (_, text, _) in enumerate(err)],
        "split": [f"<split-{tag}> {split[:14]}", split[14:] + f" <split-end-{tag}>"],
    }  # fmt: skip
    secrets = [s for group in (out, err, init) for _, _, s in group]
    secrets += [plain(tag + "I", 0), plain(tag + "I", 1), split, split[4:14]]
    kept = [f"before-{tag}O{n}" for n in range(len(out))] + [
        f"after-{tag}E{n}" for n in range(len(err))
    ]
    kept += [f"<split-{tag}>", f"<split-end-{tag}>", "tokenizer_name", "pad_token_id"]
    return spec, secrets, kept  # fmt: skip


def _argv(tag: str) -> tuple[list[str], list[str], list[str]]:
    listed = shapes(tag)
    argv = [text for _, text, _ in listed]
    argv += ["--token", plain(tag, 0), f"--password={plain(tag, 1)}", "--epochs", "3"]
    argv += ["--db-url", f"mysql://bob:{plain(tag, 2)}@db.example/x", f"db.api_key={plain(tag, 3)}"]
    secrets = [s for _, _, s in listed] + [plain(tag, n) for n in range(4)]
    kept = ["--epochs", "mysql://bob:", "@db.example/x", "db.api_key=", "postgres://alice:"]
    return argv, secrets, kept


def _objects(repo: Path) -> bytes:
    return subprocess.run(
        ["git", "cat-file", "--batch-all-objects", "--batch"], cwd=repo, capture_output=True
    ).stdout


@pytest.mark.slow
def test_secret_sweep_no_canary_reaches_an_object(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"train.py": TRAIN, ".gitignore": "data/\n"})
    git(repo, "config", "--add", "gitexp.allowSecret", "kept_on_purpose")
    seen = tmp_path / "argv-seen.jsonl"
    planted: list[str] = []
    kept: list[str] = []
    env = {"CANARY_ARGV": str(seen), "GITEXP_CHECKPOINT_SECONDS": "0.2", "CANARY_PAUSE": "1.6"}
    env["GITEXP_CANARY_ENV"] = plain("V", 0)
    env["OPENAI_API_KEY"] = shapes("V")[7][1]
    planted += [plain("V", 0), shapes("V")[7][2]]
    # Credential files, left out by name or by content.
    for n, name in enumerate(SECRET_FILES):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(f"secret = {plain('L', n)}\n")
        planted.append(plain("L", n))
    (repo / "notes").mkdir()
    (repo / "notes" / "deploy.txt").write_text(shapes("L")[22][1] + "\n")  # a PEM block
    (repo / "prod-sa.json").write_text(
        json.dumps({"type": "service_account", "private_key": plain("L", 90)})
    )
    planted += [shapes("L")[22][2], plain("L", 90)]

    # 1. gitexp run: arguments, -p, a config file, the script's own config and output.
    spec, secrets, texts = _spec(tmp_path, "R")
    (tmp_path / "spec-r.json").write_text(json.dumps(spec))
    argv, arg_secrets, arg_texts = _argv("A")
    file_shapes = shapes("F")
    config_file = tmp_path / "params.json"
    config_file.write_text(
        json.dumps(
            {
                "db": {"password": plain("F", 0), "host": "db.internal"},
                "kept_on_purpose": "xoxb-allowed-by-git-config",
                "shapes": {f"f{n}": text for n, (_, text, _) in enumerate(file_shapes)},
            }
        )
    )
    params = ["-p", f"api_key={plain('P', 0)}", "-p", f"note={shapes('P')[0][1]}"]
    params += ["-p", f"service.url={shapes('P')[21][1]}"]
    done = gitexp(
        "run", "--config", str(config_file), *params, "--", PY, "train.py", *argv,
        cwd=repo, env={**env, "CANARY_SPEC": str(tmp_path / "spec-r.json")}, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    planted += secrets + arg_secrets + [s for _, _, s in file_shapes]
    planted += [plain("F", 0), plain("P", 0), shapes("P")[0][2], shapes("P")[21][2]]
    kept += texts + arg_texts + ["db.internal", "xoxb-allowed-by-git-config"]
    # One warning names what was replaced, never a value.
    warning = [line for line in done.stderr.splitlines() if "looks like a secret" in line]
    assert any("config api_key" in line for line in warning), done.stderr
    assert not any(secret in done.stderr for secret in [*arg_secrets, plain("P", 0)])
    (run_id,) = run_refs(repo)
    info = run_json(repo, f"refs/gitexp/runs/{run_id}")
    assert {"api_key", "db.password", "hf_token", "wandb_api_key"} <= set(
        info["redacted"]["config"]
    )
    assert "api_key" in info["redacted"]["params"] and "hf_token" not in info["redacted"]["params"]
    assert len(info["redacted"]["command"]) == len(shapes("A")) + 4
    config = yaml.safe_load(show(repo, f"refs/gitexp/runs/{run_id}", ".gitexp/config.yaml"))
    assert {k: config[k] for k in LLM_CONFIG if k != "hf_token"} == {
        k: v for k, v in LLM_CONFIG.items() if k != "hf_token"
    }
    # The script itself saw every value as given.
    assert json.loads(seen.read_text().splitlines()[0]) == argv

    # 2. The script recording itself, without the wrapper.
    spec, secrets, texts = _spec(tmp_path, "D")
    (tmp_path / "spec-d.json").write_text(json.dumps(spec))
    argv, arg_secrets, arg_texts = _argv("B")
    direct = subprocess.run(
        [PY, "train.py", *argv], cwd=repo, capture_output=True, text=True, timeout=120,
        env={**os.environ, **env, "CANARY_SPEC": str(tmp_path / "spec-d.json")},
    )  # fmt: skip
    assert direct.returncode == 0, direct.stderr
    planted += secrets + arg_secrets
    kept += texts + arg_texts

    # 3. gitexp sweep over a secret parameter (and seed, which the script leaves alone:
    # it sets lr itself, and a sweep of an lr the script overrides stops after one trial).
    spec, secrets, texts = _spec(tmp_path, "W")
    (tmp_path / "spec-w.json").write_text(json.dumps(spec))
    swept = gitexp(
        "sweep", "-p", f"api_key={plain('W', 10)},{plain('W', 11)}", "-p", "seed=1,2",
        "--", PY, "train.py", "--token", plain("W", 12),
        cwd=repo, env={**env, "CANARY_SPEC": str(tmp_path / "spec-w.json"), "CANARY_PAUSE": "0"},
        timeout=300,
    )  # fmt: skip
    assert swept.returncode == 0, swept.stderr
    planted += [*secrets, plain("W", 10), plain("W", 11), plain("W", 12)]
    kept += texts
    assert len(run_refs(repo)) == 6

    # Pushed to a bare remote and cloned.
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    pushed = gitexp("push", "origin", cwd=repo, timeout=120)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(remote), str(clone))
    git(clone, "fetch", "-q", "origin", "refs/gitexp/runs/*:refs/gitexp/runs/*")
    assert set(run_refs(clone)) == set(run_refs(repo))

    planted = sorted(set(planted))
    found = {}
    for where in (repo, clone):
        objects = _objects(where)
        found[where.name] = [secret for secret in planted if secret.encode() in objects]
        missing = [text for text in kept if text.encode() not in objects]
        assert not missing, (where.name, missing)  # the search sees the text around them
    print(f"\ncanaries planted: {len(planted)}; found in objects: {found}")
    assert found == {"repo": [], "clone": []}


# -- rerun of a run with redacted secrets ---------------------------------------------------

USES_SECRETS = """\
import json, os, sys
import gitexp

run = gitexp.init(config={"lr": 0.1, "script_token": os.environ.get("SCRIPT_TOKEN", "")})
with open(os.environ["CANARY_ARGV"], "a") as seen:
    seen.write(json.dumps([sys.argv[1:], run.config.as_dict()]) + "\\n")
gitexp.log({"loss": run.config.lr})
gitexp.finish()
"""


@pytest.fixture
def secret_run(repo: Path, tmp_path: Path) -> tuple[Path, str, Path]:
    (repo / "uses.py").write_text(USES_SECRETS)
    seen = tmp_path / "seen.jsonl"
    env = {"CANARY_ARGV": str(seen), "SCRIPT_TOKEN": "script-canary-42"}
    done = gitexp(
        "run", "-p", "api_key=p-canary-7", "--", PY, "uses.py", "--token", "t-canary-9",
        "--db", "postgres://me:u-canary-3@db/x", cwd=repo, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (run_id,) = run_refs(repo)
    return repo, run_id, seen


def test_rerun_without_the_secrets_exits_6_naming_each(secret_run: tuple[Path, str, Path]) -> None:
    repo, run_id, seen = secret_run
    done = gitexp("rerun", run_id, cwd=repo, env={"CANARY_ARGV": str(seen)})
    assert done.returncode == 6, done.stdout + done.stderr
    for name in ("GITEXP_SECRET_TOKEN", "GITEXP_SECRET_DB", "GITEXP_SECRET_API_KEY"):
        assert name in done.stderr
    assert "SCRIPT_TOKEN" not in done.stderr  # the script sets its own config again
    assert "Traceback" not in done.stderr and len(run_refs(repo)) == 1


def test_rerun_takes_the_secrets_from_the_environment(secret_run: tuple[Path, str, Path]) -> None:
    repo, run_id, seen = secret_run
    env = {
        "CANARY_ARGV": str(seen),
        "SCRIPT_TOKEN": "script-canary-42",
        "GITEXP_SECRET_TOKEN": "t-canary-9",
        "GITEXP_SECRET_DB": "u-canary-3",
        "GITEXP_SECRET_API_KEY": "p-canary-7",
    }
    done = gitexp("rerun", run_id, cwd=repo, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    first, again = (json.loads(line) for line in seen.read_text().splitlines())
    assert again == first  # the rerun's command and config are the original's, secrets included
    assert first[1]["api_key"] == "p-canary-7" and first[1]["script_token"] == "script-canary-42"
    objects = _objects(repo)
    assert b"uses.py" in objects and len(run_refs(repo)) == 2
    for canary in (b"t-canary-9", b"u-canary-3", b"p-canary-7", b"script-canary-42"):
        assert canary not in objects


def test_rerun_asks_on_a_terminal(secret_run: tuple[Path, str, Path]) -> None:
    import fcntl
    import pty
    import termios

    repo, run_id, seen = secret_run
    env = {**os.environ, "CANARY_ARGV": str(seen), "SCRIPT_TOKEN": "script-canary-42"}
    env |= {"GITEXP_SECRET_TOKEN": "t-canary-9", "GITEXP_SECRET_API_KEY": "p-canary-7"}
    master, slave = pty.openpty()

    def controlling_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(
        [PY, "-m", "gitexp", "rerun", run_id], cwd=repo, env=env, stdin=slave,
        stdout=subprocess.PIPE, stderr=slave, preexec_fn=controlling_terminal,
    )  # fmt: skip
    os.close(slave)
    shown = b""
    while b"GITEXP_SECRET_DB" not in shown:
        chunk = os.read(master, 1024)
        assert chunk, shown
        shown += chunk
    os.write(master, b"u-canary-3\n")
    with contextlib.suppress(OSError):  # the terminal closes when gitexp exits
        while os.read(master, 1024):
            pass
    assert process.wait(timeout=60) == 0
    os.close(master)
    assert b"u-canary-3" not in shown  # never echoed
    first, again = (json.loads(line) for line in seen.read_text().splitlines())
    assert again == first


def test_tags_notes_and_names_are_scrubbed_when_edited(repo: Path) -> None:
    token = "ghp_" + "E1" * 18
    done = gitexp("run", "--tag", f"t-{token}", "--", PY, "-c", "pass", cwd=repo)
    assert done.returncode == 0, done.stderr
    (run_id,) = run_refs(repo)
    for args in (["tag", run_id, f"+x{token}"], ["note", run_id, f"key {token}"]):
        assert gitexp(*args, cwd=repo).returncode == 0
    assert gitexp("rename", run_id, f"run-{token}", cwd=repo).returncode == 0
    info = run_json(repo, f"refs/gitexp/runs/{run_id}")
    assert token.encode() not in _objects(repo)
    assert info["notes"] == f"key {redact.PLACEHOLDER}" and info["name"].startswith("run-")


def test_resume_puts_a_redacted_param_back_from_the_environment(
    secret_run: tuple[Path, str, Path],
) -> None:
    repo, run_id, seen = secret_run
    env = {"CANARY_ARGV": str(seen), "SCRIPT_TOKEN": "script-canary-42"}
    command = ["--", PY, "uses.py"]
    done = gitexp("run", "--resume", run_id, *command, cwd=repo, env=env)
    assert done.returncode == 0, done.stderr
    assert "GITEXP_SECRET_API_KEY" in done.stderr  # a warning: the command gets the placeholder
    env["GITEXP_SECRET_API_KEY"] = "p-canary-7"
    done = gitexp("run", "--resume", run_id, *command, cwd=repo, env=env)
    assert done.returncode == 0, done.stderr
    _first, without, given = (json.loads(line)[1] for line in seen.read_text().splitlines())
    assert without["api_key"] == redact.PLACEHOLDER
    assert given["api_key"] == "p-canary-7" and given["script_token"] == "script-canary-42"
    assert b"p-canary-7" not in _objects(repo) and b"script-canary-42" not in _objects(repo)
