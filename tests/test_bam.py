"""BAM/CRAM pileup (issue 15): counts, error model, calls and coverage from reads.

All alignments here are SYNTHETIC: reads cut by ``tests/bamsim.py`` from the test FASTAs built
from ``../shared`` (real TP53/BCL2/BAX sequence, the labelled synthetic MEN1 region), with known
VAFs, sequencing errors and artefacts. Counts are checked against ``bcftools mpileup`` (through
``pysam.bcftools``) on the same file, loci and filters.
"""

from __future__ import annotations

from pathlib import Path

import pysam
import pysam.bcftools
import pytest
from bamsim import SimVariant, simulate, simulate_pairs, write_alignments, write_genome_fasta

from varannot.api import Engine, RunOptions
from varannot.errors import InputError
from varannot.hgvs import revcomp
from varannot.pileup_model import Background, ErrorModel, poisson_tail
from varannot.readers.bam import PileupFilters, pileup_sites, read_alignments

CONTIGS = {"chr11": 64_900_000, "chr17": 7_700_000, "chr18": 63_400_000, "chr19": 49_000_000}


@pytest.fixture(scope="module")
def engine(kb_fasta: dict[str, Path]) -> Engine:
    return Engine(kb_fasta["GRCh38"], "GRCh38")


def coding_snv(engine: Engine, gene: str, codon: int, base: int, alt: str) -> SimVariant:
    """Genomic SNV for codon ``codon`` base ``base`` (1-3) -> coding-strand ``alt``."""
    tx = engine.annotator.transcripts.mane[gene]
    pos = tx.codon_genomic(codon)[base - 1]
    ref = engine.reference.fetch(tx.chrom, pos, pos)
    a = alt if tx.strand == 1 else revcomp(alt)
    assert ref in "ACGT" and ref != a, (gene, codon, ref, a)
    return SimVariant(tx.chrom, pos, ref, a, 0.0)


def at(v: SimVariant, vaf: float, kind: str = "true") -> SimVariant:
    return SimVariant(v.chrom, v.pos, v.ref, v.alt, vaf, kind)


def window(v: SimVariant, flank: int = 120) -> tuple[str, int, int]:
    return (v.chrom, v.pos - flank, v.pos + flank)


# --- counts against bcftools mpileup ------------------------------------------------------


