// The swelf executable's start-up. Most of the target is definitions the linker takes
// instead of the Swift runtime's (see SwelfStartup.c); Swift calls one function.
#ifndef SWELF_STARTUP_H
#define SWELF_STARTUP_H

/// argv as glibc handed it to the program's constructors, and its count in *count; NULL
/// when it is not known (not glibc). Unlike CommandLine in a dynamically linked build,
/// whose runtime library finds argv through /proc/self/maps and sees no arguments at all
/// without /proc, this never reads /proc.
char *const *swelf_start_arguments(int *count);

#endif
