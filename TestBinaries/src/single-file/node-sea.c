/* Node.js SEA lookup (postject-api.h, docs/overlay-design.md §5). The fuse says a blob was
 * injected; the blob is the descriptor of the first PT_NOTE note whose name starts with
 * "NODE_SEA" (postject compares sizeof(pointer) = 8 characters). Two generations:
 *  - default: dl_iterate_phdr over the main program (postject >= 1.0.0-alpha.5, Node today);
 *  - OLD_LOOKUP: base = getauxval(AT_PHDR) - sizeof(Ehdr), notes at base + p_vaddr (postject
 *    <= 1.0.0-alpha.4), which assumes the program header table follows the ELF header. */
#define _GNU_SOURCE
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>

static volatile const char fuse[] = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2:1";

static const char *blob;
static size_t blob_length;

static void scan(uintptr_t base, const ElfW(Phdr) *phdrs, size_t count) {
    for (size_t i = 0; i < count && !blob; i++) {
        if (phdrs[i].p_type != PT_NOTE) continue;
        const char *pos = (const char *)(base + phdrs[i].p_vaddr), *end = pos + phdrs[i].p_memsz;
        while (pos + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)pos;
            const char *name = pos + sizeof *n;
            const char *desc = name + ((n->n_namesz + 3) & ~3u);
            const char *next = desc + ((n->n_descsz + 3) & ~3u);
            if (next > end) break;
            if (n->n_namesz >= 8 && strncmp(name, "NODE_SEA_BLOB", 8) == 0) { blob = desc; blob_length = n->n_descsz; break; }
            pos = next;
        }
    }
}

#ifndef OLD_LOOKUP
static int visit(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size; (void)data;
    scan(info->dlpi_addr, info->dlpi_phdr, info->dlpi_phnum);
    return blob != NULL;
}
#endif

int main(void) {
    const char *colon = strchr((const char *)fuse, ':');
    if (!colon || colon[1] != '1') { fputs("node-sea: fuse not blown\n", stderr); return 1; }
#ifdef OLD_LOOKUP
    uintptr_t phdr = getauxval(AT_PHDR);
    scan(phdr - sizeof(ElfW(Ehdr)), (const ElfW(Phdr) *)phdr, getauxval(AT_PHNUM));
#else
    dl_iterate_phdr(visit, NULL);
#endif
    uint32_t magic = 0;
    if (blob && blob_length >= 4) memcpy(&magic, blob, 4);
    if (magic != 0x143da20) { fputs("node-sea: no NODE_SEA_BLOB note found\n", stderr); return 1; }
    fwrite(blob + 4, 1, blob_length - 4, stdout);
    return 0;
}
