"""Helpers for init's tests: scripted answers and a plan with defaults."""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from sockdeploy.init import questions


class Script:
    """Answers questions from a list, recording what was asked."""

    def __init__(self, answers: Sequence[str]) -> None:
        self.answers = list(answers)
        self.asked: List[Tuple[str, str]] = []

    def __call__(self, question: str, default: str, choices: Optional[Sequence[str]]) -> str:
        self.asked.append((question, default))
        return self.answers.pop(0) if self.answers else ""


def plan(**changes) -> questions.Plan:  # type: ignore[no-untyped-def]
    base = dict(host="shell.cec.wustl.edu", user="jdoe", port=None, identity=None, create_key=False,
                install_key=False, via="auto", members=())
    base.update(changes)
    return questions.Plan(**base)  # type: ignore[arg-type]
