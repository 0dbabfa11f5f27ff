"""Small independent GGUF v2/v3 reader (numpy only).

Reads the header, every metadata key/value (all scalar types, strings and
nested arrays), the tensor infos, honours `general.alignment`, and
dequantizes tensor data of type F32, F16, BF16, Q8_0 and Q4_0 to float32.

Shapes: GGUF stores ne[0] first (the innermost, fastest-varying dimension).
`tensor()` returns arrays in PyTorch / C order, i.e. the reversed ne list:
a linear layer's [out, in] weight has ne = [in, out] in the file.

Usage as a script:  python3 gguf_read.py FILE.gguf   (prints metadata + tensors)
"""
import struct
import sys

import numpy as np

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32

# metadata value types
T_UINT8, T_INT8, T_UINT16, T_INT16, T_UINT32, T_INT32, T_FLOAT32, T_BOOL, \
    T_STRING, T_ARRAY, T_UINT64, T_INT64, T_FLOAT64 = range(13)

_SCALAR = {
    T_UINT8: "<u1", T_INT8: "<i1", T_UINT16: "<u2", T_INT16: "<i2",
    T_UINT32: "<u4", T_INT32: "<i4", T_FLOAT32: "<f4", T_BOOL: "<u1",
    T_UINT64: "<u8", T_INT64: "<i8", T_FLOAT64: "<f8",
}

# ggml tensor types we understand: id -> (name, block size in elements, bytes per block)
GGML_F32, GGML_F16, GGML_Q4_0, GGML_Q8_0, GGML_BF16 = 0, 1, 2, 8, 30
GGML_TYPES = {
    GGML_F32: ("F32", 1, 4),
    GGML_F16: ("F16", 1, 2),
    GGML_Q4_0: ("Q4_0", 32, 2 + 16),
    GGML_Q8_0: ("Q8_0", 32, 2 + 32),
    GGML_BF16: ("BF16", 1, 2),
}
# names of other ggml types, only for error messages
_OTHER_TYPE_NAMES = {3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 9: "Q8_1", 10: "Q2_K", 11: "Q3_K",
                     12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K"}


class TensorInfo:
    def __init__(self, name, ne, ggml_type, offset):
        self.name = name
        self.ne = list(ne)            # GGUF order: ne[0] innermost
        self.ggml_type = ggml_type
        self.offset = offset          # relative to the start of the data section

    @property
    def shape(self):
        """PyTorch / C order shape (reversed ne)."""
        return tuple(reversed(self.ne))

    @property
    def n_elements(self):
        n = 1
        for d in self.ne:
            n *= d
        return n

    @property
    def type_name(self):
        if self.ggml_type in GGML_TYPES:
            return GGML_TYPES[self.ggml_type][0]
        return _OTHER_TYPE_NAMES.get(self.ggml_type, "type%d" % self.ggml_type)

    @property
    def n_bytes(self):
        if self.ggml_type not in GGML_TYPES:
            raise ValueError("unsupported ggml type %s for tensor %s" % (self.type_name, self.name))
        _, blk, bpb = GGML_TYPES[self.ggml_type]
        if self.ne[0] % blk:
            raise ValueError("tensor %s: ne[0]=%d not a multiple of block %d" % (self.name, self.ne[0], blk))
        return self.n_elements // blk * bpb

    def __repr__(self):
        return "TensorInfo(%s, shape=%s, %s, off=%d)" % (self.name, self.shape, self.type_name, self.offset)


class _Cursor:
    def __init__(self, buf):
        self.buf = buf
        self.pos = 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0]

    def string(self):
        n = self.take("<Q")
        s = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return s.decode("utf-8", errors="surrogateescape")

    def value(self, vtype):
        if vtype == T_STRING:
            return self.string()
        if vtype == T_ARRAY:
            etype = self.take("<I")
            count = self.take("<Q")
            if etype in _SCALAR:
                dt = np.dtype(_SCALAR[etype])
                arr = np.frombuffer(self.buf, dtype=dt, count=count, offset=self.pos).copy()
                self.pos += dt.itemsize * count
                if etype == T_BOOL:
                    return [bool(x) for x in arr]
                return arr.tolist()
            return [self.value(etype) for _ in range(count)]
        if vtype in _SCALAR:
            dt = np.dtype(_SCALAR[vtype])
            v = np.frombuffer(self.buf, dtype=dt, count=1, offset=self.pos)[0]
            self.pos += dt.itemsize
            return bool(v) if vtype == T_BOOL else v.item()
        raise ValueError("unknown GGUF metadata type %d at offset %d" % (vtype, self.pos))


