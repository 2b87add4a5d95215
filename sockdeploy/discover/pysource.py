"""Read one Python source file with Python's own ast module."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

from sockdeploy.discover.facts import ADDRESS, PORT, ProgramFacts
from sockdeploy.discover.usage import parse_usage

SOCKET_METHODS = {"bind", "listen", "accept", "connect", "sendto", "recvfrom"}
Value = Union[int, str, Tuple[str, int], None]


class PyReader(ast.NodeVisitor):
    """Fill in a Python program's ProgramFacts in one pass (after collecting its assignments)."""

    def __init__(self, tree: ast.AST, facts: ProgramFacts) -> None:
        self.tree = tree
        self.facts = facts
        self.bindings: Dict[str, ast.expr] = {}

    def read(self) -> ProgramFacts:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                self._bind(node.targets[0], node.value)
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                self._bind(node.target, node.value)
        self.facts.has_main = True  # a script runs from its top
        self.visit(self.tree)
        return self.facts

    def _bind(self, target: ast.expr, value: ast.expr) -> None:
        if isinstance(target, ast.Name):
            self.bindings[target.id] = value
        elif isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple) and len(target.elts) == len(value.elts):
            for t, v in zip(target.elts, value.elts):
                self._bind(t, v)

    def value(self, node: Optional[ast.expr], depth: int = 0) -> Value:
        """Follow an expression to a literal or an argv position."""
        if node is None or depth > 4:
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, str)) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.Subscript) and _is_argv(node.value):
            index = node.slice
            if isinstance(index, ast.Constant) and isinstance(index.value, int):
                return ("argv", index.value)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("int", "str") and node.args:
            return self.value(node.args[0], depth + 1)
        if isinstance(node, ast.Name):
            return self.value(self.bindings.get(node.id), depth + 1)
        return None

    def visit_Call(self, node: ast.Call) -> None:
        name = _called_name(node.func)
        if name == "socket":
            for arg in node.args:
                self._note_constant(_called_name(arg))
            if not node.args:
                self.facts.families.add("AF_INET")
                self.facts.socktypes.add("tcp")
        elif name in SOCKET_METHODS and isinstance(node.func, ast.Attribute):
            self.facts.calls.add(name)
            where = node.args[-1] if name in ("bind", "connect", "sendto") and node.args else None
            self._note_endpoint(where, name)
        elif name in ("create_connection", "create_server") and node.args:
            self.facts.calls.update({"connect"} if name == "create_connection" else {"bind", "listen"})
            self.facts.families.add("AF_INET")
            self.facts.socktypes.add("tcp")
            self._note_endpoint(node.args[0], name)
        elif name == "input":
            self.facts.reads_stdin = True
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and self.facts.usage is None:
            for line in node.value.splitlines():
                if "usage" in line.lower():
                    self.facts.usage = line.strip()
                    break

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self._note_constant(node.attr)
        if node.attr == "stdin" and isinstance(node.value, ast.Name) and node.value.id == "sys":
            self.facts.reads_stdin = True
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        self._note_constant(node.id)

    def visit_Compare(self, node: ast.Compare) -> None:
        sides = [node.left, *node.comparators]
        values = [self.value(s) for s in sides]
        words = [v for v in values if isinstance(v, str) and v.isalpha()]
        for v in values:
            if isinstance(v, tuple) and words:
                self.facts.note_quit(v[1], words[0])
        if words and any(isinstance(op, ast.In) for op in node.ops) and any(_is_argv(s) for s in node.comparators):
            self.facts.note_quit(max(self.facts.args, default=0) + 1, words[0])
        self.generic_visit(node)

    def _note_constant(self, name: str) -> None:
        if name in ("AF_INET", "AF_INET6", "AF_UNIX"):
            self.facts.families.add(name)
        elif name == "SOCK_STREAM":
            self.facts.socktypes.add("tcp")
        elif name == "SOCK_DGRAM":
            self.facts.socktypes.add("udp")

    def _note_endpoint(self, node: Optional[ast.expr], call: str) -> None:
        if isinstance(node, ast.Name):
            bound = self.bindings.get(node.id)
            node = bound if isinstance(bound, ast.Tuple) else node
        if not isinstance(node, ast.Tuple) or len(node.elts) < 2:
            return
        host, port = self.value(node.elts[0]), self.value(node.elts[1])
        if isinstance(host, str) and host and host not in self.facts.address_literals:
            self.facts.address_literals.append(host)
        elif isinstance(host, tuple):
            self.facts.note_arg(host[1], ADDRESS, f"sys.argv[{host[1]}] is the address given to {call}()")
        if isinstance(port, int) and 0 < port < 65536 and port not in self.facts.port_literals:
            self.facts.port_literals.append(port)
        elif isinstance(port, tuple):
            self.facts.note_arg(port[1], PORT, f"sys.argv[{port[1]}] is the port given to {call}()")


def _called_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _is_argv(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "argv" or isinstance(node, ast.Name) and node.id == "argv"


def read_python(path: Path, rel: Path) -> ProgramFacts:
    """Return what the Python file at PATH says about itself (REL is its name within the folder)."""
    facts = ProgramFacts(path=rel, language="python")
    try:
        tree = ast.parse(path.read_bytes(), filename=str(rel))
    except (SyntaxError, ValueError):
        return facts  # not Python 3 (or not Python): no facts, the folder report says so
    PyReader(tree, facts).read()
    if facts.usage:
        for index, meaning in parse_usage(facts.usage).items():
            if meaning != "quit":
                facts.note_arg(index, meaning, f"the usage message names sys.argv[{index}]")
    return facts
