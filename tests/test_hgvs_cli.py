"""HGVS on the command line (``--hgvs``, ``--hgvs-file``) and pre-annotated (protein-level)
observations through ``Engine.run``.

References: ``kb_fasta`` = real TP53/BAX/BCL2 sequence from ../shared plus the SYNTHETIC MEN1
region (back-translated real protein), so MEN1 residues are verified against a translation.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from varannot.api import Engine, RunOptions
from varannot.cli import app
from varannot.readers.hgvs import HgvsListError, VariantEntry, read_hgvs_file

runner = CliRunner()


def _annotate(fasta: Path, *args: str) -> tuple[int, str]:
    res = runner.invoke(app, ["annotate", "--fasta", str(fasta), "--build", "GRCh38", "-q", *args])
    return res.exit_code, res.output


def _calls(doc: dict, sample: str) -> dict[str, str]:  # type: ignore[type-arg]
    s = next(s for s in doc["samples"] if s["sample"] == sample)
    return {c["drug"]: c["call"] for c in s["calls"]}


def test_hgvs_options_c_and_p(kb_fasta: dict[str, Path]) -> None:
    code, out = _annotate(
        kb_fasta["GRCh38"],
        "--hgvs", "NM_000546.6:c.524G>A",
        "--hgvs", "NP_000235.2:p.Met327Ile",
        "--sample", "S1",
    )  # fmt: skip
    assert code == 0, out
    doc = json.loads(out)
    (s,) = doc["samples"]
    assert s["sample"] == "S1"
    by_p = {v["hgvs_p"]: v for v in s["variants"]}
    tp53 = by_p["NP_000537.3:p.(Arg175His)"]
    assert (tp53["chrom"], tp53["pos"], tp53["ref"], tp53["alt"]) == ("chr17", 7675088, "C", "T")
    assert tp53["hgvs_c"] == "NM_000546.6:c.524G>A"
    assert tp53["record"] == "--hgvs 1"
    men1 = by_p["NP_001357188.2:p.Met322Ile"]
    assert men1["hgvs_p_legacy"] == "NP_000235.2:p.Met327Ile"
    assert men1["alt"] == "<M322I>"
    assert "protein_level" in men1["flags"]
    assert "MEN1-01" in men1["rule_ids"]
    calls = _calls(doc, "S1")
    # no VAF on the command line: a confirmed rule cannot reach 'resistant'
    assert calls["revumenib"] == "likely_resistant"
    assert "resistant" not in calls.values()


def test_gene_symbol_with_literature_number_is_refused_with_the_pointer(
    kb_fasta: dict[str, Path],
) -> None:
    code, out = _annotate(kb_fasta["GRCh38"], "--hgvs", "MEN1:p.Met327Ile", "--hgvs", "TP53")
    assert code == 2
    assert "2 of 2 variants cannot be annotated" in out
    assert (
        "--hgvs 1: MEN1 residue 327 is Tyr on NP_001357188.2 (MANE); Met327 is NP_000235.2 "
        "(615-aa) numbering = NP_001357188.2:p.Met322Ile — name the accession"
    ) in out
    assert "--hgvs 2: not an HGVS g., c. or p. variant" in out


def test_hgvs_file_with_samples_and_vaf(kb_fasta: dict[str, Path], tmp_path: Path) -> None:
    f = tmp_path / "list.tsv"
    f.write_text(
        "# cohort list\n"
        "hgvs\tsample\tvaf\tdepth\n"
        "NP_000235.2:p.Met327Ile\tP1\t0.31\t120\n"
        "NC_000017.11:g.7675088C>T\tP2\t0.4\t80\n"
        "\n"
        "MEN1:p.M322I\tP2\t0.02\t200\n"
    )
    code, out = _annotate(kb_fasta["GRCh38"], "--hgvs-file", str(f))
    assert code == 0, out
    doc = json.loads(out)
    assert [s["sample"] for s in doc["samples"]] == ["P1", "P2"]
    p1 = doc["samples"][0]["variants"][0]
    assert (p1["vaf"], p1["depth"], p1["record"], p1["source"]) == (0.31, 120, "line 3", str(f))
    assert _calls(doc, "P1")["revumenib"] == "resistant"
    p2 = {v["hgvs_p"]: v for v in doc["samples"][1]["variants"]}
    assert p2["NP_000537.3:p.(Arg175His)"]["hgvs_c"] == "NM_000546.6:c.524G>A"
    # the same residue at 2% VAF: below the reporting VAF, above the detection floor
    assert _calls(doc, "P2")["revumenib"] == "likely_resistant"


def test_hgvs_file_errors_name_the_line(kb_fasta: dict[str, Path], tmp_path: Path) -> None:
    f = tmp_path / "bad.tsv"
    f.write_text("TP53:p.R175H\tS1\t1.5\n")
    code, out = _annotate(kb_fasta["GRCh38"], "--hgvs-file", str(f))
    assert code == 2
    assert f"{f}, line 1: vaf 1.5 is out of range" in out
    f.write_text("TP53:p.R175H\nTP53:p.Cys175Tyr\n")
    code, out = _annotate(kb_fasta["GRCh38"], "--hgvs-file", str(f))
    assert code == 2
    assert "line 2: TP53 residue 175 is Arg on NP_000537.3 (MANE), not Cys" in out
    code, out = _annotate(kb_fasta["GRCh38"])
    assert (
        code == 2
        and "give at least one INPUT (a file or a run directory), --samplesheet or --hgvs" in out
    )


def test_read_hgvs_file_positional_columns(tmp_path: Path) -> None:
    f = tmp_path / "l.csv"
    f.write_text("NM_000546.6:c.524G>A,S9,0.25\nTP53:p.R175H\n")
    entries = read_hgvs_file(f, sample="DEFAULT")
    assert entries == [
        VariantEntry(record="line 1", hgvs="NM_000546.6:c.524G>A", sample="S9", vaf=0.25),
        VariantEntry(record="line 2", hgvs="TP53:p.R175H", sample="DEFAULT"),
    ]


def test_protein_level_observation_runs_through_engine(kb_fasta: dict[str, Path]) -> None:
    """Engine.run takes the reader's annotation as is: same calls as the equivalent c. change
    for an allele-specific rule (TP53 R175H), since the knowledge base matches the protein."""
    engine = Engine(kb_fasta["GRCh38"], "GRCh38")
    by_p = engine.read_hgvs([VariantEntry("e1", "TP53:p.R175H", sample="A", vaf=0.5)])
    by_c = engine.read_hgvs([VariantEntry("e1", "NM_000546.6:c.524G>A", sample="A", vaf=0.5)])
    assert by_p.observations[0].annotation is not None
    assert by_c.observations[0].annotation is None
    doc_p = engine.run([by_p], RunOptions())
    doc_c = engine.run([by_c], RunOptions())
    calls_p = {c.drug: c.call for c in doc_p.samples[0].calls}
    calls_c = {c.drug: c.call for c in doc_c.samples[0].calls}
    assert calls_p == calls_c
    assert calls_p["venetoclax"] != "no_known_resistance"  # TP53 R175H is evidence for it
    assert doc_p.samples[0].variants[0].hgvs_p == "NP_000537.3:p.Arg175His"
    with pytest.raises(HgvsListError) as e:
        engine.read_hgvs([VariantEntry("x", "NM_000546.5:c.524G>A")])
    assert e.value.errors[0]["record"] == "x"


def test_hgvs_with_a_vcf_and_out_dir(kb_fasta: dict[str, Path], tmp_path: Path) -> None:
    """A file plus --hgvs in one run folder: the list is one more input, with no VCF copy."""
    vcf = tmp_path / "p1.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=chr18>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tP1\n"
        "chr18\t1000\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\n"
    )  # SYNTHETIC record outside the genes
    out = tmp_path / "run"
    code, text = _annotate(
        kb_fasta["GRCh38"], str(vcf), "--hgvs", "TP53:p.R175H", "--sample", "P1",
        "--out-dir", str(out), "-o", str(tmp_path / "doc.json"),
    )  # fmt: skip
    assert code == 0, text
    doc = json.loads((tmp_path / "doc.json").read_text())
    assert [i["source"] for i in doc["inputs"]] == [str(vcf), "--hgvs"]
    assert [s["sample"] for s in doc["samples"]] == ["P1"]
    assert doc["samples"][0]["sources"] == [str(vcf), "--hgvs"]
    assert doc["variants_outside_genes"] == 1
    assert sorted(p.name for p in (out / "vcf").iterdir()) == ["p1.annotated.vcf"]
    rows = [ln.split("\t") for ln in (out / "variants.tsv").read_text().splitlines()]
    (row,) = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    # a TSV cell starting with "-" is neutralised for spreadsheets (issue 13, OWASP CSV injection)
    assert (row["sample"], row["protein_change"], row["record"]) == ("P1", "R175H", "'--hgvs 1")
