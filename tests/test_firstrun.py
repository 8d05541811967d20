"""A first run that just works (issue 14): output paths, exit codes, failed inputs, help text.

VCFs are small hand-written files at real GRCh38 coordinates (BCL2 G101V chr18:63318365 C>A);
the GRCh37 one declares the real GRCh37 length of chromosome 17 (81,195,210 bp). The reference
is the ``kb_fasta`` fixture (real TP53/BAX/BCL2 sequence from ``../shared``, SYNTHETIC MEN1).
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from varannot.calls import Thresholds
from varannot.cli import app
from varannot.run import plan_units

runner = CliRunner()
HEADER = (
    "##fileformat=VCFv4.2\n{contig}"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{sample}\n"
)
G101V = "chr18\t63318365\t.\tC\tA\t50\tPASS\t.\tGT:AD\t0/1:60,40\n"


def vcf(path: Path, sample: str, *records: str, contig: str = "") -> Path:
    path.write_text(HEADER.format(sample=sample, contig=contig) + "".join(records))
    return path


def tsv(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


@pytest.fixture
def detected_fasta(kb_fasta: dict[str, Path], tmp_path: Path) -> Path:
    """The GRCh38 test FASTA with the manifest `reference fetch` writes: build detected."""
    d = tmp_path / "ref"
    d.mkdir()
    fa = d / "GRCh38.regions.fa"
    shutil.copy(kb_fasta["GRCh38"], fa)
    (d / "GRCh38.manifest.json").write_text(json.dumps({"build": "GRCh38", "fasta": fa.name}))
    return fa


def test_output_paths_are_checked_before_any_work(
    tmp_path: Path, kb_fasta: dict[str, Path]
) -> None:
    good = vcf(tmp_path / "P002.vcf", "P002", G101V)
    (tmp_path / "afile").write_text("x")
    ref = ["--fasta", str(kb_fasta["GRCh38"]), "--build", "GRCh38", "-q"]
    cases = [
        (["-o", str(tmp_path / "nodir/x.json")], f"-o {tmp_path}/nodir/x.json: the directory "
         f"{tmp_path}/nodir does not exist"),
        (["-o", str(tmp_path)], f"-o {tmp_path}: is a directory; give a file name"),
        (["--out-dir", str(tmp_path / "afile")], f"--out-dir {tmp_path}/afile: exists and is "
         "not a directory"),
        (["--out-dir", "/proc/nope"], "--out-dir /proc/nope: cannot write there: No such file "
         "or directory"),
    ]  # fmt: skip
    for extra, message in cases:
        res = runner.invoke(app, ["annotate", str(good), *ref, *extra])
        assert (res.exit_code, res.stderr, res.stdout) == (2, f"varannot: error: {message}\n", "")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["P002.vcf", "afile"]
    # a probe that made directories takes them back when the run then fails
    res = runner.invoke(
        app, ["annotate", str(tmp_path / "nope.vcf"), *ref, "--out-dir", str(tmp_path / "a/b")]
    )
    assert res.exit_code == 2 and not (tmp_path / "a").exists()


def test_a_run_goes_on_past_unreadable_inputs(tmp_path: Path, detected_fasta: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    vcf(run / "P002.vcf", "P002", G101V)
    # a GRCh37 file (chr17 of GRCh37 is 81,195,210 bp) in a run whose FASTA is GRCh38
    vcf(run / "B37.vcf", "NA12878", contig="##contig=<ID=17,length=81195210>\n")
    (run / "broken.vcf").write_text("this is not a VCF\n")
    outs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}"
        res = runner.invoke(
            app,
            ["annotate", str(run), "-f", str(detected_fasta), "--out-dir", str(out), "-j", jobs],
        )
        assert res.exit_code == 4, res.output
        outs[jobs] = out
        errors = tsv(out / "errors.tsv")
        assert [(e["source"], e["samples"]) for e in errors] == [
            (f"{run}/B37.vcf", "B37"),
            (f"{run}/broken.vcf", "broken"),
        ]
        # the build came from the FASTA: the message says so and blames no flag
        assert errors[0]["error"] == (
            f"{run}/B37.vcf, line 2: contig 17 has length 81195210 (GRCh37) but the run is "
            f"GRCh38 (detected from the FASTA {detected_fasta})"
        )
        assert "--build" not in res.stderr
        assert errors[1]["error"].startswith(f"{run}/broken.vcf")
        assert "2 inputs could not be read (their samples are not_assessed; exit code 4):" in (
            res.stderr
        )
    assert (outs["1"] / "errors.tsv").read_text() == (outs["2"] / "errors.tsv").read_text()
    assert (outs["1"] / "calls.tsv").read_text() == (outs["2"] / "calls.tsv").read_text()
    out = outs["1"]
    calls = tsv(out / "calls.tsv")
    by_sample: dict[str, set[str]] = {}
    for c in calls:
        by_sample.setdefault(c["sample"], set()).add(c["call"])
    assert by_sample["B37"] == by_sample["broken"] == {"not_assessed"}
    assert "resistant" in by_sample["P002"]
    b37 = [c for c in calls if c["sample"] == "B37"]
    assert b37[0]["caveats"].startswith(f"not assessed: {run}/B37.vcf, line 2: contig 17")
    doc = json.loads((out / "results.json").read_text())
    assert [i["source"].rsplit("/", 1)[1] for i in doc["inputs"]] == [
        "B37.vcf",
        "P002.vcf",
        "broken.vcf",
    ]
    assert [i["error"] is None for i in doc["inputs"]] == [False, True, False]
    # every output carries the knowledge base's sha256
    sha = doc["knowledge_base"]["sha256"]
    assert {c["kb_sha256"] for c in calls} == {sha}
    assert {v["kb_sha256"] for v in tsv(out / "variants.tsv")} == {sha}
    report = (out / "report.html").read_text()
    assert "could not be read" in report and "B37.vcf, line 2: contig 17 has length" in report
    assert sorted(p.name for p in (out / "vcf").iterdir()) == ["P002.annotated.vcf"]


def test_a_samplesheet_alone_lists_the_inputs(tmp_path: Path, kb_fasta: dict[str, Path]) -> None:
    vcf(tmp_path / "P002.vcf", "P002", G101V)
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("sample,file\nPAT-1,P002.vcf\nPAT-2,gone.vcf\n")
    res = runner.invoke(
        app,
        ["annotate", "--samplesheet", str(sheet), "-f", str(kb_fasta["GRCh38"]),
         "--build", "GRCh38", "--format", "tsv", "-q"],
    )  # fmt: skip
    assert res.exit_code == 4, res.output
    calls = tsv_text(res.stdout)
    assert {c["sample"] for c in calls} == {"PAT-1", "PAT-2"}
    assert {c["call"] for c in calls if c["sample"] == "PAT-2"} == {"not_assessed"}
    assert {c["caveats"] for c in calls if c["sample"] == "PAT-2"} == {
        f"not assessed: {tmp_path}/gone.vcf: file not found"
    }
    assert [c["call"] for c in calls if (c["sample"], c["drug"]) == ("PAT-1", "venetoclax")] == [
        "resistant"
    ]
    res = runner.invoke(app, ["annotate", "-f", str(kb_fasta["GRCh38"])])
    assert (res.exit_code, res.stderr) == (
        2,
        "varannot: error: give at least one INPUT (a file or a run directory), --samplesheet "
        "or --hgvs\n",
    )


def tsv_text(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(text.splitlines(), delimiter="\t"))


def test_samples_are_named_by_file_unless_told(tmp_path: Path) -> None:
    names = ["S1.F.ab1", "S1.R.ab1", "het.ab1", "het.scf", "P9.vcf"]
    for n in names:
        (tmp_path / n).write_bytes(b"")
    files = [str(tmp_path / n) for n in names]
    units = plan_units(files, {})
    assert [(u.kind, u.sample, [Path(p).name for p in u.paths]) for u in units] == [
        ("trace", "S1", ["S1.F.ab1", "S1.R.ab1"]),  # forward and reverse reads of S1
        ("trace", "het.ab1", ["het.ab1"]),  # the same name in two formats: two reads
        ("trace", "het.scf", ["het.scf"]),
        ("vcf", None, ["P9.vcf"]),  # a VCF's samples come from its header
    ]


def test_table_format_names_the_call_the_drug_and_the_variant(
    tmp_path: Path, kb_fasta: dict[str, Path]
) -> None:
    good = vcf(tmp_path / "P002.vcf", "P002", G101V)
    res = runner.invoke(
        app,
        ["annotate", str(good), "-f", str(kb_fasta["GRCh38"]), "--build", "GRCh38",
         "--format", "table", "-q"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = [ln.split("│")[1:-1] for ln in res.stdout.splitlines() if ln.startswith("│")]
    cells = [" ".join(" ".join(r[i] for r in rows).split()) for i in range(5)]
    assert cells[:2] == ["P002", "resistant"]
    assert cells[2].startswith("resistant: venetoclax ")  # the other drugs: counted
    assert re.fullmatch(r"BCL2 G101V VAF 40% \[level [A-E]\]", cells[3])
    assert "knowledge base " in res.stdout
    # piped without --format: the JSON document
    res = runner.invoke(
        app, ["annotate", str(good), "-f", str(kb_fasta["GRCh38"]), "--build", "GRCh38", "-q"]
    )
    assert json.loads(res.stdout)["samples"][0]["sample"] == "P002"


def _commands(group: typer.main.click.Group, prefix: list[str]):  # type: ignore[no-untyped-def]
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, [*prefix, name])
        else:
            yield [*prefix, name], cmd


def test_help_fits_80_columns_shows_defaults_and_documents_every_option() -> None:
    root = typer.main.get_command(app)
    seen = 0
    for path, cmd in _commands(root, []):  # type: ignore[arg-type]
        for p in cmd.params:
            if p.param_type_name == "option":
                assert getattr(p, "help", None), f"{' '.join(path)} {p.opts} has no help"
        res = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"})
        assert res.exit_code == 0
        for line in res.stdout.splitlines():
            assert len(line) <= 80, line
            assert "…" not in line, line
            assert not re.search(r"<(list|str|int|float|bool|path)\b", line), line
        seen += 1
    assert seen >= 6
    text = " ".join(runner.invoke(app, ["annotate", "--help"]).stdout.split())
    th = Thresholds()
    for opt, value in (
        ("--min-depth N", th.min_depth),
        ("--reporting-vaf VAF", th.reporting_vaf),
        ("--detection-floor VAF", th.detection_floor),
    ):
        assert re.search(
            re.escape(opt) + r" [^\[]*\[default: " + re.escape(str(value)) + r"\]", text
        )
    assert (
        "--detection-floor VAF VAF below which a match is listed but not called [default: 0.01]"
        in text
    )


def _doc_with(variants: list[tuple[str, int, str, str, float]], kb_fasta: Path):  # type: ignore[no-untyped-def]
    from varannot.api import Engine
    from varannot.models import InputBatch, Observation

    engine = Engine(kb_fasta, "GRCh38")
    b = InputBatch(source="S1.vcf", kind="vcf", samples=["S1"])
    for j, (chrom, pos, ref, alt, vaf) in enumerate(variants):
        b.observations.append(
            Observation("S1", chrom, pos, ref, alt, "S1.vcf", f"line {j + 2}", "0/1",
                        depth=200, alt_depth=round(200 * vaf), vaf=vaf)
        )  # fmt: skip
    return engine.run([b])


def test_report_lists_each_variant_once_and_counts_the_unmatched(
    kb_fasta: dict[str, Path], tmp_path: Path
) -> None:
    """Real positions: BCL2 G101V (chr18:63318365 C>A) and TP53 c.673-1G>A (splice acceptor,
    chr17:7674291 C>T, p.?); plus 12 TP53 synonymous SNVs read off the reference (SYNTHETIC)."""
    from varannot.reference import FastaReference
    from varannot.report import render_report

    fa = FastaReference(kb_fasta["GRCh38"], "GRCh38")
    assert fa.fetch("chr17", 7674291, 7674291) == "C"
    # third codon positions of TP53 exon 5 (minus strand): c.375 ... synonymous or not, the
    # report only counts them; pick positions whose change matches no rule
    quiet = []
    for pos in range(7675994, 7676100, 3):
        ref = fa.fetch("chr17", pos, pos)
        alt = {"A": "G", "G": "A", "C": "T", "T": "C"}[ref]
        quiet.append(("chr17", pos, ref, alt, 0.3))
    doc = _doc_with(
        [("chr18", 63318365, "C", "A", 0.4), ("chr17", 7674291, "C", "T", 0.3), *quiet],
        kb_fasta["GRCh38"],
    )
    s = doc.samples[0]
    unmatched = [v for v in s.variants if not v.rule_ids]
    assert len(unmatched) > 10
    page = render_report(doc, tmp_path)
    # G101V: one evidence entry naming venetoclax once, with its level
    assert page.count("<b>BCL2 G101V</b>") == 1
    entry = page.split("<b>BCL2 G101V</b>")[1].split('<div class="finding">')[0]
    assert entry.count(">venetoclax<i>") == 1
    # the p.? splice variant is named by its c. name, never "TP53 ?"
    assert "TP53 ?" not in page
    assert "TP53 c.673-1G&gt;A" in page
    # the unmatched ones are counted by consequence, not listed
    block = page.split("<h4>Matching no knowledge-base rule</h4>")[1].split("</p>")[0]
    assert block.startswith(f"<p>{len(unmatched)} variants, by consequence: ")
    assert 'href="variants.tsv"' in block
    assert page.count("<tr>") < 40


KB_HEADER = (
    "id\tgene\trule\tnumbering\tvariant\tconsequence\tgroup\tdrug\tdrug_class\teffect\t"
    "evidence_kind\tlevel\texternal_level\tmagnitude\tdisease\tcitations\tstatus\tprovenance\tnote\n"
)


def kb_row(rid: str, gene: str, variant: str, level: str = "B") -> str:
    cells = [rid, gene, "protein_change", "NP_000537.3", variant, "", "", "idasanutlin",
             "MDM2 inhibitor", "resistance", "clinical", level, "", "", "AML", "PMID:1",
             "confirmed", "site", ""]  # fmt: skip
    return "\t".join(cells) + "\n"


def test_kb_validate_reports_every_bad_row(tmp_path: Path) -> None:
    f = tmp_path / "site.tsv"
    f.write_text(
        "# version: site-1\n" + KB_HEADER
        + kb_row("S1", "TP53", "R280K")  # line 3: good
        + kb_row("S2", "KRAS", "G12D")  # line 4: not one of the four genes
        + kb_row("S3", "TP53", "G175H")  # line 5: residue 175 of TP53 is Arg
        + kb_row("S4", "TP53", "R248Q", level="Z")  # line 6: no such level
    )  # fmt: skip
    res = runner.invoke(app, ["kb", "validate", str(f)])
    assert res.exit_code == 2
    lines = res.stderr.splitlines()
    assert lines[0] == "varannot: error: 3 problems:"
    assert [ln.split(": ", 1)[0] for ln in lines[1:]] == [
        f"  {f}, row S2 (line 4)",
        f"  {f}, row S4 (line 6)",
        f"  {f}, row S3 (line 5)",
    ]
    assert "Arg" in lines[3]


def _renamed(src: Path, dst: Path, strip_chr: bool) -> Path:
    text = src.read_text()
    if strip_chr:
        text = re.sub(r"^>chr", ">", text, flags=re.M)
    dst.write_text(text)
    return dst


def test_region_fasta_build_is_told_by_its_sequence(
    kb_fasta: dict[str, Path], tmp_path: Path
) -> None:
    """Records named 17:START-END (no accession, no lengths, no manifest): the sequence at the
    gene loci fits one build's transcript models only."""
    from varannot.reference import FastaReference

    for build in ("GRCh38", "GRCh37"):
        fa = _renamed(kb_fasta[build], tmp_path / f"{build}.fa", strip_chr=True)
        assert ">chr" not in fa.read_text()
        ref = FastaReference(fa)
        assert (ref.build, ref.build_evidence) == (build, "sequence at the gene loci")
    good = vcf(tmp_path / "P002.vcf", "P002", G101V)
    res = runner.invoke(
        app, ["annotate", str(good), "-f", str(tmp_path / "GRCh38.fa"), "--format", "tsv", "-q"]
    )
    assert res.exit_code == 0, res.output
    assert ("P002", "venetoclax", "resistant") in {
        (r["sample"], r["drug"], r["call"]) for r in tsv_text(res.stdout)
    }