class GGUFFile:
    def __init__(self, path):
        self.path = path
        self.mm = np.memmap(path, dtype=np.uint8, mode="r")
        buf = memoryview(self.mm)
        c = _Cursor(buf)
        if bytes(buf[:4]) != GGUF_MAGIC:
            raise ValueError("%s: not a GGUF file" % path)
        c.pos = 4
        self.version = c.take("<I")
        if self.version not in (2, 3):
            raise ValueError("%s: unsupported GGUF version %d" % (path, self.version))
        n_tensors = c.take("<Q")
        n_kv = c.take("<Q")
        self.metadata = {}
        self.metadata_types = {}
        for _ in range(n_kv):
            key = c.string()
            vtype = c.take("<I")
            self.metadata[key] = c.value(vtype)
            self.metadata_types[key] = vtype
        self.tensors = {}
        self.tensor_order = []
        for _ in range(n_tensors):
            name = c.string()
            n_dims = c.take("<I")
            ne = [c.take("<Q") for _ in range(n_dims)]
            gtype = c.take("<I")
            off = c.take("<Q")
            self.tensors[name] = TensorInfo(name, ne, gtype, off)
            self.tensor_order.append(name)
        self.alignment = int(self.metadata.get("general.alignment", DEFAULT_ALIGNMENT))
        self.data_offset = (c.pos + self.alignment - 1) // self.alignment * self.alignment
        for t in self.tensors.values():
            if t.offset % self.alignment:
                raise ValueError("tensor %s offset %d not aligned to %d" % (t.name, t.offset, self.alignment))

    def get(self, key, default=None):
        return self.metadata.get(key, default)

    def raw(self, name):
        t = self.tensors[name]
        start = self.data_offset + t.offset
        end = start + t.n_bytes
        if end > self.mm.shape[0]:
            raise ValueError("tensor %s runs past end of file" % name)
        return self.mm[start:end]

    def tensor(self, name):
        """Dequantized float32 numpy array in PyTorch shape order."""
        t = self.tensors[name]
        flat = dequantize(self.raw(name), t.ggml_type, t.n_elements)
        return flat.reshape(t.shape)


def fp16_to_f32(u16):
    return u16.view(np.float16).astype(np.float32)


def bf16_to_f32(u16):
    return (u16.astype(np.uint32) << 16).view(np.float32)


def dequantize(raw, ggml_type, n):
    """raw: uint8 array of the tensor's bytes -> float32 flat array of n elements."""
    raw = np.ascontiguousarray(raw)
    if ggml_type == GGML_F32:
        return raw.view("<f4").astype(np.float32)
    if ggml_type == GGML_F16:
        return fp16_to_f32(raw.view("<u2"))
    if ggml_type == GGML_BF16:
        return bf16_to_f32(raw.view("<u2"))
    if ggml_type == GGML_Q8_0:
        blocks = raw.reshape(-1, 34)
        d = fp16_to_f32(blocks[:, :2].copy().view("<u2"))            # [nb, 1]
        q = blocks[:, 2:].view(np.int8).astype(np.float32)           # [nb, 32]
        return (q * d).reshape(-1)[:n]
    if ggml_type == GGML_Q4_0:
        blocks = raw.reshape(-1, 18)
        d = fp16_to_f32(blocks[:, :2].copy().view("<u2"))            # [nb, 1]
        qs = blocks[:, 2:]                                           # [nb, 16]
        lo = (qs & 0x0F).astype(np.int32) - 8                        # elements 0..15
        hi = (qs >> 4).astype(np.int32) - 8                          # elements 16..31
        q = np.concatenate([lo, hi], axis=1).astype(np.float32)
        return (q * d).reshape(-1)[:n]
    name = _OTHER_TYPE_NAMES.get(ggml_type, "type%d" % ggml_type)
    raise ValueError("dequantization of ggml type %s is not implemented" % name)


def _short(v):
    if isinstance(v, list):
        head = ", ".join(repr(x) for x in v[:5])
        return "[%s%s] (len %d)" % (head, ", ..." if len(v) > 5 else "", len(v))
    if isinstance(v, str) and len(v) > 80:
        return repr(v[:80]) + "..."
    return repr(v)


def main(argv):
    g = GGUFFile(argv[1])
    print("GGUF v%d  alignment %d  data offset %d" % (g.version, g.alignment, g.data_offset))
    for k, v in g.metadata.items():
        print("  %-45s %s" % (k, _short(v)))
    for name in g.tensor_order:
        print("  ", g.tensors[name])


if __name__ == "__main__":
    main(sys.argv)
