/* usecounter: needs libcounter.so and prints the library's data value (through get(), which reads
   counter via the library's GOT). Prints "counter 42" while libcounter's .got and .data are intact. */
#include <stdio.h>

int get(void);

int main(void)
{
    printf("counter %d\n", get());
    return 0;
}
