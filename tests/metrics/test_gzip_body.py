"""gzip_body: one gzip member from text compressed at once and pieces compressed ahead of time."""

from __future__ import annotations

import zlib

from hypothesis import given
from hypothesis import strategies as st

from poller.metrics.gzip_body import (
    GzipBody,
    crc32_combine,
    crc32_combine_by_zeros,
    deflate_piece,
    inflate_piece,
    piece_size,
)

# (is_piece, text): the body's parts in order
parts_strategy = st.lists(st.tuples(st.booleans(), st.text(max_size=300)), max_size=12)


def single_member(body: bytes) -> bytes:
    """What a reader that stops after the first gzip member (httpx, curl) gets, checking nothing follows."""
    reader = zlib.decompressobj(16 + zlib.MAX_WBITS)
    data = reader.decompress(body)
    assert reader.eof and reader.unused_data == b""
    return data


def build(parts: list[tuple[bool, str]]) -> bytes:
    body = GzipBody()
    for is_piece, text in parts:
        if is_piece:
            body.add_piece(deflate_piece(text))
        else:
            body.add_text(text.encode())
    return b"".join(body.chunks())


@given(parts_strategy)
def test_the_body_is_one_gzip_member_holding_every_part_in_order(parts):
    assert single_member(build(parts)) == "".join(text for _, text in parts).encode()


def test_pieces_one_after_another_and_text_after_a_piece_decode_in_order():
    parts = [(True, "a" * 70_000), (True, "b\n" * 3), (False, "a" * 500), (True, "")]
    assert single_member(build(parts)) == b"a" * 70_000 + b"b\n" * 3 + b"a" * 500


def test_an_empty_body_is_a_valid_empty_gzip_stream():
    assert single_member(b"".join(GzipBody().chunks())) == b""


@given(st.binary(max_size=200), st.binary(max_size=70_000))
def test_crc32_combine_gives_the_crc_of_the_concatenation(a, b):
    assert crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


@given(st.binary(max_size=200), st.binary(max_size=70_000))
def test_crc32_combine_without_the_system_zlib_gives_the_same(a, b):
    assert crc32_combine_by_zeros(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


def test_the_system_zlibs_combine_is_used_and_takes_lengths_past_4_gib():
    assert crc32_combine is not crc32_combine_by_zeros  # Debian's zlib1g, which Python's zlib links
    crc1, crc2 = 0x12345678, 0x9ABCDEF0
    assert crc32_combine(crc1, crc2, (1 << 32) + 17) != crc32_combine(crc1, crc2, 17)  # not cut to 32 bits


@given(st.text(max_size=500))
def test_a_piece_gives_back_its_text(text):
    assert inflate_piece(deflate_piece(text)) == text


def test_a_piece_is_smaller_than_the_repetitive_text_it_holds():
    line = 'fastpoll_interface_in_octets_total{{device_id="1",ifindex="{}"}} {}\n'
    text = "".join(line.format(i, i * 977) for i in range(48))
    assert len(deflate_piece(text)) < len(text) / 4


def test_a_piece_tells_the_size_of_its_text_in_utf8_bytes():
    assert piece_size(deflate_piece('ifalias="Zürich"\n')) == len('ifalias="Zürich"\n'.encode())
    assert piece_size(b"") == 0
