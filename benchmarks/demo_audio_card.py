"""A card that says what a record sounds like, end to end through `crate` on a fresh database, against the local
Deezer/iTunes fakes: import 300 of lanebecker's records, train, `crate audio enrich` (40 of them have previews),
`crate audio show` a record they do not own, then `crate score` it.

    python benchmarks/demo_audio_card.py

The candidate's previews are synthesised with the same drum pattern, tempo and timbre as one owned record's (other
seeds: other chords, other starts), so "sounds like" names that record; the similarity printed is the one computed.
"""
from __future__ import annotations

import json
import os
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["CRATE_DISCOGS__LIVE"] = "false"

from benchmarks._common import LANEBECKER  # noqa: E402


def main() -> None:
    from bot.cli import main as crate
    from core.config import get_config
    from fakes.audio_clips import ClipSpec
    from fakes.audio_server import FakeAudioServices

    tmp = Path(tempfile.mkdtemp(prefix="crate-audio-card-"))
    os.environ["CRATE_PATHS__MODELS_DIR"] = str(tmp / "models")
    db = f"sqlite:///{tmp / 'crate.db'}"
    records = json.loads(LANEBECKER.read_text(encoding="utf-8"))[::6][:300]
    path = tmp / "lane300.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    rng = random.Random(7)
    with FakeAudioServices() as fake:
        os.environ["DEEZER_API_BASE_URL"] = fake.deezer_url
        os.environ["ITUNES_API_BASE_URL"] = fake.itunes_url
        get_config.cache_clear()
        assert crate(["--database", db, "import", str(path), "--user", "lane"]) == 0
        assert crate(["--database", db, "train", "--user", "lane"]) == 0
        from core.ingest.readers.catalogue import load_catalogue
        from core.recommender import _catalogue_paths

        catalogue = load_catalogue(*_catalogue_paths(get_config()))
        owned = {r["id"] for r in records}
        heard = [r for r in records if r["id"] in catalogue][:40]
        looks = [ClipSpec(bpm=rng.choice((84, 96, 108, 120, 132, 144)), pattern=rng.choice(("backbeat", "four")),
                          bright=rng.random() < 0.5, loud=rng.random() < 0.5, major=rng.random() < 0.5, seed=i)
                 for i in range(len(heard))]
        for i, (r, spec) in enumerate(zip(heard, looks)):
            rel = catalogue[r["id"]]
            fake.add_album("deezer", 50_000 + i, rel.artists[0].rsplit(" (", 1)[0], rel.title, None, [spec] * 3)
        candidate = next(rel for rid, rel in sorted(catalogue.items()) if rid not in owned and rel.artists
                         and rel.styles and set(rel.styles) & set(catalogue[heard[0]["id"]].styles))
        twin = looks[0]
        fake.add_album("deezer", 60_000, candidate.artists[0].rsplit(" (", 1)[0], candidate.title, None,
                       [ClipSpec(twin.bpm + 1, twin.pattern, twin.bright, twin.loud, twin.major, seed=100 + k)
                        for k in range(3)])
        print(f"\n$ crate audio enrich --user lane   ({len(heard)} of the 300 have previews on the fake)")
        crate(["--database", db, "audio", "enrich", "--user", "lane"])
        print(f"\n$ crate audio show {candidate.id}")
        crate(["--database", db, "audio", "show", str(candidate.id)])
        print(f"\n$ crate score {candidate.id} --user lane")
        crate(["--database", db, "score", str(candidate.id), "--user", "lane"])
        print(f"\n(the owned record whose sound it copies: {catalogue[heard[0]['id']].display})")


if __name__ == "__main__":
    main()
