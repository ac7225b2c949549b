"""`crate`: the command-line adapter. It parses arguments, calls core, and prints what core returns."""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

log = logging.getLogger("crate")


def _progress(msg: str) -> None:
    print(f"  … {msg}", flush=True)


def _recommender(args: argparse.Namespace):
    from core.recommender import Recommender
    from core.storage import Store

    return Recommender(Store(args.database) if getattr(args, "database", None) else None)


def cmd_import(args: argparse.Namespace) -> int:
    from core.readers import ReaderError

    rec = _recommender(args)
    try:
        result = rec.import_file(args.user, args.file)
    except ReaderError as exc:
        print(f"Could not import {args.file}: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    for where, why in result.skipped[:10]:
        print(f"  skipped {where}: {why}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    rec = _recommender(args)
    try:
        report = rec.train(args.user, progress=_progress)
    except LookupError as exc:
        print(f"Nothing to train on: {exc}. Run `crate import FILE --user {args.user}` first.", file=sys.stderr)
        return 2
    for line in report.log:
        print(f"  note: {line}")
    if report.cold_start:
        print(f"{args.user}: cold start ({report.n_positives} records) — no model trained yet.")
    else:
        print(f"{args.user}: model {report.version} trained on {report.n_positives} records and "
              f"{report.n_negatives} negatives in {report.seconds:.1f} s")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from core.cards import render_card
    from core.recommender import UnknownRelease
    from core.refs import NotDiscogsLink, parse_ref_strict

    try:
        ref = parse_ref_strict(args.ref)
    except (NotDiscogsLink, ValueError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    rec = _recommender(args)
    if not rec.owned(args.user):
        print(f"No collection for {args.user}: run `crate import FILE --user {args.user}` first.", file=sys.stderr)
        return 2
    from core.discogs.gateway import DiscogsError

    try:
        card = rec.score(args.user, ref)
    except UnknownRelease as exc:
        print(str(exc), file=sys.stderr)
        return 3
    except DiscogsError as exc:
        print(exc.user_message, file=sys.stderr)
        return 3
    print(render_card(card))
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.terminal import run_chat
    from core.app import CrateApp

    run_chat(CrateApp(_recommender(args)), args.user)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from bot.telegram.app import run

    return run(webhook=args.webhook, listen=args.listen, port=args.port, database=args.database)


def _discogs_error(exc: Exception) -> int:
    print(getattr(exc, "user_message", str(exc)), file=sys.stderr)
    return 4


def _read_secret(prompt: str) -> str:
    """A secret from stdin (piped) or a hidden prompt: never from argv, where `ps` would show it."""
    import getpass

    if sys.stdin.isatty():
        return getpass.getpass(prompt).strip()
    return sys.stdin.readline().strip()


def cmd_link(args: argparse.Namespace) -> int:
    from core.discogs.gateway import DiscogsError, DiscogsGateway

    rec = _recommender(args)
    box = rec.secret_box
    try:
        if args.oauth:
            key, secret = os.environ.get("DISCOGS_CONSUMER_KEY"), os.environ.get("DISCOGS_CONSUMER_SECRET")
            if not key or not secret:
                print("OAuth needs DISCOGS_CONSUMER_KEY and DISCOGS_CONSUMER_SECRET (register an app on Discogs → "
                      "Settings → Developers).", file=sys.stderr)
                return 2
            from discogs_client.exceptions import HTTPError as ClientHTTPError

            gw = DiscogsGateway(oauth=(key, secret, "", ""), cfg=rec.cfg)
            try:
                req_token, req_secret, url = gw.client.get_authorize_url()
            except ClientHTTPError:
                print("Discogs refused the app's consumer key or secret (DISCOGS_CONSUMER_KEY / "
                      "DISCOGS_CONSUMER_SECRET).", file=sys.stderr)
                return 4
            print(f"Open this page, allow Crate Digger, and paste the code Discogs shows you:\n  {url}")
            verifier = _read_secret("verification code: ")
            try:
                token, token_secret = gw.client.get_access_token(verifier)
            except ClientHTTPError:
                print("Discogs didn't accept that verification code. Run `crate link --oauth` again and paste the "
                      "code shown after you allow access.", file=sys.stderr)
                return 4
            gw = DiscogsGateway(oauth=(key, secret, token, token_secret), cfg=rec.cfg)
            username = gw.identity()
            rec.store.link_account(args.user, username, "oauth", oauth_token=token, oauth_secret=token_secret,
                                   box=box)
        elif args.token_stdin:
            token = _read_secret("Discogs personal access token: ")
            if not token:
                print("No token given.", file=sys.stderr)
                return 2
            username = DiscogsGateway(token=token, cfg=rec.cfg).identity()
            if args.username and args.username.lower() != username.lower():
                print(f"That token belongs to {username}, not {args.username}.", file=sys.stderr)
                return 2
            rec.store.link_account(args.user, username, "token", token=token, box=box)
        else:
            if not args.username:
                print("Give a Discogs username, or --token-stdin / --oauth.", file=sys.stderr)
                return 2
            username = args.username
            DiscogsGateway(cfg=rec.cfg).collection_page(username, 1, per_page=1)  # public and existing?
            rec.store.link_account(args.user, username, "username", box=box)
    except DiscogsError as exc:
        return _discogs_error(exc)
    if args.currency:
        acct = rec.store.linked_account(args.user)
        if acct is not None:
            rec.store.link_account(args.user, acct.discogs_username, acct.auth_kind,
                                   **rec.store.account_secrets(args.user, box), box=box,
                                   currency=args.currency.upper())
    print(f"Linked {args.user} to Discogs user {username}. Run `crate sync --user {args.user}` to read the "
          "collection. Data provided by Discogs.")
    return 0


def cmd_unlink(args: argparse.Namespace) -> int:
    rec = _recommender(args)
    rec.store.unlink_account(args.user)
    print(f"Removed the Discogs link and every stored token of {args.user}.")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    from datetime import datetime, timedelta, timezone

    from core.discogs.gateway import DiscogsError
    from core.sync import CollectionSync, Enricher

    rec = _recommender(args)
    acct = rec.store.linked_account(args.user)
    if acct is None:
        print(f"{args.user} is not linked to Discogs: run `crate link USERNAME --user {args.user}` first.",
              file=sys.stderr)
        return 2
    gw = rec.gateway_for(args.user)
    if gw is None:
        print("Live Discogs is switched off (discogs.live: false).", file=sys.stderr)
        return 2
    state = dict(acct.sync_state_dict) if hasattr(acct, "sync_state_dict") else {}
    last = {"n": -1}

    def progress(list_name: str, done: int, total: int) -> None:
        if done != last["n"]:
            last["n"] = done
            print(f"  … {list_name}: {done} of {total}", flush=True)

    try:
        reports = CollectionSync(gw, rec.store, int(rec.cfg["discogs"].get("per_page", 100))).sync(
            args.user, acct.discogs_username, full=args.full, progress=progress, state=state)
    except DiscogsError as exc:
        return _discogs_error(exc)
    rec.store.set_sync_state(args.user, state, datetime.now(timezone.utc))
    for r in reports:
        kind = "full read" if r.full else "incremental"
        print(f"{r.list_name}: {r.total} on Discogs, {r.added} new ({kind}, {r.requests} requests, {r.seconds:.1f} s)")
    if args.enrich:
        ids = [it.release.id for it in rec.store.collection(args.user)][: args.enrich]
        enr = Enricher(gw, rec.store, timedelta(days=float(rec.cfg["discogs"].get("refresh_after_days", 30))),
                       currency=getattr(acct, "currency", None))
        enr.run(ids, progress=lambda n, t: print(f"  … details {n} of {t}", flush=True)
                if n % 10 == 0 or n == t else None)
        print(f"details: {enr.done} fetched, {enr.failed} failed. Data provided by Discogs.")
    return 0


def cmd_barcode(args: argparse.Namespace) -> int:
    """Read the barcode(s) in a photo of a sleeve (or take the digits typed) and list the pressings that carry
    them, numbered."""
    from core.barcode import NO_BARCODE_HINT, PhotoError, PhotoLookup, decode_photo, lookup_codes, typed_code
    from core.discogs.gateway import ATTRIBUTION, DiscogsError

    path = Path(args.photo)
    typed = None if path.is_file() else typed_code(args.photo)
    if typed is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            print(f"Cannot read {args.photo}: {exc.strerror or exc} (give a photo, or the digits under the bars "
                  "in quotes: \"0 75720 00325 9\")", file=sys.stderr)
            return 2
    rec = _recommender(args)
    gw = rec.gateway_for(args.user)
    try:
        if typed is not None:
            found, how = [typed], "typed"
        else:
            res = decode_photo(data)
            if not res.codes:
                raise PhotoError("no barcode", NO_BARCODE_HINT)
            found, how = res.found, res.strategy
        if gw is None or not (gw.token or gw.oauth):
            for f in found:
                note = " — read from the printed digits, check them" if f.from_digits else ""
                print(f"Barcode {f.printed} ({f.format}){note}")
            if gw is None:
                print("Live Discogs look-ups are off (discogs.live: false), so I can't look the pressings up.")
            else:
                print("Discogs only answers barcode searches for a linked account: run "
                      f"`crate link --token-stdin --user {args.user}` first.")
            return 0
        matches = lookup_codes(found, gw, limit=args.limit)
    except PhotoError as exc:
        print(exc.user_message, file=sys.stderr)
        return 3
    except DiscogsError as exc:
        return _discogs_error(exc)
    log.info("barcode %s", how)
    for line in PhotoLookup(None, matches).lines():
        print(line)
    print(ATTRIBUTION)
    return 0


def _load_eval_inputs(args: argparse.Namespace):
    from core.evaluation import load_eval_catalogue
    from core.readers import read_collection

    catalogue = load_eval_catalogue(args.catalogue)
    users = []
    names: set[str] = set()
    for path in args.collection:
        res = read_collection(path, catalogue=catalogue)
        name = Path(path).stem if Path(path).is_file() else Path(path).name
        base, n = name, 2
        while name in names:   # two files with one stem in different folders: still two users
            name, n = f"{base}-{n}", n + 1
        names.add(name)
        coll = [it for it in res.items if it.list_name == "collection"]
        want = [it for it in res.items if it.list_name == "wantlist"]
        users.append((name, coll, want))
    if args.wantlist:
        res = read_collection(args.wantlist, catalogue=catalogue, list_name="wantlist")
        if len(users) == 1:
            users[0][2].extend(res.items)
    return catalogue, users


def run_eval(collections: Sequence[str], catalogue_path: str | None, variants: Sequence[str],
             json_out: str | None = None, wantlist: str | None = None, quiet: bool = False) -> dict:
    from core.config import get_config
    from core.embeddings import default_cache
    from core.evaluation import evaluate_user, format_table, summarise

    ns = argparse.Namespace(collection=list(collections), catalogue=catalogue_path, wantlist=wantlist)
    catalogue, users = _load_eval_inputs(ns)
    cfg = get_config()
    cache = default_cache()
    if not quiet:
        _progress(f"embedding {len(catalogue)} catalogue releases (cached after the first run)…")
    cache.embed_releases(list(catalogue.values()))
    cache.save()
    out: dict = {"variants": {}}
    for variant in variants:
        results = []
        for name, coll, want in users:
            results.append(evaluate_user(name, coll, catalogue, cache.embed_releases, cfg, want or None,
                                         variant, progress=None if quiet else _progress))
        cache.save()
        summary = summarise(results, int(cfg["eval"]["k"]))
        out["variants"][variant] = {"users": results, "summary": summary}
        print(f"\n== evaluation ({variant}) ==")
        print(format_table(results, summary, int(cfg["eval"]["k"])))
        for r in results:
            for note in sorted(set(r.get("training_log", []))):
                print(f"  [{r['user']}] {note}")
            if "popularity_coverage" in r:
                print(f"  [{r['user']}] popularity baseline: community 'have' known for "
                      f"{r['popularity_coverage']:.0%} of the test releases")
    if json_out:
        Path(json_out).write_text(json.dumps(_nan_to_none(out), indent=2, default=_json_safe))
        print(f"\nwrote {json_out}")
    return out


def _nan_to_none(o):
    """NaN -> None throughout (json.dumps writes floats itself, as the non-JSON token NaN: never via default=)."""
    if isinstance(o, float) and math.isnan(o):
        return None
    if isinstance(o, dict):
        return {k: _nan_to_none(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_nan_to_none(v) for v in o]
    return o


def _json_safe(o):
    return str(o)   # dates and other non-JSON values; NaN is handled by _nan_to_none


def cmd_eval(args: argparse.Namespace) -> int:
    if args.split or args.split_dir:
        return run_split_eval(args)
    if not args.collection:
        print("crate eval needs --collection FILE, --split PATH/split.json or --split-dir DIR", file=sys.stderr)
        return 2
    variants = ["main", "yearmatch"] if args.variant == "both" else [args.variant]
    run_eval(args.collection, args.catalogue, variants, args.json, args.wantlist)
    return 0


def run_split_eval(args: argparse.Namespace) -> int:
    """``crate eval --split`` / ``--split-dir``: the protocol's own splits, paired with the reference's figures."""
    from core.config import get_config
    from core.embeddings import default_cache
    from core.evaluation import (
        draw_families,
        evaluate_split,
        find_splits,
        format_split_table,
        format_spread,
        load_eval_catalogue,
        load_split,
        reference_for,
        spread,
        summarise_splits,
    )

    cfg = get_config()
    k = int(cfg["eval"]["k"])
    groups: dict[str, list[Path]] = {}
    for p in args.split or []:
        groups.setdefault(Path(p).parent.parent.name, []).append(Path(p))
    for d in args.split_dir or []:
        found = find_splits(d)
        if not found:
            print(f"no <user>/split.json under {d}", file=sys.stderr)
            return 2
        groups.setdefault(Path(d).name, []).extend(found)
    catalogue = load_eval_catalogue(args.catalogue)
    cache = default_cache()   # each split embeds what it scores or trains on (cached after the first run)
    methods = args.methods.split(",") if args.methods else None
    out: dict = {"splits": [], "summaries": {}}
    scores: dict = {}
    for group, paths in groups.items():
        rows = []
        for path in paths:
            try:
                split = load_split(path)
                row = evaluate_split(split, catalogue, cache.embed_releases, cfg, methods,
                                     embed_text=cache.embed_texts, progress=_progress)
            except (OSError, KeyError, ValueError) as exc:
                print(f"{path}: {exc}", file=sys.stderr)
                return 2
            row["reference"] = reference_for(split, args.reference)
            scores[f"{split.variant}/{split.user}"] = row.pop("scores")
            rows.append(row)
        cache.save()
        summary = summarise_splits(rows, k)
        out["splits"] += rows
        out["summaries"][group] = summary
        print(f"\n== {group} ==")
        print(format_split_table(rows, summary, k))
    families = draw_families(list(out["summaries"]))
    if families:
        out["spread"] = {f: spread({n: out["summaries"][n] for n in names}, k) for f, names in families.items()}
        for f, sp in out["spread"].items():
            print()
            print(format_spread(sp, k, f))
    if args.json:
        Path(args.json).write_text(json.dumps(_nan_to_none(out), indent=2, default=_json_safe))
        print(f"\nwrote {args.json}")
    if args.scores_out:
        body = next(iter(scores.values())) if len(scores) == 1 else scores
        Path(args.scores_out).write_text(json.dumps({m: {str(i): v for i, v in sc.items()} for m, sc in body.items()}
                                                    if len(scores) == 1 else
                                                    {key: {m: {str(i): v for i, v in sc.items()}
                                                           for m, sc in val.items()}
                                                     for key, val in body.items()}))
        print(f"wrote {args.scores_out}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from core.cards import render_card
    from core.config import get_config, resolve_path
    from core.recommender import Recommender
    from core.storage import Store

    t0 = time.perf_counter()
    cfg = get_config()
    user = cfg["demo"]["user"]
    path = resolve_path(cfg["demo"]["collection"])
    db = args.database or f"sqlite:///{resolve_path(cfg['paths']['models_dir']) / 'demo.db'}"
    cfg = {**cfg, "discogs": {**cfg.get("discogs", {}), "live": False}}   # the demo is offline by design
    rec = Recommender(Store(db), cfg=cfg)
    print(f"Crate Digger demo — collector '{user}' (real public Discogs collection, MIT licence)")
    print("[1/4] importing the collection…", flush=True)
    result = rec.import_file(user, path)
    print("  " + result.summary().replace("\n", "\n  "))
    owned = rec.owned(user)
    dated = sorted(it.date_added for it in owned if it.date_added)
    cutoff = dated[int(len(dated) * 0.8)]
    print(f"[2/4] training on what {user} owned before {cutoff} (the rest is the 'future')…", flush=True)
    report = rec.train(user, progress=_progress, before=cutoff)
    for note in report.log:
        print(f"  note: {note}")
    print(f"  model {report.version}: {report.n_positives} records + {report.n_negatives} negatives, "
          f"{report.seconds:.1f} s")
    print("[3/4] scoring records: three the collector bought after the cut-off, three they never bought", flush=True)
    bought_later = sorted((it for it in owned if it.date_added and it.date_added >= cutoff
                           and it.release.id in rec.catalogue), key=lambda it: it.release.id)
    owned_ids = {it.release.id for it in owned}
    others = [r for rid, r in sorted(rec.catalogue.items()) if rid not in owned_ids]
    import random
    rng = random.Random(7)
    picks = [("bought later", it.release.id) for it in rng.sample(bought_later, 3)]
    picks += [("never bought", r.id) for r in rng.sample(others, 3)]
    for why, rid in picks:
        card = rec.score(user, rid)
        print(f"\n--- {why} (release {rid}) ---")
        print(render_card(card))
    print("\n[4/4] evaluation on the bundled data (docs/EVALUATION.md protocol)…", flush=True)
    run_eval([str(path)], None, ["main", "yearmatch"], None, quiet=True)
    print(f"\ndemo finished in {time.perf_counter() - t0:.0f} s")
    return 0


def cmd_digest(args: argparse.Namespace) -> int:
    from core.app import CrateApp
    from core.recommender import safe_name

    rec = _recommender(args)
    if args.user not in rec.store.users():
        print(f"No such user {args.user}: run `crate import FILE --user {args.user}` first.", file=sys.stderr)
        return 2
    app = CrateApp(rec)
    digest = app.digest(args.user)
    out = Path(args.out) if args.out else rec.models_dir / f"{safe_name(args.user)}-digest.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(digest.chart_png)
    print(digest.text)
    print(f"chart: {out}")
    app.digest_sent(args.user, digest.until)
    return 0


def _fmt_auc(x) -> str:
    return "—" if x is None else f"{x:.3f}"


def _print_retrain(res, holdout_fraction: float) -> None:
    print(f"{res.user}: {'ACCEPTED' if res.accepted else 'REJECTED'} — {res.reason}")
    if res.challenger is not None or res.champion is not None:
        print(f"  hold-out (newest {holdout_fraction:.0%} of dated events):")
        for label, hs in (("before", res.champion), ("after ", res.challenger)):
            if hs is None:
                continue
            who = f"current model {res.champion_version}" if label == "before" else "challenger"
            agree = "—" if hs.agreement is None else f"{hs.agreement:.0%}"
            print(f"    {label} ({who}): ROC-AUC {_fmt_auc(hs.auc)}, agrees with {agree} of the held-out votes "
                  f"({hs.n_pos} positives, {hs.n_neg} negatives)")
    else:
        print("  hold-out: none (no current model, or too little dated history)")
    if res.version is None:
        print("  no model trained (cold start: too few records)")
    elif res.accepted:
        print(f"  model {res.version} is now active"
              + (f" (was {res.champion_version})" if res.champion_version else ""))
    else:
        print(f"  model {res.version} stored as rejected; {res.champion_version} stays active")
    print(f"  {res.seconds:.1f} s")


def cmd_retrain(args: argparse.Namespace) -> int:
    from core.scheduler import retrain_now, users_with_collection

    rec = _recommender(args)
    users = users_with_collection(rec.store) if args.all else [args.user]
    if not users:
        print("No user has a collection yet: run `crate import FILE --user NAME` first.", file=sys.stderr)
        return 2
    frac = float(rec.cfg.get("learning", {}).get("holdout_fraction", 0.2))
    rc = 0
    for user in users:
        if args.all:
            print(f"== {user} ==", flush=True)
        try:
            res = retrain_now(rec, user, progress=_progress)
        except LookupError as exc:
            print(f"{user}: nothing to train on: {exc}. Run `crate import FILE --user {user}` first.", file=sys.stderr)
            rc = 2
            continue
        if res is None:
            print(f"{user}: already training in this process, skipped")
            continue
        _print_retrain(res, frac)
    return rc


def cmd_models_list(args: argparse.Namespace) -> int:
    store = _recommender(args).store
    rows = store.models(args.user)
    if not rows:
        print(f"{args.user} has no model versions yet: run `crate retrain --user {args.user}`.")
        return 0
    print(f"{args.user}: {len(rows)} model version(s), * = active")
    print(f"  {'version':<24} {'status':<9} {'created (UTC)':<16} {'+pos/-neg':>11}  {'hold-out AUC':<22} note")
    for mv in reversed(rows):   # newest first
        ho = mv.metrics_dict.get("holdout") or {}
        new, cur = (ho.get("challenger") or {}).get("auc"), (ho.get("champion") or {}).get("auc")
        auc = "—" if new is None else _fmt_auc(new) + (f" (was {_fmt_auc(cur)})" if cur is not None else "")
        created = mv.created_at.strftime("%Y-%m-%d %H:%M") if mv.created_at else "?"
        print(f"{'*' if mv.active else ' '} {mv.version:<24} {mv.status:<9} {created:<16} "
              f"{f'{mv.n_positives}/{mv.n_negatives}':>11}  {auc:<22} {mv.note or ''}")
    return 0


def cmd_models_rollback(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    store = _recommender(args).store
    active = store.active_model(args.user)
    target = store.model_version(args.user, args.to) if args.to else store.previous_model(args.user)
    if target is None:
        what = f"no model version {args.to}" if args.to else "no earlier version that was once active"
        print(f"{args.user}: {what} to roll back to (see `crate models list --user {args.user}`).", file=sys.stderr)
        return 2
    if active is not None and target.version == active.version:
        print(f"{args.user}: {target.version} is already the active model.")
        return 0
    if not Path(target.path).is_file():
        print(f"{args.user}: the file of {target.version} is gone ({target.path}); not rolled back.", file=sys.stderr)
        return 2
    store.activate_model(args.user, target.version)
    if active is not None:
        when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        store.set_model_status(args.user, active.version, "rejected",
                               note=f"rolled back to {target.version} on {when}"
                                    + (f" (was: {active.note})" if active.note else ""))
    print(f"{args.user}: rolled back to {target.version}"
          + (f"; {active.version} is marked rejected" if active is not None else ""))
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from core.scheduler import LearningScheduler

    rec = _recommender(args)

    def say(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):   # not on this platform / thread: Ctrl-C still ends it
                pass
        sched = LearningScheduler(rec, announce=say)
        sched.start()
        for job in sched.jobs():
            say(f"job {job.id}: {job.trigger}, next run {job.next_run_time}")
        say("running; Ctrl-C to stop")
        try:
            await asyncio.wait_for(stop.wait(), timeout=args.run_for)
        except asyncio.TimeoutError:
            pass
        say("stopping (a retrain in progress finishes first)…")
        await sched.aclose()

    asyncio.run(run())
    return 0


def build_parser() -> argparse.ArgumentParser:
    from core.config import get_config

    default_user = get_config()["demo"]["user"]
    p = argparse.ArgumentParser(prog="crate", description="Crate Digger: is this record worth buying for you?")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    p.add_argument("--database", help="database URL (default: configs/default.yaml or DATABASE_URL)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("import", help="import a collection or wantlist file (CSV export, API pages, JSON, dump XML)")
    s.add_argument("file")
    s.add_argument("--user", default=default_user)
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("train", help="train the user's model")
    s.add_argument("--user", default=default_user)
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("retrain", help="retrain now: a challenger replaces the model only if not worse on a hold-out")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--user", default=default_user)
    g.add_argument("--all", action="store_true", help="every user with a collection, one at a time")
    s.set_defaults(func=cmd_retrain)

    s = sub.add_parser("models", help="the user's model versions: list, roll back")
    msub = s.add_subparsers(dest="models_command", required=True)
    m = msub.add_parser("list", help="versions, status, hold-out AUC, note (* = active)")
    m.add_argument("--user", default=default_user)
    m.set_defaults(func=cmd_models_list)
    m = msub.add_parser("rollback", help="activate the previous once-active version (or --to VERSION); "
                                         "the current one is marked rejected")
    m.add_argument("--user", default=default_user)
    m.add_argument("--to", metavar="VERSION", help="the version to activate")
    m.set_defaults(func=cmd_models_rollback)

    s = sub.add_parser("schedule", help="run the learning scheduler (nightly and feedback retrains) until Ctrl-C")
    s.add_argument("--run-for", type=float, default=None, help=argparse.SUPPRESS)   # seconds (tests, demos)
    s.set_defaults(func=cmd_schedule)

    s = sub.add_parser("score", help="score a release: URL, master URL or release id")
    s.add_argument("ref")
    s.add_argument("--user", default=default_user)
    s.set_defaults(func=cmd_score)

    s = sub.add_parser("link", help="link a Discogs account: by username, personal token (stdin) or OAuth")
    s.add_argument("username", nargs="?", help="Discogs username (public collection)")
    s.add_argument("--token-stdin", action="store_true", help="read a personal access token from stdin")
    s.add_argument("--oauth", action="store_true", help="authorise with OAuth 1.0a (paste the verifier)")
    s.add_argument("--currency", help="currency for prices, e.g. EUR, USD, GBP")
    s.add_argument("--user", default=default_user)
    s.set_defaults(func=cmd_link)

    s = sub.add_parser("unlink", help="remove the Discogs link and its stored tokens")
    s.add_argument("--user", default=default_user)
    s.set_defaults(func=cmd_unlink)

    s = sub.add_parser("sync", help="sync the linked collection and wantlist from Discogs")
    s.add_argument("--user", default=default_user)
    s.add_argument("--full", action="store_true", help="re-read everything instead of only what changed")
    s.add_argument("--enrich", type=int, default=0, metavar="N",
                   help="also fetch details (have/want, price) of up to N records, at the rate limit's pace")
    s.set_defaults(func=cmd_sync)

    s = sub.add_parser("barcode", help="find the pressing from a photo of the sleeve's barcode (or its digits)")
    s.add_argument("photo", help="the photo (JPEG, PNG, …), or the digits under the bars (\"0 75720 00325 9\")")
    s.add_argument("--user", default=default_user)
    s.add_argument("--limit", type=int, default=10, help="candidate pressings to list per barcode")
    s.set_defaults(func=cmd_barcode)

    s = sub.add_parser("chat", help="chat in the terminal, as the bots do")
    s.add_argument("--user", default=default_user)
    s.set_defaults(func=cmd_chat)

    s = sub.add_parser("run", help="run a chat bot: `crate run telegram` (token in TELEGRAM_BOT_TOKEN)")
    s.add_argument("platform", choices=["telegram"])
    s.add_argument("--webhook", metavar="URL", help="receive updates on this public HTTPS URL (default: polling)")
    s.add_argument("--listen", default="0.0.0.0", help="webhook: address to listen on")
    s.add_argument("--port", type=int, default=8443, help="webhook: port to listen on")
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("digest", help="what changed since the last digest: text, plus a chart (PNG)")
    s.add_argument("--user", default=default_user)
    s.add_argument("--out", metavar="FILE.png", help="where to write the chart (default: models/<user>-digest.png)")
    s.set_defaults(func=cmd_digest)

    s = sub.add_parser("demo", help="import, train, score and evaluate on the bundled data")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("eval", help="offline evaluation (docs/EVALUATION.md)")
    s.add_argument("--collection", action="append", help="collection file (repeatable; the user is its file name)")
    s.add_argument("--split", action="append",
                   help="a protocol split.json (train_collection.json beside it; repeatable)")
    s.add_argument("--split-dir", action="append", help="every <user>/split.json under DIR (repeatable: several "
                                                         "negative draws also print their spread)")
    s.add_argument("--reference", help="the reference figures' folder (default: splits/../reference when there)")
    s.add_argument("--scores-out", help="write every score as {method: {release id: score}}")
    s.add_argument("--methods", help="comma-separated subset of model,popularity,style_profile,content_knn")
    s.add_argument("--catalogue", help="JSON Lines catalogue (default: the bundled one)")
    s.add_argument("--wantlist", help="wantlist file (joins the train positives)")
    s.add_argument("--variant", choices=["main", "yearmatch", "both"], default="both")
    s.add_argument("--json", help="write results as JSON here")
    s.set_defaults(func=cmd_eval)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from core.config import ConfigError, get_config

    try:
        get_config()   # a typo in the configuration is said up front, not as a traceback later
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("sentence_transformers", "transformers", "httpx", "faiss", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from core.secrets import install_redaction

    install_redaction()   # tokens never reach a log line
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
