"""The one table renderer: columns line up, a rule under the header, no trailing blanks."""

from __future__ import annotations

from sockdeploy.output.table import render_table


def test_columns_line_up_under_the_header():
    table = render_table([["g1", "passed", 1.5], ["group-two", "timed out", 12]], ["submission", "result", "seconds"])
    lines = table.splitlines()
    assert lines[0] == "submission  result     seconds"
    assert lines[1] == "----------  ---------  -------"
    assert lines[2] == "g1          passed     1.5"
    assert lines[3] == "group-two   timed out  12"


def test_no_line_ends_in_blanks_even_with_an_empty_last_cell():
    table = render_table([["config", "ok", ""], ["login", "FAIL", "denied"]], ["check", "result", "fix"])
    assert all(line == line.rstrip() for line in table.splitlines())


def test_no_rows_is_just_the_header():
    assert render_table([], ["port", "to"]) == "port  to\n----  --"
