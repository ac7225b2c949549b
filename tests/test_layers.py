"""The layers, read from the source (every import, function-level ones included): core knows no chat platform,
and the model knows neither Discogs nor the database."""
from __future__ import annotations

import ast
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: the model: features, neighbours, scorers, calibration, reasons — pure functions of releases and collections
MODEL = ["core/model", "core/ingest/vocab.py"]


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names; relative imports resolved against its package)."""
    return imports_of(path.read_text(encoding="utf-8"), ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1]))


def parse(source: str) -> ast.Module:
    """``ast.parse``, or in a fresh interpreter when this one's AST recursion counter is off: CPython 3.11.7 raises
    "SystemError: AST constructor recursion depth mismatch" in a process where an earlier deep recursion (another
    test's) left it so (a CPython 3.11 bug, python/cpython gh-106905); a thread of the same process is not enough."""
    try:
        return ast.parse(source)
    except SystemError:
        code = "import ast, pickle, sys; sys.stdout.buffer.write(pickle.dumps(ast.parse(sys.stdin.read())))"
        out = subprocess.run([sys.executable, "-c", code], input=source.encode(), capture_output=True, check=True)
        return pickle.loads(out.stdout)


def imports_of(source: str, package: str) -> set[str]:
    tree = parse(source)
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
    return out


def files(*where: str) -> list[Path]:
    out: list[Path] = []
    for w in where:
        p = ROOT / w
        out.extend(sorted(p.rglob("*.py")) if p.is_dir() else [p])
    return out


def offending(paths: list[Path], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    bad = {}
    for p in paths:
        hits = sorted(m for m in imports(p) if any(m == f or m.startswith(f + ".") for f in forbidden))
        if hits:
            bad[str(p.relative_to(ROOT))] = hits
    return bad


def test_core_knows_no_chat_platform():
    assert offending(files("core"), ("bot", "telegram", "discord")) == {}


def test_the_model_knows_neither_discogs_nor_the_database_nor_the_recommender():
    assert offending(files(*MODEL), ("core.discogs", "core.storage", "core.recommender", "core.app.conversation",
                                     "core.discogs.sync", "sqlmodel", "sqlalchemy", "bot")) == {}


def test_the_discogs_layer_knows_no_model_and_no_chat():
    assert offending(files("core/discogs"), ("core.model.scorers", "core.model.features", "core.recommender", "bot",
                                             "telegram", "discord")) == {}


@pytest.mark.parametrize("source,found", [("from core.model.scorers import x", "core.model.scorers"),
                                          ("def f():\n    from ..storage import Store", "core.storage"),
                                          ("import bot.cli as c", "bot.cli")])
def test_the_layer_check_sees_late_and_relative_imports(source, found):
    """The check itself: function-level and relative imports are seen (as if in core/discogs/)."""
    assert found in imports_of(source, "core.discogs")


def test_chat_adapters_call_only_the_application_layer():
    """Telegram and the terminal chat import nothing of core but ``core.app`` (the use cases and the result
    types it exports), so a Discord adapter is a matter of translation. The CLI too."""
    bad = {}
    for p in files("bot"):
        hits = sorted(m for m in imports(p) if m.startswith("core") and not (m == "core.app" or
                                                                             m.startswith("core.app.")))
        if hits:
            bad[str(p.relative_to(ROOT))] = hits
    assert bad == {}


def test_the_catalogue_and_picks_sit_below_the_application():
    """The candidate catalogue knows no picks, no users' data and no application; picks know no application."""
    assert offending(files("core/catalogue"), ("core.picks", "core.app", "core.learning", "core.recommender",
                                               "core.storage", "core.discogs", "bot")) == {}
    assert offending(files("core/picks"), ("core.app", "core.learning", "core.discogs", "bot", "telegram",
                                           "discord")) == {}


def _module_of(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    return ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)


def import_cycles(roots: tuple[str, ...] = ("core", "bot")) -> list[list[str]]:
    """The import graph's cycles (strongly connected sets of modules), every import counted — function-level and
    ``TYPE_CHECKING`` ones included, so a late import cannot hide one."""
    mods = {_module_of(p): p for p in files(*roots)}
    graph: dict[str, set[str]] = {}
    for name, p in mods.items():
        deps = set()
        for m in imports(p):
            parts = m.split(".")
            for k in range(len(parts), 0, -1):   # the longest known module the name is in
                cand = ".".join(parts[:k])
                if cand in mods:
                    if cand != name:
                        deps.add(cand)
                    break
        graph[name] = deps
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:   # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_no_import_cycles():
    assert import_cycles() == []


def test_the_cycle_check_sees_a_cycle(tmp_path, monkeypatch):
    """The check itself, on two modules that import each other (one of them late, inside a function)."""
    pkg = tmp_path / "core"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from core.b import f\n")
    (pkg / "b.py").write_text("def f():\n    from core import a\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    assert import_cycles(("core",)) == [["core.a", "core.b"]]


def test_what_every_adapter_shares_knows_no_platform():
    """``bot/common`` (progress, busy flags, the token guard, the working sign) is written once for every platform."""
    assert offending(files("bot/common"), ("telegram", "discord", "bot.telegram", "bot.discord")) == {}


def test_learning_and_picks_see_the_recommender_through_narrow_protocols():
    """The learning loop, the digest and the picks receive typed parts (``core.ports``), never the hub itself."""
    assert offending(files("core/learning", "core/picks"), ("core.recommender", "core.app")) == {}


def test_sql_lives_in_the_storage_layer():
    """Only ``core/storage`` speaks SQL (the scheduler's job store is APScheduler's own)."""
    bad = offending([p for p in files("core", "bot") if "core/storage" not in str(p)],
                    ("sqlmodel", "sqlalchemy.orm", "sqlalchemy.sql"))
    assert bad == {}
