/*
 * ferry.c: the command-line client.
 *
 * Owns: argument parsing, the command table, and printing results for people
 * (aligned text) and for programs (--json).  Must not: reach past the public
 * API in <ferry/ferry.h>; everything it does, an application can do.
 *
 * Exit status: 0 on success, 1 when the operation failed, 2 on a usage
 * error.  A failure prints exactly one line on stderr: "ferry: error: ...".
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <json-c/json.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "progress.h"
#include "util/json-util.h"

#define EXIT_USAGE 2

typedef struct {
    ferry_conn *conn;
    const char *uri;
    gboolean json;
} cli;

typedef struct command command;
typedef gboolean (*command_fn)(cli *c, const command *cmd, char **args, GError **error);

struct command {
    const char *name;
    const char *args;          /* positional arguments, for usage */
    guint n_args;              /* exactly this many */
    const char *summary;
    command_fn run;
    gboolean has_json;         /* accepts --json */
    const GOptionEntry *options;
    gboolean (*check_usage)(GError **error); /* after parsing: options that
                                              * exclude or need each other */
};

/* Options of individual commands (reset per invocation). */
static gboolean opt_all, opt_inactive, opt_paused, opt_json;
static char *opt_domain;
static int opt_count, opt_timeout;

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
    { NULL }
};

static const GOptionEntry event_options[] = {
    { "domain", 0, 0, G_OPTION_ARG_STRING, &opt_domain, "Only events of this domain", "NAME" },
    { "count", 0, 0, G_OPTION_ARG_INT, &opt_count, "Exit after this many events", "N" },
    { "timeout", 0, 0, G_OPTION_ARG_INT, &opt_timeout,
      "Exit with an error after this many seconds", "SECONDS" },
    { NULL }
};

/* ferry migrate: the option callbacks catch usage errors while parsing,
 * so that they exit with EXIT_USAGE like any other bad option. */
static gboolean opt_live, opt_offline, opt_p2p, opt_persistent, opt_undefine_source;
static gboolean opt_copy_all, opt_copy_inc;
static char *opt_dname, *opt_migrate_uri, *opt_xml_text;
static char **opt_migrate_disks;
static guint64 opt_bandwidth, opt_disks_port;

#define BANDWIDTH_MAX_MIB (1024 * 1024)

/* Pairs of flag options that exclude each other (on_exclusive). */
static const struct {
    const char *names[2];
    gboolean *flags[2];
    const char *why;
} exclusive_pairs[] = {
    { { "--live", "--offline" }, { &opt_live, &opt_offline },
      "a live migration moves a running domain, an offline one only the definition of a "
      "stopped one" },
    { { "--copy-storage-all", "--copy-storage-inc" }, { &opt_copy_all, &opt_copy_inc },
      "copy whole disks, or only their top images" },
};

static gboolean
on_exclusive(const char *name, const char *value, gpointer data, GError **error)
{
    for (gsize i = 0; i < G_N_ELEMENTS(exclusive_pairs); i++) {
        for (int k = 0; k < 2; k++) {
            if (strcmp(name, exclusive_pairs[i].names[k]) != 0)
                continue;
            if (*exclusive_pairs[i].flags[1 - k]) {
                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "%s and %s exclude each other: %s", exclusive_pairs[i].names[0],
                            exclusive_pairs[i].names[1], exclusive_pairs[i].why);
                return FALSE;
            }
            *exclusive_pairs[i].flags[k] = TRUE;
            return TRUE;
        }
    }
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "%s: no such option", name);
    return FALSE;
}

static gboolean
on_bandwidth(const char *name, const char *value, gpointer data, GError **error)
{
    if (!g_ascii_string_to_unsigned(value, 10, 1, BANDWIDTH_MAX_MIB, &opt_bandwidth, NULL)) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--bandwidth: '%s' is not a whole number of MiB/s from 1 to %u", value,
                    BANDWIDTH_MAX_MIB);
        return FALSE;
    }
    return TRUE;
}

