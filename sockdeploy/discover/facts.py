"""What discovery learns about one program: its sockets, its literals and its argument convention."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Set

ADDRESS, PORT, QUIT, SOCKET = "address", "port", "quit", "socket"  # SOCKET: an AF_UNIX socket file path

# Calls that make a program a server or a client, whatever the language.
SERVER_CALLS = frozenset({"listen", "accept"})
CONNECT_CALLS = frozenset({"connect"})
DATAGRAM_SEND, DATAGRAM_RECEIVE = "sendto", "recvfrom"


@dataclass
class ArgUse:
    """One argv position the program reads, and what it means."""

    index: int
    meaning: str  # ADDRESS, PORT, QUIT
    evidence: str


@dataclass
class ProgramFacts:
    """Everything discovery found in one source file."""

    path: Path  # relative to the folder
    language: str  # "c" or "python"
    has_main: bool = False
    families: Set[str] = field(default_factory=set)  # AF_INET, AF_UNIX, AF_INET6
    socktypes: Set[str] = field(default_factory=set)  # tcp, udp
    calls: Set[str] = field(default_factory=set)  # socket calls seen
    port_literals: List[int] = field(default_factory=list)
    address_literals: List[str] = field(default_factory=list)
    args: Dict[int, ArgUse] = field(default_factory=dict)
    quit_index: Optional[int] = None  # the argv position compared with the quit word
    quit_word: Optional[str] = None
    reads_stdin: bool = False
    usage: Optional[str] = None
    defines: Set[str] = field(default_factory=set)  # functions defined here (main excluded)
    uses: Set[str] = field(default_factory=set)  # functions called here
    includes: List[str] = field(default_factory=list)  # local headers (#include "x.h")
    libraries: Set[str] = field(default_factory=set)  # -lm, -pthread ...

    @property
    def family(self) -> Optional[str]:
        """The address family the program uses; INET wins over a stray UNIX mention."""
        for name in ("AF_INET", "AF_INET6", "AF_UNIX", "AF_UNSPEC"):
            if name in self.families:
                return name
        return None

    def fits(self, family: str) -> bool:
        """Whether the program can play its part in an exercise of FAMILY (getaddrinfo's AF_UNSPEC fits INET)."""
        if self.family == family:
            return True
        internet = family in ("AF_INET", "AF_INET6")
        return internet and (self.family in (None, "AF_UNSPEC", "AF_INET", "AF_INET6")) and (
            self.language == "python" or self.family is not None or "getaddrinfo" in self.uses)

    @property
    def protocol(self) -> str:
        if "udp" in self.socktypes and "tcp" not in self.socktypes:
            return "udp"
        return "tcp"

    @property
    def role(self) -> Optional[str]:
        """'server', 'client' or None, from the socket calls the program makes."""
        if self.calls & SERVER_CALLS:
            return "server"
        if "bind" in self.calls and DATAGRAM_RECEIVE in self.calls and not self.calls & CONNECT_CALLS:
            return "server"
        if self.calls & CONNECT_CALLS or DATAGRAM_SEND in self.calls:
            return "client"
        return None

    @property
    def quit_alone(self) -> bool:
        """Whether the quit word only counts as the sole argument (its position also carries something else)."""
        return self.quit_index is not None and self.quit_index in self.args

    def note_quit(self, index: int, word: str) -> None:
        if self.quit_index is None and index >= 1:
            self.quit_index, self.quit_word = index, word

    def note_arg(self, index: int, meaning: str, evidence: str) -> None:
        """Record what argv[INDEX] means; the first evidence found for a position is kept."""
        if index >= 1 and index not in self.args:
            self.args[index] = ArgUse(index, meaning, evidence)

    def arg_meanings(self) -> Dict[int, str]:
        return {i: use.meaning for i, use in sorted(self.args.items())}
