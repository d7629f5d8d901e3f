/* libsui >= 0.13 reader (docs/overlay-design.md §2.3): dl_iterate_phdr, the first object is the
 * main program; walk its PT_NOTE segments for the note named "SUI" with type 0x53554901 and
 * section name "d3n0l4nd". No file I/O: the note must stay mapped where the PT_NOTE says. */
#define _GNU_SOURCE
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const char *found;
static size_t found_length;

static int visit(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size; (void)data;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE) continue;
        const char *pos = (const char *)(info->dlpi_addr + ph->p_vaddr), *end = pos + ph->p_memsz;
        while (pos + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)pos;
            const char *name = pos + sizeof *n;
            const char *desc = name + ((n->n_namesz + 3) & ~3u);
            const char *next = desc + ((n->n_descsz + 3) & ~3u);
            if (next > end) break;
            if (n->n_type == 0x53554901 && n->n_namesz == 4 && memcmp(name, "SUI", 4) == 0 && n->n_descsz >= 2) {
                uint16_t length; memcpy(&length, desc, 2);
                if (2u + length <= n->n_descsz && length == 8 && memcmp(desc + 2, "d3n0l4nd", 8) == 0) {
                    found = desc + 2 + length; found_length = n->n_descsz - 2 - length;
                }
            }
            pos = next;
        }
    }
    return 1; /* the first object only: the main program */
}

int main(void) {
    dl_iterate_phdr(visit, NULL);
    if (!found) { fputs("sui-note: no SUI note found through the program headers\n", stderr); return 1; }
    fwrite(found, 1, found_length, stdout);
    return 0;
}
