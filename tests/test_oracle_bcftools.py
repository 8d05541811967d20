"""varannot vs bcftools csq (pysam.bcftools.csq) on the same MANE models, every gene, both builds.

The variant set (tests/oracle_csq.py): every CDS SNV and 1-6 bp deletions, duplications,
insertions and 2-3 bp MNVs at every exon/intron, start, stop and UTR border (GRCh37, the same
sequence at shifted coordinates: every SNV and a third of the rest), on the real
TP53/BAX/BCL2 sequence from ../shared and the SYNTHETIC MEN1 region. Each variant either agrees
(SO terms; for SNVs the residue change; for indels the predicted protein) or falls in one named
convention class below; anything else fails the test. The counts are printed (``-s``) and,
with VARANNOT_ORACLE_REPORT=FILE, written there as JSON.

Vocabulary (not counted as differences): bcftools reports no up/downstream terms, no
intron_variant beside splice_region, and one splice term per site (no splice_region beside a
donor/acceptor hit).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

import pytest
from oracle_csq import Generated, generate, run_csq, write_inputs

from varannot.annotate import Annotator
from varannot.consequences import effect
from varannot.hgvs import revcomp, translate
from varannot.models import ProteinChange
from varannot.normalize import shift_left, shift_right, trim

# The named conventions where varannot and bcftools csq legitimately differ (SO terms).
CLASSES = {
    "shift_3prime": "bcftools annotates the allele where the VCF puts it (left-aligned); "
    "varannot at its HGVS 3'-shifted place (plus strand: across exon/intron borders). varannot "
    "on the unshifted allele gives bcftools' terms.",
    "fs_first_stop": "frameshift whose first new residue is a stop: varannot lists "
    "stop_gained and frameshift_variant (p. in nonsense form), bcftools frameshift only",
    "stop_lost_at_stop": "frameshift or in-frame change over the stop codon: varannot adds "
    "stop_lost (bcftools only when the stop codon itself is the first change)",
    "bcftools_anchor_span": "bcftools evaluates a deletion on POS..POS+len(REF)-2 (its anchor "
    "base in, the last deleted base out): varannot on those bases gives bcftools' terms",
    "utr_equivalent": "indel equivalent to a UTR-only change (ATG or stop intact): varannot "
    "start/stop_retained + UTR term, p.(=)",
    "unknown_reference": "the change or its new C-terminus runs into unknown (N) sequence: "
    "varannot p.? (or fsTer?/extTer?), bcftools translates N",
    "insertion_splice_region_edge": "insertion with one flank in the splice region: varannot "
    "needs both flanks inside (as VEP), bcftools looks at the VCF anchor base",
    "junction_insertion": "insertion between an exon base and the adjacent intron base: the "
    "splice dinucleotide stays intact, varannot reports the exonic effect + splice_region, "
    "bcftools a splice-site hit",
    "junction_spanning": "change over an exon/intron border: varannot reports the splice term "
    "with coding_sequence_variant and p.?, bcftools a guessed coding effect",
    "border_repeat": "indel in a repeat that straddles an exon/intron border: its placement "
    "(exonic or intronic) is only a convention; bcftools sometimes reports both",
    "start_codon_boundary": "insertion right after an intact ATG (c.3_4ins): varannot "
    "annotates the new codons, bcftools calls start_lost from the anchor in codon 1",
    "stop_codon_boundary": "insertion right before an intact stop codon: bcftools adds "
    "stop_retained, varannot does not (the stop codon is not touched)",
    "utr_cds_spanning": "deletion spanning the CDS end and a UTR: varannot predicts start/stop "
    "loss and the frame from the whole change, bcftools from the CDS part (or "
    "coding_sequence_variant)",
    "bcftools_protein_error": "bcftools' own amino-acid string contradicts the translated "
    "sequence (e.g. BAX c.10_15del: 2DGS>2A where the sequence gives M-D-G-E); varannot's "
    "protein equals the brute-force translation",
}
PROTEIN = {
    "agree": "SNV: bcftools' residue change; indel/MNV: the brute-force translation",
    "none": "no protein change predicted (UTR, intron, splice-only)",
    "not_compared": "indel touching an intron, the start codon or a UTR (no brute force)",
    "unknown_reference": "codons with N",
    "bcftools_protein_error": "varannot = brute force, bcftools' string differs",
    "border_repeat": "varannot p.?: its 3'-shifted form spans an exon/intron border",
}

_BCSQ = {
    "missense": "missense_variant", "synonymous": "synonymous_variant",
    "stop_lost": "stop_lost", "stop_gained": "stop_gained", "start_lost": "start_lost",
    "frameshift": "frameshift_variant", "inframe_deletion": "inframe_deletion",
    "inframe_insertion": "inframe_insertion", "inframe_altering": "protein_altering_variant",
    "splice_acceptor": "splice_acceptor_variant", "splice_donor": "splice_donor_variant",
    "splice_region": "splice_region_variant", "5_prime_utr": "5_prime_UTR_variant",
    "3_prime_utr": "3_prime_UTR_variant", "intron": "intron_variant",
    "coding_sequence": "coding_sequence_variant", "stop_retained": "stop_retained_variant",
    "start_retained": "start_retained_variant",
}  # fmt: skip
_SPLICE = {"splice_acceptor_variant", "splice_donor_variant"}
_CODING = {
    "missense_variant", "synonymous_variant", "stop_lost", "stop_gained", "start_lost",
    "frameshift_variant", "inframe_deletion", "inframe_insertion", "protein_altering_variant",
    "coding_sequence_variant", "stop_retained_variant", "start_retained_variant",
}  # fmt: skip
_AA = re.compile(r"^(\d+)([A-Z*]*)(?:>(\d+)([A-Z*]*))?$")


def vocab(terms: set[str]) -> set[str]:
    out = terms - {"upstream_gene_variant", "downstream_gene_variant"}
    if "splice_region_variant" in out:
        out.discard("intron_variant")
    if out & _SPLICE:
        out.discard("splice_region_variant")
    return out


def theirs(entries: list[str], gene: str) -> tuple[set[str], list[str]]:
    """SO terms and amino-acid fields of the BCSQ entries for this gene's transcript."""
    terms: set[str] = set()
    aas = []
    for e in entries:
        f = e.split("|")
        if len(f) > 1 and f[1] != gene:
            continue
        for t in f[0].split("&"):
            terms.add(_BCSQ.get(t.lstrip("*"), "bcftools:" + t))
        if len(f) > 5 and f[5]:
            aas.append(f[5])
    return vocab(terms), aas


