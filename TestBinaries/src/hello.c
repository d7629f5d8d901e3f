/* hello: needs libgreet.so.1 (greet) and libunused.so (linked with --no-as-needed). */
#include <stdio.h>

void greet(void);

int main(void)
{
    greet();
    puts("hello main done");
    return 0;
}
