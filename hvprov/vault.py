"""Ansible Vault, read and written exactly as ansible-core does.

Formats (ansible-core ``ansible/parsing/vault``)::

    $ANSIBLE_VAULT;1.1;AES256                 no vault-id (the id is "default")
    $ANSIBLE_VAULT;1.2;AES256;<vault-id>      written whenever a vault-id other than "default" is used
    <hex, 80 characters a line>

The body unhexlifies to three lines ``hex(salt) \\n hex(hmac) \\n hex(ciphertext)``.
PBKDF2-HMAC-SHA256 (10,000 iterations) of the password and salt gives 80 bytes: key1 (32,
AES-256-CTR), key2 (32, HMAC-SHA256 over the ciphertext) and the counter block (16). The
plaintext is PKCS#7 padded to the AES block. The HMAC is checked (in constant time) before
anything is decrypted. The vault-id in the header is not authenticated: it only says which
password to try first, and, as in Ansible (unless ``id_match``), every other password is
tried after it.

Where vault data appears:

* whole files (inventory, group_vars/host_vars, vars_files, ``-e @file``): `decrypt_if_vault`
  / `load_vault_file` turn them into plaintext before YAML/INI parsing;
* ``!vault`` tagged scalars in YAML: `construct_vault` (reads ``loader.hv_vault_secrets``)
  or `vault_constructor(secrets)`; both give a `Secret`.

Errors are `VaultError` (an `InputError`: exit 4) naming file:line. Messages never contain a
password or any plaintext, nor the ciphertext.
"""

from __future__ import annotations

import binascii
import getpass
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError, Location, OptionsError
from .secrets import Secret
from .vaulttext import HEADER, YAML_TAGS, is_vault  # noqa: F401 - re-exported (moved for start-up)

__all__ = [
    "DEFAULT_VAULT_ID",
    "HEADER",
    "VaultEnvelope",
    "VaultError",
    "VaultFormatError",
    "VaultPasswordError",
    "VaultSecrets",
    "construct_vault",
    "decrypt",
    "decrypt_if_vault",
    "decrypt_text",
    "encrypt",
    "encrypt_string",
    "is_vault",
    "load_vault_file",
    "parse_envelope",
    "split_vault_id",
    "vault_constructor",
]

DEFAULT_VAULT_ID = "default"  # ansible-core's DEFAULT_VAULT_IDENTITY
CIPHER = "AES256"
VERSIONS = ("1.1", "1.2")
ITERATIONS = 10_000
KEY_LENGTH = 32
IV_LENGTH = 16
SALT_LENGTH = 32  # what ansible-core writes (os.urandom(32)); any non-empty salt is read
LINE_WIDTH = 80
_HEX = re.compile(rb"\A[0-9a-fA-F]*\Z")
_VAULT_ID_RE = re.compile(r"\A[^\s;@]+\Z")

PromptFn = Callable[[str], str]


# --------------------------------------------------------------------------- errors
class VaultError(InputError):
    """Vault data that cannot be read: exit 4, names file:line."""


class VaultFormatError(VaultError):
    """The text is not a well-formed vault envelope."""


class VaultPasswordError(VaultError):
    """No known vault password decrypts the data (or none was given)."""


def _here(where: Location | None) -> Location:
    return where if where is not None else Location("<vault data>")


# --------------------------------------------------------------------------- envelope
@dataclass(frozen=True)
class VaultEnvelope:
    """A parsed vault text. `vault_id` is None for 1.1 (meaning "default")."""

    version: str
    cipher: str
    vault_id: str | None
    salt: bytes
    hmac: bytes
    ciphertext: bytes

    def __repr__(self) -> str:  # the body is not secret, but it is long and useless in messages
        return f"VaultEnvelope(version={self.version!r}, cipher={self.cipher!r}, vault_id={self.vault_id!r})"


def _unhex(data: bytes, what: str, where: Location | None) -> bytes:
    if not _HEX.match(data) or len(data) % 2:
        raise VaultFormatError(f"vault: malformed encrypted data: {what} is not hexadecimal",
                               location=_here(where))
    return binascii.unhexlify(data)


