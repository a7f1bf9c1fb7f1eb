/*
 * test-guest-boot.c: boots the bundled test guest in real QEMU (TCG).
 *
 * Owns: checking the guest's observable behaviour: boot line with its
 * arguments, consecutive heartbeats, verification passes, the corrupt= hook
 * and the memory size check.  Must not migrate (that is the e2e tests' job)
 * and must kill only the QEMU it started, by its PID.  Fails, never skips, if
 * QEMU or the guest kernel is missing.
 */
#include "ferry-config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

#include <ferry/ferry.h>

#include "guest/guest-log.h"

#ifndef GUEST_KERNEL_PATH
#error "GUEST_KERNEL_PATH must be defined by the build"
#endif

/* Whole-test deadline: TCG is slow, but a boot takes well under a second. */
#define DEADLINE_MS 30000

typedef struct {
    char *dir;
    char *serial;
    GSubprocess *qemu;
    gint64 spawned_at;        /* monotonic, microseconds */
} guest_vm;

static void
guest_vm_stop(guest_vm *vm)
{
    if (vm->qemu) {
        g_subprocess_force_exit(vm->qemu);
        g_subprocess_wait(vm->qemu, NULL, NULL);   /* reap it ourselves */
        g_clear_object(&vm->qemu);
    }
    if (vm->serial)
        g_unlink(vm->serial);
    if (vm->dir)
        g_rmdir(vm->dir);
    g_clear_pointer(&vm->serial, g_free);
    g_clear_pointer(&vm->dir, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(guest_vm, guest_vm_stop)

/*
 * guest_vm_start: boots the guest with @append as its command line and the
 * serial port going to a file in a fresh temporary directory.  Marks the test
 * failed and returns FALSE if that is not possible.
 */
static gboolean
guest_vm_start(guest_vm *vm, const char *append)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *chardev = NULL;

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
    chardev = g_strdup_printf("file,id=s0,path=%s", vm->serial);

    vm->spawned_at = g_get_monotonic_time();
    vm->qemu = g_subprocess_new(G_SUBPROCESS_FLAGS_NONE, &err,
                                FERRY_QEMU_BINARY,
                                "-machine", "pc", "-accel", "tcg", "-m", "64",
                                "-nodefaults", "-no-user-config",
                                "-display", "none", "-no-reboot",
                                "-chardev", chardev,
                                "-device", "isa-serial,chardev=s0",
                                "-kernel", GUEST_KERNEL_PATH,
                                "-append", append,
                                NULL);
    if (!vm->qemu) {
        g_test_fail_printf("cannot start '%s': %s", FERRY_QEMU_BINARY, err->message);
        return FALSE;
    }
    g_test_message("QEMU pid %s, serial log %s, -append '%s'",
                   g_subprocess_get_identifier(vm->qemu), vm->serial, append);
    return TRUE;
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

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/guest/boot/defaults", test_boot_defaults);
    g_test_add_func("/guest/boot/args", test_boot_args);
    g_test_add_func("/guest/verify/passes", test_verify_passes);
    g_test_add_func("/guest/verify/corrupt", test_corrupt_detected);
    g_test_add_func("/guest/mem/clamped", test_mem_clamped);

    return g_test_run();
}
