"""The README's main job end to end: fetch from a mirror of ../shared, annotate the example VCF."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from shared_mirror import build_mirror
from typer.testing import CliRunner

from varannot.cli import app

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "run1.vcf"
runner = CliRunner()


@pytest.fixture(scope="module")
def fetched(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    mirror = build_mirror(shared, d / "mirror")
    res = runner.invoke(
        app,
        [
            "reference",
            "fetch",
            "--build",
            "GRCh38",
            "--out",
            str(d / "ref"),
            "--base-url",
            f"file://{mirror}",
        ],
    )
    assert res.exit_code == 0, res.output
    return d / "ref" / "GRCh38.regions.fa"


def test_installed_copy_under_ci() -> None:
    """CI installs the wheel (not editable): the tests must exercise that copy."""
    import varannot

    if os.environ.get("VARANNOT_EXPECT_INSTALLED"):
        assert "site-packages" in varannot.__file__, varannot.__file__
        from importlib import resources

        assert resources.files("varannot.data").joinpath("transcripts.tsv").is_file()


def test_annotate_example_json(fetched: Path) -> None:
    res = runner.invoke(app, ["annotate", str(EXAMPLE), "--fasta", str(fetched), "-q"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["build"] == "GRCh38"
    assert doc["varannot_version"]
    samples = {s["sample"]: s for s in doc["samples"]}
    assert sorted(samples) == ["PATIENT_A", "PATIENT_B"]
    a = {v["protein_change"]: v for v in samples["PATIENT_A"]["variants"]}
    assert a["G101V"]["hgvs_c"] == "NM_000633.3:c.302G>T"
    assert a["G101V"]["hgvs_p"] == "NP_000624.2:p.(Gly101Val)"
    assert a["G101V"]["vaf"] == pytest.approx(0.02)
    assert a["T541A"]["hgvs_p_legacy"] == "NP_000235.2:p.(Thr546Ala)"
    assert a["T541A"]["protein_change_legacy"] == "T546A"
    # the LowQual TP53 stop is listed but left out of calls
    excl = samples["PATIENT_A"]["excluded_variants"]
    assert [v["protein_change"] for v in excl] == ["Q192*"]
    b = {v["protein_change"]: v for v in samples["PATIENT_B"]["variants"]}
    assert b["R175H"]["consequence"] == ["missense_variant"]
    assert b["E41Gfs*33"]["hgvs_c"] == "NM_138761.4:c.121dup"
    assert doc["variants_outside_genes"] == 1  # the chr20 record
    calls_b = {c["drug"]: c for c in samples["PATIENT_B"]["calls"]}
    assert calls_b["venetoclax"]["call"] in ("resistant", "likely_resistant")
    # R175H is loss of function in every assay: resistant to a drug that needs wild-type p53
    assert calls_b["idasanutlin"]["call"] == "resistant"
    assert {e["protein_change"] for e in calls_b["idasanutlin"]["evidence"]} == {"R175H"}
    assert all(c["coverage"] == "unknown" for c in calls_b.values())
    calls_a = {c["drug"]: c for c in samples["PATIENT_A"]["calls"]}
    # G101V at 2% VAF: below the 5% reporting threshold, above the 1% floor
    assert calls_a["venetoclax"]["call"] == "likely_resistant"
    assert calls_a["revumenib"]["call"] == "no_known_resistance"
    assert doc["knowledge_base"]["version"] and len(doc["knowledge_base"]["sha256"]) == 64


def test_annotate_tsv_and_fail_on(fetched: Path, tmp_path: Path) -> None:
    out = tmp_path / "calls.tsv"
    res = runner.invoke(
        app,
        [
            "annotate",
            str(EXAMPLE),
            "--fasta",
            str(fetched),
            "--format",
            "tsv",
            "-o",
            str(out),
            "-q",
            "--fail-on",
            "likely_resistant",
        ],
    )
    assert res.exit_code == 3
    res = runner.invoke(
        app, ["annotate", str(EXAMPLE), "--fasta", str(fetched), "-q", "--fail-on", "resistant"]
    )
    assert res.exit_code == 3  # PATIENT_B's TP53 R175H is resistant to idasanutlin
    rows = [ln.split("\t") for ln in out.read_text().splitlines()]
    assert rows[0][:5] == ["sample", "drug", "drug_class", "call", "coverage"]
    assert rows[0][-1] == "disease"
    assert ("PATIENT_B", "idasanutlin") in {(r[0], r[1]) for r in rows[1:]}


def test_bad_inputs_exit_2(fetched: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["annotate", str(tmp_path / "nope.vcf"), "--fasta", str(fetched)])
    assert res.exit_code == 2
    assert "nope.vcf: file not found" in res.output
    res = runner.invoke(app, ["annotate", str(EXAMPLE), "--fasta", str(tmp_path / "nope.fa")])
    assert res.exit_code == 2 and "FASTA file not found" in res.output


def test_reference_check(fetched: Path) -> None:
    res = runner.invoke(app, ["reference", "check", "--fasta", str(fetched)])
    assert res.exit_code == 0, res.output
    assert "NM_000546.6\tTP53\tCDS 1182 nt\tok" in res.output
    assert "NM_001370259.2\tMEN1\tCDS 1833 nt\tpartial (N in CDS)" in res.output


def test_console_script_stdout_is_clean(fetched: Path) -> None:
    """Logs go to stderr: stdout is only the document (pipelines parse it)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "varannot.cli",
            "annotate",
            str(EXAMPLE),
            "--fasta",
            str(fetched),
            "--format",
            "variants-tsv",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=fetched.parent,  # not the checkout: run the installed package
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("sample\tchrom\tpos\tref\talt\tgene")
    assert len(lines) == 1 + 5  # header; A: MEN1, BCL2, TP53 (filtered, listed); B: TP53, BAX


