"""Decode the CLIXML that powershell.exe writes on stderr when its output is redirected.

``powershell -EncodedCommand`` serialises its error stream (and progress records such as
"Preparing modules for first use.") as ``#< CLIXML`` followed by one or more ``<Objs>``
documents (domain brief 7.4). `decode_clixml` turns that back into the text a console would
show: error records (``<S S="Error">``) are kept verbatim, warning/verbose/debug lines get
PowerShell's console prefix, progress and other ``<Obj>`` records are dropped. ``_xHHHH_``
escapes (``_x000D__x000A_`` is CRLF) are undone and line ends become ``\\n``. Text that is not
CLIXML is returned unchanged (apart from line ends).
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

__all__ = ["CLIXML_HEADER", "decode_clixml", "encode_clixml"]

CLIXML_HEADER = "#< CLIXML"
_NS = "http://schemas.microsoft.com/powershell/2004/04"
_OBJS_RE = re.compile(r"<Objs\b[^>]*/>|<Objs\b.*?</Objs>", re.S)
_S_RE = re.compile(r"<S\s+S=\"([^\"]*)\"\s*>(.*?)</S>", re.S)
_ESC_RE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_S_TAG = re.compile(r"<(?:[^\s<>/:!?]+:)?S[\s/>]")  # an <S> start tag, any namespace prefix
_PREFIX = {"error": "", "warning": "WARNING: ", "verbose": "VERBOSE: ", "debug": "DEBUG: "}


def _unescape(text: str) -> str:
    """Undo PowerShell's ``_xHHHH_`` escaping (UTF-16 code units, surrogate pairs joined)."""
    raw = _ESC_RE.sub(lambda m: chr(int(m.group(1), 16)), text)
    return raw.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _records(doc: str) -> list[tuple[str, str]]:
    """(stream, text) of each top-level string record of one <Objs> document. A document with
    no <S> start tag and no declaration (``<!``: a DTD could define one in an entity) has none:
    the "Preparing modules for first use." progress record that powershell.exe writes on every
    redirected run is such a document, and it is not parsed (tests/test_clixml_fast.py)."""
    if "<!" not in doc and not _S_TAG.search(doc):
        return []
    return _parsed_records(doc)


def _parsed_records(doc: str) -> list[tuple[str, str]]:
    try:
        root = ET.fromstring(doc)
    except ET.ParseError:  # truncated or mangled output: salvage the string records
        return [(s.lower(), html.unescape(t)) for s, t in _S_RE.findall(doc)]
    out = []
    for child in root:
        if _local(child.tag) == "S" and child.get("S") is not None:
            out.append((str(child.get("S")).lower(), child.text or ""))
        # <Obj S="progress">, <Obj S="information"> and other objects are not console text
    return out


def _objs_spans(body: str) -> Iterator[tuple[int, int]]:
    """The spans of ``_OBJS_RE.finditer(body)`` (``<Objs .../>`` or ``<Objs ...>...</Objs>``),
    found with str.find: the regex's lazy ``.*?`` tried ``</Objs>`` at every character, most of
    decoding the progress record that comes with every script (tests/test_clixml_fast.py holds
    the two to the same spans). A match can only start at ``<Objs`` followed by a word boundary;
    there the first alternative matches if the first ``>`` after the name closes ``/>``, else
    the second up to the first ``</Objs>``; else the search goes on from the next character."""
    pos = 0
    while True:
        start = body.find("<Objs", pos)
        if start < 0:
            return
        after = start + 5
        if after < len(body) and (body[after].isalnum() or body[after] == "_"):  # no \b
            pos = start + 1
            continue
        close = body.find(">", after)
        if close > after and body[close - 1] == "/":
            pos = close + 1
        else:
            end = body.find("</Objs>", after)
            if end < 0:
                pos = start + 1
                continue
            pos = end + 7
        yield start, pos


def decode_clixml(text: str) -> str:
    """The console text of a powershell.exe stderr stream (see the module docstring)."""
    if not text.lstrip().startswith(CLIXML_HEADER):
        return text.replace("\r\n", "\n")
    body = text.lstrip()[len(CLIXML_HEADER) :]
    parts: list[str] = []
    pos = 0
    for start, end in _objs_spans(body):
        between = body[pos:start].strip()
        if between and not between.startswith(CLIXML_HEADER):
            parts.append(between + "\n")
        pos = end
        for stream, value in _records(body[start:end]):
            if stream in _PREFIX:
                parts.append(_PREFIX[stream] + _unescape(value))
    tail = body[pos:].strip()
    if tail.startswith("<Objs"):  # cut short: keep what can be read
        parts.extend(_PREFIX[s] + _unescape(v) for s, v in _records(tail) if s in _PREFIX)
    elif tail:
        parts.append(tail + "\n")
    return "".join(parts).replace("\r\n", "\n").rstrip("\n")


def _escape(text: str) -> str:
    out = []
    for ch in text:
        if ch == "_" or ch in "\r\n\t" or ord(ch) < 0x20:
            out.append(f"_x{ord(ch):04X}_")
        else:
            out.append(html.escape(ch, quote=False))
    return "".join(out)


def encode_clixml(error_text: str, *, progress: bool = False) -> str:
    """What powershell.exe writes on stderr for `error_text` (one error record per line).

    With `progress`, a "Preparing modules for first use." progress record comes first, the
    noise a real host prints even when the command succeeds. Used by the lab servers.
    """
    objs = [f'<Objs Version="1.1.0.1" xmlns="{_NS}">']
    if progress:
        objs.append(
            '<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T>'
            '<T>System.Object</T></TN><MS><I64 N="SourceId">1</I64><PR N="Record">'
            "<AV>Preparing modules for first use.</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC>"
            "<T>Completed</T><SR>-1</SR><SD> </SD></PR></MS></Obj>"
        )
    for line in error_text.replace("\r\n", "\n").splitlines():
        objs.append(f'<S S="Error">{_escape(line + chr(13) + chr(10))}</S>')
    objs.append("</Objs>")
    return CLIXML_HEADER + "\r\n" + "".join(objs)
