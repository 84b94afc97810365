"""wandb's sweep parameter syntax (``value``, ``distribution``, ``mu``/``sigma``, ``q``).

A wandb sweep YAML runs as is (docs/workflow.md#wandb-sweep-files), so each of its
parameter specs becomes a :class:`~gitexp.sweep.space.Parameter` that Optuna can sample:
a list of choices, or a range (``low``/``high``, ``log``, ``integer``, ``step``).

Optuna's distributions are bounded, wandb's normal ones are not: ``normal``,
``q_normal``, ``log_normal`` and ``q_log_normal`` become the range mu ± 3 sigma (of the
value, or of its log), which holds 99.7% of what wandb would draw; the sweep says so
once.  ``probabilities`` of a categorical parameter are not honoured (Optuna's samplers
choose), with the same word.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from gitexp.errors import ConfigError
from gitexp.model import values
from gitexp.sweep.space import Choice, Parameter, unique_choices, value_text

KEYS = {"distribution", "min", "max", "mu", "sigma", "q", "values", "value", "probabilities"}
NORMAL_SPREAD = 3.0  # mu ± 3 sigma: the bounded stand-in for an unbounded normal

Warn = Callable[[str], None]


def parameter(where: str, key: str, spec: Mapping[str, object], warn: Warn) -> Parameter:
    """The parameter a wandb spec describes (``where``: the file and key, for messages)."""
    unknown = sorted(set(spec) - KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {', '.join(map(str, unknown))}",
            f"A wandb parameter has: {', '.join(sorted(KEYS))} (see docs/workflow.md).",
        )
    if "value" in spec:
        return Parameter(key, [Choice(value_text(spec["value"]), spec["value"])])
    kind = spec.get("distribution")
    if kind is None:
        kind = _inferred(spec)
    if not isinstance(kind, str):
        raise ConfigError(f"{where}: distribution must be a name such as uniform")
    if kind in ("categorical", "constant") or (kind == "" and "values" in spec):
        return _categorical(where, key, spec, warn)
    if kind in ("normal", "q_normal", "log_normal", "q_log_normal"):
        return _normal(where, key, kind, spec, warn)
    low, high = _number(where, spec, "min"), _number(where, spec, "max")
    if low > high:
        raise ConfigError(f"{where}: min ({low:g}) is above max ({high:g})")
    step = _number(where, spec, "q") if kind.startswith("q_") else None
    if kind in (
        "int_uniform",
        "q_uniform",
        "uniform",
        "q_log_uniform_values",
        "log_uniform_values",
    ):
        log = "log" in kind
        if log and low <= 0:
            raise ConfigError(f"{where}: {kind} needs min and max above 0")
        integer = kind == "int_uniform" or (
            step is not None and float(step).is_integer() and float(low).is_integer()
        )
        return _ranged(key, low, high, log, integer, step)
    if kind in ("log_uniform", "q_log_uniform"):  # min and max are natural-log exponents
        return _ranged(key, math.exp(low), math.exp(high), True, False, step)
    raise ConfigError(
        f"{where}: unknown distribution {kind!r}",
        "wandb's distributions: constant, categorical, int_uniform, uniform, q_uniform, "
        "log_uniform, log_uniform_values, q_log_uniform, q_log_uniform_values, normal, "
        "q_normal, log_normal, q_log_normal.",
    )


def _inferred(spec: Mapping[str, object]) -> str:
    """wandb's default distribution: categorical for values, int_uniform for int bounds."""
    if "values" in spec:
        return "categorical"
    if "mu" in spec or "sigma" in spec:
        return "normal"
    low, high = spec.get("min"), spec.get("max")
    if isinstance(low, int) and isinstance(high, int) and not isinstance(low, bool):
        return "int_uniform"
    return "uniform"


def _number(where: str, spec: Mapping[str, object], name: str) -> float:
    number = spec.get(name)
    if not values.is_number(number):
        raise ConfigError(f"{where}: {name} must be a number")
    assert isinstance(number, (int, float))
    if not math.isfinite(number):
        raise ConfigError(f"{where}: {name} must be finite")
    return float(number)


def _categorical(where: str, key: str, spec: Mapping[str, object], warn: Warn) -> Parameter:
    items = spec.get("values")
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{where}: a categorical parameter needs values: [a, b, ...]")
    if "probabilities" in spec:
        warn(f"{where}: probabilities are not honoured; Optuna's sampler chooses the values")
    return Parameter(key, unique_choices([Choice(value_text(item), item) for item in items]))


def _normal(where: str, key: str, kind: str, spec: Mapping[str, object], warn: Warn) -> Parameter:
    mu = _number(where, spec, "mu") if "mu" in spec else 0.0
    sigma = _number(where, spec, "sigma") if "sigma" in spec else 1.0
    if sigma <= 0:
        raise ConfigError(f"{where}: sigma must be above 0")
    low, high = mu - NORMAL_SPREAD * sigma, mu + NORMAL_SPREAD * sigma
    warn(
        f"{where}: {kind} is searched over mu ± {NORMAL_SPREAD:g} sigma "
        "(Optuna's distributions are bounded)"
    )
    step = _number(where, spec, "q") if kind.startswith("q_") else None
    if kind.endswith("log_normal"):
        return _ranged(key, math.exp(low), math.exp(high), True, False, step)
    return _ranged(key, low, high, False, False, step)


def _ranged(
    key: str, low: float, high: float, log: bool, integer: bool, step: float | None
) -> Parameter:
    if integer:
        low, high = float(math.ceil(low)), float(math.floor(high))
        step = step if step and step > 1 else None
    if step is not None and not log:
        # Optuna wants high - low to be a multiple of the step: the last step that fits.
        high = low + math.floor((high - low) / step + 1e-9) * step
    return Parameter(key, low=low, high=high, log=log, integer=integer, step=step)
