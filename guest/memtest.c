/*
 * memtest.c: the bundled guest's memory pattern, dirtying and self-check.
 *
 * Owns: the pattern area above the kernel and the table of expected
 * generations.  Every 4 KiB page is self-describing and verifiable on its
 * own: a header (magic, page index, generation, header check) followed by
 * 1020 words derived from (page index, generation, word index).  Dirtying
 * rewrites a page with generation + 1 and records that in the table; the
 * verifier walks the pages round-robin and compares each with the table.
 * Must not allocate or print anything but the ERROR/note lines below.
 *
 * Physical layout (no paging; identity addresses):
 *   [1 MiB, _end)          kernel image and .bss
 *   [align(_end), ...)     expected generation per page, uint32 each
 *   [max(2 MiB, align(table end)), + mem MiB)   the pattern pages
 */
#include "ferry-config.h"

#include "kernel.h"

#define PAGE_SIZE 4096u
#define PAGE_WORDS (PAGE_SIZE / 4u)
#define PAGES_PER_MIB 256u
#define PATTERN_MIN_BASE 0x200000u
#define PAGE_MAGIC 0x46455252u          /* "FERR" */
#define HEADER_WORDS 4u
#define MAX_MIB 4095u
#define MAX_ERROR_LINES 10u

extern char _end[];

/* Guest RAM: migrated with the VM like everything else. */
static uint32_t *expected_gen;
static uint8_t *pattern_base;
static uint32_t n_pages;
static uint32_t dirty_cursor;
static uint32_t verify_cursor;
static uint32_t passes;
static uint32_t dirtied;
static uint32_t errors;
static uint32_t error_lines;

static uint32_t
align_page(uint32_t addr)
{
    return (addr + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
}

static uint32_t
table_addr(void)
{
    return align_page((uint32_t)(uintptr_t)_end);
}

static uint32_t
base_for(uint32_t pages)
{
    uint32_t base = align_page(table_addr() + pages * 4u);

    return base < PATTERN_MIN_BASE ? PATTERN_MIN_BASE : base;
}

uint32_t
memtest_fit_mib(uint32_t want, uint32_t top)
{
    uint32_t mib = want > MAX_MIB ? MAX_MIB : want;

    for (; mib > 0; mib--) {
        uint64_t pages = (uint64_t)mib * PAGES_PER_MIB;
        uint64_t end = (uint64_t)base_for((uint32_t)pages) + pages * PAGE_SIZE;

        if (end <= top)
            break;
    }
    return mib;
}

static inline uint32_t *
page_words(uint32_t page)
{
    return (uint32_t *)(void *)(pattern_base + page * PAGE_SIZE);
}

static inline uint32_t
pattern_seed(uint32_t page, uint32_t gen)
{
    return (page * 0x9E3779B1u) ^ (gen * 0x85EBCA77u);
}

static inline uint32_t
pattern_word(uint32_t seed, uint32_t i)
{
    return seed ^ (i * 0xC2B2AE3Du);
}

static void
write_page(uint32_t page, uint32_t gen)
{
    uint32_t *w = page_words(page);
    uint32_t seed = pattern_seed(page, gen);

    w[0] = PAGE_MAGIC;
    w[1] = page;
    w[2] = gen;
    w[3] = ~(page ^ gen);
    for (uint32_t i = HEADER_WORDS; i < PAGE_WORDS; i++)
        w[i] = pattern_word(seed, i);
}

void
memtest_init(uint32_t mib)
{
    n_pages = mib * PAGES_PER_MIB;
    expected_gen = (uint32_t *)(uintptr_t)table_addr();
    pattern_base = (uint8_t *)(uintptr_t)base_for(n_pages);
    for (uint32_t p = 0; p < n_pages; p++) {
        expected_gen[p] = 0;
        write_page(p, 0);
    }
}

uint32_t
memtest_pages(void)
{
    return n_pages;
}

void
memtest_dirty(uint32_t n)
{
    if (n_pages == 0)
        return;
    while (n--) {
        uint32_t p = dirty_cursor;

        expected_gen[p]++;
        write_page(p, expected_gen[p]);
        dirtied++;
        dirty_cursor = p + 1 == n_pages ? 0 : p + 1;
    }
}

/*
 * report: one line per mismatch, the first MAX_ERROR_LINES of them; then a
 * single line saying the rest are only counted.
 */
static int
report_begin(uint32_t page)
{
    errors++;
    if (error_lines > MAX_ERROR_LINES)
        return 0;
    if (error_lines++ == MAX_ERROR_LINES) {
        serial_puts("ERROR more errors suppressed\n");
        return 0;
    }
    serial_puts("ERROR page=");
    serial_putu(page);
    serial_puts(" expected_gen=");
    serial_putu(expected_gen[page]);
    serial_puts(" found=");
    return 1;
}

static void
verify_page(uint32_t page)
{
    const uint32_t *w = page_words(page);
    uint32_t want = expected_gen[page];
    uint32_t seed;

    if (w[0] != PAGE_MAGIC || w[1] != page || w[3] != ~(page ^ w[2])) {
        if (report_begin(page)) {
            serial_puts("garbage magic=");
            serial_putx(w[0]);
            serial_puts(" index=");
            serial_putu(w[1]);
            serial_puts(" gen=");
            serial_putu(w[2]);
            serial_puts("\n");
        }
        write_page(page, want);
        return;
    }
    if (w[2] != want) {
        if (report_begin(page)) {
            serial_putu(w[2]);
            serial_puts("\n");
        }
        write_page(page, want);
        return;
    }
    seed = pattern_seed(page, want);
    for (uint32_t i = HEADER_WORDS; i < PAGE_WORDS; i++) {
        if (w[i] == pattern_word(seed, i))
            continue;
        if (report_begin(page)) {
            serial_putu(w[2]);
            serial_puts(" word=");
            serial_putu(i);
            serial_puts(" value=");
            serial_putx(w[i]);
            serial_puts(" want=");
            serial_putx(pattern_word(seed, i));
            serial_puts("\n");
        }
        write_page(page, want);
        return;
    }
}

void
memtest_verify(uint32_t n)
{
    if (n_pages == 0)
        return;
    while (n--) {
        verify_page(verify_cursor);
        if (++verify_cursor == n_pages) {
            verify_cursor = 0;
            passes++;
        }
    }
}

void
memtest_corrupt(void)
{
    uint32_t page = verify_cursor;
    uint32_t offset = (HEADER_WORDS + page % (PAGE_WORDS - HEADER_WORDS)) * 4u + 1u;

    if (n_pages == 0) {
        serial_puts("note corrupt ignored: no pattern pages (mem=0)\n");
        return;
    }
    pattern_base[page * PAGE_SIZE + offset] ^= 0xFF;
    serial_puts("note corrupted page=");
    serial_putu(page);
    serial_puts(" offset=");
    serial_putu(offset);
    serial_puts("\n");
}

uint32_t
memtest_passes(void)
{
    return passes;
}

uint32_t
memtest_dirtied(void)
{
    return dirtied;
}

uint32_t
memtest_errors(void)
{
    return errors;
}
