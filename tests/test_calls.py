"""Per-sample x drug calls on real alleles (both builds), with and without coverage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from varannot.annotate import Annotator
from varannot.calls import SampleVariant, Thresholds, call_sample
from varannot.errors import InputError
from varannot.knowledge import KnowledgeBase
from varannot.models import CopyNumberEvent, CoveredInterval, Observation
from varannot.schema import CallOut, ResultDocument, SampleOut
from varannot.writers import CALL_COLUMNS, calls_tsv

BUILDS = ["GRCh38", "GRCh37"]
# (chrom, GRCh38 pos, GRCh37 pos, ref, alt)
BCL2_G101V = ("chr18", 63318365, 60985598, "C", "A")
BCL2_D103E = ("chr18", 63318358, 60985591, "G", "C")  # unconfirmed row BCL2-11
TP53_R175H = ("chr17", 7675088, 7578406, "C", "T")
TP53_R248Q = ("chr17", 7674220, 7577538, "C", "T")
TP53_FS = ("chr17", 7674942, 7578260, "CT", "C")  # c.588del p.(Val197TrpfsTer50)
TP53_P72R = ("chr17", 7676154, 7579472, "G", "C")
BAX_DUP = ("chr19", 48955713, 49458970, "T", "TG")  # c.121dup p.(Glu41GlyfsTer33)
NO_COVERAGE = (
    "coverage unknown: the input says nothing about which positions were sequenced (plain VCF); "
    "no resistance variant was reported, wild type is not established"
)


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()


def sv(
    annotators: dict[str, Annotator],
    build: str,
    allele: tuple,
    vaf: float | None = 0.4,
    depth: int | None = 300,
    **obs: Any,
) -> SampleVariant:
    chrom, p38, p37, ref, alt = allele
    pos = p38 if build == "GRCh38" else p37
    res = annotators[build].annotate(chrom, pos, ref, alt)
    o = Observation(
        "S1", chrom, pos, ref, alt, "s1.vcf", f"line {pos}", vaf=vaf, depth=depth, **obs
    )
    return SampleVariant.of(o, res.annotation, res.flags)


def men1(
    annotators: dict[str, Annotator], build: str, codon: int, ref: str, alt: str, base: int
) -> tuple:
    """A MEN1 allele on the SYNTHETIC MEN1 region at one base of a MANE codon."""
    g = annotators[build].transcripts.mane["MEN1"].codon_genomic(codon)
    return ("chr11", g[base], g[base], ref, alt)


def run(
    kb: KnowledgeBase,
    annotators: dict[str, Annotator],
    build: str,
    variants: list[SampleVariant],
    coverage: list[CoveredInterval] | None = None,
    thresholds: Thresholds | None = None,
) -> tuple[dict[str, CallOut], list[str]]:
    calls, unclassified = call_sample(
        variants, coverage, kb, annotators[build].transcripts, thresholds or Thresholds()
    )
    assert [c.drug for c in calls] == list(kb.drugs)
    return {c.drug: c for c in calls}, unclassified


def ids(call: CallOut) -> list[str]:
    return [e.rule_id for e in call.evidence]


def full_coverage(
    kb: KnowledgeBase, annotator: Annotator, drug: str, depth: int = 60
) -> list[CoveredInterval]:
    return [CoveredInterval(c, a, b, depth) for _, c, a, b in kb.loci(drug, annotator.transcripts)]


# --- nothing found ----------------------------------------------------------------------------
@pytest.mark.parametrize("build", BUILDS)
def test_empty_plain_vcf_is_no_known_resistance_with_coverage_unknown(
    kb: KnowledgeBase, kb_annotators: dict[str, Annotator], build: str
) -> None:
    calls, unclassified = run(kb, kb_annotators, build, [])
    assert unclassified == []
    for c in calls.values():
        assert (c.call, c.coverage, c.evidence, c.uncovered_loci) == (
            "no_known_resistance", "unknown", [], [],
        )  # fmt: skip
        assert c.caveats[0] == NO_COVERAGE
    assert calls["revumenib"].caveats == [NO_COVERAGE]
    assert calls["MI-3454"].caveats[1] == (
        "no rule for MI-3454 can call resistant (best level E; none is confirmed, clinical and "
        "allele-specific): at most likely_resistant"
    )


@pytest.mark.parametrize("build", BUILDS)
def test_gvcf_residue_not_covered_is_not_assessed(
    kb: KnowledgeBase, kb_annotators: dict[str, Annotator], build: str
) -> None:
    a = kb_annotators[build]
    off = 0 if build == "GRCh38" else -2332767
    g101 = ("chr18", 63318364 + off, 63318366 + off)
    blocks = [
        iv for iv in full_coverage(kb, a, "venetoclax") if (iv.chrom, iv.start, iv.end) != g101
    ]
    calls, _ = run(kb, kb_annotators, build, [], blocks)
    ven = calls["venetoclax"]
    assert (ven.call, ven.coverage) == ("not_assessed", "partial")
    assert ven.uncovered_loci == [f"BCL2 G101 (NP_000624.2) chr18:{g101[1]}-{g101[2]}"]
    # the MEN1 residues are not in these blocks at all
    assert (calls["revumenib"].call, calls["revumenib"].coverage) == (
        "not_assessed",
        "not_covered",
    )
    assert (calls["ziftomenib"].call, calls["ziftomenib"].coverage) == (
        "not_assessed",
        "not_covered",
    )
    # the same blocks with G101 covered, but too shallow
    shallow = [*blocks, CoveredInterval(*g101, depth=12)]
    assert run(kb, kb_annotators, build, [], shallow)[0]["venetoclax"].call == "not_assessed"
    deep = [*blocks, CoveredInterval(*g101, depth=25)]
    ven = run(kb, kb_annotators, build, [], deep)[0]["venetoclax"]
    assert (ven.call, ven.coverage, ven.caveats, ven.uncovered_loci) == (
        "no_known_resistance", "covered", [], [],
    )  # fmt: skip


# --- BCL2 G101V -------------------------------------------------------------------------------
@pytest.mark.parametrize("build", BUILDS)
def test_clonal_g101v_is_resistant(
    kb: KnowledgeBase, kb_annotators: dict[str, Annotator], build: str
) -> None:
    calls, unclassified = run(
        kb, kb_annotators, build, [sv(kb_annotators, build, BCL2_G101V, 0.3, 500)]
    )
    ven = calls["venetoclax"]
    assert (ven.call, ven.coverage, ven.drug_class) == ("resistant", "unknown", "BCL2 inhibitor")
    assert ids(ven) == ["BCL2-01", "BCL2-02"]
    e = ven.evidence[0]
    assert (e.hgvs_p, e.protein_change, e.vaf, e.depth, e.level, e.status, e.effect) == (
        "NP_000624.2:p.(Gly101Val)", "G101V", 0.3, 500, "B", "confirmed", "resistance",
    )  # fmt: skip
    assert e.citations == ["PMID:30514704", "DOI:10.1158/2159-8290.CD-18-1119"]
    assert ven.caveats == []
    assert calls["revumenib"].call == "no_known_resistance"
    assert unclassified == []


@pytest.mark.parametrize("build", BUILDS)
def test_subclonal_g101v_at_2_percent_is_likely_resistant(
    kb: KnowledgeBase, kb_annotators: dict[str, Annotator], build: str
) -> None:
    v = sv(kb_annotators, build, BCL2_G101V, 0.02, 800)
    ven = run(kb, kb_annotators, build, [v])[0]["venetoclax"]
    assert ven.call == "likely_resistant"
    assert ids(ven) == ["BCL2-01", "BCL2-02"]
    assert ven.evidence[0].note is not None
    assert ven.evidence[0].note.startswith("VAF 0.02 below the reporting threshold 0.05; ")
    assert ven.caveats == [
        "BCL2 G101V: at most likely_resistant: VAF 0.02 below the reporting threshold 0.05"
    ]
    # a site reporting from 1% calls it resistant; below the detection floor it is not called
    th = Thresholds(reporting_vaf=0.01, detection_floor=0.005)
    assert run(kb, kb_annotators, build, [v], thresholds=th)[0]["venetoclax"].call == "resistant"
    low = run(kb, kb_annotators, build, [sv(kb_annotators, build, BCL2_G101V, 0.004)])[0][
        "venetoclax"
    ]
    assert low.call == "no_known_resistance"
    assert low.evidence[0].note is not None
    assert low.evidence[0].note.startswith("below the detection floor 0.01: not called")
    assert (
        "BCL2 G101V at VAF 0.004 is below the detection floor 0.01 and was not used" in low.caveats
    )


def test_g101v_found_by_a_trace_with_partial_coverage(
    kb: KnowledgeBase, kb_annotators: dict[str, Annotator]
) -> None:
    trace = [CoveredInterval("chr18", 63318200, 63318600, None, "trace")]
    v = sv(kb_annotators, "GRCh38", BCL2_G101V, 0.45, None, origin="trace")
    ven = run(kb, kb_annotators, "GRCh38", [v], trace)[0]["venetoclax"]
    assert (ven.call, ven.coverage) == ("resistant", "partial")
    assert not any(u.startswith("BCL2") for u in ven.uncovered_loci)
    assert "BAX coding exon 1 (NM_138761.4) chr19:48954929-48954962" in ven.uncovered_loci
    empty = run(kb, kb_annotators, "GRCh38", [], trace)[0]["venetoclax"]
    assert (empty.call, empty.coverage) == ("not_assessed", "partial")


def test_ref_mismatch_never_gives_resistant(
    kb: KnowledgeBase, kb_annotators: dict[str, Annotator]
) -> None:
    v = sv(kb_annotators, "GRCh38", ("chr18", 63318365, 0, "G", "A"), 0.4)  # REF G, FASTA has C
    assert "ref_mismatch" in v.flags
    ven = run(kb, kb_annotators, "GRCh38", [v])[0]["venetoclax"]
    assert ven.call == "likely_resistant"
    assert ven.caveats == [
        "BCL2 G101V: at most likely_resistant: REF does not match the reference FASTA (ref_mismatch)"
    ]


def test_unknown_vaf_is_likely_unless_trusted(
    kb: KnowledgeBase, kb_annotators: dict[str, Annotator]
) -> None:
    v = sv(kb_annotators, "GRCh37", BCL2_G101V, None, None)
    ven = run(kb, kb_annotators, "GRCh37", [v])[0]["venetoclax"]
    assert ven.call == "likely_resistant"
    assert ven.caveats == [
        "BCL2 G101V: at most likely_resistant: VAF unknown: reporting threshold not applied"
    ]
    trusted = Thresholds(trust_unknown_vaf=True)
    assert (
        run(kb, kb_annotators, "GRCh37", [v], thresholds=trusted)[0]["venetoclax"].call
        == "resistant"
    )


def test_filtered_variant_is_not_used_but_said(
    kb: KnowledgeBase, kb_annotators: dict[str, Annotator]
) -> None:
    v = sv(kb_annotators, "GRCh38", BCL2_G101V, 0.3, filters=("LowQual",))
    assert v.excluded
    ven = run(kb, kb_annotators, "GRCh38", [v])[0]["venetoclax"]
    assert (ven.call, ven.evidence) == ("no_known_resistance", [])
    assert ven.caveats == [
        "BCL2 G101V matches BCL2-01, BCL2-02 but was excluded (FILTER LowQual) and not used",
        NO_COVERAGE,
    ]


# --- TP53: measured function, drugs that need wild-type p53 -------------------------------
MDM2I = ["idasanutlin", "nutlin-3", "MI-63", "MI-219", "CGM097", "milademetan", "siremadlin",
         "navtemadlin", "brigimadlin"]  # fmt: skip
TP53_R337H = ("chr17", 7670699, 7574017, "C", "T")  # c.1010G>A, tetramerization domain


@pytest.mark.parametrize("build", BUILDS)
def test_tp53_r175h_is_resistant_to_mdm2_inhibitors_by_measured_function(
    kb: KnowledgeBase, kb_annotators: dict[str, Annotator], build: str
) -> None:
    calls, _ = run(kb, kb_annotators, build, [sv(kb_annotators, build, TP53_R175H, 0.40)])
    for drug in MDM2I:
        c = calls[drug]
        assert (c.call, c.drug_class, c.evidence[0].rule_id) == (
            "resistant", "MDM2 inhibitor", "TP53-40",
        )  # fmt: skip
    e = calls["idasanutlin"].evidence[0]
    assert e.note is not None
    assert e.note.startswith(
        "TP53 R175H measured function: loss_of_function (Kato non-functional (9.15 % of WT); "
        "Giacomelli LOF (etoposide Z -0.745, WT-nutlin Z 1.79); Kotler LOF (RFS 0.24))"
    )
    assert "PMID:37386016" in e.citations and "PMID:30224644" in e.citations
    kt = calls["KT-253"]  # the degrader has no clinical TP53 data: predicted, not shown
    assert (kt.call, ids(kt)) == ("likely_resistant", ["TP53-43"])
    assert calls["revumenib"].call == "no_known_resistance"  # the preprint drives no call


@pytest.mark.parametrize("build", BUILDS)
def test_tp53_r337h_partial_function_is_uncertain(
    kb: KnowledgeBase, kb_annotators: dict[str, Annotator], build: str
) -> None:
    v = sv(kb_annotators, build, TP53_R337H, 0.45)
    assert v.annotation is not None and v.annotation.protein is not None
    assert v.annotation.protein.short == "R337H"
    calls, unclassified = run(kb, kb_annotators, build, [v])
    ida = calls["idasanutlin"]
    assert (ida.call, ids(ida)) == ("uncertain", ["TP53-41"])
    assert ida.evidence[0].note is not None
    assert "TP53 R337H measured function: partially_functional (Kato partially functional " in (
        ida.evidence[0].note
    )
    assert calls["KT-253"].call == "uncertain"
    assert calls["venetoclax"].call == "no_known_resistance"
    assert unclassified == []


@pytest.mark.parametrize("build", BUILDS)
def test_tp53_functional_allele_shows_assays_and_changes_nothing(
    kb: KnowledgeBase, kb_annotators: dict[str, Annotator], build: str
) -> None:
    calls, unclassified = run(kb, kb_annotators, build, [sv(kb_annotators, build, TP53_P72R, 0.5)])
    ida = calls["idasanutlin"]
    assert (ida.call, ids(ida)) == ("no_known_resistance", ["TP53-42"])
    assert ida.evidence[0].effect == "no_known_effect"
    assert ida.evidence[0].note is not None
    assert ida.evidence[0].note.startswith(
        "TP53 P72R measured function: functional (Kato functional (93.6 % of WT))"
    )
    assert all(c.call == "no_known_resistance" for c in calls.values())
    assert unclassified == []


@pytest.mark.parametrize("build", BUILDS)
def test_tp53_frameshift_is_loss_of_function(
    kb: KnowledgeBase, kb_annotators: dict[str, Annotator], build: str
) -> None:
    calls, _ = run(kb, kb_annotators, build, [sv(kb_annotators, build, TP53_FS, 0.3)])
    ida = calls["idasanutlin"]
    assert (ida.call, ids(ida)) == ("resistant", ["TP53-40", "TP53-07", "TP53-11"])
    assert ida.evidence[0].hgvs_p == "NP_000537.3:p.(Val197TrpfsTer50)"
    assert ida.evidence[0].protein_change == "V197Wfs*50"
    assert ida.evidence[0].note is not None
    assert ida.evidence[0].note.startswith("TP53 V197Wfs*50: truncating allele (loss of function)")


@pytest.mark.parametrize("build", BUILDS)
def test_venetoclax_and_tp53_depends_on_the_disease(
    kb: KnowledgeBase, kb_annotators: dict[str, Annotator], build: str
) -> None:
    v = [sv(kb_annotators, build, TP53_R175H, 0.40)]
    t = kb_annotators[build].transcripts

    def ven(disease: str | None) -> CallOut:
        calls, _ = call_sample(v, None, kb, t, disease=disease)
        return next(c for c in calls if c.drug == "venetoclax")

    cll = ven("CLLSLL")
    assert (cll.call, cll.disease) == ("no_known_resistance", "CLLSLL")
    assert ids(cll) == ["TP53-21", "TP53-23", "TP53-25"]
    assert [e.effect for e in cll.evidence] == ["resistance", "resistance", "sensitivity_retained"]
    assert cll.evidence[0].note is not None
    assert cll.evidence[0].note.startswith("superseded by TP53-25 (sensitivity retained)")
    assert (
        "sensitivity retained: venetoclax keeps activity against TP53 R175H in CLLSLL "
        "(TP53-25, level B)"
    ) in cll.caveats
    aml = ven("AML")
    assert aml.call == "likely_resistant"
    assert ids(aml) == ["TP53-21", "TP53-23", "TP53-25"]
    assert aml.evidence[1].note is not None
    assert aml.evidence[1].note.startswith(
        "evidence holds for BLL, the sample's disease is AML: not established in this disease"
    )
    assert ven("MDS").call == "uncertain"
    none = ven(None)
    assert none.call == "likely_resistant"
    assert any(c.startswith("no disease given: the evidence for venetoclax differs by disease (")
               for c in none.caveats)  # fmt: skip


@pytest.mark.parametrize("build", BUILDS)
def test_biallelic_tp53_needs_evidence(
    kb: KnowledgeBase, kb_annotators: dict[str, Annotator], build: str
) -> None:
    t = kb_annotators[build].transcripts

    def ven(vs: list[SampleVariant], **kw: Any) -> CallOut:
        calls, _ = call_sample(vs, None, kb, t, disease="AML", **kw)
        return next(c for c in calls if c.drug == "venetoclax")

    r175h = sv(kb_annotators, build, TP53_R175H, 0.4)
    two = ven([r175h, sv(kb_annotators, build, TP53_FS, 0.35)])
    bi = [e for e in two.evidence if e.rule_id == "TP53-24"]
    assert [e.protein_change for e in bi] == ["R175H", "V197Wfs*50"]
    assert bi[0].effect == "reduced_sensitivity"
    assert bi[0].note is not None
    assert bi[0].note.startswith("two TP53_LOF alleles (phase unknown, assumed in trans); ")
    # the same record written twice is one observation, not two alleles
    dup = ven([r175h, sv(kb_annotators, build, TP53_R175H, 0.4)])
    assert "TP53-24" not in ids(dup)
    assert "TP53 R175H: identical duplicate observation (s1.vcf line " in dup.caveats[0]
    assert any(c.startswith("TP53-24: one TP53_LOF allele (TP53 R175H); biallelic status not "
                            "established") for c in dup.caveats)  # fmt: skip
    # one allele plus a TP53 deletion given as input
    chrom, p38, p37 = "chr17", 7660000, 7560000
    pos = p38 if build == "GRCh38" else p37
    loss = CopyNumberEvent("S1", chrom, pos, pos + 40000, "deletion", "cn.seg", "line 2", 1.0)
    cn = ven([r175h], copy_number=[loss])
    bi = [e for e in cn.evidence if e.rule_id == "TP53-24"]
    assert bi[0].note is not None
    assert bi[0].note.startswith(
        f"one TP53_LOF allele with TP53 deletion chr17:{pos}-{pos + 40000} (cn.seg line 2)"
    )
    hom = ven([sv(kb_annotators, build, TP53_R248Q, 0.5, genotype="1/1")])
    bi = [e for e in hom.evidence if e.rule_id == "TP53-24"]
    assert [e.protein_change for e in bi] == ["R248Q"]
    cis = [
        sv(kb_annotators, build, TP53_R175H, 0.4, phased=True, phase_set="7", haplotypes=(1,)),
        sv(kb_annotators, build, TP53_R248Q, 0.4, phased=True, phase_set="7", haplotypes=(1,)),
    ]
    assert "TP53-24" not in ids(ven(cis))


# --- BAX --------------------------------------------------------------------------------------
@pytest.mark.parametrize("build", BUILDS)
def test_bax_truncation_is_likely_resistant_to_venetoclax(
    kb: KnowledgeBase, kb_annotators: dict[str, Annotator], build: str
) -> None:
    ven = run(kb, kb_annotators, build, [sv(kb_annotators, build, BAX_DUP, 0.25)])[0]["venetoclax"]
    assert (ven.call, ids(ven)) == ("likely_resistant", ["BAX-01", "BAX-03", "BAX-04", "BAX-05"])
    e = ven.evidence[0]
    assert (e.hgvs_p, e.protein_change, e.level) == (
        "NP_620116.1:p.(Glu41GlyfsTer33)",
        "E41Gfs*33",
        "B",
    )
    assert e.note is not None
    assert e.note.startswith(
        "gene_class rule (predicted from the consequence class, not this allele); "
    )
    assert "may be clonal haematopoiesis rather than the leukaemia" in e.note


# --- MEN1: drug-specific ----------------------------------------------------------------------
@pytest.mark.parametrize("build", BUILDS)
def test_men1_m322i_revumenib_resistant_bleximenib_retained_others_uncertain(
    kb: KnowledgeBase, kb_annotators: dict[str, Annotator], build: str
) -> None:
    allele = men1(kb_annotators, build, 322, "C", "T", 2)
    calls, unclassified = run(kb, kb_annotators, build, [sv(kb_annotators, build, allele, 0.35)])
    rev = calls["revumenib"]
    assert (rev.call, ids(rev)) == ("resistant", ["MEN1-01"])
    e = rev.evidence[0]
    assert (e.hgvs_p, e.protein_change, e.protein_change_legacy) == (
        "NP_001357188.2:p.(Met322Ile)", "M322I", "M327I",
    )  # fmt: skip
    assert e.citations[:2] == ["PMID:36922589", "DOI:10.1182/blood.2023022480"]
    blex = calls["bleximenib"]
    assert (blex.call, ids(blex)) == ("no_known_resistance", ["MEN1-06"])
    assert blex.evidence[0].effect == "sensitivity_retained"
    assert blex.caveats[0] == (
        "sensitivity retained: bleximenib keeps activity against MEN1 M322I (MEN1-06, level D)"
    )
    for drug in ("ziftomenib", "MI-3454", "enzomenib"):
        c = calls[drug]
        assert (c.call, ids(c)) == ("uncertain", ["MEN1-10"])
        assert c.evidence[0].level == "E" and c.evidence[0].effect == "uncertain"
    assert unclassified == []


@pytest.mark.parametrize("build", BUILDS)
def test_men1_g326r_is_resistant_to_revumenib_and_uncertain_for_the_others(
    kb: KnowledgeBase, kb_annotators: dict[str, Annotator], build: str
) -> None:
    allele = men1(kb_annotators, build, 326, "C", "G", 0)  # GGC -> CGC on the minus strand
    v = sv(kb_annotators, build, allele, 0.4)
    assert v.annotation is not None and v.annotation.protein is not None
    assert (v.annotation.protein.short, v.annotation.legacy_protein.short) == ("G326R", "G331R")  # type: ignore[union-attr]
    calls, _ = run(kb, kb_annotators, build, [v])
    assert (calls["revumenib"].call, ids(calls["revumenib"])) == ("resistant", ["MEN1-03"])
    for drug in ("bleximenib", "ziftomenib", "MI-3454", "enzomenib"):
        assert (calls[drug].call, ids(calls[drug])) == ("uncertain", ["MEN1-10"])


# --- BCL2 F104L: a drug-contact residue with preclinical data only -----------------------------
BCL2_F104L = ("chr18", 63318357, 60985590, "A", "G")  # c.310T>C p.(Phe104Leu)


@pytest.mark.parametrize("build", BUILDS)
def test_bcl2_f104l_is_uncertain(
    kb: KnowledgeBase, kb_annotators: dict[str, Annotator], build: str
) -> None:
    v = sv(kb_annotators, build, BCL2_F104L, 0.2)
    assert v.annotation is not None and v.annotation.protein is not None
    assert v.annotation.protein.short == "F104L"
    ven = run(kb, kb_annotators, build, [v])[0]["venetoclax"]
    assert (ven.call, ids(ven)) == ("uncertain", ["BCL2-17"])
    assert ven.evidence[0].note is not None
    assert "mouse F101 = human F104" in ven.evidence[0].note


# --- unclassified -----------------------------------------------------------------------------
BCL2_A113G = ("chr18", 63318329, 60985562, "G", "C")  # c.338C>G, unconfirmed row BCL2-13


@pytest.mark.parametrize("build", BUILDS)
def test_unmatched_gene_variants_are_listed(
    kb: KnowledgeBase, kb_annotators: dict[str, Annotator], build: str
) -> None:
    vs = [sv(kb_annotators, build, BCL2_A113G, 0.2)]
    calls, unclassified = run(kb, kb_annotators, build, vs)
    assert unclassified == [
        "BCL2 NM_000633.3:c.338C>G NP_000624.2:p.(Ala113Gly) "
        "[matches unconfirmed BCL2-13: not used for calls]",
    ]
    assert all(c.call == "no_known_resistance" for c in calls.values())
    # D103E: its own row is unconfirmed, but D103 is a drug-contact residue
    ven = run(kb, kb_annotators, build, [sv(kb_annotators, build, BCL2_D103E, 0.2)])[0]
    assert (ven["venetoclax"].call, ids(ven["venetoclax"])) == ("uncertain", ["BCL2-20"])


# --- thresholds and TSV rows ------------------------------------------------------------------
def test_thresholds_defaults_and_checks() -> None:
    assert Thresholds().as_dict() == {
        "reporting_vaf": 0.05, "detection_floor": 0.01, "min_depth": 20, "biallelic_vaf": 0.8,
        "trust_unknown_vaf": 0,
    }  # fmt: skip
    with pytest.raises(InputError, match="detection_floor <= reporting_vaf"):
        Thresholds(reporting_vaf=0.01, detection_floor=0.05)
    th = Thresholds()
    th.detection_floor = 0.5
    with pytest.raises(InputError):
        call_sample([], None, KnowledgeBase.load(), None, th)  # type: ignore[arg-type]


def test_call_rows_one_per_drug(kb: KnowledgeBase, kb_annotators: dict[str, Annotator]) -> None:
    calls, _ = call_sample(
        [sv(kb_annotators, "GRCh38", BCL2_G101V, 0.3)],
        None,
        kb,
        kb_annotators["GRCh38"].transcripts,
    )
    doc = ResultDocument(
        varannot_version="t", build="GRCh38", samples=[SampleOut(sample="S1", calls=calls)]
    )
    lines = calls_tsv(doc).splitlines()
    assert lines[0].split("\t") == CALL_COLUMNS
    rows = [dict(zip(CALL_COLUMNS, ln.split("\t"), strict=True)) for ln in lines[1:]]
    assert [r["drug"] for r in rows] == list(kb.drugs)
    ven = next(r for r in rows if r["drug"] == "venetoclax")
    assert {k: ven[k] for k in ("sample", "call", "coverage", "rule_ids", "variants", "levels")} == {
        "sample": "S1", "call": "resistant", "coverage": "unknown", "rule_ids": "BCL2-01,BCL2-02",
        "variants": "NP_000624.2:p.(Gly101Val)", "levels": "B",
    }  # fmt: skip


def test_site_rule_changes_calls(tmp_path: Path, kb_annotators: dict[str, Annotator]) -> None:
    f = tmp_path / "site.tsv"
    f.write_text(
        "# version: site-1\n"
        "id\tgene\trule\tnumbering\tvariant\tconsequence\tdrug\tdrug_class\teffect\tevidence_kind\t"
        "level\tcitations\tstatus\n"
        "S-R175\tTP53\tresidue\tNP_000537.3\tR175\t\tKT-253\tMDM2 degrader\tresistance\tclinical\t"
        "A\tPMID:1\tconfirmed\n"
    )
    kb = KnowledgeBase.load([f])
    c = run(kb, kb_annotators, "GRCh38", [sv(kb_annotators, "GRCh38", TP53_R175H, 0.3)])[0][
        "KT-253"
    ]
    assert (c.call, ids(c)) == ("resistant", ["S-R175", "TP53-43"])


def test_confirmed_retained_activity_conflicts_with_strong_resistance(
    tmp_path: Path, kb_annotators: dict[str, Annotator]
) -> None:
    f = tmp_path / "site.tsv"
    f.write_text(
        "# version: site-2\n"
        "id\tgene\trule\tnumbering\tvariant\tdrug\tdrug_class\teffect\tevidence_kind\tlevel\t"
        "citations\tstatus\n"
        "S-RET\tMEN1\tprotein_change\tNP_001357188.2\tM322I\trevumenib\tmenin inhibitor\t"
        "sensitivity_retained\tcell_line\tD\tPMID:2\tconfirmed\n"
    )
    kb = KnowledgeBase.load([f])
    allele = men1(kb_annotators, "GRCh38", 322, "C", "T", 2)
    rev = run(kb, kb_annotators, "GRCh38", [sv(kb_annotators, "GRCh38", allele, 0.4)])[0][
        "revumenib"
    ]
    assert (rev.call, ids(rev)) == ("likely_resistant", ["MEN1-01", "S-RET"])
    assert rev.evidence[0].note is not None
    assert rev.evidence[0].note.startswith("conflicts with S-RET (sensitivity retained); ")
