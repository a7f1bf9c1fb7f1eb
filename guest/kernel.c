/*
 * kernel.c: main program of the bundled test guest.
 *
 * Owns: reading the multiboot command line and memory size, and the main loop
 * that dirties pages and writes disk sectors at the requested rates, prints
 * heartbeats and verifies the memory pattern and the disk sectors, and
 * sleeps (idle.c) when a round leaves nothing owed.  Must not keep any
 * state outside guest RAM: everything (heartbeat counter included) is
 * migrated with the VM, so the destination continues where the source
 * stopped.
 *
 * Command line (space separated; other words, such as the kernel path QEMU
 * puts first, are ignored):
 *   mem=MIB       MiB of pattern to fill, dirty and verify (default 16)
 *   rate=PPS      4 KiB pages dirtied per second (default 1000, 0 = none)
 *   hb=MS         heartbeat interval in milliseconds (default 100)
 *   corrupt=N     after heartbeat N flip one byte of the pattern (test hook;
 *                 default 0 = never)
 *   disk=0|1      write and verify numbered sectors on the ATA disk (default 0)
 *   dblocks=N     sectors in the disk test area, from LBA 2048 (default 2048)
 *   drate=N       disk sectors written per second (default 200, 0 = none)
 *   dcorrupt=N    after heartbeat N write a stale copy of one sector (test
 *                 hook; default 0 = never)
 *
 * Serial output, one line each:
 *   ferry-guest boot mem=<MiB> rate=<pps> hb=<ms>[ disk=1 dblocks=<n> drate=<n>]
 *   ferry-guest disk sectors=<n> model=<ATA model>     (disk=1, disk found)
 *   hb <n> pass=<full verify passes> dirtied=<pages> errors=<mismatches>
 *      [ dwritten=<sectors> dverified=<sectors> derrors=<n>]   (disk=1)
 *   ERROR ...                       (see memtest.c and below)
 *   DISKERROR ...                   (see disktest.c)
 *   note ...                        (informational)
 */
#include "ferry-config.h"

#include "kernel.h"

#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002u
#define MBI_FLAG_MEM (1u << 0)
#define MBI_FLAG_CMDLINE (1u << 2)

#define DEFAULT_MEM_MIB 16u
#define DEFAULT_RATE 1000u
#define DEFAULT_HB_MS 100u
#define DEFAULT_DBLOCKS 2048u
#define DEFAULT_DRATE 200u
#define MAX_DRATE 100000u
#define MAX_RATE 1000000u
#define MAX_HB_MS 3600000u
#define MAX_VALUE 1000000000u
#define CMDLINE_MAX 1024u
/* Pages per loop iteration: small, so the PIT is polled every few ms. */
#define DIRTY_BATCH 64u
#define VERIFY_BATCH 8u
/* Disk sectors per loop iteration: each is a PIO transfer and a host I/O. */
#define DISK_WRITE_BATCH 16u
#define DISK_VERIFY_BATCH 2u

struct multiboot_info {
    uint32_t flags;
    uint32_t mem_lower;        /* KiB below 1 MiB */
    uint32_t mem_upper;        /* KiB from 1 MiB to the first hole */
    uint32_t boot_device;
    uint32_t cmdline;          /* physical address of a NUL-terminated string */
};

struct guest_args {
    uint32_t mem_mib;
    uint32_t rate;
    uint32_t hb_ms;
    uint32_t corrupt;
    uint32_t disk;
    uint32_t dblocks;
    uint32_t drate;
    uint32_t dcorrupt;
};

void kernel_main(uint32_t magic, const struct multiboot_info *mbi);

/* GCC may emit calls to these even in freestanding code; the attribute
 * keeps it from turning the loops back into calls to themselves. */
__attribute__((optimize("no-tree-loop-distribute-patterns"))) void *
memset(void *dst, int c, size_t n)
{
    uint8_t *d = dst;

    while (n--)
        *d++ = (uint8_t)c;
    return dst;
}

__attribute__((optimize("no-tree-loop-distribute-patterns"))) void *
memcpy(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;

    while (n--)
        *d++ = *s++;
    return dst;
}

/* Guest RAM copy of the command line: QEMU places the original just above
 * the kernel image, where the page table goes. */
static char cmdline[CMDLINE_MAX];

