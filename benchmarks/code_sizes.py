"""The largest module, class and function of the project (by lines), as issue 11 asks to show before and after.

    python benchmarks/code_sizes.py [DIR ...]      (default: core bot)
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path


def sizes(roots: list[Path]) -> dict[str, list[tuple[int, str]]]:
    out: dict[str, list[tuple[int, str]]] = {"module": [], "class": [], "function": []}
    for root in roots:
        for p in sorted(root.rglob("*.py")):
            text = p.read_text(encoding="utf-8")
            out["module"].append((len(text.splitlines()), str(p)))
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.ClassDef):
                    out["class"].append((node.end_lineno - node.lineno + 1, f"{p}:{node.name}"))
                elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    out["function"].append((node.end_lineno - node.lineno + 1, f"{p}:{node.name}"))
    return out


def main(argv: list[str]) -> int:
    roots = [Path(a) for a in argv] or [Path("core"), Path("bot")]
    for kind, rows in sizes(roots).items():
        top = sorted(rows, reverse=True)[:3]
        print(f"largest {kind}s: " + "; ".join(f"{n} lines {where}" for n, where in top))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
