"""Transcript models (exons, CDS) and coordinate mapping between genome, c. and protein.

Models come from ``reference/transcripts.tsv`` (shipped in the wheel as ``varannot.data``).
All genomic coordinates are 1-based inclusive on the plus strand; transcript coordinates
count from the transcript's 5' end. Mapping is pure arithmetic on the exon table: no
sequence needed, which is what lets varannot name variants where the FASTA has only N.
"""

from __future__ import annotations

import csv
import io
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from . import shipped
from .errors import TranscriptModelError
from .models import Build

GENES: tuple[str, ...] = ("MEN1", "BCL2", "BAX", "TP53")
# How far outside the transcript a variant is still reported as up-/downstream (VEP default).
FLANK = 5000


@dataclass(frozen=True, slots=True)
class CPos:
    """A c. position: ``base`` on the c. axis and an intronic ``offset``.

    ``region`` is '5utr' (base < 0, printed ``-n``), 'cds' (1..cds_len), '3utr' (printed ``*n``).
    """

    base: int
    offset: int = 0
    region: str = "cds"

    def __str__(self) -> str:
        if self.region == "5utr":
            s = str(self.base)
        elif self.region == "3utr":
            s = f"*{self.base}"
        else:
            s = str(self.base)
        if self.offset > 0:
            s += f"+{self.offset}"
        elif self.offset < 0:
            s += str(self.offset)
        return s


