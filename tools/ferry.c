/*
 * ferry.c: the command-line client: its entry point, the command table,
 * and the commands that manage domains on one host.
 *
 * Owns: argument parsing, the general commands, and printing their results
 * for people (aligned text) and for programs (--json).  The migration
 * commands are in cmd-migrate.c.  Must not: reach past the public API in
 * <ferry/ferry.h>; everything it does, an application can do.
 *
 * Exit status: 0 on success, 1 when the operation failed, 2 on a usage
 * error.  A failure prints exactly one line on stderr: "ferry: error: ...".
 */
#include "ferry-config.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Options of individual commands (reset per invocation). */
static gboolean opt_all, opt_inactive, opt_paused, opt_json, opt_security_info;
static char *opt_domain;
static int opt_count, opt_timeout;
static gboolean opt_jobs;

static const GOptionEntry list_options[] = {
    { "all", 'a', 0, G_OPTION_ARG_NONE, &opt_all, "List inactive domains too", NULL },
    { "inactive", 0, 0, G_OPTION_ARG_NONE, &opt_inactive, "List only inactive domains", NULL },
    { NULL }
};

static const GOptionEntry start_options[] = {
    { "paused", 0, 0, G_OPTION_ARG_NONE, &opt_paused, "Leave the CPUs stopped", NULL },
    { NULL }
};

static const GOptionEntry dumpxml_options[] = {
    { "inactive", 0, 0, G_OPTION_ARG_NONE, &opt_inactive,
      "Show the persistent definition, not the live one", NULL },
    { "security-info", 0, 0, G_OPTION_ARG_NONE, &opt_security_info,
      "Include secrets (graphics passwords)", NULL },
    { NULL }
};

static const GOptionEntry event_options[] = {
    { "domain", 0, 0, G_OPTION_ARG_STRING, &opt_domain, "Only events of this domain", "NAME" },
    { "count", 0, 0, G_OPTION_ARG_INT, &opt_count, "Exit after this many events", "N" },
    { "timeout", 0, 0, G_OPTION_ARG_INT, &opt_timeout,
      "Exit with an error after this many seconds", "SECONDS" },
    { "jobs", 0, 0, G_OPTION_ARG_NONE, &opt_jobs,
      "Also the events of migration jobs: each pre-copy pass, the end", NULL },
    { NULL }
};

static const GOptionEntry json_option[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &opt_json, "Print one JSON document", NULL },
    { NULL }
};

/* ------------------------------------------------------------------ */
/* Helpers (cli.h) */

gboolean
cli_ensure_conn(cli *c, GError **error)
{
    if (!c->conn)
        c->conn = ferry_conn_open(c->uri, error);
    return c->conn != NULL;
}

ferry_domain *
cli_find_domain(cli *c, const char *key, GError **error)
{
    g_autoptr(GError) local = NULL;
    ferry_domain *dom;

    if (!cli_ensure_conn(c, error))
        return NULL;
    dom = ferry_domain_lookup_by_name(c->conn, key, &local);
    if (!dom && g_uuid_string_is_valid(key) &&
        g_error_matches(local, FERRY_ERROR, FERRY_ERROR_NO_DOMAIN)) {
        g_clear_error(&local);
        dom = ferry_domain_lookup_by_uuid(c->conn, key, &local);
    }
    if (!dom)
        g_propagate_error(error, g_steal_pointer(&local));
    return dom;
}

gboolean
cli_parse_number(const char *name, const char *value, guint64 min, guint64 max,
                 const char *what, guint64 *ret_value, GError **error)
{
    guint64 n;

    /* g_ascii_string_to_unsigned() refuses signs, blanks and trailing text
     * itself: "-1" is not read as a huge number. */
    if (!g_ascii_string_to_unsigned(value, 10, min, max, &n, NULL)) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "%s: '%s' is not a whole number of %s from %" G_GUINT64_FORMAT " to %"
                    G_GUINT64_FORMAT, name, value, what, min, max);
        return FALSE;
    }
    *ret_value = n;
    return TRUE;
}

void
cli_print_json(json_object *obj)
{
    printf("%s\n", json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE));
}

json_object *
cli_json_ms(gint64 ms)
{
    return ms > 0 ? json_object_new_int64(ms) : NULL;
}

json_object *
cli_json_count(guint64 n)
{
    return json_object_new_int64((gint64)MIN(n, (guint64)G_MAXINT64));
}

/* ------------------------------------------------------------------ */
/* Commands */

