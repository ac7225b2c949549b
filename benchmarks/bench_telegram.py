"""Telegram adapter latency and concurrency, in process, Telegram's network excluded.

The real python-telegram-bot Application (``bot.telegram.app.build_application``) with its HTTP layer replaced by
the tests' fake Bot API (``tests/fakes/telegram_server.FakeBotRequest``: answers at once, records when each call
arrives). Set-up as ``bench_score.py``: lanebecker's full collection imported and trained into a temp database.

1. **Latency**: a user pastes a link to a cached (catalogue) release; timed from ``application.process_update``
   start to the moment the ``sendMessage`` carrying the card reaches the Bot API layer, over ``--n`` links after
   10 warm-up ones. Target: p95 <= 300 ms.
2. **Concurrency**: ``--users`` users (default 20, each with a trained model) paste a link at the same moment:
   concurrent ``process_update`` tasks (``concurrent_updates`` on), twice: first each user's model is loaded on
   the way, then warm. Every one must get its card; prints the users' times to their card and the wall time.

    python benchmarks/bench_telegram.py [--n 200] [--users 20]
"""
from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import sys
import time

from _common import LANEBECKER, ROOT, fresh_recommender, machine, warm_embeddings

sys.path.insert(0, str(ROOT / "tests"))

from telegram import Update  # noqa: E402

from bot.telegram.app import build_application  # noqa: E402
from fakes.telegram_server import TOKEN, FakeBotApi, FakeBotRequest, UpdateFactory  # noqa: E402


def url(rid: int) -> str:
    return f"https://www.discogs.com/release/{rid}-Some-Artist-Some-Title"


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


async def run(app, api: FakeBotApi, users: list[dict], picks: list[int], n: int) -> tuple[list[float], dict]:
    f = UpdateFactory()
    await app.initialize()
    try:
        owner = users[0]
        for rid in picks[:10]:   # warm-up: model load, first CatBoost/SHAP calls, SQLite connections, thread pool
            await app.process_update(Update.de_json(f.text(owner, url(rid)), app.bot))
        latencies = []
        for rid in picks[10:10 + n]:
            update = Update.de_json(f.text(owner, f"what about {url(rid)}"), app.bot)
            before = len(api.calls)
            t0 = time.perf_counter()
            await app.process_update(update)
            sent = [c for c in api.calls[before:] if c.method == "sendMessage"]
            assert len(sent) == 1 and "match —" in sent[0].params["text"], [c.method for c in api.calls[before:]]
            latencies.append((sent[0].at - t0) * 1000)

        # concurrency: every user pastes a link at once; twice (first: each user's model is loaded on the way)
        rounds = []
        for r in range(2):
            start = 10 + n + r * len(users)
            links = picks[start:start + len(users)]
            updates = [Update.de_json(f.text(u, url(rid)), app.bot) for u, rid in zip(users, links)]
            before = len(api.calls)
            t0 = time.perf_counter()
            await asyncio.gather(*(app.process_update(u) for u in updates))
            wall = (time.perf_counter() - t0) * 1000
            cards = {c.params["chat_id"]: (c.at - t0) * 1000 for c in api.calls[before:]
                     if c.method == "sendMessage" and "match —" in c.params["text"]}
            rounds.append({"wall_ms": wall, "per_user_ms": cards, "expected": [u["id"] for u in users]})
        return latencies, rounds
    finally:
        await app.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--users", type=int, default=20)
    args = ap.parse_args()
    rec, tmp = fresh_recommender("telegram")
    try:
        t0 = time.perf_counter()
        base = "tg:1"
        rec.import_file(base, LANEBECKER)
        owned = {it.release.id for it in rec.owned(base)}
        picks = random.Random(1).sample([rid for rid in sorted(rec.catalogue) if rid not in owned],
                                        10 + args.n + 2 * args.users)
        warm_embeddings(rec, [it.release for it in rec.owned(base)] + [rec.catalogue[r] for r in picks])
        report = rec.train(base)
        mv = rec.store.active_model(base)
        users = [UpdateFactory.user(1 + i, f"User{i}") for i in range(args.users)]
        for u in users[1:]:   # the same trained model serves every other user (each still loads it for itself)
            rec.store.register_model(f"tg:{u['id']}", mv.version, mv.path, mv.metrics_dict, mv.n_positives,
                                     mv.n_negatives)
        print(f"set-up {time.perf_counter() - t0:.1f} s (train {report.seconds:.1f} s, "
              f"{report.n_positives} + {report.n_negatives} rows)")
        api = FakeBotApi()
        app = build_application(TOKEN, rec, request=FakeBotRequest(api), get_updates_request=FakeBotRequest(api),
                                concurrent_updates=True)
        latencies, rounds = asyncio.run(run(app, api, users, picks, args.n))
        print(f"Telegram: pasted link → card sendMessage, {len(latencies)} cached releases, in process, "
              f"Bot API network excluded ({machine()}):")
        print(f"  p50 {pct(latencies, .5):.1f} ms   p95 {pct(latencies, .95):.1f} ms   max {max(latencies):.1f} ms   "
              f"mean {statistics.fmean(latencies):.1f} ms")
        print(f"  target p95 <= 300 ms: {'OK' if pct(latencies, .95) <= 300 else 'MISSED'}")
        ok = True
        for conc, what in zip(rounds, ("first links (each user's model loads)", "again (models loaded)")):
            per_user = conc["per_user_ms"]
            answered = sum(1 for uid in conc["expected"] if uid in per_user)
            ok &= answered == len(conc["expected"])
            times = list(per_user.values()) or [float("nan")]
            print(f"{len(conc['expected'])} users pasting a link at once, {what}: {answered} of "
                  f"{len(conc['expected'])} answered with a card in {conc['wall_ms']:.0f} ms; per user first "
                  f"{min(times):.0f} ms, p50 {pct(times, .5):.0f} ms, last {max(times):.0f} ms")
        print(f"  every user answered: {'OK' if ok else 'MISSED'}")
    finally:
        rec.store.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
