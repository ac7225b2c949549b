"""The periodic digest: what happened to a user's collection, feedback and model since the last one.

:func:`build_digest` reads the store only (no scoring, no training, no network) and returns a :class:`Digest`:

* ``text``: a short plain-text message for a chat (a few lines, no tables);
* ``chart_png``: a PNG (matplotlib, Agg, rendered in memory) with three panels — the user's styles by year
  added, the scores shown in the period (👍/👎/bought marked), and agreement per model version;
* ``data``: everything the text and chart were made from (for adapters and tests).

The period runs from ``since`` (default: the user's ``last_digest_at``, else ``learning.digest_every_days``
before ``now``) to ``now``. :func:`mark_sent` records ``now`` as the new ``last_digest_at``, so the next digest
starts where this one ended. Collection additions are the entries the bot first stored in the period (the
store keeps no upper bound for them); feedback, scores and models are bounded on both sides.

**Agreement rule.** A 👍 agrees with the model when the score it was given was at least
the user's maybe threshold (``Recommender.thresholds``) (the model called it a buy or a maybe); a 👎 agrees
when the score was below it
(the model called it a skip). One cut for both keeps the share symmetric; it is stricter than the store's
``disagreement`` flag, which only marks confident misses (👎 on a buy, 👍 on a skip) and is reported
separately as "clear misses". "bought" is not a vote and is left out; votes without a served score have no
probability and are left out too.
"""
from __future__ import annotations

import io
import logging
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from core.audio.features import mood_words
from core.ports import PickSource, Thresholds

log = logging.getLogger(__name__)

# Human wording for what *raises* a score (FEATURE_WORDS in core/model/features.py words what pulls one down).
DRIVER_WORDS = {
    "knn_max": "closeness to records you own",
    "knn_mean": "closeness to your collection as a whole",
    "knn_vote": "whether its nearest records are yours or other collectors'",
    "knn_margin": "closer to yours than to other collectors' records",
    "neg_knn_max": "closeness to records other collectors buy",
    "neg_knn_mean": "closeness to records other collectors buy",
    "neg_profile_cos": "fit with other collectors' genre/style profile",
    "profile_cos_margin": "your genre/style profile against other collectors'",
    "neg_style_max_share": "how common its styles are among other collectors' records",
    "style_share_margin": "its styles in your collection against other collectors'",
    "artist_count": "artists you already collect",
    "label_count": "labels you already buy from",
    "style_mean_share": "how much of your collection shares its styles",
    "style_max_share": "styles you collect a lot",
    "style_known_frac": "styles you already know",
    "genre_max_share": "the genres you buy most",
    "profile_cos": "fit with your genre/style/label profile",
    "year_density": "the eras you buy from",
    "have_log": "how many people own it",
    "want_log": "how many people want it",
    "want_have_ratio": "demand (wants vs. haves)",
    "community_rating": "its community rating",
    "lowest_price_log": "its price",
    "n_styles": "how many style tags it has",
    "n_formats": "its format details",
    "artist": "who the artist is",
    "tags": "which genres and styles it carries",   # every tag=… column together
}


def driver_feature(column: str) -> str:
    """The driver a model column counts towards: the genre/style 0/1 columns (``tag=s:Soul``…) count as one."""
    return "tags" if column.startswith("tag=") else column

PANEL_STYLES = "Your styles over time"
PANEL_SCORES = "Scores shown"
PANEL_AGREEMENT = "How often I agreed with your 👍/👎, each time I relearned your taste"
MAX_PNG_BYTES = 200_000
TOP_STYLES = 5
TOP_DRIVERS = 3
#: how a served score is shown in the score panel (the user's latest reaction to it in the period)
REACTIONS = ("no reaction", "liked", "disliked", "bought")
_REACTION_OF = {"like": "liked", "dislike": "disliked", "bought": "bought", "implicit_bought": "bought"}
REACTION_COLOURS = {"no reaction": "#9aa5b1", "liked": "#2ca02c", "disliked": "#d62728", "bought": "#9467bd"}