def _apply(ref: str, pc: ProteinChange) -> str | None:
    """varannot's predicted protein (to the first stop) rebuilt from its ProteinChange."""
    if pc.hgvs == "p.(=)":
        return ref
    if pc.start is None:
        return None
    s, e = pc.start, pc.end or pc.start
    if pc.kind == "duplication":
        alt = ref[:e] + ref[s - 1 : e] + ref[e:]
    elif pc.kind == "inframe_insertion":
        alt = ref[:s] + pc.alt_aa + ref[s:]
    elif pc.kind == "synonymous":
        alt = ref
    elif pc.kind in ("missense", "delins", "inframe_deletion", "nonsense"):
        alt = ref[: s - 1] + pc.alt_aa + ref[e:]
    else:
        return None
    return alt[: alt.index("*") + 1] if "*" in alt else alt


def truth(a: Annotator, v: Generated) -> str | None:
    """The alternative protein by brute force: the allele written into the transcript exactly
    where the VCF puts it (no shifting), translated from c.1 to the first stop. None when the
    allele or its flanking bases leave the exon, or it touches the start codon or the UTRs."""
    t = a.transcripts.mane[v.gene]
    ctx = a.contexts[t.accession]
    pos, ref, alt = trim(v.pos, v.ref, v.alt)
    ta, tb = t.genomic_to_tx(pos - 1), t.genomic_to_tx(pos + len(ref))
    if ta is None or tb is None or abs(tb - ta) != len(ref) + 1:
        return None
    ts, te = min(ta, tb), max(ta, tb) - 1  # 0-based half-open between the flanks
    cds0 = t.cds_tx_start - 1
    if ts < cds0 + 3 or te > t.cds_tx_end:
        return None
    t_alt = revcomp(alt) if t.strand == -1 else alt
    seq = ctx.tx_seq[:ts] + t_alt + ctx.tx_seq[te:]
    prot = translate(seq[cds0:], to_stop=True)
    return prot[: prot.index("X")] if "X" in prot else prot


