/*
 * boot.S: entry point of the bundled test guest (multiboot v1, 32-bit).
 *
 * Owns: the multiboot header, zeroing .bss, the boot stack, and handing the
 * multiboot magic and info pointer to kernel_main().  Must not do anything
 * else: no GDT/IDT changes (the loader's flat segments are kept, interrupts
 * stay off for the guest's whole life).
 */
#define MULTIBOOT_MAGIC  0x1BADB002
/* bit 0: page-align modules; bit 1: pass mem_lower/mem_upper */
#define MULTIBOOT_FLAGS  0x00000003

        .section .multiboot, "a"
        .align 4
        .long MULTIBOOT_MAGIC
        .long MULTIBOOT_FLAGS
        .long -(MULTIBOOT_MAGIC + MULTIBOOT_FLAGS)

        .section .bss
        .align 16
boot_stack_bottom:
        .skip 16384
boot_stack_top:

        .section .text
        .globl _start
        .type _start, @function
_start:
        cli
        cld
        /* Keep the loader's registers: eax = magic, ebx = info pointer. */
        movl %eax, %esi
        movl %ebx, %edx
        /* Zero .bss (the stack is in it, so before using the stack). */
        movl $__bss_start, %edi
        movl $__bss_end, %ecx
        subl %edi, %ecx
        xorl %eax, %eax
        rep stosb
        movl $boot_stack_top, %esp
        xorl %ebp, %ebp
        pushl %edx
        pushl %esi
        call kernel_main
1:      cli
        hlt
        jmp 1b
        .size _start, . - _start

        .section .note.GNU-stack, "", @progbits
