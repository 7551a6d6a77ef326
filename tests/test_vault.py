"""hvprov.vault: Ansible Vault 1.1/1.2 read and written as ansible-core does.

tests/data/vault/ holds files written by the real ansible-vault (see its README.md); the
plaintexts below are what ansible itself decrypted them to.
"""

from __future__ import annotations

import binascii
import json
import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hvprov import vault
from hvprov.errors import InputError, Location, OptionsError
from hvprov.secrets import MASK, Secret, SecretRegistry, mask
from hvprov.secretsources import SecretSourceError
from hvprov.vault import (
    VaultError,
    VaultFormatError,
    VaultPasswordError,
    VaultSecrets,
    construct_vault,
    decrypt,
    decrypt_if_vault,
    decrypt_text,
    encrypt,
    encrypt_string,
    is_vault,
    load_vault_file,
    parse_envelope,
    vault_constructor,
)
from hvprov.yamlsrc import LocDict, _Loader

DATA = Path(__file__).parent / "data" / "vault"
PW_DEFAULT = "correct horse battery staple"
PW_PROD = "Pr0d vault pass"
FIXED_SALT = b"hvprov-interop-salt-0123456789ab"

# What ansible itself decrypted the reference files to.
GROUP_VARS_ALL = {
    "ansible_user": "Administrator",
    "ansible_password": "S3cret!Adm1n pw",
    "ansible_connection": "winrm",
    "hv_switches": [{"name": "LAN", "type": "external"}],
}
PROD_VARS = {"vault_prod_admin_pw": "pr0d-p@ss:word#1", "vault_prod_port": 5986}
HV01_PASSWORD = "Winrm-P@ss-01"
HV02_PASSWORD = "prod-Hyper-V!2022"
HV02_PASSPHRASE = "pässwörd ✓ ünïcode"
MOTD = "line one\nline two\n"


def _both() -> VaultSecrets:
    return VaultSecrets.from_cli(
        vault_ids=[f"default@{DATA / 'pw' / 'default.txt'}", f"prod@{DATA / 'pw' / 'prod.txt'}"]
    )


class _VaultLoader(_Loader):
    """What the lead's wiring amounts to: yamlsrc's loader plus the !vault constructor."""


for _tag in vault.YAML_TAGS:
    _VaultLoader.add_constructor(_tag, construct_vault)


def _load(text: str, filename: str, secrets: VaultSecrets | None) -> Any:
    loader = _VaultLoader(text)
    loader.hv_filename = filename
    loader.hv_vault_secrets = secrets
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _line_of(path: Path, needle: str, nth: int = 0) -> tuple[int, int]:
    hits = [
        (i + 1, line.index(needle) + 1)
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines())
        if needle in line
    ]
    return hits[nth]


# --------------------------------------------------------------------------- ansible-made files
def test_whole_file_1_1_from_ansible_vault_decrypts() -> None:
    text = (DATA / "group_vars_all.vault.yml").read_text()
    assert text.startswith("$ANSIBLE_VAULT;1.1;AES256\n")
    plain = decrypt_if_vault(text, _both(), "group_vars/all.yml")
    assert plain == (DATA / "group_vars_all.plain.yml").read_text()
    assert yaml.safe_load(plain) == GROUP_VARS_ALL


def test_whole_file_1_2_with_vault_id_from_ansible_vault_decrypts() -> None:
    text = (DATA / "prod_vars.vault.yml").read_text()
    env = parse_envelope(text)
    assert (env.version, env.cipher, env.vault_id) == ("1.2", "AES256", "prod")
    only_prod = VaultSecrets.from_password_file(DATA / "pw" / "prod.txt", "prod")
    assert yaml.safe_load(decrypt_if_vault(text, only_prod, "prod.yml")) == PROD_VARS


def test_password_file_content_is_stripped_like_ansible() -> None:
    # pw/prod.txt is "  Pr0d vault pass\n\n": ansible strips the spaces and newlines
    secrets = VaultSecrets.from_password_file(DATA / "pw" / "prod.txt", "prod")
    assert secrets.passwords()[0].reveal() == PW_PROD
    assert secrets.vault_ids == ("prod",)


def test_vaulted_ini_inventory_decrypts(tmp_path: Path) -> None:
    got = load_vault_file(DATA / "hosts.ini.vault", _both())
    assert got == (DATA / "hosts.plain.ini").read_text()
    assert "hv01 ansible_host=10.0.0.11" in got


