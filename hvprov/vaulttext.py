"""What every input load asks about Ansible Vault: is this text vault data (`is_vault`), and the
``!vault`` YAML tags. Kept apart from hvprov.vault (its envelope parsing, cryptography and
password sources), which is imported only when vault data or a vault option is met, so a run
without vault does not pay for it at start-up (docs/cli-startup.md)."""

from __future__ import annotations

from typing import Any

HEADER = "$ANSIBLE_VAULT"
YAML_TAGS = ("!vault", "!vault-encrypted")  # the second is Ansible's deprecated spelling


def is_vault(data: str | bytes | Any) -> bool:
    """True if `data` is vault-encrypted text (ASCII that starts with ``$ANSIBLE_VAULT``).

    The same test as ansible-core's ``is_encrypted``: non-ASCII or non-string data is not vault.
    """
    if isinstance(data, str):
        try:
            raw = data.encode("ascii")
        except UnicodeEncodeError:
            return False
    elif isinstance(data, (bytes, bytearray)):
        raw = bytes(data)
        if not raw.isascii():
            return False
    else:
        return False
    return raw.startswith(HEADER.encode())


def decrypt_if_vault(text: str, secrets: Any, filename: str) -> str:
    """hvprov.vault.decrypt_if_vault, which is imported only when `text` is vault data."""
    if not is_vault(text):
        return text
    from .vault import decrypt_if_vault as decrypt

    return decrypt(text, secrets, filename)


def construct_vault(loader: Any, node: Any) -> Any:
    """hvprov.vault.construct_vault (the ``!vault`` constructor), imported on the first tag met."""
    from .vault import construct_vault as construct

    return construct(loader, node)