static int
str_eq_n(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i])
            return 0;
    }
    return b[n] == '\0';
}

static int
parse_uint(const char *s, size_t len, uint32_t *ret)
{
    uint32_t v = 0;

    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10u + (uint32_t)(s[i] - '0');
        if (v > MAX_VALUE)
            return 0;
    }
    *ret = v;
    return 1;
}

static void
report_bad_arg(const char *tok, size_t len, const char *why)
{
    serial_puts("ERROR bad argument '");
    serial_putn(tok, len);
    serial_puts("': ");
    serial_puts(why);
    serial_puts("\n");
}

static void
parse_word(const char *tok, size_t len, struct guest_args *args)
{
    static const struct {
        const char *key;
        size_t offset;
        uint32_t min, max;
    } keys[] = {
        { "mem", __builtin_offsetof(struct guest_args, mem_mib), 0, MAX_VALUE },
        { "rate", __builtin_offsetof(struct guest_args, rate), 0, MAX_RATE },
        { "hb", __builtin_offsetof(struct guest_args, hb_ms), 1, MAX_HB_MS },
        { "corrupt", __builtin_offsetof(struct guest_args, corrupt), 0, MAX_VALUE },
        { "disk", __builtin_offsetof(struct guest_args, disk), 0, 1 },
        { "dblocks", __builtin_offsetof(struct guest_args, dblocks), 1, DISKTEST_MAX_BLOCKS },
        { "drate", __builtin_offsetof(struct guest_args, drate), 0, MAX_DRATE },
        { "dcorrupt", __builtin_offsetof(struct guest_args, dcorrupt), 0, MAX_VALUE },
    };
    size_t eq = 0;

    while (eq < len && tok[eq] != '=')
        eq++;
    if (eq == len)
        return;                /* not key=value: the kernel path, say */
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        uint32_t v;

        if (!str_eq_n(tok, keys[k].key, eq))
            continue;
        if (!parse_uint(tok + eq + 1, len - eq - 1, &v)) {
            report_bad_arg(tok, len, "not a decimal number");
        } else if (v < keys[k].min || v > keys[k].max) {
            report_bad_arg(tok, len, "out of range; default kept");
        } else {
            *(uint32_t *)(void *)((char *)args + keys[k].offset) = v;
        }
        return;
    }
}

static void
parse_cmdline(const char *s, struct guest_args *args)
{
    while (*s) {
        size_t len = 0;

        while (*s == ' ')
            s++;
        while (s[len] && s[len] != ' ')
            len++;
        if (len)
            parse_word(s, len, args);
        s += len;
    }
}

static void
copy_cmdline(const struct multiboot_info *mbi)
{
    const char *src;
    size_t i;

    if (!(mbi->flags & MBI_FLAG_CMDLINE) || mbi->cmdline == 0)
        return;
    src = (const char *)(uintptr_t)mbi->cmdline;
    for (i = 0; i + 1 < CMDLINE_MAX && src[i]; i++)
        cmdline[i] = src[i];
    cmdline[i] = '\0';
}

static void
print_heartbeat(uint32_t n, int disk)
{
    serial_puts("hb ");
    serial_putu(n);
    serial_puts(" pass=");
    serial_putu(memtest_passes());
    serial_puts(" dirtied=");
    serial_putu(memtest_dirtied());
    serial_puts(" errors=");
    serial_putu(memtest_errors());
    if (disk) {
        serial_puts(" dwritten=");
        serial_putu(disktest_written());
        serial_puts(" dverified=");
        serial_putu(disktest_verified());
        serial_puts(" derrors=");
        serial_putu(disktest_errors());
    }
    serial_puts("\n");
}

/*
 * A pacer turns a rate (units per second) and elapsed milliseconds into how
 * many units to do now, at most @batch per loop iteration.  When the guest
 * cannot keep up it forgets debt beyond 100 ms worth.
 */
struct pacer {
    uint32_t rate;
    uint32_t batch;
    uint32_t cap;
    uint32_t owed;
    uint32_t frac;             /* in units/1000 */
};

static void
pacer_init(struct pacer *p, uint32_t rate, uint32_t batch)
{
    p->rate = rate;
    p->batch = batch;
    p->cap = rate / 10u > batch ? rate / 10u : batch;
    p->owed = 0;
    p->frac = 0;
}