def test_load_vault_file_passes_plain_files_through() -> None:
    assert load_vault_file(DATA / "hosts.plain.ini", None) == (DATA / "hosts.plain.ini").read_text()


def test_inline_vault_values_in_inventory_become_secrets() -> None:
    path = DATA / "inventory.yml"
    data = _load(path.read_text(encoding="utf-8"), str(path), _both())
    hyperv = data["all"]["children"]["hyperv"]
    hv01, hv02 = hyperv["hosts"]["hv01"], hyperv["hosts"]["hv02"]
    assert isinstance(hv01["ansible_password"], Secret)
    assert hv01["ansible_password"].reveal() == HV01_PASSWORD  # 1.1, default
    assert hv02["ansible_password"].reveal() == HV02_PASSWORD  # 1.2;prod
    assert hv02["hvprov_ssh_key_passphrase"].reveal() == HV02_PASSPHRASE  # UTF-8
    assert hyperv["vars"]["motd"].reveal() == MOTD  # newlines kept
    assert hv01["ansible_host"] == "10.0.0.11"  # plain values untouched
    # locations still work, and the secret says where it came from (never what it is)
    assert isinstance(hv01, LocDict)
    line, _col = _line_of(path, "ansible_password: !vault", 1)
    assert hv02.loc_of("ansible_password") == Location(str(path), line, 11)
    assert hv02["ansible_password"].source == f"vault {path}:{line}"


def test_vault_constructor_bound_to_secrets() -> None:
    class Bound(yaml.SafeLoader):
        pass

    Bound.add_constructor("!vault", vault_constructor(_both()))
    path = DATA / "inventory.yml"
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=Bound)  # noqa: S506 - SafeLoader subclass
    assert data["all"]["children"]["hyperv"]["hosts"]["hv01"]["ansible_password"] == Secret(HV01_PASSWORD)


def test_deprecated_vault_encrypted_tag_is_read() -> None:
    text = "pw: !vault-encrypted |\n  " + encrypt("x1y2z3", PW_DEFAULT).replace("\n", "\n  ")
    assert _load(text, "f.yml", _both())["pw"].reveal() == "x1y2z3"


def test_vaulted_password_file_decrypted_with_an_earlier_password() -> None:
    secrets = VaultSecrets.from_cli(
        vault_ids=[f"default@{DATA / 'pw' / 'default.txt'}", f"prod@{DATA / 'pw' / 'prod-vaulted.txt'}"]
    )
    assert secrets.passwords()[1].reveal() == PW_PROD
    got = load_vault_file(DATA / "prod_vars.vault.yml", VaultSecrets([("prod", secrets.passwords()[1])]))
    assert yaml.safe_load(got) == PROD_VARS


def test_vaulted_password_file_without_earlier_password_is_an_option_error() -> None:
    with pytest.raises(OptionsError, match="no vault password was given") as ei:
        VaultSecrets.from_cli(vault_ids=[f"prod@{DATA / 'pw' / 'prod-vaulted.txt'}"])
    assert ei.value.exit_code == 5
    assert PW_PROD not in str(ei.value)


@pytest.mark.parametrize("vault_id, password", [("default", PW_DEFAULT), ("prod", PW_PROD)])
def test_encrypt_string_is_byte_identical_to_ansible_with_the_same_salt(vault_id: str, password: str) -> None:
    ref = (DATA / "fixed_salt" / f"string_{vault_id}.txt").read_text()
    mine = encrypt_string(HV01_PASSWORD, password, vault_id, name="admin_pw", salt=FIXED_SALT)
    assert mine + "\n" == ref  # the CLI adds the final newline when printing


@pytest.mark.parametrize(
    "plain, ref, vault_id, password",
    [
        ("group_vars_all.plain.yml", "group_vars_all.vault.yml", None, PW_DEFAULT),
        ("prod_vars.plain.yml", "prod_vars.vault.yml", "prod", PW_PROD),
    ],
)
def test_encrypt_file_is_byte_identical_to_ansible_with_the_same_salt(
    plain: str, ref: str, vault_id: str | None, password: str
) -> None:
    expected = (DATA / "fixed_salt" / ref).read_text()
    assert encrypt((DATA / plain).read_text(), password, vault_id, salt=FIXED_SALT) == expected


