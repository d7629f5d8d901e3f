/* libsui >= 0.13 data note (docs/overlay-design.md §2.3, §11.8): one note named "SUI", type
 * 0x53554901, descriptor = u16 section-name length + section name + data. Allocated, so GNU ld
 * covers it with a PT_NOTE inside the first PT_LOAD. */
        .section .note.sui,"a",@note
        .balign 4
        .long 4                         /* namesz: "SUI\0" */
        .long 2f - 1f                   /* descsz */
        .long 0x53554901                /* type */
        .asciz "SUI"
        .balign 4
1:      .short 8
        .ascii "d3n0l4nd"
        .ascii "payload: libsui SUI note\n"
2:      .balign 4
        .section .note.GNU-stack,"",@progbits
