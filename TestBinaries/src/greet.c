/* libgreet.so.1 / libgreetalt.so.1 / libgreet64k.so: GREET_MSG selects the text. */
#include <stdio.h>

#ifndef GREET_MSG
#define GREET_MSG "hello from libgreet"
#endif

void greet(void)
{
    puts(GREET_MSG);
}
