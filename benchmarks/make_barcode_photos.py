"""Render a benchmark set of photo-like images of REAL record-sleeve barcodes, with a manifest of the truth.

The codes are the barcodes Discogs holds for the bundled releases: every valid EAN-13 / UPC-A in the data-dump
sample (``data/dump-sample/discogs_20200806_releases.xml.gz``) and the API fixtures
(``data/discogs-api/.../releases/*.json``). Neither holds an EAN-8 or a UPC-E-compressible UPC-A, so the small
``ean8_upce`` group uses codes *derived* from real ones (an EAN-8 built on the first seven digits of a real EAN-13,
a UPC-E on the number system and manufacturer digits of a real UPC-A; the manifest marks them ``derived``).

Each image is a sleeve-like background (colour, gradient, shapes, the release's artist and title, small print,
striped artwork that looks a little like bars) with the code drawn by zxing-cpp (``create_barcode`` →
``to_image``, quiet zones on, human-readable digits on most) on a label, then photographed: perspective skew,
rotation, lighting fall-off, low contrast, glare, Gaussian blur, sensor noise, JPEG compression and, for a few,
an EXIF orientation tag with the pixels stored sideways. The set is split into 24 condition groups (18 images
each by default: :data:`GROUPS`) so each condition's decode rate can be read on its own; every image records all
its parameters. Frames are 960×1280 to 3000×2250, or 4000×3000 (12 MP, always a JPEG, as a camera writes it)
for the small-code group, a share of the two-code and everything-at-once groups.

Definitions used in the manifest:

* ``rotation`` — degrees the code is turned in the image plane (0–180 in the ``rotation`` group);
* ``skew`` — perspective keystone: the code's far edge is shorter than its near edge by this fraction (0.3 =
  30 %), along a random axis (PIL ``Image.transform(PERSPECTIVE)``);
* ``blur`` — Gaussian blur σ in pixels of the final image (PIL ``GaussianBlur(radius=σ)``);
* ``noise`` — standard deviation of the additive Gaussian sensor noise, in 8-bit grey levels;
* ``glare`` — peak strength (0–1) of a bright elliptical highlight laid over the code;
* ``contrast`` — the fraction of the tonal range kept (1 = full, 0.2 = a very flat photo);
* ``jpeg_quality`` — the JPEG quality it was saved at (None: PNG);
* ``module_px`` — the width of one bar module in pixels, before skew (how big the code is in the frame);
* ``damage`` / ``damage_frac`` — (``damaged`` group only) a marker stroke across the bars, a price sticker over
  part of them, or scratches, covering that share of the code: such a code may be unreadable, but must never
  read as another code;
* ``curve`` / ``bow`` — the code wrapped round a cylinder whose axis runs along the bars (shrink-wrap over a
  gatefold, a CD jewel case): the arc it spans in degrees (the bars crowd and darken towards the edges) and how
  much its rows bend (a share of the bar height);
* ``specular`` — strength (0–1) of a hard, narrow streak of reflected light across the bars (a shop lamp on
  shrink-wrap), unlike ``glare``'s soft highlight;
* ``motion_px`` / ``motion_angle`` — a straight motion smear of that many pixels in that direction (a smear of
  5 px has the σ of a 1.5 px Gaussian blur);
* ``low_light`` — the exposure gain of a dark shop (0.2 = a fifth of the light): the photo is taken dark, noisy
  and quantised, then brightened back up by the phone (``noise`` is then the sensor's noise before that);
* ``thumb`` — a thumb pressing on the sleeve over the top or bottom edge of the bars, covering that share of
  their height over part of their width;
* ``dark`` — light bars printed on a dark sleeve (inverted);
* ``sticker`` — the codes share one hype sticker (side by side, with a line of blurb), as new pressings carry.

The groups after ``damaged`` add one of these each (``keystone`` is the perspective group again, 15–35 %, with
some rotation); ``phone`` mixes several of them with rotation, keystone ≤ 30 %, blur σ ≤ 1.2 px and JPEG 40–70, as a
shop photo has them. Their JPEGs are saved at quality 40–85, or as PNG.

Deterministic: the same ``--seed`` and ``--n`` write byte-identical files. Run from the repository root::

    python benchmarks/make_barcode_photos.py [OUT_DIR] [--n 432] [--seed 4] [--groups converging,no_code]

Seed 4 is the set the pipeline was tuned on; report figures on another seed (the README's are seed 23).

``OUT_DIR`` defaults to ``out/barcode-bench/`` (ignored by git). The tests import the rendering functions from here.
"""
from __future__ import annotations

import argparse
import glob
import io
import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zxingcpp
from PIL import Image, ImageDraw, ImageFilter, ImageFont

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.discogs.barcodes import gs1_check_digit, normalise_barcode, upce_to_upca  # noqa: E402

DUMP = ROOT / "data" / "dump-sample" / "discogs_20200806_releases.xml.gz"
API_RELEASES = ROOT / "data" / "discogs-api" / "discogs_client" / "tests" / "res" / "releases"
DEFAULT_OUT = ROOT / "out" / "barcode-bench"

#: condition groups, in the order they are dealt out
GROUPS = ("clean", "rotation", "skew", "blur", "noise", "glare", "jpeg", "low_contrast", "small_12mp",
          "two_codes", "ean8_upce", "mixed", "damaged",
          # what phone photos of sleeves in a shop add (see the module docstring)
          "keystone", "curved", "specular", "motion", "low_light", "thumb", "sticker", "dark_sleeve", "phone",
          # the camera tilted along the bars (they converge) at any rotation; a 12-MP photo with no code at all
          "converging", "no_code")
