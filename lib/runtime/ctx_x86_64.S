/* Context switch for x86_64 (System V ABI): save the callee-saved registers on the old stack,
 * store its stack pointer, load the new one and pop the same registers.
 *
 * void ah__ctx_switch(ah__ctx *from, ah__ctx *to)   rdi = from, rsi = to; ctx = { void *sp } */
    .text
    .globl ah__ctx_switch
    .hidden ah__ctx_switch
    .type ah__ctx_switch, @function
ah__ctx_switch:
    .cfi_startproc
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq (%rsi), %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .cfi_endproc
    .size ah__ctx_switch, .-ah__ctx_switch

/* A new context "returns" here from its first switch with the task pointer in rbx. */
    .globl ah__ctx_trampoline
    .hidden ah__ctx_trampoline
    .type ah__ctx_trampoline, @function
ah__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    movq %rbx, %rdi
    andq $-16, %rsp
    call ah__task_entry
    ud2
    .cfi_endproc
    .size ah__ctx_trampoline, .-ah__ctx_trampoline

    .section .note.GNU-stack,"",@progbits
