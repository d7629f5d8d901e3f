/* Shared by the overlay fixtures: the program's own file, read the way the original
 * tools read it (open /proc/self/exe, positioned reads from the end or at offsets). */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int self_fd;
static uint64_t self_size;

static void self_open(void) {
    struct stat st;
    self_fd = open("/proc/self/exe", O_RDONLY);
    if (self_fd < 0 || fstat(self_fd, &st) != 0) { perror("/proc/self/exe"); exit(2); }
    self_size = (uint64_t)st.st_size;
}

/* Exits 3 with a message when the range is outside the file: the payload was not found. */
static void self_read(uint64_t offset, void *buffer, uint64_t count) {
    if (offset > self_size || count > self_size - offset || pread(self_fd, buffer, count, (off_t)offset) != (ssize_t)count) {
        fprintf(stderr, "payload not found: read of %llu bytes at %llu in a file of %llu\n",
                (unsigned long long)count, (unsigned long long)offset, (unsigned long long)self_size);
        exit(3);
    }
}

static uint64_t le64(const unsigned char *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = v << 8 | p[i]; return v; }
static uint32_t le32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t be64(const unsigned char *p) { uint64_t v = 0; for (int i = 0; i < 8; i++) v = v << 8 | p[i]; return v; }
static uint32_t be32(const unsigned char *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static void fail(const char *why) { fprintf(stderr, "payload not found: %s\n", why); exit(3); }

/* Prints `count` bytes at `offset` followed by a newline. */
static void print_range(uint64_t offset, uint64_t count) {
    char *text = malloc(count + 1);
    if (!text) fail("out of memory");
    self_read(offset, text, count);
    fwrite(text, 1, count, stdout);
    putchar('\n');
    free(text);
}