#: groups whose codes are intact (the decode-rate target is about these; ``damaged`` tests for misreads,
#: ``no_code`` for misreads and for how long giving up takes)
INTACT = tuple(g for g in GROUPS if g not in ("damaged", "no_code"))
#: ordinary photo sizes (what chat apps pass on, and phone cameras' own) — 12 MP is used by its own groups
FRAMES = ((1280, 960), (1600, 1200), (2048, 1536), (960, 1280), (1200, 1600), (3000, 2250))
FRAME_12MP = (4000, 3000)

_FMT = {"EAN13": zxingcpp.BarcodeFormat.EAN13, "UPCA": zxingcpp.BarcodeFormat.UPCA,
        "EAN8": zxingcpp.BarcodeFormat.EAN8, "UPCE": zxingcpp.BarcodeFormat.UPCE}
_WORDS = ("side a side b stereo vinyl record made in germany all rights reserved unauthorised copying public "
          "performance broadcasting prohibited produced by mixed at recorded written arranged mastered lacquer "
          "cut sleeve design photography distributed manufactured under licence from records limited remix "
          "original version extended instrumental dub edit 33 rpm 45 rpm lp ep bonus track").split()


# -- the codes -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RealCode:
    """One barcode Discogs holds for a bundled release (``code`` is its canonical form: 12 or 13 digits)."""

    code: str
    fmt: str            # EAN13 | UPCA | EAN8 | UPCE
    release_id: int
    raw: str            # as Discogs stores it
    source: str         # dump-sample | api-fixture | derived
    artist: str = ""
    title: str = ""


def real_codes() -> list[RealCode]:
    """Every distinct valid EAN-13/UPC-A barcode of the dump sample and the API fixtures, in a stable order."""
    from core.ingest.readers.dump_xml import iter_dump_releases

    seen: dict[str, RealCode] = {}
    for r in iter_dump_releases(DUMP):
        for raw in r.barcodes:
            code = normalise_barcode(raw)
            if code and len(code) in (12, 13) and code not in seen:
                seen[code] = RealCode(code, "UPCA" if len(code) == 12 else "EAN13", r.id, raw, "dump-sample",
                                      ", ".join(r.artists[:2]), r.title)
    for path in sorted(glob.glob(str(API_RELEASES / "*.json"))):
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
        for ident in obj.get("identifiers") or []:
            if ident.get("type") != "Barcode":
                continue
            code = normalise_barcode(ident.get("value", ""))
            if code and len(code) in (12, 13) and code not in seen:
                seen[code] = RealCode(code, "UPCA" if len(code) == 12 else "EAN13", int(obj["id"]), ident["value"],
                                      "api-fixture", ", ".join(a.get("name", "") for a in obj.get("artists") or []),
                                      obj.get("title", ""))
    return list(seen.values())


def derived_short_code(base: RealCode, fmt: str) -> RealCode:
    """An EAN-8 or UPC-E built on a real code's leading digits (the bundled data has none of either)."""
    if fmt == "EAN8":
        body = base.code[-13:][:7] if len(base.code) == 13 else base.code[:7]
        code = body + str(gs1_check_digit(body))
    else:   # UPC-E: number system 0, the first five manufacturer digits, last digit 5-9 (the "0000x" form)
        d = base.code[-11:] if len(base.code) >= 11 else base.code
        m = d[1:6]
        if m[4] == "0":   # this zero-suppression form needs a non-zero fifth manufacturer digit
            m = m[:4] + str(1 + int(m[0]) % 9)
        last = str(5 + int(d[6]) % 5)
        upca_body = f"0{m}0000{last}"
        code = f"0{m}{last}" + str(gs1_check_digit(upca_body))
    return RealCode(code, fmt, base.release_id, code, "derived", base.artist, base.title)


def truth_code(c: RealCode) -> str:
    """The canonical form a correct decoder must report for ``c`` (UPC-E expanded to its UPC-A)."""
    norm = upce_to_upca(c.code) if c.fmt == "UPCE" else normalise_barcode(c.code)
    assert norm is not None, c
    return norm


