"""MAF (Mutation Annotation Format) conventions shared by the MAF reader and writer.

MAF differs from VCF in its indels: no anchor base, ``-`` for the empty allele, and an
insertion placed *between* ``Start_Position`` and ``End_Position`` (the flanking bases). The
functions here convert one way and the other without a reference; the reader adds the anchor
base from the FASTA. Column names follow the GDC MAF specification and vcf2maf.
"""

from __future__ import annotations

from .models import Build
from .schema import ResultDocument, SampleOut, VariantOut
from .writers import tsv_rows

# Hugo_Symbol -> Entrez_Gene_Id (NCBI Gene), the four genes varannot annotates.
ENTREZ = {"MEN1": "4221", "BCL2": "596", "BAX": "581", "TP53": "7157"}

_BUILD_ALIASES: dict[str, Build] = {
    "grch38": "GRCh38", "38": "GRCh38", "hg38": "GRCh38", "grch38.p13": "GRCh38",
    "grch37": "GRCh37", "37": "GRCh37", "hg19": "GRCh37", "b37": "GRCh37",
    "grch37-lite": "GRCh37", "grch37lite": "GRCh37",
}  # fmt: skip


def maf_build(value: str) -> Build | None:
    """``NCBI_Build`` as written by GDC (GRCh38), TCGA legacy (37, GRCh37-lite), cBioPortal
    (GRCh37, hg19) -> build; None for empty or unknown values."""
    return _BUILD_ALIASES.get(value.strip().lower())


def vcf_to_maf(pos: int, ref: str, alt: str) -> tuple[int, int, str, str, str]:
    """VCF-style allele -> (Start_Position, End_Position, Reference_Allele, allele, Variant_Type).

    The shared leading bases (VCF's anchor) are removed; an insertion keeps the flanking
    positions (``Start`` = base before, ``End`` = base after), a deletion spans the deleted bases.
    """
    k = 0
    while k < min(len(ref), len(alt)) and ref[k] == alt[k]:
        k += 1
    r, a = ref[k:], alt[k:]
    if not r and not a:  # no change: report the first base as is
        return pos, pos, ref[:1], alt[:1], "SNP"
    if not r:
        start = pos + k - 1
        return start, start + 1, "-", a, "INS"
    start = pos + k
    end = start + len(r) - 1
    if not a:
        return start, end, r, "-", "DEL"
    if len(r) == len(a):
        kind = {1: "SNP", 2: "DNP", 3: "TNP"}.get(len(r), "ONP")
    else:
        kind = "INS" if len(a) > len(r) else "DEL"
    return start, end, r, a, kind


# Sequence Ontology term (most severe first in varannot) -> MAF Variant_Classification.
_CLASS = {
    "transcript_ablation": "Splice_Site",
    "exon_loss_variant": "Splice_Site",
    "splice_acceptor_variant": "Splice_Site",
    "splice_donor_variant": "Splice_Site",
    "stop_gained": "Nonsense_Mutation",
    "stop_lost": "Nonstop_Mutation",
    "start_lost": "Translation_Start_Site",
    "initiator_codon_variant": "Translation_Start_Site",
    "inframe_insertion": "In_Frame_Ins",
    "inframe_deletion": "In_Frame_Del",
    "missense_variant": "Missense_Mutation",
    "coding_sequence_variant": "Missense_Mutation",
    "splice_region_variant": "Splice_Region",
    "splice_donor_5th_base_variant": "Splice_Region",
    "splice_donor_region_variant": "Splice_Region",
    "splice_polypyrimidine_tract_variant": "Splice_Region",
    "synonymous_variant": "Silent",
    "stop_retained_variant": "Silent",
    "start_retained_variant": "Silent",
    "incomplete_terminal_codon_variant": "Silent",
    "5_prime_UTR_variant": "5'UTR",
    "5_prime_UTR_premature_start_codon_gain_variant": "5'UTR",
    "3_prime_UTR_variant": "3'UTR",
    "intron_variant": "Intron",
    "non_coding_transcript_exon_variant": "RNA",
    "upstream_gene_variant": "5'Flank",
    "downstream_gene_variant": "3'Flank",
    "intergenic_variant": "IGR",
}


