/* needver: needs ver_new@VER_2 (and ver_old@VER_1) from libver.so.1. */
void ver_old(void);
void ver_new(void);

int main(void)
{
    ver_old();
    ver_new();
    return 0;
}
