"""Frozen dataclasses to plain JSON data and back: enums as values, checked types, no secrets."""

from __future__ import annotations

import dataclasses
import types
import typing
from enum import Enum
from functools import cache
from typing import Any, TypeVar

from core.models import Secret

__all__ = ["from_plain", "to_plain"]

T = TypeVar("T")


def to_plain(value: object) -> Any:
    """A JSON-ready copy of `value` (dataclasses become dicts, enums their values).

    Raises `TypeError` on a `Secret`: secrets go to the vault, never into plain storage.
    """
    if isinstance(value, Secret):
        raise TypeError("a Secret cannot be stored in plain settings")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [to_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_plain(item) for key, item in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in settings")


def from_plain(
    cls: type[T], data: object, *, lenient: bool = False, problems: list[str] | None = None
) -> T:
    """Rebuild dataclass `cls` from `data`, checking every field's type.

    Unknown keys are ignored (a newer version may add some). A missing or bad field raises
    `ValueError` naming it; with `lenient=True` a field that has a default falls back to it
    instead, and the problem is appended to `problems`.
    """
    return typing.cast(T, _convert(cls, data, cls.__name__, lenient, problems))


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _convert(tp: Any, value: object, where: str, lenient: bool, problems: list[str] | None) -> Any:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(option, value, where, lenient, problems)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError(errors[0] if errors else f"{where}: must not be empty")
    if origin is tuple:
        (item_type, *_rest) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ValueError(f"{where}: expected a list")
        return tuple(_convert(item_type, item, where, lenient, problems) for item in value)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass(tp, value, where, lenient, problems)
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(value)
        except ValueError:
            raise ValueError(f"{where}: {value!r} is not one of {[m.value for m in tp]}") from None
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp in (int, str, bool) and type(value) is tp:
        return value
    raise ValueError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {type(value).__name__}")


def _dataclass(
    cls: type, value: object, where: str, lenient: bool, problems: list[str] | None
) -> Any:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected an object")
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        has_default = (
            f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        )
        path = f"{where}.{f.name}"
        if f.name not in value:
            if not has_default:
                raise ValueError(f"{path}: missing")
            continue
        try:
            kwargs[f.name] = _convert(hints[f.name], value[f.name], path, lenient, problems)
        except ValueError as exc:
            if not (lenient and has_default):
                raise
            if problems is not None:
                problems.append(f"{exc}; using the default")
    return cls(**kwargs)
