// The system work alone, for scripts/benchmark: what plain C code pays on this machine to
// keep swelf's promises (a new file renamed over the old one, durable before the rename),
// doing nothing to the bytes. Built static with glibc, as swelf is. A plain program, not a
// proven lower bound.
//
//   benchmark-floors empty                     exits at once: a static glibc program's start-up
//   benchmark-floors replace [--no-durability] FILE...
//       each FILE's bytes are read and written unchanged to a new file in its directory,
//       which is renamed over it: one file per process is swelf's one-call-per-file
//       edit, with fsync of the file and of its directory; many files are done on two
//       threads, made durable together (syncfs, then an fsync each), then renamed, then
//       each directory fsynced, as swelf's one call on many files does
//   benchmark-floors copy [--no-durability] INPUT OUTPUT
//       a new OUTPUT with INPUT's bytes (copy_file_range), durable: writeback started
//       every 16 MiB while copying, then fsync of the file and of its directory
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static void fail(const char *what, const char *path) {
    fprintf(stderr, "benchmark-floors: %s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

static char *directory_of(const char *path) {
    char *copy = strdup(path);
    char *directory = strdup(dirname(copy));
    free(copy);
    return directory;
}

static void sync_directory(const char *path) {
    char *directory = directory_of(path);
    int descriptor = open(directory, O_RDONLY | O_DIRECTORY);
    if (descriptor < 0 || fsync(descriptor) != 0) fail("fsync", directory);
    close(descriptor);
    free(directory);
}

struct pending { const char *path; char temporary[4096]; int input; int output; };

static void write_new(struct pending *file) {
    int input = open(file->path, O_RDONLY);
    if (input < 0) fail("open", file->path);
    struct stat status;
    if (fstat(input, &status) != 0) fail("stat", file->path);
    char *bytes = malloc(status.st_size ? status.st_size : 1);
    if (read(input, bytes, status.st_size) != status.st_size) fail("read", file->path);
    // Kept open until every file is renamed, as swelf keeps its locked inputs: the old
    // inodes are freed together at the end, not one by one while new ones are allocated.
    file->input = input;
    snprintf(file->temporary, sizeof file->temporary, "%s.floor-XXXXXX", file->path);
    file->output = mkstemp(file->temporary);
    if (file->output < 0) fail("mkstemp", file->temporary);
    if (write(file->output, bytes, status.st_size) != status.st_size) fail("write", file->temporary);
    if (fchmod(file->output, status.st_mode & 07777) != 0) fail("fchmod", file->temporary);
    free(bytes);
}

struct share { struct pending *files; int count; int next; pthread_mutex_t lock; };

static void *worker(void *argument) {
    struct share *share = argument;
    for (;;) {
        pthread_mutex_lock(&share->lock);
        int index = share->next++;
        pthread_mutex_unlock(&share->lock);
        if (index >= share->count) return NULL;
        write_new(&share->files[index]);
    }
}

static int replace(int count, char **paths, int durable) {
    struct rlimit limit;   // two descriptors per file
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
    struct pending *files = calloc(count, sizeof *files);
    for (int i = 0; i < count; i++) files[i].path = paths[i];
    struct share share = { files, count, 0, PTHREAD_MUTEX_INITIALIZER };
    pthread_t threads[2];
    int workers = count > 1 ? 2 : 1;
    for (int t = 0; t < workers; t++) pthread_create(&threads[t], NULL, worker, &share);
    for (int t = 0; t < workers; t++) pthread_join(threads[t], NULL);
    if (durable) {
        if (count > 1 && syncfs(files[0].output) != 0) fail("syncfs", files[0].path);
        for (int i = 0; i < count; i++)
            if (fsync(files[i].output) != 0) fail("fsync", files[i].temporary);
    }
    for (int i = 0; i < count; i++) {
        if (rename(files[i].temporary, files[i].path) != 0) fail("rename", files[i].temporary);
        close(files[i].output);
    }
    for (int i = 0; i < count; i++) close(files[i].input);
    // The files of one benchmark share a directory: one fsync, as swelf does per directory.
    if (durable) sync_directory(files[0].path);
    free(files);
    return 0;
}

static int copy(const char *from, const char *to, int durable) {
    int input = open(from, O_RDONLY);
    if (input < 0) fail("open", from);
    struct stat status;
    if (fstat(input, &status) != 0) fail("stat", from);
    int output = open(to, O_WRONLY | O_CREAT | O_EXCL, 0755);
    if (output < 0) fail("create", to);
    const off_t chunk = 16 << 20;
    off_t done = 0;
    while (done < status.st_size) {
        off_t start = done;
        size_t want = status.st_size - done < chunk ? status.st_size - done : chunk;
        ssize_t copied = copy_file_range(input, NULL, output, NULL, want, 0);
        if (copied <= 0) fail("copy_file_range", to);
        done += copied;
        if (durable) sync_file_range(output, start, copied, SYNC_FILE_RANGE_WRITE);
    }
    if (durable && fsync(output) != 0) fail("fsync", to);
    close(output);
    close(input);
    if (durable) sync_directory(to);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "empty") == 0) return 0;
    int durable = 1, first = 2;
    if (argc > 2 && strcmp(argv[2], "--no-durability") == 0) { durable = 0; first = 3; }
    if (argc > first && strcmp(argv[1], "replace") == 0) return replace(argc - first, argv + first, durable);
    if (argc == first + 2 && strcmp(argv[1], "copy") == 0) return copy(argv[first], argv[first + 1], durable);
    fprintf(stderr, "usage: benchmark-floors empty | replace [--no-durability] FILE... | copy [--no-durability] INPUT OUTPUT\n");
    return 64;
}