# --------------------------------------------------------------------------- round trip
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plain=st.binary(max_size=70), vault_id=st.sampled_from([None, "default", "prod", "dev-2"]))
def test_round_trip(plain: bytes, vault_id: str | None) -> None:
    if plain.startswith(b"$ANSIBLE_VAULT"):
        return
    text = encrypt(plain, "pw-" + (vault_id or "d"), vault_id)
    lines = text.split("\n")
    assert lines[-1] == ""  # ends with a newline
    assert all(len(line) <= 80 for line in lines)
    if vault_id in (None, "default"):
        assert lines[0] == "$ANSIBLE_VAULT;1.1;AES256"
    else:
        assert lines[0] == f"$ANSIBLE_VAULT;1.2;AES256;{vault_id}"
    secrets = VaultSecrets([("other", "nope"), (vault_id, "pw-" + (vault_id or "d"))])
    assert decrypt(text, secrets) == plain


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 32, 1000])
def test_round_trip_block_boundaries(size: int) -> None:
    plain = bytes(range(256)) * 4
    plain = plain[:size]
    assert decrypt(encrypt(plain, b"\x00\xffbinary pw"), VaultSecrets([(None, b"\x00\xffbinary pw")])) == plain


def test_each_encryption_uses_a_fresh_salt() -> None:
    a, b = encrypt("same", PW_DEFAULT), encrypt("same", PW_DEFAULT)
    assert a != b
    assert len(parse_envelope(a).salt) == 32
    assert parse_envelope(a).salt != parse_envelope(b).salt


def test_encrypt_refuses_bad_input() -> None:
    with pytest.raises(OptionsError, match="already vault-encrypted"):
        encrypt(encrypt("x", "pw1"), "pw1")
    with pytest.raises(OptionsError, match="empty password"):
        encrypt("x", "")
    with pytest.raises(OptionsError, match="invalid vault-id"):
        encrypt("x", "pw1", "has;semicolon")
    with pytest.raises(OptionsError, match="empty salt"):
        encrypt("x", "pw1", salt=b"")


def test_is_vault() -> None:
    v = encrypt("x", "pw1")
    assert is_vault(v) and is_vault(v.encode())
    assert not is_vault("plain: yes\n")
    assert not is_vault(" " + v)  # as ansible: the header must come first
    assert not is_vault("$ANSIBLE_VAULT;1.1;AES256\nnön-ascii")
    assert not is_vault(None)
    assert not is_vault(42)


# --------------------------------------------------------------------------- password choice
def test_vault_id_in_header_is_only_a_hint_unless_id_match() -> None:
    text = (DATA / "prod_vars.vault.yml").read_text()
    mislabelled = VaultSecrets([("default", PW_DEFAULT), ("other", PW_PROD)])
    assert yaml.safe_load(decrypt_text(text, mislabelled)) == PROD_VARS  # ansible tries them all
    strict = VaultSecrets([("default", PW_DEFAULT), ("other", PW_PROD)], id_match=True)
    with pytest.raises(VaultPasswordError, match="no password for vault-id prod"):
        decrypt(text, strict, Location("prod.yml", 1))


def test_candidates_try_the_matching_vault_id_first() -> None:
    s = VaultSecrets([("a", "pa1"), ("prod", "pp1"), ("b", "pb1"), ("prod", "pp2")])
    assert [v for v, _ in s.candidates("prod")] == ["prod", "prod", "a", "b"]
    assert [v for v, _ in s.candidates(None)] == ["a", "prod", "b", "prod"]


def test_password_for_encrypting() -> None:
    s = VaultSecrets([("a", "pa1"), ("prod", "pp1")])
    assert s.password_for().reveal() == "pa1"
    assert s.password_for("prod").reveal() == "pp1"
    with pytest.raises(OptionsError, match="no password for vault-id 'dev'"):
        s.password_for("dev")


def test_from_cli_order_matches_ansible(tmp_path: Path) -> None:
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return f"  typed {len(asked)}\n"

    s = VaultSecrets.from_cli(
        vault_password_files=[str(DATA / "pw" / "default.txt")],
        ask_vault_pass=True,
        vault_ids=[f"prod@{DATA / 'pw' / 'prod.txt'}", "dev@prompt"],
        prompt=prompt,
        is_tty=lambda: True,
    )
    # --vault-id first (in order), then --vault-password-file, then --ask-vault-pass
    assert s.vault_ids == ("prod", "dev", "default", "default")
    assert [p.reveal() for p in s.passwords()] == [PW_PROD, "typed 1", PW_DEFAULT, "typed 2"]
    assert asked == ["Vault password (dev): ", "Vault password: "]


