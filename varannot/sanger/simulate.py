"""SYNTHETIC Sanger trace simulator (for tests and benchmarks only; nothing here is real data).

Gene-region Sanger traces of TP53/MEN1/BCL2/BAX with known resistance mutations are not publicly
available, so the caller is exercised on traces simulated from a reference sequence and a list
of variants. The model is deliberately simple but has the features that make real traces hard:

* two alleles superposed (heterozygous SNVs, 1-2 bp indels -> mixed tail after the indel),
  with a configurable allele fraction;
* Gaussian peaks whose height varies per base and per dye, a rising start and a decaying end,
  peaks that widen along the read and slight spacing jitter;
* background noise at every scan plus small spurious peaks under called peaks;
* dye blobs: broad humps in one channel (unincorporated dye terminators);
* a naive base caller (tallest channel at each peak) and purity-derived qualities, with a poor
  primer-proximal start so that Mott trimming has something to trim.

``write_abif`` writes enough ABIF tags for :mod:`varannot.readers.trace` and for Biopython
(DATA9-12, FWO_1, PBAS1/2, PLOC1/2, PCON1/2, SMPL1); ``write_scf`` writes SCF v3 (delta-delta
samples) or v2 (interleaved samples), so both readers are exercised end to end.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from ..readers.trace import BASES, Trace

_COMP = str.maketrans("ACGTN", "TGCAN")
# Relative dye brightness: real dye sets differ (G is classically the weakest).
_DYE = {"A": 1.0, "C": 0.9, "G": 0.75, "T": 1.1}


@dataclass(frozen=True, slots=True)
class SimVariant:
    """A variant on the plus strand of the simulated reference, VCF-style.

    ``pos`` is the 0-based index of the first REF base in the reference string; indels are
    anchored (``ref='CA', alt='C'`` deletes the A). ``fraction`` is the alternative allele's
    share of template (default 0.5 het, 1.0 hom).
    """

    pos: int
    ref: str
    alt: str
    zygosity: Literal["het", "hom"] = "het"
    fraction: float | None = None
    # Which allele a het variant is on: 2 (default, the minor allele) or 1 (the other one), so
    # two different het variants at one site make a compound heterozygote (GT 1/2).
    haplotype: Literal[1, 2] = 2

    @property
    def alt_fraction(self) -> float:
        if self.fraction is not None:
            return self.fraction
        return 0.5 if self.zygosity == "het" else 1.0


@dataclass(slots=True)
class SimTrace:
    """A simulated read with its ground truth (reference window and variants)."""

    name: str
    bases: str
    qualities: npt.NDArray[np.int16]
    peak_locations: npt.NDArray[np.int64]
    channels: dict[str, npt.NDArray[np.float64]]
    strand: Literal["+", "-"]
    ref_start: int  # 0-based reference window the read was taken from
    ref_end: int
    truth: list[SimVariant] = field(default_factory=list)

    def to_trace(self, source: Path | None = None) -> Trace:
        return Trace(
            name=Path(self.name).stem,
            bases=self.bases,
            qualities=self.qualities.copy(),
            peak_locations=self.peak_locations.copy(),
            channels={b: v.copy() for b, v in self.channels.items()},
            source=source or Path(self.name),
            fmt="synthetic",
        )


def apply_variants(reference: str, variants: Sequence[SimVariant]) -> str:
    """The reference with ``variants`` applied (non-overlapping, any order)."""
    out = []
    last = 0
    for v in sorted(variants, key=lambda v: v.pos):
        if reference[v.pos : v.pos + len(v.ref)].upper() != v.ref.upper():
            raise ValueError(
                f"variant REF {v.ref} does not match reference {reference[v.pos : v.pos + len(v.ref)]}"
                f" at {v.pos}"
            )
        if v.pos < last:
            raise ValueError(f"overlapping variants at {v.pos}")
        out.append(reference[last : v.pos])
        out.append(v.alt)
        last = v.pos + len(v.ref)
    out.append(reference[last:])
    return "".join(out)


def _read_of(allele: str, ref_len: int, start: int, end: int, strand: str, length: int) -> str:
    """The bases a primer at the window edge reads from one allele."""
    delta = len(allele) - ref_len  # indels inside the window shift its far end
    if strand == "+":
        return allele[start : start + length]
    seg = allele[: end + delta]
    return seg.translate(_COMP)[::-1][:length]


def simulate_trace(
    reference: str,
    variants: Sequence[SimVariant] = (),
    *,
    start: int = 0,
    length: int | None = None,
    strand: Literal["+", "-"] = "+",
    seed: int = 0,
    spacing: float = 12.0,
    noise: float = 0.02,
    spurious: float = 0.04,
    blobs: Sequence[tuple[int, str, float]] = (),
    name: str = "synthetic.ab1",
) -> SimTrace:
    """Simulate one read over ``reference[start:start+length]`` read from ``strand``.

    ``blobs`` are ``(read base index, channel, height relative to the mean peak)``. ``noise`` is
    the scan-level Gaussian noise and ``spurious`` the median height of random small peaks under
    called peaks (log-normal, so a few reach 15-25 %), both relative to the mean peak height.
    """
    rng = np.random.default_rng(seed)
    reference = reference.upper()
    if length is None:
        length = len(reference) - start
    end = start + length
    inside = [v for v in variants if start + 5 <= v.pos < end - 5]
    hom = [v for v in inside if v.zygosity == "hom"]
    het = [v for v in inside if v.zygosity == "het"]
    allele_a = apply_variants(reference, hom + [v for v in het if v.haplotype == 1])
    allele_b = apply_variants(reference, hom + [v for v in het if v.haplotype == 2])
    frac = float(np.mean([v.alt_fraction for v in het])) if het else 0.0
    reads = [
        (_read_of(allele_a, len(reference), start, end, strand, length), 1.0 - frac),
        (_read_of(allele_b, len(reference), start, end, strand, length), frac),
    ]
    n = min(len(r) for r, _ in reads)
    offset = 30.0
    steps = spacing + rng.normal(0.0, 0.25, n).cumsum() * 0.05
    peak_x = offset + np.concatenate([[0.0], np.cumsum(steps[:-1])])
    n_scans = int(peak_x[-1] + 40)
    xs = np.arange(n_scans, dtype=np.float64)
    frac_pos = np.arange(n) / max(n - 1, 1)
    envelope = np.minimum(1.0, 0.3 + frac_pos * 12) * (1.0 - 0.55 * frac_pos)
    sigma = spacing * (0.22 + 0.16 * frac_pos)
    mean_height = 1000.0
    chans = {b: np.zeros(n_scans) for b in BASES}
    half = int(4 * spacing)
    for read, weight in reads:
        if weight <= 0:
            continue
        heights = mean_height * envelope * weight * rng.lognormal(0.0, 0.2, n)
        for k in range(n):
            b = read[k]
            if b not in _DYE:
                continue
            c = int(peak_x[k])
            lo, hi = max(0, c - half), min(n_scans, c + half)
            seg = xs[lo:hi] - peak_x[k]
            chans[b][lo:hi] += _DYE[b] * heights[k] * np.exp(-0.5 * (seg / sigma[k]) ** 2)
    # Small spurious peaks under called peaks (what makes the local noise level).
    for k in range(n):
        b = BASES[int(rng.integers(0, 4))]
        amp = mean_height * envelope[k] * spurious * rng.lognormal(0.0, 0.5)
        c = int(peak_x[k])
        lo, hi = max(0, c - half), min(n_scans, c + half)
        seg = xs[lo:hi] - peak_x[k]
        chans[b][lo:hi] += amp * np.exp(-0.5 * (seg / sigma[k]) ** 2)
    for k, b, rel in blobs:
        if 0 <= k < n:
            chans[b] += rel * mean_height * np.exp(-0.5 * ((xs - peak_x[k]) / (2.5 * spacing)) ** 2)
    for b in BASES:
        chans[b] += rng.normal(0.0, noise * mean_height, n_scans)
        np.clip(chans[b], 0.0, 32000.0, out=chans[b])
        chans[b] = np.round(chans[b])
    ploc = np.round(peak_x).astype(np.int64)
    stack = np.vstack([chans[b] for b in BASES])[:, ploc].T
    order = np.argsort(stack, axis=1)
    top = stack[np.arange(n), order[:, -1]]
    second = stack[np.arange(n), order[:, -2]]
    calls = "".join(BASES[i] for i in order[:, -1].tolist())
    purity = -10.0 * np.log10((second + 1.0) / (top + 1.0))
    qual = np.clip(4.0 * purity, 2, 60)
    qual[:12] = np.minimum(qual[:12], rng.integers(2, 12, size=min(12, n)))  # primer end
    return SimTrace(
        name=name,
        bases=calls,
        qualities=qual.astype(np.int16),
        peak_locations=ploc,
        channels=chans,
        strand=strand,
        ref_start=start,
        ref_end=end,
        truth=list(inside),
    )


# ------------------------------------------------------------------------------- writers


def write_abif(sim: SimTrace, path: str | Path, *, sample_name: str | None = None) -> Path:
    """Write a minimal ABIF (version 1.01) file that both our reader and Biopython accept."""
    p = Path(path)
    order = "GATC"  # the 3730 dye order, so FWO_ handling is exercised
    # name, number, element type, element size, element count, data
    entries: list[tuple[bytes, int, int, int, int, bytes]] = []

    def add(name: str, num: int, etype: int, esize: int, data: bytes, count: int) -> None:
        entries.append((name.encode("latin-1"), num, etype, esize, count, data))

    for k, b in enumerate(order):
        vals = np.clip(sim.channels[b], -32768, 32767).astype(">i2")
        add("DATA", 9 + k, 4, 2, vals.tobytes(), len(vals))
    add("FWO_", 1, 2, 1, order.encode(), 4)
    bases = sim.bases.encode("latin-1")
    ploc = np.clip(sim.peak_locations, 0, 32767).astype(">i2").tobytes()
    qual = np.clip(sim.qualities, 0, 127).astype(np.uint8).tobytes()
    for num in (1, 2):
        add("PBAS", num, 2, 1, bases, len(bases))
        add("PLOC", num, 4, 2, ploc, len(sim.peak_locations))
        add("PCON", num, 2, 1, qual, len(qual))
    smpl = (sample_name or Path(sim.name).stem).encode("latin-1")[:255]
    add("SMPL", 1, 18, 1, bytes([len(smpl)]) + smpl, len(smpl) + 1)

    body = bytearray(b"\0" * 128)
    directory = bytearray()
    for name, num, etype, esize, count, data in entries:
        if len(data) <= 4:
            inline = data.ljust(4, b"\0")
            directory += struct.pack(
                ">4sihhii4si", name, num, etype, esize, count, len(data), inline, 0
            )
        else:
            offset = len(body)
            body += data
            directory += struct.pack(
                ">4sihhiiii", name, num, etype, esize, count, len(data), offset, 0
            )
    dir_offset = len(body)
    body += directory
    header = struct.pack(
        ">4sH4sihhiiii",
        b"ABIF",
        101,
        b"tdir",
        1,
        1023,
        28,
        len(entries),
        len(directory),
        dir_offset,
        0,
    )
    body[: len(header)] = header
    p.write_bytes(bytes(body))
    return p


def write_scf(
    sim: SimTrace, path: str | Path, *, version: Literal["3.00", "2.00"] = "3.00"
) -> Path:
    """Write SCF v3 (per-channel delta-delta samples) or v2 (interleaved raw samples)."""
    p = Path(path)
    n_scans = len(sim.channels["A"])
    n = len(sim.bases)
    samples = np.vstack([np.clip(sim.channels[b], 0, 65535).astype(np.uint16) for b in BASES])
    if version == "3.00":
        parts = []
        for row in samples:
            d1 = row.copy()
            d1[1:] = row[1:] - row[:-1]  # uint16 arithmetic wraps, as the format expects
            d2 = d1.copy()
            d2[1:] = d1[1:] - d1[:-1]
            parts.append(d2.astype(">u2").tobytes())
        sample_bytes = b"".join(parts)
    else:
        sample_bytes = samples.T.astype(">u2").tobytes()
    qual = np.clip(sim.qualities, 0, 255).astype(np.uint8)
    probs = {
        b: np.where(np.frombuffer(sim.bases.encode(), "S1") == b.encode(), qual, 0) for b in BASES
    }
    ploc = sim.peak_locations.astype(">u4")
    if version == "3.00":
        base_bytes = (
            ploc.tobytes()
            + b"".join(probs[b].astype(np.uint8).tobytes() for b in BASES)
            + sim.bases.encode("latin-1")
            + b"\0" * (3 * n)
        )
    else:
        rec = np.zeros(
            n,
            dtype=np.dtype(
                [("ploc", ">u4"), ("p", "u1", (4,)), ("base", "S1"), ("sp", "u1", (3,))]
            ),
        )
        rec["ploc"] = ploc
        for k, b in enumerate(BASES):
            rec["p"][:, k] = probs[b]
        rec["base"] = np.frombuffer(sim.bases.encode("latin-1"), "S1")
        base_bytes = rec.tobytes()
    comments = f"NAME={Path(sim.name).stem}\nSYNTHETIC=1\n".encode() + b"\0"
    s_off = 128
    b_off = s_off + len(sample_bytes)
    c_off = b_off + len(base_bytes)
    header = struct.pack(
        ">4s8I4s4I",
        b".scf",
        n_scans,
        s_off,
        n,
        0,
        0,
        b_off,
        len(comments),
        c_off,
        version.encode(),
        2,
        0,
        0,
        c_off + len(comments),
    ).ljust(128, b"\0")
    p.write_bytes(header + sample_bytes + base_bytes + comments)
    return p