# -- the specification of one photo ---------------------------------------------------------------------------
@dataclass
class PhotoSpec:
    """Everything that determines one rendered photo (see the module docstring for the units)."""

    name: str
    group: str
    seed: int
    codes: list[RealCode]
    frame: tuple[int, int] = (1600, 1200)
    module_px: float = 4.0
    aspect: float = 0.55           # bar height / code width
    hrt: bool = True
    on_label: bool = True
    rotation: float = 0.0
    skew: float = 0.0
    skew_axis: str = "x"           # x: left/right edge shorter; y: top/bottom edge shorter
    blur: float = 0.0
    noise: float = 2.0
    glare: float = 0.0
    contrast: float = 1.0
    vignette: float = 0.15
    jpeg_quality: int | None = 90
    exif_orientation: int = 1
    stripes: bool = False
    damage: str | None = None      # marker | sticker | scratches: bars partly painted over / covered
    damage_frac: float = 0.0       # the share of the code's width (marker, sticker) or bars (scratches) hit
    curve: float = 0.0             # cylinder wrap: the arc the code spans, degrees (shrink-wrap, a jewel case)
    bow: float = 0.0               # …and how much its rows bend on the cylinder (share of the bar height)
    specular: float = 0.0          # strength (0–1) of a hard bright streak across the bars (a lamp on shrink-wrap)
    motion_px: float = 0.0         # motion blur: length of the smear in pixels of the final image…
    motion_angle: float = 0.0      # …and its direction, degrees
    low_light: float = 0.0         # exposure gain before the phone brightens it back up (0: off; 0.2 = very dark)
    thumb: float = 0.0             # a thumb over the code's top or bottom edge: the share of the bar height covered
    dark: bool = False             # light bars printed on a dark sleeve (inverted)
    sticker: bool = False          # the codes share one hype sticker (side by side, with its blurb)
    extra: dict[str, Any] = field(default_factory=dict)

    def manifest(self) -> dict[str, Any]:
        d = asdict(self)
        d["codes"] = [truth_code(c) for c in self.codes]
        d["code_details"] = [{"code": truth_code(c), "printed": c.code, "format": c.fmt, "release_id": c.release_id,
                              "raw": c.raw, "source": c.source} for c in self.codes]
        d["frame"] = list(self.frame)
        d["megapixels"] = round(self.frame[0] * self.frame[1] / 1e6, 2)
        return d


def _u(rng: random.Random, a: float, b: float) -> float:
    return round(rng.uniform(a, b), 3)


def build_specs(n: int = 432, seed: int = 4, codes: list[RealCode] | None = None) -> list[PhotoSpec]:
    """``n`` photo specifications dealt round-robin over :data:`GROUPS` (so each group has ~n/24 images)."""
    codes = codes if codes is not None else real_codes()
    rng = random.Random(seed)
    order = list(codes)
    rng.shuffle(order)
    ean13 = [c for c in codes if c.fmt == "EAN13"]
    upca = [c for c in codes if c.fmt == "UPCA"]
    specs: list[PhotoSpec] = []
    k = 0
    for i in range(n):
        group = GROUPS[i % len(GROUPS)]
        r = random.Random(seed * 1_000_003 + i)
        code = order[k % len(order)]
        k += 1
        s = PhotoSpec(name=f"{i:04d}_{group}", group=group, seed=seed * 7919 + i, codes=[code],
                      frame=r.choice(FRAMES), module_px=_u(r, 2.6, 7.0), aspect=_u(r, 0.35, 0.7),
                      hrt=r.random() < 0.8, on_label=r.random() < 0.8, rotation=_u(r, -8, 8),
                      noise=_u(r, 1, 4), vignette=_u(r, 0.0, 0.3), jpeg_quality=r.choice([None, 80, 85, 90, 95]),
                      stripes=r.random() < 0.3)
        # the code must fit its frame comfortably: at most ~60 % of the short side (or 40 % each for two)
        if group == "rotation":
            s.rotation = _u(r, 0, 180)
        elif group == "skew":
            s.skew, s.skew_axis = _u(r, 0.0, 0.40), r.choice("xy")
        elif group == "blur":
            s.blur = _u(r, 0.0, 3.0)
        elif group == "noise":
            s.noise = _u(r, 8, 30)
        elif group == "glare":
            s.glare = _u(r, 0.4, 0.9)
        elif group == "jpeg":
            s.jpeg_quality = r.randint(8, 30)
        elif group == "low_contrast":
            s.contrast, s.on_label = _u(r, 0.15, 0.4), r.random() < 0.4
        elif group == "small_12mp":
            s.frame = FRAME_12MP
            s.module_px = _u(r, 2.4, 5.0)      # a 270–560 px code in a 4000 × 3000 photo
            s.jpeg_quality = r.choice([85, 90, 95])
        elif group == "two_codes":
            other = order[k % len(order)]
            k += 1
            s.codes.append(other)
            s.module_px = _u(r, 2.6, 4.5)
            s.frame = r.choice(((1600, 1200), (2048, 1536), (3000, 2250), FRAME_12MP))
        elif group == "ean8_upce":
            fmt = r.choice(("EAN8", "UPCE"))
            s.codes = [derived_short_code(r.choice(ean13 if fmt == "EAN8" else upca), fmt)]
            s.module_px = _u(r, 3.0, 7.0)
        elif group == "mixed":   # everything at once, over the full ranges
            s.rotation = _u(r, 0, 180)
            s.skew, s.skew_axis = _u(r, 0.0, 0.4), r.choice("xy")
            s.blur = _u(r, 0.0, 3.0)
            s.noise = _u(r, 2, 25)
            s.glare = _u(r, 0.3, 0.9) if r.random() < 0.4 else 0.0
            s.contrast = _u(r, 0.3, 1.0)
            s.jpeg_quality = r.choice([15, 30, 50, 75, 90])
            s.exif_orientation = r.choice([1, 1, 3, 6, 8])
            if r.random() < 0.4:
                s.frame = FRAME_12MP
                s.module_px = _u(r, 2.6, 6.0)
        elif group == "damaged":
            s.damage = r.choice(("marker", "sticker", "scratches"))
            s.damage_frac = _u(r, 0.05, 0.4)
            s.rotation = _u(r, -20, 20)
            s.blur = _u(r, 0.0, 1.2)
            s.noise = _u(r, 2, 10)
        elif group == "keystone":   # a true projective warp, up to 35 % (beyond the promised 30 % a little)
            s.skew, s.skew_axis = _u(r, 0.15, 0.35), r.choice("xy")
            s.rotation = _u(r, -25, 25)
        elif group == "curved":
            s.curve, s.bow = _u(r, 30, 110), _u(r, -0.12, 0.12)
        elif group == "specular":
            s.specular = _u(r, 0.6, 1.0)
        elif group == "motion":
            s.motion_px, s.motion_angle = _u(r, 2, 12), _u(r, 0, 180)
        elif group == "low_light":
            s.low_light, s.noise = _u(r, 0.15, 0.45), _u(r, 3, 8)
        elif group == "thumb":
            s.thumb = _u(r, 0.15, 0.5)
        elif group == "sticker":
            other = order[k % len(order)]
            k += 1
            s.codes.append(other)
            s.sticker, s.on_label = True, True
            s.module_px = _u(r, 2.4, 4.0)
            s.frame = r.choice(((1600, 1200), (2048, 1536), (3000, 2250), FRAME_12MP))
        elif group == "dark_sleeve":
            s.dark = True
        elif group == "converging":   # tilted along the bars: they converge, the label turned any way round
            s.skew, s.skew_axis = _u(r, 0.10, 0.35), "y"
            s.rotation = _u(r, 0, 360)
            s.module_px = _u(r, 2.5, 5.0)
            s.glare = _u(r, 0.3, 0.8)
            s.contrast = 0.6
            s.jpeg_quality = 45
            s.blur = _u(r, 0.0, 1.2)
            s.frame = FRAME_12MP if r.random() < 0.5 else r.choice(FRAMES)   # half of them off a phone camera
        elif group == "no_code":   # a 12-MP sleeve photo with no barcode in it (the back of the wrong sleeve)
            s.codes = []
            s.frame = FRAME_12MP
            s.stripes = r.random() < 0.6
            s.jpeg_quality = r.choice([70, 85, 90])
        elif group == "phone":   # a shop photo: several of the above at once, inside the promised zone
            s.rotation = _u(r, 0, 180)
            s.skew, s.skew_axis = _u(r, 0.0, 0.3), r.choice("xy")
            s.blur = _u(r, 0.0, 1.2)
            s.jpeg_quality = r.randint(40, 70)
            s.curve = _u(r, 0, 70) if r.random() < 0.4 else 0.0
            s.specular = _u(r, 0.4, 0.9) if r.random() < 0.3 else 0.0
            s.motion_px, s.motion_angle = (_u(r, 1, 4), _u(r, 0, 180)) if r.random() < 0.3 else (0.0, 0.0)
            s.low_light = _u(r, 0.3, 0.6) if r.random() < 0.25 else 0.0
            s.thumb = _u(r, 0.1, 0.35) if r.random() < 0.2 else 0.0
            s.dark = r.random() < 0.15
            if r.random() < 0.4:
                s.frame = FRAME_12MP
                s.module_px = _u(r, 3.0, 6.0)
        if group in ("keystone", "curved", "specular", "motion", "low_light", "thumb", "dark_sleeve"):
            s.jpeg_quality = r.choice([None, 40, 55, 70, 85])   # what chat apps and phones save at
        if group == "clean" and r.random() < 0.3:
            s.exif_orientation = r.choice([3, 6, 8])
        if s.frame == FRAME_12MP and s.jpeg_quality is None:   # a 12-MP photo comes off a camera: JPEG
            s.jpeg_quality = 90
        specs.append(s)
    return specs


