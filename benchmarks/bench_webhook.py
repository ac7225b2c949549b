"""Load test: Telegram's webhook at 10,000 updates a minute (167 a second), with locust, on 127.0.0.1.

The real bot (`crate run telegram --webhook URL --workers N`: N processes behind one port) on a database with
lanebecker's collection trained (``--users`` chats, each with that model registered, as bench_telegram.py does),
the tests' fake Bot API in a process of its own (it answers at once and notes when each call arrives), and locust
(benchmarks/locustfile.py) posting real Update JSON — "is <link> worth it?" for cached catalogue releases — at
``--rate`` a second for ``--seconds``. Reported:

* the webhook's answer (the update journalled, 200): p50/p95 from locust, errors;
* update → card: from the POST to the card's ``sendMessage`` at the fake Bot API (matched per chat, in order),
  p50/p95/max, and how many cards came back at all within ``--drain`` seconds after the load stopped;
* throughput achieved (posts and cards a second) and what saturates first: CPU of the bot's workers, the fake
  and locust (from /proc), the workers' memory (RSS).

    python benchmarks/bench_webhook.py --workers 2 --rate 167 --seconds 60 [--postgres | --database URL]

Everything runs on this one machine (2 CPUs here): the load generator and the fake take CPU from the bot.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import LANEBECKER, ROOT, free_port, machine, start_postgres, stop_postgres, warm_embeddings

sys.path.insert(0, str(ROOT / "tests"))

SECRET = "load-test-secret"
CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


# ------------------------------------------------------------------------------ the fake Bot API, its own process

def fake_telegram(out: str) -> None:
    from fakes.telegram_server import FakeTelegramServer

    server = FakeTelegramServer(max_poll=0.5).start()
    print(server.base_url, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    calls = [{"at": c.at, "method": c.method, "chat": c.params.get("chat_id"),
              "card": "chance you'd buy it" in str(c.params.get("text") or c.params.get("caption") or "")}
             for c in list(server.api.calls)]
    Path(out).write_text(json.dumps(calls))
    server.stop()


# ------------------------------------------------------------------------------ /proc sampling

def _cpu_ticks(pid: int) -> int:
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])
    except (OSError, IndexError):
        return 0


def _rss_mb(pid: int) -> float:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20
    except (OSError, IndexError):
        return 0.0


def _tree(pid: int) -> list[int]:
    out = [pid]
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        kids = []
    for k in kids:
        out += _tree(int(k))
    return out


class Sampler(threading.Thread):
    """CPU seconds of each group of processes over the load (sampled every 0.5 s, so a process that exits
    keeps what it used), and the bot workers' peak RSS."""

    def __init__(self, groups: dict[str, int], workers: list[int]) -> None:
        super().__init__(daemon=True)
        self.groups, self.workers = groups, workers
        self.first: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self.members: dict[str, set[int]] = {g: set() for g in groups}
        self.peak: dict[int, float] = {w: 0.0 for w in workers}
        self.stop_ev = threading.Event()
        self.t0 = time.monotonic()
        self._sample()

    def _sample(self) -> None:
        for g, root in self.groups.items():
            for p in _tree(root):
                t = _cpu_ticks(p)
                if t:
                    self.members[g].add(p)
                    self.first.setdefault(p, t)
                    self.last[p] = t
        for w in self.workers:
            self.peak[w] = max(self.peak[w], _rss_mb(w))

    def run(self) -> None:
        while not self.stop_ev.wait(0.5):
            self._sample()

    def finish(self) -> tuple[dict[str, float], float]:
        self._sample()
        self.stop_ev.set()
        wall = time.monotonic() - self.t0
        used = {g: sum(self.last[p] - self.first[p] for p in ps) / CLK for g, ps in self.members.items()}
        return used, wall


# ------------------------------------------------------------------------------ set-up