/* "vda,vdb": the library checks the names; an empty one is a typo here. */
static gboolean
on_migrate_disks(const char *name, const char *value, gpointer data, GError **error)
{
    g_auto(GStrv) disks = g_strsplit(value, ",", -1);
    gboolean ok = disks[0] != NULL;

    for (gsize i = 0; ok && disks[i]; i++)
        ok = *g_strstrip(disks[i]) != '\0';
    if (!ok) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--migrate-disks: '%s' is not a comma-separated list of disk targets "
                    "such as vda,vdb", value);
        return FALSE;
    }
    g_strfreev(opt_migrate_disks);
    opt_migrate_disks = g_steal_pointer(&disks);
    return TRUE;
}

static gboolean
on_disks_port(const char *name, const char *value, gpointer data, GError **error)
{
    if (!g_ascii_string_to_unsigned(value, 10, 1, G_MAXUINT16, &opt_disks_port, NULL)) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--disks-port: '%s' is not a TCP port from 1 to 65535", value);
        return FALSE;
    }
    return TRUE;
}

/* What a single option callback cannot see: options that need another. */
static gboolean
check_migrate_usage(GError **error)
{
    const char *needs_copy = opt_migrate_disks ? "--migrate-disks"
                             : opt_disks_port ? "--disks-port" : NULL;

    if (needs_copy && !opt_copy_all && !opt_copy_inc) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "%s is for storage migration: it needs --copy-storage-all or "
                    "--copy-storage-inc", needs_copy);
        return FALSE;
    }
    if (opt_offline && (opt_copy_all || opt_copy_inc)) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--offline moves only the definition: it copies no disks "
                    "(--copy-storage-all, --copy-storage-inc)");
        return FALSE;
    }
    return TRUE;
}

static gboolean
on_xml(const char *name, const char *value, gpointer data, GError **error)
{
    g_autoptr(GError) local = NULL;

    g_clear_pointer(&opt_xml_text, g_free);
    if (!g_file_get_contents(value, &opt_xml_text, NULL, &local)) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--xml: cannot read the destination XML: %s", local->message);
        return FALSE;
    }
    return TRUE;
}

static const GOptionEntry migrate_options[] = {
    { "live", 0, G_OPTION_FLAG_NO_ARG, G_OPTION_ARG_CALLBACK, on_exclusive,
      "Keep the guest running while its memory is copied (the default when it runs)", NULL },
    { "offline", 0, G_OPTION_FLAG_NO_ARG, G_OPTION_ARG_CALLBACK, on_exclusive,
      "Move only the definition of a domain that is not running", NULL },
    { "p2p", 0, 0, G_OPTION_ARG_NONE, &opt_p2p,
      "Peer-to-peer: the source daemon runs the migration itself and connects to "
      "DEST_URI (as the source host reaches it); this client may go away", NULL },
    { "paused", 0, 0, G_OPTION_ARG_NONE, &opt_paused, "Leave it paused on the destination",
      NULL },
    { "persistent", 0, 0, G_OPTION_ARG_NONE, &opt_persistent,
      "Define it persistently on the destination", NULL },
    { "undefinesource", 0, 0, G_OPTION_ARG_NONE, &opt_undefine_source,
      "Remove its definition from the source once it has moved", NULL },
    { "dname", 0, 0, G_OPTION_ARG_STRING, &opt_dname, "Its new name on the destination",
      "NAME" },
    { "xml", 0, 0, G_OPTION_ARG_CALLBACK, on_xml,
      "Domain XML to use on the destination (same guest, e.g. other paths)", "FILE" },
    { "migrateuri", 0, 0, G_OPTION_ARG_STRING, &opt_migrate_uri,
      "Where the migration data goes: host, host:port, tcp://host[:port]/ (default: "
      "the destination chooses)", "URI" },
    { "bandwidth", 0, 0, G_OPTION_ARG_CALLBACK, on_bandwidth,
      "Limit the transfer to this many MiB/s", "MiB/s" },
    { "copy-storage-all", 0, G_OPTION_FLAG_NO_ARG, G_OPTION_ARG_CALLBACK, on_exclusive,
      "Copy the disks to the destination over NBD (both hosts must offer it): whole "
      "disks", NULL },
    { "copy-storage-inc", 0, G_OPTION_FLAG_NO_ARG, G_OPTION_ARG_CALLBACK, on_exclusive,
      "Like --copy-storage-all, but only the top image of each disk (the destination "
      "has the backing images)", NULL },
    { "migrate-disks", 0, 0, G_OPTION_ARG_CALLBACK, on_migrate_disks,
      "Copy only these disks (default: every disk that is not read-only)", "vda,vdb" },
    { "disks-port", 0, 0, G_OPTION_ARG_CALLBACK, on_disks_port,
      "The destination's NBD port for the disks (default: it chooses)", "PORT" },
    { NULL }
};

