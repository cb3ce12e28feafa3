"""A raw HTTP/1.1 client on a plain socket, for what a real HTTP client will not do: send a
request in pieces, stall half-way through it, or send bytes no client would."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def request_head(path: str, headers: dict[str, str], *, method: str = "POST") -> bytes:
    """The request line and headers (``Connection: close``, so the response ends at EOF)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunked(pieces: list[bytes]) -> list[bytes]:
    """``pieces`` as chunks of ``Transfer-Encoding: chunked``, then the last chunk."""
    return [b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces] + [b"0\r\n\r\n"]


async def read_response(reader: asyncio.StreamReader) -> RawResponse:
    """Everything the server sends until it closes the connection, parsed."""
    raw = await reader.read()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = _unchunk(body)
    return RawResponse(int(status_line.split()[1]), headers, body)


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2 :]
    return out
