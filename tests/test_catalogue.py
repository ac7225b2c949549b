"""The candidate catalogue: the static embedding, the resumable dump build, the index, and releases joining it."""
from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.catalogue import Catalogue, CatalogueIndex, CatalogueStore
from core.catalogue.build import build_from_dump, join_releases
from core.catalogue.static import static_embedder
from core.config import get_config
from core.domain.release import Release
from core.ingest.readers.dump_xml import iter_dump_releases
from core.ingest.readers.files import ReaderError

ROOT = Path(__file__).resolve().parent.parent
DUMP = ROOT / "data" / "dump-sample" / "discogs_20200806_releases.xml.gz"


@pytest.fixture(scope="module")
def dump_releases() -> list[Release]:
    return list(iter_dump_releases(DUMP))


def test_static_embedding_is_normalised_and_means_something(catalogue):
    emb = static_embedder()
    rel = [r for r in catalogue.values() if "Dark Ambient" in r.styles][:5]
    disco = [r for r in catalogue.values() if r.styles == ["Disco"]][:5]
    assert rel and disco
    vecs = emb.embed_releases(rel + disco)
    assert vecs.shape == (len(rel) + len(disco), emb.dim)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    q = emb.embed_texts(["dark ambient"])[0]
    assert (vecs[:len(rel)] @ q).mean() > (vecs[len(rel):] @ q).mean() + 0.1
    assert emb.embed_texts([]).shape == (0, emb.dim)
    assert np.linalg.norm(emb.embed_texts([""])[0]) == 0.0   # nothing to go on: a zero vector, never NaN


def test_build_resumes_after_an_interruption_and_stores_every_release(tmp_path, dump_releases):
    store = CatalogueStore(tmp_path / "c.db")
    emb = static_embedder()
    first = build_from_dump(store, DUMP, emb, batch=100, stop_after=330)
    assert not first.done and first.read == 330
    assert store.count() == 330          # a stop writes what it has read
    again = build_from_dump(store, DUMP, emb, batch=100)
    assert again.done and again.resumed_from == 330 and again.read == 670   # …and the rerun goes on from there
    assert store.count() == len(dump_releases) == 1000
    assert build_from_dump(store, DUMP, emb).read == 0   # done: nothing to do
    r = dump_releases[123]
    got = store.get([r.id])[r.id]
    assert (got.title, got.artists, got.master_id, got.styles) == (r.title, r.artists, r.master_id, r.styles)
    assert (tmp_path / "c.db").stat().st_mode & 0o077 == 0


