"""Writes a payload into a program linked from bun-compiled.c the way bun >= 1.3.14's
`bun build --compile` does on Linux (oven-sh/bun src/exe_format/elf.rs, write_bun_section, as
summarised in docs/overlay-design.md §1.2). ELF64 little-endian only; 4 KiB pages.

usage: bun-compile.py INPUT OUTPUT PAYLOAD-TEXT"""
import struct
import sys

PT_LOAD, PF_W, SHF_ALLOC, SHT_NOBITS = 1, 2, 2, 8
PAGE = 4096


def align(value, to):
    return (value + to - 1) // to * to


def main(source, target, text):
    data = bytearray(open(source, "rb").read())
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, "ELF64 LE only"
    phoff, shoff = struct.unpack_from("<QQ", data, 0x20)
    phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from("<HHHHH", data, 0x36)
    phdrs = [list(struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize)) for i in range(phnum)]
    shdrs = [list(struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)) for i in range(shnum)]
    strtab = shdrs[shstrndx][4]

    def name(sh):
        start = strtab + sh[0]
        return bytes(data[start:data.index(b"\0", start)]).decode()

    bun = next(sh for sh in shdrs if name(sh) == ".bun")
    slot_vaddr, slot_offset = bun[3], bun[4]
    # The writable PT_LOAD that holds .bun, matched by vaddr (bun PR #31024).
    seg = next(ph for ph in phdrs if ph[0] == PT_LOAD and ph[1] & PF_W and ph[3] <= slot_vaddr < ph[3] + ph[6])
    seg_file_end = seg[2] + seg[5]
    assert all(ph[2] + ph[5] <= seg_file_end for ph in phdrs if ph[0] == PT_LOAD), "RW segment is not last"

    new_vaddr = align(max(ph[3] + ph[6] for ph in phdrs if ph[0] == PT_LOAD), PAGE)
    new_offset = new_vaddr - (seg[3] - seg[2])
    payload = text.encode()
    blob = struct.pack("<Q", len(payload)) + payload
    blob += b"\0" * (align(len(blob), 8) - len(blob)) + struct.pack("<Q", slot_vaddr)

    tail = data[seg_file_end:]  # non-ALLOC sections and the section header table
    out = data[:seg_file_end] + b"\0" * (new_offset - seg_file_end) + blob
    out += b"\0" * (align(len(out), 8) - len(out))
    shift = len(out) - seg_file_end
    out += tail

    seg[5] = seg[6] = new_vaddr + len(blob) - seg[3]  # p_filesz = p_memsz
    for sh in shdrs:
        if sh is bun:
            sh[3], sh[4], sh[5] = new_vaddr, new_offset, len(blob)
        elif not sh[2] & SHF_ALLOC and sh[1] != SHT_NOBITS and sh[4] >= seg_file_end:
            sh[4] += shift
    struct.pack_into("<Q", out, 0x28, shoff + shift)
    for i, ph in enumerate(phdrs):
        struct.pack_into("<IIQQQQQQ", out, phoff + i * phentsize, *ph)
    for i, sh in enumerate(shdrs):
        struct.pack_into("<IIQQQQIIQQ", out, shoff + shift + i * shentsize, *sh)
    struct.pack_into("<Q", out, slot_offset, new_vaddr)  # the slot: the payload's vaddr
    open(target, "wb").write(out)


if __name__ == "__main__":
    main(*sys.argv[1:4])
