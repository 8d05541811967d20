"""Record -> observation: the one interpreter every backend hands the text of a record to.

:class:`_Builder` splits multi-allelic records, attributes ALT alleles to samples (genotype or
allele counts via :mod:`.dialects`), records phasing, gVCF reference blocks and variant-site
coverage, counts records outside the gene regions and files every refused record with its line
and reason. Because pysam, pyvcf3 and the region scan all feed this class the record *text*, the
backends agree by construction and differ only in which malformed records they reject.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

from ...genome import canonical_chrom
from ...models import CoveredInterval, InputBatch, Observation
from .dialects import (
    _CARRIER_RE,
    _END_RE,
    _GT,
    _MISSING,
    _PLACEHOLDERS,
    _SEQ_RE,
    _TENTATIVE_RECORDS,
    REASON_DUPLICATE,
    REASON_NO_CARRIER,
    REASON_NO_DATA,
    REASON_NOCALL_ALT,
    REASON_NOCALL_BLOCK,
    REASON_POS_HIGH,
    REASON_POS_LOW,
    CovSource,
    _alt_kind,
    _Counts,
    _counts,
    _Fmt,
    _num,
    _parse_gt,
    _Site,
    _val,
)
from .open import Region, _Header, _Input


class _Builder:
    """Turns record text into the batch; all interpretation lives here, shared by backends."""

    def __init__(
        self,
        src: _Input,
        hdr: _Header,
        selected: list[tuple[int, str]],
        regions: Sequence[Region] | None,
        keep_outside: bool,
        batch: InputBatch,
    ):
        self.src = src
        self.display = src.display
        self.batch = batch
        self.n_samples = len(hdr.samples)
        self.selected = selected  # (column index, name) in file order
        self.by_col = dict(selected)
        self.all_selected = len(selected) == self.n_samples
        self.pseudo = batch.samples[0] if self.n_samples == 0 else None
        self.numbers = hdr.format_number
        self.keep_outside = keep_outside
        self.contig_len = {c: n for c, n in hdr.contigs.items() if n}
        # identical records at one position: (CHROM, POS) now -> record columns -> first label
        self.dup_at: tuple[str, int] | None = None
        self.dup_seen: dict[tuple[str, ...], str] = {}
        self.nocall_reported = False
        self.gvcf = False  # set by the first reference block / all-sites record
        self.fmts: dict[str, _Fmt] = {}
        self.alt_kinds: dict[str, str] = {}
        self.gt_cache: dict[str, _GT | None] = {}
        self.tentative: dict[str, list[CoveredInterval]] = {}
        self.vaf_sources: dict[str, int] = {}
        self.regions: dict[str, tuple[list[int], list[int]]] | None = None
        self.chrom_cache: dict[str, tuple[list[int], list[int]] | None] = {}
        if regions is not None:
            self.regions = {
                c: ([s for s, _ in iv], [e for _, e in iv]) for c, iv in _merge(regions).items()
            }

    # -- accounting ----------------------------------------------------------------------------
    def skip(self, reason: str, label: str) -> None:
        self.batch.skipped.add(reason, label)

    def _regs(self, chrom: str) -> tuple[list[int], list[int]] | None:
        try:
            return self.chrom_cache[chrom]
        except KeyError:
            assert self.regions is not None
            r = self.regions.get(canonical_chrom(chrom))
            self.chrom_cache[chrom] = r
            return r

    def accept(self, line: str, label: str) -> tuple[list[str], int, int, bool] | None:
        """Count the record, test it against the regions; parts/pos/end/inside or None."""
        self.batch.records_read += 1
        parts = line.split("\t", 9)
        if len(parts) < 8:
            self.skip("malformed record: fewer than 8 tab-separated columns", label)
            return None
        try:
            pos = int(parts[1])
        except ValueError:
            self.skip("malformed record: POS is not an integer", label)
            return None
        if pos < 1:
            self.skip(REASON_POS_LOW, f"{label} (POS {parts[1]})")
            return None
        clen = self.contig_len.get(parts[0])
        if clen is not None and pos > clen:
            self.skip(REASON_POS_HIGH, f"{label} (POS {pos}, {parts[0]} length {clen})")
            return None
        end = pos + max(len(parts[3]), 1) - 1
        info = parts[7]
        if "END=" in info:
            m = _END_RE.search(info)
            if m and int(m.group(1)) >= pos:
                end = int(m.group(1))
        inside = True
        if self.regions is not None:
            regs = self._regs(parts[0])
            inside = False
            if regs is not None:
                i = bisect_right(regs[0], end) - 1
                inside = i >= 0 and regs[1][i] >= pos
            if not inside:
                self.batch.records_outside_genes += 1
                if (
                    not self.gvcf
                    and self.n_samples
                    and (parts[4] in _PLACEHOLDERS or parts[4] == ".")
                ):
                    self._enable_gvcf()
                if not self.keep_outside:
                    return None
        return parts, pos, end, inside

    def outside(self, chrom: str, pos: int, stop: int, alts: tuple[str, ...] | None) -> bool:
        """Quick region test from parsed fields (pysam); counts the record when outside.

        A POS below 1 or past the contig's stated length is never "outside": ``accept`` files
        it as malformed.
        """
        if pos < 1 or pos > self.contig_len.get(chrom, pos):
            return False
        regs = self._regs(chrom)
        if regs is not None:
            i = bisect_right(regs[0], stop) - 1
            if i >= 0 and regs[1][i] >= pos:
                return False
        self.batch.records_read += 1
        self.batch.records_outside_genes += 1
        if not self.gvcf and self.n_samples and (alts is None or alts[0] in _PLACEHOLDERS):
            self._enable_gvcf()
        return True

    def reject(self, accepted: tuple[list[str], int, int, bool], label: str, why: str) -> None:
        """A backend refused a record that passed ``accept``: say why, as precisely as we can."""
        parts = accepted[0]
        if self.n_samples and len(parts) > 9:
            n = parts[9].count("\t") + 1
            if n != self.n_samples:
                why = f"malformed record: {n} sample columns but the header names {self.n_samples}"
            else:
                n_keys = parts[8].count(":") + 1
                if any(s.count(":") >= n_keys for s in parts[9].split("\t")):
                    why = "malformed record: a sample has more values than FORMAT keys"
        self.skip(why, label)

    # -- coverage ------------------------------------------------------------------------------
    def _enable_gvcf(self) -> None:
        self.gvcf = True
        for name, ivs in self.tentative.items():
            for iv in ivs:
                self._merge_cov(self.batch.coverage.setdefault(name, []), iv)
        self.tentative.clear()

    @staticmethod
    def _merge_cov(lst: list[CoveredInterval], iv: CoveredInterval) -> None:
        if lst:
            last = lst[-1]
            if (
                last.chrom == iv.chrom
                and last.source == iv.source
                and last.depth == iv.depth
                and last.start <= iv.start <= last.end + 1
            ):
                if iv.end > last.end:
                    lst[-1] = CoveredInterval(
                        last.chrom, last.start, iv.end, last.depth, last.source
                    )
                return
        lst.append(iv)

    def _cover(
        self, name: str, chrom: str, start: int, end: int, depth: int | None, source: CovSource
    ) -> bool:
        """Record coverage for one sample (clipped to the regions); False if none of it is kept."""
        c = canonical_chrom(chrom)
        pieces = [(start, end)]
        if self.regions is not None:
            regs = self._regs(chrom)
            if regs is None:
                return False
            starts, ends = regs
            pieces = []
            i = max(bisect_right(starts, start) - 1, 0)
            while i < len(starts) and starts[i] <= end:
                if ends[i] >= start:
                    pieces.append((max(start, starts[i]), min(end, ends[i])))
                i += 1
        if self.gvcf:
            target = self.batch.coverage.setdefault(name, [])
        elif self.batch.records_read <= _TENTATIVE_RECORDS:
            target = self.tentative.setdefault(name, [])
        else:  # no reference block this far in: not a gVCF, stop buffering
            self.tentative.clear()
            return bool(pieces)
        for s, e in pieces:
            self._merge_cov(target, CoveredInterval(c, s, e, depth, source))
        return bool(pieces)

    # -- records -------------------------------------------------------------------------------
    def _fmt(self, fmt: str) -> _Fmt:
        f = self.fmts.get(fmt)
        if f is None:
            f = self.fmts[fmt] = _Fmt(fmt)
        return f

    def _kind(self, alt: str) -> str:
        k = self.alt_kinds.get(alt)
        if k is None:
            k = _alt_kind(alt)
            if len(self.alt_kinds) < 4096:
                self.alt_kinds[alt] = k
        return k

    def _duplicate(self, parts: list[str], pos: int, label: str) -> bool:
        """True (and reported) when an identical record was already read at this position.

        Only records at one (CHROM, POS) are remembered, so memory stays flat; in a sorted VCF
        that is where identical copies are.
        """
        at = (parts[0], pos)
        if at != self.dup_at:
            self.dup_at, self.dup_seen = at, {}
        key = tuple(parts)
        first = self.dup_seen.get(key)
        if first is None:
            self.dup_seen[key] = label
            return False
        self.skip(REASON_DUPLICATE, f"{label} (same as {first})")
        return True

    def process(self, accepted: tuple[list[str], int, int, bool], label: str) -> None:
        parts, pos, end, inside = accepted
        if self._duplicate(parts, pos, label):
            return
        chrom, ref, alt_s = parts[0], parts[3], parts[4]
        alts = alt_s.split(",")
        kinds = [self._kind(a) for a in alts]
        reasons = {k for k in kinds if k not in ("seq", "placeholder", "missing")}
        for r in sorted(reasons):
            self.skip(r, label)
        has_seq = "seq" in kinds
        ref_only = not has_seq and not reasons
        if not has_seq and not ref_only:
            return
        if not _SEQ_RE.fullmatch(ref):
            self.skip("malformed record: invalid REF allele", label)
            return
        qual_s = parts[5]
        try:
            qual = None if qual_s == "." else float(qual_s)
        except ValueError:
            self.skip("malformed record: QUAL is not a number", label)
            return
        filt = parts[6]
        filters: tuple[str, ...] = () if filt in _MISSING else tuple(filt.split(";"))

        if self.n_samples == 0:  # sites-only: one pseudo-sample named after the file
            if ref_only:
                self.skip("reference-only site without sample data", label)
                return
            assert self.pseudo is not None
            for k, alt in enumerate(alts, 1):
                if kinds[k - 1] == "seq":
                    self.batch.observations.append(
                        Observation(
                            sample=self.pseudo,
                            chrom=chrom,
                            pos=pos,
                            ref=ref,
                            alt=alt,
                            source=self.display,
                            record=label,
                            filters=filters,
                            quality=qual,
                        )
                    )
            return

        if len(parts) < 10:
            self.skip("malformed record: no FORMAT/sample columns", label)
            return
        section = parts[9]
        if section.count("\t") + 1 != self.n_samples:
            n = section.count("\t") + 1
            self.skip(
                f"malformed record: {n} sample columns but the header names {self.n_samples}",
                label,
            )
            return
        f = self._fmt(parts[8])
        if ref_only:
            if not self.gvcf:
                self._enable_gvcf()
            eligible, nocall = self._ref_block(f, section, chrom, pos, end)
            if not eligible:
                self.skip(
                    REASON_NOCALL_BLOCK
                    if nocall
                    else "reference block without a called genotype or depth",
                    label,
                )
            return

        n_obs = len(self.batch.observations)
        self.nocall_reported = False
        covered = False
        bad_gt = False
        site = _Site(
            chrom, pos, ref, pos + len(ref) - 1, alts, kinds, len(alts), label, filters, qual
        )
        if f.gt == 0 and not self.gvcf:
            # Fast path: find carriers by regex; hom-ref/missing samples cost no Python objects.
            col, last = 0, 0
            for m in _CARRIER_RE.finditer(section):
                st = m.start()
                col += section.count("\t", last, st + 1)
                last = st + 1
                name = self.by_col.get(col)
                if name is None:
                    continue
                start = st + 1 if section[st] == "\t" else st
                stop = section.find("\t", start)
                s = section[start:] if stop < 0 else section[start:stop]
                ok, cov = self._sample(name, s, f, site)
                bad_gt |= not ok
                covered |= cov
        else:
            cols = section.split("\t")
            for col, name in self.selected:
                ok, cov = self._sample(name, cols[col], f, site)
                bad_gt |= not ok
                covered |= cov
        if bad_gt:
            self.skip("malformed GT (sample ignored)", label)
        if (
            len(self.batch.observations) == n_obs
            and not covered
            and not reasons
            and not bad_gt
            and not self.nocall_reported
        ):
            if f.gt is None and not f.has_counts:
                self.skip(REASON_NO_DATA, label)
            else:
                self.skip(REASON_NO_CARRIER, label)

    def _ref_block(
        self, f: _Fmt, section: str, chrom: str, pos: int, end: int
    ) -> tuple[bool, bool]:
        """Cover the samples with a called GT (or depth when there is no GT column).

        Returns (some sample covered, some sample skipped as a no-call): a no-call block is
        never coverage, whatever its depth.
        """
        cols = section.split("\t")
        eligible = nocall = False
        for col, name in self.selected:
            vals = cols[col].split(":")
            gt = _val(vals, f.idx, "GT")
            called = gt is not None and any(a is not None for a in (_parse_gt(gt) or []))
            if f.gt is not None and not called:
                nocall = True
                continue
            depth = _num(_val(vals, f.idx, "MIN_DP"))
            if depth is None:
                depth = _num(_val(vals, f.idx, "DP"))
            if called or depth is not None:
                eligible = True
                self._cover(name, chrom, pos, end, depth, "gvcf_block")
        return eligible, nocall

    def _gt(self, gt: str) -> _GT | None:
        """Parsed GT, cached: cohorts repeat a handful of GT strings millions of times."""
        g = self.gt_cache.get(gt)
        if g is None and gt not in self.gt_cache:
            alleles = _parse_gt(gt)
            if alleles is not None:
                phased = len(alleles) > 1 and "/" not in gt
                carried = tuple(sorted({a for a in alleles if a}))
                haps = {k: tuple(i for i, a in enumerate(alleles) if a == k) for k in carried}
                g = _GT(tuple(alleles), carried, phased, haps)
            if len(self.gt_cache) < 4096:
                self.gt_cache[gt] = g
        return g

    def _sample(self, name: str, s: str, f: _Fmt, site: _Site) -> tuple[bool, bool]:
        """Observations (and gVCF variant-site coverage) for one sample; (GT ok, covered)."""
        vals = s.split(":")
        idx = f.idx
        dp = _num(_val(vals, idx, "DP")) if f.has_dp else None
        covered = False
        gt = _val(vals, idx, "GT") if f.gt is not None else None
        g: _GT | None = None
        if gt is not None:
            g = self._gt(gt)
            if g is None or (g.carried and g.carried[-1] > site.n_alts):
                return False, covered
            if all(a is None for a in g.alleles):
                self._nocall(name, vals, f, site)  # './.': neither coverage nor a call
                return True, covered
            carried: Sequence[int] = g.carried
        elif f.gt is not None:
            self._nocall(name, vals, f, site)  # GT missing for this sample: not called
            return True, covered
        if self.gvcf and dp is not None:
            covered = self._cover(name, site.chrom, site.pos, site.ref_end, dp, "variant_site")
        if gt is None:
            carried = []
            for k in range(1, site.n_alts + 1):
                if site.kinds[k - 1] == "seq":
                    c = _counts(vals, f, self.numbers, site.ref, site.alts[k - 1], k, site.n_alts)
                    if (c.alt_depth or 0) > 0 or (c.alt_depth is None and (c.vaf or 0) > 0):
                        carried.append(k)
        if not carried:
            return True, covered
        phased = g is not None and g.phased
        hap_map = g.haps if g is not None and phased else None
        phase_set = _val(vals, idx, "PS") if phased and f.has_ps else None
        if g is not None and not phased and f.has_pgt and len(g.alleles) > 1:
            pgt = _val(vals, idx, "PGT")  # GATK physical phasing
            if pgt is not None and "|" in pgt:
                parsed = _parse_gt(pgt)
                # Only when PGT describes the same alleles (GATK leaves stale PGTs on hom-alts).
                if parsed is not None and sorted(map(str, parsed)) == sorted(map(str, g.alleles)):
                    phased, phase_set = True, _val(vals, idx, "PID")
                    hap_map = {k: tuple(i for i, a in enumerate(parsed) if a == k) for k in carried}
        s_filters = site.filters
        if f.has_ft:
            ft = _val(vals, idx, "FT")
            if ft is not None and ft != "PASS":
                s_filters = s_filters + tuple("FT:" + x for x in ft.split(";"))
        for k in carried:
            if site.kinds[k - 1] != "seq":
                continue
            alt = site.alts[k - 1]
            c = (
                _counts(vals, f, self.numbers, site.ref, alt, k, site.n_alts)
                if f.has_counts
                else _Counts(depth=dp)
            )
            if c.vaf_source is not None:
                self.vaf_sources[c.vaf_source] = self.vaf_sources.get(c.vaf_source, 0) + 1
            haps = hap_map[k] if hap_map is not None else ()
            self.batch.observations.append(
                Observation(
                    sample=name,
                    chrom=site.chrom,
                    pos=site.pos,
                    ref=site.ref,
                    alt=alt,
                    source=self.display,
                    record=site.label,
                    genotype=gt,
                    phased=phased,
                    phase_set=phase_set,
                    haplotypes=haps,
                    depth=c.depth,
                    alt_depth=c.alt_depth,
                    vaf=c.vaf,
                    vaf_source=c.vaf_source,
                    filters=s_filters,
                    quality=site.qual,
                )
            )
            if not self.gvcf and dp is not None:
                covered |= self._cover(name, site.chrom, site.pos, site.ref_end, dp, "variant_site")
        return True, covered

    def _nocall(self, name: str, vals: list[str], f: _Fmt, site: _Site) -> None:
        """A no-call is never coverage; reads for an ALT there are reported, not dropped."""
        if not f.has_counts:
            return
        seen = []
        for k in range(1, site.n_alts + 1):
            if site.kinds[k - 1] == "seq":
                c = _counts(vals, f, self.numbers, site.ref, site.alts[k - 1], k, site.n_alts)
                if c.alt_depth:
                    depth = "?" if c.depth is None else str(c.depth)
                    seen.append(f"{site.alts[k - 1]} {c.alt_depth}/{depth} reads")
                elif c.alt_depth is None and c.vaf:
                    seen.append(f"{site.alts[k - 1]} VAF {c.vaf:g}")
        if seen:
            self.nocall_reported = True
            self.skip(REASON_NOCALL_ALT, f"{site.label} ({name}: {', '.join(seen)})")

    def finish(self) -> None:
        self.batch.details["gvcf"] = self.gvcf
        if self.gvcf:
            for _, name in self.selected:
                self.batch.coverage.setdefault(name, [])
        if self.vaf_sources:
            self.batch.details["vaf_sources"] = dict(sorted(self.vaf_sources.items()))


def _merge(regions: Sequence[Region]) -> dict[str, list[tuple[int, int]]]:
    """Regions per canonical chrom, sorted, overlapping/adjacent ones merged."""
    by: dict[str, list[tuple[int, int]]] = {}
    for r in regions:
        by.setdefault(canonical_chrom(r.chrom), []).append((r.start, r.end))
    out: dict[str, list[tuple[int, int]]] = {}
    for c, ivs in by.items():
        merged: list[tuple[int, int]] = []
        for s, e in sorted(ivs):
            if merged and s <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], e))
            else:
                merged.append((s, e))
        out[c] = merged
    return out
