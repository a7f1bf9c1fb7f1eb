/*
 * disktest.c: the bundled guest's numbered disk sectors, written and verified.
 *
 * Owns: the test area on the disk (dblocks sectors from DISKTEST_BASE_LBA)
 * and the table of the generation every sector must hold.  Each 512-byte
 * sector is self-describing: magic, its own LBA, its generation, 124 words
 * derived from (LBA, generation, word) and a checksum of all that.  The
 * writer rewrites sectors round-robin with generation + 1; the verifier reads
 * them back round-robin and compares each with the table.  The table is in
 * guest RAM, so it migrates with the VM: after a storage migration the
 * destination's disk must hold exactly what the table expects.  Must not
 * touch sectors outside the test area or print anything but the DISKERROR
 * and note lines below.
 *
 * Table entries: 0 = never written (not verified); otherwise the generation,
 * with GEN_UNKNOWN set while a write is in flight or after it failed (not
 * verified until the next successful write of that sector).
 */
#include "ferry-config.h"

#include "kernel.h"

#define SECTOR_WORDS 128u
#define SECTOR_MAGIC 0x4B534446u        /* "FDSK" */
#define HEADER_WORDS 3u                  /* magic, lba, generation */
#define CHECKSUM_WORD (SECTOR_WORDS - 1u)
#define GEN_UNKNOWN 0x80000000u
#define MAX_ERROR_LINES 10u

/* Guest RAM: migrated with the VM like everything else. */
static uint32_t expected_gen[DISKTEST_MAX_BLOCKS];
static uint32_t sector[SECTOR_WORDS];   /* the one transfer buffer */
static uint32_t n_blocks;
static int active;
static int found;
static uint32_t disk_sectors;
static char disk_model[ATA_MODEL_LEN + 1];
static uint32_t write_cursor;
static uint32_t verify_cursor;
static uint32_t written;
static uint32_t verified;
static uint32_t errors;
static uint32_t error_lines;

static inline uint32_t
pattern_word(uint32_t lba, uint32_t gen, uint32_t i)
{
    return (lba * 0x27D4EB2Fu) ^ (gen * 0x165667B1u) ^ (i * 0xD3A2646Cu);
}

/* checksum: FNV-1a over the words before the checksum word. */
static uint32_t
checksum(const uint32_t *w)
{
    uint32_t c = 2166136261u;

    for (uint32_t i = 0; i < CHECKSUM_WORD; i++)
        c = (c ^ w[i]) * 16777619u;
    return c;
}

static void
fill_sector(uint32_t lba, uint32_t gen)
{
    sector[0] = SECTOR_MAGIC;
    sector[1] = lba;
    sector[2] = gen;
    for (uint32_t i = HEADER_WORDS; i < CHECKSUM_WORD; i++)
        sector[i] = pattern_word(lba, gen, i);
    sector[CHECKSUM_WORD] = checksum(sector);
}

/*
 * report_begin: counts one error; says whether to print its line (the first
 * MAX_ERROR_LINES, then a single line saying the rest are only counted).
 */
static int
report_begin(void)
{
    errors++;
    if (error_lines > MAX_ERROR_LINES)
        return 0;
    if (error_lines++ == MAX_ERROR_LINES) {
        serial_puts("DISKERROR more errors suppressed\n");
        return 0;
    }
    return 1;
}

/*
 * report_ata: "DISKERROR ata status=0x.. lba=<n> op=<op>" plus " error=0x.."
 * or " timeout".  After a timeout the drive is in an unknown state: the disk
 * test stops.
 */
static void
report_ata(const struct ata_result *res, uint32_t lba, const char *op)
{
    if (res->timed_out)
        active = 0;
    if (!report_begin())
        return;
    serial_puts("DISKERROR ata status=");
    serial_putx2(res->status);
    serial_puts(" lba=");
    serial_putu(lba);
    serial_puts(" op=");
    serial_puts(op);
    if (res->timed_out) {
        serial_puts(" timeout\n");
    } else {
        serial_puts(" error=");
        serial_putx2(res->error);
        serial_puts("\n");
    }
}

/* write_block: writes block @i of the area with @gen and records it. */
static int
write_block(uint32_t i, uint32_t gen)
{
    struct ata_result res;
    uint32_t lba = DISKTEST_BASE_LBA + i;

    expected_gen[i] = gen | GEN_UNKNOWN;
    fill_sector(lba, gen);
    if (!ata_write_sector(lba, (const uint16_t *)sector, &res)) {
        report_ata(&res, lba, "write");
        return 0;
    }
    expected_gen[i] = gen;
    return 1;
}

void
disktest_init(uint32_t *blocks)
{
    uint32_t room;

    if (!ata_identify(&disk_sectors, disk_model)) {
        serial_puts("DISKERROR no ATA disk on the primary channel\n");
        errors++;
        return;
    }
    found = 1;
    room = disk_sectors > DISKTEST_BASE_LBA ? disk_sectors - DISKTEST_BASE_LBA : 0;
    if (*blocks > room) {
        serial_puts("DISKERROR dblocks=");
        serial_putu(*blocks);
        serial_puts(" exceeds the disk: ");
        serial_putu(room);
        serial_puts(" sectors fit from lba ");
        serial_putu(DISKTEST_BASE_LBA);
        serial_puts("\n");
        *blocks = room;
    }
    n_blocks = *blocks;
    active = n_blocks > 0;
}

