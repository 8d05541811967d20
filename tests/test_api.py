"""The library API (what the CLI and the service share): one-way flow and run-level checks."""

from __future__ import annotations

from pathlib import Path

from varannot.api import Engine, RunOptions
from varannot.models import InputBatch, Observation
from varannot.reference import FastaReference


def _batch(sample: str, alleles: list[tuple[str, int, str, str]]) -> InputBatch:
    obs = [
        Observation(
            sample, c, p, r, a, "hand.vcf", f"line {i + 10}", genotype="0/1", vaf=0.4, depth=100
        )
        for i, (c, p, r, a) in enumerate(alleles)
    ]
    return InputBatch("hand.vcf", "vcf", [sample], obs, records_read=len(obs))


def test_input_of_the_other_build_is_recognised(real_fasta: dict[str, Path]) -> None:
    """GRCh37 TP53 positions (ClinVar rows' REF alleles) read against a GRCh38 FASTA."""
    engine = Engine(FastaReference(real_fasta["GRCh38"]), "GRCh38")
    grch37 = [
        ("17", 7577539, "G", "A"),  # R248W on GRCh37
        ("17", 7577538, "C", "T"),  # R248Q
        ("17", 7578406, "C", "T"),  # R175H
        ("17", 7577509, "C", "T"),  # E258K
        ("17", 7577548, "C", "A"),  # G245C
        ("17", 7577526, "A", "G"),  # L252P
    ]
    doc = engine.run([_batch("S1", grch37)], RunOptions())
    assert (
        "6 variants lie in the GRCh37 gene regions but outside the GRCh38 ones (only 0 in the "
        "genes): the input is probably GRCh37" in doc.warnings
    )
    assert doc.variants_outside_genes == 6


def test_many_ref_mismatches_say_the_fasta_is_probably_wrong(real_fasta: dict[str, Path]) -> None:
    """Right positions, wrong bases (as with a FASTA of another assembly or species)."""
    engine = Engine(FastaReference(real_fasta["GRCh38"]), "GRCh38")
    comp = {"A": "T", "C": "G", "G": "C", "T": "A"}
    right = [("17", 7674221, "G", "A"), ("17", 7674220, "C", "T"), ("17", 7675088, "C", "T"),
             ("17", 7674191, "C", "T"), ("17", 7674230, "C", "A")]  # fmt: skip
    wrong = [(c, p, comp[r], a if a != comp[r] else r) for c, p, r, a in right]
    doc = engine.run([_batch("S1", wrong)], RunOptions())
    assert (
        "5 of 5 variants in the genes have a REF that does not match the FASTA: the build "
        "(GRCh38) or the FASTA is probably wrong" in doc.warnings
    )
    assert all("ref_mismatch" in v.flags for v in doc.samples[0].variants)


def test_same_alleles_on_the_right_build_raise_no_alarm(real_fasta: dict[str, Path]) -> None:
    engine = Engine(FastaReference(real_fasta["GRCh38"]), "GRCh38")
    grch38 = [("17", 7674221, "G", "A"), ("17", 7674220, "C", "T"), ("17", 7675088, "C", "T")]
    doc = engine.run([_batch("S1", grch38)], RunOptions())
    assert not any("probably wrong" in w for w in doc.warnings)
    assert [v.protein_change for v in doc.samples[0].variants] == ["R248W", "R248Q", "R175H"]
    assert doc.knowledge_base is not None and len(doc.knowledge_base.sha256) == 64
