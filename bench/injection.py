"""Injection benchmark: the properties of tests/test_injection.py, 100,000 examples.

    .venv/bin/python bench/injection.py [--examples 100000] [--max-seconds 1500] [--workers N]
                                        [--seed 1] [--full-parse-every 8]

Runs the same checks as the test module (every template, every value slot, arbitrary Unicode;
Secrets; lone surrogates; WQL escaping), shared out the same way, in chunks over worker
processes. Failures do not stop the run: each distinct finding (property, slot, first line of
the message) is kept with the shortest value that shows it. Prints examples/second per
property and the findings; exits 1 if there are findings, 2 if the time bound cut the run short.
Stdlib + the test dependencies only; bounded by --max-seconds (chunks not started by then are
skipped and reported).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 250

_mod: Any = None


def _module() -> Any:
    """tests/test_injection.py, imported by path (it is not a package)."""
    global _mod
    if _mod is None:
        sys.path.insert(0, str(ROOT))
        spec = importlib.util.spec_from_file_location(
            "hvprov_test_injection", ROOT / "tests" / "test_injection.py"
        )
        assert spec and spec.loader
        _mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = _mod
        spec.loader.exec_module(_mod)
    return _mod


def plan(total: int) -> list[tuple[str, int | None, int]]:
    """(property, slot index or None, examples) chunks adding up to at least `total`."""
    m = _module()
    share = m._SHARE
    jobs: list[tuple[str, int | None, int]] = []

    def add(prop: str, slot: int | None, n: int) -> None:
        while n > 0:
            jobs.append((prop, slot, min(CHUNK, n)))
            n -= CHUNK

    text = [i for i, s in enumerate(m.SLOTS) if s.kind == "text"]
    other = [i for i, s in enumerate(m.SLOTS) if s.kind != "text"]
    for i in text:
        add("text", i, math.ceil(total * share["text"] / len(text)))
    for i in other:
        add("other", i, math.ceil(total * share["other"] / len(other)))
    for prop in ("secret", "surrogate", "wql", "ps_wql"):
        add(prop, None, math.ceil(total * share[prop]))
    # big chunks first, interleaved by property so that a cut-off run still covers everything
    jobs.sort(key=lambda j: -j[2])
    return jobs


def run_chunk(
    prop: str, slot_index: int | None, n: int, seed: int, deadline: float
) -> dict[str, Any]:
    """Run `n` examples of one property; returns counts, outcomes, findings and seconds."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    m = _module()
    out: dict[str, Any] = {
        "prop": prop,
        "examples": 0,
        "outcomes": Counter(),
        "findings": {},
        "seconds": 0.0,
        "skipped": 0,
    }
    if time.time() > deadline:
        out["skipped"] = n
        return out
    findings: dict[tuple[str, str, str], tuple[int, str]] = {}

    def record(slot_id: str, value: Any, exc: BaseException) -> None:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        # one finding per kind of message: drop the quoted value from the key
        key_msg = first.split(": ", 1)[-1][:90] if slot_id in first else first[:90]
        key = (prop, slot_id, f"{type(exc).__name__}: {key_msg}")
        text = repr(value)
        if key not in findings or len(text) < findings[key][0]:
            findings[key] = (len(text), text)

    if prop in ("wql", "ps_wql"):
        strategy: Any = m.WQL_TEXT
        slot = None
    elif prop == "surrogate":
        slot = None
        strategy = st.tuples(st.sampled_from(m.SLOTS), m.NASTY, m.SURROGATE, m.NASTY)
    elif prop == "secret":
        slot = None
        strategy = st.sampled_from(m.TEXT_SLOTS).flatmap(
            lambda s: st.tuples(st.just(s), m.value_parts(s))
        )
    else:
        slot = m.SLOTS[slot_index]
        strategy = m.value_parts(slot)

    @hseed(seed)
    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def body(arg: Any) -> None:
        if time.time() > deadline:
            out["skipped"] += 1
            return
        out["examples"] += 1
        try:
            if prop == "wql":
                m.check_wql(arg)
                out["outcomes"]["checked"] += 1
            elif prop == "ps_wql":
                m.check_ps_wql(arg)
                out["outcomes"]["checked"] += 1
            elif prop == "surrogate":
                s, a, sur, b = arg
                out["outcomes"][m.check_surrogate(s, a + sur + b)] += 1
            elif prop == "secret":
                s, (pre, x, post) = arg
                out["outcomes"][m.check_secret(s, pre, x, post)] += 1
            else:
                pre, x, post = arg
                out["outcomes"][m.check_value(slot, pre, x, post)] += 1
        except Exception as exc:  # noqa: BLE001 - every failure is a finding
            where = (
                slot.id
                if slot is not None
                else (arg[0].id if prop in ("secret", "surrogate") else prop)
            )
            value = arg if prop in ("wql", "ps_wql") else arg
            record(where, value, exc)

    t0 = time.perf_counter()
    body()
    out["seconds"] = time.perf_counter() - t0
    out["findings"] = findings
    out["parses"] = dict(m.PARSES)
    return out