@dataclass
class Digest:
    user: str
    since: datetime
    until: datetime
    text: str
    chart_png: bytes
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def quiet(self) -> bool:
        return bool(self.data.get("quiet"))


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.utcoffset() is None else value.astimezone(timezone.utc)


def _when(row: Any) -> datetime:
    """When a feedback row was last written (a changed vote counts when it changed)."""
    return _utc(getattr(row, "updated_at", None) or row.created_at)


def _day(d: datetime, ref: datetime) -> str:
    return f"{d.day} {d:%b}" + (f" {d.year}" if d.year != ref.year else "")


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def _auc(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def driver_phrase(feature: str) -> str:
    return DRIVER_WORDS.get(feature, feature.replace("_", " "))


def top_drivers(metrics: dict[str, Any], n: int = TOP_DRIVERS) -> list[dict[str, Any]]:
    """The ``n`` most important features of a model's metrics, with their share of the total importance."""
    imp: dict[str, float] = {}
    for k, v in (metrics.get("importance") or {}).items():
        if v is not None and not math.isnan(float(v)):
            imp[driver_feature(k)] = imp.get(driver_feature(k), 0.0) + float(v)
    total = sum(v for v in imp.values() if v > 0)
    ranked = sorted(imp.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return [{"feature": f, "phrase": driver_phrase(f), "share": (v / total) if total > 0 else None}
            for f, v in ranked if v > 0]


def vote_agrees(kind: str, probability: float, maybe_threshold: float) -> bool:
    """The agreement rule (see the module docstring)."""
    return probability >= maybe_threshold if kind == "like" else probability < maybe_threshold


# --------------------------------------------------------------------------------------------- gathering


def _period(rec: Thresholds, user: str, now: datetime | None, since: datetime | None) -> tuple[datetime, datetime]:
    now = _utc(now) if now is not None else datetime.now(timezone.utc)
    if since is None:
        since = rec.store.last_digest_at(user)
    if since is None:
        days = float(rec.cfg.learning.digest_every_days)
        since = now - timedelta(days=days)
    return _utc(since), now


def _added(rec: Thresholds, user: str, since: datetime) -> dict[str, Any]:
    items = rec.store.collection_added_since(user, since)
    newest = sorted(items, key=lambda it: (it.date_added is not None, it.date_added), reverse=True)
    return {"count": len(items), "examples": [it.release.display for it in newest[:2]],
            "ids": [it.release.id for it in items]}


def _feedback(rows: list[Any]) -> dict[str, Any]:
    counts = Counter(fb.kind for fb in rows)
    reasons = [fb.reason for fb in rows if fb.reason and fb.source != "implicit"]
    return {"like": counts.get("like", 0), "dislike": counts.get("dislike", 0), "bought": counts.get("bought", 0),
            "implicit_bought": counts.get("implicit_bought", 0), "weak_negative": counts.get("weak_negative", 0),
            "reasons": reasons, "total": len(rows)}


def _agreement(rows: list[Any], maybe: float) -> dict[str, Any]:
    votes = [fb for fb in rows if fb.kind in ("like", "dislike") and fb.probability is not None]
    agreed = sum(vote_agrees(fb.kind, float(fb.probability), maybe) for fb in votes)
    return {"votes": len(votes), "agreed": agreed, "rate": (agreed / len(votes)) if votes else None,
            "clear_misses": sum(bool(fb.disagreement) for fb in votes),
            "rule": f"👍 agrees if the score was ≥ {maybe:.0%}, 👎 if it was below"}


def _model_summary(mv: Any) -> dict[str, Any]:
    m = mv.metrics_dict
    hold = m.get("holdout") or {}
    return {"version": mv.version, "status": mv.status, "active": bool(mv.active),
            "created_at": _utc(mv.created_at).isoformat(), "decision": m.get("decision") or mv.note,
            "challenger": hold.get("challenger"), "champion": hold.get("champion"), "cut": hold.get("cut")}


def _models(rec: Thresholds, user: str, since: datetime, now: datetime) -> dict[str, Any]:
    models = rec.store.models(user)
    earlier = [mv for mv in models if _utc(mv.created_at) < since and mv.was_active]
    new = [mv for mv in models if since <= _utc(mv.created_at) <= now]
    active = rec.store.active_model(user)
    before = earlier[-1] if earlier else None
    return {"before": before.version if before else None, "after": active.version if active else None,
            "new": [_model_summary(mv) for mv in new],
            "drivers": top_drivers(active.metrics_dict) if active else [],
            "drivers_before": top_drivers(before.metrics_dict) if before else []}


def _styles_by_year(rec: Thresholds, user: str) -> dict[str, Any]:
    """Top styles (genres for an untagged collection) of the dated collection, counted per year added."""
    dated = [(it, it.date_added) for it in rec.store.collection(user, "collection") if it.date_added]
    attr = "styles" if any(it.release.styles for it, _ in dated) else "genres"
    totals: Counter[str] = Counter()
    for it, _ in dated:
        totals.update(set(getattr(it.release, attr)))
    top = [s for s, _ in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_STYLES]]
    years = sorted({added.year for _, added in dated})
    per: dict[str, dict[int, int]] = {s: dict.fromkeys(years, 0) for s in top}
    for it, added in dated:
        for s in set(getattr(it.release, attr)) & set(top):
            per[s][added.year] += 1
    return {"kind": attr, "top": top, "years": years, "counts": {s: [per[s][y] for y in years] for s in top}}


def _by_version(rec: Thresholds, user: str, maybe: float) -> list[dict[str, Any]]:
    """Per model version (oldest first): live agreement with all-time 👍/👎 on its scores, hold-out metrics."""
    served = {s.id: s.model_version for s in rec.store.scores(user)}
    votes: dict[str | None, list[bool]] = defaultdict(list)
    for fb in rec.store.feedback(user):
        if fb.kind in ("like", "dislike") and fb.probability is not None and fb.score_id in served:
            votes[served[fb.score_id]].append(vote_agrees(fb.kind, float(fb.probability), maybe))
    models = {mv.version: mv for mv in rec.store.models(user)}   # registration order
    # versions pruned since (seen only on served scores) are older than every kept one
    versions = sorted(v for v in votes if v is not None and v not in models) + list(models)
    out = []
    if votes.get(None):
        out.append({"version": None, "label": "cold start", "status": "cold start", "active": False,
                    "votes": len(votes[None]), "agreement": sum(votes[None]) / len(votes[None]), "holdout_auc": None})
    for i, v in enumerate(versions, 1):
        mv = models.get(v)
        ch = ((mv.metrics_dict.get("holdout") or {}).get("challenger") or {}) if mv else {}
        vs = votes.get(v, [])
        out.append({"version": v, "label": f"v{i}", "status": mv.status if mv else "pruned",
                    "active": bool(mv and mv.active), "votes": len(vs),
                    "agreement": (sum(vs) / len(vs)) if vs else None, "holdout_auc": ch.get("auc"),
                    "created_at": _utc(mv.created_at).isoformat() if mv else None})
    return out


# ----------------------------------------------------------------------------------------------- text


def _text(user: str, d: dict[str, Any], since: datetime, now: datetime) -> str:
    days = max((now - since).total_seconds() / 86400, 0.0)
    head = f"📬 Crate Digger digest for {user} — since {_day(since, now)}"
    drivers = d["model"]["drivers"]
    driver_line = ("What drives your scores now: "
                   + ", ".join(f"{x['phrase']}" + (f" ({x['share']:.0%})" if x["share"] is not None else "")
                               for x in drivers) + "."
                   if drivers else "No personal model yet: scores come from records similar to yours.")
    if d["quiet"]:
        word = "week" if days <= 9 else "spell"
        return "\n".join([head, f"Quiet {word}: no new records, nothing scored, no feedback since "
                                f"{_day(since, now)}: your scores work as before.", driver_line])
    lines = [head]
    add = d["added"]
    if add["count"]:
        eg = "; ".join(add["examples"])
        lines.append(f"• Added {add['count']} record{'s' * (add['count'] != 1)}" + (f", e.g. {eg}." if eg else "."))
    else:
        lines.append("• No new records in your collection.")
    fb, n_scored = d["feedback"], d["scores"]["count"]
    parts = [f"{fb['like']} 👍", f"{fb['dislike']} 👎", f"{fb['bought']} bought"]
    scored = f"Scored {n_scored} record{'s' * (n_scored != 1)}"
    if fb["like"] or fb["dislike"] or fb["bought"]:
        line = f"• {scored}; your feedback: {', '.join(parts)}."
        if fb["reasons"]:
            line += " You said: " + ", ".join(f"“{r}”" for r in fb["reasons"][:2]) + "."
    elif n_scored:
        line = f"• {scored}; no 👍/👎 from you."
    else:
        line = "• Nothing scored and no feedback."
    implicit = [f"{fb['implicit_bought']} bought after I scored them"] if fb["implicit_bought"] else []
    implicit += [f"{fb['weak_negative']} scored often but never bought"] if fb["weak_negative"] else []
    if implicit:
        line += " Noticed: " + ", ".join(implicit) + "."
    lines.append(line)
    ag = d["agreement"]
    if ag["votes"]:
        miss = f"; {ag['clear_misses']} clear miss{'es' * (ag['clear_misses'] != 1)}" if ag["clear_misses"] else ""
        lines.append(f"• The model agreed with {ag['agreed']} of your {ag['votes']} 👍/👎 "
                     f"({ag['rate']:.0%}){miss}.")
    lines.extend(_model_lines(d["model"]))
    top_now = drivers[0]["feature"] if drivers else None
    before = d["model"]["drivers_before"]
    if top_now and before and before[0]["feature"] != top_now:
        driver_line = driver_line[:-1] + f" (top driver before: {before[0]['phrase']})."
    lines.append(driver_line)
    return "\n".join(lines)


def _model_lines(m: dict[str, Any]) -> list[str]:
    """What happened to the collector's model, in their words: model versions, ROC-AUC and hold-outs stay in
    `crate models list` and the logs."""
    before, after, new = m["before"], m["after"], m["new"]
    if not new:
        return ["• Your scores work as before: nothing new to learn from."] if after else ["• No personal model yet."]
    mv = new[-1]
    tries = f" ({len(new)} tries this period)" if len(new) > 1 else ""
    if mv["status"] == "rejected":
        return [f"• I tried to relearn your taste{tries}, but the result read your latest records less well than "
                "what I already had, so your scores stay as they were."]
    if mv["status"] == "candidate":
        return [f"• I relearned your taste{tries}; the new version is stored but not in use yet."]
    if before is None:
        return ["• Your personal model is ready: scores now come from your own collection."]
    return [f"• I relearned your taste from your latest records and feedback{tries}: scores now reflect them."]


# ---------------------------------------------------------------------------------------------- chart


def _chart(d: dict[str, Any], since: datetime, now: datetime, buy: float, maybe: float) -> tuple[bytes, dict]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 9.0))
    FigureCanvasAgg(fig)
    ax1, ax2, ax3 = fig.subplots(3, 1)
    info: dict[str, Any] = {}

    st = d["styles"]
    ax1.set_title(PANEL_STYLES + (" (genres: no style tags)" if st["kind"] == "genres" else ""), loc="left")
    if st["top"] and st["years"]:
        for s in st["top"]:
            ax1.plot(st["years"], st["counts"][s], marker="o", ms=3, lw=1.6, label=s)
        ax1.set_ylim(0, max(max(max(c) for c in st["counts"].values()), 1) * 1.45)   # room for the legend
        ax1.legend(fontsize=8, frameon=False, loc="upper left", ncol=3)
        ax1.set_xlabel("year added")
        ax1.set_ylabel("records")
        ax1.xaxis.get_major_locator().set_params(integer=True)
    else:
        ax1.text(0.5, 0.5, "no dated records yet", ha="center", va="center", transform=ax1.transAxes)
        ax1.set_xticks([])
        ax1.set_yticks([])
    info["styles"] = [ln.get_label() for ln in ax1.get_lines()]   # what was drawn, for checks

    probs = d["scores"]["probabilities"]
    ax2.set_title(f"{PANEL_SCORES} since {_day(since, now)} ({len(probs)})", loc="left")
    ax2.set_xlim(0, 1)
    ax2.axvspan(0, maybe, color="#d62728", alpha=0.06)
    ax2.axvspan(maybe, buy, color="#ffbf00", alpha=0.08)
    ax2.axvspan(buy, 1, color="#2ca02c", alpha=0.08)
    if probs:
        groups = d["scores"]["by_reaction"]
        shown = [(k, groups[k]) for k in REACTIONS if groups.get(k)]
        ax2.hist([g for _, g in shown], bins=20, range=(0, 1), stacked=True, label=[k for k, _ in shown],
                 color=[REACTION_COLOURS[k] for k, _ in shown], edgecolor="white", linewidth=0.5)
        ax2.yaxis.get_major_locator().set_params(integer=True)
        ax2.set_ylim(0, ax2.get_ylim()[1] * 1.3)
        ax2.legend(fontsize=8, frameon=False, loc="upper right", ncol=len(shown))
    else:
        ax2.text(0.5, 0.5, "nothing scored in this period", ha="center", va="center", transform=ax2.transAxes)
    ax2.set_xlabel("match probability (red: skip, yellow: maybe, green: buy)")
    ax2.set_ylabel("records")
    # each stacked layer's first bar carries the layer's label
    drawn = {c[0].get_label(): int(round(sum(bar.get_height() for bar in c))) for c in ax2.containers if len(c)}
    info["scores"] = {k: drawn.get(k, 0) for k in REACTIONS}

    vers = d["versions"]
    ax3.set_title(PANEL_AGREEMENT, loc="left")
    if vers:
        xs = list(range(len(vers)))
        agree = [v["agreement"] if v["agreement"] is not None else 0.0 for v in vers]
        colours = ["#bbbbbb" if v["status"] == "rejected" else "#4c72b0" for v in vers]
        ax3.bar(xs, agree, color=colours, width=0.6, label="agreed with your votes")
        for x, v in zip(xs, vers):
            note = f"{v['agreement']:.0%}\n(n={v['votes']})" if v["agreement"] is not None else "no votes"
            ax3.text(x, (v["agreement"] or 0) + 0.03, note, ha="center", va="bottom", fontsize=7)
        labels = []
        for v in vers:
            tag = " (now)" if v["active"] else " (rejected)" if v["status"] == "rejected" else ""
            day = f"\n{datetime.fromisoformat(v['created_at']):%d %b}" if v.get("created_at") else ""
            labels.append(v["label"] + tag + day)
        ax3.set_xticks(xs, labels, fontsize=8)
        ax3.set_ylim(0, 1.35)
        ax3.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
        ax3.set_ylabel("share")
        ax3.legend(fontsize=8, frameon=False, loc="upper right", ncol=2)
    else:
        ax3.text(0.5, 0.5, "no model yet", ha="center", va="center", transform=ax3.transAxes)
        ax3.set_xticks([])
        ax3.set_yticks([])
    info["versions"] = [t.get_text().split(" ")[0].split("\n")[0] for t in ax3.get_xticklabels()] if vers else []

    fig.tight_layout()
    info["panels"] = [ax.get_title(loc="left") for ax in (ax1, ax2, ax3)]
    png = b""
    for dpi in (100, 80, 64):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        png = buf.getvalue()
        if len(png) <= MAX_PNG_BYTES:
            break
    info["dpi"], info["bytes"] = dpi, len(png)
    return png, info


