"""hvprov/transports/ntlmseal.py against pyspnego's own wrap_winrm / unwrap_winrm.

The oracle is pyspnego's public path on a twin context: two client contexts built from the
same challenge with the same random bytes (client challenge, exported session key) hold the
same keys and RC4 streams. One seals through NtlmSealer, the other through pyspnego; every
byte must agree, message after message, in both directions, and after a refused message."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import spnego
import spnego._ntlm
from fixtures_winrm import PASSWORD, USER
from spnego.channel_bindings import GssChannelBindings
from spnego.exceptions import BadMICError

from hvprov.sim.wsauth import ntlm_user_file
from hvprov.transports import ntlmhttp
from hvprov.transports.ntlmseal import NtlmSealer, client_context, session_sealer
from hvprov.transports.winrm import ntlm_hashes

MESSAGES = [b"<a/>", b"x", "<env:Envelope>ü€</env:Envelope>".encode(), bytes(range(256)) * 40, b"y" * 153600]


class _SeededOs:
    """spnego._ntlm's `os` with a repeatable urandom (the twin contexts' shared randomness)."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def urandom(self, n: int) -> bytes:
        return self._rng.randbytes(n)

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


def _client(password: str) -> Any:
    return spnego.client(USER, password, hostname="hv01", service="http", protocol="ntlm",
                         options=spnego.NegotiateOptions.use_ntlm)


def _twins(tmp_path: Path, password: str = PASSWORD) -> tuple[Any, Any, Any]:
    """Two complete client contexts with the same keys, and pyspnego's acceptor of them."""
    users = tmp_path / "users"
    users.write_text(f":{USER}:{PASSWORD}\n")
    with ntlm_user_file(users):
        server = spnego.server(protocol="ntlm")
        one, two = _client(password), _client(password)
        challenge = server.step(one.step())
        two.step()
        tokens = []
        for ctx in (one, two):
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(spnego._ntlm, "os", _SeededOs(1234))
                tokens.append(ctx.step(challenge))
        assert tokens[0] == tokens[1]  # same randomness: the same AUTHENTICATE, the same keys
        server.step(tokens[0])
    assert one.complete and two.complete and server.complete
    return one, two, server


@pytest.fixture(params=["password", "hashes"])
def twins(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, Any, Any]]:
    pw = PASSWORD if request.param == "password" else ntlm_hashes(PASSWORD)  # hvprov sends the hashes
    yield _twins(tmp_path, pw)


def test_wrap_is_pyspnego_byte_for_byte(twins: tuple[Any, Any, Any]) -> None:
    ours_ctx, theirs, server = twins
    ours = session_sealer(ours_ctx)
    assert isinstance(ours, NtlmSealer)  # the fast path is taken with the pinned pyspnego
    for msg in MESSAGES * 3:
        a, b = ours.wrap_winrm(msg), theirs.wrap_winrm(msg)
        assert (a.header, a.data) == (b.header, b.data)
        assert a.data != msg and len(a.header) == 16
        assert server.unwrap_winrm(a.header, a.data) == msg  # and the acceptor reads it


def test_unwrap_is_pyspnego_including_refusals(twins: tuple[Any, Any, Any]) -> None:
    ours_ctx, theirs, server = twins
    ours = session_sealer(ours_ctx)
    assert isinstance(ours, NtlmSealer)
    tamper: list[Callable[[bytes, bytes], tuple[bytes, bytes]]] = [
        lambda h, d: (h, d),
        lambda h, d: (h[:5] + bytes([h[5] ^ 1]) + h[6:], d),  # checksum
        lambda h, d: (h, d[:-1] + bytes([d[-1] ^ 0x80])),  # sealed payload
        lambda h, d: (h[:12] + b"\x09\x00\x00\x00", d),  # sequence number
        lambda h, d: (h, d),  # and good messages after refused ones
    ]
    for i, msg in enumerate(MESSAGES * 2):
        # interleave outgoing messages: the two streams are independent
        assert ours.wrap_winrm(msg).header == theirs.wrap_winrm(msg).header
        w = server.wrap_winrm(msg)
        header, data = tamper[i % len(tamper)](w.header, w.data)
        results = []
        for ctx in (ours, theirs):
            try:
                results.append(ctx.unwrap_winrm(header, data))
            except BadMICError as exc:
                results.append(type(exc))
        assert results[0] == results[1]
        assert results[0] == (msg if (header, data) == (w.header, w.data) else BadMICError)


def test_the_framing_with_the_sealer_is_pywinrm_framing_with_pyspnego(twins: tuple[Any, Any, Any]) -> None:
    ours_ctx, theirs, server = twins
    ours = session_sealer(ours_ctx)
    for msg in MESSAGES:
        assert ntlmhttp.seal(ours, msg) == ntlmhttp.seal(theirs, msg)
        body = ntlmhttp.seal(server, msg)
        assert ntlmhttp.unseal(ours, body) == msg


