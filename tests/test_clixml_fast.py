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