def protein_agrees(ref: str, pc: ProteinChange, alt: str) -> bool:
    """varannot's p. against the brute-force protein ``alt`` (may end without a stop)."""
    if pc.kind == "unknown":
        return not alt.endswith("*")  # only when the new C-terminus runs into N
    rebuilt = _apply(ref, pc)
    if rebuilt is not None:
        return rebuilt == alt
    p = 0
    while p < min(len(ref), len(alt)) and ref[p] == alt[p]:
        p += 1
    if p >= len(alt) or pc.start != p + 1 or pc.alt_aa != alt[p]:
        return False
    ter = pc.short.rsplit("*", 1)[-1]
    if "ext" in pc.short:  # counted from the residue after the changed Ter
        return ter == (str(len(alt) - p - 1) if alt.endswith("*") else "?")
    return ter == (str(len(alt) - p) if alt.endswith("*") else "?")


def _bcf_protein(ref: str, aa: str) -> str | None:
    """bcftools' protein from its amino-acid field ('175R>175H', '9R>9RGG'; '125T' unchanged)."""
    m = _AA.match(aa)
    if not m or "?" in aa:
        return None
    if m.group(3) is None:
        return ref
    pos, r, a = int(m.group(1)), m.group(2), m.group(4)
    alt = ref[: pos - 1] + a + ref[pos - 1 + len(r) :]
    return alt[: alt.index("*") + 1] if "*" in alt else alt


def classify(a: Annotator, v: Generated, entries: list[str]) -> tuple[str, str]:
    """(SO-term class, protein class) of one variant; 'unknown' in either fails the test."""
    t = a.transcripts.mane[v.gene]
    res = a.annotate(t.chrom, v.pos, v.ref, v.alt)
    ann = res.annotation
    assert ann is not None, v
    ref_prot = a.contexts[t.accession].protein
    mine = vocab(set(ann.consequence))
    other, aas = theirs(entries, v.gene)
    pc = ann.protein
    tr: str | None = None
    # protein: SNVs against bcftools, everything else against the brute-force translation
    if pc is None:
        pcls = "none"
    elif v.kind == "snv":
        bp = _bcf_protein(ref_prot, aas[0]) if aas else None
        mp = _apply(ref_prot, pc)
        if pc.kind == "unknown" or bp is None:
            pcls = "unknown_reference" if "X" in ref_prot or "N" in "".join(aas) else "unknown"
        elif pc.kind in ("start_lost", "stop_lost"):
            pcls = (
                "agree"
                if aas[0].startswith(f"{pc.start}{pc.ref_aa}>{pc.start}{pc.alt_aa}")
                or (pc.kind == "start_lost" and aas[0].startswith("1M>"))
                else "unknown"
            )
        else:
            pcls = "agree" if mp == bp else "unknown"
    else:
        tr = truth(a, v)
        if tr is None:
            pcls = "not_compared"
        else:
            pcls = "agree" if protein_agrees(ref_prot, pc, tr) else "unknown"
            if pcls == "agree" and aas and v.kind in ("del", "dup", "ins", "mnv"):
                bp = _bcf_protein(ref_prot, aas[0])
                if bp is not None and ">" in aas[0] and bp != tr[: len(bp)] and "*" in bp:
                    pcls = "bcftools_protein_error"
    if pcls == "unknown" and pc is not None and pc.kind == "unknown" and _crosses_border(a, v):
        pcls = "border_repeat"  # the 3'-shifted form spans the border: p.? by design
    found: list[str] = []
    dropped: set[str] = set()
    # conventions that only add a term on varannot's side
    if {"stop_gained", "frameshift_variant"} <= mine and "stop_gained" not in other:
        dropped.add("stop_gained")
        found.append("fs_first_stop")
    if (
        "stop_lost" in mine
        and "stop_lost" not in other
        and mine & ({"frameshift_variant", "inframe_deletion", "inframe_insertion"})
    ):
        dropped.add("stop_lost")
        found.append("stop_lost_at_stop")
    mine -= dropped
    if mine == other:
        return "+".join(found) or "agree", pcls
    # bcftools' position: varannot on the allele exactly as the VCF gives it (anchor first)
    ctx = a.contexts[t.accession]
    mpos, mref, malt = _as_given(v)
    ueff = effect(ctx, mpos, mref, malt, shift=False)
    un = vocab(set(ueff.consequence)) - dropped
    # bcftools looks at a deletion's POS..POS+len(REF)-2 (anchor in, last deleted base out)
    anchored = un
    if v.kind == "del":
        anchored = vocab(set(effect(ctx, v.pos, v.ref[:-1], "", shift=False).consequence))
        anchored -= dropped
    if tr is None and v.kind != "snv":
        tr = truth(a, v)
    unchanged = tr is not None and tr == ref_prot
    for name in CLASSES:
        if name in ("fs_first_stop", "stop_lost_at_stop"):
            continue
        if _convention(
            name, a, v, mine, un, anchored, other, pc, ueff.protein, ann.flags, unchanged
        ):
            return "+".join([*found, name]), pcls
    return "unknown", pcls


