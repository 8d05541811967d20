"""MAF input: real MAF files from ../shared, and MAF rows derived at test time from ClinVar.

The ClinVar rows (variant_summary, GRCh38, VCF-style PositionVCF/ReferenceAlleleVCF/
AlternateAlleleVCF) are rewritten here into MAF's own convention (no anchor base, '-' alleles,
insertions between their flanking positions) so that the reader has to rebuild the VCF allele
from the FASTA; ClinVar's own c. name is the oracle for the HGVS that comes out.
"""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from varannot.api import Engine, RunOptions
from varannot.cli import app
from varannot.errors import BuildMismatchError
from varannot.models import Observation
from varannot.readers.maf import is_maf

runner = CliRunner()
MAF_HEAD = [
    "Hugo_Symbol", "NCBI_Build", "Chromosome", "Start_Position", "End_Position",
    "Reference_Allele", "Tumor_Seq_Allele1", "Tumor_Seq_Allele2", "Tumor_Sample_Barcode",
    "t_depth", "t_ref_count", "t_alt_count",
]  # fmt: skip


def _variants(shared: Path) -> Path:
    return shared / "testdata-sources" / "variants"


def _to_maf(pos: int, ref: str, alt: str) -> tuple[int, int, str, str]:
    """VCF allele -> MAF (Start, End, Reference_Allele, Tumor_Seq_Allele2), written out here
    independently of varannot.maf."""
    if len(ref) > 1 and len(alt) == 1 and ref[0] == alt[0]:  # deletion
        return pos + 1, pos + len(ref) - 1, ref[1:], "-"
    if len(alt) > 1 and len(ref) == 1 and ref[0] == alt[0]:  # insertion after pos
        return pos, pos + 1, "-", alt[1:]
    return pos, pos + len(ref) - 1, ref, alt


def _clinvar_rows(shared: Path) -> list[dict[str, str]]:
    """GRCh38 TP53/BAX rows named on the MANE transcript (real sequence in ``real_fasta``)."""
    path = _variants(shared) / "clinvar_variant_summary_2021-01_partial_TP53_MEN1_BAX.tsv"
    with path.open() as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return [
        r
        for r in rows
        if r["Assembly"] == "GRCh38"
        and r["PositionVCF"].isdigit()
        and r["Name"].split(".")[0] in ("NM_000546", "NM_138761")
    ]


def test_clinvar_rows_as_maf_give_clinvar_hgvs(
    shared: Path, real_fasta: dict[str, Path], tmp_path: Path
) -> None:
    rows = _clinvar_rows(shared)
    lines = ["#version 2.4", "\t".join(MAF_HEAD)]
    expected: dict[str, str] = {}
    for r in rows:
        start, end, ref, alt = _to_maf(
            int(r["PositionVCF"]), r["ReferenceAlleleVCF"], r["AlternateAlleleVCF"]
        )
        sample = f"CV{r['VariationID']}"
        expected[sample] = r["Name"].split(":", 1)[1].split(" ")[0]
        lines.append(
            "\t".join(
                [r["GeneSymbol"], "GRCh38", r["Chromosome"], str(start), str(end), ref, ref,
                 alt, sample, "50", "30", "20"]
            )
        )  # fmt: skip
    kinds = {r["Type"] for r in rows}
    assert {"single nucleotide variant", "Deletion", "Duplication"} <= kinds
    assert sum(1 for ln in lines if "\t-\t" in ln) >= 5  # MAF-style indels really are in there
    maf = tmp_path / "clinvar.maf"
    maf.write_text("\n".join(lines) + "\n")
    assert is_maf(maf)
    gz = tmp_path / "clinvar.maf.gz"
    gz.write_bytes(gzip.compress(maf.read_bytes()))
    assert is_maf(gz) and not is_maf(_variants(shared) / "vcf2maf_test_TP53.maf.missing")
    tcga = shared / "testdata-sources" / "vcf" / "tcga_somatic_callers" / "vcf2maf_test.vcf"
    assert not is_maf(tcga)  # a VCF is told apart by content, whatever its columns
    bcf = shared / "testdata-sources" / "vcf" / "edge_case_fixtures" / "bio2zarr_sample.bcf"
    assert not is_maf(bcf)
    engine = Engine(real_fasta["GRCh38"], "GRCh38")
    batch = engine.read(maf, RunOptions())
    assert batch.kind == "maf" and batch.skipped.total == 0
    assert len(batch.samples) == len(rows) == len(batch.observations)

    def alleles(obs: list[Observation]) -> list[tuple[str, str, int, str, str]]:
        return [(o.sample, o.chrom, o.pos, o.ref, o.alt) for o in obs]

    assert alleles(engine.read(gz, RunOptions()).observations) == alleles(batch.observations)
    doc = engine.run([batch])
    got = {s.sample: s.variants[0] for s in doc.samples}
    assert {v.transcript for v in got.values()} == {"NM_000546.6", "NM_138761.4"}
    mismatches = {
        s: (v.hgvs_c, expected[s])
        for s, v in got.items()
        if (v.hgvs_c or "").split(":")[1] != expected[s]
    }
    assert mismatches == {}
    assert all(v.vaf == 0.4 and v.depth == 50 and v.alt_depth == 20 for v in got.values())


