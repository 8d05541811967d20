"""Issue 13 (reader side): inputs that used to give silent wrong answers.

Every VCF here is SYNTHETIC minimal text written by the test (the shared fixtures have no
TP53 no-call, no POS 0 and no Latin-1 sample names); positions are real GRCh38 TP53 loci
(chr17:7675088 C>T is R175H, NM_000546.6 c.524G>A).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from varannot.api import Engine, RunOptions
from varannot.errors import InputError
from varannot.readers.vcf import (
    REASON_DUPLICATE,
    REASON_NOCALL_ALT,
    REASON_POS_HIGH,
    REASON_POS_LOW,
    Region,
    read_vcf,
    scan,
)
from varannot.reference import FastaReference

TP53 = Region("chr17", 7661779, 7687538)
HEAD = (
    "##fileformat=VCFv4.2\n"
    "##contig=<ID=chr17,length=83257441,assembly=GRCh38>\n"
    '##INFO=<ID=END,Number=1,Type=Integer,Description="end">\n'
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="genotype">\n'
    '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="allele depths">\n'
    '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="depth">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n"
)


def _write(tmp: Path, name: str, body: str, head: str = HEAD) -> Path:
    p = tmp / name
    p.write_text(head + body)
    return p


def _gvcf(site: str) -> str:
    """0/0 blocks over all of TP53 around one variant-site record at 7675088."""
    return (
        f"chr17\t{TP53.start}\t.\tG\t<NON_REF>\t.\t.\tEND=7675087\tGT:AD:DP\t0/0:40,0:40\n"
        f"chr17\t7675088\t.\tC\t{site}\n"
        f"chr17\t7675089\t.\tG\t<NON_REF>\t.\t.\tEND={TP53.end}\tGT:AD:DP\t0/0:40,0:40\n"
    )


NOCALL = "T,<NON_REF>\t.\t.\t.\tGT:AD:DP\t./.:35,15,0:50"
HOMREF = "<NON_REF>\t.\t.\t.\tGT:AD:DP\t0/0:50,0:50"


def _covers(batch: object, pos: int) -> bool:
    cov = batch.coverage["S1"]  # type: ignore[attr-defined]
    return any(iv.start <= pos <= iv.end for iv in cov)


@pytest.mark.parametrize("backend", ["pysam", "pyvcf3"])
@pytest.mark.parametrize("regions", [None, [TP53]])
def test_gvcf_nocall_with_alt_reads_is_not_coverage(
    tmp_path: Path, backend: str, regions: list[Region] | None
) -> None:
    b = read_vcf(_write(tmp_path, "s.g.vcf", _gvcf(NOCALL)), regions=regions, backend=backend)  # type: ignore[arg-type]
    assert b.observations == []
    assert not _covers(b, 7675088)
    assert _covers(b, 7675087) and _covers(b, 7675089)
    assert b.skipped.counts == {REASON_NOCALL_ALT: 1}
    assert b.skipped.examples[REASON_NOCALL_ALT] == ["line 9 (S1: T 15/50 reads)"]


def test_gvcf_nocall_block_is_not_coverage(tmp_path: Path) -> None:
    body = _gvcf(HOMREF).replace("0/0:40,0:40\n", "./.:40,0:40\n", 1)
    b = read_vcf(_write(tmp_path, "s.g.vcf", body))
    assert not _covers(b, TP53.start) and _covers(b, 7675088)
    assert b.skipped.counts == {"reference block with a no-call genotype (not coverage)": 1}


def test_tp53_r175h_nocall_is_not_assessed_not_wild_type(
    tmp_path: Path, real_fasta: dict[str, Path]
) -> None:
    """The probe's case: 15/50 ALT reads at a no-call between 0/0 blocks."""
    engine = Engine(FastaReference(real_fasta["GRCh38"]), "GRCh38")

    def idasanutlin(site: str) -> object:
        batch = engine.read(_write(tmp_path, "s.g.vcf", _gvcf(site)), RunOptions())
        (s,) = engine.run([batch]).samples
        return next(c for c in s.calls if c.drug == "idasanutlin")

    wild = idasanutlin(HOMREF)  # the same file with a called 0/0 site: seen, wild type
    assert (wild.call, wild.coverage) == ("no_known_resistance", "covered")  # type: ignore[attr-defined]
    nocall = idasanutlin(NOCALL)
    assert nocall.call == "not_assessed"  # type: ignore[attr-defined]
    assert (nocall.coverage, nocall.uncovered_loci) == (  # type: ignore[attr-defined]
        "partial",
        ["TP53 coding exon 5 (NM_000546.6) chr17:7675053-7675236"],
    )


