/* Node.js SEA blob as postject injects it (docs/overlay-design.md §5, §11.9): a note named
 * NODE_SEA_BLOB whose descriptor is the blob, starting with the u32 magic 0x143da20. */
        .section .note.node_sea,"a",@note
        .balign 4
        .long 14                        /* namesz: "NODE_SEA_BLOB\0" */
        .long 2f - 1f                   /* descsz */
        .long 0
        .asciz "NODE_SEA_BLOB"
        .balign 4
1:      .long 0x143da20
        .ascii "payload: node SEA blob\n"
2:      .balign 4
        .section .note.GNU-stack,"",@progbits
