"""Adds a libsui SUI note to a program linked from sui-note.c without sui-note.S, laid out as
libsui >= 0.16 writes it (denoland/sui lib.rs, summarised in docs/overlay-design.md §2.3):
every original byte stays where it is; at a page-aligned offset past the end of the file (and
of every mapping, so that vaddr - offset can be the first PT_LOAD's) a new
PT_LOAD holds a copy of the program header table, enlarged by that PT_LOAD and a PT_NOTE, and
then the note; e_phoff and PT_PHDR point at the copy, and the segment's vaddr is its offset plus
the first PT_LOAD's vaddr - offset (libsui 0.16.3, so that the AT_PHDR the kernel computes either
way is the same). As in 0.16.1, an allocated section `.sui.phdrs` covers the copy (eu-strip
zero-filled it without one, deno#35633): the section header table, with that section added,
and the section name table, with its name added, are written anew after the segment. ELF64 LE.

usage: sui-append.py INPUT OUTPUT PAYLOAD-TEXT"""
import struct
import sys

PT_LOAD, PT_NOTE, PT_PHDR, PF_R = 1, 4, 6, 4
SHT_PROGBITS, SHF_ALLOC = 1, 2
PAGE = 4096


def main(source, target, text):
    data = bytearray(open(source, "rb").read())
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, "ELF64 LE only"
    phoff = struct.unpack_from("<Q", data, 0x20)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    phdrs = [list(struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize)) for i in range(phnum)]
    loads = [ph for ph in phdrs if ph[0] == PT_LOAD]
    bias = loads[0][3] - loads[0][2]

    name = b"SUI\0"
    desc = struct.pack("<H", 8) + b"d3n0l4nd" + text.encode()
    note = struct.pack("<III", len(name), len(desc), 0x53554901) + name + desc
    note += b"\0" * (-len(note) % 4)

    # Past the end of the file and past every mapping (.bss may reach beyond the file's end).
    end = max([len(data)] + [ph[3] + ph[6] - bias for ph in loads])
    offset = (end + PAGE - 1) // PAGE * PAGE
    vaddr = offset + bias
    table_size = (phnum + 2) * phentsize
    size = table_size + len(note)
    for ph in phdrs:
        if ph[0] == PT_PHDR:
            ph[2:7] = [offset, vaddr, vaddr, table_size, table_size]
    # PT_LOADs stay in vaddr order: the new one after the last; the PT_NOTE at the end.
    last = max(i for i, ph in enumerate(phdrs) if ph[0] == PT_LOAD)
    phdrs.insert(last + 1, [PT_LOAD, PF_R, offset, vaddr, vaddr, size, size, PAGE])
    phdrs.append([PT_NOTE, PF_R, offset + table_size, vaddr + table_size, vaddr + table_size, len(note), len(note), 4])

    data += b"\0" * (offset - len(data))
    for ph in phdrs:
        data += struct.pack("<IIQQQQQQ", *ph)
    data += note
    struct.pack_into("<Q", data, 0x20, offset)
    struct.pack_into("<H", data, 0x38, len(phdrs))

    # The section name table with ".sui.phdrs" added, then the section header table with it.
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    shdrs = [list(struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)) for i in range(shnum)]
    names = shdrs[shstrndx]
    strtab = bytes(data[names[4]:names[4] + names[5]])
    names[4], names[5] = len(data), len(strtab) + len(b".sui.phdrs\0")
    shdrs.append([len(strtab), SHT_PROGBITS, SHF_ALLOC, vaddr, offset, table_size, 0, 0, 8, 0])
    data += strtab + b".sui.phdrs\0"
    data += b"\0" * (-len(data) % 8)
    struct.pack_into("<Q", data, 0x28, len(data))
    struct.pack_into("<H", data, 0x3C, len(shdrs))
    for sh in shdrs:
        data += struct.pack("<IIQQQQIIQQ", *sh)
    open(target, "wb").write(data)


if __name__ == "__main__":
    main(*sys.argv[1:4])
