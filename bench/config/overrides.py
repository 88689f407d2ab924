"""`--set KEY=VALUE`: any field of a run's resolved settings from the command line.

A key is a dotted path into the settings dataclasses of bench.config: a model field of the
method's family (``ngf``, ``d``, ``lr_z``, ``kl_weight``, ``steps``, ``invert.steps``,
``loss.lap.weight_base``, ...) or an evaluation field (``eval.train_n``,
``eval.codes_check_n``, ``eval.lap.weight_base``, ...). Values are parsed and checked against
the field's annotated type (int, float, bool, str, one of a Literal's choices, or None where
the field allows it), so a typo is a one-line error before anything runs, naming the key, the
expected type and, for an unknown key, every valid key of the family.

A key applies to the methods whose family has that field (``lr_z``: the GLO rows only); the
others ignore it, and `bench run` says so. The assignments applied to a run are recorded in
its config (``RunConfig.overrides``), so they change its run id and show in the report.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any, Literal

from bench.config.families import FAMILY_SETTINGS, METHODS
from bench.config.settings import EvalSettings
from bench.config.spec import Assignment
from bench.runtime.errors import BenchError

EVAL_PREFIX = "eval."
#: fields that have their own flag because more than the settings depend on them
NOT_SETTABLE = {"eval.heldout": "--heldout DATASET (its images must be loaded too)"}


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def leaf_keys(cls: type, prefix: str = "") -> dict[str, Any]:
    """Every settable dotted key under the dataclass ``cls`` -> its annotated type."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        tp = _hints(cls)[f.name]
        if dataclasses.is_dataclass(tp):
            out.update(leaf_keys(tp, f"{prefix}{f.name}."))
        else:
            out[prefix + f.name] = tp
    return out


def family_keys(family: str) -> dict[str, Any]:
    """The keys a method of ``family`` accepts: its model settings, then eval.*."""

    keys = {**leaf_keys(FAMILY_SETTINGS[family]), **leaf_keys(EvalSettings, EVAL_PREFIX)}
    return {k: v for k, v in keys.items() if k not in NOT_SETTABLE}


def type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(str(a) for a in typing.get_args(tp))
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if args and _is_union(tp):
        return " or ".join(type_name(a) for a in args) + " or none"
    return getattr(tp, "__name__", str(tp))


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def convert(key: str, tp: Any, text: str) -> Any:
    """``text`` as a value of type ``tp``; BenchError naming the key and the type if it is not."""
    def bad() -> BenchError:
        return BenchError(f"--set {key}={text}: {key} expects {type_name(tp)}, not {text!r}")

    if _is_union(tp):
        args = typing.get_args(tp)
        if type(None) in args and text.lower() in ("none", "null", ""):
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return convert(key, arg, text)
            except BenchError:
                continue
        raise bad()
    if typing.get_origin(tp) is Literal:
        for choice in typing.get_args(tp):
            if text == str(choice):
                return choice
        raise bad()
    if tp is bool:
        low = text.lower()
        if low in ("true", "yes", "1", "on"):
            return True
        if low in ("false", "no", "0", "off"):
            return False
        raise bad()
    if tp is int:
        try:
            return int(text.replace("_", ""))
        except ValueError:
            raise bad() from None
    if tp is float:
        try:
            return float(text)
        except ValueError:
            raise bad() from None
    if tp is str:
        return text
    raise BenchError(f"--set {key}: a field of type {type_name(tp)} cannot be set from the "
                     f"command line")


def validate(assignments: tuple[Assignment, ...], methods: typing.Iterable[str]
             ) -> dict[str, tuple[str, ...]]:
    """Check every assignment against the requested methods' families. Returns, per key,
    the methods it does not apply to (empty when it applies to all). Unknown keys (valid for
    none of the methods) and values of the wrong type are BenchErrors."""

    methods = tuple(methods)
    families = {m: METHODS[m][0] for m in methods}
    skipped: dict[str, tuple[str, ...]] = {}
    for a in assignments:
        if a.key in NOT_SETTABLE:
            raise BenchError(f"--set {a}: use {NOT_SETTABLE[a.key]} instead")
        applies = [m for m in methods if a.key in family_keys(families[m])]
        if not applies:
            fams = sorted(set(families.values()))
            valid = sorted({k for f in fams for k in family_keys(f)})
            raise BenchError(f"--set {a}: unknown key {a.key!r} for {', '.join(fams)}; valid "
                             f"keys: {', '.join(valid)}")
        for m in applies:
            convert(a.key, family_keys(families[m])[a.key], a.text)
        skipped[a.key] = tuple(m for m in methods if m not in applies)
    return skipped


def typed(assignments: tuple[Assignment, ...], family: str) -> dict[str, Any]:
    """The assignments that apply to ``family``, as key -> typed value."""
    keys = family_keys(family)
    return {a.key: convert(a.key, keys[a.key], a.text) for a in assignments if a.key in keys}


def set_path(obj: Any, path: str, value: Any) -> Any:
    """A copy of the frozen dataclass ``obj`` with the dotted field ``path`` set to ``value``."""
    name, _, rest = path.partition(".")
    if not rest:
        return dataclasses.replace(obj, **{name: value})
    return dataclasses.replace(obj, **{name: set_path(getattr(obj, name), rest, value)})


def describe_keys(family: str, defaults: Any, eval_defaults: Any) -> list[str]:
    """`bench keys`: one line per key of ``family``: key, type, value in ``defaults``."""
    lines = []
    for key, tp in family_keys(family).items():
        obj, path = (eval_defaults, key[len(EVAL_PREFIX):]) if key.startswith(EVAL_PREFIX) \
            else (defaults, key)
        value = obj
        for part in path.split("."):
            value = getattr(value, part)
        lines.append(f"{key:<28} {type_name(tp):<40} {value!r}")
    return lines
