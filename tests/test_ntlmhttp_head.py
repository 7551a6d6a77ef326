"""ntlmhttp.read_response's head split at once from the reader's buffer (`_buffered_head`),
against the same reader line by line (the previous code, kept as the fallback) and against
http.client (the stdlib's HTTP/1.1 client) on a corpus of answers, malformed ones included."""

from __future__ import annotations

import http.client
import io
import itertools
from typing import Any

import pytest

from hvprov.transports import httpread, ntlmhttp

HEADS = [
    b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: 5\r\n\r\n",
    b"HTTP/1.1 200 OK\nContent-Length: 5\n\n",  # bare LF line ends
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\n\r\n",  # mixed
    b"HTTP/1.1 200 OK\nContent-Length: 5\r\n\n",
    b"HTTP/1.1 401 \r\nWWW-Authenticate: Negotiate TlRMTVNTUAACAAAA\r\nwww-authenticate: Basic realm=\"x\"\r\n"
    b"Content-Length: 0\r\n\r\n",
    b"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 5\r\n\r\n",
    b"HTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"A: b\r\n" * 100 + b"Content-Length: 5\r\n\r\n",  # 101 headers
    b"HTTP/1.1 200 OK\r\nX: " + b"v" * 9000 + b"\r\nContent-Length: 5\r\n\r\n",  # longer than a buffer
    b"HTTP/1.1 200 OK\r\nX: " + b"v" * 70000 + b"\r\nContent-Length: 5\r\n\r\n",  # longer than a line may be
    # malformed
    b"",
    b"\r\n\r\n",
    b"\n\n",
    b"\r\nHTTP/1.1 200 OK\r\n\r\n",
    b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
    b"HTTP/1.1 2x0 OK\r\n\r\n",
    b"HTTP/1.1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n",  # the connection ends inside the head
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: x5\r\n\r\n",
]
# Where the line-by-line reader (before this cut too) reads otherwise than http.client, which
# HTTP.sys never sends: header lines without a colon or folded, 1xx other than 100 (http.client
# stops there), a header name that is not ASCII (email's parser ends the head there), 100
# headers (http.client counts the blank line in its 100). Compared with the line reader only.
ODD = [
    b"HTTP/1.1 200\r\nContent-Length:5\r\nX-Empty:\r\nNoColon\r\n  Spaced : v a l \r\n\r\n",
    b"HTTP/1.1 100 Continue\n\nHTTP/1.1 102 Processing\r\nX: y\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nServer: Microsoft-HTTPAPI/2.0\r\nDate: Wed, 02 Dec 2026 00:00:00 GMT\r\nX-\xe9: \xff\r\n"
    b"Content-Length: 5\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"A: b\r\n" * 99 + b"Content-Length: 5\r\n\r\n",  # 100
    b"HTTP/1.1 200 OK\r\n \r\nContent-Length: 5\r\n\r\n",
]
BODIES = [b"hello", b"5\r\nhello\r\n0\r\n\r\n", b""]
BUFFERS = [0, 1, 7, 8, 64, 8192, 1 << 20]


def _reader(raw: bytes, buffer: int) -> Any:
    return io.BytesIO(raw) if buffer == 0 else io.BufferedReader(io.BytesIO(raw), buffer)  # type: ignore[arg-type]


def _outcome(raw: bytes, buffer: int) -> tuple[Any, ...]:
    """What read_response returns and what is left on the connection, or what it raises (the
    transport then drops the connection: what is left does not matter)."""
    reader = _reader(raw, buffer)
    try:
        return ("ok", ntlmhttp.read_response(reader), reader.read())
    except (http.client.HTTPException, ValueError) as exc:
        return ("error", type(exc), str(exc))


CASES = [h + b for h, b in itertools.product(HEADS + ODD, BODIES)]
CLEAN = [h + b for h, b in itertools.product(HEADS, BODIES)]


@pytest.mark.parametrize("raw", CASES)
def test_the_head_at_once_is_the_head_line_by_line(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every reader (buffers from 1 byte to 1 MiB, and none) gives what the line-by-line reader
    gives: the same answer and the same bytes left over (the next answer's), or the same error
    with the same text."""
    with monkeypatch.context() as m:
        m.setattr(httpread, "_buffered_head", lambda rfile: None)
        want = _outcome(raw, 8192)
    for buffer in BUFFERS:
        assert _outcome(raw, buffer) == want, buffer


@pytest.mark.parametrize("raw", CLEAN)
def test_what_read_response_accepts_http_client_reads_alike(raw: bytes) -> None:
    """Where the reader accepts an answer, http.client reads the same status, headers, body and
    connection fate from it."""
    outcome = _outcome(raw, 8192)
    if outcome[0] != "ok":
        return
    status, headers, body, close = outcome[1]

    class _Sock:
        def makefile(self, *_: Any) -> io.BytesIO:
            return io.BytesIO(raw)

    ref = http.client.HTTPResponse(_Sock(), method="POST")  # type: ignore[arg-type]
    ref.begin()
    assert (status, body, close) == (ref.status, ref.read(), bool(ref.will_close))
    assert headers == {k.lower(): ref.headers.get_all(k) for k in {k.lower() for k in ref.headers}}


def test_a_whole_answer_in_the_buffer_is_not_read_line_by_line() -> None:
    """The fast path is the one taken when the answer is buffered (else the test above would
    compare the line-by-line reader with itself)."""

    class Counting(io.BufferedReader):
        lines = 0

        def readline(self, *args: Any) -> bytes:
            Counting.lines += 1
            return super().readline(*args)

    raw = HEADS[0] + b"hello" + HEADS[7] + b"hello"
    reader = Counting(io.BytesIO(raw), 8192)  # type: ignore[arg-type]
    assert ntlmhttp.read_response(reader)[2] == b"hello"
    assert ntlmhttp.read_response(reader)[2] == b"hello"
    assert Counting.lines == 0
