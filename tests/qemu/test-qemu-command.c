/*
 * test-qemu-command.c: the QEMU command line of a domain, from golden files.
 *
 * Every tests/data/qemu-argv/<case>.xml is parsed and turned into argv,
 * one argument per line, compared with <case>.args.  A case whose name
 * starts with "incoming-" is built as a migration destination (-incoming
 * defer).  All cases get the monitor socket as an inherited descriptor, as
 * ferryd gives it; the path form is checked apart.  FERRY_TEST_REGENERATE=1
 * rewrites the .args files (see tests/conf/golden.h).
 *
 * The other direction too: each case's argv read back
 * (ferry_qemu_def_from_argv()) is its definition but the description, and
 * builds the same argv again.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "conf/domain-conf.h"
#include "qemu/qemu-command.h"
#include "../conf/golden.h"

#define MONITOR "/var/lib/ferry/qemu/run/monitor.sock"

static char *
argv_text(const char *xml_path, const ferry_qemu_command_opts *opts)
{
    g_autofree char *xml = golden_read(xml_path);
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain_def) def =
        ferry_domain_def_parse_string(xml, xml_path, FERRY_DOMAIN_DEF_PARSE_NO_UUID, &error);
    g_auto(GStrv) argv = NULL;
    g_autofree char *joined = NULL;

    g_assert_no_error(error);
    g_assert_nonnull(def->uuid);    /* a case names its uuid: stable output */
    argv = ferry_qemu_build_argv(def, opts);
    joined = g_strjoinv("\n", argv);
    return g_strconcat(joined, "\n", NULL);
}

/* How every case is built: as ferryd builds it, a destination for the
 * "incoming-" cases. */
static ferry_qemu_command_opts
case_opts(const char *name)
{
    ferry_qemu_command_opts opts = {
        .qemu_binary = "qemu-system-x86_64",
        .monitor_path = MONITOR,
        .monitor_fd = 3,
        .pid_path = "/var/lib/ferry/qemu/run/domain.pid",
        .incoming_defer = g_str_has_prefix(name, "incoming-"),
    };

    return opts;
}

static void
run_case(gconstpointer data)
{
    const char *name = data;
    g_autofree char *dir = golden_data_dir("qemu-argv");
    g_autofree char *xml = g_strconcat(dir, "/", name, ".xml", NULL);
    g_autofree char *args = g_strconcat(dir, "/", name, ".args", NULL);
    ferry_qemu_command_opts opts = case_opts(name);
    g_autofree char *text = argv_text(xml, &opts);

    golden_check(args, text);
}

static void
run_back_case(gconstpointer data)
{
    const char *name = data;
    g_autofree char *dir = golden_data_dir("qemu-argv");
    g_autofree char *path = g_strconcat(dir, "/", name, ".xml", NULL);
    g_autofree char *xml = golden_read(path);
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain_def) def =
        ferry_domain_def_parse_string(xml, path, FERRY_DOMAIN_DEF_PARSE_NO_UUID, &error);
    ferry_qemu_command_opts opts = case_opts(name);
    g_auto(GStrv) argv = NULL;
    g_auto(GStrv) again = NULL;
    g_autoptr(ferry_domain_def) back = NULL;
    g_autofree char *want = NULL;
    g_autofree char *got = NULL;

    g_assert_no_error(error);
    argv = ferry_qemu_build_argv(def, &opts);
    back = ferry_qemu_def_from_argv((const char *const *)argv, &error);
    g_assert_no_error(error);
    g_clear_pointer(&def->description, g_free);
    want = ferry_domain_def_format(def);
    got = ferry_domain_def_format(back);
    g_assert_cmpstr(got, ==, want);
    again = ferry_qemu_build_argv(back, &opts);
    g_assert_true(g_strv_equal((const char *const *)again, (const char *const *)argv));
}

/* What is not a command line of ferry's is refused, saying what lacks. */
static void
test_back_refused(void)
{
    static const char *const no_uuid[] = { "qemu", "-name", "guest=a", "-machine", "pc",
                                           "-m", "1024k", "-smp", "1", NULL };
    static const char *const bad_name[] = { "qemu", "-name", "guest=-a", "-uuid",
                                            "4f9a2c1e-0b7d-4c3a-9e51-8d2f6a7b3c10",
                                            "-machine", "pc", "-m", "1024k", "-smp", "1",
                                            NULL };
    g_autoptr(GError) error = NULL;

    g_assert_null(ferry_qemu_def_from_argv(no_uuid, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL);
    g_assert_cmpstr(error->message, ==, "the command line lacks -uuid");
    g_clear_error(&error);
    g_assert_null(ferry_qemu_def_from_argv(bad_name, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL);
    g_assert_true(g_str_has_prefix(error->message,
                                   "the command line does not make a valid definition: "));
}

/* Without an inherited descriptor QEMU binds the path itself; with one, the
 * path is not on the command line (QEMU must not bind it a second time). */
static void
test_monitor_forms(void)
{
    g_autofree char *dir = golden_data_dir("qemu-argv");
    g_autofree char *xml = g_strconcat(dir, "/full.xml", NULL);
    ferry_qemu_command_opts opts = { .qemu_binary = "qemu-system-x86_64",
                                     .monitor_path = MONITOR };
    g_autofree char *by_path = argv_text(xml, &opts);
    g_autofree char *by_fd = NULL;

    g_assert_nonnull(strstr(by_path, "socket,id=monitor,path=" MONITOR ",server=on,wait=off\n"));
    opts.monitor_fd = 7;
    by_fd = argv_text(xml, &opts);
    g_assert_nonnull(strstr(by_fd, "socket,id=monitor,fd=7,server=on,wait=off\n"));
    g_assert_null(strstr(by_fd, MONITOR));
}

int
main(int argc, char **argv)
{
    g_autofree char *dir = NULL;
    g_auto(GStrv) cases = NULL;

    g_test_init(&argc, &argv, NULL);
    dir = golden_data_dir("qemu-argv");
    cases = golden_list_cases(dir, ".xml", NULL);
    g_assert_cmpuint(g_strv_length(cases), >, 0);
    for (guint i = 0; cases[i]; i++) {
        g_autofree char *path = g_strdup_printf("/qemu/argv/%s", cases[i]);

        g_autofree char *back = g_strdup_printf("/qemu/argv-back/%s", cases[i]);

        g_test_add_data_func(path, cases[i], run_case);
        g_test_add_data_func(back, cases[i], run_back_case);
    }
    g_test_add_func("/qemu/argv-back/refused", test_back_refused);
    g_test_add_func("/qemu/argv/monitor-forms", test_monitor_forms);
    return g_test_run();
}