# ------------------------------------------------------------------------------------------------ api


def _sound(store: Any, fb_rows: list) -> dict[str, Any] | None:
    """What the records the collector rated up (👍, bought) in the period sound like, beside those they turned
    down, when at least three of them were heard (core/audio); None otherwise."""
    up = {fb.release_id for fb in fb_rows if fb.kind in ("like", "bought", "implicit_bought")}
    down = {fb.release_id for fb in fb_rows if fb.kind == "dislike"} - up
    heard = store.audio_features(up | down)
    liked = [heard[r] for r in up if r in heard]
    if len(liked) < 3:
        return None

    def mean(rows: list[dict[str, Any]], key: str) -> float:
        return float(sum(float(r.get(key, 0.0)) for r in rows) / len(rows))

    out: dict[str, Any] = {"up": len(liked), "tempo_bpm": round(mean(liked, "tempo_bpm")),
                           "valence": round(mean(liked, "valence"), 2), "arousal": round(mean(liked, "arousal"), 2)}
    line = (f"🎧 The {len(liked)} records you rated up sound {mood_words(out['valence'], out['arousal'])} "
            f"(about {out['tempo_bpm']} beats a minute)")
    disliked = [heard[r] for r in down if r in heard]
    if len(disliked) >= 2:
        line += (f"; the {len(disliked)} you turned down, "
                 f"{mood_words(mean(disliked, 'valence'), mean(disliked, 'arousal'))} "
                 f"(about {round(mean(disliked, 'tempo_bpm'))})")
    out["line"] = line + "."
    return out


