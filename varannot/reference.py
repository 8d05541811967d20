"""Reference sequence: the user's FASTA (whole genome or samtools-style region records).

varannot ships no sequence. A ``ReferenceProvider`` answers "which bases are at chrom:start-end"
with N where it does not know, so annotation can go on from coordinates (flagged
``ref_unverified``) instead of failing or, worse, guessing.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .errors import BuildMismatchError, ReferenceError_
from .genome import accession_build, canonical_chrom, detect_build
from .models import Build

_REGION_NAME = re.compile(r"^(?P<chrom>[^:\s]+):(?P<start>[\d,]+)-(?P<end>[\d,]+)$")


class ReferenceProvider(Protocol):
    """What the annotator needs from a reference; injected, never opened by the annotator."""

    name: str
    build: Build | None

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """Upper-case bases of canonical ``chrom`` [start, end] (1-based), N where unknown."""
        ...

    def has_contig(self, chrom: str) -> bool: ...


@dataclass(slots=True)
class _Region:
    start: int
    end: int
    record: str


@dataclass
class InMemoryReference:
    """Region sequences held in memory (tests, the HTTP service, synthetic references)."""

    name: str
    build: Build | None = None
    regions: dict[str, list[tuple[int, str]]] = field(default_factory=dict)

    def add(self, chrom: str, start: int, seq: str) -> None:
        self.regions.setdefault(canonical_chrom(chrom), []).append((start, seq.upper()))

    def has_contig(self, chrom: str) -> bool:
        return canonical_chrom(chrom) in self.regions

    def fetch(self, chrom: str, start: int, end: int) -> str:
        out = ["N"] * (end - start + 1)
        for rs, seq in self.regions.get(canonical_chrom(chrom), []):
            re_ = rs + len(seq) - 1
            a, b = max(start, rs), min(end, re_)
            if a <= b:
                out[a - start : b - start + 1] = seq[a - rs : b - rs + 1]
        return "".join(out)


class FastaReference:
    """A FASTA read through pysam (faidx), accepting whole contigs or region records.

    Contig names ``chr17``, ``17`` and ``NC_000017.11`` are all accepted; region records are
    named as ``samtools faidx`` writes them (``chr17:7659779-7692550``, 1-based inclusive).
    """

    def __init__(self, path: str | Path, build: Build | None = None):
        self.path = Path(path)
        self.name = str(path)
        if not self.path.exists():
            raise ReferenceError_("FASTA file not found", source=str(path))
        self._contigs: dict[str, str] = {}  # canonical -> record name (whole contigs)
        self._lengths: dict[str, int] = {}
        self._regions: dict[str, list[_Region]] = {}
        self._fa = self._open()
        accession_builds: set[Build] = set()
        for rec, length in zip(self._fa.references, self._fa.lengths, strict=True):
            m = _REGION_NAME.match(rec)
            if m:
                chrom = canonical_chrom(m["chrom"])
                start = int(m["start"].replace(",", ""))
                end = int(m["end"].replace(",", ""))
                if end - start + 1 != length:
                    raise ReferenceError_(
                        f"region record {rec} is {length} bp long, its name says {end - start + 1}",
                        source=str(path),
                    )
                self._regions.setdefault(chrom, []).append(_Region(start, end, rec))
                ab = accession_build(m["chrom"])
            else:
                chrom = canonical_chrom(rec.split()[0])
                self._contigs[chrom] = rec
                self._lengths[rec] = length
                ab = accession_build(rec)
            if ab:
                accession_builds.add(ab)
        detected = detect_build(self._lengths) if self._lengths else None
        if not detected and len(accession_builds) == 1:
            detected = next(iter(accession_builds))
        if not detected:
            from .fetch import manifest_build

            detected = manifest_build(self.path)
        self.build_evidence = "contig names/lengths or manifest" if detected else ""
        if not detected and not build:
            detected = build_from_sequence(self)
            if detected:
                self.build_evidence = "sequence at the gene loci"
        if build and detected and build != detected:
            raise BuildMismatchError(
                f"the FASTA looks like {detected} (contig names/lengths) but the build is {build}",
                source=str(path),
            )
        self.build: Build | None = build or detected

    def _open(self):  # type: ignore[no-untyped-def]
        try:
            import pysam
        except ImportError:  # pragma: no cover - Windows fallback
            return _PurePythonFasta(self.path)
        with open(self.path, "rb") as fh:
            magic = fh.read(4)
        if magic[:2] == b"\x1f\x8b":
            # bgzip has the BGZF extra field; plain gzip cannot be faidx-indexed.
            if not (len(magic) >= 4 and magic[3] & 4):
                raise ReferenceError_(
                    "FASTA is gzip- but not bgzip-compressed; recompress with "
                    "'zcat f.fa.gz | bgzip > f.fa.gz' or decompress it",
                    source=str(self.path),
                )
        elif magic[:1] != b">":
            raise ReferenceError_(
                "not a FASTA file (it must start with '>')", source=str(self.path)
            )
        try:
            return pysam.FastaFile(str(self.path))
        except (OSError, ValueError) as exc:
            fai = Path(str(self.path) + ".fai")
            small = self.path.stat().st_size < 512 * 1024 * 1024
            if not fai.exists() and small and magic[:1] == b">":
                # no index and none could be written (read-only place): read the file whole
                return _PurePythonFasta(self.path)
            raise ReferenceError_(
                f"cannot read or index the FASTA: {exc}", source=str(self.path)
            ) from exc

    def has_contig(self, chrom: str) -> bool:
        c = canonical_chrom(chrom)
        return c in self._contigs or c in self._regions

    def contig_length(self, chrom: str) -> tuple[str, int] | None:
        """(record name, length) of a whole-contig record; None for region records."""
        rec = self._contigs.get(canonical_chrom(chrom))
        return (rec, self._lengths[rec]) if rec is not None else None

    @property
    def contigs(self) -> list[str]:
        return sorted(set(self._contigs) | set(self._regions))

    def fetch(self, chrom: str, start: int, end: int) -> str:
        c = canonical_chrom(chrom)
        if c in self._contigs:
            rec = self._contigs[c]
            length = self._lengths[rec]
            a, b = max(start, 1), min(end, length)
            seq = self._fa.fetch(rec, a - 1, b).upper() if a <= b else ""
            return "N" * (a - start) + seq + "N" * (end - b)
        out = ["N"] * (end - start + 1)
        for r in self._regions.get(c, ()):
            a, b = max(start, r.start), min(end, r.end)
            if a <= b:
                part = self._fa.fetch(r.record, a - r.start, b - r.start + 1).upper()
                out[a - start : b - start + 1] = part
        return "".join(out)


class _PurePythonFasta:
    """Minimal in-memory FASTA with pysam.FastaFile's fetch/references/lengths surface."""

    def __init__(self, path: Path):
        opener = gzip.open if path.suffix == ".gz" else open
        seqs: dict[str, list[str]] = {}
        name = None
        with opener(path, "rt") as fh:  # type: ignore[operator]
            for line in fh:
                if line.startswith(">"):
                    name = line[1:].split()[0]
                    seqs[name] = []
                elif name is not None:
                    seqs[name].append(line.strip())
        self._seqs = {k: "".join(v) for k, v in seqs.items()}
        self.references = list(self._seqs)
        self.lengths = [len(v) for v in self._seqs.values()]

    def fetch(self, rec: str, start: int, end: int) -> str:
        return self._seqs[rec][start:end]


