"""Fixtures for the WinRM transport tests: a WSManLab on 127.0.0.1 and a recording handler."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from winrm.protocol import Protocol

from hvprov.connection import ConnectionSpec
from hvprov.secrets import Secret
from hvprov.sim.wsman import WSManLab
from hvprov.transports.base import ExecResult
from hvprov.transports.winrm import WinRMTransport

USER = "Administrator"
PASSWORD = "S3cret-Pa55word!"


@dataclass
class EchoHandler:
    """Answers every script with its length and first line; remembers what it ran."""

    rc: int = 0
    stderr: str = ""
    stdout: str | None = None  # fixed stdout instead of the echo
    delay_s: float = 0.0
    unknown: bool = False  # behave like an unknown command (return None)
    scripts: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, host: str, script: str) -> ExecResult | None:
        with self.lock:
            self.scripts.append((host, script))
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.unknown:
            return None
        first = script.splitlines()[0] if script else ""
        out = self.stdout if self.stdout is not None else f"len={len(script)}\nfirst={first[:80]}\n"
        return ExecResult(stdout=out, stderr=self.stderr, rc=self.rc)


@pytest.fixture
def echo() -> EchoHandler:
    return EchoHandler()


@pytest.fixture
def lab(echo: EchoHandler) -> Iterator[WSManLab]:
    with WSManLab(echo) as the_lab:
        yield the_lab
    assert not the_lab.handler_errors


def add_host(lab: WSManLab, name: str = "hv01", **settings: Any) -> int:
    settings.setdefault("users", {USER: PASSWORD})
    return lab.add_host(name, **settings)


def spec_for(
    lab: WSManLab, name: str = "hv01", scheme: str | None = None, **overrides: Any
) -> ConnectionSpec:
    """A ConnectionSpec for a lab host (ntlm over http by default, no retries)."""
    spec = ConnectionSpec(
        name=name,
        kind="winrm",
        address="127.0.0.1",
        port=lab.port_for(name, scheme),
        user=USER,
        password=Secret(PASSWORD),
        retries=0,
        winrm_scheme=scheme or lab.url_for(name).split(":", 1)[0],
    )
    return replace(spec, **overrides)


@contextlib.contextmanager
def connected(spec: ConnectionSpec, **kwargs: Any) -> Iterator[WinRMTransport]:
    """An opened WinRMTransport, closed afterwards."""
    transport = WinRMTransport(spec, **kwargs)
    transport.open()
    try:
        yield transport
    finally:
        transport.close()


def never_sleep(seconds: float) -> None:
    pytest.fail(f"the transport retried (would sleep {seconds}s)")


def basic_protocol(port: int) -> Protocol:
    """Raw pywinrm against a lab host with Basic over http allowed."""
    return Protocol(
        f"http://127.0.0.1:{port}/wsman",
        transport="basic",
        username=USER,
        password=PASSWORD,
        ca_trust_path=None,  # type: ignore[arg-type]  # pywinrm documents None: no env lookup
        proxy=None,
    )
