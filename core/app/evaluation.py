"""The evaluation and the demo as use cases (``crate eval``, ``crate demo``): they read the inputs, run
:mod:`core.model.evaluation`, and tell what they find through ``say`` (one line or block of text at a time), so a
shell adapter prints and a test collects."""
from __future__ import annotations

import copy
import json
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from core.app.cards import render_card
from core.app.discover import render_picks
from core.app.replies import Refusal
from core.config import get_config, resolve_path
from core.ingest.readers import read_collection
from core.model.embeddings import default_cache
from core.model.evaluation import (
    draw_families,
    evaluate_split,
    evaluate_user,
    find_splits,
    format_split_table,
    format_spread,
    format_table,
    load_eval_catalogue,
    load_split,
    reference_for,
    spread,
    summarise,
    summarise_splits,
)
from core.picks import Discoverer
from core.recommender import Recommender
from core.storage import Store

Say = Callable[[str], None]


def _quiet(_msg: str) -> None:
    pass


def nan_to_none(o: Any) -> Any:
    """NaN -> None throughout (json.dumps writes floats itself, as the non-JSON token NaN: never via default=)."""
    if isinstance(o, float) and math.isnan(o):
        return None
    if isinstance(o, dict):
        return {k: nan_to_none(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [nan_to_none(v) for v in o]
    return o


def _json_safe(o: Any) -> str:
    return str(o)   # dates and other non-JSON values; NaN is handled by nan_to_none


def write_json(path: str | Path, obj: Any) -> None:
    Path(path).write_text(json.dumps(nan_to_none(obj), indent=2, default=_json_safe))


def load_eval_inputs(collections: Sequence[str], catalogue_path: str | None,
                     wantlist: str | None = None) -> tuple[dict[int, Any], list[tuple[str, list, list]]]:
    """The catalogue and, per collection file, (user name, collection items, wantlist items)."""
    catalogue = load_eval_catalogue(catalogue_path)
    users: list[tuple[str, list, list]] = []
    names: set[str] = set()
    for path in collections:
        res = read_collection(path, catalogue=catalogue)
        name = Path(path).stem if Path(path).is_file() else Path(path).name
        base, n = name, 2
        while name in names:   # two files with one stem in different folders: still two users
            name, n = f"{base}-{n}", n + 1
        names.add(name)
        coll = [it for it in res.items if it.list_name == "collection"]
        want = [it for it in res.items if it.list_name == "wantlist"]
        users.append((name, coll, want))
    if wantlist:
        res = read_collection(wantlist, catalogue=catalogue, list_name="wantlist")
        if len(users) == 1:
            users[0][2].extend(res.items)
    return catalogue, users


def run_eval(collections: Sequence[str], catalogue_path: str | None, variants: Sequence[str],
             json_out: str | None = None, wantlist: str | None = None, quiet: bool = False,
             say: Say = print, progress: Say = _quiet) -> dict:
    """The collection-file evaluation (docs/EVALUATION.md) of every variant: tables through ``say``."""
    catalogue, users = load_eval_inputs(collections, catalogue_path, wantlist)
    cfg = get_config()
    cache = default_cache()
    if not quiet:
        progress(f"embedding {len(catalogue)} catalogue releases (cached after the first run)…")
    cache.embed_releases(list(catalogue.values()))
    cache.save()
    out: dict = {"variants": {}}
    k = cfg.eval.k
    for variant in variants:
        results = []
        for name, coll, want in users:
            results.append(evaluate_user(name, coll, catalogue, cache.embed_releases, cfg, want or None,
                                         variant, progress=None if quiet else progress))
        cache.save()
        summary = summarise(results, k)
        out["variants"][variant] = {"users": results, "summary": summary}
        say(f"\n== evaluation ({variant}) ==")
        say(format_table(results, summary, k))
        for r in results:
            for note in sorted(set(r.get("training_log", []))):
                say(f"  [{r['user']}] {note}")
            if "popularity_coverage" in r:
                say(f"  [{r['user']}] popularity baseline: community 'have' known for "
                    f"{r['popularity_coverage']:.0%} of the test releases")
    if json_out:
        write_json(json_out, out)
        say(f"\nwrote {json_out}")
    return out


@dataclass
class SplitEvalRequest:
    """``crate eval --split`` / ``--split-dir`` and its options."""

    splits: list[str] = field(default_factory=list)
    split_dirs: list[str] = field(default_factory=list)
    catalogue: str | None = None
    reference: str | None = None
    methods: list[str] | None = None
    json_out: str | None = None
    scores_out: str | None = None


def run_split_eval(req: SplitEvalRequest, say: Say = print, progress: Say = _quiet) -> dict:
    """The protocol's own splits, paired with the reference's figures; raises :class:`Refusal` for a folder
    without splits or a split that cannot be read."""
    cfg = get_config()
    k = cfg.eval.k
    groups: dict[str, list[Path]] = {}
    for p in req.splits:
        groups.setdefault(Path(p).parent.parent.name, []).append(Path(p))
    for d in req.split_dirs:
        found = find_splits(d)
        if not found:
            raise Refusal(f"no <user>/split.json under {d}")
        groups.setdefault(Path(d).name, []).extend(found)
    catalogue = load_eval_catalogue(req.catalogue)
    cache = default_cache()   # each split embeds what it scores or trains on (cached after the first run)
    out: dict = {"splits": [], "summaries": {}}
    scores: dict = {}
    for group, paths in groups.items():
        rows = []
        for path in paths:
            try:
                split = load_split(path)
                row = evaluate_split(split, catalogue, cache.embed_releases, cfg, req.methods,
                                     embed_text=cache.embed_texts, progress=progress)
            except (OSError, KeyError, ValueError) as exc:
                raise Refusal(f"{path}: {exc}") from exc
            row["reference"] = reference_for(split, req.reference)
            scores[f"{split.variant}/{split.user}"] = row.pop("scores")
            rows.append(row)
        cache.save()
        summary = summarise_splits(rows, k)
        out["splits"] += rows
        out["summaries"][group] = summary
        say(f"\n== {group} ==")
        say(format_split_table(rows, summary, k))
    families = draw_families(list(out["summaries"]))
    if families:
        out["spread"] = {f: spread({n: out["summaries"][n] for n in names}, k) for f, names in families.items()}
        for f, sp in out["spread"].items():
            say("")
            say(format_spread(sp, k, f))
    if req.json_out:
        write_json(req.json_out, out)
        say(f"\nwrote {req.json_out}")
    if req.scores_out:
        def by_id(sc: dict) -> dict:
            return {m: {str(i): v for i, v in s.items()} for m, s in sc.items()}

        body = by_id(next(iter(scores.values()))) if len(scores) == 1 else {key: by_id(v) for key, v in scores.items()}
        Path(req.scores_out).write_text(json.dumps(body))
        say(f"wrote {req.scores_out}")
    return out


def run_demo(database: str | None = None, say: Say = print, progress: Say = _quiet) -> None:
    """Import the bundled collection, train on its first 80 % (by date added), score three records bought later
    and three never bought, and evaluate: all offline."""
    t0 = time.perf_counter()
    cfg = copy.deepcopy(get_config())
    user = cfg.demo.user
    path = resolve_path(cfg.demo.collection)
    db = database or f"sqlite:///{resolve_path(cfg.paths.models_dir) / 'demo.db'}"
    cfg.discogs.live = False   # the demo is offline by design
    rec = Recommender(Store(db), cfg=cfg)
    say(f"Crate Digger demo — collector '{user}' (real public Discogs collection, MIT licence)")
    say("[1/5] importing the collection…")
    result = rec.import_file(user, path)
    say("  " + result.summary().replace("\n", "\n  "))
    owned = rec.owned(user)
    dated = sorted(it.date_added for it in owned if it.date_added)
    cutoff = dated[int(len(dated) * 0.8)]
    say(f"[2/5] training on what {user} owned before {cutoff} (the rest is the 'future')…")
    report = rec.train(user, progress=progress, before=cutoff)
    for note in report.log:
        say(f"  note: {note}")
    say(f"  model {report.version}: {report.n_positives} records + {report.n_negatives} negatives, "
        f"{report.seconds:.1f} s")
    say("[3/5] scoring records: three the collector bought after the cut-off, three they never bought")
    bought_later = sorted((it for it in owned if it.date_added and it.date_added >= cutoff
                           and it.release.id in rec.catalogue), key=lambda it: it.release.id)
    owned_ids = {it.release.id for it in owned}
    others = [r for rid, r in sorted(rec.catalogue.items()) if rid not in owned_ids]
    rng = random.Random(7)
    picks = [("bought later", it.release.id) for it in rng.sample(bought_later, 3)]
    picks += [("never bought", r.id) for r in rng.sample(others, 3)]
    for why, rid in picks:
        card = rec.score(user, rid, as_of=cutoff)   # as the record looked at the cut-off: not owned yet
        say(f"\n--- {why} (release {rid}) ---")
        say(render_card(card))
    say("\n[4/5] picks of what to buy next from the bundled catalogue (crate discover)…")
    try:
        page = Discoverer(rec).discover(user, 5, record=False, prices=False)
        say(render_picks(page))
    except Exception as exc:   # noqa: BLE001 — the demo goes on to the evaluation
        say(f"  (no picks: {exc})")
    say("\n[5/5] evaluation on the bundled data (docs/EVALUATION.md protocol)…")
    run_eval([str(path)], None, ["main", "yearmatch"], None, quiet=True, say=say, progress=progress)
    say(f"\ndemo finished in {time.perf_counter() - t0:.0f} s")