def test_a_shifted_tp53_record_is_a_fasta_problem(
    kb_fasta: dict[str, Path], tmp_path: Path
) -> None:
    """The real TP53 record shifted by one base (first base dropped, an A appended: same
    length, SYNTHETIC damage): it no longer fits NM_000546.6, and that is the FASTA's error."""
    records: list[list[str]] = []
    for ln in kb_fasta["GRCh38"].read_text().splitlines():
        if ln.startswith(">"):
            records.append([ln, ""])
        else:
            records[-1][1] += ln
    out = []
    for name, seq in records:
        if name.startswith(">chr17:"):
            seq = seq[1:] + "A"
        out += [name, seq]
    fa = tmp_path / "shifted.fa"
    fa.write_text("\n".join(out) + "\n")
    good = vcf(tmp_path / "P002.vcf", "P002", G101V)
    res = runner.invoke(app, ["annotate", str(good), "-f", str(fa), "--build", "GRCh38", "-q"])
    assert res.exit_code == 2
    assert res.stderr.startswith(
        f"varannot: error: {fa}: the sequence does not fit the GRCh38 transcript models: CDS of "
        "NM_000546.6"
    )
    assert "TP53-" not in res.stderr  # not blamed on a knowledge-base row
    res = runner.invoke(app, ["reference", "check", "-f", str(fa), "--build", "GRCh38"])
    assert res.exit_code == 1 and "NM_000546.6\tTP53" in res.stdout and "FAIL" in res.stdout


