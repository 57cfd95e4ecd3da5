"""JSON for both edges: orjson for speed, strict where Python's `json` is lenient.

`loads` reads I-JSON (RFC 7493): it refuses NaN and Infinity, invalid UTF-8, lone surrogate
escapes (`"\ud800"`: no text, and a crash wherever the string is later encoded) and absurd
nesting with a JSONDecodeError. orjson refuses all of these but reads integers past 64 bits as
floats; what orjson refuses, the standard library reads, and its strings are then checked.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(text, parse_constant=_refuse_constant)
        _refuse_lone_surrogates(value)
        return value
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as exc:
        raise json.JSONDecodeError(str(exc) or type(exc).__name__, "", 0) from None


def _refuse_lone_surrogates(value: Any) -> None:
    """UnicodeEncodeError (a ValueError) for a string, key or value, holding a lone surrogate."""
    if isinstance(value, str):
        value.encode("utf-8")
    elif isinstance(value, dict):
        for key, item in value.items():
            key.encode("utf-8")
            _refuse_lone_surrogates(item)
    elif isinstance(value, list):
        for item in value:
            _refuse_lone_surrogates(item)


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)
