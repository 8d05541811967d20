"""HGVS and consequence annotation: real TP53/BAX/BCL2 coordinates in, exact strings out.

Reference sequence comes from ../shared at run time (see conftest.py); independently
annotated variants (ClinVar, biocommons/hgvs, VEP via vcf2maf, OncoKB) are read from
../shared/testdata-sources/variants.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from varannot.annotate import Annotator
from varannot.errors import HGVSParseError
from varannot.hgvs_input import parse_to_genomic
from varannot.transcripts import CPos, load_transcripts, map_residue

VARIANTS = "testdata-sources/variants"


def ann(
    a: Annotator, chrom: str, pos: int, ref: str, alt: str
) -> tuple[str, str | None, str | None, list[str], list[str]]:
    r = a.annotate(chrom, pos, ref, alt)
    x = r.annotation
    assert x is not None, (chrom, pos, ref, alt)
    short = x.protein.short if x.protein else None
    return x.hgvs_c, x.hgvs_p, short, x.consequence, r.flags


# --- HGVS categories on real TP53 (NM_000546.6, minus strand) coordinates ------------------
@pytest.mark.parametrize(
    ("pos", "ref", "alt", "c", "p", "short", "so"),
    [
        # substitutions
        (7675088, "C", "T", "c.524G>A", "p.(Arg175His)", "R175H", ["missense_variant"]),
        (7674894, "G", "A", "c.637C>T", "p.(Arg213Ter)", "R213*", ["stop_gained"]),
        (7675994, "C", "T", "c.375G>A", "p.(Thr125=)", "T125=",
         ["splice_region_variant", "synonymous_variant"]),
        (7676593, "A", "G", "c.2T>C", "p.(Met1?)", "M1?", ["start_lost"]),
        (7669610, "C", "G", "c.1181G>C", "p.(Ter394SerextTer9)", "*394Sext*9", ["stop_lost"]),
        (7669610, "C", "T", "c.1181G>A", "p.(Ter394=)", "*394=", ["stop_retained_variant"]),
        # intronic offsets and splice sites
        (7675989, "C", "T", "c.375+5G>A", None, None, ["splice_region_variant", "intron_variant"]),
        (7675238, "T", "C", "c.376-2A>G", "p.?", "?", ["splice_acceptor_variant"]),
        (7675993, "C", "T", "c.375+1G>A", "p.?", "?", ["splice_donor_variant"]),
        # UTRs, up/downstream
        (7676622, "G", "A", "c.-28C>T", None, None, ["splice_region_variant", "5_prime_UTR_variant"]),
        (7669575, "G", "A", "c.*34C>T", None, None, ["3_prime_UTR_variant"]),
        (7687590, "C", "A", "c.-242G>T", None, None, ["upstream_gene_variant"]),
        (7668321, "A", "G", "c.*1288T>C", None, None, ["downstream_gene_variant"]),
        # deletions, duplications, insertions, delins (3'-shifted on the transcript)
        (7674197, "TGAT", "T", "c.764_766del", "p.(Ile255del)", "I255del", ["inframe_deletion"]),
        (7676008, "A", "AGCC", "c.360_361insGGC", "p.(Lys120_Ser121insGly)", "K120_S121insG",
         ["inframe_insertion"]),
        (7674902, "TTT", "T", "c.628_629del", "p.(Asn210HisfsTer5)", "N210Hfs*5",
         ["frameshift_variant"]),
        (7675137, "C", "CCCATGGC", "c.475_481dup", "p.(Ala161GlyfsTer22)", "A161Gfs*22",
         ["frameshift_variant"]),
    ],
)  # fmt: skip
def test_tp53_categories(
    annotator38: Annotator, pos: int, ref: str, alt: str, c: str, p: str | None,
    short: str | None, so: list[str] | None,
) -> None:  # fmt: skip
    got_c, got_p, got_short, got_so, flags = ann(annotator38, "chr17", pos, ref, alt)
    assert got_c == f"NM_000546.6:{c}"
    if so is not None:
        assert got_p == (f"NP_000537.3:{p}" if p else None)
        assert got_short == short
        assert got_so == so
    assert "ref_mismatch" not in flags


def test_inframe_delins_across_codons(annotator38: Annotator) -> None:
    # c.392_394 (codon 131 AAC -> the A of codon 132 AAG): delete CAA = Asn131 loses ...
    t = annotator38.transcripts.mane["TP53"]
    w = annotator38.windows["TP53"]
    # delete c.391_393 AAC (codon 131 Asn) and c.394 A -> insert G: c.391_394delinsG
    lo, hi = t.c_to_genomic(CPos(394)), t.c_to_genomic(CPos(391))
    r = annotator38.annotate("chr17", lo, w.get(lo, hi), "C")
    a = r.annotation
    assert a is not None and a.protein is not None
    assert a.hgvs_c == "NM_000546.6:c.391_394delinsG"
    assert a.protein.hgvs == "p.(Asn131_Lys132delinsGlu)"
    assert a.consequence == ["inframe_deletion"]


def test_duplication_protein(annotator38: Annotator) -> None:
    # duplicate codon 72 (CCC, Pro) -> p.(Pro72dup)? TP53 has Pro71-Pro72: 3' rule puts it at 72
    t = annotator38.transcripts.mane["TP53"]
    w = annotator38.windows["TP53"]
    g_hi = t.c_to_genomic(CPos(214))  # c.214 (first base of codon 72) is the highest position
    g_lo = t.c_to_genomic(CPos(216))
    codon = w.get(g_lo, g_hi)
    r = annotator38.annotate("chr17", g_lo - 1, w.base(g_lo - 1), w.base(g_lo - 1) + codon)
    a = r.annotation
    assert a is not None and a.protein is not None
    assert a.protein.kind == "duplication"
    assert a.consequence == ["inframe_insertion"]
    assert a.hgvs_c.endswith("dup")


def test_grch37_same_names(annotator37: Annotator) -> None:
    # R175H on GRCh37 (chr17:7578406) and the vcf2maf splice-region synonymous
    assert ann(annotator37, "17", 7578406, "C", "T")[:3] == (
        "NM_000546.6:c.524G>A", "NP_000537.3:p.(Arg175His)", "R175H")  # fmt: skip


def test_contig_aliases(annotator38: Annotator) -> None:
    for name in ("chr17", "17", "NC_000017.11"):
        assert ann(annotator38, name, 7675088, "C", "T")[2] == "R175H"


def test_ref_mismatch_and_unverified(annotator38: Annotator) -> None:
    r = annotator38.annotate("chr17", 7675088, "G", "T")  # reference is C
    assert "ref_mismatch" in r.flags
    # MEN1 exon 2 is N in the shared data: annotated from coordinates, flagged
    r = annotator38.annotate("chr11", 64810045, "A", "C")
    assert r.flags == ["ref_unverified"]
    assert r.annotation is not None
    assert r.annotation.hgvs_c == "NM_001370259.2:c.65T>G"
    assert r.annotation.hgvs_c_legacy == "NM_000244.3:c.65T>G"


def test_invalid_allele_flagged(annotator38: Annotator) -> None:
    r = annotator38.annotate("chr17", 7675088, "C", "R")
    assert r.flags == ["invalid_allele"] and r.annotation is None


def test_outside_genes(annotator38: Annotator) -> None:
    r = annotator38.annotate("chr20", 1000000, "A", "G")
    assert r.annotation is None and not r.flags


def test_bcl2_g101v(annotator38: Annotator, annotator37: Annotator) -> None:
    assert ann(annotator38, "chr18", 63318365, "C", "A")[:4] == (
        "NM_000633.3:c.302G>T", "NP_000624.2:p.(Gly101Val)", "G101V", ["missense_variant"])  # fmt: skip
    assert ann(annotator37, "18", 63318365 - 2332767, "C", "A")[2] == "G101V"


# --- MEN1 numbering ---------------------------------------------------------------------------
def test_men1_residue_mapping_is_through_the_models() -> None:
    for build in ("GRCh38", "GRCh37"):
        ts = load_transcripts(build)  # type: ignore[arg-type]
        mane, legacy = ts.mane["MEN1"], ts.legacy["MEN1"]
        assert [map_residue(r, mane, legacy) for r in (322, 326, 344)] == [327, 331, 349]
        assert map_residue(120, mane, legacy) == 120  # before the 5-residue insertion
        # the 5 residues only the 615-aa isoform has, and the codon split by the alternative
        # donor (MANE 149), map to nothing; from MANE 150 on, n maps to n + 5
        assert [map_residue(r, legacy, mane) for r in range(148, 156)] == [
            148,
            None,
            None,
            None,
            None,
            None,
            None,
            150,
        ]
        assert map_residue(149, mane, legacy) is None


def test_men1_real_last_exon(annotator38: Annotator) -> None:
    # chr11:64804546 T>C: NM_001370259.2 c.1621A>G p.Thr541Ala = NM_000244.3 c.1636A>G p.Thr546Ala
    c, p, short, so, flags = ann(annotator38, "chr11", 64804546, "T", "C")
    a = annotator38.annotate("chr11", 64804546, "T", "C").annotation
    assert a is not None and a.legacy_protein is not None
    assert (c, p, short, flags) == (
        "NM_001370259.2:c.1621A>G", "NP_001357188.2:p.(Thr541Ala)", "T541A", [])  # fmt: skip
    assert a.hgvs_c_legacy == "NM_000244.3:c.1636A>G"
    assert a.hgvs_p_legacy == "NP_000235.2:p.(Thr546Ala)"
    assert a.legacy_protein.short == "T546A"


# --- independent annotations ------------------------------------------------------------------
_NAME = re.compile(r"(\S+?)\((\w+)\):(c\.\S+)(?: \((p\.[^)]+)\))?")


def _p_equal(mine: str | None, theirs: str) -> bool:
    if mine is None:
        return False
    m = mine.replace("(", "").replace(")", "")
    if theirs.endswith("fs"):  # ClinVar's short frameshift form p.Glu41fs
        return m.startswith(theirs[:-2]) and "fs" in m
    return m == theirs


def test_clinvar_variant_summary_concordance(
    shared: Path, annotator38: Annotator, annotator37: Annotator
) -> None:
    """Every row on a modeled transcript: c. must match; p. must match where the FASTA has
    the codons. Rows excluded: non-modeled transcripts, the REF=ALT row, and insertions in
    MEN1 stretches the shared data lacks (dup vs ins cannot be told without the sequence)."""
    rows = list(
        csv.DictReader(
            (
                shared / VARIANTS / "clinvar_variant_summary_2021-01_partial_TP53_MEN1_BAX.tsv"
            ).open(),
            delimiter="\t",
        )
    )
    annotators = {"GRCh38": annotator38, "GRCh37": annotator37}
    c_ok = p_ok = 0
    failures = []
    for r in rows:
        if r["Assembly"] not in annotators:
            continue
        m = _NAME.match(r["Name"])
        if not m:
            continue
        tx, _gene, c, p = m.groups()
        base = tx.split(".")[0]
        res = annotators[r["Assembly"]].annotate(
            r["Chromosome"], int(r["PositionVCF"]), r["ReferenceAlleleVCF"], r["AlternateAlleleVCF"]
        )
        a = res.annotation
        assert a is not None, r["Name"]
        if base in ("NM_000546", "NM_138761", "NM_001370259"):
            mine_c, mine_p = a.hgvs_c, a.protein
        elif base == "NM_000244":
            mine_c, mine_p = a.hgvs_c_legacy, a.legacy_protein
        else:
            continue
        if "no_change" in res.flags or ("ref_unverified" in res.flags and "dup" in c):
            continue
        assert "ref_mismatch" not in res.flags, r["Name"]
        if mine_c and mine_c.split(":")[1] == c:
            c_ok += 1
        else:
            failures.append((r["Assembly"], r["Name"], mine_c))
        if p is None or (mine_p is not None and mine_p.hgvs == "p?"):
            continue
        if mine_p is not None and mine_p.kind == "unknown" and "ref_unverified" in res.flags:
            continue  # codons not in the shared sequence
        if _p_equal(mine_p.hgvs if mine_p else None, p):
            p_ok += 1
        else:
            failures.append((r["Assembly"], r["Name"], mine_p.hgvs if mine_p else None))
    assert failures == []
    assert c_ok == 186
    assert p_ok == 94


def test_biocommons_hgvs_rows(shared: Path, annotator38: Annotator, annotator37: Annotator) -> None:
    """g. strings of both builds give the same c. as biocommons' transcript strings (after
    HGVS 3' normalization: biocommons keeps some un-normalized forms such as c.627_628delAA)."""
    annotators = {"GRCh38": annotator38, "GRCh37": annotator37}
    checked = 0
    path = shared / VARIANTS / "biocommons_hgvs_clinvar2016_TP53_MEN1_BAX.tsv"
    for r in csv.DictReader(path.open(), delimiter="\t"):
        hs = r["hgvs_variants"].split()
        cs = [h for h in hs if h.startswith(("NM_000546.5", "NM_138761.3"))]
        if not cs:
            continue
        for g in (h for h in hs if ":g." in h):
            build = "GRCh38" if g.split(":")[0] in ("NC_000017.11", "NC_000019.10") else "GRCh37"
            a = annotators[build]
            mine = a.annotate(*_fields(parse_to_genomic(g, a)))
            theirs_tx = (
                cs[0].replace("NM_000546.5", "NM_000546.6").replace("NM_138761.3", "NM_138761.4")
            )
            theirs = a.annotate(*_fields(parse_to_genomic(theirs_tx, a)))
            assert mine.normalized == theirs.normalized, (g, cs[0])
            assert mine.annotation is not None and theirs.annotation is not None
            assert mine.annotation.hgvs_c == theirs.annotation.hgvs_c
            checked += 1
    assert checked == 12
    tp53 = parse_to_genomic("NC_000017.11:g.7674903_7674904delTT", annotator38)
    x = annotator38.annotate(*_fields(tp53)).annotation
    assert x is not None and x.hgvs_c == "NM_000546.6:c.628_629del"


