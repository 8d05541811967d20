"""VCF/BCF reader: records -> per-sample observations, gVCF coverage and counted skips.

Two backends decode the container: pysam/htslib (VCF, bgzip/gzip, BCF, tabix/CSI region fetch) and
pyvcf3 (pure Python, text VCF only). Both validate each record with their own parser, but hand the
*text* of the record to one shared interpreter (the original line when streaming a text file,
htslib's rendering for BCF or an index fetch). Allele splitting, VAF sources, phasing and coverage
are therefore one code path: the backends agree by construction and differ only in which malformed
records they refuse. Nothing read is dropped silently: each record ends up as an observation
source, coverage, an outside-the-genes count or a reason in ``batch.skipped``.

An unindexed text VCF read with regions is not parsed record by record: a byte-level scan
(:class:`_RegionScan`) counts the lines that cannot overlap and hands htslib only the others,
with the same result as the record stream.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import threading
import zlib
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import BuildMismatchError, InputError
from ..genome import CHROM_LENGTHS, accession_build, bare_chrom, canonical_chrom, chrom_aliases
from ..genome import detect_build as _detect_build
from ..models import BUILDS, Build, CoveredInterval, InputBatch, Observation

__all__ = ["Region", "read_vcf"]

Backend = Literal["auto", "pysam", "pyvcf3"]


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
        yield _Input(display, real, compression, data[:3] == b"BCF", stem)
    finally:
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)


class _CorruptData(Exception):
    """The compressed stream ends early or does not inflate (the message says which)."""


def _text_chunks(fh: Any, gz: bool, size: int) -> Iterator[bytes]:
    """Decompressed text of ``fh`` in pieces (multi-member gzip/BGZF aware)."""
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
        out = []
        try:
            while data:
                if d.eof:
                    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                out.append(d.decompress(data))
                data = d.unused_data if d.eof else b""
        except zlib.error as exc:
            raise _CorruptData(str(exc)) from exc
        text = b"".join(out)
        if text:
            yield text


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

    def __init__(self, src: _Input):
        self.src = src
        self.fh = open(src.path, "rb")  # noqa: SIM115 - closed by close()
        self._chunks = _text_chunks(self.fh, src.compression != "none", self._CHUNK)
        self._lines: list[bytes] = []
        self._i = 0
        self._rest = b""
        self._done = False
        self.lineno = 0

    def _read(self) -> bytes | None:
        """Next chunk of text, None at a clean end of file."""
        try:
            return next(self._chunks, None)
        except _CorruptData as exc:
            raise _corrupt(self.src, self.lineno, str(exc)) from exc

    def readline(self) -> bytes | None:
        """The next line without its newline; None at end of file."""
        if self._i >= len(self._lines):
            if self._done:
                return None
            self._lines, self._i = [], 0
            while not self._lines:
                chunk = self._read()
                if chunk is None:
                    self._done = True
                    if not self._rest:
                        return None
                    self._lines, self._rest = [self._rest], b""
                    break
                parts = (self._rest + chunk).split(b"\n")
                self._rest = parts.pop()
                self._lines = parts
        line = self._lines[self._i]
        self._i += 1
        self.lineno += 1
        return line

    def close(self) -> None:
        self.fh.close()


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").rstrip("\r")


def _read_header_lines(reader: _LineReader) -> list[str]:
    lines: list[str] = []
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
        line = _text(raw)
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


# --------------------------------------------------------------------------------------------
# Shared record interpretation
# --------------------------------------------------------------------------------------------

_END_RE = re.compile(r"(?:^|;)END=(\d+)")
_SEQ_RE = re.compile(r"[A-Za-z]+")
_GT_SPLIT = re.compile(r"[/|]")
# A GT (first FORMAT key) naming an allele index >= 1: the only samples worth a Python object.
_CARRIER_RE = re.compile(r"(?:^|\t)[^\t:]*[1-9]")
_PLACEHOLDERS = frozenset({"<NON_REF>", "<*>", "<X>"})
_MISSING = frozenset({"", "."})
_STRELKA_TIERS = ("AU", "CU", "GU", "TU")
_KEYS = (
    "GT", "AD", "DP", "AF", "FA", "FREQ", "RD", "AO", "RO", "DP4", "AU", "CU", "GU", "TU",
    "TAR", "TIR", "PS", "PGT", "PID", "MIN_DP", "FT", "NR", "NV",
)  # fmt: skip
_COUNT_KEYS = frozenset(_KEYS) - {"GT", "DP", "PS", "PGT", "PID", "MIN_DP", "FT"}

# Variant-site coverage is buffered until the file shows a reference block (then it is a gVCF
# and the buffer becomes coverage) or this many records pass without one (then it is discarded).
_TENTATIVE_RECORDS = 10_000
CovSource = Literal["gvcf_block", "variant_site"]

REASON_SYMBOLIC = "symbolic ALT"
REASON_SPANNING = "spanning deletion (*)"
REASON_BREAKEND = "breakend"
REASON_NO_CARRIER = "no sample carries an ALT allele"
# Same text for both backends so their skip reports compare equal.
REASON_PARSER = "malformed record: rejected by the VCF parser"
REASON_NO_DATA = "no genotype or allele counts to attribute the ALT to a sample"


def _alt_kind(alt: str) -> str:
    """'seq', 'placeholder' (gVCF any-other-allele), 'missing', or a skip reason."""
    if alt == ".":
        return "missing"
    if alt in _PLACEHOLDERS:
        return "placeholder"
    if alt == "*":
        return REASON_SPANNING
    if "[" in alt or "]" in alt:
        return REASON_BREAKEND
    if alt.startswith("<"):
        return REASON_SYMBOLIC
    if len(alt) > 1 and (alt[0] == "." or alt[-1] == "."):
        return REASON_BREAKEND
    if _SEQ_RE.fullmatch(alt):
        return "seq"
    return "malformed record: invalid ALT allele"


def _num(v: str | None) -> int | None:
    if v is None or v in _MISSING:
        return None
    try:
        return int(v)
    except ValueError:
        try:
            return int(float(v))
        except ValueError:
            return None


def _flt(v: str | None) -> float | None:
    if v is None or v in _MISSING:
        return None
    try:
        return float(v)
    except ValueError:
        return None


def _ints(v: str | None) -> list[int | None] | None:
    return None if v is None else [_num(x) for x in v.split(",")]


def _pick(values: list[Any] | None, k: int, n_alts: int, number: str | None) -> Any:
    """Per-allele value for ALT ``k`` from a Number=R (ref first) or Number=A list."""
    if not values:
        return None
    if number == "R" or (number != "A" and len(values) == n_alts + 1):
        return values[k] if len(values) == n_alts + 1 else None
    if number == "A" or len(values) == n_alts:
        return values[k - 1] if len(values) == n_alts else None
    return None


def _parse_gt(gt: str) -> list[int | None] | None:
    """Allele indexes of a GT string (None = missing); None when the GT is malformed."""
    if gt[:1] in ("/", "|"):  # VCF 4.4 explicit phasing prefix
        gt = gt[1:]
    out: list[int | None] = []
    for a in _GT_SPLIT.split(gt):
        if a == ".":
            out.append(None)
        elif a.isdigit():
            out.append(int(a))
        else:
            return None
    return out


class _Fmt:
    """Index of the FORMAT keys the reader uses (cached per distinct FORMAT string)."""

    __slots__ = ("idx", "gt", "has_counts", "has_dp", "has_ps", "has_pgt", "has_ft")

    def __init__(self, fmt: str):
        keys = fmt.split(":") if fmt not in _MISSING else []
        idx: dict[str, int] = {}
        for i, k in enumerate(keys):
            if k in _KEYS and k not in idx:
                idx[k] = i
        self.idx = idx
        self.gt = idx.get("GT")
        self.has_counts = bool(_COUNT_KEYS.intersection(idx))
        self.has_dp, self.has_ps, self.has_pgt = "DP" in idx, "PS" in idx, "PGT" in idx
        self.has_ft = "FT" in idx


@dataclass(frozen=True, slots=True)
class _GT:
    alleles: tuple[int | None, ...]
    carried: tuple[int, ...]  # distinct ALT indexes (>= 1), sorted
    phased: bool
    haps: dict[int, tuple[int, ...]]  # ALT index -> GT positions carrying it


@dataclass(slots=True)
class _Site:
    """The per-record facts every sample of the record shares."""

    chrom: str
    pos: int
    ref: str
    ref_end: int
    alts: list[str]
    kinds: list[str]
    n_alts: int
    label: str
    filters: tuple[str, ...]
    qual: float | None


def _val(vals: list[str], idx: dict[str, int], key: str) -> str | None:
    i = idx.get(key)
    if i is None or i >= len(vals):
        return None
    v = vals[i]
    return None if v in _MISSING else v


@dataclass(slots=True)
class _Counts:
    depth: int | None = None
    alt_depth: int | None = None
    vaf: float | None = None
    vaf_source: str | None = None


def _counts(
    vals: list[str], f: _Fmt, numbers: dict[str, str], ref: str, alt: str, k: int, n_alts: int
) -> _Counts:
    """Depth, ALT depth and VAF for ALT ``k`` from whatever the caller wrote.

    Preference: Strelka tier-1 counts, VarScan FREQ, FORMAT/AF (Mutect2, RADIA), FORMAT/FA
    (MuTect1), then a ratio of allele counts (AD, freebayes AO/RO, DP4, Platypus NR/NV).
    """
    idx = f.idx
    c = _Counts(depth=_num(_val(vals, idx, "DP")))
    total: int | None = None
    src: str | None = None
    # Strelka somatic SNVs: {A,C,G,T}U = tier1,tier2 counts per base.
    if "AU" in idx and len(ref) == 1 and len(alt) == 1 and alt in "ACGT" and ref in "ACGT":
        tiers = {b: _ints(_val(vals, idx, b + "U")) for b in "ACGT"}
        if all(t for t in tiers.values()):
            firsts = [t[0] or 0 for t in tiers.values() if t]
            total = sum(firsts)
            c.alt_depth = (tiers[alt] or [0])[0] or 0
            src = "Strelka AU/CU/GU/TU"
            c.depth = total
    elif "TIR" in idx and "TAR" in idx:  # Strelka somatic indels
        tir, tar = _ints(_val(vals, idx, "TIR")), _ints(_val(vals, idx, "TAR"))
        if tir and tar and tir[0] is not None and tar[0] is not None:
            c.alt_depth, total, src = tir[0], tir[0] + tar[0], "Strelka TIR"
            c.depth = total
    if src is None:
        ad = _ints(_val(vals, idx, "AD"))
        if ad is not None and len(ad) == n_alts + 1:
            c.alt_depth = ad[k]
            if None not in ad:
                total = sum(x for x in ad if x is not None)
            src = "FORMAT/AD"
        elif ad is not None and len(ad) == n_alts and numbers.get("AD") != "R":
            # VarScan: AD = ALT reads, RD = REF reads
            c.alt_depth = ad[k - 1]
            rd = _num(_val(vals, idx, "RD"))
            if rd is not None and c.alt_depth is not None and n_alts == 1:
                total = rd + c.alt_depth
            src = "FORMAT/AD"
        elif "AO" in idx:
            ao = _ints(_val(vals, idx, "AO"))
            ro = _num(_val(vals, idx, "RO"))
            if ao is not None and len(ao) == n_alts:
                c.alt_depth = ao[k - 1]
                if ro is not None and None not in ao:
                    total = ro + sum(x for x in ao if x is not None)
                src = "freebayes AO/RO"
        elif "DP4" in idx and n_alts == 1:
            dp4 = _ints(_val(vals, idx, "DP4"))
            if dp4 is not None and len(dp4) == 4 and None not in dp4:
                d = [x or 0 for x in dp4]
                c.alt_depth, total, src = d[2] + d[3], sum(d), "FORMAT/DP4"
        elif "NV" in idx and "NR" in idx:
            nv, nr = _ints(_val(vals, idx, "NV")), _ints(_val(vals, idx, "NR"))
            c.alt_depth = _pick(nv, k, n_alts, "A")
            t = _pick(nr, k, n_alts, "A")
            if t is not None:
                total, src = t, "Platypus NR/NV"
    if c.depth is None and total is not None:
        c.depth = total
    # Explicit fractions written by the caller beat our own ratio.
    freq = _val(vals, idx, "FREQ")
    if freq is not None and n_alts == 1:
        v = _flt(freq.rstrip("%"))
        if v is not None:
            c.vaf, c.vaf_source = v / 100.0 if freq.endswith("%") else v, "VarScan FREQ"
    if c.vaf is None:
        for key in ("AF", "FA"):
            raw = _val(vals, idx, key)
            if raw is not None:
                v = _pick([_flt(x) for x in raw.split(",")], k, n_alts, numbers.get(key))
                if v is not None:
                    c.vaf, c.vaf_source = v, f"FORMAT/{key}"
                    break
    if c.vaf is None and src is not None and total and c.alt_depth is not None:
        c.vaf, c.vaf_source = c.alt_depth / total, src
    if c.vaf is not None:
        c.vaf = round(c.vaf, 6)
    return c


class _Builder:
    """Turns record text into the batch; all interpretation lives here, shared by backends."""

    def __init__(
        self,
        src: _Input,
        hdr: _Header,
        selected: list[tuple[int, str]],
        regions: Sequence[Region] | None,
        keep_outside: bool,
        batch: InputBatch,
    ):
        self.src = src
        self.display = src.display
        self.batch = batch
        self.n_samples = len(hdr.samples)
        self.selected = selected  # (column index, name) in file order
        self.by_col = dict(selected)
        self.all_selected = len(selected) == self.n_samples
        self.pseudo = batch.samples[0] if self.n_samples == 0 else None
        self.numbers = hdr.format_number
        self.keep_outside = keep_outside
        self.gvcf = False  # set by the first reference block / all-sites record
        self.fmts: dict[str, _Fmt] = {}
        self.alt_kinds: dict[str, str] = {}
        self.gt_cache: dict[str, _GT | None] = {}
        self.tentative: dict[str, list[CoveredInterval]] = {}
        self.vaf_sources: dict[str, int] = {}
        self.regions: dict[str, tuple[list[int], list[int]]] | None = None
        self.chrom_cache: dict[str, tuple[list[int], list[int]] | None] = {}
        if regions is not None:
            self.regions = {
                c: ([s for s, _ in iv], [e for _, e in iv]) for c, iv in _merge(regions).items()
            }

    # -- accounting ----------------------------------------------------------------------------
    def skip(self, reason: str, label: str) -> None:
        self.batch.skipped.add(reason, label)

    def _regs(self, chrom: str) -> tuple[list[int], list[int]] | None:
        try:
            return self.chrom_cache[chrom]
        except KeyError:
            assert self.regions is not None
            r = self.regions.get(canonical_chrom(chrom))
            self.chrom_cache[chrom] = r
            return r

    def accept(self, line: str, label: str) -> tuple[list[str], int, int, bool] | None:
        """Count the record, test it against the regions; parts/pos/end/inside or None."""
        self.batch.records_read += 1
        parts = line.split("\t", 9)
        if len(parts) < 8:
            self.skip("malformed record: fewer than 8 tab-separated columns", label)
            return None
        try:
            pos = int(parts[1])
        except ValueError:
            self.skip("malformed record: POS is not an integer", label)
            return None
        end = pos + max(len(parts[3]), 1) - 1
        info = parts[7]
        if "END=" in info:
            m = _END_RE.search(info)
            if m and int(m.group(1)) >= pos:
                end = int(m.group(1))
        inside = True
        if self.regions is not None:
            regs = self._regs(parts[0])
            inside = False
            if regs is not None:
                i = bisect_right(regs[0], end) - 1
                inside = i >= 0 and regs[1][i] >= pos
            if not inside:
                self.batch.records_outside_genes += 1
                if (
                    not self.gvcf
                    and self.n_samples
                    and (parts[4] in _PLACEHOLDERS or parts[4] == ".")
                ):
                    self._enable_gvcf()
                if not self.keep_outside:
                    return None
        return parts, pos, end, inside

    def outside(self, chrom: str, pos: int, stop: int, alts: tuple[str, ...] | None) -> bool:
        """Quick region test from parsed fields (pysam); counts the record when outside."""
        regs = self._regs(chrom)
        if regs is not None:
            i = bisect_right(regs[0], stop) - 1
            if i >= 0 and regs[1][i] >= pos:
                return False
        self.batch.records_read += 1
        self.batch.records_outside_genes += 1
        if not self.gvcf and self.n_samples and (alts is None or alts[0] in _PLACEHOLDERS):
            self._enable_gvcf()
        return True

    def reject(self, accepted: tuple[list[str], int, int, bool], label: str, why: str) -> None:
        """A backend refused a record that passed ``accept``: say why, as precisely as we can."""
        parts = accepted[0]
        if self.n_samples and len(parts) > 9:
            n = parts[9].count("\t") + 1
            if n != self.n_samples:
                why = f"malformed record: {n} sample columns but the header names {self.n_samples}"
            else:
                n_keys = parts[8].count(":") + 1
                if any(s.count(":") >= n_keys for s in parts[9].split("\t")):
                    why = "malformed record: a sample has more values than FORMAT keys"
        self.skip(why, label)

    # -- coverage ------------------------------------------------------------------------------
    def _enable_gvcf(self) -> None:
        self.gvcf = True
        for name, ivs in self.tentative.items():
            for iv in ivs:
                self._merge_cov(self.batch.coverage.setdefault(name, []), iv)
        self.tentative.clear()

    @staticmethod
    def _merge_cov(lst: list[CoveredInterval], iv: CoveredInterval) -> None:
        if lst:
            last = lst[-1]
            if (
                last.chrom == iv.chrom
                and last.source == iv.source
                and last.depth == iv.depth
                and last.start <= iv.start <= last.end + 1
            ):
                if iv.end > last.end:
                    lst[-1] = CoveredInterval(
                        last.chrom, last.start, iv.end, last.depth, last.source
                    )
                return
        lst.append(iv)

    def _cover(
        self, name: str, chrom: str, start: int, end: int, depth: int | None, source: CovSource
    ) -> bool:
        """Record coverage for one sample (clipped to the regions); False if none of it is kept."""
        c = canonical_chrom(chrom)
        pieces = [(start, end)]
        if self.regions is not None:
            regs = self._regs(chrom)
            if regs is None:
                return False
            starts, ends = regs
            pieces = []
            i = max(bisect_right(starts, start) - 1, 0)
            while i < len(starts) and starts[i] <= end:
                if ends[i] >= start:
                    pieces.append((max(start, starts[i]), min(end, ends[i])))
                i += 1
        if self.gvcf:
            target = self.batch.coverage.setdefault(name, [])
        elif self.batch.records_read <= _TENTATIVE_RECORDS:
            target = self.tentative.setdefault(name, [])
        else:  # no reference block this far in: not a gVCF, stop buffering
            self.tentative.clear()
            return bool(pieces)
        for s, e in pieces:
            self._merge_cov(target, CoveredInterval(c, s, e, depth, source))
        return bool(pieces)

    # -- records -------------------------------------------------------------------------------
    def _fmt(self, fmt: str) -> _Fmt:
        f = self.fmts.get(fmt)
        if f is None:
            f = self.fmts[fmt] = _Fmt(fmt)
        return f

    def _kind(self, alt: str) -> str:
        k = self.alt_kinds.get(alt)
        if k is None:
            k = _alt_kind(alt)
            if len(self.alt_kinds) < 4096:
                self.alt_kinds[alt] = k
        return k

    def process(self, accepted: tuple[list[str], int, int, bool], label: str) -> None:
        parts, pos, end, inside = accepted
        chrom, ref, alt_s = parts[0], parts[3], parts[4]
        alts = alt_s.split(",")
        kinds = [self._kind(a) for a in alts]
        reasons = {k for k in kinds if k not in ("seq", "placeholder", "missing")}
        for r in sorted(reasons):
            self.skip(r, label)
        has_seq = "seq" in kinds
        ref_only = not has_seq and not reasons
        if not has_seq and not ref_only:
            return
        if not _SEQ_RE.fullmatch(ref):
            self.skip("malformed record: invalid REF allele", label)
            return
        qual_s = parts[5]
        try:
            qual = None if qual_s == "." else float(qual_s)
        except ValueError:
            self.skip("malformed record: QUAL is not a number", label)
            return
        filt = parts[6]
        filters: tuple[str, ...] = () if filt in _MISSING else tuple(filt.split(";"))

        if self.n_samples == 0:  # sites-only: one pseudo-sample named after the file
            if ref_only:
                self.skip("reference-only site without sample data", label)
                return
            assert self.pseudo is not None
            for k, alt in enumerate(alts, 1):
                if kinds[k - 1] == "seq":
                    self.batch.observations.append(
                        Observation(
                            sample=self.pseudo,
                            chrom=chrom,
                            pos=pos,
                            ref=ref,
                            alt=alt,
                            source=self.display,
                            record=label,
                            filters=filters,
                            quality=qual,
                        )
                    )
            return

        if len(parts) < 10:
            self.skip("malformed record: no FORMAT/sample columns", label)
            return
        section = parts[9]
        if section.count("\t") + 1 != self.n_samples:
            n = section.count("\t") + 1
            self.skip(
                f"malformed record: {n} sample columns but the header names {self.n_samples}",
                label,
            )
            return
        f = self._fmt(parts[8])
        if ref_only:
            if not self.gvcf:
                self._enable_gvcf()
            if self._ref_block(f, section, chrom, pos, end):
                return
            self.skip("reference block without a called genotype or depth", label)
            return

        n_obs = len(self.batch.observations)
        covered = False
        bad_gt = False
        site = _Site(
            chrom, pos, ref, pos + len(ref) - 1, alts, kinds, len(alts), label, filters, qual
        )
        if f.gt == 0 and not self.gvcf:
            # Fast path: find carriers by regex; hom-ref/missing samples cost no Python objects.
            col, last = 0, 0
            for m in _CARRIER_RE.finditer(section):
                st = m.start()
                col += section.count("\t", last, st + 1)
                last = st + 1
                name = self.by_col.get(col)
                if name is None:
                    continue
                start = st + 1 if section[st] == "\t" else st
                stop = section.find("\t", start)
                s = section[start:] if stop < 0 else section[start:stop]
                ok, cov = self._sample(name, s, f, site)
                bad_gt |= not ok
                covered |= cov
        else:
            cols = section.split("\t")
            for col, name in self.selected:
                ok, cov = self._sample(name, cols[col], f, site)
                bad_gt |= not ok
                covered |= cov
        if bad_gt:
            self.skip("malformed GT (sample ignored)", label)
        if len(self.batch.observations) == n_obs and not covered and not reasons and not bad_gt:
            if f.gt is None and not f.has_counts:
                self.skip(REASON_NO_DATA, label)
            else:
                self.skip(REASON_NO_CARRIER, label)

    def _ref_block(self, f: _Fmt, section: str, chrom: str, pos: int, end: int) -> bool:
        cols = section.split("\t")
        eligible = False
        for col, name in self.selected:
            vals = cols[col].split(":")
            gt = _val(vals, f.idx, "GT")
            called = gt is not None and any(a is not None for a in (_parse_gt(gt) or []))
            depth = _num(_val(vals, f.idx, "MIN_DP"))
            if depth is None:
                depth = _num(_val(vals, f.idx, "DP"))
            if called or depth is not None:
                eligible = True
                self._cover(name, chrom, pos, end, depth, "gvcf_block")
        return eligible

    def _gt(self, gt: str) -> _GT | None:
        """Parsed GT, cached: cohorts repeat a handful of GT strings millions of times."""
        g = self.gt_cache.get(gt)
        if g is None and gt not in self.gt_cache:
            alleles = _parse_gt(gt)
            if alleles is not None:
                phased = len(alleles) > 1 and "/" not in gt
                carried = tuple(sorted({a for a in alleles if a}))
                haps = {k: tuple(i for i, a in enumerate(alleles) if a == k) for k in carried}
                g = _GT(tuple(alleles), carried, phased, haps)
            if len(self.gt_cache) < 4096:
                self.gt_cache[gt] = g
        return g

    def _sample(self, name: str, s: str, f: _Fmt, site: _Site) -> tuple[bool, bool]:
        """Observations (and gVCF variant-site coverage) for one sample; (GT ok, covered)."""
        vals = s.split(":")
        idx = f.idx
        dp = _num(_val(vals, idx, "DP")) if f.has_dp else None
        covered = False
        if self.gvcf and dp is not None:
            covered = self._cover(name, site.chrom, site.pos, site.ref_end, dp, "variant_site")
        gt = _val(vals, idx, "GT") if f.gt is not None else None
        g: _GT | None = None
        if gt is not None:
            g = self._gt(gt)
            if g is None or (g.carried and g.carried[-1] > site.n_alts):
                return False, covered
            carried: Sequence[int] = g.carried
        elif f.gt is not None:
            return True, covered  # GT present but missing for this sample: not called
        else:
            carried = []
            for k in range(1, site.n_alts + 1):
                if site.kinds[k - 1] == "seq":
                    c = _counts(vals, f, self.numbers, site.ref, site.alts[k - 1], k, site.n_alts)
                    if (c.alt_depth or 0) > 0 or (c.alt_depth is None and (c.vaf or 0) > 0):
                        carried.append(k)
        if not carried:
            return True, covered
        phased = g is not None and g.phased
        hap_map = g.haps if g is not None and phased else None
        phase_set = _val(vals, idx, "PS") if phased and f.has_ps else None
        if g is not None and not phased and f.has_pgt and len(g.alleles) > 1:
            pgt = _val(vals, idx, "PGT")  # GATK physical phasing
            if pgt is not None and "|" in pgt:
                parsed = _parse_gt(pgt)
                # Only when PGT describes the same alleles (GATK leaves stale PGTs on hom-alts).
                if parsed is not None and sorted(map(str, parsed)) == sorted(map(str, g.alleles)):
                    phased, phase_set = True, _val(vals, idx, "PID")
                    hap_map = {k: tuple(i for i, a in enumerate(parsed) if a == k) for k in carried}
        s_filters = site.filters
        if f.has_ft:
            ft = _val(vals, idx, "FT")
            if ft is not None and ft != "PASS":
                s_filters = s_filters + tuple("FT:" + x for x in ft.split(";"))
        for k in carried:
            if site.kinds[k - 1] != "seq":
                continue
            alt = site.alts[k - 1]
            c = (
                _counts(vals, f, self.numbers, site.ref, alt, k, site.n_alts)
                if f.has_counts
                else _Counts(depth=dp)
            )
            if c.vaf_source is not None:
                self.vaf_sources[c.vaf_source] = self.vaf_sources.get(c.vaf_source, 0) + 1
            haps = hap_map[k] if hap_map is not None else ()
            self.batch.observations.append(
                Observation(
                    sample=name,
                    chrom=site.chrom,
                    pos=site.pos,
                    ref=site.ref,
                    alt=alt,
                    source=self.display,
                    record=site.label,
                    genotype=gt,
                    phased=phased,
                    phase_set=phase_set,
                    haplotypes=haps,
                    depth=c.depth,
                    alt_depth=c.alt_depth,
                    vaf=c.vaf,
                    vaf_source=c.vaf_source,
                    filters=s_filters,
                    quality=site.qual,
                )
            )
            if not self.gvcf and dp is not None:
                covered |= self._cover(name, site.chrom, site.pos, site.ref_end, dp, "variant_site")
        return True, covered

    def finish(self) -> None:
        self.batch.details["gvcf"] = self.gvcf
        if self.gvcf:
            for _, name in self.selected:
                self.batch.coverage.setdefault(name, [])
        if self.vaf_sources:
            self.batch.details["vaf_sources"] = dict(sorted(self.vaf_sources.items()))


def _merge(regions: Sequence[Region]) -> dict[str, list[tuple[int, int]]]:
    """Regions per canonical chrom, sorted, overlapping/adjacent ones merged."""
    by: dict[str, list[tuple[int, int]]] = {}
    for r in regions:
        by.setdefault(canonical_chrom(r.chrom), []).append((r.start, r.end))
    out: dict[str, list[tuple[int, int]]] = {}
    for c, ivs in by.items():
        merged: list[tuple[int, int]] = []
        for s, e in sorted(ivs):
            if merged and s <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], e))
            else:
                merged.append((s, e))
        out[c] = merged
    return out


# --------------------------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------------------------


def _pysam() -> Any:
    import pysam

    return pysam


class _GzipPipe:
    """Feed a plain-gzip file to htslib through a pipe: pysam cannot open it by name."""

    def __init__(self, path: str):
        r, w = os.pipe()
        self.reader = os.fdopen(r, "rb")
        self._thread = threading.Thread(target=self._feed, args=(path, w), daemon=True)
        self._thread.start()

    @staticmethod
    def _feed(path: str, w: int) -> None:
        with suppress(OSError), open(path, "rb") as src, os.fdopen(w, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 16)

    def close(self) -> None:
        with suppress(OSError):
            self.reader.close()
        self._thread.join(timeout=5)


def _open_pysam(src: _Input) -> tuple[Any, _GzipPipe | None]:
    pysam = _pysam()
    pipe = _GzipPipe(src.path) if src.compression == "gzip" else None
    try:
        vf = pysam.VariantFile(pipe.reader if pipe else src.path)
    except (ValueError, OSError, NotImplementedError) as exc:
        if pipe:
            pipe.close()
        where = "header"
        if not src.is_bcf:
            # htslib says little about *where*; walk the text to name the line it broke at.
            lines = _LineReader(src)
            try:
                while lines.readline() is not None:
                    pass
            finally:
                lines.close()
            where = f"line {lines.lineno}"
        problem = (
            "file is truncated (no BGZF end-of-file marker)"
            if "EOF marker" in str(exc)
            else f"htslib could not read the file ({exc})"
        )
        raise InputError(problem, source=src.display, record=where) from exc
    return vf, pipe


def _fetch_contigs(vf: Any) -> set[str]:
    names = set(vf.header.contigs)
    with suppress(Exception):
        names |= set(vf.index.keys())
    return names


def _run_pysam_fetch(vf: Any, b: _Builder, regions: Sequence[Region], build: Build | None) -> None:
    """Index fetch: only records overlapping the regions are ever decoded."""
    known = _fetch_contigs(vf)
    n = 0
    builds: tuple[Build, ...] = (build,) if build else BUILDS
    for chrom, ivs in _merge(regions).items():
        aliases = dict.fromkeys(a for bd in builds for a in chrom_aliases(chrom, bd))
        for contig in (a for a in aliases if a in known):
            done: list[tuple[int, int]] = []
            for start, end in ivs:
                it = vf.fetch(contig, start - 1, end)
                errors = 0
                while True:
                    try:
                        rec = next(it)
                    except StopIteration:
                        break
                    except (OSError, ValueError) as exc:
                        n += 1
                        errors += 1
                        if errors > 100 or "truncated" in str(exc):
                            raise InputError(
                                f"htslib stopped reading ({exc})",
                                source=b.display,
                                record=f"record {n} (in {contig}:{start}-{end})",
                            ) from exc
                        b.batch.records_read += 1
                        b.skip(REASON_PARSER, f"record {n}")
                        continue
                    errors = 0
                    rpos, rstop = rec.pos, rec.stop
                    if any(rpos <= e and rstop >= s for s, e in done):
                        continue  # already returned for an earlier region
                    n += 1
                    label = f"record {n} ({rec.chrom}:{rpos})"
                    _feed_pysam_record(b, rec, label)
                done.append((start, end))
    b.batch.details["indexed_fetch"] = True


def _feed_pysam_record(b: _Builder, rec: Any, label: str) -> None:
    try:
        line = str(rec).rstrip("\n")
    except (OSError, ValueError):
        b.batch.records_read += 1
        b.skip("htslib could not format the record", label)
        return
    acc = b.accept(line, label)
    if acc is not None:
        b.process(acc, label)


def _run_pysam_stream(vf: Any, b: _Builder, src: _Input, n_header: int) -> None:
    """Stream every record; text files are walked in lockstep for exact lines and raw text."""
    # With regions, htslib's own CHROM/POS/END decide "outside" without touching the text.
    quick = b.regions is not None and not b.keep_outside
    if src.is_bcf:
        n = 0
        while True:
            try:
                rec = next(vf)
            except StopIteration:
                break
            except (OSError, ValueError) as exc:
                n += 1
                if "truncated" in str(exc):
                    raise InputError(
                        f"file is truncated ({exc})", source=src.display, record=f"record {n}"
                    ) from exc
                b.batch.records_read += 1
                b.skip(REASON_PARSER, f"record {n}")
                continue
            n += 1
            if quick and b.outside(rec.chrom, rec.pos, rec.stop, rec.alts):
                continue
            _feed_pysam_record(b, rec, f"record {n} ({rec.chrom}:{rec.pos})")
        return
    lines = _LineReader(src)
    try:
        for _ in range(n_header):
            lines.readline()
        tags: dict[str, bytes] = {}
        while True:
            err: Exception | None = None
            rec = None
            try:
                rec = next(vf)
            except StopIteration:
                _check_drained(lines, src)
                break
            except (OSError, ValueError) as exc:
                err = exc
            raw = lines.readline()
            if raw is None:
                raise InputError(
                    f"file ends inside a record ({err or 'reader out of step'})",
                    source=src.display,
                    record=f"line {lines.lineno}",
                )
            _stream_line(b, src, rec, err, raw, lines.lineno, quick, tags)
    finally:
        lines.close()


def _check_drained(lines: _LineReader, src: _Input) -> None:
    """htslib has stopped: only blank lines may remain (else it gave up on cut data)."""
    while (raw := lines.readline()) is not None:
        if _text(raw).strip():
            raise InputError(
                "htslib stopped reading before the end of the file (truncated or corrupt data?)",
                source=src.display,
                record=f"line {lines.lineno}",
            )


def _out_of_step(src: _Input, lineno: int) -> InputError:
    return InputError(
        "internal: htslib and the line reader disagree about this record",
        source=src.display,
        record=f"line {lineno}",
    )


def _stream_line(
    b: _Builder,
    src: _Input,
    rec: Any,
    err: Exception | None,
    raw: bytes,
    lineno: int,
    quick: bool,
    tags: dict[str, bytes],
) -> None:
    """One text line with htslib's verdict on it (``rec`` or ``err``): count, skip or process."""
    if rec is not None and quick:
        chrom = rec.chrom
        tag = tags.get(chrom)
        if tag is None:
            tag = tags[chrom] = chrom.encode() + b"\t"
        if not raw.startswith(tag):
            raise _out_of_step(src, lineno)
        if b.outside(chrom, rec.pos, rec.stop, rec.alts):
            return  # counted; never decoded
    label = f"line {lineno}"
    line = _text(raw)
    if not line.strip():
        return  # blank lines are not records (htslib complains, pyvcf3 skips)
    # htslib's error may read "truncated file", but it names a malformed line (bad POS, missing
    # columns): truncated or corrupt compressed data is caught by our own line reader.
    if rec is not None and not line.startswith(rec.chrom + "\t"):
        raise _out_of_step(src, lineno)
    acc = b.accept(line, label)
    if acc is None:
        return
    if err is not None:
        b.reject(acc, label, REASON_PARSER)
    else:
        b.process(acc, label)