def variant_classification(consequence: list[str], variant_type: str) -> str:
    """The MAF class of the most severe SO term; frameshift and protein-altering by type."""
    for term in consequence:
        if term == "frameshift_variant":
            return "Frame_Shift_Ins" if variant_type == "INS" else "Frame_Shift_Del"
        if term == "protein_altering_variant":
            if variant_type in ("INS", "DEL"):
                return "In_Frame_Ins" if variant_type == "INS" else "In_Frame_Del"
            return "Missense_Mutation"
        if term in _CLASS:
            return _CLASS[term]
    return "Targeted_Region"


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

# The GDC MAF columns in their order, then vcf2maf's annotation columns, then varannot's own.
STANDARD_COLUMNS = [
    "Hugo_Symbol", "Entrez_Gene_Id", "Center", "NCBI_Build", "Chromosome", "Start_Position",
    "End_Position", "Strand", "Variant_Classification", "Variant_Type", "Reference_Allele",
    "Tumor_Seq_Allele1", "Tumor_Seq_Allele2", "dbSNP_RS", "dbSNP_Val_Status",
    "Tumor_Sample_Barcode", "Matched_Norm_Sample_Barcode", "Match_Norm_Seq_Allele1",
    "Match_Norm_Seq_Allele2", "Tumor_Validation_Allele1", "Tumor_Validation_Allele2",
    "Match_Norm_Validation_Allele1", "Match_Norm_Validation_Allele2", "Verification_Status",
    "Validation_Status", "Mutation_Status", "Sequencing_Phase", "Sequence_Source",
    "Validation_Method", "Score", "BAM_File", "Sequencer", "Tumor_Sample_UUID",
    "Matched_Norm_Sample_UUID",
]  # fmt: skip
ANNOTATION_COLUMNS = [
    "HGVSc", "HGVSp", "HGVSp_Short", "Transcript_ID", "Exon_Number", "t_depth", "t_ref_count",
    "t_alt_count", "tumor_f", "Consequence", "FILTER",
]  # fmt: skip
VARANNOT_COLUMNS = [
    "varannot_hgvsp_legacy", "varannot_protein_change_legacy", "varannot_legacy_transcript",
    "varannot_flags", "varannot_rule_ids", "varannot_calls", "varannot_kb_version",
    "varannot_source", "varannot_record",
]  # fmt: skip
MAF_COLUMNS = STANDARD_COLUMNS + ANNOTATION_COLUMNS + VARANNOT_COLUMNS


def _after_colon(text: str | None) -> str:
    return text.split(":", 1)[1] if text and ":" in text else (text or "")


def _unpredicted(p: str) -> str:
    """``p.(Arg175His)`` -> ``p.Arg175His``: MAF tools (maftools, cBioPortal) expect VEP's form."""
    return p.replace("p.(", "p.").removesuffix(")") if p.startswith("p.(") else p


def _row_calls(sample: SampleOut, v: VariantOut) -> str:
    """``drug:call`` for every call whose evidence names this variant's protein change."""
    names = {v.hgvs_p, v.haplotype_hgvs_p} - {None}
    out = []
    for c in sample.calls:
        if any(e.hgvs_p in names for e in c.evidence):
            out.append(f"{c.drug}:{c.call}")
    return ";".join(out)