def parse_envelope(text: str | bytes, where: Location | None = None) -> VaultEnvelope:
    """Split a vault text into header fields and the binary salt, HMAC and ciphertext."""
    if not is_vault(text):
        raise VaultFormatError(
            f"vault: not vault-encrypted data (it must start with {HEADER};1.1;{CIPHER})",
            location=_here(where),
        )
    raw = text.encode("ascii") if isinstance(text, str) else bytes(text)
    lines = raw.splitlines()
    fields = [f.strip().decode("ascii") for f in lines[0].split(b";")]
    if fields[0] != HEADER or len(fields) < 3:
        raise VaultFormatError(
            f"vault: malformed header (expected {HEADER};1.1;{CIPHER} or "
            f"{HEADER};1.2;{CIPHER};<vault-id>)",
            location=_here(where),
        )
    version, cipher = fields[1], fields[2]
    if version not in VERSIONS:
        raise VaultFormatError(
            f"vault: unsupported format version {version!r} (hvprov reads 1.1 and 1.2)",
            location=_here(where),
        )
    if cipher != CIPHER:
        raise VaultFormatError(
            f"vault: unsupported cipher {cipher!r} (only {CIPHER} exists in vault 1.1/1.2)",
            location=_here(where),
        )
    vault_id = fields[3] if len(fields) >= 4 and fields[3] else None
    body = b"".join(line.strip() for line in lines[1:])
    if not body:
        raise VaultFormatError("vault: malformed encrypted data: nothing after the header",
                               location=_here(where))
    inner = _unhex(body, "the body", where)
    parts = inner.split(b"\n", 2)
    if len(parts) != 3:
        raise VaultFormatError(
            "vault: malformed encrypted data: expected salt, HMAC and ciphertext",
            location=_here(where),
        )
    salt = _unhex(parts[0], "the salt", where)
    mac = _unhex(parts[1], "the HMAC", where)
    ciphertext = _unhex(parts[2], "the ciphertext", where)
    if not salt:
        raise VaultFormatError("vault: malformed encrypted data: empty salt", location=_here(where))
    if len(mac) != 32:
        raise VaultFormatError(
            f"vault: malformed encrypted data: the HMAC is {len(mac)} bytes, not 32",
            location=_here(where),
        )
    if not ciphertext or len(ciphertext) % 16:
        raise VaultFormatError(
            "vault: malformed encrypted data: the ciphertext is not a whole number of AES blocks "
            "(truncated?)",
            location=_here(where),
        )
    return VaultEnvelope(version, cipher, vault_id, salt, mac, ciphertext)


# --------------------------------------------------------------------------- crypto
def _password_bytes(password: Secret | str | bytes) -> bytes:
    if isinstance(password, Secret):
        return password.reveal().encode("utf-8", "surrogateescape")
    if isinstance(password, str):
        return password.encode("utf-8", "surrogateescape")
    return bytes(password)


def _derive(password: bytes, salt: bytes) -> tuple[bytes, bytes, bytes]:
    from cryptography.hazmat.primitives import hashes  # imported on the first vault value (start-up)
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=2 * KEY_LENGTH + IV_LENGTH, salt=salt,
                     iterations=ITERATIONS)
    key = kdf.derive(password)
    return key[:KEY_LENGTH], key[KEY_LENGTH:2 * KEY_LENGTH], key[2 * KEY_LENGTH:]