def test_oncokb_example_maf_by_content(shared: Path, real_fasta: dict[str, Path]) -> None:
    """A cBioPortal/OncoKB-style MAF named .txt: sniffed by content; HGVSp_Short is the oracle."""
    f = _variants(shared) / "oncokb_example_maf_GRCh38_TP53.txt"
    res = runner.invoke(
        app, ["annotate", str(f), "--fasta", str(real_fasta["GRCh38"]), "--build", "GRCh38", "-q"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    (s,) = doc["samples"]
    (v,) = s["variants"]
    assert s["sample"] == "TCGA-02-0033-01"
    assert (v["chrom"], v["pos"], v["ref"], v["alt"]) == ("chr17", 7674220, "C", "T")
    assert v["hgvs_p"] == "NP_000537.3:p.(Arg248Gln)" and v["protein_change"] == "R248Q"
    assert doc["inputs"][0]["kind"] == "maf"


def test_vcf2maf_rows_against_vep(shared: Path, real_fasta: dict[str, Path]) -> None:
    """vcf2maf's minimal MAF (GRCh37) read back; VEP's HGVSc/HGVSp in its output MAF agree."""
    d = _variants(shared)
    with (d / "vcf2maf_test_output.vep_isoforms_TP53.maf").open() as fh:
        vep = next(csv.DictReader((ln for ln in fh if not ln.startswith("#")), delimiter="\t"))
    engine = Engine(real_fasta["GRCh37"], "GRCh37")
    batch = engine.read(d / "vcf2maf_test_TP53.maf", RunOptions())
    doc = engine.run([batch])
    (v,) = doc.samples[0].variants
    assert doc.samples[0].sample == "TUMOR"
    assert v.hgvs_c is not None and v.hgvs_c.split(":")[1] == vep["HGVSc"]  # c.375G>T
    assert v.hgvs_p == "NP_000537.3:p.(Thr125=)" and vep["HGVSp"] == "p.Thr125="
    assert (v.depth, v.alt_depth, v.vaf) == (42, 22, pytest.approx(22 / 42))
    with pytest.raises(BuildMismatchError) as e:
        Engine(real_fasta["GRCh38"], "GRCh38").read(d / "vcf2maf_test_TP53.maf", RunOptions())
    assert str(e.value).endswith("line 3: NCBI_Build is GRCh37 but the reference is GRCh38")


def test_unconvertible_rows_are_reported_with_line_and_reason(
    real_fasta: dict[str, Path], tmp_path: Path
) -> None:
    """SYNTHETIC rows around real TP53 R175H (chr17:7675088 C>T, GRCh38)."""
    rows = [
        ["TP53", "GRCh38", "17", "7675088", "7675088", "C", "C", "T", "S1", "", "", ""],
        ["TP53", "GRCh38", "17", "x", "7675088", "C", "C", "T", "S2", "", "", ""],
        ["TP53", "GRCh38", "17", "7675088", "7675090", "C", "C", "-", "S2", "", "", ""],
        ["TP53", "GRCh38", "17", "7675088", "7675088", "C", "C", "<DEL>", "S2", "", "", ""],
        ["TP53", "GRCh38", "17", "7675088", "7675095", "-", "-", "A", "S3", "", "", ""],
        ["TP53", "GRCh38", "17", "7675088", "7675088", "C", "C", "C", "S3", "", "", ""],
        ["X", "GRCh38", "1", "1000", "1000", "A", "A", "G", "S4", "", "", ""],
    ]
    maf = tmp_path / "bad.maf"
    maf.write_text("\n".join("\t".join(r) for r in [MAF_HEAD, *rows]) + "\n")
    engine = Engine(real_fasta["GRCh38"], "GRCh38")
    batch = engine.read(maf, RunOptions())
    assert batch.samples == ["S1", "S2", "S3", "S4"]
    assert batch.records_read == 7 and batch.records_outside_genes == 1
    assert len(batch.observations) == 1
    assert batch.skipped.examples == {
        "Chromosome or Start_Position missing or not a number": ["line 3"],
        "End_Position does not fit the Reference_Allele length": ["line 4"],
        "allele '<DEL>' is not a base sequence or '-'": ["line 5"],
        "insertion whose Start_Position and End_Position are not adjacent": ["line 6"],
        "no tumour allele differs from Reference_Allele": ["line 7"],
    }
    doc = engine.run([batch])
    assert {s.sample: len(s.variants) for s in doc.samples} == {"S1": 1, "S2": 0, "S3": 0, "S4": 0}
    assert all(c.coverage == "unknown" for s in doc.samples for c in s.calls)
    maf.write_text("\t".join(MAF_HEAD[:4]) + "\n")
    res = runner.invoke(
        app, ["annotate", str(maf), "--fasta", str(real_fasta["GRCh38"]), "--build", "GRCh38"]
    )
    # a header without the sample column is not a MAF: it is read (and refused) as a VCF
    assert res.exit_code == 2
