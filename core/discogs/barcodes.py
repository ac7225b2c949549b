"""Barcode normalisation and validation: EAN-13, UPC-A, EAN-8, UPC-E."""
from __future__ import annotations

import re

_NON_DIGITS = re.compile(r"\D")


def digits(raw: str) -> str:
    return _NON_DIGITS.sub("", raw or "")


def gs1_check_digit(body: str) -> int:
    """GS1 mod-10 check digit for the digits before it (EAN-8/12/13/14, UPC-A)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        total += int(ch) * (3 if i % 2 == 0 else 1)
    return (10 - total % 10) % 10


def is_valid_gs1(code: str) -> bool:
    return code.isdigit() and len(code) in (8, 12, 13, 14) and gs1_check_digit(code[:-1]) == int(code[-1])


def upce_to_upca(code: str) -> str | None:
    """Expand an 8-digit UPC-E (number system 0/1 + 6 digits + check) to UPC-A."""
    if len(code) != 8 or code[0] not in "01":
        return None
    ns, d, check = code[0], code[1:7], code[7]
    last = d[5]
    if last in "012":
        body = f"{ns}{d[0]}{d[1]}{last}0000{d[2]}{d[3]}{d[4]}"
    elif last == "3":
        body = f"{ns}{d[0]}{d[1]}{d[2]}00000{d[3]}{d[4]}"
    elif last == "4":
        body = f"{ns}{d[0]}{d[1]}{d[2]}{d[3]}00000{d[4]}"
    else:
        body = f"{ns}{d[0]}{d[1]}{d[2]}{d[3]}{d[4]}0000{last}"
    upca = body + check
    return upca if is_valid_gs1(upca) else None


def normalise_barcode(raw: str) -> str | None:
    """The canonical form of a scanned or typed barcode, or None when it is not a valid one.

    Spaces and dashes are dropped; a UPC-A is returned as its 12 digits; a 13-digit code starting with 0 is
    the same product as the UPC-A without it and is returned as that UPC-A; UPC-E is expanded; EAN-8 and
    EAN-13 are kept. The check digit must be right.
    """
    d = digits(raw)
    if len(d) == 14 and d.startswith("0"):   # GTIN-14 with a leading zero
        d = d[1:]
    if len(d) == 13 and d.startswith("0") and is_valid_gs1(d):
        return d[1:]
    if len(d) in (12, 13) and is_valid_gs1(d):
        return d
    if len(d) == 8:
        if is_valid_gs1(d):
            return d
        return upce_to_upca(d)
    if len(d) == 11:   # UPC-A with its leading zero dropped by a careless typist
        cand = "0" + d
        if is_valid_gs1(cand):
            return cand
    return None


def search_forms(code: str) -> list[str]:
    """Every form under which Discogs may have stored this barcode (UPC-A and its EAN-13 twin)."""
    forms = [code]
    if len(code) == 12:
        forms.append("0" + code)
    elif len(code) == 13 and code.startswith("0"):
        forms.append(code[1:])
    return forms


def same_barcode(a: str, b: str) -> bool:
    """True when two stored/scanned barcodes denote the same code (ignoring spaces, dashes, leading zeros)."""
    na, nb = normalise_barcode(a), normalise_barcode(b)
    if na and nb:
        return na == nb
    da, db = digits(a).lstrip("0"), digits(b).lstrip("0")
    return bool(da) and da == db


_TYPED = re.compile(r"^\s*(?P<label>(?:ean|upc|barcode|code)[\s:#-]*)?(?P<digits>\d[\d \-–.]*\d)\s*$", re.IGNORECASE)


def typed_barcode(text: str) -> tuple[str, str] | None:
    """(canonical code, the digits as typed) when the whole message is a typed barcode, else None.

    "0 75720 00325 9", "5000213-101025", "EAN 4006381333931" and UPC-E "01264904" are barcodes; the check digit
    must be right. Twelve and thirteen digits are always a barcode (no Discogs id is that long). Eight digits
    are a barcode only when they could not be a release id: written in groups ("9638 5074") or with a leading
    zero ("01264904"); a plain "96385074" stays a release id.
    """
    m = _TYPED.match(text or "")
    if not m:
        return None
    raw = m.group("digits")
    d = digits(raw)
    if len(d) not in (8, 12, 13):
        return None
    if len(d) == 8 and raw.isdigit() and not d.startswith("0") and not m.group("label"):
        return None
    code = normalise_barcode(d)
    return (code, d) if code else None