BAD_POS = (
    "chr17\t0\t.\tC\tT\t.\t.\t.\tGT:AD:DP\t0/1:10,10:20\n"
    "chr17\t-5\t.\tC\tT\t.\t.\t.\tGT:AD:DP\t0/1:10,10:20\n"
    "chr17\t90000000\t.\tC\tT\t.\t.\t.\tGT:AD:DP\t0/1:10,10:20\n"
    "chr17\t7675088\t.\tC\tT\t.\t.\t.\tGT:AD:DP\t0/1:35,15:50\n"
)


@pytest.mark.parametrize(
    ("backend", "regions", "fast"),
    [
        ("pysam", None, True),
        ("pyvcf3", None, True),
        ("pysam", [TP53], True),  # unindexed region scan
        ("pysam", [TP53], False),  # record-by-record stream with regions
        ("pyvcf3", [TP53], True),
    ],
)
def test_bad_pos_is_malformed_not_outside(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
    regions: list[Region] | None,
    fast: bool,
) -> None:
    monkeypatch.setattr(scan, "_FAST_SCAN", fast)
    b = read_vcf(_write(tmp_path, "p.vcf", BAD_POS), regions=regions, backend=backend)  # type: ignore[arg-type]
    assert b.records_read == 4 and b.records_outside_genes == 0
    assert [o.pos for o in b.observations] == [7675088]
    assert b.skipped.counts == {REASON_POS_LOW: 2, REASON_POS_HIGH: 1}
    assert b.skipped.examples[REASON_POS_LOW] == ["line 8 (POS 0)", "line 9 (POS -5)"]
    assert b.skipped.examples[REASON_POS_HIGH] == ["line 10 (POS 90000000, chr17 length 83257441)"]


@pytest.mark.parametrize("backend", ["pysam", "pyvcf3"])
def test_identical_duplicate_records_are_kept_once(tmp_path: Path, backend: str) -> None:
    rec = "chr17\t7675088\t.\tC\tT\t.\tPASS\t.\tGT:AD:DP\t0/1:35,15:50\n"
    other = "chr17\t7675088\t.\tC\tA\t.\tPASS\t.\tGT:AD:DP\t0/1:45,5:50\n"
    b = read_vcf(_write(tmp_path, "d.vcf", rec + other + rec), backend=backend)  # type: ignore[arg-type]
    assert [(o.alt, o.record) for o in b.observations] == [("T", "line 8"), ("A", "line 9")]
    assert b.skipped.counts == {REASON_DUPLICATE: 1}
    assert b.skipped.examples[REASON_DUPLICATE] == ["line 10 (same as line 8)"]


@pytest.mark.parametrize("backend", ["pysam", "pyvcf3"])
def test_latin1_sample_names_and_bom(tmp_path: Path, backend: str) -> None:
    head = HEAD.replace("\tS1\n", "\tPatient_Müller\tSérgio\n")
    body = "chr17\t7675088\t.\tC\tT\t.\tPASS\t.\tGT:AD:DP\t0/1:35,15:50\t0/0:50,0:50\n"
    p = tmp_path / "l1.vcf"
    p.write_bytes(b"\xef\xbb\xbf" + (head + body).encode("latin-1"))
    b = read_vcf(p, backend=backend)  # type: ignore[arg-type]
    assert b.samples == ["Patient_Müller", "Sérgio"]
    assert [(o.sample, o.pos) for o in b.observations] == [("Patient_Müller", 7675088)]
    assert b.details["warnings"] == [
        f"{p} line 7: the '#CHROM' line (sample names) is not valid UTF-8; decoded as Latin-1 "
        "(ISO-8859-1)"
    ]
    gz = tmp_path / "bom.vcf.gz"  # a BOM in UTF-8 text, gzip-compressed: no warning
    gz.write_bytes(gzip.compress(b"\xef\xbb\xbf" + (head + body).encode("utf-8")))
    g = read_vcf(gz, backend=backend)  # type: ignore[arg-type]
    assert g.samples == ["Patient_Müller", "Sérgio"] and "warnings" not in g.details
    assert [o.record for o in g.observations] == ["line 8"]


