"""Sanger traces must never reassure falsely (issue 11): one test per defect.

Real traces are READ from ``../shared/testdata-sources/traces`` (never copied into the
repository; modified copies are written to tmp only). Tests marked SYNTHETIC use traces from
``varannot.sanger.simulate`` over the real GRCh38 gene sequence built by the conftest fixtures.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import require_shared
from typer.testing import CliRunner

from varannot.api import Engine, RunOptions
from varannot.cli import app
from varannot.models import ReferenceRegion
from varannot.readers.trace import read_trace
from varannot.reference import FastaReference
from varannot.report import render_report
from varannot.sanger import analyse_trace, call_traces
from varannot.sanger.simulate import SimVariant, simulate_trace, write_abif, write_scf
from varannot.schema import SampleOut


def traces() -> Path:
    return require_shared() / "testdata-sources" / "traces"


@pytest.fixture(scope="module")
def engine(real_fasta: dict[str, Path]) -> Engine:
    return Engine(FastaReference(real_fasta["GRCh38"]), "GRCh38")


def amplicon(engine: Engine, gene: str, lo: int, hi: int) -> str:
    return engine.annotator.windows[gene].get(lo, hi)


def calls_of(s: SampleOut) -> dict[str, str]:
    return {c.drug: c.call for c in s.calls}


def vwf_ref() -> ReferenceRegion:
    f = traces() / "vwf_family_human/NM_000552.4.derived_from_aln.fa"
    seq = "".join(ln.strip() for ln in f.open() if not ln.startswith(">")).upper()
    return ReferenceRegion(name="NM_000552.4", chrom="NM_000552.4", start=1, sequence=seq)


# ------------------------------------------------------------------ (1) failed traces


@pytest.mark.parametrize(
    ("rel", "status", "reason_start"),
    [
        ("biopython_Tests_Abi/empty.ab1", "too_short", "too short: 0 base calls"),
        ("biopython_Tests_Abi/310.ab1", "failed_quality", "failed quality: only 23 usable"),
        ("biopython_Tests_Abi/3100.ab1", "not_placed", "not placed: no 12-base seed"),
        ("emboss_test/abiview.abi", "not_placed", "not placed: best local alignment spans"),
    ],
)
def test_failed_trace_gives_not_assessed_for_every_drug_with_the_reason(
    engine: Engine, rel: str, status: str, reason_start: str, tmp_path: Path
) -> None:
    """Before: no_known_resistance for every drug with the caveat '(plain VCF)'."""
    path = traces() / rel
    opts = RunOptions()
    doc = engine.run([engine.read_traces([path], "S1", opts)], opts)
    (s,) = doc.samples
    assert set(calls_of(s).values()) == {"not_assessed"}
    assert {c.coverage for c in s.calls} == {"not_covered"}
    for c in s.calls:
        assert not any("plain VCF" in x for x in c.caveats)
        (note,) = [x for x in c.caveats if x.startswith(f"trace {path.name} gave no evidence")]
        assert note.split(": ", 1)[1].startswith(reason_start)
    (t,) = s.traces[0]["traces"]  # type: ignore[index]
    assert t["status"] == status
    html = render_report(doc, tmp_path, {}, [])
    assert f"no evidence from this trace: {reason_start}" in html


def test_run_summary_and_fail_on_not_assessed(real_fasta: dict[str, Path]) -> None:
    empty = traces() / "biopython_Tests_Abi/empty.ab1"
    fa = str(real_fasta["GRCh38"])
    runner = CliRunner()
    res = runner.invoke(
        app, ["annotate", str(empty), "--fasta", fa, "--build", "GRCh38", "--fail-on", "resistant"]
    )
    assert res.exit_code == 0, res.output
    assert (
        "1 trace gave no evidence (their loci are not assessed): empty: empty.ab1 (too short"
        in (res.stderr)
    )
    res = runner.invoke(
        app,
        [
            "annotate",
            str(empty),
            "--fasta",
            fa,
            "--build",
            "GRCh38",
            "-q",
            "--fail-on",
            "not_assessed",
        ],
    )
    assert res.exit_code == 3, res.output


# ------------------------------------------------------------------ (2) off-target reads


def test_off_target_emboss_read_is_not_placed_and_names_the_candidate(engine: Engine) -> None:
    """Before: placed on TP53 over 34 bp at identity 0.86 with two 'variants'."""
    t = read_trace(traces() / "emboss_test/abiview.abi")
    res = analyse_trace(t, engine.trace_references())
    assert res.placement is None and res.status == "not_placed" and res.calls == []
    assert res.reason == (
        "not placed: best local alignment spans only 34 reference bases (< 40); best candidate "
        "TP53 chr17:7663421-7692490 (-) chr17:7679288-7679321, 34 bp at identity 0.86"
    )


def test_diverged_copy_of_a_gene_is_not_placed(engine: Engine, tmp_path: Path) -> None:
    """SYNTHETIC: a read from a TP53 intron copy with 15 % substitutions (an Alu-like relative
    at identity ~0.85) must not become a list of confident homozygous 'variants'."""
    ref = amplicon(engine, "TP53", 7676700, 7677400)
    rng = np.random.default_rng(4)
    diverged = "".join(
        rng.choice([b for b in "ACGT" if b != x]) if rng.random() < 0.15 else x for x in ref
    )
    sim = simulate_trace(diverged, [], start=20, length=600, seed=9, name="alu.ab1")
    res = analyse_trace(sim.to_trace(), engine.trace_references())
    assert res.placement is None and res.calls == []
    assert (
        res.reason is not None and "identity" in res.reason and "best candidate TP53" in res.reason
    )


def test_read_matching_two_places_equally_is_not_placed(engine: Engine) -> None:
    """SYNTHETIC: the same amplicon in two references (a duplicated segment): no unique place."""
    seq = amplicon(engine, "TP53", 7674000, 7674700)
    refs = [
        ReferenceRegion("copyA", "copyA", 1, "T" * 50 + seq + "A" * 50),
        ReferenceRegion("copyB", "copyB", 1, "G" * 80 + seq + "C" * 80),
    ]
    sim = simulate_trace(seq, [], start=30, length=600, seed=11, name="dup.ab1")
    res = analyse_trace(sim.to_trace(), refs)
    assert res.placement is None and res.status == "not_placed"
    assert res.reason is not None and res.reason.startswith("not placed: placement not unique: ")
    assert "copyA" in res.reason and "copyB" in res.reason


def test_exon_read_on_cdna_reference_still_places_with_a_warning() -> None:
    """Real: VWF exon 33 reads cover 45 bp of the cDNA (identity 1.0): a real amplicon that
    is not 'mostly explained' by a cDNA reference; it places, and says so."""
    t = read_trace(traces() / "vwf_family_human/QJL-VWF-33-VWF-33F_B05.ab1")
    res = analyse_trace(t, [vwf_ref()])
    assert res.placement is not None and res.placement.ref_end - res.placement.ref_start == 45
    assert any(
        w.startswith("only 14% of the high-quality bases align to NM_000552.4")
        for w in res.trace.warnings
    )
    assert [(c.pos, c.ref, c.alt) for c in res.calls] == [(5890, "T", "C")]


# ------------------------------------------------------------------ (3) constant quality track


def _zero_pcon2(src: Path, dst: Path) -> Path:
    data = bytearray(src.read_bytes())
    _, _, _, _, count, _, offset, _ = struct.unpack_from(">4sihhiiii", data, 6)
    for k in range(count):
        at = offset + 28 * k
        name, num, _, _, n, size, doff, _ = struct.unpack_from(">4sihhiiii", data, at)
        if name == b"PCON" and num == 2:
            data[doff : doff + size] = bytes(size)
            dst.write_bytes(bytes(data))
            return dst
    raise AssertionError("no PCON2")


def test_all_zero_pcon2_derives_qualities_from_peaks(tmp_path: Path) -> None:
    """A real 3730 read (VWF exon 5) with its PCON2 zeroed, as some instruments write it:
    before, 'only 0 usable bases after trimming'; now qualities come from the peaks and the
    documented rs2229444 het is still called."""
    src = traces() / "vwf_family_human/QJL-VWF-5-VWF-5F_E01.ab1"
    t = read_trace(_zero_pcon2(src, tmp_path / "zeroq.ab1"))
    assert t.warnings == [
        "quality track PCON2 is constant (0 at every base); qualities derived from peak purity"
    ]
    assert int(np.median(t.qualities)) > 30
    batch = call_traces([tmp_path / "zeroq.ab1"], sample="Z", references=[vwf_ref()])
    assert ("NM_000552.4", 645, "C", "T", "0/1") in {
        (o.chrom, o.pos, o.ref, o.alt, o.genotype) for o in batch.observations
    }
    # the real 310 file has this defect too
    t310 = read_trace(traces() / "biopython_Tests_Abi/310.ab1")
    assert t310.warnings == [
        "quality track PCON2 is constant (0 at every base); qualities derived from peak purity"
    ]


# ------------------------------------------------------------------ (8) smaller defects


def test_scf_probabilities_above_93_are_not_taken_as_phred(engine: Engine, tmp_path: Path) -> None:
    """SYNTHETIC: an SCF whose probability bytes use a 0-255 scale."""
    sim = simulate_trace(
        amplicon(engine, "TP53", 7674000, 7674500), [], start=10, length=400, seed=3
    )
    sim.qualities = np.full(len(sim.bases), 200, dtype=np.int16)
    t = read_trace(write_scf(sim, tmp_path / "q200.scf"))
    assert t.warnings == [
        "SCF base probabilities reach 200 (> 93): not phred qualities; derived from peak purity"
    ]
    assert int(t.qualities.max()) <= 60


def test_trace_reference_fasta_gets_no_fai_beside_it(engine: Engine, tmp_path: Path) -> None:
    d = tmp_path / "user"
    d.mkdir()
    fa = d / "amplicons.fa"
    fa.write_text(">amp1 my amplicon\nACGTACGTAC\nGGTTAACC\n>amp2\nTTTTGGGGCCCC\n")
    refs = engine.trace_references([fa])
    assert [(r.name, r.sequence) for r in refs[-2:]] == [
        ("amp1", "ACGTACGTACGGTTAACC"),
        ("amp2", "TTTTGGGGCCCC"),
    ]
    assert sorted(p.name for p in d.iterdir()) == ["amplicons.fa"]


# ------------------------------------------------------------------ (4) dropped calls


def g(engine: Engine, pos: int) -> int:
    """0-based index of a GRCh38 position in the TP53 window."""
    return pos - engine.annotator.windows["TP53"].start


def test_weak_homozygous_deletion_is_listed_and_not_covered(engine: Engine, tmp_path: Path) -> None:
    """SYNTHETIC: TP53 c.? hom deletion of the A at chr17:7674226 with one flank base scored
    Q19 by the basecaller. Before: the call vanished (not even listed below threshold) and the
    site counted as covered wild type."""
    tp53 = engine.annotator.windows["TP53"]
    seq = tp53.get(tp53.start, tp53.end)
    s0 = g(engine, 7674226) - 250
    v = SimVariant(g(engine, 7674225), "CA", "C", "hom")
    sim = simulate_trace(seq, [v], start=s0, length=600, strand="+", seed=21, name="D.ab1")
    sim.qualities[g(engine, 7674224) - s0] = 19  # one flank base below the Q20 bar
    batch = call_traces(
        [write_abif(sim, tmp_path / "D.ab1")],
        sample="D",
        references=[ReferenceRegion("TP53", "chr17", tp53.start, seq, "TP53")],
    )
    assert batch.observations == []
    (t,) = batch.details["traces"]  # type: ignore[index]
    (low,) = [c for c in t["below_min_quality"] if c["kind"] == "hom_indel"]
    assert (low["variant"], low["quality"]) == ("chr17:7674225:CA>C", 19.0)
    assert {"chrom": "chr17", "start": 7674225, "end": 7674226,
            "reason": "hom_indel call CA>C below min quality (Q19 < 20)"} in t["not_wild_type_sites"]  # fmt: skip
    cov = batch.coverage["D"]
    assert len(cov) == 2 and cov[0].end == 7674224 and cov[1].start == 7674227


# ------------------------------------------------------------------ (6) basecaller quality


def test_het_snv_quality_folds_in_the_basecaller_qv(engine: Engine) -> None:
    """Real: VWF exon 27 rs769502210 (NM_000552.4:3865 C>T) sits at a base the basecaller
    scored Q13. Before: Q99 from the peaks alone; now the instrument's view caps it."""
    t = read_trace(traces() / "vwf_family_human/QJL-VWF-27-VWF-27F_C04.ab1")
    res = analyse_trace(t, [vwf_ref()])
    (c,) = [c for c in res.calls if c.pos == 3865]
    assert c.evidence["basecaller_quality"] == 13
    assert c.quality == 33.0  # -10log10(10^-9.9 + 10^-3.3): still well above the Q20 bar
    # a stretch the instrument scored Q8 cannot host a confident call (SYNTHETIC edit)
    t.qualities[c.read_index - 5 : c.read_index + 6] = 8
    res = analyse_trace(t, [vwf_ref()])
    assert 3865 not in {x.pos for x in res.calls}
    (weak,) = [x for x in res.low_quality if x.pos == 3865]
    assert weak.quality == 8.0


