"""Where passwords and keys come from: environment, files, scripts, prompts.

``resolve_secret(spec)`` reads an hvprov *secret source* such as the value of
``hvprov_password_source`` in an inventory::

    env:HV_ADMIN_PW            the environment variable (used as is; must be set and non-empty)
    file:/run/secrets/hv_pw    the file's content, whitespace-stripped; relative paths are
                               relative to `base_dir` (the inventory's directory). The file
                               must not be accessible by group or others (like ssh private
                               keys): a 0644 password file is REFUSED, not just warned about,
                               because a source named for hvprov is new configuration, and the
                               fix (chmod 600) is one command.
    prompt                     ask on the terminal ("Password: "); stdin must be a TTY
    prompt:TEXT                ask with TEXT as the prompt (a SecretResolver asks each TEXT once)
    literal:VALUE              VALUE itself (for tests; prefer !vault in files)

Anything else (including a bare value) is an error, so that a typo such as ``evn:PW`` is not
sent to a host as the password. Error messages name the scheme and the variable or file,
never the value.

Vault password files (``--vault-password-file``, ``--vault-id label@file``) follow Ansible
instead, since users bring them unchanged: the content, stripped, or if the file is
executable its stdout (CR/LF-stripped; stderr and stdin stay on the terminal so the script
may prompt); a script named ``*-client[.ext]`` is run with ``--vault-id LABEL`` (exit 2:
unknown vault-id). A group/world-accessible vault password file is accepted, as Ansible
does, with a logged warning.
"""

from __future__ import annotations

import getpass
import logging
import os
import re
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from .errors import InputError, Location, OptionsError
from .secrets import Secret

__all__ = [
    "SCHEMES",
    "SecretResolver",
    "SecretSourceError",
    "ask_pass",
    "read_secret_file",
    "read_vault_password_file",
    "require_tty",
    "resolve_secret",
    "stdin_is_tty",
]

log = logging.getLogger(__name__)

SCHEMES = ("env", "file", "prompt", "literal")
PromptFn = Callable[[str], str]
_ENV_NAME = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")
_SCHEME = re.compile(r"\A([A-Za-z][A-Za-z0-9_-]{0,15}):")
_POSIX = os.name == "posix"


class SecretSourceError(InputError):
    """A secret source cannot give its secret (exit 4; names the file:line that asked for it)."""


def stdin_is_tty() -> bool:
    stdin = sys.stdin
    try:
        return stdin is not None and stdin.isatty()
    except (AttributeError, ValueError):  # replaced or closed stdin
        return False


def require_tty(what: str, is_tty: Callable[[], bool] | None = None) -> None:
    """OptionsError unless stdin is a terminal (prompts never read piped input)."""
    if not (is_tty or stdin_is_tty)():
        raise OptionsError(
            f"{what} needs an interactive terminal, but stdin is not a TTY "
            "(in CI use a password file or an environment variable instead)"
        )


def _ask(prompt: PromptFn, text: str) -> str:
    try:
        return prompt(text)
    except EOFError:
        raise OptionsError(f"no answer to the prompt {text.strip()!r} (end of input)") from None


def ask_pass(prompt: PromptFn = getpass.getpass, *, text: str = "Password: ",
             is_tty: Callable[[], bool] | None = None, what: str = "--ask-pass") -> Secret:
    """``--ask-pass``: the connection password from the terminal (OptionsError without a TTY).

    The answer is used as typed (not stripped); an empty answer is an error.
    """
    require_tty(what, is_tty)
    answer = _ask(prompt, text)
    if not answer:
        raise OptionsError(f"{what}: an empty password was entered")
    return Secret(answer, source="prompt")


# --------------------------------------------------------------------------- files
def _mode_problem(st: os.stat_result) -> str | None:
    if _POSIX and st.st_mode & 0o077:
        return f"mode {stat.S_IMODE(st.st_mode):04o} lets group/others access it"
    return None


