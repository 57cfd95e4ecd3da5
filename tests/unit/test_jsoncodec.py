"""The JSON codec both edges read bodies with: I-JSON (RFC 7493), strict where Python's `json` is
lenient."""

from __future__ import annotations

import json

import pytest

from chats_api import jsoncodec


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (b'{"a": [1, 2.5, null, true]}', {"a": [1, 2.5, None, True]}),
        # Past 64 bits: orjson 3.13 reads it as a float (precision lost, but not refused).
        (b"123456789012345678901234567890", 1.2345678901234568e29),
        (b'"\\ud83c\\udfb8"', "\U0001f3b8"),  # a surrogate pair is one character
        ('{"é": "ü"}', {"é": "ü"}),
    ],
)
def test_valid_json_is_read(text: bytes | str, value: object) -> None:
    assert jsoncodec.loads(text) == value


@pytest.mark.parametrize(
    "text",
    [
        b"NaN",
        b"[Infinity]",
        b"-Infinity",
        b"{",
        b"",
        b"\xff\xfe",
        b"[" * 100_000 + b"]" * 100_000,
        # Lone surrogates: grammatical, but no text (I-JSON refuses them), wherever they are.
        b'"\\ud800"',
        b'{"operationName": "\\udfff"}',
        b'{"\\ud800": 1}',
        b'[[{"a": ["x\\ud800y"]}]]',
        b'{"n": 123456789012345678901234567890, "s": "\\ud800"}',
    ],
)
def test_what_is_not_json_is_a_decode_error(text: bytes) -> None:
    with pytest.raises(json.JSONDecodeError):
        jsoncodec.loads(text)


def test_dumps_is_compact_utf8() -> None:
    assert jsoncodec.dumps({"a": "é", "b": None}) == '{"a":"é","b":null}'.encode()
