"""Allele normalization: trim shared bases, left-align (VCF identity), 3'-shift (HGVS).

Alleles here are "minimal": after trimming, an insertion has ``ref == ''`` and sits before
``pos`` (between pos-1 and pos); a deletion has ``alt == ''``. Shifting stops at N, so an
unknown base never makes two different variants look identical.
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import GenomicVariant


@dataclass(frozen=True, slots=True)
class SeqWindow:
    """Plus-strand sequence of a region; ``start`` is the 1-based position of ``seq[0]``."""

    chrom: str
    start: int
    seq: str

    @property
    def end(self) -> int:
        return self.start + len(self.seq) - 1

    def base(self, pos: int) -> str:
        i = pos - self.start
        return self.seq[i] if 0 <= i < len(self.seq) else "N"

    def get(self, start: int, end: int) -> str:
        """Bases [start, end] (1-based inclusive), N outside the window."""
        if start >= self.start and end <= self.end:
            return self.seq[start - self.start : end - self.start + 1]
        return "".join(self.base(p) for p in range(start, end + 1))


def trim(pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    """Remove the shared suffix, then the shared prefix (VCF anchors, padding)."""
    while ref and alt and ref[-1] == alt[-1] != "N":
        ref, alt = ref[:-1], alt[:-1]
    while ref and alt and ref[0] == alt[0] != "N":
        ref, alt, pos = ref[1:], alt[1:], pos + 1
    return pos, ref, alt


def shift_left(w: SeqWindow, pos: int, ref: str, alt: str, limit: int) -> tuple[int, str, str]:
    """Move a minimal indel as far 5' (genomic) as the sequence allows, not below ``limit``."""
    if ref and not alt:
        while pos - 1 >= limit:
            b = w.base(pos - 1)
            if b == "N" or b != ref[-1]:
                break
            ref, pos = b + ref[:-1], pos - 1
    elif alt and not ref:
        while pos - 1 >= limit:
            b = w.base(pos - 1)
            if b == "N" or b != alt[-1]:
                break
            alt, pos = b + alt[:-1], pos - 1
    return pos, ref, alt


def shift_right(w: SeqWindow, pos: int, ref: str, alt: str, limit: int) -> tuple[int, str, str]:
    """Move a minimal indel as far 3' (genomic) as the sequence allows, not past ``limit``."""
    if ref and not alt:
        while pos + len(ref) <= limit:
            b = w.base(pos + len(ref))
            if b == "N" or b != ref[0]:
                break
            ref, pos = ref[1:] + b, pos + 1
    elif alt and not ref:
        while pos <= limit:
            b = w.base(pos)
            if b == "N" or b != alt[0]:
                break
            alt, pos = alt[1:] + b, pos + 1
    return pos, ref, alt


def to_vcf(w: SeqWindow, pos: int, ref: str, alt: str) -> GenomicVariant:
    """Minimal alleles back to VCF form (indels get the preceding base as anchor)."""
    if ref and alt:
        return GenomicVariant(w.chrom, pos, ref, alt)
    anchor = w.base(pos - 1)
    return GenomicVariant(w.chrom, pos - 1, anchor + ref, anchor + alt)


def normalize(w: SeqWindow, v: GenomicVariant) -> tuple[GenomicVariant, tuple[int, str, str]]:
    """Left-aligned VCF form (identity) and the minimal trimmed alleles it came from."""
    pos, ref, alt = trim(v.pos, v.ref, v.alt)
    if bool(ref) != bool(alt):
        pos, ref, alt = shift_left(w, pos, ref, alt, w.start + 1)
    return to_vcf(w, pos, ref, alt), (pos, ref, alt)
