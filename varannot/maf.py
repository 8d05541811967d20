"""MAF (Mutation Annotation Format) conventions shared by the MAF reader and writer.

MAF differs from VCF in its indels: no anchor base, ``-`` for the empty allele, and an
insertion placed *between* ``Start_Position`` and ``End_Position`` (the flanking bases). The
functions here convert one way and the other without a reference; the reader adds the anchor
base from the FASTA. Column names follow the GDC MAF specification and vcf2maf.
"""

from __future__ import annotations

from .models import Build

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
