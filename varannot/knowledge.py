"""The resistance knowledge base: a versioned, cited table of rules, validated when loaded.

One row is one evidence item, modelled on CIViC evidence items (levels A-E, a significance per
therapy), OncoKB resistance levels (kept as ``external_level``) and TB-Profiler's catalogue (SO
terms and residue ranges as wildcard rules). The unit is the drug: a row names one or more drugs
explicitly and the evidence applies to each of them (CIViC's "substitutes"); a claim made about a
whole drug class is recorded as such (``status`` secondary, low ``level``) and can never, on its
own, produce a ``resistant`` call.

Every residue a row names is checked against its stated numbering (``numbering`` = protein
accession): at load against the shipped residue facts, and against translated proteins when a
FASTA is at hand (``validate``). That is what stops the classic menin mistake, "M327I" written
against the 610-aa MANE protein, whose residue 327 is Tyr.

Rule kinds (``rule`` column):

- ``protein_change``: one exact change in 1-letter form (``M327I``, ``R213*``, ``E41fs`` = any
  frameshift starting at E41); ``p.Met327Ile`` is accepted and normalized.
- ``residue``: any protein-altering change at the listed residues (``M327;G331;T349``),
  optionally only for the SO terms in ``consequence``.
- ``range``: changes overlapping residues ``K101_R306`` with one of the ``consequence`` terms.
- ``gene_class``: a ``consequence`` class anywhere in the gene (``truncating`` = stop_gained,
  frameshift, splice donor/acceptor, start_lost).
- ``biallelic``: two alleles (or one homozygous / high-VAF allele, or one allele with a
  TP53/17p deletion or copy-neutral LOH given as input) matching any row of the ``group``
  named in ``variant``; evaluated per sample by ``calls.call_sample``.
- ``function`` (TP53 only): alleles whose measured function class (``tp53function``; truncating
  alleles count as ``loss_of_function``) is one of the classes in ``variant``.

``indications`` names the OncoTree codes a row holds for (``any``: not disease-specific); a call
for a sample of another disease uses the row only as ``uncertain`` evidence. Drugs marked
``requires_wild_type_tp53`` in ``drugs.tsv`` must be covered by ``function`` rows for every
class, so no TP53 allele can fall silently through.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import shipped
from .consequences import SO_TERMS
from .errors import KnowledgeBaseError
from .hgvs import AA1, AA3
from .models import Annotation, ProteinChange
from .schema import KnowledgeBaseOut
from .tp53function import CLASSES as FUNCTION_CLASSES
from .tp53function import SOURCE as FUNCTION_SOURCE
from .tp53function import Tp53Function
from .tp53function import load as load_tp53_function
from .transcripts import GENES, Transcript, TranscriptSet, load_transcripts, map_residue

if TYPE_CHECKING:
    from .annotate import Annotator

KB_FILE = "knowledge_base.tsv"
DRUGS_FILE = "drugs.tsv"
RESIDUES_FILE = "residues.tsv"

RuleKind = Literal["protein_change", "residue", "range", "gene_class", "biallelic", "function"]
Effect = Literal[
    "resistance", "reduced_sensitivity", "uncertain", "sensitivity_retained", "no_known_effect"
]
Level = Literal["A", "B", "C", "D", "E"]
Status = Literal["confirmed", "secondary", "unconfirmed", "excluded"]
# OncoTree codes a row may hold for (``any`` = not disease-specific) and a sample may name.
DISEASES: Mapping[str, str] = MappingProxyType(
    {
        "AML": "acute myeloid leukemia",
        "BLL": "B-lymphoblastic leukemia/lymphoma",
        "TLL": "T-lymphoblastic leukemia/lymphoma",
        "CLLSLL": "chronic lymphocytic leukemia/small lymphocytic lymphoma",
        "MDS": "myelodysplastic syndromes",
        "MPN": "myeloproliferative neoplasms",
        "PV": "polycythemia vera",
        "CML": "chronic myelogenous leukemia",
        "MPAL": "mixed phenotype acute leukemia",
        "DLBCLNOS": "diffuse large B-cell lymphoma",
        "MCL": "mantle cell lymphoma",
        "FL": "follicular lymphoma",
        "PCM": "plasma cell myeloma",
    }
)
EVIDENCE_KINDS = ("clinical", "xenograft", "cell_line", "biochemical", "ex_vivo", "inferential")
LEVEL_MEANING = {
    "A": "validated association",
    "B": "clinical evidence",
    "C": "case study",
    "D": "preclinical evidence",
    "E": "inferential association",
}
# Named consequence classes (TB-Profiler expands "LoF" the same way, one SO term per row).
CONSEQUENCE_CLASSES: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "truncating": frozenset(
            {
                "stop_gained",
                "frameshift_variant",
                "splice_donor_variant",
                "splice_acceptor_variant",
                "start_lost",
            }
        )
    }
)
# Protein kinds that change the protein (a residue rule never matches a synonymous change).
_ALTERING = frozenset(
    {
        "missense",
        "nonsense",
        "frameshift",
        "inframe_deletion",
        "inframe_insertion",
        "delins",
        "duplication",
        "start_lost",
        "stop_lost",
    }
)
_SPLICE = frozenset({"splice_donor_variant", "splice_acceptor_variant"})
_AA = "ACDEFGHIKLMNPQRSTVWY"
_KINDS_ALT = "|".join(EVIDENCE_KINDS)
_CITATION = r"(PMID:\d+|DOI:10\.\S+|CIViC:\S+|URL:\S+|REF:[^;]+)"


class RuleRow(BaseModel):
    """One row of a knowledge-base TSV as written (strings); the JSON schema is generated from it.

    Cross-field rules (variant syntax per rule kind, known numbering, drug vocabulary, SO terms,
    reference residues) are checked in code after this, because a schema cannot see them.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="unique row id")
    gene: Literal["MEN1", "BCL2", "BAX", "TP53"]
    rule: RuleKind
    numbering: str = Field(
        pattern=r"^N[MP]_\d+\.\d+$",
        description="accession.version whose residue numbers the row uses (protein or transcript)",
    )
    variant: str = Field("", description="M327I | M327;G331 | K101_R306 | '' | group (biallelic)")
    consequence: str = Field("", description="SO terms or classes (truncating), ';'-separated")
    group: str = Field("", pattern=r"^([A-Za-z0-9_.-]+)?$", description="named allele class")
    drug: str = Field(min_length=1, description="one or more drugs, ';'-separated")
    drug_class: str = Field(min_length=1)
    effect: Effect
    evidence_kind: str = Field(pattern=rf"^({_KINDS_ALT})(\s*;\s*({_KINDS_ALT}))*$")
    level: Level = Field(description="CIViC evidence level")
    external_level: str = Field("", description="e.g. OncoKB R2, CIViC EID")
    magnitude: str = ""
    disease: str = ""
    indications: str = Field(
        "any",
        pattern=r"^(any|[A-Z]+(\s*;\s*[A-Z]+)*)$",
        description="OncoTree codes the row holds for, ';'-separated, or 'any'",
    )
    citations: str = Field(pattern=rf"^{_CITATION}(\s*;\s*{_CITATION})*$")
    status: Status
    provenance: str = ""
    note: str = ""