# ------------------------------------------------------------------ (7) amplicon calls


def test_trace_reference_calls_reach_every_output(
    real_fasta: dict[str, Path], tmp_path: Path
) -> None:
    """Real: the VWF exon 5 read on the user's cDNA amplicon. Before: its rs2229444 call was
    only in results.json (trace details), not in variants.tsv, the VCF or the variant list."""
    from varannot.knowledge import KnowledgeBase
    from varannot.run import execute_run

    read = traces() / "vwf_family_human/QJL-VWF-5-VWF-5F_E01.ab1"
    amp = tmp_path / "vwf.fa"
    amp.write_text(">NM_000552.4\n" + vwf_ref().sequence + "\n")
    out = tmp_path / "out"
    result = execute_run(
        [str(read)], fasta=real_fasta["GRCh38"], build="GRCh38", kb=KnowledgeBase.load(),
        options=RunOptions(trace_references=[amp]), out_dir=out, quiet=True,
    )  # fmt: skip
    (s,) = result.doc.samples
    (v,) = s.variants
    assert (v.chrom, v.pos, v.ref, v.alt, v.genotype, v.gene) == (
        "NM_000552.4",
        645,
        "C",
        "T",
        "0/1",
        None,
    )
    assert "trace_reference_amplicon" in v.flags
    assert set(calls_of(s).values()) == {"not_assessed"}  # VWF says nothing about the drugs
    assert f"{s.sample}\tNM_000552.4\t645\tC\tT\t" in (out / "variants.tsv").read_text()
    (vcf,) = (out / "vcf").glob("*.traces.vcf")
    rec = [ln.split("\t") for ln in vcf.read_text().splitlines() if not ln.startswith("#")]
    assert [(r[0], r[1], r[3], r[4]) for r in rec] == [("NM_000552.4", "645", "C", "T")]