def build_digest(rec: Thresholds, user: str, now: datetime | None = None, since: datetime | None = None) -> Digest:
    """The user's digest for [``since``, ``now``] (defaults: the last digest, or ``digest_every_days`` ago; now).

    Read-only: nothing is marked as sent (see :func:`mark_sent`).
    """
    since, now = _period(rec, user, now, since)
    buy, maybe = rec.thresholds(user)   # the user's own verdict thresholds (their model's, or their setting)
    store = rec.store
    fb_rows = [fb for fb in store.feedback(user, since) if _when(fb) <= now]
    scores = [s for s in store.scores(user, since) if _utc(s.created_at) <= now]
    reaction: dict[int, str] = {}
    for fb in fb_rows:   # a purchase outranks a vote on the same score
        kind = _REACTION_OF.get(fb.kind)
        if fb.score_id is not None and kind and reaction.get(fb.score_id) != "bought":
            reaction[fb.score_id] = kind
    by_reaction: dict[str, list[float]] = {k: [] for k in REACTIONS}
    for row in scores:
        by_reaction[reaction.get(row.id or 0, "no reaction")].append(float(row.probability))
    data: dict[str, Any] = {
        "user": user, "since": since.isoformat(), "until": now.isoformat(),
        "period_days": round((now - since).total_seconds() / 86400, 2),
        "added": _added(rec, user, since),
        "feedback": _feedback(fb_rows),
        "scores": {"count": len(scores), "probabilities": [float(s.probability) for s in scores],
                   "by_reaction": by_reaction,
                   "labels": dict(Counter(s.label for s in scores))},
        "agreement": _agreement(fb_rows, maybe),
        "model": _models(rec, user, since, now),
        "styles": _styles_by_year(rec, user),
        "versions": _by_version(rec, user, maybe),
        "thresholds": {"buy": buy, "maybe": maybe},
    }
    data["quiet"] = not (data["added"]["count"] or fb_rows or scores or data["model"]["new"])
    data["sound"] = _sound(store, fb_rows)
    text = _text(user, data, since, now)
    if data["sound"] and not data["quiet"]:
        text += "\n" + data["sound"]["line"]
    png, info = _chart(data, since, now, buy, maybe)
    data["chart"] = info
    return Digest(user, since, now, text, png, data)


