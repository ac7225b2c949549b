"""Issue 24: what the verdicts say on the protocol's hold-out, and whether any card contradicts itself.

For every DEV split (``../shared/data/eval/splits/all`` and its four re-drawn negative sets by default) the
per-user model is trained exactly as `crate eval` trains it; each test positive and each test negative is then
scored and turned into the card a collector would read (verdict from the model's own shares, standing, chance).
Printed per user and draw: the share of test positives and test negatives per verdict (🟢 / 🟡 / 🔴) and the
number of cards with a contradiction (``core.app.cards.contradictions``); then the mean and spread over the draws.
Targets (issue 24): test positives buy+maybe ≥ 60 %, test negatives buy+maybe ≤ 10 %, 0 contradictions.

    python benchmarks/bench_verdicts.py [--split-dir DIR ...]
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from _common import ROOT  # noqa: F401  (sets the offline environment, puts the project on sys.path)

SPLITS = ROOT.parent / "shared" / "data" / "eval" / "splits"


def main() -> None:
    from core.app.cards import contradictions
    from core.config import get_config
    from core.model.embeddings import default_cache
    from core.model.evaluation import find_splits, load_eval_catalogue, load_split, split_training_set
    from core.model.scorers.catboost_model import CatBoostScorer
    from core.recommender import ScoreCard

    ap = argparse.ArgumentParser()
    ap.add_argument("--split-dir", action="append")
    a = ap.parse_args()
    dirs = a.split_dir or [str(SPLITS / d) for d in ("all", "all-seed1", "all-seed2", "all-seed3", "all-seed4")]
    if not all(Path(d).is_dir() for d in dirs):
        sys.exit(f"no splits at {dirs} (../shared absent?)")
    cfg = get_config()
    shares = (float(cfg.model.verdicts.buy_share), float(cfg.model.verdicts.maybe_share))
    catalogue = load_eval_catalogue()
    cache = default_cache()
    rows = []
    print("| draw | user | test pos 🟢 / 🟡 / 🔴 | test neg 🟢 / 🟡 / 🔴 | pos buy+maybe | neg buy+maybe | "
          "cards | contradictions |")
    print("|---|---|---|---|---|---|---|---|")
    for d in dirs:
        for path in find_splits(d):
            split = load_split(path)
            ts = split_training_set(split, catalogue, cache.embed_releases, cfg, cache.embed_texts)
            scorer = CatBoostScorer().fit(ts)
            ids = split.scored_ids
            pos_ids = set(split.test_pos)
            rels = [catalogue[i] for i in ids]
            p = scorer.score(rels)
            pct = scorer.percentile(p)
            verdicts = scorer.verdicts(p)
            typical = float(statistics.median(scorer.reference_scores))
            count = {"pos": {"buy": 0, "maybe": 0, "skip": 0}, "neg": {"buy": 0, "maybe": 0, "skip": 0}}
            bad = 0
            for r, pi, qi, v in zip(rels, p, pct, verdicts):
                count["pos" if r.id in pos_ids else "neg"][v] += 1
                card = ScoreCard(r, float(pi), v, "similar to records you own", [], False, "v", None, [],
                                 float(qi), None, typical, shares)
                bad += bool(contradictions(card))
            n_pos, n_neg = sum(count["pos"].values()), sum(count["neg"].values())
            share = {k: {v: c / max(1, n) for v, c in count[k].items()} for k, n in (("pos", n_pos), ("neg", n_neg))}
            bm_pos = share["pos"]["buy"] + share["pos"]["maybe"]
            bm_neg = share["neg"]["buy"] + share["neg"]["maybe"]
            rows.append((Path(d).name, split.user, bm_pos, bm_neg, bad, len(rels), share))
            print(f"| {Path(d).name} | {split.user} | " + " / ".join(f"{share['pos'][v]:.0%}" for v in count["pos"])
                  + " | " + " / ".join(f"{share['neg'][v]:.0%}" for v in count["neg"])
                  + f" | {bm_pos:.0%} | {bm_neg:.1%} | {len(rels)} | {bad} |", flush=True)
    for name, idx in (("test positives buy+maybe", 2), ("test negatives buy+maybe", 3)):
        per_draw = [statistics.fmean(r[idx] for r in rows if r[0] == d) for d in dict.fromkeys(r[0] for r in rows)]
        sd = statistics.stdev(per_draw) if len(per_draw) > 1 else 0.0
        print(f"{name}: mean {statistics.fmean(per_draw):.1%} ± {sd:.1%} over {len(per_draw)} draws "
              f"(min user {min(r[idx] for r in rows):.0%}, max user {max(r[idx] for r in rows):.0%})")
    print(f"cards with a contradiction: {sum(r[4] for r in rows)} of {sum(r[5] for r in rows)}")


if __name__ == "__main__":
    main()
