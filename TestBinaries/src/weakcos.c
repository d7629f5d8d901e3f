/* weakcos (issue 7 case 3): a weak, versioned reference to cos, linked with -Wl,--no-as-needed -lm.
   So DT_NEEDED libm.so.6 and a .gnu.version_r entry for libm.so.6 exist, yet once libm.so.6 is
   removed (with its version requirement) the program still runs and prints "cos absent". */
#include <stdio.h>

extern double cos(double) __attribute__((weak));

int main(void)
{
    volatile double zero = 0.0;

    if (cos)
        printf("cos present: cos(0) = %d\n", (int)cos(zero));
    else
        puts("cos absent");
    return 0;
}
