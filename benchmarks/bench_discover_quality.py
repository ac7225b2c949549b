"""Discover's quality on the protocol's DEV splits (issue 14), and what the static embedding costs against MiniLM.

For every split of the chosen variants: the per-user model is trained exactly as `crate eval` trains it (the
split's train positives, negatives only from its train_neg_pool), then ranks the **whole candidate pool**
(../shared/data/eval/pool.json minus the training collection). Reported per split and as means:

- plain: recall@20, recall@100, NDCG@20 of the test positives in the model's own ranking;
- MMR: the same after the product's page builder (core/picks/mmr.py, discover.mmr_lambda, one artist per page,
  labels and styles spread) re-orders the model's top 300 into the first 100; what diversity costs;
- diversity of the top 20: distinct artists, mean pairwise similarity (static embedding);
- static vs MiniLM (variant `all` only): the protocol's own metrics (ROC-AUC, HR@10 over the test lists, as
  ../shared/tools/split_metrics.py) of the model trained on each embedding, and the recall of the test positives
  among 500 candidates retrieved by the product's probes (core/picks/retrieval.py) in each embedding's space.

    python benchmarks/bench_discover_quality.py [--variants all,all-seed1,...] [--splits DIR]
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import _common  # noqa: F401  (paths, offline)
import numpy as np

SHARED = _common.ROOT.parent / "shared" / "data" / "eval"


def ndcg(ranked: list[int], pos: set[int], k: int) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, r in enumerate(ranked[:k]) if r in pos)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(pos), k)))
    return dcg / ideal if ideal else float("nan")


def recall(ranked: list[int], pos: set[int], k: int) -> float:
    return len(set(ranked[:k]) & pos) / len(pos) if pos else float("nan")


def mmr_order(ids: list[int], scores: np.ndarray, cat: dict, vec_of: dict, lam: float, n_top: int = 300,
              n_out: int = 100) -> list[int]:
    """The product's page builder applied page by page (10 at a time) to the model's top ``n_top``."""
    from core.domain.release import norm_text
    from core.picks.mmr import mmr

    order = list(np.argsort(-scores, kind="stable"))
    top = [ids[i] for i in order[:n_top]]
    rel = np.sort(scores)[::-1][:n_top].copy()   # the scores of ``top``, in the same order
    out: list[int] = []
    left = list(range(len(top)))
    while len(out) < n_out and left:
        sub = [top[i] for i in left]
        vecs = np.stack([vec_of[r] for r in sub])
        picked = mmr(rel[left], vecs, 10, lam, [norm_text(cat[r].artist) for r in sub],
                     [[norm_text(x) for x in cat[r].labels] for r in sub], [cat[r].styles for r in sub])
        chosen = [left[i] for i in picked]
        out += [top[i] for i in chosen]
        left = [i for i in left if i not in set(chosen)]
    rest = [ids[i] for i in order[n_top:]]
    return out + [r for r in top if r not in set(out)] + rest


def diversity(ranked: list[int], cat: dict, vec_of: dict, k: int = 20) -> tuple[int, float]:
    from core.domain.release import norm_text

    top = ranked[:k]
    v = np.stack([vec_of[r] for r in top])
    sims = v @ v.T
    n = len(top)
    return len({norm_text(cat[r].artist) for r in top}), float((sims.sum() - np.trace(sims)) / (n * (n - 1)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", default="all,all-seed1,all-seed2,all-seed3,all-seed4")
    ap.add_argument("--splits", default=str(SHARED / "splits"))
    ap.add_argument("--json", help="write every row here")
    args = ap.parse_args()

    from core.catalogue.static import static_embedder
    from core.config import get_config
    from core.model.embeddings import default_cache
    from core.model.evaluation import find_splits, load_eval_catalogue, load_split, split_training_set
    from core.model.metrics import list_metrics
    from core.model.scorers.catboost_model import CatBoostScorer
    from core.picks.retrieval import make_probes

    cfg = get_config()
    lam = float(cfg.discover.mmr_lambda)
    cat = load_eval_catalogue()
    pool = [int(i) for i in json.loads((SHARED / "pool.json").read_text())]
    static = static_embedder()
    minilm = default_cache()
    pool_rel = [cat[i] for i in pool if i in cat]
    t0 = time.perf_counter()
    m_vecs = minilm.embed_releases(pool_rel)
    minilm.save()
    s_vecs = static.embed_releases(pool_rel)
    print(f"pool: {len(pool_rel)} releases; embeddings ready in {time.perf_counter() - t0:.1f} s")
    svec_of = {r.id: v for r, v in zip(pool_rel, s_vecs)}
    mvec_of = {r.id: v for r, v in zip(pool_rel, m_vecs)}
    rows = []
    for variant in args.variants.split(","):
        for path in find_splits(Path(args.splits) / variant):
            split = load_split(path)
            train_ids = {it.release.id for it in split.train_items} | set(split.train_pos)
            cands = [r for r in pool_rel if r.id not in train_ids]
            ids = [r.id for r in cands]
            pos = set(split.test_pos) & set(ids)
            row = {"variant": variant, "user": split.user, "n_candidates": len(ids), "n_test_pos": len(pos)}
            embeds = [("minilm", minilm.embed_releases, minilm.embed_texts)]
            if variant == "all":
                embeds.append(("static", static.embed_releases, static.embed_texts))
            for ename, embed, embed_text in embeds:
                t1 = time.perf_counter()
                ts = split_training_set(split, cat, embed, cfg, embed_text)
                scorer = CatBoostScorer().fit(ts)
                scores = np.asarray(scorer.score(cands), dtype=float)
                score_of = dict(zip(ids, scores))
                listed = list_metrics(split.test_pos, split.test_lists,
                                      {**score_of, **{r: float(s) for r, s in zip(
                                          split.scored_ids, scorer.score([cat[i] for i in split.scored_ids]))}},
                                      True, 10)
                ranked = [ids[i] for i in np.argsort(-scores, kind="stable")]
                row[f"{ename}_auc"], row[f"{ename}_hr10"] = listed["auc"], listed["hr10"]
                if ename == "minilm":
                    mm = mmr_order(ids, scores, cat, svec_of, lam)
                    row.update(plain_r20=recall(ranked, pos, 20), plain_r100=recall(ranked, pos, 100),
                               plain_ndcg20=ndcg(ranked, pos, 20), mmr_r20=recall(mm, pos, 20),
                               mmr_r100=recall(mm, pos, 100), mmr_ndcg20=ndcg(mm, pos, 20))
                    row["plain_artists20"], row["plain_sim20"] = diversity(ranked, cat, svec_of)
                    row["mmr_artists20"], row["mmr_sim20"] = diversity(mm, cat, svec_of)
                # retrieval: 500 candidates by the product's probes in this embedding's space
                vec_of = mvec_of if ename == "minilm" else svec_of
                owned = [cat[i] for i in split.train_pos if i in cat]
                dated = sorted((it for it in split.train_items if it.date_added and it.release.id in cat),
                               key=lambda it: it.date_added)
                ov = np.stack([vec_of[r.id] for r in owned if r.id in vec_of])
                rv = np.stack([vec_of[it.release.id] for it in dated[-10:] if it.release.id in vec_of]) \
                    if dated else np.zeros((0, ov.shape[1]), dtype=np.float32)
                probes = make_probes(ov, rv, np.zeros((0, ov.shape[1]), dtype=np.float32))
                cv = np.stack([vec_of[i] for i in ids])
                got: dict[int, float] = {}
                for p in probes:
                    k = max(10, int(round(500 * p.weight)))
                    sims = cv @ p.vector
                    for j in np.argsort(-sims)[:k]:
                        got[ids[j]] = max(got.get(ids[j], -1.0), float(sims[j]))
                row[f"{ename}_retrieved"] = len(got)
                row[f"{ename}_retrieval_recall"] = len(set(got) & pos) / len(pos) if pos else float("nan")
                row[f"{ename}_seconds"] = round(time.perf_counter() - t1, 1)
            rows.append(row)
            print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
    keys = ["plain_r20", "plain_r100", "plain_ndcg20", "mmr_r20", "mmr_r100", "mmr_ndcg20", "plain_artists20",
            "mmr_artists20", "plain_sim20", "mmr_sim20", "minilm_auc", "minilm_hr10", "minilm_retrieval_recall"]
    print("\nper variant (mean over users):")
    by_var: dict[str, dict[str, float]] = {}
    for variant in args.variants.split(","):
        vr = [r for r in rows if r["variant"] == variant]
        by_var[variant] = {k: float(np.nanmean([r[k] for r in vr])) for k in keys}
        print(variant, {k: round(v, 3) for k, v in by_var[variant].items()})
    print("\nspread over the draws (mean ± sd of the variant means):")
    for k in keys:
        vals = [by_var[v][k] for v in by_var]
        print(f"  {k:24s} {np.mean(vals):.3f} ± {np.std(vals):.3f}")
    cost = [1 - by_var[v]["mmr_r20"] / by_var[v]["plain_r20"] for v in by_var if by_var[v]["plain_r20"]]
    print(f"MMR's cost in recall@20: {np.mean(cost):.1%} (target ≤ 10 %)")
    allrows = [r for r in rows if r["variant"] == "all" and "static_auc" in r]
    if allrows:
        print("\nstatic vs MiniLM on `all` (mean over users):")
        for k in ("auc", "hr10", "retrieval_recall"):
            print(f"  {k:18s} MiniLM {np.mean([r['minilm_' + k] for r in allrows]):.3f}   "
                  f"static {np.mean([r['static_' + k] for r in allrows]):.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
