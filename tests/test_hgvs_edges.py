"""HGVS c./p. and SO terms at the edges (issue #12): stop and start codons, exon/intron
borders, unknown reference. Every row of the issue's table, on both builds.

Sequence: real TP53/BAX/BCL2 from ../shared; MEN1 rows use the SYNTHETIC MEN1 region of
tests/synthetic.py (real exon layout, back-translated CDS), so their codons are synthetic.
GRCh37 positions are the GRCh38 ones shifted by the verified per-gene offsets.
"""

from __future__ import annotations

import pytest
from shared_mirror import OFFSETS_37

from varannot.annotate import Annotator

TX = {"chr17": "NM_000546.6", "chr11": "NM_001370259.2", "chr18": "NM_000633.3",
      "chr19": "NM_138761.4"}  # fmt: skip
NP = {"chr17": "NP_000537.3", "chr11": "NP_001357188.2", "chr18": "NP_000624.2",
      "chr19": "NP_620116.1"}  # fmt: skip

# (GRCh38 chrom, pos, ref, alt, c., p. (None: no protein), SO terms most severe first)
EDGES = [
    # stop-loss extension: the new stop is counted from the first residue after Ter394
    ("chr17", 7669609, "T", "A", "c.1182A>T", "p.(Ter394CysextTer9)", ["stop_lost"]),
    # in-frame deletion through the stop codon: named from the first changed residue
    ("chr17", 7669609, "TCAG", "T", "c.1179_1181del", "p.(Asp393GlufsTer10)",
     ["stop_lost", "inframe_deletion"]),
    # frameshift through the stop codon
    ("chr17", 7669610, "CAG", "C", "c.1179_1180del", "p.(Asp393GlufsTer77)",
     ["frameshift_variant", "stop_lost"]),
    # insertion at a minus-strand exon's 3' end (3'-shifted to the junction, still exonic)
    ("chr17", 7670609, "C", "CTC", "c.1099_1100dup", "p.(Ser367ArgfsTer4)",
     ["frameshift_variant", "splice_region_variant"]),
    # in-frame dup next to an exon border (SYNTHETIC MEN1 sequence)
    ("chr11", 64807557, "G", "GCTG", "c.781_783dup", "p.(Gln261dup)",
     ["inframe_insertion", "splice_region_variant"]),
    # insertion exactly at an exon/intron junction: the AG is intact, the C is exonic
    ("chr17", 7674290, "C", "CG", "c.673-1_673insC", "p.(Val225ArgfsTer4)",
     ["frameshift_variant", "splice_region_variant"]),
    # codon dup right before an intact stop
    ("chr17", 7669614, "C", "CGTC", "c.1177_1179dup", "p.(Asp393dup)", ["inframe_insertion"]),
    # dup of the last stop base: the stop is intact, the extra A is 3'UTR
    ("chr19", 48961635, "G", "GA", "c.579dup", "p.(=)",
     ["stop_retained_variant", "3_prime_UTR_variant"]),
    # insertion between c.-1 and c.1: the ATG is intact
    ("chr18", 63318666, "T", "TC", "c.-1_1insG", None, ["5_prime_UTR_variant"]),
    # insertion inside the ATG that equals AGC inserted before it (SYNTHETIC MEN1 sequence)
    ("chr11", 64810109, "T", "TGCT", "c.1_2insGCA", "p.(=)",
     ["start_retained_variant", "5_prime_UTR_variant"]),
    # stop destroyed where the 3'UTR is unknown (N in the shared data)
    ("chr18", 63128625, "T", "A", "c.720A>T", "p.(Ter240CysextTer?)", ["stop_lost"]),
    # MNV making a stop in its second codon: both changed codons are named
    ("chr18", 63318383, "AGG", "TAC", "c.282_284delinsGTA", "p.(His94_Leu95delinsGlnTer)",
     ["stop_gained"]),
    # plus strand: 3'-shifted across the intron/exon border like the minus-strand genes
    ("chr19", 48955548, "GG", "G", "c.36del", "p.(Thr14ProfsTer7)",
     ["frameshift_variant", "splice_region_variant"]),
    # insertion before a transcript's first base lies outside the transcript
    ("chr19", 48954874, "C", "CA", "c.-55_-54insA", None, ["upstream_gene_variant"]),
    # frameshift whose first new residue is a stop: nonsense name, both SO terms
    ("chr17", 7674916, "A", "AT", "c.614dup", "p.(Tyr205Ter)",
     ["stop_gained", "frameshift_variant"]),
]  # fmt: skip


