/* hello-musl: dynamically linked against musl (interpreter /lib/ld-musl-x86_64.so.1). */
#include <stdio.h>

int main(void)
{
    puts("hello from musl");
    return 0;
}