def add_picks(rec: PickSource, user: str, digest: Digest, now: datetime | None = None,
              discoverer: Any = None) -> Digest:
    """The digest with ``discover.digest_picks`` fresh picks at the end (recorded like cards, so 👍 / 👎 work on
    them). Never fatal: without a catalogue or a collection the digest goes as it is."""
    n = int(rec.cfg.discover.digest_picks)
    if n <= 0 or digest.quiet:
        return digest
    try:
        if discoverer is None:
            from core.picks import Discoverer  # (the catalogue and its index load only for a digest that is due)

            discoverer = Discoverer(rec)
        picks = discoverer.discover(user, n, now=now or digest.until).picks
    except Exception as exc:   # noqa: BLE001 — a digest must still go out
        log.warning("no picks in %s's digest: %s", user, type(exc).__name__)
        return digest
    if not picks:
        return digest
    lines = [f"✨ {len(picks)} fresh pick{'s' * (len(picks) != 1)} for you:"]
    for p in picks:
        why = p.best_reason
        lines.append(f"• {p.emoji} {_pct(p.probability)} {p.release.display} — {p.reasons[0]}"
                     + (f"; {why}" if why else ""))
    lines.append("More with /discover.")
    data = dict(digest.data)
    data["picks"] = [{"release_id": p.release.id, "score_id": p.score_id, "kind": p.kind,
                      "probability": p.probability} for p in picks]
    return Digest(digest.user, digest.since, digest.until, digest.text + "\n" + "\n".join(lines),
                  digest.chart_png, data)


