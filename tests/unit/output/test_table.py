"""The one table renderer: columns line up, a rule under the header, no trailing blanks."""

from __future__ import annotations

import pytest

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


DOCTOR_ROWS = [
    ["config", "FAIL", "no hosts.yaml found (looked at --hosts, $SOCKDEPLOY_HOSTS, /home/ada/studio/hosts.yaml and "
     "/home/ada/.config/sockdeploy/hosts.yaml)", "run `sockdeploy init` to write one, or pass --hosts PATH"],
    ["free port", "ok", "ports 30000-40000: 31522 is free", ""],
]


def _words(text: str) -> list:
    return text.split()


@pytest.mark.parametrize("width", [60, 80, 200])
def test_a_table_fits_the_width_without_breaking_words(width: int) -> None:
    table = render_table(DOCTOR_ROWS, ["check", "result", "detail", "fix"], width=width)
    lines = table.splitlines()
    assert max(len(line) for line in lines) <= width
    assert "30000-40000:" in _words(table)
    # every word of every cell is still there, whole
    for row in DOCTOR_ROWS:
        for cell in row:
            for word in cell.split():
                if len(word) <= 24:
                    assert word in _words(table), (word, table)


def test_a_wide_terminal_keeps_one_line_per_row() -> None:
    table = render_table(DOCTOR_ROWS, ["check", "result", "detail", "fix"], width=400)
    assert len(table.splitlines()) == 2 + len(DOCTOR_ROWS)


def test_piped_output_is_fitted_to_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    # pytest's stdout is not a terminal: the fallback applies
    assert max(len(line) for line in render_table(DOCTOR_ROWS, ["check", "result", "detail", "fix"]).splitlines()) <= 80
