"""Resource guards shared by the CLI/library readers and the HTTP service.

A 2 MB gzip can inflate to gigabytes; a file without newlines is one endless "line". Both the
service (while an upload arrives) and the readers (while they decompress) count with
:class:`InflateGuard`, and the line readers stop at :attr:`InflateLimits.max_line`, so the
same input is refused the same way whichever door it came through.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from typing import Any

MiB = 1 << 20
GiB = 1 << 30

# Environment variables (the service's settings use the same names).
ENV_MAX_DECOMPRESSED = "VARANNOT_MAX_DECOMPRESSED_BYTES"
ENV_MAX_RATIO = "VARANNOT_MAX_COMPRESSION_RATIO"
ENV_MAX_LINE = "VARANNOT_MAX_LINE_BYTES"


def human(n: int) -> str:
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


@dataclass(frozen=True, slots=True)
class InflateLimits:
    """Decompressed size, compression ratio (past a floor) and line length limits.

    Real VCFs compress 5-30x; a gzip bomb ~1000x. The ratio is only judged past
    ``ratio_floor`` bytes of output so small, very repetitive files still pass. The longest
    line bounds memory: a 100,000-sample VCF line is a few MB.
    """

    max_decompressed: int = 16 * GiB
    max_ratio: float = 200.0
    ratio_floor: int = 64 * MiB
    max_line: int = 256 * MiB

    @classmethod
    def from_env(cls) -> InflateLimits:
        """Defaults, overridden by ``VARANNOT_MAX_{DECOMPRESSED_BYTES,COMPRESSION_RATIO,LINE_BYTES}``."""
        d = cls()
        return cls(
            int(os.environ.get(ENV_MAX_DECOMPRESSED, d.max_decompressed)),
            float(os.environ.get(ENV_MAX_RATIO, d.max_ratio)),
            d.ratio_floor,
            int(os.environ.get(ENV_MAX_LINE, d.max_line)),
        )


class TooLarge(Exception):
    """An input broke an :class:`InflateLimits` limit; the message says which (no file name)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InflateGuard:
    """Counts compressed bytes in and decompressed bytes out; raises :class:`TooLarge`.

    Readers that decompress themselves call :meth:`count`; the service, which only stores an
    upload, calls :meth:`feed` to decompress (multi-member aware, bounded pieces) just to count.
    """

    def __init__(self, limits: InflateLimits):
        self.limits = limits
        self.compressed = 0
        self.out = 0
        self._d: Any = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.broken = False

    def count(self, compressed: int, out: int) -> None:
        self.compressed += compressed
        self.out += out
        self.check()

    def feed(self, data: bytes) -> None:
        """Decompress ``data`` only to count it; corrupt data stops counting silently (the
        reader reports it properly later)."""
        if self.broken:
            return
        self.compressed += len(data)
        try:
            while data:
                chunk = self._d.decompress(data, 4 * MiB)
                self.out += len(chunk)
                self.check()
                if self._d.eof:
                    data = self._d.unused_data
                    self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                else:
                    data = self._d.unconsumed_tail
        except zlib.error:
            self.broken = True

    def check(self) -> None:
        lim = self.limits
        if self.out > lim.max_decompressed:
            raise TooLarge(
                f"decompresses to more than the limit of {lim.max_decompressed} bytes "
                f"({human(lim.max_decompressed)})"
            )
        if self.out > lim.ratio_floor and self.out > lim.max_ratio * max(self.compressed, 1):
            raise TooLarge(
                f"expands more than {lim.max_ratio:g}-fold when decompressed (over "
                f"{human(self.out)} from {human(self.compressed)}): refused as a possible gzip "
                "bomb"
            )


def line_too_long(limits: InflateLimits) -> str:
    """The problem text for a line over ``limits.max_line`` (the caller names the line)."""
    return (
        f"line is longer than the limit of {limits.max_line} bytes ({human(limits.max_line)}; "
        f"set {ENV_MAX_LINE} to raise it): not a VCF line, or a corrupt file"
    )
