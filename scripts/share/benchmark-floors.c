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
//   benchmark-floors tree [--no-durability] [--barriers] GROW DIR...
//       the durable atomic replacements `swelf autopatch` makes, without the ELF work:
//       every regular file under each DIR (names in byte order, as swelf walks) is read
//       and written with GROW more bytes to an anonymous file (O_TMPFILE) in its
//       directory, in chunks of swelf's batch size (Swelf.batchSize: from RLIMIT_NOFILE),
//       each chunk on as many threads as there are processors (Overlap.processorCount),
//       then committed as AtomicFileWriter.commit does: one syncfs, an fsync of each new
//       file, each linked under a temporary name and renamed over its file, then one
//       fsync per directory; the replaced files are closed on 8 threads, as swelf
//       releases its committed edits (each close may wait for the device's discard). With --barriers, a chunk is made durable by two syncfs
//       calls instead, one before its renames and one after (no fsync of each file or
//       directory): what the commit costs when the kernel's syncfs reports write errors
#define _GNU_SOURCE
#include <dirent.h>
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

// The tree mode: the files of the walk, and one pending replacement per file of a chunk.
struct tree_file { char *path; int directory; int input; int output; char name[32]; };
struct tree_share { struct tree_file *files; int start; int end; int next; long grow; pthread_mutex_t lock; };
static char **walked; static int walked_count, walked_capacity;

static int byte_order(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

// As AutopatchWalk.enter: the entries of a directory in byte order, a subdirectory
// entered where its name comes, regular files kept; lstat only, links not followed.
static void walk(const char *directory) {
    struct dirent **entries;
    int count = scandir(directory, &entries, NULL, byte_order);
    if (count < 0) fail("scandir", directory);
    for (int i = 0; i < count; i++) {
        const char *name = entries[i]->d_name;
        if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
            char *path;
            if (asprintf(&path, "%s/%s", directory, name) < 0) fail("asprintf", name);
            struct stat status;
            if (lstat(path, &status) != 0) fail("lstat", path);
            if (S_ISDIR(status.st_mode)) { walk(path); free(path); }
            else if (S_ISREG(status.st_mode)) {
                if (walked_count == walked_capacity) {
                    walked_capacity = walked_capacity ? 2 * walked_capacity : 1024;
                    walked = realloc(walked, walked_capacity * sizeof *walked);
                }
                walked[walked_count++] = path;
            } else free(path);
        }
        free(entries[i]);
    }
    free(entries);
}