@dataclass(slots=True)
class Transcript:
    """One transcript model; exons are (start, end) genomic pairs in transcript order."""

    build: Build
    gene: str
    accession: str
    protein: str
    role: str
    ensembl: str
    chrom: str
    strand: int  # +1 / -1
    cds_start: int  # genomic low end of the CDS (incl. stop)
    cds_end: int  # genomic high end
    protein_length: int
    exons: tuple[tuple[int, int], ...]
    source: str
    # derived
    exon_tx: list[tuple[int, int]] = field(default_factory=list)  # transcript coords per exon
    cds_tx_start: int = 0  # transcript position of c.1
    cds_tx_end: int = 0  # transcript position of the last base of the stop codon
    tx_length: int = 0
    _sorted_starts: list[int] = field(default_factory=list)
    _sorted_exons: list[tuple[int, int, int]] = field(default_factory=list)  # (start,end,idx)

    def __post_init__(self) -> None:
        t = 0
        for s, e in self.exons:
            if e < s:
                raise TranscriptModelError(
                    f"exon {s}-{e} ends before it starts", source=self.accession
                )
            self.exon_tx.append((t + 1, t + e - s + 1))
            t += e - s + 1
        self.tx_length = t
        self._sorted_exons = sorted((s, e, i) for i, (s, e) in enumerate(self.exons))
        self._sorted_starts = [s for s, _, _ in self._sorted_exons]
        first = self.cds_start if self.strand == 1 else self.cds_end
        last = self.cds_end if self.strand == 1 else self.cds_start
        a, b = self.genomic_to_tx(first), self.genomic_to_tx(last)
        if a is None or b is None:
            raise TranscriptModelError("CDS ends do not fall in exons", source=self.accession)
        self.cds_tx_start, self.cds_tx_end = a, b

    # --- basic geometry -------------------------------------------------------------------
    @property
    def start(self) -> int:
        return self._sorted_exons[0][0]

    @property
    def end(self) -> int:
        return self._sorted_exons[-1][1]

    @property
    def cds_length(self) -> int:
        return self.cds_tx_end - self.cds_tx_start + 1

    def exon_index(self, pos: int) -> int | None:
        """Index (transcript order) of the exon containing ``pos``, or None."""
        i = bisect_right(self._sorted_starts, pos) - 1
        if i >= 0:
            s, e, idx = self._sorted_exons[i]
            if s <= pos <= e:
                return idx
        return None

    def genomic_to_tx(self, pos: int) -> int | None:
        """Transcript coordinate of an exonic genomic position."""
        idx = self.exon_index(pos)
        if idx is None:
            return None
        s, e = self.exons[idx]
        t0 = self.exon_tx[idx][0]
        return t0 + (pos - s if self.strand == 1 else e - pos)

    def tx_to_genomic(self, t: int) -> int:
        """Genomic position of transcript coordinate ``t`` (may lie beyond the ends)."""
        if t < 1:
            s, e = self.exons[0]
            return (s - (1 - t)) if self.strand == 1 else (e + (1 - t))
        if t > self.tx_length:
            s, e = self.exons[-1]
            return (e + (t - self.tx_length)) if self.strand == 1 else (s - (t - self.tx_length))
        for idx, (a, b) in enumerate(self.exon_tx):
            if a <= t <= b:
                s, e = self.exons[idx]
                return s + (t - a) if self.strand == 1 else e - (t - a)
        raise AssertionError("unreachable")

    def tx_to_c(self, t: int, offset: int = 0) -> CPos:
        if t < self.cds_tx_start:
            return CPos(t - self.cds_tx_start, offset, "5utr")
        if t > self.cds_tx_end:
            return CPos(t - self.cds_tx_end, offset, "3utr")
        return CPos(t - self.cds_tx_start + 1, offset, "cds")

    def c_to_tx(self, c: CPos) -> int:
        if c.region == "5utr":
            return self.cds_tx_start + c.base
        if c.region == "3utr":
            return self.cds_tx_end + c.base
        return self.cds_tx_start + c.base - 1

    def genomic_to_c(self, pos: int) -> CPos:
        """c. position of any genomic position (intronic offsets, up/downstream as -n / *n)."""
        t = self.genomic_to_tx(pos)
        if t is not None:
            return self.tx_to_c(t)
        # outside the transcript: continue the count (c.-n upstream, c.*n downstream)
        if pos < self.start or pos > self.end:
            before = (pos < self.start) == (self.strand == 1)
            if before:
                dist = (self.start - pos) if self.strand == 1 else (pos - self.end)
                return self.tx_to_c(1 - dist)
            dist = (pos - self.end) if self.strand == 1 else (self.start - pos)
            return self.tx_to_c(self.tx_length + dist)
        # intronic: nearest exon boundary; ties go to the upstream exon (+)
        i = bisect_right(self._sorted_starts, pos) - 1
        left_end = self._sorted_exons[i][1]  # exon before (genomic)
        right_start = self._sorted_exons[i + 1][0]
        d_left, d_right = pos - left_end, right_start - pos
        if self.strand == 1:
            # upstream exon is the left one
            if d_left <= d_right:
                return self.tx_to_c(self.genomic_to_tx(left_end) or 0, d_left)
            return self.tx_to_c(self.genomic_to_tx(right_start) or 0, -d_right)
        # minus strand: upstream exon is the right one
        if d_right <= d_left:
            return self.tx_to_c(self.genomic_to_tx(right_start) or 0, d_right)
        return self.tx_to_c(self.genomic_to_tx(left_end) or 0, -d_left)

    def c_to_genomic(self, c: CPos) -> int:
        g = self.tx_to_genomic(self.c_to_tx(c))
        return g + c.offset * self.strand

    def intron_number(self, pos: int) -> tuple[int, int] | None:
        """(intron number 1-based in transcript order, exon index upstream) for intronic pos."""
        if self.exon_index(pos) is not None or pos < self.start or pos > self.end:
            return None
        i = bisect_right(self._sorted_starts, pos) - 1
        left_idx = self._sorted_exons[i][2]
        right_idx = self._sorted_exons[i + 1][2]
        up = min(left_idx, right_idx)
        return up + 1, up

    # --- protein geometry -----------------------------------------------------------------
    def codon_genomic(self, codon: int) -> tuple[int, int, int]:
        """Genomic positions of the three bases of codon ``codon`` (1-based), 5'->3'."""
        t0 = self.cds_tx_start + (codon - 1) * 3
        return (self.tx_to_genomic(t0), self.tx_to_genomic(t0 + 1), self.tx_to_genomic(t0 + 2))

    def codon_of(self, pos: int) -> int | None:
        """Codon number of a genomic position inside the CDS, else None."""
        t = self.genomic_to_tx(pos)
        if t is None or t < self.cds_tx_start or t > self.cds_tx_end:
            return None
        return (t - self.cds_tx_start) // 3 + 1

    def coding_intervals(self) -> list[tuple[int, int]]:
        """Genomic intervals of the CDS (incl. stop), sorted by genomic position."""
        out = []
        for s, e in self.exons:
            a, b = max(s, self.cds_start), min(e, self.cds_end)
            if a <= b:
                out.append((a, b))
        return sorted(out)

    def splice_sites(self) -> list[tuple[int, int]]:
        """Genomic intervals of the canonical splice dinucleotides (intron ±1..2)."""
        out = []
        for k in range(len(self._sorted_exons) - 1):
            e = self._sorted_exons[k][1]
            s = self._sorted_exons[k + 1][0]
            out.append((e + 1, e + 2))
            out.append((s - 2, s - 1))
        return out


