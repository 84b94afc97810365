"""Run ids and run names.

Ids are 12 random characters from a 32-letter alphabet (60 bits): unique across
machines without any coordination (a million runs collide with odds of about 1 in 2
million, and a collision is caught by the create-only ref update, never clobbered).
No letters that read alike (i, l, o, u), so a 7-character prefix is easy to type.
Names are for people: generated as ``adjective-noun-NN`` when not given, and free to
repeat.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
ID_LENGTH = 12
SHORT_ID_LENGTH = 7

_ADJECTIVES = (
    "amber autumn bold brisk calm clever cosmic crisp dapper daring eager fancy fluent "
    "gentle golden happy hardy jolly keen lively lucid lunar mellow misty noble polar "
    "proud quiet rapid rustic serene shiny silent snowy solar spry stellar steady sunny "
    "swift tidy vivid warm wild wise witty young zesty"
).split()
_NOUNS = (
    "badger beacon breeze brook canyon cedar comet coral crane delta dune ember falcon "
    "fern fjord forest galaxy glacier harbor heron island lagoon lark maple meadow meteor "
    "nebula oak orbit otter pebble pine planet prairie quartz raven reef river sparrow "
    "spruce summit thunder tide valley willow wind"
).split()


def new_run_id() -> str:
    # 32 letters: the low 5 bits of a random byte pick one uniformly (`secrets` costs an
    # import of random, hmac and base64 at every run's start).
    return "".join(ID_ALPHABET[byte & 31] for byte in os.urandom(ID_LENGTH))


def is_run_id(text: str) -> bool:
    return len(text) == ID_LENGTH and all(c in ID_ALPHABET for c in text)


# A run id given by the user (``init(id=...)``): one safe ref component, 1 to 64 characters.
_USER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_user_id(text: str) -> str | None:
    """Why ``text`` cannot be a run id (None when it can)."""
    if not _USER_ID.match(text):
        return (
            "a run id is 1 to 64 characters: letters, digits, '.', '_', '-', "
            "starting with a letter or digit"
        )
    if ".." in text or text.endswith((".lock", ".")):
        return "a run id cannot contain '..' or end with '.lock' or '.'"
    return None


def new_run_name() -> str:
    adjective = _ADJECTIVES[_below(len(_ADJECTIVES))]
    noun = _NOUNS[_below(len(_NOUNS))]
    return f"{adjective}-{noun}-{_below(100):02d}"


def _below(n: int) -> int:
    """A random number in [0, n) from the OS's generator; 64 bits make the bias of the
    modulo negligible for a name (the id, which must be uniform, uses no modulo)."""
    return int.from_bytes(os.urandom(8), "big") % n


def short_id(run_id: str) -> str:
    """How a run is named in messages: a generated id's first 7 characters, a user-chosen
    one (``init(id="exp-2024-01-a")``) whole, since its first 7 may well be shared by its
    siblings (``exp-202``) and it was chosen to be read."""
    return run_id[:SHORT_ID_LENGTH] if is_run_id(run_id) else run_id


def _common_prefix(a: str, b: str) -> int:
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return index
    return min(len(a), len(b))


def short_ids(run_ids: Iterable[str]) -> dict[str, str]:
    """Each id shortened as :func:`short_id` does, grown until no two runs share it.

    For the tables a user copies ids from (``ls``, a sweep's results): each is then a
    prefix that names one run (read/resolve.py takes any unique prefix).  Sorted, an id
    shares its longest prefix with a neighbour, so one pass over neighbours suffices.
    """
    ordered = sorted(set(run_ids))
    out: dict[str, str] = {}
    for index, run_id in enumerate(ordered):
        need = len(short_id(run_id))
        for other in ordered[max(0, index - 1) : index] + ordered[index + 1 : index + 2]:
            need = max(need, _common_prefix(run_id, other) + 1)
        out[run_id] = run_id[: min(need, len(run_id))]
    return out