# Unindexed text VCF with regions: a byte-level scan that hands htslib only the lines that may
# overlap the regions (or that only a full parse can judge). Everything else is counted in bulk.
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
        with open(self.src.path, "rb") as fh:
            chunks = _text_chunks(fh, self.src.compression != "none", _SCAN_READ)
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
            except _CorruptData as exc:
                complete = self.lineno + sum(p.count(b"\n") for p in pieces)
                complete += buf.count(b"\n", 1) if self.header else buf.count(b"\n")
                raise _corrupt(self.src, complete, str(exc)) from exc
            buf = self._feed(buf + b"".join(pieces))
            if self.header and len(buf) > 1:  # a last line without a newline
                self._block(buf, 0, len(buf))
        self._flush()
        gap = self.lineno - self.done
        self.b.batch.records_read += gap
        self.b.batch.records_outside_genes += gap

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
            rx = self.flags[key, alt] = re.compile(
                b"\n(?!" + re.escape(key[1:]) + rb"\d++\t" + cols + b")"
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
        vf = _pysam().VariantFile(self.tmp)
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


class _Pyvcf3Feed:
    """Line iterator handed to ``vcf.Reader``: remembers the current line and its number.

    Records outside the regions are counted here and never reach pyvcf3 (it parses every
    sample eagerly, which is slow on cohorts).
    """

    def __init__(self, header: list[str], lines: _LineReader, b: _Builder):
        self._header = iter(header)
        self._lines = lines
        self._b = b
        self.label = ""
        self.accepted: tuple[list[str], int, int, bool] | None = None

    def __iter__(self) -> _Pyvcf3Feed:
        return self

    def __next__(self) -> str:
        for h in self._header:
            return h
        while True:
            raw = self._lines.readline()
            if raw is None:
                raise StopIteration
            line = _text(raw)
            if not line.strip():
                continue
            self.label = f"line {self._lines.lineno}"
            self.accepted = self._b.accept(line, self.label)
            if self.accepted is not None:
                return line


def _run_pyvcf3(b: _Builder, src: _Input, header: list[str]) -> None:
    import vcf

    lines = _LineReader(src)
    try:
        for _ in range(len(header)):
            lines.readline()
        feed = _Pyvcf3Feed(header, lines, b)
        try:
            reader = vcf.Reader(fsock=feed, strict_whitespace=True)
        except InputError:
            raise
        except Exception as exc:
            raise InputError(
                f"pyvcf3 could not parse the header ({type(exc).__name__}: {exc})",
                source=src.display,
                record="header",
            ) from exc
        while True:
            try:
                next(reader)
            except StopIteration:
                break
            except InputError:
                raise
            except Exception:
                assert feed.accepted is not None
                b.reject(feed.accepted, feed.label, REASON_PARSER)
                continue
            assert feed.accepted is not None
            b.process(feed.accepted, feed.label)
    finally:
        lines.close()


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------


def _choose_backend(backend: Backend) -> Literal["pysam", "pyvcf3"]:
    if backend == "pyvcf3":
        return "pyvcf3"
    try:
        _pysam()
    except ImportError as exc:
        if backend == "pysam":
            raise InputError(
                f"the pysam backend was requested but pysam is not importable ({exc})"
            ) from exc
        return "pyvcf3"
    return "pysam"


def _select_samples(
    hdr: _Header, src: _Input, samples: Sequence[str] | None, tumor: str | None
) -> tuple[list[tuple[int, str]], list[str], dict[str, object]]:
    """(selected columns, batch sample order with the tumour first, tumour/normal details)."""
    names = hdr.samples or [src.stem]
    if samples is not None:
        unknown = [s for s in samples if s not in names]
        if unknown:
            raise InputError(
                f"sample(s) {', '.join(map(repr, unknown))} not in the file; available: "
                + ", ".join(names),
                source=src.display,
                record="#CHROM line",
            )
        wanted = set(samples)
        selected = [(i, n) for i, n in enumerate(names) if n in wanted]
    else:
        selected = list(enumerate(names))
    chosen = [n for _, n in selected]
    details: dict[str, object] = {}
    if tumor is not None and tumor not in chosen:
        raise InputError(
            f"tumour sample {tumor!r} is not among the samples read: {', '.join(chosen)}",
            source=src.display,
            record="#CHROM line",
        )
    t = tumor or _guess_role(hdr, "TUMOR", hdr.tumor)
    if t is not None and t in chosen:
        details["tumor_sample"] = t
        n = _guess_role(hdr, "NORMAL", hdr.normal)
        if (n is None or n == t) and len(hdr.samples) == 2:
            n = next(s for s in hdr.samples if s != t)
        if n is not None and n != t and n in chosen:
            details["normal_sample"] = n
        chosen = [t] + [c for c in chosen if c != t]
    return selected, chosen, details


def _guess_role(hdr: _Header, role: str, stated: str | None) -> str | None:
    """Sample with a tumour/normal role: stated header, ##SAMPLE=<ID=...>, or column name."""
    if stated and stated in hdr.samples:
        return stated
    ids = [s for s in hdr.sample_ids if s in hdr.samples and role in s.upper()]
    ids.sort(key=lambda s: (s.upper() != role, "RNA" in s.upper()))
    if ids:
        return ids[0]
    exact = [s for s in hdr.samples if s.upper() == role]
    return exact[0] if exact else None


def read_vcf(
    path: str | Path,
    *,
    regions: Sequence[Region] | None = None,
    samples: Sequence[str] | None = None,
    tumor: str | None = None,
    build: Build | None = None,
    backend: Backend = "auto",
    keep_outside: bool = False,
) -> InputBatch:
    """Read one VCF/BCF (``-`` = stdin) into an :class:`InputBatch` of kind ``'vcf'``.

    ``regions`` restricts the records kept (index fetch when a .tbi/.csi exists and pysam is the
    backend, else one constant-memory pass counting the rest in ``records_outside_genes``;
    ``keep_outside`` keeps those records too). ``build``, when given, must not contradict the
    header. Raises :class:`InputError` for unusable input, :class:`BuildMismatchError` for a
    header of the other assembly.
    """
    chosen = _choose_backend(backend)
    with _open_input(path) as src:
        if src.is_bcf and chosen == "pyvcf3":
            raise InputError(
                "this is a BCF file; the pyvcf3 backend reads text VCF only (install pysam, or "
                "convert with 'bcftools view -Ov')",
                source=src.display,
                record="line 1",
            )
        vf: Any = None
        pipe: _GzipPipe | None = None
        pysam_mod: Any = _pysam() if chosen == "pysam" else None
        verbosity = pysam_mod.set_verbosity(0) if pysam_mod else None
        try:
            if src.is_bcf:
                vf, pipe = _open_pysam(src)
                header_lines = str(vf.header).rstrip("\n").split("\n")
                hdr = _parse_header(header_lines, src.display, "header line")
            else:
                reader = _LineReader(src)
                try:
                    header_lines = _read_header_lines(reader)
                finally:
                    reader.close()
                hdr = _parse_header(header_lines, src.display)
            hint, evidence, ev_line = _header_build(hdr)
            if build is not None and hint is not None and hint != build:
                raise BuildMismatchError(
                    f"{evidence} but --build {build}",
                    source=src.display,
                    record=(
                        f"{'header line' if src.is_bcf else 'line'} {ev_line}"
                        if ev_line
                        else "header"
                    ),
                )
            selected, order, details = _select_samples(hdr, src, samples, tumor)
            batch = InputBatch(source=src.display, kind="vcf", samples=order)
            batch.build_hint = hint
            batch.details.update(details)
            batch.details.update(
                backend=chosen,
                format="BCF" if src.is_bcf else "VCF",
                sites_only=not hdr.samples,
                indexed_fetch=False,
            )
            if evidence:
                batch.details["build_evidence"] = evidence
            b = _Builder(src, hdr, selected, regions, keep_outside, batch)
            if chosen == "pysam":
                if vf is None:
                    vf, pipe = _open_pysam(src)
                if regions is not None and not keep_outside and vf.index is not None:
                    _run_pysam_fetch(vf, b, regions, build or hint)
                elif regions is not None and not keep_outside and not src.is_bcf and _FAST_SCAN:
                    _run_region_scan(b, src, len(header_lines))
                else:
                    _run_pysam_stream(vf, b, src, len(header_lines))
            else:
                _run_pyvcf3(b, src, header_lines)
            b.finish()
            return batch
        finally:
            if vf is not None:
                with suppress(OSError):  # htslib fails to close a BGZF it found cut short
                    vf.close()
            if pipe is not None:
                pipe.close()
            if pysam_mod is not None:
                pysam_mod.set_verbosity(verbosity)