static gboolean
cmd_list(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(GPtrArray) doms = NULL;
    g_autoptr(GPtrArray) states = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(json_object) arr = json_object_new_array();
    guint flags = FERRY_LIST_ACTIVE;
    gsize width = 4;

    if (opt_all)
        flags |= FERRY_LIST_INACTIVE;
    if (opt_inactive)
        flags = FERRY_LIST_INACTIVE;
    if (!cli_ensure_conn(c, error) || !ferry_conn_list_domains(c->conn, flags, &doms, error))
        return FALSE;
    for (guint i = 0; i < doms->len; i++) {
        ferry_domain *dom = doms->pdata[i];
        int st, reason;

        /* A domain may vanish between the listing and this call. */
        if (!ferry_domain_get_state(dom, &st, &reason, NULL))
            st = FERRY_DOMAIN_NOSTATE;
        g_ptr_array_add(states, g_strdup(ferry_domain_state_to_string(st)));
        width = MAX(width, strlen(ferry_domain_get_name(dom)));
        if (c->json) {
            json_object *o = json_object_new_object();

            json_object_object_add(o, "name", json_object_new_string(ferry_domain_get_name(dom)));
            json_object_object_add(o, "uuid", json_object_new_string(ferry_domain_get_uuid(dom)));
            json_object_object_add(o, "state",
                                   json_object_new_string(ferry_domain_state_to_string(st)));
            json_object_object_add(o, "reason",
                                   json_object_new_string(
                                       ferry_domain_state_reason_to_string(st, reason)));
            json_object_array_add(arr, o);
        }
    }
    if (c->json) {
        cli_print_json(arr);
        return TRUE;
    }
    printf("%-*s  %s\n", (int)width, "Name", "State");
    for (guint i = 0; i < doms->len; i++)
        printf("%-*s  %s\n", (int)width, ferry_domain_get_name(doms->pdata[i]),
               (char *)states->pdata[i]);
    return TRUE;
}

static gboolean
cmd_define(cli *c, const command *cmd, char **args, GError **error)
{
    g_autofree char *xml = NULL;
    g_autoptr(GError) local = NULL;
    g_autoptr(ferry_domain) dom = NULL;

    if (!g_file_get_contents(args[0], &xml, NULL, &local)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG, "%s", local->message);
        return FALSE;
    }
    if (!cli_ensure_conn(c, error) || !(dom = ferry_domain_define_xml(c->conn, xml, error)))
        return FALSE;
    printf("Domain '%s' defined from %s\n", ferry_domain_get_name(dom), args[0]);
    for (const char *const *w = ferry_domain_get_warnings(dom); *w; w++)
        g_printerr("warning: domain '%s': %s\n", ferry_domain_get_name(dom), *w);
    return TRUE;
}

static gboolean
cmd_undefine(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(ferry_domain) dom = cli_find_domain(c, args[0], error);

    if (!dom || !ferry_domain_undefine(dom, 0, error))
        return FALSE;
    printf("Domain '%s' has been undefined\n", ferry_domain_get_name(dom));
    return TRUE;
}

static gboolean
cmd_start(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(ferry_domain) dom = cli_find_domain(c, args[0], error);

    if (!dom || !ferry_domain_start(dom, opt_paused ? FERRY_START_PAUSED : 0, error))
        return FALSE;
    printf("Domain '%s' started%s\n", ferry_domain_get_name(dom), opt_paused ? " (paused)" : "");
    return TRUE;
}

static gboolean
cmd_destroy(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(ferry_domain) dom = cli_find_domain(c, args[0], error);

    if (!dom || !ferry_domain_destroy(dom, error))
        return FALSE;
    printf("Domain '%s' destroyed\n", ferry_domain_get_name(dom));
    return TRUE;
}

static gboolean
cmd_suspend(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(ferry_domain) dom = cli_find_domain(c, args[0], error);

    if (!dom || !ferry_domain_suspend(dom, error))
        return FALSE;
    printf("Domain '%s' suspended\n", ferry_domain_get_name(dom));
    return TRUE;
}

static gboolean
cmd_resume(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(ferry_domain) dom = cli_find_domain(c, args[0], error);

    if (!dom || !ferry_domain_resume(dom, error))
        return FALSE;
    printf("Domain '%s' resumed\n", ferry_domain_get_name(dom));
    return TRUE;
}