def _as_given(v: Generated) -> tuple[int, str, str]:
    """Minimal allele at the VCF's own position: shared prefix (the anchor) first."""
    pos, ref, alt = v.pos, v.ref, v.alt
    while ref and alt and ref[0] == alt[0]:
        pos, ref, alt = pos + 1, ref[1:], alt[1:]
    while ref and alt and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    return pos, ref, alt


def _convention(
    name: str, a: Annotator, v: Generated, mine: set[str], un: set[str], anchored: set[str],
    other: set[str], pc: ProteinChange | None, upc: ProteinChange | None, flags: list[str],
    unchanged: bool,
) -> bool:  # fmt: skip
    """Whether the named convention explains the difference between the term sets."""
    insertion = v.kind in ("dup", "ins")
    both = mine | un | anchored
    coding_or_utr = _CODING | {"5_prime_UTR_variant", "3_prime_UTR_variant"}
    if name == "shift_3prime":
        return un == other
    if name == "bcftools_anchor_span":
        return anchored == other
    if name == "utr_equivalent":
        utr = {"5_prime_UTR_variant", "3_prime_UTR_variant"}
        return any(x is not None and x.hgvs == "p.(=)" for x in (pc, upc)) or (
            unchanged and bool(mine) and mine <= utr
        )
    if name == "unknown_reference":
        return (
            pc is not None and pc.kind == "unknown"
            and "protein_unpredictable_reference_N" in flags
            and mine <= other | {"coding_sequence_variant"}
        )  # fmt: skip
    if name == "insertion_splice_region_edge":
        sr = {"splice_region_variant"}
        return insertion and (mine - sr == other - sr or un - sr == other - sr)
    if name == "junction_insertion":
        return (
            insertion and bool(other & _SPLICE) and "splice_region_variant" in both
            and bool(both & coding_or_utr)
        )  # fmt: skip
    if name == "junction_spanning":
        return bool(both & _SPLICE and other & _SPLICE) and (
            "coding_sequence_variant" in both or _crosses_border(a, v)
        )
    if name == "border_repeat":
        return _crosses_border(a, v) and bool(both & other)
    if name == "start_codon_boundary":
        return (
            "start_lost" in other
            and "start_lost" not in mine
            and (
                mine == other - {"start_lost"} or mine & {"frameshift_variant", "inframe_insertion"}
            )
            and bool(other - {"start_lost"} <= mine)
        )
    if name == "stop_codon_boundary":
        return insertion and other - {"stop_retained_variant"} == mine
    if name == "utr_cds_spanning":
        utr = {"5_prime_UTR_variant", "3_prime_UTR_variant"}
        ends = {"start_lost", "stop_lost"}
        for cand in (mine, un, anchored):
            if not (cand & utr and cand & _CODING):
                continue
            if cand - utr == other - utr and cand & ends:
                return True
            if cand & utr == other & utr and (
                "coding_sequence_variant" in other or (cand & ends and cand & ends == other & ends)
            ):
                return True
        return False
    if name == "bcftools_protein_error":
        return mine - _CODING == other - _CODING
    return False


