"""WinRMTransport._errors (a context-manager class) maps exceptions exactly as the
``contextlib.contextmanager`` generator it replaced did (kept below as the oracle): the same
exception type and text, the same cause and context (the very objects), the same suppressed
context, for the session-loss wrapper the same wrapped error and rebuild flag; what it does not
map leaves the block untouched."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from winrm.exceptions import InvalidCredentialsError, WinRMError, WinRMTransportError, WSManFaultError

from hvprov.connection import ConnectionSpec
from hvprov.errors import HvprovError, TransportError, UnreachableError
from hvprov.secrets import Secret
from hvprov.transports import ntlmhttp
from hvprov.transports import winrm as w


def _oracle(t: w.WinRMTransport) -> Callable[..., Any]:
    """The mapping as it was written before (hvprov/transports/winrm.py at dd50724)."""

    @contextlib.contextmanager
    def _errors(*, lost: bool = False) -> Iterator[None]:
        try:
            yield
        except HvprovError:
            raise
        except w._Reauthenticating:
            err = UnreachableError(f"{t.spec.name} unreachable: connection reset ({t._where})", host=t.spec.name)
            if lost:
                raise w._SessionLost(err, rebuild=True) from None
            raise err from None
        except Exception as exc:
            mapped = t._translate(exc)
            if lost and isinstance(mapped, TransportError) and t._is_lost(exc, mapped):
                raise w._SessionLost(mapped, rebuild=not w._is_shell_gone(exc)) from exc
            raise mapped from exc

    return _errors


def _shell_gone() -> WSManFaultError:
    return WSManFaultError(code=500, message="m", response="<x/>", reason="gone", wsman_fault_code=w.FAULT_SHELL_NOT_FOUND)


EXCEPTIONS: list[Callable[[], BaseException]] = [
    lambda: UnreachableError("already mapped", host="h"),
    lambda: w._Reauthenticating(),
    _shell_gone,
    lambda: WSManFaultError(code=500, message="m", response="<x/>", reason="bad  thing", wsman_fault_code=5),
    lambda: InvalidCredentialsError("no"),
    lambda: WinRMTransportError("http", 400, "bad request"),
    lambda: WinRMTransportError("http", 413, "too big"),
    lambda: WinRMError("something does not support that"),
    lambda: ConnectionResetError(104, "reset"),
    lambda: ConnectionRefusedError(111, "refused"),
    lambda: ntlmhttp.ConnectTimeout("connect timed out"),
    lambda: ntlmhttp.ReadTimeout("no answer"),
    lambda: requests.exceptions.ConnectionError("boom"),
    lambda: ValueError("not xml"),
    lambda: StopIteration(),
    lambda: KeyError("k"),
    lambda: RuntimeError("other"),
    lambda: KeyboardInterrupt(),
    lambda: SystemExit(3),
]


def _raised(cm: Any, make: Callable[[], BaseException]) -> tuple[BaseException, BaseException]:
    original = make()
    try:
        with cm:
            raise original
    except BaseException as got:  # noqa: BLE001 - compared below
        return original, got
    raise AssertionError("nothing raised")


def _shape(original: BaseException, got: BaseException) -> tuple[Any, ...]:
    def ref(e: BaseException | None) -> Any:
        return "original" if e is original else (type(e).__name__, str(e)) if e is not None else None

    inner = getattr(got, "error", None)
    return (type(got).__name__, str(got), ref(got.__cause__), ref(got.__context__), got.__suppress_context__,
            got is original, (type(inner).__name__, str(inner)) if inner is not None else None,
            getattr(got, "rebuild", None))


@pytest.mark.parametrize("encrypted", [False, True])
@pytest.mark.parametrize("lost", [False, True])
@pytest.mark.parametrize("make", EXCEPTIONS)
def test_errors_map_as_the_generator_did(make: Callable[[], BaseException], lost: bool, encrypted: bool) -> None:
    spec = ConnectionSpec(name="hv01", kind="winrm", address="127.0.0.1", port=5985, user="u",
                          password=Secret("pw-secret"), retries=0)
    t = w.WinRMTransport(spec)
    if encrypted:  # _is_lost asks whether the session encrypts

        class _Proto:
            class transport:  # noqa: N801
                encryption = object()

        t._protocol = _Proto()  # type: ignore[assignment]
    want = _shape(*_raised(_oracle(t)(lost=lost), make))
    got = _shape(*_raised(t._errors(lost=lost), make))
    assert got == want


def test_nothing_raised_passes_through() -> None:
    spec = ConnectionSpec(name="hv01", kind="winrm", address="127.0.0.1", port=5985, user="u", password=Secret("p"))
    t = w.WinRMTransport(spec)
    with t._errors():
        value = 1
    assert value == 1


HOSTS = ["10.0.0.1", "host.example", "h", "[::1]", "[fe80::1%25eth0]", "[zz]", "a/b", "a?b", "a#b", "a@b", "b\u00fccher.de",
         "a\uff0fb", "h\tx", " h", "A.B", "h:1", "[::1", "::1]", ""]
PATHS = ["/wsman", "/", "/wsman?PSVersion=5.1", "/ws#frag", "/a b", "/x\t\r\ny", "/%2F", "/w;p", "//double", "/\u00e9",
         "/wsman?x#y", "/?", "/#"]


def test_request_path_is_urlsplits_path() -> None:
    """_request_path(endpoint, run cache) is urlsplit(endpoint).path (or raises what it raises)
    for every host and path here, ports 1 and 5985, http and https, in one run's cache and without."""
    from urllib.parse import urlsplit

    cache: dict[Any, Any] = {}
    for scheme in ("http", "https", "HTTP"):
        for host in HOSTS:
            for port in (1, 5985):
                for path in PATHS:
                    url = f"{scheme}://{host}:{port}{path}"
                    try:
                        want: Any = urlsplit(url).path
                    except ValueError as exc:
                        want = ("ValueError", str(exc))
                    for c in (cache, None):
                        try:
                            got: Any = w._request_path(url, c)
                        except ValueError as exc:
                            got = ("ValueError", str(exc))
                        assert got == want, (url, c is None)
    assert any(k[0] == "winrm-request-path" for k in cache)
