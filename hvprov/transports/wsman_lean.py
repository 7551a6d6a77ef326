"""pywinrm's `Protocol` with its WS-Man envelopes written from string templates.

pywinrm builds every envelope as nested dicts and serialises them with ``xmltodict.unparse``:
about 0.2 ms of CPU per message, five or six messages per host, the largest single share of the
controller's WinRM cost after the HTTP stack (bench/winrm_cpu.py; docs/winrm-performance.md).
This subclass writes the same bytes from a template (tests/test_wsman_lean.py compares every
envelope it builds with pywinrm's own, MessageID aside). Everything else stays pywinrm's:
the transport (requests, NTLM/Kerberos/CredSSP, message encryption), `send_message` with its
fault mapping (WSManFaultError, WinRMOperationTimeoutError), and the response parsing rules,
which are repeated here only where they sit in the same method as the envelope building.
Calls with options hvprov never uses (environment, working directory, idle timeout, other
streams, arguments) go to pywinrm's methods unchanged.
"""

from __future__ import annotations

import base64
import os
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar, cast
from xml.sax.saxutils import escape, quoteattr

from winrm.protocol import Protocol

from .plaincopy import is_plain, plain_copy

__all__ = ["LeanProtocol", "protocol_for"]

SHELL_CMD = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
TERMINATE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate"

_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<env:Envelope xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:b="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd" '
    'xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" '
    'xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" '
    'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
    'xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd" '
    'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" '
    'xmlns:cfg="http://schemas.microsoft.com/wbem/wsman/1/config">'
    "<env:Header><a:To>http://windows-host:5985/wsman</a:To><a:ReplyTo>"
    '<a:Address mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous'
    '</a:Address></a:ReplyTo><w:MaxEnvelopeSize mustUnderstand="true">153600</w:MaxEnvelopeSize>'
)


def _text(value: str) -> str:
    return escape(value)


def new_message_id() -> str:
    """A random (version 4) UUID's text, as ``str(uuid.uuid4())`` writes it: os.urandom's 16
    bytes with the version and variant bits set as `uuid.UUID` sets them (RFC 4122 4.4), without
    building and formatting a UUID object (~9k instructions per message; docs/winrm-performance.md).
    tests/test_wsman_lean.py holds it to uuid.UUID on the same bytes."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _answers(relates_to: str, sent: str) -> bool:
    """pywinrm's check that an answer relates to the message sent (``uuid.UUID(relates_to
    without "uuid:") == message_id``): the same text is the same UUID; any other spelling is
    left to uuid.UUID."""
    if relates_to == "uuid:" + sent:
        return True
    return uuid.UUID(relates_to.replace("uuid:", "")) == uuid.UUID(sent)


def envelope(
    action: str,
    message_id: uuid.UUID | str,
    operation_timeout: int,
    *,
    shell_id: str | None = None,
    options: Iterable[tuple[str, str]] | str = (),
    body: str = "",
) -> str:
    """The envelope pywinrm's build_wsman_header + xmltodict.unparse produce, byte for byte
    (`options`: name/value pairs, or an OptionSet already written by `option_set`)."""
    selector = (
        f'<w:SelectorSet><w:Selector Name="ShellId">{_text(shell_id)}</w:Selector></w:SelectorSet>' if shell_id else ""
    )
    opts = options if isinstance(options, str) else option_set(options)
    return (
        f"{_HEAD}<a:MessageID>uuid:{message_id}</a:MessageID>{_LOCALES}"
        f"<w:OperationTimeout>PT{int(operation_timeout)}S</w:OperationTimeout>{_RESOURCE}"
        f'<a:Action mustUnderstand="true">{_text(action)}</a:Action>{selector}{opts}'
        f"</env:Header><env:Body>{body}</env:Body></env:Envelope>"
    )


def option_set(options: Iterable[tuple[str, str]]) -> str:
    """The w:OptionSet of name/value pairs as pywinrm writes it ("" for none)."""
    opts = "".join(f"{_option(n)}{_text(v)}</w:Option>" for n, v in options)
    return f"<w:OptionSet>{opts}</w:OptionSet>" if opts else ""


def _option(name: str) -> str:
    return f"<w:Option Name={quoteattr(name)}>"


_LOCALES = (
    '<w:Locale mustUnderstand="false" xml:lang="en-US"></w:Locale>'
    '<p:DataLocale mustUnderstand="false" xml:lang="en-US"></p:DataLocale>'
)
_RESOURCE = f'<w:ResourceURI mustUnderstand="true">{SHELL_CMD}</w:ResourceURI>'
# the options of Create and Command, their names written once (quoteattr) rather than per message
_CREATE_OPTIONS = f"<w:OptionSet>{_option('WINRS_NOPROFILE')}FALSE</w:Option>{_option('WINRS_CODEPAGE')}"
_STDIN_OPTION = f"<w:OptionSet>{_option('WINRS_CONSOLEMODE_STDIN')}"
_SKIP_OPTION = f"</w:Option>{_option('WINRS_SKIP_CMD_SHELL')}"


def _below(root: ET.Element) -> Iterator[ET.Element]:
    """What pywinrm searches, ``root.findall(".//*")`` (every element under the root, in
    document order), from the tree's C iterator: about a third of findall's CPU, which goes
    through ElementPath's generators in Python (tests/test_wsman_lean.py compares the two)."""
    nodes = root.iter()
    next(nodes)  # the root itself
    return nodes


