"""Text for ``varannot kb show`` and ``varannot kb validate`` (pure functions; the CLI prints)."""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .errors import KnowledgeBaseError
from .knowledge import DISEASES, KnowledgeBase, proteins_from, schema_json
from .models import Build
from .transcripts import load_transcripts

SHOW_COLUMNS = (
    "id",
    "gene",
    "rule",
    "variant",
    "mane",
    "drugs",
    "effect",
    "level",
    "status",
    "indications",
    "citations",
)


def show_rows(kb: KnowledgeBase) -> list[dict[str, str]]:
    """One dict per table row; ``mane`` gives the MANE numbering of isoform-numbered rows."""
    ts = load_transcripts("GRCh38")
    out = []
    for r in kb.rows:
        cond = r.variant
        if r.consequence_text and r.kind != "protein_change":
            cond = f"{cond} {r.consequence_text}".strip()
        out.append(
            {
                "id": r.id,
                "gene": r.gene,
                "rule": r.kind,
                "variant": f"{r.numbering} {cond}".strip(),
                "mane": r.mane_equivalent(ts) or "",
                "drugs": ";".join(r.drugs),
                "effect": r.effect,
                "level": r.level,
                "status": r.status,
                "indications": r.indication_text,
                "citations": "; ".join(r.citations),
            }
        )
    return out


def _header(kb: KnowledgeBase) -> list[str]:
    lines = [f"# knowledge base {kb.version}  sha256 {kb.sha256}"]
    for t in kb.tables:
        lines.append(f"# table {t.path}: version {t.version}, {t.rows} rows, sha256 {t.sha256}")
    lines.append("# drugs: " + ", ".join(f"{d} ({c})" for d, c in kb.drugs.items()))
    lines.append(
        "# require wild-type TP53: "
        + ", ".join(f"{d} [{'; '.join(c)}]" for d, c in kb.wt_tp53.items())
    )
    lines.append(
        f"# TP53 measured function: {kb.function_source} (varannot.data/tp53_function.tsv)"
    )
    lines.append(
        "# indications: OncoTree codes (any = not disease-specific); "
        + ", ".join(f"{k} {v}" for k, v in DISEASES.items())
    )
    lines += [f"# warning: {w}" for w in kb.warnings]
    return lines


def show_text(kb: KnowledgeBase) -> str:
    """The knowledge base as a header plus a TSV of its rows."""
    lines = _header(kb)
    from .writers import safe_cell

    lines.append("\t".join(SHOW_COLUMNS))
    for row in show_rows(kb):
        lines.append("\t".join(safe_cell(row[c]) for c in SHOW_COLUMNS))
    return "\n".join(lines) + "\n"


_LINE = re.compile(r"\(line (\d+)\)|^line (\d+)$")
MAX_ERRORS = 200


def load_all_errors(files: Sequence[Path]) -> KnowledgeBase:
    """Load the site tables alone; on bad rows raise one error that lists every one of them.

    The loader stops at the first bad row, so each bad row found is commented out of a scratch
    copy (line numbers kept) and the load retried, until the tables load or an error is not
    about a row (a header, a missing column: then nothing after it can be judged).
    """
    with tempfile.TemporaryDirectory(prefix="varannot-kb-") as tmp:
        copies: dict[str, str] = {}
        lines: dict[str, list[str]] = {}
        for i, f in enumerate(files):
            try:
                text = Path(f).read_bytes().decode("utf-8")
            except OSError as exc:
                raise KnowledgeBaseError(
                    f"cannot read table: {exc.strerror}", source=str(f)
                ) from exc
            except UnicodeDecodeError as exc:
                raise KnowledgeBaseError("not UTF-8 text", source=str(f)) from exc
            copy = str(Path(tmp) / f"{i}" / Path(f).name)
            Path(copy).parent.mkdir()
            copies[copy] = str(f)
            lines[copy] = text.splitlines(keepends=True)

        def original(text: str) -> str:
            for c, f in copies.items():
                text = text.replace(c, f)
            return text

        errors: list[str] = []
        while True:
            for c, ls in lines.items():
                Path(c).write_text("".join(ls), encoding="utf-8")
            try:
                KnowledgeBase.load(list(copies), replace=True)
            except KnowledgeBaseError as exc:
                errors.append(original(str(exc)))
                m = _LINE.search(exc.record or "")
                rows = lines.get(exc.source or "")
                if m is None or rows is None or len(errors) >= MAX_ERRORS:
                    break
                n = int(m.group(1) or m.group(2))
                if not 1 <= n <= len(rows) or rows[n - 1].startswith("#"):
                    break
                rows[n - 1] = "# (bad row, left out while validating the rest)\n"
                continue
            if not errors:
                return KnowledgeBase.load(files, replace=True)  # named by the real paths
            break
    if len(errors) == 1:
        raise KnowledgeBaseError(errors[0])
    raise KnowledgeBaseError(f"{len(errors)} problems:\n" + "\n".join(f"  {e}" for e in errors))


def validate_files(
    files: Sequence[Path],
    *,
    fasta: Path | str | None = None,
    build: Build | None = None,
) -> str:
    """Validate site tables alone and on top of the shipped table; a report, or an error.

    Without ``fasta`` residues are checked against the shipped residue facts and any residue
    not covered there is reported as unverified; with ``fasta`` (and ``build``, or a FASTA
    whose build can be detected) the translated proteins decide.
    """
    if not files:
        raise KnowledgeBaseError("no table given")
    alone = load_all_errors(files)
    proteins = None
    if fasta is not None:
        from .annotate import Annotator
        from .reference import FastaReference, check_gene_regions, check_models

        ref = FastaReference(fasta, build)
        if ref.build is None:
            raise KnowledgeBaseError(
                "cannot tell the FASTA's build: pass --build", source=str(fasta)
            )
        check_gene_regions(ref, ref.build)
        ann = Annotator(ref, ref.build)
        check_models(ref, ref.build, [p for c in ann.contexts.values() for p in c.problems])
        proteins = proteins_from(ann)
    warnings = alone.validate(proteins)
    lines = [
        f"OK {t.path}: {t.rows} rows, version {t.version}, sha256 {t.sha256}" for t in alone.tables
    ]
    try:
        combined = KnowledgeBase.load(files)
    except KnowledgeBaseError as exc:
        raise KnowledgeBaseError(
            f"valid alone, but cannot be used on top of the shipped table (use --kb-replace "
            f"or fix it): {exc.message}",
            source=exc.source,
            record=exc.record,
        ) from exc
    lines.append(f"OK on top of the shipped table: knowledge base {combined.version}")
    lines.append(
        "residues checked against "
        + ("proteins translated from " + str(fasta) if fasta else "the shipped residue facts")
    )
    lines += [f"warning: {w}" for w in warnings]
    return "\n".join(lines) + "\n"


def schema_text() -> str:
    """The JSON schema shipped as ``reference/knowledge_base.schema.json``."""
    return json.dumps(schema_json(), indent=2, sort_keys=True) + "\n"
