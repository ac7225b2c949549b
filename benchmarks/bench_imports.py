"""Replays the hostile and huge inputs of issue 12 against `read_collection` and prints, for each, the outcome,
the time and the peak memory (each in its own process, so one input's memory never counts for another).

    python benchmarks/bench_imports.py [--keep DIR]

Inputs: a 4 MB .xml.gz of whitespace, 1 M valid CSV rows, a gzipped dump whose one title is 1 GiB, a 200k-item
JSON, a 250k-row CSV (the largest collection the limits admit comfortably) and a 120 kB artist field.
"""
from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CSV_HEAD = "Catalog#,Artist,Title,Label,Format,Rating,Released,release_id,CollectionFolder,Date Added\n"


def csv_rows(n: int) -> str:
    return CSV_HEAD + "".join(f"C{i},Artist {i % 997},Title {i},Label {i % 91},Vinyl,,2001,{1000 + i},"
                              f"Uncategorized,2020-01-{1 + i % 28:02d} 10:00:00\n" for i in range(n))


def make_inputs(d: Path) -> dict[str, Path]:
    out = {}
    p = d / "whitespace.xml.gz"
    with gzip.open(p, "wb", compresslevel=9) as gz:
        gz.write(b"<releases>")
        chunk = b" " * (1 << 20)
        while p.stat().st_size < 4_000_000 and gz.fileobj.tell() < 4_000_000:   # type: ignore[union-attr]
            for _ in range(256):
                gz.write(chunk)
            gz.flush()
    out["4 MB .xml.gz of whitespace"] = p
    p = d / "million.csv"
    p.write_text(csv_rows(1_000_000), encoding="utf-8")
    out["1 M valid CSV rows"] = p
    p = d / "huge-title.xml.gz"
    with gzip.open(p, "wb", compresslevel=9) as gz:
        gz.write(b'<releases><release id="1"><title>')
        chunk = b"x" * (1 << 20)
        for _ in range(1024):
            gz.write(chunk)
        gz.write(b"</title></release></releases>")
    out["gzipped dump, one 1 GiB title"] = p
    p = d / "items.json"
    p.write_text(json.dumps([{"id": 1000 + i, "title": f"T{i}", "artist": f"A{i % 500}", "added": "2020-01-01"}
                             for i in range(200_000)]), encoding="utf-8")
    out["200k-item JSON"] = p
    p = d / "quarter-million.csv"
    p.write_text(csv_rows(250_000), encoding="utf-8")
    out["250k-row CSV"] = p
    p = d / "long-artist.csv"
    p.write_text(CSV_HEAD + f"C1,{'A' * 120_000},Title,Label,Vinyl,,2001,3802,Uncategorized,2020-01-01 10:00:00\n")
    out["120 kB artist field"] = p
    return out


CHILD = """
import sys, time, resource
sys.path.insert(0, {root!r})
from core.ingest.readers import ReaderError, read_collection
t0 = time.perf_counter()
try:
    r = read_collection(sys.argv[1])
    longest = max((len(a) for it in r.items for a in it.release.artists), default=0)
    what = f"read {{len(r.items)}} records, longest artist {{longest}} chars"
except ReaderError as e:
    what = "refused: " + str(e).split(": ", 1)[-1][:110]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{{time.perf_counter() - t0:.1f}}\\t{{peak:.0f}}\\t{{what}}")
"""


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keep", help="write the inputs here (default: a temporary folder)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(args.keep or tmp)
        d.mkdir(parents=True, exist_ok=True)
        inputs = make_inputs(d)
        print(f"{'input':<32} {'size':>9} {'time s':>7} {'peak MB':>8}  outcome")
        for label, path in inputs.items():
            t0 = time.perf_counter()
            res = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT)), str(path)],
                                 capture_output=True, text=True, timeout=600)
            if res.returncode:
                why = res.stderr.strip().splitlines()[-1]
                print(f"{label:<32} CRASHED ({time.perf_counter() - t0:.0f} s): {why}")
                continue
            secs, peak, what = res.stdout.strip().split("\t")
            print(f"{label:<32} {path.stat().st_size / 1e6:>7.1f}MB {float(secs):>7.1f} {float(peak):>8.0f}  {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
