"""Header bytes as text: UTF-8, and what is not UTF-8 passes through unchanged."""

from modelops.gateway.http_text import header_bytes, header_text


def test_utf8_headers_are_decoded() -> None:
    assert header_text(b"X-User-ID") == "X-User-ID"
    assert header_text("café ✓".encode()) == "café ✓"


def test_bytes_that_are_not_utf8_go_out_again_as_they_came() -> None:
    raw = b"caf\xe9 \xff"
    text = header_text(raw)
    assert text == "caf\udce9 \udcff"
    assert text.encode("utf-8", "surrogateescape") == raw


def test_header_bytes_undo_header_text() -> None:
    for raw in (b"X-User-ID", "café ✓".encode(), b"caf\xe9 \xff", b""):
        assert header_bytes(header_text(raw)) == raw


def test_text_that_is_plain_utf8_is_encoded_as_utf8() -> None:
    assert header_bytes("café ✓") == "café ✓".encode()
