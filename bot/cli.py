"""`crate`: the command-line adapter. It parses arguments, calls core, and prints what core returns."""
from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")   # before anything that could reach a model hub is imported
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from core.app import (  # noqa: E402
    ATTRIBUTION,
    DATABASE_BUSY,
    ConfigError,
    Operations,
    Refusal,
    SchemaTooNew,
    SecretError,
    build_app,
    build_operations,
    database_busy,
    database_unreachable,
    get_config,
    install_redaction,
    render_card,
    render_picks,
    upgrade_database,
)
from core.app.backup import BackupError, backup, restore  # noqa: E402
from core.app.evaluation import SplitEvalRequest, run_demo, run_eval, run_split_eval

log = logging.getLogger("crate")


def _progress(msg: str) -> None:
    print(f"  … {msg}", flush=True)


def _say(text: str) -> None:
    print(text, flush=True)


def _ops(args: argparse.Namespace) -> Operations:
    return build_operations(getattr(args, "database", None))


def cmd_backup(args: argparse.Namespace) -> int:
    try:
        report = backup(Path(args.file), catalogue=not args.no_catalogue, database=getattr(args, "database", None))
    except BackupError as exc:
        raise Refusal(str(exc), 2) from exc
    print(report.text)
    print("Keep it somewhere safe and private: it holds the key that decrypts the stored Discogs tokens.")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    print(upgrade_database(getattr(args, "database", None)))
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    try:
        done = restore(Path(args.file), force=args.force, database=getattr(args, "database", None))
    except BackupError as exc:
        raise Refusal(str(exc), 2) from exc
    print("restored:\n  " + "\n  ".join(done))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    result = _ops(args).import_file(args.user, args.file)
    print(result.summary())
    for where, why in result.skipped[:10]:
        print(f"  skipped {where}: {why}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    report = _ops(args).train(args.user, progress=_progress)
    for line in report.log:
        print(f"  note: {line}")
    if report.cold_start:
        print(f"{args.user}: cold start ({report.n_positives} records) — no model trained yet.")
    else:
        print(f"{args.user}: model {report.version} trained on {report.n_positives} records and "
              f"{report.n_negatives} negatives in {report.seconds:.1f} s")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    print(render_card(_ops(args).score(args.user, args.ref)))
    return 0


def cmd_catalogue(args: argparse.Namespace) -> int:
    ops = _ops(args)
    if args.action == "distill":
        print(f"distilled the static embedding into {ops.distill_static()}")
    if args.action == "vectors":
        print(f"embedded the bundled catalogue into {ops.bundle_vectors()}")
        return 0
    if args.action == "build":
        if not args.dump:
            raise Refusal("Which dump? `crate catalogue build discogs_YYYYMMDD_releases.xml.gz`", 2)
        t0 = time.perf_counter()
        report = ops.build_catalogue(args.dump, args.genre, args.since, progress=_progress)
        state = "done" if report.done else "stopped (run it again to resume)"
        resumed = f", resumed after {report.resumed_from:,}" if report.resumed_from else ""
        print(f"catalogue build {state}: {report.read:,} releases read{resumed}, {report.stored:,} stored, "
              f"{report.skipped:,} left out by the filters; {report.total:,} in the catalogue "
              f"({time.perf_counter() - t0:.1f} s)")
    info = ops.catalogue_info()
    print(f"catalogue: {info['releases']:,} releases, {info['index']} index of {info['indexed']:,} "
          f"({info['index_bytes'] / 1e6:.1f} MB in memory), {info['disk_bytes'] / 1e6:.1f} MB on disk at "
          f"{info['database']}")
    return 0


def cmd_discover(args: argparse.Namespace) -> int:
    picks = _ops(args).discover(args.user, args.k, args.query, args.adventurous,
                                progress=None if args.json else _progress)
    if args.json:
        print(json.dumps(picks.to_json(), ensure_ascii=False, indent=1))
    else:
        print(render_picks(picks))
        print(f"({picks.considered:,} candidates, {picks.reranked} weighed by your model, {picks.seconds:.1f} s)")
    return 0


def cmd_audio(args: argparse.Namespace) -> int:
    sound = _ops(args).app.sound
    if args.audio_command == "show":
        facts = sound.show(args.ref, progress=None if args.json else _progress)
        print(json.dumps(facts.to_json(), ensure_ascii=False, indent=1) if args.json else facts.text)
        return 0
    last = [0.0]

    def progress(done: int, total: int, name: str) -> None:
        now = time.monotonic()
        if done in (0, total) or now - last[0] >= 5.0:   # a line every 5 s at most, and the first and the last
            last[0] = now
            print(f"  … {done} of {total}" + (f": {name}" if name else ""), flush=True)

    report = sound.enrich(args.user, args.limit, progress)
    print(report.text)
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.terminal import run_chat

    run_chat(build_app(getattr(args, "database", None)), args.user)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    platforms = list(dict.fromkeys(args.platform))
    if platforms == ["telegram"]:
        from bot.telegram.app import run

        if args.workers > 1:
            if not args.webhook:
                print("--workers needs --webhook (one port, several processes).", file=sys.stderr)
                return 2
            from bot.telegram.app import TOKEN_ENV
            from bot.telegram.webhook import run_workers

            if not os.environ.get(TOKEN_ENV, "").strip():
                print(f"Set {TOKEN_ENV} to the token BotFather gave you (see README, 'Telegram bot').",
                      file=sys.stderr)
                return 2
            return run_workers(webhook=args.webhook, listen=args.listen, port=args.port, workers=args.workers,
                               database=args.database)
        return run(webhook=args.webhook, listen=args.listen, port=args.port, database=args.database)
    if args.webhook:
        print("--webhook is for `crate run telegram` alone.", file=sys.stderr)
        return 2
    from bot.runner import run as run_bots

    return run_bots(platforms, database=args.database)


def _read_secret(prompt: str) -> str:
    """A secret from stdin (piped) or a hidden prompt: never from argv, where `ps` would show it."""
    if sys.stdin.isatty():
        return getpass.getpass(prompt).strip()
    return sys.stdin.readline().strip()


def cmd_link(args: argparse.Namespace) -> int:
    ops = _ops(args)
    if args.oauth:
        flow = ops.oauth_start(args.user, os.environ.get("DISCOGS_CONSUMER_KEY"),
                               os.environ.get("DISCOGS_CONSUMER_SECRET"))
        print(f"Open this page, allow Crate Digger, and paste the code Discogs shows you:\n  {flow.url}")
        username = flow.finish(_read_secret("verification code: "))
    elif args.token_stdin:
        username = ops.link_token(args.user, _read_secret("Discogs personal access token: "), args.username)
    elif args.username:
        username = ops.link_username(args.user, args.username)
    else:
        raise Refusal("Give a Discogs username, or --token-stdin / --oauth.")
    if args.currency:
        ops.set_link_currency(args.user, args.currency)
    print(f"Linked {args.user} to Discogs user {username}. Run `crate sync --user {args.user}` to read the "
          "collection. Data provided by Discogs.")
    return 0


def cmd_unlink(args: argparse.Namespace) -> int:
    _ops(args).unlink(args.user)
    print(f"Removed the Discogs link and every stored token of {args.user}.")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    ops = _ops(args)
    last = {"n": -1}

    def progress(list_name: str, done: int, total: int) -> None:
        if done != last["n"]:
            last["n"] = done
            print(f"  … {list_name}: {done} of {total}", flush=True)

    for r in ops.sync(args.user, full=args.full, progress=progress):
        kind = "full read" if r.full else "incremental"
        print(f"{r.list_name}: {r.total} on Discogs, {r.added} new ({kind}, {r.requests} requests, {r.seconds:.1f} s)")
    if args.enrich:
        enr = ops.enrich(args.user, args.enrich, progress=lambda n, t: print(f"  … details {n} of {t}", flush=True)
                         if n % 10 == 0 or n == t else None)
        print(f"details: {enr.done} fetched, {enr.failed} failed. Data provided by Discogs.")
    return 0


def cmd_barcode(args: argparse.Namespace) -> int:
    """Read the barcode(s) in a photo of a sleeve (or take the digits typed) and list the pressings that carry
    them, numbered."""
    answer = _ops(args).barcode(args.user, args.photo, limit=args.limit)
    for line in answer.lines:
        print(line)
    if answer.looked_up:
        print(ATTRIBUTION)
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    """The records watched on the marketplace: add, list, remove, and one polling pass now."""
    ops = _ops(args)
    if args.action in ("add", "remove") and not args.ref:
        raise Refusal(f"Say which record: `crate watch {args.action} URL_OR_RELEASE_ID`.", 2)
    if args.action == "add":
        row = ops.watch_add(args.user, args.ref, args.max)
        named = row.title if row.title == f"release {row.release_id}" else f"{row.title} (release {row.release_id})"
        print(f"Watching {named}"
              + (f", up to {row.max_price:,.2f} {row.currency}" if row.max_price is not None else "")
              + ". `crate watch poll` checks its price now; the bots check every "
              f"{ops.rec.cfg.watch.poll_every_min:g} minutes.")
        return 0
    if args.action == "remove":
        rid = ops.watch_remove(args.user, args.ref)
        print(f"Stopped watching release {rid}.")
        return 0
    if args.action == "list":
        rows = ops.watch_rows(args.user)
        if args.json:
            print(json.dumps([r.as_json() for r in rows], indent=1))
        elif not rows:
            print(f"{args.user} watches nothing yet: `crate watch add URL [--max PRICE]`, or link a Discogs "
                  "account (its wantlist is watched).")
        else:
            for r in rows:
                print(r.line())
        return 0
    alerts, report = ops.watch_poll(args.user)
    for a in alerts:
        print(a.line())
    if report is None:
        print("Quiet hours: no prices checked now (`/watch quiet off` in the chat lifts them).")
        return 0
    checked = f"checked {report.checked} watched record{'' if report.checked == 1 else 's'}"
    left = f", {report.left} left for the next pass ({report.stopped})" if report.left else ""
    print(f"{len(alerts)} alert{'' if len(alerts) == 1 else 's'}; {checked}{left}. Data provided by Discogs.")
    return 0 if report.checked or not report.left else 4


def cmd_eval(args: argparse.Namespace) -> int:
    if args.split or args.split_dir:
        run_split_eval(SplitEvalRequest(splits=args.split or [], split_dirs=args.split_dir or [],
                                        catalogue=args.catalogue, reference=args.reference,
                                        methods=args.methods.split(",") if args.methods else None,
                                        json_out=args.json, scores_out=args.scores_out),
                       say=_say, progress=_progress)
        return 0
    if not args.collection:
        raise Refusal("crate eval needs --collection FILE, --split PATH/split.json or --split-dir DIR")
    variants = ["main", "yearmatch"] if args.variant == "both" else [args.variant]
    run_eval(args.collection, args.catalogue, variants, args.json, args.wantlist, say=_say, progress=_progress)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    run_demo(args.database, say=_say, progress=_progress)
    return 0


def cmd_digest(args: argparse.Namespace) -> int:
    ops = _ops(args)
    if not ops.has_user(args.user):
        raise Refusal(f"No such user {args.user}: run `crate import FILE --user {args.user}` first.")
    app = ops.app
    digest = app.digest(args.user)
    out = ops.digest_path(args.user, args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(digest.chart_png)
    print(digest.text)
    print(f"chart: {out}")
    app.digest_sent(args.user, digest.until)
    return 0


def _fmt_auc(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def _print_retrain(res: Any, holdout_fraction: float) -> None:
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
    ops = _ops(args)
    users = ops.users_with_collection() if args.all else [args.user]
    if not users:
        raise Refusal("No user has a collection yet: run `crate import FILE --user NAME` first.")
    scheduler = (args.scheduler or str(get_config().learning.dask_scheduler or "")) if args.all else ""
    if scheduler:   # one task a user on the Dask cluster, a line each as they finish
        print(f"retraining {len(users)} users on the Dask cluster at {scheduler}…", flush=True)
        report = ops.retrain_on_cluster(users, scheduler, changed_only=args.changed_only,
                                        on_result=lambda run: print(run.line(), flush=True))
        print(report.summary())
        return 1 if any(r.status == "failed" for r in report.runs) else 0
    rc, t0, done, failed = 0, time.perf_counter(), 0, 0
    for user in users:
        if args.all:
            print(f"== {user} ==", flush=True)
        if args.changed_only:
            why = ops.nothing_new(user)
            if why:
                print(f"{user}: unchanged — {why}")
                continue
        try:
            res = ops.retrain(user, progress=_progress)
        except Refusal as exc:
            print(exc.message, file=sys.stderr)
            rc, failed = exc.code, failed + 1
            continue
        if res is None:
            print(f"{user}: already training in this process, skipped")
            continue
        done += 1
        _print_retrain(res, ops.holdout_fraction())
    if args.all:
        print(f"retrained {done} users in {time.perf_counter() - t0:.1f} s on 1 worker (in process)"
              + (f", {failed} failed" if failed else ""))
    return rc


def cmd_models_list(args: argparse.Namespace) -> int:
    rows = _ops(args).models(args.user)
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
    now, before = _ops(args).rollback(args.user, args.to)
    if now == before:
        print(f"{args.user}: {now} is already the active model.")
        return 0
    print(f"{args.user}: rolled back to {now}" + (f"; {before} is marked rejected" if before is not None else ""))
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    ops = _ops(args)

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
        sched = ops.scheduler(announce=say)
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
    default_user = get_config().demo.user
    p = argparse.ArgumentParser(prog="crate", description="Crate Digger: is this record worth buying for you?")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    p.add_argument("--database", help="database URL (default: configs/default.yaml or DATABASE_URL)")
    sub = p.add_subparsers(dest="command", required=True)
    for add in (_collection_and_models, _discogs_commands, _watch_commands, _chat_and_picks, _evaluation):
        add(sub, default_user)
    return p


Subparsers = Any


def _collection_and_models(sub: Subparsers, default_user: str) -> None:
    """import, train, retrain, models, schedule."""
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
    g.add_argument("--all", action="store_true", help="every user with a collection: one at a time, or one task a "
                                                      "user on a Dask cluster (--scheduler)")
    s.add_argument("--scheduler", metavar="tcp://HOST:PORT", default=None,
                   help="with --all: fan the retrains out to this Dask distributed scheduler (default: "
                        "learning.dask_scheduler, CRATE_LEARNING__DASK_SCHEDULER; empty = in process)")
    s.add_argument("--changed-only", action="store_true",
                   help="skip users with nothing new (records or feedback) since their last training")
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

    s = sub.add_parser("db", help="the database's schema: `upgrade` brings it to this version's (Alembic migrations; "
                                  "also done on every start)")
    dsub = s.add_subparsers(dest="db_command", required=True)
    d = dsub.add_parser("upgrade", help="migrate the database (SQLite or PostgreSQL) to this version's schema")
    d.set_defaults(func=cmd_db_upgrade)

    s = sub.add_parser("schedule", help="run the learning scheduler (nightly and feedback retrains) until Ctrl-C")
    s.add_argument("--run-for", type=float, default=None, help=argparse.SUPPRESS)   # seconds (tests, demos)
    s.set_defaults(func=cmd_schedule)


def _discogs_commands(sub: Subparsers, default_user: str) -> None:
    """score, link, unlink, sync, barcode."""
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


def _watch_commands(sub: Subparsers, default_user: str) -> None:
    """watch add|list|remove|poll."""
    s = sub.add_parser("watch", help="watch records' marketplace prices: add REF [--max PRICE], list [--json], "
                                     "remove REF, poll (one pass now, printing each alert)")
    s.add_argument("action", choices=["add", "list", "remove", "poll"])
    s.add_argument("ref", nargs="?", help="a release/master/marketplace link or a release id (remove: or its "
                                          "number in the list)")
    s.add_argument("--max", type=float, default=None, metavar="PRICE",
                   help="alert when it is for sale at this price or less (in your currency)")
    s.add_argument("--user", default=default_user)
    s.add_argument("--json", action="store_true", help="list: print JSON")
    s.set_defaults(func=cmd_watch)


def _chat_and_picks(sub: Subparsers, default_user: str) -> None:
    """catalogue, discover, chat, run, digest."""
    s = sub.add_parser("catalogue", help="the candidate catalogue for /discover: `build DUMP.xml.gz` (resumable), "
                                         "`info`, `distill` (re-make the static embedding), "
                                         "`vectors` (re-make the shipped MiniLM vectors of the bundled catalogue)")
    s.add_argument("action", choices=["build", "info", "distill", "vectors"])
    s.add_argument("dump", nargs="?", help="the Discogs releases dump (discogs_YYYYMMDD_releases.xml.gz)")
    s.add_argument("--genre", action="append", help="keep releases of this genre (repeatable)")
    s.add_argument("--since", type=int, help="keep releases from this year on")
    s.set_defaults(func=cmd_catalogue)

    s = sub.add_parser("discover", help="picks for the user from the candidate catalogue")
    s.add_argument("--user", default=default_user)
    s.add_argument("--k", type=int, default=None, help="how many picks (default discover.page_size)")
    s.add_argument("--query", help="words or a mood: 'dark ambient for late nights'")
    s.add_argument("--adventurous", type=float, help="0 (familiar) .. 1 (exploration); default: the user's setting")
    s.add_argument("--json", action="store_true", help="print the picks as JSON")
    s.set_defaults(func=cmd_discover)

    s = sub.add_parser("audio", help="how records sound, from free 30-second previews (Deezer, then iTunes)")
    asub = s.add_subparsers(dest="audio_command", required=True)
    a = asub.add_parser("enrich", help="hear the previews of the user's records (scored, wantlist, collection); "
                                       "resumable: what was heard is kept")
    a.add_argument("--user", default=default_user)
    a.add_argument("--limit", type=int, default=None, help="at most this many releases this run")
    a.set_defaults(func=cmd_audio)
    a = asub.add_parser("show", help="what one release sounds like (heard now if it never was)")
    a.add_argument("ref", help="a Discogs release link or id")
    a.add_argument("--json", action="store_true", help="print it as JSON")
    a.set_defaults(func=cmd_audio)

    s = sub.add_parser("chat", help="chat in the terminal, as the bots do")
    s.add_argument("--user", default=default_user)
    s.set_defaults(func=cmd_chat)

    s = sub.add_parser("run", help="run the chat bots: `crate run telegram` (token in TELEGRAM_BOT_TOKEN), `crate run "
                                   "discord` (DISCORD_BOT_TOKEN), or both in one process: `crate run telegram discord`")
    s.add_argument("platform", nargs="+", choices=["telegram", "discord"])
    s.add_argument("--webhook", metavar="URL", help="receive updates on this public HTTPS URL (default: polling)")
    s.add_argument("--listen", default="0.0.0.0", help="webhook: address to listen on")
    s.add_argument("--port", type=int, default=8443, help="webhook: port to listen on")
    s.add_argument("--workers", type=int, default=1, metavar="N",
                   help="webhook: N bot processes behind the one port (SO_REUSEPORT); best on PostgreSQL")
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("backup", help="write everything kept (database, models, secret key, catalogue) to FILE.tar.gz")
    s.add_argument("file", metavar="FILE.tar.gz")
    s.add_argument("--no-catalogue", action="store_true", help="leave out the candidate catalogue (rebuildable)")
    s.set_defaults(func=cmd_backup)

    s = sub.add_parser("restore", help="put a backup back (stop the bots first)")
    s.add_argument("file", metavar="FILE.tar.gz")
    s.add_argument("--force", action="store_true", help="replace a database that already holds collectors")
    s.set_defaults(func=cmd_restore)

    s = sub.add_parser("digest", help="what changed since the last digest: text, plus a chart (PNG)")
    s.add_argument("--user", default=default_user)
    s.add_argument("--out", metavar="FILE.png", help="where to write the chart (default: models/<user>-digest.png)")
    s.set_defaults(func=cmd_digest)


def _evaluation(sub: Subparsers, default_user: str) -> None:
    """demo, eval."""
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


def main(argv: Sequence[str] | None = None) -> int:
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
    install_redaction()   # tokens never reach a log line
    try:
        return int(args.func(args) or 0)
    except Refusal as exc:   # what could not be done, and what to do: said, never a traceback
        print(exc.message, file=sys.stderr)
        return exc.code
    except SchemaTooNew as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except SecretError as exc:   # a damaged, unsafe or lost key file: what is wrong and what to do
        print(f"Secret key problem: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        unreachable = database_unreachable(exc)
        if unreachable:
            print(unreachable, file=sys.stderr)
            return 3
        if not database_busy(exc):
            raise
        print(DATABASE_BUSY, file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
