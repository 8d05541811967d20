"""Unindexed region prefilter: a byte-level scan of a text VCF that hands htslib only the lines
that may overlap the requested regions.

Without an index every line would otherwise be parsed; here a regex on CHROM/POS (plus INFO/END
and gVCF block ALTs) counts the lines that cannot overlap in bulk and spools the rest to a
temporary file that htslib parses, with the same batch as the record-by-record stream. The
tuning constants (:data:`_SCAN_BLOCK`, :data:`_SCAN_FLUSH`, :data:`_FAST_SCAN`) are module
globals so tests can shrink them or switch the scan off.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from bisect import bisect_right

from ...errors import InputError
from ..limits import InflateGuard, InflateLimits, TooLarge, line_too_long
from . import backends
from .backends import _out_of_step, _stream_line
from .open import _corrupt, _CorruptData, _Input, _LineReader, _text, _text_chunks
from .records import _Builder

_SCAN_READ = _LineReader._CHUNK  # compressed bytes per read (same cuts as the line reader)
_SCAN_BLOCK = 1 << 21  # decompressed text scanned at a time
_SCAN_FLUSH = 1 << 22  # candidate bytes buffered before htslib parses them
_SCAN_MAX_REGIONS = 16  # per contig; beyond, lines on it are checked one by one
_FAST_SCAN = True  # tests switch this off to compare with the record-by-record stream
_GVCF_ALTS = frozenset({b".", b"<NON_REF>", b"<*>", b"<X>"})
_END_ANY = re.compile(rb"END=(\d+)")  # finds accept()'s INFO/END among others


def _digits(lo: str, hi: str) -> list[str]:
    """Regex alternatives for the digit strings of one length from ``lo`` to ``hi``."""
    if lo == hi:
        return [lo]
    if lo[0] == hi[0]:
        return [lo[0] + t for t in _digits(lo[1:], hi[1:])]
    n = len(lo) - 1
    first, last = int(lo[0]), int(hi[0])
    out = []
    if lo[1:] != "0" * n:
        out += [lo[0] + t for t in _digits(lo[1:], "9" * n)]
        first += 1
    top = hi[1:] == "9" * n
    if not top:
        last -= 1
    if first <= last:
        out.append(f"[{first}-{last}]" + r"\d" * n)
    if not top:
        out += [hi[0] + t for t in _digits("0" * n, hi[1:])]
    return out


def _pos_pattern(ranges: list[tuple[int, int]]) -> bytes:
    """A regex for the decimal numbers (no leading zeros) inside any of the ``ranges``."""
    alts: list[str] = []
    for lo, hi in ranges:
        for d in range(len(str(lo)), len(str(hi)) + 1):
            first, last = max(lo, 10 ** (d - 1) if d > 1 else 0), min(hi, 10**d - 1)
            if first <= last:
                alts += _digits(str(first), str(last))
    return "|".join(alts).encode()


class _RegionScan:
    """One pass over an unindexed text VCF keeping only records that overlap the regions.

    The text is decompressed in large blocks. Per run of lines naming one contig, a regex
    finds where the run ends and which lines are odd (malformed, blank, gVCF markers that
    switch coverage on); newlines are counted with ``bytes.count``. On a contig outside the
    regions nothing else is looked at; on a wanted contig two more regexes pick the lines whose
    POS or END may reach a region. Odd and possibly-overlapping lines ("candidates") are parsed
    by htslib in batches and then go through exactly the record-by-record stream
    (:func:`_stream_line`); the lines between them are counted as outside, in order, so
    ``records_read``, skips, coverage state and ``line N`` labels are what that stream gives.
    Memory stays bounded by the block size and the candidate buffer.
    """

    def __init__(self, b: _Builder, src: _Input, n_header: int, tmpdir: str):
        self.b = b
        self.src = src
        self.n_header = n_header
        self.tmp = os.path.join(tmpdir, "candidates.vcf")
        self.keys: dict[bytes, tuple[list[int], list[int]] | None] = {}
        self.near: dict[tuple[bytes, int], tuple[re.Pattern[bytes], re.Pattern[bytes]]] = {}
        self.flags: dict[tuple[bytes, bool], re.Pattern[bytes]] = {}
        self.check_alt = b.n_samples > 0 and not b.gvcf
        self.events: list[tuple[int, bytes]] = []
        self.pending = 0
        self.lineno = 0  # lines before the current block's first line
        self.done = 0  # last line accounted for in the batch
        self.header = b""
        self.tags: dict[str, bytes] = {}

    # -- driving ---------------------------------------------------------------------------------
    def run(self) -> None:
        limits = InflateLimits.from_env()
        with open(self.src.path, "rb") as fh:
            chunks = _text_chunks(
                fh, self.src.compression != "none", _SCAN_READ, InflateGuard(limits)
            )
            buf = b""
            pieces: list[bytes] = []
            size = 0
            try:
                for chunk in chunks:
                    pieces.append(chunk)
                    size += len(chunk)
                    if size < _SCAN_BLOCK:
                        continue
                    buf = self._feed(buf + b"".join(pieces))
                    pieces, size = [], 0
                    if len(buf) > limits.max_line + 1:  # buf starts with the newline before
                        raise self._error(line_too_long(limits), buf)
            except _CorruptData as exc:
                complete = self.lineno + sum(p.count(b"\n") for p in pieces)
                complete += buf.count(b"\n", 1) if self.header else buf.count(b"\n")
                raise _corrupt(self.src, complete, str(exc)) from exc
            except TooLarge as exc:
                raise self._error(exc.message, buf) from None
            buf = self._feed(buf + b"".join(pieces))
            if len(buf) > limits.max_line + 1:
                raise self._error(line_too_long(limits), buf)
            if self.header and len(buf) > 1:  # a last line without a newline
                self._block(buf, 0, len(buf))
        self._flush()
        gap = self.lineno - self.done
        self.b.batch.records_read += gap
        self.b.batch.records_outside_genes += gap

    def _error(self, problem: str, buf: bytes) -> InputError:
        """An error for the first line not yet complete (``buf`` holds its start)."""
        n = self.lineno + (0 if self.header else buf.count(b"\n")) + 1
        return InputError(problem, source=self.src.display, record=f"line {n}")

    def _feed(self, buf: bytes) -> bytes:
        """Scan the complete lines of ``buf``; return the rest (starting at its last newline)."""
        if not self.header:
            # skip the header (already parsed) but keep its bytes for htslib
            p, n = -1, 0
            while n < self.n_header:
                p = buf.find(b"\n", p + 1)
                if p < 0:
                    return buf
                n += 1
            self.header = buf[: p + 1]
            self.lineno = self.n_header
            self.done = self.n_header
            buf = buf[p:]
        cut = buf.rfind(b"\n")
        if cut > 0:
            self._block(buf, 0, cut)
            buf = buf[cut:]
        return buf

    def _block(self, buf: bytes, a: int, end: int) -> None:
        """The lines of ``buf[a + 1 : end]`` (``buf[a]`` is the newline before the first)."""
        while a < end:
            e1 = buf.find(b"\n", a + 1, end)
            if e1 < 0:
                e1 = end
            t = buf.find(b"\t", a + 1, e1)
            if t < 0:  # no tab at all: blank or garbage, a line on its own
                self.lineno += 1
                self._candidate(self.lineno, buf[a + 1 : e1])
                a = e1
                continue
            a = self._contig(buf, a, end, buf[a : t + 1])

    def _flag(self, key: bytes, alt: bool) -> re.Pattern[bytes]:
        """Finds the next line that is not a well-formed record on ``key``'s contig."""
        rx = self.flags.get((key, alt))
        if rx is None:
            cols = (
                rb"[^\t\n]*+\t[^\t\n]*+\t(?![.<])(?:[^\t\n]*+\t){3}"
                if alt
                else rb"(?:[^\t\n]*+\t){5}"
            )
            # POS must be 1..contig length to be well formed (0, leading zeros, a sign or a
            # POS past the stated length make the line a candidate that accept() judges)
            clen = self.b.contig_len.get(key[1:-1].decode("utf-8", "replace"))
            past = b""
            if clen is not None:
                d = len(str(clen))
                past = b"(?!(?:" + _pos_pattern([(clen + 1, 10**d - 1)]) + b")\t)"
                past += b"(?!\\d{%d,}\t)" % (d + 1)
            rx = self.flags[key, alt] = re.compile(
                b"\n(?!" + re.escape(key[1:]) + past + rb"[1-9]\d*+\t" + cols + b")"
            )
        return rx

    def _contig(self, buf: bytes, a: int, end: int, key: bytes) -> int:
        """Lines from ``a`` on while they name ``key``'s contig; returns where the run ends.

        A regex finds the next line that is on another contig or needs a closer look: too few
        columns, a POS that is not all digits, or (while a gVCF marker could still switch
        coverage on) an ALT starting with '.' or '<'. Lines before it are well formed.
        """
        try:
            regs = self.keys[key]
        except KeyError:
            regs = self.keys[key] = self.b._regs(key[1:-1].decode("utf-8", "replace"))
        while True:
            self.check_alt = self.check_alt and not self.b.gvcf
            m = self._flag(key, self.check_alt).search(buf, a, end)
            q = end if m is None else m.start()
            if q > a:
                if regs is not None:
                    self._near(buf, a, q, key, regs)
                self.lineno += buf.count(b"\n", a, q)
            if q == end or not buf.startswith(key, q):
                return q
            e = buf.find(b"\n", q + 1, end)
            if e < 0:
                e = end
            raw = buf[q + 1 : e]
            self.lineno += 1
            self._candidate(self.lineno, raw)
            if (
                regs is None
                and self.check_alt
                and self._flag(key, False).match(buf, q, end) is None
                and raw.split(b"\t", 5)[4] in _GVCF_ALTS
            ):
                # outside and certain to switch gVCF coverage on (whether htslib parses it or
                # not): later markers change nothing
                self.check_alt = False
            a = e

    def _near_lines(
        self,
        buf: bytes,
        a: int,
        stop: int,
        key: bytes,
        regs: tuple[list[int], list[int]],
        width: int,
    ) -> set[int]:
        """Starts (the newline before) of the lines in ``buf[a:stop]`` that may overlap."""
        pats = self.near.get((key, width))
        if pats is None:
            starts, ends = regs
            lead = re.escape(key) + b"0*(?:"
            near = [(max(st - width, 0), en) for st, en in zip(starts, ends, strict=True)]
            # END reaching region j from a POS after region j-1 (ends ascend with the starts)
            far, prev = [], 0
            for st, en in zip(starts, ends, strict=True):
                ge = _pos_pattern([(st, 10 ** len(str(st)) - 1)])
                ge += b"|[1-9]\\d{%d,}" % len(str(st))
                far.append(
                    b"(?:" + _pos_pattern([(prev, en)]) + b")\t[^\n]*?END=0*(?:" + ge + b")(?!\\d)"
                )
                prev = en + 1
            pats = self.near[key, width] = (
                re.compile(lead + _pos_pattern(near) + b")\t"),
                re.compile(lead + b"|".join(far) + b")"),
            )
        check = {m.start() for m in pats[0].finditer(buf, a, stop)}
        if buf.find(b"END=", a, stop) >= 0:
            check.update(m.start() for m in pats[1].finditer(buf, a, stop))
        return check

    def _near(
        self, buf: bytes, a: int, stop: int, key: bytes, regs: tuple[list[int], list[int]]
    ) -> None:
        """Well-formed lines ``buf[a + 1 : stop]`` on a wanted contig: keep those that may overlap.

        The record stream keeps a record only if htslib *and* :meth:`_Builder.accept` place it
        inside; any other well-formed, unflagged line is counted as outside (the only difference
        between the two verdicts, the gVCF switch, is for ALTs starting with '.' or '<', which
        are flagged while it matters). So it is enough to keep every line ``accept`` may place
        inside, whatever htslib makes of SVLEN or FORMAT/LEN: its end is POS + len(REF) - 1 or
        INFO/END, so a line can only overlap if its POS is within a line's length of a region
        or an END= value reaches one. Regexes find those lines; each is then checked exactly.
        """
        starts, ends = regs
        if len(starts) > _SCAN_MAX_REGIONS:  # regexes would be too long: look at every line
            check = {a}
            at = buf.find(b"\n", a + 1, stop)
            while at >= 0:
                check.add(at)
                at = buf.find(b"\n", at + 1, stop)
        else:
            width = max(map(len, buf[a + 1 : stop].split(b"\n")))
            check = self._near_lines(buf, a, stop, key, regs, 1 << width.bit_length())
        k = len(key) - 1
        at, ln = a, self.lineno + 1
        for q in sorted(check):
            ln += buf.count(b"\n", at, q)
            at = q
            e = buf.find(b"\n", q + 1, stop)
            line = buf[q + 1 : e if e >= 0 else stop]
            pos = int(line[k : line.find(b"\t", k)])
            hi = pos + len(line)  # REF is shorter than the line
            if b"END=" in line:
                hi = max(hi, *map(int, _END_ANY.findall(line)))
            j = bisect_right(starts, hi) - 1
            if j < 0 or ends[j] < pos:
                continue  # accept() would count it as outside
            self._candidate(ln, line)

    # -- candidates ------------------------------------------------------------------------------
    def _candidate(self, lineno: int, raw: bytes) -> None:
        self.events.append((lineno, raw))
        self.pending += len(raw) + 64
        if self.pending >= _SCAN_FLUSH:
            self._flush()

    def _flush(self) -> None:
        events, self.events, self.pending = self.events, [], 0
        if not events:
            return
        parsed = [(n, raw) for n, raw in events if _text(raw).strip()]
        with open(self.tmp, "wb") as out:
            out.write(self.header)
            out.writelines(raw + b"\n" for _, raw in parsed)
        batch = self.b.batch
        vf = backends._pysam().VariantFile(self.tmp)
        try:
            for lineno, raw in events:
                gap = lineno - self.done - 1
                batch.records_read += gap
                batch.records_outside_genes += gap
                self.done = lineno
                if not _text(raw).strip():
                    continue  # blank: not a record
                err: Exception | None = None
                rec = None
                try:
                    rec = next(vf)
                except StopIteration:
                    raise _out_of_step(self.src, lineno) from None
                except (OSError, ValueError) as exc:
                    err = exc
                _stream_line(self.b, self.src, rec, err, raw, lineno, True, self.tags)
        finally:
            vf.close()


def _run_region_scan(b: _Builder, src: _Input, n_header: int) -> None:
    tmpdir = tempfile.mkdtemp(prefix="varannot-scan-")
    try:
        _RegionScan(b, src, n_header, tmpdir).run()
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
