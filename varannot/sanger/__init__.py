"""Variant calling from Sanger traces of amplicons: trim, place, call, decompose, combine.

Pure functions on :class:`~varannot.readers.trace.Trace` objects; only :func:`call_traces` touches
files (reading traces, writing optional plots). Every trace is analysed on the plus strand of the
reference region it places on (reverse reads are reverse-complemented first), so coordinates,
alleles and the indel decomposition are strand-agnostic after placement.

Method, in order:

1. **Trimming.** Mott's modified algorithm on the basecaller's qualities gives the high-quality
   range used for substitution calls and coverage. Placement still aligns the whole read: the
   mixed tail after a heterozygous indel has poor basecaller qualities but is exactly what the
   indel decomposition needs, and a local alignment stops by itself where a read turns to noise
   (its ends are then clipped back to 8 clean columns, e.g. at exon boundaries of cDNA
   references).
2. **Placement.** 12-mer seeds between the trimmed calls and each region (both orientations) pick
   a diagonal; a local alignment (Biopython ``PairwiseAligner``) of the read, written with IUPAC
   codes where a secondary peak passes the ratio, against a window around it gives the span. IUPAC
   reads keep the alignment on the reference allele through heterozygous sites and through the
   mixed tail of a heterozygous indel. A placement must span 40 reference bases at identity
   0.90, explain half the read's high-quality bases (or align at >= 0.97: an exon read on a
   cDNA reference) and beat the best placement elsewhere by 10 % of the score; otherwise the
   read is "not placed" and the reason names the best candidate. A read with fewer than 40
   base calls is "too short", one with fewer than 40 bases after trimming "failed quality":
   such traces add no coverage, so the loci they were meant to show stay not assessed.
3. **Substitutions.** At each aligned base the four peak heights decide: a second peak at least
   ``ratio`` of the reference peak -> heterozygous; an alternative base without reference signal
   -> homozygous. The secondary peak is measured after removing features broader than ~6 bases
   (dye blobs) and must be a peak under the called one (not the flank of an off-register peak).
   Call quality is phred-scaled against the *local* secondary-peak background, so a noisy stretch
   does not produce confident calls, and folded with the basecaller's own QVs (site and flanks).
   Homozygous indels are clean alignment gaps. Calls below the quality bar are listed, never
   dropped; a weak indel or homozygous call, or a gap that could not become a call, is carved
   out of coverage (``not_wild_type_sites``): it is not evidence of wild type.
4. **Heterozygous indels** (as Tracy/Indigo do): downstream of a heterozygous indel the trace is
   the reference superposed on the reference shifted by the indel length. For each shift we score
   how well ``ref[j + shift]`` explains the secondary peaks and choose the breakpoint that best
   separates "reference only" from "reference + shifted reference". The junction bases are read
   from the trace, so inserted sequence and delins (CRISPR edits) come out exactly. When the
   alignment itself needs a gap at the breakpoint (two different non-reference alleles, GT
   1/2) or the junction cannot be read, the site is reported as not resolved, not miscalled.
5. **Forward + reverse.** Calls of the traces of one sample are merged into one observation per
   variant. A variant called in one trace but absent from another clean trace covering it is
   filtered ``trace_disagreement`` (for an indel: the other trace reads straight through the
   site without a gap and without a mixed tail); if the other trace is noisy there, it is
   flagged ``other_trace_inconclusive``. Both cases are listed in ``details['disagreements']``.

Layout: :mod:`.model` (constants and result types), :mod:`.trim` (Mott trimming, dye-blob-free
heights), :mod:`.place` (seeding and alignment), :mod:`.snv` (substitutions), :mod:`.indel`
(homozygous gaps, heterozygous indel decomposition), :mod:`.merge` (one trace end to end, many
traces -> one sample). File formats live in :mod:`varannot.readers.trace`; :mod:`.simulate` is
the SYNTHETIC trace simulator used by tests and benchmarks; :mod:`.window` cuts chromatogram
windows (channel data around calls and residues) for the browser page to draw.
"""

from __future__ import annotations

from .merge import analyse_trace, call_traces
from .model import NOT_PLACED, VAF_SOURCE, Placement, TraceCall, TraceResult
from .place import iupac_read, place_trace
from .snv import peak_shape_flag
from .trim import blob_free_heights, mott_trim

__all__ = [
    "NOT_PLACED",
    "VAF_SOURCE",
    "Placement",
    "TraceCall",
    "TraceResult",
    "analyse_trace",
    "blob_free_heights",
    "call_traces",
    "iupac_read",
    "mott_trim",
    "peak_shape_flag",
    "place_trace",
]