# -- rendering -------------------------------------------------------------------------------------------------
def barcode_image(code: RealCode, module_px: float, aspect: float, hrt: bool) -> Image.Image:
    """The code drawn by zxing-cpp (quiet zones on), resized to ``module_px`` per module, as an L image."""
    content = code.code
    if code.fmt == "UPCA" and len(content) == 13:
        content = content[1:]
    scale = 4
    if hasattr(zxingcpp, "create_barcode"):   # zxing-cpp ≥ 3: adds (and so checks) the check digit, draws digits
        bc = zxingcpp.create_barcode(content[:-1], _FMT[code.fmt])
        img = Image.fromarray(np.asarray(bc.to_image(scale=scale, add_hrt=hrt, add_quiet_zones=True)))
    else:                                     # zxing-cpp 2.x: bars only
        img = Image.fromarray(np.asarray(zxingcpp.write_barcode(_FMT[code.fmt], content, width=0, height=0,
                                                                quiet_zone=-1)))
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    modules = img.width / scale
    width = max(8, round(modules * module_px))
    height = max(8, round(width * aspect))
    return img.convert("L").resize((width, height), Image.Resampling.LANCZOS)


def _perspective_coeffs(dst: list[tuple[float, float]], src: list[tuple[float, float]]) -> list[float]:
    """PIL PERSPECTIVE coefficients mapping output points ``dst`` back to input points ``src``."""
    a, b = [], []
    for (x, y), (u, v) in zip(dst, src):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b.extend([u, v])
    return np.linalg.solve(np.asarray(a, float), np.asarray(b, float)).tolist()


def _patch(spec: PhotoSpec, code: RealCode, rng: random.Random) -> Image.Image:
    """The code on its label, as RGBA (transparent around the label)."""
    bars = barcode_image(code, spec.module_px, spec.aspect, spec.hrt)
    pad = int(spec.module_px * rng.uniform(1.5, 5))
    w, h = bars.width + 2 * pad, bars.height + 2 * pad
    paper, ink = _colours(spec, rng)
    label = Image.new("RGBA", (w, h), paper + (255,))
    ink_layer = Image.new("RGBA", bars.size, ink + (255,))
    label.paste(ink_layer, (pad, pad), Image.eval(bars, lambda p: 255 - p))
    if spec.damage:
        _damage(label, (pad, pad, pad + bars.width, pad + bars.height), spec, rng, paper, ink)
    return _handle(spec, label, (pad, pad, pad + bars.width, pad + bars.height), rng)


