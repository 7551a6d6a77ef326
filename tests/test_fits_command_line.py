"""bootstrap.fits_command_line's shortcut (no encoding when even the shortest encoding is too long)
against its definition: the length of the -EncodedCommand line it would send, for scripts of every
length around each limit, in ASCII, in BMP text (2 bytes a character in UTF-16) and in astral text
(4 bytes a character: surrogate pairs)."""

from __future__ import annotations

import random

import pytest

from hvprov.transports import bootstrap

ALPHABETS = {"ascii": "ab$'\" ;\n", "bmp": "äöü€ßЖ中", "astral": "\U0001F600\U00010348a"}


def _definition(script: str, limit: int) -> bool:
    return len(bootstrap.command_line(script)) <= limit


@pytest.mark.parametrize("limit", [bootstrap.CMD_LINE_LIMIT, 32767, 200, 100])
@pytest.mark.parametrize("alphabet", sorted(ALPHABETS))
def test_shortcut_agrees_with_the_encoded_length(limit: int, alphabet: str) -> None:
    rng = random.Random(f"{limit}-{alphabet}")
    chars = ALPHABETS[alphabet]
    prefix = len(bootstrap.command_line(""))
    # lengths where the line crosses the limit, in characters of this alphabet
    edge = max(0, (limit - prefix) * 3 // 8)
    seen = set()
    for n in list(range(max(0, edge - 40), edge + 40)) + [0, 1, 2 * edge + 5, limit, 5 * limit]:
        script = "".join(rng.choice(chars) for _ in range(n))
        got = bootstrap.fits_command_line(script, limit)
        assert got == _definition(script, limit), (alphabet, limit, n)
        seen.add(got)
    assert seen == {True, False}  # both sides of the limit were tried