def read_secret_file(path: str | os.PathLike[str], *, where: Location | None = None) -> Secret:
    """A ``file:`` source: content stripped; refused if group/other may access it (POSIX)."""
    p = Path(os.path.expanduser(os.fspath(path)))
    loc = where or Location(str(p))
    try:
        # O_NONBLOCK: a FIFO must not hang the run (it is refused below as not a regular file)
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise SecretSourceError(f"secret file not found: {p}", location=loc) from None
    except OSError as exc:
        raise SecretSourceError(f"cannot read secret file {p}: {exc.strerror}", location=loc) from None
    try:
        st = os.fstat(fd)  # the file actually opened: no race between the check and the read
        if not stat.S_ISREG(st.st_mode):
            raise SecretSourceError(f"secret file {p} is not a regular file", location=loc)
        problem = _mode_problem(st)
        if problem:
            raise SecretSourceError(
                f"refusing secret file {p}: {problem}; run `chmod 600 {p}`", location=loc
            )
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        raw = b"".join(chunks)
    except OSError as exc:
        raise SecretSourceError(f"cannot read secret file {p}: {exc.strerror}", location=loc) from None
    finally:
        os.close(fd)
    try:
        value = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise SecretSourceError(f"secret file {p} is not UTF-8 text", location=loc) from None
    if not value:
        raise SecretSourceError(f"secret file {p} is empty", location=loc)
    return Secret(value, source=f"file:{p}")


def _is_executable(st: os.stat_result) -> bool:
    # ansible-core's is_executable: any execute bit on a regular file
    return stat.S_ISREG(st.st_mode) and bool(st.st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))


def _is_client_script(path: str) -> bool:
    return os.path.splitext(os.path.basename(path))[0].endswith("-client")


def read_vault_password_file(path: str | os.PathLike[str], vault_id: str = "default") -> tuple[bytes, str]:
    """A vault password from a file or script, exactly as ansible-core reads it.

    Returns (password bytes, origin for messages). Raises SecretSourceError. The bytes may
    themselves be vault text (the caller decrypts them with earlier passwords).
    """
    name = os.path.expanduser(os.fspath(path))
    loc = Location(name)
    try:
        st = os.stat(name)
    except FileNotFoundError:
        raise SecretSourceError(f"vault password file not found: {name}", location=loc) from None
    except OSError as exc:
        raise SecretSourceError(f"cannot read vault password file {name}: {exc.strerror}",
                                location=loc) from None
    if stat.S_ISDIR(st.st_mode):
        raise SecretSourceError(f"vault password file {name} is a directory", location=loc)
    if _is_executable(st):
        return _run_password_script(name, vault_id, loc)
    try:
        with open(name, "rb") as f:
            raw = f.read().strip()
    except OSError as exc:
        raise SecretSourceError(f"cannot read vault password file {name}: {exc.strerror}",
                                location=loc) from None
    problem = _mode_problem(st)
    if problem:
        log.warning("vault password file %s: %s (chmod 600 it)", name, problem)
    if not raw:
        raise SecretSourceError(f"vault password file {name} is empty", location=loc)
    return raw, f"file {name}"


def _run_password_script(name: str, vault_id: str, loc: Location) -> tuple[bytes, str]:
    client = _is_client_script(name)
    command = [os.path.abspath(name)] + (["--vault-id", vault_id] if client else [])
    kind = "vault password client script" if client else "vault password script"
    try:
        # stdout only: stdin/stderr stay on the terminal so a script may prompt (as Ansible)
        proc = subprocess.run(command, stdout=subprocess.PIPE, check=False)
    except OSError as exc:
        raise SecretSourceError(
            f"cannot run {kind} {name} ({exc.strerror}); if it is not a script, remove its "
            "executable bit",
            location=loc,
        ) from None
    if client and proc.returncode == 2:
        raise SecretSourceError(f"{kind} {name} has no password for vault-id {vault_id!r} (exit 2)",
                                location=loc)
    if proc.returncode != 0:
        raise SecretSourceError(f"{kind} {name} failed (exit status {proc.returncode})", location=loc)
    raw = proc.stdout.strip(b"\r\n")  # ansible-core strips only CR/LF from script output
    if not raw:
        raise SecretSourceError(f"{kind} {name} printed no password", location=loc)
    return raw, f"script {name}"


# --------------------------------------------------------------------------- specs
def _scheme_of(spec: str) -> tuple[str, str] | None:
    m = _SCHEME.match(spec)
    if not m:
        return None
    return m.group(1), spec[m.end():]