def _relates_to(res: bytes) -> str:
    root = ET.fromstring(res)
    return cast(str, next(node for node in _below(root) if node.tag.endswith("RelatesTo")).text)


class LeanProtocol(Protocol):
    """pywinrm's Protocol; the shell operations hvprov uses build their envelopes from templates."""

    def _send(self, action: str, message_id: str, **kw: Any) -> bytes:
        return self.send_message(envelope(action, message_id, int(self.operation_timeout_sec), **kw))

    def open_shell(self, *args: Any, codepage: int = 437, **kwargs: Any) -> str:  # type: ignore[override]
        if args or kwargs:
            return super().open_shell(*args, codepage=codepage, **kwargs)
        body = "<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>"
        options = f"{_CREATE_OPTIONS}{_text(str(codepage))}</w:Option></w:OptionSet>"
        res = self._send(f"{TRANSFER}/Create", new_message_id(), options=options, body=body)
        root = ET.fromstring(res)
        self.create_answer = root  # the caller reads the host's WinRM version from it
        return cast(str, next(node for node in _below(root) if node.get("Name") == "ShellId").text)

    def run_command(  # type: ignore[override]
        self,
        shell_id: str,
        command: str,
        arguments: Iterable[str | bytes] = (),
        console_mode_stdin: bool = True,
        skip_cmd_shell: bool = False,
    ) -> str:
        if arguments:
            return super().run_command(shell_id, command, arguments, console_mode_stdin, skip_cmd_shell)
        options = (  # option_set((("WINRS_CONSOLEMODE_STDIN", ...), ("WINRS_SKIP_CMD_SHELL", ...)))
            f"{_STDIN_OPTION}{_text(str(console_mode_stdin).upper())}"
            f"{_SKIP_OPTION}{_text(str(skip_cmd_shell).upper())}</w:Option></w:OptionSet>"
        )
        body = f"<rsp:CommandLine><rsp:Command>{_text(command)}</rsp:Command></rsp:CommandLine>"
        res = self._send(f"{SHELL}/Command", new_message_id(), shell_id=shell_id, options=options, body=body)
        root = ET.fromstring(res)
        return cast(str, next(node for node in _below(root) if node.tag.endswith("CommandId")).text)

    stdin_b64: Callable[[bytes], str] | None = None  # the run's memo of Send payloads (transports/stdinmemo.py)

    def send_command_input(self, shell_id: str, command_id: str, stdin_input: str | bytes, end: bool = False) -> None:
        if isinstance(stdin_input, str):
            stdin_input = stdin_input.encode("437")
        memo = self.stdin_b64
        data = memo(stdin_input) if memo is not None else base64.b64encode(stdin_input).decode("ascii")
        body = (
            f"<rsp:Send><rsp:Stream CommandId={quoteattr(command_id)} Name=\"stdin\" "
            f"End=\"{'true' if end else 'false'}\" xmlns:rsp=\"{SHELL}\">{data}</rsp:Stream></rsp:Send>"
        )
        self._send(f"{SHELL}/Send", new_message_id(), shell_id=shell_id, body=body)

    def get_command_output_raw(self, shell_id: str, command_id: str) -> tuple[bytes, bytes, int, bool]:
        body = (
            f"<rsp:Receive><rsp:DesiredStream CommandId={quoteattr(command_id)}>stdout stderr"
            "</rsp:DesiredStream></rsp:Receive>"
        )
        res = self._send(f"{SHELL}/Receive", new_message_id(), shell_id=shell_id, body=body)
        # pywinrm's parsing rules (winrm/protocol.py get_command_output_raw)
        root = ET.fromstring(res)
        stdout: list[bytes] = []
        stderr: list[bytes] = []
        done = 0
        code = -1
        for node in root.iter():
            if node.tag.endswith("Stream") and node.text:
                name = node.attrib.get("Name")
                if name == "stdout":
                    stdout.append(base64.b64decode(node.text.encode("ascii")))
                elif name == "stderr":
                    stderr.append(base64.b64decode(node.text.encode("ascii")))
            if node.get("State", "").endswith("CommandState/Done"):
                done += 1
        command_done = done == 1
        if command_done:
            code = int(next(n for n in root.iter() if n.tag.endswith("ExitCode")).text or -1)
        return b"".join(stdout), b"".join(stderr), code, command_done

    def cleanup_command(self, shell_id: str, command_id: str) -> None:
        sent = new_message_id()
        body = f"<rsp:Signal CommandId={quoteattr(command_id)}><rsp:Code>{TERMINATE}</rsp:Code></rsp:Signal>"
        res = self._send(f"{SHELL}/Signal", sent, shell_id=shell_id, body=body)
        assert _answers(_relates_to(res), sent)

    def close_shell(self, shell_id: str, close_session: bool = True) -> None:
        sent = new_message_id()
        try:
            res = self._send(f"{TRANSFER}/Delete", sent, shell_id=shell_id)
            relates_to = _relates_to(res)
        finally:
            if close_session:
                self.transport.close_session()
        assert _answers(relates_to, sent)


