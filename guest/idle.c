/*
 * idle.c: lets the bundled guest sleep between its rounds of work.
 *
 * Owns: an IDT whose only live gates are the sixteen PIC vectors (0x20 to
 * 0x2F), the two PICs remapped there with every line masked but the RTC's
 * (IRQ 8, through the cascade on IRQ 2), and the RTC's periodic interrupt
 * at 1024 Hz.  idle_wait() halts the CPU until the next tick.
 *
 * Why: a guest that polls in a loop keeps one host core busy under TCG for
 * its whole life, and the tests run several at once on two cores.  Halted,
 * QEMU's vCPU thread sleeps.  The clock stays the polled PIT (timer.c):
 * the RTC only wakes the CPU up, so a tick lost to a busy host loses no
 * time.  Must not: take any other interrupt, or keep state outside guest
 * RAM (the IDT is in .bss, migrated with the rest; the PIC and RTC state is
 * QEMU's and migrates with the VM).  Exceptions keep no gate: as before
 * the IDT existed, one resets the guest, which its log shows as a restart.
 */
#include "ferry-config.h"

#include "kernel.h"

#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xA0
#define PIC2_DATA 0xA1
#define CMOS_INDEX 0x70
#define CMOS_DATA 0x71
#define RTC_REG_A 0x0A
#define RTC_REG_B 0x0B
#define RTC_REG_C 0x0C
#define RTC_NMI_OFF 0x80          /* index bit 7: NMI masked while programming */
#define RTC_RATE_1024HZ 6         /* 32768 >> (rate - 1) */
#define RTC_PIE 0x40              /* periodic interrupt enable */
#define IRQ_BASE 0x20
#define IDT_ENTRIES 256
#define GATE_INTERRUPT32 0x8E     /* present, ring 0, 32-bit interrupt gate */

struct idt_gate {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t zero;
    uint8_t type;
    uint16_t offset_high;
} __attribute__((packed));

struct idt_pointer {
    uint16_t limit;
    uint32_t base;
} __attribute__((packed));

static struct idt_gate idt[IDT_ENTRIES];

/* boot.S: the entry points; each acknowledges and returns. */
void isr_rtc(void);
void isr_pic_master(void);
void isr_pic_slave(void);

static void
set_gate(unsigned vector, void (*entry)(void), uint16_t cs)
{
    uint32_t at = (uint32_t)entry;

    idt[vector].offset_low = (uint16_t)(at & 0xFFFF);
    idt[vector].selector = cs;
    idt[vector].zero = 0;
    idt[vector].type = GATE_INTERRUPT32;
    idt[vector].offset_high = (uint16_t)(at >> 16);
}

static uint8_t
cmos_read(uint8_t reg)
{
    outb(CMOS_INDEX, RTC_NMI_OFF | reg);
    return inb(CMOS_DATA);
}

static void
cmos_write(uint8_t reg, uint8_t val)
{
    outb(CMOS_INDEX, RTC_NMI_OFF | reg);
    outb(CMOS_DATA, val);
}

void
idle_init(void)
{
    struct idt_pointer ptr = { sizeof(idt) - 1, (uint32_t)idt };
    uint16_t cs;

    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    /* Spurious interrupts (IRQ 7, IRQ 15) and any line QEMU raises anyway
     * land on a gate too: acknowledged, ignored. */
    for (unsigned irq = 0; irq < 16; irq++)
        set_gate(IRQ_BASE + irq, irq == 8 ? isr_rtc : irq < 8 ? isr_pic_master
                                                                : isr_pic_slave, cs);
    __asm__ volatile("lidt %0" : : "m"(ptr));

    /* The PICs: edge triggered, cascaded, vectors 0x20 and 0x28, 8086 mode. */
    outb(PIC1_CMD, 0x11);
    outb(PIC2_CMD, 0x11);
    outb(PIC1_DATA, IRQ_BASE);
    outb(PIC2_DATA, IRQ_BASE + 8);
    outb(PIC1_DATA, 0x04);            /* the slave on IRQ 2 */
    outb(PIC2_DATA, 0x02);            /* its cascade identity */
    outb(PIC1_DATA, 0x01);
    outb(PIC2_DATA, 0x01);
    outb(PIC1_DATA, (uint8_t)~0x04);  /* only the cascade */
    outb(PIC2_DATA, (uint8_t)~0x01);  /* only the RTC */

    cmos_write(RTC_REG_A, (uint8_t)((cmos_read(RTC_REG_A) & 0xF0) | RTC_RATE_1024HZ));
    cmos_write(RTC_REG_B, (uint8_t)(cmos_read(RTC_REG_B) | RTC_PIE));
    (void)cmos_read(RTC_REG_C);       /* a pending flag would hold the line */
    outb(CMOS_INDEX, RTC_REG_C);      /* NMI back on */
}

void
idle_wait(void)
{
    /* sti takes effect after the next instruction: a tick between the two
     * still wakes the hlt. */
    __asm__ volatile("sti; hlt; cli" : : : "memory");
}
