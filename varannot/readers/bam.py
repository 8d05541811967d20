"""BAM/CRAM reader: pileup at the loci that matter, from the index, into observations + coverage.

Only the target intervals (knowledge-base loci, coding bases ± splice region) are read, through
the index; a file without one gets an index built in a temporary directory (never beside the
user's file) when it is coordinate-sorted, else a clear error. Reads are filtered by flag
(duplicates, secondary/supplementary, QC-fail, unmapped), mapping quality and base quality;
UMI-consensus BAMs are read as they are (one consensus read = one molecule). Each allele is
tested against the position's background (``pileup_model``); same-codon changes seen together
on reads are assembled into one MNV so the amino acid is the phased one.
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..genome import canonical_chrom
from ..models import CoveredInterval, InputBatch, Observation
from ..pileup_model import Background, ErrorModel

ALIGNMENT_SUFFIXES = (".bam", ".cram")
_FUNMAP, _FSECONDARY, _FQCFAIL, _FDUP, _FSUPPLEMENTARY = 0x4, 0x100, 0x200, 0x400, 0x800


@dataclass(frozen=True)
class PileupFilters:
    """Which reads and bases count (defaults in brackets): BQ [20], MAPQ [20], duplicates and
    secondary/supplementary alignments excluded; QC-fail and unmapped reads always are."""

    min_base_quality: int = 20
    min_mapping_quality: int = 20
    include_duplicates: bool = False
    include_secondary: bool = False
    max_depth: int = 2_000_000

    @property
    def flag_filter(self) -> int:
        f = _FUNMAP | _FQCFAIL
        if not self.include_duplicates:
            f |= _FDUP
        if not self.include_secondary:
            f |= _FSECONDARY | _FSUPPLEMENTARY
        return f


@dataclass(slots=True)
class SiteCounts:
    """Filtered read counts at one reference position (1-based, canonical chrom)."""

    chrom: str
    pos: int
    ref: str
    depth: int = 0  # bases passing BQ plus reads with a deletion here
    forward_depth: int = 0
    reverse_depth: int = 0
    bases: dict[str, list[int]] = field(default_factory=dict)  # base -> [forward, reverse]
    indels: dict[str, list[int]] = field(default_factory=dict)  # '+TT' / '-2' -> [fwd, rev]
    error_rate: float = 0.0  # mean per-base error from the base qualities

    def count(self, allele: str) -> tuple[int, int]:
        f, r = (self.indels if allele[0] in "+-" else self.bases).get(allele, (0, 0))
        return f, r


def is_alignment_file(path: str | Path) -> bool:
    """BAM or CRAM, by content (BGZF holding 'BAM\\1', or the 'CRAM' magic), else by name."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            head = fh.read(4)
        if head == b"CRAM":
            return True
        if head[:2] == b"\x1f\x8b":
            with gzip.open(p, "rb") as gz:
                return gz.read(4) == b"BAM\x01"
    except (OSError, EOFError):
        pass
    return p.name.lower().endswith(ALIGNMENT_SUFFIXES)


