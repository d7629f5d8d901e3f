/* static / static-pie: no shared libraries at all. */
#include <stdio.h>

int main(void)
{
    puts("hello static");
    return 0;
}
