"""Opening a VCF/BCF: sniffing the container, stdin spooling, line-numbered text and the header.

Everything before the first record lives here: which compression and format a path really has
(the name is not trusted), a line reader that numbers lines exactly as error messages cite them
and turns cut or corrupt compressed data into an :class:`InputError`, and the parsed header with
its build evidence. Both backends and the region scan start from these, so a file is sniffed and
its header judged one way only. :class:`Region` is here because every later stage takes it.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ...errors import InputError
from ...genome import CHROM_LENGTHS, accession_build, bare_chrom
from ...genome import detect_build as _detect_build
from ...models import Build
from ..limits import InflateGuard, InflateLimits, TooLarge, line_too_long


@dataclass(frozen=True)
class Region:
    """A genomic window to keep (canonical ``chr17``; 1-based, inclusive)."""

    chrom: str
    start: int
    end: int

    def __post_init__(self) -> None:
        if self.start < 1 or self.end < self.start:
            raise ValueError(f"invalid region {self.chrom}:{self.start}-{self.end}")


# --------------------------------------------------------------------------------------------
# Input: sniffing, stdin spooling, line-numbered text reading
# --------------------------------------------------------------------------------------------


@dataclass
class _Input:
    display: str  # what messages call the file ('<stdin>' for '-')
    path: str  # a real file (a temporary copy for stdin)
    compression: Literal["none", "bgzf", "gzip"]
    is_bcf: bool
    stem: str  # pseudo-sample name for sites-only files


def _stem(name: str) -> str:
    base = Path(name).name
    for ext in (".gz", ".bgz", ".bgzf"):
        if base.endswith(ext):
            base = base[: -len(ext)]
            break
    for ext in (".vcf", ".bcf"):
        if base.endswith(ext):
            base = base[: -len(ext)]
            break
    return base or "sample"


@contextmanager
def _open_input(path: str | Path) -> Iterator[_Input]:
    """Resolve ``path`` (spooling stdin to a temporary file) and sniff compression and format.

    Spooling stdin lets both backends read it like a file: line numbers, plain-gzip handling and
    a second pass for the line-numbering reader all work the same way.
    """
    tmpdir: str | None = None
    try:
        if str(path) == "-":
            display, stem = "<stdin>", "stdin"
            tmpdir = tempfile.mkdtemp(prefix="varannot-stdin-")
            real = os.path.join(tmpdir, "stdin.vcf")
            with open(real, "wb") as out:
                shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
        else:
            display, stem, real = str(path), _stem(str(path)), str(path)
            if not os.path.exists(real):
                raise InputError("file not found", source=display)
            if os.path.isdir(real):
                raise InputError("is a directory, not a VCF/BCF file", source=display)
        with open(real, "rb") as fh:
            head = fh.read(1 << 16)
        if not head:
            raise InputError("file is empty (0 bytes)", source=display, record="line 1")
        compression: Literal["none", "bgzf", "gzip"] = "none"
        data = head
        if head[:2] == b"\x1f\x8b":
            bgzf = len(head) >= 18 and bool(head[3] & 4) and head[12:14] == b"BC"
            compression = "bgzf" if bgzf else "gzip"
            try:
                data = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 4096)
            except zlib.error as exc:
                raise InputError(
                    f"corrupt gzip data ({exc})", source=display, record="line 1"
                ) from exc
            if not data:
                raise InputError("compressed file holds no data", source=display, record="line 1")
        if data[:3] == _BOM:
            # htslib refuses a byte-order mark: read a plain copy without it (rare, so a copy)
            if tmpdir is None:
                tmpdir = tempfile.mkdtemp(prefix="varannot-bom-")
            real = _strip_bom(_Input(display, real, compression, False, stem), tmpdir)
            compression = "none"
        yield _Input(display, real, compression, data[:3] == b"BCF", stem)
    finally:
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)


_BOM = b"\xef\xbb\xbf"


def _strip_bom(src: _Input, tmpdir: str) -> str:
    """A plain-text copy of ``src`` without its leading UTF-8 byte-order mark."""
    out_path = os.path.join(tmpdir, "nobom.vcf")
    with open(src.path, "rb") as fh, open(out_path, "wb") as out:
        first = True
        try:
            guard = InflateGuard(InflateLimits.from_env())
            for chunk in _text_chunks(fh, src.compression != "none", 1 << 16, guard):
                if first:
                    chunk, first = chunk[len(_BOM) :], False
                out.write(chunk)
        except _CorruptData as exc:
            raise InputError(
                f"compressed data is truncated or corrupt ({exc})", source=src.display
            ) from exc
        except TooLarge as exc:
            raise InputError(exc.message, source=src.display) from None
    return out_path


class _CorruptData(Exception):
    """The compressed stream ends early or does not inflate (the message says which)."""


_PIECE = 4 << 20  # decompressed bytes per piece


def _text_chunks(
    fh: Any, gz: bool, size: int, guard: InflateGuard | None = None
) -> Iterator[bytes]:
    """Decompressed text of ``fh`` in pieces (multi-member gzip/BGZF aware).

    ``guard`` counts compressed and decompressed bytes and raises
    :class:`~varannot.readers.limits.TooLarge` for a gzip bomb (the service's limits).
    """
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    started = False
    while True:
        data = fh.read(size)
        if not gz:
            if not data:
                return
            yield data
            continue
        if not data:
            if started and not d.eof:
                raise _CorruptData("the last gzip block is incomplete")
            return
        started = True
        while True:
            # bounded pieces: a bomb is counted (and refused) before it is all in memory
            try:
                if d.eof and data:
                    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                text = d.decompress(data, _PIECE)
            except zlib.error as exc:
                raise _CorruptData(str(exc)) from exc
            rest = d.unused_data if d.eof else d.unconsumed_tail
            if guard is not None:
                guard.count(len(data) - len(rest), len(text))
            data = rest
            if text:
                yield text
            if not data and (d.eof or len(text) < _PIECE):
                break  # a full piece may leave output pending inside zlib: ask again


def _corrupt(src: _Input, lineno: int, why: str) -> InputError:
    return InputError(
        f"compressed data is truncated or corrupt after line {lineno} ({why})",
        source=src.display,
        record=f"line {lineno + 1}",
    )


class _LineReader:
    """Binary line reader over plain or gzip/bgzip text that knows the 1-based line number.

    Splits on ``\\n`` only, exactly like htslib, so it can walk in lockstep with pysam. It
    decompresses with zlib itself (multi-member aware) in 64 KiB chunks: cheaper per line than
    ``GzipFile.readline`` and, on a truncated file, every complete line before the cut is still
    handed out, so the error names the exact line.
    """

    _CHUNK = 1 << 16

    def __init__(self, src: _Input, limits: InflateLimits | None = None):
        self.src = src
        self.limits = limits or InflateLimits.from_env()
        self.fh = open(src.path, "rb")  # noqa: SIM115 - closed by close()
        self._chunks = _text_chunks(
            self.fh, src.compression != "none", self._CHUNK, InflateGuard(self.limits)
        )
        self._lines: list[bytes] = []
        self._i = 0
        self._pending: list[bytes] = []  # the start of a line whose newline is still to come
        self._plen = 0
        self._done = False
        self.lineno = 0

    def _read(self) -> bytes | None:
        """Next chunk of text, None at a clean end of file."""
        try:
            return next(self._chunks, None)
        except _CorruptData as exc:
            raise _corrupt(self.src, self.lineno, str(exc)) from exc
        except TooLarge as exc:
            raise InputError(
                exc.message, source=self.src.display, record=f"line {self.lineno + 1}"
            ) from None

    def _too_long(self, lineno: int) -> InputError:
        return InputError(
            line_too_long(self.limits), source=self.src.display, record=f"line {lineno}"
        )

    def readline(self) -> bytes | None:
        """The next line without its newline; None at end of file.

        A line longer than the limit is an error naming it, found without holding more than the
        limit: a file of NULs with no newline is refused, not read into memory.
        """
        if self._i >= len(self._lines):
            if self._done:
                return None
            self._lines, self._i = [], 0
            while not self._lines:
                chunk = self._read()
                if chunk is None:
                    self._done = True
                    if not self._pending:
                        return None
                    self._lines = [b"".join(self._pending)]
                    self._pending, self._plen = [], 0
                    break
                if b"\n" not in chunk:
                    self._pending.append(chunk)
                    self._plen += len(chunk)
                    if self._plen > self.limits.max_line:
                        raise self._too_long(self.lineno + 1)
                    continue
                parts = (b"".join(self._pending) + chunk if self._pending else chunk).split(b"\n")
                rest = parts.pop()
                self._pending, self._plen = ([rest], len(rest)) if rest else ([], 0)
                longest = max(map(len, parts))
                if longest > self.limits.max_line:
                    n = next(i for i, p in enumerate(parts) if len(p) > self.limits.max_line)
                    raise self._too_long(self.lineno + n + 1)
                self._lines = parts
        line = self._lines[self._i]
        self._i += 1
        self.lineno += 1
        return line

    def close(self) -> None:
        self.fh.close()


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").rstrip("\r")


def _header_text(raw: bytes, lineno: int, display: str, warnings: list[str]) -> str:
    """A header line as text: UTF-8, else Latin-1 (ISO-8859-1) with a warning, never U+FFFD."""
    try:
        return raw.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError:
        text = raw.decode("latin-1").rstrip("\r")
        what = "the '#CHROM' line (sample names)" if text.startswith("#CHROM") else "header"
        warnings.append(
            f"{display} line {lineno}: {what} is not valid UTF-8; decoded as Latin-1 (ISO-8859-1)"
        )
        return text


def _read_header_lines(reader: _LineReader, warnings: list[str] | None = None) -> list[str]:
    """Header lines up to '#CHROM' (a leading UTF-8 byte-order mark is dropped)."""
    lines: list[str] = []
    warns = warnings if warnings is not None else []
    while True:
        raw = reader.readline()
        if raw is None:
            if not lines:
                raise InputError("file holds no text", source=reader.src.display, record="line 1")
            raise InputError(
                "header ends without a '#CHROM' column line",
                source=reader.src.display,
                record=f"line {reader.lineno}",
            )
        if not lines and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        line = _header_text(raw, reader.lineno, reader.src.display, warns)
        if not lines and not line.startswith("##fileformat=VCF"):
            shown = line[:40] + ("..." if len(line) > 40 else "")
            raise InputError(
                f"not a VCF file: first line is {shown!r}, expected '##fileformat=VCFv4.x'",
                source=reader.src.display,
                record="line 1",
            )
        lines.append(line)
        if line.startswith("#CHROM"):
            return lines
        if not line.startswith("##"):
            raise InputError(
                f"header line does not start with '##' (found {line[:40]!r}) and no '#CHROM' "
                "line came before it",
                source=reader.src.display,
                record=f"line {reader.lineno}",
            )


# --------------------------------------------------------------------------------------------
# Header
# --------------------------------------------------------------------------------------------

_FIXED_COLUMNS = ["CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
_ID_RE = re.compile(r"[<,]ID=([^,>]+)")
_LEN_RE = re.compile(r"[<,]length=(\d+)")
_NUMBER_RE = re.compile(r"[<,]Number=([^,>]+)")
_REF38_RE = re.compile(r"grch38|hg38|\bb38\b|hs38", re.IGNORECASE)
_REF37_RE = re.compile(r"grch37|hg19|\bb37\b|hs37d5|human_g1k_v37|g1k_v37", re.IGNORECASE)


@dataclass
class _Header:
    samples: list[str]
    contigs: dict[str, int]  # name -> length (0 when not stated)
    contig_line: dict[str, int]
    reference: tuple[int, str] | None
    tumor: str | None
    normal: str | None
    sample_ids: list[str]  # ##SAMPLE=<ID=...> in order
    format_number: dict[str, str]


def _parse_header(lines: list[str], display: str, label: str = "line") -> _Header:
    """Validate the #CHROM line and collect what the reader needs from the meta lines."""
    contigs: dict[str, int] = {}
    contig_line: dict[str, int] = {}
    reference: tuple[int, str] | None = None
    tumor = normal = None
    sample_ids: list[str] = []
    fmt_number: dict[str, str] = {}
    for n, line in enumerate(lines[:-1], 1):
        if line.startswith("##contig="):
            m = _ID_RE.search(line)
            if m:
                lm = _LEN_RE.search(line)
                contigs[m.group(1)] = int(lm.group(1)) if lm else 0
                contig_line[m.group(1)] = n
        elif line.startswith("##FORMAT="):
            m, nm = _ID_RE.search(line), _NUMBER_RE.search(line)
            if m and nm:
                fmt_number[m.group(1)] = nm.group(1)
        elif line.startswith("##reference="):
            reference = (n, line[len("##reference=") :])
        elif line.startswith("##tumor_sample="):
            tumor = line[len("##tumor_sample=") :].strip()
        elif line.startswith("##normal_sample="):
            normal = line[len("##normal_sample=") :].strip()
        elif line.startswith("##SAMPLE=<"):
            m = _ID_RE.search(line)
            if m:
                sample_ids.append(m.group(1))
    last = lines[-1]
    where = f"{label} {len(lines)}"
    cols = last[1:].split("\t")
    if cols[:8] != _FIXED_COLUMNS:
        if last[1:].split()[:8] == _FIXED_COLUMNS:
            problem = "the '#CHROM' header line separates columns with spaces instead of tabs"
        else:
            problem = (
                "the '#CHROM' header line must start with CHROM POS ID REF ALT QUAL FILTER "
                f"INFO (tab-separated); found {last[:80]!r}"
            )
        raise InputError(problem, source=display, record=where)
    samples = cols[9:]
    if len(cols) > 8 and cols[8] != "FORMAT":
        raise InputError(
            f"the 9th header column is {cols[8]!r}, expected FORMAT", source=display, record=where
        )
    seen: set[str] = set()
    for s in samples:
        if s in seen or not s:
            problem = f"duplicate sample name {s!r}" if s else "empty sample name"
            raise InputError(f"{problem} in the '#CHROM' line", source=display, record=where)
        seen.add(s)
    return _Header(samples, contigs, contig_line, reference, tumor, normal, sample_ids, fmt_number)


def _header_build(h: _Header) -> tuple[Build | None, str | None, int | None]:
    """(build, evidence, header line) from contig names/lengths, else from ``##reference``."""
    by_len = _detect_build(h.contigs)
    if by_len is not None:
        for name, length in h.contigs.items():
            acc = accession_build(name)
            if acc == by_len:
                return by_len, f"contig {name} is a {acc} accession", h.contig_line.get(name)
            b = bare_chrom(name)
            if b in CHROM_LENGTHS and b != "MT" and length:
                l38, l37 = CHROM_LENGTHS[b]
                if length == (l38 if by_len == "GRCh38" else l37):
                    ev = f"contig {name} has length {length} ({by_len})"
                    return by_len, ev, h.contig_line.get(name)
    if h.reference is not None:
        n, text = h.reference
        is38, is37 = bool(_REF38_RE.search(text)), bool(_REF37_RE.search(text))
        if is38 != is37:
            ref_build: Build = "GRCh38" if is38 else "GRCh37"
            return ref_build, f"##reference={text} ({ref_build})", n
    return None, None, None
