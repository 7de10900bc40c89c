/*
 * Guest entry. Every vCPU arrives here at once, in 64-bit mode, with interrupts off,
 * RSP = its own stack top, RDI = device tree blob (or 0), RSI = vCPU index.
 *
 * vCPU 0 zeroes .bss and builds the IDT (runtime_init_once), then raises bss_ready; the other
 * vCPUs wait for that flag (it lives in .data, so the zeroing never touches it). Then every vCPU
 * sets up its own state (runtime_init_cpu) and calls guest_main(cpu, fdt); a return is a pass.
 */
    .section .text.start, "ax"
    .globl _start
    .type _start, @function
_start:
    cld
    xor     %ebp, %ebp
    andq    $-16, %rsp              /* the ABI's call alignment; the VMM's stack top is aligned already */
    mov     %rdi, %r12              /* r12 = fdt, r13 = cpu: callee-saved across the calls below */
    mov     %rsi, %r13
    test    %r13, %r13
    jnz     .Lwait_for_bss

    lea     __bss_start(%rip), %rdi
    lea     __bss_end(%rip), %rcx
    sub     %rdi, %rcx
    shr     $3, %rcx                /* the linker script aligns both ends to 8 */
    xor     %eax, %eax
    rep stosq
    call    runtime_init_once
    mov     $1, %eax
    xchg    %eax, bss_ready(%rip)   /* locked: everything before it is visible first */
    jmp     .Lready

.Lwait_for_bss:
    pause
    cmpl    $0, bss_ready(%rip)
    je      .Lwait_for_bss

.Lready:
    mov     %r13, %rdi
    call    runtime_init_cpu
    mov     %r13, %rdi
    mov     %r12, %rsi
    call    guest_main
    call    guest_pass
1:  cli
    hlt
    jmp     1b
    .size _start, . - _start

    .section .data
    .balign 4
    .globl bss_ready
bss_ready:
    .long 0
