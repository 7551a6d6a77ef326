"""The lab directory: one JSON file per simulated host, changed only under that host's lock.

    store = LabStore(Path(".hvprov-lab"))
    with store.session("hv01", HostSeed("2008r2-standard", {"vt_enabled": False})) as host:
        ...                          # load (or create), finish a due reboot, use, save

A host is created on first contact from its seed (profile + overrides) and re-created when the
seed changes. The lock (fcntl, one lock file per host under ``.locks/``) is held across
load -> execute -> save, so parallel runs and the lab servers never interleave on one host;
saves are atomic (temp file + os.replace). Time comes from an injectable clock (`time.time`).
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import LabError
from .model import HostModel
from .profiles import build_host, deep_merge, normalize_overrides

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows controllers: in-process locking only
    fcntl = None  # type: ignore[assignment]

FORMAT = 1
_THREAD_LOCKS: dict[str, threading.Lock] = {}


@dataclass(frozen=True)
class HostSeed:
    """What a lab host is created from: the inventory's sim_profile and sim overrides."""

    profile: str | None
    overrides: Mapping[str, Any] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        text = json.dumps({"profile": self.profile, "overrides": self.overrides}, sort_keys=True,
                          separators=(",", ":"), default=repr)
        return hashlib.sha256(text.encode()).hexdigest()[:20]


def _as_seed(seed: HostSeed | tuple[str | None, Mapping[str, Any] | None]) -> HostSeed:
    if isinstance(seed, HostSeed):
        return seed
    profile, overrides = seed
    return HostSeed(profile, dict(overrides or {}))


def safe_name(name: str) -> str:
    """A file name for a host name (readable, collision-free)."""
    clean = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "host"
    if clean != name:
        clean += "-" + hashlib.sha256(name.encode()).hexdigest()[:8]
    return clean


class LabStore:
    def __init__(self, lab_dir: Path, clock: Callable[[], float] = time.time) -> None:
        self.lab_dir = Path(lab_dir)
        self.clock = clock

    # -- paths and locks ---------------------------------------------------------
    def path(self, name: str) -> Path:
        return self.lab_dir / f"{safe_name(name)}.json"

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        locks = self.lab_dir / ".locks"
        locks.mkdir(parents=True, exist_ok=True)
        lock_path = locks / f"{safe_name(name)}.lock"
        if fcntl is None:  # pragma: no cover
            with _THREAD_LOCKS.setdefault(str(lock_path.resolve()), threading.Lock()):
                yield
            return
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    # -- load / save -------------------------------------------------------------
    def _read(self, name: str) -> tuple[str, dict[str, Any]] | None:
        """(file text, document) of a stored host, or None."""
        try:
            text = self.path(name).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LabError(f"lab state {self.path(name)} is corrupt ({exc.msg}); run 'hvprov lab reset {name}'") from None
        return (text, doc) if isinstance(doc, dict) else None

    def _load(self, name: str, digest: str | None) -> tuple[HostModel | None, str | None, dict[str, Any]]:
        """(host, file text, document); host None if missing, of another format or seed."""
        got = self._read(name)
        if got is None:
            return None, None, {}
        text, doc = got
        if doc.get("format") != FORMAT or (digest is not None and doc.get("seed") != digest):
            return None, text, doc
        return HostModel.from_dict(doc.get("host"), f"{self.path(name)}: host"), text, doc

    def _save(self, name: str, host: HostModel, meta: Mapping[str, Any], old_text: str | None) -> None:
        """Atomic replace; skipped when nothing changed (an idempotent run writes nothing)."""
        doc = {"format": FORMAT, "name": name, **meta, "host": host.to_dict()}
        text = json.dumps(doc, separators=(",", ":"), default=repr)
        if text == old_text:
            return
        fd, tmp = tempfile.mkstemp(dir=self.lab_dir, prefix=f".{safe_name(name)}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, self.path(name))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    # -- public --------------------------------------------------------------------
    @contextlib.contextmanager
    def session(self, name: str, seed: HostSeed | tuple[str | None, Mapping[str, Any] | None]) -> Iterator[HostModel]:
        """The host, locked, for one load -> use -> save cycle. Not saved if the body raises."""
        seed = _as_seed(seed)
        with self.lock(name):
            now = self.clock()
            host, text, _ = self._load(name, seed.digest)
            if host is None:
                host = build_host(seed.profile, seed.overrides, name=name, now=now)
            host.advance(now)
            yield host
            meta = {"seed": seed.digest, "profile": seed.profile, "overrides": dict(seed.overrides)}
            self._save(name, host, meta, text)

    def load(self, name: str) -> HostModel | None:
        """A copy of the stored host (a due reboot finished), or None. Changes nothing on disk."""
        with self.lock(name):
            host = self._load(name, None)[0]
        if host is not None:
            host.advance(self.clock())
        return host

    def alter(self, name: str, mutate: Callable[[HostModel], None] | None = None, **changes: Any) -> HostModel:
        """Drift: set fields (as in inventory overrides) and/or mutate the stored host in place.

        ``store.alter("hv01", vt_enabled=False)``; ``store.alter("hv01", lambda h: h.switches.clear())``.
        The seed is kept, so the next session sees the drifted host.
        """
        with self.lock(name):
            host, text, doc = self._load(name, None)
            if host is None:
                raise LabError(f"no lab host {name!r} in {self.lab_dir} (hosts are created on first contact)")
            host.advance(self.clock())
            if changes:
                host = HostModel.from_dict(deep_merge(host.to_dict(), normalize_overrides(changes)), "sim")
            if mutate is not None:
                mutate(host)
                host = HostModel.from_dict(host.to_dict(), "sim")  # the mutation must leave a valid host
            self._save(name, host, {k: doc.get(k) for k in ("seed", "profile", "overrides")}, text)
            return host

    def list(self) -> list[str]:
        """Names of the stored hosts."""
        names = []
        for p in sorted(self.lab_dir.glob("*.json")):
            with contextlib.suppress(OSError, ValueError):
                doc = json.loads(p.read_text(encoding="utf-8"))
                if isinstance(doc, dict) and isinstance(doc.get("name"), str):
                    names.append(doc["name"])
        return sorted(names)

    def status(self) -> builtins.list[dict[str, Any]]:
        """One summary per stored host (for `hvprov lab status`)."""
        now = self.clock()
        out = []
        for name in self.list():
            host = self.load(name)
            if host is None:
                continue
            doc = (self._read(name) or ("", {}))[1]
            out.append({"name": name, "profile": doc.get("profile"), "hostname": host.hostname,
                        "version": host.version, "sku": host.sku, "down": host.is_down(now),
                        "hypervisor_running": host.hypervisor_running,
                        "pending_reboot": host.pending_reboot.any})
        return out

    def reset(self, names: builtins.list[str] | None = None) -> builtins.list[str]:
        """Delete stored hosts (all if names is None); they are re-created on next contact."""
        removed = []
        for name in self.list() if names is None else names:
            with self.lock(name):
                try:
                    self.path(name).unlink()
                except FileNotFoundError:
                    continue
            removed.append(name)
        return removed
