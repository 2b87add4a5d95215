"""Read a program's argument convention from its usage message, e.g. "usage: %s <ip> <port> [quit]"."""

from __future__ import annotations

import re
from typing import Dict, Optional

from sockdeploy.discover.facts import ADDRESS, PORT, QUIT, SOCKET

_USAGE = re.compile(r"usage\s*:?\s*(.*)", re.I)
_WORD = re.compile(r"[<\[]?\s*([A-Za-z_][\w\- ]*?)\s*[>\]]?$")
_TOKEN = re.compile(r"<[^>]*>|\[[^\]]*\]|\S+")  # "<server ip>" is one placeholder


def meaning_of(word: str) -> Optional[str]:
    """Map one usage placeholder (ip, server_ip, hostname, port, quit...) to what it carries."""
    w = word.lower()
    if "quit" in w:
        return QUIT
    if "port" in w:
        return PORT
    if any(k in w for k in ("path", "sock", "file")):
        return SOCKET
    if any(k in w for k in ("ip", "host", "addr", "server")):
        return ADDRESS
    return None


def parse_usage(text: str) -> Dict[int, str]:
    """Return {argv index: meaning} for the placeholders after the program name in a usage message."""
    m = _USAGE.search(text)
    if not m:
        return {}
    words = _TOKEN.findall(m.group(1).replace("\\n", " "))
    # Leading words name the program: "%s", "./client", "python3 client.py", "client".
    while words and (words[0] in ("%s", "python", "python3") or words[0].startswith("./") or words[0].endswith(".py")):
        words = words[1:]
    if words and not words[0].startswith(("<", "[")) and not words[0].isupper() and meaning_of(words[0]) is None:
        words = words[1:]
    found: Dict[int, str] = {}
    for i, raw in enumerate(words, start=1):
        w = _WORD.match(raw.strip(",."))
        meaning = meaning_of(w.group(1)) if w else None
        if meaning is not None:
            found[i] = meaning
    return found
