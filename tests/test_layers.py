"""The layers, read from the source (every import, function-level ones included): core knows no chat platform,
and the model knows neither Discogs nor the database."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: the model: features, neighbours, scorers, calibration, reasons — pure functions of releases and collections
MODEL = ["core/model", "core/ingest/vocab.py"]


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names; relative imports resolved against its package)."""
    return imports_of(path.read_text(encoding="utf-8"), ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1]))


def imports_of(source: str, package: str) -> set[str]:
    tree = ast.parse(source)
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
