"""Replays the hostile and huge inputs of issues 12 and 22 against `read_collection` (files) and `decode_photo`
(photos) and prints, for each, the outcome, the time and the peak memory (each in its own process, so one input's
memory never counts for another; the process's own imports included).

    python benchmarks/bench_imports.py [--keep DIR] [--only files|photos]

Files: a 4 MB .xml.gz of whitespace, 1 M valid CSV rows, a gzipped dump whose one title is 1 GiB, a 200k-item
JSON, a 250k-row CSV (the largest collection the limits admit comfortably), a 120 kB artist field, and issue 22's
`{"releases":[{},{},…]}` (60 MB), `[[],[],…]` (60 MB), a 300,001-item JSON, a CSV row of 60 MB of commas and an
XML release with 2 M attributes. Photos: a 1 × 89,000,000 and an 89,000,000 × 1 PNG strip, a float TIFF 9400²,
an RGBA WebP 16383 × 5400, 9400² PNGs (grey and colour) and the real photos of ../shared/data/barcode-photos.
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
    # issue 22
    p = d / "empty-objects.json"
    with p.open("w") as fh:
        fh.write('{"releases":[')
        fh.write("{}," * 20_000_000)
        fh.write("{}]}")
    out['{"releases":[{},…]} 60 MB'] = p
    p = d / "empty-lists.json"
    with p.open("w") as fh:
        fh.write("[" + "[]," * 20_000_000 + "[]]")
    out["[[],[],…] 60 MB"] = p
    p = d / "items-300001.json"
    p.write_text(json.dumps([{"id": 1000 + i, "title": f"T{i}", "artist": f"A{i % 500}"}
                             for i in range(300_001)]), encoding="utf-8")
    out["300,001-item JSON"] = p
    p = d / "commas.csv"
    with p.open("w") as fh:
        fh.write(CSV_HEAD + "C1,A,T,L,Vinyl,,2001,3802,Uncategorized,2020-01-01 10:00:00" + "," * 60_000_000 + "\n")
    out["CSV row of 60 MB of commas"] = p
    p = d / "attributes.xml"
    with p.open("w") as fh:
        fh.write('<releases><release id="1" ' + " ".join(f"a{i}='x'" for i in range(2_000_000)) + "/></releases>")
    out["XML with 2 M attributes"] = p
    return out


def make_photos(d: Path) -> dict[str, Path]:
    from PIL import Image

    out = {}
    p = d / "strip-wide.png"
    Image.new("L", (89_000_000, 1), 255).save(p)
    out["PNG 1 × 89,000,000 (wide)"] = p
    p = d / "strip-tall.png"
    Image.new("L", (1, 89_000_000), 255).save(p)
    out["PNG 89,000,000 × 1 (tall)"] = p
    p = d / "float.tiff"
    Image.new("F", (9400, 9400), 0.5).save(p, compression="tiff_adobe_deflate")
    out["float TIFF 9400²"] = p
    p = d / "rgba.webp"
    Image.new("RGBA", (16383, 5400), (255, 255, 255, 255)).save(p, lossless=True, method=0)
    out["RGBA WebP 16383×5400"] = p
    p = d / "grey-9400.png"
    Image.new("L", (9400, 9400), 200).save(p)
    out["grey PNG 9400²"] = p
    p = d / "rgb-9400.png"
    Image.new("RGB", (9400, 9400), (200, 180, 160)).save(p)
    out["RGB PNG 9400²"] = p
    real = ROOT.parent / "shared" / "data" / "barcode-photos"
    for sub in ("upca-1", "upca-2", "ean13-1", "ean13-3"):
        for f in sorted((real / sub).glob("*.webp"))[:3]:
            out[f"real photo {sub}/{f.name}"] = f
    return out


PHOTO_CHILD = """
import sys, time, resource
sys.path.insert(0, {root!r})
from core.barcode.decode import decode_photo
from core.barcode.loading import PhotoError
t0 = time.perf_counter()
try:
    r = decode_photo(open(sys.argv[1], "rb").read())
    what = "codes: " + (", ".join(r.codes) or "none")
except PhotoError as e:
    what = "refused: " + e.user_message[:110]
peak = int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024
print(f"{{time.perf_counter() - t0:.1f}}\t{{peak:.0f}}\t{{what}}")
"""


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
peak = int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024
print(f"{{time.perf_counter() - t0:.1f}}\\t{{peak:.0f}}\\t{{what}}")
"""


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keep", help="write the inputs here (default: a temporary folder)")
    ap.add_argument("--only", choices=["files", "photos"])
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(args.keep or tmp)
        d.mkdir(parents=True, exist_ok=True)
        runs = []
        if args.only != "photos":
            runs += [(label, path, CHILD) for label, path in make_inputs(d).items()]
        if args.only != "files":
            runs += [(label, path, PHOTO_CHILD) for label, path in make_photos(d).items()]
        print(f"{'input':<32} {'size':>9} {'time s':>7} {'peak MB':>8}  outcome")
        for label, path, child in runs:
            t0 = time.perf_counter()
            res = subprocess.run([sys.executable, "-c", child.format(root=str(ROOT)), str(path)],
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
