"""Words and mood (issue 14): a labelled query set built from the style vocabulary — one query per style that at
least 20 pool releases carry, the style's own name in lower case — judged by whether the top 10 of the **query
part alone** (core/picks/service.py `Discoverer._query_score` over the whole pool, no personal fit) carry that
style. Two figures: with the vocabulary (the product: the words are read against the canonical styles) and by
meaning alone (the static embedding, no vocabulary), the honest figure for words no style carries.

    python benchmarks/bench_discover_text.py [--min 20]
"""
from __future__ import annotations

import argparse
import json
from collections import Counter

import _common  # noqa: F401
import numpy as np

SHARED = _common.ROOT.parent / "shared" / "data" / "eval"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--min", type=int, default=20)
    args = ap.parse_args()
    from core.catalogue.static import static_embedder
    from core.model.evaluation import load_eval_catalogue
    from core.picks.query import read_query
    from core.picks.service import Discoverer

    cat = load_eval_catalogue()
    pool = [cat[int(i)] for i in json.loads((SHARED / "pool.json").read_text()) if int(i) in cat]
    emb = static_embedder()
    vecs = emb.embed_releases(pool)
    counts = Counter(s for r in pool for s in r.styles)
    styles = sorted(s for s, n in counts.items() if n >= args.min)
    rows = []
    for style in styles:
        text = style.lower()
        intent = read_query(text)
        q = emb.embed_texts([text + (". Styles: " + ", ".join(sorted(intent.tags)) if intent.tags else "")])[0]
        hit = np.array([bool(intent.matches(r)) for r in pool])
        with_vocab = Discoverer._query_score(hit, vecs @ q, bool(intent.tags))
        q0 = emb.embed_texts([text])[0]
        meaning = Discoverer._query_score(np.zeros(len(pool), dtype=bool), vecs @ q0, False)
        p_vocab = np.mean([style in pool[i].styles for i in np.argsort(-with_vocab, kind="stable")[:10]])
        p_meaning = np.mean([style in pool[i].styles for i in np.argsort(-meaning, kind="stable")[:10]])
        rows.append((style, counts[style], intent.styles == [style], p_vocab, p_meaning))
    print(f"{len(rows)} styles carried by ≥ {args.min} of {len(pool)} pool releases")
    print(f"{'style':28s} {'n':>5s} {'read':>5s} {'P@10 vocab':>11s} {'P@10 meaning':>13s}")
    for style, n, read, pv, pm in rows:
        print(f"{style:28s} {n:5d} {'yes' if read else 'NO':>5s} {pv:11.2f} {pm:13.2f}")
    pv = np.array([r[3] for r in rows])
    pm = np.array([r[4] for r in rows])
    print(f"\nprecision@10, mean over queries: with the vocabulary {pv.mean():.3f} (min {pv.min():.2f}, "
          f"{(pv >= 0.8).mean():.0%} of queries ≥ 0.8); by meaning alone {pm.mean():.3f} (min {pm.min():.2f}, "
          f"{(pm >= 0.8).mean():.0%} ≥ 0.8)")


if __name__ == "__main__":
    main()
