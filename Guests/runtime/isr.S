/*
 * One entry stub per vector (256). Each pushes a zero error code where the CPU pushes none, then
 * the vector number, and jumps to isr_common, which saves the general registers, calls
 * interrupt_dispatch(struct interrupt_frame *) and returns with IRETQ.
 *
 * Stack at the call (matches struct interrupt_frame in guest.h, lowest address first):
 *   r15 r14 r13 r12 r11 r10 r9 r8 rbp rdi rsi rdx rcx rbx rax | vector error | rip cs rflags rsp ss
 * The CPU aligns RSP to 16 before pushing its 5 words; 5 + 2 + 15 words = 176 bytes keeps the
 * alignment the C ABI wants.
 */
    .altmacro

    .macro ISR_STUB vec
    .balign 16
isr_stub_\vec:
    .if (\vec == 8) || ((\vec >= 10) && (\vec <= 14)) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
    .else
    pushq   $0
    .endif
    pushq   $\vec
    jmp     isr_common
    .endm

    .macro ISR_ENTRY vec
    .quad   isr_stub_\vec
    .endm

    .text
    .balign 16
isr_common:
    pushq   %rax
    pushq   %rbx
    pushq   %rcx
    pushq   %rdx
    pushq   %rsi
    pushq   %rdi
    pushq   %rbp
    pushq   %r8
    pushq   %r9
    pushq   %r10
    pushq   %r11
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    cld
    mov     %rsp, %rdi
    call    interrupt_dispatch
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %r11
    popq    %r10
    popq    %r9
    popq    %r8
    popq    %rbp
    popq    %rdi
    popq    %rsi
    popq    %rdx
    popq    %rcx
    popq    %rbx
    popq    %rax
    addq    $16, %rsp               /* vector and error code */
    iretq

    .set    vec, 0
    .rept   256
    ISR_STUB %vec
    .set    vec, vec + 1
    .endr

    .section .rodata
    .balign 8
    .globl isr_stub_table
isr_stub_table:
    .set    vec, 0
    .rept   256
    ISR_ENTRY %vec
    .set    vec, vec + 1
    .endr
