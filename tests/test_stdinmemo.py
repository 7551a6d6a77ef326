# ruff: noqa: F811  (the lab/echo fixtures are imported from fixtures_winrm)
"""The run's memo of large stdin encodings (hvprov/transports/stdinmemo.py) against the functions
it keeps the results of (bootstrap.stdin_payload, base64), and what goes on the wire with it: the
Send envelopes a lab host receives carry the same stdin whether the memo is used or not."""

from __future__ import annotations

import base64
import dataclasses
import random
import re
import threading
from typing import Any

from fixtures_winrm import add_host, echo, lab, spec_for  # noqa: F401  (lab/echo are fixtures)

from hvprov.transports import bootstrap
from hvprov.transports.stdinmemo import KEEP, MIN_SIZE, StdinMemo, run_memo


def _scripts(n: int, size: int) -> list[str]:
    rng = random.Random(size)
    return ["".join(rng.choice("ab$' \n\u00e4\u20ac\U0001F600") for _ in range(size)) for _ in range(n)]


def test_the_memo_returns_what_the_functions_return() -> None:
    memo = StdinMemo()
    for script in _scripts(3, 10) + _scripts(3, MIN_SIZE + 7) + _scripts(2, 40_000):
        for _ in range(2):  # computed, then kept
            assert memo.payload(script) == bootstrap.stdin_payload(script)
            data = bootstrap.stdin_payload(script)
            assert memo.b64(data) == base64.b64encode(data).decode("ascii")


def test_large_payloads_are_computed_once_and_the_last_few_kept(monkeypatch: Any) -> None:
    from hvprov.transports import stdinmemo

    calls: list[int] = []
    real = stdinmemo.stdin_payload
    monkeypatch.setattr(stdinmemo, "stdin_payload", lambda s: calls.append(len(s)) or real(s))
    memo = StdinMemo()
    big = _scripts(KEEP + 1, MIN_SIZE)
    first = memo.payload(big[0])
    assert memo.payload(big[0]) is first and len(calls) == 1  # kept: the same object, not recomputed
    for s in big[1:]:
        memo.payload(s)
    kept = memo._payloads.keys()
    assert len(kept) == KEEP and big[0] not in kept  # the oldest left
    memo.payload("x" * 10)
    memo.payload("x" * 10)
    assert calls.count(10) == 2  # small: never kept


def test_threads_get_the_same_answers() -> None:
    memo = StdinMemo()
    scripts = _scripts(6, MIN_SIZE * 2)
    out: list[list[bytes]] = []

    def work() -> None:
        out.append([memo.payload(s) for s in scripts * 3])

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = [bootstrap.stdin_payload(s) for s in scripts * 3]
    assert len(out) == 8 and all(o == expected for o in out)


def test_run_memo_lives_in_the_run_cache() -> None:
    assert run_memo(None) is None
    cache: dict[Any, Any] = {}
    assert run_memo(cache) is run_memo(cache) is cache[StdinMemo]


def test_the_wire_is_the_same_with_the_memo(lab: Any) -> None:
    """Two hosts, one with the run's cache (memo) and one without: the Send envelopes the lab
    receives carry the same stdin stream text, the base64 of the script's payload."""
    from hvprov.transports import winrm as w

    script = "# template: test/memo\n" + "Write-Output 'memo'\n" * 800  # over the command line: stdin
    assert not bootstrap.fits_command_line(script)
    add_host(lab, "hv01")
    add_host(lab, "hv02")
    streams: list[list[str]] = []
    real = w.LeanProtocol._send

    def spy(self: Any, action: str, message_id: str, **kw: Any) -> bytes:
        if action.endswith("/Send"):
            streams[-1].append(re.sub(r"CommandId=\S+", "", kw["body"]))
        return real(self, action, message_id, **kw)

    w.LeanProtocol._send = spy  # type: ignore[method-assign]
    first_cache: dict[Any, Any] = {}
    try:  # with the run's cache (memo kept), without one, with it again (memo hit)
        for name, run_cache in (("hv01", first_cache), ("hv02", None), ("hv01", first_cache)):
            streams.append([])
            t = w.WinRMTransport(dataclasses.replace(spec_for(lab, name), credential_cache=run_cache))
            assert t.run(script).rc == 0
            t.close()
    finally:
        w.LeanProtocol._send = real  # type: ignore[method-assign]
    payload = base64.b64encode(bootstrap.stdin_payload(script)).decode("ascii")
    assert streams[0] == streams[1] == streams[2] and len(streams[0]) == 1
    assert payload in streams[0][0]
    assert StdinMemo in first_cache  # the memo was used (kept, then hit)
