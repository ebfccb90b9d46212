"""Read TensorFlow 1 checkpoints (``model.ckpt-N.index`` + ``.data-*``) without TensorFlow.

Why a reader of our own: TensorFlow is a ~600 MB install and no small,
maintained package on PyPI reads its checkpoint bundles, while the format is
simple and stable (TensorFlow's ``tensor_bundle``, unchanged since 2016):

* ``PREFIX.index`` is an uncompressed LevelDB-style table.  Its last 48 bytes
  are the footer: two block handles (offset, size as varints; the metaindex
  and the index block), zero padding to 40 bytes, and the magic number
  0xdb4775248b80fb57 (little-endian).  Every block is followed by a 5-byte
  trailer: a compression byte (0 = none) and the masked CRC32C of the block and
  that byte.  The index block maps keys to the data blocks' handles; a block is
  a run of prefix-compressed entries (shared key length, unshared length, value
  length as varints, the unshared key bytes, the value) followed by an array
  of uint32 restart offsets and their count.
* Key ``""`` holds the ``BundleHeaderProto`` (number of shards, endianness);
  every other key is a tensor name whose value is a ``BundleEntryProto``
  (dtype, shape, shard id, offset, size, masked CRC32C of the bytes, slices
  for partitioned variables), decoded here by hand: it is a few varint fields.
* ``PREFIX.data-0000S-of-0000N`` holds each tensor's raw little-endian bytes at
  its offset.

Every block and every tensor read is checked against its CRC32C.  The CRC is
computed with NumPy (see :func:`crc32c`), fast enough for the hundreds of MB of
a d = 64 model.  TensorFlow itself is never imported.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import GanphonError
from ..layout import refuse_not_a_file

MAGIC = 0xDB4775248B80FB57
FOOTER_LEN = 48
BLOCK_TRAILER_LEN = 5

# TensorFlow DataType enum → numpy dtype (little-endian); the others are refused.
DTYPES = {
    1: np.dtype("<f4"), 2: np.dtype("<f8"), 3: np.dtype("<i4"), 4: np.dtype("u1"),
    5: np.dtype("<i2"), 6: np.dtype("i1"), 9: np.dtype("<i8"), 10: np.dtype("?"),
    17: np.dtype("<u2"), 19: np.dtype("<f2"), 22: np.dtype("<u4"), 23: np.dtype("<u8"),
}
DTYPE_NAMES = {7: "string", 8: "complex64", 14: "bfloat16", 18: "complex128", 20: "resource", 21: "variant"}


# ---------------------------------------------------------------- CRC32C

_POLY = 0x82F63B78  # Castagnoli, reflected


def _tables() -> np.ndarray:
    """Slicing-by-4 tables: ``T[0]`` the byte-wise table, ``T[j][b]`` = T[0] advanced j bytes."""
    t0 = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        t0 = np.where(t0 & 1, (t0 >> 1) ^ np.uint32(_POLY), t0 >> 1).astype(np.uint32)
    tables = [t0]
    for _ in range(3):
        prev = tables[-1]
        tables.append((prev >> 8) ^ t0[prev & 0xFF])
    return np.stack(tables)


_T = _tables()


def _operator(columns: np.ndarray) -> np.ndarray:
    """A linear map on the 32-bit register, given by the images of 1 << j, as four byte tables."""
    bits = (np.arange(256, dtype=np.uint32)[:, None] >> np.arange(8, dtype=np.uint32)) & 1
    return np.stack([
        np.bitwise_xor.reduce(np.where(bits == 1, columns[8 * b : 8 * b + 8], np.uint32(0)), axis=1)
        for b in range(4)
    ]).astype(np.uint32)


def _apply(op: np.ndarray, x: np.ndarray) -> np.ndarray:
    return op[0][x & 0xFF] ^ op[1][(x >> 8) & 0xFF] ^ op[2][(x >> 16) & 0xFF] ^ op[3][x >> 24]


_UNIT = np.uint32(1) << np.arange(32, dtype=np.uint32)
_ONE_ZERO_BYTE = _operator((_UNIT >> 8) ^ _T[0][_UNIT & 0xFF])


def _square(op: np.ndarray) -> np.ndarray:
    return _operator(_apply(op, _apply(op, _UNIT)))


def _zeros_operator(n_bytes: int) -> np.ndarray:
    """The map "feed n zero bytes" on the CRC register (square and multiply)."""
    columns, power = _UNIT.copy(), _ONE_ZERO_BYTE
    while n_bytes:
        if n_bytes & 1:
            columns = _apply(power, columns)
        n_bytes >>= 1
        if n_bytes:
            power = _square(power)
    return _operator(columns)


def crc32c(data) -> int:
    """CRC32C (Castagnoli) of ``data`` (bytes-like or a uint8 array).

    The CRC register is linear in the data, so the bytes are cut into many
    equal chunks whose registers are advanced together, four bytes per NumPy
    step (slicing-by-4), then combined pairwise with the "advance over k zero
    bytes" map.  Zero bytes put in front of the data leave a register started at
    zero unchanged, which pads the data to the chunk grid; the initial register
    0xFFFFFFFF is the same as inverting the first four data bytes.
    """
    buf = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    n = buf.size
    if n < 4:
        crc = 0xFFFFFFFF
        for byte in buf.tolist():
            crc = int(_T[0][(crc ^ byte) & 0xFF]) ^ (crc >> 8)
        return crc ^ 0xFFFFFFFF
    n_chunks = 1  # chunks of ~256 bytes (64 NumPy steps), at most 65536 of them
    while n_chunks < 65536 and n_chunks * 256 < n:
        n_chunks *= 2
    chunk = -(-n // n_chunks)
    chunk = max(4, -(-chunk // 4) * 4)
    padded = np.zeros(n_chunks * chunk, dtype=np.uint8)
    start = padded.size - n
    padded[start:] = buf
    padded[start : start + 4] ^= 0xFF
    words = padded.view("<u4").reshape(n_chunks, chunk // 4).T.copy()
    reg = np.zeros(n_chunks, dtype=np.uint32)
    t0, t1, t2, t3 = _T
    for w in words:
        reg ^= w
        reg = t3[reg & 0xFF] ^ t2[(reg >> 8) & 0xFF] ^ t1[(reg >> 16) & 0xFF] ^ t0[reg >> 24]
    if reg.size > 1:
        op = _zeros_operator(chunk)
        while True:
            reg = _apply(op, reg[0::2]) ^ reg[1::2]
            if reg.size == 1:
                break
            op = _square(op)
    return int(reg[0] ^ np.uint32(0xFFFFFFFF))


def mask_crc(crc: int) -> int:
    """LevelDB / TensorFlow CRC masking: rotate right by 15 and add a constant."""
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# ---------------------------------------------------------------- varints and protobuf

def _varint(buf: bytes, pos: int, where: str) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise GanphonError(f"{where}: truncated or malformed varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _proto_fields(buf: bytes, where: str) -> list[tuple[int, int, object]]:
    """(field number, wire type, value) of a protobuf message; nested messages stay bytes."""
    out, pos = [], 0
    while pos < len(buf):
        key, pos = _varint(buf, pos, where)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos, where)
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos, where)
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        else:
            raise GanphonError(f"{where}: unsupported protobuf wire type {wire}")
        if pos > len(buf):
            raise GanphonError(f"{where}: truncated protobuf message")
        out.append((field, wire, value))
    return out


@dataclass
class TensorEntry:
    """One tensor of a checkpoint bundle (a decoded ``BundleEntryProto``)."""

    name: str
    dtype: int
    shape: tuple
    shard_id: int = 0
    offset: int = 0
    size: int = 0
    crc32c: int | None = None
    partitioned: bool = False

    @property
    def dtype_name(self) -> str:
        return str(DTYPES[self.dtype]) if self.dtype in DTYPES else DTYPE_NAMES.get(self.dtype, f"dtype {self.dtype}")


def _entry(name: str, value: bytes, where: str) -> TensorEntry:
    e = TensorEntry(name=name, dtype=0, shape=())
    for field, _, v in _proto_fields(value, where):
        if field == 1:
            e.dtype = v
        elif field == 2:  # TensorShapeProto: repeated Dim dim = 2 {int64 size = 1}
            dims = []
            for f2, _, dim in _proto_fields(v, where):
                if f2 == 2:
                    size = next((s for f3, _, s in _proto_fields(dim, where) if f3 == 1), 0)
                    dims.append(size - (1 << 64) if size >= 1 << 63 else size)
            e.shape = tuple(dims)
        elif field == 3:
            e.shard_id = v
        elif field == 4:
            e.offset = v
        elif field == 5:
            e.size = v
        elif field == 6:
            e.crc32c = v
        elif field == 7:
            e.partitioned = True
    return e


# ---------------------------------------------------------------- the .index table

def _read_block(data: bytes, offset: int, size: int, path) -> bytes:
    end = offset + size
    if end + BLOCK_TRAILER_LEN > len(data):
        raise GanphonError(f"{path}: block at byte {offset} runs past the end of the file (truncated?)")
    contents, kind = data[offset:end], data[end]
    stored = struct.unpack_from("<I", data, end + 1)[0]
    if mask_crc(crc32c(data[offset:end + 1])) != stored:
        raise GanphonError(f"{path}: CRC mismatch in the block at byte {offset} (corrupt file)")
    if kind != 0:
        raise GanphonError(f"{path}: block at byte {offset} is compressed (type {kind}); "
                           "TensorFlow writes checkpoint indexes uncompressed")
    return contents


def _block_entries(block: bytes, path) -> list[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise GanphonError(f"{path}: malformed table block")
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * n_restarts
    if end < 0:
        raise GanphonError(f"{path}: malformed table block (restart array)")
    out, pos, key = [], 0, b""
    while pos < end:
        shared, pos = _varint(block, pos, str(path))
        unshared, pos = _varint(block, pos, str(path))
        vlen, pos = _varint(block, pos, str(path))
        if shared > len(key) or pos + unshared + vlen > end:
            raise GanphonError(f"{path}: malformed table entry at byte {pos}")
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        out.append((key, block[pos:pos + vlen]))
        pos += vlen
    return out


def _handle(value: bytes, pos: int, path) -> tuple[int, int, int]:
    offset, pos = _varint(value, pos, str(path))
    size, pos = _varint(value, pos, str(path))
    return offset, size, pos


def checkpoint_prefix(path) -> Path:
    """The checkpoint prefix (``…/model.ckpt-N``) named by ``path``.

    ``path`` may be the prefix, its ``.index`` file, or a training folder, whose
    ``checkpoint`` file names the latest checkpoint.
    """
    path = Path(path)
    if path.is_dir():
        state = path / "checkpoint"
        if not state.exists():
            raise GanphonError(f"{path}: a folder without a 'checkpoint' file: give the checkpoint prefix "
                               "(…/model.ckpt-N)")
        refuse_not_a_file(state, "TensorFlow 'checkpoint' file")
        latest = None
        for line in state.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model_checkpoint_path":
                latest = value.strip().strip('"')
        if not latest:
            raise GanphonError(f"{state}: no model_checkpoint_path line")
        # TensorFlow records absolute paths, and folders are moved after training:
        # the checkpoint next to the 'checkpoint' file comes first.
        prefix = path / Path(latest).name
        if not Path(str(prefix) + ".index").exists() and Path(latest).is_absolute():
            prefix = Path(latest)
    elif path.suffix == ".index" or ".data-" in path.name:
        prefix = path.with_name(path.name.split(".index")[0].split(".data-")[0])
    else:
        prefix = path
    if not Path(str(prefix) + ".index").exists():
        raise GanphonError(f"{prefix}.index: no such file (not a TensorFlow checkpoint prefix)")
    refuse_not_a_file(Path(str(prefix) + ".index"), "TensorFlow checkpoint index")
    return prefix


class TFCheckpoint:
    """A TensorFlow checkpoint bundle opened for reading.

    Parameters
    ----------
    path : path-like
        Checkpoint prefix (``…/model.ckpt-12255``), its ``.index`` file, or a
        training folder with a ``checkpoint`` file.

    Examples
    --------
    >>> ckpt = TFCheckpoint("train/model.ckpt-12255")
    >>> ckpt.shapes()["G/z_project/dense/kernel"]
    (100, 16384)
    >>> w = ckpt.read("G/z_project/dense/kernel")     # numpy array, CRC checked
    """

    def __init__(self, path):
        self.prefix = checkpoint_prefix(path)
        self.index_path = Path(str(self.prefix) + ".index")
        self.entries, self.num_shards = self._read_index()

    def _read_index(self) -> tuple[dict, int]:
        path = self.index_path
        data = path.read_bytes()
        if len(data) < FOOTER_LEN:
            raise GanphonError(f"{path}: too short to be a TensorFlow checkpoint index")
        footer = data[-FOOTER_LEN:]
        if struct.unpack_from("<Q", footer, 40)[0] != MAGIC:
            raise GanphonError(f"{path}: not a TensorFlow checkpoint index (bad magic number)")
        _, _, pos = _handle(footer, 0, path)  # metaindex: unused by TensorFlow bundles
        index_offset, index_size, _ = _handle(footer, pos, path)
        entries, num_shards = {}, 1
        for _, handle in _block_entries(_read_block(data, index_offset, index_size, path), path):
            offset, size, _ = _handle(handle, 0, path)
            for key, value in _block_entries(_read_block(data, offset, size, path), path):
                name = key.decode("utf-8", errors="replace")
                if key == b"":
                    for field, _, v in _proto_fields(value, f"{path}: bundle header"):
                        if field == 1:
                            num_shards = v
                        elif field == 2 and v != 0:
                            raise GanphonError(f"{path}: big-endian checkpoint; only little-endian is read")
                elif key[:1] == b"\x00":
                    continue  # the data of one slice of a partitioned variable (an encoded key)
                else:
                    entries[name] = _entry(name, value, f"{path}: entry {name!r}")
        return entries, num_shards

    def names(self) -> list[str]:
        return sorted(self.entries)

    def shapes(self) -> dict:
        """Tensor name → shape."""
        return {k: e.shape for k, e in sorted(self.entries.items())}

    def shard_path(self, shard_id: int) -> Path:
        return Path(f"{self.prefix}.data-{shard_id:05d}-of-{self.num_shards:05d}")

    def read(self, name: str) -> np.ndarray:
        """The tensor ``name`` as a numpy array, its CRC32C checked."""
        if name not in self.entries:
            raise GanphonError(f"{self.index_path}: no variable {name!r}")
        e = self.entries[name]
        if e.partitioned:
            raise GanphonError(f"{self.index_path}: variable {name!r} is partitioned (saved in slices); "
                               "partitioned variables are not supported")
        if e.dtype not in DTYPES:
            raise GanphonError(f"{self.index_path}: variable {name!r} has type {e.dtype_name}, "
                               "which ganphon does not read")
        dtype = DTYPES[e.dtype]
        count = int(np.prod(e.shape, dtype=np.int64)) if e.shape else 1
        if any(d < 0 for d in e.shape) or count * dtype.itemsize != e.size:
            raise GanphonError(f"{self.index_path}: variable {name!r} has shape {list(e.shape)} "
                               f"but {e.size} bytes")
        shard = self.shard_path(e.shard_id)
        if not shard.exists():
            raise GanphonError(f"{shard}: missing data shard (needed for variable {name!r})")
        refuse_not_a_file(shard, "TensorFlow data shard")
        with open(shard, "rb") as f:
            f.seek(e.offset)
            raw = f.read(e.size)
        if len(raw) != e.size:
            raise GanphonError(f"{shard}: truncated: variable {name!r} needs bytes {e.offset}–{e.offset + e.size}")
        if e.crc32c is not None and mask_crc(crc32c(raw)) != e.crc32c:
            raise GanphonError(f"{shard}: CRC mismatch in variable {name!r} (corrupt file)")
        return np.frombuffer(raw, dtype=dtype).reshape(e.shape).astype(dtype.newbyteorder("="))
