"""The message channel between the sandbox runtime and its worker processes.

A message is one JSON object, sent as a frame: a 4-byte big-endian length, then that many bytes of
UTF-8 JSON. JSON rather than pickle because the parent reads what env code could have forged:
decoding a frame must never run code. The channel has pipes of its own (the worker moves it off
fds 0 and 1 before any env code runs), so env prints cannot reach it; a worker that writes garbage
or an oversized frame anyway is treated as crashed.
"""

from __future__ import annotations

import json
import struct
from typing import Any

_HEADER = struct.Struct(">I")
HEADER_SIZE = _HEADER.size
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class ChannelError(Exception):
    """A frame broke the protocol: too large, not JSON, or not a JSON object."""


def frame(body: bytes) -> bytes:
    """A frame around an encoded JSON object."""
    return _HEADER.pack(len(body)) + body


class FrameReader:
    """Cuts a byte stream into messages, refusing frames over ``max_bytes``."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """Add bytes; return the complete messages they finish. Raises :class:`ChannelError`."""
        buf = self._buf
        buf += data
        messages = []
        pos = 0
        end = len(buf)
        while end - pos >= HEADER_SIZE:
            (size,) = _HEADER.unpack_from(buf, pos)
            if size > self.max_bytes:
                raise ChannelError(f"a {size}-byte message is over the {self.max_bytes}-byte limit")
            if end - pos - HEADER_SIZE < size:
                break
            body = bytes(buf[pos + HEADER_SIZE : pos + HEADER_SIZE + size])
            pos += HEADER_SIZE + size
            try:
                message = json.loads(body)
            except (ValueError, RecursionError) as exc:
                raise ChannelError(f"a message is not JSON: {exc}") from None
            if not isinstance(message, dict):
                raise ChannelError(f"a message is a JSON {type(message).__name__}, not an object")
            messages.append(message)
        if pos:
            del buf[:pos]
        return messages

    @property
    def pending(self) -> int:
        """Bytes received that do not yet make a whole frame."""
        return len(self._buf)
