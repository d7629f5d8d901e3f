/* libcounter.so (issue 7 case 1): built with -nostartfiles, so it has no code of its own besides get().
   The library's data value is what usecounter prints: if .data or .got is overwritten, it shows. */
int counter = 42;

int get(void)
{
    return counter;
}
