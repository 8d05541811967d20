"""Decoding backends: pysam/htslib (VCF, BCF, gzip/bgzip, tabix/CSI fetch) and pure-Python pyvcf3.

Each backend only validates records with its own parser and passes the record text (the original
line, or htslib's rendering for BCF and index fetches) to :class:`~.records._Builder`. pysam is
imported lazily through :func:`_pysam` so a missing pysam degrades to pyvcf3 for text VCF; tests
patch ``backends._pysam`` to check that fallback.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Sequence
from contextlib import suppress
from typing import Any, Literal

from ...errors import InputError
from ...genome import chrom_aliases
from ...models import BUILDS, Build
from .dialects import REASON_PARSER
from .open import Region, _Input, _LineReader, _text
from .records import _Builder, _merge

Backend = Literal["auto", "pysam", "pyvcf3"]


# --------------------------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------------------------


def _pysam() -> Any:
    import pysam

    return pysam


class _GzipPipe:
    """Feed a plain-gzip file to htslib through a pipe: pysam cannot open it by name."""

    def __init__(self, path: str):
        r, w = os.pipe()
        self.reader = os.fdopen(r, "rb")
        self._thread = threading.Thread(target=self._feed, args=(path, w), daemon=True)
        self._thread.start()

    @staticmethod
    def _feed(path: str, w: int) -> None:
        with suppress(OSError), open(path, "rb") as src, os.fdopen(w, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 16)

    def close(self) -> None:
        with suppress(OSError):
            self.reader.close()
        self._thread.join(timeout=5)


def _open_pysam(src: _Input) -> tuple[Any, _GzipPipe | None]:
    pysam = _pysam()
    pipe = _GzipPipe(src.path) if src.compression == "gzip" else None
    try:
        vf = pysam.VariantFile(pipe.reader if pipe else src.path)
    except (ValueError, OSError, NotImplementedError) as exc:
        if pipe:
            pipe.close()
        where = "header"
        if not src.is_bcf:
            # htslib says little about *where*; walk the text to name the line it broke at.
            lines = _LineReader(src)
            try:
                while lines.readline() is not None:
                    pass
            finally:
                lines.close()
            where = f"line {lines.lineno}"
        problem = (
            "file is truncated (no BGZF end-of-file marker)"
            if "EOF marker" in str(exc)
            else f"htslib could not read the file ({exc})"
        )
        raise InputError(problem, source=src.display, record=where) from exc
    return vf, pipe


def _fetch_contigs(vf: Any) -> set[str]:
    names = set(vf.header.contigs)
    with suppress(Exception):
        names |= set(vf.index.keys())
    return names


def _run_pysam_fetch(vf: Any, b: _Builder, regions: Sequence[Region], build: Build | None) -> None:
    """Index fetch: only records overlapping the regions are ever decoded."""
    known = _fetch_contigs(vf)
    n = 0
    builds: tuple[Build, ...] = (build,) if build else BUILDS
    for chrom, ivs in _merge(regions).items():
        aliases = dict.fromkeys(a for bd in builds for a in chrom_aliases(chrom, bd))
        for contig in (a for a in aliases if a in known):
            done: list[tuple[int, int]] = []
            for start, end in ivs:
                it = vf.fetch(contig, start - 1, end)
                errors = 0
                while True:
                    try:
                        rec = next(it)
                    except StopIteration:
                        break
                    except (OSError, ValueError) as exc:
                        n += 1
                        errors += 1
                        if errors > 100 or "truncated" in str(exc):
                            raise InputError(
                                f"htslib stopped reading ({exc})",
                                source=b.display,
                                record=f"record {n} (in {contig}:{start}-{end})",
                            ) from exc
                        b.batch.records_read += 1
                        b.skip(REASON_PARSER, f"record {n}")
                        continue
                    errors = 0
                    rpos, rstop = rec.pos, rec.stop
                    if any(rpos <= e and rstop >= s for s, e in done):
                        continue  # already returned for an earlier region
                    n += 1
                    label = f"record {n} ({rec.chrom}:{rpos})"
                    _feed_pysam_record(b, rec, label)
                done.append((start, end))
    b.batch.details["indexed_fetch"] = True


def _feed_pysam_record(b: _Builder, rec: Any, label: str) -> None:
    try:
        line = str(rec).rstrip("\n")
    except (OSError, ValueError):
        b.batch.records_read += 1
        b.skip("htslib could not format the record", label)
        return
    acc = b.accept(line, label)
    if acc is not None:
        b.process(acc, label)


def _run_pysam_stream(vf: Any, b: _Builder, src: _Input, n_header: int) -> None:
    """Stream every record; text files are walked in lockstep for exact lines and raw text."""
    # With regions, htslib's own CHROM/POS/END decide "outside" without touching the text.
    quick = b.regions is not None and not b.keep_outside
    if src.is_bcf:
        n = 0
        while True:
            try:
                rec = next(vf)
            except StopIteration:
                break
            except (OSError, ValueError) as exc:
                n += 1
                if "truncated" in str(exc):
                    raise InputError(
                        f"file is truncated ({exc})", source=src.display, record=f"record {n}"
                    ) from exc
                b.batch.records_read += 1
                b.skip(REASON_PARSER, f"record {n}")
                continue
            n += 1
            if quick and b.outside(rec.chrom, rec.pos, rec.stop, rec.alts):
                continue
            _feed_pysam_record(b, rec, f"record {n} ({rec.chrom}:{rec.pos})")
        return
    lines = _LineReader(src)
    try:
        for _ in range(n_header):
            lines.readline()
        tags: dict[str, bytes] = {}
        while True:
            # our line first: its length and inflation limits apply before htslib sees it
            raw = lines.readline()
            err: Exception | None = None
            rec = None
            try:
                rec = next(vf)
            except StopIteration:
                if raw is not None and _text(raw).strip():
                    raise _stopped_early(src, lines.lineno) from None
                _check_drained(lines, src)
                break
            except (OSError, ValueError) as exc:
                err = exc
            if raw is None:
                raise InputError(
                    f"file ends inside a record ({err or 'reader out of step'})",
                    source=src.display,
                    record=f"line {lines.lineno}",
                )
            _stream_line(b, src, rec, err, raw, lines.lineno, quick, tags)
    finally:
        lines.close()


def _check_drained(lines: _LineReader, src: _Input) -> None:
    """htslib has stopped: only blank lines may remain (else it gave up on cut data)."""
    while (raw := lines.readline()) is not None:
        if _text(raw).strip():
            raise _stopped_early(src, lines.lineno)


def _stopped_early(src: _Input, lineno: int) -> InputError:
    return InputError(
        "htslib stopped reading before the end of the file (truncated or corrupt data?)",
        source=src.display,
        record=f"line {lineno}",
    )


def _out_of_step(src: _Input, lineno: int) -> InputError:
    return InputError(
        "internal: htslib and the line reader disagree about this record",
        source=src.display,
        record=f"line {lineno}",
    )


def _stream_line(
    b: _Builder,
    src: _Input,
    rec: Any,
    err: Exception | None,
    raw: bytes,
    lineno: int,
    quick: bool,
    tags: dict[str, bytes],
) -> None:
    """One text line with htslib's verdict on it (``rec`` or ``err``): count, skip or process."""
    if rec is not None and quick:
        chrom = rec.chrom
        tag = tags.get(chrom)
        if tag is None:
            tag = tags[chrom] = chrom.encode() + b"\t"
        if not raw.startswith(tag):
            raise _out_of_step(src, lineno)
        if b.outside(chrom, rec.pos, rec.stop, rec.alts):
            return  # counted; never decoded
    label = f"line {lineno}"
    line = _text(raw)
    if not line.strip():
        return  # blank lines are not records (htslib complains, pyvcf3 skips)
    # htslib's error may read "truncated file", but it names a malformed line (bad POS, missing
    # columns): truncated or corrupt compressed data is caught by our own line reader.
    if rec is not None and not line.startswith(rec.chrom + "\t"):
        raise _out_of_step(src, lineno)
    acc = b.accept(line, label)
    if acc is None:
        return
    if err is not None:
        b.reject(acc, label, REASON_PARSER)
    else:
        b.process(acc, label)


