"""Reading fields of untrusted dicts (JSON metadata of latents, models, directions) with one clear error.

Every reader takes the dict, the key and ``where`` (what the dict is, e.g. ``"crop record 0"``) and
returns a checked Python value, or raises :class:`~styleganex.base.errors.InputError` naming the field and
saying what was found, so a damaged or hand-edited file never surfaces as a ``KeyError``,
``ZeroDivisionError`` or ``RecursionError`` deep inside a pipeline.

>>> read_int({"h": 512}, "h", "frame", low=1)
512
>>> read_int({"h": "big"}, "h", "frame")
Traceback (most recent call last):
...
styleganex.base.errors.InputError: frame: field 'h' must be a whole number, found 'big'
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .errors import InputError

MAX_SIDE = 65_536
"""Largest image side any record may describe (pixels)."""
MAX_JSON_DEPTH = 16
"""Deepest nesting accepted in JSON metadata."""
MAX_JSON_BYTES = 1_000_000
"""Largest JSON metadata string accepted."""


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")
"""Characters a terminal or a browser list acts on instead of showing: C0/C1 controls (NUL, BEL, ESC,
carriage return, ...), zero-width characters, line/paragraph separators and bidirectional overrides."""


def has_control(text: str) -> bool:
    """Whether ``text`` holds a control character (see :data:`_CONTROL`)."""
    return _CONTROL.search(text) is not None


def shown_text(text: Any) -> str:
    r"""``text`` safe to print or list: every control character written as an escape (``\x1b``).

    >>> shown_text("smile\x1b[2J\r")
    'smile\\x1b[2J\\r'
    """
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _field(data: Any, key: str, where: str) -> Any:
    if not isinstance(data, dict):
        raise InputError(f"{where} must be a JSON object, found {type(data).__name__}")
    if key not in data:
        raise InputError(f"{where}: field '{key}' is missing")
    return data[key]


def as_int(value: Any, name: str, where: str, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]`` (whole floats are accepted; bools are not)."""
    ok = isinstance(value, int) and not isinstance(value, bool)
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        value, ok = int(value), True
    if not ok:
        raise InputError(f"{where}: field '{name}' must be a whole number, found {_shown(value)}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise InputError(f"{where}: field '{name}' is {value}, outside {low}..{high}")
    return int(value)


def as_float(value: Any, name: str, where: str, low: float | None = None, high: float | None = None,
             low_open: bool = False) -> float:
    """``value`` as a finite float in ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{where}: field '{name}' must be a finite number, found {_shown(value)}")
    value = float(value)
    below = low is not None and (value <= low if low_open else value < low)
    if below or (high is not None and value > high):
        bracket = "(" if low_open else "["
        raise InputError(f"{where}: field '{name}' is {value:g}, outside {bracket}{low:g}, {high:g}]")
    return value


def as_list(value: Any, name: str, where: str, length: int | None = None, max_length: int = 100_000) -> list:
    if not isinstance(value, (list, tuple)):
        raise InputError(f"{where}: field '{name}' must be a list, found {_shown(value)}")
    if length is not None and len(value) != length:
        raise InputError(f"{where}: field '{name}' must have {length} entries, found {len(value)}")
    if len(value) > max_length:
        raise InputError(f"{where}: field '{name}' has {len(value)} entries, more than {max_length}")
    return list(value)


def read_int(data: Any, key: str, where: str, low: int | None = None, high: int | None = None) -> int:
    return as_int(_field(data, key, where), key, where, low, high)


def read_float(data: Any, key: str, where: str, low: float | None = None, high: float | None = None,
               low_open: bool = False) -> float:
    return as_float(_field(data, key, where), key, where, low, high, low_open)


def read_ints(data: Any, key: str, where: str, length: int, low: int | None = None,
              high: int | None = None) -> tuple[int, ...]:
    """A list of exactly ``length`` whole numbers in ``[low, high]``."""
    values = as_list(_field(data, key, where), key, where, length)
    return tuple(as_int(v, f"{key}[{i}]", where, low, high) for i, v in enumerate(values))


def read_str(data: Any, key: str, where: str, choices: tuple[str, ...] | None = None) -> str:
    value = _field(data, key, where)
    if not isinstance(value, str) or (choices is not None and value not in choices):
        allowed = f" (one of {list(choices)})" if choices else ""
        raise InputError(f"{where}: field '{key}' must be a string{allowed}, found {_shown(value)}")
    return value


def parse_json(text: Any, where: str) -> Any:
    """Parse a JSON metadata string, refusing huge or deeply nested values."""
    if not isinstance(text, str):
        raise InputError(f"{where} must be a JSON string, found {type(text).__name__}")
    if len(text) > MAX_JSON_BYTES:
        raise InputError(f"{where} is {len(text):,} characters of JSON, more than {MAX_JSON_BYTES:,}")
    depth = level = 0
    in_string = escaped = False
    for ch in text:  # nesting depth before parsing: json.loads would recurse without a limit we set
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            level += 1
            depth = max(depth, level)
        elif ch in "]}":
            level -= 1
    if depth > MAX_JSON_DEPTH:
        raise InputError(f"{where} is nested {depth} levels deep, more than {MAX_JSON_DEPTH}")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        raise InputError(f"{where} is not valid JSON: {e}") from None
