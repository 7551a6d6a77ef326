"""What every `hvprov apply`/`plan` asks about saved plans before it runs: is this argument a
saved plan (`is_plan_file`), the plan key (`plan_key`), and the atomic write the CLI uses for its
output files. Kept apart from hvprov.plans (signing, digests, the plan document), which is
imported only when a plan is saved, applied or shown (docs/cli-startup.md)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import InputError, Location

FORMAT = "hvprov-plan/1"
KEY_ENV = "HVPROV_PLAN_KEY"


def plan_key(explicit: bytes | str | None = None, key_file: str | None = None) -> bytes | None:
    """The plan key: explicit, else --plan-key-file, else $HVPROV_PLAN_KEY; None when none is set."""
    if explicit is not None:
        return explicit.encode() if isinstance(explicit, str) else explicit
    if key_file:
        try:
            data = Path(key_file).read_bytes().strip()
        except OSError as exc:
            raise InputError(f"cannot read the plan key: {exc.strerror}", location=Location(key_file)) from None
        if not data:
            raise InputError("the plan key file is empty", location=Location(key_file))
        return data
    env = os.environ.get(KEY_ENV)
    return env.encode() if env else None


def write_atomic(path: str | Path, text: str) -> None:
    """Write a file so that readers never see a half-written one (temp file + rename)."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=str(p.parent or Path(".")))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def is_plan_file(path: str) -> bool:
    if not path.endswith(".json") or not os.path.exists(path):
        return False
    if not os.path.isfile(path):  # a FIFO would block here: load_plan refuses it
        return True
    try:
        with open(path, encoding="utf-8") as fh:
            head = fh.read(200)
    except OSError:
        return False
    return FORMAT in head
