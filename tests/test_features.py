"""The pair-feature pipeline on real data: leave-one-out (own album, own fold), other pressings, presence checks.

Every collection-derived feature is recomputed here by brute force over the owned records minus the exclusions
and compared with what core.model.features.build_features returns.
"""
from __future__ import annotations

import dataclasses
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest

from core.domain.release import Release, album_key
from core.model.features import build_features, presence_report
from core.model.profile import CollectionProfile, artist_keys, label_keys


@pytest.fixture(scope="module")
def owned(lanebecker_sample):
    return list(lanebecker_sample["train_pos"])


@pytest.fixture(scope="module")
def owned_emb(owned, embedder):
    return embedder(owned)


@pytest.fixture()
def profile(owned, owned_emb):
    """A fresh profile per test (assign_folds mutates it)."""
    return CollectionProfile(owned, owned_emb)


def reference(profile: CollectionProfile, r: Release, e: np.ndarray, ex: set[int]) -> dict[str, float]:
    """The collection-derived features of ``r`` recomputed naively over the owned records not in ``ex``."""
    keep = [j for j in range(profile.n) if j not in ex]
    rel = [profile.releases[j] for j in keep]
    arts, labs = set(artist_keys(r)), set(label_keys(r))
    n_eff = max(len(keep), 1)
    sims = sorted((float(profile.emb[j] @ e) for j in keep), reverse=True)
    style_counts = [sum(s in o.styles for o in rel) for s in r.styles]
    genre_counts = [sum(g in o.genres for o in rel) for g in r.genres]
    S = np.asarray(profile.X[keep].sum(axis=0)).ravel()
    x = profile.transform_tokens([r]).toarray().ravel()
    cos = float(x @ S / (np.linalg.norm(x) * np.linalg.norm(S))) if x.any() and S.any() else 0.0
    years = [o.year for o in rel if o.year]
    return {
        "knn_max": sims[0],
        "knn_mean": float(np.mean(sims[:5])),
        "artist_count": float(sum(bool(arts & set(artist_keys(o))) for o in rel)),
        "label_count": float(sum(bool(labs & set(label_keys(o))) for o in rel)) if labs else float("nan"),
        "style_max_share": max(style_counts) / n_eff if style_counts else 0.0,
        "style_mean_share": float(np.mean(style_counts)) / n_eff if style_counts else 0.0,
        "style_known_frac": float(np.mean([c > 0 for c in style_counts])) if style_counts else 0.0,
        "genre_max_share": max(genre_counts) / n_eff if genre_counts else 0.0,
        "profile_cos": cos,
        "year_density": sum(abs(y - r.year) <= 2 for y in years) / len(years) if r.year and years else float("nan"),
    }


def assert_matches_reference(profile, releases, emb, X, excluded):
    for i, (r, ex) in enumerate(zip(releases, excluded)):
        want = reference(profile, r, emb[i], ex)
        for col, v in want.items():
            got = X.at[i, col]
            if np.isnan(v):
                assert np.isnan(got), (r.display, col, got)
            else:
                assert got == pytest.approx(v, abs=1e-5), (r.display, col, got, v)


def test_owned_record_is_never_its_own_neighbour(profile, owned, owned_emb):
    # without exclusions every owned record finds itself at similarity 1 ...
    plain = profile.neighbours_batch(owned_emb, [[] for _ in owned], 1)
    assert all(nb[0].similarity >= 0.9999 for nb in plain)
    # ... described as a training row it does not, nor any other pressing of its album
    ff = build_features(profile, owned, owned_emb, k=5)
    assert len(ff.X) == len(owned)
    assert (ff.X["knn_max"] < 0.9999).all(), ff.X["knn_max"].max()
    for i, (r, nbs) in enumerate(zip(owned, ff.neighbours)):
        assert len(nbs) == 5
        assert i not in {nb.position for nb in nbs}
        assert all(album_key(profile.releases[nb.position]) != album_key(r) for nb in nbs)
        sims = [nb.similarity for nb in nbs]
        assert sims == sorted(sims, reverse=True)
        assert ff.X.at[i, "knn_max"] == pytest.approx(sims[0])