P = TypeVar("P", bound=Protocol)


def protocol_for(cache: dict[Any, Any] | None, cls: type[P], endpoint: str, kwargs: dict[str, Any]) -> P:
    """``cls(endpoint, **kwargs)`` for a transport that replaces the pywinrm `Transport` the
    constructor builds (the caller sets ``.transport``): a copy of the run's object built with
    the same arguments, which `cache` (the run's credential cache) keeps; None: built here.

    pywinrm's ``Protocol.__init__`` checks its timeouts, sets 13 attributes, none of which
    depends on the endpoint, and builds a requests `Transport` (checks of the certificate
    mode, the credentials and the encryption mode; two function-level imports and
    ``warnings.simplefilter`` calls): about 65k instructions per host, for a transport the lean
    path throws away (docs/winrm-performance.md). With the same arguments but the endpoint
    every check ends alike, so the first host of a run builds the object with pywinrm's own
    constructor (its checks raise there, for every host that has those arguments: nothing is
    kept then) and each host gets a shallow copy (plaincopy.py); the endpoint lives in the
    transport the caller sets. tests/test_wsman_lean.py compares the copy with a fresh
    ``cls(endpoint, **kwargs)`` attribute by attribute, the transport aside."""
    if cache is None:
        return cls(endpoint, **kwargs)
    key = ("winrm-protocol", cls, tuple(kwargs.items()))  # the caller's order: one order per call site
    entry = cache.get(key)
    if entry is None:
        template = cls(endpoint, **kwargs)
        template.transport = None  # the first host's pywinrm Transport is never used
        entry = cache.setdefault(key, (template, is_plain(cls)))
    return cast(P, plain_copy(entry[0], entry[1]))
