"""Read one C source file with tree-sitter's C grammar.

tree-sitter, not pycparser: students' files do not always compile, use GNU
extensions from glibc's headers, and are read here before any preprocessor
has run. pycparser needs preprocessed, valid C (and fake libc headers);
tree-sitter parses any text, keeps going past errors and gives every
node's text, which is all discovery needs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterator, List, Optional, Tuple, Union

from sockdeploy.discover.facts import ADDRESS, PORT, SOCKET, ProgramFacts
from sockdeploy.discover.usage import parse_usage
from sockdeploy.errors import PayloadError

if TYPE_CHECKING:
    from tree_sitter import Node, Parser

SOCKET_CALLS = {"bind", "listen", "accept", "connect", "sendto", "recvfrom"}
ADDRESS_CALLS = {"inet_addr": 0, "inet_aton": 0, "inet_pton": 1, "gethostbyname": 0, "getaddrinfo": 0}
TO_INT_CALLS = {"atoi", "atol", "strtol", "strtoul", "stoi"}
COMPARE_CALLS = {"strcmp", "strncmp", "strcasecmp", "strncasecmp"}
PATH_CALLS = {"strcpy": 1, "strncpy": 1, "unlink": 0, "snprintf": 3, "sprintf": 2}  # where a socket file path goes
STDIN_CALLS = {"scanf", "getchar", "gets", "fgets", "getline", "fscanf", "read", "fgetc", "getc"}
MATH_CALLS = {"sqrt", "pow", "floor", "ceil", "log", "exp", "fabs", "round", "sin", "cos"}
_INT = re.compile(r"^(0x[0-9a-fA-F]+|\d+)[uUlL]*$")

# What an expression comes to, as far as discovery can follow it.
Value = Union[int, str, Tuple[str, int], None]  # literal int, literal string, ("argv", N)


def _parser() -> Parser:
    try:
        import tree_sitter_c
        from tree_sitter import Language, Parser
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise PayloadError("cannot read C sources: the tree-sitter C grammar is not installed",
                           "reinstall sockdeploy (pip install --force-reinstall sockdeploy)") from exc
    return Parser(Language(tree_sitter_c.language()))


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", "replace")


def _walk(node: Node) -> Iterator[Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def _string(node: Node) -> Optional[str]:
    if node.type == "string_literal":
        return "".join(_text(c) for c in node.children if c.type in ("string_content", "escape_sequence"))
    if node.type == "concatenated_string":
        parts = [_string(c) for c in node.children]
        return "".join(p for p in parts if p is not None)
    return None


class CReader:
    """Walk one file's syntax tree once and fill in its ProgramFacts."""

    def __init__(self, source: bytes, facts: ProgramFacts) -> None:
        self.tree = _parser().parse(source)
        self.facts = facts
        self.macros: Dict[str, str] = {}
        self.bindings: Dict[str, Node] = {}  # variable -> the last expression assigned to it
        self.argv_names = {"argv"}

    def read(self) -> ProgramFacts:
        nodes = list(_walk(self.tree.root_node))
        for node in nodes:  # first the names, so calls can be followed to their values
            self._note_name(node)
        for node in nodes:
            if node.type == "call_expression":
                self._note_call(node)
            elif node.type == "identifier":
                self._note_constant(_text(node))
            elif node.type in ("struct_specifier", "field_identifier", "type_identifier"):
                self._note_constant(_text(node))
        return self.facts

    def _note_name(self, node: Node) -> None:
        if node.type == "preproc_def":
            macro, value = node.child_by_field_name("name"), node.child_by_field_name("value")
            if macro is not None and value is not None:
                self.macros[_text(macro)] = _text(value).strip()
        elif node.type == "preproc_include":
            path = node.child_by_field_name("path")
            if path is not None and path.type == "string_literal":
                self.facts.includes.append(_string(path) or "")
        elif node.type == "init_declarator" or node.type == "assignment_expression":
            left = node.child_by_field_name("declarator" if node.type == "init_declarator" else "left")
            right = node.child_by_field_name("value" if node.type == "init_declarator" else "right")
            if left is not None and right is not None:
                name = self._declared_name(left)
                if name:
                    self.bindings[name] = right
        elif node.type == "function_definition":
            self._note_function(node)
        elif node.type == "string_literal":
            text = _string(node) or ""
            if self.facts.usage is None and "usage" in text.lower():
                self.facts.usage = text.strip()

    def _note_function(self, node: Node) -> None:
        declarator = node.child_by_field_name("declarator")
        while declarator is not None and declarator.type != "function_declarator":
            declarator = declarator.child_by_field_name("declarator")
        if declarator is None:
            return
        name_node = declarator.child_by_field_name("declarator")
        name = _text(name_node) if name_node is not None else ""
        if name != "main":
            self.facts.defines.add(name)
            return
        self.facts.has_main = True
        params = declarator.child_by_field_name("parameters")
        names = [self._declared_name(p.child_by_field_name("declarator")) for p in (params.named_children if params else [])
                 if p.type == "parameter_declaration" and p.child_by_field_name("declarator") is not None]
        if len(names) >= 2 and names[1]:
            self.argv_names = {names[1]}

    def _declared_name(self, node: Optional[Node]) -> str:
        while node is not None and node.type != "identifier":
            node = node.child_by_field_name("declarator") or (node.named_children[0] if node.named_children else None)
        return _text(node) if node is not None else ""

    def _note_constant(self, name: str) -> None:
        if name in ("AF_INET", "PF_INET", "sockaddr_in", "sin_port"):
            self.facts.families.add("AF_INET")
        elif name in ("AF_INET6", "PF_INET6", "sockaddr_in6"):
            self.facts.families.add("AF_INET6")
        elif name in ("AF_UNIX", "AF_LOCAL", "PF_UNIX", "PF_LOCAL", "sockaddr_un", "sun_path"):
            self.facts.families.add("AF_UNIX")
        elif name in ("AF_UNSPEC", "PF_UNSPEC"):
            self.facts.families.add("AF_UNSPEC")
        elif name == "SOCK_STREAM":
            self.facts.socktypes.add("tcp")
        elif name == "SOCK_DGRAM":
            self.facts.socktypes.add("udp")

    def _note_call(self, node: Node) -> None:
        function = node.child_by_field_name("function")
        args_node = node.child_by_field_name("arguments")
        if function is None or args_node is None:
            return
        name = _text(function)
        args = [a for a in args_node.named_children if a.type != "comment"]
        self.facts.uses.add(name)
        if name in SOCKET_CALLS:
            self.facts.calls.add(name)
        if name == "htons" and args:
            self._note_port(args[0], "reaches htons()")
        elif name in ADDRESS_CALLS and len(args) > ADDRESS_CALLS[name]:
            self._note_address(args[ADDRESS_CALLS[name]], f"is passed to {name}()")
            if name == "getaddrinfo" and len(args) > 1:
                self._note_port(args[1], "is getaddrinfo()'s service")
        elif name in PATH_CALLS and len(args) > PATH_CALLS[name]:
            value = self.value(args[PATH_CALLS[name]])
            if isinstance(value, tuple) and "AF_UNIX" in self.facts.families | self._unix_hint(node):
                self.facts.note_arg(value[1], SOCKET, f"argv[{value[1]}] names the socket file ({name}())")
        elif name in COMPARE_CALLS and len(args) >= 2:
            self._note_compare(args[0], args[1])
        elif name in STDIN_CALLS:
            self._note_stdin(name, args)
        elif name in MATH_CALLS:
            self.facts.libraries.add("-lm")
        elif name.startswith("pthread_"):
            self.facts.libraries.add("-pthread")
        if name in ("printf", "fprintf", "puts", "fputs", "perror", "dprintf") and self.facts.usage is None:
            for a in args:
                text = _string(a)
                if text and "usage" in text.lower():
                    self.facts.usage = text.strip()

    def _unix_hint(self, node: Node) -> set:
        """{"AF_UNIX"} when the file mentions sun_path (its families may not all be read yet)."""
        root = node
        while root.parent is not None:
            root = root.parent
        return {"AF_UNIX"} if b"sun_path" in (root.text or b"") else set()

    def value(self, node: Optional[Node], depth: int = 0) -> Value:
        """Follow an expression to a literal or an argv position (a few steps at most)."""
        if node is None or depth > 4:
            return None
        kind = node.type
        if kind == "number_literal" and _INT.match(_text(node)):
            return int(_text(node).rstrip("uUlL"), 0)
        if kind in ("string_literal", "concatenated_string"):
            return _string(node)
        if kind == "subscript_expression":
            arg, index = node.child_by_field_name("argument"), node.child_by_field_name("index")
            if arg is not None and _text(arg) in self.argv_names and index is not None and _INT.match(_text(index)):
                return ("argv", int(_text(index), 0))
            return None
        if kind in ("parenthesized_expression", "cast_expression"):
            inner = node.child_by_field_name("value") or (node.named_children[-1] if node.named_children else None)
            return self.value(inner, depth + 1)
        if kind == "call_expression":
            function, args = node.child_by_field_name("function"), node.child_by_field_name("arguments")
            if function is not None and _text(function) in TO_INT_CALLS and args is not None and args.named_children:
                return self.value(args.named_children[0], depth + 1)
            if function is not None and _text(function) == "htons" and args is not None and args.named_children:
                return self.value(args.named_children[0], depth + 1)
            return None
        if kind == "identifier":
            name = _text(node)
            if name in self.macros:
                macro = self.macros[name].strip("()")
                if _INT.match(macro):
                    return int(macro.rstrip("uUlL"), 0)
                if macro.startswith('"') and macro.endswith('"'):
                    return macro[1:-1]
                return None
            return self.value(self.bindings.get(name), depth + 1)
        return None

    def _note_port(self, node: Node, how: str) -> None:
        value = self.value(node)
        if isinstance(value, int) and 0 < value < 65536:
            if value not in self.facts.port_literals:
                self.facts.port_literals.append(value)
        elif isinstance(value, tuple):
            self.facts.note_arg(value[1], PORT, f"argv[{value[1]}] {how}")
        elif isinstance(value, str) and value.isdigit() and 0 < int(value) < 65536:
            self.facts.port_literals.append(int(value))

    def _note_address(self, node: Node, how: str) -> None:
        value = self.value(node)
        if isinstance(value, str) and value and value not in self.facts.address_literals:
            self.facts.address_literals.append(value)
        elif isinstance(value, tuple):
            self.facts.note_arg(value[1], ADDRESS, f"argv[{value[1]}] {how}")

    def _note_compare(self, a: Node, b: Node) -> None:
        left, right = self.value(a), self.value(b)
        for arg, word in ((left, right), (right, left)):
            if isinstance(arg, tuple) and isinstance(word, str) and word.isalpha():
                self.facts.note_quit(arg[1], word)

    def _note_stdin(self, name: str, args: List[Node]) -> None:
        texts = [_text(a) for a in args]
        if name in ("scanf", "getchar", "gets"):
            self.facts.reads_stdin = True
        elif name == "read" and texts and texts[0] in ("0", "STDIN_FILENO"):
            self.facts.reads_stdin = True
        elif name != "read" and "stdin" in texts:
            self.facts.reads_stdin = True


def read_c(path: Path, rel: Path) -> ProgramFacts:
    """Return what FILE says about itself (REL is its name within the folder)."""
    facts = CReader(path.read_bytes(), ProgramFacts(path=rel, language="c")).read()
    if facts.usage:
        for index, meaning in parse_usage(facts.usage).items():
            if meaning != "quit":
                facts.note_arg(index, meaning, f"the usage message names argv[{index}]")
            elif facts.quit_index is None:
                facts.note_quit(index, "quit")
    return facts
