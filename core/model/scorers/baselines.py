"""The three baselines of docs/EVALUATION.md: popularity, style profile and content kNN."""
from __future__ import annotations

import numpy as np

from core.domain.release import Release
from core.model.profile import CollectionProfile
from core.model.scorers.base import Scorer, TrainingSet


class PopularityScorer(Scorer):
    """Community `have` (0 where unknown)."""

    name = "popularity"

    def fit(self, train: TrainingSet) -> "PopularityScorer":
        return self

    def score(self, releases: list[Release]) -> np.ndarray:
        return np.array([float(r.have or 0) for r in releases], dtype=float)

    @staticmethod
    def coverage(releases: list[Release]) -> float:
        return float(np.mean([r.have is not None for r in releases])) if releases else 0.0


class StyleProfileScorer(Scorer):
    """Cosine between a TF-IDF vector of genres, styles, label and artist tokens and the positives' mean."""

    name = "style_profile"

    def fit(self, train: TrainingSet) -> "StyleProfileScorer":
        self.profile = CollectionProfile(train.positives, np.zeros((len(train.positives), 384), np.float32),
                                         train.population)
        return self

    def score(self, releases: list[Release]) -> np.ndarray:
        if not releases:
            return np.zeros(0)
        X = self.profile.transform_tokens(releases)
        return self.profile.profile_cosine(X, [[] for _ in releases])


def knn_document(r: Release) -> str:
    """The protocol's text for the content-kNN baseline: "artist - title (year) | genres | styles"."""
    year = f" ({r.year})" if r.year else ""
    return f"{r.artist} - {r.title}{year} | {', '.join(r.genres)} | {', '.join(r.styles)}"


class ContentKNNScorer(Scorer):
    """Maximum cosine similarity between the candidate's sentence embedding and the positives'.

    With ``embed_text`` in the training set it embeds the protocol's own document (:func:`knn_document`);
    otherwise the product's release embedding."""

    name = "content_knn"

    def fit(self, train: TrainingSet) -> "ContentKNNScorer":
        embed_text = train.embed_text
        self.embed = (lambda rs: embed_text([knn_document(r) for r in rs])) if embed_text else train.embed
        self.profile = CollectionProfile(train.positives, self.embed(train.positives))
        return self

    def score(self, releases: list[Release]) -> np.ndarray:
        if not releases:
            return np.zeros(0)
        nbs = self.profile.neighbours_batch(self.embed(releases), [[] for _ in releases], 1)
        return np.array([nb[0].similarity if nb else 0.0 for nb in nbs], dtype=float)
