/* libver.so.1: ver_old@VER_1 and (unless VER_OLD_ONLY) ver_new@VER_2. */
#include <stdio.h>

void ver_old(void)
{
    puts("ver_old from libver VER_1");
}

#ifndef VER_OLD_ONLY
void ver_new(void)
{
    puts("ver_new from libver VER_2");
}
#endif
