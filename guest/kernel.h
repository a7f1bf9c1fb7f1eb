/*
 * kernel.h: the pieces of the bundled test guest and how they call each other.
 *
 * Owns: declarations shared by the guest kernel's files (port I/O, serial
 * output, the PIT clock, the memory pattern, the ATA disk and its pattern).  Freestanding code only: this
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

static inline void
outw(uint16_t port, uint16_t val)
{
    __asm__ volatile("outw %0, %1" : : "a"(val), "Nd"(port));
}

static inline uint16_t
inw(uint16_t port)
{
    uint16_t val;

    __asm__ volatile("inw %1, %0" : "=a"(val) : "Nd"(port));
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

/** serial_putx2: writes @v as 0x followed by 2 hex digits. */
void serial_putx2(uint8_t v);

/* ---- timer.c: milliseconds from the PIT, polled ------------------------- */

/**
 * timer_init: programs PIT channel 0 as a free-running rate generator.
 * Its interrupt stays masked; timer_now_ms() reads the counter.
 */
void timer_init(void);

/**
 * timer_now_ms: milliseconds since timer_init().  Must be called at least
 * every ~50 ms of guest time or wrap-arounds of the 16-bit counter are lost
 * (time then runs slow, never backwards).
 */
uint32_t timer_now_ms(void);

/* ---- idle.c: sleeping between rounds of work ---------------------------- */

/**
 * idle_init: installs the IDT, remaps the PICs with only the RTC's line
 * unmasked, and starts the RTC's periodic interrupt (1024 Hz).  Interrupts
 * stay disabled except inside idle_wait().
 */
void idle_init(void);

/** idle_wait: halts until the next RTC tick (at most ~1 ms). */
void idle_wait(void);

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

/* ---- ata.c: one ATA disk on the primary IDE channel, PIO, polled -------- */

/** Longest ATA model string (IDENTIFY words 27-46), without the NUL. */
#define ATA_MODEL_LEN 40u

/**
 * ata_identify: looks for an ATA disk as master on the primary channel
 * (ports 0x1F0-0x1F7, 0x3F6), with its interrupt masked (nIEN).  Needs
 * timer_init().  On success stores its LBA28 sector count in @ret_sectors and
 * its model, trailing blanks removed and NUL-terminated, in @ret_model.
 *
 * Returns: 1 if a disk answered IDENTIFY DEVICE, 0 otherwise (nothing there,
 * an ATAPI device, or no answer within the timeout).
 */
int ata_identify(uint32_t *ret_sectors, char ret_model[ATA_MODEL_LEN + 1]);

/** Result of one sector transfer. */
struct ata_result {
    uint8_t status;     /* status register when the command ended */
    uint8_t error;      /* error register, read when status has ERR */
    uint8_t timed_out;  /* 1: still busy or not ready when the timeout hit */
};

/**
 * ata_write_sector: writes the 512 bytes at @buf to sector @lba (LBA28)
 * with WRITE SECTORS, by PIO, and waits for the drive to finish.
 *
 * Returns: 1 on success; 0 with @ret filled in on an error or timeout.
 */
int ata_write_sector(uint32_t lba, const uint16_t *buf, struct ata_result *ret);

/**
 * ata_read_sector: reads sector @lba (LBA28) into the 512 bytes at @buf with
 * READ SECTORS, by PIO.
 *
 * Returns: 1 on success; 0 with @ret filled in on an error or timeout.
 */
int ata_read_sector(uint32_t lba, uint16_t *buf, struct ata_result *ret);

/* ---- disktest.c: numbered sectors on the disk, written and verified ----- */

/** First sector of the test area: the sectors below it are left alone. */
#define DISKTEST_BASE_LBA 2048u
/** Most sectors the test area can have (the expected-generation table). */
#define DISKTEST_MAX_BLOCKS 65536u

/**
 * disktest_init: finds the disk (ata_identify(); needs timer_init()) and sets
 * up a test area of *@blocks sectors from DISKTEST_BASE_LBA, every sector
 * still unwritten.  With no disk reports "DISKERROR no ATA disk on the primary
 * channel" and counts one error; if the area does not fit the disk, reports
 * it and lowers *@blocks to what fits.  The disk test is active afterwards
 * only if a disk with room was found; otherwise the other disktest_ calls do
 * nothing.
 */
void disktest_init(uint32_t *blocks);

/** disktest_print_info: prints "ferry-guest disk sectors=<n> model=<m>" if a
 * disk was found. */
void disktest_print_info(void);

/**
 * disktest_write: writes the next @n sectors of the area, round-robin, each
 * with its generation + 1 (the first pass writes generation 1 everywhere).
 */
void disktest_write(uint32_t n);

/**
 * disktest_verify: reads back the next @n sectors, round-robin, and checks
 * each against its expected generation; sectors not written yet are skipped
 * and not counted.  Reports each mismatch (at most 10 DISKERROR lines in
 * all) and rewrites the sector so one fault is counted once.
 */
void disktest_verify(uint32_t n);

/**
 * disktest_corrupt: the test hook: writes a stale copy (generation - 1) of
 * the next written sector the verifier will check, behind the table's back,
 * so a later disktest_verify() must report it.
 */
void disktest_corrupt(void);

/** disktest_written: total sectors written by disktest_write(). */
uint32_t disktest_written(void);

/** disktest_verified: total sectors read back and checked. */
uint32_t disktest_verified(void);

/** disktest_errors: mismatches, ATA errors and a missing disk, in total. */
uint32_t disktest_errors(void);
