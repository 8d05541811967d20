"""Sanger input through the whole library: SYNTHETIC traces (varannot.sanger.simulate) of real gene
sequence read from ../shared, annotated and called like a VCF.

The traces are simulated (no real trace of the four genes exists); the reference bases are
the real GRCh38 BCL2 coding exon and TP53 region built by the conftest fixtures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from varannot.api import Engine, RunOptions
from varannot.reference import FastaReference
from varannot.sanger.simulate import SimVariant, simulate_trace, write_abif, write_scf


@pytest.fixture(scope="module")
def engine(real_fasta: dict[str, Path]) -> Engine:
    return Engine(FastaReference(real_fasta["GRCh38"]), "GRCh38")


def _amplicon(engine: Engine, gene: str, lo: int, hi: int) -> str:
    return engine.annotator.windows[gene].get(lo, hi)


def test_bcl2_g101v_heterozygous_trace(engine: Engine, tmp_path: Path) -> None:
    lo, hi = 63318100, 63318640  # inside BCL2 coding exon 2 (known sequence)
    ref = _amplicon(engine, "BCL2", lo, hi)
    g101 = 63318365  # c.302 (G101V: c.302G>T = plus-strand C>A)
    assert ref[g101 - lo] == "C"
    sim = simulate_trace(
        ref,
        [SimVariant(g101 - lo, "C", "A")],
        start=20,
        length=480,
        strand="-",
        seed=3,
        name="S7_R.ab1",
    )
    trace = write_abif(sim, tmp_path / "S7_R.ab1")
    opts = RunOptions(plot_dir=tmp_path / "plots")
    batch = engine.read_traces([trace], "S7", opts)
    doc = engine.run([batch], opts)
    (sample,) = doc.samples
    assert sample.sample == "S7" and sample.coverage_source == "trace"
    (v,) = sample.variants
    assert (v.chrom, v.pos, v.ref, v.alt) == ("chr18", g101, "C", "A")
    assert v.hgvs_c == "NM_000633.3:c.302G>T" and v.protein_change == "G101V"
    assert v.genotype == "0/1" and v.vaf_source == "trace peak ratio"
    assert v.vaf is not None and 0.3 < v.vaf < 0.7
    calls = {c.drug: c for c in sample.calls}
    assert calls["venetoclax"].call == "resistant"
    assert {e.rule_id for e in calls["venetoclax"].evidence} >= {"BCL2-01", "BCL2-02"}
    # the read covers no TP53 or MEN1 codon: those drugs were not looked at
    assert calls["idasanutlin"].call == "not_assessed"
    assert calls["revumenib"].call == "not_assessed"
    assert any(Path(p).suffix == ".png" for p in (tmp_path / "plots").iterdir())


def test_tp53_clean_scf_trace_is_not_a_wild_type_claim(engine: Engine, tmp_path: Path) -> None:
    """A clean TP53 exon 5 read: no variant, but most TP53 loci are outside it."""
    lo, hi = 7675000, 7675300
    ref = _amplicon(engine, "TP53", lo, hi)
    sim = simulate_trace(ref, [], start=10, length=280, strand="+", seed=5, name="P1_F.scf")
    trace = write_scf(sim, tmp_path / "P1_F.scf")
    opts = RunOptions()
    doc = engine.run([engine.read_traces([trace], "P1", opts)], opts)
    (sample,) = doc.samples
    assert sample.variants == []
    calls = {c.drug: c for c in sample.calls}
    assert calls["idasanutlin"].call == "not_assessed"
    assert calls["idasanutlin"].coverage in ("partial", "not_covered")