/* pacer_take: units due after @dms more milliseconds (@dms <= 1000). */
static uint32_t
pacer_take(struct pacer *p, uint32_t dms)
{
    uint32_t n;

    p->frac += p->rate * dms;  /* <= 1e9: no overflow */
    p->owed += p->frac / 1000u;
    p->frac %= 1000u;
    if (p->owed > p->cap)
        p->owed = p->cap;
    n = p->owed < p->batch ? p->owed : p->batch;
    p->owed -= n;
    return n;
}

static void
main_loop(const struct guest_args *args)
{
    uint32_t last = timer_now_ms();
    uint32_t next_hb = last + args->hb_ms;
    uint32_t hb_count = 0;
    struct pacer pages, sectors;

    pacer_init(&pages, args->rate, DIRTY_BATCH);
    pacer_init(&sectors, args->disk ? args->drate : 0, DISK_WRITE_BATCH);
    for (;;) {
        uint32_t now = timer_now_ms();
        uint32_t dms = now - last;

        last = now;
        if (dms > 1000u)
            dms = 1000u;
        memtest_dirty(pacer_take(&pages, dms));
        disktest_write(pacer_take(&sectors, dms));
        if ((int32_t)(now - next_hb) >= 0) {
            print_heartbeat(++hb_count, args->disk);
            if (args->corrupt && hb_count == args->corrupt)
                memtest_corrupt();
            if (args->disk && args->dcorrupt && hb_count == args->dcorrupt)
                disktest_corrupt();
            next_hb += args->hb_ms;
            if ((int32_t)(now - next_hb) >= 0)
                next_hb = now + args->hb_ms;     /* skip, never burst */
        }
        memtest_verify(VERIFY_BATCH);
        disktest_verify(DISK_VERIFY_BATCH);
        /* Nothing left owed: sleep until the next tick rather than spin
         * (a spinning guest holds a host core under TCG).  Behind the
         * rate, the next round comes at once. */
        if (pages.owed == 0 && sectors.owed == 0)
            idle_wait();
    }
}

void
kernel_main(uint32_t magic, const struct multiboot_info *mbi)
{
    struct guest_args args = {
        .mem_mib = DEFAULT_MEM_MIB,
        .rate = DEFAULT_RATE,
        .hb_ms = DEFAULT_HB_MS,
        .corrupt = 0,
        .disk = 0,
        .dblocks = DEFAULT_DBLOCKS,
        .drate = DEFAULT_DRATE,
        .dcorrupt = 0,
    };
    uint32_t top = 0;
    uint32_t fit;

    serial_init();
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC) {
        serial_puts("ERROR not started by a multiboot loader: magic=");
        serial_putx(magic);
        serial_puts("\n");
    } else {
        copy_cmdline(mbi);
        if (mbi->flags & MBI_FLAG_MEM) {
            uint64_t end = 0x100000ull + (uint64_t)mbi->mem_upper * 1024u;

            top = end > 0xFFFFF000ull ? 0xFFFFF000u : (uint32_t)end;
        }
    }
    parse_cmdline(cmdline, &args);
    /* The ATA driver's timeouts need the clock. */
    timer_init();
    if (args.disk)
        disktest_init(&args.dblocks);

    fit = memtest_fit_mib(args.mem_mib, top);
    if (fit < args.mem_mib) {
        serial_puts("ERROR mem=");
        serial_putu(args.mem_mib);
        serial_puts(" MiB exceeds available ");
        serial_putu(memtest_fit_mib(MAX_VALUE, top));
        serial_puts(" MiB\n");
        args.mem_mib = fit;
    }

    serial_puts("ferry-guest boot mem=");
    serial_putu(args.mem_mib);
    serial_puts(" rate=");
    serial_putu(args.rate);
    serial_puts(" hb=");
    serial_putu(args.hb_ms);
    if (args.disk) {
        serial_puts(" disk=1 dblocks=");
        serial_putu(args.dblocks);
        serial_puts(" drate=");
        serial_putu(args.drate);
    }
    serial_puts("\n");
    if (args.disk)
        disktest_print_info();

    memtest_init(args.mem_mib);
    idle_init();
    timer_init();
    main_loop(&args);
}
