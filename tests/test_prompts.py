"""vars_prompt answered as ansible-playbook does (hvprov/prompts.py); the -e and no-terminal
paths are also checked against ansible-core by tests/ansible_diff/cases/h13_*vars_prompt*."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvprov.errors import InputError, Location
from hvprov.prompts import Prompt, answer
from hvprov.secrets import Secret

LOC = Location("pb.yml", 3, 7)


def scripted(*answers: str) -> tuple[list[tuple[str, bool]], object]:
    asked: list[tuple[str, bool]] = []
    it = iter(answers)

    def ask(msg: str, private: bool) -> str:
        asked.append((msg, private))
        return next(it)
    return asked, ask


def test_a_terminal_is_asked_and_a_private_answer_is_a_secret() -> None:
    asked, ask = scripted("s3cret", "paris")
    got = answer((Prompt("pw", "Password", LOC), Prompt("site", "Site", LOC, private=False)), {},
                 is_tty=lambda: True, ask=ask)  # type: ignore[arg-type]
    assert asked == [("Password: ", True), ("Site: ", False)]
    assert isinstance(got["pw"], Secret) and got["pw"].reveal() == "s3cret" and got["site"] == "paris"


def test_an_empty_answer_takes_the_default_and_confirm_asks_until_both_match() -> None:
    asked, ask = scripted("", "a", "b", "c", "c")
    got = answer((Prompt("size", "Size", LOC, default=10, private=False), Prompt("pw", "PW", LOC, confirm=True)), {},
                 is_tty=lambda: True, ask=ask)  # type: ignore[arg-type]
    assert got["size"] == "10" and got["pw"].reveal() == "c"
    assert asked[0] == ("Size [10]: ", False) and asked[2] == ("confirm PW: ", True) and len(asked) == 5


def test_extra_vars_are_not_asked_and_no_terminal_takes_defaults_or_refuses() -> None:
    warned: list[str] = []
    got = answer((Prompt("a", "A", LOC), Prompt("b", "B", LOC, default="d")), {"a": "given"},
                 is_tty=lambda: False, warn=warned.append)
    assert got == {"b": "d"} and warned == ["Not prompting as we are not in interactive mode"]
    with pytest.raises(InputError, match="pb.yml:3:7.*no terminal to ask on"):
        answer((Prompt("a", "A", LOC),), {}, is_tty=lambda: False)


def test_encrypt_hashes_the_answer(tmp_path: Path) -> None:
    got = answer((Prompt("pw", "PW", LOC, default="x", encrypt="sha512_crypt", salt="abcdefgh"),), {}, is_tty=lambda: False)
    from hvprov.jinja.passwords import hash_password  # checked against ansible-core's password_hash elsewhere

    assert got["pw"] == hash_password("x", "sha512_crypt", "abcdefgh") and got["pw"].startswith("$6$")
