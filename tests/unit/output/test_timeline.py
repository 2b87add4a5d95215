from sockdeploy.output.clock import ClockOffset, estimate
from sockdeploy.output.timeline import Source, clock_note, merge, render


def test_estimate_trusts_the_shortest_round_trip():
    # sent, remote, received: the second sample's round trip is shortest
    got = estimate([(10.0, 130.5, 10.8), (11.0, 131.05, 11.1), (12.0, 132.9, 12.6)])
    assert got is not None
    assert abs(got.offset - 120.0) < 1e-9 and abs(got.uncertainty - 0.05) < 1e-9 and got.samples == 3


def test_estimate_without_samples_is_none():
    assert estimate([]) is None


def test_merge_moves_server_lines_onto_the_local_clock():
    offset = ClockOffset(offset=100.0, uncertainty=0.001, samples=5)
    server = Source("server", "listening\naccepted\n", [200.0, 201.5], remote=True)
    client = Source("client 1", "connected\ndone\n", [101.0, 102.0])
    lines = [(e.label, e.text) for e in merge([server, client], offset)]
    assert lines == [("server", "listening"), ("client 1", "connected"), ("server", "accepted"), ("client 1", "done")]
    # uncorrected, every server line would come last
    naive = [(e.label, e.text) for e in merge([server, client], None)]
    assert naive[-1] == ("server", "accepted") and naive[0] == ("client 1", "connected")


def test_lines_without_times_follow_their_terminal():
    lines = merge([Source("client 1", "a\nb\nc\n", [5.0]), Source("server", "x\n", [5.5])], None)
    assert [e.text for e in lines] == ["a", "b", "c", "x"]


def test_render_says_which_clock():
    offset = ClockOffset(offset=-3.25, uncertainty=0.0004, samples=5)
    text = render(merge([Source("server", "hi\n", [10.0], remote=True)], offset), clock_note(offset, "shell"))
    assert text.splitlines()[0] == "# merged timeline; shell's clock is -3.250 s from this one (± 0.4 ms), corrected"
    assert text.splitlines()[1].endswith("server | hi")
    assert "one clock" in clock_note(None, None) and "could not be read" in clock_note(None, "shell")


def test_line_times_follow_the_first_byte_of_each_line():
    from sockdeploy.output.logcap import LineTimes

    t = LineTimes()
    t.feed(b"one\ntw", 1.0)  # "two" began in this chunk
    t.feed(b"o\nthree\nfo", 2.0)
    t.feed(b"ur", 3.0)
    assert t.end() == [1.0, 1.0, 2.0, 2.0]  # one, two, three, and the unfinished "four"
