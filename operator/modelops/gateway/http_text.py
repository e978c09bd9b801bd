"""Header bytes as text, for both sides of the gateway's HTTP layer.

As aiohttp decodes them: UTF-8, and bytes that are not UTF-8 pass through unchanged
(``surrogateescape``), so they go out again as they came. The strict decode is tried first:
mypyc compiles it to a direct call, while a decode with an error handler goes through Python's
codec look-up (about 360 instructions a header name or value, issue 19's profile), and nearly
every header is valid UTF-8.
"""


def header_text(raw: bytes) -> str:
    """Header bytes as text (``surrogateescape`` for bytes that are not UTF-8)."""
    try:
        return raw.decode()
    except UnicodeDecodeError:
        pass  # the rare header that is not UTF-8
    return raw.decode("utf-8", "surrogateescape")


def header_bytes(text: str) -> bytes:
    """Header text as bytes: what ``header_text`` made goes out again as it came, so text
    holding escaped bytes (surrogates) is encoded with ``surrogateescape``, tried second for
    the same reason as above."""
    try:
        return text.encode()
    except UnicodeEncodeError:
        pass  # text that carries bytes that came in undecodable
    return text.encode("utf-8", "surrogateescape")
