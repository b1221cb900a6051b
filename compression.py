"""Compressed responses when gunicorn serves readers itself: Brotli, else gzip, as the reader's Accept-Encoding asks.

Pages, feeds, JSON and the stylesheet and scripts from /static are compressed above ``MIN_SIZE`` bytes; images,
fonts (WOFF2 is compressed already), streamed responses and anything with a ``Content-Encoding`` are sent as they
are. A page the page cache is about to store is left whole here: pageserver.py compresses it once, when it stores
it, and serves the stored encodings (:func:`encode_for_store`). Brotli's ``brotli`` package, gzip from the standard
library: both are C code, and doing it here rather than in Flask-Compress lets the cache keep the encoded bytes.
A returning commenter's copy of a cached page is gzip spliced from the shared page's pieces, compressed once
(:func:`splice_gzip`), with their own bytes between.

Behind nginx (docs/deploy/nginx.conf) nothing is done twice: nginx's gzip leaves a response with a
``Content-Encoding`` alone, and its micro-cache keeps one copy per encoding.
"""

from __future__ import annotations

import functools
import gzip
import struct
import time
import zlib
from array import array
from collections.abc import Callable
from collections.abc import Container
from collections.abc import Hashable
from collections.abc import Sequence
from dataclasses import dataclass

import brotli
from flask import Flask
from flask import Response
from flask import request

MIN_SIZE = 512  # below this, as nginx's gzip_min_length, the headers outweigh what compression saves
BROTLI_QUALITY = 5  # a page in ~0.2 ms, within 5% of quality 9's size; 11 takes 40 ms for a feed
GZIP_LEVEL = 6
# A reader's own copy of a cached page (a returning commenter's) comes in gzip when they accept it, spliced from
# the shared page's pieces compressed once (splice_gzip). A copy that cannot be spliced (one showing a section,
# or Brotli alone accepted) is compressed for them on every request: faster settings, for a tenth more bytes (the
# 50-comment post page: about a third of the time at quality 5).
ONE_READER = {"br": 2, "gzip": 1}
SPLICED_LEVEL = 9  # a page's shared pieces, compressed once by each worker for every returning reader's gzip copy
ENCODINGS = ("br", "gzip")  # preferred first, when the reader weighs them the same
COMPRESSIBLE_TYPES = frozenset(
    {
        "application/atom+xml",
        "application/javascript",
        "application/json",
        "application/manifest+json",
        "application/rss+xml",
        "application/xml",
        "image/svg+xml",
        "text/css",
        "text/html",
        "text/javascript",
        "text/plain",
        "text/xml",
    }
)
MAX_HEADER = 1000  # longer Accept-Encoding headers are not read: identity


def init_app(app: Flask, *, later: str) -> None:
    """Compress Flask's responses, except those whose WSGI environ holds ``later`` (the page cache does them).

    Register it before the handlers that read or change the body (Flask calls them in reverse order).
    """
    app.after_request(functools.partial(compress_response, later=later))


def compress_response(response: Response, *, later: str = "") -> Response:
    """Compress ``response`` in the encoding its request accepts, when its type and size are worth it."""
    if response.mimetype not in COMPRESSIBLE_TYPES or "Content-Encoding" in response.headers:
        return response
    response.vary.add("Accept-Encoding")
    streamed = response.is_streamed and not response.direct_passthrough  # passed through: a file from /static
    if response.status_code != 200 or streamed or (later and later in request.environ):
        return response
    encoding = choose_encoding(request.headers.get("Accept-Encoding"))
    if encoding is None or request.method == "HEAD":
        return response
    response.direct_passthrough = False
    body = response.get_data()
    if len(body) < MIN_SIZE:
        return response
    response.set_data(encode(body, encoding))
    response.headers["Content-Encoding"] = encoding
    response.headers.pop("Accept-Ranges", None)  # byte ranges would count the identity bytes
    etag, is_weak = response.get_etag()
    if etag is not None and not is_weak:
        response.set_etag(etag, weak=True)  # the same content, in other bytes
    return response


@functools.lru_cache(maxsize=256)
def choose_encoding(header: str | None) -> str | None:
    """Return the encoding to send for an ``Accept-Encoding`` header: ``br``, ``gzip``, or ``None`` for identity.

    The highest q-value wins, Brotli on a tie; ``*`` counts for an encoding not named, and q=0 refuses one. A
    malformed item is skipped, so a malformed header gets identity, which is always acceptable.
    """
    weights = _weights(header)
    best = max(ENCODINGS, key=lambda encoding: weights[encoding])
    return best if weights[best] > 0 else None


