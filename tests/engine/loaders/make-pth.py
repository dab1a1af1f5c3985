#!/usr/bin/python3
"""Write .pth test files for test-pth: genuine torch.save output (when torch is importable), the same
state dict written by hand (zip of stored entries + protocol-2 pickle, as torch lays it out), a ZIP64
variant, and hostile variants listed in hostile.txt as "file<TAB>expected message fragment".

Usage: make-pth.py OUTDIR
data/torch-1.13.pth was written by write_torch() with Debian's python3-torch 1.13.1.
"""
import os
import struct
import sys
import zlib

# --- the reference state dict (test-pth.c checks the same formulas) -----------------------------

def values_a():  # "a.weight" F32 [2, 3]
    return [j * 0.5 - 1.0 for j in range(6)]

def values_b():  # "b.bf16" BF16 [4, 2]
    return [(j - 3) * 0.25 for j in range(8)]

def values_c():  # "c.half" F16 [2, 2, 2]
    return [j * 0.125 for j in range(8)]

def values_d():  # "d.long" I64 [3]
    return [j * 1000000007 - 5 for j in range(3)]

def values_x():  # storage of "e.full" F32 [10]; "e.view" is its slice [6:]
    return [float(j) for j in range(10)]


def bf16_bytes(vals):
    out = b""
    for v in vals:
        u = struct.unpack("<I", struct.pack("<f", v))[0]
        out += struct.pack("<H", u >> 16)   # all test values are exact in bf16
    return out


# storages: key -> (class, numel, bytes)
def storages():
    return {
        "0": ("FloatStorage", 6, struct.pack("<6f", *values_a())),
        "1": ("BFloat16Storage", 8, bf16_bytes(values_b())),
        "2": ("HalfStorage", 8, struct.pack("<8e", *values_c())),
        "3": ("LongStorage", 3, struct.pack("<3q", *values_d())),
        "4": ("FloatStorage", 10, struct.pack("<10f", *values_x())),
        "5": ("FloatStorage", 1, struct.pack("<f", 3.5)),
    }


# tensors: (name, storage key, offset, shape, stride)
TENSORS = [
    ("a.weight", "0", 0, (2, 3), (3, 1)),
    ("b.bf16", "1", 0, (4, 2), (2, 1)),
    ("c.half", "2", 0, (2, 2, 2), (4, 2, 1)),
    ("d.long", "3", 0, (3,), (1,)),
    ("e.full", "4", 0, (10,), (1,)),
    ("e.view", "4", 6, (4,), (1,)),
    ("f.scalar", "5", 0, (), ()),
]


# --- pickle opcodes ---------------------------------------------------------------------------

