"""One HTTP/1.1 answer read from a connection's buffered reader, for the lean WinRM transport
(ntlmhttp.py): http.client's rules without its MIME parser (docs/winrm-performance.md).
tests/test_ntlmhttp_head.py and tests/test_ntlmhttp.py hold it to http.client and to itself
line by line."""

from __future__ import annotations

import http.client
from typing import Any, cast

__all__ = ["NO_VALUE", "Headers", "read_response"]

MAX_LINE = 65536  # http.client's limits
MAX_HEADERS = 100
# A WS-Man answer is at most the MaxEnvelopeSize the client asked for (153,600 bytes here) plus
# the encryption framing; 16 MiB bounds what a hostile or broken endpoint can make us buffer.
MAX_BODY = 16 * 1024 * 1024
MAX_INTERIM = 16  # 1xx answers skipped before the final one
Headers = dict[str, list[str]]


NO_VALUE = ("",)  # headers.get(name, NO_VALUE)[0]: a header's first value, "" if absent


def _line(rfile: Any) -> bytes:
    line = rfile.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise http.client.LineTooLong("header line")
    return cast(bytes, line)


def read_response(rfile: Any) -> tuple[int, Headers, bytes, bool]:
    """(status, headers by lower-case name, body, whether the connection closes) of one HTTP/1.1
    answer: http.client's rules (line and header limits, Content-Length or chunked, interim 1xx
    skipped, HTTP/1.0 or ``Connection: close`` ends the connection) without its MIME parser,
    which cost more CPU than the rest of a WinRM exchange (docs/winrm-performance.md)."""
    for _ in range(MAX_INTERIM + 1):
        block = _buffered_head(rfile)
        if block is not None:  # the whole head in the reader's buffer: split it at once
            status_line, _, rest = block.partition(b"\n")
            version, status = _status(status_line + b"\n")
            fields = rest.decode("latin-1").split("\n")[:-2]  # the blank line's two ends dropped
            if len(fields) > MAX_HEADERS:
                raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")
            headers: Headers = {}
            for field in fields:
                name, _, value = field.partition(":")
                headers.setdefault(name.strip().lower(), []).append(value.strip())
        else:
            version, status, headers = _head_by_lines(rfile)
        if status >= 200:
            break
    else:
        raise http.client.HTTPException(f"got more than {MAX_INTERIM} interim (1xx) answers")
    # a header's value list is never empty: [0] is its first value
    close = version == "HTTP/1.0" or "close" in headers.get("connection", NO_VALUE)[0].lower()
    if "chunked" in headers.get("transfer-encoding", NO_VALUE)[0].lower():
        return status, headers, _chunked(rfile), close
    length = headers.get("content-length", NO_VALUE)[0]
    if length:
        if not length.isdigit():
            raise http.client.HTTPException(f"invalid Content-Length {length[:40]!r}")
        n = _bounded(int(length))
        data = rfile.read(n)
        if len(data) != n:
            raise http.client.IncompleteRead(data, n - len(data))
        return status, headers, data, close
    if status in (204, 304):
        return status, headers, b"", close
    data = rfile.read(MAX_BODY + 1)  # delimited by the end of the connection
    return status, headers, data[: _bounded(len(data))], True


def _buffered_head(rfile: Any) -> bytes | None:
    """One answer's head (status line to the blank line), consumed, if the reader's buffer holds
    all of it (one ``recv`` usually brings a WinRM answer whole); else None and nothing
    consumed: the head is then read line by line. The head ends at the first line that is
    ``\\r\\n`` or ``\\n`` after the status line, where readline would stop; within
    MAX_LINE bytes no line can be too long."""
    peek = getattr(rfile, "peek", None)
    if peek is None:
        return None
    data = peek()  # at most one read from the socket, as readline's first would be
    crlf, lf = data.find(b"\n\r\n"), data.find(b"\n\n")
    if crlf < 0 and lf < 0:
        return None
    end = lf + 2 if crlf < 0 or 0 <= lf < crlf else crlf + 3
    if end > MAX_LINE:
        return None
    return cast(bytes, rfile.read(end))


def _status(line: bytes) -> tuple[str, int]:
    """The version and status code of a status line (http.client's checks)."""
    parts = line.decode("latin-1").split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise http.client.BadStatusLine(line.decode("latin-1", "replace")[:80])
    return parts[0], int(parts[1])


def _head_by_lines(rfile: Any) -> tuple[str, int, Headers]:
    line = _line(rfile)
    if not line:
        raise http.client.RemoteDisconnected("Remote end closed connection without response")
    version, status = _status(line)
    headers: Headers = {}
    for _ in range(MAX_HEADERS + 1):
        line = _line(rfile)
        if line in (b"\r\n", b"\n", b""):
            return version, status, headers
        name, _, value = line.decode("latin-1").partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")


def _bounded(size: int) -> int:
    if size > MAX_BODY:
        raise http.client.HTTPException(f"answer larger than {MAX_BODY} bytes")
    return size


def _chunked(rfile: Any) -> bytes:
    out: list[bytes] = []
    total = 0
    while True:
        text = _line(rfile).split(b";", 1)[0].strip()
        try:
            size = int(text, 16)
        except ValueError:
            raise http.client.HTTPException(f"invalid chunk size {text[:20]!r}") from None
        if size < 0:
            raise http.client.HTTPException(f"invalid chunk size {text[:20]!r}")
        if size == 0:
            for _ in range(MAX_HEADERS + 1):
                if _line(rfile) in (b"\r\n", b"\n", b""):
                    return b"".join(out)  # after the trailers
            raise http.client.HTTPException(f"got more than {MAX_HEADERS} trailers")
        total = _bounded(total + size)
        chunk = rfile.read(size)
        if len(chunk) != size:
            raise http.client.IncompleteRead(chunk, size - len(chunk))
        out.append(chunk)
        _line(rfile)
