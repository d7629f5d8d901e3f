/* PyInstaller 4.0-4.2 bootloader (pyi_archive.c, findDigitalSignature/cookie search of those
 * releases): searches only the last 4096+88 bytes of the file for the cookie
 * "MEI\014\013\012\013\016" (88 bytes: magic, u32 BE package length, ...); the package starts
 * cookie_end - length. The package is in a non-ALLOC section `pydata` (objcopy --add-section). */
#include "selfread.h"

#define COOKIE 88
#define WINDOW (4096 + COOKIE)

int main(void) {
    self_open();
    uint64_t count = self_size < WINDOW ? self_size : WINDOW;
    unsigned char *tail = malloc(count);
    self_read(self_size - count, tail, count);
    static const unsigned char magic[8] = {'M', 'E', 'I', 014, 013, 012, 013, 016};
    for (uint64_t i = count - COOKIE + 1; i-- > 0;) {
        if (memcmp(tail + i, magic, 8) != 0) continue;
        uint64_t cookie = self_size - count + i;
        uint32_t length = be32(tail + i + 8);
        uint64_t start = cookie + COOKIE - length;
        print_range(start, length - COOKIE);
        return 0;
    }
    fail("cannot find the cookie in the last 4184 bytes");
}