static gboolean
cmd_dominfo(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(ferry_domain) dom = cli_find_domain(c, args[0], error);
    ferry_domain_info info;
    const char *state, *reason;

    if (!dom || !ferry_domain_get_info(dom, &info, error))
        return FALSE;
    state = ferry_domain_state_to_string(info.state);
    reason = ferry_domain_state_reason_to_string(info.state, info.reason);
    if (c->json) {
        g_autoptr(json_object) o = json_object_new_object();

        json_object_object_add(o, "name", json_object_new_string(ferry_domain_get_name(dom)));
        json_object_object_add(o, "uuid", json_object_new_string(ferry_domain_get_uuid(dom)));
        json_object_object_add(o, "state", json_object_new_string(state));
        json_object_object_add(o, "reason", json_object_new_string(reason));
        json_object_object_add(o, "persistent", json_object_new_boolean(info.persistent));
        json_object_object_add(o, "memory_kib", json_object_new_int64((gint64)info.memory_kib));
        json_object_object_add(o, "vcpus", json_object_new_int((int)info.vcpus));
        json_object_object_add(o, "cpu_time_ns", json_object_new_int64((gint64)info.cpu_time_ns));
        json_object_object_add(o, "pid", json_object_new_int64(info.pid));
        cli_print_json(o);
        return TRUE;
    }
    printf("%-12s %s\n", "Name:", ferry_domain_get_name(dom));
    printf("%-12s %s\n", "UUID:", ferry_domain_get_uuid(dom));
    printf("%-12s %s (%s)\n", "State:", state, reason);
    printf("%-12s %s\n", "Persistent:", info.persistent ? "yes" : "no");
    printf("%-12s %" G_GUINT64_FORMAT " KiB\n", "Memory:", (guint64)info.memory_kib);
    printf("%-12s %u\n", "vCPUs:", (guint)info.vcpus);
    printf("%-12s %.2f s\n", "CPU time:", info.cpu_time_ns / 1e9);
    if (info.pid > 0)
        printf("%-12s %" G_GINT64_FORMAT "\n", "PID:", (gint64)info.pid);
    return TRUE;
}

static gboolean
cmd_dumpxml(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(ferry_domain) dom = cli_find_domain(c, args[0], error);
    g_autofree char *xml = NULL;

    guint flags = (opt_inactive ? FERRY_XML_INACTIVE : 0) |
                  (opt_security_info ? FERRY_XML_SECURE : 0);

    if (!dom || !(xml = ferry_domain_get_xml(dom, flags, error)))
        return FALSE;
    fputs(xml, stdout);
    return TRUE;
}

static gboolean
cmd_capabilities(cli *c, const command *cmd, char **args, GError **error)
{
    g_autofree char *xml = NULL;

    if (!cli_ensure_conn(c, error) || !(xml = ferry_conn_get_capabilities(c->conn, error)))
        return FALSE;
    fputs(xml, stdout);
    return TRUE;
}

typedef struct {
    GMainLoop *loop;
    cli *c;
    int seen;
    gboolean timed_out;
} event_wait;

static void
on_event(ferry_conn *conn, const ferry_event *ev, gpointer data)
{
    event_wait *w = data;
    const char *name = ferry_domain_get_name(ev->domain);
    const char *what;

    if (ev->type == FERRY_EVENT_LIFECYCLE)
        what = ferry_lifecycle_event_to_string(ev->lifecycle);
    else if (ev->type == FERRY_EVENT_MIGRATION_BEGIN)
        what = "migration-begin";
    else if (ev->type == FERRY_EVENT_JOB_PROGRESS && opt_jobs && ev->job)
        what = "job-progress";
    else if (ev->type == FERRY_EVENT_JOB_ENDED && opt_jobs && ev->job)
        what = "job-ended";
    else
        return;
    if (opt_domain && strcmp(opt_domain, name) != 0)
        return;
    if (w->c->json) {
        g_autoptr(json_object) o = json_object_new_object();

        json_object_object_add(o, "domain", json_object_new_string(name));
        json_object_object_add(o, "event", json_object_new_string(what));
        json_object_object_add(o, "state",
                               json_object_new_string(ferry_domain_state_to_string(ev->state)));
        json_object_object_add(o, "reason", json_object_new_string(
                                   ferry_domain_state_reason_to_string(ev->state, ev->reason)));
        json_object_object_add(o, "timestamp_us", json_object_new_int64(ev->timestamp_us));
        if (ev->type == FERRY_EVENT_JOB_PROGRESS || ev->type == FERRY_EVENT_JOB_ENDED)
            json_object_object_add(o, "job", cli_job_to_json(ev->job));
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    } else if (ev->type == FERRY_EVENT_JOB_PROGRESS || ev->type == FERRY_EVENT_JOB_ENDED) {
        printf("event '%s' for domain '%s': %s job %s, phase %s, pass %" G_GUINT64_FORMAT "\n",
               what, name, ev->job->role, ev->job->state,
               *ev->job->phase ? ev->job->phase : "-", ev->job->passes);
    } else {
        printf("event '%s' for domain '%s': %s (%s)\n", what, name,
               ferry_domain_state_to_string(ev->state),
               ferry_domain_state_reason_to_string(ev->state, ev->reason));
    }
    fflush(stdout);
    if (opt_count > 0 && ++w->seen >= opt_count)
        g_main_loop_quit(w->loop);
}