def choose_for_one_reader(header: str | None, offered: Container[str]) -> str | None:
    """The encoding of a copy of a page made for one reader, among those ``offered``: gzip whenever accepted, even
    where Brotli is preferred (spliceable, and cheaper to compress), else Brotli, else ``None`` (identity)."""
    weights = _weights(header)
    return next((encoding for encoding in ("gzip", "br") if encoding in offered and weights[encoding] > 0), None)


@functools.lru_cache(maxsize=256)
def _weights(header: str | None) -> dict[str, float]:
    """The q-value an ``Accept-Encoding`` header gives each of ``ENCODINGS`` (0: refused, or not named)."""
    if not header or len(header) > MAX_HEADER:
        return dict.fromkeys(ENCODINGS, 0.0)
    weights: dict[str, float] = {}
    for item in header.split(","):
        name, _, parameters = item.partition(";")
        weight = _weight(parameters)
        if weight is not None:
            weights[name.strip().lower()] = weight
    weights.setdefault("gzip", weights.get("x-gzip", weights.get("*", 0.0)))
    weights.setdefault("br", weights.get("*", 0.0))
    return weights


def _weight(parameters: str) -> float | None:
    """The q-value of one Accept-Encoding item (1 when not given), or ``None`` when it is malformed."""
    if not parameters.strip():
        return 1.0
    name, _, value = parameters.partition("=")
    if name.strip().lower() != "q":
        return None
    try:
        weight = float(value.strip())
    except ValueError:
        return None
    return weight if 0.0 <= weight <= 1.0 else None


def encode(body: bytes, encoding: str, *, for_one_reader: bool = False) -> bytes:
    """Compress ``body`` as ``encoding`` (``br`` or ``gzip``); faster and a little larger ``for_one_reader``."""
    if encoding == "br":
        return brotli.compress(body, quality=ONE_READER["br"] if for_one_reader else BROTLI_QUALITY)
    return gzip.compress(body, ONE_READER["gzip"] if for_one_reader else GZIP_LEVEL, mtime=0)


def encode_for_store(body: bytes, headers: list[tuple[str, str]], *, has_tokens: bool) -> dict[str, bytes | None]:
    """Return a page to be stored in every encoding worth sending instead (none when it is small, or not text).

    A page with per-reader tokens differs for every reader: its encodings are ``None``, compressed when served.
    """
    fields = {name.lower(): value for name, value in headers}
    mimetype = fields.get("content-type", "").partition(";")[0].strip().lower()
    if len(body) < MIN_SIZE or mimetype not in COMPRESSIBLE_TYPES or "content-encoding" in fields:
        return {}
    return {encoding: None if has_tokens else encode(body, encoding) for encoding in ENCODINGS}


def encode_for_reader(
    body: bytes, headers: list[tuple[str, str]], encoded: dict[str, bytes | None], accept_encoding: str | None
) -> tuple[bytes, list[tuple[str, str]]]:
    """Return a page just stored, and its headers, in the encoding this reader accepts among ``encoded``."""
    encoding = choose_encoding(accept_encoding)
    if encoding not in encoded:
        return body, headers
    body = encoded[encoding] or encode(body, encoding)
    headers = [(name, value) for name, value in headers if name.lower() != "content-length"]
    return body, [*headers, ("Content-Encoding", encoding), ("Content-Length", str(len(body)))]