def _valid_models(ref: ReferenceProvider, build: Build) -> int:
    """How many of ``build``'s transcript models the reference carries intact (no N in the
    CDS, ATG start, stop at the end, no internal stop)."""
    from .consequences import TranscriptContext
    from .normalize import SeqWindow
    from .transcripts import load_transcripts

    ts = load_transcripts(build)
    windows = {
        gene: SeqWindow(chrom, start, ref.fetch(chrom, start, end))
        for gene, chrom, start, end in ts.gene_regions()
        if ref.has_contig(chrom)
    }
    n = 0
    for t in ts.transcripts:
        w = windows.get(t.gene)
        if w is None:
            continue
        ctx = TranscriptContext(t, w)
        n += "N" not in ctx.cds and not ctx.problems
    return n


def build_from_sequence(ref: ReferenceProvider) -> Build | None:
    """The build whose transcript models the sequence fits, when names and lengths cannot tell.

    The two builds put the genes hundreds of kilobases apart, so a FASTA of one build carries
    intact coding sequences at that build's coordinates only; if both or neither fit, None.
    """
    fits = {b: _valid_models(ref, b) for b in ("GRCh38", "GRCh37")}
    good = [b for b, n in fits.items() if n > 0]
    return good[0] if len(good) == 1 else None  # type: ignore[return-value]


def check_gene_regions(ref: ReferenceProvider, build: Build) -> None:
    """Refuse a FASTA whose contig ends before a gene region: a truncated file or a contig
    of another assembly, not a region to annotate from coordinates alone."""
    from .transcripts import load_transcripts

    length_of = getattr(ref, "contig_length", None)
    if length_of is None:
        return
    for gene, chrom, start, end in load_transcripts(build).gene_regions():
        got = length_of(chrom)
        if got is not None and got[1] < end:
            raise ReferenceError_(
                f"contig {got[0]} is {got[1]:,} bp long, too short for {gene} at "
                f"{chrom}:{start:,}-{end:,} ({build}): the FASTA is truncated or not {build}",
                source=ref.name,
            )


def check_models(ref: ReferenceProvider, build: Build, problems: list[str]) -> None:
    """Refuse a FASTA whose sequence contradicts a transcript model (a shifted or foreign
    record): every annotation of that gene would be wrong, so it is the FASTA's error."""
    if problems:
        raise ReferenceError_(
            f"the sequence does not fit the {build} transcript models: {'; '.join(problems)}. "
            "The record is shifted, truncated or of another build (see 'varannot reference "
            "check')",
            source=ref.name,
        )


def open_reference(path: str | Path, build: Build | None = None) -> FastaReference:
    return FastaReference(path, build)