def test_contexts_not_exactly_as_expected_keep_pyspnego(tmp_path: Path) -> None:
    used, _, _ = _twins(tmp_path)
    used.wrap_winrm(b"<a/>")  # a counter already moved: the sealer would start at the wrong number
    assert session_sealer(used) is used
    incomplete = _client(PASSWORD)
    incomplete.step()
    assert session_sealer(incomplete) is incomplete
    assert session_sealer(object()) is not None  # no such attributes: returned as it is


def test_without_extended_session_security_pyspnego_seals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LM_COMPAT_LEVEL", "0")  # pyspnego then does not ask for ESS
    client, _, server = _twins(tmp_path)
    assert session_sealer(client) is client
    assert ntlmhttp.unseal(server, ntlmhttp.seal(session_sealer(client), b"<a/>")) == b"<a/>"


BINDINGS = [None, GssChannelBindings(application_data=b"tls-server-end-point:" + bytes(range(32)))]


def _state(context: Any) -> dict[str, Any]:
    """A context's attributes, messages by their bytes and the credential by its fields."""
    def norm(value: Any) -> Any:
        if hasattr(value, "pack"):
            return value.pack()
        if type(value).__name__ == "_NTLMCredential":
            return vars(value)
        return value
    return {k: norm(v) for k, v in vars(context).items()}


@pytest.mark.parametrize("bindings", BINDINGS)
@pytest.mark.parametrize("password", [PASSWORD, ntlm_hashes(PASSWORD)])
def test_a_copied_context_is_a_fresh_spnego_client(tmp_path: Path, password: str, bindings: Any) -> None:
    """client_context's copy of the run's context, for each of several hosts, against
    spnego.client for that host: same state after the first step, same NEGOTIATE, same
    AUTHENTICATE (same random bytes), accepted by pyspnego's acceptor, same sealing."""
    users = tmp_path / "users"
    users.write_text(f":{USER}:{PASSWORD}\n")
    cache: dict[Any, Any] = {}
    for host in ("hv01", "10.0.0.7", "fe80::1", "hv01"):
        ours, negotiate = client_context(cache, USER, password, host, bindings)
        fresh = _client_for(password, host, bindings)
        assert negotiate == fresh.step()
        assert _state(ours) == _state(fresh)
        with ntlm_user_file(users):
            server = spnego.server(protocol="ntlm", channel_bindings=bindings)
            challenge = server.step(negotiate)
            tokens = []
            for ctx in (ours, fresh):
                with pytest.MonkeyPatch.context() as mp:
                    mp.setattr(spnego._ntlm, "os", _SeededOs(99))
                    tokens.append(ctx.step(challenge))
            assert tokens[0] == tokens[1]
            server.step(tokens[0])
        assert server.complete and ours.complete
        assert ntlmhttp.seal(session_sealer(ours), b"<m/>") == ntlmhttp.seal(fresh, b"<m/>")
    assert len(cache) == 1  # one context per credential and run, copied for every host


def test_copies_do_not_share_what_a_handshake_changes(tmp_path: Path) -> None:
    cache: dict[Any, Any] = {}
    one, _ = client_context(cache, USER, PASSWORD, "hv01", None)
    two, _ = client_context(cache, USER, PASSWORD, "hv02", BINDINGS[1])
    assert (one.spn, one.channel_bindings) == ("http/hv01", None)
    assert (two.spn, two.channel_bindings) == ("http/hv02", BINDINGS[1])
    template = cache[("ntlm-negotiated-context", USER, PASSWORD)][0]
    users = tmp_path / "users"
    users.write_text(f":{USER}:{PASSWORD}\n")
    with ntlm_user_file(users):
        server = spnego.server(protocol="ntlm")
        server.step(one.step(server.step(client_context(None, USER, PASSWORD, "x", None)[1])))
    assert one.complete and not template.complete and not two.complete
    assert template._temp_negotiate is not None and template._session_key is None


def _client_for(password: str, host: str, bindings: Any) -> Any:
    return spnego.client(USER, password, hostname=host, service="http", protocol="ntlm",
                         channel_bindings=bindings, options=spnego.NegotiateOptions.use_ntlm)


@pytest.mark.parametrize("openssl", [True, False])
def test_keyed_hmac_copies_are_hmac_digest(openssl: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sealer's HMAC-MD5 (keyed once, copied per message, fed the sequence number and the
    message in two parts) is hmac.digest(key, seq + message, "md5"), on the same key many times
    over (a copy never changes the keyed state), with OpenSSL's HMAC and with hmac.new."""
    import hmac
    import os

    from hvprov.transports import ntlmseal

    if not openssl:
        monkeypatch.setattr(ntlmseal, "_openssl_hmac", None)
    for size in (0, 1, 16, 63, 64, 65, 1500, 150_000):
        key = os.urandom(16)
        keyed = ntlmseal.hmac_md5(key)
        for _ in range(3):
            seq, message = os.urandom(4), os.urandom(size)
            mac = keyed.copy()
            mac.update(seq)
            mac.update(message)
            assert mac.digest() == hmac.digest(key, seq + message, "md5")
