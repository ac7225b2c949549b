"""Markdown tables for docs/RESULTS.md from `crate eval --split-dir … --json FILE` output.

    python benchmarks/results_tables.py docs/eval_splits.json
"""
from __future__ import annotations

import json
import sys

REF = {"model": "catboost", "style_profile": "profile_tfidf", "content_knn": "knn_minilm", "popularity": "popularity"}


def f3(x) -> str:
    return "–" if x is None else f"{x:.3f}"


def variant_table(rows: list[dict]) -> list[str]:
    out = ["| user | model AUC | model HR@10 | model NDCG@10 | model ECE | style profile AUC | content kNN AUC | "
           "popularity AUC | verdicts: test pos buy+maybe / test neg buy+maybe |", "|---|" + "---|" * 8]
    sums: dict[str, list[float]] = {}
    for r in rows:
        ref = (r.get("reference") or {})
        m, rm = r["methods"], {k: ref.get(v, {}) for k, v in REF.items()}
        v = r.get("verdicts", {})
        vp = 1 - v.get("test_pos", {}).get("skip", float("nan"))
        vn = 1 - v.get("test_neg", {}).get("skip", float("nan"))
        cells = [f"{f3(m['model'][k])} / {f3(rm['model'].get(k))}" for k in ("auc", "hr10", "ndcg10", "ece")]
        cells += [f"{f3(m[b]['auc'])} / {f3(rm[b].get('auc'))}" for b in ("style_profile", "content_knn", "popularity")]
        out.append(f"| {r['user']} | " + " | ".join(cells) + f" | {vp:.0%} / {vn:.0%} |")
        for k in ("auc", "hr10", "ndcg10", "ece"):
            sums.setdefault(f"m_{k}", []).append(m["model"][k])
            sums.setdefault(f"r_{k}", []).append(rm["model"].get(k))
        for b in ("style_profile", "content_knn", "popularity"):
            sums.setdefault(b, []).append(m[b]["auc"])
        sums.setdefault("vp", []).append(vp)
        sums.setdefault("vn", []).append(vn)
    mean = {k: sum(v) / len(v) for k, v in sums.items() if None not in v}
    wins = sum(r["methods"]["model"]["auc"] > (r.get("reference") or {}).get("catboost", {}).get("auc", 1)
               for r in rows)
    hwins = sum(r["methods"]["model"]["hr10"] > (r.get("reference") or {}).get("catboost", {}).get("hr10", 1)
                for r in rows)
    out.append("| **mean** | " + " | ".join(f"**{mean['m_' + k]:.3f} / {mean['r_' + k]:.3f}**" for k in ("auc", "hr10"))
               + " | " + " | ".join(f"{mean['m_' + k]:.3f} / {mean['r_' + k]:.3f}" for k in ("ndcg10", "ece"))
               + " | " + " | ".join(f"{mean[b]:.3f}" for b in ("style_profile", "content_knn", "popularity"))
               + f" | {mean['vp']:.0%} / {mean['vn']:.0%} |")
    out.append("")
    out.append(f"The model beats the reference model's AUC on {wins} of {len(rows)} users and its HR@10 on {hwins}.")
    return out


def spread_table(sp: dict) -> list[str]:
    out = ["| method | AUC | HR@10 | NDCG@10 | ECE |", "|---|---|---|---|---|"]
    for name in ["reference"] + [k for k in sp if k != "reference"]:
        row = sp[name]
        cells = []
        for k in ("auc", "hr10", "ndcg10", "ece"):
            s = row.get(k)
            cells.append("–" if not s or s.get("mean") is None else
                         f"{s['mean']:.3f} ± {s['sd']:.3f} [{s['min']:.3f} – {s['max']:.3f}]")
        out.append(f"| {'reference CatBoost' if name == 'reference' else name} | " + " | ".join(cells) + " |")
    return out


def main() -> None:
    d = json.load(open(sys.argv[1], encoding="utf-8"))
    by_variant: dict[str, list[dict]] = {}
    for r in d["splits"]:
        by_variant.setdefault(r["variant"], []).append(r)
    for variant in ("all", "yearmatch"):
        if variant in by_variant:
            print(f"### `{variant}`\n")
            print("\n".join(variant_table(by_variant[variant])) + "\n")
    for fam, sp in (d.get("spread") or {}).items():
        print(f"### Spread over the five negative draws (`{fam}`, `{fam}-seed1..4`)\n")
        print("Mean over the four users of each draw, then mean ± sd [min – max] over the draws:\n")
        print("\n".join(spread_table(sp)) + "\n")


if __name__ == "__main__":
    main()
