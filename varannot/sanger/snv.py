"""Substitution calling from the four peak heights at each aligned base.

A second peak at least ``ratio`` of the reference peak is heterozygous, an alternative peak
without reference signal homozygous; the secondary peak must be a real peak under the called one,
and call quality is phred-scaled against the local secondary-peak background so a noisy stretch
does not produce confident calls.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from ..readers.trace import BASES, Trace
from .model import _NOISE_FLOOR, _NOISE_WINDOW, Placement, TraceCall, _Columns
from .place import _ENC

# ------------------------------------------------------------------------------- calling


def _columns(
    view: Trace,
    heights: npt.NDArray[np.float64],
    pl: Placement,
    blob_free: npt.NDArray[np.float64],
) -> _Columns:
    both = (pl.cols_read >= 0) & (pl.cols_ref >= 0)
    ri, rj = pl.cols_read[both], pl.cols_ref[both]
    seq = np.frombuffer(pl.region.sequence.upper().encode("latin-1"), dtype=np.uint8)
    rb = _ENC[seq[rj]]
    h = heights[ri]
    top = h.max(axis=1)
    x = h / np.maximum(top, 1e-9)[:, None]
    second = np.sort(x, axis=1)[:, -2]
    n = len(second)
    w = _NOISE_WINDOW
    if n > 2 * w:
        padded = np.pad(second, w, mode="reflect")
        win = np.lib.stride_tricks.sliding_window_view(padded, 2 * w + 1)
        win = np.delete(win, w, axis=1)  # the column itself is not its own background
        noise = np.median(win, axis=1)
    else:
        noise = np.full(n, float(np.median(second)) if n else 0.0)
    return _Columns(ri, rj, rb, h, blob_free[ri], x, np.maximum(noise, _NOISE_FLOOR))


def peak_shape_flag(view: Trace, i: int, base: int) -> str | None:
    """Why channel ``base`` at read base ``i`` is not a genuine co-migrating peak, or None.

    A second allele's peak sits exactly under the called peak. Dye blobs (unincorporated dye
    terminators) are humps several bases wide: no trough halfway to the neighbouring peaks.
    Off-register peaks (their maximum half-way between two calls) are artefacts too. Sides whose
    neighbour is itself a ``base`` peak cannot be judged for a trough and are skipped.
    """
    ch = view.channels[BASES[base]]
    locs = view.peak_locations
    n = len(locs)
    if n < 3:
        return None
    p = int(locs[i])
    lo_nb, hi_nb = max(i - 1, 0), min(i + 1, n - 1)
    spacing = max((int(locs[hi_nb]) - int(locs[lo_nb])) / max(hi_nb - lo_nb, 1), 4.0)
    w = max(2, round(0.3 * spacing))
    a, b = max(1, p - w), min(len(ch) - 2, p + w)
    if b < a:
        return None
    mid = ch[a : b + 1]
    is_max = (mid >= ch[a - 1 : b]) & (mid >= ch[a + 1 : b + 2]) & (mid > 0)
    if not is_max.any():
        return "off_register_peak"  # only the flank of a peak centred elsewhere
    vp = float(mid.max())
    judged = []
    for nb in (i - 1, i + 1):
        if 0 <= nb < n and view.bases[nb] != BASES[base]:
            halfway = (p + int(locs[nb])) // 2
            judged.append(float(ch[halfway]) >= 0.7 * vp)
    if judged and all(judged):
        return "dye_blob_suspect"
    return None


def _snv_calls(
    view: Trace,
    pl: Placement,
    cols: _Columns,
    use: npt.NDArray[np.bool_],
    ratio: float,
) -> list[TraceCall]:
    """Substitutions at match columns flagged in ``use`` (all qualities; filtered later)."""
    calls: list[TraceCall] = []
    n = len(cols.read)
    for k in np.nonzero(use & (cols.ref_base >= 0))[0].tolist():
        r = int(cols.ref_base[k])
        # Reference peak as measured; alternatives above any broad hump (dye blob), so a blob
        # can neither add a secondary peak nor make an alternative look dominant.
        ref_h = float(cols.h[k, r])
        alts = np.maximum(cols.hb[k], 0.0)
        alts[r] = -1.0
        a = int(np.argmax(alts))
        alt_h = float(alts[a])
        if alt_h <= ref_h:
            minor = alt_h / max(ref_h, 1e-9)  # secondary relative to the reference peak
            if minor < ratio:
                continue
            genotype = "0/1"
        else:
            minor = ref_h / max(alt_h, 1e-9)  # reference peak relative to the alternative
            genotype = "0/1" if minor >= ratio else "1/1"
        i = int(cols.read[k])
        # A call next to an alignment gap is usually a misplaced indel, not a substitution.
        if k == 0 or k == n - 1 or cols.read[k + 1] - cols.read[k - 1] != 2:
            continue
        if cols.ref[k + 1] - cols.ref[k - 1] != 2:
            continue
        mu = float(cols.noise[k])
        bq = float(view.qualities[i])
        if genotype == "0/1":
            # Excess of the secondary peak over the local background, in background units:
            # phred-scaled under an exponential noise model, shifted by one unit because the
            # observed tail of secondary peaks is heavier than exponential.
            q = 10.0 * math.log10(math.e) * (min(minor, 1.0) - mu) / mu
            q = _fold_basecaller(q, bq, view.qualities, i)
        else:
            # Homozygous: evidence is a clean alternative peak with no reference signal.
            q = min(bq, 10.0 * math.log10(math.e) * (1.0 - minor) / mu)
        q = q if q > 0.0 else 0.0  # a phred quality is never negative
        flags: list[str] = []
        shape = peak_shape_flag(view, i, a)
        if shape is not None:
            flags.append(shape)
            q = min(q, 5.0)
        vaf = alt_h / (alt_h + ref_h) if alt_h + ref_h > 0 else 0.0
        calls.append(
            TraceCall(
                region=pl.region,
                ref_index=int(cols.ref[k]),
                ref=BASES[r],
                alt=BASES[a],
                genotype=genotype,
                vaf=round(vaf, 3),
                quality=round(min(q, 99.0), 1),
                read_index=i,
                kind="snv",
                evidence={
                    "peak_ratio": round(minor, 3),
                    "local_noise": round(mu, 3),
                    "basecaller_quality": int(bq),
                    "heights": {
                        b: round(float(v), 1) for b, v in zip(BASES, cols.h[k], strict=True)
                    },
                    "flags": flags,
                },
            )
        )
    return calls


# A clean heterozygote costs the basecaller about this many QV units (its two peaks make it
# unsure): the VWF 3730 reads score documented hets Q9-Q34 (mostly 13-18) between Q40-60 flanks.
_HET_QV_PENALTY = 20.0
_FLANK = 5  # bases either side whose basecaller QVs say how trustworthy the stretch is


def _fold_basecaller(q_peak: float, bq: float, qualities: npt.NDArray[np.int16], i: int) -> float:
    """Het SNV quality with the basecaller's own view folded in.

    The instrument's QV at the site, raised by the penalty any real het pays, is an independent
    error estimate: the two error probabilities add. The flanks' median QV caps the result: a
    stretch the instrument scored Q8 cannot host a Q99 call whatever the peaks look like.
    """
    p_err = 10.0 ** (-q_peak / 10.0) + 10.0 ** (-(bq + _HET_QV_PENALTY) / 10.0)
    q = -10.0 * math.log10(min(p_err, 1.0))
    flank = np.concatenate([qualities[max(0, i - _FLANK) : i], qualities[i + 1 : i + 1 + _FLANK]])
    if flank.size:
        q = min(q, float(np.median(flank)))
    return q


def _binom_tail_phred(k: int, n: int, p: float) -> float:
    """-10 log10 P(X >= k), X ~ Binomial(n, p), computed in log space (capped at 99)."""
    if k <= 0:
        return 0.0
    logs = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
        + i * math.log(p) + (n - i) * math.log1p(-p)
        for i in range(k, n + 1)
    ]  # fmt: skip
    m = max(logs)
    log_tail = m + math.log(sum(math.exp(v - m) for v in logs))
    return min(99.0, -10.0 * log_tail / math.log(10))