# ------------------------------------------------------------------ (8) merging and qualities


def test_deletion_contradicted_by_clean_other_read_is_filtered(
    engine: Engine, tmp_path: Path
) -> None:
    """SYNTHETIC: the forward read carries a hom deletion, the clean reverse read reads
    straight through it. Before: never 'contradicts' (the check looked at the anchor base)."""
    tp53 = engine.annotator.windows["TP53"]
    seq = tp53.get(tp53.start, tp53.end)
    s0 = g(engine, 7674226) - 250
    v = SimVariant(g(engine, 7674225), "CA", "C", "hom")
    f = simulate_trace(seq, [v], start=s0, length=600, strand="+", seed=31, name="F.ab1")
    r = simulate_trace(seq, [], start=s0, length=600, strand="-", seed=32, name="R.ab1")
    ref = ReferenceRegion("TP53", "chr17", tp53.start, seq, "TP53")
    batch = call_traces(
        [write_abif(f, tmp_path / "F.ab1"), write_abif(r, tmp_path / "R.ab1")],
        sample="C", references=[ref],
    )  # fmt: skip
    (o,) = batch.observations
    assert (o.pos, o.ref, o.alt, o.filters) == (7674225, "CA", "C", ("trace_disagreement",))
    (d,) = batch.details["disagreements"]  # type: ignore[index]
    (silent,) = d["not_called_in"]
    assert silent["trace"] == "R.ab1" and silent["verdict"] == "contradicts"