def test_tsv_cells_never_start_a_formula(tmp_path: Path, real_fasta: dict[str, Path]) -> None:
    """Sample names and FILTER values from the input reach calls.tsv and variants.tsv as text."""
    import csv
    import io

    from varannot.writers import calls_tsv, safe_cell, variants_tsv

    name = '=HYPERLINK("http://evil.example","open")'
    head = HEAD.replace("\tS1\n", f"\t{name}\t@SUM(1+1)\n")
    body = "chr17\t7675088\t.\tC\tT\t.\t+cmd|' /C calc'!A0\t.\tGT:AD:DP\t0/1:35,15:50\t0/1:5,5:10\n"
    engine = Engine(FastaReference(real_fasta["GRCh38"]), "GRCh38")
    opts = RunOptions(include_filtered=True)
    doc = engine.run([engine.read(_write(tmp_path, "inj.vcf", body, head), opts)], opts)
    variants = list(csv.DictReader(io.StringIO(variants_tsv(doc)), delimiter="\t"))
    assert [(v["sample"], v["filter"], v["hgvs_p"]) for v in variants] == [
        ("'" + name, "'+cmd|' /C calc'!A0", "NP_000537.3:p.(Arg175His)"),
        ("'@SUM(1+1)", "'+cmd|' /C calc'!A0", "NP_000537.3:p.(Arg175His)"),
    ]
    calls = list(csv.DictReader(io.StringIO(calls_tsv(doc)), delimiter="\t"))
    assert {c["sample"] for c in calls} == {"'" + name, "'@SUM(1+1)"}
    assert all(not c[k].startswith(("=", "+", "@")) for c in calls for k in c)
    # numbers and a lone '-' stay as they are; '-' followed by text does not
    assert [safe_cell(x) for x in ("-0.25", "1e-3", "-", "-2+3", "\uff1dcmd")] == [
        "-0.25", "1e-3", "-", "'-2+3", "'\uff1dcmd"
    ]  # fmt: skip


# --- one content-sniffing rule (CLI, library, service) ----------------------------------------
def test_content_not_name_decides_vcf_or_trace(tmp_path: Path) -> None:
    """A VCF named .ab1 is read as a VCF and a real ABIF trace named .vcf as a trace, by the
    CLI's grouping (api.group_inputs, run.plan_units) and the service with one function."""
    from conftest import require_shared

    from varannot.api import group_inputs
    from varannot.readers import sniff
    from varannot.run import plan_units
    from varannot.service import uploads

    abif = require_shared() / "testdata-sources" / "traces" / "biopython_Tests_Abi" / "310.ab1"
    vcf_as_ab1 = _write(tmp_path, "S9.ab1", BAD_POS)
    ab1_as_vcf = tmp_path / "S8.vcf"
    ab1_as_vcf.write_bytes(abif.read_bytes())
    garbage = tmp_path / "S7.ab1"
    garbage.write_bytes(b"\x00" * 200)  # neither: the name breaks the tie
    paths = [vcf_as_ab1, ab1_as_vcf, garbage]
    assert group_inputs(paths) == [
        ("vcf", [vcf_as_ab1]), ("trace:S8", [ab1_as_vcf]), ("trace:S7", [garbage]),
    ]  # fmt: skip
    assert [u.kind for u in plan_units([str(p) for p in paths], {})] == ["vcf", "trace", "trace"]
    assert uploads.sniff_kind is sniff.sniff_kind
    assert [sniff.sniff_kind(p.read_bytes()[:136], p.name)[0] for p in paths] == [
        "vcf", "trace", "trace",
    ]  # fmt: skip
    b = read_vcf(vcf_as_ab1)  # and the VCF reader reads it whatever its name
    assert [o.pos for o in b.observations] == [7675088]


# --- gzip bombs and endless lines: the service's limits, in the readers -----------------------
BOMB_HEAD = HEAD + "chr17\t7675088\t.\tC\tT\t.\tPASS\t.\tGT:AD:DP\t0/1:35,15:50\n"


def _bomb(tmp: Path, size: int) -> Path:
    """SYNTHETIC: a valid header and one record, then ``size`` NUL bytes and no newline."""
    import zlib

    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    p = tmp / "bomb.vcf.gz"
    with open(p, "wb") as fh:
        fh.write(c.compress(BOMB_HEAD.encode()))
        zero = bytes(1 << 20)
        for _ in range(size >> 20):
            fh.write(c.compress(zero))
        fh.write(c.flush())
    return p