COLUMNS: tuple[str, ...] = tuple(RuleRow.model_fields)
_REQUIRED = tuple(n for n, f in RuleRow.model_fields.items() if f.is_required())


def schema_json() -> dict[str, object]:
    """The JSON schema of one table row (shipped as ``knowledge_base.schema.json``)."""
    s = RuleRow.model_json_schema()
    s["title"] = "varannot knowledge-base row"
    s["description"] = (
        "One row of a varannot knowledge-base TSV (tab-separated, '#' header lines with "
        "'# version: X'). Extra columns must start with 'x_'."
    )
    return s


@dataclass(frozen=True, slots=True)
class Rule:
    """One validated table row; its evidence applies to each drug in ``drugs``."""

    id: str
    gene: str
    kind: RuleKind
    numbering: str  # protein accession
    variant: str  # normalized
    consequence: frozenset[str]
    consequence_text: str
    group: str
    drugs: tuple[str, ...]
    drug_class: str
    effect: Effect
    evidence_kind: tuple[str, ...]
    level: Level
    external_level: str
    magnitude: str
    disease: str
    citations: tuple[str, ...]
    status: Status
    provenance: str
    note: str
    source: str
    line: int
    residues: tuple[tuple[int, str], ...] = ()  # (position, 1-letter aa) the row names
    start: int | None = None
    end: int | None = None
    indications: tuple[str, ...] = ()  # OncoTree codes; empty = any disease
    classes: frozenset[str] = frozenset()  # function rules: measured-function classes

    def applies_to(self, disease: str | None) -> bool:
        """Whether the row holds for ``disease`` (None: unspecified, every row applies)."""
        return not self.indications or disease is None or disease in self.indications

    @property
    def indication_text(self) -> str:
        return ",".join(self.indications) or "any"

    @property
    def record(self) -> str:
        return f"row {self.id} (line {self.line})"

    @property
    def used_in_calls(self) -> bool:
        return self.status in ("confirmed", "secondary")

    @property
    def allele_specific(self) -> bool:
        """Exact change, residue, or the allele's own measured function."""
        return self.kind in ("protein_change", "residue", "function")

    @property
    def can_call_resistant(self) -> bool:
        """Confirmed, clinical (A-C), allele-specific resistance: the only way to ``resistant``."""
        return (
            self.effect == "resistance"
            and self.status == "confirmed"
            and self.level in ("A", "B", "C")
            and self.allele_specific
        )

    def weakness(self) -> list[str]:
        """Why this rule alone gives at most ``likely_resistant`` (empty if it can do more)."""
        out = []
        if self.effect == "reduced_sensitivity":
            out.append("reduced sensitivity, not resistance")
        if self.status != "confirmed":
            out.append(f"{self.status} evidence")
        if self.level not in ("A", "B", "C"):
            out.append(f"level {self.level} ({LEVEL_MEANING[self.level]})")
        if not self.allele_specific:
            out.append(f"{self.kind} rule (predicted from the consequence class, not this allele)")
        return out

    def protein_for(self, annotation: Annotation) -> ProteinChange | None:
        """The allele's protein change in this row's numbering (MANE or literature isoform)."""
        for pc in (annotation.protein, annotation.legacy_protein):
            if pc is not None and pc.accession == self.numbering:
                return pc
        return None

    def matches(self, annotation: Annotation, function_class: str | None = None) -> bool:
        """Whether one allele satisfies this row's variant condition (biallelic: per allele).

        ``function_class`` is the allele's measured TP53 function class (function rules only).
        """
        if annotation.gene != self.gene or self.kind == "biallelic":
            return False
        if self.kind == "function":
            return function_class is not None and function_class in self.classes
        terms = set(annotation.consequence)
        if self.kind == "gene_class":
            return bool(self.consequence & terms)
        pc = self.protein_for(annotation)
        if pc is None:
            return False
        if self.kind == "protein_change":
            if self.variant.endswith("fs") and pc.kind == "frameshift":
                return pc.start == self.start and pc.short.startswith(self.variant[:-2])
            return pc.short == self.variant
        if pc.kind not in _ALTERING or pc.start is None:
            return False
        lo, hi = pc.start, pc.end if pc.end is not None else pc.start
        if self.consequence and not self.consequence & terms:
            return False
        if self.kind == "residue":
            return any(lo <= p <= hi for p, _ in self.residues)
        assert self.start is not None and self.end is not None
        return lo <= self.end and hi >= self.start

    def mane_equivalent(self, transcripts: TranscriptSet) -> str | None:
        """The variant in MANE numbering when the row uses another isoform (MEN1 M327I -> M322I)."""
        src = transcripts.get(self.numbering)
        mane = transcripts.mane.get(self.gene)
        if src is None or mane is None or src is mane or not self.residues:
            return None
        text = self.variant
        for pos, aa in sorted(self.residues, key=lambda x: -x[0]):
            m = map_residue(pos, src, mane)
            if m is None:
                return None
            text = re.sub(rf"(?<![0-9]){aa}{pos}(?![0-9])", f"{aa}{m}", text)
        return f"{mane.protein} {text}"


