"""Bad playbooks: every one exits 4 with file:line, the field, and no traceback.

Each file in tests/data/bad/playbooks starts with `# expect: <substring>` and optionally
`# expect-line: N` and `# expect-field: path` comments.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hvprov.cli import main

BAD = sorted((Path(__file__).parent / "data" / "bad" / "playbooks").glob("*.yml"))
INV = str(Path(__file__).parent / "data" / "inv" / "one.yml")


def _expectations(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        m = re.match(r"#\s*expect(-line|-field)?:\s*(.*)$", line)
        if m:
            out[m.group(1) or "msg"] = m.group(2).strip()
    return out


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_playbook_exits_4(path: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    exp = _expectations(path)
    code = main(["plan", str(path), "-i", INV, "--lab-dir", str(tmp_path), "--format", "json"])
    out, err = capsys.readouterr()
    text = out + err
    assert code == 4, text
    assert "Traceback" not in text
    assert exp["msg"] in text, text
    loc = f"{path}:{exp['-line']}:" if "-line" in exp else f"{path}:"
    assert loc in text, text
    if "-field" in exp:
        assert exp["-field"] in text, text
