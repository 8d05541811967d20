"""The notebook API: ``varannot.annotate(...)`` -> a :class:`Result` with pandas DataFrames.

The tables are the CLI's: ``Result.calls`` and ``Result.variants`` are built from the same
rows as ``calls.tsv`` and ``variants.tsv`` (``writers.call_rows`` / ``writers.variant_rows``),
typed for analysis (categorical calls and consequences, nullable integers). pandas is imported
only here, when a table is asked for: the CLI never pays for it.

A whole run without a FASTA file, from protein changes only (the sequence is unknown, so the
residue is checked against the shipped residue facts and flagged ``ref_unverified``):

>>> import varannot
>>> from varannot.reference import InMemoryReference
>>> res = varannot.annotate(
...     ["NP_000235.2:p.Met327Ile", "TP53:p.R175H"],
...     fasta=InMemoryReference("no sequence"), build="GRCh38", sample="P1",
... )
>>> print(res.variants[["gene", "protein_change", "protein_change_legacy"]].to_string(index=False))
gene protein_change protein_change_legacy
MEN1          M322I                 M327I
TP53          R175H                  <NA>
>>> res.calls.set_index("drug").loc["revumenib", "call"]   # no VAF: at most likely
'likely_resistant'
>>> findings = res.calls[res.calls["call"] >= "likely_resistant"]   # ordered categorical
>>> "revumenib" in set(findings["drug"])
True
>>> print(res.samples[["sample", "variants", "worst_call"]].to_string(index=False))
sample  variants       worst_call
    P1         2 likely_resistant
>>> import json; json.loads(res.to_json())["samples"][0]["sample"]
'P1'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from .api import RunOptions
from .errors import InputError
from .knowledge import KnowledgeBase
from .models import Build
from .reference import ReferenceProvider
from .schema import CallValue, ResultDocument

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CALL_ORDER", "Result", "annotate"]

# Least to most concerning: ``calls[calls.call >= "likely_resistant"]`` selects findings.
# Every value of the schema's ``CallValue`` is a category (a new one sorts before 'likely').
_PREFERRED = ["no_known_resistance", "not_assessed", "uncertain", "likely_resistant", "resistant"]
CALL_ORDER: list[str] = sorted(
    get_args(CallValue), key=lambda c: _PREFERRED.index(c) if c in _PREFERRED else 2.5
)
COVERAGE_VALUES = ["covered", "partial", "not_covered", "unknown"]
_HGVS = re.compile(r"^[A-Za-z0-9_.\-]+(\([A-Za-z0-9]+\))?:[cgp]\.")


def _categorical(values: Any, categories: list[str], ordered: bool = False) -> Any:
    import pandas as pd

    return pd.Categorical(values, categories=categories, ordered=ordered)


@dataclass
class Result:
    """One finished run: the document (``document``, the CLI's JSON) and its tables.

    * ``calls``: one row per sample x drug; columns as ``calls.tsv`` (``sample``, ``drug``,
      ``drug_class``, ``call``, ``coverage``, ``rule_ids``, ``variants``, ``protein_changes``,
      ``protein_changes_legacy``, ``vaf``, ``levels``, ``citations``, ``uncovered_loci``,
      ``caveats``, ``kb_version``); ``call`` is an ordered categorical (``CALL_ORDER``),
      ``coverage`` a categorical, the list columns hold Python lists.
    * ``variants``: one row per sample x allele in the four genes (excluded ones too: see
      ``filter`` and ``flags``); columns as ``variants.tsv``; ``consequence`` (SO terms, most
      severe first, comma-joined) and ``gene`` are categorical, ``pos``/``depth``/``alt_depth``
      nullable integers, ``vaf`` a nullable float.
    * ``samples``: one row per sample: ``sample``, ``sources``, ``coverage_source``,
      ``variants``, ``excluded_variants``, ``worst_call`` (ordered categorical) and one count
      column per call value.
    """

    document: ResultDocument
    _frames: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def calls(self) -> pd.DataFrame:
        if "calls" not in self._frames:
            import pandas as pd

            from .writers import CALL_COLUMNS, call_rows

            df = pd.DataFrame(call_rows(self.document), columns=CALL_COLUMNS)
            df["call"] = _categorical(df["call"], CALL_ORDER, ordered=True)
            df["coverage"] = _categorical(df["coverage"], COVERAGE_VALUES)
            for c in CALL_COLUMNS:
                if c not in ("call", "coverage") and not any(isinstance(x, list) for x in df[c]):
                    df[c] = df[c].astype("string")
            self._frames["calls"] = df
        return self._frames["calls"]  # type: ignore[no-any-return]

    @property
    def variants(self) -> pd.DataFrame:
        if "variants" not in self._frames:
            import pandas as pd

            from .writers import VARIANT_COLUMNS, variant_rows

            df = pd.DataFrame(variant_rows(self.document), columns=VARIANT_COLUMNS)
            joined = [",".join(c) for c in df["consequence"]]
            df["consequence"] = pd.Categorical(joined)
            df["gene"] = df["gene"].astype("category")
            for c in ("pos", "depth", "alt_depth"):
                df[c] = df[c].astype("Int64")
            df["vaf"] = df["vaf"].astype("Float64")
            typed = {"consequence", "gene", "pos", "depth", "alt_depth", "vaf"}
            for c in VARIANT_COLUMNS:
                if c not in typed and not any(isinstance(x, list) for x in df[c]):
                    df[c] = df[c].astype("string")
            self._frames["variants"] = df
        return self._frames["variants"]  # type: ignore[no-any-return]

    @property
    def samples(self) -> pd.DataFrame:
        if "samples" not in self._frames:
            import pandas as pd

            rows = []
            for s in self.document.samples:
                calls = [c.call for c in s.calls]
                row: dict[str, object] = {
                    "sample": s.sample,
                    "sources": list(s.sources),
                    "coverage_source": s.coverage_source,
                    "variants": len(s.variants),
                    "excluded_variants": len(s.excluded_variants),
                    "worst_call": max(calls, key=CALL_ORDER.index) if calls else None,
                }
                row.update({c: calls.count(c) for c in CALL_ORDER})  # type: ignore[arg-type]
                rows.append(row)
            cols = ["sample", "sources", "coverage_source", "variants", "excluded_variants",
                    "worst_call", *CALL_ORDER]  # fmt: skip
            df = pd.DataFrame(rows, columns=cols)
            df["sample"] = df["sample"].astype("string")
            df["coverage_source"] = df["coverage_source"].astype("category")
            df["worst_call"] = _categorical(df["worst_call"], CALL_ORDER, ordered=True)
            self._frames["samples"] = df
        return self._frames["samples"]  # type: ignore[no-any-return]

    @property
    def warnings(self) -> list[str]:
        return list(self.document.warnings)

    def to_json(self) -> str:
        """The document exactly as ``varannot annotate --format json`` writes it."""
        from .writers import to_json

        return to_json(self.document)

    def to_maf(self) -> str:
        """The variants as a MAF (as ``--format maf``)."""
        from .maf import to_maf

        return to_maf(self.document)


def _split(inputs: str | Path | Sequence[str | Path]) -> tuple[list[str], list[str]]:
    """Files (or run directories) and HGVS strings: an existing path is a file."""
    items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    files: list[str] = []
    hgvs: list[str] = []
    for it in items:
        text = str(it)
        if isinstance(it, Path) or Path(text).exists() or text == "-":
            files.append(text)
        elif _HGVS.match(text.strip()):
            hgvs.append(text.strip())
        else:
            raise InputError("neither an existing file nor an HGVS variant", source=text)
    return files, hgvs


def annotate(
    inputs: str | Path | Sequence[str | Path],
    *,
    fasta: str | Path | ReferenceProvider,
    build: Build | None = None,
    disease: str | None = None,
    kb: KnowledgeBase | str | Path | Sequence[str | Path] | None = None,
    sample: str | None = None,
    options: RunOptions | None = None,
) -> Result:
    """Annotate and call: VCF/BCF, MAF, traces, run directories and HGVS strings, mixed.

    ``fasta`` is a FASTA path or any ``ReferenceProvider``; ``build`` is detected from the
    FASTA when omitted. ``kb`` is a ``KnowledgeBase`` or site table path(s) added to the shipped
    one. ``disease`` selects disease-specific evidence where the knowledge base has it.
    ``sample`` names the HGVS entries and trace groups. Raises ``varannot.errors.VarannotError``
    subclasses with the file and record for bad input.
    """
    from .readers.hgvs import entries_from_strings
    from .run import execute_run

    files, hgvs = _split(inputs)
    if not files and not hgvs:
        raise InputError("no inputs given")
    opts = replace(options) if options is not None else RunOptions()
    if sample is not None:
        opts.trace_sample = sample
    if disease is not None:
        if not hasattr(opts, "disease"):
            raise InputError(
                "disease-specific calls are not available in this varannot version",
                source="disease",
            )
        opts.disease = disease
    if kb is None or isinstance(kb, KnowledgeBase):
        knowledge = kb or KnowledgeBase.load()
    else:
        paths = [kb] if isinstance(kb, (str, Path)) else list(kb)
        knowledge = KnowledgeBase.load([Path(p) for p in paths])
    run = execute_run(
        files,
        fasta=fasta,  # type: ignore[arg-type]
        build=build,
        kb=knowledge,
        options=opts,
        quiet=True,
        hgvs={"hgvs": entries_from_strings(hgvs, sample, prefix="hgvs")} if hgvs else None,
    )
    return Result(run.doc)