def test_from_cli_vault_id_without_label_is_a_default_password_file() -> None:
    s = VaultSecrets.from_cli(vault_ids=[str(DATA / "pw" / "default.txt")])
    assert s.vault_ids == ("default",)
    assert s.passwords()[0].reveal() == PW_DEFAULT


def test_from_cli_prompt_needs_a_tty() -> None:
    def prompt(text: str) -> str:
        raise AssertionError("must not prompt without a TTY")

    with pytest.raises(OptionsError, match="--ask-vault-pass needs an interactive terminal") as ei:
        VaultSecrets.from_cli(ask_vault_pass=True, prompt=prompt, is_tty=lambda: False)
    assert ei.value.exit_code == 5


@pytest.mark.parametrize("answer, message", [("   \n", "empty vault password"), (EOFError(), "end of input")])
def test_from_cli_prompt_bad_answers(answer: Any, message: str) -> None:
    def prompt(text: str) -> str:
        if isinstance(answer, BaseException):
            raise answer
        return str(answer)

    with pytest.raises(OptionsError, match=message):
        VaultSecrets.from_cli(ask_vault_pass=True, prompt=prompt, is_tty=lambda: True)


def test_from_cli_missing_password_file_names_the_option(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(OptionsError) as ei:
        VaultSecrets.from_cli(vault_password_files=[str(missing)])
    assert str(ei.value) == f"--vault-password-file {missing}: vault password file not found: {missing}"


def test_password_file_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text(" \n")
    with pytest.raises(SecretSourceError, match="is empty"):
        VaultSecrets.from_password_file(empty)
    with pytest.raises(SecretSourceError, match="is a directory"):
        VaultSecrets.from_password_file(tmp_path)


def test_world_readable_vault_password_file_is_accepted_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pw = tmp_path / "pw.txt"
    pw.write_text(PW_DEFAULT + "\n")
    pw.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="hvprov.secretsources"):
        s = VaultSecrets.from_password_file(pw)
    assert s.passwords()[0].reveal() == PW_DEFAULT
    assert "lets group/others access it" in caplog.text and "chmod 600" in caplog.text
    caplog.clear()
    pw.chmod(0o600)
    with caplog.at_level(logging.WARNING, logger="hvprov.secretsources"):
        VaultSecrets.from_password_file(pw)
    assert caplog.text == ""


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o700)
    return path


def test_executable_password_file_is_run(tmp_path: Path) -> None:
    # stdout CR/LF-stripped only (ansible-core): the trailing space here would be kept
    script = _script(tmp_path / "vault-pass.sh", f"printf '%s\\r\\n' '{PW_DEFAULT}'\n")
    s = VaultSecrets.from_cli(vault_password_files=[str(script)])
    assert s.passwords()[0].reveal() == PW_DEFAULT
    got = load_vault_file(DATA / "group_vars_all.vault.yml", s)
    assert yaml.safe_load(got) == GROUP_VARS_ALL


def test_password_script_output_is_only_cr_lf_stripped(tmp_path: Path) -> None:
    script = _script(tmp_path / "pass.sh", "printf ' spaced \\n'\n")
    assert VaultSecrets.from_password_file(script).passwords()[0].reveal() == " spaced "


def test_client_script_gets_the_vault_id(tmp_path: Path) -> None:
    script = _script(
        tmp_path / "pass-client.sh",
        f'[ "$1" = --vault-id ] || exit 9\n[ "$2" = prod ] && echo "{PW_PROD}" && exit 0\nexit 2\n',
    )
    s = VaultSecrets.from_cli(vault_ids=[f"prod@{script}"])
    assert s.passwords()[0].reveal() == PW_PROD
    with pytest.raises(OptionsError, match="has no password for vault-id 'dev' \\(exit 2\\)"):
        VaultSecrets.from_cli(vault_ids=[f"dev@{script}"])


def test_failing_password_script(tmp_path: Path) -> None:
    script = _script(tmp_path / "pass.sh", "echo leaked-on-stdout; exit 3\n")
    with pytest.raises(SecretSourceError, match="failed \\(exit status 3\\)") as ei:
        VaultSecrets.from_password_file(script)
    assert "leaked-on-stdout" not in str(ei.value)
    silent = _script(tmp_path / "silent.sh", "exit 0\n")
    with pytest.raises(SecretSourceError, match="printed no password"):
        VaultSecrets.from_password_file(silent)
    notscript = tmp_path / "pw.bin"
    notscript.write_bytes(b"\x7fELFgarbage")
    notscript.chmod(0o700)
    with pytest.raises(SecretSourceError, match="remove its executable bit"):
        VaultSecrets.from_password_file(notscript)


