"""Protein-level HGVS input (``MEN1:p.Met327Ile``, ``NP_000235.2:p.(Met327Ile)``, ``TP53:p.R175H``).

Pipelines and clinicians often only have the protein change. It cannot be turned into one
genomic allele (Met->Ile has three codons), so it becomes a protein-level ``Annotation`` that the
knowledge base can match, with both numberings where the gene has two (MEN1).

The danger is the numbering. Menin resistance residues are published on the 615-aa isoform
(NP_000235.2: M327, G331, T349) while MANE NP_001357188.2 (610 aa) calls them M322, G326, T344.
A bare gene symbol means MANE numbering; when the stated residue is wrong on MANE but right on
the literature isoform, guessing would silently annotate the wrong residue, so the input is
rejected with the exact MANE name to use instead. Residues are checked against the protein
translated from the server's FASTA; where the FASTA has no sequence ('X'), the shipped residue
facts (``reference/residues.tsv``) still catch a wrong numbering, and the entry is accepted
flagged ``ref_unverified``.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from functools import cache

from . import shipped
from .annotate import Annotator
from .errors import HGVSParseError
from .hgvs import AA1, AA3
from .models import Annotation, GenomicVariant, ProteinChange
from .transcripts import Transcript, map_residue

__all__ = ["ProteinInputError", "ProteinVariant", "annotate_protein", "parse_protein"]

_AA = r"(?:[A-Z][a-z]{2}|[A-Z*])"
_P = re.compile(
    r"^(?P<acc>[A-Za-z0-9_.\-]+)(?:\((?P<gene>[A-Za-z0-9]+)\))?:p\."
    r"(?P<body>\((?P<inner>[^()]*)\)|[^()]*)$"
)
_SUB = re.compile(rf"^(?P<ref>{_AA})(?P<pos>\d+)(?P<alt>{_AA}|=)$")
_ACCESSION = re.compile(r"^(?:NP|NM|XP|XM|ENSP|ENST)_?\d+(?:\.\d+)?$", re.IGNORECASE)


class ProteinInputError(HGVSParseError):
    """A p. change that parses but cannot be placed: unknown numbering or wrong residue."""

    status = 422
    title = "Protein change does not fit the reference protein"


@dataclass(frozen=True, slots=True)
class ProteinQuery:
    """A parsed single-residue substitution, 1-letter residues ('*' = stop)."""

    text: str
    numbering: str  # accession or gene symbol as typed
    gene_hint: str | None  # 'NP_000235.2(MEN1)'
    ref: str
    pos: int
    alt: str
    predicted: bool  # written in parentheses


@dataclass(slots=True)
class ProteinVariant:
    """A protein-level entry placed on the transcript models.

    ``chrom``/``pos``/``ref`` locate the codon (plus strand, lowest coordinate first, as the
    FASTA has it); ``alt`` is a symbolic allele (``<M322I>``) because the codon change itself
    is unknown: a consumer must not read it as a nucleotide change.
    """

    query: ProteinQuery
    annotation: Annotation
    chrom: str
    pos: int
    ref: str
    alt: str
    flags: list[str] = field(default_factory=list)


def _residue(token: str, text: str) -> str:
    if token == "=":
        return "="
    if len(token) == 3:
        if token not in AA1 or token == "Xaa":
            raise HGVSParseError(f"unknown amino acid {token!r}", source=text)
        return AA1[token]
    if token not in AA3 or token in ("X", "U"):
        hint = " (use * or Ter for a stop)" if token == "X" else ""
        raise HGVSParseError(f"unknown amino acid {token!r}{hint}", source=text)
    return token


def parse_protein(text: str) -> ProteinQuery:
    """Parse ``NUMBERING:p.RefPosAlt`` (1- or 3-letter, optional parentheses)."""
    m = _P.match(text.strip().replace(" ", ""))
    if not m:
        raise HGVSParseError(
            "not a protein change of the form GENE:p.Met327Ile or NP_...:p.(Met327Ile)",
            source=text,
        )
    body = m["inner"] if m["inner"] is not None else m["body"]
    s = _SUB.match(body)
    if not s:
        raise HGVSParseError(
            f"p.{m['body']} is not a single-residue substitution; only missense, nonsense and "
            "synonymous changes can be given at protein level (give the c. or g. change for "
            "anything else)",
            source=text,
        )
    ref = _residue(s["ref"], text)
    alt = _residue(s["alt"], text)
    if alt == "=":
        alt = ref
    pos = int(s["pos"])
    if pos < 1:
        raise HGVSParseError("residue numbers start at 1", source=text)
    return ProteinQuery(
        text=text.strip(),
        numbering=m["acc"],
        gene_hint=m["gene"],
        ref=ref,
        pos=pos,
        alt=alt,
        predicted=m["inner"] is not None,
    )


@cache
def _residue_facts() -> dict[tuple[str, int], str]:
    """Curated single residues per protein accession (shipped with the knowledge base)."""
    try:
        text = shipped.read_text("residues.tsv")
    except (FileNotFoundError, ModuleNotFoundError):  # pragma: no cover - optional data file
        return {}
    rows = csv.DictReader(
        io.StringIO("\n".join(ln for ln in text.splitlines() if ln and not ln.startswith("#"))),
        delimiter="\t",
    )
    out: dict[tuple[str, int], str] = {}
    for r in rows:
        try:
            out[(r["accession"], int(r["position"]))] = r["aa"].strip().upper()
        except (KeyError, ValueError, AttributeError):
            continue
    return out


def _known_residue(annotator: Annotator, tx: Transcript, pos: int) -> tuple[str | None, bool]:
    """(residue, from_fasta): the FASTA's translation, else a shipped fact, else None."""
    ctx = annotator.contexts.get(tx.accession)
    aa = ctx.protein[pos - 1] if ctx is not None and pos <= len(ctx.protein) else "X"
    if aa != "X":
        return aa, True
    return _residue_facts().get((tx.protein, pos)), False


