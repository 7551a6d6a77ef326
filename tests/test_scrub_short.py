"""SecretRegistry.scrub remembers short texts (event fields) while its secrets and public names
stay the same, and scrub_data takes the common exact types first. Oracles: a fresh registry given
the same secrets and names (nothing remembered), and scrub_data as it was before (kept below),
compared value by value and type by type, as secrets and public names are added between scrubs."""

from __future__ import annotations

import random
import threading
from typing import Any

from hvprov.secrets import SHORT_KEEP, SHORT_MAX, Secret, SecretRegistry, mask
from hvprov.templating import UnsafeText


def _old_scrub_data(reg: SecretRegistry, obj: Any) -> Any:
    """scrub_data before this change (the oracle), every string through the fresh path."""
    if not reg._levels:
        return mask(obj)
    if isinstance(obj, Secret):
        return reg._scrub_all(obj.shown)
    if isinstance(obj, str):
        return reg._scrub_all(obj)
    if isinstance(obj, dict):
        return {reg._scrub_all(str(k)) if isinstance(k, str) else k: _old_scrub_data(reg, v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_old_scrub_data(reg, v) for v in obj]
    return obj


def _same(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(type(k) is type(j) for k, j in zip(a, b)) and all(
            _same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return bool(a == b)


class _Result:  # an object scrub_data hands back as it is (TaskResult in task_done events)
    def __repr__(self) -> str:
        return "R(hunter2-secret)"


def _texts(rng: random.Random, words: list[str]) -> list[str]:
    out = ["", "ok", "changed", "Gathering Facts", *words, f"x{words[0]}y", f"{words[1]} and {words[2]}"]
    for size in (SHORT_MAX - 1, SHORT_MAX, SHORT_MAX + 1, 2000):
        out.append("".join(rng.choice([*words, "a", " ", "'", "\n", "é", "$"]) for _ in range(size))[:size])
    return out


def test_short_texts_and_data_equal_the_fresh_path_as_secrets_and_names_are_added() -> None:
    rng = random.Random(11)
    pool = [f"Pw{i}!{rng.randrange(10**6)}" for i in range(9)]
    names = [f"host-{pool[1]}-x", "fleet0001"]  # a public name holding a secret added at step 1
    texts = _texts(rng, pool + names)
    reg = SecretRegistry()
    added: list[str] = []
    public: list[str] = []
    for step in range(9):
        if step % 3 == 1:
            added.append(pool[step])
            reg.add(Secret(pool[step]))
        if step == 7:
            public.extend(names)
            reg.protect(names)
        fresh = SecretRegistry([Secret(s) for s in added], public=public)
        for _ in range(2):  # the second round answers from what the first remembered
            for text in texts:
                for same in (text, "".join(list(text))):  # the same object, then an equal copy
                    got = reg.scrub(same)
                    assert got == fresh._scrub_all(same), (step, len(text))
                    if got == same:
                        assert got is same  # a clean text comes back as itself, as before
                    unsafe = reg.scrub(UnsafeText(same))
                    assert type(unsafe) is (UnsafeText if unsafe == same else str) and unsafe == got
            data = {"task": texts[3], "ok": True, "n": 3, "f": 1.5, "none": None, 7: texts[4],
                    texts[5]: [texts[6], (texts[7], Secret(pool[0], shown=f"<{pool[0]}>"))],
                    "u": UnsafeText(texts[8]), "r": _Result(), "nested": {"m": texts[9], "l": [False, 0]},
                    "all": {f"k{i}": t for i, t in enumerate(texts)}, "keys": {t: i for i, t in enumerate(texts)}}
            for obj in (data, texts[5], True, None, 4, [texts[4], {"k": texts[6]}], _Result, Secret(pool[4])):
                assert _same(reg.scrub_data(obj), _old_scrub_data(fresh, obj)), (step, obj)


def test_what_is_remembered_is_bounded() -> None:
    reg = SecretRegistry([Secret("hunter2-secret")])
    for i in range(SHORT_KEEP + 5):
        reg.scrub(f"{i} hunter2-secret")
    assert 0 < len(reg._short[2]) <= SHORT_KEEP
    reg.scrub("y" * (SHORT_MAX + 1))
    assert all(len(k) <= SHORT_MAX for k in reg._short[2])


def test_threads_adding_secrets_never_get_an_under_scrubbed_short_text() -> None:
    rng = random.Random(5)
    pool = [f"S3cr3t-{i:03d}-{rng.randrange(10**6)}" for i in range(40)]
    texts = [f"task {p} done" for p in pool] + [" ".join(pool[:8])]
    reg = SecretRegistry()
    bad: list[str] = []

    def adder() -> None:
        for p in pool:
            reg.add(Secret(p))

    def scrubber() -> None:
        for _ in range(30):
            known = reg.values()  # registered before this scrub started: must be gone from its output
            for text in texts:
                out = reg.scrub(text)
                bad.extend(k for k in known if k in out)

    threads = [threading.Thread(target=adder)] + [threading.Thread(target=scrubber) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad
    fresh = SecretRegistry([Secret(p) for p in pool])
    assert [reg.scrub(t) for t in texts] == [fresh._scrub_all(t) for t in texts]