# Unindexed text VCF with regions: a byte-level scan that hands htslib only the lines that may
# overlap the regions (or that only a full parse can judge). Everything else is counted in bulk.


class _Pyvcf3Feed:
    """Line iterator handed to ``vcf.Reader``: remembers the current line and its number.

    Records outside the regions are counted here and never reach pyvcf3 (it parses every
    sample eagerly, which is slow on cohorts).
    """

    def __init__(self, header: list[str], lines: _LineReader, b: _Builder):
        self._header = iter(header)
        self._lines = lines
        self._b = b
        self.label = ""
        self.accepted: tuple[list[str], int, int, bool] | None = None

    def __iter__(self) -> _Pyvcf3Feed:
        return self

    def __next__(self) -> str:
        for h in self._header:
            return h
        while True:
            raw = self._lines.readline()
            if raw is None:
                raise StopIteration
            line = _text(raw)
            if not line.strip():
                continue
            self.label = f"line {self._lines.lineno}"
            self.accepted = self._b.accept(line, self.label)
            if self.accepted is not None:
                return line


def _run_pyvcf3(b: _Builder, src: _Input, header: list[str]) -> None:
    import vcf

    lines = _LineReader(src)
    try:
        for _ in range(len(header)):
            lines.readline()
        feed = _Pyvcf3Feed(header, lines, b)
        try:
            reader = vcf.Reader(fsock=feed, strict_whitespace=True)
        except InputError:
            raise
        except Exception as exc:
            raise InputError(
                f"pyvcf3 could not parse the header ({type(exc).__name__}: {exc})",
                source=src.display,
                record="header",
            ) from exc
        while True:
            try:
                next(reader)
            except StopIteration:
                break
            except InputError:
                raise
            except Exception:
                assert feed.accepted is not None
                b.reject(feed.accepted, feed.label, REASON_PARSER)
                continue
            assert feed.accepted is not None
            b.process(feed.accepted, feed.label)
    finally:
        lines.close()


def _choose_backend(backend: Backend) -> Literal["pysam", "pyvcf3"]:
    if backend == "pyvcf3":
        return "pyvcf3"
    try:
        _pysam()
    except ImportError as exc:
        if backend == "pysam":
            raise InputError(
                f"the pysam backend was requested but pysam is not importable ({exc})"
            ) from exc
        return "pyvcf3"
    return "pysam"