def test_a_killed_transaction_leaves_the_progress_of_the_last_whole_batch(tmp_path, monkeypatch):
    store = CatalogueStore(tmp_path / "c.db")
    emb = static_embedder()
    real_put = store.put
    calls = {"n": 0}

    def dying_put(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt   # the build is killed while writing its third batch
        return real_put(*a, **kw)

    monkeypatch.setattr(store, "put", dying_put)
    with pytest.raises(KeyboardInterrupt):
        build_from_dump(store, DUMP, emb, batch=100)
    monkeypatch.setattr(store, "put", real_put)
    assert store.count() == 200
    report = build_from_dump(store, DUMP, emb, batch=100)
    assert report.resumed_from == 200 and report.done and store.count() == 1000


def test_genre_and_year_filters(tmp_path, dump_releases):
    store = CatalogueStore(tmp_path / "c.db")
    report = build_from_dump(store, DUMP, static_embedder(), genres=["Jazz"], since=1990)
    want = [r for r in dump_releases if "Jazz" in r.genres and r.year and r.year >= 1990]
    assert want and store.count() == len(want) == report.stored
    assert report.skipped == len(dump_releases) - len(want)


def test_a_broken_dump_is_a_reader_error(tmp_path):
    bad = tmp_path / "releases.xml.gz"
    raw = gzip.decompress(DUMP.read_bytes())[:20000]
    bad.write_bytes(gzip.compress(raw))   # cut mid-element
    with pytest.raises(ReaderError):
        build_from_dump(CatalogueStore(tmp_path / "c.db"), bad, static_embedder())


def test_exact_and_ivf_indexes_agree(tmp_path, catalogue):
    store = CatalogueStore(tmp_path / "c.db")
    emb = static_embedder()
    join_releases(store, catalogue.values(), emb, "bundled")
    exact = CatalogueIndex.build(store)
    assert exact.kind == "exact" and exact.size == len(catalogue)
    ivf = CatalogueIndex.build(store, exact_below=1000, nprobe=64)
    assert ivf.kind == "ivfpq" and ivf.size == len(catalogue)
    q = emb.embed_releases(list(catalogue.values())[:50])
    _, a = exact.search(q, 100)
    _, b = ivf.search(q, 100)
    recall = np.mean([len(set(x) & set(y)) / 100 for x, y in zip(a, b)])
    assert recall >= 0.9
    ivf.save(tmp_path / "i.faiss")
    again = CatalogueIndex.load(tmp_path / "i.faiss")
    assert again is not None and again.kind == "ivfpq" and again.size == ivf.size


def test_seen_releases_join_and_the_index_follows(tmp_path, catalogue):
    from core.storage import Store

    cfg = get_config()
    cat = Catalogue(cfg, tmp_path / "c.db", tmp_path / "c.faiss")
    store = Store(f"sqlite:///{tmp_path}/crate.db")
    bundled = dict(list(catalogue.items())[:500])
    assert cat.join_seen(bundled, store) == 500
    assert cat.index.size == 500
    pasted = Release(id=99_000_001, title="Tago Mago", artists=["Can"], genres=["Rock"], styles=["Krautrock"])
    store.cache_releases([pasted], source="discogs-api")
    assert cat.join_seen(bundled, store) == 1
    assert cat.index.size == 501   # added to the loaded index, no rebuild
    _, ids = cat.search(cat.embedder.embed_releases([pasted]), 1)
    assert ids[0][0] == pasted.id
    assert cat.store.tagged(["Krautrock"]) == [pasted.id]
    # a new process loads the saved index at the store's generation
    fresh = Catalogue(cfg, tmp_path / "c.db", tmp_path / "c.faiss")
    assert fresh.index.size == 501
    assert cat.join_seen(bundled, store) == 0


def test_other_pressings_by_master_and_by_album(tmp_path):
    store = CatalogueStore(tmp_path / "c.db")
    a = Release(id=1, title="Tago Mago", artists=["Can"], master_id=77)
    b = Release(id=2, title="Tago Mago", artists=["Can"], master_id=77)
    c = Release(id=3, title="Tago  Mago", artists=["CAN"])   # no master: same artist and title
    d = Release(id=4, title="Ege Bamyasi", artists=["Can"], master_id=78)
    join_releases(store, [a, b, c, d], static_embedder(), "test")
    from core.domain.release import album_key

    assert store.other_pressings({77}, set()) == {1, 2}
    assert store.other_pressings(set(), {album_key(a)}) == {1, 2, 3}


def test_the_cli_builds_and_reports(tmp_path, monkeypatch, capsys):
    from bot import cli

    monkeypatch.setenv("CRATE_DISCOVER__CATALOGUE_DB", str(tmp_path / "c.db"))
    monkeypatch.setenv("CRATE_DISCOVER__INDEX_FILE", str(tmp_path / "c.faiss"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/crate.db")
    get_config.cache_clear()
    try:
        small = tmp_path / "sample.xml.gz"
        shutil.copy(DUMP, small)
        assert cli.main(["catalogue", "build", str(small), "--genre", "Electronic"]) == 0
        out = capsys.readouterr().out
        assert "catalogue build done" in out and "exact index" in out
        assert cli.main(["catalogue", "build", str(tmp_path / "missing.xml.gz")]) == 2
        assert "no such file" in capsys.readouterr().err
    finally:
        get_config.cache_clear()


def test_a_build_in_progress_never_rebuilds_a_big_index_inline(tmp_path, catalogue, monkeypatch):
    """The bot keeps searching the saved IVF index while an operator's build runs; it loads the new one once the
    build has saved it."""
    cfg = get_config()
    monkeypatch.setitem(cfg.discover, "exact_below", 1000)
    emb = static_embedder()
    rel = list(catalogue.values())
    operator = Catalogue(cfg, tmp_path / "c.db", tmp_path / "c.faiss")
    operator.store.put(rel[:2000], emb.embed_releases(rel[:2000]), "dump")
    operator.rebuild_index()
    bot = Catalogue(cfg, tmp_path / "c.db", tmp_path / "c.faiss")
    assert bot.index.kind == "ivfpq" and bot.index.size == 2000
    operator.store.put(rel[2000:3000], emb.embed_releases(rel[2000:3000]), "dump")   # the build goes on…

    def no_inline_rebuild(*a, **kw):
        raise AssertionError("rebuilt inline")

    monkeypatch.setattr(CatalogueIndex, "build", no_inline_rebuild)
    assert bot.index.size == 2000                  # …the bot searches what it has
    pasted = Release(id=99_000_002, title="Future Days", artists=["Can"], styles=["Krautrock"])
    bot.join([pasted], "seen")
    assert bot.index.size == 2001
    monkeypatch.undo()
    monkeypatch.setitem(cfg.discover, "exact_below", 1000)
    operator.rebuild_index()                        # the build is done and saves its index
    assert bot.index.size == 3001                   # loaded, with the pasted one
    _, ids = bot.search(emb.embed_releases([pasted]), 1)
    assert ids[0][0] == pasted.id
