/* libsui <= 0.12 (denoland/sui lib.rs @ c64e172, find_section): seek End(-16); u32 LE 0x501e,
 * u32 LE hash(name) (byte sum of the name), u64 LE len+16; the data starts at End(-(len+16)). */
#include "selfread.h"

int main(void) {
    self_open();
    if (self_size < 16) fail("file too short");
    unsigned char t[16];
    self_read(self_size - 16, t, 16);
    uint32_t hash = 0;
    for (const char *p = "d3n0l4nd"; *p; p++) hash += (unsigned char)*p;
    if (le32(t) != 0x501e || le32(t + 4) != hash) fail("no libsui trailer at EOF-16");
    uint64_t len = le64(t + 8);
    if (len < 16 || len > self_size) fail("bad libsui length");
    print_range(self_size - len, len - 16);
    return 0;
}