def _init_worker(full_parse_every: int) -> None:
    os.environ["HVPROV_INJECTION_FULL_PARSE_EVERY"] = str(full_parse_every)
    _module()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=100_000)
    ap.add_argument("--max-seconds", type=float, default=1500.0)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--full-parse-every",
        type=int,
        default=8,
        help="also parse every Nth script from scratch (1 = all; slower)",
    )
    args = ap.parse_args(argv)
    os.environ["HVPROV_INJECTION_FULL_PARSE_EVERY"] = str(args.full_parse_every)
    t_start = time.time()
    deadline = t_start + args.max_seconds
    m = _module()
    jobs = plan(args.examples)
    print(
        f"injection bench: {sum(j[2] for j in jobs)} examples in {len(jobs)} chunks, "
        f"{len(m.SLOTS)} slots ({len(m.TEXT_SLOTS)} text) in {len(m.RENDERER.templates())} templates, "
        f"{args.workers} worker(s), at most {args.max_seconds:.0f} s",
        flush=True,
    )
    per_prop: dict[str, dict[str, Any]] = {}
    findings: dict[tuple[str, str, str], tuple[int, str]] = {}
    skipped = 0
    parses: Counter[str] = Counter()
    done = 0
    with ProcessPoolExecutor(
        args.workers, initializer=_init_worker, initargs=(args.full_parse_every,)
    ) as pool:
        futures = [
            pool.submit(run_chunk, prop, slot, n, args.seed * 100_003 + i, deadline)
            for i, (prop, slot, n) in enumerate(jobs)
        ]
        for fut in as_completed(futures):
            res = fut.result()
            agg = per_prop.setdefault(
                res["prop"], {"examples": 0, "seconds": 0.0, "outcomes": Counter()}
            )
            agg["examples"] += res["examples"]
            agg["seconds"] += res["seconds"]
            agg["outcomes"].update(res["outcomes"])
            skipped += res["skipped"]
            for key, val in res["findings"].items():
                if key not in findings or val[0] < findings[key][0]:
                    findings[key] = val
            done += 1
            if done % 50 == 0:
                total = sum(a["examples"] for a in per_prop.values())
                print(
                    f"  ... {done}/{len(jobs)} chunks, {total} examples, {time.time() - t_start:.0f} s",
                    flush=True,
                )
            for k, v in res.get("parses", {}).items():
                parses[k] = max(parses[k], v)  # per-worker running totals
    wall = time.time() - t_start
    total = sum(a["examples"] for a in per_prop.values())
    print(f"\n{'property':<10} {'examples':>9} {'cpu s':>8} {'ex/s':>8}  outcomes")
    for prop, agg in sorted(per_prop.items()):
        rate = agg["examples"] / agg["seconds"] if agg["seconds"] else 0.0
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(agg["outcomes"].items()))
        print(f"{prop:<10} {agg['examples']:>9} {agg['seconds']:>8.1f} {rate:>8.0f}  {outcomes}")
    print(
        f"{'total':<10} {total:>9}  wall {wall:.1f} s, {total / wall:.0f} examples/s overall"
        + (f"; {skipped} examples skipped (time bound)" if skipped else "")
    )
    if findings:
        print(f"\nFINDINGS ({len(findings)} distinct):")
        for (prop, where, msg), (_, value) in sorted(findings.items()):
            print(f"- [{prop}] {where}: {msg}\n    shortest value: {value[:300]}")
        return 1
    print("\nno findings")
    return 2 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
