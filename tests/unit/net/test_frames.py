"""The relay's frames: id, length, datagram; a reader that waits for whole frames."""

from sockdeploy.net.frames import HEADER, FrameReader, pack


def test_a_frame_is_id_length_datagram_in_network_order():
    assert pack(1, b"hi") == b"\x00\x01\x00\x02hi"
    assert pack(258, b"") == b"\x01\x02\x00\x00"
    assert HEADER.size == 4


def test_the_reader_returns_whole_frames_in_order_and_keeps_a_partial_one():
    stream = pack(1, b"alpha") + pack(2, b"") + pack(1, b"x" * 65535)
    reader = FrameReader()
    assert reader.feed(stream[:3]) == [] and reader.pending == 3
    got = reader.feed(stream[3:16])
    assert got == [(1, b"alpha"), (2, b"")] and reader.pending == 3
    assert reader.feed(stream[16:]) == [(1, b"x" * 65535)] and reader.pending == 0


def test_byte_by_byte_gives_the_same_frames():
    stream = b"".join(pack(i, bytes([i]) * i) for i in range(1, 20))
    reader = FrameReader()
    got = [frame for i in range(len(stream)) for frame in reader.feed(stream[i:i + 1])]
    assert got == [(i, bytes([i]) * i) for i in range(1, 20)]