def maf_rows(doc: ResultDocument) -> tuple[list[dict[str, str]], list[str]]:
    """One MAF row per sample x allele (excluded alleles too, FILTER says why), and the
    protein-level entries that have no nucleotide change to write (``sample hgvs_p``)."""
    kbv = doc.knowledge_base.version if doc.knowledge_base else ""
    rows: list[dict[str, str]] = []
    left_out: list[str] = []
    for s in doc.samples:
        for v in [*s.variants, *s.excluded_variants]:
            if v.alt.startswith("<"):
                left_out.append(f"{s.sample} {v.hgvs_p or v.alt}")
                continue
            start, end, ref, alt, vtype = vcf_to_maf(v.pos, v.ref, v.alt)
            gt = (v.genotype or "").replace("|", "/").split("/")
            hom = bool(v.genotype) and all(a not in ("0", ".") for a in gt) and len(set(gt)) == 1
            t_ref = (
                str(v.depth - v.alt_depth)
                if v.depth is not None and v.alt_depth is not None and v.depth >= v.alt_depth
                else ""
            )
            rows.append(
                {
                    "Hugo_Symbol": v.gene or "Unknown",
                    "Entrez_Gene_Id": ENTREZ.get(v.gene or "", "0"),
                    "NCBI_Build": doc.build,
                    "Chromosome": v.chrom,
                    "Start_Position": str(start),
                    "End_Position": str(end),
                    "Strand": "+",
                    "Variant_Classification": variant_classification(v.consequence, vtype),
                    "Variant_Type": vtype,
                    "Reference_Allele": ref,
                    "Tumor_Seq_Allele1": alt if hom else ref,
                    "Tumor_Seq_Allele2": alt,
                    "Tumor_Sample_Barcode": s.sample,
                    "HGVSc": _after_colon(v.hgvs_c),
                    "HGVSp": _unpredicted(_after_colon(v.hgvs_p)),
                    "HGVSp_Short": f"p.{v.protein_change}" if v.protein_change else "",
                    "Transcript_ID": v.transcript or "",
                    "Exon_Number": v.exon or "",
                    "t_depth": "" if v.depth is None else str(v.depth),
                    "t_ref_count": t_ref,
                    "t_alt_count": "" if v.alt_depth is None else str(v.alt_depth),
                    "tumor_f": "" if v.vaf is None else repr(v.vaf),
                    "Consequence": "&".join(v.consequence),
                    "FILTER": ";".join(v.filter) if v.filter else "PASS",
                    "varannot_hgvsp_legacy": v.hgvs_p_legacy or "",
                    "varannot_protein_change_legacy": v.protein_change_legacy or "",
                    "varannot_legacy_transcript": v.legacy_transcript or "",
                    "varannot_flags": ",".join(v.flags),
                    "varannot_rule_ids": ",".join(v.rule_ids),
                    "varannot_calls": _row_calls(s, v),
                    "varannot_kb_version": kbv,
                    "varannot_source": v.source or "",
                    "varannot_record": v.record or "",
                }
            )
    return rows, left_out


def to_maf(doc: ResultDocument) -> str:
    """The document as a MAF (cBioPortal, maftools): standard columns, vcf2maf's HGVSc/HGVSp/
    HGVSp_Short/Transcript_ID/Consequence, and varannot's calls per row.

    Samples without a variant in the four genes have no row (a MAF lists mutations only);
    protein-level entries have no nucleotide change and are named in a ``#`` line instead.
    """
    rows, left_out = maf_rows(doc)
    kb = doc.knowledge_base
    lines = [
        "#version 2.4",
        f"#varannot {doc.varannot_version} build {doc.build}"
        + (f" knowledge base {kb.version} sha256 {kb.sha256}" if kb else ""),
    ]
    if left_out:
        lines.append(
            f"#varannot: {len(left_out)} protein-level entries have no nucleotide change and "
            "are not rows: " + ", ".join(left_out)
        )
    cells = [["" if r.get(c) is None else str(r.get(c)) for c in MAF_COLUMNS] for r in rows]
    table = tsv_rows(MAF_COLUMNS, cells)
    return "\n".join(lines) + "\n" + table
