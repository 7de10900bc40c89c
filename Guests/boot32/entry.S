/* The entry code both protocol guests share: record the registers the protocol defines before
 * anything changes them, take a stack of our own (the protocols give none), call main. */
    .code32
    .text
    .globl _start
_start:
    movl %eax, entry + 0
    movl %ebx, entry + 4
    movl $stack_top, %esp
    pushfl
    popl %eax
    movl %eax, entry + 8
    movl %cr0, %eax
    movl %eax, entry + 12
    movl %cr4, %eax
    movl %eax, entry + 16
    movw %cs, %ax
    movzwl %ax, %eax
    movl %eax, entry + 20
    movw %ds, %ax
    movzwl %ax, %eax
    movl %eax, entry + 24
    movw %es, %ax
    movzwl %ax, %eax
    movl %eax, entry + 28
    movw %ss, %ax
    movzwl %ax, %eax
    movl %eax, entry + 32
    call main
1:  cli
    hlt
    jmp 1b

    .bss
    .align 16
    .globl entry
entry:
    .skip 36
    .align 16
stack:
    .skip 16384
stack_top:
