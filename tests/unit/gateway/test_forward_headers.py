"""What goes on to the other side: every header but the hop-by-hop ones, in any case."""

from multidict import CIMultiDict

from modelops.gateway.upstream import forward_headers


def test_hop_by_hop_headers_go_in_any_case_and_every_copy_the_rest_stay_in_order() -> None:
    headers = CIMultiDict(
        [
            ("Host", "gw"),
            ("X-API-Key", "k"),
            ("CONNECTION", "keep-alive"),
            ("Accept", "a"),
            ("transfer-Encoding", "chunked"),
            ("Accept", "b"),
            ("Keep-Alive", "timeout=5"),
            ("content-length", "12"),
            ("Upgrade", "h2c"),
            ("upgrade", "websocket"),
        ]
    )
    forwarded = forward_headers(headers)
    assert list(forwarded.items()) == [("X-API-Key", "k"), ("Accept", "a"), ("Accept", "b")]
    assert len(headers) == 10  # a copy: the request's own are untouched