static gboolean
on_event_timeout(gpointer data)
{
    event_wait *w = data;

    w->timed_out = TRUE;
    g_main_loop_quit(w->loop);
    return G_SOURCE_REMOVE;
}

static gboolean
cmd_event(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    event_wait w = { loop, c, 0, FALSE };
    guint id;

    if (!cli_ensure_conn(c, error))
        return FALSE;
    id = ferry_conn_subscribe_events(c->conn, on_event, &w, NULL, error);
    if (!id)
        return FALSE;
    /* Said once the subscription is in place: scripts may act after it. */
    fprintf(stderr, "ferry: waiting for events\n");
    if (opt_timeout > 0)
        g_timeout_add_seconds(opt_timeout, on_event_timeout, &w);
    g_main_loop_run(loop);
    ferry_conn_unsubscribe_events(c->conn, id, NULL);
    if (w.timed_out && opt_count > 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_TIMEOUT,
                    "%d event%s seen in %d s, expected %d", w.seen, w.seen == 1 ? "" : "s",
                    opt_timeout, opt_count);
        return FALSE;
    }
    return TRUE;
}

static const command commands[] = {
    { "list", "", 0, "List domains (running ones unless --all/--inactive)", cmd_list, TRUE,
      list_options, NULL },
    { "define", "FILE", 1, "Define a domain from an XML file", cmd_define, FALSE, NULL, NULL },
    { "undefine", "DOMAIN", 1, "Remove a domain's definition", cmd_undefine, FALSE, NULL,
      NULL },
    { "start", "DOMAIN", 1, "Start a defined domain", cmd_start, FALSE, start_options, NULL },
    { "destroy", "DOMAIN", 1, "Stop a domain at once (power off)", cmd_destroy, FALSE, NULL,
      NULL },
    { "suspend", "DOMAIN", 1, "Pause a running domain's CPUs", cmd_suspend, FALSE, NULL, NULL },
    { "resume", "DOMAIN", 1, "Resume a paused domain", cmd_resume, FALSE, NULL, NULL },
    { "dominfo", "DOMAIN", 1, "Show a domain's state and resources", cmd_dominfo, TRUE, NULL,
      NULL },
    { "dumpxml", "DOMAIN", 1, "Print a domain's XML", cmd_dumpxml, FALSE, dumpxml_options,
      NULL },
    { "capabilities", "", 0, "Print the host's capabilities XML", cmd_capabilities, FALSE,
      NULL, NULL },
    { "event", "", 0, "Print lifecycle events as they happen", cmd_event, TRUE,
      event_options, NULL },
};

/* ------------------------------------------------------------------ */
/* main */

static void
print_commands(FILE *out)
{
    fprintf(out, "Usage: ferry [-c URI] COMMAND [OPTIONS] [ARGS]\n\nCommands:\n");
    for (gsize i = 0; i < G_N_ELEMENTS(commands); i++)
        fprintf(out, "  %-24s %s\n", commands[i].name, commands[i].summary);
    for (gsize i = 0; i < cli_migrate_n_commands; i++)
        fprintf(out, "  %-24s %s\n", cli_migrate_commands[i].name,
                cli_migrate_commands[i].summary);
    for (gsize i = 0; i < cli_snapshot_n_commands; i++)
        fprintf(out, "  %-24s %s\n", cli_snapshot_commands[i].name,
                cli_snapshot_commands[i].summary);
    fprintf(out, "\nRun 'ferry COMMAND --help' for a command's options.\n"
                 "URI defaults to $FERRY_DEFAULT_URI, else qemu:///system.\n");
}

static int
fail(const char *message, int status)
{
    fprintf(stderr, "ferry: error: %s\n", message);
    return status;
}

