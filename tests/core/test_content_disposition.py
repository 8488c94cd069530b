"""The Content-Disposition of a download: an ASCII ``filename=`` every client reads, and the
name itself in ``filename*`` (RFC 6266 §4.3, RFC 8187) when it is not ASCII."""

from __future__ import annotations

from urllib.parse import unquote

from hypothesis import given
from hypothesis import strategies as st

from core.content_disposition import attachment


def test_an_ascii_name_is_sent_as_it_is() -> None:
    assert attachment("licence-X1-v1.pdf") == 'attachment; filename="licence-X1-v1.pdf"'


def test_a_chinese_name_gets_a_fallback_and_the_utf8_name() -> None:
    header = attachment("licence-闽导字第0001号-v1.pdf")
    assert header == (
        'attachment; filename="licence-_0001_-v1.pdf"; '
        "filename*=UTF-8''licence-%E9%97%BD%E5%AF%BC%E5%AD%97%E7%AC%AC0001%E5%8F%B7-v1.pdf"
    )
    header.encode("latin-1")  # what a header value must be


def test_quotes_backslashes_percent_and_line_breaks_stay_out_of_the_fallback() -> None:
    header = attachment('a"b\\c%d\r\ne.pdf')
    fallback = header.split('filename="', 1)[1].split('"', 1)[0]
    assert fallback == "a_b_c_d_e.pdf"
    assert "\r" not in header and "\n" not in header


@given(st.text(st.characters(exclude_categories=["Cs"]), max_size=60))
def test_any_name_gives_a_latin1_header_that_names_it(name: str) -> None:
    header = attachment(name)
    assert header.isascii() and header.isprintable()
    if "filename*=UTF-8''" in header:
        encoded = header.split("filename*=UTF-8''", 1)[1]
        assert unquote(encoded) == name
    else:
        assert header == f'attachment; filename="{name}"'
