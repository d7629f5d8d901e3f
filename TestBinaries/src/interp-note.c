/* interp-note (issue 7 case 8): the build links it with a copy of the default linker script whose
   .interp line is  .interp : { *(.interp) KEEP (*(.note.swelf)) }  so the note below lies right after
   the interpreter string inside the PT_INTERP range. main prints the note's text, read from memory:
   writing a longer interpreter over it shows in the output. */
#include <stdio.h>

struct swelf_note {
    unsigned int namesz, descsz, type;
    char name[8];
    char desc[24];
};

__attribute__((section(".note.swelf"), used, aligned(4)))
const struct swelf_note interp_neighbour = { 6, 24, 1, "swelf", "note after the interp" };

int main(void)
{
    const struct swelf_note *note = &interp_neighbour;

    __asm__("" : "+r"(note)); /* read the bytes in the file, not the initializer the compiler knows */
    printf("note %s: %s\n", note->name, note->desc);
    return 0;
}