def test_artist_count_leaves_the_record_itself_out(profile, owned, owned_emb):
    X = build_features(profile, owned, owned_emb).X
    per_artist: dict[str, set[int]] = defaultdict(set)
    for i, r in enumerate(owned):
        for a in artist_keys(r):
            per_artist[a].add(i)
    single = [i for i, r in enumerate(owned) if artist_keys(r) and all(len(per_artist[a]) == 1 for a in artist_keys(r))]
    multi = [i for i, r in enumerate(owned) if any(len({album_key(owned[j]) for j in per_artist[a]}) > 1
                                                   for a in artist_keys(r))]
    assert len(single) > 50 and len(multi) > 5
    assert (X.loc[single, "artist_count"] == 0).all()
    for i in multi:  # the other albums by the same artist(s), not the record itself
        others = {j for a in artist_keys(owned[i]) for j in per_artist[a]
                  if album_key(owned[j]) != album_key(owned[i])}
        assert X.at[i, "artist_count"] == len(others) >= 1


def test_training_rows_match_brute_force_leave_one_out(profile, owned, owned_emb, lanebecker_sample, embedder):
    negs = lanebecker_sample["train_neg"][:30]
    rows = owned[:60] + negs
    emb = np.vstack([owned_emb[:60], embedder(negs)])
    X = build_features(profile, rows, emb).X
    excluded = [{j for j in range(profile.n) if album_key(profile.releases[j]) == album_key(r)} for r in rows]
    assert all(i in excluded[i] for i in range(60))          # a training row never sees itself
    assert not any(excluded[60:])                            # a negative sees the whole collection
    assert_matches_reference(profile, rows, emb, X, excluded)


def test_folds_leave_a_rows_whole_fold_out(profile, owned, owned_emb, lanebecker_sample, embedder):
    profile.assign_folds(5, seed=0)
    assert sorted(len(f) for f in profile.folds) == [50] * 5
    assert set().union(*profile.folds) == set(range(profile.n))
    negs = lanebecker_sample["train_neg"][:20]
    rows = owned[:60] + negs
    folds = [int(f) for f in profile.fold_of[:60]] + [i % 5 for i in range(len(negs))]
    emb = np.vstack([owned_emb[:60], embedder(negs)])
    ff = build_features(profile, rows, emb, k=5, folds=folds)
    excluded = []
    for i, (r, f) in enumerate(zip(rows, folds)):
        ex = profile.folds[f] | {j for j in range(profile.n) if album_key(profile.releases[j]) == album_key(r)}
        excluded.append(ex)
        assert not ex & {nb.position for nb in ff.neighbours[i]}, r.display
        if i < 60:
            assert i in profile.folds[f]
    assert_matches_reference(profile, rows, emb, ff.X, excluded)
    # the fold really changes the description: counts against 4/5 of the collection
    plain = build_features(profile, rows, emb, k=5).X
    assert (ff.X["style_max_share"] != plain["style_max_share"]).any()
    assert (ff.X["artist_count"] <= plain["artist_count"]).all()


def test_another_pressing_of_an_owned_album_is_described_without_it(profile, owned, owned_emb, embedder):
    r = next(r for r in owned if len(r.styles) >= 2)
    i = owned.index(r)
    repress = dataclasses.replace(r, id=r.id + 10**9, year=(r.year or 2000) + 1, title=r.title.upper())
    assert album_key(repress) == album_key(r)
    rows = [r, repress]
    emb = embedder(rows)
    ff = build_features(profile, rows, emb)
    assert ff.X.at[1, "knn_max"] < 0.9999
    assert i not in {nb.position for nb in ff.neighbours[1]}
    cols = [c for c in ff.X.columns if c != "year_density"]  # the year differs on purpose
    pd.testing.assert_series_equal(ff.X.loc[0, cols], ff.X.loc[1, cols], check_names=False, atol=1e-6)


