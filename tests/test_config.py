"""Tests for gitexp.model.config: overrides, config files, merging, YAML round trips, Config."""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import pickle
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gitexp.errors import ConfigError, UsageError
from gitexp.model.config import (
    Config,
    deep_merge,
    dump_yaml,
    flatten_config,
    load_config_file,
    load_yaml,
    parse_override,
    resolve,
    set_dotted,
)


def same(a: Any, b: Any) -> bool:
    """Structural equality where NaN equals NaN, -0.0 differs from 0.0 and types must match."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
# --- parse_override --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "keys", "value"),
    [
        ("lr=0.01", ["lr"], 0.01),
        ("epochs=10", ["epochs"], 10),
        ("neg=-3", ["neg"], -3),
        ("flag=true", ["flag"], True),
        ("flag=false", ["flag"], False),
        ("flag=True", ["flag"], True),
        ("flag=FALSE", ["flag"], False),
        ("flag=yes", ["flag"], "yes"),  # YAML 1.2: not a bool
        ("flag=off", ["flag"], "off"),
        ("name=resnet", ["name"], "resnet"),
        ("layers=[1,2]", ["layers"], [1, 2]),
        ("layers=[1e-3, yes, 2024-01-01]", ["layers"], [0.001, "yes", "2024-01-01"]),
        ("opt={a: 1}", ["opt"], {"a": 1}),
        ("opt={}", ["opt"], {}),
        ("x=null", ["x"], None),
        ("x=~", ["x"], None),
        ("x=1e-3", ["x"], 0.001),
        ("x=1E5", ["x"], 100000.0),
        ("x=.5", ["x"], 0.5),
        ("x=-0.0", ["x"], -0.0),
        ("x=inf", ["x"], math.inf),
        ("x=-inf", ["x"], -math.inf),
        ("x=+Infinity", ["x"], math.inf),
        ("x=.inf", ["x"], math.inf),
        ('x="0.01"', ["x"], "0.01"),
        ("x='true'", ["x"], "true"),
        ("x=", ["x"], ""),
        ("x=2024-01-01", ["x"], "2024-01-01"),
        ("x=010", ["x"], 10),  # YAML 1.2: decimal, not octal
        ("x=0x10", ["x"], 16),
        ("x=0o10", ["x"], 8),
        ("x=a=b", ["x"], "a=b"),
        ("x=hello world", ["x"], "hello world"),
        ("x=1_000", ["x"], "1_000"),
        ("model.opt.lr=0.1", ["model", "opt", "lr"], 0.1),
        (" lr = 0.5 ", ["lr"], 0.5),
    ],
)
def test_parse_override(text: str, keys: list[str], value: Any) -> None:
    got_keys, got_value = parse_override(text)
    assert got_keys == keys
    assert same(got_value, value)


def test_parse_override_nan() -> None:
    for text in ("x=nan", "x=NaN", "x=.nan"):
        value = parse_override(text)[1]
        assert isinstance(value, float) and math.isnan(value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("lr", "missing '='"),
        ("", "missing '='"),
        ("=0.1", "empty key"),
        ("  =0.1", "empty key"),
        ("a..b=1", "empty part"),
        (".a=1", "empty part"),
        ("a.=1", "empty part"),
        ("x=[1,", "invalid value"),
        ("x={a: [}", "invalid value"),
    ],
)
def test_parse_override_errors(text: str, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_override(text)
    assert fragment in info.value.message
    assert info.value.hint is not None and "-p lr=0.01" in info.value.hint


# --- load_config_file ------------------------------------------------------------------------


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_yaml_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "c.yaml",
        "lr: 1e-3\nepochs: 10\nname: resnet\nuse_amp: yes\nloss_cap: .inf\nbad: .nan\n"
        "date: 2024-01-01\nmodel:\n  depth: 50\n  layers: [1, 2]\n",
    )
    cfg = load_config_file(path)
    assert cfg["lr"] == 0.001 and cfg["epochs"] == 10 and cfg["name"] == "resnet"
    assert cfg["use_amp"] == "yes" and cfg["date"] == "2024-01-01"
    assert cfg["loss_cap"] == math.inf and math.isnan(cfg["bad"])
    assert cfg["model"] == {"depth": 50, "layers": [1, 2]}
    assert list(cfg) == ["lr", "epochs", "name", "use_amp", "loss_cap", "bad", "date", "model"]


def test_load_json_file_and_str_path(tmp_path: Path) -> None:
    path = write(tmp_path, "c.json", '{"lr": 0.1, "opt": {"name": "adam"}}')
    assert load_config_file(str(path)) == {"lr": 0.1, "opt": {"name": "adam"}}
    path = write(tmp_path, "n.json", '{"a": {"$float": "-Infinity"}, "b": NaN}')
    cfg = load_config_file(path)
    assert cfg["a"] == -math.inf and math.isnan(cfg["b"])


def test_load_yaml_anchors_and_merge(tmp_path: Path) -> None:
    path = write(tmp_path, "c.yml", "base: &b {lr: 1}\nexp:\n  <<: *b\n  depth: 2\n")
    assert load_config_file(path) == {"base": {"lr": 1}, "exp": {"lr": 1, "depth": 2}}


@pytest.mark.parametrize(("name", "text"), [("e.yaml", ""), ("e.yaml", "# nothing\n")])
def test_load_empty_file(tmp_path: Path, name: str, text: str) -> None:
    assert load_config_file(write(tmp_path, name, text)) == {}


def test_load_bom(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufefflr: 1\n".encode())
    assert load_config_file(path) == {"lr": 1}


def check_error(path: Path, *fragments: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config_file(path)
    message = info.value.message
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    assert info.value.hint
    return info.value


def test_missing_file(tmp_path: Path) -> None:
    check_error(tmp_path / "nope.yaml", "not found")


def test_directory(tmp_path: Path) -> None:
    check_error(tmp_path, "directory")


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="needs file modes")
def test_unreadable(tmp_path: Path) -> None:
    path = write(tmp_path, "c.yaml", "a: 1\n")
    path.chmod(0)
    try:
        check_error(path, "cannot read")
    finally:
        path.chmod(0o644)


def test_read_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "c.yaml", "a: 1\n")

    def deny(self: Path, *args: Any, **kwargs: Any) -> str:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_text", deny)
    check_error(path, "cannot read", "Permission denied")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"a: \xff\xfe\n")
    check_error(path, "UTF-8")


def test_invalid_yaml_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "c.yaml", "lr: 0.1\nmodel:\n  depth: [1, 2\nname: x\n")
    check_error(path, "invalid YAML", "line 4")


def test_invalid_yaml_bad_indentation(tmp_path: Path) -> None:
    path = write(tmp_path, "c.yaml", "a: 1\n b: 2\n")
    check_error(path, "line 2, column")


def test_invalid_json_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "c.json", '{\n  "a": 1,\n  "b": \n}\n')
    check_error(path, "invalid JSON", "line 4, column 1")


def test_duplicate_key(tmp_path: Path) -> None:
    path = write(tmp_path, "c.yaml", "lr: 1\nepochs: 2\nlr: 3\n")
    check_error(path, "duplicate key 'lr'", "line 3")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("- 1\n- 2\n", "list"), ("just a string\n", "str"), ("3\n", "int")],
)
def test_top_level_not_mapping(tmp_path: Path, text: str, fragment: str) -> None:
    check_error(write(tmp_path, "c.yaml", text), "mapping", fragment)


def test_top_level_json_list(tmp_path: Path) -> None:
    check_error(write(tmp_path, "c.json", "[1, 2]"), "mapping")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("1: x\n", "key 1 is a int"),
        ("model:\n  true: x\n", "key True under 'model'"),
        ("null: x\n", "key None"),
        ("1.5: x\n", "float"),
    ],
)
def test_non_string_keys(tmp_path: Path, text: str, fragment: str) -> None:
    error = check_error(write(tmp_path, "c.yaml", text), fragment, "not a string")
    assert error.hint is not None and "quote" in error.hint


def test_unsupported_yaml_values(tmp_path: Path) -> None:
    check_error(write(tmp_path, "c.yaml", "a:\n  b: !!binary aGVsbG8=\n"), "'a.b'", "bytes")


def test_bad_explicit_tag(tmp_path: Path) -> None:
    check_error(write(tmp_path, "c.yaml", "a: !!int abc\n"), "invalid YAML")
    with pytest.raises(UsageError):
        parse_override("x=[!!float abc]")


def test_unsafe_tags_rejected(tmp_path: Path) -> None:
    check_error(write(tmp_path, "c.yaml", "a: !!python/object:os.system x\n"), "invalid YAML")


# --- set_dotted / deep_merge / resolve / flatten_config --------------------------------------


def test_set_dotted() -> None:
    d: dict[str, Any] = {"model": {"depth": 1}}
    set_dotted(d, ["model", "opt", "lr"], 0.1)
    set_dotted(d, ["top"], 1)
    assert d == {"model": {"depth": 1, "opt": {"lr": 0.1}}, "top": 1}


def test_set_dotted_through_a_scalar_is_an_error() -> None:
    with pytest.raises(UsageError, match=r"model is 'resnet', not a mapping"):
        set_dotted({"model": "resnet"}, ["model", "depth"], 50)


def test_deep_merge() -> None:
    base: dict[str, Any] = {"a": 1, "m": {"x": 1, "y": [1, 2], "n": {"p": 1}}, "l": [1]}
    over = {"m": {"y": [3], "n": {"q": 2}}, "l": [9], "b": 2}
    merged = deep_merge(base, over)
    assert merged == {"a": 1, "m": {"x": 1, "y": [3], "n": {"p": 1, "q": 2}}, "l": [9], "b": 2}
    merged["m"]["n"]["p"] = 99
    merged["l"].append(0)
    assert base["m"]["n"] == {"p": 1} and over["l"] == [9]  # inputs untouched


def test_deep_merge_scalar_and_dict_replace_each_other() -> None:
    assert deep_merge({"a": {"b": 1}}, {"a": 5}) == {"a": 5}
    assert deep_merge({"a": 5}, {"a": {"b": 1}}) == {"a": {"b": 1}}


def test_resolve_precedence() -> None:
    defaults = {"lr": 0.1, "epochs": 10, "opt": {"name": "sgd", "momentum": 0.9}}
    file_config = {"lr": 0.01, "opt": {"name": "adam"}}
    overrides = [parse_override("lr=0.001"), parse_override("opt.beta=0.5")]
    cfg = resolve(defaults, file_config, overrides)
    assert cfg == {
        "lr": 0.001,
        "epochs": 10,
        "opt": {"name": "adam", "momentum": 0.9, "beta": 0.5},
    }
    assert defaults["lr"] == 0.1 and file_config["opt"] == {"name": "adam"}


def test_resolve_empty_sources() -> None:
    assert resolve(None, None, []) == {}
    assert resolve(None, None, [(["a", "b"], 1)]) == {"a": {"b": 1}}


def test_flatten_config() -> None:
    cfg = {"optimizer": {"lr": 0.1, "betas": [0.9, 0.99]}, "epochs": 3}
    assert flatten_config(cfg) == {"optimizer.lr": 0.1, "optimizer.betas": [0.9, 0.99], "epochs": 3}


# --- dump_yaml / load_yaml -------------------------------------------------------------------

TRICKY_STRINGS = [
    "1e-3", "1e3", "1.5", ".5", "+1", "-0", "0x10", "0o17", "010", "1_000", "1:30",
    "true", "True", "yes", "No", "on", "OFF", "y", "n", "null", "Null", "~", "",
    "nan", ".nan", ".inf", "-.inf", "inf", "Infinity", "2024-01-01", "2024-01-01 10:00:00",
    "<<", "=", "- a", "a: b", "#x", "x #y", "'q'", '"dq"', "[1]", "{a: 1}", "&a", "*a", "!t",
    "%x", "@x", "`x", "|", ">", "?", ":", " lead", "trail ", "multi\nline", "ends\n",
    "\n\n", "tab\tx", "cr\rx", "nul\x00", "é ü 日本語 🎉", "\u2028", "\x85", "\ufeffbom",
]  # fmt: skip
TRICKY_FLOATS = [0.0, -0.0, 1e-300, 5e-324, 1e300, 1.7976931348623157e308, 0.1, 1e16, -2.5,
                 math.nan, math.inf, -math.inf, 100.0, 1e22]  # fmt: skip


def test_dump_yaml_is_readable_block_style() -> None:
    cfg = {"lr": 0.001, "model": {"name": "resnet", "layers": [1, 2]}, "tag": "1e-3"}
    text = dump_yaml(cfg)
    assert text == (
        "lr: 0.001\nmodel:\n  name: resnet\n  layers:\n  - 1\n  - 2\ntag: '1e-3'\n"
    )  # insertion order, block style, ambiguous string quoted


def test_dump_yaml_multiline_as_literal_block() -> None:
    assert dump_yaml({"note": "line 1\nline 2"}) == "note: |-\n  line 1\n  line 2\n"


def test_yaml_round_trip_tricky_values() -> None:
    cfg = {
        "strings": TRICKY_STRINGS,
        "floats": TRICKY_FLOATS,
        "ints": [0, -1, 2**64, -(10**50), 7],
        "bools": [True, False],
        "none": None,
        "keys": {s: i for i, s in enumerate(TRICKY_STRINGS)},
        "empty": {"d": {}, "l": []},
        "tuple": (1, 2),
    }
    expected = dict(cfg, tuple=[1, 2])
    assert same(load_yaml(dump_yaml(cfg)), expected)


@pytest.mark.parametrize("loader", [yaml.SafeLoader, yaml.BaseLoader])
def test_dumped_yaml_quotes_strings_for_other_readers(loader: Any) -> None:
    """Strings YAML 1.1 tools would misread (yes, 2024-01-01, 010) are quoted for them too."""
    cfg = {s: s for s in TRICKY_STRINGS if s.isprintable()}
    assert yaml.load(dump_yaml(cfg), Loader=loader) == cfg


def test_dump_yaml_rejects_lone_surrogates() -> None:
    with pytest.raises(ConfigError, match="not valid Unicode"):
        dump_yaml({"path": "data/\udcff.bin"})


def test_load_yaml_errors() -> None:
    assert load_yaml("") == {}
    with pytest.raises(ConfigError, match=r"config\.yaml"):
        load_yaml("- 1\n")
    with pytest.raises(ConfigError, match=r"run\.yaml.*line 2"):
        load_yaml("a: [\n", source="run.yaml")


config_dicts = st.dictionaries(st.text(max_size=8), json_values, max_size=5)


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(config_dicts)
def test_yaml_round_trip_property(cfg: dict[str, Any]) -> None:
    assert same(load_yaml(dump_yaml(cfg)), cfg)


@settings(max_examples=200, deadline=None)
@given(st.text() | st.floats() | st.integers())
def test_yaml_round_trip_scalars(value: Any) -> None:
    assert same(load_yaml(dump_yaml({"v": value, value if isinstance(value, str) else "k": 1})),
                {"v": value, value if isinstance(value, str) else "k": 1})  # fmt: skip


# config.yaml without PyYAML (gitexp.model.plainyaml): the same text, or None

_words = st.sampled_from(
    ["lr", "model", "name", "x_1", "a.b", "path/to", "resnet-50", "yes", "No", "ON", "null",
     "True", "n", "y", "nan", "inf", ".inf", "1e3", "0x1F", "~", "", "a b", "a: b", "#c",
     "-x", "é", "<<", "_", "2024-01-01", "12:30", "off", "Off", "NULL", "e5", "E"]
)  # fmt: skip
_plain_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.sampled_from([1e-05, 1e16, 0.1, -0.0, 1.5e300, 5e-324, 100.0, 2.5e-3])
    | _words
    | st.text(max_size=6)
)
_plain_configs = st.recursive(
    st.dictionaries(
        _words | st.text(max_size=4), _plain_scalars | st.lists(st.integers()), max_size=5
    ),
    lambda inner: st.dictionaries(_words, inner | _plain_scalars, max_size=4),
    max_leaves=12,
)


_simple_words = st.from_regex(r"[A-Za-z_][A-Za-z0-9_./-]{0,6}", fullmatch=True)
_simple_configs = st.recursive(
    st.dictionaries(_simple_words, st.none() | st.booleans() | st.integers() | st.floats()
                    | _simple_words, max_size=5),
    lambda inner: st.dictionaries(_simple_words, inner, max_size=4),
    max_leaves=12,
)  # fmt: skip


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(_plain_configs | _simple_configs)
def test_plain_yaml_writes_what_pyyaml_writes(cfg: dict[str, Any]) -> None:
    from gitexp.model.configfile import dump_yaml as dump_with_pyyaml
    from gitexp.model.plainyaml import dump_plain

    plain = dump_plain(cfg)
    if plain is not None:
        assert plain == dump_with_pyyaml(cfg)
        assert same(load_yaml(plain), cfg)


@settings(max_examples=300, deadline=None)
@given(_plain_configs | _simple_configs)
def test_plain_yaml_reads_back_what_pyyaml_reads(cfg: dict[str, Any]) -> None:
    from gitexp.model.configfile import load_yaml as load_with_pyyaml
    from gitexp.model.plainyaml import dump_plain, load_plain

    text = dump_plain(cfg)
    if text is not None:
        assert same(load_plain(text), load_with_pyyaml(text))


_yaml_tokens = st.sampled_from(
    ["", "1", "01", "-0", "1.0", "1.", "1e5", "1.0e-05", "1.0E+5", ".nan", ".NaN", "-.inf", "+1",
     "null", "~", "true", "True", "yes", "{}", "[]", "'a'", '"b"', "x # c", "a: b", "0x1F", "1_000"]
)  # fmt: skip


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(_simple_configs, st.integers(0, 50), _yaml_tokens, st.sampled_from(["", " ", "  "]))
def test_plain_yaml_reader_answers_as_pyyaml_or_not_at_all(
    cfg: dict[str, Any], line: int, token: str, indent: str
) -> None:
    """Texts one edit away from what dump_plain writes: read as PyYAML reads them, or left
    to PyYAML (None)."""
    from gitexp.model.configfile import load_yaml as load_with_pyyaml
    from gitexp.model.plainyaml import dump_plain, load_plain

    text = dump_plain(cfg)
    if text is None or text == "{}\n":
        return
    lines = text.split("\n")
    where = line % (len(lines) - 1)
    key, _, _ = lines[where].partition(":")
    lines[where] = f"{indent}{key}: {token}" if token else f"{indent}{key}:"
    edited = "\n".join(lines)
    plain = load_plain(edited)
    if plain is not None:
        assert same(plain, load_with_pyyaml(edited)), edited


def test_plain_yaml_takes_typical_configs() -> None:
    from gitexp.model.plainyaml import dump_plain

    cfg = {"lr": 1e-05, "epochs": 10, "model": {"name": "resnet-50", "depth": 50, "opt": {}},
           "wd": 0.0, "amp": True, "seed": None, "data": "data/x.csv", "p": math.nan}  # fmt: skip
    assert dump_plain(cfg) is not None
    assert dump_plain({"flag": "yes"}) is None  # a YAML 1.1 bool: PyYAML quotes it
    assert dump_plain({"xs": [1, 2]}) is None  # lists are left to PyYAML
    assert dump_plain({}) == "{}\n"


# --- Config ----------------------------------------------------------------------------------


def test_config_attribute_and_item_access() -> None:
    cfg = Config({"lr": 0.1, "model": {"depth": 50}})
    assert cfg.lr == 0.1 and cfg["lr"] == 0.1
    assert cfg.model == {"depth": 50} and cfg["model"]["depth"] == 50
    cfg.epochs = 3
    cfg["batch"] = 32
    assert cfg.as_dict() == {"lr": 0.1, "model": {"depth": 50}, "epochs": 3, "batch": 32}
    assert "lr" in cfg and "nope" not in cfg
    assert list(cfg) == ["lr", "model", "epochs", "batch"] == list(cfg.keys())
    assert len(cfg) == 4
    assert dict(cfg.items())["batch"] == 32 and 32 in list(cfg.values())
    assert cfg.get("nope") is None and cfg.get("nope", 1) == 1 and cfg.get("lr") == 0.1
    assert dict(**cfg)["lr"] == 0.1
    assert repr(cfg).startswith("Config({'lr': 0.1")


def test_config_missing_keys() -> None:
    cfg = Config()
    with pytest.raises(AttributeError):
        _ = cfg.lr
    with pytest.raises(KeyError):
        _ = cfg["lr"]
    assert not hasattr(cfg, "lr")
    assert getattr(cfg, "lr", 5) == 5


def test_config_delete() -> None:
    calls: list[int] = []
    cfg = Config({"a": 1, "b": 2}, on_change=lambda: calls.append(1))
    del cfg["b"]
    assert list(cfg) == ["a"] and len(calls) == 1
    with pytest.raises(KeyError):
        del cfg["b"]


def test_config_private_attributes_are_plain() -> None:
    cfg = Config()
    cfg._internal = 1
    assert cfg._internal == 1 and "_internal" not in cfg
    with pytest.raises(AttributeError):
        _ = cfg._missing


def test_config_normalizes_values() -> None:
    cfg = Config({"a": np.float32(0.5), "b": (1, np.int64(2)), 3: "x"})
    cfg.c = {"d": np.bool_(True), 4: [np.array(1.5)]}
    assert cfg.as_dict() == {"a": 0.5, "b": [1, 2], "3": "x", "c": {"d": True, "4": [1.5]}}
    assert type(cfg.a) is float and type(cfg.c["d"]) is bool


def test_config_unsupported_values_become_strings_with_one_warning() -> None:
    class Model:
        def __str__(self) -> str:
            return "Model()"

    cfg = Config()
    with pytest.warns(UserWarning, match="'model'") as record:
        cfg.model = Model()
    assert record[0].filename == __file__  # points at the user's line
    assert cfg.model == "Model()"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cfg.model = Model()  # same key: no second warning
        cfg["model"] = Model()
        cfg.update({"model": Model()})
    with pytest.warns(UserWarning, match=r"'nested\.m'"):
        cfg.update({"nested": {"m": Model()}})
    assert cfg.nested == {"m": "Model()"}


def test_config_update_sources() -> None:
    @dataclasses.dataclass
    class Opts:
        lr: float = 0.1
        sub: dict[str, int] = dataclasses.field(default_factory=lambda: {"a": 1})

    class Plain:
        def __init__(self) -> None:
            self.x = 1
            self._hidden = 2

    cfg = Config()
    cfg.update(argparse.Namespace(epochs=3, name="r"))
    cfg.update(Opts())
    cfg.update(Plain())
    cfg.update(Config({"y": 2}))
    assert cfg.as_dict() == {"epochs": 3, "name": "r", "lr": 0.1, "sub": {"a": 1}, "x": 1, "y": 2}
    with pytest.raises(UsageError):
        cfg.update(5)


def test_config_update_allow_val_change() -> None:
    cfg = Config({"lr": 0.1, "bad": math.nan})
    cfg.update({"lr": 0.2})
    assert cfg.lr == 0.2
    cfg.update({"lr": 0.2, "new": 1, "bad": math.nan}, allow_val_change=False)  # unchanged: ok
    with pytest.raises(UsageError, match="allow_val_change=True"):
        cfg.update({"lr": 0.3, "other": 1}, allow_val_change=False)
    assert cfg.lr == 0.2 and "other" not in cfg  # nothing applied


def test_config_setdefaults() -> None:
    calls: list[int] = []
    cfg = Config({"lr": 0.01}, on_change=lambda: calls.append(1))
    cfg.setdefaults({"lr": 0.1, "epochs": 10})
    assert cfg.as_dict() == {"lr": 0.01, "epochs": 10} and calls == [1]
    cfg.setdefaults({"lr": 0.5})
    assert calls == [1]  # nothing changed, nothing persisted


def test_config_on_change() -> None:
    calls: list[int] = []
    cfg = Config({"a": 1}, on_change=lambda: calls.append(1))
    assert calls == []  # construction is not a change
    cfg.a = 2
    cfg["b"] = 3
    cfg.update({"c": 4, "d": 5})
    cfg._private = 1
    assert len(calls) == 3


def test_config_as_dict_is_a_deep_copy() -> None:
    cfg = Config({"m": {"l": [1]}})
    d = cfg.as_dict()
    d["m"]["l"].append(2)
    assert cfg.m == {"l": [1]}
    assert type(d) is dict


def test_config_pickle() -> None:
    cfg = Config({"lr": 0.1, "m": {"d": 1}}, on_change=lambda: None)
    clone = pickle.loads(pickle.dumps(cfg))
    assert clone.as_dict() == cfg.as_dict() and clone.lr == 0.1
    clone.lr = 0.5  # works without the callback
    assert clone.lr == 0.5 and cfg.lr == 0.1
