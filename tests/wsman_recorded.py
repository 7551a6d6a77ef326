"""Shapes of WS-Management answers recorded from real Windows hosts, for the conformance suite.

Transcribed (element names, Action URIs, codes and texts only; machine names and ids left out)
from the recorded exchanges in pypsrp's test suite, github.com/jborean93/pypsrp v0.9.1,
``tests/tests_pypsrp/responses/<file>``, and pywinrm's ``winrm/tests/conftest.py``. Rows whose
source is documentation rather than a recording say so; docs/wsman-conformance.md has the table.
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
    "cfg": "http://schemas.microsoft.com/wbem/wsman/1/config",
}
FAULT_ACTION = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
SELECTORS_REASON = (
    "The WS-Management service cannot process the request because the request contained "
    "invalid selectors for the resource. "
)
TIMEOUT_TEXT = (
    "The WS-Management service cannot complete the operation within the time specified in "
    "OperationTimeout.  "
)
CMD_PLUGIN = {"provider": "Shell cmd plugin", "path": r"%systemroot%\system32\winrscmd.dll"}

# name -> (source, shape)
FAULTS: dict[str, tuple[str, dict[str, Any]]] = {
    "unknown CommandId": ("test_winrs_bad_cmd_id.yml", {
        "action": FAULT_ACTION, "code": "s:Sender", "subcode": "w:InvalidSelectors",
        "reason": SELECTORS_REASON, "wsman_code": 2150858843,
        "detail": "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors",
        "message": "The Windows Remote Shell received a request to perform an operation on a "
        "command identifier that does not exist. Either the command has completed execution or "
        "the client specified an invalid command identifier. ",
        "provider": None,
    }),
    "Receive without CommandId": ("test_winrs_fail_poll_process.yml", {
        "action": FAULT_ACTION, "code": "s:Sender", "subcode": "w:InvalidParameter",
        "reason": "The parameter is incorrect. ", "wsman_code": 87,
        "detail": "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidValue",
        "message": "The parameter is incorrect. ", "provider": CMD_PLUGIN,
    }),
    "invalid OperationTimeout": ("test_psrp_is_alive_other_wsman_error.yml", {
        "action": FAULT_ACTION, "code": "s:Sender", "subcode": "a:InvalidMessageInformationHeader",
        "reason": "The WS-Management service cannot process the request. The request contains one "
        "or more invalid SOAP headers. ", "wsman_code": 2150858767, "detail": None,
        "message": "The WS-Management service cannot process the request. The XML contains an "
        "invalid timeout field in the SOAP header: PT-1S. ", "provider": None,
    }),
    "Receive times out": ("test_winrs_operation_timeout.yml", {
        "action": FAULT_ACTION, "code": "s:Receiver", "subcode": "w:TimedOut",
        "reason": TIMEOUT_TEXT, "wsman_code": 2150858793, "detail": None,
        "message": TIMEOUT_TEXT, "provider": None,
    }),
    "bare executable without cmd.exe (2008 R2)": ("test_winrs_no_cmd_shell.yml", {
        "action": FAULT_ACTION, "code": "s:Receiver", "subcode": "w:InternalError",
        "reason": "The system cannot find the file specified. ", "wsman_code": 2147942402,
        "detail": None, "message": "The system cannot find the file specified. ",
        "provider": CMD_PLUGIN,
    }),
}

# Documented, not recorded: code from winerror.h (ERROR_WSMAN_*), subcode from DSP0226 table.
DOCUMENTED = {
    "unknown action": {"code": "s:Sender", "subcode": "a:ActionNotSupported", "wsman_code": 2150858771},
    "unknown ShellId": {"code": "s:Sender", "subcode": "w:InvalidSelectors", "wsman_code": 2150858843},
    "missing ShellId selector": {"code": "s:Sender", "subcode": "w:InvalidSelectors", "wsman_code": 2150858843},
}

# rsp:Shell children of a CreateResponse, in order (test_winrs_extra_opts.yml,
# test_winrs_environment.yml, WinRM 3.0+); WinRM 2.0 sends x:ResourceCreated only
# (pywinrm winrm/tests/conftest.py open_shell_response).
SHELL_CHILDREN_3 = [
    "ShellId", "ResourceUri", "Owner", "ClientIP", "Environment", "WorkingDirectory",
    "IdleTimeOut", "InputStreams", "OutputStreams", "ShellRunTime", "ShellInactivity",
]
CREATE_ACTION = "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse"
CONFIG_KEYS = ["MaxEnvelopeSizekb", "MaxTimeoutms", "Service/Auth/CbtHardeningLevel",
               "Winrs/IdleTimeout", "Winrs/MaxMemoryPerShellMB", "Winrs/MaxShellsPerUser"]


def fault_shape(xml: str | bytes) -> dict[str, Any]:
    """The comparable parts of a fault envelope."""
    env = ET.fromstring(xml)
    fault = env.find("s:Body/s:Fault", NS)
    assert fault is not None, "not a fault"
    wsf = fault.find("s:Detail/f:WSManFault", NS)
    assert wsf is not None
    msg = wsf.find("f:Message", NS)
    assert msg is not None
    prov = msg.find("f:ProviderFault", NS)
    return {
        "action": env.findtext("s:Header/a:Action", None, NS),
        "code": fault.findtext("s:Code/s:Value", None, NS),
        "subcode": fault.findtext("s:Code/s:Subcode/s:Value", None, NS),
        "reason": fault.findtext("s:Reason/s:Text", None, NS),
        "wsman_code": int(wsf.get("Code", "0")),
        "detail": fault.findtext("s:Detail/w:FaultDetail", None, NS),
        "message": "".join(msg.itertext()),
        "provider": None if prov is None else {"provider": prov.get("provider"), "path": prov.get("path")},
    }


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
