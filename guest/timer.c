/*
 * timer.c: the bundled guest's clock, from PIT channel 0, polled.
 *
 * Owns: turning the 1.193182 MHz PIT counter into milliseconds.  The PIT runs
 * on QEMU's virtual clock, which stops while the VM is paused and is carried
 * over by migration, so guest time neither jumps nor runs backwards across a
 * migration.  The TSC is deliberately not used: under TCG it follows the
 * host's TSC and would jump on the destination.  Must not unmask the PIT's
 * interrupt: idle.c's RTC tick only wakes the CPU, time comes from here.
 */
#include "ferry-config.h"

#include "kernel.h"

#define PIT_CH0 0x40
#define PIT_CMD 0x43
#define PIT_HZ 1193182u

/* Guest RAM: migrated with the VM like everything else. */
static uint16_t last_count;
static uint32_t ms_now;
static uint32_t frac;          /* leftover, in units of 1/1000 PIT tick */

static uint16_t
pit_read(void)
{
    uint8_t lo, hi;

    outb(PIT_CMD, 0x00);       /* latch channel 0 */
    lo = inb(PIT_CH0);
    hi = inb(PIT_CH0);
    return (uint16_t)(lo | (hi << 8));
}

void
timer_init(void)
{
    /* channel 0, lobyte/hibyte, mode 2 (rate generator), binary */
    outb(PIT_CMD, 0x34);
    outb(PIT_CH0, 0x00);       /* reload 0 = 65536: wraps every ~54.9 ms */
    outb(PIT_CH0, 0x00);
    last_count = pit_read();
    ms_now = 0;
    frac = 0;
}

uint32_t
timer_now_ms(void)
{
    uint16_t now = pit_read();
    /* The counter counts down and wraps modulo 65536. */
    uint32_t ticks = (uint16_t)(last_count - now);

    last_count = now;
    /* ticks < 65536, so frac stays below 1193182 + 65535000: no overflow. */
    frac += ticks * 1000u;
    ms_now += frac / PIT_HZ;
    frac %= PIT_HZ;
    return ms_now;
}