def test_real_other_pressing_pair(catalogue, lanebecker_items, owned, embedder):
    """Rilo Kiley's 'The Execution Of All Things', owned in 2007 and 2025 pressings (same document text)."""
    pressings = sorted({it.release.id for it in lanebecker_items if it.release.id in catalogue
                        and album_key(catalogue[it.release.id]) == "rilo kiley | the execution of all things"})
    assert len(pressings) == 2
    a, b = (catalogue[p] for p in pressings)
    base = [r for r in owned if album_key(r) != album_key(a)]
    coll = base + [a]
    prof = CollectionProfile(coll, embedder(coll))
    e = embedder([b])
    assert float(prof.emb[-1] @ e[0]) > 0.9999                # the owned pressing is a perfect match ...
    ff = build_features(prof, [b], e)
    assert ff.X.at[0, "knn_max"] < 0.9999                     # ... that the candidate never sees
    assert prof.n - 1 not in {nb.position for nb in ff.neighbours[0]}
    same_artist = sum("rilo kiley" in artist_keys(r) for r in base)
    assert ff.X.at[0, "artist_count"] == same_artist
    assert_matches_reference(prof, [b], e, ff.X, [{prof.n - 1}])


def test_no_identifier_or_raw_year_feature(profile, owned, owned_emb):
    cols = set(build_features(profile, owned[:3], owned_emb[:3]).X.columns)
    assert not cols & {"id", "release_id", "year", "master_id"}


def test_release_without_fields_is_described(profile, embedder):
    bare = [Release(id=1, title="Untitled"), Release(id=2, title="Untitled", genres=["Rock"])]
    X = build_features(profile, bare, embedder(bare)).X
    assert len(X) == 2
    assert X.at[0, "artist_count"] == 0 and np.isnan(X.at[0, "label_count"]) and np.isnan(X.at[0, "year_density"])
    assert np.isfinite(X[["knn_max", "knn_mean", "profile_cos", "artist_count"]].to_numpy()).all()
    # untagged means unknown styles, not "no style"; a tagged release with no styles has 0 known
    assert np.isnan(X.at[0, "style_max_share"]) and X.at[1, "style_max_share"] == 0.0