def test_no_negative_quality_anywhere() -> None:
    """Real: the VWF exon 28 pair had a below-threshold call at Q-0.6 (NM_000552.4:4570)."""
    batch = call_traces(
        [traces() / f"vwf_family_human/QJL-VWF-28-1-VWF-28-1{x}_{w}.ab1" for x, w in (("F", "D02"), ("R", "E02"))],
        sample="V", references=[vwf_ref()],
    )  # fmt: skip
    qs = [
        c["quality"]
        for t in batch.details["traces"]  # type: ignore[union-attr]
        for c in t["calls"] + t["below_min_quality"]
    ]
    assert min(qs) == 0.0
    assert all((o.quality or 0.0) >= 0 for o in batch.observations)


# ------------------------------------------------------------------ a mixed plate


def test_plate_of_placed_unplaced_empty_and_off_target_reads(
    engine: Engine, real_fasta: dict[str, Path], tmp_path: Path
) -> None:
    """A run folder as a lab sends it: A01 F+R over BCL2 G101V (SYNTHETIC), B01 the real empty
    read, C01 the real EMBOSS read (off target: 34 bp on TP53), D01 a SYNTHETIC read of random
    sequence, E01 a real read whose quality track is absent in effect (310.ab1: failed)."""
    import shutil

    from varannot.knowledge import KnowledgeBase
    from varannot.run import execute_run

    run = tmp_path / "plate"
    run.mkdir()
    lo = 63318100
    ref = amplicon(engine, "BCL2", lo, 63318640)
    g101 = 63318365 - lo
    for strand, name in (("+", "A01.F.ab1"), ("-", "A01.R.ab1")):
        sim = simulate_trace(ref, [SimVariant(g101, "C", "A")], start=20, length=480,
                             strand=strand, seed=7 if strand == "+" else 8, name=name)  # fmt: skip
        write_abif(sim, run / name)
    shutil.copy(traces() / "biopython_Tests_Abi/empty.ab1", run / "B01.ab1")
    shutil.copy(traces() / "emboss_test/abiview.abi", run / "C01.abi")
    junk = "".join(np.random.default_rng(5).choice(list("ACGT"), 700))
    write_abif(
        simulate_trace(junk, [], start=0, length=600, seed=6, name="D01.ab1"), run / "D01.ab1"
    )
    shutil.copy(traces() / "biopython_Tests_Abi/310.ab1", run / "E01.ab1")
    result = execute_run(
        [str(run)], fasta=real_fasta["GRCh38"], build="GRCh38", kb=KnowledgeBase.load(),
        options=RunOptions(), quiet=True,
    )  # fmt: skip
    doc = result.doc
    samples = {s.sample: s for s in doc.samples}
    assert sorted(samples) == ["A01", "B01", "C01", "D01", "E01"]
    drugs = list(KnowledgeBase.load().drugs)
    a01 = calls_of(samples["A01"])
    assert a01 == {d: ("resistant" if d == "venetoclax" else "not_assessed") for d in drugs}
    assert [v.protein_change for v in samples["A01"].variants] == ["G101V"]
    reasons = {
        "B01": "trace B01.ab1 gave no evidence: too short: 0 base calls",
        "C01": "trace C01.abi gave no evidence: not placed: best local alignment spans only 34",
        "D01": "trace D01.ab1 gave no evidence: not placed: no 12-base seed",
        "E01": "trace E01.ab1 gave no evidence: failed quality: only 23 usable bases",
    }
    for name, why in reasons.items():
        s = samples[name]
        assert calls_of(s) == dict.fromkeys(drugs, "not_assessed"), name
        assert s.variants == [] and s.coverage_source == "trace"
        for c in s.calls:
            assert c.coverage == "not_covered"
            assert any(x.startswith(why) for x in c.caveats), (name, c.caveats)
    assert not any(x.startswith("trace") for c in samples["A01"].calls for x in c.caveats)


