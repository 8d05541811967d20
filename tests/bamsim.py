"""SYNTHETIC read simulator for tests and benchmarks (not real sequencing data).

Reads are cut from a reference (the test FASTAs built from ``../shared``) with known alleles at
known VAFs, sequencing errors (honest base qualities plus a share of low-quality bases) and
artefacts that a pileup must reject: strand-specific errors, duplicate jackpots, secondary /
supplementary alignments and low-mapping-quality reads carrying an allele. Alleles of one
``SimVariant`` are always in cis on a read, so a same-codon MNV is one variant here.
Files are written, sorted and indexed with pysam (BAM or CRAM).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pysam

# artefact kinds: how the allele-carrying reads differ from true ones
ARTEFACTS = ("forward_only", "duplicate", "secondary", "supplementary", "low_mapq")


@dataclass(frozen=True)
class SimVariant:
    """An allele put on reads. ``kind`` 'true' = real clone at ``vaf``; artefacts add reads
    (or, for ``forward_only``, errors on forward reads) at about ``vaf`` of the depth."""

    chrom: str
    pos: int
    ref: str
    alt: str
    vaf: float
    kind: str = "true"


@dataclass
class SimRead:
    name: str
    chrom: str
    start: int  # 0-based
    seq: str
    quals: list[int]
    cigar: list[tuple[int, int]]
    reverse: bool
    flag_extra: int = 0
    mapq: int = 60
    tags: list[tuple[str, object]] = field(default_factory=list)
    mate_start: int = -1  # 0-based; paired reads only (flag_extra has 0x1)
    tlen: int = 0


Fetch = Callable[[str, int, int], str]  # (chrom, start, end) 1-based inclusive -> bases


def _mutate(ref: str, rng: random.Random) -> str:
    return rng.choice([b for b in "ACGT" if b != ref])


def make_read(
    fetch: Fetch,
    chrom: str,
    start: int,
    length: int,
    carried: Sequence[SimVariant],
    rng: random.Random,
    error_rate: float,
    low_q_share: float,
) -> tuple[str, list[int], list[tuple[int, int]]]:
    """Sequence, qualities and CIGAR of a read starting at 1-based ``start``."""
    window = fetch(chrom, start, start + length + 60)
    events = {v.pos: v for v in carried}
    seq: list[str] = []
    cig: list[tuple[int, int]] = []

    def push(op: int, n: int) -> None:
        if cig and cig[-1][0] == op:
            cig[-1] = (op, cig[-1][1] + n)
        else:
            cig.append((op, n))

    i = 0  # offset into window
    while len(seq) < length and i < len(window):
        pos = start + i
        v = events.get(pos)
        if v is not None and len(v.ref) == len(v.alt):
            take = min(len(v.alt), length - len(seq))
            seq.extend(v.alt[:take])
            push(0, take)
            i += take
            continue
        if v is not None and len(v.ref) > len(v.alt):  # deletion after the anchor base
            seq.append(window[i])
            push(0, 1)
            dl = len(v.ref) - len(v.alt)
            if len(seq) < length:
                push(2, dl)
            i += 1 + dl
            continue
        if v is not None and len(v.alt) > len(v.ref):  # insertion after the anchor base
            seq.append(window[i])
            push(0, 1)
            ins = v.alt[1:][: max(0, length - len(seq) - 1)]
            if ins:
                seq.extend(ins)
                push(1, len(ins))
            i += 1
            continue
        seq.append(window[i])
        push(0, 1)
        i += 1
    quals = []
    for k, b in enumerate(seq):
        if rng.random() < low_q_share:
            quals.append(8)
            if rng.random() < 0.3:
                seq[k] = _mutate(b, rng)
        else:
            quals.append(35)
            if rng.random() < error_rate:
                seq[k] = _mutate(b, rng)
    if cig and cig[-1][0] != 0:  # never end on an indel
        cig.pop()
    return "".join(seq), quals, cig


def simulate(
    fetch: Fetch,
    regions: Sequence[tuple[str, int, int]],
    depth: int,
    variants: Sequence[SimVariant] = (),
    *,
    read_len: int = 100,
    error_rate: float = 0.001,
    low_q_share: float = 0.03,
    dup_rate: float = 0.0,
    seed: int = 1,
    umi: bool = False,
) -> list[SimRead]:
    """Single-end reads tiling ``regions`` at about ``depth`` (random starts, both strands)."""
    rng = random.Random(seed)
    reads: list[SimRead] = []
    true = [v for v in variants if v.kind == "true"]
    fwd_art = [v for v in variants if v.kind == "forward_only"]
    n = 0
    for chrom, a, b in regions:
        lo = a - read_len + 1
        count = depth * (b - lo + 1) // read_len
        for _ in range(count):
            s = rng.randint(lo, b)
            rev = rng.random() < 0.5
            span = range(s, s + read_len)
            carried = [
                v for v in true if v.chrom == chrom and v.pos in span and rng.random() < v.vaf
            ]
            if not rev:
                carried += [
                    v
                    for v in fwd_art
                    if v.chrom == chrom and v.pos in span and rng.random() < 2 * v.vaf
                ]
            seq, q, cig = make_read(
                fetch, chrom, s, read_len, carried, rng, error_rate, low_q_share
            )
            n += 1
            tags: list[tuple[str, object]] = [("RX", f"UMI{n:07d}"), ("cD", 3)] if umi else []
            reads.append(SimRead(f"sim{n}", chrom, s - 1, seq, q, cig, rev, tags=tags))
            if dup_rate and rng.random() < dup_rate:
                d = reads[-1]
                reads.append(
                    SimRead(f"sim{n}d", chrom, d.start, d.seq, d.quals, d.cigar, d.reverse, 0x400)
                )
    flags = {"duplicate": (0x400, 60), "secondary": (0x100, 60), "supplementary": (0x800, 60)}
    flags["low_mapq"] = (0, 3)
    for v in variants:
        if v.kind not in flags:
            continue
        extra, mapq = flags[v.kind]
        for k in range(max(1, round(v.vaf * depth))):
            s = v.pos - rng.randint(1, read_len - 10)
            seq, q, cig = make_read(fetch, v.chrom, s, read_len, [v], rng, 0.0, 0.0)
            rev = bool(k % 2)
            n += 1
            reads.append(SimRead(f"art{n}", v.chrom, s - 1, seq, q, cig, rev, extra, mapq))
    return reads


def simulate_pairs(
    fetch: Fetch,
    regions: Sequence[tuple[str, int, int]],
    depth: int,
    variants: Sequence[SimVariant] = (),
    *,
    read_len: int = 100,
    fragment: tuple[int, int] = (100, 260),
    improper_share: float = 0.1,
    error_rate: float = 0.01,
    seed: int = 1,
) -> list[SimRead]:
    """SYNTHETIC paired-end fragments tiling ``regions`` at about ``depth`` fragments: forward
    mate at the fragment start, reverse mate ending at its end, so fragments shorter than two
    reads give overlapping mates. Both mates carry the fragment's alleles (``true`` variants,
    SNVs and indels) and independent sequencing errors; base qualities are drawn from 8-40 so
    mates agree, disagree and tie at every quality. ``improper_share`` of pairs lack the
    proper-pair flag (a pileup counts both of those mates, as bcftools does)."""
    rng = random.Random(seed)
    true = [v for v in variants if v.kind == "true"]
    reads: list[SimRead] = []
    qual_levels = (8, 15, 20, 22, 24, 25, 26, 30, 35, 40)
    n = 0
    for chrom, a, b in regions:
        lo = a - fragment[1] + 1
        count = depth * (b - lo + 1) // fragment[1]
        for _ in range(count):
            s = rng.randint(lo, b)
            flen = rng.randint(*fragment)
            span = range(s, s + flen)
            carried = [
                v for v in true if v.chrom == chrom and v.pos in span and rng.random() < v.vaf
            ]
            n += 1
            name = f"pair{n}"
            flags = 0x1 if rng.random() < improper_share else 0x3
            mates = []
            for mstart, rev in ((s, False), (max(s, s + flen - read_len), True)):
                seq, _, cig = make_read(fetch, chrom, mstart, read_len, carried, rng, 0.0, 0.0)
                q = [rng.choice(qual_levels) for _ in seq]
                bases = [
                    _mutate(c, rng) if rng.random() < error_rate * (3 if qq < 20 else 1) else c
                    for c, qq in zip(seq, q, strict=True)
                ]
                mates.append((mstart - 1, "".join(bases), q, cig, rev))
            (s1, *_), (s2, *_) = mates
            for k, (ms, seq, q, cig, rev) in enumerate(mates):
                f = flags | (0x40 if k == 0 else 0x80) | (0x20 if k == 0 else 0)
                tl = flen if k == 0 else -flen
                reads.append(
                    SimRead(
                        name,
                        chrom,
                        ms,
                        seq,
                        q,
                        cig,
                        rev,
                        f,
                        mate_start=s2 if k == 0 else s1,
                        tlen=tl,
                    )
                )
    return reads


def write_alignments(
    path: Path,
    reads: Sequence[SimRead],
    contigs: dict[str, int],
    *,
    fasta: Path | None = None,
    sample: str | None = "SIM",
) -> Path:
    """Write, sort and index a BAM (or CRAM when ``path`` ends in .cram; needs ``fasta``).
    ``sample`` None: a read group without SM (the file name then names the sample)."""
    header = {
        "HD": {"VN": "1.6", "SO": "unsorted"},
        "SQ": [{"SN": c, "LN": n} for c, n in contigs.items()],
        "RG": [{"ID": "sim", "SM": sample} if sample else {"ID": "sim"}],
        "CO": ["SYNTHETIC reads from varannot tests/bamsim.py; not real sequencing data"],
    }
    tid = {c: i for i, c in enumerate(contigs)}
    raw = path.with_suffix(".unsorted.bam")
    with pysam.AlignmentFile(str(raw), "wb", header=header) as out:
        for r in reads:
            seg = pysam.AlignedSegment(out.header)
            seg.query_name = r.name
            seg.reference_id = tid[r.chrom]
            seg.reference_start = r.start
            seg.mapping_quality = r.mapq
            seg.cigartuples = r.cigar
            seg.query_sequence = r.seq
            seg.query_qualities = pysam.qualitystring_to_array(
                "".join(chr(q + 33) for q in r.quals)
            )
            seg.flag = (0x10 if r.reverse else 0) | r.flag_extra
            if r.flag_extra & 0x1:
                seg.next_reference_id = tid[r.chrom]
                seg.next_reference_start = r.mate_start
                seg.template_length = r.tlen
            seg.set_tags([("RG", "sim"), *r.tags])
            out.write(seg)
    if path.suffix == ".cram":
        assert fasta is not None, "CRAM needs the reference FASTA"
        tmp = path.with_suffix(".sorted.bam")
        pysam.sort("-o", str(tmp), str(raw))
        pysam.view("-C", "-T", str(fasta), "-o", str(path), str(tmp), catch_stdout=False)
        tmp.unlink()
    else:
        pysam.sort("-o", str(path), str(raw))
    raw.unlink()
    pysam.index(str(path))
    return path


def write_genome_fasta(path: Path, fetch: Fetch, contigs: dict[str, tuple[int, int]]) -> Path:
    """bgzipped FASTA in genome coordinates: ``contigs`` {name: (first, last)} filled from
    ``fetch``, N elsewhere (CRAM and bcftools need contigs named as in the BAM)."""
    plain = path.with_suffix("")
    with plain.open("w") as fh:
        for name, (a, b) in contigs.items():
            seq = "N" * (a - 1) + fetch(name, a, b)
            fh.write(f">{name} SYNTHETIC padding around real test sequence\n")
            for i in range(0, len(seq), 60):
                fh.write(seq[i : i + 60] + "\n")
    pysam.tabix_compress(str(plain), str(path), force=True)
    plain.unlink()
    pysam.faidx(str(path))
    return path


def write_amplicon_bam(
    path: Path,
    fetch: Fetch,
    amplicons: Sequence[tuple[str, int, int, int]],
    variants: Sequence[SimVariant],
    contigs: dict[str, int],
    *,
    error_rate: float = 0.001,
    seed: int = 1,
    sample: str = "AMPLICON",
) -> int:
    """Fast SYNTHETIC amplicon BAM: ``amplicons`` (chrom, start, end, reads) in coordinate
    order, each read the whole amplicon on alternating strands, SNV ``variants`` (true kind)
    at their VAF, Q35 bases with sparse errors. Written already sorted, then indexed."""
    rng = random.Random(seed)
    header = {
        "HD": {"VN": "1.6", "SO": "coordinate"},
        "SQ": [{"SN": c, "LN": n} for c, n in contigs.items()],
        "RG": [{"ID": "sim", "SM": sample}],
        "CO": ["SYNTHETIC amplicon reads from varannot tests/bamsim.py; not real data"],
    }
    tid = {c: i for i, c in enumerate(contigs)}
    n = 0
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for chrom, a, b, count in amplicons:
            ref = fetch(chrom, a, b)
            length = len(ref)
            here = [v for v in variants if v.chrom == chrom and a <= v.pos <= b]
            quals = pysam.qualitystring_to_array("D" * length)
            for k in range(count):
                seq = list(ref)
                for v in here:
                    if rng.random() < v.vaf:
                        seq[v.pos - a] = v.alt
                i = int(rng.expovariate(error_rate)) if error_rate else length
                while i < length:
                    seq[i] = _mutate(seq[i], rng) if seq[i] in "ACGT" else seq[i]
                    i += 1 + int(rng.expovariate(error_rate))
                seg = pysam.AlignedSegment(out.header)
                n += 1
                seg.query_name = f"amp{n}"
                seg.flag = 16 if k % 2 else 0
                seg.reference_id = tid[chrom]
                seg.reference_start = a - 1
                seg.mapping_quality = 60
                seg.cigartuples = [(0, length)]
                seg.query_sequence = "".join(seq)
                seg.query_qualities = quals
                out.write(seg)
    pysam.index(str(path))
    return n
