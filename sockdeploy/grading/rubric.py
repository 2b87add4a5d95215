"""A grader's rubric (`batch --rubric FILE`): which checks count and for how many points, plus regexes over the logs.

    checks:                 # check name (see payload.yaml's checks:) -> points; `passed`: the whole run passed
      built: 1
      integers: 4
      quit: 1
    patterns:               # extra points for what a log shows
      - name: announces each connection
        log: server         # server, client (any client run's log) or any
        regex: "^connection \\d+"
        points: 1
        count: 2            # at least this many matches (default 1)

Without --rubric every check the exercise judges is worth 1 point (`passed`
when it judges none).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from sockdeploy.errors import ConfigError
from sockdeploy.grading.outcome import Outcome
from sockdeploy.run.record import RunRecord
from sockdeploy.spec.checks import CHECK_NAMES
from sockdeploy.spec.loader import Section, load_located

PASSED_RULE = "passed"
RULE_NAMES = (*CHECK_NAMES, PASSED_RULE)
LOGS = ("server", "client", "any")


@dataclass(frozen=True)
class Pattern:
    """Points for a regex some log shows (at least COUNT times)."""

    name: str
    log: str
    regex: str
    points: float
    count: int = 1


@dataclass(frozen=True)
class Rubric:
    """The points of each check and pattern; `where` keeps each check rule's FILE:LINE for later errors."""

    checks: Tuple[Tuple[str, float], ...]
    patterns: Tuple[Pattern, ...] = ()
    path: Optional[Path] = None
    where: Dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def max_points(self) -> float:
        return sum(p for _, p in self.checks) + sum(p.points for p in self.patterns)


@dataclass
class ScoreItem:
    rule: str
    points: float
    max: float
    ok: Optional[bool]
    comment: str = ""
    reached: bool = True

    def to_dict(self) -> Dict[str, Any]:
        return {"rule": self.rule, "points": self.points, "max": self.max, "ok": self.ok, "comment": self.comment}


@dataclass
class Score:
    """One submission's points under the rubric, with a short comment per rule it lost points on."""

    points: float
    max: float
    items: List[ScoreItem]
    note: str = ""  # why no check could be scored (the submission did not run)

    def comment(self) -> str:
        """The comments on what lost points, for the gradebook: one per failed check, not-reached ones together."""
        if self.note:
            return self.note
        lost = [i for i in self.items if not i.ok]
        parts = [f"{i.rule}: {i.comment}" for i in lost if i.reached]
        later = [i.rule for i in lost if not i.reached]
        if later:
            parts.append(f"not reached: {', '.join(later)}")
        return "; ".join(parts)

    def to_dict(self) -> Dict[str, Any]:
        return {"points": self.points, "max": self.max, "comment": self.comment(),
                "items": [i.to_dict() for i in self.items]}


