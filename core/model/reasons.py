"""Reasons: 2–4 short statements that are true of this release and this collection, and a score type.

Every statement is built from the collection itself (owned titles, counts) or the release's own data, so it
can be checked; a feature pulling the score down is only put into words when its condition really holds.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.domain.release import Release
from core.model.profile import CollectionProfile, artist_keys, label_keys

SIMILAR = "similar to records you own"
EXPLORATION = "genre exploration"
RARE = "rare find"


@dataclass
class Explanation:
    reasons: list[str]
    score_type: str


def _titles(profile: CollectionProfile, positions: list[int], n: int = 2) -> str:
    """Up to ``n`` records named by artist and title, each album once (two pressings are one record here)."""
    names: list[str] = []
    for p in positions:
        r = profile.releases[p]
        name = f"{r.artist} – {r.title}"
        if name not in names:
            names.append(name)
        if len(names) >= n:
            break
    return " and ".join(names)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def rarity_ratio(r: Release) -> float | None:
    if r.have is None or r.want is None or r.have <= 0:
        return None
    return r.want / r.have


@dataclass(frozen=True)
class Voice:
    """Whom the reasons speak of: the collector themself ("you own", "your collection") or, where others read
    them (a server's ranking), the member in the third person ("they own", "their collection")."""

    subject: str
    possessive: str
    object: str


YOU = Voice("you", "your", "you")
THEY = Voice("they", "their", "them")


@dataclass
class _Found:
    """What a release has in common with the collection: reasons for (pros) and against (cons), with strengths."""

    pros: list[tuple[float, str]]
    cons: list[tuple[float, str]]
    excluded: set[int]
    artist_positions: set[int]


def explain(release: Release, profile: CollectionProfile, row: pd.Series, neighbours: list,
            contributions: pd.Series | None = None, max_reasons: int = 4, voice: Voice = YOU) -> Explanation:
    found = _in_common(release, profile, neighbours, voice)
    ratio = _market(release, found)
    # what pulls the score down, from the model's per-feature contributions, only when true
    if contributions is not None:
        for feat, val in contributions.sort_values().items():
            if val > -0.25:
                break
            text = _down_reason(feat, row, release, profile, neighbours, found.artist_positions, voice)
            if text:
                found.cons.append((10.0 - val, "holds it back: " + text))
                break
    reasons = _strongest(found, max_reasons)
    for t in _fillers(release, profile, neighbours, voice):   # too little to say: plain facts, at least two
        if len(reasons) >= 2:
            break
        reasons.append(t)
    reasons = reasons[:max_reasons]
    if ratio is not None and ratio >= 1.0:
        kind = RARE
    elif (found.artist_positions or (neighbours and neighbours[0].similarity >= profile.similar_at(0.7))
          or float(np.nan_to_num(row.get("style_max_share", 0))) >= 0.1):
        kind = SIMILAR
    else:
        kind = EXPLORATION
    return Explanation(reasons, kind)


def _in_common(release: Release, profile: CollectionProfile, neighbours: list, v: Voice) -> _Found:
    """Pressings, artists, close records, styles and labels the collection shares with the release."""
    ex = set(profile.excluded(release))
    found = _Found([], [], ex, set())
    pros, cons = found.pros, found.cons
    # owning the album (any pressing) is the card's headline (core.recommender.Recommender.owned_as), not a reason
    art_pos: set[int] = set()
    for a in artist_keys(release):
        art_pos |= profile.artist_positions.get(a, set())
    art_pos -= ex
    found.artist_positions = art_pos
    if art_pos:
        n = len({profile.album_of[p] for p in art_pos})   # albums, not pressings
        pros.append((5.0 + n, f"like {_plural(n, 'record')} {v.subject} own by {release.artist}"
                             f" ({_titles(profile, sorted(art_pos), 2)})"))
    # nearest owned records (by sentence embedding)
    close = [nb for nb in neighbours if nb.similarity >= profile.similar_at(0.6) and nb.position not in art_pos]
    if close:
        pros.append((4.0 * close[0].similarity, "close to " + _titles(profile, [nb.position for nb in close], 2)
                     + f" in {v.possessive} collection"))
    counts = {s: len(profile.style_positions.get(s, set()) - ex) for s in release.styles}
    owned = sorted(((c, s) for s, c in counts.items() if c > 0), reverse=True)
    if owned:
        c, s = owned[0]
        extra = f" and {owned[1][1]} ({owned[1][0]})" if len(owned) > 1 else ""
        pros.append((2.0 + 10 * c / max(profile.n, 1),
                     f"style {v.subject} collect: {s} ({_plural(c, 'record')}){extra}"))
    new_styles = [s for s, c in counts.items() if c == 0]
    if new_styles and profile.n:
        cons.append((1.0, f"new style for {v.object}: {', '.join(new_styles[:2])}"))
    lab_pos: set[int] = set()
    for label in label_keys(release):
        lab_pos |= profile.label_positions.get(label, set())
    lab_pos -= ex
    if lab_pos and release.labels:
        pros.append((1.5 + len(lab_pos) / 10,
                     f"on {release.labels[0]}, like {_plural(len(lab_pos), 'record')} {v.subject} own"))
    return found


def _market(release: Release, found: _Found) -> float | None:
    """Rarity and price, facts of the release itself; returns the want/have ratio when known."""
    ratio = rarity_ratio(release)
    if ratio is not None and release.have is not None:   # a ratio means have (and want) are known
        if ratio >= 1.0:
            found.pros.append((3.0 + ratio, f"rare: {release.have:,} have / {release.want:,} want"))
        elif release.have >= 5000:
            found.cons.append((0.5, f"easy to find: {release.have:,} have / {release.want:,} want"))
    # the price is the card's own line (once per card), never a reason as well
    return ratio


def _strongest(found: _Found, max_reasons: int) -> list[str]:
    """The strongest pros, the strongest con, then the rest until there are two."""
    pros = sorted(found.pros, key=lambda t: -t[0])
    cons = sorted(found.cons, key=lambda t: -t[0])
    reasons = [t for _, t in pros[: max_reasons - 1]]
    if cons:
        reasons.append(cons[0][1])
    for _, t in pros[max_reasons - 1:] + cons[1:]:
        if len(reasons) >= 2:
            break
        reasons.append(t)
    return reasons


def _fillers(release: Release, profile: CollectionProfile, neighbours: list, v: Voice) -> list[str]:
    out = []
    if profile.n:
        top = ", ".join(s for s, _ in profile.top_styles(2))
        out.append(f"{v.possessive} collection: {_plural(profile.n, 'record')}, mostly {top or 'unstyled'}")
    else:
        out.append(f"{v.possessive} collection is empty: a rough estimate")
    if neighbours:
        out.append(f"nearest record {v.subject} own: {_titles(profile, [neighbours[0].position], 1)}")
    if not (release.genres or release.styles):
        out.append("no genres or styles known for this release")
    else:
        tags = release.styles or release.genres
        out.append(f"its {'styles' if release.styles else 'genres'}: {', '.join(tags[:3])}")
    return out


def _down_reason(feat: str, row: pd.Series, release: Release, profile: CollectionProfile,
                 neighbours: list, art_pos: set[int], voice: Voice = YOU) -> str | None:
    v = row.get(feat)
    if feat in ("knn_max", "knn_mean") and neighbours:
        nb = neighbours[0]
        return f"not much like anything {voice.subject} own (closest: {_titles(profile, [nb.position], 1)})"
    if feat == "artist_count" and not art_pos:
        return f"{voice.subject} own nothing else by {release.artist}"
    if feat in ("style_max_share", "style_mean_share", "style_known_frac", "profile_cos") and release.styles:
        counts = {s: len(profile.style_positions.get(s, set())) for s in release.styles}
        s, c = max(counts.items(), key=lambda kv: kv[1])
        if c <= 2:  # only when really rare: "a style you collect" may be said of it too otherwise
            return f"its styles are rare in {voice.possessive} collection ({s}: {_plural(c, 'record')})"
    if feat == "genre_max_share" and release.genres:
        counts = {g: len(profile.genre_positions.get(g, set())) for g in release.genres}
        g, c = max(counts.items(), key=lambda kv: kv[1])
        if c / max(profile.n, 1) < 0.2:
            return f"{g} is a small part of {voice.possessive} collection ({_plural(c, 'record')})"
    if feat == "year_density" and release.year and v is not None and v == v and v < 0.1:
        return f"{voice.subject} own few records from around {release.year}"
    if feat in ("knn_vote", "knn_margin", "neg_knn_max", "neg_knn_mean"):
        margin = row.get("knn_margin")
        if margin is not None and margin == margin and margin < 0:
            return f"records other collectors bought are closer to it than anything {voice.subject} own"
    if feat == "label_count" and release.labels and v == 0:
        return f"{voice.subject} own nothing on {release.labels[0]}"
    return None
