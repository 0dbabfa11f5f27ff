"""Small independent GGUF v2/v3 reader (numpy only).

Reads the header, every metadata key/value (all scalar types, strings and
nested arrays), the tensor infos, honours `general.alignment`, and
dequantizes tensor data of type F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K and Q6_K to float32.

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
GGML_Q4_K, GGML_Q5_K, GGML_Q6_K = 12, 13, 14
GGML_TYPES = {
    GGML_F32: ("F32", 1, 4),
    GGML_F16: ("F16", 1, 2),
    GGML_Q4_0: ("Q4_0", 32, 2 + 16),
    GGML_Q8_0: ("Q8_0", 32, 2 + 32),
    GGML_BF16: ("BF16", 1, 2),
    GGML_Q4_K: ("Q4_K", 256, 2 + 2 + 12 + 128),
    GGML_Q5_K: ("Q5_K", 256, 2 + 2 + 12 + 32 + 128),
    GGML_Q6_K: ("Q6_K", 256, 128 + 64 + 16 + 2),
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
    if ggml_type in (GGML_Q4_K, GGML_Q5_K):
        return _dequant_q45_k(raw, ggml_type == GGML_Q5_K)[:n]
    if ggml_type == GGML_Q6_K:
        return _dequant_q6_k(raw)[:n]
    name = _OTHER_TYPE_NAMES.get(ggml_type, "type%d" % ggml_type)
    raise ValueError("dequantization of ggml type %s is not implemented" % name)


def _k_scales_mins(s):
    """12 packed bytes per block -> (scales [nb, 8], mins [nb, 8]), 6 bits each.

    Sub-blocks 0..3: scale = low 6 bits of byte j, min = low 6 bits of byte j+4.
    Sub-blocks 4..7: low 4 bits from byte j+4 (scale: low nibble, min: high nibble),
    top 2 bits from the top 2 bits of byte j-4 (scale) and byte j (min)."""
    s = s.astype(np.int32)
    lo_sc, lo_m, packed = s[:, 0:4], s[:, 4:8], s[:, 8:12]
    sc = np.concatenate([lo_sc & 63, (packed & 0x0F) | ((lo_sc >> 6) << 4)], axis=1)
    mn = np.concatenate([lo_m & 63, (packed >> 4) | ((lo_m >> 6) << 4)], axis=1)
    return sc, mn


def _dequant_q45_k(raw, five):
    """block_q4_K {d, dmin, scales[12], qs[128]} / block_q5_K {d, dmin, scales[12], qh[32], qs[128]}.

    8 sub-blocks of 32: x = d * scale_j * q - dmin * min_j. 64-element chunk c reads qs[32c:32c+32]:
    its low nibbles are sub-block 2c, its high nibbles sub-block 2c+1. Q5_K adds bit j of qh[l] as
    bit 4 of element l of sub-block j."""
    bpb = 176 if five else 144
    b = raw.reshape(-1, bpb)
    nb = b.shape[0]
    d = fp16_to_f32(b[:, 0:2].copy().view("<u2")).reshape(nb, 1)
    dmin = fp16_to_f32(b[:, 2:4].copy().view("<u2")).reshape(nb, 1)
    sc, mn = _k_scales_mins(b[:, 4:16])
    qs = b[:, 48:176] if five else b[:, 16:144]
    qs = qs.reshape(nb, 4, 32).astype(np.int32)
    q = np.stack([qs & 0x0F, qs >> 4], axis=2).reshape(nb, 8, 32)   # [chunk, low/high] -> sub-block
    if five:
        qh = b[:, 16:48].astype(np.int32).reshape(nb, 1, 32)
        bits = (qh >> np.arange(8).reshape(1, 8, 1)) & 1
        q = q | (bits << 4)
    x = d.reshape(nb, 1, 1) * sc.reshape(nb, 8, 1) * q - dmin.reshape(nb, 1, 1) * mn.reshape(nb, 8, 1)
    return x.astype(np.float32).reshape(-1)


def _dequant_q6_k(raw):
    """block_q6_K {ql[128], qh[64], scales[16] int8, d}: 16 sub-blocks of 16, x = d * scale_j * (q - 32).

    Half h (128 elements) reads ql[64h:64h+64], qh[32h:32h+32]. For l in 0..31 the four 32-element groups are
    g0: ql[l] & 15, g1: ql[l+32] & 15, g2: ql[l] >> 4, g3: ql[l+32] >> 4; group g's bits 4-5 are qh[l] >> 2g."""
    b = raw.reshape(-1, 210)
    nb = b.shape[0]
    ql = b[:, 0:128].astype(np.int32).reshape(nb, 2, 2, 32)         # [half, first/second 32 bytes, l]
    qh = b[:, 128:192].astype(np.int32).reshape(nb, 2, 1, 32)
    sc = b[:, 192:208].copy().view(np.int8).astype(np.float32)     # [nb, 16]
    d = fp16_to_f32(b[:, 208:210].copy().view("<u2")).reshape(nb, 1)
    low = np.concatenate([ql & 0x0F, ql >> 4], axis=2)               # [nb, 2, 4 groups (g0 g1 g2 g3), 32]
    high = (qh >> (2 * np.arange(4).reshape(1, 1, 4, 1))) & 3
    q = (low | (high << 4)) - 32                                     # [nb, 2, 4, 32] = element order
    x = q.reshape(nb, 16, 16).astype(np.float32) * sc.reshape(nb, 16, 1) * d.reshape(nb, 1, 1)
    return x.astype(np.float32).reshape(-1)


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