@pytest.fixture(scope="module")
def tp53_files(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """SYNTHETIC TP53 reads: real alleles plus every artefact the filters must drop."""
    d = tmp_path_factory.mktemp("tp53bam")
    r175h = coding_snv(engine, "TP53", 175, 2, "A")
    r248 = coding_snv(engine, "TP53", 248, 2, "A")
    variants = [
        at(r175h, 0.2),
        at(coding_snv(engine, "TP53", 72, 2, "G"), 0.5),
        at(r248, 0.04, "duplicate"),
        at(coding_snv(engine, "TP53", 273, 1, "T"), 0.04, "secondary"),
        at(coding_snv(engine, "TP53", 245, 1, "A"), 0.04, "supplementary"),
        at(coding_snv(engine, "TP53", 249, 3, "T"), 0.04, "low_mapq"),
        at(coding_snv(engine, "TP53", 220, 2, "G"), 0.03, "forward_only"),
    ]
    tx = engine.annotator.transcripts.mane["TP53"]
    regions = [(tx.chrom, a - 8, b + 8) for a, b in tx.coding_intervals()]
    reads = simulate(engine.reference.fetch, regions, 300, variants, dup_rate=0.05, seed=15)
    fa = write_genome_fasta(
        d / "chr17.fa.gz", engine.reference.fetch, {"chr17": (7_668_000, 7_690_000)}
    )
    contigs = {"chr17": 7_690_000}
    return {
        "bam": write_alignments(d / "tp53.bam", reads, contigs, sample="TP53SIM"),
        "cram": write_alignments(d / "tp53.cram", reads, contigs, fasta=fa, sample="TP53SIM"),
        "fasta": fa,
    }


def _mpileup(
    bam: Path, fasta: Path, region: str, f: PileupFilters, *extra: str
) -> dict[int, dict[str, tuple[int, int]]]:
    out = pysam.bcftools.mpileup(
        *extra, "-f", str(fasta), "-r", region, "-B", "-I", "-A", "-d", str(f.max_depth),
        "-q", str(f.min_mapping_quality), "-Q", str(f.min_base_quality),
        "--ns", "UNMAP,SECONDARY,QCFAIL,DUP,SUPPLEMENTARY",
        "-a", "FORMAT/AD,FORMAT/ADF,FORMAT/ADR,FORMAT/DP", str(bam),
    )  # fmt: skip
    counts: dict[int, dict[str, tuple[int, int]]] = {}
    for line in out.splitlines():
        if line.startswith("#"):
            continue
        cols = line.split("\t")
        alleles = [cols[3], *cols[4].split(",")]
        fmt = dict(zip(cols[8].split(":"), cols[9].split(":"), strict=True))
        adf = [int(x) for x in fmt["ADF"].split(",")]
        adr = [int(x) for x in fmt["ADR"].split(",")]
        counts[int(cols[1])] = {
            a: (f_, r_)
            for a, f_, r_ in zip(alleles, adf, adr, strict=True)
            if a != "<*>" and f_ + r_
        }
    return counts


def test_counts_identical_to_bcftools_mpileup(engine: Engine, tp53_files: dict[str, Path]) -> None:
    """Per-allele forward/reverse counts at every TP53 coding base ± 8 equal bcftools' ADF/ADR
    (no BAQ, same BQ/MAPQ/flag filters). Indel counts are not compared: bcftools re-aligns
    reads around indels, we count what the aligner wrote."""
    f = PileupFilters()
    af = pysam.AlignmentFile(str(tp53_files["bam"]))
    tx = engine.annotator.transcripts.mane["TP53"]
    compared = alt_alleles = 0
    for a, b in tx.coding_intervals():
        a, b = a - 8, b + 8
        ours = pileup_sites(af, "chr17", a, b, engine.reference.fetch("chr17", a, b), f)
        theirs = _mpileup(tp53_files["bam"], tp53_files["fasta"], f"chr17:{a}-{b}", f)
        for s in ours:
            mine = {base: (c[0], c[1]) for base, c in s.bases.items()}
            assert mine == theirs.get(s.pos, {}), f"chr17:{s.pos}"
            compared += 1
            alt_alleles += sum(1 for x in mine if x != s.ref)
    assert compared > 1200 and alt_alleles > 200  # sequencing errors were compared too


@pytest.fixture(scope="module")
def tp53_pairs(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """SYNTHETIC paired-end TP53 fragments, most shorter than two reads (overlapping mates)."""
    d = tmp_path_factory.mktemp("tp53pairs")
    r175h = coding_snv(engine, "TP53", 175, 2, "A")
    tx = engine.annotator.transcripts.mane["TP53"]
    variants = [
        at(r175h, 0.3),
        at(coding_snv(engine, "TP53", 248, 2, "A"), 0.1),
        SimVariant(
            "chr17",
            r175h.pos + 30,
            engine.reference.fetch("chr17", r175h.pos + 30, r175h.pos + 32),
            engine.reference.fetch("chr17", r175h.pos + 30, r175h.pos + 30),
            0.2,
        ),
    ]
    regions = [(tx.chrom, a - 8, b + 8) for a, b in tx.coding_intervals()]
    reads = simulate_pairs(engine.reference.fetch, regions, 120, variants, seed=151)
    fa = write_genome_fasta(
        d / "chr17.fa.gz", engine.reference.fetch, {"chr17": (7_668_000, 7_690_000)}
    )
    bam = write_alignments(d / "pairs.bam", reads, {"chr17": 7_690_000}, sample="PAIRSIM")
    return {"bam": bam, "fasta": fa}


def test_overlapping_mates_count_once_as_in_bcftools_mpileup(
    engine: Engine, tp53_pairs: dict[str, Path]
) -> None:
    """Overlapping mates of a proper pair count once per position, with bcftools' choice of
    base where they disagree: per-allele counts equal default ``bcftools mpileup`` (overlap
    detection on) at every TP53 coding base ± 8. ``-x`` (overlap detection off) counts more,
    so the overlaps are really there. Improper pairs count both mates in both tools (``-A``:
    bcftools otherwise drops them; varannot keeps them, as it keeps single-end reads)."""
    f = PileupFilters()
    af = pysam.AlignmentFile(str(tp53_pairs["bam"]))
    tx = engine.annotator.transcripts.mane["TP53"]
    compared = alt_alleles = ours_total = doubled_total = 0
    for a, b in tx.coding_intervals():
        a, b = a - 8, b + 8
        ours = pileup_sites(af, "chr17", a, b, engine.reference.fetch("chr17", a, b), f)
        region = f"chr17:{a}-{b}"
        theirs = _mpileup(tp53_pairs["bam"], tp53_pairs["fasta"], region, f)
        doubled = _mpileup(tp53_pairs["bam"], tp53_pairs["fasta"], region, f, "-x")
        for s in ours:
            mine = {base: (c[0], c[1]) for base, c in s.bases.items()}
            assert mine == theirs.get(s.pos, {}), f"chr17:{s.pos}"
            compared += 1
            alt_alleles += sum(1 for x in mine if x != s.ref)
            ours_total += sum(f_ + r_ for f_, r_ in mine.values())
            doubled_total += sum(f_ + r_ for f_, r_ in doubled.get(s.pos, {}).values())
    assert compared > 1200 and alt_alleles > 200
    assert doubled_total > 1.08 * ours_total  # overlaps present: both mates would inflate


def test_deletion_on_both_overlapping_mates_counts_once(
    engine: Engine, tp53_pairs: dict[str, Path]
) -> None:
    """A deletion carried by both overlapping mates is one molecule: counted once per proper
    pair (anchor base BQ >= 20 on either mate), once per read for improper pairs."""
    anchor = coding_snv(engine, "TP53", 175, 2, "A").pos + 30
    af = pysam.AlignmentFile(str(tp53_pairs["bam"]))
    f = PileupFilters()
    molecules: set[str] = set()
    reads = 0
    for r in af.fetch("chr17", anchor - 1, anchor + 2):
        if r.flag & f.flag_filter or r.mapping_quality < f.min_mapping_quality:
            continue
        rpos, qpos = r.reference_start, 0
        for op, n in r.cigartuples:
            if op == 2 and rpos == anchor and n == 2 and r.query_qualities[qpos - 1] >= 20:
                reads += 1
                molecules.add(r.query_name if r.flag & 0x2 else f"{r.query_name}/{r.flag}")
            rpos += n if op in (0, 2, 3, 7, 8) else 0
            qpos += n if op in (0, 1, 4, 7, 8) else 0
    assert reads > len(molecules) > 10  # many pairs carry it on both mates
    seq = engine.reference.fetch("chr17", anchor - 5, anchor + 5)
    site = pileup_sites(af, "chr17", anchor - 5, anchor + 5, seq, f)[5]
    assert site.pos == anchor and sum(site.indels["-2"]) == len(molecules)


def test_filters_drop_artefact_reads_and_strand_bias_is_flagged(
    engine: Engine, tp53_files: dict[str, Path]
) -> None:
    ev = read_alignments(
        tp53_files["bam"],
        targets=engine.read_targets(),
        fetch_ref=engine.reference.fetch,
        codons=engine.codon_map(),
    )
    b = ev.batch
    assert b.samples == ["TP53SIM"] and b.kind == "reads"
    calls = {(o.pos, o.ref, o.alt): o for o in b.observations}
    r175h, p72r = coding_snv(engine, "TP53", 175, 2, "A"), coding_snv(engine, "TP53", 72, 2, "G")
    fwd_only = coding_snv(engine, "TP53", 220, 2, "G")
    assert abs(calls[(r175h.pos, r175h.ref, r175h.alt)].vaf - 0.2) < 0.06  # type: ignore[operator]
    assert abs(calls[(p72r.pos, p72r.ref, p72r.alt)].vaf - 0.5) < 0.08  # type: ignore[operator]
    biased = calls[(fwd_only.pos, fwd_only.ref, fwd_only.alt)]
    assert biased.filters == ("strand_bias",) and "reverse 0" in biased.record
    # duplicates, secondary, supplementary and MAPQ-3 reads carried the other alleles: unseen
    assert set(calls) == {(v.pos, v.ref, v.alt) for v in (r175h, p72r, fwd_only)}, sorted(calls)


def test_cram_with_the_users_fasta_gives_the_bam_counts(
    engine: Engine, tp53_files: dict[str, Path]
) -> None:
    kw = dict(targets=engine.read_targets(), fetch_ref=engine.reference.fetch)
    from_bam = read_alignments(tp53_files["bam"], **kw)  # type: ignore[arg-type]
    from_cram = read_alignments(tp53_files["cram"], fasta=tp53_files["fasta"], **kw)  # type: ignore[arg-type]
    assert [(s.pos, s.bases, s.indels) for s in from_bam.sites] == [
        (s.pos, s.bases, s.indels) for s in from_cram.sites
    ]
    assert len(from_cram.batch.observations) == len(from_bam.batch.observations) == 3
    with pytest.raises(InputError, match="CRAM needs the reference FASTA"):
        read_alignments(tp53_files["cram"], **kw)  # type: ignore[arg-type]


def test_missing_index_is_built_in_a_temp_dir_never_beside_the_file(
    engine: Engine, tp53_files: dict[str, Path], tmp_path: Path
) -> None:
    bam = tmp_path / "noindex.bam"
    bam.write_bytes(tp53_files["bam"].read_bytes())
    ev = read_alignments(
        bam, targets=[("chr17", 7675080, 7675100)], fetch_ref=engine.reference.fetch
    )
    assert "temporary directory" in str(ev.batch.details["index"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noindex.bam"]
    unsorted = tmp_path / "unsorted.bam"
    pysam.view("-b", "-o", str(unsorted), str(bam), catch_stdout=False)
    hdr = pysam.AlignmentFile(str(unsorted)).header.to_dict()
    hdr["HD"]["SO"] = "unsorted"
    with (
        pysam.AlignmentFile(str(unsorted), "rb") as src,
        pysam.AlignmentFile(str(tmp_path / "u2.bam"), "wb", header=hdr) as dst,
    ):
        for r in src.fetch(until_eof=True):
            dst.write(r)
    with pytest.raises(InputError, match="samtools sort"):
        read_alignments(
            tmp_path / "u2.bam",
            targets=[("chr17", 7675080, 7675100)],
            fetch_ref=engine.reference.fetch,
        )


# --- low VAF, MNVs, indels, calls ---------------------------------------------------------


@pytest.fixture(scope="module")
def panel(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """SYNTHETIC amplicon-like sample: every target at 80x, hotspots deep, known VAFs."""
    d = tmp_path_factory.mktemp("panel")
    g101v = at(coding_snv(engine, "BCL2", 101, 2, "T"), 0.05)
    r248q = at(coding_snv(engine, "TP53", 248, 2, "A"), 0.01)
    r273h = at(coding_snv(engine, "TP53", 273, 2, "A"), 0.005)
    p72r = at(coding_snv(engine, "TP53", 72, 2, "G"), 0.5)
    m322i = at(coding_snv(engine, "MEN1", 322, 3, "A"), 0.05)  # published M327I
    # R175: c.523C>T and c.524G>A on the same reads -> TAC = Tyr (alone: Cys / His)
    tx = engine.annotator.transcripts.mane["TP53"]
    c1, c2, _ = tx.codon_genomic(175)
    lo = min(c1, c2)
    ref2 = engine.reference.fetch("chr17", lo, lo + 1)
    mnv = SimVariant("chr17", lo, ref2, revcomp("TA"), 0.1)
    bias = at(coding_snv(engine, "BCL2", 110, 1, "T"), 0.03, "forward_only")
    dup = at(coding_snv(engine, "BCL2", 103, 1, "T"), 0.05, "duplicate")  # D103Y on dups only
    deep = [(g101v, 2000), (r248q, 2000), (r273h, 4000), (m322i, 400), (p72r, 200)]
    deep += [(mnv, 400), (bias, 1000)]
    true = [v for v, _ in deep if v.kind == "true"]
    reads = simulate(engine.reference.fetch, engine.read_targets(), 60, true, seed=3)
    for i, (v, depth) in enumerate(deep):
        own = [v] if v.kind != "true" else []
        reads += simulate(engine.reference.fetch, [window(v)], depth, true + own, seed=100 + i)
    reads += simulate(engine.reference.fetch, [window(dup)], 300, [*true, dup], seed=99)
    bam = write_alignments(d / "panel.bam", reads, CONTIGS, sample="PANEL")
    return {"bam": bam, "truth": deep, "mnv": mnv, "bias": bias, "dup": dup}


def _doc(engine: Engine, bam: Path, **kw: object):  # type: ignore[no-untyped-def]
    opts = RunOptions(**kw)  # type: ignore[arg-type]
    return engine.run([engine.read(bam, opts)], opts)


def test_known_vafs_detected_and_nothing_else(engine: Engine, panel: dict[str, object]) -> None:
    doc = _doc(engine, panel["bam"])  # type: ignore[arg-type]
    (s,) = doc.samples
    assert s.coverage_source == "reads"
    got = {v.protein_change or v.hgvs_c: v for v in s.variants}
    assert set(got) == {"G101V", "R248Q", "R273H", "M322I", "P72R", "R175Y"}, sorted(got)
    for name, vaf in [("G101V", 0.05), ("R248Q", 0.01), ("R273H", 0.005), ("P72R", 0.5)]:
        v = got[name]
        assert v.vaf is not None and abs(v.vaf - vaf) < max(0.4 * vaf, 0.004), (name, v.vaf)
        assert v.vaf_source == "read counts" and v.alt_depth and v.depth
    assert got["M322I"].protein_change_legacy == "M327I"
    assert "assembled_from_reads" in got["R175Y"].flags
    (biased,) = s.excluded_variants
    assert biased.filter == ["strand_bias"]


def test_calls_and_limits_of_detection_from_reads(engine: Engine, panel: dict[str, object]) -> None:
    doc = _doc(engine, panel["bam"])  # type: ignore[arg-type]
    calls = {c.drug: c for c in doc.samples[0].calls}
    ven = calls["venetoclax"]
    assert ven.call in ("resistant", "likely_resistant")
    assert any(e.protein_change == "G101V" for e in ven.evidence)
    rev = calls["revumenib"]
    assert any(e.protein_change_legacy == "M327I" for e in rev.evidence)
    g101 = [d for d in ven.detection_limits if d.start <= panel["truth"][0][0].pos <= d.end]  # type: ignore[index]
    assert g101 and g101[0].min_depth > 1500
    assert g101[0].limit_of_detection is not None and g101[0].limit_of_detection < 0.012
    # a variant was called there: the limit is stated, "no variant" is not claimed
    assert "variant called; limit of detection" in g101[0].text and "% at " in g101[0].text
    d103 = [d for d in ven.detection_limits if "D103" in d.locus]
    assert d103 and d103[0].text.startswith("no BCL2 D103") and " % at " in d103[0].text


def test_min_depth_gives_not_assessed_and_deep_clean_sample_states_its_limit(
    engine: Engine, tmp_path: Path
) -> None:
    """SYNTHETIC: BCL2 targets only -> BAX and TP53 loci unseen -> venetoclax not_assessed;
    everything at 120x -> no_known_resistance, covered, with the limit of detection stated."""
    ts = engine.annotator.transcripts
    bcl2 = [t for t in engine.read_targets() if t[0] == "chr18"]
    reads = simulate(engine.reference.fetch, bcl2, 120, seed=7)
    part = write_alignments(tmp_path / "bcl2only.bam", reads, CONTIGS)
    ven = {c.drug: c for c in _doc(engine, part).samples[0].calls}["venetoclax"]
    assert ven.call == "not_assessed" and ven.coverage == "partial"
    assert any("BAX" in u for u in ven.uncovered_loci)
    reads = simulate(engine.reference.fetch, engine.read_targets(), 120, seed=8)
    full = write_alignments(tmp_path / "full.bam", reads, CONTIGS)
    doc = _doc(engine, full)
    ven = {c.drug: c for c in doc.samples[0].calls}["venetoclax"]
    assert doc.samples[0].variants == []
    assert ven.call == "no_known_resistance" and ven.coverage == "covered", ven.uncovered_loci
    assert any(c.startswith("read pileup, worst locus: no ") for c in ven.caveats)
    # raising --min-depth above the depth turns the same file into not_assessed
    from varannot.calls import Thresholds

    doc = _doc(engine, full, thresholds=Thresholds(min_depth=500))
    ven = {c.drug: c for c in doc.samples[0].calls}["venetoclax"]
    assert ven.call == "not_assessed" and ven.coverage == "not_covered"
    assert ts.mane["BCL2"].chrom == "chr18"


def test_panel_of_normals_removes_a_recurrent_artefact(engine: Engine, tmp_path: Path) -> None:
    """SYNTHETIC: a site-specific error at 2 % in tumour and normals is called without the
    panel and not with it (BAM panel or the equivalent background table)."""
    art = at(coding_snv(engine, "BCL2", 120, 2, "T"), 0.02)
    reads = simulate(engine.reference.fetch, [window(art)], 1500, [art], seed=21)
    tumour = write_alignments(tmp_path / "t.bam", reads, CONTIGS, sample="T")
    normal = write_alignments(
        tmp_path / "n.bam",
        simulate(engine.reference.fetch, [window(art)], 1500, [art], seed=22),
        CONTIGS,
        sample="N",
    )
    targets = [window(art)]
    plain = read_alignments(tumour, targets=targets, fetch_ref=engine.reference.fetch)
    assert [(o.pos, o.alt) for o in plain.batch.observations] == [(art.pos, art.alt)]
    from varannot.readers.bam import background_from_normals

    bg = background_from_normals([normal], targets=targets, fetch_ref=engine.reference.fetch)
    with_pon = read_alignments(
        tumour, targets=targets, fetch_ref=engine.reference.fetch, background=bg
    )
    assert with_pon.batch.observations == []
    table = tmp_path / "background.tsv"
    bg.write(table)
    again = read_alignments(
        tumour,
        targets=targets,
        fetch_ref=engine.reference.fetch,
        background=Background.read_table(table),
    )
    assert again.batch.observations == []
    # the limit of detection at that position rises with the background
    lod = {iv.start: iv.lod for iv in with_pon.batch.coverage["T"]}
    lod0 = {iv.start: iv.lod for iv in plain.batch.coverage["T"]}
    assert lod0[art.pos] is not None and lod0[art.pos] < 0.01
    # SNV limits use the worst base change of the position (the artefact's)
    assert lod[art.pos] is not None and lod[art.pos] > 2 * lod0[art.pos]


def test_error_model_arithmetic() -> None:
    """Poisson tail against hand values; the limit of detection at 2,000x with the floor."""
    assert poisson_tail(0, 3.0) == 1.0
    assert abs(poisson_tail(1, 2.0) - (1 - 2.718281828459045**-2)) < 1e-12
    assert abs(poisson_tail(3, 1.0) - 0.0803013970713942) < 1e-12
    m = ErrorModel(tests=15_000)
    lod = m.limit_of_detection(2000, 5e-4)
    assert lod is not None and 0.005 < lod < 0.012
    assert m.limit_of_detection(0, 5e-4) is None
    assert m.limit_of_detection(200, 5e-4) > lod  # type: ignore[operator]


def test_background_table_errors_name_the_line(tmp_path: Path) -> None:
    p = tmp_path / "bg.tsv"
    p.write_text("chrom\tpos\tallele\trate\nchr18\t63318365\tA\t2.5\n")
    with pytest.raises(InputError, match="line 2"):
        Background.read_table(p)
    p.write_text("a\tb\n")
    with pytest.raises(InputError, match="header"):
        Background.read_table(p)


# --- command line and run folder ------------------------------------------------------------


def test_cli_run_folder_has_coverage_tsv_and_called_vcf(
    engine: Engine, panel: dict[str, object], kb_fasta: dict[str, Path], tmp_path: Path
) -> None:
    """``varannot annotate SAMPLE.bam --out-dir``: calls, coverage.tsv (per locus depth and
    limit of detection), the called alleles as VCF; ``--min-base-quality`` reaches the reader."""
    import csv
    import json

    from typer.testing import CliRunner

    from varannot.cli import app

    out = tmp_path / "run"
    res = CliRunner().invoke(
        app,
        ["annotate", str(panel["bam"]), "--fasta", str(kb_fasta["GRCh38"]), "--out-dir", str(out),
         "--build", "GRCh38", "--min-base-quality", "25", "-q"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "results.json").read_text())
    (inp,) = doc["inputs"]
    assert inp["kind"] == "reads" and inp["details"]["filters"].startswith("BQ>=25")
    rows = list(csv.DictReader((out / "coverage.tsv").open(), delimiter="\t"))
    g101 = panel["truth"][0][0]  # type: ignore[index]
    (row,) = [
        r for r in rows if r["chrom"] == "chr18" and int(r["start"]) <= g101.pos <= int(r["end"])
    ]
    assert row["sample"] == "PANEL" and row["status"] == "covered" and "venetoclax" in row["drugs"]
    assert int(row["min_depth"]) > 1500 and 0 < float(row["limit_of_detection"]) < 0.012
    assert all(r["status"] == "covered" for r in rows)  # every locus at >= 60x
    vcf = (out / "vcf" / "panel.annotated.vcf").read_text()
    assert f"chr18\t{g101.pos}\t" in vcf
    # depth across each gene's exons: in the document and plotted in the report
    genes = {t["gene"] for t in doc["samples"][0]["depth_profile"]}
    assert genes == {"TP53", "BCL2", "BAX", "MEN1"}
    report = (out / "report.html").read_text()
    assert "<h4>Read coverage</h4>" in report and report.count("<figure><svg") == 4
    assert "BCL2: " in report and "median" in report


def test_http_api_annotates_an_uploaded_bam(
    engine: Engine, panel: dict[str, object], kb_fasta: dict[str, Path], tmp_path: Path
) -> None:
    """POST /v1/annotate with a BAM (no index sent: one is built server-side in a temp dir);
    a BAM without SM is named after the client's file name, never the server's path."""
    from fastapi.testclient import TestClient

    from varannot.service import EngineSet, ServiceSettings, create_app

    s = ServiceSettings(fastas=[kb_fasta["GRCh38"]], builds=["GRCh38"], data_dir=tmp_path / "d")
    es = EngineSet.load(s)
    g101 = panel["truth"][0][0]  # type: ignore[index]
    reads = simulate(engine.reference.fetch, [window(g101)], 300, [at(g101, 0.3)], seed=31)
    anon = write_alignments(tmp_path / "anon.bam", reads, CONTIGS, sample=None)
    with TestClient(create_app(s, engines=es), raise_server_exceptions=False) as c:
        r = c.post(
            "/v1/annotate",
            files={
                "file": ("panel.bam", Path(panel["bam"]).read_bytes(), "application/octet-stream")
            },  # type: ignore[arg-type]
        )
        assert r.status_code == 200, r.text
        doc = r.json()
        (smp,) = doc["samples"]
        assert smp["sample"] == "PANEL" and smp["coverage_source"] == "reads"
        assert "G101V" in {v["protein_change"] for v in smp["variants"]}
        ven = next(x for x in smp["calls"] if x["drug"] == "venetoclax")
        assert ven["detection_limits"] and doc["inputs"][0]["kind"] == "reads"
        assert "temporary directory" in doc["inputs"][0]["details"]["index"]
        r = c.post(
            "/v1/annotate",
            files={"file": ("patient7.bam", anon.read_bytes(), "application/octet-stream")},
        )
        assert r.status_code == 200, r.text
        (smp,) = r.json()["samples"]
        assert smp["sample"] == "patient7"
        assert [v["protein_change"] for v in smp["variants"]] == ["G101V"]