def _try_decrypt(env: VaultEnvelope, password: bytes, where: Location | None) -> bytes | None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.hmac import HMAC

    key1, key2, iv = _derive(password, env.salt)
    mac = HMAC(key2, hashes.SHA256())
    mac.update(env.ciphertext)
    try:
        mac.verify(env.hmac)  # constant time
    except InvalidSignature:
        return None
    decryptor = Cipher(algorithms.AES(key1), modes.CTR(iv)).decryptor()
    padded = decryptor.update(env.ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise VaultFormatError(
            "vault: the data authenticated but its padding is invalid (not written by ansible-vault?)",
            location=_here(where),
        ) from None


def _encrypt_body(plaintext: bytes, password: bytes, salt: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes, padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.hmac import HMAC

    key1, key2, iv = _derive(password, salt)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key1), modes.CTR(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    mac = HMAC(key2, hashes.SHA256())
    mac.update(ciphertext)
    inner = b"\n".join([binascii.hexlify(salt), binascii.hexlify(mac.finalize()),
                        binascii.hexlify(ciphertext)])
    return binascii.hexlify(inner)


# --------------------------------------------------------------------------- passwords
@dataclass(frozen=True)
class _Entry:
    vault_id: str
    password: Secret
    origin: str  # "file pw.txt", "script x", "prompt": never the password


class VaultSecrets:
    """The vault passwords of one run, in the order they were given, each with a vault-id.

    Decrypting tries the passwords whose vault-id equals the data's first, then (unless
    `id_match`, Ansible's ``ANSIBLE_VAULT_ID_MATCH``) all the others, like ansible-core.
    """

    def __init__(self, passwords: Iterable[tuple[str | None, Secret | str | bytes]] = (), *,
                 id_match: bool = False) -> None:
        self._entries: list[_Entry] = []
        self.id_match = id_match
        for vault_id, password in passwords:
            self.add(vault_id, password)

    # ---- building
    def add(self, vault_id: str | None, password: Secret | str | bytes, *, origin: str = "") -> None:
        """Add a password; `vault_id` None or "" means "default"."""
        vid = vault_id or DEFAULT_VAULT_ID
        if not _VAULT_ID_RE.match(vid):
            raise OptionsError(f"vault: invalid vault-id {vid!r} (no spaces, ';' or '@')")
        if isinstance(password, Secret):
            secret = password
        elif isinstance(password, str):
            secret = Secret(password, source=origin)
        else:
            secret = Secret(bytes(password).decode("utf-8", "surrogateescape"), source=origin)
        if not secret.reveal():
            raise OptionsError(f"vault: empty vault password for vault-id {vid!r}"
                               + (f" from {origin}" if origin else ""))
        self._entries.append(_Entry(vid, secret, origin or secret.source or "given"))

    @classmethod
    def from_password_file(cls, path: str | os.PathLike[str], vault_id: str | None = None) -> VaultSecrets:
        """One password from a file (content stripped) or an executable (its stdout)."""
        out = cls()
        out.add_password_file(path, vault_id)
        return out

    @classmethod
    def from_prompt(cls, prompt: PromptFn, vault_id: str | None = None) -> VaultSecrets:
        """One password from a prompt callback (e.g. ``getpass.getpass``); no TTY check here."""
        out = cls()
        text = "Vault password: " if not vault_id else f"Vault password ({vault_id}): "
        out.add(vault_id, _stripped_prompt(prompt, text), origin="prompt")
        return out

    @classmethod
    def from_cli(
        cls,
        vault_password_files: Sequence[str] = (),
        ask_vault_pass: bool = False,
        vault_ids: Sequence[str] = (),
        *,
        prompt: PromptFn = getpass.getpass,
        is_tty: Callable[[], bool] | None = None,
        id_match: bool = False,
    ) -> VaultSecrets:
        """The passwords of ``--vault-id``, ``--vault-password-file`` and ``--ask-vault-pass``.

        Same order and meaning as ansible-core: every ``--vault-id [LABEL@]SOURCE`` first
        (SOURCE is ``prompt`` or a password file/script; no LABEL means "default"), then each
        ``--vault-password-file`` as ``default@FILE``, then ``--ask-vault-pass`` (prompt
        "Vault password: "). A password file may itself be vault-encrypted with an earlier
        password. Unlike Ansible, a source that fails is an error (OptionsError, exit 5), not a
        warning. Prompts need a TTY on stdin. Environment defaults (ANSIBLE_VAULT_PASSWORD_FILE,
        ANSIBLE_VAULT_IDENTITY_LIST) are the caller's to merge into the lists.
        """
        from .secretsources import SecretSourceError, require_tty

        out = cls(id_match=id_match)
        slugs: list[tuple[str, str]] = [(f"--vault-id {v}", v) for v in vault_ids]
        slugs += [(f"--vault-password-file {f}", f"{DEFAULT_VAULT_ID}@{f}") for f in vault_password_files]
        if ask_vault_pass:
            slugs.append(("--ask-vault-pass", f"{DEFAULT_VAULT_ID}@prompt_ask_vault_pass"))
        for option, slug in slugs:
            label, source = split_vault_id(slug)
            if not source:
                raise OptionsError(f"{option}: expected [LABEL@]FILE or [LABEL@]prompt")
            try:
                if source in ("prompt", "prompt_ask_vault_pass"):
                    require_tty(option, is_tty)
                    text = ("Vault password: " if source == "prompt_ask_vault_pass"
                            else f"Vault password ({label or DEFAULT_VAULT_ID}): ")
                    out.add(label, _stripped_prompt(prompt, text), origin="prompt")
                else:
                    out.add_password_file(source, label)
            except (SecretSourceError, VaultError) as exc:
                raise OptionsError(f"{option}: {exc.detail}") from None
            except OptionsError as exc:
                raise OptionsError(f"{option}: {exc}") from None
        return out

    def add_password_file(self, path: str | os.PathLike[str], vault_id: str | None = None) -> None:
        """Ansible's FileVaultSecret / ScriptVaultSecret / ClientScriptVaultSecret.

        Raises SecretSourceError (an InputError naming the file) when it cannot be read/run.
        """
        from .secretsources import read_vault_password_file

        raw, origin = read_vault_password_file(path, vault_id or DEFAULT_VAULT_ID)
        if is_vault(raw):  # ansible-core: a password file may be vaulted with an earlier password
            raw = decrypt(raw, self, Location(str(path), 1), what="password file").strip(b"\r\n")
        self.add(vault_id, raw, origin=origin)

    # ---- reading
    @property
    def vault_ids(self) -> tuple[str, ...]:
        return tuple(e.vault_id for e in self._entries)

    def passwords(self) -> tuple[Secret, ...]:
        """Every password (register them with SecretRegistry.add so that output is scrubbed)."""
        return tuple(e.password for e in self._entries)

    def candidates(self, vault_id: str | None) -> list[tuple[str, Secret]]:
        """Passwords to try for data with `vault_id`, in order."""
        vid = vault_id or DEFAULT_VAULT_ID
        first = [e for e in self._entries if e.vault_id == vid]
        rest = [] if self.id_match else [e for e in self._entries if e.vault_id != vid]
        return [(e.vault_id, e.password) for e in first + rest]

    def password_for(self, vault_id: str | None = None) -> Secret:
        """The password to encrypt with: the first of `vault_id`, or the first of all."""
        for e in self._entries:
            if vault_id is None or e.vault_id == vault_id:
                return e.password
        have = ", ".join(self.vault_ids) or "none"
        raise OptionsError(f"vault: no password for vault-id {vault_id!r} (have: {have})")

    def __len__(self) -> int:
        return len(self._entries)

    def __bool__(self) -> bool:
        return bool(self._entries)

    def __repr__(self) -> str:
        return f"VaultSecrets(vault_ids={list(self.vault_ids)!r}, id_match={self.id_match})"


def _stripped_prompt(prompt: PromptFn, text: str) -> str:
    try:
        answer = prompt(text)
    except EOFError:
        raise OptionsError(f"vault: no answer to the prompt {text.strip()!r} (end of input)") from None
    answer = (answer or "").strip()  # ansible-core strips prompted vault passwords
    if not answer:
        raise OptionsError("vault: an empty vault password was entered")
    return answer


def split_vault_id(slug: str) -> tuple[str | None, str]:
    """``LABEL@SOURCE`` -> (LABEL, SOURCE); no '@' -> (None, slug); as ansible-core."""
    if "@" not in slug:
        return None, slug
    label, source = slug.split("@", 1)
    return (label or None), source


# --------------------------------------------------------------------------- decrypt
def decrypt(text: str | bytes, secrets: VaultSecrets | None, where: Location | None = None, *,
            what: str = "data") -> bytes:
    """Decrypt vault text with the first password that authenticates it.

    `where` (file:line of the data) is the location of every error; `what` names the data in
    messages ("value", "file"). Raises VaultFormatError for a
    malformed envelope and VaultPasswordError when no password (or none at all) fits.
    """
    env = parse_envelope(text, where)
    vid = env.vault_id or DEFAULT_VAULT_ID
    if not secrets:
        raise VaultPasswordError(
            f"vault: this {what} is encrypted (vault-id {vid}) but no vault password was given "
            "(use --vault-password-file, --vault-id or --ask-vault-pass)",
            location=_here(where),
        )
    candidates = secrets.candidates(env.vault_id)
    if not candidates:
        raise VaultPasswordError(
            f"vault: no password for vault-id {vid} (given: {', '.join(secrets.vault_ids)}; "
            "vault-id matching is enforced)",
            location=_here(where),
        )
    for _vid, password in candidates:
        plaintext = _try_decrypt(env, _password_bytes(password), where)
        if plaintext is not None:
            return plaintext
    n = len(candidates)
    raise VaultPasswordError(
        f"vault: no password could decrypt this {what} (vault-id {vid}); "
        f"tried {n} password{'s' if n != 1 else ''} (vault-ids: {', '.join(v for v, _ in candidates)})",
        location=_here(where),
    )


def decrypt_text(text: str | bytes, secrets: VaultSecrets | None, where: Location | None = None, *,
                 what: str = "data") -> str:
    """`decrypt`, then UTF-8 decode (an error, not mojibake, if the plaintext is not UTF-8)."""
    raw = decrypt(text, secrets, where, what=what)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise VaultError(f"vault: the decrypted {what} is not UTF-8 text", location=_here(where)) from None


def decrypt_if_vault(text: str, secrets: VaultSecrets | None, filename: str) -> str:
    """Whole-file vault: the plaintext if `text` (a file's content) is vault data, else `text`."""
    if not is_vault(text):
        return text
    return decrypt_text(text, secrets, Location(filename, 1), what="file")


def load_vault_file(path: str | os.PathLike[str], secrets: VaultSecrets | None) -> str:
    """Read a text file that may be entirely vault-encrypted; return its (decrypted) text."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", location=Location(str(path))) from None
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", location=Location(str(path))) from None
    if is_vault(raw):
        return decrypt_text(raw, secrets, Location(str(path), 1), what="file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason})", location=Location(str(path))) from None


# --------------------------------------------------------------------------- YAML
def _construct(loader: Any, node: Any, secrets: VaultSecrets | None) -> Secret:
    import yaml

    m = node.start_mark
    filename = getattr(loader, "hv_filename", None) or m.name
    where = Location(filename, m.line + 1, m.column + 1)
    if not isinstance(node, yaml.ScalarNode):
        raise VaultFormatError(f"vault: the {node.tag} tag must be on a string (the output of "
                               "ansible-vault encrypt_string)", location=where)
    text = loader.construct_scalar(node)
    if not is_vault(text):
        raise VaultFormatError(f"vault: a {node.tag} value must start with {HEADER}", location=where)
    return Secret(decrypt_text(text, secrets, where, what="value"), source=f"vault {filename}:{m.line + 1}")


def construct_vault(loader: Any, node: Any) -> Secret:
    """PyYAML constructor for ``!vault``: decrypts with ``loader.hv_vault_secrets``.

    Register once on the loader class; set ``hv_vault_secrets`` on each loader instance.
    """
    return _construct(loader, node, getattr(loader, "hv_vault_secrets", None))


def vault_constructor(secrets: VaultSecrets | None) -> Callable[[Any, Any], Secret]:
    """A PyYAML constructor for ``!vault`` bound to `secrets`."""

    def constructor(loader: Any, node: Any) -> Secret:
        return _construct(loader, node, secrets)

    return constructor


# --------------------------------------------------------------------------- encrypt
def encrypt(plaintext: str | bytes, password: Secret | str | bytes, vault_id: str | None = None, *,
            salt: bytes | None = None) -> str:
    """Vault text as ``ansible-vault encrypt`` writes it (1.1, or 1.2 with a vault-id).

    `salt` is for reproducible output only (ansible's VAULT_ENCRYPT_SALT); by default 32 random
    bytes. The result ends with a newline; lines are 80 characters.
    """
    raw = plaintext.encode("utf-8") if isinstance(plaintext, str) else bytes(plaintext)
    if is_vault(raw):
        raise OptionsError("vault: the input is already vault-encrypted")
    pw = _password_bytes(password)
    if not pw:
        raise OptionsError("vault: an empty password cannot encrypt")
    if salt is not None and not salt:
        raise OptionsError("vault: empty salt")
    if vault_id is not None and not _VAULT_ID_RE.match(vault_id):
        raise OptionsError(f"vault: invalid vault-id {vault_id!r} (no spaces, ';' or '@')")
    body = _encrypt_body(raw, pw, salt if salt is not None else os.urandom(SALT_LENGTH)).decode("ascii")
    if vault_id and vault_id != DEFAULT_VAULT_ID:
        header = f"{HEADER};1.2;{CIPHER};{vault_id}"
    else:
        header = f"{HEADER};1.1;{CIPHER}"
    lines = [header] + [body[i:i + LINE_WIDTH] for i in range(0, len(body), LINE_WIDTH)]
    return "\n".join(lines) + "\n"


def encrypt_string(plaintext: str | bytes, password: Secret | str | bytes, vault_id: str | None = None,
                   *, name: str | None = None, salt: bytes | None = None, indent: int = 10) -> str:
    """YAML as ``ansible-vault encrypt_string [--name NAME]`` prints it (``NAME: !vault |`` ...)."""
    head = f"{name}: !vault |" if name else "!vault |"
    vaulted = encrypt(plaintext, password, vault_id, salt=salt)
    return "\n".join([head] + [" " * indent + line for line in vaulted.splitlines()])
