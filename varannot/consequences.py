"""Effect of one allele on one transcript: SO consequences, HGVS c. and the predicted protein.

Works on minimal plus-strand alleles (see ``normalize``). The allele is first shifted 3' in
the transcript's direction (HGVS rule), never across an exon/intron boundary; the shifted
form is used for both the c. name and the consequences so that the two always agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import hgvs
from .models import ProteinChange
from .normalize import SeqWindow, shift_left, shift_right
from .transcripts import CPos, Transcript

# VEP's severity order: the output lists terms most severe first.
SO_ORDER: tuple[str, ...] = (
    "splice_acceptor_variant",
    "splice_donor_variant",
    "stop_gained",
    "frameshift_variant",
    "stop_lost",
    "start_lost",
    "inframe_insertion",
    "inframe_deletion",
    "missense_variant",
    "protein_altering_variant",
    "splice_region_variant",
    "start_retained_variant",
    "stop_retained_variant",
    "synonymous_variant",
    "coding_sequence_variant",
    "5_prime_UTR_variant",
    "3_prime_UTR_variant",
    "intron_variant",
    "upstream_gene_variant",
    "downstream_gene_variant",
)
SO_TERMS = frozenset(SO_ORDER)
_RANK = {t: i for i, t in enumerate(SO_ORDER)}


@dataclass(slots=True)
class TranscriptContext:
    """A transcript with the sequence the FASTA gives for it (N where unknown)."""

    tx: Transcript
    window: SeqWindow
    tx_seq: str = ""
    protein: str = ""  # translation of the CDS incl. the final '*'
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        parts = [self.window.get(s, e) for s, e in self.tx.exons]
        if self.tx.strand == -1:
            parts = [hgvs.revcomp(p) for p in parts]
        self.tx_seq = "".join(parts)
        cds = self.cds
        self.protein = hgvs.translate(cds)
        if "N" in cds:
            return  # partial reference: models cannot be checked here
        if not cds.startswith("ATG"):
            self.problems.append(f"CDS of {self.tx.accession} does not start with ATG ({cds[:3]})")
        if self.protein[-1:] != "*":
            self.problems.append(f"CDS of {self.tx.accession} does not end in a stop codon")
        if "*" in self.protein[:-1]:
            self.problems.append(
                f"CDS of {self.tx.accession} has an internal stop at codon "
                f"{self.protein.index('*') + 1}"
            )

    def patched(self, window: SeqWindow, pos: int, bases: str) -> TranscriptContext:
        """A copy with input bases written over unknown ones (``ref_unverified``): only the
        touched transcript positions and codons are redone, not the whole transcript."""
        new = object.__new__(TranscriptContext)
        new.tx, new.window, new.problems = self.tx, window, []
        seq = self.tx_seq
        codons: set[int] = set()
        for k, b in enumerate(bases):
            t = self.tx.genomic_to_tx(pos + k)
            if t is None:
                continue
            seq = seq[: t - 1] + (hgvs.revcomp(b) if self.tx.strand == -1 else b) + seq[t:]
            if self.tx.cds_tx_start <= t <= self.tx.cds_tx_end:
                codons.add((t - self.tx.cds_tx_start) // 3)
        new.tx_seq = seq
        prot = self.protein
        cds0 = self.tx.cds_tx_start - 1
        for c in codons:
            if c < len(prot):
                aa = hgvs.CODON_TABLE.get(seq[cds0 + 3 * c : cds0 + 3 * c + 3], "X")
                prot = prot[:c] + aa + prot[c + 1 :]
        new.protein = prot
        return new

    @property
    def cds(self) -> str:
        return self.tx_seq[self.tx.cds_tx_start - 1 : self.tx.cds_tx_end]


@dataclass(slots=True)
class Effect:
    consequence: list[str]
    hgvs_c: str
    protein: ProteinChange | None
    exon: str | None
    intron: str | None
    flags: list[str]


def _segment(tx: Transcript, pos: int) -> tuple[int, int]:
    """The exon, intron or flank containing ``pos`` (limits for HGVS shifting)."""
    idx = tx.exon_index(pos)
    if idx is not None:
        return tx.exons[idx]
    if pos < tx.start:
        return (pos - 100000, tx.start - 1)
    if pos > tx.end:
        return (tx.end + 1, pos + 100000)
    lo = max(e for s, e in tx.exons if e < pos) + 1
    hi = min(s for s, e in tx.exons if s > pos) - 1
    return lo, hi


def shift_3prime(ctx: TranscriptContext, pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    if bool(ref) == bool(alt):
        return pos, ref, alt
    tx = ctx.tx
    first = pos if ref else pos - 1
    last = pos + len(ref) - 1 if ref else pos
    seg_lo, seg_hi = _segment(tx, first if ref else pos)
    if ref and not (seg_lo <= first and last <= seg_hi):
        return pos, ref, alt  # spans a boundary: leave as is
    if tx.strand == 1:
        return shift_right(ctx.window, pos, ref, alt, seg_hi)
    return shift_left(ctx.window, pos, ref, alt, seg_lo)


def _site_terms(tx: Transcript, g: int, c: CPos, terms: set[str]) -> None:
    """Terms for one genomic base (not used for the exon-side of insertions)."""
    off = c.offset
    if off:
        a = abs(off)
        if a <= 2:
            terms.add("splice_donor_variant" if off > 0 else "splice_acceptor_variant")
        else:
            terms.add("intron_variant")
            if a <= 8:
                terms.add("splice_region_variant")
        return
    idx = tx.exon_index(g)
    if idx is None:  # outside the transcript
        upstream = (g < tx.start) == (tx.strand == 1)
        terms.add("upstream_gene_variant" if upstream else "downstream_gene_variant")
        return
    s, e = tx.exons[idx]
    if (s != tx.start and g - s < 3) or (e != tx.end and e - g < 3):
        terms.add("splice_region_variant")
    if c.region == "5utr":
        terms.add("5_prime_UTR_variant")
    elif c.region == "3utr":
        terms.add("3_prime_UTR_variant")


def effect(ctx: TranscriptContext, pos: int, ref: str, alt: str) -> Effect:
    """Annotate minimal plus-strand alleles (``pos`` 1-based; insertions sit before ``pos``)."""
    tx = ctx.tx
    if not ref and not alt:
        c = tx.genomic_to_c(pos)
        return Effect([], f"{tx.accession}:c.{c}=", None, None, None, ["no_change"])
    pos, ref, alt = shift_3prime(ctx, pos, ref, alt)
    minus = tx.strand == -1
    t_ref = hgvs.revcomp(ref) if minus else ref
    t_alt = hgvs.revcomp(alt) if minus else alt
    flags: list[str] = []
    terms: set[str] = set()

    # --- c. name ---------------------------------------------------------------------------
    if ref:
        lo, hi = pos, pos + len(ref) - 1
        c_first, c_last = (tx.genomic_to_c(hi), tx.genomic_to_c(lo)) if minus else (
            tx.genomic_to_c(lo), tx.genomic_to_c(hi))  # fmt: skip
        if not alt:
            kind = "del"
        elif len(ref) == 1 and len(alt) == 1:
            kind = "sub"
        elif len(ref) > 1 and alt == hgvs.revcomp(ref):
            kind = "inv"
        else:
            kind = "delins"
        c1, c2 = str(c_first), (None if lo == hi else str(c_last))
        span = range(lo, hi + 1)
    else:
        n = len(alt)
        if minus:
            before = hgvs.revcomp(ctx.window.get(pos, pos + n - 1))
            dup_lo, dup_hi = pos, pos + n - 1
        else:
            before = ctx.window.get(pos - n, pos - 1)
            dup_lo, dup_hi = pos - n, pos - 1
        if minus:
            after = hgvs.revcomp(ctx.window.get(pos - n, pos - 1))
            after_lo, after_hi = pos - n, pos - 1
        else:
            after = ctx.window.get(pos, pos + n - 1)
            after_lo, after_hi = pos, pos + n - 1
        if before != t_alt and after == t_alt:
            # shifting stopped at unknown (N) sequence: the copy is on the 3' side
            before, dup_lo, dup_hi = after, after_lo, after_hi
        if before == t_alt:
            kind = "dup"
            a_, b_ = tx.genomic_to_c(dup_lo), tx.genomic_to_c(dup_hi)
            c_first, c_last = (b_, a_) if minus else (a_, b_)
            c1, c2 = str(c_first), (None if n == 1 else str(c_last))
            span = range(dup_lo, dup_hi + 1)
        else:
            kind = "ins"
            a_, b_ = tx.genomic_to_c(pos - 1), tx.genomic_to_c(pos)
            c_first, c_last = (b_, a_) if minus else (a_, b_)
            c1, c2 = str(c_first), str(c_last)
            span = range(pos - 1, pos + 1)
        lo, hi = pos - 1, pos
    hgvs_c = hgvs.format_c(tx.accession, c1, c2, kind, t_ref, t_alt)

    # --- consequences per base ---------------------------------------------------------------
    cpos = [(g, tx.genomic_to_c(g)) for g in span]
    if ref:
        for g, c in cpos:
            _site_terms(tx, g, c, terms)
    else:
        # an insertion sits between two bases: a term applies when both flanks agree
        (g1, c1p), (g2, c2p) = cpos[0], cpos[-1]
        t1: set[str] = set()
        t2: set[str] = set()
        _site_terms(tx, g1, c1p, t1)
        _site_terms(tx, g2, c2p, t2)
        both = t1 & t2
        terms |= both
        for extra in ("splice_region_variant",):
            if extra in t1 | t2:
                terms.add(extra)
        if (t1 ^ t2) & {"splice_donor_variant", "splice_acceptor_variant", "intron_variant"}:
            terms.add("splice_region_variant")
        if kind == "dup" and both == set() and not (t1 | t2):
            pass

    exonic = all(c.offset == 0 and tx.exon_index(g) is not None for g, c in cpos)
    contiguous = True
    if exonic and len(cpos) > 1:
        t_first = tx.genomic_to_tx(cpos[0][0]) or 0
        t_last = tx.genomic_to_tx(cpos[-1][0]) or 0
        contiguous = abs(t_last - t_first) == len(cpos) - 1
    if ref:
        in_cds = any(c.region == "cds" and c.offset == 0 for _, c in cpos)
    else:  # an insertion is coding only between two coding bases
        in_cds = all(c.region == "cds" and c.offset == 0 for _, c in cpos)
        if not in_cds and exonic_pair(cpos) == ("cds", "3utr"):
            terms.add("3_prime_UTR_variant")

    protein: ProteinChange | None = None
    if in_cds:
        if exonic and contiguous:
            protein, coding_terms = _protein_effect(ctx, lo, hi, bool(ref), t_alt, kind)
            terms |= coding_terms
            if protein.kind == "unknown":
                flags.append("protein_unpredictable_reference_N")
        else:
            terms.add("coding_sequence_variant")
            protein = hgvs.unknown(tx.protein)
    elif (
        terms & {"splice_donor_variant", "splice_acceptor_variant"}
        and tx.cds_start <= lo <= tx.cds_end
    ):
        protein = hgvs.unknown(tx.protein)
    if protein is None and not terms & {
        "5_prime_UTR_variant", "3_prime_UTR_variant", "upstream_gene_variant",
        "downstream_gene_variant", "intron_variant", "splice_region_variant",
        "splice_donor_variant", "splice_acceptor_variant",
    }:  # fmt: skip
        terms.add("coding_sequence_variant")

    # exon / intron numbers
    n_ex = len(tx.exons)
    exon_no = intron_no = None
    idxs = {tx.exon_index(g) for g, c in cpos if c.offset == 0}
    idxs.discard(None)
    if idxs:
        nums = sorted(i + 1 for i in idxs if i is not None)
        exon_no = f"{nums[0]}/{n_ex}" if len(nums) == 1 else f"{nums[0]}-{nums[-1]}/{n_ex}"
    else:
        intr = tx.intron_number(lo if ref else pos)
        if intr:
            intron_no = f"{intr[0]}/{n_ex - 1}"
    consequence = sorted(terms, key=_RANK.__getitem__)
    return Effect(consequence, hgvs_c, protein, exon_no, intron_no, flags)


def _protein_effect(
    ctx: TranscriptContext, lo: int, hi: int, has_ref: bool, t_alt: str, kind: str
) -> tuple[ProteinChange, set[str]]:
    """Predicted protein for an exonic change touching the CDS (genomic lo..hi)."""
    tx = ctx.tx
    acc = tx.protein
    tg_lo, tg_hi = tx.genomic_to_tx(lo) or 0, tx.genomic_to_tx(hi) or 0
    t_a, t_b = min(tg_lo, tg_hi), max(tg_lo, tg_hi)  # 1-based transcript coords
    if has_ref:
        ts, te = t_a - 1, t_b  # 0-based half-open on tx
    else:
        ts = te = t_b - 1  # insertion before the 3' flank (tx orientation)
    cds0 = tx.cds_tx_start - 1
    ref_prot = ctx.protein
    n_codons = len(ref_prot)
    cs = ts - cds0
    ce = te - cds0
    if cs < 3 and ce > 0 or (not has_ref and 0 < cs < 3):
        if kind == "sub" or kind == "delins" and te - ts == len(t_alt):
            new = ctx.tx_seq[cds0:ts] + t_alt + ctx.tx_seq[te : cds0 + 3]
            if new[:3] == "ATG":
                return hgvs.synonymous(acc, "M", 1), {"start_retained_variant"}
        if "X" in ref_prot[:1]:
            return hgvs.unknown(acc, 1), {"coding_sequence_variant"}
        return hgvs.ProteinChange(acc, "p.(Met1?)", "M1?", "start_lost", 1, 1, "M", ""), {
            "start_lost"
        }
    if cs < 0:  # 5'UTR-into-CDS changes not touching codon 1 cannot happen; be safe
        return hgvs.unknown(acc), {"coding_sequence_variant"}
    delta = len(t_alt) - (te - ts)
    c0 = cs // 3
    c1 = max(ce - 1, cs) // 3
    touches_stop = c1 >= n_codons - 1
    frameshift = delta % 3 != 0
    new_stop = False
    head = ctx.tx_seq[cds0 + c0 * 3 : ts] + t_alt  # only the changed stretch is rebuilt
    if frameshift or touches_stop:
        tail = hgvs.translate(head + ctx.tx_seq[te:], to_stop=True)
        alt_prot = ref_prot[:c0] + tail
        window_ref = ref_prot[c0:]
        window_alt = tail  # may run off the transcript end without a stop
    else:
        w_alt = head + ctx.tx_seq[te : cds0 + (c1 + 1) * 3]
        aa = hgvs.translate(w_alt)
        if "*" in aa:
            aa = aa[: aa.index("*") + 1]
            alt_prot = ref_prot[:c0] + aa
            new_stop = True
        else:
            alt_prot = ref_prot[:c0] + aa + ref_prot[c1 + 1 :]
        window_ref = ref_prot[c0 : c1 + 1]
        window_alt = aa
    if "X" in window_ref or "X" in window_alt[:-1] or (window_alt and window_alt[-1] == "X"):
        return hgvs.unknown(acc, c0 + 1), _coarse_terms(frameshift, delta)
    # first difference
    p = c0
    lr, la = len(ref_prot), len(alt_prot)
    while p < lr and p < la and ref_prot[p] == alt_prot[p]:
        p += 1
    if p >= lr and p >= la:
        aa0 = ref_prot[c0]
        term = "stop_retained_variant" if aa0 == "*" else "synonymous_variant"
        return hgvs.synonymous(acc, aa0, c0 + 1), {term}
    if "X" in alt_prot[p : alt_prot.find("*", p) + 1 if "*" in alt_prot[p:] else la]:
        return hgvs.unknown(acc, p + 1), _coarse_terms(frameshift, delta)
    if p >= lr:
        return hgvs.unknown(acc, lr), _coarse_terms(frameshift, delta)
    truncated = new_stop or (touches_stop and not frameshift and la < lr)
    if frameshift:
        pc = hgvs.protein_change(acc, ref_prot, alt_prot, p, lr, la, frameshift=True)
        if pc.kind == "nonsense":
            return pc, {"stop_gained"}
        if pc.kind == "stop_lost":
            return pc, {"stop_lost", "frameshift_variant"}
        return pc, {"frameshift_variant"}
    if truncated or (p < la and alt_prot[p] == "*" and ref_prot[p] != "*"):
        k = alt_prot.find("*", p)
        if k < 0:
            return hgvs.unknown(acc, p + 1), _coarse_terms(frameshift, delta)
        pc = hgvs.protein_change(
            acc, ref_prot, alt_prot, p, p + max(k - p, 1), k + 1, frameshift=False
        )
        terms = {"stop_gained"}
        if delta > 0:
            terms.add("inframe_insertion")
        elif delta < 0:
            terms.add("inframe_deletion")
        return pc, terms
    if p < lr and ref_prot[p] == "*":
        pc = hgvs.protein_change(acc, ref_prot, alt_prot, p, lr, la, frameshift=True)
        return pc, {"stop_lost"}
    s = 0
    while s < lr - p and s < la - p and ref_prot[lr - 1 - s] == alt_prot[la - 1 - s]:
        s += 1
    # an unknown residue inside or right after the change: the 3' shift cannot be decided
    if "X" in ref_prot[max(p - 1, 0) : lr - s + 1] or "X" in alt_prot[p : la - s]:
        return hgvs.unknown(acc, p + 1), _coarse_terms(frameshift, delta)
    pc = hgvs.protein_change(acc, ref_prot, alt_prot, p, lr - s, la - s, frameshift=False)
    if delta > 0:
        return pc, {"inframe_insertion"}
    if delta < 0:
        return pc, {"inframe_deletion"}
    if pc.kind in ("missense", "delins"):
        return pc, {"missense_variant"}
    return pc, {"protein_altering_variant"}


def _coarse_terms(frameshift: bool, delta: int) -> set[str]:
    if frameshift:
        return {"frameshift_variant"}
    if delta > 0:
        return {"inframe_insertion"}
    if delta < 0:
        return {"inframe_deletion"}
    return {"coding_sequence_variant"}


def exonic_pair(cpos: list[tuple[int, CPos]]) -> tuple[str, ...]:
    """Regions of the two flanks of an insertion, in transcript order."""
    regions = tuple(c.region for _, c in cpos if c.offset == 0)
    return tuple(sorted(regions, key=("5utr", "cds", "3utr").index))
