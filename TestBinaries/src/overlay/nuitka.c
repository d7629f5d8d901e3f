/* Nuitka onefile on Linux (Nuitka/Nuitka OnefileBootstrap.c @ 108af30, initPayloadData):
 * the whole file mapped; the last 8 bytes are the payload size (host order); the payload
 * starts at size-8-payload_size with 'K','A','X' (uncompressed). */
#include "selfread.h"
#include <sys/mman.h>

int main(void) {
    self_open();
    const unsigned char *file = mmap(NULL, self_size, PROT_READ, MAP_PRIVATE, self_fd, 0);
    if (file == MAP_FAILED) fail("mmap");
    uint64_t payload_size;
    memcpy(&payload_size, file + self_size - 8, 8);
    if (payload_size > self_size - 8) fail("payload size larger than the file");
    const unsigned char *start = file + self_size - 8 - payload_size;
    if (start[0] != 'K' || start[1] != 'A' || (start[2] != 'X' && start[2] != 'Y')) fail("couldn't find attached data header");
    fwrite(start + 3, 1, payload_size - 3, stdout);
    putchar('\n');
    return 0;
}