def open_alignments(path: str | Path, fasta: str | Path | None = None):  # type: ignore[no-untyped-def]
    """Open a BAM/CRAM with its index; returns (AlignmentFile, note or None, temp dir or None)."""
    import pysam

    p = Path(path)
    if not p.exists():
        raise InputError("file not found", source=str(path))
    cram = False
    with p.open("rb") as fh:
        cram = fh.read(4) == b"CRAM"
    ref_fa: str | None = None
    if cram:
        if fasta is None:
            raise InputError(
                "a CRAM needs the reference FASTA it was written with (--fasta)", source=str(path)
            )
        ref_fa = str(fasta)
    try:
        af = pysam.AlignmentFile(str(p), "rc" if cram else "rb", reference_filename=ref_fa)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read as BAM/CRAM: {exc}", source=str(path)) from exc
    if af.has_index():
        return af, None, None
    so = af.header.to_dict().get("HD", {}).get("SO")
    if so != "coordinate":
        af.close()
        raise InputError(
            "no index (.bai/.csi/.crai) and not coordinate-sorted: run 'samtools sort' and "
            "'samtools index' on it",
            source=str(path),
        )
    tmp = Path(tempfile.mkdtemp(prefix="varannot-index-"))
    idx = tmp / (p.name + (".crai" if cram else ".bai"))
    try:
        pysam.index(str(p), str(idx))
        af.close()
        af = pysam.AlignmentFile(
            str(p), "rc" if cram else "rb", index_filename=str(idx), reference_filename=ref_fa
        )
    except (OSError, ValueError, pysam.SamtoolsError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InputError(f"no index and building one failed: {exc}", source=str(path)) from exc
    note = "no index beside the file: one was built in a temporary directory (whole file read)"
    return af, note, tmp


def _read_group_samples(af) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted({rg.get("SM") for rg in af.header.to_dict().get("RG", []) if rg.get("SM")})


def sample_name(af, path: str | Path) -> str:  # type: ignore[no-untyped-def]
    """The read groups' SM (one sample per file), else the file name stem."""
    names = _read_group_samples(af)
    if len(names) > 1:
        raise InputError(
            f"read groups name several samples ({', '.join(names)}); varannot reads one sample "
            "per BAM/CRAM",
            source=str(path),
        )
    return names[0] if names else Path(path).name.split(".")[0]


_BASE_CODE = bytes(
    [0 if c == ord("A") else 1 if c == ord("C") else 2 if c == ord("G") else 3 if c == ord("T") else 4
     for c in range(256)]
)  # fmt: skip
_PHRED_ERR = [10.0 ** (-q / 10.0) for q in range(256)]


def pileup_sites(
    af,  # type: ignore[no-untyped-def]
    contig: str,
    start: int,
    end: int,
    ref_seq: str,
    filters: PileupFilters,
) -> list[SiteCounts]:
    """Counts at every position of [start, end] (1-based; ``ref_seq`` the reference there).

    One pass over the reads the index returns: Python walks each read's CIGAR blocks (a
    handful), numpy counts the bases (``bincount`` over position x base x strand), so deep
    amplicons cost little more than shallow ones. Same counts as ``bcftools mpileup -B`` with
    these filters (per-base error from each base's quality; deletions add to the depth).
    Overlapping mates of a proper pair are one molecule, so where both have a base only one
    counts, by htslib's rule (``_resolve_overlap``); a deletion both carry counts once.
    """
    import numpy as np

    chrom = canonical_chrom(contig)
    ff, mq, bq = filters.flag_filter, filters.min_mapping_quality, filters.min_base_quality
    width = end - start + 1
    lo = start - 1  # 0-based first position
    seq_parts: list[bytes] = []
    starts: list[int] = []
    lengths: list[int] = []
    strands: list[int] = []
    qual_parts: list[bytearray] = []  # mutable: a later mate may rewrite them (overlap)
    out = [SiteCounts(chrom, start + i, ref_seq[i]) for i in range(width)]
    # first mates of proper pairs whose mate may overlap: name -> (block indexes, indel events)
    waiting: dict[str, tuple[list[int], set[tuple[int, str]], list[tuple[int, int]]]] = {}
    for r in af.fetch(contig, lo, end):
        if r.flag & ff or r.mapping_quality < mq:
            continue
        seq = r.query_sequence
        quals = r.query_qualities
        if seq is None or quals is None:
            continue
        strand = 1 if r.is_reverse else 0
        first = mate = None
        if _may_overlap_mate(r):
            mate = waiting.pop(r.query_name, None)
            if mate is None and r.next_reference_start >= r.reference_start:
                first = waiting[r.query_name] = ([], set(), [])
        mine = len(lengths)
        dels: list[tuple[int, int]] = []  # second mate's deletions (window offsets)
        rpos, qpos = r.reference_start, 0
        for op, n in r.cigartuples:
            if op == 0 or op == 7 or op == 8:
                x, y = max(rpos, lo), min(rpos + n, end)
                if x < y:
                    seq_parts.append(seq[qpos + x - rpos : qpos + y - rpos].encode())
                    qual_parts.append(bytearray(quals[qpos + x - rpos : qpos + y - rpos]))
                    starts.append(x - lo)
                    lengths.append(y - x)
                    strands.append(strand)
                rpos += n
                qpos += n
            elif op == 1:
                if start <= rpos <= end and qpos > 0 and quals[qpos - 1] >= bq:
                    key = "+" + seq[qpos : qpos + n].upper()
                    if first is not None:
                        first[1].add((rpos, key))
                    if mate is None or (rpos, key) not in mate[1]:
                        out[rpos - start].indels.setdefault(key, [0, 0])[strand] += 1
                qpos += n
            elif op == 2:
                key = f"-{n}"
                if start <= rpos <= end and qpos > 0 and quals[qpos - 1] >= bq:
                    if first is not None:
                        first[1].add((rpos, key))
                    if mate is None or (rpos, key) not in mate[1]:
                        out[rpos - start].indels.setdefault(key, [0, 0])[strand] += 1
                if first is not None:
                    first[1].add((rpos, "span" + key))
                    first[2].append((rpos - lo, rpos + n - lo))
                elif mate is not None:
                    dels.append((rpos - lo, rpos + n - lo))
                if mate is None or (rpos, "span" + key) not in mate[1]:
                    for p in range(max(rpos + 1, start), min(rpos + n, end) + 1):
                        out[p - start].depth += 1  # a deletion both mates carry: once
                rpos += n
            elif op == 3:
                rpos += n
            elif op == 4:
                qpos += n
        if first is not None:
            first[0].extend(range(mine, len(lengths)))
        elif mate is not None:
            keep_first = _first_mate_kept(r.query_name)
            for i in mate[0]:
                for j in range(mine, len(lengths)):
                    _resolve_overlap(seq_parts, qual_parts, starts, lengths, i, j, keep_first)
                for span in dels:
                    _base_opposite_deletion(qual_parts, starts, lengths, i, span, keep_first)
            for span in mate[2]:
                for j in range(mine, len(lengths)):
                    _base_opposite_deletion(qual_parts, starts, lengths, j, span, not keep_first)
    if not lengths:
        return out
    ln = np.asarray(lengths, dtype=np.int64)
    offs = np.repeat(np.asarray(starts, dtype=np.int64) - (np.cumsum(ln) - ln), ln)
    pos = np.arange(int(ln.sum()), dtype=np.int64) + offs
    base = np.frombuffer(b"".join(seq_parts).translate(_BASE_CODE), dtype=np.uint8)
    qual = np.frombuffer(b"".join(qual_parts), dtype=np.uint8)
    strand_arr = np.repeat(np.asarray(strands, dtype=np.int64), ln)
    keep = qual >= bq  # N bases count for depth (the read was there), not for any allele
    pos, base, qual, strand_arr = pos[keep], base[keep], qual[keep], strand_arr[keep]
    counts = np.bincount((pos * 5 + base) * 2 + strand_arr, minlength=width * 10)
    table = counts.reshape(width, 5, 2).tolist()
    err = np.bincount(pos, weights=np.asarray(_PHRED_ERR)[qual], minlength=width).tolist()
    for i, s in enumerate(out):
        row = table[i]
        for k, b in enumerate("ACGT"):
            f, rv = row[k]
            if f or rv:
                s.bases[b] = [f, rv]
                s.forward_depth += f
                s.reverse_depth += rv
        n = s.forward_depth + s.reverse_depth + row[4][0] + row[4][1]
        if n:
            s.error_rate = err[i] / n
        s.depth += n
    return out


def _may_overlap_mate(r) -> bool:  # type: ignore[no-untyped-def]
    """htslib's test for a read whose mate may overlap it: proper pair, mate mapped on the same
    contig, and not a long insert (bcftools mpileup without ``-x``)."""
    if r.flag & 0x8 or not r.flag & 0x2:
        return False
    if r.next_reference_id >= 0 and r.next_reference_id != r.reference_id:
        return False
    return not (
        abs(r.template_length) >= 2 * r.query_length and r.next_reference_start >= r.reference_end
    )


def _first_mate_kept(name: str) -> bool:
    """htslib (>= 1.13) picks which mate keeps an agreed base by a hash of the read name (khash
    X31 string hash, then Wang integer hash; odd -> the first mate)."""
    m = 0xFFFFFFFF
    raw = name.encode()
    h = raw[0] if raw else 0
    for c in raw[1:]:
        h = ((h << 5) - h + c) & m
    h = (h + (m ^ ((h << 15) & m))) & m
    h ^= h >> 10
    h = (h + (h << 3)) & m
    h ^= h >> 6
    h = (h + (m ^ ((h << 11) & m))) & m
    h ^= h >> 16
    return bool(h & 1)


def _resolve_overlap(
    seqs: list[bytes],
    quals: list[bytearray],
    starts: list[int],
    lengths: list[int],
    i: int,
    j: int,
    keep_first: bool,
) -> None:
    """Where aligned blocks ``i`` (first mate) and ``j`` (second) share positions, keep one base
    as htslib's ``tweak_overlap_quality`` (bcftools mpileup without ``-x``) does: same base ->
    the kept mate (``keep_first``, by name hash) gets the summed quality (max 200), the other
    0; different bases -> the higher quality is kept at 0.8 x (a tie goes to the kept mate),
    the other 0. Quality 0 then fails the BQ filter."""
    import numpy as np

    x = max(starts[i], starts[j])
    y = min(starts[i] + lengths[i], starts[j] + lengths[j])
    if x >= y:
        return
    ai, bi = x - starts[i], x - starts[j]
    qa = np.frombuffer(quals[i], dtype=np.uint8)[ai : ai + y - x]
    qb = np.frombuffer(quals[j], dtype=np.uint8)[bi : bi + y - x]
    same = (
        np.frombuffer(seqs[i], dtype=np.uint8)[ai : ai + y - x]
        == np.frombuffer(seqs[j], dtype=np.uint8)[bi : bi + y - x]
    )
    a, b = qa.astype(np.int64), qb.astype(np.int64)
    summed = np.minimum(a + b, 200)
    a_wins = (a > b) | ((a == b) & keep_first)
    b_wins = (b > a) | ((a == b) & (not keep_first))
    qa[:] = np.where(
        same, summed if keep_first else 0, np.where(a_wins, (a * 0.8).astype(np.int64), 0)
    )
    qb[:] = np.where(
        same, 0 if keep_first else summed, np.where(b_wins, (b * 0.8).astype(np.int64), 0)
    )


def _base_opposite_deletion(
    quals: list[bytearray],
    starts: list[int],
    lengths: list[int],
    i: int,
    span: tuple[int, int],
    kept: bool,
) -> None:
    """A mate's bases facing a deletion in the other mate: htslib keeps them at 0.8 x quality
    on the mate it keeps, 0 on the other."""
    x = max(starts[i], span[0])
    y = min(starts[i] + lengths[i], span[1])
    q = quals[i]
    for k in range(x - starts[i], y - starts[i]):
        q[k] = int(q[k] * 0.8) if kept else 0


@dataclass
class AllelesFound:
    observations: list[Observation] = field(default_factory=list)
    below_background: int = 0
    strand_bias: int = 0


def _vcf_allele(
    site: SiteCounts, allele: str, fetch_ref: Mapping[int, str]
) -> tuple[int, str, str]:
    """(pos, REF, ALT) in VCF convention for a base or an indel anchored at ``site``."""
    if allele[0] == "+":
        return site.pos, site.ref, site.ref + allele[1:]
    if allele[0] == "-":
        n = int(allele[1:])
        deleted = "".join(fetch_ref.get(site.pos + i, "N") for i in range(1, n + 1))
        return site.pos, site.ref + deleted, site.ref
    return site.pos, site.ref, allele


def test_sites(
    sites: Sequence[SiteCounts],
    model: ErrorModel,
    sample: str,
    source: str,
    fetch_ref=None,  # type: ignore[no-untyped-def]  # (chrom, start, end) -> bases
) -> tuple[list[tuple[SiteCounts, str, Observation]], int, int]:
    """Significant alleles as observations (strand-biased ones filtered), plus counts of the
    alleles below background and of strand-bias rejections. A significant deletion over
    reference N cannot be written as VCF: it is kept as a ``ref_unknown`` filtered record."""
    ref_at = {(s.chrom, s.pos): s.ref for s in sites}
    found: list[tuple[SiteCounts, str, Observation]] = []
    below = bias = 0
    for s in sites:
        if s.ref not in "ACGT" or s.depth == 0:
            continue
        for allele, (f, r) in [*s.bases.items(), *s.indels.items()]:
            if allele == s.ref or allele == "N":
                continue
            kind = "indel" if allele[0] in "+-" else "snv"
            rate = model.rate(kind, s.error_rate / 3.0, s.chrom, s.pos, allele)
            t = model.test(f + r, f, r, s.depth, s.forward_depth, rate)
            if not t.significant:
                below += 1
                continue
            if allele[0] == "-" and fetch_ref is not None:
                n = int(allele[1:])
                seq = fetch_ref(s.chrom, s.pos, s.pos + n)
                refs = {s.pos + i: b for i, b in enumerate(seq)}
            else:
                refs = {p: ref_at.get((s.chrom, p), "N") for p in range(s.pos, s.pos + 60)}
            va = _vcf_allele(s, allele, refs)
            if t.strand_bias:
                bias += 1
            ob = _observation(s, va, t, sample, source, model)
            if "N" in va[1]:  # never silently dropped: listed, not called
                ob.filters = (*ob.filters, "ref_unknown")
            found.append((s, allele, ob))
    return found, below, bias


def _observation(
    s: SiteCounts,
    va: tuple[int, str, str],
    t,  # type: ignore[no-untyped-def]
    sample: str,
    source: str,
    model: ErrorModel,
) -> Observation:
    pos, ref, alt = va
    record = (
        f"pileup {s.chrom}:{pos} {ref}>{alt}: {t.count} of {t.depth} reads "
        f"(forward {t.forward}, reverse {t.reverse}); background {t.expected_rate:.2g}, "
        f"p={t.p_value:.2g} (threshold {model.threshold():.2g})"
    )
    return Observation(
        sample=sample,
        chrom=s.chrom,
        pos=pos,
        ref=ref,
        alt=alt,
        source=source,
        record=record,
        depth=t.depth,
        alt_depth=t.count,
        vaf=t.count / t.depth if t.depth else None,
        vaf_source="read counts",
        filters=("strand_bias",) if t.strand_bias else (),
        quality=None,
        origin="reads",
        extra_flags=("strand_bias",) if t.strand_bias else (),
    )


def assemble_codons(
    af,  # type: ignore[no-untyped-def]
    contig: str,
    found: list[tuple[SiteCounts, str, Observation]],
    codons: Mapping[tuple[str, int], tuple[int, int, int]],
    filters: PileupFilters,
    model: ErrorModel,
    sample: str,
    source: str,
) -> list[Observation]:
    """Replace same-codon SNVs carried by the same reads with one MNV (the phased codon).

    A read carrying both changes counts for the MNV only; what remains of each SNV is tested
    again and kept only if still significant on its own.
    """
    snvs = [(s, a, o) for s, a, o in found if a[0] not in "+-" and o.passed]
    by_codon: dict[tuple[int, int, int], list[tuple[SiteCounts, str, Observation]]] = {}
    for item in snvs:
        cod = codons.get((item[0].chrom, item[0].pos))
        if cod is not None:
            by_codon.setdefault(cod, []).append(item)
    out = [o for _, _, o in found]
    for items in by_codon.values():
        if len({s.pos for s, _, _ in items}) < 2:
            continue
        positions = sorted({s.pos for s, _, _ in items})
        ref = {s.pos: s.ref for s, _, _ in items}
        haps: Counter[tuple[str, ...]] = Counter()
        fwd: Counter[tuple[str, ...]] = Counter()
        pairs: set[str] = set()  # overlapping mates are one molecule: the first one counts
        for read in af.fetch(contig, positions[0] - 1, positions[-1]):
            if (
                read.flag & filters.flag_filter
                or read.mapping_quality < filters.min_mapping_quality
            ):
                continue
            qpos = {r: q for q, r in read.get_aligned_pairs(matches_only=True) if r + 1 in ref}
            if len(qpos) != len(positions):
                continue
            seq, quals = read.query_sequence, read.query_qualities
            if any(quals[qpos[p - 1]] < filters.min_base_quality for p in positions):
                continue
            if _may_overlap_mate(read):
                if read.query_name in pairs:
                    continue
                pairs.add(read.query_name)
            hap = tuple(seq[qpos[p - 1]] for p in positions)
            haps[hap] += 1
            if not read.is_reverse:
                fwd[hap] += 1
        depth = sum(haps.values())
        fdepth = sum(fwd.values())
        used: Counter[tuple[int, str]] = Counter()
        for hap, n in haps.items():
            changed = [(p, b) for p, b in zip(positions, hap, strict=True) if b != ref[p]]
            if len(changed) < 2:
                continue
            t = model.test(n, fwd[hap], n - fwd[hap], depth, fdepth, model.mnv_floor)
            if not t.significant:
                continue
            a, b = changed[0][0], changed[-1][0]
            ref_s = "".join(ref.get(p, "N") for p in range(a, b + 1))
            alt_s = "".join(dict(changed).get(p, ref.get(p, "N")) for p in range(a, b + 1))
            if "N" in ref_s:
                continue
            site = next(s for s, _, _ in items if s.pos == a)
            ob = _observation(site, (a, ref_s, alt_s), t, sample, source, model)
            ob.extra_flags = (*ob.extra_flags, "assembled_from_reads")
            out.append(ob)
            for p, base in changed:
                used[(p, base)] += n
        if not used:
            continue
        for s, allele, ob in items:
            taken = used.get((s.pos, allele), 0)
            if not taken:
                continue
            f, r = s.count(allele)
            rest = f + r - taken
            share = (f / (f + r)) if f + r else 0.5
            rf = round(rest * share)
            rate = model.rate("snv", s.error_rate / 3.0, s.chrom, s.pos, allele)
            t = model.test(rest, rf, rest - rf, s.depth, s.forward_depth, rate)
            out.remove(ob)
            if t.significant:
                out.append(_observation(s, (s.pos, s.ref, allele), t, sample, source, model))
    return out


@dataclass
class ReadEvidence:
    """What one BAM/CRAM gave: the batch plus per-position counts (for tables and plots)."""

    batch: InputBatch
    sites: list[SiteCounts]


def read_alignments(
    path: str | Path,
    *,
    targets: Sequence[tuple[str, int, int]],
    fetch_ref,  # type: ignore[no-untyped-def]  # (chrom, start, end) -> bases
    codons: Mapping[tuple[str, int], tuple[int, int, int]] = {},
    filters: PileupFilters | None = None,
    model: ErrorModel | None = None,
    fasta: str | Path | None = None,
    sample: str | None = None,
    background: Background | None = None,
) -> ReadEvidence:
    """Pile up ``targets`` (canonical chrom, 1-based inclusive) and call alleles against the
    background; coverage is one interval per position carrying its depth and limit of
    detection."""
    filters = filters or PileupFilters()
    model = model or ErrorModel()
    if background is not None:
        model.background = background
    af, note, tmp = open_alignments(path, fasta)
    source = str(path)
    try:
        name = sample or sample_name(af, path)
        named_by_file = sample is None and not _read_group_samples(af)
        contigs = {canonical_chrom(c): c for c in af.references}
        batch = InputBatch(source=source, kind="reads", samples=[name])
        if note:
            batch.details["index"] = note
        if named_by_file:
            batch.details["sample_from_file_name"] = True
        sites: list[SiteCounts] = []
        missing: list[str] = []
        profile: list[dict[str, object]] = []  # per target interval: depth at each position
        by_contig: dict[str, list[SiteCounts]] = {}
        for chrom, a, b in _merge(targets):
            contig = contigs.get(canonical_chrom(chrom))
            if contig is None or b > af.get_reference_length(contig):
                missing.append(f"{chrom}:{a}-{b}")
                continue
            try:
                got = pileup_sites(af, contig, a, b, fetch_ref(chrom, a, b), filters)
            except (OSError, ValueError) as exc:
                raise InputError(f"cannot read {contig}:{a}-{b}: {exc}", source=source) from exc
            sites.extend(got)
            by_contig.setdefault(contig, []).extend(got)
            profile.append(
                {"chrom": canonical_chrom(chrom), "start": a, "depth": [x.depth for x in got]}
            )
        if missing:
            batch.details["contigs_missing"] = (
                f"{len(missing)} target intervals are on contigs absent from the file (or "
                "beyond their end) "
                f"(e.g. {missing[0]}): not assessed"
            )
        model.tests = max(1, 3 * len(sites))
        observations: list[Observation] = []
        below = bias = 0
        for contig, cs in by_contig.items():
            found, b1, b2 = test_sites(cs, model, name, source, fetch_ref)
            below, bias = below + b1, bias + b2
            observations.extend(
                assemble_codons(af, contig, found, codons, filters, model, name, source)
            )
        batch.observations = observations
        batch.records_read = len(sites)
        batch.coverage[name] = [
            CoveredInterval(
                s.chrom,
                s.pos,
                s.pos,
                s.depth,
                "reads",
                model.limit_of_detection(s.depth, _worst_rate(model, s)),
            )
            for s in sites
        ]
        batch.details.update(
            {
                "depth_profile": profile,
                "positions_piled_up": len(sites),
                "alleles_below_background": below,
                "strand_bias_alleles": bias,
                "filters": (
                    f"BQ>={filters.min_base_quality}, MAPQ>={filters.min_mapping_quality}, "
                    f"duplicates {'kept' if filters.include_duplicates else 'excluded'}, "
                    f"secondary/supplementary {'kept' if filters.include_secondary else 'excluded'}"
                ),
                "error_model": (
                    f"Poisson tail vs background (floor {model.substitution_floor:g}/base change"
                    f"{', ' + model.background.source if model.background else ''}); "
                    f"threshold {model.threshold():.2g} = {model.alpha:g}/{model.tests} tests"
                ),
            }
        )
        return ReadEvidence(batch, sites)
    finally:
        af.close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _worst_rate(model: ErrorModel, s: SiteCounts) -> float:
    """The highest background of the position's three base changes (limits of detection)."""
    return max(
        model.rate("snv", s.error_rate / 3.0, s.chrom, s.pos, b) for b in "ACGT" if b != s.ref
    )


def background_from_normals(
    paths: Sequence[str | Path],
    *,
    targets: Sequence[tuple[str, int, int]],
    fetch_ref,  # type: ignore[no-untyped-def]
    filters: PileupFilters | None = None,
    fasta: str | Path | None = None,
) -> Background:
    """Per-allele error rates pooled over normal samples (pseudocount 1 read: (alt+1)/(depth+1)),
    so a recurrent artefact at a position raises that position's bar."""
    filters = filters or PileupFilters()
    alt: Counter[tuple[str, int, str]] = Counter()
    depth: Counter[tuple[str, int]] = Counter()
    for path in paths:
        af, _, tmp = open_alignments(path, fasta)
        try:
            contigs = {canonical_chrom(c): c for c in af.references}
            for chrom, a, b in _merge(targets):
                contig = contigs.get(canonical_chrom(chrom))
                if contig is None:
                    continue
                for s in pileup_sites(af, contig, a, b, fetch_ref(chrom, a, b), filters):
                    depth[(s.chrom, s.pos)] += s.depth
                    for allele, (f, r) in [*s.bases.items(), *s.indels.items()]:
                        if allele != s.ref:
                            alt[(s.chrom, s.pos, allele)] += f + r
        finally:
            af.close()
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
    rates = {k: (n + 1) / (depth[(k[0], k[1])] + 1) for k, n in alt.items() if n}
    return Background(rates, source=f"panel of {len(paths)} normals")


def _merge(targets: Sequence[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    out: list[tuple[str, int, int]] = []
    for c, a, b in sorted((canonical_chrom(c), a, b) for c, a, b in targets):
        if out and out[-1][0] == c and a <= out[-1][2] + 1:
            out[-1] = (c, out[-1][1], max(out[-1][2], b))
        else:
            out.append((c, a, b))
    return out
