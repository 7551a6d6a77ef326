"""Connection settings of a host, from its variables (Ansible names work unchanged).

`ConnectionSpec.from_vars(name, vars)` reads ``ansible_*`` and ``hvprov_*`` variables; hvprov's
own name wins where both are given. `open_transport(spec, lab)` builds the transport.
Security defaults: https certificates are validated, http WinRM needs message encryption
(ntlm/kerberos/credssp) unless ``hvprov_winrm_allow_plaintext: true``, SSH host keys must be
in known_hosts unless ``hvprov_ssh_host_key_policy: accept-new`` (or ``ignore``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import InventoryError
from .secrets import Secret

KINDS = ("winrm", "ssh", "sim", "local")
WINRM_TRANSPORTS = ("ntlm", "kerberos", "credssp", "basic", "certificate", "plaintext", "negotiate")


def _first(vars: dict[str, Any], *names: str, default: Any = None) -> Any:
    get = vars.get  # one lookup per name: set and not None
    for n in names:
        value = get(n)
        if value is not None:
            return value
    return default


def _bool(name: str, value: Any, host: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("yes", "true", "on", "1"):
        return True
    if isinstance(value, str) and value.lower() in ("no", "false", "off", "0"):
        return False
    if isinstance(value, int):
        return bool(value)
    raise InventoryError(f"expected a boolean, got {value!r}", field=f"hosts.{host}.{name}")


def _int(name: str, value: Any, host: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InventoryError(f"expected an integer, got {value!r}", field=f"hosts.{host}.{name}") from None


def _float(name: str, value: Any, host: str) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InventoryError(f"expected a number, got {value!r}", field=f"hosts.{host}.{name}") from None


def _secret(value: Any) -> Secret | None:
    if value is None:
        return None
    if isinstance(value, Secret):
        return value
    return Secret(str(value))


@dataclass(frozen=True)
class ConnectionSpec:
    name: str  # inventory host name
    kind: str  # winrm | ssh | sim | local
    address: str
    port: int | None = None
    user: str | None = None
    password: Secret | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 70.0
    operation_timeout: float = 60.0
    retries: int = 3  # transient connection failures, with backoff
    # --- winrm
    winrm_scheme: str = "http"
    winrm_transport: str = "ntlm"
    winrm_path: str = "/wsman"
    winrm_message_encryption: str = "auto"  # auto | always | never
    winrm_allow_plaintext: bool = False
    winrm_allow_tls10: bool = False  # accept a host whose https offers only TLS 1.0/1.1 (2008 R2 stock)
    server_cert_validation: str = "validate"  # validate | ignore
    ca_trust_path: str | None = None
    client_cert_pem: str | None = None
    client_cert_key_pem: str | None = None
    max_envelope_kb: int = 150  # WinRM 2.0 default (2008 R2); 500 on WinRM 3.0+; 0: read the host's
    winrm_cmd_shell: bool = True  # commands go through cmd.exe (8,191-char limit)
    script_delivery: str = "stdin"  # stdin | file (transports/bootstrap.py, docs/delivery.md)
    # the run's NTLM hashes per password (transports/winrm.py), NTLM client contexts per
    # credential (transports/ntlmseal.py) and TLS contexts per trust setting: computed once per
    # run, kept by it
    credential_cache: dict[Any, Any] | None = field(default=None, compare=False, repr=False)
    # --- ssh
    ssh_key_file: str | None = None
    ssh_key_passphrase: Secret | None = None
    ssh_known_hosts: str | None = None
    ssh_host_key_policy: str = "strict"  # strict | accept-new | ignore
    ssh_allow_agent: bool = True
    ssh_jump_host: str | None = None  # [user@]host[:port]
    ssh_keepalive: int = 15
    ssh_shell: str = "cmd"  # the remote default shell: cmd | powershell
    # --- sim
    sim_profile: str | None = None
    sim_overrides: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_vars(cls, name: str, vars: dict[str, Any]) -> ConnectionSpec:
        kind = str(_first(vars, "hvprov_connection", "ansible_connection", default="winrm")).lower()
        if kind == "psrp":
            kind = "winrm"
        if kind not in KINDS:
            raise InventoryError(
                f"unknown connection {kind!r} (expected one of {', '.join(KINDS)})",
                field=f"hosts.{name}.ansible_connection",
            )
        address = str(_first(vars, "hvprov_host", "ansible_host", default=name))
        port = _int("ansible_port", _first(vars, "hvprov_port", "ansible_port"), name)
        scheme = _first(vars, "hvprov_winrm_scheme", "ansible_winrm_scheme")
        if scheme is None:
            scheme = "https" if port == 5986 else "http"
        scheme = str(scheme).lower()
        if scheme not in ("http", "https"):
            raise InventoryError(f"expected http or https, got {scheme!r}", field=f"hosts.{name}.ansible_winrm_scheme")
        transport = str(_first(vars, "hvprov_winrm_transport", "ansible_winrm_transport", default="ntlm")).lower()
        if isinstance(_first(vars, "ansible_winrm_transport"), list):  # Ansible allows a list
            transport = str(_first(vars, "ansible_winrm_transport")[0]).lower()
        if transport not in WINRM_TRANSPORTS:
            raise InventoryError(
                f"unknown WinRM transport {transport!r} (expected one of {', '.join(WINRM_TRANSPORTS)})",
                field=f"hosts.{name}.ansible_winrm_transport",
            )
        validation = str(
            _first(vars, "hvprov_winrm_server_cert_validation", "ansible_winrm_server_cert_validation", default="validate")
        ).lower()
        if validation not in ("validate", "ignore"):
            raise InventoryError(
                f"expected validate or ignore, got {validation!r}",
                field=f"hosts.{name}.ansible_winrm_server_cert_validation",
            )
        policy = str(_first(vars, "hvprov_ssh_host_key_policy", default="")).lower()
        if not policy:
            checking = _first(vars, "ansible_host_key_checking", "ansible_ssh_host_key_checking")
            policy = "ignore" if checking is not None and not _bool("ansible_host_key_checking", checking, name) else "strict"
        if policy not in ("strict", "accept-new", "ignore"):
            raise InventoryError(
                f"expected strict, accept-new or ignore, got {policy!r}", field=f"hosts.{name}.hvprov_ssh_host_key_policy"
            )
        delivery = str(_first(vars, "hvprov_script_delivery", default="stdin")).lower()
        if delivery not in ("stdin", "file"):
            raise InventoryError(f"expected stdin or file, got {delivery!r}", field=f"hosts.{name}.hvprov_script_delivery")
        sim_over = _first(vars, "sim", default={})
        if not isinstance(sim_over, dict):
            raise InventoryError(f"expected a mapping, got {type(sim_over).__name__}", field=f"hosts.{name}.sim")
        return cls(
            name=name,
            kind=kind,
            address=address,
            port=port,
            user=_first(vars, "hvprov_user", "ansible_user", "ansible_winrm_user", "ansible_ssh_user"),
            password=_secret(_first(vars, "hvprov_password", "ansible_password", "ansible_winrm_password", "ansible_ssh_pass")),
            connect_timeout=_float("hvprov_connect_timeout", _first(vars, "hvprov_connect_timeout", "ansible_winrm_connection_timeout", "ansible_timeout", default=10.0), name) or 10.0,
            read_timeout=_float("ansible_winrm_read_timeout_sec", _first(vars, "hvprov_read_timeout", "ansible_winrm_read_timeout_sec", default=70.0), name) or 70.0,
            operation_timeout=_float("ansible_winrm_operation_timeout_sec", _first(vars, "hvprov_operation_timeout", "ansible_winrm_operation_timeout_sec", default=60.0), name) or 60.0,
            retries=_int("hvprov_retries", _first(vars, "hvprov_retries", default=3), name) or 0,
            winrm_scheme=scheme,
            winrm_transport=transport,
            winrm_path=str(_first(vars, "hvprov_winrm_path", "ansible_winrm_path", default="/wsman")),
            winrm_message_encryption=str(_first(vars, "hvprov_winrm_message_encryption", "ansible_winrm_message_encryption", default="auto")).lower(),
            winrm_allow_plaintext=_bool("hvprov_winrm_allow_plaintext", _first(vars, "hvprov_winrm_allow_plaintext", default=False), name),
            winrm_allow_tls10=_bool("hvprov_winrm_allow_tls10", _first(vars, "hvprov_winrm_allow_tls10", default=False), name),
            server_cert_validation=validation,
            ca_trust_path=_first(vars, "hvprov_winrm_ca_trust_path", "ansible_winrm_ca_trust_path"),
            client_cert_pem=_first(vars, "hvprov_winrm_cert_pem", "ansible_winrm_cert_pem"),
            client_cert_key_pem=_first(vars, "hvprov_winrm_cert_key_pem", "ansible_winrm_cert_key_pem"),
            max_envelope_kb=0 if str(_first(vars, "hvprov_winrm_max_envelope_kb", default=150)).lower() == "auto"  # read from the host
            else _int("hvprov_winrm_max_envelope_kb", _first(vars, "hvprov_winrm_max_envelope_kb", default=150), name) or 150,
            script_delivery=delivery,
            winrm_cmd_shell=_bool("hvprov_winrm_cmd_shell", _first(vars, "hvprov_winrm_cmd_shell", default=True), name),
            ssh_key_file=_first(vars, "hvprov_ssh_key_file", "ansible_ssh_private_key_file", "ansible_private_key_file"),
            ssh_key_passphrase=_secret(_first(vars, "hvprov_ssh_key_passphrase")),
            ssh_known_hosts=_first(vars, "hvprov_ssh_known_hosts"),
            ssh_host_key_policy=policy,
            ssh_allow_agent=_bool("hvprov_ssh_allow_agent", _first(vars, "hvprov_ssh_allow_agent", default=True), name),
            ssh_jump_host=_first(vars, "hvprov_ssh_jump_host"),
            ssh_keepalive=_int("hvprov_ssh_keepalive", _first(vars, "hvprov_ssh_keepalive", default=15), name) or 0,
            ssh_shell=str(_first(vars, "hvprov_ssh_shell", "ansible_shell_type", default="cmd")).lower(),
            sim_profile=_first(vars, "sim_profile"),
            sim_overrides=dict(sim_over),
        )

    def describe(self) -> str:
        """For messages: never includes the password."""
        port = f":{self.port}" if self.port else ""
        user = f"{self.user}@" if self.user else ""
        return f"{self.kind}://{user}{self.address}{port}"
