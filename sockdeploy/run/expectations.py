"""Check a run's logs against the payload's expectations."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional

from sockdeploy.spec.payload import Expectations

_PLACEHOLDER = re.compile(r"(?<!\$)\{(port|ip|host|socket)\}")


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str

    def to_dict(self) -> Dict[str, Any]:
        return {"check": self.name, "ok": self.ok, "detail": self.detail}


def _pattern(regex: str, values: Mapping[str, object]) -> re.Pattern[str]:
    """Compile `regex` with placeholders filled in literally (regex-escaped)."""
    filled = _PLACEHOLDER.sub(lambda m: re.escape(str(values.get(m.group(1)) or "")), regex)
    return re.compile(filled, re.MULTILINE)


def evaluate(exp: Expectations, server_log: str, client_logs: List[str], server_values: Mapping[str, object],
             client_values: Optional[Mapping[str, object]] = None) -> List[CheckResult]:
    """Return one result per expectation; the run passes only if all are ok.

    Placeholders take each side's own values: through a tunnel the server
    listens on {port} while its clients may connect to another local port.
    """
    cv = server_values if client_values is None else client_values
    results: List[CheckResult] = []
    for regex in exp.server:
        found = bool(_pattern(regex, server_values).search(server_log))
        results.append(CheckResult(f"server log shows /{regex}/", found, "found" if found else "not in server.log"))
    for regex in exp.client:
        hits = [i + 1 for i, log in enumerate(client_logs) if _pattern(regex, cv).search(log)]
        results.append(CheckResult(f"a client log shows /{regex}/", bool(hits),
                                   f"in run {', '.join(map(str, hits))}" if hits else "in no client log"))
    for run, regexes in exp.runs:
        log = client_logs[run - 1] if run <= len(client_logs) else ""
        for regex in regexes:
            found = bool(_pattern(regex, cv).search(log))
            results.append(CheckResult(f"run {run} shows /{regex}/", found, "found" if found else f"not in client-{run}.log"))
    for regex, minimum in exp.count:
        n = len(_pattern(regex, server_values).findall(server_log))
        n += sum(len(_pattern(regex, cv).findall(log)) for log in client_logs)
        results.append(CheckResult(f"/{regex}/ appears at least {minimum} times", n >= minimum, f"{n} times"))
    return results
