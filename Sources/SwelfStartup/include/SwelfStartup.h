// The swelf executable's start-up: nothing to call from Swift. The target exists for the
// definitions in SwelfStartup.c, which the linker takes instead of the Swift runtime's.
#ifndef SWELF_STARTUP_H
#define SWELF_STARTUP_H
#endif
