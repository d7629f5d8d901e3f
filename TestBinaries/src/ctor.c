/* libctor.so: only a constructor; used for --add-needed tests. */
#include <stdio.h>

__attribute__((constructor)) static void libctor_init(void)
{
    puts("libctor constructor ran");
    fflush(stdout);
}
