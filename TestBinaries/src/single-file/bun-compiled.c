/* bun >= 1.3.14 standalone executable, full layout (docs/overlay-design.md §1.2, §11.5): the
 * slot BUN_COMPILED in the writable section `.bun` is 0 when linked; bun-compile.py (standing in
 * for `bun build --compile`, bun's src/exe_format/elf.rs write_bun_section) grows the RW PT_LOAD
 * to cover `[zero fill][u64 length][payload][pad][u64 slot vaddr]` at a page-aligned vaddr past
 * every mapping, moves what followed the segment (non-ALLOC sections, the section header table)
 * behind it, points the `.bun` section header at the payload, and stores the payload's vaddr in
 * the slot. Here the program reads it through that vaddr plus its load bias, with no file I/O. */
#include <stdint.h>
#include <stdio.h>

__attribute__((section(".bun"), used)) uint64_t BUN_COMPILED[2] = { 0, 0 };

/* The ELF header, mapped at the load bias in a PIE linked at vaddr 0. */
extern const char __ehdr_start[];

int main(void) {
    if (BUN_COMPILED[0] == 0) { fputs("bun-compiled: no compiled payload (slot is 0)\n", stderr); return 1; }
    const uint64_t *p = (const uint64_t *)((uintptr_t)__ehdr_start + (uintptr_t)BUN_COMPILED[0]);
    uint64_t length = p[0];
    if (length == 0 || length > 4096) { fputs("bun-compiled: bad payload length\n", stderr); return 1; }
    fwrite((const char *)(p + 1), 1, (size_t)length, stdout);
    return 0;
}