# ------------------------------------------------------------------ (5) compound het indels


@pytest.mark.parametrize("strand", ["+", "-"])
@pytest.mark.parametrize("alleles", ["del2/ins1", "del1/del4"])
def test_compound_heterozygous_indels_are_not_resolved_not_miscalled(
    engine: Engine, tmp_path: Path, strand: str, alleles: str
) -> None:
    """SYNTHETIC: two different non-reference alleles at TP53 chr17:7674225 (no wild type).
    Before: del2/ins1 came out as one 0/1 3-base deletion, del1/del4 as nothing at all (site
    covered wild type). Now: no call, the site is listed as not resolved and not covered."""
    tp53 = engine.annotator.windows["TP53"]
    seq = tp53.get(tp53.start, tp53.end)
    p0 = g(engine, 7674225)
    a1, a2 = {
        "del2/ins1": (SimVariant(p0, seq[p0 : p0 + 3], seq[p0], haplotype=1),
                      SimVariant(p0, seq[p0], seq[p0] + "G", haplotype=2)),
        "del1/del4": (SimVariant(p0, seq[p0 : p0 + 2], seq[p0], haplotype=1),
                      SimVariant(p0, seq[p0 : p0 + 5], seq[p0], haplotype=2)),
    }[alleles]  # fmt: skip
    sim = simulate_trace(seq, [a1, a2], start=p0 - 250, length=600, strand=strand, seed=41)  # type: ignore[arg-type]
    ref = ReferenceRegion("TP53", "chr17", tp53.start, seq, "TP53")
    batch = call_traces([write_abif(sim, tmp_path / "cx.ab1")], sample="X", references=[ref])
    assert batch.observations == []
    (t,) = batch.details["traces"]  # type: ignore[index]
    assert t["het_indel_scan"]["best_shift"] == 3 and t["het_indel_scan"]["unresolved"]
    assert any(h["reason"].startswith("indel site not resolved") and h["start"] <= 7674226 <= h["end"]
               for h in t["not_wild_type_sites"])  # fmt: skip
    assert not any(c.start <= 7674226 <= c.end for c in batch.coverage["X"])
