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


def _weak_g101_run(engine: Engine, tmp_path: Path, offset: int):  # type: ignore[no-untyped-def]
    """SYNTHETIC: a het C>A at ``G101 + offset`` whose call falls below the quality bar (the bar
    is set above any call's quality, so every call in the read is 'weak')."""
    lo, hi = 63318100, 63318640
    ref = _amplicon(engine, "BCL2", lo, hi)
    pos = 63318365 + offset
    sim = simulate_trace(
        ref,
        [SimVariant(pos - lo, ref[pos - lo], "A" if ref[pos - lo] != "A" else "T")],
        start=20,
        length=480,
        strand="+",
        seed=3,
        name="W1_F.ab1",
    )
    trace = write_abif(sim, tmp_path / "W1_F.ab1")
    opts = RunOptions(trace_min_quality=100)
    batch = engine.read_traces([trace], "W1", opts)
    return pos, batch, engine.run([batch], opts)


def test_weak_het_at_a_resistance_codon_is_not_wild_type(engine: Engine, tmp_path: Path) -> None:
    pos, batch, doc = _weak_g101_run(engine, tmp_path, 0)
    (sample,) = doc.samples
    assert sample.variants == []  # below the bar: listed in the trace details, not called
    (detail,) = batch.details["traces"]  # type: ignore[index]
    assert detail["below_min_quality_total"] >= 1
    holes = [h for h in detail["not_wild_type_sites"] if h["start"] == pos]
    assert holes and holes[0]["reason"].startswith(f"weak heterozygous peak at chr18:{pos} (")
    # the G101 codon is not covered: venetoclax cannot be 'no known resistance' on this read
    assert all(not (iv.start <= pos <= iv.end) for iv in batch.coverage["W1"])
    ven = {c.drug: c for c in sample.calls}["venetoclax"]
    assert ven.call == "not_assessed"
    assert any("G101" in locus for locus in ven.uncovered_loci)


def test_weak_het_away_from_resistance_codons_keeps_coverage(
    engine: Engine, tmp_path: Path
) -> None:
    pos, batch, doc = _weak_g101_run(engine, tmp_path, 60)  # 20 codons downstream: no KB rule
    (sample,) = doc.samples
    assert any(iv.start <= pos <= iv.end for iv in batch.coverage["W1"])
    assert any(iv.start <= pos - 60 <= iv.end for iv in batch.coverage["W1"])
    ven = {c.drug: c for c in sample.calls}["venetoclax"]
    assert not any("G101" in locus for locus in ven.uncovered_loci)
