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
   mixed tail of a heterozygous indel.
3. **Substitutions.** At each aligned base the four peak heights decide: a second peak at least
   ``ratio`` of the reference peak -> heterozygous; an alternative base without reference signal
   -> homozygous. The secondary peak is measured after removing features broader than ~6 bases
   (dye blobs) and must be a peak under the called one (not the flank of an off-register peak).
   Call quality is phred-scaled against the *local* secondary-peak background, so a noisy stretch
   does not produce confident calls. Homozygous indels are clean alignment gaps.
4. **Heterozygous indels** (as Tracy/Indigo do): downstream of a heterozygous indel the trace is
   the reference superposed on the reference shifted by the indel length. For each shift we score
   how well ``ref[j + shift]`` explains the secondary peaks and choose the breakpoint that best
   separates "reference only" from "reference + shifted reference". The junction bases are read
   from the trace, so inserted sequence and delins (CRISPR edits) come out exactly.
5. **Forward + reverse.** Calls of the traces of one sample are merged into one observation per
   variant. A variant called in one trace but absent from another clean trace covering it is
   filtered ``trace_disagreement``; if the other trace is noisy there, it is flagged
   ``other_trace_inconclusive``. Both cases are listed in ``details['disagreements']``.

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