static int
run_command(cli *c, const command *cmd, int argc, char **argv)
{
    g_autofree char *prgname = g_strdup_printf("ferry %s", cmd->name);
    g_autoptr(GOptionContext) ctx = g_option_context_new(cmd->args);
    g_autoptr(GError) error = NULL;

    /* "Usage: ferry start [OPTION…] DOMAIN" in --help. */
    g_set_prgname(prgname);
    g_option_context_set_summary(ctx, cmd->summary);
    g_option_context_set_help_enabled(ctx, TRUE);
    if (cmd->options)
        g_option_context_add_main_entries(ctx, cmd->options, NULL);
    if (cmd->has_json)
        g_option_context_add_main_entries(ctx, json_option, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &error) ||
        (cmd->check_usage && !cmd->check_usage(&error)))
        return fail(error->message, EXIT_USAGE);
    /* argv[0] is the command name. */
    if ((guint)(argc - 1) != cmd->n_args) {
        g_autofree char *msg = g_strdup_printf("'%s' takes %u argument%s (%s), got %d; see "
                                               "'ferry %s --help'", cmd->name, cmd->n_args,
                                               cmd->n_args == 1 ? "" : "s",
                                               *cmd->args ? cmd->args : "none", argc - 1,
                                               cmd->name);
        return fail(msg, EXIT_USAGE);
    }
    c->json = opt_json;
    if (!cmd->run(c, cmd, argv + 1, &error)) {
        /* A bad positional argument is a usage error too (command_fn). */
        return fail(error->message,
                    error->domain == G_OPTION_ERROR ? EXIT_USAGE : EXIT_FAILURE);
    }
    return EXIT_SUCCESS;
}

/* The command called @name in either table, or NULL. */
static const command *
find_command(const char *name)
{
    for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    }
    for (gsize i = 0; i < cli_migrate_n_commands; i++) {
        if (strcmp(cli_migrate_commands[i].name, name) == 0)
            return &cli_migrate_commands[i];
    }
    for (gsize i = 0; i < cli_snapshot_n_commands; i++) {
        if (strcmp(cli_snapshot_commands[i].name, name) == 0)
            return &cli_snapshot_commands[i];
    }
    return NULL;
}

/* What the library tells a person as it goes (a migration tried again,
 * say) is one plain line, "ferry: ...", over the progress line if any;
 * debug output and warnings keep GLib's form. */
static GLogWriterOutput
log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
    if ((level & G_LOG_LEVEL_MASK) == G_LOG_LEVEL_MESSAGE) {
        for (gsize i = 0; i < n_fields; i++) {
            if (!strcmp(fields[i].key, "MESSAGE")) {
                fprintf(stderr, "%sferry: %s\n", isatty(STDERR_FILENO) ? "\r\033[K" : "",
                        (const char *)fields[i].value);
                return G_LOG_WRITER_HANDLED;
            }
        }
    }
    return g_log_writer_default(level, fields, n_fields, data);
}

int
main(int argc, char **argv)
{
    cli c = { .uri = g_getenv("FERRY_DEFAULT_URI") };
    const command *cmd;
    int i = 1;
    int status;

    setlocale(LC_ALL, "");
    g_log_set_writer_func(log_writer, NULL, NULL);
    /* Global options come before the command; parsed by hand so that the
     * command's own options are left for its option context. */
    for (; i < argc && argv[i][0] == '-'; i++) {
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--connect")) && i + 1 < argc) {
            c.uri = argv[++i];
        } else if (g_str_has_prefix(argv[i], "--connect=")) {
            c.uri = argv[i] + strlen("--connect=");
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            print_commands(stdout);
            return EXIT_SUCCESS;
        } else if (!strcmp(argv[i], "--version")) {
            printf("ferry %s\n", ferry_version_string());
            return EXIT_SUCCESS;
        } else {
            g_autofree char *msg = g_strdup_printf("unknown option '%s'; see 'ferry --help'",
                                                   argv[i]);
            return fail(msg, EXIT_USAGE);
        }
    }
    if (i >= argc) {
        print_commands(stderr);
        return EXIT_USAGE;
    }
    cmd = find_command(argv[i]);
    if (!cmd) {
        g_autofree char *msg = g_strdup_printf("unknown command '%s'; see 'ferry --help'",
                                               argv[i]);
        return fail(msg, EXIT_USAGE);
    }
    status = run_command(&c, cmd, argc - i, argv + i);
    if (c.conn)
        ferry_conn_unref(c.conn);
    return status;
}