def map_residue(pos: int, src: Transcript, dst: Transcript) -> int | None:
    """Residue ``pos`` of ``src``'s protein expressed on ``dst``'s protein, via the genome.

    Returns None when the codon does not sit in ``dst``'s CDS in frame (e.g. the 5 residues
    only the 615-aa menin isoform has). This is how MEN1 legacy numbering is derived — not by
    subtracting 5.
    """
    if src.chrom != dst.chrom:
        return None
    g = src.codon_genomic(pos)
    codons = {dst.codon_of(x) for x in g}
    if len(codons) != 1:
        return None
    c = codons.pop()
    if c is None:
        return None
    # same frame: the first base of the source codon must be the first base of dst's codon
    t = dst.genomic_to_tx(g[0])
    if t is None or (t - dst.cds_tx_start) % 3 != 0:
        return None
    return c


@dataclass(slots=True)
class TranscriptSet:
    """All models for one build, indexed for lookup by gene, accession and position."""

    build: Build
    transcripts: list[Transcript]
    by_accession: dict[str, Transcript] = field(default_factory=dict)
    mane: dict[str, Transcript] = field(default_factory=dict)
    legacy: dict[str, Transcript] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for t in self.transcripts:
            self.by_accession[t.accession] = t
            self.by_accession[t.accession.split(".")[0]] = t
            self.by_accession[t.protein] = t
            self.by_accession[t.protein.split(".")[0]] = t
            if t.role == "mane_select":
                self.mane[t.gene] = t
            elif t.role == "literature_numbering":
                self.legacy[t.gene] = t

    def get(self, accession: str) -> Transcript | None:
        return self.by_accession.get(accession) or self.by_accession.get(accession.split(".")[0])

    def overlapping(self, chrom: str, start: int, end: int, flank: int = FLANK) -> list[Transcript]:
        """MANE transcripts whose span (plus flank) overlaps [start, end]."""
        return [
            t
            for t in self.mane.values()
            if t.chrom == chrom and start <= t.end + flank and end >= t.start - flank
        ]

    def gene_regions(self, flank: int = FLANK) -> list[tuple[str, str, int, int]]:
        """(gene, chrom, start, end) for every gene, covering all its models plus flank."""
        out = []
        for gene, t in self.mane.items():
            lo, hi = t.start, t.end
            if gene in self.legacy:
                lo, hi = min(lo, self.legacy[gene].start), max(hi, self.legacy[gene].end)
            out.append((gene, t.chrom, lo - flank, hi + flank))
        return out


def _parse(text: str, origin: str) -> list[Transcript]:
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    rows = list(csv.DictReader(io.StringIO("\n".join(lines)), delimiter="\t"))
    out = []
    for n, r in enumerate(rows, start=2):
        try:
            exons = tuple(
                (int(a), int(b)) for a, b in (x.split("-") for x in r["exons"].split(","))
            )
            out.append(
                Transcript(
                    build=r["build"],  # type: ignore[arg-type]
                    gene=r["gene"],
                    accession=r["transcript"],
                    protein=r["protein"],
                    role=r["role"],
                    ensembl=r["ensembl"],
                    chrom=r["chrom"],
                    strand=1 if r["strand"] == "+" else -1,
                    cds_start=int(r["cds_start"]),
                    cds_end=int(r["cds_end"]),
                    protein_length=int(r["protein_length"]),
                    exons=exons,
                    source=r["source"],
                )
            )
        except (KeyError, ValueError) as exc:
            raise TranscriptModelError(
                f"bad transcript row: {exc}", source=origin, record=f"row {n}"
            ) from exc
    for t in out:
        if t.cds_length != 3 * (t.protein_length + 1):
            raise TranscriptModelError(
                f"CDS length {t.cds_length} != 3 x (protein length {t.protein_length} + 1)",
                source=origin,
                record=t.accession,
            )
    return out


@cache
def _shipped_text() -> str:
    return shipped.read_text("transcripts.tsv")


@cache
def load_transcripts(build: Build, path: str | None = None) -> TranscriptSet:
    """The transcript set of a build (shipped table unless ``path`` is given)."""
    if build not in ("GRCh38", "GRCh37"):
        raise TranscriptModelError(f"unknown build {build!r} (use GRCh38 or GRCh37)")
    text = Path(path).read_text() if path else _shipped_text()
    models = [t for t in _parse(text, path or "transcripts.tsv") if t.build == build]
    return TranscriptSet(build, models)
