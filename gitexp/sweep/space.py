"""Sweeps: parameter spaces, their combinations, and which combinations are done.

A sweep is a group of runs, one per combination of parameter values.  Values come from
``-p key=v1,v2,...`` or a YAML file (docs/workflow.md#sweeps):

```yaml
command: python train.py          # used when no command follows --; may use ${args}
program: train.py                 # optional: what ${program} in the command stands for
parameters:
  lr: [0.1, 0.01, 0.001]          # a list of values
  batch: {values: [32, 64]}       # the same, spelled out
  wd: {min: 0, max: 0.1, steps: 3}                # 0, 0.05, 0.1
  warmup: {min: 1e-4, max: 1e-1, steps: 4, scale: log}
  dropout: {min: 0.0, max: 0.5}   # no steps: drawn at random (needs --random N)
  seed: 0                         # one fixed value
```

Every value travels to its run as the text of a ``-p key=TEXT`` override, so a sweep
member is typed exactly as ``gitexp run -p`` types it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from gitexp.errors import ConfigError, UsageError
from gitexp.model import config as configmod
from gitexp.model import values
from gitexp.model.overrides import missing, value_at
from gitexp.model.redact import redact_param

FILE_KEYS = ("command", "program", "name", "group", "parameters")
# What a search adds (docs/workflow.md#bayesian-sweeps), and wandb's sweep keys, so that
# a wandb sweep YAML runs as is; ``description``, ``project`` and ``entity`` are read
# and not used.
SEARCH_KEYS = ("method", "metric", "trials", "run_cap", "prune", "early_terminate", "seed")
WANDB_ONLY = ("description", "project", "entity")


@dataclass(frozen=True)
class Choice:
    text: str  # as passed on: ``gitexp run -p key=TEXT``
    value: object  # what that text means (typed as -p types it)


@dataclass
class Parameter:
    key: str  # dotted for nested config keys: model.depth
    choices: list[Choice] = field(default_factory=list)
    low: float | None = None  # a continuous range, sampled by --random only
    high: float | None = None
    log: bool = False
    integer: bool = False  # whole numbers only (wandb's int_uniform)
    step: float | None = None  # a multiple of this above low (wandb's q)

    @property
    def continuous(self) -> bool:
        return not self.choices

    def draw(self, rng: random.Random) -> Choice:
        if self.choices:
            return rng.choice(self.choices)
        low, high = float(self.low or 0.0), float(self.high or 0.0)
        if self.log:
            number = math.exp(rng.uniform(math.log(low), math.log(high)))
        else:
            number = rng.uniform(low, high)
        if self.integer:
            whole = round(number)
            return Choice(value_text(whole), whole)
        number = float(f"{number:.4g}")
        return Choice(value_text(number), number)

    def spec(self) -> dict[str, object]:
        """This parameter in wandb's spelling, as a sweep ref stores it (sweep/ref.py)."""
        if self.choices:
            if len(self.choices) == 1:
                return {"value": self.choices[0].value}
            return {"values": [choice.value for choice in self.choices]}
        out: dict[str, object]
        if self.integer:
            kind = (
                "q_log_uniform_values"
                if self.log
                else ("q_uniform" if self.step else "int_uniform")
            )
            out = {"min": int(self.low or 0), "max": int(self.high or 0)}
            if self.log or self.step:
                out["q"] = int(self.step or 1)
        else:
            kind = ("q_" if self.step else "") + ("log_uniform_values" if self.log else "uniform")
            out = {"min": self.low, "max": self.high}
            if self.step:
                out["q"] = self.step
        return {"distribution": kind, **out}


Combination = tuple[tuple[str, Choice], ...]


def split_values(raw: str) -> list[str]:
    """``"0.1,0.01"`` -> ``["0.1", "0.01"]``; commas inside ``[]``, ``{}`` or quotes stay."""
    parts: list[str] = []
    depth, quote, start = 0, "", 0
    for i, char in enumerate(raw):
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(raw[start:i].strip())
            start = i + 1
    parts.append(raw[start:].strip())
    return parts


def parse_cli(text: str) -> Parameter:
    """One ``-p key=v1,v2,...`` of ``gitexp sweep``."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(
            f"invalid sweep parameter {text!r}: write -p key=value1,value2,...",
            "Example: gitexp sweep -p lr=0.1,0.01 -p batch=32,64 -- python train.py",
        )
    key = key.strip()
    choices = []
    for piece in split_values(raw):
        _keys, value = configmod.parse_override(f"{key}={piece}")
        choices.append(Choice(piece, value))
    return Parameter(key, unique_choices(choices))


def unique_choices(choices: list[Choice]) -> list[Choice]:
    seen: set[str] = set()
    out = []
    for choice in choices:
        marker = values.dumps(choice.value)
        if marker not in seen:
            seen.add(marker)
            out.append(choice)
    return out


def value_text(value: object) -> str:
    """The ``-p`` text that means ``value``."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, float) and not math.isfinite(value):
        text = "nan" if value != value else ("inf" if value > 0 else "-inf")
    elif isinstance(value, (int, float)):
        text = repr(value)
    elif isinstance(value, str):
        text = value
    else:
        text = values.dumps(value)
    try:
        _keys, back = configmod.parse_override(f"k={text}")
    except UsageError:
        back = None
    if values.dumps(back) != values.dumps(value) or (
        isinstance(value, str) and text != text.strip()
    ):
        text = json.dumps(value)  # a string that would read as something else: quote it
    return text