def _fields(v):  # type: ignore[no-untyped-def]
    return v.chrom, v.pos, v.ref, v.alt


def test_vep_vcf2maf_splice_region_synonymous(shared: Path, annotator37: Annotator) -> None:
    lines = (
        (shared / VARIANTS / "vcf2maf_test_output.vep_isoforms_TP53.maf").read_text().splitlines()
    )
    rows = list(csv.DictReader([ln for ln in lines if not ln.startswith("#")], delimiter="\t"))
    (row,) = rows
    r = annotator37.annotate(
        row["Chromosome"],
        int(row["Start_Position"]),
        row["Reference_Allele"],
        row["Tumor_Seq_Allele2"],
    )
    a = r.annotation
    assert a is not None and a.protein is not None
    assert a.hgvs_c.split(":")[1] == row["HGVSc"] == "c.375G>T"
    assert a.protein.hgvs.replace("(", "").replace(")", "") == row["HGVSp"] == "p.Thr125="
    assert a.protein.short == row["HGVSp_Short"].replace("p.", "") == "T125="
    assert sorted(a.consequence) == sorted(re.split("[,&]", row["Consequence"]))


@pytest.mark.parametrize("build", ["GRCh37", "GRCh38"])
def test_oncokb_r248q(
    shared: Path, build: str, annotator38: Annotator, annotator37: Annotator
) -> None:
    a = {"GRCh38": annotator38, "GRCh37": annotator37}[build]
    rows = list(
        csv.DictReader(
            (shared / VARIANTS / f"oncokb_example_maf_{build}_TP53.txt").open(), delimiter="\t"
        )
    )
    (row,) = rows
    r = a.annotate(
        row["Chromosome"],
        int(row["Start_Position"]),
        row["Reference_Allele"],
        row["Tumor_Seq_Allele2"],
    )
    assert r.annotation is not None and r.annotation.protein is not None
    assert "p." + r.annotation.protein.short == row["HGVSp_Short"] == "p.R248Q"
    assert r.annotation.protein.hgvs == f"p.({row['HGVSp']})"


def test_hgvs_input_transcript_versions(annotator38: Annotator) -> None:
    v = parse_to_genomic("NM_000546.6:c.524G>A", annotator38)
    assert (v.chrom, v.pos, v.ref, v.alt) == ("chr17", 7675088, "C", "T")
    assert parse_to_genomic("TP53:c.524G>A", annotator38) == v
    assert parse_to_genomic("NM_000546:c.524G>A", annotator38) == v
    with pytest.raises(HGVSParseError, match="NM_000546.5 is not a modeled transcript"):
        parse_to_genomic("NM_000546.5:c.524G>A", annotator38)
    with pytest.raises(HGVSParseError, match="the reference has C at chr17:7675088-7675088"):
        parse_to_genomic("NM_000546.6:c.524C>A", annotator38)
    with pytest.raises(HGVSParseError, match="is GRCh37 but this reference is GRCh38"):
        parse_to_genomic("NC_000017.10:g.7578406C>T", annotator38)
