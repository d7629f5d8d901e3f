/* libunused.so: a DT_NEEDED entry that nobody uses (for --remove-needed tests). */
int unused_function(int x)
{
    return x * 3 + 1;
}
