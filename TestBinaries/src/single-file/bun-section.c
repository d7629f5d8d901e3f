/* bun >= 1.3.12 standalone executable, reduced variant (docs/overlay-design.md §11.5).
 * bun keeps a slot BUN_COMPILED in a writable ELF section `.bun`; `bun build --compile`
 * stores there the virtual address of `[u64 length][payload bytes]` and the program reads the
 * payload through that address, with no file I/O. Reduced: the payload is linked into .data and
 * the slot is initialised to its address by the linker (a relative relocation in a PIE); bun's
 * writer, which grows the RW PT_LOAD and moves the section header table behind the payload, is
 * not reproduced. What a growing edit must keep is the same: `.bun` in the RW PT_LOAD, its vaddr,
 * and the bytes the slot points to. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define TEXT "payload: bun .bun section\n"

static struct { uint64_t length; char bytes[sizeof TEXT]; } payload = { sizeof TEXT - 1, TEXT };

__attribute__((section(".bun"), used)) uint64_t BUN_COMPILED[2] = { (uint64_t)(uintptr_t)&payload, 0 };

int main(void) {
    if (BUN_COMPILED[0] == 0) { fputs("bun-section: no compiled payload (slot is 0)\n", stderr); return 1; }
    const uint64_t *p = (const uint64_t *)(uintptr_t)BUN_COMPILED[0];
    uint64_t length = p[0];
    if (length == 0 || length > 4096) { fputs("bun-section: bad payload length\n", stderr); return 1; }
    fwrite((const char *)(p + 1), 1, (size_t)length, stdout);
    return 0;
}
