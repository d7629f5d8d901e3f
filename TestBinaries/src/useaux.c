/* useaux: needs libaux.so (which has DT_AUXILIARY libm.so.6) and prints what aux_name() returns. */
#include <stdio.h>

const char *aux_name(void);

int main(void)
{
    printf("aux %s\n", aux_name());
    return 0;
}
