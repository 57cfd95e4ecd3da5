"""JSON for both edges: orjson for speed, strict where Python's `json` is lenient.

`loads` refuses NaN and Infinity, invalid UTF-8 and absurd nesting with a JSONDecodeError, and
still accepts every valid document (orjson alone refuses lone surrogate escapes, which the
standard library then reads; it reads integers past 64 bits as floats).
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
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as exc:
        raise json.JSONDecodeError(str(exc) or type(exc).__name__, "", 0) from None


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)
