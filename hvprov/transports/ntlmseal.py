"""pyspnego NTLM client contexts for a run's hosts, and each session's message sealing.

pyspnego stays the NTLM implementation: it runs the handshake and derives the session's
sealing and signing keys and its two RC4 streams. Per message, though, its public
``wrap_winrm``/``unwrap_winrm`` recompute what cannot change within a context: the negotiated
flags as Python ``enum`` objects (``context_attr`` builds a ``ContextReq`` from four flag tests
on every call, ``sign`` tests three more), the sequence number through properties. That was
about a quarter of the WinRM transport's CPU per host (docs/winrm-performance.md).

`session_sealer` reads those values once, when the context is complete, and seals and
verifies with the same keys, the same RC4 streams (pyspnego's own cipher objects, advanced in
the same order) and the same sequence numbers: MS-NLMP 3.4.3 (message confidentiality: the
message is encrypted with the stream, then the signature's checksum) and 3.4.4.2 (the
signature with extended session security: version 1, HMAC-MD5(SigningKey, SeqNum + Message)
truncated to 8 bytes and RC4-encrypted when the key was exchanged, SeqNum). The output is
pyspnego's ``wrap_winrm`` byte for byte and a bad signature raises pyspnego's ``BadMICError``
(tests/test_ntlmseal.py runs both side by side on twin contexts).

`client_context` builds the client context a host's handshake starts with. Every host of a run
that shares a credential gets the same context up to its first token (pyspnego parses the
credential, sets its flags from ``LM_COMPAT_LEVEL``, and packs the same NEGOTIATE message
for each): it is built and stepped once per credential and run, kept in the run's
credential cache next to the password's hashes, and each host gets a shallow copy
(``copy.copy``'s, made as plaincopy.py makes it) with its own target name (``http/HOST``) and
channel bindings, which pyspnego only reads in the second step. tests/test_ntlmseal.py compares the copy with a fresh ``spnego.client`` for the same
host: the same attributes, the same NEGOTIATE and AUTHENTICATE tokens (same random bytes),
the same session keys.

What it reads from pyspnego is private (``spnego._ntlm.NTLMProxy``'s ``_context_attr``,
``_handle_out``/``_handle_in``, ``_sign_key_out``/``_sign_key_in`` and its two sequence
counters): pyproject.toml pins pyspnego to the tested minor version, and any context that does
not look exactly like that (another class, a missing attribute, a counter already used, flags
without extended session security or sealing) gets the context itself back: pyspnego's public
path, unchanged.
"""

from __future__ import annotations

import hmac
import struct
from typing import Any, NamedTuple

try:  # OpenSSL's HMAC, which hmac.new and hmac.digest use when they can
    from _hashlib import hmac_new as _openssl_hmac
except ImportError:  # pragma: no cover - a Python without OpenSSL's hashlib
    _openssl_hmac = None

import spnego
from spnego._ntlm_raw.messages import NegotiateFlags
from spnego.exceptions import BadMICError

from .plaincopy import is_plain, plain_copy

__all__ = ["NtlmSealer", "client_context", "session_sealer"]

_NEEDED = int(NegotiateFlags.extended_session_security | NegotiateFlags.sign | NegotiateFlags.seal)
_KEY_EXCH = int(NegotiateFlags.key_exch)
_COUNTERS = ("_NTLMProxy__seq_num_out", "_NTLMProxy__seq_num_in")
_VERSION = b"\x01\x00\x00\x00"


class Wrapped(NamedTuple):
    """pyspnego's WinRMWrapResult fields that the framing uses."""

    header: bytes
    data: bytes


SERVICE = "http"  # requests-ntlm's (and WinRM's) service class


def _fresh(username: str, password: str, host: str | None, bindings: Any) -> Any:
    return spnego.client(username, password, hostname=host, service=SERVICE, protocol="ntlm",
                         channel_bindings=bindings, options=spnego.NegotiateOptions.use_ntlm)


