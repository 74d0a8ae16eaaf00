"""Reads and rewrites Nereid plan files (docs/plan_format.md) from Python, so
end-to-end tests can craft plans for another CPU or engine version. A second,
independent reading of the documented format: if this and the engine
disagree, one of them (or the document) is wrong.
"""
import struct

MAGIC = b"NEREIDPL"
HEADER = 64
ENTRY = 32


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def read_sections(data):
    """[(tag, payload)] of a plan file, checking magic, size and checksums."""
    assert data[:8] == MAGIC, "not a plan file"
    version, count, size, table_crc = struct.unpack_from("<IIQI", data, 8)
    assert version == 1 and size == len(data)
    header = bytearray(data[:HEADER + count * ENTRY])
    header[24:28] = b"\0\0\0\0"
    assert crc32c(bytes(header)) == table_crc, "header checksum"
    sections = []
    for i in range(count):
        tag, crc, offset, length = struct.unpack_from("<4sIQQ", data, HEADER + i * ENTRY)
        payload = data[offset:offset + length]
        assert crc32c(payload) == crc, f"section {tag} checksum"
        sections.append((tag.decode(), payload))
    return sections


def write_sections(sections):
    """The file bytes of [(tag, payload)], laid out as the engine writes them."""
    table_end = HEADER + len(sections) * ENTRY
    out = bytearray(table_end)
    out[:8] = MAGIC
    for i, (tag, payload) in enumerate(sections):
        out += b"\0" * (-len(out) % 64)
        struct.pack_into("<4sIQQ", out, HEADER + i * ENTRY, tag.encode(), crc32c(payload),
                         len(out), len(payload))
        out += payload
    struct.pack_into("<IIQI", out, 8, 1, len(sections), len(out), 0)
    struct.pack_into("<I", out, 24, crc32c(bytes(out[:table_end])))
    return bytes(out)


def _string(data, at):
    (n,) = struct.unpack_from("<Q", data, at)
    return data[at + 8:at + 8 + n].decode(), at + 8 + n


def _strings(data, at):
    (count,) = struct.unpack_from("<I", data, at)
    at += 4
    out = []
    for _ in range(count):
        s, at = _string(data, at)
        out.append(s)
    return out, at


def decode_meta(payload):
    engine, at = _string(payload, 0)
    onednn, at = _string(payload, at)
    required, at = _strings(payload, at)
    compiled_on, at = _strings(payload, at)
    assert at == len(payload)
    return {"engine_version": engine, "onednn_version": onednn, "required": required,
            "compiled_on": compiled_on}


def encode_meta(meta):
    def s(text):
        b = text.encode()
        return struct.pack("<Q", len(b)) + b

    def strings(items):
        return struct.pack("<I", len(items)) + b"".join(s(x) for x in items)

    return (s(meta["engine_version"]) + s(meta["onednn_version"]) +
            strings(meta["required"]) + strings(meta["compiled_on"]))


def rewrite_meta(data, **changes):
    """The plan `data` with META fields replaced (engine_version, required, ...)."""
    sections = read_sections(data)
    out = []
    for tag, payload in sections:
        if tag == "META":
            meta = decode_meta(payload)
            meta.update(changes)
            payload = encode_meta(meta)
        out.append((tag, payload))
    return write_sections(out)


def decode_kernels(payload):
    """KERN: [{"node", "op_type", "priority", "params"}], one per node."""
    (count,) = struct.unpack_from("<I", payload, 0)
    at = 4
    kernels = []
    for _ in range(count):
        node, at = _string(payload, at)
        op_type, at = _string(payload, at)
        (priority,) = struct.unpack_from("<i", payload, at)
        params, at = _string(payload, at + 4)
        kernels.append({"node": node, "op_type": op_type, "priority": priority, "params": params})
    assert at == len(payload)
    return kernels
