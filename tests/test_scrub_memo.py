"""SecretRegistry.scrub keeps large texts scrubbed while its secrets and public names stay the
same: the oracle is a fresh registry given the same secrets and names (nothing kept), for texts
scrubbed again after secrets or public names are added, texts above and below the size where
the memo starts, the same text object and an equal copy, and threads adding secrets while
others scrub."""

from __future__ import annotations

import random
import threading

from hvprov.secrets import MEMO_KEEP, MEMO_MIN, Secret, SecretRegistry


def _text(rng: random.Random, size: int, words: list[str]) -> str:
    parts: list[str] = []
    while sum(map(len, parts)) < size:
        parts.append(rng.choice(words) if rng.random() < 0.05 else rng.choice(["x", " ", "$a", "'q'", "\n", "é"]))
    return "".join(parts)


def _oracle(secrets: list[str], public: list[str], text: str) -> str:
    return SecretRegistry([Secret(s) for s in secrets], public=public).scrub(text)


def test_kept_scrubs_equal_a_fresh_registry_as_secrets_and_names_are_added() -> None:
    rng = random.Random(7)
    pool = [f"Pw{i}!{rng.randrange(10**6)}" for i in range(12)]
    names = [f"host-with-{pool[1]}-in-it", "fleet0001"]  # a public name holding a secret added at step 1
    reg = SecretRegistry()
    added: list[str] = []
    public: list[str] = []
    texts = [_text(rng, MEMO_MIN - 10, pool + names), _text(rng, MEMO_MIN, pool + names),
             _text(rng, 5 * MEMO_MIN, pool + names)]
    for step in range(12):
        if step % 3 == 1:
            added.append(pool[step])
            reg.add(Secret(pool[step]))
        if step == 8:  # no secret added at this step: only the public names change
            public.extend(names)
            reg.protect(names)
        for text in texts:
            for same in (text, "".join(list(text))):  # the same object, then an equal copy
                assert reg.scrub(same) == _oracle(added, public, same), (step, len(text))
    rest = reg.scrub(texts[2])
    for name in names:  # a secret inside a public name stays there (the oracle agrees above)
        rest = rest.replace(name, "")
    assert all(p not in rest for p in added)


def test_the_memo_is_bounded_and_holds_large_texts_only() -> None:
    reg = SecretRegistry([Secret("hunter2-secret")])
    for i in range(MEMO_KEEP + 3):
        reg.scrub(f"{i} hunter2-secret " + "y" * MEMO_MIN)
    reg.scrub("short hunter2-secret")
    kept = reg._memo.keys()
    assert len(kept) == MEMO_KEEP and all(len(k) >= MEMO_MIN for k in kept)


def test_threads_adding_secrets_never_get_an_under_scrubbed_text() -> None:
    rng = random.Random(3)
    pool = [f"S3cr3t-{i:03d}-{rng.randrange(10**6)}" for i in range(40)]
    text = _text(rng, 3 * MEMO_MIN, pool)
    reg = SecretRegistry()
    bad: list[str] = []

    def adder() -> None:
        for p in pool:
            reg.add(Secret(p))

    def scrubber() -> None:
        for _ in range(60):
            known = reg.values()  # registered before this scrub started: must be gone from its output
            out = reg.scrub(text)
            bad.extend(k for k in known if k in out)

    threads = [threading.Thread(target=adder)] + [threading.Thread(target=scrubber) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad
    assert reg.scrub(text) == _oracle(pool, [], text)


def test_a_str_subclass_keeps_its_type() -> None:
    """An UnsafeText is scrubbed as itself, never answered with a plain str kept from an equal
    text (or the other way round)."""
    from hvprov.templating import UnsafeText

    reg = SecretRegistry([Secret("hunter2-secret")])
    plain = "nothing secret here " * (MEMO_MIN // 10)
    unsafe = UnsafeText(plain)
    assert type(reg.scrub(plain)) is str and type(reg.scrub(unsafe)) is UnsafeText
    assert type(reg.scrub(plain)) is str
