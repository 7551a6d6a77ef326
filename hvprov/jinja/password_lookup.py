"""The password lookup: a random password stored in a file on the controller (created 0600 on
first use, read back afterwards), as ansible-core's; `/dev/null` generates without storing."""

from __future__ import annotations

import os
import random
import string
from collections.abc import Mapping
from typing import Any

_VALID = {"length", "encrypt", "chars", "ident", "seed"}
_SALT_SIZE = {"md5_crypt": 8, "bcrypt": 22, "sha256_crypt": 16, "sha512_crypt": 16}


class PasswordLookupError(ValueError):
    pass


def _parse(term: str, kwargs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    relpath, _, rest = term.partition(" ")
    params: dict[str, Any] = {"length": 20, "encrypt": None, "chars": ["ascii_letters", "digits", ".,:-_"],
                              "ident": None, "seed": None}
    params.update({k: v for k, v in kwargs.items()})
    for part in rest.split():
        key, sep, value = part.partition("=")
        if not sep:
            raise PasswordLookupError("Unrecognized value after key=value parameters given to password lookup")
        params[key] = value
    bad = set(params) - _VALID
    if bad:
        raise PasswordLookupError(f"Unrecognized parameter(s) given to password lookup: {', '.join(sorted(bad))}")
    chars = params["chars"]
    if isinstance(chars, str):
        specs = [","] if ",," in chars else []
        specs += [c for c in chars.replace(",,", ",").split(",") if c]
        params["chars"] = specs
    params["length"] = int(params["length"])
    return relpath, params


def _candidates(specs: list[str]) -> str:
    return "".join(getattr(string, s, s) if isinstance(getattr(string, s, s), str) else s
                   for s in specs).replace('"', "").replace("'", "")


def _random(length: int, chars: str, seed: Any) -> str:
    gen = random.SystemRandom() if seed is None else random.Random(seed)
    return "".join(gen.choice(chars) for _ in range(length))


def password(term: str, kwargs: Mapping[str, Any], variables: Mapping[str, Any]) -> str:
    relpath, params = _parse(term, kwargs)
    base = str(variables.get("playbook_dir") or os.getcwd())
    path = relpath if os.path.isabs(relpath) else os.path.join(base, relpath)
    content = None
    if os.path.exists(path):
        with open(path, "rb") as fh:
            content = fh.read().rstrip().decode("utf-8", "surrogateescape")
    salt = ident = None
    changed = False
    if content is None or path == "/dev/null":
        plain = _random(params["length"], _candidates(params["chars"]), params["seed"])
        changed = True
    else:
        plain, _, rem = content.rpartition(" salt=") if " salt=" in content else (content, "", "")
        if rem:
            salt, _, ident = rem.rpartition(" ident=") if " ident=" in rem else (rem, "", None)
    encrypt = params["encrypt"]
    if encrypt and not salt:
        changed = True
        salt = _random(_SALT_SIZE.get(encrypt, 8), string.ascii_letters + string.digits + "./", None)
    if not ident:
        ident = params["ident"]
    elif params["ident"] and ident != params["ident"]:
        raise PasswordLookupError(f"The ident parameter provided ({params['ident']}) does not match the stored one ({ident}).")
    if encrypt and not ident and encrypt == "bcrypt":
        ident, changed = "2b", True
    if changed and path != "/dev/null":
        os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
        text = plain if not encrypt and not salt else f"{plain} salt={salt}" + (f" ident={ident}" if ident else "")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8", "surrogateescape") + b"\n")
    if encrypt:
        from .passwords import hash_password

        return hash_password(plain, encrypt, salt=salt, ident=ident)
    return plain
