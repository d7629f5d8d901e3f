/* bun --compile <= 1.3.11 (oven-sh/bun src/StandaloneModuleGraph.zig @ 01d14f7, fromExecutable):
 * seek to END-4096, read 4096 bytes; the last 8 are total_byte_count (4096 <= total < 4 GiB),
 * the 16 before it "\n---- Bun! ----\n", before that the Offsets struct; the graph starts
 * byte_count bytes before the end of Offsets+trailer. String pointers are graph-relative. */
#include "selfread.h"

struct offsets { uint64_t byte_count; uint32_t modules_offset, modules_length; uint32_t entry_point_id, pad; };

int main(void) {
    self_open();
    if (self_size < 4096) fail("file shorter than 4096 bytes");
    unsigned char last[4096];
    self_read(self_size - 4096, last, 4096);
    uint64_t total = le64(last + 4096 - 8);
    if (total < 4096 || total >= (1ull << 32)) fail("bad total_byte_count");
    if (memcmp(last + 4096 - 24, "\n---- Bun! ----\n", 16) != 0) fail("no bun trailer at EOF-24");
    struct offsets o;
    memcpy(&o, last + 4096 - 24 - sizeof o, sizeof o);
    if (o.byte_count >= total) fail("byte_count >= total_byte_count");
    uint64_t graph = self_size - 8 - 16 - sizeof o - o.byte_count;
    print_range(graph + o.modules_offset, o.modules_length);
    return 0;
}