@pytest.mark.parametrize("build", ["GRCh38", "GRCh37"])
@pytest.mark.parametrize(("chrom", "pos", "ref", "alt", "c", "p", "so"), EDGES)
def test_edge_cases_both_builds(
    kb_annotators: dict[str, Annotator], build: str, chrom: str, pos: int, ref: str,
    alt: str, c: str, p: str | None, so: list[str],
) -> None:  # fmt: skip
    if build == "GRCh37":
        pos += OFFSETS_37[chrom]
    r = kb_annotators[build].annotate(chrom, pos, ref, alt)
    a = r.annotation
    assert a is not None
    assert "ref_mismatch" not in r.flags
    assert a.hgvs_c == f"{TX[chrom]}:{c}"
    assert a.hgvs_p == (f"{NP[chrom]}:{p}" if p else None)
    assert a.consequence == so


def test_men1_edges_in_literature_numbering(kb_annotators: dict[str, Annotator]) -> None:
    """The MEN1 rows on NM_000244.3 / NP_000235.2 (SYNTHETIC sequence, +5 residues)."""
    a = kb_annotators["GRCh38"].annotate("chr11", 64807557, "G", "GCTG").annotation
    assert a is not None
    assert (a.hgvs_c_legacy, a.hgvs_p_legacy) == (
        "NM_000244.3:c.796_798dup", "NP_000235.2:p.(Gln266dup)")  # fmt: skip
    a = kb_annotators["GRCh38"].annotate("chr11", 64810109, "T", "TGCT").annotation
    assert a is not None
    assert (a.hgvs_c_legacy, a.hgvs_p_legacy) == ("NM_000244.3:c.1_2insGCA", "NP_000235.2:p.(=)")


def test_plus_and_minus_strand_follow_one_shift_rule(kb_annotators: dict[str, Annotator]) -> None:
    """Every VCF spelling of one indel gets one name: left-aligned, right-aligned or padded."""
    a = kb_annotators["GRCh38"]
    # BAX (plus strand): the GG at the intron 1/exon 2 border, deleted one G
    for pos, ref, alt in ((48955548, "GG", "G"), (48955546, "AG", "A"), (48955547, "GGC", "GC")):
        x = a.annotate("chr19", pos, ref, alt).annotation
        assert x is not None and x.hgvs_c == "NM_138761.4:c.36del", (pos, ref, alt)
    # TP53 (minus strand): the dup at exon 10's 3' end, written at both ends of the repeat
    for pos, ref, alt in ((7670609, "C", "CTC"), (7670611, "C", "CTC")):
        x = a.annotate("chr17", pos, ref, alt).annotation
        assert x is not None and x.hgvs_c == "NM_000546.6:c.1099_1100dup", (pos, ref, alt)


def test_stop_codon_snvs_share_one_extension(kb_annotators: dict[str, Annotator]) -> None:
    """c.1181 (TGA): G>C (TCA) and G>T (TTA) read into the same 3'UTR frame, so both give
    extTer9 (the count starts after the changed Ter, unlike fsTer); G>A keeps a stop (TAA)."""
    a = kb_annotators["GRCh38"]
    got = [a.annotate("chr17", 7669610, "C", b).annotation for b in "GTA"]
    assert [x.hgvs_p if x else None for x in got] == [
        "NP_000537.3:p.(Ter394SerextTer9)", "NP_000537.3:p.(Ter394=)",
        "NP_000537.3:p.(Ter394LeuextTer9)"]  # fmt: skip