def _colours(spec: PhotoSpec, rng: random.Random) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(paper, ink) of the code: a white label, a pale sleeve in coloured ink, or light ink on a dark sleeve."""
    if spec.dark:
        paper = tuple(rng.randint(10, 70) for _ in range(3))
        return paper, tuple(rng.randint(190, 250) for _ in range(3))
    if spec.on_label:
        return tuple(rng.randint(232, 255) for _ in range(3)), tuple(rng.randint(0, 35) for _ in range(3))
    paper = tuple(rng.randint(150, 230) for _ in range(3))   # printed straight onto a pale sleeve, coloured ink
    return paper, tuple(max(0, p - rng.randint(110, 150)) for p in paper)


def _sticker_patch(spec: PhotoSpec, rng: random.Random) -> Image.Image:
    """A hype sticker carrying all the spec's codes side by side, with a line of blurb above them."""
    paper, ink = _colours(spec, rng)
    paper = rng.choice((paper, (255, 225, 70), (250, 250, 240)))
    bars = [barcode_image(c, spec.module_px, spec.aspect, spec.hrt) for c in spec.codes]
    gap = int(spec.module_px * rng.uniform(8, 20))
    pad = int(spec.module_px * rng.uniform(3, 6))
    blurb = max(10, int(bars[0].height * 0.35))
    w = sum(b.width for b in bars) + gap * (len(bars) - 1) + 2 * pad
    h = max(b.height for b in bars) + 2 * pad + blurb
    label = Image.new("RGBA", (w, h), paper + (255,))
    d = ImageDraw.Draw(label)
    f = ImageFont.load_default(size=max(8, int(blurb * 0.7)))
    d.text((pad, pad // 2), rng.choice(("LIMITED EDITION 180g", "INCLUDES DOWNLOAD CODE", "REMASTERED · 2LP",
                                        "FEAT. THE HIT SINGLE")), font=f, fill=ink + (255,))
    x = pad
    boxes = []
    for b in bars:
        label.paste(Image.new("RGBA", b.size, ink + (255,)), (x, pad + blurb), Image.eval(b, lambda p: 255 - p))
        boxes.append((x, pad + blurb, x + b.width, pad + blurb + b.height))
        x += b.width + gap
    return _handle(spec, label, (boxes[0][0], boxes[0][1], boxes[-1][2], boxes[-1][3]), rng)


def _handle(spec: PhotoSpec, label: Image.Image, bars: tuple[int, int, int, int], rng: random.Random) -> Image.Image:
    """What the hands and the sleeve do to the label: a thumb over an edge of the bars, the cylinder it is
    wrapped around."""
    if spec.thumb:
        _thumb(label, bars, spec.thumb, rng)
    if spec.curve:
        label = _wrap(label, spec.curve, spec.bow)
    return label


