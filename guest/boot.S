/*
 * boot.S: entry point of the bundled test guest (multiboot v1, 32-bit).
 *
 * Owns: the multiboot header, zeroing .bss, the boot stack, handing the
 * multiboot magic and info pointer to kernel_main(), and the interrupt
 * entries idle.c installs (the RTC tick that ends a wait, and spurious PIC
 * interrupts).  Must not change the GDT (the loader's flat segments are
 * kept) or enable interrupts itself.
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

/* The interrupt entries of idle.c: acknowledge and return (the interrupted
 * code's registers kept: only %eax is used, and saved). */
        .globl isr_rtc
        .type isr_rtc, @function
isr_rtc:
        pushl %eax
        movb $0x0C, %al         /* RTC register C: reading it re-arms the line */
        outb %al, $0x70
        inb $0x71, %al
        movb $0x20, %al         /* end of interrupt: the slave, then the master */
        outb %al, $0xA0
        outb %al, $0x20
        popl %eax
        iret
        .size isr_rtc, . - isr_rtc

        .globl isr_pic_slave
        .type isr_pic_slave, @function
isr_pic_slave:
        pushl %eax
        movb $0x20, %al
        outb %al, $0xA0
        outb %al, $0x20
        popl %eax
        iret
        .size isr_pic_slave, . - isr_pic_slave

        .globl isr_pic_master
        .type isr_pic_master, @function
isr_pic_master:
        pushl %eax
        movb $0x20, %al
        outb %al, $0x20
        popl %eax
        iret
        .size isr_pic_master, . - isr_pic_master

        .section .note.GNU-stack, "", @progbits