def _label(tx: Transcript, mane: Transcript) -> str:
    if tx is mane:
        return "MANE"
    return f"{tx.protein_length}-aa"


def _resolve(q: ProteinQuery, annotator: Annotator) -> tuple[Transcript, bool]:
    """The transcript whose numbering the query uses, and whether a gene symbol named it."""
    ts = annotator.transcripts
    name = q.numbering
    gene = name.upper()
    if gene in ts.mane and not _ACCESSION.match(name):
        tx, by_symbol = ts.mane[gene], True
    else:
        found = ts.get(name)
        if found is None or ("." in name and name not in (found.protein, found.accession)):
            modeled = sorted({t.protein for t in ts.transcripts})
            raise ProteinInputError(
                f"{name} is not a modeled protein or gene; use a gene symbol (MANE numbering: "
                + ", ".join(sorted(ts.mane))
                + ") or one of "
                + ", ".join(modeled),
                source=q.text,
            )
        tx, by_symbol = found, False
    if q.gene_hint and q.gene_hint.upper() != tx.gene:
        raise ProteinInputError(f"{name} is a {tx.gene} protein, not {q.gene_hint}", source=q.text)
    return tx, by_symbol


def _check_residue(q: ProteinQuery, annotator: Annotator, tx: Transcript, by_symbol: bool) -> bool:
    """Raise unless the stated residue is the reference one; True when it was unverifiable."""
    ts = annotator.transcripts
    mane = ts.mane[tx.gene]
    if q.pos > tx.protein_length:
        extra = " (a stop-loss needs the ext notation, e.g. given as c.)" if q.ref == "*" else ""
        raise ProteinInputError(
            f"{tx.gene} residue {q.pos} is beyond the end of {tx.protein} "
            f"({tx.protein_length} aa){extra}",
            source=q.text,
        )
    actual, from_fasta = _known_residue(annotator, tx, q.pos)
    if actual is None or actual == q.ref:
        return not from_fasta
    legacy = ts.legacy.get(tx.gene)
    if by_symbol and legacy is not None:
        lit, _ = _known_residue(annotator, legacy, q.pos)
        if lit == q.ref:
            mapped = map_residue(q.pos, legacy, mane)
            ref3 = AA3[q.ref]
            head = (
                f"{tx.gene} residue {q.pos} is {AA3[actual]} on {mane.protein} (MANE); "
                f"{ref3}{q.pos} is {legacy.protein} ({legacy.protein_length}-aa) numbering"
            )
            if mapped is None:
                raise ProteinInputError(
                    f"{head}, a residue MANE does not have — name the accession",
                    source=q.text,
                )
            raise ProteinInputError(
                f"{head} = {mane.protein}:p.{ref3}{mapped}{AA3[q.alt]} — name the accession",
                source=q.text,
            )
    raise ProteinInputError(
        f"{tx.gene} residue {q.pos} is {AA3[actual]} on {tx.protein} ({_label(tx, mane)}), "
        f"not {AA3[q.ref]}",
        source=q.text,
    )


def _change(accession: str, ref: str, pos: int, alt: str, predicted: bool) -> ProteinChange:
    if alt == ref:
        body, short, kind = f"{AA3[ref]}{pos}=", f"{ref}{pos}=", "synonymous"
    else:
        body, short = f"{AA3[ref]}{pos}{AA3[alt]}", f"{ref}{pos}{alt}"
        kind = "nonsense" if alt == "*" else "missense"
    hgvs = f"p.({body})" if predicted else f"p.{body}"
    return ProteinChange(accession, hgvs, short, kind, pos, pos, ref, alt)


