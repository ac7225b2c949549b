"""Barcode photos: read the EAN/UPC barcode(s) off a phone photo of a sleeve and find the pressing on Discogs.

Reading (:func:`decode_photo`):

1. **Guard and load.** The bytes must be an image (JPEG, PNG, WebP, …) of at most ``photo.max_bytes`` bytes and
   ``photo.max_pixels`` pixels (default PIL's own ``Image.MAX_IMAGE_PIXELS``): decompression bombs, text files and
   truncated files are refused with a :class:`PhotoError` whose ``user_message`` says what to do. A photo over the
   pixel budget (``photo.pixel_budget``, default 40 MP) is downscaled while it is read (JPEG: decoded straight to
   grey at a reduced scale). The EXIF orientation is applied (``ImageOps.exif_transpose``).
2. **Cascade.** Cheap views first, fallbacks only when nothing has been read yet; a strategy that confirms a code
   ends the search (every code it confirmed is returned, so a photo with several barcodes reports all of them):

   ``plain`` (the grey photo, zxing-cpp's local-average binarizer, 0°/90°; most photos end here) → then, in two
   lanes side by side (zxing-cpp releases the GIL, so two cores are used; the first lane to confirm a code
   stops the other): ``binarizers`` (global histogram; fixed threshold after ``autocontrast``) → ``pyramid``
   (½ and ¼ scale, which also averages sensor noise away; ×2 for small photos) → ``rotations`` (the photo turned
   30° and 60°) → ``enhance`` (``autocontrast`` + ``UnsharpMask``), and ``regions`` (bar-like regions found
   from the gradient structure tensor are cut out at full resolution along their own axis — de-rotation and
   de-skew in one affine resampling — and read as they are, squashed along the bars against noise, halved or
   doubled, sharpened) → ``tiles`` (overlapping tiles, each with its own threshold; enlarged ×2 in photos up
   to 3 MP: a small code in a large photo). ``photo.threads: 1`` runs all of it in one thread.
3. **Never a misread.** zxing-cpp checks the EAN/UPC check digit itself, and so does :func:`_canonical`. On top
   of that, every reading is filed under the spot of the photo it came from with the
   *family* of the view that read it (how its pixels were sampled: scale, angle, squash; another binarizer on
   the same pixels is the same family), and every spot is re-read from a crop along the bars' own direction
   (squashed, halved or doubled, other binarizers, top and bottom strips). A code is returned only when two
   independent families read it and it leads any other reading of that spot by two; an EAN-8/UPC-E needs
   three, and loses to any EAN-13/UPC-A read over it (the left half of an EAN-13 can pass for a UPC-E).
   A damaged code gives the right code or nothing.

:func:`decode_photo_async` runs the same work in a worker thread (``asyncio.to_thread``) for the chat adapters;
:func:`find_pressings` maps each code to the candidate pressings through ``DiscogsGateway.search_barcode``.

Modules: ``loading`` (guards), ``views`` (views and looks: CLAHE, rectification), ``reader`` (votes and
re-reads), ``strategies`` (the cascade), ``decode``, ``ocr`` (the printed digits), ``lookup`` (typed codes, Discogs).
"""
from __future__ import annotations

from core.barcode.decode import decode_image, decode_photo, decode_photo_async, warm
from core.barcode.loading import DAMAGED, NO_BARCODE_HINT, NOT_AN_IMAGE, PhotoError, PhotoLimits, load_photo
from core.barcode.lookup import CodeMatches, PhotoLookup, find_pressings, find_pressings_async, lookup_codes, typed_code
from core.barcode.reader import DecodeResult, FoundCode

__all__ = ["NO_BARCODE_HINT", "NOT_AN_IMAGE", "DAMAGED", "PhotoError", "PhotoLimits", "load_photo", "FoundCode",
           "DecodeResult", "decode_image", "decode_photo", "decode_photo_async", "CodeMatches", "PhotoLookup",
           "typed_code", "lookup_codes", "find_pressings", "find_pressings_async", "warm"]
