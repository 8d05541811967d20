"""MAF output (``--format maf``, ``variants.maf`` in runs) and the VCF -> MAF -> varannot round trip.

The example run (examples/run1.vcf: MEN1, TP53, BCL2, a BAX insertion, a LowQual record) is
annotated against ``kb_fasta`` (real TP53/BAX/BCL2 from ../shared, SYNTHETIC MEN1 region).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from typer.testing import CliRunner

from varannot.api import Engine, RunOptions
from varannot.cli import app
from varannot.maf import MAF_COLUMNS, to_maf, vcf_to_maf
from varannot.readers.hgvs import VariantEntry

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "run1.vcf"
runner = CliRunner()


def _maf_table(text: str) -> list[dict[str, str]]:
    body = [ln for ln in text.splitlines() if not ln.startswith("#")]
    return list(csv.DictReader(io.StringIO("\n".join(body) + "\n"), delimiter="\t"))


def _calls(doc: dict) -> dict[tuple[str, str], tuple[str, str, list[str]]]:  # type: ignore[type-arg]
    return {
        (s["sample"], c["drug"]): (c["call"], c["coverage"], [e["rule_id"] for e in c["evidence"]])
        for s in doc["samples"]
        for c in s["calls"]
    }


def test_vcf_to_maf_to_varannot_gives_identical_calls(
    kb_fasta: dict[str, Path], tmp_path: Path
) -> None:
    fa = str(kb_fasta["GRCh38"])
    base = ["annotate", "--fasta", fa, "--build", "GRCh38", "-q"]
    first = runner.invoke(app, [*base, str(EXAMPLE)])
    assert first.exit_code == 0, first.output
    res = runner.invoke(app, [*base, str(EXAMPLE), "--format", "maf"])
    assert res.exit_code == 0, res.output
    maf = tmp_path / "run1.maf"
    maf.write_text(res.output)
    again = runner.invoke(app, [*base, str(maf)])
    assert again.exit_code == 0, again.output
    doc1, doc2 = json.loads(first.output), json.loads(again.output)
    assert _calls(doc2) == _calls(doc1)
    # not a trivially empty run: findings and clean drugs, and a filtered record on both sides
    assert {"likely_resistant", "no_known_resistance"} <= {c[0] for c in _calls(doc1).values()}

    def alleles(doc: dict) -> list[tuple[object, ...]]:  # type: ignore[type-arg]
        return sorted(
            (s["sample"], v["hgvs_c"], v["hgvs_p"], v["vaf"], v["depth"], tuple(v["filter"]))
            for s in doc["samples"]
            for v in s["variants"] + s["excluded_variants"]
        )

    assert alleles(doc2) == alleles(doc1)
    assert doc2["inputs"][0]["kind"] == "maf"


def test_maf_columns_and_values(kb_fasta: dict[str, Path]) -> None:
    engine = Engine(kb_fasta["GRCh38"], "GRCh38")
    doc = engine.run([engine.read(EXAMPLE, RunOptions())])
    text = to_maf(doc)
    assert text.startswith("#version 2.4\n#varannot ")
    rows = _maf_table(text)
    assert list(rows[0]) == MAF_COLUMNS
    by = {(r["Tumor_Sample_Barcode"], r["Hugo_Symbol"]): r for r in rows}
    tp53 = by[("PATIENT_B", "TP53")]
    assert (tp53["Chromosome"], tp53["Start_Position"], tp53["End_Position"]) == (
        "chr17", "7675088", "7675088",
    )  # fmt: skip
    assert (tp53["HGVSc"], tp53["HGVSp"], tp53["HGVSp_Short"]) == (
        "c.524G>A", "p.Arg175His", "p.R175H",
    )  # fmt: skip
    assert tp53["Variant_Classification"] == "Missense_Mutation"
    assert (tp53["t_depth"], tp53["t_ref_count"], tp53["t_alt_count"]) == ("120", "61", "59")
    assert tp53["Transcript_ID"] == "NM_000546.6" and tp53["Entrez_Gene_Id"] == "7157"
    (b,) = [s for s in doc.samples if s.sample == "PATIENT_B"]
    venetoclax = next(c.call for c in b.calls if c.drug == "venetoclax")
    assert f"venetoclax:{venetoclax}" in tp53["varannot_calls"].split(";")
    assert not any(x.startswith("venetoclax:") for x in by[("PATIENT_A", "MEN1")]["varannot_calls"])
    bax = by[("PATIENT_B", "BAX")]  # chr19:48955713 T>TG: MAF puts it between two positions
    assert (bax["Start_Position"], bax["End_Position"], bax["Reference_Allele"]) == (
        "48955713", "48955714", "-",
    )  # fmt: skip
    assert (bax["Tumor_Seq_Allele2"], bax["Variant_Type"]) == ("G", "INS")
    assert bax["Variant_Classification"] == "Frame_Shift_Ins"
    low = [r for r in rows if r["FILTER"] != "PASS"]
    assert [(r["Tumor_Sample_Barcode"], r["FILTER"]) for r in low] == [("PATIENT_A", "LowQual")]


def test_vcf_to_maf_alleles() -> None:
    assert vcf_to_maf(100, "C", "T") == (100, 100, "C", "T", "SNP")
    assert vcf_to_maf(100, "CAG", "C") == (101, 102, "AG", "-", "DEL")
    assert vcf_to_maf(100, "C", "CTT") == (100, 101, "-", "TT", "INS")
    assert vcf_to_maf(100, "CA", "TG") == (100, 101, "CA", "TG", "DNP")
    assert vcf_to_maf(100, "CAG", "CT") == (101, 102, "AG", "T", "DEL")
    assert vcf_to_maf(101, "", "TT") == (100, 101, "-", "TT", "INS")  # minimal (HGVS) alleles


def test_protein_level_entries_are_named_not_written(kb_fasta: dict[str, Path]) -> None:
    engine = Engine(kb_fasta["GRCh38"], "GRCh38")
    batch = engine.read_hgvs(
        [VariantEntry("1", "NP_000235.2:p.Met327Ile"), VariantEntry("2", "NM_000546.6:c.524G>A")],
        sample="S1",
    )
    text = to_maf(engine.run([batch]))
    assert (
        "#varannot: 1 protein-level entries have no nucleotide change and are not rows: "
        "S1 NP_001357188.2:p.Met322Ile\n"
    ) in text
    (row,) = _maf_table(text)
    assert row["HGVSc"] == "c.524G>A" and row["Tumor_Seq_Allele1"] == "C"


def test_run_folder_has_variants_maf(kb_fasta: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    d = tmp_path / "in"
    d.mkdir()
    maf = d / "cohort.maf"
    engine = Engine(kb_fasta["GRCh38"], "GRCh38")
    maf.write_text(to_maf(engine.run([engine.read(EXAMPLE, RunOptions())])))
    res = runner.invoke(
        app,
        ["annotate", str(d), "--fasta", str(kb_fasta["GRCh38"]), "--build", "GRCh38", "-q",
         "--out-dir", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = _maf_table((out / "variants.maf").read_text())
    assert {r["Tumor_Sample_Barcode"] for r in rows} == {"PATIENT_A", "PATIENT_B"}
    assert all(r["varannot_source"] == str(maf) for r in rows)
    assert (out / "vcf" / "cohort.annotated.vcf").is_file()
