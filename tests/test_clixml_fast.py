"""clixml._records skips the XML parse of a document that cannot hold a string record; the
oracle is the parse itself (`_parsed_records`, ElementTree): both must agree on every
document, including cut-short, prefixed, commented and DTD-carrying ones."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hvprov.transports import clixml

NS = 'xmlns="http://schemas.microsoft.com/powershell/2004/04"'
PROGRESS = clixml.encode_clixml("", progress=True)[len(clixml.CLIXML_HEADER) + 2:]
ERRORS = clixml.encode_clixml("boom\nsecond line", progress=True)[len(clixml.CLIXML_HEADER) + 2:]
DOCS = [
    PROGRESS,
    ERRORS,
    f'<Objs {NS}><S S="Warning">w_x000D__x000A_</S></Objs>',
    f'<Objs {NS} xmlns:ps="p"><ps:S S="Error">prefixed</ps:S></Objs>',
    f"<Objs {NS}><S\tS='Error'>tab and single quotes</S></Objs>",
    f'<Objs {NS}><S\nS="Verbose">newline</S></Objs>',
    f'<Objs {NS}><S S="Error"/></Objs>',
    f'<Objs {NS}><!-- <S S="Error">in a comment</S> --><Obj S="progress"><SR>-1</SR></Obj></Objs>',
    f'<Objs {NS}><![CDATA[<S S="Error">cdata</S>]]></Objs>',
    '<!DOCTYPE Objs [<!ENTITY e "&#60;S S=\'Error\'>from an entity&#60;/S>">]><Objs>&e;</Objs>',
    f'<Objs {NS}><Obj S="information"><MS><S N="x">nested string</S></MS></Obj></Objs>',
    f'<Objs {NS}><SD>not S</SD><SR>-1</SR></Objs>',
]


@pytest.mark.parametrize("doc", DOCS)
def test_records_agree_with_the_parse(doc: str) -> None:
    assert clixml._records(doc) == clixml._parsed_records(doc)
    for cut in range(len(doc) + 1):  # cut short anywhere (a truncated stream)
        assert clixml._records(doc[:cut]) == clixml._parsed_records(doc[:cut])


def test_the_progress_record_is_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    def parse(doc: str) -> list[tuple[str, str]]:
        raise AssertionError("parsed")

    monkeypatch.setattr(clixml, "_parsed_records", parse)
    assert clixml.decode_clixml(clixml.CLIXML_HEADER + "\r\n" + PROGRESS) == ""
    with pytest.raises(AssertionError):
        clixml.decode_clixml(clixml.CLIXML_HEADER + "\r\n" + ERRORS)


PIECES = ["<S", "<S ", "<S>", "</S>", "S=\"Error\"", "<ps:S ", "<Obj S=\"progress\">", "</Obj>", "<SR>", "x",
          "<!--", "-->", "<!DOCTYPE Objs [", "<!ENTITY e \"&#60;S S='Error'>e&#60;/S>\">]>", "&e;", " ", "\n", ">"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=12))
def test_records_agree_on_assembled_documents(pieces: list[str]) -> None:
    doc = f"<Objs {NS}>" + "".join(pieces) + "</Objs>"
    assert clixml._records(doc) == clixml._parsed_records(doc)


def _regex_spans(body: str) -> list[tuple[int, int]]:
    return [m.span() for m in clixml._OBJS_RE.finditer(body)]


SPAN_PIECES = ["<Objs", "<Objs ", "<Objs>", "</Objs>", "</Objs", "/>", "/", ">", "<", "Objs", "<Objsx", "<Objs_",
               "<Objs\u00e9", "<Objs\u0663", "<Objs-", "<Objs\n", "<Objs/>", " Version=\"1.1.0.1\"", "x", "\u00e9",
               "\r\n", "#< CLIXML", "<S S=\"Error\">e</S>", "<Obj S=\"progress\"><SR>-1</SR></Obj>"]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(SPAN_PIECES), max_size=14))
def test_objs_spans_are_the_regex_spans(pieces: list[str]) -> None:
    """_objs_spans (str.find) finds what _OBJS_RE.finditer finds, span for span, on text
    assembled from the pieces either alternative or the word boundary turns on."""
    body = "".join(pieces)
    assert list(clixml._objs_spans(body)) == _regex_spans(body)


@pytest.mark.parametrize("doc", DOCS)
def test_objs_spans_and_decoding_agree_on_every_prefix(doc: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """On real-shaped streams (one to three documents, text between them) and every prefix of
    them: the same spans, and decode_clixml gives what it gave with the regex."""
    stream = clixml.CLIXML_HEADER + "\r\n" + doc + "\r\nloose text\r\n" + PROGRESS + ERRORS
    body = stream[len(clixml.CLIXML_HEADER):]
    for cut in range(len(body) + 1):
        assert list(clixml._objs_spans(body[:cut])) == _regex_spans(body[:cut])
    got = [clixml.decode_clixml(stream[:cut]) for cut in range(0, len(stream) + 1, 7)]
    monkeypatch.setattr(clixml, "_objs_spans", _regex_spans)
    assert got == [clixml.decode_clixml(stream[:cut]) for cut in range(0, len(stream) + 1, 7)]
