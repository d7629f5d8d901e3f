// argc and argv for Swift's CommandLine, without reading /proc/self/maps.
//
// On Linux the Swift runtime finds argv from a static constructor (ArgvGrabber in the
// runtime's CommandLine.cpp): it reads /proc/self/maps to find the stack, then walks back
// from `environ`. That constructor runs in every process, whether or not CommandLine is
// used, and costs about a twentieth of a `swelf --version`: an open, three reads of a
// file the kernel formats on the fly, sscanf on each line (54,000 instructions of a Swift
// hello world's 130,000).
//
// glibc passes (argc, argv, envp) to every initialisation function, so a constructor can
// simply keep them. The stdlib asks for them through `_swift_stdlib_getUnsafeArgvArgc`;
// defining it (and `_swift_stdlib_overrideUnsafeArgvArgc`, the other symbol of that
// runtime object) here means the static link never takes the runtime's object, and its
// constructor is gone with it. In a dynamically linked build the runtime library binds
// its own hidden definition, and these are unused; there main.swift asks
// swelf_start_arguments instead of CommandLine, whose /proc/self/maps reader finds no
// arguments at all where there is no /proc (a chroot, early boot).
//
// Only with glibc: musl does not pass the arguments to constructors, and there the
// runtime's own definitions stay.
#include "SwelfStartup.h"
#include <stddef.h>
#include <stdlib.h>   // defines __GLIBC__ with glibc

#if defined(__linux__) && defined(__GLIBC__)

static char **startArguments;
static int startCount;
static char **overrideArguments;
static int overrideCount;

__attribute__((constructor(101)))
static void keepArguments(int argc, char **argv, char **envp) {
    (void)envp;
    startCount = argc;
    startArguments = argv;
}

char *const *swelf_start_arguments(int *count) {
    *count = startCount;
    return startArguments;
}

// The runtime's signatures, Swift calling convention included
// (stdlib/public/CommandLineSupport/CommandLine.cpp).
__attribute__((swiftcall)) char **_swift_stdlib_getUnsafeArgvArgc(int *outArgLen);
__attribute__((swiftcall)) void _swift_stdlib_overrideUnsafeArgvArgc(char **argv, int argc);

__attribute__((swiftcall)) char **_swift_stdlib_getUnsafeArgvArgc(int *outArgLen) {
    if (overrideArguments) {
        *outArgLen = overrideCount;
        return overrideArguments;
    }
    static char *none[] = { NULL };
    if (!startArguments) {
        *outArgLen = 0;
        return none;
    }
    *outArgLen = startCount;
    return startArguments;
}

__attribute__((swiftcall)) void _swift_stdlib_overrideUnsafeArgvArgc(char **argv, int argc) {
    overrideArguments = argv;
    overrideCount = argc;
}
#else
char *const *swelf_start_arguments(int *count) {
    *count = 0;
    return NULL;
}
#endif

// The path of swift-backtrace, the crash reporter, without /proc.
//
// At start-up the runtime's backtracer (BacktraceInitializer in the runtime's
// Backtrace.cpp, a constructor that runs in every process) asks
// swift_copyAuxiliaryExecutablePath("swift-backtrace") where the crash reporter is,
// unless SWIFT_BACKTRACE names it (swift-backtrace=PATH), and even when SWIFT_BACKTRACE
// says enable=no. The runtime answers from its own path; in a static executable that is
// readlink("/proc/self/exe"), and without /proc (a chroot, early boot, a minimal
// container) it stops the process with "Unable to obtain Swift runtime path": every
// command, --version included, died with SIGABRT.
//
// Defining the function here means the static link never takes the runtime's Paths.cpp
// object (its only user is the backtracer). The answer is "none": the backtracer is then
// off, as it already was for an installed swelf, since swift-backtrace is looked for
// beside the executable (PREFIX/libexec/swift/..., PREFIX/bin), where the toolchain is
// not. To get a backtrace from the static build, name it:
//   SWIFT_BACKTRACE=enable=yes,swift-backtrace=/opt/swift/usr/libexec/swift/linux/swift-backtrace-static
// Hidden, so that a dynamically linked build does not export it and the runtime library
// keeps its own definition (and finds swift-backtrace in the toolchain as before).
// Should another runtime object ever need Paths.cpp (swift_getRootPath,
// swift_getRuntimeLibraryPath), the static link fails with a duplicate definition of
// this symbol instead of silently taking the runtime's /proc reader back.
#if defined(__linux__)
__attribute__((visibility("hidden")))
const char *swift_copyAuxiliaryExecutablePath(const char *name);

__attribute__((visibility("hidden")))
const char *swift_copyAuxiliaryExecutablePath(const char *name) {
    (void)name;
    return NULL;
}
#endif