def test_presence_report_drops_source_identifying_and_constant_columns():
    rng = np.random.default_rng(0)
    n = 200
    y = np.r_[np.ones(n // 2, int), np.zeros(n // 2, int)]
    source = rng.normal(size=n)
    source[n // 2:][rng.permutation(n // 2)[:30]] = np.nan        # known for all positives, 70% of negatives
    even = rng.normal(size=n)
    even[np.r_[rng.permutation(n // 2)[:30], n // 2 + rng.permutation(n // 2)[:30]]] = np.nan  # 70% / 70%
    mild = rng.normal(size=n)
    mild[n // 2:][rng.permutation(n // 2)[:20]] = np.nan          # 100% / 80%: within the 25% gap
    X = pd.DataFrame({"taste": rng.normal(size=n), "source": source, "even": even, "mild": mild,
                      "constant": np.full(n, 3.0), "unknown": np.full(n, np.nan)})
    kept, notes = presence_report(X, y, max_gap=0.25)
    assert kept == ["taste", "even", "mild"]
    assert len(notes) == 3
    src = next(t for t in notes if "source" in t)
    assert "100%" in src and "70%" in src
    assert any("constant" in t and "no variation" in t for t in notes)
    assert any("unknown" in t and "no variation" in t for t in notes)
    # a tighter gap drops the mildly uneven column too
    kept2, _ = presence_report(X, y, max_gap=0.1)
    assert kept2 == ["taste", "even"]


def test_presence_report_on_real_training_rows(profile, owned, owned_emb, lanebecker_sample, embedder):
    """lanebecker's records all carry have/want, the catalogue only ~27% of the others: left out."""
    negs = lanebecker_sample["train_neg"]
    rows = owned + negs
    X = build_features(profile, rows, np.vstack([owned_emb, embedder(negs)])).X
    y = np.r_[np.ones(len(owned), int), np.zeros(len(negs), int)]
    assert X.loc[: len(owned) - 1, "have_log"].notna().all()
    assert 0.1 < X.loc[len(owned):, "have_log"].notna().mean() < 0.5
    kept, notes = presence_report(X, y, 0.25)
    for col in ("have_log", "want_log", "want_have_ratio", "n_formats"):
        assert col not in kept
    for col in ("knn_max", "knn_mean", "artist_count", "style_max_share", "profile_cos"):
        assert col in kept
    assert any(t.startswith("left out have_log") and "100%" in t for t in notes)


# -- the contrast side: records other collectors bought --------------------------------------------------------
@pytest.fixture()
def contrast_setup(lanebecker_sample, embedder, owned, owned_emb):
    """(profile, contrast profile, rows = owned + negatives, their embeddings, their folds), folded as
    CatBoostScorer.fit folds them: each negative sits in the fold its own row is described without."""
    negs = list(lanebecker_sample["train_neg"][:200])
    neg_emb = embedder(negs)
    profile = CollectionProfile(owned, owned_emb)
    profile.assign_folds(10, 0)
    neg_folds = [int(f) for f in np.random.default_rng(1).integers(0, 10, len(negs))]
    contrast = CollectionProfile(negs, neg_emb)
    contrast.set_folds(neg_folds, 10)
    folds = [int(f) for f in profile.fold_of] + neg_folds
    return profile, contrast, owned + negs, np.vstack([owned_emb, neg_emb]), folds


def test_contrast_features_leave_the_row_and_its_fold_out(contrast_setup):
    profile, contrast, rows, emb, folds = contrast_setup
    X = build_features(profile, rows, emb, k=5, folds=folds, contrast=contrast, vote_k=20).X
    n_pos = profile.n
    for i in range(0, len(rows), 7):
        keep = [j for j in range(contrast.n) if j not in contrast.folds[folds[i]]
                and album_key(contrast.releases[j]) != album_key(rows[i])]
        sims = np.sort(contrast.emb[keep] @ emb[i])[::-1]
        assert X.at[i, "neg_knn_max"] == pytest.approx(sims[0], abs=1e-5)
        assert X.at[i, "neg_knn_mean"] == pytest.approx(sims[:5].mean(), abs=1e-5)
        assert X.at[i, "knn_margin"] == pytest.approx(X.at[i, "knn_max"] - sims[0], abs=1e-5)
    # a negative described as a training row never finds itself (it would, at similarity 1, otherwise)
    assert (X["neg_knn_max"].to_numpy()[n_pos:] < 0.9999).all()
    assert ((X["knn_vote"] >= 0) & (X["knn_vote"] <= 1)).all()
    # the vote separates the two sides on average: the collection's own records lean to the collection
    assert X["knn_vote"][:n_pos].mean() > X["knn_vote"][n_pos:].mean()


def test_knn_vote_matches_a_brute_force_vote(contrast_setup):
    profile, contrast, rows, emb, folds = contrast_setup
    X = build_features(profile, rows, emb, k=5, folds=folds, contrast=contrast, vote_k=20).X
    for i in (0, 3, profile.n + 2, profile.n + 11):
        ex_p = set(profile.excluded(rows[i], folds[i]))
        ex_c = set(contrast.excluded(rows[i], folds[i]))
        cands = [(float(profile.emb[j] @ emb[i]), 1) for j in range(profile.n) if j not in ex_p]
        cands += [(float(contrast.emb[j] @ emb[i]), 0) for j in range(contrast.n) if j not in ex_c]
        top = sorted(cands, reverse=True)[:20]
        wp = sum(1 / profile.n for _, c in top if c)
        wn = sum(1 / contrast.n for _, c in top if not c)
        assert X.at[i, "knn_vote"] == pytest.approx(wp / (wp + wn), abs=1e-6)


def test_a_candidate_that_is_a_training_negative_is_not_its_own_contrast(contrast_setup):
    profile, contrast, rows, emb, folds = contrast_setup
    # scoring time (no folds): another collector's record that was sampled as a negative, pasted by the user
    neg = contrast.releases[4]
    X = build_features(profile, [neg], contrast.emb[4:5], k=5, contrast=contrast, vote_k=20).X
    assert X.at[0, "neg_knn_max"] < 0.9999


def test_contrast_tag_features_match_a_brute_force_count(contrast_setup):
    profile, contrast, rows, emb, folds = contrast_setup
    X = build_features(profile, rows, emb, k=5, folds=folds, contrast=contrast, vote_k=20, contrast_tags=True).X
    R = contrast.transform_tokens(rows).toarray()
    for i in range(0, len(rows), 9):
        ex = set(contrast.excluded(rows[i], folds[i]))
        keep = [j for j in range(contrast.n) if j not in ex]
        styles = rows[i].styles
        if styles:
            share = max(sum(s in contrast.releases[j].styles for j in keep) for s in styles) / len(keep)
            assert X.at[i, "neg_style_max_share"] == pytest.approx(share, abs=1e-9)
            assert X.at[i, "style_share_margin"] == pytest.approx(X.at[i, "style_max_share"] - share, abs=1e-9)
        else:
            assert np.isnan(X.at[i, "neg_style_max_share"])
        S = np.asarray(contrast.X[keep].sum(axis=0)).ravel()
        want = 0.0 if not R[i].any() else float(R[i] @ S / (np.linalg.norm(R[i]) * np.linalg.norm(S)))
        assert X.at[i, "neg_profile_cos"] == pytest.approx(want, abs=1e-9)
        assert X.at[i, "profile_cos_margin"] == pytest.approx(X.at[i, "profile_cos"] - want, abs=1e-9)


def test_profile_cosine_reply_path_equals_the_batch_path(catalogue):
    """A few rows take a dense path (the reply), many the sparse products (training): the same figures."""
    import random

    cat = [catalogue[i] for i in sorted(catalogue)]
    prof = CollectionProfile(cat[:600], np.zeros((600, 384), dtype=np.float32), cat)
    rng = random.Random(3)
    for _ in range(40):
        rs = rng.sample(cat, rng.choice([1, 2, 7]))
        ex = [sorted(rng.sample(range(600), rng.choice([0, 1, 4, 30]))) for _ in rs]
        few = prof.profile_cosine(prof.transform_tokens(rs), ex)
        many = prof.profile_cosine(prof.transform_tokens(rs * 20), ex * 20)[:len(rs)]
        assert np.allclose(few, many, atol=1e-12, rtol=0)
        assert np.all((few >= -1e-12) & (few <= 1 + 1e-12))


def test_a_big_embedding_batch_lets_a_pasted_link_through(tmp_path, monkeypatch):
    """Issue 12: one user's import embeds thousands of records; another user's single record waits one chunk at
    most, not the whole batch (a stand-in model: 20 ms a call, whatever its size)."""
    import threading
    import time

    import numpy as np

    import core.model.embeddings as emb

    class SlowModel:
        def encode(self, texts, **kwargs):
            time.sleep(0.02)
            return np.zeros((len(texts), emb.DIM), dtype=np.float32)

    monkeypatch.setattr(emb, "get_model", lambda: SlowModel())
    cache = emb.EmbeddingCache(tmp_path)
    big = [f"record {i}" for i in range(emb.YIELD_EVERY * 200)]     # 200 chunks: 4 s or more
    worker = threading.Thread(target=cache.embed_texts, args=(big,))
    worker.start()
    time.sleep(0.2)                                                  # the batch is under way
    t0 = time.perf_counter()
    out = cache.embed_texts(["the pasted link's record"])
    waited = time.perf_counter() - t0
    busy = worker.is_alive()
    worker.join()
    assert out.shape == (1, emb.DIM) and busy                       # it went through while the batch ran…
    assert waited < 1.0, waited                                      # …after a chunk or two, not 4 s
    assert cache.embed_texts(big[:3]).shape == (3, emb.DIM)          # and the batch's results are all there