def test_a_contig_too_short_for_the_genes_is_an_error(tmp_path: Path) -> None:
    fa = tmp_path / "short.fa"
    fa.write_text(">chr17\n" + "ACGT" * 250 + "\n>chr18\n" + "ACGT" * 250 + "\n")
    good = vcf(tmp_path / "P002.vcf", "P002", G101V)
    res = runner.invoke(app, ["annotate", str(good), "-f", str(fa), "--build", "GRCh38", "-q"])
    assert res.exit_code == 2
    assert res.stderr == (
        f"varannot: error: {fa}: contig chr17 is 1,000 bp long, too short for TP53 at "
        "chr17:7,663,421-7,692,490 (GRCh38): the FASTA is truncated or not GRCh38\n"
    )


def test_a_failed_fetch_leaves_no_fasta(tmp_path: Path) -> None:
    from varannot.errors import ReferenceError_
    from varannot.fetch import fetch_reference

    mirror = tmp_path / "mirror.fa"
    mirror.write_text(">NC_000011.10:1-10\nACGTACGTAC\n")  # the first gene region is absent
    with pytest.raises(ReferenceError_):
        fetch_reference("GRCh38", tmp_path / "ref", f"file://{mirror}")
    assert list((tmp_path / "ref").iterdir()) == []


def test_a_cohort_report_closes_its_sample_sections(
    kb_fasta: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from varannot import report

    doc = _doc_with([("chr18", 63318365, "C", "A", 0.4)], kb_fasta["GRCh38"])
    assert '<details><summary class="sh">' not in report.render_report(doc, tmp_path)
    monkeypatch.setattr(report, "SECTIONS_OPEN", 0)  # as if it were a cohort of thousands
    page = report.render_report(doc, tmp_path)
    assert '<section class="sample has-resistant" id="s0"><details><summary class="sh"><h3>S1' in (
        page
    )
    assert "<details><summary>1 inputs</summary>" in page
