"""Per-sample x drug calls on real alleles (both builds), with and without coverage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from varannot.annotate import Annotator
from varannot.calls import SampleVariant, Thresholds, call_sample
from varannot.errors import InputError
from varannot.knowledge import KnowledgeBase
from varannot.models import CoveredInterval, Observation
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
    assert (calls["revumenib"].call, calls["revumenib"].coverage) == ("not_assessed", "partial")
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


# --- TP53 -------------------------------------------------------------------------------------
@pytest.mark.parametrize("build", BUILDS)
def test_tp53_hotspot_is_likely_resistant_to_mdm2_drugs(
    kb: KnowledgeBase, kb_annotators: dict[str, Annotator], build: str
) -> None:
    calls, _ = run(kb, kb_annotators, build, [sv(kb_annotators, build, TP53_R175H, 0.45)])
    ida = calls["idasanutlin"]
    assert (ida.call, ida.drug_class) == ("likely_resistant", "MDM2 inhibitor")
    assert ids(ida) == ["TP53-08", "TP53-12"]
    assert ida.evidence[0].note is not None
    assert ida.evidence[0].note.startswith(
        "range rule (predicted from the consequence class, not this allele)"
    )
    assert ids(calls["KT-253"]) == ["TP53-10"] and calls["KT-253"].call == "likely_resistant"
    assert ids(calls["CGM097"]) == ["TP53-04", "TP53-12"]
    ven = calls["venetoclax"]
    assert (ven.call, ids(ven)) == ("likely_resistant", ["TP53-21", "TP53-23"])
    assert (
        "TP53-24: one TP53_LOF allele (TP53 R175H); biallelic status not established "
        "(copy number / LOH not assessed)"
    ) in ven.caveats
    assert (calls["revumenib"].call, ids(calls["revumenib"])) == ("likely_resistant", ["TP53-31"])
    assert calls["ziftomenib"].call == "no_known_resistance"
    assert not any(c.call == "resistant" for c in calls.values())


@pytest.mark.parametrize("build", BUILDS)
def test_tp53_frameshift_matches_truncating_rules(
    kb: KnowledgeBase, kb_annotators: dict[str, Annotator], build: str
) -> None:
    calls, _ = run(kb, kb_annotators, build, [sv(kb_annotators, build, TP53_FS, 0.3)])
    ida = calls["idasanutlin"]
    assert (ida.call, ids(ida)) == ("likely_resistant", ["TP53-07", "TP53-11"])
    assert ida.evidence[0].hgvs_p == "NP_000537.3:p.(Val197TrpfsTer50)"
    assert ida.evidence[0].protein_change == "V197Wfs*50"
    assert ids(calls["MI-219"]) == ["TP53-01", "TP53-11"]


@pytest.mark.parametrize("build", BUILDS)
def test_biallelic_tp53_for_venetoclax(
    kb: KnowledgeBase, kb_annotators: dict[str, Annotator], build: str
) -> None:
    two = [sv(kb_annotators, build, TP53_R175H, 0.4), sv(kb_annotators, build, TP53_FS, 0.35)]
    ven = run(kb, kb_annotators, build, two)[0]["venetoclax"]
    assert ven.call == "likely_resistant"
    assert ids(ven) == ["TP53-20", "TP53-21", "TP53-22", "TP53-23", "TP53-24", "TP53-24"]
    bi = [e for e in ven.evidence if e.rule_id == "TP53-24"]
    assert [e.protein_change for e in bi] == ["R175H", "V197Wfs*50"]
    assert bi[0].effect == "reduced_sensitivity"
    assert bi[0].note is not None
    assert bi[0].note.startswith("two TP53_LOF alleles (phase unknown, assumed in trans); ")
    hom = [sv(kb_annotators, build, TP53_R248Q, 0.5, genotype="1/1")]
    bi = [
        e
        for e in run(kb, kb_annotators, build, hom)[0]["venetoclax"].evidence
        if e.rule_id == "TP53-24"
    ]
    assert [e.protein_change for e in bi] == ["R248Q"]
    assert bi[0].note is not None
    assert bi[0].note.startswith(
        "one TP53_LOF allele, homozygous or at VAF >= 0.8: loss of the other"
    )
    cis = [
        sv(kb_annotators, build, TP53_R175H, 0.4, phased=True, phase_set="7", haplotypes=(1,)),
        sv(kb_annotators, build, TP53_R248Q, 0.4, phased=True, phase_set="7", haplotypes=(1,)),
    ]
    ven = run(kb, kb_annotators, build, cis)[0]["venetoclax"]
    assert "TP53-24" not in ids(ven)
    assert (
        "TP53-24: one TP53_LOF allele (TP53 R175H, TP53 R248Q); biallelic status not established "
        "(copy number / LOH not assessed)"
    ) in ven.caveats


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


# --- MEN1: drug-specific ----------------------------------------------------------------------
@pytest.mark.parametrize("build", BUILDS)
def test_men1_m322i_revumenib_resistant_bleximenib_retained_class_claims_likely(
    kb: KnowledgeBase, kb_annotators: dict[str, Annotator], build: str
) -> None:
    allele = men1(kb_annotators, build, 322, "C", "T", 2)
    calls, unclassified = run(kb, kb_annotators, build, [sv(kb_annotators, build, allele, 0.35)])
    rev = calls["revumenib"]
    assert (rev.call, ids(rev)) == ("resistant", ["MEN1-01", "MEN1-10"])
    e = rev.evidence[0]
    assert (e.hgvs_p, e.protein_change, e.protein_change_legacy) == (
        "NP_001357188.2:p.(Met322Ile)", "M322I", "M327I",
    )  # fmt: skip
    assert e.citations == ["PMID:36922589", "DOI:10.1182/blood.2023022480"]
    blex = calls["bleximenib"]
    assert (blex.call, ids(blex)) == ("no_known_resistance", ["MEN1-06", "MEN1-10"])
    assert [ev.effect for ev in blex.evidence] == ["sensitivity_retained", "resistance"]
    assert blex.evidence[1].note is not None
    assert blex.evidence[1].note.startswith(
        "superseded by MEN1-06 (confirmed: sensitivity retained for this allele); class claim"
    )
    for drug in ("ziftomenib", "MI-3454", "enzomenib"):
        c = calls[drug]
        assert (c.call, ids(c)) == ("likely_resistant", ["MEN1-10"])
        assert c.evidence[0].status == "secondary" and c.evidence[0].level == "E"
        assert c.evidence[0].note is not None
        assert c.evidence[0].note.startswith(
            "secondary evidence; level E (inferential association); class claim, not drug data: "
            "the primary literature shows the effect is drug-specific"
        )
    assert unclassified == []


def test_men1_g326r_secondary_allele_and_class_claim(
    kb: KnowledgeBase, kb_annotators: dict[str, Annotator]
) -> None:
    allele = men1(kb_annotators, "GRCh38", 326, "C", "G", 0)  # GGC -> CGC on the minus strand
    v = sv(kb_annotators, "GRCh38", allele, 0.4)
    assert v.annotation is not None and v.annotation.protein is not None
    assert (v.annotation.protein.short, v.annotation.legacy_protein.short) == ("G326R", "G331R")  # type: ignore[union-attr]
    calls, _ = run(kb, kb_annotators, "GRCh38", [v])
    assert (calls["revumenib"].call, ids(calls["revumenib"])) == (
        "likely_resistant",
        ["MEN1-03", "MEN1-10"],
    )
    assert (calls["bleximenib"].call, ids(calls["bleximenib"])) == ("likely_resistant", ["MEN1-10"])


# --- unclassified -----------------------------------------------------------------------------
@pytest.mark.parametrize("build", BUILDS)
def test_unmatched_gene_variants_are_listed(
    kb: KnowledgeBase, kb_annotators: dict[str, Annotator], build: str
) -> None:
    vs = [sv(kb_annotators, build, TP53_P72R, 0.5), sv(kb_annotators, build, BCL2_D103E, 0.2)]
    calls, unclassified = run(kb, kb_annotators, build, vs)
    assert unclassified == [
        "TP53 NM_000546.6:c.215C>G NP_000537.3:p.(Pro72Arg)",
        "BCL2 NM_000633.3:c.309C>G NP_000624.2:p.(Asp103Glu) "
        "[matches unconfirmed BCL2-11: not used for calls]",
    ]
    assert all(c.call == "no_known_resistance" for c in calls.values())


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
    assert (c.call, ids(c)) == ("resistant", ["S-R175", "TP53-10"])


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
    assert (rev.call, ids(rev)) == ("likely_resistant", ["MEN1-01", "MEN1-10", "S-RET"])
    assert rev.evidence[0].note is not None
    assert rev.evidence[0].note.startswith("conflicts with S-RET (sensitivity retained); ")
    assert rev.evidence[1].note is not None
    assert rev.evidence[1].note.startswith("superseded by S-RET")