def _consequence(ref: str, alt: str) -> str:
    """SO term of a substitution inside the protein (the stop codon itself is refused)."""
    if ref == alt:
        return "synonymous_variant"
    return "stop_gained" if alt == "*" else "missense_variant"


def _with_numbering(q: ProteinQuery, numbering: str, annotator: Annotator) -> ProteinQuery:
    """``MEN1:p.Met327Ile`` plus a separately stated numbering (``NP_000235.2``)."""
    ts = annotator.transcripts
    tx = ts.get(numbering)
    if tx is None or ("." in numbering and numbering not in (tx.protein, tx.accession)):
        raise ProteinInputError(
            f"numbering {numbering} is not a modeled protein; use one of "
            + ", ".join(sorted({t.protein for t in ts.transcripts})),
            source=q.text,
        )
    stated = q.numbering.upper()
    if stated in ts.mane and not _ACCESSION.match(q.numbering):
        if stated != tx.gene:
            raise ProteinInputError(
                f"{q.numbering} is not the gene of {numbering} ({tx.gene})", source=q.text
            )
    elif ts.get(q.numbering) is not tx:
        raise ProteinInputError(
            f"{q.numbering} and the stated numbering {numbering} disagree", source=q.text
        )
    return ProteinQuery(q.text, numbering, tx.gene, q.ref, q.pos, q.alt, q.predicted)


def annotate_protein(
    text: str, annotator: Annotator, numbering: str | None = None
) -> ProteinVariant:
    """Place a protein change on MANE (and the literature numbering) or raise a 4xx error.

    ``numbering`` (a protein or transcript accession) says which numbering the residue uses
    when the text names only the gene, as in a table column next to ``MEN1:p.Met327Ile``.
    """
    q = parse_protein(text)
    if numbering is not None:
        q = _with_numbering(q, numbering, annotator)
    tx, by_symbol = _resolve(q, annotator)
    if q.pos == 1 and q.ref == "M" and q.alt != "M":
        raise ProteinInputError(
            "a change of the initiating Met is p.(Met1?) (start lost); give the c. change",
            source=q.text,
        )
    unverified = _check_residue(q, annotator, tx, by_symbol)
    ts = annotator.transcripts
    mane = ts.mane[tx.gene]
    legacy = ts.legacy.get(tx.gene)
    flags = ["protein_level"]
    if unverified:
        flags.append("ref_unverified")
    mane_pos = q.pos if tx is mane else map_residue(q.pos, tx, mane)
    if mane_pos is None:
        flags.append("no_mane_equivalent")
    legacy_pos: int | None = None
    if legacy is not None:
        legacy_pos = q.pos if tx is legacy else map_residue(q.pos, tx, legacy)

    # the codon on the genome (plus strand) where the numbering's residue sits
    codon = tx.codon_genomic(q.pos)
    lo = min(codon)
    window = annotator.windows[tx.gene]
    ref_codon = "".join(window.base(g) for g in sorted(codon))
    exon_idx = mane.exon_index(codon[0]) if mane_pos is not None else tx.exon_index(codon[0])
    exon_tx = mane if mane_pos is not None else tx
    protein = (
        _change(mane.protein, q.ref, mane_pos, q.alt, q.predicted) if mane_pos is not None else None
    )
    short = protein.short if protein else _change(tx.protein, q.ref, q.pos, q.alt, False).short
    alt_symbol = f"<{short}>"
    ann = Annotation(
        variant=GenomicVariant(tx.chrom, lo, ref_codon, alt_symbol),
        gene=tx.gene,
        transcript=mane.accession,
        protein_accession=mane.protein,
        consequence=[_consequence(q.ref, q.alt)],
        hgvs_c="",
        hgvs_p=f"{mane.protein}:{protein.hgvs}" if protein else None,
        protein=protein,
        flags=list(flags),
        exon=f"{exon_idx + 1}/{len(exon_tx.exons)}" if exon_idx is not None else None,
    )
    if legacy is not None and legacy_pos is not None:
        lp = _change(legacy.protein, q.ref, legacy_pos, q.alt, q.predicted)
        ann.legacy_transcript = legacy.accession
        ann.legacy_protein = lp
        ann.hgvs_p_legacy = f"{legacy.protein}:{lp.hgvs}"
    return ProteinVariant(
        query=q,
        annotation=ann,
        chrom=tx.chrom,
        pos=lo,
        ref=ref_codon,
        alt=alt_symbol,
        flags=flags,
    )