@dataclass
class SweepFile:
    parameters: list[Parameter]
    command: list[str] | None = None
    name: str | None = None
    group: str | None = None
    program: str | None = None  # what ${program} in the command stands for (wandb's key)
    search: dict[str, object] = field(default_factory=dict)  # SEARCH_KEYS as given
    warnings: list[str] = field(default_factory=list)  # said once by the command


def load_file(path: str) -> SweepFile:
    return load_spec(configmod.load_config_file(path), path)


def load_spec(data: Mapping[str, object], path: str, strict: bool = True) -> SweepFile:
    """A sweep file's (or a sweep ref's) parsed content; ``path`` names it in messages.

    ``strict``: an unknown key is an error (a user's typo); a sweep ref is read with
    ``strict=False``, since a newer gitexp may add keys there (docs/format.md).
    """
    unknown = sorted(set(map(str, data)) - {*FILE_KEYS, *SEARCH_KEYS, *WANDB_ONLY})
    if unknown and strict:
        raise ConfigError(
            f"{path}: unknown key {', '.join(unknown)}",
            f"A sweep file has: {', '.join(FILE_KEYS + SEARCH_KEYS)} "
            "(see docs/workflow.md#sweeps).",
        )
    spec = data.get("parameters")
    if not isinstance(spec, Mapping) or not spec:
        raise ConfigError(f"{path}: 'parameters' must map each key to its values")
    command = data.get("command")
    if isinstance(command, str):
        command = shlex.split(command)
    if command is not None and not (
        isinstance(command, list) and command and all(isinstance(c, str) for c in command)
    ):
        raise ConfigError(f"{path}: 'command' must be a string or a list of strings")
    for key in ("name", "group", "program"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ConfigError(f"{path}: {key!r} must be a string")
    wandb_style = "method" in data  # wandb's file: its defaults for {min, max}
    warnings: list[str] = []
    params: list[Parameter] = []
    for key, value in spec.items():
        params += _file_parameters(path, str(key), value, wandb_style, warnings.append)
    search = {key: data[key] for key in SEARCH_KEYS if data.get(key) is not None}
    return SweepFile(
        params,
        command,
        _text(data.get("name")),
        _text(data.get("group")),
        _text(data.get("program")),
        search,
        warnings,
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _file_parameters(
    path: str, key: str, spec: object, wandb_style: bool, warn: Callable[[str], None]
) -> list[Parameter]:
    """One parameter, or a nested group's (wandb's ``parameters:`` inside a parameter)."""
    if isinstance(spec, Mapping) and "parameters" in spec:
        inner = spec["parameters"]
        if set(spec) != {"parameters"} or not isinstance(inner, Mapping) or not inner:
            raise ConfigError(f"{path}: parameters.{key}: write {{parameters: {{name: ...}}}}")
        return [
            p
            for name, value in inner.items()
            for p in _file_parameters(path, f"{key}.{name}", value, wandb_style, warn)
        ]
    if isinstance(spec, Mapping) and (
        set(spec) & wandbspec_markers()
        or (wandb_style and ("min" in spec or "max" in spec) and "steps" not in spec)
    ):
        from gitexp.sweep import wandbspec

        return [wandbspec.parameter(f"{path}: parameters.{key}", key, spec, warn)]
    return [_file_parameter(path, key, spec)]


def wandbspec_markers() -> set[str]:
    """Keys only wandb's parameter syntax has (sweep/wandbspec.py reads those specs)."""
    return {"distribution", "value", "mu", "sigma", "q", "probabilities"}


def _file_parameter(path: str, key: str, spec: object) -> Parameter:
    where = f"{path}: parameters.{key}"
    if isinstance(spec, list):
        items = spec
    elif isinstance(spec, Mapping) and "values" in spec:
        if set(spec) != {"values"} or not isinstance(spec["values"], list):
            raise ConfigError(f"{where}: write {{values: [a, b, ...]}}")
        items = spec["values"]
    elif isinstance(spec, Mapping) and ("min" in spec or "max" in spec):
        return _range(where, key, spec)
    elif isinstance(spec, Mapping):
        raise ConfigError(
            f"{where}: a mapping must be {{values: [...]}} or {{min: a, max: b[, steps: n]"
            "[, scale: log]}}"
        )
    else:
        items = [spec]
    if not items:
        raise ConfigError(f"{where}: no values")
    return Parameter(key, unique_choices([Choice(value_text(item), item) for item in items]))


def _range(where: str, key: str, spec: Mapping[str, object]) -> Parameter:
    allowed = {"min", "max", "steps", "scale"}
    if set(spec) - allowed or not {"min", "max"} <= set(spec):
        raise ConfigError(f"{where}: a range has min, max and optionally steps and scale")
    low, high, steps = spec["min"], spec["max"], spec.get("steps")
    scale = spec.get("scale", "linear")
    if not (values.is_number(low) and values.is_number(high)):  # bools are not numbers
        raise ConfigError(f"{where}: min and max must be numbers")
    if scale not in ("linear", "log") or (scale == "log" and min(low, high) <= 0):
        raise ConfigError(f"{where}: scale is linear or log (log needs min and max above 0)")
    if steps is None:
        return Parameter(key, low=float(low), high=float(high), log=scale == "log")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ConfigError(f"{where}: steps must be a whole number of at least 1")
    numbers = _spaced(float(low), float(high), steps, scale == "log")
    if isinstance(low, int) and isinstance(high, int) and all(n.is_integer() for n in numbers):
        items: list[float] = [int(n) for n in numbers]
    else:
        items = numbers
    return Parameter(key, unique_choices([Choice(value_text(item), item) for item in items]))


def _spaced(low: float, high: float, steps: int, log: bool) -> list[float]:
    if steps == 1:
        return [low]
    if log:
        a, b = math.log(low), math.log(high)
        return [float(f"{math.exp(a + (b - a) * i / (steps - 1)):.12g}") for i in range(steps)]
    return [float(f"{low + (high - low) * i / (steps - 1):.12g}") for i in range(steps)]


def merge(first: list[Parameter], second: list[Parameter]) -> list[Parameter]:
    """Parameters of both; for a key in both, ``second`` (the command line) wins."""
    by_key = {p.key: p for p in first}
    by_key.update({p.key: p for p in second})
    return list(by_key.values())


def combinations(params: list[Parameter], random_count: int | None, seed: str) -> list[Combination]:
    """Every combination in order (the grid), or ``random_count`` of them at random.

    The random picks depend only on ``seed`` (the sweep's group by default), so a sweep
    started again picks the same ones, and a larger count extends a smaller one.
    """
    rng = random.Random(seed)
    if random_count is None:
        continuous = [p.key for p in params if p.continuous]
        if continuous:
            raise UsageError(
                f"{', '.join(continuous)}: a range without steps can only be sampled",
                "Give --random N, or steps: N in the sweep file.",
            )
        return _grid(params)
    if not any(p.continuous for p in params):
        grid = _grid(params)
        rng.shuffle(grid)
        return grid[:random_count]
    picked: list[Combination] = []
    seen: set[str] = set()
    for _ in range(random_count * 20):
        if len(picked) == random_count:
            break
        combo = tuple((p.key, p.draw(rng)) for p in params)
        marker = describe(combo)
        if marker not in seen:
            seen.add(marker)
            picked.append(combo)
    return picked


def _grid(params: list[Parameter]) -> list[Combination]:
    keys = [p.key for p in params]
    product = itertools.product(*(p.choices for p in params))
    return [tuple(zip(keys, picks, strict=True)) for picks in product]


def describe(combo: Combination, keys: list[str] | None = None) -> str:
    return " ".join(f"{key}={choice.text}" for key, choice in combo if keys is None or key in keys)


def default_group(command: list[str], params: list[Parameter]) -> str:
    """A stable name for the sweep: the same command and parameters give the same group."""
    space = [
        [p.key, [c.text for c in p.choices], p.low, p.high, p.log]
        for p in sorted(params, key=lambda p: p.key)
    ]
    digest = hashlib.sha1(json.dumps([command, space]).encode()).hexdigest()[:8]
    return f"sweep-{digest}"


def member_name(prefix: str, combo: Combination, varying: list[str], index: int) -> str:
    # The name is recorded and pushed with the run: a secret value is not part of it.
    parts = [f"{key}={redact_param(key, choice.text)}" for key, choice in combo if key in varying]
    return f"{prefix}-{'-'.join(parts)}" if parts else f"{prefix}-{index}"


def lookup(config: Mapping[str, object], key: str) -> object:
    if key in config:  # a flattened config (a listing row), or a top-level key
        return config[key]
    return value_at(config, key)


def matches(config: Mapping[str, object], combo: Combination) -> bool:
    """Whether a run's config (nested, or flattened with ``.``) holds every value of ``combo``."""
    for key, choice in combo:
        found = lookup(config, key)
        if missing(found) or values.dumps(found) != values.dumps(choice.value):
            return False
    return True


def scalar_only(combo: Combination) -> bool:
    return all(not isinstance(choice.value, (list, dict)) for _key, choice in combo)
