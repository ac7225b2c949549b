"""A collection as the recommender sees it: counts, a TF-IDF style profile and a FAISS index of embeddings.

Every collection-derived feature of a candidate is computed against the collection *minus every owned
pressing of the candidate's album* (same normalised artist + title), so a training row — a record in the
collection — never sees itself (leave-one-out), and a candidate that is another pressing of something owned
is described the same way at scoring time.

Training rows additionally leave out one fold of the collection (``folds``): a positive its own fold, a
negative a random one. Plain leave-one-out would let a classifier read the label off the features — every
positive's style count is exactly one lower than a negative's with the same style — so both classes are
described against equally reduced collections instead.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

import faiss
import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from core.domain.release import Release, album_key, id_hash, norm_text

VARIOUS = {"various", "various artists", "unknown artist", ""}


def artist_keys(r: Release) -> list[str]:
    return sorted({norm_text(a) for a in r.artists} - VARIOUS)


def label_keys(r: Release) -> list[str]:
    return sorted({norm_text(label) for label in r.labels if norm_text(label) not in {"not on label", ""}})


def profile_tokens(r: Release) -> list[str]:
    """Tokens of the style-profile vector: genres, styles, labels and artists."""
    toks = [f"g:{g}" for g in r.genres] + [f"s:{s}" for s in r.styles]
    toks += [f"l:{label}" for label in label_keys(r)] + [f"a:{a}" for a in artist_keys(r)]
    return toks


def _identity(tokens: list[str]) -> list[str]:
    return tokens


def exclusion_matrix(excluded, n: int) -> sparse.csr_matrix:
    """0/1 matrix: row i marks the collection positions row i is described without (``excluded``: one list of
    positions per row, or such a matrix already, returned as it is)."""
    if sparse.issparse(excluded):
        return excluded
    lens = np.fromiter((len(e) for e in excluded), dtype=np.int64, count=len(excluded))
    indptr = np.r_[0, np.cumsum(lens)]
    indices = np.fromiter((j for e in excluded for j in e), dtype=np.int64, count=int(indptr[-1]))
    return sparse.csr_matrix((np.ones(len(indices)), indices, indptr), shape=(len(excluded), n))


@dataclass
class Neighbour:
    position: int
    similarity: float


def neighbour_lists(sims: np.ndarray, positions: np.ndarray) -> list[list[Neighbour]]:
    """``neighbour_arrays`` output as one list of Neighbours per row (padding dropped)."""
    return [[Neighbour(int(p), float(s)) for s, p in zip(rs, rp) if p >= 0] for rs, rp in zip(sims, positions)]


class CollectionProfile:
    """Precomputed view of the owned records used for features and reasons."""

    def __init__(self, releases: list[Release], embeddings: np.ndarray,
                 population: list[Release] | None = None) -> None:
        """``population``: the records a collector may be offered (the candidate catalogue). The TF-IDF
        weights come from it, so a token the collection shares with every record (\"Rock\") weighs little and one
        that sets the collection apart weighs much; fitted on the collection alone, the weights would be upside
        down (the collection's own staples would count least)."""
        self.releases = releases
        self.n = len(releases)
        self.emb = np.ascontiguousarray(embeddings, dtype=np.float32)
        self.static_space = False   # True: embedded with the static table (closeness reads on its own scale)
        self.album_of = [album_key(r) for r in releases]
        self.album_positions: dict[str, list[int]] = defaultdict(list)
        self.artist_positions: dict[str, set[int]] = defaultdict(set)
        self.label_positions: dict[str, set[int]] = defaultdict(set)
        self.style_positions: dict[str, set[int]] = defaultdict(set)
        self.genre_positions: dict[str, set[int]] = defaultdict(set)
        for i, r in enumerate(releases):
            self.album_positions[self.album_of[i]].append(i)
            for a in artist_keys(r):
                self.artist_positions[a].add(i)
            for label in label_keys(r):
                self.label_positions[label].add(i)
            for s in set(r.styles):
                self.style_positions[s].add(i)
            for g in set(r.genres):
                self.genre_positions[g].add(i)
        self.years = np.array([r.year if r.year else np.nan for r in releases], dtype=float)
        # FAISS inner-product index over normalised embeddings = cosine similarity
        self.index = faiss.IndexFlatIP(self.emb.shape[1] if self.emb.ndim == 2 and self.emb.shape[1] else 384)
        if self.n:
            self.index.add(self.emb)
        # TF-IDF profile
        self.tfidf = TfidfVectorizer(analyzer=_identity, norm="l2")
        docs = [profile_tokens(r) for r in releases]
        seen = {r.id for r in releases}
        corpus = docs + [profile_tokens(r) for r in (population or []) if r.id not in seen]
        self.tfidf.fit(corpus if any(corpus) else [["_empty_"]])
        self.X = self.tfidf.transform(docs).tocsr() if docs else sparse.csr_matrix((0, len(self.tfidf.vocabulary_)))
        self.X_sum = np.asarray(self.X.sum(axis=0)).ravel()
        self.max_album_group = max((len(v) for v in self.album_positions.values()), default=1)
        self.folds: list[set[int]] = []
        self.fold_of: np.ndarray = np.zeros(self.n, dtype=int)


    def similar_at(self, minilm: float) -> float:
        """The cosine in this profile's space that means ``minilm`` in MiniLM's (the reasons' thresholds)."""
        if getattr(self, "static_space", False):
            from core.catalogue.static import static_similarity

            return static_similarity(minilm)
        return minilm

    def assign_folds(self, n_folds: int, seed: int = 0) -> None:
        """Partition the owned records into ``n_folds`` folds of equal size (for training-row features), dealt in
        the order of a seeded hash of each release id, not of the records' places in the list: a retrain after
        feedback (the same records) describes every record exactly as before."""
        n = max(n_folds, 1)
        order = sorted(range(self.n), key=lambda i: (id_hash(seed, self.releases[i].id), i))
        fold_of = np.zeros(self.n, dtype=int)
        fold_of[order] = np.arange(self.n) % n
        self.set_folds(fold_of, n_folds)

    def set_folds(self, fold_of, n_folds: int) -> None:
        """Put record i in fold ``fold_of[i]`` (a row described "without fold f" leaves those records out)."""
        self.fold_of = np.asarray(fold_of, dtype=int)
        self.folds = [set(np.flatnonzero(self.fold_of == f).tolist()) for f in range(n_folds)]

    # FAISS indexes are not picklable: store the vectors and rebuild the flat index on load
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("index", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.index = faiss.IndexFlatIP(self.emb.shape[1] if self.emb.ndim == 2 and self.emb.shape[1] else 384)
        if self.n:
            self.index.add(self.emb)

    # -- exclusions ---------------------------------------------------------------------------------
    def excluded(self, r: Release, fold: int | None = None) -> list[int]:
        ex = self.album_positions.get(album_key(r), [])
        if fold is None or not self.folds:
            return list(ex)
        return sorted(self.folds[fold].union(ex))

    # -- neighbours --------------------------------------------------------------------------------
    def neighbour_arrays(self, emb: np.ndarray, excluded, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(similarities, positions), each rows × k, of the k nearest records not excluded, nearest first;
        padded with NaN / -1 where fewer exist. ``excluded``: lists of positions or an exclusion_matrix."""
        m = len(emb)
        sims_out, pos_out = np.full((m, k), np.nan), np.full((m, k), -1, dtype=np.int64)
        if self.n == 0 or m == 0 or k == 0:
            return sims_out, pos_out
        ex = exclusion_matrix(excluded, self.n)
        per_row = np.diff(ex.indptr)
        longest = int(per_row.max()) if len(per_row) else 0
        kk = min(self.n, k + longest)
        sims, idx = self.index.search(np.ascontiguousarray(emb, dtype=np.float32), kk)
        keep = idx >= 0
        if longest:
            # drop excluded positions, vectorised: (row, position) pairs as one int64 key each
            rows = np.repeat(np.arange(m, dtype=np.int64), per_row)
            ex_keys = rows * self.n + ex.indices
            cand = np.arange(m, dtype=np.int64)[:, None] * self.n + np.maximum(idx, 0)
            keep &= ~np.isin(cand, ex_keys)
        rank = np.cumsum(keep, axis=1) - 1
        keep &= rank < k
        r, c = np.nonzero(keep)
        sims_out[r, rank[r, c]] = sims[r, c]
        pos_out[r, rank[r, c]] = idx[r, c]
        return sims_out, pos_out

    def neighbours_batch(self, emb: np.ndarray, excluded, k: int) -> list[list[Neighbour]]:
        return neighbour_lists(*self.neighbour_arrays(emb, excluded, k))

    # -- counts --------------------------------------------------------------------------------------
    def artist_count(self, r: Release, ex: set[int]) -> int:
        pos: set[int] = set()
        for a in artist_keys(r):
            pos |= self.artist_positions.get(a, set())
        return len(pos - ex)

    def label_count(self, r: Release, ex: set[int]) -> float:
        keys = label_keys(r)
        if not keys:
            return float("nan")
        pos: set[int] = set()
        for label in keys:
            pos |= self.label_positions.get(label, set())
        return float(len(pos - ex))

    def style_counts(self, r: Release, ex: set[int]) -> dict[str, int]:
        return {s: len(self.style_positions.get(s, set()) - ex) for s in r.styles}

    def genre_counts(self, r: Release, ex: set[int]) -> dict[str, int]:
        return {g: len(self.genre_positions.get(g, set()) - ex) for g in r.genres}

    def profile_cosine(self, rows: sparse.csr_matrix, excluded,
                       folds: list[int | None] | None = None) -> np.ndarray:
        """Cosine between each candidate's TF-IDF vector and the sum over the collection minus exclusions.

        Vectorised: with E_i the sum of row i's excluded records, x·(S−E) = x·S − x·E and
        |S−E|² = |S|² − 2·S·E + |E|². (``folds`` is implied by ``excluded``, which already holds the fold.)"""
        m = rows.shape[0]
        out = np.zeros(m)
        if m == 0 or self.n == 0:
            return out
        S = self.X_sum
        dot = np.asarray(rows @ S).ravel()
        n2 = np.full(m, float(S @ S))
        ex = exclusion_matrix(excluded, self.n)
        if ex.nnz and m <= 16:
            # the reply path (a row or two, a handful of excluded pressings): plain dense sums of the few
            # excluded rows cost far less than building sparse products
            for i in range(m):
                cols = ex.indices[ex.indptr[i]:ex.indptr[i + 1]]
                if len(cols):
                    E = np.asarray(self.X[cols].sum(axis=0)).ravel()
                    x = rows[i]
                    dot[i] -= float(x.data @ E[x.indices])
                    n2[i] += -2 * float(E @ S) + float(E @ E)
        elif ex.nnz:
            E = (ex @ self.X).tocsr()
            dot -= np.asarray(rows.multiply(E).sum(axis=1)).ravel()
            n2 += -2 * np.asarray(E @ S).ravel() + np.asarray(E.multiply(E).sum(axis=1)).ravel()
        xn = np.sqrt(np.asarray(rows.multiply(rows).sum(axis=1)).ravel())
        ok = (xn > 0) & (n2 > 1e-12)
        out[ok] = dot[ok] / (np.sqrt(n2[ok]) * xn[ok])
        return out

    def transform_tokens(self, releases: list[Release]) -> sparse.csr_matrix:
        docs = [profile_tokens(r) for r in releases]
        if len(docs) > 16:
            return self.tfidf.transform(docs).tocsr()
        # the reply path scores one release: the vectoriser's own transform costs ~2 ms of set-up for it; this
        # is the same arithmetic (term counts × idf, l2-normalised)
        vocab, idf = self.tfidf.vocabulary_, self.tfidf.idf_
        indptr, indices, data = [0], [], []
        for doc in docs:
            counts = Counter(vocab[t] for t in doc if t in vocab)
            cols = sorted(counts)
            vals = np.array([counts[c] * idf[c] for c in cols], dtype=np.float64)
            norm = np.sqrt((vals * vals).sum())
            indices += cols
            data += list(vals / norm) if norm > 0 else list(vals)
            indptr.append(len(indices))
        return sparse.csr_matrix((np.array(data, dtype=np.float64), np.array(indices, dtype=np.int64), indptr),
                                 shape=(len(docs), len(vocab)))

    def year_density_batch(self, years: list[int | None], excluded, window: int = 2) -> np.ndarray:
        """Share of the collection (minus each row's exclusions) from within ``window`` years of each row's
        year; NaN without a year."""
        m = len(years)
        out = np.full(m, np.nan)
        if self.n == 0 or m == 0:
            return out
        y = np.array([v if v else np.nan for v in years], dtype=float)
        known = np.sort(self.years[~np.isnan(self.years)])
        within = (np.searchsorted(known, y + window, side="right")
                  - np.searchsorted(known, y - window, side="left")).astype(float)
        ex = exclusion_matrix(excluded, self.n)
        rows = np.repeat(np.arange(m), np.diff(ex.indptr))
        ey = self.years[ex.indices]
        ex_known = np.bincount(rows, weights=~np.isnan(ey), minlength=m)
        ex_within = np.bincount(rows, weights=np.abs(ey - y[rows]) <= window, minlength=m)
        denom = len(known) - ex_known
        ok = ~np.isnan(y) & (denom > 0)
        out[ok] = (within[ok] - ex_within[ok]) / denom[ok]
        return out

    def top_styles(self, n: int = 5) -> list[tuple[str, int]]:
        return Counter({s: len(p) for s, p in self.style_positions.items()}).most_common(n)
