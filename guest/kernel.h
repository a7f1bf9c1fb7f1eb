/*
 * kernel.h: the pieces of the bundled test guest and how they call each other.
 *
 * Owns: declarations shared by the guest kernel's files (port I/O, serial
 * output, the PIT clock, the memory pattern).  Freestanding code only: this
 * header must never be included by host code (the host side is guest-log.h).
 */
#pragma once

#include <stdint.h>
#include <stddef.h>

/* ---- port I/O ----------------------------------------------------------- */

static inline void
outb(uint16_t port, uint8_t val)
{
    __asm__ volatile("outb %0, %1" : : "a"(val), "Nd"(port));
}

static inline uint8_t
inb(uint16_t port)
{
    uint8_t val;

    __asm__ volatile("inb %1, %0" : "=a"(val) : "Nd"(port));
    return val;
}

/* ---- freestanding helpers (GCC may emit calls to these) ------------------ */

void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);

/* ---- serial.c: COM1 output ---------------------------------------------- */

/** serial_init: programs COM1 (0x3F8) for 115200 baud, 8N1, no interrupts. */
void serial_init(void);

/** serial_puts: writes a NUL-terminated string as is ('\n' is not doubled). */
void serial_puts(const char *s);

/** serial_putn: writes the @len bytes at @s. */
void serial_putn(const char *s, size_t len);

/** serial_putu: writes @v in decimal. */
void serial_putu(uint32_t v);

/** serial_putx: writes @v as 0x followed by 8 hex digits. */
void serial_putx(uint32_t v);

/* ---- timer.c: milliseconds from the PIT, polled ------------------------- */

/**
 * timer_init: programs PIT channel 0 as a free-running rate generator.
 * Interrupts stay off; timer_now_ms() reads the counter.
 */
void timer_init(void);

/**
 * timer_now_ms: milliseconds since timer_init().  Must be called at least
 * every ~50 ms of guest time or wrap-arounds of the 16-bit counter are lost
 * (time then runs slow, never backwards).
 */
uint32_t timer_now_ms(void);

/* ---- memtest.c: pattern pages, dirtying, verification ------------------- */

/**
 * memtest_fit_mib: how many MiB of pattern (plus its page table) fit between
 * the end of the kernel and @top (exclusive physical address), at most @want.
 */
uint32_t memtest_fit_mib(uint32_t want, uint32_t top);

/** memtest_init: sets up @mib MiB of pattern pages at generation 0. */
void memtest_init(uint32_t mib);

/** memtest_pages: number of pattern pages. */
uint32_t memtest_pages(void);

/** memtest_dirty: rewrites the next @n pages with their generation + 1. */
void memtest_dirty(uint32_t n);

/**
 * memtest_verify: checks the next @n pages against their expected generation,
 * reports each mismatch on the serial port (at most 10 lines in all) and
 * repairs the page so one fault is counted once.
 */
void memtest_verify(uint32_t n);

/**
 * memtest_corrupt: the test hook: flips one byte in the pattern of the page
 * the verifier checks next, so the next memtest_verify() must report it.
 */
void memtest_corrupt(void);

/** memtest_passes: number of completed full verification passes. */
uint32_t memtest_passes(void);

/** memtest_dirtied: total pages rewritten by memtest_dirty(). */
uint32_t memtest_dirtied(void);

/** memtest_errors: total mismatches found. */
uint32_t memtest_errors(void);