def client_context(cache: dict[Any, Any] | None, username: str, password: str, host: str,
                   bindings: Any) -> tuple[Any, bytes]:
    """pyspnego's NTLM client context for `host` and its NEGOTIATE token (the first step
    taken): a copy of the run's context for this credential (see the module docstring), or a
    fresh context without a cache."""
    if cache is None:
        context = _fresh(username, password, host, bindings)
        return context, context.step() or b""
    key = ("ntlm-negotiated-context", username, password)
    entry = cache.get(key)
    if entry is None:
        template = _fresh(username, password, None, None)
        entry = cache.setdefault(key, (template, template.step() or b"", is_plain(type(template))))
    template, token, plain = entry
    if not {"spn", "_hostname", "channel_bindings"} <= vars(template).keys():
        context = _fresh(username, password, host, bindings)  # not the pyspnego this was tested on
        return context, context.step() or b""
    context = plain_copy(template, plain)  # copy.copy (plaincopy.py)
    context.spn, context._hostname, context.channel_bindings = f"{SERVICE}/{host}", host, bindings
    return context, token


def session_sealer(context: Any) -> Any:
    """A sealer for a complete pyspnego NTLM context, else the context itself."""
    try:
        flags = int(context._context_attr)
        parts = (context._handle_out, context._handle_in, context._sign_key_out, context._sign_key_in)
        counters = [getattr(context, name) for name in _COUNTERS]
    except (AttributeError, TypeError, ValueError):
        return context
    if (
        type(context).__name__ != "NTLMProxy"
        or not context.complete
        or flags & _NEEDED != _NEEDED
        or counters != [0, 0]
        or any(p is None for p in parts)
    ):
        return context
    return NtlmSealer(flags, *parts)


def hmac_md5(key: bytes) -> Any:
    """HMAC-MD5 keyed once: ``.copy()`` per message, then ``update``/``digest``. Copying the
    keyed state costs less than ``hmac.digest(key, message, "md5")``, which sets up the digest
    and the key's pads on every call (about a third of a signature's CPU); the same HMAC
    (tests/test_ntlmseal.py compares them)."""
    if _openssl_hmac is not None:
        try:
            return _openssl_hmac(key, digestmod="md5")
        except (TypeError, ValueError):  # a private function: another Python may differ (or lack MD5)
            pass
    return hmac.new(key, digestmod="md5")


class NtlmSealer:
    """wrap_winrm / unwrap_winrm of one complete NTLM context (see the module docstring)."""

    def __init__(self, flags: int, handle_out: Any, handle_in: Any, key_out: bytes, key_in: bytes) -> None:
        self._exch = bool(flags & _KEY_EXCH)
        self._rc4_out, self._rc4_in = handle_out.update, handle_in.update
        self._mac_out, self._mac_in = hmac_md5(key_out), hmac_md5(key_in)
        self._seq_out = self._seq_in = 0

    def wrap_winrm(self, data: bytes) -> Wrapped:
        sealed = self._rc4_out(data)
        seq = struct.pack("<I", self._seq_out)
        self._seq_out += 1
        mac = self._mac_out.copy()
        mac.update(seq)
        mac.update(data)
        checksum = mac.digest()[:8]
        if self._exch:
            checksum = self._rc4_out(checksum)
        return Wrapped(_VERSION + checksum + seq, sealed)

    def unwrap_winrm(self, header: bytes, data: bytes) -> bytes:
        plain = self._rc4_in(data)
        seq = struct.pack("<I", self._seq_in)
        self._seq_in += 1
        mac = self._mac_in.copy()
        mac.update(seq)
        mac.update(plain)
        checksum = mac.digest()[:8]
        if self._exch:
            checksum = self._rc4_in(checksum)
        if not hmac.compare_digest(_VERSION + checksum + seq, header):
            raise BadMICError(context_msg="Invalid Message integrity Check (MIC) detected")
        return plain
