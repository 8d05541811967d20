"""Effect of one allele on one transcript: SO consequences, HGVS c. and the predicted protein.

Works on minimal plus-strand alleles (see ``normalize``). The allele is first shifted 3' in
the transcript's direction (HGVS rule), across exon/intron borders and the same on both
strands; the shifted form is used for both the c. name and the consequences so that the two
always agree. The edge conventions are listed in README ("HGVS conventions").
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

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


def shift_3prime(ctx: TranscriptContext, pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    """HGVS 3' rule: move a minimal indel as far 3' on the transcript strand as the sequence
    allows, across exon/intron borders, the same on both strands; it stops only at N."""
    if bool(ref) == bool(alt):
        return pos, ref, alt
    w = ctx.window
    if ctx.tx.strand == 1:
        return shift_right(w, pos, ref, alt, w.end)
    return shift_left(w, pos, ref, alt, w.start + 1)


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


_NON_CODING = frozenset(
    {
        "5_prime_UTR_variant",
        "3_prime_UTR_variant",
        "upstream_gene_variant",
        "downstream_gene_variant",
        "intron_variant",
        "splice_region_variant",
        "splice_donor_variant",
        "splice_acceptor_variant",
    }
)
_SPLICE_SITE = frozenset({"splice_donor_variant", "splice_acceptor_variant"})


def effect(ctx: TranscriptContext, pos: int, ref: str, alt: str, shift: bool = True) -> Effect:
    """Annotate minimal plus-strand alleles (``pos`` 1-based; insertions sit before ``pos``).

    ``shift=False`` annotates the allele where it is given (the oracle test uses it to name
    differences that are only bcftools' left-aligned position)."""
    tx = ctx.tx
    if not ref and not alt:
        c = tx.genomic_to_c(pos)
        return Effect([], f"{tx.accession}:c.{c}=", None, None, None, ["no_change"])
    if shift:
        pos, ref, alt = shift_3prime(ctx, pos, ref, alt)
    minus = tx.strand == -1
    t_ref = hgvs.revcomp(ref) if minus else ref
    t_alt = hgvs.revcomp(alt) if minus else alt
    flags: list[str] = []
    terms: set[str] = set()
    named_cds = False  # the c. name covers coding bases (a dup of stop-codon bases)

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
    else:
        n = len(alt)
        if minus:
            before = hgvs.revcomp(ctx.window.get(pos, pos + n - 1))
            dup_lo, dup_hi = pos, pos + n - 1
            after = hgvs.revcomp(ctx.window.get(pos - n, pos - 1))
            after_lo, after_hi = pos - n, pos - 1
        else:
            before = ctx.window.get(pos - n, pos - 1)
            dup_lo, dup_hi = pos - n, pos - 1
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
            named_cds = any(c.region == "cds" and c.offset == 0 for c in (a_, b_))
        else:
            kind = "ins"
            a_, b_ = tx.genomic_to_c(pos - 1), tx.genomic_to_c(pos)
            c_first, c_last = (b_, a_) if minus else (a_, b_)
            c1, c2 = str(c_first), str(c_last)
        lo, hi = pos - 1, pos
    hgvs_c = hgvs.format_c(tx.accession, c1, c2, kind, t_ref, t_alt)

    # --- consequences ------------------------------------------------------------------------
    protein: ProteinChange | None = None
    coding = False  # the protein was predicted from sequence
    if ref:
        cpos = [(g, tx.genomic_to_c(g)) for g in range(lo, hi + 1)]
        for g, c in cpos:
            _site_terms(tx, g, c, terms)
        exonic = all(c.offset == 0 and tx.exon_index(g) is not None for g, c in cpos)
        t_lo, t_hi = tx.genomic_to_tx(lo), tx.genomic_to_tx(hi)
        contiguous = exonic and t_lo is not None and t_hi is not None
        if contiguous and t_lo is not None and t_hi is not None:
            contiguous = abs(t_hi - t_lo) == hi - lo
        if any(c.region == "cds" and c.offset == 0 for _, c in cpos):
            if contiguous and t_lo is not None and t_hi is not None:
                ts, te = min(t_lo, t_hi) - 1, max(t_lo, t_hi)  # 0-based half-open on tx
                protein, coding_terms = _protein_effect(ctx, ts, te, t_alt)
                terms |= coding_terms
                coding = True
            else:
                terms.add("coding_sequence_variant")
                protein = hgvs.unknown(tx.protein)
        elif terms & _SPLICE_SITE and tx.cds_start <= lo <= tx.cds_end:
            protein = hgvs.unknown(tx.protein)
        exon_gs = [g for g, c in cpos if c.offset == 0]
    else:
        # an insertion sits between two bases (g5, g3 in transcript order)
        g5, g3 = (pos, pos - 1) if minus else (pos - 1, pos)
        t5, t3 = tx.genomic_to_tx(g5), tx.genomic_to_tx(g3)
        s5: set[str] = set()
        s3: set[str] = set()
        _site_terms(tx, g5, tx.genomic_to_c(g5), s5)
        _site_terms(tx, g3, tx.genomic_to_c(g3), s3)
        exon_gs = [g for g, t in ((g5, t5), (g3, t3)) if t is not None]
        inside = tx.start <= min(g5, g3) and max(g5, g3) <= tx.end
        if (t5 is None and t3 is None) or not inside:
            # intronic or outside: a term holds when both flanks agree; next to a splice
            # site (both dinucleotides intact) it is splice-region intron sequence
            terms |= s5 & s3
            if not inside:  # at a transcript end: outside the transcript
                terms |= (s5 | s3) & {"upstream_gene_variant", "downstream_gene_variant"}
            elif "splice_region_variant" in terms or (s5 ^ s3) & _SPLICE_SITE:
                terms.add("splice_region_variant")
                if terms.isdisjoint(_SPLICE_SITE):
                    terms.add("intron_variant")
        else:
            # between two exon bases, or at an exon/intron junction (the splice dinucleotide
            # stays intact, so the inserted bases are exonic: c.673-1_673insC is coding)
            point = t5 if t5 is not None else (t3 or 1) - 1  # insert after tx[point] (1-based)
            near_border = "splice_region_variant" in s5 & s3 or (t5 is None) != (t3 is None)
            if near_border:
                terms.add("splice_region_variant")
            if tx.cds_tx_start <= point < tx.cds_tx_end:
                protein, coding_terms = _protein_effect(ctx, point, point, t_alt)
                terms |= coding_terms
                coding = True
            elif point < tx.cds_tx_start:
                terms.add("5_prime_UTR_variant")
            else:
                terms.add("3_prime_UTR_variant")
                if point == tx.cds_tx_end and named_cds:
                    # a dup of stop-codon bases lands after the intact stop: named in the CDS
                    terms.add("stop_retained_variant")
                    protein = hgvs.unchanged(tx.protein)
    if protein is None and terms.isdisjoint(_NON_CODING):
        terms.add("coding_sequence_variant")
    if coding and protein is not None and protein.kind == "unknown":
        flags.append("protein_unpredictable_reference_N")

    # exon / intron numbers
    n_ex = len(tx.exons)
    exon_no = intron_no = None
    idxs = {tx.exon_index(g) for g in exon_gs}
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


def _inframe_terms(delta: int) -> set[str]:
    if delta > 0:
        return {"inframe_insertion"}
    if delta < 0:
        return {"inframe_deletion"}
    return set()


def _protein_effect(
    ctx: TranscriptContext, ts: int, te: int, t_alt: str
) -> tuple[ProteinChange, set[str]]:
    """Predicted protein for an exonic change ``tx_seq[ts:te] -> t_alt`` touching the CDS.

    Conventions (README, "HGVS conventions"): the protein is compared whole, so the change is
    named 3'-most at protein level; a change equivalent to a UTR-only change keeps the start or
    stop (``p.(=)``); a frameshift whose first new residue is a stop is named as nonsense but
    listed as both stop_gained and frameshift_variant; an in-frame change that removes the stop
    is named from its first changed residue to the new stop (``p.(Asp393GlufsTer10)``).
    """
    tx = ctx.tx
    acc = tx.protein
    seq = ctx.tx_seq
    ref_prot = ctx.protein
    n_codons = len(ref_prot)
    cds0 = tx.cds_tx_start - 1  # 0-based index of c.1
    cds_end = tx.cds_tx_end  # 0-based end (exclusive) of the stop codon
    delta = len(t_alt) - (te - ts)
    frameshift = delta % 3 != 0
    stop_hit = ts < cds_end and te > cds_end - 3 if te > ts else cds_end - 3 < ts < cds_end

    # --- start codon ---------------------------------------------------------------------
    if (ts < cds0 + 3 and te > cds0) or (te == ts and cds0 < ts < cds0 + 3):
        alt_tx = seq[:ts] + t_alt + seq[te:]
        if alt_tx.endswith(seq[cds0:]):  # the same as a 5'UTR change: the ATG is intact
            return hgvs.unchanged(acc), {"start_retained_variant", "5_prime_UTR_variant"}
        if "X" in ref_prot[:1] or "N" in alt_tx[cds0 : cds0 + 3]:
            return hgvs.unknown(acc, 1), {"coding_sequence_variant"}
        if delta == 0 and alt_tx[cds0 : cds0 + 3] == "ATG":
            return hgvs.synonymous(acc, "M", 1), {"start_retained_variant"}
        lost = hgvs.ProteinChange(acc, "p.(Met1?)", "M1?", "start_lost", 1, 1, "M", "")
        return lost, {"start_lost"}
    if stop_hit and (t_alt + seq[te : te + cds_end - ts])[: cds_end - ts] == seq[ts:cds_end]:
        # the same as a 3'UTR change: the stop codon is intact
        return hgvs.unchanged(acc), {"stop_retained_variant", "3_prime_UTR_variant"}

    # --- the alternative protein ---------------------------------------------------------
    cs, ce = ts - cds0, te - cds0
    c0 = cs // 3
    c1 = min(max(ce - 1, cs) // 3, n_codons - 1)
    touches_stop = c1 >= n_codons - 1
    head = seq[cds0 + c0 * 3 : ts] + t_alt  # only the changed stretch is rebuilt
    if frameshift or touches_stop:
        tail = hgvs.translate(head + seq[te:], to_stop=True)
        alt_prot = ref_prot[:c0] + tail
    else:
        aa = hgvs.translate(head + seq[te : cds0 + (c1 + 1) * 3])
        if "*" in aa:
            alt_prot = ref_prot[:c0] + aa[: aa.index("*") + 1]
        else:
            alt_prot = ref_prot[:c0] + aa + ref_prot[c1 + 1 :]
    if "X" in ref_prot[c0 : c1 + 1]:
        return hgvs.unknown(acc, c0 + 1), _coarse_terms(frameshift, delta)
    k = alt_prot.find("X", c0)
    if k >= 0:  # unknown sequence (N) downstream: the new C-terminus is unknown
        alt_prot = alt_prot[:k]
    lr, la = n_codons, len(alt_prot)
    p = c0
    while p < lr and p < la and ref_prot[p] == alt_prot[p]:
        p += 1
    if p >= lr and p >= la:
        aa0 = ref_prot[c0]
        term = "stop_retained_variant" if aa0 == "*" else "synonymous_variant"
        return hgvs.synonymous(acc, aa0, c0 + 1), {term}
    if p >= la or p >= lr:  # the alternative ran into unknown sequence or off the transcript
        return hgvs.unknown(acc, p + 1), _coarse_terms(frameshift, delta)
    has_stop = alt_prot.endswith("*")

    if frameshift:
        terms = {"frameshift_variant"}
        if alt_prot[p] == "*":  # first new residue is a stop: nonsense name, both terms
            terms.add("stop_gained")
        elif ref_prot[p] == "*" or stop_hit:
            terms.add("stop_lost")
        return hgvs.protein_change(acc, ref_prot, alt_prot, p, lr, la, frameshift=True), terms

    base = _inframe_terms(delta)
    # where the stop ends up relative to where the in-frame change would put it
    moved = (la - lr - delta // 3) if has_stop else 1
    if moved > 0:  # the reference stop is lost: extension (or new C-terminus)
        pc = hgvs.protein_change(acc, ref_prot, alt_prot, p, lr, la, frameshift=True)
        if pc.kind == "frameshift":
            pc = replace(pc, kind="stop_lost")
        return pc, {"stop_lost"} | base
    if moved < 0:  # a new stop inside the changed codons
        if alt_prot[p] == "*":
            pc = hgvs.protein_change(acc, ref_prot, alt_prot, p, p + 1, p + 1, frameshift=False)
        else:
            pc = hgvs.protein_change(
                acc, ref_prot, alt_prot, p, max(c1 + 1, p + 1), la, frameshift=False
            )
        return pc, {"stop_gained"} | base
    s = 0
    while s < lr - p and s < la - p and ref_prot[lr - 1 - s] == alt_prot[la - 1 - s]:
        s += 1
    # an unknown residue inside or right after the change: the 3' shift cannot be decided
    if "X" in ref_prot[max(p - 1, 0) : lr - s + 1] or "X" in alt_prot[p : la - s]:
        return hgvs.unknown(acc, p + 1), _coarse_terms(frameshift, delta)
    pc = hgvs.protein_change(acc, ref_prot, alt_prot, p, lr - s, la - s, frameshift=False)
    if stop_hit:  # the stop codon was rewritten but is still where the frame expects it
        base = base | {"stop_retained_variant"}
    if base:
        return pc, base
    if pc.kind in ("missense", "delins"):
        return pc, {"missense_variant"}
    return pc, {"protein_altering_variant"}


def _coarse_terms(frameshift: bool, delta: int) -> set[str]:
    if frameshift:
        return {"frameshift_variant"}
    return _inframe_terms(delta) or {"coding_sequence_variant"}
