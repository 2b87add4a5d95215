"""The package's shape: small classes and functions, host programs as files, no per-run class state."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "sockdeploy"
SCRIPTS = PACKAGE / "remote" / "scripts"
MAX_CLASS, MAX_FUNCTION = 300, 80

# A string that looks like a program for a shell or for python, not prose or a one-line command.
PROGRAM_SIGNS = re.compile(r"^\s*(#!|if .*; then|for .* do|while .*; do|fi$|done$|esac$|case .* in$|import \w|def \w+\(|"
                           r"trap |set -[eu])", re.M)


def modules() -> List[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if SCRIPTS not in p.parents)


def definitions(tree: ast.AST) -> Iterator[Tuple[str, ast.AST]]:
    for node in ast.walk(tree):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node


def sizes() -> Iterator[Tuple[str, str, int]]:
    for path in modules():
        for name, node in definitions(ast.parse(path.read_text())):
            kind = "class" if isinstance(node, ast.ClassDef) else "function"
            assert node.end_lineno is not None
            yield kind, f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {name}", node.end_lineno - node.lineno + 1


def test_no_class_over_300_lines_and_no_function_over_80() -> None:
    too_big = [f"{where} ({kind}, {n} lines)" for kind, where, n in sizes()
               if n > (MAX_CLASS if kind == "class" else MAX_FUNCTION)]
    assert too_big == []


def _docstrings(tree: ast.AST) -> set:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def test_no_multi_line_host_program_in_a_python_string() -> None:
    offenders = []
    for path in modules():
        tree = ast.parse(path.read_text())
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            pieces = []
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
                pieces = [node.value]
            elif isinstance(node, ast.JoinedStr):
                pieces = [v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
            text = "".join(pieces)
            if text.count("\n") >= 2 and PROGRAM_SIGNS.search(text):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert sorted(set(offenders)) == []


def test_no_class_attribute_holds_mutable_state() -> None:
    offenders = []
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            for stmt in node.body:
                value = stmt.value if isinstance(stmt, (ast.Assign, ast.AnnAssign)) else None
                if isinstance(value, (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)) or (
                        isinstance(value, ast.Call) and ast.unparse(value.func) in {"list", "dict", "set", "bytearray"}):
                    offenders.append(f"{path.relative_to(PACKAGE.parent)}:{stmt.lineno} {node.name}")
    assert offenders == []


def shipped_scripts(suffix: str) -> List[Path]:
    return sorted(SCRIPTS.glob(f"*{suffix}"))


@pytest.mark.parametrize("script", shipped_scripts(".py"), ids=lambda p: p.name)
def test_python_host_programs_parse_as_python_3_6(script: Path) -> None:
    # login hosts run old python3s; the CI also byte-compiles these with a real 3.6 where one is installed
    ast.parse(script.read_text(), filename=str(script), feature_version=(3, 6))


@pytest.mark.parametrize("script", shipped_scripts(".sh"), ids=lambda p: p.name)
def test_shell_host_programs_are_posix_sh(script: Path) -> None:
    assert script.read_text().startswith("#!/bin/sh\n")
    result = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_shipped_program_is_used() -> None:
    source = "\n".join(p.read_text() for p in modules())
    unused = [p.name for p in SCRIPTS.iterdir() if p.suffix in {".sh", ".py", ".c"} and p.name != "__init__.py"
              and f'"{p.name}"' not in source]
    assert unused == []