@pytest.mark.parametrize(
    ("backend", "regions"), [("pysam", None), ("pyvcf3", None), ("pysam", [TP53])]
)
def test_gzip_bomb_is_refused_by_ratio(
    tmp_path: Path, backend: str, regions: list[Region] | None
) -> None:
    p = _bomb(tmp_path, 80 << 20)  # 80 MiB of NULs from ~80 KB: over 200-fold past 64 MiB
    assert p.stat().st_size < 200_000
    with pytest.raises(InputError) as ei:
        read_vcf(p, regions=regions, backend=backend)  # type: ignore[arg-type]
    assert ei.value.record == "line 9"
    assert "expands more than 200-fold when decompressed" in ei.value.message
    assert "possible gzip bomb" in ei.value.message


@pytest.mark.parametrize(
    ("backend", "regions"), [("pysam", None), ("pyvcf3", None), ("pysam", [TP53])]
)
def test_line_over_the_limit_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str, regions: list[Region] | None
) -> None:
    monkeypatch.setenv("VARANNOT_MAX_LINE_BYTES", str(1 << 20))
    p = tmp_path / "long.vcf"  # plain text: no ratio to judge, only the line length
    p.write_bytes(BOMB_HEAD.encode() + b"\0" * (3 << 20))
    with pytest.raises(InputError) as ei:
        read_vcf(p, regions=regions, backend=backend)  # type: ignore[arg-type]
    assert (ei.value.source, ei.value.record) == (str(p), "line 9")
    assert ei.value.message.startswith("line is longer than the limit of 1048576 bytes (1.0 MiB")


def test_maf_writer_neutralises_formula_cells(tmp_path: Path, real_fasta: dict[str, Path]) -> None:
    import csv
    import io

    from varannot.maf import to_maf

    head = HEAD.replace("\tS1\n", "\t+cmd|' /C calc'!A0\n")
    body = "chr17\t7675088\t.\tC\tT\t.\tPASS\t.\tGT:AD:DP\t0/1:35,15:50\n"
    engine = Engine(FastaReference(real_fasta["GRCh38"]), "GRCh38")
    doc = engine.run([engine.read(_write(tmp_path, "m.vcf", body, head), RunOptions())])
    text = "\n".join(ln for ln in to_maf(doc).splitlines() if not ln.startswith("#"))
    (row,) = list(csv.DictReader(io.StringIO(text), delimiter="\t"))
    assert (row["Tumor_Sample_Barcode"], row["HGVSp_Short"]) == ("'+cmd|' /C calc'!A0", "p.R175H")


# --- cohorts: samples streamed to JSON Lines ---------------------------------------------------
def test_jsonl_streams_the_same_document(tmp_path: Path, real_fasta: dict[str, Path]) -> None:
    """SYNTHETIC 5-sample VCF: ``-o x.jsonl`` holds exactly the JSON document, split in lines,
    and --fail-on still sees the streamed calls."""
    import json

    from typer.testing import CliRunner

    from varannot.cli import app

    names = [f"P{i}" for i in range(5)]
    head = HEAD.replace("\tS1\n", "\t" + "\t".join(names) + "\n")
    cells = ["0/1:35,15:50", "0/0:50,0:50", "0/1:45,5:50", "0/0:50,0:50", "./.:0,0:0"]
    vcf = _write(
        tmp_path,
        "c.vcf",
        "chr17\t7675088\t.\tC\tT\t.\tPASS\t.\tGT:AD:DP\t" + "\t".join(cells) + "\n",
        head,
    )
    base = ["annotate", str(vcf), "--fasta", str(real_fasta["GRCh38"]), "--build", "GRCh38", "-q"]
    runner = CliRunner()
    whole = runner.invoke(app, [*base, "-o", str(tmp_path / "d.json")])
    assert whole.exit_code == 0, whole.output
    lines = tmp_path / "d.jsonl"
    doc = json.loads((tmp_path / "d.json").read_text())
    calls = {c["call"] for s in doc["samples"] for c in s["calls"]}
    assert "likely_resistant" in calls or "resistant" in calls  # R175H at VAF 0.3 in P0
    for fail_on, bad in (
        ("resistant", {"resistant"}),
        ("likely_resistant", {"resistant", "likely_resistant"}),
    ):
        res = runner.invoke(app, [*base, "-o", str(lines), "--fail-on", fail_on])
        assert res.exit_code == (3 if calls & bad else 0), res.output  # streamed calls count
    recs = [json.loads(ln) for ln in lines.read_text().splitlines()]
    assert [r.pop("record") for r in recs] == ["document"] + ["sample"] * 5
    assert recs[0] == {k: v for k, v in doc.items() if k != "samples"}
    assert recs[1:] == doc["samples"]
    assert [s["sample"] for s in recs[1:]] == names
