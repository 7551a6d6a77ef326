"""What a simulated WinRM service says: SOAP envelopes, Windows' faults, winrm/config, Identify.

Every fault here is copied in shape (SOAP Code, Subcode, Reason text, ``w:FaultDetail``,
``f:WSManFault`` Code and Message, ``f:ProviderFault``) from a recorded exchange with a real
Windows host or from Microsoft's documentation; docs/wsman-conformance.md lists the source
of each row. Codes are Windows' error numbers (winerror.h ``ERROR_WSMAN_*``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
FAULT_ACTION = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
DETAIL = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/"
WSMID = "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"
CONFIG_NS = "http://schemas.microsoft.com/wbem/wsman/1/config"

INVALID_SELECTORS = 2150858843  # ERROR_WSMAN_INVALID_SELECTORS (0x8033805B)
TIMED_OUT = 2150858793  # ERROR_WSMAN_OPERATION_TIMEDOUT
ACTION_NOT_SUPPORTED = 2150858771  # ERROR_WSMAN_ACTION_NOT_SUPPORTED
INVALID_TIMEOUT_HEADER = 2150858767  # ERROR_WSMAN_INVALID_TIMEOUT_HEADER
SHELL_QUOTA = 2150859173  # ERROR_WINRS_MAX_SHELLS_PER_USER? [U] shape
FILE_NOT_FOUND = 2147942402  # HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND)
INVALID_PARAMETER = 87  # ERROR_INVALID_PARAMETER from the cmd plugin
CMD_PLUGIN = ("Shell cmd plugin", r"%systemroot%\system32\winrscmd.dll")

_SELECTORS_REASON = (
    "The WS-Management service cannot process the request because the request contained "
    "invalid selectors for the resource. "
)
_TIMEOUT_TEXT = (
    "The WS-Management service cannot complete the operation within the time specified in "
    "OperationTimeout.  "
)


@dataclass
class Fault(Exception):
    """One SOAP fault as Windows sends it (HTTP 500)."""

    code: str  # s:Sender / s:Receiver
    subcode: str  # e.g. w:InvalidSelectors
    reason: str
    wsman_code: int
    message: str = ""  # f:Message text ("" = the reason)
    detail: str = ""  # w:FaultDetail URI suffix, e.g. "UnexpectedSelectors"
    provider: tuple[str, str] | None = None  # f:ProviderFault provider and path

    def __str__(self) -> str:
        return f"{self.subcode} {self.wsman_code}: {self.message or self.reason}"


def shell_not_found(shell_id: str) -> Fault:
    return Fault(
        "s:Sender", "w:InvalidSelectors", _SELECTORS_REASON, INVALID_SELECTORS,
        f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the "
        "shell was not found on the server. Possible causes are: the specified ShellId is "
        "incorrect or the shell no longer exists on the server. Provide the correct ShellId or "
        "create a new shell and retry the operation. ",
        detail="UnexpectedSelectors",
    )


def command_not_found() -> Fault:
    """Recorded: pypsrp tests/responses/test_winrs_bad_cmd_id.yml (Receive, unknown CommandId)."""
    return Fault(
        "s:Sender", "w:InvalidSelectors", _SELECTORS_REASON, INVALID_SELECTORS,
        "The Windows Remote Shell received a request to perform an operation on a command "
        "identifier that does not exist. Either the command has completed execution or the "
        "client specified an invalid command identifier. ",
        detail="UnexpectedSelectors",
    )


def missing_shell_id() -> Fault:
    """A shell operation without the ShellId selector (w:InvalidSelectors, Windows' text) [U]."""
    return Fault(
        "s:Sender", "w:InvalidSelectors", _SELECTORS_REASON, INVALID_SELECTORS,
        "The WS-Management service cannot process the request because the request contained "
        "invalid selectors for the resource. ",
        detail="InsufficientSelectors",
    )


def invalid_parameter() -> Fault:
    """Recorded: test_winrs_fail_poll_process.yml (Receive without a CommandId on cmd)."""
    return Fault(
        "s:Sender", "w:InvalidParameter", "The parameter is incorrect. ", INVALID_PARAMETER,
        "The parameter is incorrect. ", detail="InvalidValue", provider=CMD_PLUGIN,
    )


def timed_out() -> Fault:
    """Recorded: test_winrs_operation_timeout.yml (Receive with no output yet)."""
    return Fault("s:Receiver", "w:TimedOut", _TIMEOUT_TEXT, TIMED_OUT, _TIMEOUT_TEXT)


def invalid_timeout(value: str) -> Fault:
    """Recorded: test_psrp_is_alive_other_wsman_error.yml (OperationTimeout PT-1S)."""
    return Fault(
        "s:Sender", "a:InvalidMessageInformationHeader",
        "The WS-Management service cannot process the request. The request contains one or "
        "more invalid SOAP headers. ", INVALID_TIMEOUT_HEADER,
        "The WS-Management service cannot process the request. The XML contains an invalid "
        f"timeout field in the SOAP header: {value}. ",
    )


def action_not_supported(action: str) -> Fault:
    """DSP0226 table 10 (a:ActionNotSupported, detail ActionMismatch is not used by Windows)."""
    return Fault(
        "s:Sender", "a:ActionNotSupported",
        "The action is not supported by the service. ", ACTION_NOT_SUPPORTED,
        f"The WS-Management service cannot process the request. The resource URI does not "
        f"support the {action.rsplit('/', 1)[-1]} operation. ",
    )


def file_not_found() -> Fault:
    """Recorded: test_winrs_no_cmd_shell.yml (2008 R2, WINRS_SKIP_CMD_SHELL, bare powershell.exe)."""
    text = "The system cannot find the file specified. "
    return Fault("s:Receiver", "w:InternalError", text, FILE_NOT_FOUND, text, provider=CMD_PLUGIN)


def shell_quota(n: int) -> Fault:
    return Fault(
        "s:Receiver", "w:QuotaLimit",
        "The WS-Management service cannot process the request. This user is allowed a maximum "
        f"number of {n} concurrent shells, which has been exceeded. Close existing shells or "
        "raise the quota for this user. ", SHELL_QUOTA,
    )


def envelope(action: str, relates_to: str, body: str, *, extra_ns: str = "") -> str:
    return (
        '<s:Envelope xml:lang="en-US" xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" '
        'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
        f'xmlns:rsp="{SHELL_URI}" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"{extra_ns}>'
        f"<s:Header><a:Action>{escape(action)}</a:Action><a:MessageID>uuid:{str(uuid.uuid4()).upper()}"
        "</a:MessageID><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
        f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo></s:Header><s:Body>{body}</s:Body></s:Envelope>"
    )


def fault_envelope(f: Fault, relates_to: str, machine: str) -> str:
    ns = 'xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"'
    text = escape(f.message or f.reason)
    if f.provider is not None:
        text = (
            f"<f:ProviderFault provider={quoteattr(f.provider[0])} path={quoteattr(f.provider[1])}>"
            f"{text}</f:ProviderFault>"
        )
    detail = f"<w:FaultDetail>{DETAIL}{f.detail}</w:FaultDetail>" if f.detail else ""
    body = (
        f"<s:Fault><s:Code><s:Value>{f.code}</s:Value><s:Subcode><s:Value>{f.subcode}</s:Value>"
        f'</s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">{escape(f.reason)}</s:Text>'
        f"</s:Reason><s:Detail>{detail}<f:WSManFault {ns} Code={quoteattr(str(f.wsman_code))} "
        f"Machine={quoteattr(machine)}><f:Message>{text}</f:Message></f:WSManFault></s:Detail></s:Fault>"
    )
    return envelope(FAULT_ACTION, relates_to, body)


def identify_response(stack: str, os_version: str | None) -> str:
    """MS-WSMV 3.1.4.16 / DSP0226 11: unauthenticated Identify gets no OS version."""
    version = f"OS: {os_version} SP: 0.0 Stack: {stack}" if os_version else f"OS: 0.0.0 SP: 0.0 Stack: {stack}"
    return (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        f'xmlns:wsmid="{WSMID}"><s:Header/><s:Body><wsmid:IdentifyResponse>'
        "<wsmid:ProtocolVersion>http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd</wsmid:ProtocolVersion>"
        "<wsmid:ProductVendor>Microsoft Corporation</wsmid:ProductVendor>"
        f"<wsmid:ProductVersion>{escape(version)}</wsmid:ProductVersion>"
        "</wsmid:IdentifyResponse></s:Body></s:Envelope>"
    )


def config_body(values: dict[str, str | int | bool]) -> str:
    """The body of ``Get winrm/config`` (element order as recorded in
    test_wsman_update_envelope_size_150.yml); `values` fills the settings the lab models."""

    def v(key: str) -> str:
        val = values[key]
        return ("true" if val else "false") if isinstance(val, bool) else escape(str(val))

    c = "cfg:"
    auth = (
        f"<{c}Auth><{c}Basic>{v('Basic')}</{c}Basic><{c}Kerberos>true</{c}Kerberos>"
        f"<{c}Negotiate>{v('Negotiate')}</{c}Negotiate><{c}Certificate>false</{c}Certificate>"
        f"<{c}CredSSP>false</{c}CredSSP><{c}CbtHardeningLevel>{v('CbtHardeningLevel')}"
        f"</{c}CbtHardeningLevel></{c}Auth>"
    )
    return (
        f'<{c}Config xmlns:cfg="{CONFIG_NS}"><{c}MaxEnvelopeSizekb>{v("MaxEnvelopeSizekb")}'
        f"</{c}MaxEnvelopeSizekb><{c}MaxTimeoutms>{v('MaxTimeoutms')}</{c}MaxTimeoutms>"
        f"<{c}MaxBatchItems>32000</{c}MaxBatchItems><{c}MaxProviderRequests>4294967295"
        f"</{c}MaxProviderRequests><{c}Service><{c}AllowUnencrypted>{v('AllowUnencrypted')}"
        f"</{c}AllowUnencrypted>{auth}<{c}DefaultPorts><{c}HTTP>5985</{c}HTTP><{c}HTTPS>5986"
        f"</{c}HTTPS></{c}DefaultPorts></{c}Service><{c}Winrs><{c}AllowRemoteShellAccess>true"
        f"</{c}AllowRemoteShellAccess><{c}IdleTimeout>{v('IdleTimeout')}</{c}IdleTimeout>"
        f"<{c}MaxConcurrentUsers>{v('MaxConcurrentUsers')}</{c}MaxConcurrentUsers>"
        f"<{c}MaxProcessesPerShell>{v('MaxProcessesPerShell')}</{c}MaxProcessesPerShell>"
        f"<{c}MaxMemoryPerShellMB>{v('MaxMemoryPerShellMB')}</{c}MaxMemoryPerShellMB>"
        f"<{c}MaxShellsPerUser>{v('MaxShellsPerUser')}</{c}MaxShellsPerUser></{c}Winrs></{c}Config>"
    )
