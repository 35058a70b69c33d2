/* Context switch for aarch64 (AAPCS64): x19-x28, fp (x29), lr (x30) and the low halves of
 * v8-v15 (d8-d15) are callee-saved; all are stored in a 160-byte frame on the old stack.
 *
 * void ah__ctx_switch(ah__ctx *from, ah__ctx *to)   x0 = from, x1 = to; ctx = { void *sp } */
    .text
    .globl ah__ctx_switch
    .hidden ah__ctx_switch
    .type ah__ctx_switch, %function
    .p2align 2
ah__ctx_switch:
    sub sp, sp, #160
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    mov x2, sp
    str x2, [x0]
    ldr x2, [x1]
    mov sp, x2
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    add sp, sp, #160
    ret
    .size ah__ctx_switch, .-ah__ctx_switch

/* A new context "returns" here (x30) from its first switch with the task pointer in x19. */
    .globl ah__ctx_trampoline
    .hidden ah__ctx_trampoline
    .type ah__ctx_trampoline, %function
    .p2align 2
ah__ctx_trampoline:
    mov x0, x19
    mov x29, #0
    bl ah__task_entry
    brk #0
    .size ah__ctx_trampoline, .-ah__ctx_trampoline

    .section .note.GNU-stack,"",%progbits