@dataclass(frozen=True, slots=True)
class TableInfo:
    path: str
    version: str
    sha256: str
    rows: int


@dataclass(frozen=True, slots=True)
class ResidueFact:
    accession: str
    position: int
    aa: str
    source: str


def _resource_text(name: str) -> tuple[str, bytes]:
    data = shipped.read_bytes(name)
    return f"varannot.data/{name}", data


def _split_list(text: str, seps: str = ";,") -> list[str]:
    return [x.strip() for x in re.split(f"[{seps}]", text) if x.strip()]


def _parse_directives(lines: Iterable[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for ln in lines:
        m = re.match(r"^#\s*([A-Za-z_]+)\s*:\s*(.*?)\s*$", ln)
        if m:
            out.setdefault(m.group(1).lower(), []).append(m.group(2))
    return out


def _read_tsv(
    text: str, source: str
) -> tuple[dict[str, list[str]], list[tuple[int, dict[str, str]]]]:
    """Header directives and (line number, row) pairs; comment and blank lines skipped."""
    comments: list[str] = []
    header: list[str] | None = None
    rows: list[tuple[int, dict[str, str]]] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        if line.startswith("#"):
            comments.append(line)
            continue
        cells = line.split("\t")
        if header is None:
            header = [c.strip() for c in cells]
            continue
        if len(cells) > len(header):
            raise KnowledgeBaseError(
                f"{len(cells)} fields but the header has {len(header)}",
                source=source,
                record=f"line {n}",
            )
        cells += [""] * (len(header) - len(cells))
        rows.append((n, dict(zip(header, (c.strip() for c in cells), strict=True))))
    if header is None:
        raise KnowledgeBaseError("no header line", source=source)
    return _parse_directives(comments), rows


@dataclass(frozen=True, slots=True)
class _Drugs:
    classes: dict[str, str]  # canonical -> class
    alias: dict[str, str]  # lower-case name or synonym -> canonical
    order: list[str]
    wt_tp53: dict[str, tuple[str, ...]] = field(default_factory=dict)  # drug -> citations

    def add(self, name: str, cls: str, synonyms: Iterable[str], where: str) -> None:
        canon = self.alias.get(name.lower())
        if canon is not None and self.classes[canon] != cls:
            raise KnowledgeBaseError(
                f"drug {name!r} is already declared with class {self.classes[canon]!r}",
                source=where,
            )
        if canon is None:
            self.classes[name] = cls
            self.order.append(name)
            canon = name
        for s in [name, *synonyms]:
            other = self.alias.get(s.lower())
            if other is not None and other != canon:
                raise KnowledgeBaseError(f"synonym {s!r} already names {other!r}", source=where)
            self.alias[s.lower()] = canon


def _load_drugs() -> _Drugs:
    name, data = _resource_text(DRUGS_FILE)
    _, rows = _read_tsv(data.decode(), name)
    drugs = _Drugs({}, {}, [])
    for n, r in rows:
        drugs.add(
            r["drug"], r["drug_class"], _split_list(r.get("synonyms", "")), f"{name} line {n}"
        )
        flag = r.get("requires_wild_type_tp53", "").strip().lower()
        if flag not in ("", "yes", "no"):
            raise KnowledgeBaseError(
                f"requires_wild_type_tp53 must be yes or no, not {flag!r}",
                source=name,
                record=f"line {n}",
            )
        if flag == "yes":
            cites = tuple(_split_list(r.get("tp53_citations", ""), ";"))
            if not cites:
                raise KnowledgeBaseError(
                    f"{r['drug']} requires wild-type TP53 but cites nothing (tp53_citations)",
                    source=name,
                    record=f"line {n}",
                )
            drugs.wt_tp53[r["drug"]] = cites
    return drugs


def _load_facts() -> dict[tuple[str, int], ResidueFact]:
    name, data = _resource_text(RESIDUES_FILE)
    _, rows = _read_tsv(data.decode(), name)
    out = {}
    for n, r in rows:
        try:
            f = ResidueFact(r["accession"], int(r["position"]), r["aa"], r["source"])
        except (KeyError, ValueError) as exc:
            raise KnowledgeBaseError(
                f"bad residue fact: {exc}", source=name, record=f"line {n}"
            ) from exc
        out[(f.accession, f.position)] = f
    return out


_ONE = re.compile(r"^(?P<ref>[A-Z*])(?P<pos>\d+)(?P<rest>.*)$")
_THREE = re.compile(r"(Ter|[A-Z][a-z]{2})")


def _to_one_letter(text: str) -> str:
    """``p.(Met327Ile)`` / ``p.Met327Ile`` -> ``M327I``; 1-letter input is returned unchanged."""
    t = text.strip()
    if t.startswith("p."):
        t = t[2:].strip("()")
        t = _THREE.sub(lambda m: AA1.get(m.group(1), m.group(1)), t)
    return t.replace("Ter", "*")


def _parse_change(text: str) -> tuple[str, list[tuple[int, str]], int]:
    """Normalized 1-letter change, the residues it names, its first position."""
    v = _to_one_letter(text)
    m = _ONE.match(v)
    if not m:
        raise ValueError(f"cannot read protein change {text!r} (write e.g. M327I, R213*, E41fs)")
    ref, pos, rest = m.group("ref"), int(m.group("pos")), m.group("rest")
    named = [(pos, ref)]
    simple = (
        rf"[{_AA}*=]",
        r"fs|del|dup",
        rf"[{_AA}]fs\*(\d+|\?)",
        rf"delins[{_AA}*]+",
    )
    m2 = re.fullmatch(rf"_([{_AA}*])(\d+)(del|dup|delins[{_AA}*]+|ins[{_AA}*]+)", rest)
    if m2:
        end = int(m2.group(2))
        if end <= pos:
            raise ValueError(f"{text!r}: range end {end} is not after {pos}")
        named.append((end, m2.group(1)))
    elif not any(re.fullmatch(p, rest) for p in simple):
        raise ValueError(f"cannot read protein change {text!r} (write e.g. M327I, R213*, E41fs)")
    return v, named, pos


def _parse_residues(text: str) -> list[tuple[int, str]]:
    out = []
    for item in _split_list(text):
        m = re.fullmatch(rf"([{_AA}])(\d+)", _to_one_letter(item))
        if not m:
            raise ValueError(f"cannot read residue {item!r} (write e.g. M327)")
        out.append((int(m.group(2)), m.group(1)))
    if not out:
        raise ValueError("a residue rule needs at least one residue in variant (e.g. M327)")
    return out


def _parse_range(text: str) -> tuple[int, int, list[tuple[int, str]]]:
    m = re.fullmatch(rf"([{_AA}])(\d+)_([{_AA}])(\d+)", _to_one_letter(text))
    if not m:
        raise ValueError(f"cannot read range {text!r} (write e.g. K101_R306)")
    a, b = int(m.group(2)), int(m.group(4))
    if b <= a:
        raise ValueError(f"range {text!r} ends before it starts")
    return a, b, [(a, m.group(1)), (b, m.group(3))]


def _expand_consequence(text: str) -> frozenset[str]:
    terms: set[str] = set()
    for t in _split_list(text):
        if t in CONSEQUENCE_CLASSES:
            terms |= CONSEQUENCE_CLASSES[t]
        elif t in SO_TERMS:
            terms.add(t)
        else:
            raise ValueError(
                f"unknown consequence term {t!r} (SO terms of varannot.consequences, or a class: "
                f"{', '.join(CONSEQUENCE_CLASSES)})"
            )
    return frozenset(terms)


def _numbering_index(ts: TranscriptSet) -> dict[str, tuple[str, Transcript]]:
    """Accession (NM_ or NP_, versioned) -> (gene, transcript) for MANE and literature models."""
    out: dict[str, tuple[str, Transcript]] = {}
    for t in ts.transcripts:
        if t.role in ("mane_select", "literature_numbering"):
            out[t.protein] = (t.gene, t)
            out[t.accession] = (t.gene, t)
    return out


def check_disease(
    code: str | None, *, source: str = "disease", record: str | None = None
) -> str | None:
    """An OncoTree code as given (case-insensitive); None for empty or ``unspecified``."""
    from .errors import InputError

    if code is None or not code.strip() or code.strip().lower() == "unspecified":
        return None
    c = code.strip().upper()
    if c not in DISEASES:
        raise InputError(
            f"unknown disease {code!r}: give an OncoTree code ({', '.join(DISEASES)}) or "
            "'unspecified'",
            source=source,
            record=record,
        )
    return c


def _aa3(a: str) -> str:
    return AA3.get(a, a)


class KnowledgeBase:
    """The loaded rule tables (immutable after load): shipped table plus optional site tables."""

    __slots__ = (
        "version",
        "sha256",
        "sources",
        "tables",
        "rows",
        "drugs",
        "warnings",
        "_alias",
        "_facts",
        "_by_gene",
        "_by_drug",
        "_numbering",
        "_loci_cache",
        "_tp53",
        "wt_tp53",
        "_frozen",
    )

    version: str
    sha256: str
    sources: list[str]
    tables: tuple[TableInfo, ...]
    rows: tuple[Rule, ...]
    drugs: Mapping[str, str]
    warnings: tuple[str, ...]
    wt_tp53: Mapping[str, tuple[str, ...]]
    function_source: str = FUNCTION_SOURCE

    def __init__(
        self,
        tables: Sequence[TableInfo],
        rules: Sequence[Rule],
        drugs: _Drugs,
        facts: Mapping[tuple[str, int], ResidueFact],
        numbering: Mapping[str, tuple[str, Transcript]],
        warnings: Sequence[str] = (),
    ):
        self.tables = tuple(tables)
        self.sources = [t.path for t in tables]
        self.version = "+".join(t.version for t in tables)
        if len(tables) == 1:
            self.sha256 = tables[0].sha256
        else:
            joined = "\n".join(t.sha256 for t in tables).encode()
            self.sha256 = hashlib.sha256(joined).hexdigest()
        self.rows = tuple(rules)
        named = {d for r in rules for d in r.drugs}
        order = [d for d in drugs.order if d in named]
        self.drugs = MappingProxyType({d: drugs.classes[d] for d in order})
        self.warnings = tuple(warnings)
        self.wt_tp53 = MappingProxyType({d: c for d, c in drugs.wt_tp53.items() if d in named})
        self._tp53 = load_tp53_function()
        self._alias = MappingProxyType(dict(drugs.alias))
        self._facts = MappingProxyType(dict(facts))
        self._numbering = MappingProxyType(dict(numbering))
        by_gene: dict[str, list[Rule]] = {}
        by_drug: dict[str, list[Rule]] = {}
        for r in rules:
            by_gene.setdefault(r.gene, []).append(r)
            for d in r.drugs:
                by_drug.setdefault(d, []).append(r)
        self._by_gene = MappingProxyType({k: tuple(v) for k, v in by_gene.items()})
        self._by_drug = MappingProxyType({k: tuple(v) for k, v in by_drug.items()})
        # loci depend only on the rules and the transcript models: computed once per drug/set
        self._loci_cache: dict[tuple[str, int], list[tuple[str, str, int, int]]] = {}
        self._frozen = True

    def __setattr__(self, name: str, value: object) -> None:
        if getattr(self, "_frozen", False):
            raise AttributeError("KnowledgeBase is immutable after load")
        object.__setattr__(self, name, value)

    # --- loading ----------------------------------------------------------------------------
    @classmethod
    def load(cls, extra: Sequence[Path | str] = (), *, replace: bool = False) -> KnowledgeBase:
        """Shipped table plus site tables (or only the site tables with ``replace=True``).

        Raises ``KnowledgeBaseError`` naming the file and row on any invalid row, unknown gene,
        drug, numbering or consequence term, duplicate, or a residue that contradicts the
        shipped residue facts.
        """
        sources: list[tuple[str, bytes]] = [] if replace else [_resource_text(KB_FILE)]
        for p in extra:
            path = Path(p)
            try:
                sources.append((str(path), path.read_bytes()))
            except OSError as exc:
                raise KnowledgeBaseError(
                    f"cannot read table: {exc.strerror}", source=str(path)
                ) from exc
        if not sources:
            raise KnowledgeBaseError("no knowledge-base table given")
        drugs = _load_drugs()
        facts = _load_facts()
        ts = load_transcripts("GRCh38")
        numbering = _numbering_index(ts)
        parsed: list[tuple[str, int, dict[str, str]]] = []
        tables: list[TableInfo] = []
        for name, data in sources:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise KnowledgeBaseError("not UTF-8 text", source=name) from exc
            directives, rows = _read_tsv(text, name)
            versions = directives.get("version", [])
            if len(versions) != 1 or not versions[0]:
                raise KnowledgeBaseError(
                    "needs exactly one '# version: X' header line", source=name
                )
            for d in directives.get("drug", []):
                parts = [x.strip() for x in d.split("|")]
                if len(parts) < 2 or not parts[0] or not parts[1]:
                    raise KnowledgeBaseError(
                        f"bad drug declaration {d!r} (write '# drug: NAME | CLASS | SYN; SYN')",
                        source=name,
                    )
                syn = _split_list(parts[2]) if len(parts) > 2 else []
                drugs.add(parts[0], parts[1], syn, name)
            if rows:
                cols = set(rows[0][1])
                missing = [c for c in _REQUIRED if c not in cols]
                unknown = [c for c in cols if c not in COLUMNS and not c.startswith("x_")]
                if missing:
                    raise KnowledgeBaseError(f"missing columns: {', '.join(missing)}", source=name)
                if unknown:
                    raise KnowledgeBaseError(
                        f"unknown columns: {', '.join(sorted(unknown))} (extra columns must start "
                        "with 'x_')",
                        source=name,
                    )
            tables.append(TableInfo(name, versions[0], hashlib.sha256(data).hexdigest(), len(rows)))
            parsed.extend((name, n, r) for n, r in rows)
        rules = _build_rules(parsed, drugs, numbering)
        gaps = _wt_tp53_gaps(rules, drugs)
        if gaps and not replace:
            raise KnowledgeBaseError(gaps[0])
        kb = cls(tables, rules, drugs, facts, numbering, gaps)
        kb._check_groups()
        kb._check_residues(None, ts)
        return kb

    def _check_groups(self) -> None:
        defined = {(r.gene, r.group) for r in self.rows if r.group and r.kind != "biallelic"}
        for r in self.rows:
            if r.kind == "biallelic" and (r.gene, r.variant) not in defined:
                raise KnowledgeBaseError(
                    f"biallelic rule names group {r.variant!r}, which no {r.gene} row defines",
                    source=r.source,
                    record=r.record,
                )

    # --- residue validation -----------------------------------------------------------------
    def validate(self, proteins: Callable[[str], str | None] | None = None) -> list[str]:
        """Check every named residue; raise on a mismatch, return what could not be checked.

        ``proteins(accession)`` gives a translated protein (1-letter, 'X' unknown) and is
        authoritative where it knows the residue; the shipped residue facts cover the rest.
        """
        return self._check_residues(proteins, load_transcripts("GRCh38"))

    def _residue(
        self, acc: str, pos: int, proteins: Callable[[str], str | None] | None
    ) -> tuple[str, str] | None:
        seq = proteins(acc) if proteins else None
        if seq and 1 <= pos <= len(seq) and seq[pos - 1] not in ("X", "*"):
            return seq[pos - 1], "the translated FASTA protein"
        fact = self._facts.get((acc, pos))
        if fact is not None:
            return fact.aa, f"residue fact ({fact.source})"
        return None

    def _check_residues(
        self, proteins: Callable[[str], str | None] | None, ts: TranscriptSet
    ) -> list[str]:
        warnings: list[str] = []
        seen: set[tuple[str, int]] = set()
        for r in self.rows:
            for pos, aa in r.residues:
                found = self._residue(r.numbering, pos, proteins)
                if found is None:
                    if (r.id, pos) not in seen:
                        warnings.append(
                            f"{r.source}, {r.record}: {aa}{pos} on {r.numbering} not verifiable "
                            "(no FASTA sequence there and no residue fact)"
                        )
                        seen.add((r.id, pos))
                    continue
                actual, where = found
                if actual != aa:
                    raise KnowledgeBaseError(
                        self._mismatch_message(r, pos, aa, actual, where, proteins, ts),
                        source=r.source,
                        record=r.record,
                    )
        if proteins is not None:
            for (acc, pos), fact in self._facts.items():
                seq = proteins(acc)
                if seq and 1 <= pos <= len(seq) and seq[pos - 1] not in ("X", fact.aa):
                    warnings.append(
                        f"{RESIDUES_FILE}: {acc} residue {pos} is {fact.aa} in the residue facts but "
                        f"{seq[pos - 1]} in the FASTA translation (wrong FASTA or build?)"
                    )
        return warnings

    def _mismatch_message(
        self,
        r: Rule,
        pos: int,
        aa: str,
        actual: str,
        where: str,
        proteins: Callable[[str], str | None] | None,
        ts: TranscriptSet,
    ) -> str:
        msg = (
            f"{r.gene} {r.variant} names {_aa3(aa)} ({aa}) at {r.numbering} residue {pos}, but that "
            f"residue is {_aa3(actual)} ({actual}) according to {where}"
        )
        src = ts.get(r.numbering)
        for acc, (gene, tx) in self._numbering.items():
            if gene != r.gene or not acc.startswith("NP_") or acc == r.numbering:
                continue
            other = self._residue(acc, pos, proteins)
            if other is None or other[0] != aa:
                continue
            msg += (
                f". Residue {pos} is {aa} in {acc} ({tx.protein_length}-aa isoform): the row looks "
                f"written in that numbering; set numbering to {acc}"
            )
            back = map_residue(pos, tx, src) if src is not None else None
            if back is not None:
                renamed = re.sub(rf"(?<![0-9]){aa}{pos}(?![0-9])", f"{aa}{back}", r.variant)
                msg += f", or write {renamed} on {r.numbering}"
            break
        return msg

    # --- queries ----------------------------------------------------------------------------
    def canonical_drug(self, name: str) -> str:
        """The vocabulary name of a drug or synonym (``SNDX-5613`` -> ``revumenib``)."""
        canon = self._alias.get(name.strip().lower())
        if canon is None or canon not in self.drugs:
            raise KnowledgeBaseError(
                f"unknown drug {name!r}; the knowledge base has: {', '.join(self.drugs)}"
            )
        return canon

    def rules_for(self, drug: str) -> tuple[Rule, ...]:
        return self._by_drug.get(drug, ())

    def group_rules(self, gene: str, group: str) -> list[Rule]:
        """Usable single-allele rules of one named allele class (for biallelic rules)."""
        return [
            r
            for r in self._by_gene.get(gene, ())
            if r.group == group and r.kind != "biallelic" and r.used_in_calls
        ]

    def function_of(self, annotation: Annotation) -> tuple[str, Tp53Function | None] | None:
        """The measured-function class of a TP53 allele, with its assay values when measured.

        Truncating alleles are ``loss_of_function``; missense alleles take the shipped class
        (``no_data`` when unmeasured); other protein-altering alleles (in-frame indels,
        stop_lost) have ``no_data``; alleles that do not change the protein have no class.
        """
        if annotation.gene != "TP53":
            return None
        if set(annotation.consequence) & CONSEQUENCE_CLASSES["truncating"]:
            return "loss_of_function", None
        pc = annotation.protein
        if pc is None or pc.kind not in _ALTERING:
            return None
        if pc.kind == "missense":
            fn = self._tp53.get(pc.short)
            return (fn.cls, fn) if fn is not None else ("no_data", None)
        return "no_data", None

    def match(self, annotation: Annotation, *, include_unconfirmed: bool = False) -> list[Rule]:
        """Rules whose single-allele condition this allele satisfies (all drugs).

        MEN1 rows written in NP_000235.2 numbering match through ``annotation.legacy_protein``,
        MANE-numbered rows through ``annotation.protein``. Biallelic rules are not returned:
        they need the whole sample (``calls.call_sample``).
        """
        rules = self._by_gene.get(annotation.gene, ())
        if not rules:
            return []
        fn = self.function_of(annotation) if annotation.gene == "TP53" else None
        cls = fn[0] if fn is not None else None
        return [
            r
            for r in rules
            if (include_unconfirmed or r.used_in_calls) and r.matches(annotation, cls)
        ]

    def loci(self, drug: str, transcripts: TranscriptSet) -> list[tuple[str, str, int, int]]:
        """(label, chrom, start, end) that must be covered to say nothing was found for ``drug``.

        Codons of residue-level rules; the codons of a range; for consequence-class rules the
        coding exons and the splice dinucleotides bordering coding exons of the gene's MANE
        transcript. Only usable resistance rows count (sensitivity_retained rows add no locus).
        """
        key = (drug, id(transcripts))
        hit = self._loci_cache.get(key)
        if hit is None:
            hit = self._loci_cache[key] = self._compute_loci(drug, transcripts)
        return list(hit)

    def _compute_loci(
        self, drug: str, transcripts: TranscriptSet
    ) -> list[tuple[str, str, int, int]]:
        out: dict[tuple[str, int, int], str] = {}
        for r in self.rules_for(drug):
            if not r.used_in_calls or r.effect in ("sensitivity_retained", "no_known_effect"):
                continue
            members = self.group_rules(r.gene, r.variant) if r.kind == "biallelic" else [r]
            for m in members:
                for label, chrom, a, b in _rule_loci(m, transcripts):
                    out.setdefault((chrom, a, b), label)
        spans = list(out)
        kept = [
            (c, a, b)
            for c, a, b in spans
            if not any(
                c2 == c and a2 <= a and b <= b2 and (a2, b2) != (a, b) for c2, a2, b2 in spans
            )
        ]  # a codon inside a whole coding exon needs no line of its own
        return [(out[k], *k) for k in sorted(kept)]

    def summary(self) -> KnowledgeBaseOut:
        return KnowledgeBaseOut(
            version=self.version,
            sha256=self.sha256,
            sources=list(self.sources),
            rows=len(self.rows),
        )


def _wt_tp53_gaps(rules: Sequence[Rule], drugs: _Drugs) -> list[str]:
    """Drugs that need wild-type p53 but lack a usable function row for some class.

    Fatal with the shipped table (a TP53 allele of that class would fall silently through);
    a warning for site tables used alone (``--kb-replace``), whose author decides.
    """
    named = {d for r in rules for d in r.drugs}
    out = []
    for drug in drugs.wt_tp53:
        if drug not in named:
            continue
        covered = {
            c
            for r in rules
            if drug in r.drugs and r.kind == "function" and r.used_in_calls
            for c in r.classes
        }
        missing = [c for c in FUNCTION_CLASSES if c not in covered]
        if missing:
            out.append(
                f"{drug} requires wild-type TP53 but no usable function row covers "
                f"{', '.join(missing)}: a TP53 allele of that class would fall through"
            )
    return out


def _build_rules(
    parsed: Sequence[tuple[str, int, dict[str, str]]],
    drugs: _Drugs,
    numbering: Mapping[str, tuple[str, Transcript]],
) -> list[Rule]:
    rules: list[Rule] = []
    ids: dict[str, str] = {}
    keys: dict[tuple[object, ...], str] = {}
    for source, line, raw in parsed:
        rid = raw.get("id", "") or f"line {line}"
        record = f"row {rid} (line {line})"
        fields = {k: v for k, v in raw.items() if not k.startswith("x_")}
        try:
            row = RuleRow.model_validate(fields)
        except ValidationError as exc:
            e = exc.errors()[0]
            col = ".".join(str(x) for x in e["loc"])
            value = fields.get(col, "")
            raise KnowledgeBaseError(
                f"column {col} = {value!r}: {e['msg']}", source=source, record=record
            ) from None
        if row.id in ids:
            raise KnowledgeBaseError(
                f"duplicate id {row.id} (first at {ids[row.id]})", source=source, record=record
            )
        ids[row.id] = f"{source} line {line}"
        try:
            new = _row_rule(row, source, line, drugs, numbering)
        except ValueError as exc:
            raise KnowledgeBaseError(str(exc), source=source, record=record) from None
        rules.append(new)
        key = (
            new.gene,
            new.kind,
            new.numbering,
            new.variant,
            new.consequence,
            frozenset(new.drugs),
            new.effect,
            new.citations,
        )
        if key in keys:
            raise KnowledgeBaseError(
                f"duplicates row {keys[key]} (same condition, drugs, effect and citations)",
                source=source,
                record=record,
            )
        keys[key] = f"{row.id} ({source} line {line})"
    return rules


def _row_rule(
    row: RuleRow,
    source: str,
    line: int,
    drugs: _Drugs,
    numbering: Mapping[str, tuple[str, Transcript]],
) -> Rule:
    hit = numbering.get(row.numbering)
    if hit is None:
        known = sorted(a for a, (g, _) in numbering.items() if g == row.gene)
        raise ValueError(
            f"unknown numbering {row.numbering!r} for {row.gene} (known: {', '.join(known)})"
        )
    gene, tx = hit
    if gene != row.gene:
        raise ValueError(f"numbering {row.numbering} belongs to {gene}, not {row.gene}")
    variant = row.variant
    residues: list[tuple[int, str]] = []
    start = end = None
    consequence = _expand_consequence(row.consequence)
    if row.rule == "protein_change":
        if row.consequence:
            raise ValueError("a protein_change rule takes no consequence (the change implies it)")
        variant, residues, start = _parse_change(row.variant)
        end = start
    elif row.rule == "residue":
        residues = _parse_residues(row.variant)
        variant = ";".join(f"{a}{p}" for p, a in residues)
    elif row.rule == "range":
        if not consequence:
            raise ValueError("a range rule needs consequence terms (e.g. missense_variant)")
        start, end, residues = _parse_range(row.variant)
        variant = f"{residues[0][1]}{start}_{residues[1][1]}{end}"
    elif row.rule == "gene_class":
        if row.variant:
            raise ValueError("a gene_class rule takes no variant (use range for residue limits)")
        if not consequence:
            raise ValueError("a gene_class rule needs consequence terms or a class (truncating)")
    elif row.rule == "function":
        if row.gene != "TP53":
            raise ValueError("a function rule is for TP53 (measured-function classes)")
        if row.consequence:
            raise ValueError("a function rule takes no consequence (truncating = loss_of_function)")
        classes = _split_list(row.variant, ";")
        bad = [c for c in classes if c not in FUNCTION_CLASSES]
        if not classes or bad:
            raise ValueError(
                f"function classes {', '.join(bad) or '(none)'} unknown "
                f"(known: {', '.join(FUNCTION_CLASSES)})"
            )
        variant = ";".join(classes)
    else:  # biallelic
        if row.consequence:
            raise ValueError("a biallelic rule takes no consequence (its group rows define it)")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", row.variant):
            raise ValueError("a biallelic rule names the group of its alleles in variant")
    for pos, _ in residues:
        if pos > tx.protein_length + 1:
            raise ValueError(
                f"residue {pos} is beyond the end of {tx.protein} ({tx.protein_length} aa)"
            )
    names = _split_list(row.drug)
    canon: list[str] = []
    for d in names:
        c = drugs.alias.get(d.lower())
        if c is None:
            raise ValueError(
                f"unknown drug {d!r} (known: {', '.join(drugs.order)}; a site table may declare "
                "one with '# drug: NAME | CLASS')"
            )
        if drugs.classes[c] != row.drug_class:
            raise ValueError(f"drug {c} is a {drugs.classes[c]}, not a {row.drug_class}")
        if c in canon:
            raise ValueError(f"drug {c} listed twice")
        canon.append(c)
    kinds = tuple(_split_list(row.evidence_kind))
    cites = tuple(_split_list(row.citations, ";"))
    indications: tuple[str, ...] = ()
    if row.indications != "any":
        indications = tuple(_split_list(row.indications, ";"))
        unknown = [d for d in indications if d not in DISEASES]
        if unknown:
            raise ValueError(
                f"unknown OncoTree code(s) {', '.join(unknown)} in indications (known: "
                f"{', '.join(DISEASES)}, or 'any')"
            )
    return Rule(
        id=row.id,
        gene=row.gene,
        kind=row.rule,
        numbering=tx.protein,
        variant=variant,
        consequence=consequence,
        consequence_text=row.consequence,
        group=row.group,
        drugs=tuple(canon),
        drug_class=row.drug_class,
        effect=row.effect,
        evidence_kind=kinds,
        level=row.level,
        external_level=row.external_level,
        magnitude=row.magnitude,
        disease=row.disease,
        citations=cites,
        status=row.status,
        provenance=row.provenance,
        note=row.note,
        source=source,
        line=line,
        residues=tuple(residues),
        start=start,
        end=end,
        indications=indications,
        classes=frozenset(variant.split(";")) if row.rule == "function" else frozenset(),
    )


def _runs(positions: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted genomic positions grouped into contiguous (start, end) runs."""
    out: list[tuple[int, int]] = []
    for p in sorted(set(positions)):
        if out and p == out[-1][1] + 1:
            out[-1] = (out[-1][0], p)
        else:
            out.append((p, p))
    return out


def _codon_span(tx: Transcript, first: int, last: int) -> list[tuple[int, int]]:
    """Genomic intervals of codons first..last of ``tx``."""
    t0 = tx.cds_tx_start + (first - 1) * 3
    t1 = tx.cds_tx_start + last * 3 - 1
    out = []
    for ts, te in tx.exon_tx:
        a, b = max(ts, t0), min(te, t1)
        if a > b:
            continue
        g1, g2 = tx.tx_to_genomic(a), tx.tx_to_genomic(b)
        out.append((min(g1, g2), max(g1, g2)))
    return sorted(out)


def _rule_loci(r: Rule, ts: TranscriptSet) -> list[tuple[str, str, int, int]]:
    tx = ts.get(r.numbering)
    if tx is None:
        return []
    if r.kind in ("protein_change", "residue"):
        out = []
        for pos, aa in r.residues[:1] if r.kind == "protein_change" else r.residues:
            for a, b in _runs(tx.codon_genomic(pos)):
                out.append((f"{r.gene} {aa}{pos} ({r.numbering})", tx.chrom, a, b))
        return out
    if r.kind == "range":
        assert r.start is not None and r.end is not None
        return [
            (f"{r.gene} codons {r.start}-{r.end} ({r.numbering})", tx.chrom, a, b)
            for a, b in _codon_span(tx, r.start, r.end)
        ]
    out = []
    coding = set()
    for i, (s, e) in enumerate(tx.exons, start=1):
        a, b = max(s, tx.cds_start), min(e, tx.cds_end)
        if a <= b:
            coding.add(i - 1)
            out.append((f"{r.gene} coding exon {i} ({tx.accession})", tx.chrom, a, b))
    if r.consequence & _SPLICE or r.kind == "function":
        for a, b in tx.splice_sites():
            left, right = tx.exon_index(a - 1), tx.exon_index(b + 1)
            exon = left if left is not None else right
            if exon is None or exon not in coding:
                continue
            donor = (left is not None) == (tx.strand == 1)
            kind = "donor" if donor else "acceptor"
            out.append((f"{r.gene} exon {exon + 1} splice {kind} ({tx.accession})", tx.chrom, a, b))
    return out


def proteins_from(annotator: Annotator) -> Callable[[str], str | None]:
    """Protein lookup (by NP_ or NM_ accession) from an annotator's translated transcripts."""
    table: dict[str, str] = {}
    for ctx in annotator.contexts.values():
        p = ctx.protein[:-1] if ctx.protein.endswith("*") else ctx.protein
        table[ctx.tx.protein] = p
        table[ctx.tx.accession] = p
    return table.get


__all__ = [
    "COLUMNS",
    "CONSEQUENCE_CLASSES",
    "EVIDENCE_KINDS",
    "GENES",
    "KnowledgeBase",
    "Rule",
    "RuleRow",
    "TableInfo",
    "check_disease",
    "proteins_from",
    "schema_json",
]
