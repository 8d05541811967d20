"""Sanger trace readers: ABIF (.ab1/.abi/.fsa) and SCF v2/v3 into one ``Trace`` shape.

ABIF is decoded by Biopython (``Bio.SeqIO`` 'abi', ``abif_raw``) because it is the maintained
reference parser. Before that we walk the ABIF directory ourselves, for two reasons: a truncated
or inconsistent file must fail with a message naming the broken tag (Biopython raises a bare
``AssertionError``), and a file whose only defect is a malformed tag we never use (old EMBOSS
test file: ``SRKP1`` declares 18x2 bytes but 144) can still be read from the tags we need.
Biopython has no SCF reader, so SCF (Staden) v2/v3 is decoded here.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..errors import InputError

BASES = "ACGT"
# Directory entry: name, number, type, element size, n elements, data size, offset, handle.
_ABIF_DIR = struct.Struct(">4sihhiiii")
_SCF_HEADER = struct.Struct(">4s8I4s4I")  # magic ... private_offset (spare words follow)
_COMPLEMENT = str.maketrans("ACGTRYKMSWBDHVNacgtrykmswbdhvn", "TGCAYRMKSWVHDBNtgcayrmkswvhdbn")
# ABIF element type -> struct code (only the types of the tags we read)
_ABIF_TYPES = {1: "B", 2: "c", 3: "H", 4: "h", 5: "i", 7: "f", 8: "d", 18: "c", 19: "c"}
# Element types the ABIF spec gives the tags we use (char 2, short 4, long 5, pString 18).
_TAG_TYPES = {"DATA": {4, 5}, "PLOC": {4, 5}, "PBAS": {2}, "PCON": {1, 2}, "FWO_": {2}}
_MAX_PHRED = 93  # highest phred quality any format can carry (FASTQ '~')


@dataclass(slots=True)
class Trace:
    """One Sanger read: base calls with qualities and the four dye channels they were called from.

    ``name`` is the file stem (default sample name); ``peak_locations[i]`` is the scan index
    (into every channel array) of base ``i``.
    """

    name: str
    bases: str
    qualities: npt.NDArray[np.int16]
    peak_locations: npt.NDArray[np.int64]
    channels: dict[str, npt.NDArray[np.float64]]
    source: Path
    fmt: str = "ABIF"
    sample_name: str | None = None
    # Non-fatal oddities a user should see (e.g. 'qualities missing; derived from peak purity').
    warnings: list[str] = field(default_factory=list)
    # True when this object is the reverse complement of the file as read.
    reversed: bool = False

    def __len__(self) -> int:
        return len(self.bases)

    @property
    def file_name(self) -> str:
        """The file's name (what read groups and messages cite); ``name`` is its stem."""
        return self.source.name

    @property
    def n_scans(self) -> int:
        return len(self.channels["A"])

    def reverse_complement(self) -> Trace:
        """The same read seen from the other strand (plus-strand analysis of reverse reads)."""
        n = self.n_scans
        return Trace(
            name=self.name,
            bases=self.bases.translate(_COMPLEMENT)[::-1],
            qualities=self.qualities[::-1].copy(),
            peak_locations=(n - 1 - self.peak_locations[::-1]).copy(),
            channels={
                b: self.channels[c][::-1].copy() for b, c in zip("ACGT", "TGCA", strict=True)
            },
            source=self.source,
            fmt=self.fmt,
            sample_name=self.sample_name,
            warnings=list(self.warnings),
            reversed=not self.reversed,
        )

    def file_position(self, i: int) -> int:
        """1-based base number in the file's own orientation (what a user sees in a viewer)."""
        return len(self.bases) - i if self.reversed else i + 1

    def peak_heights(self, window: int = 2) -> npt.NDArray[np.float64]:
        """(n_bases, 4) max signal of A,C,G,T within ``window`` scans of each called peak.

        A small window absorbs the slight dye-mobility offset between channels.
        """
        stack = np.vstack([self.channels[b] for b in BASES])  # (4, n_scans)
        n = stack.shape[1]
        idx = self.peak_locations[:, None] + np.arange(-window, window + 1)[None, :]
        idx = np.clip(idx, 0, n - 1)
        return stack[:, idx].max(axis=2).T