def _number(sec: Section, key: Any, value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise sec.fail(key, f"{what} must be a number of points (0 or more), got {value!r}", "e.g. 2 or 0.5")
    return float(value)


def _pattern(doc: Any, i: int) -> Pattern:
    sec = Section(doc, ("patterns", i), ConfigError)
    sec.only(["name", "log", "regex", "points", "count"])
    regex = sec.get("regex", str, required=True, what='"^received"')
    try:
        re.compile(regex)
    except re.error as exc:
        raise sec.fail("regex", f"patterns[{i + 1}].regex: bad regular expression {regex!r}: {exc}",
                       "escape special characters with \\") from None
    log = sec.get("log", str, "any")
    if log not in LOGS:
        raise sec.fail("log", f"patterns[{i + 1}].log {log!r} is not one of {', '.join(LOGS)}", "write server, client or any")
    count = sec.get("count", int, 1)
    if count < 1:
        raise sec.fail("count", f"patterns[{i + 1}].count must be 1 or more", "the least number of matches, e.g. 2")
    return Pattern(name=sec.get("name", str, f"/{regex}/ in the {log} log"), log=log, regex=regex,
                   points=_number(sec, "points", sec.get("points", (int, float), required=True, what="1"),
                                  f"patterns[{i + 1}].points"), count=count)


def load_rubric(path: Path) -> Rubric:
    """Read and validate a rubric file; every mistake names FILE:LINE."""
    doc = load_located(path, ConfigError)
    if not isinstance(doc.data, dict):
        raise ConfigError("a rubric must be a mapping with 'checks' and/or 'patterns'",
                          "see `sockdeploy batch --help` for an example", where=f"{path}:1")
    top = Section(doc, (), ConfigError)
    top.only(["checks", "patterns"])
    checks = top.sub("checks")
    checks.only(list(RULE_NAMES))
    rules = tuple((str(k), _number(checks, k, v, f"checks.{k}")) for k, v in checks.value.items())
    raw = top.get("patterns", list, [])
    patterns = tuple(_pattern(doc, i) for i in range(len(raw)))
    if not rules and not patterns:
        raise ConfigError("the rubric gives no points: it has no checks and no patterns",
                          "add e.g. 'checks: {integers: 4, quit: 1}'", where=f"{path}:1")
    return Rubric(rules, patterns, path, {name: doc.where(("checks", name)) for name, _ in rules})


def require_judged(rubric: Rubric, judged: Sequence[str], plan: str) -> None:
    """Refuse a rubric that counts a check no submission's plan judges (it could only ever score 0)."""
    for name, _ in rubric.checks:
        if name != PASSED_RULE and name not in judged:
            have = ", ".join(judged) if judged else "none"
            raise ConfigError(f"the rubric counts check '{name}', which {plan} does not judge (it judges: {have})",
                              "drop it from the rubric, or add it to the checks: section of the exercise's payload.yaml",
                              where=rubric.where.get(name))


def default_rubric(enabled: Sequence[str]) -> Rubric:
    """One point per check the exercise judges; one for passing when it judges none."""
    return Rubric(tuple((name, 1.0) for name in enabled) or ((PASSED_RULE, 1.0),))


def _log_text(folder: Optional[Path], which: str) -> List[str]:
    """The output of the logs WHICH names (the command line above it and the ending below left out)."""
    if folder is None or not folder.is_dir():
        return []
    names = sorted(p.name for p in folder.glob("client-*.log")) if which == "client" else ["server.log"]
    if which == "any":
        names = ["server.log"] + sorted(p.name for p in folder.glob("client-*.log"))
    out = []
    for name in names:
        try:
            lines = (folder / name).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        body = lines[1:-1] if lines and lines[-1].startswith("[") else lines[1:]
        out.append("\n".join(line for line in body if not line.startswith("[typed] ")))
    return out


def score(rubric: Rubric, outcome: Outcome) -> Score:
    """Score one submission: each check rule by its recorded check, each pattern over its logs."""
    record = outcome.record if isinstance(outcome.record, RunRecord) else None
    checks = {c.check: c for c in (record.checks or [])} if record is not None else {}
    items: List[ScoreItem] = []
    for name, points in rubric.checks:
        if name == PASSED_RULE:
            items.append(ScoreItem(name, points if outcome.passed else 0.0, points, outcome.passed,
                                   "" if outcome.passed else outcome.reason))
            continue
        c = checks.get(name)
        if c is None:
            items.append(ScoreItem(name, 0.0, points, None, "not judged", reached=False))
        else:
            items.append(ScoreItem(name, points if c.ok else 0.0, points, c.ok, c.detail, c.reached))
    for p in rubric.patterns:
        logs = _log_text(outcome.folder, p.log)
        n = sum(len(re.findall(p.regex, text, re.MULTILINE)) for text in logs)
        items.append(ScoreItem(p.name, p.points if n >= p.count else 0.0, p.points, n >= p.count,
                               f"{n} match{'es' * (n != 1)}, {p.count} needed" if n < p.count else "",
                               reached=bool(logs)))  # no such log: the program never ran
    # a submission that never got as far as its checks gets one comment: why
    unjudged = not checks and not outcome.passed and any(n != PASSED_RULE for n, _ in rubric.checks)
    note = f"{outcome.verdict}: {outcome.reason}" if unjudged else ""
    total = sum(i.points for i in items)
    return Score(points=total, max=rubric.max_points, items=items, note=note)
