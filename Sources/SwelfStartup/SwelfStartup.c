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
// its own hidden definition, and these are unused.
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
#endif
