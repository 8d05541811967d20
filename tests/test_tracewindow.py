"""Chromatogram windows in the result document (what the browser page draws).

SYNTHETIC: forward and reverse reads simulated by ``varannot.sanger.simulate`` from the real TP53
GRCh38 sequence (read from ``../shared`` at test time) with a heterozygous R175H (c.524G>A);
no public Sanger traces of these genes with resistance mutations exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest
from conftest import SHARED, require_shared

from varannot.api import Engine, RunOptions
from varannot.sanger.simulate import SimVariant, simulate_trace, write_abif
from varannot.sanger.window import SCALE

TP53_FA = (
    SHARED
    / "reference-sources/genomic/TP53_GRCh38_chr17_7659779-7692550_plus_strand_from_NG_017013.2.fa"
)
TP53_START = 7659779
R175H = 7675088


@pytest.fixture(scope="module")
def tp53() -> str:
    require_shared()
    return "".join(ln.strip() for ln in TP53_FA.open() if not ln.startswith(">")).upper()


@pytest.fixture(scope="module")
def engine(kb_fasta: dict[str, Path]) -> Engine:
    return Engine(kb_fasta["GRCh38"], "GRCh38")


def het_reads(tp53: str, d: Path) -> list[Path]:
    i = R175H - TP53_START
    assert tp53[i] == "C"
    strands: tuple[tuple[Literal["+", "-"], str], ...] = (("+", "F"), ("-", "R"))
    out = []
    for strand, tag in strands:
        sim = simulate_trace(
            tp53, [SimVariant(i, "C", "T", "het")], start=i - 300, length=600, strand=strand,
            seed=3 + (strand == "-"), name=f"S9.{tag}.ab1",
        )  # fmt: skip
        out.append(write_abif(sim, d / sim.name))
    return out


def windows_of(engine: Engine, paths: list[Path], on: bool) -> tuple[Any, list[dict[str, Any]]]:
    batch = engine.read_traces(paths, "S9", RunOptions(trace_windows=on))
    doc = engine.run([batch])
    (sample,) = doc.samples
    return doc, list(sample.traces[0].get("windows", []))  # type: ignore[call-overload]


def test_windows_show_the_het_call_in_both_reads(engine: Engine, tp53: str, tmp_path: Path) -> None:
    doc, wins = windows_of(engine, het_reads(tp53, tmp_path), True)
    variant = [w for w in wins if w["kind"] == "variant"]
    assert [(w["trace"], w["label"], w["reverse_complemented"]) for w in variant] == [
        ("S9.F.ab1", "chr17:7675088 C>T", False),
        ("S9.R.ab1", "chr17:7675088 C>T", True),
    ]
    for w in variant:
        k, k2 = w["site"]
        assert k == k2 and w["positions"][k] == R175H and w["ref"][k] == "C"
        # every aligned base of the window is the reference base at its genomic position
        for pos, ref in zip(w["positions"], w["ref"], strict=True):
            if pos is not None:
                assert ref == tp53[pos - TP53_START]
        n = len(w["bases"])
        assert n == len(w["peaks"]) == len(w["qualities"]) == len(w["positions"]) == 25
        assert {len(v) for v in w["channels"].values()} == {len(w["channels"]["A"])}
        assert max(max(v) for v in w["channels"].values()) == SCALE
        # the heterozygous site: C and T peaks of similar height, A and G near the floor
        h = {b: w["channels"][b][w["peaks"][k]] for b in "ACGT"}
        assert min(h["C"], h["T"]) > 0.6 * max(h["C"], h["T"]), h
        assert max(h["A"], h["G"]) < 0.3 * max(h["C"], h["T"]), h
    # the document carries the windows once (with the sample), not again under inputs
    assert "windows" not in doc.inputs[0].details


def test_residue_windows_are_knowledge_base_loci_the_reads_cover(
    engine: Engine, tp53: str, tmp_path: Path
) -> None:
    _, wins = windows_of(engine, het_reads(tp53, tmp_path), True)
    residues = [w for w in wins if w["kind"] == "residue"]
    loci = {(label, start, end) for label, _, start, end in engine.kb_residue_loci()}
    assert residues
    for w in residues:
        assert (w["label"], w["start"], w["end"]) in loci
        a, b = w["site"]
        assert [w["positions"][a], w["positions"][b]] == [w["start"], w["end"]]
        # outside the call the reads are hom-ref: the reference base's channel is the peak
        for k in range(a, b + 1):
            h = {x: w["channels"][x][w["peaks"][k]] for x in "ACGT"}
            assert max(h, key=lambda x: h[x]) == w["ref"][k], (w["label"], k, h)
    # each residue is shown from every read covering it (both reads span these loci)
    by_label: dict[str, list[str]] = {}
    for w in residues:
        by_label.setdefault(w["label"], []).append(w["trace"])
    assert all(v == ["S9.F.ab1", "S9.R.ab1"] for v in by_label.values()), by_label


def test_no_windows_unless_asked(engine: Engine, tp53: str, tmp_path: Path) -> None:
    _, wins = windows_of(engine, het_reads(tp53, tmp_path), False)
    assert wins == []


def test_an_unplaced_real_trace_assesses_nothing(engine: Engine) -> None:
    """A real trace of another gene (sangerseqR) places nowhere: every drug is not assessed.

    Before, such a sample had no coverage entry at all and read like a plain VCF ("the input
    cannot tell"), so its calls came out "no known resistance": a false reassurance.
    """
    path = SHARED / "testdata-sources/traces/sangerseqR/heterozygous.ab1"
    require_shared()
    batch = engine.read_traces([path], "het", RunOptions(trace_windows=True))
    doc = engine.run([batch])
    (sample,) = doc.samples
    assert sample.coverage_source == "trace"
    assert sample.calls and {(c.call, c.coverage) for c in sample.calls} == {
        ("not_assessed", "not_covered")
    }
    assert all(c.uncovered_loci for c in sample.calls)
    assert sample.traces[0]["windows"] == []
