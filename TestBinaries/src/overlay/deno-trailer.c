/* deno compile, "d3n0l4nd" trailer (denoland/deno cli/standalone.rs @ 001b684, and the npm-era
 * 40-byte form): the last TRAILER bytes are the magic and big-endian u64 ABSOLUTE positions;
 * the reader seeks to them from the start of the file. TRAILER is 24 or 40 (-DTRAILER=). */
#include "selfread.h"
#ifndef TRAILER
#define TRAILER 40
#endif

int main(void) {
    self_open();
    if (self_size < TRAILER) fail("file too short");
    unsigned char t[TRAILER];
    uint64_t trailer_pos = self_size - TRAILER;
    self_read(trailer_pos, t, TRAILER);
    if (memcmp(t, "d3n0l4nd", 8) != 0) fail("no d3n0l4nd trailer at the end");
    uint64_t eszip = be64(t + 8), metadata = be64(t + 16);
    uint64_t metadata_end = TRAILER == 40 ? be64(t + 24) : trailer_pos;
    if (eszip > metadata || metadata > metadata_end) fail("positions out of order");
    char magic[6];
    self_read(eszip, magic, 6);
    if (memcmp(magic, "ESZIP2", 6) != 0) fail("no eszip at the stored position");
    print_range(metadata, metadata_end - metadata);
#if TRAILER == 40
    uint64_t vfs = be64(t + 24), files = be64(t + 32);
    if (vfs > files || files > trailer_pos) fail("npm positions out of order");
    char files_magic[5];
    self_read(files, files_magic, 5);
    if (memcmp(files_magic, "FILES", 5) != 0) fail("no npm files at the stored position");
#endif
    return 0;
}
