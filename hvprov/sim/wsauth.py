"""HTTP authentication and message encryption of a simulated WinRM listener, as Windows does it.

* ``Negotiate``: SPNEGO-wrapped NTLM (what Windows clients and pypsrp send) and raw NTLM
  tokens under the Negotiate or NTLM scheme (what pywinrm/requests-ntlm send); pyspnego is the
  acceptor. One security context per TCP connection, as with HTTP.sys. The final SPNEGO token
  (accept-completed + mechListMIC) goes back in the 200's ``WWW-Authenticate`` header.
* Channel binding (https only) per ``Service/Auth/CbtHardeningLevel``: ``Relaxed`` (Windows'
  default) accepts an Authenticate message without the MsvAvChannelBindings AV pair (or with
  a zeroed one) and verifies it when present; ``Strict`` requires it; ``None`` ignores it.
* ``Basic`` only when the host enables it (off by default) and over https or AllowUnencrypted.
* Message encryption: ``multipart/encrypted; protocol="application/HTTP-SPNEGO-session-encrypted"``
  (MS-WSMV 2.2.9.1.1).

pyspnego's NTLM acceptor reads its users from ``$NTLM_USER_FILE``: the lab writes one file per
host and sets that variable only while a context steps, under a lock.
"""

from __future__ import annotations

import base64
import contextlib
import os
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import spnego
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from spnego._ntlm_raw.messages import Authenticate, AvId, NTClientChallengeV2
from spnego._spnego import NegTokenInit, NegTokenResp, unpack_token
from spnego.channel_bindings import GssChannelBindings
from spnego.exceptions import SpnegoError

ENC_PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
BOUNDARY = b"--Encrypted Boundary"
CBT_LEVELS = ("None", "Relaxed", "Strict")
Answer = tuple[int, dict[str, str], bytes]

_NTLM_ENV_LOCK = threading.Lock()


@contextlib.contextmanager
def ntlm_user_file(path: Path) -> Iterator[None]:
    """pyspnego's NTLM acceptor reads its credentials from $NTLM_USER_FILE."""
    with _NTLM_ENV_LOCK:
        old = os.environ.get("NTLM_USER_FILE")
        os.environ["NTLM_USER_FILE"] = str(path)
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("NTLM_USER_FILE", None)
            else:
                os.environ["NTLM_USER_FILE"] = old


def cert_hash(pem_path: Path) -> bytes:
    """RFC 5929 tls-server-end-point hash of the listener certificate (NTLM channel binding)."""
    cert = x509.load_pem_x509_certificate(pem_path.read_bytes())
    algo = cert.signature_hash_algorithm
    if algo is None or algo.name in ("md5", "sha1"):
        algo = hashes.SHA256()
    digest = hashes.Hash(algo)
    digest.update(cert.public_bytes(serialization.Encoding.DER))
    return digest.finalize()


class Conn:
    """Per-TCP-connection state: the security context and who it authenticated."""

    def __init__(self) -> None:
        self.ntlm: Any = None
        self.user: str | None = None
        self.reply_header: dict[str, str] = {}  # the final Negotiate token for the next answer
        self.cbt_sent: bool | None = None  # whether the client bound the channel (https)
        self.tls: str | None = None  # the negotiated TLS version (https)
        self.last_leg = ""  # "negotiate" or "authenticate": the handshake leg last seen


def _ntlm_token(raw: bytes) -> bytes | None:
    """The NTLM message inside a raw NTLMSSP or SPNEGO (NegTokenInit/NegTokenResp) token."""
    if raw[:8] == b"NTLMSSP\x00":
        return raw
    try:
        token = unpack_token(raw)
    except Exception:  # noqa: BLE001 - anything unparsable is "no NTLM here"
        return None
    if isinstance(token, NegTokenInit):
        inner = token.mech_token
    elif isinstance(token, NegTokenResp):
        inner = token.response_token
    else:
        return None
    return inner if inner and inner[:8] == b"NTLMSSP\x00" else None


