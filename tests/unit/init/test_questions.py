"""init's questions: asked in order, defaults, the key menu, and the plan they make."""

from __future__ import annotations

import pytest

from sockdeploy.errors import UsageError
from sockdeploy.init import questions
from sockdeploy.init.questions import CREATE, NONE, Answers
from tests.unit.init.helpers import Script


def test_every_question_in_order_with_scripted_answers(home):
    ask = Script(["example.org", "bob", "1", "yes", "tunnel", "Ada Lovelace, Alan Turing"])
    a = questions.ask_missing(Answers(), ask, creating_allowed=False)
    assert [q.split("\n")[0] for q, _ in ask.asked] == [
        "Login host", "User name on example.org", "Key to log in with:",
        "Install the key on example.org now (one password login, like ssh-copy-id)?",
        "How does this machine reach the course ports (auto, direct, vpn, tunnel)?",
        "Group members' names, separated by commas (empty: none)"]
    assert ask.asked[0][1] == "shell.cec.wustl.edu"
    assert (a.host, a.user, a.identity, a.install_key, a.via, a.members) == (
        "example.org", "bob", CREATE, True, "tunnel", ["Ada Lovelace", "Alan Turing"])


def test_flags_leave_nothing_to_ask(home):
    ask = Script([])
    given = Answers(host="h", user="u", identity=NONE, via="direct", members=[])
    a = questions.ask_missing(given, ask, creating_allowed=True)
    assert ask.asked == []
    assert a.install_key is False  # no key: nothing to install, not asked


def test_empty_answers_take_the_defaults(home, monkeypatch):
    monkeypatch.setattr(questions, "local_user", lambda: "pi")
    a = questions.ask_missing(Answers(), Script([]), creating_allowed=False)
    assert (a.host, a.user, a.identity, a.install_key, a.via, a.members) == (
        "shell.cec.wustl.edu", "pi", NONE, False, "auto", [])


def test_key_menu_defaults(home):
    # no key, a person at a terminal: create one and install it
    ask = Script([])
    a = questions.ask_missing(Answers(host="h", user="u", via="auto", members=[]), ask, creating_allowed=True)
    assert a.identity == CREATE and a.install_key is True
    # no terminal: defaults never create a key or log in
    a = questions.ask_missing(Answers(host="h", user="u", via="auto", members=[]), Script([]), creating_allowed=False)
    assert a.identity == NONE and a.install_key is False
    # an existing key is offered first and is the default; no new one over it
    ssh = home / ".ssh"
    ssh.mkdir()
    (ssh / "id_ed25519").write_text("x")
    ask = Script([])
    a = questions.ask_missing(Answers(host="h", user="u", via="auto", members=[]), ask, creating_allowed=True)
    assert a.identity == str(ssh / "id_ed25519") and a.install_key is False
    assert "create a new key" not in ask.asked[0][0]


@pytest.mark.parametrize("answer, fragment", [("9", "no choice 9"), ("wormhole", None)])
def test_bad_menu_and_via_answers(home, answer, fragment):
    if fragment:
        with pytest.raises(UsageError, match=fragment):
            questions.ask_missing(Answers(host="h", user="u"), Script([answer]), creating_allowed=False)
    else:
        with pytest.raises(UsageError, match="'wormhole' is not one of"):
            questions.ask_missing(Answers(host="h", user="u", identity=NONE), Script([answer]), creating_allowed=False)


def test_plan_refuses_installing_nothing_and_missing_keys(home):
    with pytest.raises(UsageError, match="--install-key needs a key"):
        questions.make_plan(Answers(host="h", user="u", identity=NONE, install_key=True, via="auto", members=[]))
    with pytest.raises(UsageError, match="identity file not found"):
        questions.make_plan(Answers(host="h", user="u", identity=str(home / "nope"), via="auto", members=[]))
    p = questions.make_plan(Answers(host="h", user="u", identity=CREATE, new_key=str(home / "k"), via="auto", members=[]))
    assert p.create_key and p.identity == home / "k"