# --------------------------------------------------------------------------- errors
def test_wrong_password_names_file_line_vault_id_and_count() -> None:
    path = DATA / "inventory.yml"
    wrong = VaultSecrets([("default", "not it"), ("prod", "nor this")])
    with pytest.raises(VaultPasswordError) as ei:
        _load(path.read_text(encoding="utf-8"), str(path), wrong)
    exc = ei.value
    assert isinstance(exc, InputError) and exc.exit_code == 4
    line, col = _line_of(path, "ansible_password: !vault", 0)
    col += len("ansible_password: ")  # the error points at the tag
    assert exc.location == Location(str(path), line, col)
    assert str(exc) == (
        f"{path}:{line}:{col}: vault: no password could decrypt this value (vault-id default); "
        "tried 2 passwords (vault-ids: default, prod)"
    )
    assert "not it" not in str(exc) and HV01_PASSWORD not in str(exc)


def test_wrong_password_for_a_whole_file() -> None:
    with pytest.raises(VaultPasswordError) as ei:
        load_vault_file(DATA / "prod_vars.vault.yml", VaultSecrets([("prod", PW_DEFAULT)]))
    assert str(ei.value) == (
        f"{DATA / 'prod_vars.vault.yml'}:1: vault: no password could decrypt this file "
        "(vault-id prod); tried 1 password (vault-ids: prod)"
    )


@pytest.mark.parametrize("secrets", [None, VaultSecrets()])
def test_no_password_given(secrets: VaultSecrets | None) -> None:
    text = "a: 1\nb: !vault |\n  " + encrypt("s3cr3t", "pw1", "lab").replace("\n", "\n  ")
    with pytest.raises(VaultPasswordError) as ei:
        _load(text, "inv.yml", secrets)
    assert str(ei.value) == (
        "inv.yml:2:4: vault: this value is encrypted (vault-id lab) but no vault password was given "
        "(use --vault-password-file, --vault-id or --ask-vault-pass)"
    )


def _rebuild(text: str, mutate: Any) -> str:
    """Re-envelope vault text after `mutate`([salt_hex, hmac_hex, ct_hex]) -> list."""
    lines = text.splitlines()
    inner = binascii.unhexlify("".join(lines[1:])).split(b"\n", 2)
    body = binascii.hexlify(b"\n".join(mutate(inner))).decode()
    return "\n".join([lines[0]] + [body[i:i + 80] for i in range(0, len(body), 80)]) + "\n"


def _flip(hexdata: bytes, index: int) -> bytes:
    b = bytearray(hexdata)
    b[index] = ord("0") if b[index] != ord("0") else ord("1")
    return bytes(b)


@pytest.mark.parametrize("part, index", [(1, 0), (1, 63), (2, 0), (2, -1), (0, 5)])
def test_tampering_is_rejected(part: int, index: int) -> None:
    good = encrypt("the plaintext", PW_DEFAULT)
    secrets = VaultSecrets([(None, PW_DEFAULT)])
    assert decrypt(good, secrets) == b"the plaintext"

    def mutate(inner: list[bytes]) -> list[bytes]:
        inner[part] = _flip(inner[part], index)
        return inner

    with pytest.raises(VaultPasswordError, match="no password could decrypt"):
        decrypt(_rebuild(good, mutate), secrets, Location("x.yml", 3, 5))


def test_tampered_vault_id_only_changes_the_order() -> None:
    # the header is not authenticated (as in Ansible): relabelling does not break decryption
    good = (DATA / "prod_vars.vault.yml").read_text()
    relabelled = good.replace(";prod\n", ";other\n", 1)
    assert yaml.safe_load(decrypt_text(relabelled, VaultSecrets([("prod", PW_PROD)]))) == PROD_VARS


_GOOD = encrypt("abc", "pw1")


