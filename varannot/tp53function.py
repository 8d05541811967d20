"""Measured TP53 function per missense allele: a class from three published assays.

Drugs that need wild-type p53 (MDM2 inhibitors and degraders) are defeated by an allele that
does not work, wherever it lies; so alleles are classed by what the assays measured, not by a
residue range. The shipped table ``tp53_function.tsv`` is derived (``derive``) from the joined
assay file in ``reference-sources/tp53-function`` with the ClinGen TP53 expert-panel thresholds
(Fortuno et al. 2021) already applied there per assay:

- Kato 2003 yeast transactivation, median of 8 promoters: <= 20 % of wild type non-functional,
  > 75 % functional, between partially functional ("supertrans" counts as functional);
- Giacomelli 2018 p53-null etoposide screen: Z <= -0.21 loss of function;
- Kotler 2018 H1299 screen (codons 102-292): RFS >= -1.0 loss of function.

Our class (a votes rule, written here so it can be re-derived and tested):
``loss_of_function`` when at least two assays measured the allele and all say LoF;
``functional`` when at least two measured it and all say functional; ``partially_functional``
when Kato says partial and no assay says LoF; ``insufficient_data`` when only one assay
measured it; ``discordant`` otherwise. Arg72 is the reference residue of the Giacomelli library,
so P72R counts Giacomelli as functional. Alleles absent from the table are ``no_data``.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from . import shipped
from .errors import KnowledgeBaseError

FUNCTION_FILE = "tp53_function.tsv"
CLASSES = (
    "loss_of_function",
    "functional",
    "partially_functional",
    "discordant",
    "insufficient_data",
    "no_data",
)
SOURCE = (
    "TP53 missense function: Giacomelli 2018 (PMID:30224644) p53-null etoposide and p53-WT "
    "nutlin-3 screens; Kotler 2018 (DOI:10.1016/j.molcel.2018.06.012) H1299; Kato 2003 "
    "(DOI:10.1073/pnas.1431692100) yeast transactivation via the NCI TP53 Database R21; classes "
    "with the ClinGen TP53 VCEP thresholds (Fortuno 2021, Hum Mutat 42:223)"
)
CITATIONS = (
    "PMID:30224644",
    "DOI:10.1016/j.molcel.2018.06.012",
    "DOI:10.1073/pnas.1431692100",
)
COLUMNS = (
    "protein_change",
    "class",
    "assays",
    "kato_class",
    "kato_median_pct_wt",
    "giacomelli_null_etoposide_z",
    "giacomelli_wt_nutlin_z",
    "giacomelli_lof",
    "kotler_rfs",
    "kotler_lof",
)


@dataclass(frozen=True, slots=True)
class Tp53Function:
    """One allele's measured function (NP_000537.3 numbering) and its class."""

    protein_change: str
    cls: str
    kato_class: str = ""
    kato_median_pct_wt: str = ""
    giacomelli_etoposide_z: str = ""
    giacomelli_wt_nutlin_z: str = ""
    giacomelli_lof: str = ""
    kotler_rfs: str = ""
    kotler_lof: str = ""

    def describe(self) -> str:
        """The assay values, as a clinician would read them in the evidence."""
        parts = []
        if self.kato_class:
            parts.append(f"Kato {self.kato_class} ({self.kato_median_pct_wt} % of WT)")
        if self.giacomelli_lof:
            parts.append(
                f"Giacomelli {self.giacomelli_lof} (etoposide Z {self.giacomelli_etoposide_z}, "
                f"WT-nutlin Z {self.giacomelli_wt_nutlin_z})"
            )
        if self.kotler_lof:
            parts.append(f"Kotler {self.kotler_lof} (RFS {self.kotler_rfs})")
        text = "; ".join(parts) if parts else "no assay data"
        return f"TP53 {self.protein_change} measured function: {self.cls} ({text})"


def classify(kato: str, giacomelli: str, kotler: str, *, position: int = 0, alt: str = "") -> str:
    """The class of one allele from the per-assay calls (see the module docstring)."""
    votes: list[str] = []
    if kato:
        votes.append(
            {"non-functional": "L", "partially functional": "P"}.get(kato, "F")
        )  # functional / supertrans
    if giacomelli:
        votes.append("L" if giacomelli == "LOF" else "F")
    elif position == 72 and alt == "R":
        votes.append("F")  # Arg72 is the Giacomelli library's own residue
    if kotler:
        votes.append("L" if kotler == "LOF" else "F")
    if len(votes) < 2:
        return "insufficient_data"
    if all(v == "L" for v in votes):
        return "loss_of_function"
    if all(v == "F" for v in votes):
        return "functional"
    if "P" in votes and "L" not in votes:
        return "partially_functional"
    return "discordant"


def _r(text: str) -> str:
    try:
        return f"{float(text):.3g}"
    except ValueError:
        return ""


def derive(rows: Iterable[Mapping[str, str]]) -> str:
    """The shipped TSV from rows of ``tp53_missense_function.tsv`` (facts and figures only)."""
    out = io.StringIO()
    out.write(
        "# TP53 missense alleles classed by measured function (derived; see varannot/tp53function.py)\n"
        f"# source: {SOURCE}\n"
        "# data as redistributed in reference-sources/tp53-function (ProteinGym / NCI TP53 "
        "Database R21 copies; NCI terms: free use with acknowledgement, no monetization)\n"
        "# version: 2026.11.0\n"
    )
    w = csv.writer(out, delimiter="\t", lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        kato = r["kato_transactivation_class"]
        gia = r["giacomelli_etoposide_LOF"]
        kot = r["kotler_LOF_derived"]
        cls = classify(kato, gia, kot, position=int(r["position"]), alt=r["mut_aa"])
        assays = ",".join(n for n, v in (("kato", kato), ("giacomelli", gia), ("kotler", kot)) if v)
        w.writerow(
            [
                r["protein_change"],
                cls,
                assays,
                kato,
                r["kato_median_pctWT"],
                _r(r["giacomelli_p53NULL_etoposide_Z_reconstructed"]),
                _r(r["giacomelli_p53WT_nutlin3_Z_reconstructed"]),
                gia,
                _r(r["kotler_rfs_h1299_reconstructed"]),
                kot,
            ]
        )
    return out.getvalue()


def load(text: str | None = None) -> Mapping[str, Tp53Function]:
    """Protein change (``R175H``) -> measured function, from the shipped table."""
    source = f"varannot.data/{FUNCTION_FILE}"
    if text is None:
        text = shipped.read_text(FUNCTION_FILE)
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    reader = csv.DictReader(lines, delimiter="\t")
    table: dict[str, Tp53Function] = {}
    for n, r in enumerate(reader, start=2):
        if r.get("class") not in CLASSES:
            raise KnowledgeBaseError(
                f"unknown class {r.get('class')!r}", source=source, record=f"row {n}"
            )
        table[r["protein_change"]] = Tp53Function(
            r["protein_change"],
            r["class"],
            r["kato_class"],
            r["kato_median_pct_wt"],
            r["giacomelli_null_etoposide_z"],
            r["giacomelli_wt_nutlin_z"],
            r["giacomelli_lof"],
            r["kotler_rfs"],
            r["kotler_lof"],
        )
    return MappingProxyType(table)


def main(argv: list[str]) -> int:
    """``python -m varannot.tp53function SRC.tsv > reference/tp53_function.tsv``."""
    if len(argv) != 1:
        print("usage: python -m varannot.tp53function tp53_missense_function.tsv", file=sys.stderr)
        return 2
    with Path(argv[0]).open() as fh:
        sys.stdout.write(derive(csv.DictReader(fh, delimiter="\t")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
