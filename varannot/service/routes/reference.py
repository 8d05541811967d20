"""``/v1/knowledge-base`` and ``/v1/transcripts``: what the server annotates against.

Lets a pipeline record the knowledge-base version and transcript models (MANE Select and
literature numbering) behind a result.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends

from ..deps import StateDep, authenticate
from ..schemas import KnowledgeBaseInfo, TranscriptList, TranscriptOut
from .common import _COMMON

router = APIRouter(prefix="/v1", dependencies=[Depends(authenticate)], responses=_COMMON)


@router.get("/knowledge-base", response_model=KnowledgeBaseInfo, summary="Loaded knowledge base")
async def knowledge_base(state: StateDep) -> KnowledgeBaseInfo:
    kb = state.engines.kb
    return KnowledgeBaseInfo(
        version=kb.version,
        sha256=kb.sha256,
        rows=len(kb.rows),
        sources=[Path(s).name for s in kb.sources],
        drugs=dict(kb.drugs),
    )


@router.get("/transcripts", response_model=TranscriptList, summary="Transcript models per build")
async def transcripts(state: StateDep) -> TranscriptList:
    out = []
    for build, engine in state.engines.engines.items():
        for t in engine.annotator.transcripts.transcripts:
            out.append(
                TranscriptOut(
                    build=build,
                    gene=t.gene,
                    transcript=t.accession,
                    protein=t.protein,
                    role=t.role,
                    chrom=t.chrom,
                    strand="+" if t.strand == 1 else "-",
                    cds_start=t.cds_start,
                    cds_end=t.cds_end,
                    protein_length=t.protein_length,
                    exons=len(t.exons),
                )  # fmt: skip
            )
    return TranscriptList(
        builds=list(state.engines.engines), default_build=state.engines.default, transcripts=out
    )