void
disktest_print_info(void)
{
    if (!found)
        return;
    serial_puts("ferry-guest disk sectors=");
    serial_putu(disk_sectors);
    serial_puts(" model=");
    serial_puts(disk_model);
    serial_puts("\n");
}

void
disktest_write(uint32_t n)
{
    while (active && n--) {
        uint32_t i = write_cursor;

        if (write_block(i, (expected_gen[i] & ~GEN_UNKNOWN) + 1))
            written++;
        write_cursor = i + 1 == n_blocks ? 0 : i + 1;
    }
}

/*
 * next_to_verify: the next block from the verify cursor whose contents are
 * known, or n_blocks if there is none; advances the cursor past it when
 * @advance.
 */
static uint32_t
next_to_verify(int advance)
{
    uint32_t i = verify_cursor;

    for (uint32_t k = 0; k < n_blocks; k++) {
        uint32_t gen = expected_gen[i];
        uint32_t next = i + 1 == n_blocks ? 0 : i + 1;

        if (gen != 0 && !(gen & GEN_UNKNOWN)) {
            if (advance)
                verify_cursor = next;
            return i;
        }
        i = next;
    }
    return n_blocks;
}

/* report_mismatch: starts "DISKERROR lba=.. expected_gen=.. found_gen=..". */
static int
report_mismatch(uint32_t lba, uint32_t want)
{
    if (!report_begin())
        return 0;
    serial_puts("DISKERROR lba=");
    serial_putu(lba);
    serial_puts(" expected_gen=");
    serial_putu(want);
    serial_puts(" found_gen=");
    serial_putu(sector[2]);
    return 1;
}

/* check_block: compares the sector just read for block @i with the table;
 * returns 1 if it matches. */
static int
check_block(uint32_t i)
{
    uint32_t lba = DISKTEST_BASE_LBA + i;
    uint32_t want = expected_gen[i];
    uint32_t sum = checksum(sector);

    if (sector[0] != SECTOR_MAGIC || sector[1] != lba || sector[CHECKSUM_WORD] != sum) {
        if (report_mismatch(lba, want)) {
            serial_puts(" garbage magic=");
            serial_putx(sector[0]);
            serial_puts(" found_lba=");
            serial_putu(sector[1]);
            serial_puts(" checksum=");
            serial_putx(sector[CHECKSUM_WORD]);
            serial_puts(" want=");
            serial_putx(sum);
            serial_puts("\n");
        }
        return 0;
    }
    if (sector[2] != want) {
        if (report_mismatch(lba, want))
            serial_puts("\n");
        return 0;
    }
    for (uint32_t w = HEADER_WORDS; w < CHECKSUM_WORD; w++) {
        if (sector[w] == pattern_word(lba, want, w))
            continue;
        if (report_mismatch(lba, want)) {
            serial_puts(" word=");
            serial_putu(w);
            serial_puts(" value=");
            serial_putx(sector[w]);
            serial_puts(" want=");
            serial_putx(pattern_word(lba, want, w));
            serial_puts("\n");
        }
        return 0;
    }
    return 1;
}

void
disktest_verify(uint32_t n)
{
    while (active && n--) {
        struct ata_result res;
        uint32_t i = next_to_verify(1);
        uint32_t lba = DISKTEST_BASE_LBA + i;

        if (i == n_blocks)
            return;            /* nothing written yet */
        if (!ata_read_sector(lba, (uint16_t *)sector, &res)) {
            report_ata(&res, lba, "read");
            continue;
        }
        verified++;
        /* Repair a mismatch so that one fault is counted once. */
        if (!check_block(i))
            write_block(i, expected_gen[i]);
    }
}

void
disktest_corrupt(void)
{
    struct ata_result res;
    uint32_t i, lba, stale;

    if (!active) {
        serial_puts("note dcorrupt ignored: the disk test is not running\n");
        return;
    }
    i = next_to_verify(0);
    if (i == n_blocks) {
        serial_puts("note dcorrupt ignored: no sector written yet\n");
        return;
    }
    lba = DISKTEST_BASE_LBA + i;
    stale = expected_gen[i] - 1;
    fill_sector(lba, stale);
    if (!ata_write_sector(lba, (const uint16_t *)sector, &res)) {
        report_ata(&res, lba, "write");
        return;
    }
    serial_puts("note disk corrupted lba=");
    serial_putu(lba);
    serial_puts(" stale_gen=");
    serial_putu(stale);
    serial_puts("\n");
}

uint32_t
disktest_written(void)
{
    return written;
}

uint32_t
disktest_verified(void)
{
    return verified;
}

uint32_t
disktest_errors(void)
{
    return errors;
}