def op_str(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b

def op_int(v):
    if 0 <= v < 256:
        return b"K" + bytes([v])
    if -2**31 <= v < 2**31:
        return b"J" + struct.pack("<i", v)
    return b"\x8a\x08" + struct.pack("<q", v)

def op_global(mod, name):
    return b"c" + mod.encode() + b"\n" + name.encode() + b"\n"

def op_tuple(items):
    return b"(" + b"".join(items) + b"t"


class Pickle:
    def __init__(self):
        self.memo = 0

    def put(self):
        # BINPUT after every object, as torch's pickler does
        b = b"q" + bytes([self.memo]) if self.memo < 256 else b"r" + struct.pack("<I", self.memo)
        self.memo += 1
        return b

    def state_dict(self, tensors, stor, override=None):
        out = b"\x80\x02" + op_global("collections", "OrderedDict") + self.put() + b")R" + self.put() + b"("
        for (name, key, off, shape, stride) in tensors:
            cls, numel, _ = stor[key]
            if override and name in override:
                out += override[name]
                continue
            out += op_str(name) + self.put()
            out += op_global("torch._utils", "_rebuild_tensor_v2") + self.put()
            pid = op_tuple([op_str("storage"), op_global("torch", cls), op_str(key), op_str("cpu"), op_int(numel)])
            args = [pid + b"Q", op_int(off), op_tuple([op_int(s) for s in shape]),
                    op_tuple([op_int(s) for s in stride]), b"\x89",
                    op_global("collections", "OrderedDict") + b")R"]
            out += op_tuple(args) + self.put() + b"R" + self.put()
        out += b"u."
        return out


# --- zip writer (stored entries, 64-byte aligned data, optional forced ZIP64) -------------------

def write_zip(path, entries, zip64=False, method_override=None):
    """entries: list of (name, bytes). Returns the file bytes too."""
    out = bytearray()
    cdir = bytearray()
    for name, data in entries:
        nb = name.encode()
        off = len(out)
        crc = zlib.crc32(data)
        method = 0
        stored = data
        if method_override and name.endswith(method_override):
            method = 8
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            stored = c.compress(data) + c.flush()
        extra = b""
        if zip64:
            extra = struct.pack("<HHQQ", 1, 16, len(data), len(stored))
        # pad the local header so the data starts on a 64-byte boundary (as torch does)
        base = off + 30 + len(nb) + len(extra)
        pad = (-(base + 4)) % 64
        extra += struct.pack("<HH", 0x4246, pad) + b"Z" * pad
        size32 = 0xFFFFFFFF if zip64 else len(data)
        csize32 = 0xFFFFFFFF if zip64 else len(stored)
        out += struct.pack("<IHHHHHIIIHH", 0x04034b50, 45 if zip64 else 20, 0, method, 0, 0x21,
                           crc, csize32, size32, len(nb), len(extra))
        out += nb + extra + stored
        cextra = struct.pack("<HHQQQ", 1, 24, len(data), len(stored), off) if zip64 else b""
        cdir += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014b50, 0x31e, 45 if zip64 else 20, 0, method, 0, 0x21,
                            crc, csize32, size32, len(nb), len(cextra), 0, 0, 0, 0,
                            0xFFFFFFFF if zip64 else off)
        cdir += nb + cextra
    cd_off = len(out)
    out += cdir
    n = len(entries)
    e64 = len(out)
    # torch writes the ZIP64 end record and locator even for small archives
    out += struct.pack("<IQHHIIQQQQ", 0x06064b50, 44, 0x31e, 45, 0, 0, n, n, len(cdir), cd_off)
    out += struct.pack("<IIQI", 0x07064b50, 0, e64, 1)
    if zip64:
        out += struct.pack("<IHHHHIIH", 0x06054b50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    else:
        out += struct.pack("<IHHHHIIH", 0x06054b50, 0, 0, n, n, len(cdir), cd_off, 0)
    with open(path, "wb") as f:
        f.write(out)
    return bytes(out)


def hand_entries(prefix, pkl, stor):
    ents = [(prefix + "/data.pkl", pkl), (prefix + "/byteorder", b"little")]
    for key in sorted(stor):
        ents.append((prefix + "/data/" + key, stor[key][2]))
    ents.append((prefix + "/version", b"3\n"))
    return ents


def write_hand(path, zip64=False, tensors=TENSORS, stor=None, override=None, method_override=None):
    stor = stor or storages()
    pkl = Pickle().state_dict(tensors, stor, override)
    prefix = os.path.splitext(os.path.basename(path))[0]
    return write_zip(path, hand_entries(prefix, pkl, stor), zip64, method_override)


def write_torch(path):
    import collections
    import torch
    sd = collections.OrderedDict()
    sd["a.weight"] = torch.tensor(values_a(), dtype=torch.float32).reshape(2, 3)
    sd["b.bf16"] = torch.tensor(values_b(), dtype=torch.float32).to(torch.bfloat16).reshape(4, 2)
    sd["c.half"] = torch.tensor(values_c(), dtype=torch.float16).reshape(2, 2, 2)
    sd["d.long"] = torch.tensor(values_d(), dtype=torch.int64)
    x = torch.tensor(values_x(), dtype=torch.float32)
    sd["e.full"] = x
    sd["e.view"] = x[6:]
    sd["f.scalar"] = torch.tensor(3.5)
    torch.save(sd, path)


# --- hostile variants ------------------------------------------------------------------------

def patch(data, off, b):
    return data[:off] + b + data[off + len(b):]


def hostile(outdir):
    lines = []

    def emit(name, data, expect):
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(data)
        lines.append(name + "\t" + expect)

    tmp = os.path.join(outdir, "tmp.pth")

    def pickled(pkl, stor=None):
        stor = stor if stor is not None else storages()
        return write_zip(tmp, hand_entries("tmp", pkl, stor))

    # code execution attempts: GLOBAL os.system + REDUCE, STACK_GLOBAL builtins.eval, posix.system
    emit("os-system.pth", pickled(b"\x80\x02" + op_global("os", "system") + op_str("echo owned") + b"\x85R."),
         "os.system")
    emit("eval.pth", pickled(b"\x80\x04" + b"\x8c\x08builtins\x8c\x04eval\x93" + op_str("1+1") + b"\x85R."),
         "builtins.eval")
    emit("in-tensor.pth", write_hand(tmp, override={"b.bf16": op_str("b.bf16") + op_global("subprocess", "Popen")
                                                      + op_str("x") + b"\x85R"}), "subprocess.Popen")
    # a storage whose element count does not match its blob
    st = storages()
    st["0"] = ("FloatStorage", 600, st["0"][2])
    emit("storage-size.pth", write_hand(tmp, stor=st), "storage '0'")
    # a tensor past the end of its storage
    emit("offset-past.pth", write_hand(tmp, tensors=[("a.weight", "0", 5, (2, 3), (3, 1))]), "a.weight")
    emit("huge-shape.pth", write_hand(tmp, tensors=[("a.weight", "0", 0, (1 << 62, 4), (4, 1))]), "a.weight")
    emit("strides.pth", write_hand(tmp, tensors=[("a.weight", "0", 0, (3, 2), (1, 3))]), "non-contiguous")
    # zip level: entry sizes past the end, overlapping entries, ZIP64 tricks, compression, truncation
    good = write_hand(tmp)
    cd = good.index(b"PK\x01\x02")
    emit("entry-past-end.pth", patch(good, cd + 20, struct.pack("<II", 0x7FFFFFF0, 0x7FFFFFF0)), "tmp/data.pkl")
    # grow data.pkl's size so it runs over the byteorder entry's local header (names sort, so the
    # first central record is data.pkl, written first)
    pkl_size = struct.unpack("<I", good[cd + 24:cd + 28])[0]
    emit("overlap.pth", patch(good, cd + 20, struct.pack("<II", pkl_size + 40, pkl_size + 40)), "overlap")
    loc = good.rindex(b"PK\x06\x07")
    emit("zip64-locator.pth", patch(good, loc + 8, struct.pack("<Q", 1 << 40)), "ZIP64 end record")
    e64 = good.rindex(b"PK\x06\x06")
    emit("zip64-cd.pth", patch(good, e64 + 48, struct.pack("<Q", len(good) - 30)), "central directory")
    emit("zip64-count.pth", patch(good, e64 + 32, struct.pack("<Q", 1 << 40)), "entries")
    z64 = write_hand(tmp, zip64=True)
    cd64 = z64.index(b"PK\x01\x02")
    nl = struct.unpack("<H", z64[cd64 + 28:cd64 + 30])[0]
    emit("zip64-extra.pth", patch(z64, cd64 + 30, struct.pack("<H", 0)), "ZIP64 extra")
    emit("zip64-offset.pth", patch(z64, cd64 + 46 + nl + 4 + 16, struct.pack("<Q", 1 << 50)), "local header offset")
    emit("compressed.pth", write_hand(tmp, method_override="data.pkl"), "compressed")
    emit("truncated.pth", good[:len(good) // 2], "truncated")
    emit("not-zip.pth", b"\x80\x02}q\x00." + b"\0" * 100, "end-of-central-directory")
    # pickle level: recursion and memo bombs, malformed streams
    emit("marks.pth", pickled(b"\x80\x02" + b"(" * 100000 + b"."), "MARK")
    emit("nested.pth", pickled(b"\x80\x02" + b"]" * 50000 + b"a" * 49999 + b"."), "dict")
    emit("self-list.pth", pickled(b"\x80\x02]q\x00h\x00a" + b"h\x00a" * 1000 + b"."), "dict")
    emit("many-values.pth", pickled(b"\x80\x02" + b"N0" * 5000000 + b"}."), "limits")
    emit("memo-huge.pth", pickled(b"\x80\x02}r\xf0\xff\xff\xff."), "memo index")
    emit("memo-empty.pth", pickled(b"\x80\x02j\x00\x00\x01\x00."), "memo slot")
    emit("underflow.pth", pickled(b"\x80\x02s."), "pops more")
    emit("no-stop.pth", pickled(b"\x80\x02}"), "truncated")
    emit("bad-opcode.pth", pickled(b"\x80\x02}\xff."), "opcode")
    emit("long-int.pth", pickled(b"\x80\x02\x8a\xff" + b"\x01" * 255 + b"."), "too large")
    emit("missing-storage.pth", pickled(Pickle().state_dict(TENSORS, storages()), stor={}), "no zip entry")
    # a NUL byte in a global's name was shown cut ("os"): every byte is shown, escaped
    emit("nul-global.pth", pickled(b"\x80\x02" + op_global("os\x00hidden", "sys\x00tem") + op_str("x") + b"\x85R."),
         "'os\\x00hidden.sys\\x00tem'")
    emit("nul-stack-global.pth", pickled(b"\x80\x04" + b"\x8c\x0abuil\x00tins\xff\x8c\x04eval\x93" + op_str("1") + b"\x85R."),
         "'buil\\x00tins\\xff.eval'")
    emit("dict-args.pth", pickled(b"\x80\x02" + op_global("collections", "OrderedDict") + op_str("x") + b"\x85R."),
         "OrderedDict")
    os.remove(tmp)
    with open(os.path.join(outdir, "hostile.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    write_hand(os.path.join(outdir, "hand.pth"))
    write_hand(os.path.join(outdir, "zip64.pth"), zip64=True)
    genuine = "torch"
    try:
        write_torch(os.path.join(outdir, "torch.pth"))
    except ImportError:
        # No PyTorch here: the hand-written file follows the same layout.
        genuine = "hand"
        write_hand(os.path.join(outdir, "torch.pth"))
    hostile(outdir)
    print(genuine)


if __name__ == "__main__":
    main()