static const GOptionEntry json_option[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &opt_json, "Print one JSON document", NULL },
    { NULL }
};

/* ------------------------------------------------------------------ */
/* Helpers */

static gboolean
ensure_conn(cli *c, GError **error)
{
    if (!c->conn)
        c->conn = ferry_conn_open(c->uri, error);
    return c->conn != NULL;
}

/* Finds a domain by name, or by uuid when @key looks like one. */
static ferry_domain *
find_domain(cli *c, const char *key, GError **error)
{
    g_autoptr(GError) local = NULL;
    ferry_domain *dom;

    if (!ensure_conn(c, error))
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

static void
print_json(json_object *obj)
{
    printf("%s\n", json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE));
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
    if (!ensure_conn(c, error) || !ferry_conn_list_domains(c->conn, flags, &doms, error))
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
        print_json(arr);
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
    if (!ensure_conn(c, error) || !(dom = ferry_domain_define_xml(c->conn, xml, error)))
        return FALSE;
    printf("Domain '%s' defined from %s\n", ferry_domain_get_name(dom), args[0]);
    return TRUE;
}

static gboolean
cmd_undefine(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(ferry_domain) dom = find_domain(c, args[0], error);

    if (!dom || !ferry_domain_undefine(dom, 0, error))
        return FALSE;
    printf("Domain '%s' has been undefined\n", ferry_domain_get_name(dom));
    return TRUE;
}

static gboolean
cmd_start(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(ferry_domain) dom = find_domain(c, args[0], error);

    if (!dom || !ferry_domain_start(dom, opt_paused ? FERRY_START_PAUSED : 0, error))
        return FALSE;
    printf("Domain '%s' started%s\n", ferry_domain_get_name(dom), opt_paused ? " (paused)" : "");
    return TRUE;
}

static gboolean
cmd_destroy(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(ferry_domain) dom = find_domain(c, args[0], error);

    if (!dom || !ferry_domain_destroy(dom, error))
        return FALSE;
    printf("Domain '%s' destroyed\n", ferry_domain_get_name(dom));
    return TRUE;
}

static gboolean
cmd_suspend(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(ferry_domain) dom = find_domain(c, args[0], error);

    if (!dom || !ferry_domain_suspend(dom, error))
        return FALSE;
    printf("Domain '%s' suspended\n", ferry_domain_get_name(dom));
    return TRUE;
}

static gboolean
cmd_resume(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(ferry_domain) dom = find_domain(c, args[0], error);

    if (!dom || !ferry_domain_resume(dom, error))
        return FALSE;
    printf("Domain '%s' resumed\n", ferry_domain_get_name(dom));
    return TRUE;
}

static gboolean
cmd_dominfo(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(ferry_domain) dom = find_domain(c, args[0], error);
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
        print_json(o);
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
    g_autoptr(ferry_domain) dom = find_domain(c, args[0], error);
    g_autofree char *xml = NULL;

    if (!dom || !(xml = ferry_domain_get_xml(dom, opt_inactive ? FERRY_XML_INACTIVE : 0, error)))
        return FALSE;
    fputs(xml, stdout);
    return TRUE;
}