def _bindings_sent(ntlm: bytes) -> bool:
    """Whether an NTLM Authenticate message carries a non-zero MsvAvChannelBindings."""
    try:
        auth = Authenticate.unpack(ntlm)
        nt = auth.nt_challenge_response or b""
        if len(nt) <= 24:
            return False
        pairs = NTClientChallengeV2.unpack(nt[16:]).av_pairs
    except Exception:  # noqa: BLE001
        return False
    value = pairs.get(AvId.channel_bindings) if pairs else None
    return bool(value) and value != b"\x00" * 16


def negotiate_step(
    conn: Conn, kind: str, token: str, *, user_file: Path, cbt: bytes, level: str
) -> Answer | str:
    """One leg of a Negotiate/NTLM handshake: the 401 with the next token, or the user."""
    refused: Answer = 401, {"WWW-Authenticate": "Negotiate"}, b""
    try:
        raw = base64.b64decode(token)
    except ValueError:
        return 400, {}, b""
    ntlm = _ntlm_token(raw)
    msg_type = struct.unpack("<I", ntlm[8:12])[0] if ntlm and len(ntlm) >= 12 else 0
    conn.user = None
    conn.last_leg = "negotiate" if msg_type == 1 else "authenticate"
    try:
        with ntlm_user_file(user_file):
            if msg_type == 1:
                conn.ntlm = spnego.server(protocol="negotiate")  # SPNEGO or raw NTLM tokens
                out = conn.ntlm.step(raw)
                return 401, {"WWW-Authenticate": f"{kind} {base64.b64encode(out or b'').decode()}"}, b""
            if msg_type != 3 or conn.ntlm is None or ntlm is None:
                return refused
            sent = _bindings_sent(ntlm)
            conn.cbt_sent = sent
            bind = None
            if cbt and level != "None" and (sent or level == "Strict"):
                bind = GssChannelBindings(application_data=b"tls-server-end-point:" + cbt)
            out = conn.ntlm.step(raw, channel_bindings=bind)
    except (SpnegoError, ValueError, struct.error):  # wrong password, bad token, CBT mismatch
        conn.ntlm = None
        return refused
    if not conn.ntlm.complete:
        return refused
    conn.reply_header = {"WWW-Authenticate": f"{kind} {base64.b64encode(out).decode()}"} if out else {}
    conn.user = str(conn.ntlm.client_principal or "").split("\\")[-1]
    return conn.user


def decrypt(conn: Conn, body: bytes) -> bytes:
    out = b""
    parts = [p for p in body.split(BOUNDARY + b"\r\n") if p]
    for i in range(0, len(parts) - 1, 2):
        length = int(parts[i].strip().split(b"Length=")[1])
        payload = parts[i + 1]
        if payload.endswith(BOUNDARY + b"--\r\n"):
            payload = payload[: -len(BOUNDARY + b"--\r\n")]
        data = payload.replace(b"\tContent-Type: application/octet-stream\r\n", b"", 1)
        sig_len = struct.unpack("<i", data[:4])[0]
        plain = conn.ntlm.unwrap(data[4 : 4 + sig_len] + data[4 + sig_len :]).data
        if len(plain) != length:
            raise ValueError("length mismatch")
        out += plain
    if not parts:
        raise ValueError("no encrypted part")
    return out


def encrypt(conn: Conn, message: bytes) -> bytes:
    wrapped = conn.ntlm.wrap(message, encrypt=True).data
    sig, sealed = wrapped[:16], wrapped[16:]
    return (
        BOUNDARY + b"\r\n\tContent-Type: " + ENC_PROTOCOL.encode() + b"\r\n"
        b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length="
        + str(len(message)).encode()
        + b"\r\n"
        + BOUNDARY
        + b"\r\n"
        b"\tContent-Type: application/octet-stream\r\n"
        + struct.pack("<i", len(sig))
        + sig
        + sealed
        + BOUNDARY
        + b"--\r\n"
    )