def test_readme_main_job_example_run(fetched: Path, tmp_path: Path) -> None:
    """examples/run: resistant, likely resistant, clean (covered) and a SYNTHETIC trace sample."""
    run = tmp_path / "run"
    shutil.copytree(ROOT / "examples" / "run", run, ignore=shutil.ignore_patterns("*.ab1"))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "make_traces.py"), str(fetched), str(run)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in run.iterdir()) == [
        "P01.vcf",
        "P02.vcf",
        "P03.g.vcf",
        "S04.F.ab1",
        "S04.R.ab1",
    ]
    out = tmp_path / "example-out"
    res = runner.invoke(app, ["annotate", str(run), "--fasta", str(fetched), "--out-dir", str(out)])
    assert res.exit_code == 0, res.output
    calls: dict[str, dict[str, tuple[str, str]]] = {}
    lines = (out / "calls.tsv").read_text().splitlines()
    head = lines[0].split("\t")
    for ln in lines[1:]:
        r = dict(zip(head, ln.split("\t"), strict=True))
        calls.setdefault(r["sample"], {})[r["drug"]] = (r["call"], r["coverage"])
    assert list(calls) == ["P01", "P02", "P03", "S04"]
    assert calls["P01"]["venetoclax"] == ("resistant", "unknown")
    assert calls["P02"]["venetoclax"] == ("likely_resistant", "unknown")
    assert set(calls["P03"].values()) == {("no_known_resistance", "covered")}
    # the reads cover TP53 exon 5 only: menin-inhibitor loci are not assessed, not "clean"
    assert calls["S04"]["ziftomenib"] == ("not_assessed", "not_covered")
    assert calls["S04"]["idasanutlin"][0] in ("resistant", "likely_resistant")
    variants = (out / "variants.tsv").read_text()
    assert (
        "S04\tchr17\t7675088\tC\tT\tTP53\tNM_000546.6\tmissense_variant\tNM_000546.6:c.524G>A"
        in (variants)
    )


def test_annotate_disease_copy_number_and_evidence_tsv(fetched: Path, tmp_path: Path) -> None:
    """PATIENT_B carries TP53 R175H (VAF 0.49): the venetoclax call depends on the disease."""
    base = ["annotate", str(EXAMPLE), "--fasta", str(fetched), "-q"]

    def calls(*extra: str) -> dict[str, dict]:
        res = runner.invoke(app, [*base, *extra])
        assert res.exit_code == 0, res.output
        b = next(s for s in json.loads(res.stdout)["samples"] if s["sample"] == "PATIENT_B")
        return {c["drug"]: c for c in b["calls"]}

    cll = calls("--disease", "cllsll")
    assert (cll["venetoclax"]["call"], cll["venetoclax"]["disease"]) == (
        "likely_resistant",  # the BAX frameshift (BAX-04, CLL) still counts
        "CLLSLL",
    )
    tp53 = [e for e in cll["venetoclax"]["evidence"] if e["gene"] == "TP53"]
    assert {e["rule_id"]: e["effect"] for e in tp53}["TP53-25"] == "sensitivity_retained"
    # a TP53 deletion given as a SEG file makes R175H biallelic in AML
    seg = tmp_path / "cn.seg"
    seg.write_text(
        "sample\tchrom\tstart\tend\tlog2\nPATIENT_B\t17\t7000000\t8000000\t-1.0\n"  # SYNTHETIC
    )
    aml = calls("--disease", "AML", "--copy-number", str(seg))
    bi = [e for e in aml["venetoclax"]["evidence"] if e["rule_id"] == "TP53-24"]
    assert bi and bi[0]["note"].startswith(
        "one TP53_LOF allele with TP53 deletion chr17:7000000-8000000 (cn.seg line 2)"
    )
    res = runner.invoke(app, [*base, "--disease", "LEUKEMIA"])
    assert res.exit_code == 2
    assert "unknown disease 'LEUKEMIA': give an OncoTree code" in res.output
    bad = tmp_path / "bad.seg"
    bad.write_text("sample\tchrom\tstart\tend\tlog2\nPATIENT_B\t17\tx\t8000000\t-1\n")
    res = runner.invoke(app, [*base, "--copy-number", str(bad)])
    assert res.exit_code == 2 and "bad.seg" in res.output and "line 2" in res.output
    # evidence once per variant: R175H touches ten MDM2 drugs and venetoclax in one row
    res = runner.invoke(app, [*base, "--format", "evidence-tsv"])
    lines = res.stdout.splitlines()
    cols = lines[0].split("\t")
    rows = [dict(zip(cols, ln.split("\t"), strict=True)) for ln in lines[1:]]
    r175h = [r for r in rows if r["sample"] == "PATIENT_B" and r["protein_change"] == "R175H"]
    assert len(r175h) == 1
    assert "idasanutlin:resistant" in r175h[0]["drugs"].split(",")
    assert "milademetan:resistant" in r175h[0]["drugs"].split(",")
