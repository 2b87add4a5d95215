"""Reading a client's bytes as integers and finding them, in order, in a server's output."""

from __future__ import annotations

import struct

from sockdeploy.grading.integers import (
    align,
    as_text,
    as_words,
    best_reading,
    bswap32,
    output_integers,
    readings,
    shown_as,
)


def words(*values: int) -> bytes:
    return b"".join(struct.pack("!I", v) for v in values)


def test_text_numbers_between_any_separators_and_nul_padding():
    assert as_text(b"1\n1\n2\n3\n").items == (1, 1, 2, 3)
    assert as_text(b"42\x00\x00\x00\x00 7,8;-9").items == (42, 7, 8, -9)
    assert as_text(b"10 20 quit\n").items == (10, 20, "quit")
    assert as_text(b"\x00\x00\x00\x01") is None  # a control byte: not text
    assert as_text(b"hello") is None  # no number at all


def test_network_order_words_and_a_leftover():
    assert as_words(words(1, 418)).items == (1, 418)
    assert as_words(words(7) + b"\x01\x02").leftover == 2
    assert as_words(b"\x00\x01") is None


def test_byte_swap_both_ways():
    assert bswap32(1000) == 3892510720 and bswap32(3892510720) == 1000
    assert bswap32(418) == 0xA2010000


def test_a_value_counts_as_sent_swapped_or_signed():
    assert shown_as(1000, 1000)
    assert shown_as(1000, 3892510720)  # printed byte-swapped (%u of htonl(v))
    assert shown_as(3892510720, 1000)  # sent swapped, printed after ntohl
    assert shown_as(3892510720, -402456576)  # the same 32 bits printed with %d
    assert not shown_as(98, 99) and not shown_as(98, 98 << 8)


def test_the_server_output_numbers_leave_addresses_out():
    text = "listening on 0.0.0.0 port 30303\nconnection from 127.0.0.1:51234\nreceived: 5\nnumber -7 (x)\n"
    assert output_integers(text) == [30303, 5, -7]
    assert output_integers("v2.0 got 8") == [8]  # a version-like token is not a value


def test_alignment_keeps_order_and_skips_noise():
    printed = [30303, 1, 1, 1, 2, 3, 2, 1, 1, 2, 3, 418]  # "connection 1", then the values, then run 2
    assert align([1, 1, 2, 3, 1, 1, 2, 3, 418], printed) == [True] * 9
    # a value the server dropped in each run is found missing in each, not borrowed from the next run
    dropped = [30303, 1, 1, 1, 2, 5, 2, 1, 1, 2, 5]
    assert align([1, 1, 2, 3, 5, 1, 1, 2, 3, 5], dropped) == [True, True, True, False, True] * 2
    # printed in the wrong order: one of the two cannot be placed
    assert align([5, 6], [6, 5]).count(True) == 1


def test_readings_choose_what_the_server_shows():
    binary = words(1, 1, 2, 3, 5)
    assert [r.encoding for r in readings([binary])] == ["binary"]
    ambiguous = words(48, 49)  # b"\0\0\0" + "0", b"\0\0\0" + "1": text-looking bytes
    assert [r.encoding for r in readings([ambiguous])] == ["text", "binary"]
    assert best_reading([ambiguous], [48, 49]).encoding == "binary"
    assert best_reading([ambiguous], [0, 1]).encoding == "text"
    assert best_reading([b"1000\n2000\n"], [1000, 2000]).items == (1000, 2000)
    # every connection of the run must read the same way
    assert best_reading([b"12\n", words(5)], [12, 5]) is None
