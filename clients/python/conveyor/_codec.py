"""The one rule both JSON-lines protocols share for bytes: text when it is UTF-8, else base64.

Task payloads (to a worker, to a producer), worker outputs, emitted tasks and results lines all
carry bytes in a JSON string field, with ``"encoding":"base64"`` beside it when the bytes are not
valid UTF-8. Keeping the rule in one place keeps the worker and the producer wrapper in step.
"""

from __future__ import annotations

import base64
import binascii

BASE64 = "base64"


def bytes_fields(name: str, data: bytes) -> dict[str, str]:
    """``{name: text}`` when ``data`` is UTF-8, else ``{name: base64, "encoding": "base64"}``."""
    try:
        return {name: data.decode("utf-8")}
    except UnicodeDecodeError:
        return {name: base64.b64encode(data).decode("ascii"), "encoding": BASE64}


def text_fields(name: str, text: str) -> dict[str, str]:
    """Like ``bytes_fields`` for a str.

    A str that cannot be UTF-8 encoded is usually raw bytes smuggled through ``surrogateescape``
    (``os.fsdecode``, ``sys.argv``): it goes as those bytes, in base64. Any other lone surrogate
    raises ``UnicodeEncodeError``, which the caller reports.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return bytes_fields(name, text.encode("utf-8", "surrogateescape"))
    return {name: text}


def payload_fields(name: str, value: str | bytes | bytearray | memoryview) -> dict[str, str]:
    """``text_fields`` or ``bytes_fields`` by the type of ``value``; a clear TypeError otherwise."""
    if isinstance(value, str):
        return text_fields(name, value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes_fields(name, bytes(value))
    raise TypeError(f"expected str or bytes, got {type(value).__name__}")


def decode_bytes(text: object, encoding: object, name: str) -> bytes:
    """The bytes a JSON field holds; ValueError naming the field when it is not a valid one."""
    if not isinstance(text, str):
        raise ValueError(f'"{name}" must be a string, got {type(text).__name__}')
    if encoding is None:
        # JSON may spell a lone surrogate (\udcff); the peer never sends one, so '?' is enough.
        return text.encode("utf-8", "replace")
    if encoding != BASE64:
        raise ValueError(f'unknown "encoding" {encoding!r} for "{name}" (expected "base64")')
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f'"{name}" is not valid base64: {exc}') from None
