/* Generated FHIR definitions, compiled into the binary as read-only data (see data/README.md). */
    .section .rodata
    .global sund_r4_definitions_json
    .global sund_r4_definitions_json_end
    .balign 16
sund_r4_definitions_json:
    .incbin "r4-definitions.json"
sund_r4_definitions_json_end:
    .byte 0
    .global sund_ucum_json
    .global sund_ucum_json_end
    .balign 16
sund_ucum_json:
    .incbin "ucum.json"
sund_ucum_json_end:
    .byte 0
    .section .note.GNU-stack,"",@progbits