def read_trace(path: str | Path) -> Trace:
    """Read an ABIF or SCF file, chosen by its magic bytes (extensions lie)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read trace file: {exc.strerror or exc}", source=str(p)) from exc
    if not data:
        raise InputError("empty file (0 bytes)", source=str(p))
    if data[:4] == b"ABIF":
        return _read_abif(data, p)
    if len(data) > 132 and data[128:132] == b"ABIF":  # MacBinary wrapper from old Macs
        return _read_abif(data[128:], p)
    if data[:4] == b".scf":
        return _read_scf(data, p)
    raise InputError(f"not an ABIF or SCF file (first bytes {data[:8]!r})", source=str(p))


# --------------------------------------------------------------------------------------- ABIF


@dataclass(frozen=True, slots=True)
class _AbifEntry:
    name: str
    number: int
    etype: int
    esize: int
    count: int
    size: int
    offset: int  # absolute offset of the data (inline data resolved)


def _abif_directory(data: bytes, src: str) -> dict[str, _AbifEntry]:
    """Walk the ABIF directory; every entry must lie inside the file."""
    if len(data) < 6 + _ABIF_DIR.size:
        raise InputError(f"truncated: ABIF header is {len(data)} bytes (needs 34)", source=src)
    _, _, _, esize, count, _, offset, _ = _ABIF_DIR.unpack_from(data, 6)
    if esize != _ABIF_DIR.size or count <= 0 or count > 100_000:
        raise InputError(
            f"ABIF header is corrupt (directory of {count} entries of {esize} bytes)", source=src
        )
    if offset < 0 or offset + count * esize > len(data):
        raise InputError(
            f"truncated: ABIF directory ({count} entries at offset {offset}) extends beyond end "
            f"of file ({len(data)} bytes)",
            source=src,
        )
    entries: dict[str, _AbifEntry] = {}
    for k in range(count):
        start = offset + k * esize
        raw_name, num, etype, el_size, n_el, size, doff, _ = _ABIF_DIR.unpack_from(data, start)
        name = raw_name.decode("latin-1")
        key = f"{name}{num}"
        if size < 0 or n_el < 0:
            raise InputError(f"ABIF directory entry {key} has a negative size", source=src)
        # Data of 4 bytes or less is stored inside the entry itself (the offset field).
        doff = start + 20 if size <= 4 else doff
        if size > 4 and (doff < 0 or doff + size > len(data)):
            raise InputError(
                f"truncated: directory entry {key} points beyond end of file "
                f"(offset {doff} + {size} bytes > {len(data)} bytes)",
                source=src,
            )
        entries[key] = _AbifEntry(name, num, etype, el_size, n_el, size, doff)
    return entries


def _abif_value(data: bytes, e: _AbifEntry, src: str) -> tuple[object, ...] | bytes:
    """Decode one tag we need (our own decoder: used to validate and as a fallback)."""
    code = _ABIF_TYPES.get(e.etype)
    if code is None:
        raise InputError(f"ABIF tag {e.name}{e.number} has unexpected type {e.etype}", source=src)
    raw = data[e.offset : e.offset + e.size]
    if code == "c":
        if e.etype == 18:  # pString: length byte first
            return raw[1 : 1 + raw[0]] if raw else b""
        return raw.rstrip(b"\0") if e.etype == 19 else raw
    width = struct.calcsize(code)
    if e.count * width != e.size or e.esize != width:
        raise InputError(
            f"ABIF tag {e.name}{e.number} declares {e.count} elements of {e.esize} bytes "
            f"but holds {e.size} bytes",
            source=src,
        )
    return struct.unpack(f">{e.count}{code}", raw)


def _read_abif(data: bytes, p: Path) -> Trace:
    src = str(p)
    entries = _abif_directory(data, src)
    for key, e in entries.items():
        allowed = _TAG_TYPES.get(e.name)
        if allowed and (e.name != "DATA" or e.number >= 9) and e.etype not in allowed:
            raise InputError(
                f"ABIF tag {key} has unexpected type {e.etype} (expected {sorted(allowed)})",
                source=src,
            )
    notes: list[str] = []
    raw: dict[str, object]
    try:
        from Bio import SeqIO

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            record = SeqIO.read(io.BytesIO(data), "abi")
        raw = dict(record.annotations["abif_raw"])
    except Exception as exc:  # Biopython raises AssertionError/ValueError/UnicodeError...
        # Salvage: decode only the tags we use with our own decoder (errors there are specific).
        raw = {}
        for key in ("PBAS2", "PBAS1", "PLOC2", "PLOC1", "PCON2", "PCON1", "FWO_1", "SMPL1"):
            if key in entries:
                raw[key] = _abif_value(data, entries[key], src)
        for n in range(1, 13):
            if f"DATA{n}" in entries:
                raw[f"DATA{n}"] = _abif_value(data, entries[f"DATA{n}"], src)
        notes.append(f"Biopython could not parse every tag ({type(exc).__name__}); read ours")

    bases_raw = raw.get("PBAS2")
    if bases_raw is None:
        bases_raw = raw.get("PBAS1")
        if bases_raw is not None:
            notes.append("PBAS2 missing; used the edited calls PBAS1")
    if bases_raw is None:
        hint = " (fragment-analysis file?)" if "DATA9" not in entries else ""
        raise InputError(f"no base calls (PBAS2 missing){hint}", source=src)
    bases = _as_bytes(bases_raw).decode("latin-1").upper()
    if not bases:
        raise InputError("no base calls (PBAS2 is empty)", source=src)
    bad = sorted(set(bases) - set("ACGTNRYKMSWBDHV-"))
    if bad:
        raise InputError(f"base calls contain non-IUPAC characters {bad[:5]}", source=src)

    ploc_raw = raw.get("PLOC2", raw.get("PLOC1"))
    if ploc_raw is None:
        raise InputError("no peak locations (PLOC2 missing)", source=src)
    ploc = np.asarray(ploc_raw, dtype=np.int64).ravel()

    order_raw = raw.get("FWO_1")
    order = _as_bytes(order_raw).decode("latin-1").upper() if order_raw is not None else ""
    if sorted(order) != list("ACGT"):
        raise InputError(
            f"dye order FWO_1 is {order!r}, expected a permutation of ACGT", source=src
        )
    channels: dict[str, npt.NDArray[np.float64]] = {}
    for k, base in enumerate(order):
        tag = f"DATA{9 + k}"
        values = raw.get(tag)
        if values is None:
            raise InputError(f"no analysed channel data ({tag} missing)", source=src)
        channels[base] = np.asarray(values, dtype=np.float64).ravel()

    qual_key = "PCON2" if "PCON2" in raw else "PCON1"
    qual_raw = raw.get(qual_key)
    quals = None
    if qual_raw is not None:
        quals = np.frombuffer(_as_bytes(qual_raw), dtype=np.uint8).astype(np.int16)
        if quals.size and int(quals.max()) == int(quals.min()):
            # Real 3730 files carry an all-zero PCON2 when the basecaller wrote no QVs: such a
            # track says nothing, and Mott trimming on it would discard the whole read.
            notes.append(
                f"quality track {qual_key} is constant ({int(quals[0])} at every base); "
                "qualities derived from peak purity"
            )
            quals = None
    sample = raw.get("SMPL1")
    sample_name = _as_bytes(sample).decode("latin-1").strip() or None if sample else None
    return _finish(p, "ABIF", bases, quals, ploc, channels, sample_name, notes)


def _as_bytes(v: object) -> bytes:
    if isinstance(v, bytes):
        return v
    if isinstance(v, str):
        return v.encode("latin-1")
    if isinstance(v, tuple | list):
        return b"".join(x if isinstance(x, bytes) else bytes([int(x)]) for x in v)  # type: ignore[arg-type]
    return bytes(str(v), "latin-1")


# ---------------------------------------------------------------------------------------- SCF


def _read_scf(data: bytes, p: Path) -> Trace:
    """SCF (Staden) v1-v3: 128-byte header, samples, bases (peak index + probabilities)."""
    src = str(p)
    if len(data) < 128:
        raise InputError(f"truncated: SCF header is {len(data)} bytes (needs 128)", source=src)
    (_, n_samples, s_off, n_bases, _, _, b_off, _, _, ver, s_size, _, _, _) = (
        _SCF_HEADER.unpack_from(data, 0)
    )
    version = ver.decode("latin-1", "replace").strip("\0 ")
    try:
        major = float(version)
    except ValueError:
        raise InputError(f"SCF version field {ver!r} is not a number", source=src) from None
    if s_size not in (1, 2):
        raise InputError(f"SCF sample size {s_size} bytes (only 1 or 2 exist)", source=src)
    if n_bases == 0:
        raise InputError("no base calls (SCF header says 0 bases)", source=src)
    dtype = np.dtype(">u2") if s_size == 2 else np.dtype("u1")
    s_len = n_samples * 4 * s_size
    if s_off + s_len > len(data):
        raise InputError(
            f"truncated: SCF samples ({n_samples} x 4 channels at offset {s_off}) extend beyond "
            f"end of file ({len(data)} bytes)",
            source=src,
        )
    if b_off + n_bases * 12 > len(data):
        raise InputError(
            f"truncated: SCF bases ({n_bases} at offset {b_off}) extend beyond end of file "
            f"({len(data)} bytes)",
            source=src,
        )
    channels: dict[str, npt.NDArray[np.float64]] = {}
    if major >= 3.0:
        # Per channel A, C, G, T; each stored as second differences (delta-delta), mod 2^bits.
        arr = np.frombuffer(data, dtype=dtype, count=n_samples * 4, offset=s_off)
        wide = np.uint16 if s_size == 2 else np.uint8
        for k, base in enumerate(BASES):
            d = arr[k * n_samples : (k + 1) * n_samples].astype(wide)
            once = np.cumsum(d, dtype=wide)
            channels[base] = np.cumsum(once, dtype=wide).astype(np.float64)
        ploc = np.frombuffer(data, dtype=">u4", count=n_bases, offset=b_off).astype(np.int64)
        o = b_off + 4 * n_bases
        probs = {
            base: np.frombuffer(data, dtype=np.uint8, count=n_bases, offset=o + k * n_bases)
            for k, base in enumerate(BASES)
        }
        calls = data[o + 4 * n_bases : o + 5 * n_bases]
    else:
        # v1/v2: samples interleaved A,C,G,T per scan; bases as 12-byte records.
        arr = np.frombuffer(data, dtype=dtype, count=n_samples * 4, offset=s_off)
        arr = arr.reshape(n_samples, 4)
        for k, base in enumerate(BASES):
            channels[base] = arr[:, k].astype(np.float64)
        rec = np.frombuffer(
            data,
            dtype=np.dtype(
                [("ploc", ">u4"), ("p", "u1", (4,)), ("base", "S1"), ("sp", "u1", (3,))]
            ),
            count=n_bases,
            offset=b_off,
        )
        ploc = rec["ploc"].astype(np.int64)
        probs = {base: rec["p"][:, k] for k, base in enumerate(BASES)}
        calls = b"".join(rec["base"].tolist())
    bases = calls.decode("latin-1").upper().replace("-", "N")
    bad = sorted(set(bases) - set("ACGTNRYKMSWBDHV"))
    if bad:
        raise InputError(f"SCF base calls contain non-IUPAC characters {bad[:5]}", source=src)
    quals = np.zeros(n_bases, dtype=np.int16)
    for base in BASES:
        m = np.frombuffer(bases.encode(), dtype="S1") == base.encode()
        quals[m] = probs[base][m]
    notes: list[str] = []
    q: npt.NDArray[np.int16] | None = quals
    if int(quals.max()) > _MAX_PHRED:
        # Phred qualities stop at 93 (the FASTQ ceiling); larger "probabilities" come from a
        # writer with another scale, and trusting them would let noise pass Mott trimming.
        notes.append(
            f"SCF base probabilities reach {int(quals.max())} (> {_MAX_PHRED}): not phred "
            "qualities; derived from peak purity"
        )
        q = None
    elif int(quals.max()) == int(quals.min()):
        if quals.any():
            notes.append(
                f"SCF base probabilities are constant ({int(quals[0])} at every base); "
                "qualities derived from peak purity"
            )
        q = None
    return _finish(p, f"SCF {version}", bases, q, ploc, channels, None, notes)


# ----------------------------------------------------------------------------------- shared


def _finish(
    p: Path,
    fmt: str,
    bases: str,
    quals: npt.NDArray[np.int16] | None,
    ploc: npt.NDArray[np.int64],
    channels: dict[str, npt.NDArray[np.float64]],
    sample_name: str | None,
    notes: list[str],
) -> Trace:
    """Cross-check array lengths so later code can index without guarding."""
    src = str(p)
    n = len(bases)
    lengths = {len(v) for v in channels.values()}
    if len(lengths) != 1:
        raise InputError(f"channels have different lengths {sorted(lengths)}", source=src)
    n_scans = lengths.pop()
    if n_scans == 0:
        raise InputError("no trace data (channels are empty)", source=src)
    if len(ploc) != n:
        raise InputError(f"{n} base calls but {len(ploc)} peak locations", source=src)
    if n and (ploc.min() < 0 or ploc.max() >= n_scans):
        raise InputError(
            f"peak location {int(ploc.max())} beyond end of trace data ({n_scans} scans)",
            source=src,
        )
    trace = Trace(
        name=p.stem,
        bases=bases,
        qualities=np.zeros(n, dtype=np.int16),
        peak_locations=ploc,
        channels=channels,
        source=p,
        fmt=fmt,
        sample_name=sample_name,
        warnings=notes,
    )
    if quals is None:
        trace.qualities = derived_qualities(trace)
        if not any("derived from peak purity" in n for n in notes):
            notes.append("no base qualities in file; derived from peak purity")
    elif len(quals) != n:
        raise InputError(f"{n} base calls but {len(quals)} quality values", source=src)
    else:
        trace.qualities = quals
    return trace


def derived_qualities(trace: Trace) -> npt.NDArray[np.int16]:
    """Phred-like quality from how much the called peak dominates (for files without QVs).

    ``4 x (-10 log10(second/first))``, capped at 60: roughly what the KB basecaller assigns to
    peaks of that purity in the VWF 3730 traces, so Mott trimming behaves alike on both.
    """
    h = trace.peak_heights()
    srt = np.sort(h, axis=1)
    top, second = srt[:, -1], srt[:, -2]
    purity_db = -10.0 * np.log10((second + 1.0) / (top + 1.0))
    q = np.clip(4.0 * purity_db, 2, 60)
    q[top < 1.0] = 0
    return q.astype(np.int16)


# ------------------------------------------------------------------------------ amplicons


def read_amplicon_fasta(path: str | Path) -> list[tuple[str, str]]:
    """(name, sequence) records of a user's amplicon FASTA (``--trace-reference``).

    Read whole and in memory: amplicon files are small, and indexing them through faidx would
    write a ``.fai`` beside the user's file (we write nothing next to user files).
    """
    import gzip

    p = Path(path)
    src = str(p)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read FASTA: {exc.strerror or exc}", source=src) from exc
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    text = raw.decode("latin-1")
    if not text.lstrip().startswith(">"):
        raise InputError("not a FASTA file (it must start with '>')", source=src)
    records: list[tuple[str, list[str]]] = []
    seen: set[str] = set()
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith(">"):
            name = line[1:].split()[0] if line[1:].split() else ""
            if not name:
                raise InputError(f"line {lineno}: record without a name", source=src)
            if name in seen:
                raise InputError(f"line {lineno}: duplicate record name {name!r}", source=src)
            seen.add(name)
            records.append((name, []))
        else:
            bad = sorted(set(line.upper()) - set("ACGTNRYKMSWBDHV"))
            if bad:
                raise InputError(
                    f"line {lineno}: non-nucleotide characters {bad[:5]} in {records[-1][0]}",
                    source=src,
                )
            records[-1][1].append(line.upper())
    out = [(name, "".join(parts)) for name, parts in records]
    empty = [name for name, seq in out if not seq]
    if empty:
        raise InputError(f"record {empty[0]!r} has no sequence", source=src)
    return out