def _thumb(label: Image.Image, bars: tuple[int, int, int, int], frac: float, rng: random.Random) -> None:
    """A thumb (skin tone, shaded) pressing on the sleeve from the top or bottom edge of the bars, covering
    ``frac`` of their height over part of their width; the rest of every bar stays in view."""
    x0, y0, x1, y1 = bars
    bw, bh = x1 - x0, y1 - y0
    skin = rng.choice(((224, 172, 138), (198, 134, 96), (141, 85, 60), (236, 200, 170)))
    tw = bw * rng.uniform(0.25, 0.5)
    cx = rng.uniform(x0 + tw / 2, x1 - tw / 2)
    depth = bh * frac
    top = rng.random() < 0.5
    layer = Image.new("RGBA", label.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    for i in range(6, 0, -1):   # shaded: darker at the rim
        k = i / 6
        col = tuple(int(c * (0.75 + 0.25 * (1 - k))) for c in skin) + (255,)
        ex, ey = tw / 2 * k, (depth + bh * 0.6) * k
        cy = (y0 - bh * 0.6) if top else (y1 + bh * 0.6)
        d.ellipse((cx - ex, cy - ey, cx + ex, cy + ey), fill=col)
    label.alpha_composite(layer)


def _wrap(label: Image.Image, arc_deg: float, bow: float) -> Image.Image:
    """``label`` wrapped round a cylinder whose axis runs along the bars, seen from the front: the code spans
    ``arc_deg`` of it, so the bars crowd together towards the edges and darken there; ``bow`` bends the rows
    (the camera a little above or below the axis)."""
    from scipy.ndimage import map_coordinates

    a = np.asarray(label, dtype=np.float32)
    h, w = a.shape[:2]
    half = math.radians(arc_deg) / 2
    radius = (w / 2) / half
    out_w = max(8, int(2 * radius * math.sin(half)))
    margin = int(abs(bow) * h) + 2
    u = (np.arange(out_w, dtype=np.float32) - out_w / 2) / radius         # sin θ
    theta = np.arcsin(np.clip(u, -1, 1))
    src_x = w / 2 + radius * theta
    shade = (0.55 + 0.45 * np.cos(theta)).astype(np.float32)
    dy = bow * h * (1 - np.cos(theta)) / max(1e-6, 1 - math.cos(half))
    rows = np.arange(h + 2 * margin, dtype=np.float32)[:, None] - margin - dy[None, :]
    cols = np.broadcast_to(src_x[None, :], rows.shape)
    out = np.stack([map_coordinates(a[:, :, c], [rows, cols], order=1, mode="constant", cval=0.0)
                    for c in range(4)], axis=2)
    out[:, :, :3] *= shade[None, :, None]
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGBA")


def _damage(label: Image.Image, bars: tuple[int, int, int, int], spec: PhotoSpec, rng: random.Random,
            paper: tuple[int, ...], ink: tuple[int, ...]) -> None:
    """Paint over part of the bars: a marker stroke, a price sticker, or scratches (see ``PhotoSpec.damage``)."""
    d = ImageDraw.Draw(label)
    x0, y0, x1, y1 = bars
    bw, bh = x1 - x0, y1 - y0
    span = max(2, int(bw * spec.damage_frac))
    if spec.damage == "marker":     # a thick stroke across the bars, dark or white-out
        col = rng.choice((ink, paper, (200, 30, 30)))
        sx = rng.randint(x0, max(x0, x1 - span))
        pts = [(sx + span * t / 6 + rng.uniform(-3, 3), y0 + bh * rng.uniform(0.0, 1.0)) for t in range(7)]
        d.line(sorted(pts, key=lambda p: p[0]), fill=col + (255,), width=max(3, int(bh * rng.uniform(0.15, 0.6))))
    elif spec.damage == "sticker":  # a price sticker over part of the code, top or bottom
        sx = rng.randint(x0, max(x0, x1 - span))
        tall = int(bh * rng.uniform(0.4, 1.1))
        sy = y0 - int(bh * 0.1) if rng.random() < 0.5 else y1 - tall
        col = rng.choice(((250, 250, 245), (255, 220, 60), (250, 120, 150)))
        d.rectangle((sx, sy, sx + span, sy + tall), fill=col + (255,))
        f = ImageFont.load_default(size=max(8, tall // 5))
        d.text((sx + 3, sy + tall // 3), f"£{rng.randint(1, 40)}.{rng.randint(0, 99):02d}", font=f,
               fill=(20, 20, 20, 255))
    else:                           # scratches: thin light and dark lines across the bars
        for _ in range(max(1, int(20 * spec.damage_frac))):
            ax, ay = rng.uniform(x0, x1), rng.uniform(y0, y1)
            ang = rng.uniform(-0.6, 0.6)
            ln = bw * rng.uniform(0.1, 0.4)
            col = rng.choice((paper, ink))
            d.line((ax, ay, ax + ln * math.cos(ang), ay + ln * math.sin(ang)), fill=col + (255,),
                   width=max(1, int(spec.module_px * rng.uniform(0.5, 1.5))))


def _place(spec: PhotoSpec, patch: Image.Image, rng: random.Random, frame: Image.Image,
           region: tuple[int, int, int, int]) -> None:
    """Skew, rotate and paste ``patch`` into ``frame`` somewhere inside ``region`` (x0, y0, x1, y1)."""
    w, h = patch.size
    s = spec.skew
    if spec.skew_axis == "x":   # the right edge recedes (shorter)
        quad = [(0, 0), (w * (1 - s / 3), h * s / 2), (w * (1 - s / 3), h * (1 - s / 2)), (0, h)]
    else:                       # the top edge recedes
        quad = [(w * s / 2, 0), (w * (1 - s / 2), 0), (w, h * (1 - s / 3)), (0, h * (1 - s / 3))]
    if rng.random() < 0.5:      # the other side recedes instead
        quad = [(w - x, y) for x, y in quad] if spec.skew_axis == "x" else [(x, h - y) for x, y in quad]
        quad = [quad[1], quad[0], quad[3], quad[2]] if spec.skew_axis == "x" else [quad[3], quad[2], quad[1], quad[0]]
    th = math.radians(spec.rotation)
    cx, cy = w / 2, h / 2
    rot = [(cx + (x - cx) * math.cos(th) + (y - cy) * math.sin(th),
            cy - (x - cx) * math.sin(th) + (y - cy) * math.cos(th)) for x, y in quad]
    xs, ys = [p[0] for p in rot], [p[1] for p in rot]
    bw, bh = math.ceil(max(xs) - min(xs)) + 2, math.ceil(max(ys) - min(ys)) + 2
    dst = [(x - min(xs) + 1, y - min(ys) + 1) for x, y in rot]
    src = [(0, 0), (w, 0), (w, h), (0, h)]
    coeffs = _perspective_coeffs(dst, src)
    warped = patch.transform((bw, bh), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC)
    x0, y0, x1, y1 = region
    px = rng.randint(x0, max(x0, x1 - bw))
    py = rng.randint(y0, max(y0, y1 - bh))
    spec.extra.setdefault("boxes", []).append([px, py, px + bw, py + bh])
    frame.paste(warped, (px, py), warped)


def _sleeve(spec: PhotoSpec, rng: random.Random) -> Image.Image:
    """A sleeve-like background: colour, gradient, shapes, big artist/title text, small print, maybe stripes."""
    W, H = spec.frame
    base = np.array([rng.randint(20, 235) for _ in range(3)], np.float32)
    tint = np.array([rng.randint(20, 235) for _ in range(3)], np.float32)
    t = np.linspace(0, 1, H, dtype=np.float32)[:, None, None]
    grad = (base * (1 - t) + tint * t).astype(np.uint8)            # (H, 1, 3)
    img = Image.fromarray(np.broadcast_to(grad, (H, W, 3)).copy(), "RGB")
    d = ImageDraw.Draw(img)
    for _ in range(rng.randint(4, 12)):
        x0, y0 = rng.randint(-W // 4, W), rng.randint(-H // 4, H)
        x1, y1 = x0 + rng.randint(W // 20, W // 2), y0 + rng.randint(H // 20, H // 2)
        col = tuple(rng.randint(0, 255) for _ in range(3))
        (d.ellipse if rng.random() < 0.5 else d.rectangle)((x0, y0, x1, y1), fill=col)
    if spec.stripes:   # printed artwork with parallel lines: bar-like texture that must not decode
        x0, y0 = rng.randint(0, W // 2), rng.randint(0, H // 2)
        step = rng.randint(3, 14)
        col = tuple(rng.randint(0, 90) for _ in range(3))
        for x in range(x0, min(W, x0 + rng.randint(W // 8, W // 3)), step):
            d.rectangle((x, y0, x + rng.randint(1, step - 1), y0 + rng.randint(H // 10, H // 3)), fill=col)
    big = ImageFont.load_default(size=max(16, H // 12))
    small = ImageFont.load_default(size=max(9, H // 90))
    c0 = spec.codes[0] if spec.codes else None
    ink = tuple(rng.randint(0, 255) for _ in range(3))
    d.text((rng.randint(0, W // 3), rng.randint(0, H // 6)), (c0 and c0.artist or "Various")[:40], font=big, fill=ink)
    d.text((rng.randint(0, W // 3), rng.randint(H // 6, H // 3)), (c0 and c0.title or "Untitled")[:40], font=big,
           fill=ink)
    ink = tuple(rng.randint(0, 255) for _ in range(3))
    y = rng.randint(H // 2, 3 * H // 4)
    x = rng.randint(0, W // 2)
    for _ in range(rng.randint(3, 12)):
        d.text((x, y), " ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 12))), font=small, fill=ink)
        y += int(small.size * 1.4)
    return img


def _finish(spec: PhotoSpec, img: Image.Image, rng: random.Random, nprng: np.random.Generator) -> Image.Image:
    """Lighting, contrast, glare, blur and noise, in the order a camera adds them."""
    W, H = img.size
    a = np.asarray(img, dtype=np.float32)
    if spec.vignette:
        yy = np.linspace(-1, 1, H, dtype=np.float32)[:, None]
        xx = np.linspace(-1, 1, W, dtype=np.float32)[None, :]
        fall = 1 - spec.vignette * (xx * xx + yy * yy) / 2
        a *= fall[:, :, None]
    if spec.contrast < 1:
        mid = rng.uniform(90, 170)
        a = mid + (a - mid) * spec.contrast
    if spec.glare:
        box = rng.choice(spec.extra.get("boxes") or [[0, 0, W, H]])
        gx, gy = rng.uniform(box[0], box[2]), rng.uniform(box[1], box[3])
        rx = max(8.0, (box[2] - box[0]) * rng.uniform(0.15, 0.45))
        ry = max(8.0, rx * rng.uniform(0.3, 0.8))
        x0, x1 = max(0, int(gx - 3 * rx)), min(W, int(gx + 3 * rx))
        y0, y1 = max(0, int(gy - 3 * ry)), min(H, int(gy + 3 * ry))
        yy = (np.arange(y0, y1, dtype=np.float32)[:, None] - gy) / ry
        xx = (np.arange(x0, x1, dtype=np.float32)[None, :] - gx) / rx
        g = spec.glare * np.exp(-(xx * xx + yy * yy) ** 1.5)
        a[y0:y1, x0:x1] = a[y0:y1, x0:x1] * (1 - g[:, :, None]) + 255 * g[:, :, None]
    if spec.specular:   # a hard streak of reflected light across the bars (shrink-wrap under a shop lamp)
        box = rng.choice(spec.extra.get("boxes") or [[0, 0, W, H]])
        gx, gy = rng.uniform(box[0], box[2]), rng.uniform(box[1], box[3])
        ang = math.radians(rng.uniform(-60, 60) + 90)   # mostly across the bars
        width = max(4.0, (box[2] - box[0]) * rng.uniform(0.04, 0.15))
        x0, x1, y0, y1 = int(box[0]), int(box[2]), int(box[1]), int(box[3])
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        dist = (xx - gx) * math.cos(ang) + (yy - gy) * math.sin(ang)
        along = -(xx - gx) * math.sin(ang) + (yy - gy) * math.cos(ang)
        reach = max(box[2] - box[0], box[3] - box[1]) * rng.uniform(0.3, 0.7)
        g = spec.specular * np.exp(-(dist / width) ** 4) * np.exp(-(along / reach) ** 2)
        a[y0:y1, x0:x1] = a[y0:y1, x0:x1] * (1 - g[:, :, None]) + 255 * g[:, :, None]
    img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")
    if spec.blur > 0:
        img = img.filter(ImageFilter.GaussianBlur(radius=spec.blur))
    if spec.motion_px > 0:
        img = _motion_blur(img, spec.motion_px, spec.motion_angle)
    if spec.low_light:   # a dark shop: little light, quantised, noisy; the phone brightens it back up
        a = np.asarray(img, dtype=np.float32) * spec.low_light
        a += nprng.normal(0.0, spec.noise, size=(H, W, 1)).astype(np.float32)
        a = np.round(np.clip(a, 0, 255)) * min(4.0, 0.8 / spec.low_light)
        return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")
    if spec.noise > 0:
        a = np.asarray(img, dtype=np.float32)
        a += nprng.normal(0.0, spec.noise, size=(H, W, 1)).astype(np.float32)          # luminance noise
        a += nprng.normal(0.0, spec.noise / 3, size=(H, W, 3)).astype(np.float32)      # chroma noise
        img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")
    return img


def _motion_blur(img: Image.Image, length: float, angle: float) -> Image.Image:
    """A straight smear ``length`` px long at ``angle`` degrees (the hand moved while the shutter was open)."""
    a = np.asarray(img, dtype=np.float32)
    n = max(2, int(round(length)) + 1)
    t = math.radians(angle)
    acc = np.zeros_like(a)
    for i in range(n):
        f = i / (n - 1) - 0.5
        dx, dy = int(round(f * length * math.cos(t))), int(round(f * length * math.sin(t)))
        acc += np.roll(a, (dy, dx), axis=(0, 1))
    return Image.fromarray(np.clip(acc / n, 0, 255).astype(np.uint8), "RGB")


_EXIF_STORE = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def encode(img: Image.Image, jpeg_quality: int | None, exif_orientation: int = 1) -> tuple[bytes, str]:
    """The file bytes and extension; with an EXIF orientation the pixels are stored turned so a viewer that
    honours the tag shows ``img`` upright (as phones do)."""
    buf = io.BytesIO()
    if exif_orientation != 1:
        img = img.transpose(_EXIF_STORE[exif_orientation])
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        img.save(buf, "JPEG", quality=jpeg_quality or 90, exif=exif.tobytes())
        return buf.getvalue(), "jpg"
    if jpeg_quality is None:
        img.save(buf, "PNG", compress_level=1)
        return buf.getvalue(), "png"
    img.save(buf, "JPEG", quality=jpeg_quality)
    return buf.getvalue(), "jpg"


def render(spec: PhotoSpec) -> tuple[bytes, str]:
    """The encoded photo (bytes, extension) of ``spec``; deterministic for a given spec."""
    rng = random.Random(spec.seed)
    nprng = np.random.default_rng(spec.seed)
    spec.extra["boxes"] = []
    frame = _sleeve(spec, rng)
    W, H = spec.frame
    if len(spec.codes) == 1:
        regions = [(0, 0, W, H)]
    elif W >= H:
        regions = [(0, 0, W // 2, H), (W // 2, 0, W, H)]
    else:
        regions = [(0, 0, W, H // 2), (0, H // 2, W, H)]
    if spec.sticker:   # one sticker holds every code
        regions = [(0, 0, W, H)]
    for code, region in zip(spec.codes, regions):
        patch = _sticker_patch(spec, rng) if spec.sticker else _patch(spec, code, rng)
        # a code too big for its region is drawn smaller (the photographer stepped back)
        rw, rh = region[2] - region[0], region[3] - region[1]
        fit = min(1.0, 0.7 * min(rw, rh) / max(patch.size))
        if fit < 1.0:
            patch = patch.resize((max(8, int(patch.width * fit)), max(8, int(patch.height * fit))),
                                 Image.Resampling.LANCZOS)
            spec.extra["module_px_effective"] = round(spec.module_px * fit, 3)
        _place(spec, patch, rng, frame, region)
    img = _finish(spec, frame, rng, nprng)
    return encode(img, spec.jpeg_quality, spec.exif_orientation)


def write_set(out_dir: Path, n: int = 432, seed: int = 4, log_every: int = 20,
              groups: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """Render ``n`` photos into ``out_dir`` and write ``manifest.json`` there; returns the manifest entries.
    With ``groups``, only the photos of those groups (the same files as in the whole set)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    t0 = time.perf_counter()
    specs = [s for s in build_specs(n, seed) if groups is None or s.group in groups]
    for i, spec in enumerate(specs):
        data, ext = render(spec)
        fname = f"{spec.name}.{ext}"
        (out_dir / fname).write_bytes(data)
        entry = {"file": fname, "bytes": len(data), **spec.manifest()}
        entries.append(entry)
        if log_every and (i + 1) % log_every == 0:
            print(f"  … {i + 1} of {len(specs)} ({time.perf_counter() - t0:.0f} s)", flush=True)
    shown = [g for g in GROUPS if groups is None or g in groups]
    manifest = {"seed": seed, "n": n, "groups": shown, "intact_groups": [g for g in INTACT if g in shown],
                "images": entries}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return entries


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", nargs="?", default=str(DEFAULT_OUT))
    ap.add_argument("--n", type=int, default=432, help="number of photos (dealt over the 24 condition groups)")
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--groups", help="only these groups, comma-separated (the same photos as in the whole set)")
    args = ap.parse_args(argv)
    groups = tuple(args.groups.split(",")) if args.groups else None
    unknown = set(groups or ()) - set(GROUPS)
    if unknown:
        ap.error(f"unknown groups: {', '.join(sorted(unknown))} (known: {', '.join(GROUPS)})")
    codes = real_codes()
    print(f"{len(codes)} distinct real barcodes (dump sample + API fixtures)")
    entries = write_set(Path(args.out_dir), args.n, args.seed, groups=groups)
    print(f"wrote {len(entries)} photos and manifest.json to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