@pytest.mark.parametrize(
    "text, message",
    [
        ("$ANSIBLE_VAULT\n00\n", "malformed header"),
        ("$ANSIBLE_VAULTX;1.1;AES256\n00\n", "malformed header"),
        ("$ANSIBLE_VAULT;1.0;AES\n00\n", "unsupported format version '1.0'"),
        ("$ANSIBLE_VAULT;1.1;AES128\n00\n", "unsupported cipher 'AES128'"),
        ("$ANSIBLE_VAULT;1.1;AES256\n", "nothing after the header"),
        ("$ANSIBLE_VAULT;1.1;AES256\nzz\n", "the body is not hexadecimal"),
        ("$ANSIBLE_VAULT;1.1;AES256\n616\n", "the body is not hexadecimal"),
        ("$ANSIBLE_VAULT;1.1;AES256\n" + binascii.hexlify(b"aa\nbb").decode(), "expected salt, HMAC"),
        (_rebuild(_GOOD, lambda p: [b"", p[1], p[2]]), "empty salt"),
        (_rebuild(_GOOD, lambda p: [p[0], b"zz" + p[1][2:], p[2]]), "the HMAC is not hexadecimal"),
        (_rebuild(_GOOD, lambda p: [p[0], p[1][:-2], p[2]]), "the HMAC is 31 bytes"),
        (_rebuild(_GOOD, lambda p: [p[0], p[1], p[2][:-2]]), "not a whole number of AES blocks"),
        (_rebuild(_GOOD, lambda p: [p[0], p[1], b""]), "not a whole number of AES blocks"),
        ("plain text", "not vault-encrypted data"),
    ],
)
def test_malformed_envelopes(text: str, message: str) -> None:
    with pytest.raises(VaultFormatError, match=message) as ei:
        decrypt(text, VaultSecrets([(None, "pw1")]), Location("bad.yml", 7, 3))
    assert str(ei.value).startswith("bad.yml:7:3: vault: ")
    assert ei.value.exit_code == 4


def test_vault_tag_must_be_on_vault_text() -> None:
    with pytest.raises(VaultFormatError, match="must be on a string") as ei:
        _load("x:\n  y: !vault {a: 1}\n", "f.yml", _both())
    assert ei.value.location == Location("f.yml", 2, 6)
    with pytest.raises(VaultFormatError, match="must start with \\$ANSIBLE_VAULT") as ei:
        _load("x: !vault hunter2\n", "f.yml", _both())
    assert "hunter2" not in str(ei.value)


def test_non_utf8_plaintext_is_an_error_for_a_value() -> None:
    text = "x: !vault |\n  " + encrypt(b"\xff\xfe", "pw1").replace("\n", "\n  ")
    with pytest.raises(VaultError, match="the decrypted value is not UTF-8 text") as ei:
        _load(text, "f.yml", VaultSecrets([(None, "pw1")]))
    assert ei.value.location == Location("f.yml", 1, 4)


def test_vault_secrets_validation() -> None:
    with pytest.raises(OptionsError, match="empty vault password"):
        VaultSecrets([("a", "")])
    with pytest.raises(OptionsError, match="invalid vault-id"):
        VaultSecrets([("a b", "pw1")])


# --------------------------------------------------------------------------- never shown
def test_secrets_are_never_shown() -> None:
    path = DATA / "inventory.yml"
    secrets = _both()
    data = _load(path.read_text(encoding="utf-8"), str(path), secrets)
    pw = data["all"]["children"]["hyperv"]["hosts"]["hv02"]["ansible_password"]
    for shown in (str(pw), repr(pw), f"{pw}", f"{pw!r}", f"{pw:>30}", "%s" % pw, format(pw, "")):  # noqa: UP031
        assert HV02_PASSWORD not in shown
        assert MASK in shown
    dumped = json.dumps(mask(dict(data)), default=str)
    for plain in (HV01_PASSWORD, HV02_PASSWORD, HV02_PASSPHRASE, "line one"):
        assert plain not in dumped
        assert plain not in repr(data)
    for p in (PW_DEFAULT, PW_PROD):
        assert p not in repr(secrets)
        assert p not in repr(secrets.passwords())
    assert repr(secrets) == "VaultSecrets(vault_ids=['default', 'prod'], id_match=False)"
    assert "ANSIBLE" not in repr(parse_envelope((DATA / "prod_vars.vault.yml").read_text()))


def test_vault_passwords_can_be_scrubbed_from_output() -> None:
    secrets = _both()
    reg = SecretRegistry()
    for p in secrets.passwords():
        reg.add(p)
    assert reg.scrub(f"oops {PW_PROD} and {PW_DEFAULT}") == f"oops {MASK} and {MASK}"


def test_password_files_keep_arbitrary_bytes(tmp_path: Path) -> None:
    pw = tmp_path / "binary.pw"
    pw.write_bytes(b"\x00\x9f\xffkey\n")
    os.chmod(pw, stat.S_IRUSR)
    s = VaultSecrets.from_password_file(pw)
    text = encrypt("ok", b"\x00\x9f\xffkey")
    assert decrypt(text, s) == b"ok"
