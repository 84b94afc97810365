"""What counts as a secret in a run's arguments, config and output, and its redaction.

A pushed git object is readable by everyone who can clone, for ever, so secrets are
replaced by :data:`PLACEHOLDER` before anything is written.  Three kinds of rules, all
documented in docs/reliability.md ("Secrets"):

* **value shapes** (:data:`SHAPES`): tokens whose form gives them away (``ghp_...``,
  ``AKIA...``, JWTs, private-key blocks, a URL's password, ...).  They apply to every
  string: argument, config value, captured output.  Only the secret part is replaced;
  the text around it stays.
* **key names** (:func:`secret_key`): a *string* value under a key such as ``api_key``,
  ``db.password`` or ``hf_token`` is replaced whole.  Numbers and booleans never are, nor
  keys that only mention tokens (``max_tokens``, ``pad_token_id``, ``tokenizer_name``).
* **arguments** (:func:`redact_command`): ``--token X``, ``--password=X``, ``key=X``.

``gitexp.allowSecret`` in git config (multi-valued; globs) names config keys and
options whose values are kept as they are.  The regular expressions are compiled on
first use, so ``import gitexp`` does not pay for them.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping

from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

PLACEHOLDER = "[redacted by gitexp]"

# (name, pattern): one list for arguments, config and output.  A pattern's group
# ``keep`` is text before the secret that stays (a URL's scheme and user, "Bearer ").
# Each is specific enough that hashes, ids, numbers and words do not match
# (tests/test_secrets.py holds look-alikes that must survive).
SHAPES: tuple[tuple[str, str], ...] = (
    ("AWS access key id", r"(?:AKIA|ASIA)[0-9A-Z]{16}"),
    (
        "AWS secret access key",
        r"(?P<keep>(?i:aws_secret_access_key)[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9/+=]{40}",
    ),
    ("GitHub token", r"gh[pousr]_[A-Za-z0-9]{36,}"),
    ("GitHub fine-grained token", r"github_pat_[A-Za-z0-9_]{40,}"),
    ("GitLab token", r"glpat-[A-Za-z0-9_-]{20,}"),
    ("Hugging Face token", r"hf_[A-Za-z0-9]{30,}"),
    # OpenAI / Anthropic: random base62, so a digit or a long run without a hyphen is
    # (all but) certain; a name such as sk-learn-pipeline-configuration has neither.
    (
        "OpenAI/Anthropic key",
        r"(?<![A-Za-z0-9])sk-(?:proj-|ant-)?"
        r"(?=[A-Za-z0-9_-]*?(?:[0-9]|[A-Za-z_]{24}))[A-Za-z0-9_-]{20,}",
    ),
    ("Stripe key", r"(?<![A-Za-z0-9])[rs]k_(?:live|test)_[A-Za-z0-9]{16,}"),
    ("Slack token", r"xox[abposr]-[A-Za-z0-9-]{10,}"),
    (
        "Slack webhook",
        r"(?P<keep>https://hooks\.slack\.com/(?:services|workflows|triggers)/)[A-Za-z0-9_/-]{8,}",
    ),
    (
        "Discord webhook",
        r"(?P<keep>https://(?:(?:canary|ptb)\.)?discord(?:app)?\.com/api/webhooks/)"
        r"[0-9]+/[A-Za-z0-9_-]+",
    ),
    ("Google API key", r"AIza[0-9A-Za-z_-]{35}"),
    ("Google OAuth token", r"ya29\.[0-9A-Za-z_-]{20,}"),
    ("npm token", r"npm_[A-Za-z0-9]{36}"),
    ("PyPI token", r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{20,}"),
    ("Azure SAS signature", r"(?P<keep>[?&]sig=)[A-Za-z0-9%+/=]{16,}"),
    ("Azure account key", r"(?P<keep>(?:AccountKey|SharedAccessKey)=)[A-Za-z0-9+/=]{20,}"),
    ("JSON web token", r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
    ("Bearer token", r"(?P<keep>\b[Bb]earer\s+)[A-Za-z0-9._~+/-]{16,}=*"),
    ("Basic credentials", r"(?P<keep>\bBasic\s+)[A-Za-z0-9+/]{16,}={0,2}"),
    (
        "URL password",
        r"(?P<keep>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@\"'<>]*:)[^\s@/\"'<>]+(?=@)",
    ),
    # A private-key block (PEM, OpenSSH, PGP), also one cut off at the end of the text.
    (
        "private key block",
        r"(?s:-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?"
        r"(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z))",
    ),
)


def _combined() -> str:
    """The shapes as one alternation; each ``keep`` group renamed ``keepN``."""
    return "|".join(
        f"(?:{pattern.replace('(?P<keep>', f'(?P<keep{number}>')})"
        for number, (_name, pattern) in enumerate(SHAPES)
    )


_KEEP_GROUPS = tuple(f"keep{number}" for number, (_n, p) in enumerate(SHAPES) if "<keep>" in p)
_text_shapes: re.Pattern[str] | None = None
_byte_shapes: re.Pattern[bytes] | None = None


def text_shapes() -> re.Pattern[str]:
    global _text_shapes
    if _text_shapes is None:
        _text_shapes = re.compile(_combined())
    return _text_shapes


def byte_shapes() -> re.Pattern[bytes]:
    """The same shapes for raw output (compiled on first use: ~5 ms)."""
    global _byte_shapes
    if _byte_shapes is None:
        _byte_shapes = re.compile(_combined().encode())
    return _byte_shapes


def _kept_text(match: re.Match[str]) -> str:
    for group in _KEEP_GROUPS:
        kept = match.group(group)
        if kept is not None:
            return kept + PLACEHOLDER
    return PLACEHOLDER


def _kept_bytes(match: re.Match[bytes]) -> bytes:
    for group in _KEEP_GROUPS:
        kept = match.group(group)
        if kept is not None:
            return kept + PLACEHOLDER.encode()
    return PLACEHOLDER.encode()


# A text holding none of these (lower-cased) holds no shape: most arguments and config
# values are checked without compiling the shapes (~3.5 ms, on every run's start).
# A new shape needs its telltale here (test_every_shape_is_replaced... checks each).
_TELLTALES = (
    "akia", "asia", "aws_secret_access_key", "ghp_", "gho_", "ghu_", "ghs_", "ghr_",
    "github_pat_", "glpat-", "hf_", "sk-", "k_live_", "k_test_", "xox", "hooks.slack.com",
    "discord", "aiza", "ya29.", "npm_", "pypi-", "sig=", "accountkey=", "sharedaccesskey=",
    "eyj", "bearer", "basic", "://", "private key",
)  # fmt: skip


def scrub_text(text: str) -> str:
    """``text`` with every secret shape replaced (the text around each kept)."""
    lowered = text.lower()
    if not any(telltale in lowered for telltale in _TELLTALES):
        return text
    return text_shapes().sub(_kept_text, text)


def scrub_bytes(data: bytes) -> bytes:
    return byte_shapes().sub(_kept_bytes, data)


def shape_spans(data: bytes) -> list[tuple[int, int]]:
    """Where the shapes are in ``data`` (start, end): to cut output outside of them."""
    return [match.span() for match in byte_shapes().finditer(data)]


# -- key names ------------------------------------------------------------------------

_SECRET_WORDS = (
    "token", "secret", "password", "passwd", "passphrase", "api_key", "apikey",
    "access_key", "private_key", "secret_key", "signing_key", "encryption_key",
    "master_key", "account_key", "credential", "auth_token", "session_key", "client_secret",
)  # fmt: skip
# Keys that mention a secret word but name something else: counts of tokens and token
# ids (LLM configs), tokenizers, authors, and where a secret is kept rather than the
# secret itself (a file, a path, an environment variable's name, an endpoint).
# Patterns are kept as text: ``re`` compiles each on first use and caches it, so that
# ``import gitexp`` compiles none (a run's start pays only for the ones it uses).
_NOT_SECRET = (
    r"tokens$|tokens_|token_?ids?$|token_?type|tokeniz|author|"
    r"(?:pad|bos|eos|unk|sep|cls|mask|start|end|special|additional)_?token|"
    r"_(?:file|path|dir|env|var|name|names|url|uri|endpoint|length|len|count|limit|size)$"
)
_CAMEL = r"(?<=[a-z0-9])(?=[A-Z])"
# Values that are not the secret: a reference to where it is (${API_KEY}, $API_KEY,
# env:API_KEY) and a tokenizer's special token (<pad>, [CLS]).
_REFERENCE = r"^(?:\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|env:[A-Za-z_][A-Za-z0-9_]*)$"


def normalize_key(key: str) -> str:
    """``apiKey`` -> ``api_key``, ``--hf-token`` -> ``hf_token``, ``db.pass`` -> ``pass``."""
    leaf = key.rsplit(".", 1)[-1].lstrip("-+~")
    return re.sub(r"[^a-z0-9]+", "_", re.sub(_CAMEL, "_", leaf).lower()).strip("_")


def secret_key(key: str) -> bool:
    """Whether a string value under ``key`` is taken for a secret."""
    name = normalize_key(key)
    squashed = name.replace("_", "")
    if not any(word in name or word.replace("_", "") in squashed for word in _SECRET_WORDS):
        return False
    return re.search(_NOT_SECRET, name) is None


def secret_value_under_key(value: str) -> bool:
    """Whether a string under a secret-named key is to be hidden (not empty, not a
    number or boolean written as text, not a reference, not a special token)."""
    text = value.strip()
    if not text or text.lower() in ("true", "false", "none", "null", "~"):
        return False
    if re.match(_REFERENCE, text) or (text[0] in "<[" and text[-1] in ">]"):
        return False
    try:
        float(text)
    except ValueError:
        return True
    return False


# -- the allow-list -------------------------------------------------------------------


def allowed(key: str, allow: Iterable[str]) -> bool:
    """Whether ``gitexp.allowSecret`` names ``key`` (a dotted config key or an option)."""
    bare = key.lstrip("-")
    return any(
        fnmatch.fnmatchcase(key, pattern) or fnmatch.fnmatchcase(bare, pattern.lstrip("-"))
        for pattern in allow
    )


def env_name(key: str) -> str:
    """``GITEXP_SECRET_<KEY>``: ``db.password`` -> ``GITEXP_SECRET_DB_PASSWORD``."""
    return "GITEXP_SECRET_" + (re.sub(r"[^A-Za-z0-9]+", "_", key).strip("_").upper() or "VALUE")


# -- config ---------------------------------------------------------------------------


def redact_config(config: Mapping[str, Any], allow: Iterable[str] = ()) -> tuple[Any, list[str]]:
    """A copy of ``config`` with secrets replaced, and the dotted keys replaced (sorted).

    List items are named ``key[i]``.  Numbers, booleans and null are never touched.
    """
    allow = tuple(allow)
    found: list[str] = []
    out = _redact_node(config, "", False, allow, found)
    return out, sorted(found)


def _redact_node(
    node: Any, path: str, under_secret: bool, allow: tuple[str, ...], found: list[str]
) -> Any:
    if isinstance(node, Mapping):
        out: dict[str, Any] = {}
        for key, value in node.items():
            key = str(key)
            child = f"{path}.{key}" if path else key
            kept = bool(allow) and allowed(child, allow)
            name = key if kept else scrub_text(key)
            if name != key:
                found.append(child)
            out[name] = value if kept else _redact_node(value, child, secret_key(key), allow, found)
        return out
    if isinstance(node, list):
        return [
            _redact_node(value, f"{path}[{i}]", under_secret, allow, found)
            for i, value in enumerate(node)
        ]
    if isinstance(node, str):
        if PLACEHOLDER in node:  # redacted already (a resumed run's recorded config)
            found.append(path)
            return node
        if under_secret and secret_value_under_key(node):
            found.append(path)
            return PLACEHOLDER
        scrubbed = scrub_text(node)
        if scrubbed != node:
            found.append(path)
        return scrubbed
    return node


# -- command lines --------------------------------------------------------------------

_ASSIGNMENT = r"^(?P<flag>-{0,2}[+~]?(?P<key>[A-Za-z_][A-Za-z0-9_.\-]*))=(?P<value>.*)$"
_OPTION = r"^--?[A-Za-z]"


def redact_command(
    command: list[str], allow: Iterable[str] = ()
) -> tuple[list[str], list[dict[str, Any]]]:
    """The command with secrets replaced, and one ``{"index", "key"}`` per argument changed.

    ``key`` names the ``GITEXP_SECRET_<KEY>`` a rerun reads: the option or key it was
    given with (``--hf-token X``, ``--password=X``, ``db.password=X``), else ``ARG<index>``
    (the position in the command, the program being 0); a key already used takes
    ``ARG<index>`` too.
    """
    allow = tuple(allow)
    out: list[str] = []
    changed: list[dict[str, Any]] = []
    used: set[str] = set()
    previous: str | None = None  # an option that takes the next argument as its value
    for index, arg in enumerate(command):
        new, key = arg, None
        assignment = re.match(_ASSIGNMENT, arg, re.S) if index else None
        if previous is not None and not re.match(_OPTION, arg):
            key = previous
            if not allowed(previous, allow):
                if secret_key(previous) and secret_value_under_key(arg):
                    new = PLACEHOLDER
                else:
                    new = scrub_text(arg)
        elif assignment is not None:
            key = assignment["key"]
            if not allowed(assignment["flag"], allow):
                value = assignment["value"]
                if secret_key(key) and secret_value_under_key(value):
                    new = f"{assignment['flag']}={PLACEHOLDER}"
                else:
                    new = scrub_text(arg)
        else:
            new = scrub_text(arg)
        previous = (
            arg
            if index and arg.startswith("-") and "=" not in arg and re.match(_OPTION, arg)
            else None
        )
        if new != arg:
            name = env_name(key).removeprefix("GITEXP_SECRET_") if key else ""
            if not name or name in used:
                name = f"ARG{index}"
            used.add(name)
            changed.append({"index": index, "key": name})
        out.append(new)
    return out, changed


def redact_param(key: str, text: str, allow: Iterable[str] = ()) -> str:
    """``key=text`` as a sweep member's name shows it."""
    if allowed(key, tuple(allow)):
        return text
    if secret_key(key) and secret_value_under_key(text):
        return PLACEHOLDER
    return scrub_text(text)


def fill(recorded: str, secret: str) -> str:
    """A recorded string with its placeholder replaced by ``secret``: the secret is
    what the placeholder stands for; with several placeholders, the whole string."""
    if recorded.count(PLACEHOLDER) == 1:
        return recorded.replace(PLACEHOLDER, secret)
    return secret


_PATH_PART = r"([^.\[\]]+)|\[(\d+)\]"


def put_back(config: dict[str, Any], path: str, secret: str | None) -> None:
    """Put ``secret`` back at a redacted dotted path (``db.password``, ``keys[0]``) of a
    recorded config; None removes the key (a script sets it again)."""
    parts: list[str | int] = [
        name if name else int(number) for name, number in re.findall(_PATH_PART, path)
    ]
    node: Any = config
    try:
        for part in parts[:-1]:
            node = node[part]
        last = parts[-1]
        if secret is not None:
            node[last] = fill(str(node[last]), secret)
        elif isinstance(node, dict):
            node.pop(last, None)
    except (KeyError, IndexError, TypeError):
        return