def _crosses_border(a: Annotator, v: Generated) -> bool:
    """Whether the indel's equivalent placements (left- to right-aligned) straddle an exon
    border: then where it "is" depends only on the alignment convention."""
    t = a.transcripts.mane[v.gene]
    w = a.windows[v.gene]
    pos, ref, alt = trim(v.pos, v.ref, v.alt)
    if bool(ref) == bool(alt):
        lo, hi = pos, pos + len(ref) - 1
    else:
        lp, lr, la = shift_left(w, pos, ref, alt, w.start + 1)
        rp, rr, ra = shift_right(w, pos, ref, alt, w.end)
        lo, hi = lp - 1, rp + len(rr)
    inside = {t.exon_index(g) is not None for g in range(lo, hi + 1)}
    return len(inside) == 2


@pytest.mark.parametrize("build", ["GRCh38", "GRCh37"])
def test_bcftools_csq_agrees_except_named_conventions(
    kb_annotators: dict[str, Annotator], build: str, tmp_path: Path
) -> None:
    a = kb_annotators[build]
    variants = generate(a)
    if build == "GRCh37":  # same sequence at shifted coordinates: every SNV, a third of the rest
        variants = [v for i, v in enumerate(variants) if v.kind == "snv" or i % 3 == 0]
    fasta, gff, vcf = write_inputs(a, variants, tmp_path)
    csq = run_csq(fasta, gff, vcf, tmp_path / "csq.vcf")
    assert len(csq) == len(variants)  # bcftools read every record
    counts: Counter[str] = Counter()
    pcounts: Counter[str] = Counter()
    snv_terms: Counter[str] = Counter()
    unknown = []
    for i, v in enumerate(variants):
        cls, pcls = classify(a, v, csq[f"v{i}"])
        for c in cls.split("+"):
            counts[c] += 1
        pcounts[pcls] += 1
        if v.kind == "snv":
            snv_terms[cls] += 1
        if "unknown" in (cls, pcls):
            unknown.append((v, cls, pcls, [e[:80] for e in csq[f"v{i}"]]))
    total = len(variants)
    report = {
        "build": build,
        "variants": total,
        "kinds": dict(Counter(v.kind for v in variants)),
        "so_agree": counts["agree"],
        "so_agree_pct": round(100 * counts["agree"] / total, 2),
        "so_classes": {k: counts[k] for k in CLASSES if counts[k]},
        "protein": dict(pcounts),
        "unknown": len(unknown),
    }
    print(json.dumps(report))
    if os.environ.get("VARANNOT_ORACLE_REPORT"):
        with open(os.environ["VARANNOT_ORACLE_REPORT"], "a") as fh:
            fh.write(json.dumps(report) + "\n")
    assert unknown == [], f"{len(unknown)} unexplained differences, e.g. {unknown[:10]}"
    assert set(counts) <= set(CLASSES) | {"agree", "unknown"}
    assert set(pcounts) <= set(PROTEIN) | {"unknown"}
    # every CDS SNV agrees on the SO terms (its residue change is checked above)
    assert snv_terms["agree"] == report["kinds"]["snv"]
    assert total > (30000 if build == "GRCh38" else 20000) and counts["agree"] > 0.9 * total