class EncodedOncePerSecond:
    """Compressed pages with per-reader tokens, kept for the second their tokens are issued in.

    Every reader in one second gets the same tokens (pageserver.py signs them once a second), so each worker
    compresses such a page at most once a second per encoding, however many readers ask for it. Only this
    second's pages are kept: an earlier second's are never sent again, and a crawler reading thousands of pages
    would otherwise leave each worker holding up to ``limit`` of them (4 to 6 KB each).
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._known: dict[Hashable, bytes] = {}
        self._second = 0
        self._limit = limit

    def get(self, key: tuple[Hashable, ...], render: Callable[[], bytes]) -> bytes:
        """Return the page ``key`` (whose last item is the encoding) of this second, rendering it when new."""
        second = int(time.time())
        if second != self._second or len(self._known) >= self._limit:
            self._known.clear()
            self._second = second
        known = self._known.get(key)
        if known is None:
            known = self._known[key] = encode(render(), key[-1])
        return known


# gzip spliced for one reader: a page everyone shares with a few bytes of theirs between its pieces. Deflate's
# blocks can be laid end to end: each shared piece is compressed once, alone (no back-reference reaches outside
# it) and ended on a byte boundary; a reader's bytes go between them as stored blocks; the gzip trailer's CRC-32
# is carried from piece to piece. The reader's copy then costs about what its plain bytes do.

GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, no time, any system
LAST_BLOCK = b"\x03\x00"  # an empty final block (fixed codes: the end-of-block code alone)
STORED_BLOCK = struct.Struct("<BHH")  # a stored block on a byte boundary: not final, its length, its complement
MAX_STORED = 0xFFFF
TRAILER = struct.Struct("<II")  # CRC-32, length mod 2**32
CARRY_BYTES = 4 * 256 * 4  # a piece's tables that carry a CRC-32 past it (_crc_carry)


@dataclass(frozen=True)
class GzipPieces:
    """The pieces of a page shared by every reader, each compressed once as a run of deflate blocks, with what
    the trailer needs of each: its CRC-32, its length, and for every piece but the first, tables that carry a
    CRC-32 of what came before past it (zlib's ``crc32_combine``, which Python's zlib lacks)."""

    deflated: tuple[bytes, ...]
    crcs: tuple[int, ...]
    size: int
    carries: tuple[tuple[array, array, array, array], ...]


def gzip_pieces(pieces: Sequence[bytes], level: int = SPLICED_LEVEL) -> GzipPieces:
    """Compress the shared ``pieces`` of a page once, for :func:`splice_gzip` to put readers' bytes between."""
    deflated = []
    for piece in pieces:
        compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)  # raw deflate, a history of its own
        deflated.append(compressor.compress(piece) + compressor.flush(zlib.Z_SYNC_FLUSH))
    return GzipPieces(
        tuple(deflated),
        tuple(zlib.crc32(piece) for piece in pieces),
        sum(map(len, pieces)),
        tuple(_crc_carry(len(piece)) for piece in pieces[1:]),
    )


def splice_gzip(pieces: GzipPieces, gaps: Sequence[bytes]) -> bytes:
    """A gzip body of ``pieces`` with one of ``gaps`` (a reader's own bytes, small) between each two."""
    parts = [GZIP_HEADER, pieces.deflated[0]]
    crc, size = pieces.crcs[0], pieces.size
    for gap, deflated, piece_crc, carry in zip(gaps, pieces.deflated[1:], pieces.crcs[1:], pieces.carries, strict=True):
        if gap:
            parts += _stored_blocks(gap)
            crc = zlib.crc32(gap, crc)
            size += len(gap)
        byte0, byte1, byte2, byte3 = carry
        crc = byte0[crc & 255] ^ byte1[crc >> 8 & 255] ^ byte2[crc >> 16 & 255] ^ byte3[crc >> 24] ^ piece_crc
        parts.append(deflated)
    parts += (LAST_BLOCK, TRAILER.pack(crc, size & 0xFFFFFFFF))
    return b"".join(parts)


def _stored_blocks(data: bytes) -> list[bytes]:
    """``data`` as stored blocks of at most ``MAX_STORED`` bytes each."""
    parts = []
    for start in range(0, len(data), MAX_STORED):
        block = data[start : start + MAX_STORED]
        parts += (STORED_BLOCK.pack(0, len(block), len(block) ^ MAX_STORED), block)
    return parts


def _crc_carry(length: int) -> tuple[array, array, array, array]:
    """Tables, by each byte of a CRC-32, that carry it past ``length`` more bytes: the CRC-32 of ``a + b`` is the
    carried CRC-32 of ``a`` XOR that of ``b``. Carrying is linear, so each table is built from the carry of its
    eight bits, and the carry of one bit is zlib's CRC-32 of ``length`` zeros from it (less the inversions)."""
    zeros = bytes(length)
    bits = [zlib.crc32(zeros, (1 << bit) ^ 0xFFFFFFFF) ^ 0xFFFFFFFF for bit in range(32)]
    tables = []
    for byte in range(4):
        table = array("I", bytes(4 * 256))
        for value in range(1, 256):
            lowest = value & -value
            table[value] = table[value ^ lowest] ^ bits[8 * byte + lowest.bit_length() - 1]
        tables.append(table)
    return tables[0], tables[1], tables[2], tables[3]
