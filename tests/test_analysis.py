"""The Python API (``varannot.annotate`` -> DataFrames): doctests, dtypes, and that its tables
are the CLI's TSV tables cell for cell."""

from __future__ import annotations

import doctest
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import varannot
from varannot import analysis
from varannot.errors import HGVSParseError, InputError
from varannot.writers import CALL_COLUMNS, VARIANT_COLUMNS, _table, calls_tsv, variants_tsv

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "run1.vcf"


def test_docstring_examples_run() -> None:
    res = doctest.testmod(analysis, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.attempted >= 6 and res.failed == 0


def test_import_varannot_does_not_import_pandas() -> None:
    code = (
        "import sys, varannot, varannot.cli, varannot.writers, varannot.run; "
        "varannot.annotate; print('pandas' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "False", out.stderr


def _missing(x: object) -> bool:
    return x is pd.NA or (isinstance(x, float) and math.isnan(x))


def _cells(df: pd.DataFrame, columns: list[str]) -> list[dict[str, object]]:
    """DataFrame rows back to plain values (NA -> None, categories -> str)."""
    rows = []
    for rec in df.astype(object).to_dict("records"):
        rows.append({c: (None if _missing(rec[c]) else rec[c]) for c in columns})
    return rows


def test_tables_are_the_tsv_tables(kb_fasta: dict[str, Path]) -> None:
    res = varannot.annotate(
        [EXAMPLE, "NP_000235.2:p.Met327Ile"], fasta=kb_fasta["GRCh38"], build="GRCh38",
        sample="PATIENT_C",
    )  # fmt: skip
    doc = res.document
    # consequence is categorical text in the frame, a list in the TSV rows: both print alike
    assert _table(CALL_COLUMNS, _cells(res.calls, CALL_COLUMNS)) == calls_tsv(doc)
    assert _table(VARIANT_COLUMNS, _cells(res.variants, VARIANT_COLUMNS)) == variants_tsv(doc)
    assert list(res.samples["sample"]) == ["PATIENT_A", "PATIENT_B", "PATIENT_C"]
    assert res.calls["call"].dtype == pd.CategoricalDtype(analysis.CALL_ORDER, ordered=True)
    assert str(res.variants["pos"].dtype) == "Int64"
    assert str(res.variants["consequence"].dtype) == "category"
    findings = res.calls[res.calls["call"] >= "likely_resistant"]
    c = findings[(findings["sample"] == "PATIENT_C") & (findings["drug"] == "revumenib")]
    assert list(c["protein_changes_legacy"]) == [["M327I"]]
    b = res.variants[res.variants["sample"] == "PATIENT_B"].set_index("gene")
    assert b.loc["TP53", "hgvs_p"] == "NP_000537.3:p.(Arg175His)"
    assert b.loc["TP53", "vaf"] == pytest.approx(59 / 120, abs=1e-6)  # AD 61,59
    s = res.samples.set_index("sample")
    assert s.loc["PATIENT_C", "worst_call"] == "likely_resistant"
    assert s.loc["PATIENT_A", "excluded_variants"] == 1  # the LowQual record


def test_bad_inputs_raise_the_project_errors(kb_fasta: dict[str, Path]) -> None:
    with pytest.raises(InputError, match="neither an existing file nor an HGVS variant"):
        varannot.annotate("no_such.vcf", fasta=kb_fasta["GRCh38"], build="GRCh38")
    with pytest.raises(HGVSParseError, match="hgvs 1: MEN1 residue 327 is Tyr"):
        varannot.annotate("MEN1:p.Met327Ile", fasta=kb_fasta["GRCh38"], build="GRCh38")