#: price drops the digest lists at most
PRICE_DROPS = 5


def add_price_drops(rec: Any, user: str, digest: Digest, limit: int = PRICE_DROPS) -> Digest:
    """The digest with "worth a look this week": watched or wanted records whose lowest price, checked in the
    digest's period, is under the first price seen for them, best buy score first. Never fatal."""
    try:
        rows = []
        for w in rec.store.watches(user):
            if w.gone or w.lowest_price is None or w.checked_at is None or _utc(w.checked_at) < digest.since:
                continue
            hist = rec.store.price_history(w.release_id, w.currency)
            was = hist.first_price if hist is not None else None
            if was is None or w.lowest_price >= was:
                continue
            try:
                card = rec.score(user, w.release_id, record=False)
                p, title = float(card.probability), card.release.display
            except Exception:   # noqa: BLE001 — a record the model cannot score is listed last
                p, title = -1.0, f"release {w.release_id}"
            rows.append((p, title, w, was))
    except Exception as exc:   # noqa: BLE001 — a digest must still go out
        log.warning("no price drops in %s's digest: %s", user, type(exc).__name__)
        return digest
    if not rows:
        return digest
    rows.sort(key=lambda r: -r[0])
    lines = ["💸 Worth a look this week — cheaper than when I first saw them:"]
    for p, title, w, was in rows[:limit]:
        score = f"{_pct(p)} " if p >= 0 else ""
        lines.append(f"• {score}{title} — {w.lowest_price:,.2f} {w.currency} (was {was:,.2f}; "
                     f"{w.num_for_sale} for sale)")
    data = dict(digest.data)
    data["price_drops"] = [{"release_id": w.release_id, "lowest_price": w.lowest_price, "was": was,
                            "currency": w.currency, "probability": p if p >= 0 else None} for p, _, w, was in rows]
    data["quiet"] = False
    return Digest(digest.user, digest.since, digest.until, digest.text + "\n" + "\n".join(lines),
                  digest.chart_png, data)


def mark_sent(rec: Thresholds, user: str, now: datetime | None = None) -> None:
    """Record that the user's digest was sent at ``now`` (default: now): the next one starts there."""
    rec.store.set_last_digest_at(user, now)
