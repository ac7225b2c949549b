"""Issue 24: learning you can see, and nothing else moving.

A collector (lanebecker's 331 latest distinct records, imported into a throw-away database) gets a model; the
style the model likes most among catalogue records they don't own (≥ 40 candidates) is picked, and the collector
gives 👎 to the 20 records of that style the model scores highest. Then the product's retrain runs
(``core.learning.retrain.retrain``: challenger, promotion gate, final fit). Printed, before → after: the mean
chance of the 20 rated records, of 20 unrated records of the same style, and of 40 unrelated records (no style in
common with any rated record: the 40 of them the model liked most, where a move would show); how far the
unrelated ones moved (mean relative change of each record's chance) and which changed verdict (with where they
stood); the gate's decision; and the versions' statuses (one active).

    python benchmarks/bench_learning.py [--old-sampling]

``--old-sampling`` draws the retrain's "records others bought" as before issue 24 (a seeded ``random.sample`` of
the pool, which a few 👎 leaving the pool re-draw entirely), for the before/after comparison.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections import Counter

from _common import LANEBECKER, fresh_recommender, warm_embeddings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old-sampling", action="store_true")
    ap.add_argument("--records", type=int, default=331)
    a = ap.parse_args()
    import core.learning.retrain as retrain_mod
    from core.learning.retrain import retrain

    if a.old_sampling:
        retrain_mod.stable_sample = lambda pool, n, seed: random.Random(seed).sample(list(pool), min(n, len(pool)))

    rec, tmp = fresh_recommender("learning")
    user = "learner"
    rows = json.loads(LANEBECKER.read_text(encoding="utf-8"))
    seen, subset = set(), []
    for r in reversed(rows):                     # the latest records first
        rid = r.get("id") or r.get("basic_information", {}).get("id")
        if rid not in seen:
            seen.add(rid)
            subset.append(r)
    path = tmp / "collection.json"
    path.write_text(json.dumps(subset[:a.records]), encoding="utf-8")
    rec.import_file(user, path)
    owned = {it.release.id for it in rec.owned(user)}
    cands = [r for rid, r in sorted(rec.catalogue.items()) if rid not in owned and r.styles]
    warm_embeddings(rec, cands)
    v1 = rec.train(user)
    _, scorer = rec.model_for(user)
    p0 = dict(zip([r.id for r in cands], scorer.score(cands)))
    by_style = Counter(s for r in cands for s in r.styles)
    style = max((s for s, n in by_style.items() if n >= 40),
                key=lambda s: statistics.fmean(p0[r.id] for r in cands if s in r.styles))
    of_style = sorted((r for r in cands if style in r.styles), key=lambda r: -p0[r.id])
    rated, same = of_style[:20], of_style[20:40]
    rated_styles = {s for r in rated for s in r.styles}
    # unrelated: no style in common with any rated record; the 40 the model likes most (where a move shows)
    others = [r for r in cands if not set(r.styles) & rated_styles]
    unrelated = sorted(others, key=lambda r: -p0[r.id])[:40]
    before = {r.id: rec.score(user, r, record=False) for r in rated + same + unrelated}
    for r in rated:
        card = rec.score(user, r.id)
        rec.feedback(user, "dislike", card.score_id, source="cli")
    t0 = time.perf_counter()
    result = retrain(rec, user)
    secs = time.perf_counter() - t0
    after = {r.id: rec.score(user, r, record=False) for r in rated + same + unrelated}

    def rank_pct(card) -> str:
        return f"{(1 - card.percentile) * 100:.1f}" if card.percentile is not None else "?"

    def mean(group, cards) -> float:
        return statistics.fmean(cards[r.id].probability for r in group)

    print(f"sampling: {'old (random.sample)' if a.old_sampling else 'stable (seeded hash)'}; v1 {v1.version} on "
          f"{v1.n_positives} records; style disliked: {style} ({len(of_style)} catalogue records)")
    print(f"retrain: {'accepted' if result.accepted else 'rejected'} in {secs:.1f} s — {result.reason}")
    print("| records | mean chance before | after | change |")
    print("|---|---|---|---|")
    for name, group in (("20 rated 👎", rated), ("20 same style, unrated", same), ("40 unrelated", unrelated)):
        b, f = mean(group, before), mean(group, after)
        print(f"| {name} | {b:.1%} | {f:.1%} | {(f - b) / b:+.0%} |")
    rel = [abs(after[r.id].probability - before[r.id].probability) / max(before[r.id].probability, 1e-3)
           for r in unrelated]
    jumps = [r for r in unrelated if after[r.id].verdict != before[r.id].verdict]
    print(f"unrelated: mean relative move {statistics.fmean(rel):.0%} (median {statistics.median(rel):.0%}); "
          f"{len(jumps)} of {len(unrelated)} changed verdict"
          + (": " + "; ".join(f"{r.display} {before[r.id].verdict}→{after[r.id].verdict} (top "
                                f"{rank_pct(before[r.id])} % → {rank_pct(after[r.id])} %)" for r in jumps)
             if jumps else ""))
    statuses = Counter(mv.status for mv in rec.store.models(user))
    active = sum(mv.active for mv in rec.store.models(user))
    print(f"versions: {dict(statuses)}; active: {active}")


if __name__ == "__main__":
    main()
