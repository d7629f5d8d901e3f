/* An overlay of no known format, found from the end: the last 4 bytes are a u32 LE length,
 * the payload is before them. swelf moves such an overlay as it is, with a warning. */
#include "selfread.h"

int main(void) {
    self_open();
    unsigned char n[4];
    self_read(self_size - 4, n, 4);
    uint32_t length = le32(n);
    if (length > self_size - 4) fail("bad length");
    print_range(self_size - 4 - length, length);
    return 0;
}
