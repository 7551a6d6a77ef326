"""The rest of ansible.builtin: urls.py, urlsplit.py, encryption.py filters; vault tests."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus, urlsplit

_URL_PARTS = ("fragment", "hostname", "netloc", "password", "path", "port", "query", "scheme", "username")


def split_url(value: Any, query: str = "", alias: str = "urlsplit") -> Any:
    parts = urlsplit(value)
    results = {k: getattr(parts, k) for k in _URL_PARTS}
    if query:
        if query not in results:
            raise ValueError(f"{alias}: unknown URL component: {query}")
        return results[query]
    return results


def do_vault(data: Any, secret: Any, salt: Any = None, vault_id: str = "filter_default",
             wrap_object: bool = False, vaultid: Any = None) -> str:
    from ..vault import encrypt

    if not isinstance(secret, (str, bytes)):
        raise TypeError(f"Secret passed is required to be a string, instead we got {type(secret)}.")
    if not isinstance(data, (str, bytes)):
        raise TypeError(f"Can only vault strings, instead we got {type(data)}.")
    if vaultid is not None and vault_id == "filter_default":
        vault_id = vaultid
    raw_salt = salt.encode("utf-8") if isinstance(salt, str) else salt
    return encrypt(data, secret, vault_id, salt=raw_salt)


def do_unvault(vault: Any, secret: Any, vault_id: str = "filter_default", vaultid: Any = None) -> str:
    from ..secrets import Secret
    from ..vault import VaultSecrets, decrypt_text, is_vault

    if not isinstance(secret, (str, bytes)):
        raise TypeError(f"Secret passed is required to be as string, instead we got {type(secret)}.")
    if isinstance(vault, Secret):
        return vault.reveal()
    if not isinstance(vault, (str, bytes)):
        raise TypeError(f"Vault should be in the form of a string, instead we got {type(vault)}.")
    if vaultid is not None and vault_id == "filter_default":
        vault_id = vaultid
    if is_vault(vault):
        return decrypt_text(vault, VaultSecrets([(vault_id, secret)]))
    return vault.decode("utf-8") if isinstance(vault, bytes) else vault


def vault_encrypted(value: Any) -> bool:
    """True for a `!vault` value; a string holding vault text is just a string (as in 2.19)."""
    from ..secrets import Secret

    return isinstance(value, Secret) and value.source.startswith("vault")


def vaulted_file(value: Any) -> bool:
    from ..vault import is_vault

    try:
        with open(value, "rb") as fh:
            return is_vault(fh.read(64))
    except OSError:
        raise ValueError(f"Cannot test if the file {value!r} is a vault.") from None


FILTERS: dict[str, Any] = {"urldecode": unquote_plus, "urlsplit": split_url, "vault": do_vault, "unvault": do_unvault}
TESTS: dict[str, Any] = {"vault_encrypted": vault_encrypted, "vaulted_file": vaulted_file}
