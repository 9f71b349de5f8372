"""A structural pre-scan of MATLAB v5 files, so that scipy never reads a crashing one.

scipy's compiled v5 reader (``scipy.io.matlab._mio5_utils``) looks the type code of every
numeric or character data element up in a fixed table of dtypes without checking it: a code
outside the table (a cell's contents under a numeric class byte, a flipped type field) is a NULL
or out-of-range pointer, and the process dies with a segmentation fault that no ``except``
catches. Deeply nested cells recurse in C as well. :func:`scan_v5` walks the file's elements in
the order scipy reads them (top-level variables, inside their zlib stream when compressed;
cells, structs, objects, function handles, opaque values recursively) and raises
``HSIReadError`` where scipy would crash; where scipy would raise an error of its own (a wrong
tag type, the data running out) the scan stops and lets it. It reads the file once, streaming,
and keeps no data.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from napari_ssdgl.io.base import HSIReadError

# the data element types scipy's dtype table holds (miINT8 ... miUINT64, miUTF8/16/32)
NUMERIC_TYPES = frozenset({1, 2, 3, 4, 5, 6, 7, 9, 12, 13, 16, 17, 18})
MI_MATRIX, MI_COMPRESSED = 14, 15
MAX_DEPTH = 64  # nesting of cells/structs; scipy recurses in C
_NUMERIC_CLASSES = frozenset(range(6, 16))  # mxDOUBLE_CLASS ... mxUINT64_CLASS
_CHUNK = 1 << 16


class _Stop(Exception):
    """The stream ends or holds something scipy rejects with an error of its own."""


class _Raw:
    def __init__(self, fh, end: int) -> None:
        self.fh, self.end = fh, end

    def read(self, n: int) -> bytes:
        if self.fh.tell() + n > self.end:
            raise _Stop
        data = self.fh.read(n)
        if len(data) < n:
            raise _Stop
        return data

    def skip(self, n: int) -> None:
        if self.fh.tell() + n > self.end:
            raise _Stop
        self.fh.seek(n, 1)


class _Inflated:
    """The decompressed bytes of an miCOMPRESSED element, read and skipped in small pieces."""

    def __init__(self, fh, nbytes: int) -> None:
        self.fh, self.left = fh, nbytes
        self.z = zlib.decompressobj()
        self.buf = b""

    def _more(self, want: int) -> None:
        while len(self.buf) < want:
            if self.z.unconsumed_tail:
                chunk = self.z.unconsumed_tail
            elif self.left > 0:
                chunk = self.fh.read(min(self.left, _CHUNK))
                self.left = 0 if not chunk else self.left - len(chunk)
            else:
                raise _Stop
            try:
                self.buf += self.z.decompress(chunk, max(_CHUNK, want - len(self.buf)))
            except zlib.error:
                raise _Stop from None
            if self.z.eof and len(self.buf) < want:
                raise _Stop

    def read(self, n: int) -> bytes:
        self._more(n)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def skip(self, n: int) -> None:
        while n > 0:
            step = min(n, _CHUNK)
            self.read(step)
            n -= step


class _Scan:
    def __init__(self, path: Path, swapped: bool) -> None:
        self.path = path
        self.u4 = ">I" if swapped else "<I"
        self.i4 = ">i" if swapped else "<i"

    def _words(self, data: bytes) -> tuple[int, int]:
        return struct.unpack(self.u4, data[:4])[0], struct.unpack(self.u4, data[4:8])[0]

    def element(self, s, max_count: int | None = None) -> tuple[int, bytes | None, int]:
        """(type, data, byte count) of the next element, as scipy's ``read_element`` takes it:
        a small data element (type and count packed in 4 bytes) or a full tag whose data is
        padded to 8 bytes (kept only up to 128 bytes, else skipped: ``None``). ``max_count``:
        scipy's limit for a full element read into a fixed buffer."""
        head = s.read(8)
        mdtype, count = self._words(head)
        if mdtype >> 16:  # small data element
            sde_count, mdtype = mdtype >> 16, mdtype & 0xFFFF
            if sde_count > 4:
                raise _Stop
            return mdtype, head[4:4 + sde_count], sde_count
        if max_count is not None and count > max_count:
            raise _Stop
        if count <= 128:
            data = s.read(count)
        else:
            s.skip(count)
            data = None
        s.skip(-count % 8)
        return mdtype, data, count

    def numeric(self, s, what: str) -> None:
        mdtype, _, _ = self.element(s)
        if mdtype not in NUMERIC_TYPES:
            raise HSIReadError(self.path, f"{what}: a data element of MATLAB type {mdtype} where "
                                          f"numbers are expected (corrupt file)")

    def int8_string(self, s) -> tuple[int, bytes | None]:
        """(byte count, bytes) of an int8 string (a name); scipy raises on any other type."""
        mdtype, data, count = self.element(s)
        if mdtype not in (1, 16):
            raise _Stop
        return count, data

    def int32s(self, s, max_count: int) -> list[int]:
        mdtype, data, count = self.element(s, max_count)
        if mdtype not in (5, 6) or data is None:
            raise _Stop
        values = [struct.unpack(self.i4, data[i:i + 4])[0]
                  for i in range(0, count - count % 4, 4)]
        if mdtype == 6 and any(v < 0 for v in values):
            raise _Stop
        return values

    def matrix(self, s, what: str, depth: int, *, tagged: bool = True) -> None:
        """One miMATRIX element (its tag already read when not ``tagged``)."""
        if depth > MAX_DEPTH:
            raise HSIReadError(self.path, f"{what}: cells or structs nested deeper than "
                                          f"{MAX_DEPTH} levels")
        if tagged:
            mdtype, count = self._words(s.read(8))
            if mdtype != MI_MATRIX:
                raise _Stop
            if count == 0 and depth:  # an empty matrix (at the top level scipy reads on)
                return
        s.read(8)  # the array-flags tag
        flags = struct.unpack(self.u4, s.read(8)[:4])[0]
        mclass, is_complex = flags & 0xFF, flags >> 11 & 1
        if mclass == 17:  # opaque: name, type system, class name, then a matrix
            for _ in range(3):
                self.int8_string(s)
            self.matrix(s, what, depth + 1)
            return
        dims = self.int32s(s, 128)
        _, name = self.int8_string(s)
        if depth == 0 and name:
            what = f"variable '{name.decode('latin1')[:64]}'"
        length = 1
        for n in dims:
            length *= n & 0xFFFFFFFF  # scipy multiplies as size_t
        if mclass in _NUMERIC_CLASSES:
            for _ in range(2 if is_complex else 1):
                self.numeric(s, what)
        elif mclass == 5:  # sparse: row indices, column pointers, values (+ imaginary)
            for _ in range(4 if is_complex else 3):
                self.numeric(s, what)
        elif mclass == 4:  # char
            mdtype, _, count = self.element(s)
            if count and mdtype not in NUMERIC_TYPES:
                raise HSIReadError(self.path, f"{what}: character data of MATLAB type "
                                              f"{mdtype} (corrupt file)")
        elif mclass == 1:  # cell
            for _ in range(length):
                self.matrix(s, what, depth + 1)
        elif mclass in (2, 3):  # struct, object (a class name first)
            if mclass == 3:
                self.int8_string(s)
            sizes = self.int32s(s, 4)
            if len(sizes) != 1 or sizes[0] <= 0:
                raise _Stop
            names, _ = self.int8_string(s)
            for _ in range(length * (names // sizes[0])):
                self.matrix(s, what, depth + 1)
        elif mclass == 16:  # function handle: a struct matrix
            self.matrix(s, what, depth + 1)


def scan_v5(path: str | Path) -> None:
    """Raise ``HSIReadError`` when scipy's v5 reader would crash on ``path`` (see the module
    docstring); return quietly otherwise, also for files scipy will reject by itself."""
    p = Path(path)
    size = p.stat().st_size
    with open(p, "rb") as fh:
        head = fh.read(128)
        if len(head) < 128 or head[126:128] not in (b"IM", b"MI"):
            return  # v4, or not a v5 file: scipy's pure-Python paths decide
        scan = _Scan(p, swapped=head[126:128] == b"MI")
        pos = 128
        while pos + 8 <= size:
            fh.seek(pos)
            mdtype, count = scan._words(fh.read(8))
            next_pos = pos + 8 + count
            name = f"the variable at byte {pos}"
            try:
                if mdtype == MI_COMPRESSED:
                    scan.matrix(_Inflated(fh, count), name, 0)
                elif mdtype == MI_MATRIX:  # scipy reads on past the element's end, if told to
                    scan.matrix(_Raw(fh, size), name, 0, tagged=False)
                elif mdtype != MI_MATRIX:
                    return  # scipy raises on this element
            except _Stop:
                return  # scipy raises its own error here, before reading further
            pos = next_pos
