/*
 * test-guest-boot.c: boots the bundled test guest in real QEMU (TCG).
 *
 * Owns: checking the guest's observable behaviour: boot line with its
 * arguments, consecutive heartbeats, verification passes, the corrupt= hook,
 * the memory size check, and the disk test (numbered sectors on an IDE disk
 * attached the way ferry attaches one: -blockdev file and format nodes, then
 * -device ide-hd on ide.0 unit 0).  Must not migrate (that is the e2e tests' job)
 * and must kill only the QEMU it started, by its PID.  Fails, never skips, if
 * QEMU or the guest kernel is missing.
 */
#include "ferry-config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <ferry/ferry.h>

#include "guest/guest-log.h"

#ifndef GUEST_KERNEL_PATH
#error "GUEST_KERNEL_PATH must be defined by the build"
#endif

/* Whole-test deadline: TCG is slow, but a boot takes well under a second. */
#define DEADLINE_MS 30000

/* The disk test area, as in guest/kernel.h. */
#define DISK_BASE_LBA 2048
#define SECTOR_SIZE 512
/* 4 MiB: 8192 sectors, 6144 of them above the test area's base. */
#define DISK_IMAGE_SIZE (4 * 1024 * 1024)

typedef struct {
    char *dir;
    char *serial;
    char *disk;               /* raw image, or NULL */
    GSubprocess *qemu;
    gint64 spawned_at;        /* monotonic, microseconds */
} guest_vm;

/* guest_vm_stop_qemu: kills and reaps @vm's QEMU, keeping its files. */
static void
guest_vm_stop_qemu(guest_vm *vm)
{
    if (vm->qemu) {
        g_subprocess_force_exit(vm->qemu);
        g_subprocess_wait(vm->qemu, NULL, NULL);   /* reap it ourselves */
        g_clear_object(&vm->qemu);
    }
}

