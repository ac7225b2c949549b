"""Issue 24: a new collector's first minute, as they live it.

The real bot process (`python -m bot.cli run telegram`) on a fresh HOME (no embedding cache, no database, no
models), long-polling the tests' fake Bot API, against the tests' fake Discogs (answering at once, Discogs' own
rate limits) holding a 331-record collection of real releases (lanebecker's first 331 distinct releases the fake
knows). The collector sends `/link tylergaw`, then pastes a catalogue link every 2 s until a card comes back that
is no longer the first estimate; then `/discover dark ambient for late nights` and, a second later, a pasted link.
Printed: the time to the first card, to the first personal card, the longest wait for any answer, how often the
progress message moved, and how long the page of picks and the card pasted meanwhile took.

    python benchmarks/bench_first_minute.py [--runs 3] [--records 331]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fakes.discogs_server import FakeDiscogsServer  # noqa: E402
from fakes.telegram_server import TOKEN, FakeTelegramServer, UpdateFactory  # noqa: E402

LANEBECKER = ROOT / "data" / "collections" / "lanebecker" / "collection.json"
LINKS = [4, 3329867, 1, 2, 3, 79]    # releases the fake knows (API fixtures and catalogue)


def text_of(call) -> str:
    return str(call.params.get("text") or call.params.get("caption") or "")


def one_run(n_records: int, user_id: int) -> dict:
    discogs = FakeDiscogsServer(window_seconds=60.0).start()
    tg = FakeTelegramServer(max_poll=0.5).start()
    home = Path(tempfile.mkdtemp(prefix="crate-first-minute-"))
    known = set(discogs.data.pool_ids)
    lane = [int(r.get("id") or r.get("basic_information", {}).get("id") or 0)
            for r in json.loads(LANEBECKER.read_text(encoding="utf-8"))]
    ids = list(dict.fromkeys(r for r in lane if r in known))[:n_records]
    discogs.add_user("tylergaw", 0)
    discogs.add_records("tylergaw", ids)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRATE_", "TELEGRAM_", "DISCOGS_"))}
    env.update({"HOME": str(home), "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": tg.base_url,
                "DISCOGS_API_BASE_URL": discogs.base_url, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
                "TRANSFORMERS_OFFLINE": "1"})
    log = open(home / "bot.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "telegram"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    api = tg.api
    out: dict = {"records": len(ids)}
    try:
        api.wait_for("getUpdates", timeout=180)
        f = UpdateFactory()
        who = f.user(user_id, "Tyler")
        asked: list[tuple[float, int]] = []     # (sent at, update_id)
        t0 = time.perf_counter()
        up = f.text(who, "/link tylergaw")
        api.push_update(up)
        asked.append((t0, up["update_id"]))
        first_card = personal = None
        k = 0
        next_paste = t0 + 2.0
        while time.perf_counter() - t0 < 300 and personal is None:
            time.sleep(0.05)
            now = time.perf_counter()
            if now >= next_paste:
                rid = LINKS[k % len(LINKS)]
                k += 1
                up = f.text(who, f"https://www.discogs.com/release/{rid}")
                api.push_update(up)
                asked.append((now, up["update_id"]))
                next_paste = now + 2.0
            for c in api.calls_of("sendMessage", "sendPhoto", "editMessageText", "editMessageCaption"):
                t = text_of(c)
                if "% match" in t or "% chance" in t:
                    if first_card is None:
                        first_card = c.at - t0
                        out["first_card_text"] = t
                    if "first estimate" not in t.lower() and "rough estimate" not in t.lower():
                        personal = c.at - t0
                        out["personal_card_text"] = t
                        break
        out["first_card_s"] = first_card
        out["personal_card_s"] = personal
        # then words for /discover, and a link pasted a second later: how long each waits
        n0 = len(api.calls)
        t1 = time.perf_counter()
        up = f.text(who, "/discover dark ambient for late nights")
        api.push_update(up)
        asked.append((t1, up["update_id"]))
        time.sleep(1.0)
        t2 = time.perf_counter()
        up = f.text(who, "https://www.discogs.com/release/4")
        api.push_update(up)
        asked.append((t2, up["update_id"]))
        page = card = None
        while time.perf_counter() - t1 < 120 and (page is None or card is None):
            time.sleep(0.05)
            for c in api.calls[n0:]:
                t = text_of(c)
                if page is None and "Picks for you" in t and c.method in ("sendMessage", "editMessageText"):
                    page = c.at - t1
                    out["page_text"] = t
                if card is None and "chance you'd buy it" in t and c.method in ("sendMessage", "sendPhoto") \
                        and c.at >= t2:
                    card = c.at - t2
        out["discover_page_s"] = page
        out["card_during_discover_s"] = card
        # the answer to each message: the first sendMessage/sendPhoto to the chat after it was sent
        waits = []
        for when, _uid in asked:
            later = [c.at - when for c in api.calls_of("sendMessage", "sendPhoto") if c.at >= when]
            if later:
                waits.append(min(later))
        out["answers"] = len(waits)
        out["asked"] = len(asked)
        out["longest_wait_s"] = max(waits) if waits else None
        edits = [c.at for c in api.calls_of("editMessageText")]
        gaps = [b - a for a, b in zip(edits, edits[1:])]
        out["progress_edits"] = len(edits)
        out["longest_progress_gap_s"] = max(gaps) if gaps else None
        out["progress_texts"] = [text_of(c).splitlines()[-1][:90] for c in api.calls_of("editMessageText")][:40]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        tg.stop()
        discogs.stop()
    out["home"] = str(home)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--records", type=int, default=331)
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    results = []
    for i in range(a.runs):
        r = one_run(a.records, 5000 + i)
        results.append(r)
        print(f"run {i + 1}: {r['records']} records; first card {r['first_card_s']}, personal card "
              f"{r['personal_card_s']} s; longest wait for an answer {r['longest_wait_s']} s "
              f"({r['answers']} of {r['asked']} answered); progress edits {r['progress_edits']}, "
              f"longest gap {r['longest_progress_gap_s']} s; /discover with words: page after "
              f"{r['discover_page_s']} s, a link pasted meanwhile answered after {r['card_during_discover_s']} s",
              flush=True)
        if a.verbose:
            print(json.dumps(r, indent=1, ensure_ascii=False, default=str))
    vals = [r["personal_card_s"] for r in results if r["personal_card_s"] is not None]
    if vals:
        print(f"personal card after /link: median {statistics.median(vals):.1f} s, max {max(vals):.1f} s")


if __name__ == "__main__":
    main()