def prepare(database: str, models: Path, users: int) -> tuple[list[int], list[int]]:
    from core.recommender import Recommender
    from core.storage import Store

    rec = Recommender(Store(database), models_dir=models)
    base = "tg:1"
    rec.import_file(base, LANEBECKER)
    owned = {it.release.id for it in rec.owned(base)}
    picks = random.Random(1).sample([rid for rid in sorted(rec.catalogue) if rid not in owned], 300)
    warm_embeddings(rec, [it.release for it in rec.owned(base)] + [rec.catalogue[r] for r in picks])
    rec.train(base)
    mv = rec.store.active_model(base)
    chats = list(range(1, users + 1))
    for uid in chats[1:]:
        rec.store.register_model(f"tg:{uid}", mv.version, mv.path, mv.metrics_dict, mv.n_positives, mv.n_negatives)
    rec.store.close()
    return picks, chats


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rate", type=float, default=167.0, help="updates a second, all chats together")
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--users", type=int, default=50,
                    help="chats (each a collector with a trained model); each posts at rate/users a second and "
                         "waits for the webhook's answer, so enough of them keep the rate up when answers slow down")
    ap.add_argument("--drain", type=float, default=60.0, help="seconds to wait for the last cards")
    ap.add_argument("--warm", type=int, default=3, help="links each chat pastes before the measured load")
    ap.add_argument("--database", help="database URL (default: a new SQLite file)")
    ap.add_argument("--postgres", action="store_true", help="a throw-away PostgreSQL server (scripts/pg)")
    ap.add_argument("--fake-telegram", metavar="OUT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.fake_telegram:
        return fake_telegram(args.fake_telegram)

    tmp = Path(tempfile.mkdtemp(prefix="crate-webhook-"))
    pgdir = None
    procs: list[subprocess.Popen] = []
    try:
        if args.postgres:
            database, pgdir = start_postgres()
        else:
            database = args.database or f"sqlite:///{tmp / 'crate.db'}"
        t0 = time.perf_counter()
        picks, chats = prepare(database, tmp / "models", args.users)
        print(f"set-up {time.perf_counter() - t0:.0f} s: {args.users} chats with a trained model, "
              f"{len(picks)} cached releases; database {database.split(':')[0]}", flush=True)

        calls_out = tmp / "calls.json"
        fake = subprocess.Popen([sys.executable, __file__, "--fake-telegram", str(calls_out)],
                                stdout=subprocess.PIPE, text=True)
        procs.append(fake)
        base_url = fake.stdout.readline().strip() if fake.stdout else ""
        port = free_port()
        hook = f"http://127.0.0.1:{port}/tg-hook"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CRATE_", "TELEGRAM_"))}
        from core.secrets import SecretBox
        from fakes.telegram_server import TOKEN
        env.update({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": base_url,
                    "TELEGRAM_WEBHOOK_SECRET": SECRET, "DATABASE_URL": database, "CRATE_DISCOGS__LIVE": "false",
                    "CRATE_PATHS__MODELS_DIR": str(tmp / "models"), "CRATE_SECRET_KEY": SecretBox.generate_key(),
                    "CRATE_LEARNING__SCHEDULE_IN_BOT": "false", "CRATE_AUDIO__IN_BOT": "false",
                    "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
        bot_log = tmp / "bot.log"
        bot = subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "telegram", "--webhook", hook, "--listen",
                                "127.0.0.1", "--port", str(port), "--workers", str(args.workers)],
                               cwd=ROOT, env=env, stdout=bot_log.open("w"), stderr=subprocess.STDOUT)
        procs.append(bot)
        deadline = time.monotonic() + 180
        while bot_log.read_text(errors="replace").count("ready (pid") < args.workers:
            if bot.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the bot did not start:\n" + bot_log.read_text(errors="replace")[-3000:])
            time.sleep(0.3)
        workers = [int(p) for p in re.findall(r"ready \(pid (\d+)\)", bot_log.read_text())]
        # warm-up, not measured: every chat pastes --warm links (each worker it lands on loads that user's model)
        import urllib.request
        from concurrent.futures import ThreadPoolExecutor

        def post(i: int) -> None:
            chat = chats[i % len(chats)]
            link = f"https://www.discogs.com/release/{picks[i % len(picks)]}"
            upd = {"update_id": 1 + i, "message": {"message_id": 1 + i, "date": int(time.time()), "text": link,
                                                   "entities": [{"type": "url", "offset": 0, "length": len(link)}],
                                                   "from": {"id": chat, "is_bot": False, "first_name": "U"},
                                                   "chat": {"id": chat, "type": "private"}}}
            req = urllib.request.Request(hook, data=json.dumps(upd).encode(), method="POST", headers={
                "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET})
            urllib.request.urlopen(req, timeout=300).read()

        t_warm = time.monotonic()
        n_warm = args.warm * len(chats)
        with ThreadPoolExecutor(8) as ex:
            list(ex.map(post, range(n_warm)))
        idle, last = 0, -1
        while idle < 3 and time.monotonic() - t_warm < 900:   # until the workers have handled them all
            time.sleep(1)
            now = sum(_cpu_ticks(p) for p in workers)
            idle = idle + 1 if now - last < CLK * 0.2 else 0
            last = now
        if n_warm:
            print(f"warm-up: {n_warm} links from {len(chats)} chats handled in {time.monotonic() - t_warm:.0f} s "
                  f"(each user's model loaded by the worker that got them)", flush=True)

        sent_path = tmp / "sent.jsonl"
        lenv = {**os.environ, "CRATE_LOAD_RATE": str(args.rate), "CRATE_LOAD_USERS": str(args.users),
                "CRATE_LOAD_SECRET": SECRET, "CRATE_LOAD_PATH": "/tg-hook",
                "CRATE_LOAD_RELEASES": ",".join(map(str, picks)), "CRATE_LOAD_CHATS": ",".join(map(str, chats)),
                "CRATE_LOAD_SENT": str(sent_path)}
        locust = subprocess.Popen([str(Path(sys.executable).parent / "locust"), "-f",
                                   str(ROOT / "benchmarks" / "locustfile.py"), "--headless", "-u", str(args.users),
                                   "-r", str(args.users), "--run-time", f"{args.seconds}s", "--host",
                                   f"http://127.0.0.1:{port}", "--csv", str(tmp / "locust"), "--only-summary",
                                   "--stop-timeout", "5"], env=lenv, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        procs.append(locust)
        groups = {"bot workers": bot.pid, "fake Bot API": fake.pid, "locust": locust.pid}
        if pgdir is not None:
            groups["PostgreSQL"] = int((pgdir / "data" / "postmaster.pid").read_text().split()[0])
        sampler = Sampler(groups, workers)
        sampler.start()
        lout, _ = locust.communicate(timeout=args.seconds + 120)
        used, wall = sampler.finish()
        t_end = time.monotonic()
        sent = [json.loads(line) for line in sent_path.read_text().splitlines() if line.strip()]
        n_ok = sum(s["status"] == 200 for s in sent)
        # drain: the cards still on their way
        while time.monotonic() - t_end < args.drain:
            time.sleep(1)
            if fake.poll() is not None:
                break
            # cheap: stop early when the workers went idle
            if sum(_cpu_ticks(p) for p in workers) == getattr(main, "_last", -1):
                break
            main._last = sum(_cpu_ticks(p) for p in workers)  # type: ignore[attr-defined]
        fake.send_signal(signal.SIGTERM)
        fake.wait(30)
        calls = json.loads(calls_out.read_text())
        load_start = min((x["t"] for x in sent), default=0.0)
        cards = [c for c in calls if c["card"] and c["at"] >= load_start]   # the warm-up's cards left out
        by_chat: dict[int, list[float]] = {}
        for s in sorted(sent, key=lambda s: s["t"]):
            if s["status"] == 200:
                by_chat.setdefault(s["chat"], []).append(s["t"])
        got: dict[int, list[float]] = {}
        for c in sorted(cards, key=lambda c: c["at"]):
            got.setdefault(int(c["chat"]), []).append(c["at"])
        e2e = [(a - t) * 1000 for chat, ts in by_chat.items() for t, a in zip(ts, got.get(chat, []))]
        stats = {}
        for row in (tmp / "locust_stats.csv").read_text().splitlines()[1:]:
            cols = row.split(",")
            if cols[1] == "webhook":
                head = (tmp / "locust_stats.csv").read_text().splitlines()[0].split(",")
                stats = dict(zip(head, cols))
        print(f"\nwebhook load test: {args.workers} workers, {args.users} chats, {args.rate:g} updates/s target for "
              f"{args.seconds} s ({machine()}; locust and the fake Bot API on the same machine)")
        print(f"  posted {len(sent)} updates ({len(sent) / args.seconds:.1f}/s), {n_ok} answered 200, "
              f"{len(sent) - n_ok} errors")
        if stats:
            print(f"  webhook answer (journalled, 200): p50 {stats.get('50%')} ms, p95 {stats.get('95%')} ms, "
                  f"max {float(stats.get('Max Response Time', 'nan')):.0f} ms, failures {stats.get('Failure Count')}")
        print(f"  cards back: {len(cards)} of {n_ok} ({len(cards) / max(1, args.seconds):.1f}/s over the load's "
              f"{args.seconds} s)")
        print(f"  update → card: p50 {pct(e2e, .5):.0f} ms, p95 {pct(e2e, .95):.0f} ms, max "
              f"{max(e2e) if e2e else float('nan'):.0f} ms ({len(e2e)} matched)")
        print(f"  CPU over {wall:.0f} s (2 cores = {2 * wall:.0f} core-s): " + ", ".join(
            f"{g} {u:.0f} core-s ({u / wall:.2f} cores)" for g, u in used.items()))
        print("  bot workers' peak RSS: " + ", ".join(f"{v:.0f} MB" for v in sampler.peak.values()))
        print("\nlocust summary:\n" + "\n".join(lout.splitlines()[-14:]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(60)
                except subprocess.TimeoutExpired:
                    p.kill()
        if pgdir is not None:
            stop_postgres(pgdir)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
