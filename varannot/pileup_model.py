"""Error model for read counts: is an allele's count above the position's background error?

Low-VAF resistance clones (BCL2 G101V at 1-5 %) sit close to sequencing noise, so a pileup
allele is called only when its count is significantly above what the position's errors would
produce: a Poisson tail (rare-event approximation of the binomial) on the expected error count
from the base qualities, never below a floor (base qualities are optimistic), raised by a panel
of normals or a background table where given, with a Bonferroni threshold over every allele
tested. Alleles seen mostly on one strand (given that strand's share of the depth) are
strand-bias artefacts. The same model gives the limit of detection per locus: the VAF a clone
needs to be called with 95 % probability at that depth and background.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .errors import InputError
from .genome import canonical_chrom


def poisson_tail(k: int, lam: float) -> float:
    """P(X >= k) for X ~ Poisson(lam), summed from k up (exact for tiny tails)."""
    if k <= 0:
        return 1.0
    if lam <= 0.0:
        return 0.0
    log_term = -lam + k * math.log(lam) - math.lgamma(k + 1)
    term = math.exp(log_term)
    total = term
    i = k
    while term > total * 1e-15 and i < k + 100_000:
        i += 1
        term *= lam / i
        total += term
    return min(1.0, total)


def binomial_two_sided(k: int, n: int, p: float) -> float:
    """Two-sided binomial test p-value (sum of outcomes at most as likely as ``k``)."""
    if n == 0:
        return 1.0
    p = min(max(p, 1e-9), 1 - 1e-9)

    def logpmf(i: int) -> float:
        return (
            math.lgamma(n + 1)
            - math.lgamma(i + 1)
            - math.lgamma(n - i + 1)
            + i * math.log(p)
            + (n - i) * math.log(1 - p)
        )

    ref = logpmf(k) + 1e-9
    return min(1.0, sum(math.exp(v) for i in range(n + 1) if (v := logpmf(i)) <= ref))


@lru_cache(maxsize=4096)
def critical_count(lam_milli: int, threshold_exp: int) -> int:
    """Smallest count k with P(Poisson(lam) >= k) below the threshold (cached on rounded keys)."""
    lam = lam_milli / 1000.0
    threshold = 10.0 ** (-threshold_exp / 100.0)
    k = max(1, int(lam))
    while poisson_tail(k, lam) >= threshold:
        k += 1
    return k


@lru_cache(maxsize=4096)
def detection_mean(k: int, power: float = 0.95) -> float:
    """Mean alt count at which P(count >= k) reaches ``power`` (Poisson, bisection)."""
    lo, hi = 0.0, float(k) + 10.0 * math.sqrt(k) + 10.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if poisson_tail(k, mid) >= power:
            hi = mid
        else:
            lo = mid
    return hi


@dataclass
class Background:
    """Per-allele background error rates from a panel of normals or a table."""

    rates: dict[tuple[str, int, str], float] = field(default_factory=dict)
    source: str = ""

    def rate(self, chrom: str, pos: int, allele: str) -> float:
        return self.rates.get((canonical_chrom(chrom), pos, allele), 0.0)

    def write(self, path: Path) -> None:
        with path.open("w", newline="") as fh:
            fh.write("chrom\tpos\tallele\trate\n")
            for (c, p, a), r in sorted(self.rates.items()):
                fh.write(f"{c}\t{p}\t{a}\t{r:.6g}\n")

    @classmethod
    def read_table(cls, path: str | Path) -> Background:
        """TSV ``chrom pos allele rate`` (allele: a base, ``+SEQ`` insertion, ``-N`` deletion)."""
        out = cls(source=str(path))
        with open(path, newline="") as fh:
            rows = csv.reader(fh, delimiter="\t")
            header = next(rows, None)
            if header is None or [h.strip().lower() for h in header[:4]] != [
                "chrom",
                "pos",
                "allele",
                "rate",
            ]:
                raise InputError(
                    "background table must start with the header chrom, pos, allele, rate",
                    source=str(path),
                    record="line 1",
                )
            for n, row in enumerate(rows, start=2):
                if not row or row[0].startswith("#"):
                    continue
                try:
                    pos, rate = int(row[1]), float(row[3])
                    if not 0.0 <= rate <= 1.0:
                        raise ValueError(f"rate {rate} outside [0, 1]")
                except (ValueError, IndexError) as exc:
                    raise InputError(
                        f"bad background row: {exc}", source=str(path), record=f"line {n}"
                    ) from exc
                out.rates[(canonical_chrom(row[0]), pos, row[2].upper())] = rate
        return out


@dataclass(frozen=True)
class AlleleTest:
    """The verdict on one allele at one position."""

    count: int
    depth: int
    forward: int
    reverse: int
    expected_rate: float  # background error per read for this allele
    p_value: float
    significant: bool
    strand_bias: bool
    strand_p: float


@dataclass
class ErrorModel:
    """Thresholds of the read-count test (defaults in brackets).

    - ``substitution_floor`` [5e-4]: least error rate assumed for one specific base change, even
      where base qualities claim better (Q35 bases are rarely that good).
    - ``indel_floor`` [2e-4], ``mnv_floor`` [1e-6]: the same for indels and two-base changes.
    - ``alpha`` [0.05]: family-wise false-call rate per sample; the per-allele threshold is
      ``alpha`` / number of alleles tested (Bonferroni).
    - ``strand_alpha`` [1e-3]: a strand split this unlikely, given each strand's share of the
      depth, marks the allele ``strand_bias`` (not called).
    - ``min_alt_reads`` [3]: never call fewer supporting reads, whatever the depth.
    """

    substitution_floor: float = 5e-4
    indel_floor: float = 2e-4
    mnv_floor: float = 1e-6
    alpha: float = 0.05
    strand_alpha: float = 1e-3
    min_alt_reads: int = 3
    power: float = 0.95
    background: Background | None = None
    tests: int = 1

    def __post_init__(self) -> None:
        floors = (self.substitution_floor, self.indel_floor, self.mnv_floor)
        if not all(0.0 < f < 1.0 for f in floors) or not 0.0 < self.alpha < 1.0:
            raise InputError(
                "error floors and alpha must lie strictly between 0 and 1", source="error model"
            )

    def threshold(self) -> float:
        return self.alpha / max(1, self.tests)

    def rate(self, kind: str, quality_rate: float, chrom: str, pos: int, allele: str) -> float:
        floor = {"snv": self.substitution_floor, "indel": self.indel_floor}.get(
            kind, self.mnv_floor
        )
        r = max(floor, quality_rate)
        if self.background is not None:
            r = max(r, self.background.rate(chrom, pos, allele))
        return r

    def test(
        self,
        count: int,
        forward: int,
        reverse: int,
        depth: int,
        forward_depth: int,
        rate: float,
    ) -> AlleleTest:
        p = poisson_tail(count, depth * rate)
        significant = count >= self.min_alt_reads and p < self.threshold()
        strand_p = 1.0
        bias = False
        if significant and depth:  # strand balance only matters for what would be called
            share = forward_depth / depth
            strand_p = binomial_two_sided(forward, count, share) if count <= 5000 else 1.0
            bias = strand_p < self.strand_alpha
        return AlleleTest(count, depth, forward, reverse, rate, p, significant, bias, strand_p)

    def limit_of_detection(self, depth: int, rate: float) -> float | None:
        """VAF detected with probability ``power`` at this depth and background (None: depth 0)."""
        if depth <= 0:
            return None
        k = max(
            self.min_alt_reads,
            critical_count(round(depth * rate * 1000), round(-math.log10(self.threshold()) * 100)),
        )
        return min(1.0, detection_mean(k, self.power) / depth)


def describe_limit(label: str, depth: int | None, lod: float | None, found: bool = False) -> str:
    """'no BCL2 G101 variant above 0.8 % at 2,400x' (the sentence the report shows); where a
    variant was called in the locus, only the limit (other clones below it are not ruled out)."""
    if depth is None or lod is None or depth == 0:
        return f"{label}: no reads"
    if found:
        return f"{label}: variant called; limit of detection {lod * 100:.2g} % at {depth:,}x"
    return f"no {label} variant above {lod * 100:.2g} % at {depth:,}x"