// One file's new content: read the file, write its bytes and GROW more to an anonymous
// file in its directory (the directory held open, as swelf's ResolvedPath holds it), keep
// its mode. The input stays open until the rename, as swelf keeps its locked input.
static void tree_prepare(struct tree_file *file, long grow) {
    char *slash = strrchr(file->path, '/');
    *slash = 0;
    file->directory = open(file->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    *slash = '/';
    if (file->directory < 0) fail("open the directory of", file->path);
    file->input = openat(file->directory, slash + 1, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (file->input < 0) fail("open", file->path);
    struct stat status;
    if (fstat(file->input, &status) != 0) fail("stat", file->path);
    size_t size = status.st_size + grow;
    char *bytes = calloc(size ? size : 1, 1);
    if (read(file->input, bytes, status.st_size) != status.st_size) fail("read", file->path);
    file->output = openat(file->directory, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (file->output < 0) fail("open O_TMPFILE beside", file->path);
    if (write(file->output, bytes, size) != (ssize_t)size) fail("write beside", file->path);
    if (fchmod(file->output, status.st_mode & 07777) != 0) fail("fchmod beside", file->path);
    free(bytes);
}

static void *tree_worker(void *argument) {
    struct tree_share *share = argument;
    for (;;) {
        pthread_mutex_lock(&share->lock);
        int index = share->next++;
        pthread_mutex_unlock(&share->lock);
        if (index >= share->end) return NULL;
        tree_prepare(&share->files[index], share->grow);
    }
}

// As AutopatchCommand.CommittingEdits.releasingThreads.
#define CLOSERS 8
struct closer { struct tree_file *files; int first, end; };

static void *closer_run(void *argument) {
    struct closer *closer = argument;
    for (int i = closer->first; i < closer->end; i += CLOSERS) close(closer->files[i].input);
    return NULL;
}

static void close_inputs(struct tree_file *files, int start, int end) {
    struct closer closers[CLOSERS];
    pthread_t threads[CLOSERS];
    int started = 0;
    for (int t = 0; t < CLOSERS && start + t < end; t++, started++) {
        closers[t] = (struct closer){ files, start + t, end };
        if (pthread_create(&threads[t], NULL, closer_run, &closers[t]) != 0) fail("pthread_create", "closing");
    }
    for (int t = 0; t < started; t++) pthread_join(threads[t], NULL);
}

static int tree(int count, char **directories, long grow, int durable, int barriers) {
    for (int i = 0; i < count; i++) walk(directories[i]);
    struct rlimit limit;
    long chunk = 64;   // Swelf.batchSize()
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
        long available = limit.rlim_cur > 1L << 30 ? 1L << 30 : (long)limit.rlim_cur;
        chunk = (available - 32) / 5;
        if (chunk > 512) chunk = 512;
        if (chunk < 8) chunk = 8;
    }
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int jobs = online > 0 ? (int)online : 1;
    pthread_t *threads = calloc(jobs, sizeof *threads);
    struct tree_file *files = calloc(walked_count ? walked_count : 1, sizeof *files);
    for (int i = 0; i < walked_count; i++) files[i].path = walked[i];
    for (int start = 0; start < walked_count; start += chunk) {
        int end = start + chunk < walked_count ? start + chunk : walked_count;
        struct tree_share share = { files, start, end, start, grow, PTHREAD_MUTEX_INITIALIZER };
        int workers = end - start < jobs ? end - start : jobs;
        for (int t = 0; t < workers; t++) pthread_create(&threads[t], NULL, tree_worker, &share);
        for (int t = 0; t < workers; t++) pthread_join(threads[t], NULL);
        if (durable) {
            int synced = syncfs(files[start].output);   // errors: the fsync below reports them per file
            if (barriers && synced != 0) fail("syncfs beside", files[start].path);
            for (int i = start; i < end && !barriers; i++)
                if (fsync(files[i].output) != 0) fail("fsync beside", files[i].path);
        }
        for (int i = start; i < end; i++) {
            struct tree_file *file = &files[i];
            char proc[64];
            snprintf(proc, sizeof proc, "/proc/self/fd/%d", file->output);
            snprintf(file->name, sizeof file->name, ".floor-%06d", i);
            if (linkat(AT_FDCWD, proc, file->directory, file->name, AT_SYMLINK_FOLLOW) != 0) fail("linkat beside", file->path);
            if (renameat(file->directory, file->name, file->directory, strrchr(file->path, '/') + 1) != 0) fail("rename", file->path);
            close(file->output);
        }
        // The replaced files' last descriptors are closed on CLOSERS threads, as swelf
        // releases its committed edits: the kernel frees a replaced file's blocks at that
        // close, and on a file system mounted with `discard` each close waits for the
        // device; one after another, those waits were a third of this program's time.
        close_inputs(files, start, end);
        // One fsync per directory of the chunk: the walk keeps a directory's files
        // together, so a directory is a run of consecutive files.
        for (int i = start; i < end; i++) {
            int last = i + 1 == end || strrchr(files[i].path, '/') - files[i].path != strrchr(files[i + 1].path, '/') - files[i + 1].path
                || strncmp(files[i].path, files[i + 1].path, strrchr(files[i].path, '/') - files[i].path) != 0;
            if (durable && last && !barriers) {
                int directory = openat(files[i].directory, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (directory < 0 || fsync(directory) != 0) fail("fsync the directory of", files[i].path);
                close(directory);
            }
            if (!barriers) close(files[i].directory);
        }
        // --barriers: the renames made durable by a second syncfs instead.
        if (durable && barriers) {
            int directory = openat(files[start].directory, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (directory < 0 || syncfs(directory) != 0) fail("syncfs", files[start].path);
            close(directory);
            for (int i = start; i < end; i++) close(files[i].directory);
        }
    }
    printf("%d files replaced\n", walked_count);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "empty") == 0) return 0;
    int durable = 1, first = 2;
    if (argc > 2 && strcmp(argv[2], "--no-durability") == 0) { durable = 0; first = 3; }
    if (argc > first && strcmp(argv[1], "replace") == 0) return replace(argc - first, argv + first, durable);
    if (argc == first + 2 && strcmp(argv[1], "copy") == 0) return copy(argv[first], argv[first + 1], durable);
    if (argc > first + 2 && strcmp(argv[1], "tree") == 0 && strcmp(argv[first], "--barriers") == 0)
        return tree(argc - first - 2, argv + first + 2, atol(argv[first + 1]), durable, 1);
    if (argc > first + 1 && strcmp(argv[1], "tree") == 0) return tree(argc - first - 1, argv + first + 1, atol(argv[first]), durable, 0);
    fprintf(stderr, "usage: benchmark-floors empty | replace [--no-durability] FILE... | copy [--no-durability] INPUT OUTPUT\n"
                    "       | tree [--no-durability] [--barriers] GROW DIR...\n");
    return 64;
}
