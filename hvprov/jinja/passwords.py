"""password_hash as ansible-core computes it: with passlib, the same implicit rounds and idents."""

from __future__ import annotations

import warnings
from typing import Any

_MAPPING = {"md5": "md5_crypt", "blowfish": "bcrypt", "sha256": "sha256_crypt", "sha512": "sha512_crypt"}
# algorithm: (implicit rounds, implicit ident) -- ansible.utils.encrypt.BaseHash.algorithms
_IMPLICIT: dict[str, tuple[int | None, str | None]] = {
    "md5_crypt": (None, None), "bcrypt": (12, "2b"), "sha256_crypt": (535000, None), "sha512_crypt": (656000, None),
}


class HashError(ValueError):
    pass


def hash_password(password: Any, hashtype: str = "sha512", salt: Any = None, salt_size: Any = None,
                  rounds: Any = None, ident: Any = None) -> str:
    with warnings.catch_warnings():  # passlib imports the stdlib crypt module, deprecated in 3.11
        warnings.simplefilter("ignore", DeprecationWarning)
        import passlib.hash  # type: ignore[import-untyped]
        from passlib.utils import bcrypt64  # type: ignore[import-untyped]
        from passlib.utils.handlers import HasRawSalt, PrefixWrapper  # type: ignore[import-untyped]

    algorithm = _MAPPING.get(hashtype, hashtype)
    if algorithm not in _IMPLICIT:
        raise HashError(f"{algorithm} is not in the list of supported passlib algorithms: {', '.join(_MAPPING)}")
    algo = getattr(passlib.hash, algorithm)
    implicit_rounds, implicit_ident = _IMPLICIT[algorithm]
    settings: dict[str, Any] = {}
    if salt:
        raw = issubclass(algo.wrapped if isinstance(algo, PrefixWrapper) else algo, HasRawSalt)
        salt = str(salt).encode("ascii") if raw else str(salt)
        if algorithm == "bcrypt":
            salt = bcrypt64.repair_unused(salt)
        settings["salt"] = salt
    if salt_size is not None and not isinstance(salt_size, int):
        raise HashError("salt_size must be an integer")
    if salt_size:
        settings["salt_size"] = salt_size
    if rounds or implicit_rounds:
        settings["rounds"] = rounds or implicit_rounds
    use_ident = implicit_ident if not ident else (ident if algorithm == "bcrypt" else None)
    if use_ident:
        settings["ident"] = use_ident
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return str(algo.using(**settings).hash(password))
    except ValueError:
        raise HashError("Could not hash the secret.") from None
