"""hvprov.secretsources: env:, file:, prompt, literal: secret sources and --ask-pass."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from hvprov.errors import InputError, Location, OptionsError
from hvprov.secrets import MASK, Secret
from hvprov.secretsources import (
    SecretResolver,
    SecretSourceError,
    ask_pass,
    read_secret_file,
    require_tty,
    resolve_secret,
    stdin_is_tty,
)

WHERE = Location("inv.yml", 12, 7)
PW = "Adm1n-Pa$$ word"


def _never(text: str) -> str:
    raise AssertionError("must not prompt")


def _secret_file(path: Path, content: str, mode: int = 0o600) -> Path:
    path.write_text(content, encoding="utf-8")
    path.chmod(mode)
    return path


def _assert_hidden(secret: Secret, value: str) -> None:
    assert secret.reveal() == value
    for shown in (str(secret), repr(secret), f"{secret}", f"{secret!r}", f"{secret:^40}", "%s" % secret):  # noqa: UP031
        assert value not in shown
        assert MASK in shown


# --------------------------------------------------------------------------- env:
def test_env_source_from_injected_environment() -> None:
    s = resolve_secret("env:HV_ADMIN_PW", _never, environ={"HV_ADMIN_PW": PW})
    _assert_hidden(s, PW)
    assert s.source == "env:HV_ADMIN_PW"


def test_env_source_from_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HVPROV_TEST_PW", " keeps spaces ")
    assert resolve_secret("env:HVPROV_TEST_PW", _never).reveal() == " keeps spaces "


@pytest.mark.parametrize(
    "spec, environ, message",
    [
        ("env:MISSING_PW", {}, "environment variable MISSING_PW is not set"),
        ("env:EMPTY_PW", {"EMPTY_PW": ""}, "environment variable EMPTY_PW is empty"),
        ("env:not-a-name", {}, "env: expects an environment variable name"),
        ("env:", {}, "env: expects an environment variable name"),
    ],
)
def test_env_source_errors(spec: str, environ: dict[str, str], message: str) -> None:
    with pytest.raises(SecretSourceError) as ei:
        resolve_secret(spec, _never, where=WHERE, environ=environ)
    assert str(ei.value).startswith("inv.yml:12:7: ")
    assert message in str(ei.value)
    assert isinstance(ei.value, InputError) and ei.value.exit_code == 4


# --------------------------------------------------------------------------- file:
def test_file_source_content_is_stripped(tmp_path: Path) -> None:
    f = _secret_file(tmp_path / "pw.txt", f"\n {PW} \r\n")
    s = resolve_secret(f"file:{f}", _never)
    _assert_hidden(s, PW)
    assert s.source == f"file:{f}"


def test_file_source_relative_to_base_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "secrets").mkdir()
    _secret_file(tmp_path / "secrets" / "pw.txt", PW)
    monkeypatch.chdir("/")
    assert resolve_secret("file:secrets/pw.txt", _never, base_dir=tmp_path).reveal() == PW
    with pytest.raises(SecretSourceError, match="secret file not found: secrets/pw.txt"):
        resolve_secret("file:secrets/pw.txt", _never)  # without base_dir: the working directory


def test_file_source_follows_symlinks_to_private_files(tmp_path: Path) -> None:
    target = _secret_file(tmp_path / "real.txt", PW)
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    assert resolve_secret(f"file:{link}", _never).reveal() == PW


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o606, 0o610])
def test_file_source_refuses_group_or_world_access(tmp_path: Path, mode: int) -> None:
    f = _secret_file(tmp_path / "pw.txt", PW, mode)
    with pytest.raises(SecretSourceError) as ei:
        resolve_secret(f"file:{f}", _never, where=WHERE)
    msg = str(ei.value)
    assert msg == (
        f"inv.yml:12:7: refusing secret file {f}: mode {mode:04o} lets group/others access it; "
        f"run `chmod 600 {f}`"
    )
    assert PW not in msg


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_file_source_accepts_owner_only_modes(tmp_path: Path, mode: int) -> None:
    f = _secret_file(tmp_path / "pw.txt", PW, mode)
    assert read_secret_file(f).reveal() == PW


def test_file_source_errors(tmp_path: Path) -> None:
    with pytest.raises(SecretSourceError, match="secret file not found"):
        resolve_secret(f"file:{tmp_path / 'missing'}", _never, where=WHERE)
    with pytest.raises(SecretSourceError, match="is not a regular file"):
        resolve_secret(f"file:{tmp_path}", _never, where=WHERE)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(SecretSourceError, match="is not a regular file"):  # and does not hang
        resolve_secret(f"file:{fifo}", _never, where=WHERE)
    empty = _secret_file(tmp_path / "empty.txt", " \n")
    with pytest.raises(SecretSourceError, match="is empty"):
        resolve_secret(f"file:{empty}", _never, where=WHERE)
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe")
    binary.chmod(0o600)
    with pytest.raises(SecretSourceError, match="is not UTF-8 text"):
        resolve_secret(f"file:{binary}", _never, where=WHERE)
    with pytest.raises(SecretSourceError, match="file: expects a path"):
        resolve_secret("file:", _never, where=WHERE)


# --------------------------------------------------------------------------- prompt
def test_prompt_source_uses_the_callback() -> None:
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return PW

    s = resolve_secret("prompt", prompt, is_tty=lambda: True)
    _assert_hidden(s, PW)
    assert s.source == "prompt"
    resolve_secret("prompt:Admin password for lab hosts:", prompt, is_tty=lambda: True)
    assert asked == ["Password: ", "Admin password for lab hosts: "]


def test_prompt_source_without_tty_is_a_clear_error() -> None:
    with pytest.raises(SecretSourceError) as ei:
        resolve_secret("prompt", _never, where=WHERE, is_tty=lambda: False)
    assert str(ei.value) == (
        "inv.yml:12:7: secret source 'prompt' needs an interactive terminal, but stdin is not a TTY "
        "(use env:NAME or file:PATH when not interactive)"
    )


def test_prompt_source_default_tty_check_sees_piped_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("typed\n"))
    with pytest.raises(SecretSourceError, match="stdin is not a TTY"):
        resolve_secret("prompt", _never)


@pytest.mark.parametrize("answer, message", [("", "an empty password was entered"), (EOFError(), "end of input")])
def test_prompt_source_bad_answers(answer: Any, message: str) -> None:
    def prompt(text: str) -> str:
        if isinstance(answer, BaseException):
            raise answer
        return str(answer)

    with pytest.raises(SecretSourceError, match=message):
        resolve_secret("prompt", prompt, where=WHERE, is_tty=lambda: True)


def test_prompt_answer_is_not_stripped() -> None:
    assert resolve_secret("prompt", lambda _t: " pw with spaces ", is_tty=lambda: True).reveal() == " pw with spaces "


# --------------------------------------------------------------------------- literal / bad specs
def test_literal_source() -> None:
    s = resolve_secret("literal:a:b:c", _never)
    _assert_hidden(s, "a:b:c")
    assert s.source == "literal"


def test_a_vaulted_spec_is_resolved() -> None:
    spec = Secret("env:HV_ADMIN_PW", source="vault inv.yml:3")
    assert resolve_secret(spec, _never, environ={"HV_ADMIN_PW": PW}).reveal() == PW


@pytest.mark.parametrize(
    "spec, message",
    [
        ("evn:HV_ADMIN_PW", "unknown secret source 'evn'"),
        ("hunter2-bare-value", "unknown secret source: expected env:NAME"),
        ("literal:", "literal: secret source is empty"),
        ("", "unknown secret source"),
    ],
)
def test_bad_specs_do_not_echo_the_value(spec: str, message: str) -> None:
    with pytest.raises(SecretSourceError) as ei:
        resolve_secret(spec, _never, where=WHERE)
    assert message in str(ei.value)
    assert "hunter2" not in str(ei.value) and "HV_ADMIN_PW" not in str(ei.value)


def test_non_string_spec() -> None:
    with pytest.raises(SecretSourceError, match="must be a string such as env:NAME or file:PATH, got int"):
        resolve_secret(42, _never, where=WHERE)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- resolver
def test_resolver_asks_each_prompt_once(tmp_path: Path) -> None:
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return f"answer{len(asked)}"

    r = SecretResolver(prompt, is_tty=lambda: True, environ={"A_PW": "from-env"})
    first = r.resolve("prompt", where=Location("a.yml", 1))
    again = r.resolve("prompt", where=Location("b.yml", 9))
    other = r.resolve("prompt:Other password:")
    assert first.reveal() == again.reveal() == "answer1"
    assert other.reveal() == "answer2"
    assert asked == ["Password: ", "Other password: "]
    assert r.resolve("env:A_PW").reveal() == "from-env"
    f = _secret_file(tmp_path / "pw.txt", "one")
    assert r.resolve(f"file:{f}").reveal() == "one"
    f.write_text("two")
    assert r.resolve("file:pw.txt", base_dir=tmp_path).reveal() == "one"  # read once a run
    assert "answer" not in repr(r)


# --------------------------------------------------------------------------- --ask-pass
def test_ask_pass() -> None:
    s = ask_pass(lambda text: PW if text == "Password: " else "wrong prompt", is_tty=lambda: True)
    _assert_hidden(s, PW)


def test_ask_pass_without_tty_is_an_options_error() -> None:
    with pytest.raises(OptionsError) as ei:
        ask_pass(_never, is_tty=lambda: False)
    assert ei.value.exit_code == 5
    assert str(ei.value) == (
        "--ask-pass needs an interactive terminal, but stdin is not a TTY "
        "(in CI use a password file or an environment variable instead)"
    )


def test_ask_pass_empty_answer() -> None:
    with pytest.raises(OptionsError, match="empty password"):
        ask_pass(lambda _t: "", is_tty=lambda: True)


def test_stdin_is_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", None)
    assert stdin_is_tty() is False
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert stdin_is_tty() is False
    with pytest.raises(OptionsError, match="^--vault-id dev@prompt needs an interactive terminal"):
        require_tty("--vault-id dev@prompt")

    class FakeTTY(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", FakeTTY())
    assert stdin_is_tty() is True
    require_tty("--ask-pass")  # no error