def _resolve(
    spec: str | Secret,
    prompt: PromptFn,
    *,
    where: Location | None,
    base_dir: str | os.PathLike[str] | None,
    environ: Mapping[str, str] | None,
    is_tty: Callable[[], bool] | None,
    cache: dict[tuple[str, str], Secret] | None,
) -> Secret:
    text = spec.reveal() if isinstance(spec, Secret) else spec
    if not isinstance(text, str):
        raise SecretSourceError(
            f"a secret source must be a string such as env:NAME or file:PATH, got {type(text).__name__}",
            location=where,
        )
    parsed = _scheme_of(text) if text != "prompt" else ("prompt", "")
    if parsed is None or parsed[0] not in SCHEMES:
        shown = f" {parsed[0]!r}" if parsed else ""
        raise SecretSourceError(
            f"unknown secret source{shown}: expected env:NAME, file:PATH, prompt, prompt:TEXT "
            "or literal:VALUE",
            location=where,
        )
    scheme, rest = parsed
    if scheme == "literal":
        if not rest:
            raise SecretSourceError("literal: secret source is empty", location=where)
        return Secret(rest, source="literal")
    if scheme == "env":
        if not _ENV_NAME.match(rest):
            raise SecretSourceError(f"env: expects an environment variable name, got {rest!r}",
                                    location=where)
        env = os.environ if environ is None else environ
        value = env.get(rest)
        if value is None:
            raise SecretSourceError(f"environment variable {rest} is not set", location=where)
        if not value:
            raise SecretSourceError(f"environment variable {rest} is empty", location=where)
        return Secret(value, source=f"env:{rest}")
    if scheme == "file":
        if not rest:
            raise SecretSourceError("file: expects a path", location=where)
        p = Path(os.path.expanduser(rest))
        if not p.is_absolute() and base_dir is not None:
            p = Path(base_dir) / p
        key = ("file", str(p))
        if cache is not None and key in cache:
            return cache[key]
        secret = read_secret_file(p, where=where)
        if cache is not None:
            cache[key] = secret
        return secret
    # prompt
    question = rest or "Password: "
    if not question.endswith(" "):
        question += " "
    key = ("prompt", question)
    if cache is not None and key in cache:
        return cache[key]
    if not (is_tty or stdin_is_tty)():
        raise SecretSourceError(
            "secret source 'prompt' needs an interactive terminal, but stdin is not a TTY "
            "(use env:NAME or file:PATH when not interactive)",
            location=where,
        )
    try:
        answer = prompt(question)
    except EOFError:
        raise SecretSourceError("no answer to the password prompt (end of input)", location=where) from None
    if not answer:
        raise SecretSourceError("an empty password was entered", location=where)
    secret = Secret(answer, source="prompt")
    if cache is not None:
        cache[key] = secret
    return secret


def resolve_secret(
    spec: str | Secret,
    prompt: PromptFn = getpass.getpass,
    *,
    where: Location | None = None,
    base_dir: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    is_tty: Callable[[], bool] | None = None,
) -> Secret:
    """The secret a source spec names (see the module doc). Raises SecretSourceError at `where`.

    `spec` may itself be a Secret (a ``!vault``-encrypted source spec).
    """
    return _resolve(spec, prompt, where=where, base_dir=base_dir, environ=environ, is_tty=is_tty,
                    cache=None)


class SecretResolver:
    """`resolve_secret` for one run: each prompt text is asked once, each file read once.

    Thread-safe (a lock serialises prompts).
    """

    def __init__(self, prompt: PromptFn = getpass.getpass, *, environ: Mapping[str, str] | None = None,
                 is_tty: Callable[[], bool] | None = None) -> None:
        self._prompt = prompt
        self._environ = environ
        self._is_tty = is_tty
        self._cache: dict[tuple[str, str], Secret] = {}
        self._lock = threading.Lock()

    def resolve(self, spec: str | Secret, *, where: Location | None = None,
                base_dir: str | os.PathLike[str] | None = None) -> Secret:
        with self._lock:
            return _resolve(spec, self._prompt, where=where, base_dir=base_dir, environ=self._environ,
                            is_tty=self._is_tty, cache=self._cache)

    def __repr__(self) -> str:
        return f"SecretResolver(cached={len(self._cache)})"