static void
guest_vm_stop(guest_vm *vm)
{
    guest_vm_stop_qemu(vm);
    if (vm->serial)
        g_unlink(vm->serial);
    if (vm->disk)
        g_unlink(vm->disk);
    if (vm->dir)
        g_rmdir(vm->dir);
    g_clear_pointer(&vm->serial, g_free);
    g_clear_pointer(&vm->disk, g_free);
    g_clear_pointer(&vm->dir, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(guest_vm, guest_vm_stop)

/*
 * add_disk_args: a sparse raw image of DISK_IMAGE_SIZE bytes in @vm's
 * directory, attached as ferry attaches <target dev='hda' bus='ide'/>.
 */
static void
add_disk_args(guest_vm *vm, GPtrArray *argv)
{
    g_autoptr(GError) err = NULL;

    vm->disk = g_build_filename(vm->dir, "disk.img", NULL);
    g_assert_null(strchr(vm->disk, ','));    /* no QEMU option escaping needed */
    g_assert_true(g_file_set_contents(vm->disk, "", 0, &err));
    g_assert_no_error(err);
    g_assert_cmpint(truncate(vm->disk, DISK_IMAGE_SIZE), ==, 0);

    g_ptr_array_add(argv, g_strdup("-blockdev"));
    g_ptr_array_add(argv, g_strdup_printf("driver=file,filename=%s,"
                                          "node-name=drive-hda-file,read-only=off",
                                          vm->disk));
    g_ptr_array_add(argv, g_strdup("-blockdev"));
    g_ptr_array_add(argv, g_strdup("driver=raw,file=drive-hda-file,"
                                   "node-name=drive-hda,read-only=off"));
    g_ptr_array_add(argv, g_strdup("-device"));
    g_ptr_array_add(argv, g_strdup("ide-hd,drive=drive-hda,id=hda,bus=ide.0,unit=0"));
}

/*
 * guest_vm_start_full: boots the guest with @append as its command line, the
 * serial port going to a file in a fresh temporary directory and, if
 * @with_disk, a blank raw disk image there attached as IDE master.  Marks
 * the test failed and returns FALSE if that is not possible.
 */
static gboolean
guest_vm_start_full(guest_vm *vm, const char *append, gboolean with_disk)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    static const char *const fixed[] = {
        FERRY_QEMU_BINARY,
        "-machine", "pc", "-accel", "tcg", "-m", "64",
        "-nodefaults", "-no-user-config",
        "-display", "none", "-no-reboot",
        "-kernel", GUEST_KERNEL_PATH,
    };

    if (!g_file_test(FERRY_QEMU_BINARY, G_FILE_TEST_IS_EXECUTABLE)) {
        g_test_fail_printf("QEMU is missing: '%s' is not an executable; install "
                           "qemu-system-x86 to run the guest tests", FERRY_QEMU_BINARY);
        return FALSE;
    }
    if (!g_file_test(GUEST_KERNEL_PATH, G_FILE_TEST_IS_REGULAR)) {
        g_test_fail_printf("guest kernel '%s' is missing: build it with ninja",
                           GUEST_KERNEL_PATH);
        return FALSE;
    }

    vm->dir = g_dir_make_tmp("ferry-guest-XXXXXX", &err);
    g_assert_no_error(err);
    vm->serial = g_build_filename(vm->dir, "serial.log", NULL);
    for (guint i = 0; i < G_N_ELEMENTS(fixed); i++)
        g_ptr_array_add(argv, g_strdup(fixed[i]));
    g_ptr_array_add(argv, g_strdup("-chardev"));
    g_ptr_array_add(argv, g_strdup_printf("file,id=s0,path=%s", vm->serial));
    g_ptr_array_add(argv, g_strdup("-device"));
    g_ptr_array_add(argv, g_strdup("isa-serial,chardev=s0"));
    g_ptr_array_add(argv, g_strdup("-append"));
    g_ptr_array_add(argv, g_strdup(append));
    if (with_disk)
        add_disk_args(vm, argv);
    g_ptr_array_add(argv, NULL);

    vm->spawned_at = g_get_monotonic_time();
    vm->qemu = g_subprocess_newv((const char *const *)argv->pdata, G_SUBPROCESS_FLAGS_NONE, &err);
    if (!vm->qemu) {
        g_test_fail_printf("cannot start '%s': %s", FERRY_QEMU_BINARY, err->message);
        return FALSE;
    }
    g_test_message("QEMU pid %s, serial log %s, -append '%s'%s",
                   g_subprocess_get_identifier(vm->qemu), vm->serial, append,
                   with_disk ? ", 4 MiB raw disk on ide.0 unit 0" : "");
    return TRUE;
}

static gboolean
guest_vm_start(guest_vm *vm, const char *append)
{
    return guest_vm_start_full(vm, append, FALSE);
}

static guint
guest_vm_remaining_ms(const guest_vm *vm)
{
    gint64 left = DEADLINE_MS - (g_get_monotonic_time() - vm->spawned_at) / 1000;

    return left > 0 ? (guint)left : 1;
}

/*
 * guest_vm_wait: waits for heartbeat @min_hb (0: the boot line) within the
 * test's deadline.  On failure marks the test failed, saying whether QEMU is
 * still running, and returns FALSE.
 */
static gboolean
guest_vm_wait(guest_vm *vm, gint64 min_hb, ferry_guest_log *out)
{
    g_autoptr(GError) err = NULL;

    ferry_guest_log_clear(out);
    if (ferry_guest_log_wait(vm->serial, min_hb, guest_vm_remaining_ms(vm), out, &err))
        return TRUE;
    g_test_fail_printf("%s (QEMU %s)", err->message,
                       g_subprocess_get_identifier(vm->qemu) ? "still running" : "has exited");
    return FALSE;
}

static gint64
guest_vm_elapsed_ms(const guest_vm *vm)
{
    return (g_get_monotonic_time() - vm->spawned_at) / 1000;
}

static char *
read_serial(const guest_vm *vm)
{
    g_autoptr(GError) err = NULL;
    char *text = NULL;

    g_assert_true(g_file_get_contents(vm->serial, &text, NULL, &err));
    g_assert_no_error(err);
    return text;
}

static void
assert_healthy(const ferry_guest_log *log)
{
    g_assert_true(log->booted);
    g_assert_cmpint(log->first_hb, ==, 1);
    g_assert_true(log->hb_consecutive);
    g_assert_cmpint(log->n_hb, ==, log->last_hb);
    g_assert_cmpint(log->hb_restarts, ==, 0);
    g_assert_cmpuint(log->errors_reported, ==, 0);
    g_assert_cmpuint(log->n_error_lines, ==, 0);
    g_assert_null(log->first_error);
}

/* Default arguments (mem=16): also measures boot and first heartbeat. */
static void
test_boot_defaults(void)
{
    g_auto(guest_vm) vm = { 0 };
    g_auto(ferry_guest_log) log = { 0 };
    g_autofree char *text = NULL;
    gint64 boot_ms, hb1_ms;

    if (!guest_vm_start(&vm, ""))
        return;
    if (!guest_vm_wait(&vm, 0, &log))
        return;
    boot_ms = guest_vm_elapsed_ms(&vm);
    if (!guest_vm_wait(&vm, 1, &log))
        return;
    hb1_ms = guest_vm_elapsed_ms(&vm);
    g_test_message("mem=16: boot line %" G_GINT64_FORMAT " ms, first heartbeat %"
                   G_GINT64_FORMAT " ms after spawning QEMU", boot_ms, hb1_ms);
    if (!guest_vm_wait(&vm, 5, &log))
        return;

    text = read_serial(&vm);
    g_assert_true(g_str_has_prefix(text, "ferry-guest boot mem=16 rate=1000 hb=100\n"));
    assert_healthy(&log);
    g_assert_cmpint(log.last_hb, >=, 5);
}

/* Explicit arguments show up in the boot line; heartbeats count 1, 2, 3... */
static void
test_boot_args(void)
{
    g_auto(guest_vm) vm = { 0 };
    g_auto(ferry_guest_log) log = { 0 };
    g_autofree char *text = NULL;

    if (!guest_vm_start(&vm, "mem=8 rate=500 hb=50"))
        return;
    if (!guest_vm_wait(&vm, 10, &log))
        return;
    text = read_serial(&vm);
    g_assert_true(g_str_has_prefix(text, "ferry-guest boot mem=8 rate=500 hb=50\n"));
    g_assert_nonnull(strstr(text, "\nhb 1 pass="));
    assert_healthy(&log);
    g_assert_cmpint(log.last_hb, >=, 10);
}

/* With mem=4 the verifier completes full passes. */
static void
test_verify_passes(void)
{
    g_auto(guest_vm) vm = { 0 };
    g_auto(ferry_guest_log) log = { 0 };
    gint64 hb = 1;

    if (!guest_vm_start(&vm, "mem=4 hb=100"))
        return;
    do {
        if (!guest_vm_wait(&vm, hb++, &log))
            return;
    } while (log.max_pass == 0);
    g_test_message("pass=%" G_GUINT64_FORMAT " at heartbeat %" G_GINT64_FORMAT,
                   log.max_pass, log.last_hb);
    g_assert_cmpuint(log.max_pass, >, 0);
    assert_healthy(&log);
}

/* corrupt=3 flips one byte after heartbeat 3: exactly one error is reported. */
static void
test_corrupt_detected(void)
{
    g_auto(guest_vm) vm = { 0 };
    g_auto(ferry_guest_log) log = { 0 };
    g_autofree char *text = NULL;
    const char *hb3, *error_line;

    if (!guest_vm_start(&vm, "mem=4 hb=50 corrupt=3"))
        return;
    if (!guest_vm_wait(&vm, 6, &log))
        return;
    text = read_serial(&vm);
    g_test_message("first error: %s", log.first_error ? log.first_error : "(none)");
    g_assert_nonnull(log.first_error);
    g_assert_true(g_str_has_prefix(log.first_error, "ERROR page="));
    g_assert_nonnull(strstr(log.first_error, " expected_gen="));
    g_assert_nonnull(strstr(log.first_error, " found="));
    g_assert_cmpuint(log.n_error_lines, ==, 1);
    g_assert_cmpuint(log.errors_reported, ==, 1);
    /* The byte is flipped after heartbeat 3, not before. */
    hb3 = strstr(text, "\nhb 3 pass=");
    error_line = strstr(text, "\nERROR page=");
    g_assert_nonnull(hb3);
    g_assert_nonnull(error_line);
    g_assert_true(hb3 < error_line);
    g_assert_true(log.hb_consecutive);
}

/* Asking for more memory than the VM has is reported, then clamped. */
static void
test_mem_clamped(void)
{
    g_auto(guest_vm) vm = { 0 };
    g_auto(ferry_guest_log) log = { 0 };
    g_autofree char *text = NULL;
    const char *boot;
    guint mem = 0;

    if (!guest_vm_start(&vm, "mem=4000 hb=100"))
        return;
    if (!guest_vm_wait(&vm, 2, &log))
        return;
    text = read_serial(&vm);
    g_assert_nonnull(log.first_error);
    g_assert_true(g_str_has_prefix(log.first_error, "ERROR mem=4000 MiB exceeds available "));
    g_assert_cmpuint(log.n_error_lines, ==, 1);
    g_assert_cmpuint(log.errors_reported, ==, 0);
    boot = strstr(text, "ferry-guest boot mem=");
    g_assert_nonnull(boot);
    g_assert_cmpint(sscanf(boot, "ferry-guest boot mem=%u ", &mem), ==, 1);
    g_assert_cmpuint(mem, >, 32);
    g_assert_cmpuint(mem, <, 64);
}

/* ---- the disk test -------------------------------------------------------- */

/*
 * guest_vm_wait_until: waits heartbeat by heartbeat until @cond holds for
 * the summary, within the test's deadline.
 */
static gboolean
guest_vm_wait_until(guest_vm *vm, ferry_guest_log *log,
                    gboolean (*cond)(const ferry_guest_log *log))
{
    gint64 hb = 1;

    do {
        if (!guest_vm_wait(vm, hb, log))
            return FALSE;
        hb = log->last_hb + 1;
    } while (!cond(log));
    return TRUE;
}

/* The first pass (2048 sectors) is done and the second one is under way. */
static gboolean
second_pass_started(const ferry_guest_log *log)
{
    return log->disk_written > 2048 + 100;
}

static gboolean
disk_error_seen(const ferry_guest_log *log)
{
    return log->disk_errors > 0;
}

static void
assert_disk_healthy(const ferry_guest_log *log)
{
    assert_healthy(log);
    g_assert_cmpuint(log->disk_errors, ==, 0);
    g_assert_cmpuint(log->n_disk_error_lines, ==, 0);
    g_assert_null(log->first_disk_error);
}

/* read_sector: sector @lba of the image, or NULL (test failed) if short. */
static guint32 *
read_sector(const char *image, guint lba)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *data = NULL;
    gsize len = 0;

    g_assert_true(g_file_get_contents(image, &data, &len, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(len, ==, DISK_IMAGE_SIZE);
    return g_memdup2(data + (gsize)lba * SECTOR_SIZE, SECTOR_SIZE);
}

static gboolean
sector_is_zero(const guint32 *w)
{
    for (guint i = 0; i < SECTOR_SIZE / 4; i++) {
        if (w[i] != 0)
            return FALSE;
    }
    return TRUE;
}

/*
 * disk=1 on a blank 4 MiB disk: the guest writes the whole area, then keeps
 * rewriting and verifying it with no error; memory is checked as before.
 * Also measures boot time and the write and verify rates.
 */
static void
test_disk_write_verify(void)
{
    g_auto(guest_vm) vm = { 0 };
    g_auto(ferry_guest_log) log = { 0 };
    g_autofree char *text = NULL;
    g_autofree guint32 *first = NULL;
    g_autofree guint32 *below = NULL;
    g_autofree guint32 *above = NULL;
    gint64 boot_ms, t0_ms, t1_ms;
    guint64 written0, verified0, written1, verified1;

    if (!guest_vm_start_full(&vm, "mem=4 hb=100 disk=1 dblocks=2048 drate=500", TRUE))
        return;
    if (!guest_vm_wait(&vm, 0, &log))
        return;
    boot_ms = guest_vm_elapsed_ms(&vm);
    if (!guest_vm_wait(&vm, 2, &log))
        return;
    t0_ms = guest_vm_elapsed_ms(&vm);
    written0 = log.disk_written;
    verified0 = log.disk_verified;
    g_assert_cmpuint(written0, >, 0);
    g_assert_cmpuint(verified0, >, 0);
    if (!guest_vm_wait_until(&vm, &log, second_pass_started))
        return;
    t1_ms = guest_vm_elapsed_ms(&vm);
    written1 = log.disk_written;
    verified1 = log.disk_verified;
    g_test_message("disk=1: boot line %" G_GINT64_FORMAT " ms after spawning QEMU; "
                   "%" G_GUINT64_FORMAT " sectors written (drate=500), %" G_GUINT64_FORMAT
                   " verified in %" G_GINT64_FORMAT " ms: %.0f written/s, %.0f verified/s, "
                   "%" G_GUINT64_FORMAT " memory passes",
                   boot_ms, written1 - written0, verified1 - verified0, t1_ms - t0_ms,
                   (written1 - written0) * 1000.0 / MAX(t1_ms - t0_ms, 1),
                   (verified1 - verified0) * 1000.0 / MAX(t1_ms - t0_ms, 1),
                   log.max_pass);

    text = read_serial(&vm);
    g_assert_true(g_str_has_prefix(text, "ferry-guest boot mem=4 rate=1000 hb=100 "
                                         "disk=1 dblocks=2048 drate=500\n"
                                         "ferry-guest disk sectors=8192 model=QEMU HARDDISK\n"));
    g_assert_nonnull(strstr(text, "\nhb 1 pass="));
    g_assert_cmpuint(verified1, >, verified0);
    g_assert_cmpuint(log.max_pass, >, 0);
    assert_disk_healthy(&log);

    /* The guest's sectors are on the disk, and only in the test area. */
    guest_vm_stop_qemu(&vm);
    first = read_sector(vm.disk, DISK_BASE_LBA);
    below = read_sector(vm.disk, DISK_BASE_LBA - 1);
    above = read_sector(vm.disk, DISK_BASE_LBA + 2048);
    g_assert_cmphex(GUINT32_FROM_LE(first[0]), ==, 0x4B534446);      /* "FDSK" */
    g_assert_cmpuint(GUINT32_FROM_LE(first[1]), ==, DISK_BASE_LBA);
    g_assert_cmpuint(GUINT32_FROM_LE(first[2]), >=, 1);
    g_assert_true(sector_is_zero(below));
    g_assert_true(sector_is_zero(above));
}

/* dcorrupt=5 writes a stale copy of one sector: exactly one DISKERROR. */
static void
test_disk_corrupt_detected(void)
{
    g_auto(guest_vm) vm = { 0 };
    g_auto(ferry_guest_log) log = { 0 };
    g_autofree char *text = NULL;
    guint lba = 0, want = 0, found = 0;
    const char *note;

    if (!guest_vm_start_full(&vm, "mem=4 hb=100 disk=1 drate=500 dcorrupt=5", TRUE))
        return;
    if (!guest_vm_wait_until(&vm, &log, disk_error_seen))
        return;
    /* A few more heartbeats: the one fault must stay one error. */
    if (!guest_vm_wait(&vm, log.last_hb + 3, &log))
        return;
    text = read_serial(&vm);
    g_test_message("first disk error: %s",
                   log.first_disk_error ? log.first_disk_error : "(none)");
    g_assert_cmpuint(log.disk_errors, ==, 1);
    g_assert_cmpuint(log.n_disk_error_lines, ==, 1);
    g_assert_nonnull(log.first_disk_error);
    g_assert_cmpint(sscanf(log.first_disk_error, "DISKERROR lba=%u expected_gen=%u found_gen=%u",
                           &lba, &want, &found), ==, 3);
    g_assert_cmpuint(found + 1, ==, want);
    note = strstr(text, "\nnote disk corrupted lba=");
    g_assert_nonnull(note);
    g_assert_true(strstr(text, "\nhb 5 pass=") < note);
    g_assert_true(note < strstr(text, "\nDISKERROR lba="));
    g_assert_cmpuint(log.disk_verified, >, 0);
    assert_healthy(&log);
}

/* disk=1 without a disk: one DISKERROR line, then memory tests as usual. */
static void
test_disk_missing(void)
{
    g_auto(guest_vm) vm = { 0 };
    g_auto(ferry_guest_log) log = { 0 };
    g_autofree char *text = NULL;

    if (!guest_vm_start(&vm, "mem=4 hb=50 disk=1"))
        return;
    if (!guest_vm_wait(&vm, 4, &log))
        return;
    text = read_serial(&vm);
    g_assert_cmpstr(log.first_disk_error, ==, "DISKERROR no ATA disk on the primary channel");
    g_assert_cmpuint(log.n_disk_error_lines, ==, 1);
    g_assert_cmpuint(log.disk_errors, ==, 1);
    g_assert_cmpuint(log.disk_written, ==, 0);
    g_assert_cmpuint(log.disk_verified, ==, 0);
    g_assert_null(strstr(text, "ferry-guest disk "));
    g_assert_nonnull(strstr(text, "\nhb 1 pass="));
    g_assert_nonnull(strstr(text, " dwritten=0 dverified=0 derrors=1\n"));
    assert_healthy(&log);
}

/* A test area larger than the disk is reported and shrunk to fit. */
static void
test_disk_clamped(void)
{
    g_auto(guest_vm) vm = { 0 };
    g_auto(ferry_guest_log) log = { 0 };
    g_autofree char *text = NULL;

    if (!guest_vm_start_full(&vm, "mem=4 hb=50 disk=1 dblocks=65536", TRUE))
        return;
    if (!guest_vm_wait(&vm, 3, &log))
        return;
    text = read_serial(&vm);
    g_assert_cmpstr(log.first_disk_error, ==,
                    "DISKERROR dblocks=65536 exceeds the disk: 6144 sectors fit from lba 2048");
    g_assert_cmpuint(log.n_disk_error_lines, ==, 1);
    g_assert_cmpuint(log.disk_errors, ==, 0);
    g_assert_nonnull(strstr(text, "\nferry-guest boot mem=4 rate=1000 hb=50 "
                                  "disk=1 dblocks=6144 drate=200\n"));
    g_assert_cmpuint(log.disk_written, >, 0);
}

/* Without disk=1 the guest leaves an attached disk alone and its lines are
 * exactly as before. */
static void
test_disk_off(void)
{
    g_auto(guest_vm) vm = { 0 };
    g_auto(ferry_guest_log) log = { 0 };
    g_autofree char *text = NULL;
    g_autofree guint32 *first = NULL;

    if (!guest_vm_start_full(&vm, "mem=4 hb=50", TRUE))
        return;
    if (!guest_vm_wait(&vm, 3, &log))
        return;
    text = read_serial(&vm);
    g_assert_true(g_str_has_prefix(text, "ferry-guest boot mem=4 rate=1000 hb=50\nhb 1 pass="));
    g_assert_null(strstr(text, "dwritten="));
    g_assert_null(strstr(text, "ferry-guest disk "));
    assert_disk_healthy(&log);
    g_assert_cmpuint(log.disk_written, ==, 0);
    guest_vm_stop_qemu(&vm);
    first = read_sector(vm.disk, DISK_BASE_LBA);
    g_assert_true(sector_is_zero(first));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/guest/boot/defaults", test_boot_defaults);
    g_test_add_func("/guest/boot/args", test_boot_args);
    g_test_add_func("/guest/verify/passes", test_verify_passes);
    g_test_add_func("/guest/verify/corrupt", test_corrupt_detected);
    g_test_add_func("/guest/mem/clamped", test_mem_clamped);
    g_test_add_func("/guest/disk/write-verify", test_disk_write_verify);
    g_test_add_func("/guest/disk/corrupt", test_disk_corrupt_detected);
    g_test_add_func("/guest/disk/missing", test_disk_missing);
    g_test_add_func("/guest/disk/clamped", test_disk_clamped);
    g_test_add_func("/guest/disk/off", test_disk_off);

    return g_test_run();
}
