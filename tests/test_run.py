"""Whole runs (``varannot annotate RUN_DIR --out-dir OUT``): files, rows, names, order, exit codes.

Run folders are built per test in a temporary directory from real VCFs READ from
``../shared/testdata-sources/vcf/tcga_somatic_callers`` (vcf2maf test inputs: GRCh37
``vcf2maf_test.vcf`` has TP53 17:7579312 C>A; ``vcf2maf_test_grch38.vcf`` is its GRCh38 copy,
TP53 17:7675994 C>A) plus small hand-written VCFs at real coordinates (TP53 R175H
chr17:7675088 C>T, BCL2 G101V chr18:63318365 C>A, GRCh38). Sanger traces are SYNTHETIC
(``varannot.sanger.simulate`` over the real TP53 sequence of ``../shared``): no public TP53 traces
with known resistance mutations exist. The reference is the ``kb_fasta`` fixture.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Literal

import pysam
import pytest
from typer.testing import CliRunner

from varannot.api import RunOptions
from varannot.errors import InputError, KnowledgeBaseError
from varannot.knowledge import KnowledgeBase
from varannot.run import EngineSpec, execute_run, read_samplesheet
from varannot.sanger.simulate import SimVariant, simulate_trace, write_abif

runner = CliRunner()
TCGA = "testdata-sources/vcf/tcga_somatic_callers"
TP53_FA = (
    "reference-sources/genomic/TP53_GRCh38_chr17_7659779-7692550_plus_strand_from_NG_017013.2.fa"
)
TP53_START = 7659779
VCF_HEADER = (
    "##fileformat=VCFv4.2\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">\n'
    '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{sample}\n"
)
R175H = "chr17\t7675088\t.\tC\tT\t50\tPASS\t.\tGT:AD:DP\t0/1:60,40:100\n"
G101V = "chr18\t63318365\t.\tC\tA\t50\tPASS\t.\tGT:AD:DP\t0/1:70,30:100\n"
BAX_FS = "chr19\t48955713\t.\tT\tTG\t50\tPASS\t.\tGT:AD:DP\t0/1:70,30:100\n"  # c.121dup
R337H = "chr17\t7670699\t.\tC\tT\t50\tPASS\t.\tGT:AD:DP\t0/1:55,45:100\n"  # c.1010G>A


def vcf(path: Path, sample: str, *records: str) -> Path:
    path.write_text(VCF_HEADER.format(sample=sample) + "".join(records))
    return path


def annotate(*args: str | Path):  # type: ignore[no-untyped-def]
    from varannot.cli import app

    return runner.invoke(app, ["annotate", *map(str, args)])


def rows(path: Path, *cols: str) -> list[tuple[str, ...]]:
    lines = path.read_text().splitlines()
    head = lines[0].split("\t")
    idx = [head.index(c) for c in cols]
    return [tuple(ln.split("\t")[i] for i in idx) for ln in lines[1:]]


def files_under(d: Path) -> list[str]:
    return sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def tp53(shared: Path) -> str:
    lines = (shared / TP53_FA).read_text().splitlines()
    return "".join(ln.strip() for ln in lines if not ln.startswith(">")).upper()


def write_traces(run: Path, tp53: str, name: str) -> None:
    """SYNTHETIC forward + reverse reads of a heterozygous TP53 R175H (c.524G>A)."""
    i = 7675088 - TP53_START
    assert tp53[i] == "C"
    v = SimVariant(i, "C", "T", "het")
    strands: tuple[tuple[Literal["+", "-"], str], ...] = (("+", "F"), ("-", "R"))
    for strand, tag in strands:
        sim = simulate_trace(
            tp53, [v], start=i - 300, length=600, strand=strand, seed=3 + (strand == "-"),
            name=f"{name}.{tag}.ab1",
        )  # fmt: skip
        write_abif(sim, run / sim.name)


@pytest.fixture
def run38(shared: Path, tmp_path: Path, tp53: str) -> Path:
    """P001 (TP53 R175H), P002 (BCL2 G101V), the vcf2maf GRCh38 pair, traces of sample S9."""
    run = tmp_path / "run"
    run.mkdir()
    vcf(run / "P001.vcf", "P001", R175H)
    vcf(run / "P002.vcf", "P002", G101V)
    shutil.copy(shared / TCGA / "vcf2maf_test_grch38.vcf", run)
    write_traces(run, tp53, "S9")
    return run


def test_run_folder_files_rows_and_streams(run38: Path, kb_fasta: dict[str, Path]) -> None:
    out = run38.parent / "out"
    res = annotate(run38, "--fasta", kb_fasta["GRCh38"], "--build", "GRCh38", "--out-dir", out)
    assert res.exit_code == 0, res.output
    assert res.stdout == ""  # --out-dir: nothing on stdout, so a pipe stays clean
    assert res.stderr.splitlines() == [
        "varannot: 5 samples from 5 files (3 VCF, 2 traces); 24 records read, 4 variants in "
        "the genes, 19 outside the genes",
        "varannot: skipped 0 records",
        res.stderr.splitlines()[2],  # call counts depend on the knowledge base's contents
        f"varannot: wrote {out}/report.html, calls.tsv, evidence.tsv, variants.tsv, errors.tsv, "
        "results.json, variants.maf, vcf/",
    ]
    assert res.stderr.splitlines()[2].startswith("varannot: calls (sample x drug): resistant ")
    plots = [f for f in files_under(out) if f.startswith("plots/")]
    assert "plots/S9__chr17_7675088_C_T.png" in plots
    # the other plots show knowledge-base positions the reads cover (which depends on the KB)
    others = [f for f in plots if f != "plots/S9__chr17_7675088_C_T.png"]
    assert others and all(re.fullmatch(r"plots/S9__chr17_\d+_highlight\.png", f) for f in others)
    assert [f for f in files_under(out) if not f.startswith("plots/")] == [
        "calls.tsv",
        "errors.tsv",
        "evidence.tsv",
        "report.html",
        "results.json",
        "variants.maf",
        "variants.tsv",
        "vcf/P001.annotated.vcf",
        "vcf/P002.annotated.vcf",
        "vcf/S9.traces.vcf",
        "vcf/vcf2maf_test_grch38.annotated.vcf",
    ]
    cols = ("sample", "chrom", "pos", "ref", "alt", "gene", "hgvs_c", "hgvs_p", "genotype", "vaf")
    assert rows(out / "variants.tsv", *cols) == [
        ("P001", "chr17", "7675088", "C", "T", "TP53", "NM_000546.6:c.524G>A",
         "NP_000537.3:p.(Arg175His)", "0/1", "0.4"),
        ("P002", "chr18", "63318365", "C", "A", "BCL2", "NM_000633.3:c.302G>T",
         "NP_000624.2:p.(Gly101Val)", "0/1", "0.3"),
        ("S9", "chr17", "7675088", "C", "T", "TP53", "NM_000546.6:c.524G>A",
         "NP_000537.3:p.(Arg175His)", "0/1", rows(out / "variants.tsv", "vaf")[2][0]),
        ("TUMOR", "17", "7675994", "C", "A", "TP53", "NM_000546.6:c.375G>T",
         "NP_000537.3:p.(Thr125=)", "0/1", "0.5238"),
    ]  # fmt: skip
    assert rows(out / "variants.tsv", "flags", "source")[2] == (
        "confirmed_by_2_traces",
        f"{run38}/S9.F.ab1",  # the read with the higher call quality
    )
    calls = {
        (s, d): (c, r)
        for s, d, c, r in rows(out / "calls.tsv", "sample", "drug", "call", "rule_ids")
    }
    assert calls[("P002", "venetoclax")][0] == "resistant"
    assert "BCL2-01" in calls[("P002", "venetoclax")][1].split(",")
    assert list(dict.fromkeys(s for s, _ in calls)) == ["P001", "P002", "S9", "TUMOR", "NORMAL"]
    doc = json.loads((out / "results.json").read_text())
    assert [s["sample"] for s in doc["samples"]] == ["P001", "P002", "S9", "TUMOR", "NORMAL"]
    assert doc["samples"][2]["traces"][0]["plots"][0]["path"] == "plots/S9__chr17_7675088_C_T.png"


def test_annotated_vcfs_pass_records_through_and_add_info(
    run38: Path, kb_fasta: dict[str, Path]
) -> None:
    out = run38.parent / "out"
    res = annotate(
        run38, "--fasta", kb_fasta["GRCh38"], "--build", "GRCh38", "--out-dir", out, "-q"
    )
    assert res.exit_code == 0, res.output
    assert res.stderr == ""  # --quiet
    with pysam.VariantFile(str(out / "vcf/P002.annotated.vcf")) as vf:
        assert vf.header.info["VA_HGVSP"].number == "A"
        assert vf.header.info["VA_RULES"].description == (
            "varannot: knowledge-base rule ids the allele matched, '&'-separated"
        )
        (rec,) = list(vf)
        assert rec.info["VA_GENE"] == ("BCL2",)
        assert rec.info["VA_HGVSC"] == ("NM_000633.3:c.302G>T",)
        assert rec.info["VA_HGVSP"] == ("NP_000624.2:p.(Gly101Val)",)
        assert rec.info["VA_CSQ"] == ("missense_variant",)
        assert "BCL2-01" in rec.info["VA_RULES"][0].split("&")
        assert str(rec.samples["P002"]["AD"]) == "(70, 30)"
    # the real VCF: all 20 records kept, only the TP53 one changed (INFO column only)
    src = (run38 / "vcf2maf_test_grch38.vcf").read_text().splitlines()
    dst = (out / "vcf/vcf2maf_test_grch38.annotated.vcf").read_text().splitlines()
    src_recs = [ln for ln in src if not ln.startswith("#")]
    dst_recs = [ln for ln in dst if not ln.startswith("#")]
    assert len(dst_recs) == len(src_recs) == 20
    changed = [(a, b) for a, b in zip(src_recs, dst_recs, strict=True) if a != b]
    assert len(changed) == 1
    before, after = (x.split("\t") for x in changed[0])
    assert before[:7] == after[:7] and before[8:] == after[8:]
    assert after[7] == (
        "VA_GENE=TP53;VA_TX=NM_000546.6;VA_CSQ=splice_region_variant&synonymous_variant;"
        "VA_HGVSC=NM_000546.6:c.375G>T;VA_HGVSP=NP_000537.3:p.(Thr125%3D);VA_PCHANGE=T125%3D"
    )
    assert "##varannot_build=GRCh38" in dst
    # traces: a VCF of the called variants, one sample column named after the sample
    with pysam.VariantFile(str(out / "vcf/S9.traces.vcf")) as vf:
        assert list(vf.header.samples) == ["S9"]
        (rec,) = list(vf)
        assert (rec.chrom, rec.pos, rec.ref, rec.alts) == ("chr17", 7675088, "C", ("T",))
        assert rec.info["VA_HGVSP"] == ("NP_000537.3:p.(Arg175His)",)
        assert rec.samples["S9"]["GT"] == (0, 1)
        assert list(rec.filter) == ["PASS"]


def test_report_orders_escapes_and_links_plots(run38: Path, kb_fasta: dict[str, Path]) -> None:
    vcf(run38 / "evil.vcf", '<b id="x">A&B</b>')  # a header-only VCF: one sample, no records
    out = run38.parent / "out"
    res = annotate(
        run38, "--fasta", kb_fasta["GRCh38"], "--build", "GRCh38", "--out-dir", out, "-q"
    )
    assert res.exit_code == 0, res.output
    page = (out / "report.html").read_text()
    assert '<b id="x">' not in page
    assert "&lt;b id=&quot;x&quot;&gt;A&amp;B&lt;/b&gt;" in page
    # summary first, resistant samples at the top (P001 TP53 R175H, P002 BCL2 G101V, in input
    # order), TUMOR (a synonymous change) after them
    summary = page[page.index("<h2>Summary</h2>") : page.index("<h2>Samples</h2>")]
    assert summary.index('href="#s0">P001<') < summary.index('href="#s1">P002<')
    assert summary.index('">P002<') < summary.index('">TUMOR<')
    # every call chip carries the evidence level behind it
    assert re.search(r'<span class="badge resistant" title="Resistant">venetoclax<i>[A-E]', summary)
    # the variant's snapshot is inside the page (a palette PNG); the file stays in plots/
    assert '<img src="data:image/png;base64,' in page
    assert 'data-file="plots/S9__chr17_7675088_C_T.png"' in page
    assert (out / "plots/S9__chr17_7675088_C_T.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert '<a href="https://pubmed.ncbi.nlm.nih.gov/30514704/">PMID:30514704</a>' in page
    assert '<a href="vcf/P002.annotated.vcf">P002.annotated.vcf</a>' in page
    assert "http" not in page.split("<style>")[1].split("</style>")[0]  # nothing fetched


def test_duplicate_sample_names_error_names_both_files(
    shared: Path, tmp_path: Path, kb_fasta: dict[str, Path]
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(shared / TCGA / "vcf2maf_test.vcf", run)
    shutil.copy(shared / TCGA / "vcf2maf_test_b37.vcf", run)
    args: list[str | Path] = [
        "--fasta",
        kb_fasta["GRCh37"],
        "--build",
        "GRCh37",
        "--out-dir",
        tmp_path / "out",
    ]
    res = annotate(run, *args)
    assert res.exit_code == 2
    assert res.stderr == (
        f"varannot: error: duplicate sample name 'TUMOR': in {run}/vcf2maf_test.vcf and in "
        f"{run}/vcf2maf_test_b37.vcf; give them distinct names with --samplesheet "
        "(columns sample,file)\n"
    )
    assert not (tmp_path / "out").exists()
    # the samplesheet names them apart; vcf_sample keeps one column of a tumour/normal pair
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(
        "sample,file,vcf_sample\nPAT-1,vcf2maf_test.vcf,\nPAT-2,vcf2maf_test_b37.vcf,TUMOR\n"
        "PAT-3,absent.vcf,\n"
    )
    res = annotate(run, "--samplesheet", sheet, *args, "-q")
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "out/results.json").read_text())
    assert [s["sample"] for s in doc["samples"]] == ["PAT-1", "PAT-1/NORMAL", "PAT-2"]
    assert doc["warnings"][-1] == (
        "samplesheet sheet.csv line 4: absent.vcf is not among the inputs; sample PAT-3 was "
        "not analysed"
    )
    assert rows(tmp_path / "out/variants.tsv", "sample", "chrom", "pos", "hgvs_c", "hgvs_p") == [
        ("PAT-1", "17", "7579312", "NM_000546.6:c.375G>T", "NP_000537.3:p.(Thr125=)"),
    ]


def test_samplesheet_errors_are_specific(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("name,path\nA,a.vcf\n")
    with pytest.raises(InputError) as e:
        read_samplesheet(bad)
    assert str(e.value) == (
        f"{bad}, line 1: needs columns 'sample' and 'file'; missing sample (header: name, path)"
    )
    bad.write_text("# lab sheet\nsample\tfile\nA\t\n")
    with pytest.raises(InputError) as e:
        read_samplesheet(bad)
    assert str(e.value) == f"{bad}, line 3: a row needs both a sample and a file"


def test_samplesheet_disease_column(tmp_path: Path, kb_fasta: dict[str, Path]) -> None:
    """The sheet gives each sample its disease; the venetoclax call for TP53 R175H follows it."""
    run = tmp_path / "run"
    run.mkdir()
    vcf(run / "a.vcf", "A", R175H)
    vcf(run / "b.vcf", "B", R175H)
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("sample,file,disease\nPAT-A,a.vcf,CLLSLL\nPAT-B,b.vcf,AML\n")
    ref = ["--fasta", str(kb_fasta["GRCh38"]), "--build", "GRCh38", "-q"]
    res = annotate(run, "--samplesheet", sheet, *ref, "--format", "tsv")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    head = lines[0].split("\t")
    got = {
        (r[head.index("sample")], r[head.index("disease")]): r[head.index("call")]
        for r in (ln.split("\t") for ln in lines[1:])
        if r[head.index("drug")] == "venetoclax"
    }
    assert got == {("PAT-A", "CLLSLL"): "no_known_resistance", ("PAT-B", "AML"): "likely_resistant"}
    sheet.write_text("sample,file,disease\nPAT-A,a.vcf,CLL\n")
    with pytest.raises(InputError) as e:
        read_samplesheet(sheet)
    assert str(e.value).startswith(f"{sheet}, line 2: unknown disease 'CLL': give an OncoTree code")


def test_fail_on_exit_codes(tmp_path: Path, kb_fasta: dict[str, Path]) -> None:
    ref = ["--fasta", str(kb_fasta["GRCh38"]), "--build", "GRCh38", "-q"]
    g101v = vcf(tmp_path / "P002.vcf", "P002", G101V)
    r175h = vcf(tmp_path / "P001.vcf", "P001", R175H)
    assert annotate(g101v, *ref, "--format", "tsv", "--fail-on", "resistant").exit_code == 3
    # R175H: resistant to idasanutlin (measured loss of function), likely for venetoclax in AML
    assert annotate(r175h, *ref, "--fail-on", "resistant").exit_code == 3
    # BAX frameshift: only likely_resistant (a class rule)
    bax = vcf(tmp_path / "P003.vcf", "P003", BAX_FS)
    res = annotate(bax, *ref, "--format", "tsv", "--fail-on", "resistant")
    assert res.exit_code == 0, res.output
    assert "\tresistant\t" not in res.stdout and "\tlikely_resistant\t" in res.stdout
    assert annotate(bax, *ref, "--fail-on", "likely_resistant").exit_code == 3
    # R337H: uncertain for the MDM2 inhibitors (partially functional)
    r337h = vcf(tmp_path / "P004.vcf", "P004", R337H)
    assert annotate(r337h, *ref, "--fail-on", "likely_resistant").exit_code == 0
    assert annotate(r337h, *ref, "--fail-on", "uncertain").exit_code == 3
    res = annotate(tmp_path / "nope.vcf", *ref)
    assert (res.exit_code, res.stderr) == (
        2,
        f"varannot: error: {tmp_path}/nope.vcf: file not found\n",
    )
    from varannot.cli import app

    top = " ".join(runner.invoke(app, ["--help"]).stdout.split())
    assert (
        "Exit codes: 0 done; 2 usage error or unreadable input; 3 --fail-on matched; "
        "4 finished, some inputs could not be read (see errors.tsv)."
    ) in top
    words = " ".join(runner.invoke(app, ["annotate", "--help"]).stdout.split())
    assert "exit 3 when any sample has this call (or worse)" in words


def test_jobs_2_output_identical_to_serial(run38: Path, kb_fasta: dict[str, Path]) -> None:
    ref: list[str | Path] = ["--fasta", kb_fasta["GRCh38"], "--build", "GRCh38", "-q"]
    for jobs in ("1", "2"):
        res = annotate(run38, *ref, "--out-dir", run38.parent / f"out{jobs}", "--jobs", jobs)
        assert res.exit_code == 0, res.output
    one, two = run38.parent / "out1", run38.parent / "out2"
    assert files_under(one) == files_under(two)
    for f in files_under(one):
        assert (one / f).read_bytes() == (two / f).read_bytes(), f


def test_dask_local_cluster_matches_serial(run38: Path, kb_fasta: dict[str, Path]) -> None:
    distributed = pytest.importorskip("distributed")
    kb = KnowledgeBase.load()
    common = {"fasta": kb_fasta["GRCh38"], "build": "GRCh38", "kb": kb, "quiet": True}
    serial = execute_run([run38], options=RunOptions(), out_dir=run38.parent / "a", **common)  # type: ignore[arg-type]
    with distributed.LocalCluster(
        processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        on_dask = execute_run(
            [run38],
            options=RunOptions(),
            out_dir=run38.parent / "b",
            dask_scheduler=cluster.scheduler_address,
            **common,  # type: ignore[arg-type]
        )
    assert on_dask.doc == serial.doc
    a, b = run38.parent / "a", run38.parent / "b"
    for f in files_under(a):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def test_unreachable_dask_scheduler_is_a_usage_error(
    run38: Path, kb_fasta: dict[str, Path]
) -> None:
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        res = annotate(
            run38, "--fasta", kb_fasta["GRCh38"], "--build", "GRCh38", "-q",
            "--dask-scheduler", "tcp://127.0.0.1:9",
        )  # fmt: skip
    assert res.exit_code == 2
    assert res.stderr.startswith(
        "varannot: error: --dask-scheduler: cannot reach the Dask scheduler at tcp://127.0.0.1:9"
    )


def test_out_dir_inside_run_is_not_read_back_and_skips_are_summarised(
    tmp_path: Path, kb_fasta: dict[str, Path]
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    bad = "chr17\t7675090\t.\tC\t<DEL>\t50\tPASS\tSVTYPE=DEL;END=7675200\tGT:AD:DP\t0/1:60,40:100\n"
    vcf(run / "P001.vcf", "P001", R175H, bad)
    ref: list[str | Path] = [
        "--fasta",
        kb_fasta["GRCh38"],
        "--build",
        "GRCh38",
        "--out-dir",
        run / "out",
    ]
    first = annotate(run, *ref)
    assert first.exit_code == 0, first.output
    assert first.stderr.splitlines()[:2] == [
        "varannot: 1 sample from 1 file (1 VCF, 0 traces); 2 records read, 1 variant in the "
        "genes, 0 outside the genes",
        "varannot: skipped 1 record: symbolic ALT: 1",
    ]
    # the skipped line is passed through untouched in the annotated VCF
    assert (run / "out/vcf/P001.annotated.vcf").read_text().endswith(bad)
    again = annotate(run, *ref)  # run/out/vcf/P001.annotated.vcf must not become an input
    assert again.exit_code == 0, again.output
    assert again.stderr == first.stderr


def test_stdin_vcf_gets_a_called_variants_vcf(tmp_path: Path, kb_fasta: dict[str, Path]) -> None:
    from varannot.cli import app

    text = VCF_HEADER.format(sample="P002") + G101V
    res = runner.invoke(
        app,
        ["annotate", "-", "--fasta", str(kb_fasta["GRCh38"]), "--build", "GRCh38", "-q",
         "--out-dir", str(tmp_path / "out")],
        input=text,
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    with pysam.VariantFile(str(tmp_path / "out/vcf/stdin.annotated.vcf")) as vf:
        (rec,) = list(vf)
        assert (rec.chrom, rec.pos, rec.info["VA_PCHANGE"]) == ("chr18", 63318365, ("G101V",))
        assert rec.samples["P002"]["GT"] == (0, 1)
        assert rec.samples["P002"]["VAF"] == (pytest.approx(0.3),)


def test_worker_refuses_a_knowledge_base_that_changed(kb_fasta: dict[str, Path]) -> None:
    spec = EngineSpec.of(kb_fasta["GRCh38"], "GRCh38", KnowledgeBase.load(), absolute=True)
    assert spec.make().kb.sha256 == spec.kb_sha256
    stale = EngineSpec(spec.fasta, spec.build, spec.kb_tables, spec.kb_replace, "0" * 64)
    with pytest.raises(KnowledgeBaseError, match="changed while the run was starting"):
        stale.make()


def test_merger_keeps_input_order_and_checks_names_in_input_order() -> None:
    """Workers finish in any order; output order and the duplicate message must not care."""
    from varannot.models import InputBatch
    from varannot.run import Unit, _Merger

    units = [Unit(i, "vcf", (f"{n}.vcf",)) for i, n in enumerate("abc")]
    batches = [InputBatch(f"{n}.vcf", "vcf", [s]) for n, s in zip("abc", "XYZ", strict=True)]
    m = _Merger(units)
    for i in (2, 0, 1):
        m.add(i, batches[i])
    assert [b.source for b in m.result()] == ["a.vcf", "b.vcf", "c.vcf"]
    twins = [InputBatch(f"{n}.vcf", "vcf", [s]) for n, s in zip("abc", "XYX", strict=True)]
    m = _Merger(units)
    m.add(2, twins[2])  # c.vcf (X) first: nothing to compare with yet in input order
    m.add(0, twins[0])
    with pytest.raises(InputError, match=r"'X': in a\.vcf and in c\.vcf;"):
        m.add(1, twins[1])
    explicit = [Unit(i, "vcf", (f"{n}.vcf",), "X", None, True) for i, n in enumerate("ab")]
    m = _Merger(explicit)  # the samplesheet named both 'X': one sample from two files
    m.add(1, InputBatch("b.vcf", "vcf", ["X"]))
    m.add(0, InputBatch("a.vcf", "vcf", ["X"]))
    assert len(m.result()) == 2