static gboolean
cmd_capabilities(cli *c, const command *cmd, char **args, GError **error)
{
    g_autofree char *xml = NULL;

    if (!ensure_conn(c, error) || !(xml = ferry_conn_get_capabilities(c->conn, error)))
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
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
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

    if (!ensure_conn(c, error))
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

static const char *
job_type_to_string(int type)
{
    switch (type) {
    case FERRY_JOB_INFO_NONE: return "none";
    case FERRY_JOB_INFO_ACTIVE: return "active";
    case FERRY_JOB_INFO_COMPLETED: return "completed";
    case FERRY_JOB_INFO_FAILED: return "failed";
    }
    return "unknown";
}

/* A duration for JSON: null when unknown (0), never a fake zero. */
static json_object *
json_ms(gint64 ms)
{
    return ms > 0 ? json_object_new_int64(ms) : NULL;
}

static json_object *
json_bytes(guint64 n)
{
    return json_object_new_int64((gint64)MIN(n, (guint64)G_MAXINT64));
}

static gboolean
cmd_domjobinfo(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(ferry_domain) dom = find_domain(c, args[0], error);
    g_autofree char *phase = NULL;
    ferry_job_info info = { 0 };

    if (!dom || !ferry_domain_get_job_info(dom, &info, error))
        return FALSE;
    phase = g_strndup(info.phase, sizeof(info.phase));
    if (c->json) {
        g_autoptr(json_object) o = json_object_new_object();

        json_object_object_add(o, "type", json_object_new_string(job_type_to_string(info.type)));
        json_object_object_add(o, "phase", json_object_new_string(phase));
        json_object_object_add(o, "elapsed_ms", json_object_new_int64(info.elapsed_ms));
        json_object_object_add(o, "mem_total", json_bytes(info.mem_total));
        json_object_object_add(o, "mem_processed", json_bytes(info.mem_processed));
        json_object_object_add(o, "mem_remaining", json_bytes(info.mem_remaining));
        json_object_object_add(o, "disk_total", json_bytes(info.disk_total));
        json_object_object_add(o, "disk_processed", json_bytes(info.disk_processed));
        json_object_object_add(o, "disk_remaining", json_bytes(info.disk_remaining));
        json_object_object_add(o, "rate_bps", json_bytes(info.rate_bps));
        json_object_object_add(o, "downtime_ms", json_ms(info.downtime_ms));
        json_object_object_add(o, "total_ms", json_ms(info.total_ms));
        print_json(o);
        return TRUE;
    }
    printf("%-16s %s\n", "Job type:", job_type_to_string(info.type));
    if (info.type == FERRY_JOB_INFO_NONE)
        return TRUE;
    {
        g_autofree char *elapsed = cli_format_ms(info.elapsed_ms);
        g_autofree char *mem_total = cli_format_mib(info.mem_total);
        g_autofree char *mem_processed = cli_format_mib(info.mem_processed);
        g_autofree char *mem_remaining = cli_format_mib(info.mem_remaining);
        g_autofree char *rate = cli_format_mib(info.rate_bps);

        printf("%-16s %s\n", "Phase:", *phase ? phase : "-");
        printf("%-16s %s\n", "Time elapsed:", elapsed);
        printf("%-16s %s\n", "Memory total:", mem_total);
        printf("%-16s %s\n", "Memory sent:", mem_processed);
        printf("%-16s %s\n", "Memory left:", mem_remaining);
        printf("%-16s %s/s\n", "Rate:", rate);
    }
    if (info.disk_total) {
        g_autofree char *disk_total = cli_format_mib(info.disk_total);
        g_autofree char *disk_processed = cli_format_mib(info.disk_processed);

        printf("%-16s %s of %s\n", "Disk copied:", disk_processed, disk_total);
    }
    if (info.type == FERRY_JOB_INFO_COMPLETED) {
        g_autofree char *downtime = cli_format_ms(info.downtime_ms);
        g_autofree char *total = cli_format_ms(info.total_ms);

        printf("%-16s %s\n", "Downtime:", downtime);
        printf("%-16s %s\n", "QEMU total time:", total);
    }
    return TRUE;
}

static guint
migrate_flags(void)
{
    guint flags = 0;

    if (opt_live)
        flags |= FERRY_MIGRATE_LIVE;
    if (opt_offline)
        flags |= FERRY_MIGRATE_OFFLINE;
    if (opt_p2p)
        flags |= FERRY_MIGRATE_PEER2PEER;
    if (opt_paused)
        flags |= FERRY_MIGRATE_PAUSED;
    if (opt_persistent)
        flags |= FERRY_MIGRATE_PERSIST_DEST;
    if (opt_undefine_source)
        flags |= FERRY_MIGRATE_UNDEFINE_SOURCE;
    if (opt_copy_all)
        flags |= FERRY_MIGRATE_NON_SHARED_DISK;
    if (opt_copy_inc)
        flags |= FERRY_MIGRATE_NON_SHARED_INC;
    return flags;
}

/* The destination as people name it: its hostname when we hold a
 * connection to it, else the host part of the URI, else the URI. */
static char *
destination_name(ferry_conn *dconn, const char *uri)
{
    g_autoptr(GUri) parsed = NULL;
    char *name;

    if (dconn && (name = ferry_conn_get_hostname(dconn, NULL)))
        return name;
    parsed = g_uri_parse(uri, G_URI_FLAGS_NONE, NULL);
    if (parsed && g_uri_get_host(parsed) && *g_uri_get_host(parsed))
        return g_strdup(g_uri_get_host(parsed));
    return g_strdup(uri);
}

/* QEMU's transfer is part of the whole; the rest is ferry's phases. */
static gint64
control_plane_ms(const ferry_migrate_stats *st)
{
    return st->total_ms > 0 && st->wall_ms >= st->total_ms ? st->wall_ms - st->total_ms : 0;
}

static void
print_migrate_json(const char *name, const char *dest, const ferry_migrate_stats *st)
{
    g_autoptr(json_object) o = json_object_new_object();

    json_object_object_add(o, "domain", json_object_new_string(name));
    json_object_object_add(o, "destination", json_object_new_string(dest));
    json_object_object_add(o, "protocol", json_object_new_int(st->protocol));
    json_object_object_add(o, "wall_ms", json_object_new_int64(st->wall_ms));
    json_object_object_add(o, "total_ms", json_ms(st->total_ms));
    json_object_object_add(o, "downtime_ms", json_ms(st->downtime_ms));
    json_object_object_add(o, "setup_ms", json_ms(st->setup_ms));
    json_object_object_add(o, "data_total", json_bytes(st->data_total));
    json_object_object_add(o, "data_transferred", json_bytes(st->data_transferred));
    json_object_object_add(o, "disk_total", json_bytes(st->disk_total));
    json_object_object_add(o, "disk_transferred", json_bytes(st->disk_transferred));
    json_object_object_add(o, "control_plane_ms", st->total_ms > 0
                           ? json_object_new_int64(control_plane_ms(st)) : NULL);
    print_json(o);
}

static void
print_migrate_text(const char *name, const char *dest, const ferry_migrate_stats *st)
{
    g_autoptr(GString) head = g_string_new(NULL);
    g_autofree char *wall = cli_format_ms(st->wall_ms);
    g_autofree char *qemu = cli_format_ms(st->total_ms);
    g_autofree char *control = cli_format_ms(control_plane_ms(st));
    g_autofree char *downtime = cli_format_ms(st->downtime_ms);
    g_autofree char *sent = cli_format_mib(st->data_transferred);
    g_autofree char *ram = cli_format_mib(st->data_total);

    g_string_printf(head, "Migration of '%s' to %s", name, dest);
    if (opt_dname)
        g_string_append_printf(head, " as '%s'", opt_dname);
    if (st->protocol > 0)
        g_string_append_printf(head, ": done (protocol v%d", st->protocol);
    else
        g_string_append(head, ": done (protocol unknown");
    if (opt_offline)
        g_string_append(head, ", offline");
    if (opt_paused)
        g_string_append(head, ", left paused");
    printf("%s)\n", head->str);
    if (opt_offline) {
        /* Only the definition moved: no transfer to speak of. */
        printf("  %-12s %s\n", "total time", wall);
        return;
    }
    if (st->total_ms > 0)
        printf("  %-12s %s   (QEMU %s, control plane %s)\n", "total time", wall, qemu, control);
    else
        printf("  %-12s %s\n", "total time", wall);
    printf("  %-12s %s\n", "downtime", downtime);
    printf("  %-12s %s of %s RAM\n", "data sent", sent, ram);
    if (st->disk_total) {
        g_autofree char *disk = cli_format_mib(st->disk_transferred);
        g_autofree char *disk_total = cli_format_mib(st->disk_total);

        printf("  %-12s %s of %s\n", "disk copied", disk, disk_total);
    }
}

static gboolean
cmd_migrate(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(ferry_domain) dom = find_domain(c, args[0], error);
    g_autoptr(ferry_conn) dconn = NULL;
    g_autoptr(ferry_domain) ddom = NULL;
    g_autoptr(cli_progress) progress = NULL;
    g_autofree char *dest = NULL;
    ferry_migrate_params params = {
        .flags = migrate_flags(),
        .dname = opt_dname,
        .uri = opt_migrate_uri,
        .dxml = opt_xml_text,
        .bandwidth_mib = opt_bandwidth,
        .migrate_disks = (const char *const *)opt_migrate_disks,
        .disks_port = (guint)opt_disks_port,
    };
    ferry_migrate_stats stats = { 0 };
    gint64 start_us;
    gboolean ok;

    if (!dom)
        return FALSE;
    /* Without --p2p this client runs the sequence between two connections;
     * with it, DEST_URI is for the source daemon and is not opened here. */
    if (!opt_p2p && !(dconn = ferry_conn_open(args[1], error)))
        return FALSE;
    dest = destination_name(dconn, args[1]);
    if (!c->json && isatty(STDERR_FILENO))
        progress = cli_progress_start(dom, stderr);
    start_us = g_get_monotonic_time();
    if (opt_p2p) {
        ok = ferry_domain_migrate_to_uri(dom, args[1], &params, &stats, error);
    } else {
        ddom = ferry_domain_migrate(dom, dconn, &params, &stats, error);
        ok = ddom != NULL;
    }
    /* The line is erased before the error or the summary is printed. */
    g_clear_pointer(&progress, cli_progress_stop);
    if (!ok)
        return FALSE;
    if (stats.wall_ms <= 0)
        stats.wall_ms = (g_get_monotonic_time() - start_us) / 1000;
    if (c->json)
        print_migrate_json(ferry_domain_get_name(dom), dest, &stats);
    else
        print_migrate_text(ferry_domain_get_name(dom), dest, &stats);
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
    { "migrate", "DOMAIN DEST_URI", 2, "Move a domain to another host", cmd_migrate, TRUE,
      migrate_options, check_migrate_usage },
    { "domjobinfo", "DOMAIN", 1, "Show the progress of a domain's migration job",
      cmd_domjobinfo, TRUE, NULL, NULL },
};

/* ------------------------------------------------------------------ */
/* main */

static void
print_commands(FILE *out)
{
    fprintf(out, "Usage: ferry [-c URI] COMMAND [OPTIONS] [ARGS]\n\nCommands:\n");
    for (gsize i = 0; i < G_N_ELEMENTS(commands); i++)
        fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
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
    if (!cmd->run(c, cmd, argv + 1, &error))
        return fail(error->message, EXIT_FAILURE);
    return EXIT_SUCCESS;
}

int
main(int argc, char **argv)
{
    cli c = { .uri = g_getenv("FERRY_DEFAULT_URI") };
    int i = 1;
    int status;

    setlocale(LC_ALL, "");
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
    for (gsize k = 0; k < G_N_ELEMENTS(commands); k++) {
        if (strcmp(commands[k].name, argv[i]) == 0) {
            status = run_command(&c, &commands[k], argc - i, argv + i);
            if (c.conn)
                ferry_conn_unref(c.conn);
            return status;
        }
    }
    {
        g_autofree char *msg = g_strdup_printf("unknown command '%s'; see 'ferry --help'",
                                               argv[i]);
        return fail(msg, EXIT_USAGE);
    }
}
