/*
 * cmd-migrate.c: the migration commands of the ferry client: migrate, its
 * job's information (domjobinfo), abort (domjobabort) and tunables
 * (migrate-setmaxdowntime, migrate-getmaxdowntime, migrate-setspeed,
 * migrate-getspeed), with libvirt's names.
 *
 * Owns: their options, their usage errors, and printing their results and
 * the migration's summary for people and for programs (--json).  Must not:
 * reach past the public API in <ferry/ferry.h>.  While `ferry migrate`
 * blocks in the library, tools/watch.c draws the progress line and handles
 * Ctrl-C.
 */
#include "ferry-config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "progress.h"
#include "watch.h"

#define BANDWIDTH_MAX_MIB (1024 * 1024)
/* The largest downtime limit the library passes to QEMU. */
#define MAX_DOWNTIME_MS FERRY_MIGRATE_DOWNTIME_MAX

/* ------------------------------------------------------------------ */
/* ferry migrate: options */

/* The option callbacks catch usage errors while parsing, so that they exit
 * with EXIT_USAGE like any other bad option. */
static gboolean opt_live, opt_offline, opt_p2p, opt_paused, opt_persistent;
static gboolean opt_undefine_source, opt_copy_all, opt_copy_inc, opt_relay, opt_no_relay;
static gboolean opt_tls, opt_no_tls;
static gboolean opt_postcopy, opt_postcopy_after_precopy, opt_parallel, opt_compressed;
static gboolean opt_auto_converge, opt_policy_off, opt_no_postcopy, opt_postcopy_resume;
static gboolean opt_force;
static gboolean opt_tunnelled;
static gboolean opt_estimate;
static guint64 opt_postcopy_bandwidth, opt_parallel_connections;
static guint64 opt_auto_converge_initial, opt_auto_converge_increment;
static guint opt_comp_methods;
static char *opt_dname, *opt_migrate_uri, *opt_xml_text, *opt_timeout_action;
static char **opt_migrate_disks;
static guint64 opt_bandwidth, opt_disks_port, opt_timeout, opt_max_downtime;
static guint64 opt_max_downtime_cap;
static guint64 opt_retry_timeout;
static gboolean opt_retry_timeout_set;
static int opt_timeout_action_value = FERRY_MIGRATE_TIMEOUT_ABORT;

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
    { { "--relay", "--no-relay" }, { &opt_relay, &opt_no_relay },
      "the streams go through the daemons' relays, or never do" },
    { { "--tls", "--no-tls" }, { &opt_tls, &opt_no_tls },
      "the migration data is encrypted, or is not" },
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
    return cli_parse_number("--bandwidth", value, 1, BANDWIDTH_MAX_MIB, "MiB/s",
                            &opt_bandwidth, error);
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

static gboolean
on_timeout(const char *name, const char *value, gpointer data, GError **error)
{
    return cli_parse_number("--timeout", value, 1, FERRY_MIGRATE_TIMEOUT_MAX, "seconds",
                            &opt_timeout, error);
}

static gboolean
on_timeout_action(const char *name, const char *value, gpointer data, GError **error)
{
    if (strcmp(value, "abort") == 0) {
        opt_timeout_action_value = FERRY_MIGRATE_TIMEOUT_ABORT;
    } else if (strcmp(value, "suspend") == 0) {
        opt_timeout_action_value = FERRY_MIGRATE_TIMEOUT_SUSPEND;
    } else {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--timeout-action: '%s' is neither 'abort' nor 'suspend'", value);
        return FALSE;
    }
    /* Kept for check_migrate_usage(): "abort" alone is an error too. */
    g_free(opt_timeout_action);
    opt_timeout_action = g_strdup(value);
    return TRUE;
}

static gboolean
on_max_downtime(const char *name, const char *value, gpointer data, GError **error)
{
    return cli_parse_number("--max-downtime", value, 1, MAX_DOWNTIME_MS, "milliseconds",
                            &opt_max_downtime, error);
}

static gboolean
on_max_downtime_cap(const char *name, const char *value, gpointer data, GError **error)
{
    return cli_parse_number("--max-downtime-cap", value, 1, MAX_DOWNTIME_MS, "milliseconds",
                            &opt_max_downtime_cap, error);
}

static gboolean
on_retry_timeout(const char *name, const char *value, gpointer data, GError **error)
{
    opt_retry_timeout_set = TRUE;
    return cli_parse_number("--retry-timeout", value, 0, FERRY_MIGRATE_RETRY_MAX, "seconds",
                            &opt_retry_timeout, error);
}

static gboolean check_convergence_usage(GError **error);
static guint migrate_flags(void);

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
    if (opt_timeout_action && !opt_timeout) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--timeout-action needs --timeout: it says what happens when the "
                    "migration runs longer than that");
        return FALSE;
    }
    return check_convergence_usage(error);
}

static gboolean
on_postcopy_bandwidth(const char *name, const char *value, gpointer data, GError **error)
{
    return cli_parse_number("--postcopy-bandwidth", value, 1, BANDWIDTH_MAX_MIB, "MiB/s",
                            &opt_postcopy_bandwidth, error);
}

static gboolean
on_policy(const char *name, const char *value, gpointer data, GError **error)
{
    if (strcmp(value, "on") == 0 || strcmp(value, "off") == 0) {
        opt_policy_off = strcmp(value, "off") == 0;
        return TRUE;
    }
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "--policy: '%s' is neither 'on' nor 'off'", value);
    return FALSE;
}

static gboolean
on_parallel_connections(const char *name, const char *value, gpointer data, GError **error)
{
    return cli_parse_number("--parallel-connections", value, 1, FERRY_MIGRATE_PARALLEL_MAX,
                            "connections", &opt_parallel_connections, error);
}

static gboolean
on_auto_converge_initial(const char *name, const char *value, gpointer data, GError **error)
{
    return cli_parse_number("--auto-converge-initial", value, 1, 99, "percent",
                            &opt_auto_converge_initial, error);
}

static gboolean
on_auto_converge_increment(const char *name, const char *value, gpointer data, GError **error)
{
    return cli_parse_number("--auto-converge-increment", value, 1, 99, "percent",
                            &opt_auto_converge_increment, error);
}

/* "xbzrle,zstd" */
static gboolean
on_comp_methods(const char *name, const char *value, gpointer data, GError **error)
{
    g_auto(GStrv) methods = g_strsplit(value, ",", -1);

    opt_comp_methods = 0;
    for (gsize i = 0; methods[i]; i++) {
        const char *m = g_strstrip(methods[i]);

        if (strcmp(m, "xbzrle") == 0) {
            opt_comp_methods |= FERRY_MIGRATE_COMP_XBZRLE;
        } else if (strcmp(m, "zstd") == 0) {
            opt_comp_methods |= FERRY_MIGRATE_COMP_ZSTD;
        } else {
            g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        "--comp-methods: '%s' is not a compression method (xbzrle, zstd)", m);
            return FALSE;
        }
    }
    if (!opt_comp_methods) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--comp-methods: '%s' names no method (xbzrle, zstd)", value);
        return FALSE;
    }
    return TRUE;
}

/* Options that only mean something with another. */
static gboolean
check_convergence_usage(GError **error)
{
    static const struct {
        const char *option, *needs;
        gboolean *given_flag;
        guint64 *given_number;
        gboolean *needed;
    } rules[] = {
        { "--postcopy-after-precopy", "--postcopy", &opt_postcopy_after_precopy, NULL,
          &opt_postcopy },
        { "--postcopy-bandwidth", "--postcopy", NULL, &opt_postcopy_bandwidth, &opt_postcopy },
        { "--parallel-connections", "--parallel", NULL, &opt_parallel_connections,
          &opt_parallel },
        { "--auto-converge-initial", "--auto-converge", NULL, &opt_auto_converge_initial,
          &opt_auto_converge },
        { "--auto-converge-increment", "--auto-converge", NULL, &opt_auto_converge_increment,
          &opt_auto_converge },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(rules); i++) {
        gboolean given = rules[i].given_flag ? *rules[i].given_flag : *rules[i].given_number != 0;

        if (given && !*rules[i].needed) {
            g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "%s needs %s",
                        rules[i].option, rules[i].needs);
            return FALSE;
        }
    }
    if (opt_max_downtime_cap && opt_max_downtime > opt_max_downtime_cap) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--max-downtime %" G_GUINT64_FORMAT " is above --max-downtime-cap %"
                    G_GUINT64_FORMAT ": QEMU would plan for a pause the cap forbids",
                    opt_max_downtime, opt_max_downtime_cap);
        return FALSE;
    }
    if (opt_max_downtime_cap && opt_offline) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--max-downtime-cap is for a live migration: --offline pauses nothing");
        return FALSE;
    }
    if (opt_comp_methods && !opt_compressed) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--comp-methods needs --compressed");
        return FALSE;
    }
    if ((opt_comp_methods & FERRY_MIGRATE_COMP_ZSTD) && !opt_parallel) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--comp-methods zstd needs --parallel: QEMU compresses each parallel "
                    "connection");
        return FALSE;
    }
    if (opt_postcopy_resume &&
        ((migrate_flags() & ~(guint)FERRY_MIGRATE_LIVE) || opt_dname || opt_migrate_uri ||
         opt_xml_text || opt_bandwidth || opt_migrate_disks || opt_timeout ||
         opt_max_downtime || opt_max_downtime_cap)) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--postcopy-resume takes no other migration option: the migration runs "
                    "already, with its own");
        return FALSE;
    }
    if (opt_estimate && opt_postcopy_resume) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--estimate and --postcopy-resume exclude each other");
        return FALSE;
    }
    if (opt_estimate && opt_offline) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--estimate is for a running guest, not --offline: nothing but a "
                    "definition moves");
        return FALSE;
    }
    if (opt_postcopy && opt_no_postcopy) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--postcopy and --no-postcopy contradict each other");
        return FALSE;
    }
    if (opt_postcopy && opt_offline) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--postcopy is for a running guest, not --offline");
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
    { "relay", 0, G_OPTION_FLAG_NO_ARG, G_OPTION_ARG_CALLBACK, on_exclusive,
      "Carry the streams through the two daemons, which connect again when the link "
      "breaks and go on where the stream stopped (the default with --copy-storage-*)",
      NULL },
    { "no-relay", 0, G_OPTION_FLAG_NO_ARG, G_OPTION_ARG_CALLBACK, on_exclusive,
      "QEMU connects to QEMU; a broken connection fails the attempt and the migration "
      "is tried again from the start (the default without --copy-storage-*)", NULL },
    { "tls", 0, G_OPTION_FLAG_NO_ARG, G_OPTION_ARG_CALLBACK, on_exclusive,
      "QEMU encrypts the migration data (memory and disks) with TLS, using the daemons' "
      "certificates (the default when the destination is qemu+tls://)", NULL },
    { "no-tls", 0, G_OPTION_FLAG_NO_ARG, G_OPTION_ARG_CALLBACK, on_exclusive,
      "Do not encrypt the migration data, even to a qemu+tls:// destination", NULL },
    { "migrate-disks", 0, 0, G_OPTION_ARG_CALLBACK, on_migrate_disks,
      "Copy only these disks (default: every disk that is not read-only)", "vda,vdb" },
    { "disks-port", 0, 0, G_OPTION_ARG_CALLBACK, on_disks_port,
      "The destination's NBD port for the disks (default: it chooses)", "PORT" },
    { "timeout", 0, 0, G_OPTION_ARG_CALLBACK, on_timeout,
      "Give the transfer at most this long (1-86400), then apply --timeout-action",
      "SECONDS" },
    { "timeout-action", 0, 0, G_OPTION_ARG_CALLBACK, on_timeout_action,
      "When --timeout expires: abort (the guest keeps running on the source; the "
      "default) or suspend (pause the guest so that the last pass completes)",
      "abort|suspend" },
    { "max-downtime", 0, 0, G_OPTION_ARG_CALLBACK, on_max_downtime,
      "The longest pause of the guest QEMU may plan for at the switch-over (1-2000000; "
      "default 300)", "MS" },
    { "max-downtime-cap", 0, 0, G_OPTION_ARG_CALLBACK, on_max_downtime_cap,
      "Never pause the guest longer than this at the switch-over: when QEMU is about to "
      "switch over and what is left would take longer over the measured link, the guest "
      "runs on and the migration is tried again with a tighter limit (1-2000000)", "MS" },
    { "retry-timeout", 0, 0, G_OPTION_ARG_CALLBACK, on_retry_timeout,
      "If the migration's connection breaks while the guest still runs on the source, "
      "try again with back-off for at most this long from the start (0-86400; 0: never; "
      "default 300)", "SECONDS" },
    { "postcopy", 0, 0, G_OPTION_ARG_NONE, &opt_postcopy,
      "Allow post-copy: after 'ferry migrate-postcopy DOMAIN' (or --postcopy-after-precopy) "
      "the destination runs the guest and pulls the pages it still lacks; the migration "
      "then always completes", NULL },
    { "estimate", 0, 0, G_OPTION_ARG_NONE, &opt_estimate,
      "Do not migrate: measure the guest's dirty rate and the link to DEST_URI (the "
      "destination daemon as the source's reaches it), and print the predicted total time, "
      "downtime and strategy for a migration with the other options given", NULL },
    { "postcopy-resume", 0, 0, G_OPTION_ARG_NONE, &opt_postcopy_resume,
      "Resume DOMAIN's paused post-copy now (its stream broke; the source's daemon also "
      "tries by itself), to the destination's daemon at DEST_URI", NULL },
    { "force", 0, 0, G_OPTION_ARG_NONE, &opt_force,
      "Migrate although a safety rule refuses it: a disk on storage only this host sees that "
      "is not copied, cache mode 'unsafe', a running block job (never with host devices); "
      "the source's log says what was overridden", NULL },
    { "tunnelled", 0, 0, G_OPTION_ARG_NONE, &opt_tunnelled,
      "With --p2p: carry the migration stream over the two daemons' own connection (no "
      "port of the destination's QEMU is opened; encrypted when DEST_URI is qemu+tls://); "
      "not with --copy-storage-*, --relay, --parallel or --tls", NULL },
    { "no-postcopy", 0, 0, G_OPTION_ARG_NONE, &opt_no_postcopy,
      "Never post-copy, not even by the convergence policy (which otherwise may choose it)",
      NULL },
    { "postcopy-after-precopy", 0, 0, G_OPTION_ARG_NONE, &opt_postcopy_after_precopy,
      "Switch to post-copy by itself once the first pass over memory is done", NULL },
    { "postcopy-bandwidth", 0, 0, G_OPTION_ARG_CALLBACK, on_postcopy_bandwidth,
      "Limit post-copy to this many MiB/s (default: unlimited)", "MiB/s" },
    { "parallel", 0, 0, G_OPTION_ARG_NONE, &opt_parallel,
      "Send memory over several connections at once (QEMU's multifd)", NULL },
    { "parallel-connections", 0, 0, G_OPTION_ARG_CALLBACK, on_parallel_connections,
      "How many (1-255; default 2)", "N" },
    { "compressed", 0, 0, G_OPTION_ARG_NONE, &opt_compressed,
      "Compress the memory sent (--comp-methods; default xbzrle)", NULL },
    { "comp-methods", 0, 0, G_OPTION_ARG_CALLBACK, on_comp_methods,
      "xbzrle: send only what changed in pages sent before; zstd: compress every page "
      "(needs --parallel)", "xbzrle,zstd" },
    { "auto-converge", 0, 0, G_OPTION_ARG_NONE, &opt_auto_converge,
      "Slow the guest's CPUs down while its memory changes faster than it is sent", NULL },
    { "auto-converge-initial", 0, 0, G_OPTION_ARG_CALLBACK, on_auto_converge_initial,
      "The first throttle, in percent of CPU time (1-99; default 20)", "PERCENT" },
    { "auto-converge-increment", 0, 0, G_OPTION_ARG_CALLBACK, on_auto_converge_increment,
      "How much each later step adds (1-99; default 10)", "PERCENT" },
    { "policy", 0, 0, G_OPTION_ARG_CALLBACK, on_policy,
      "The convergence policy (default on): when pre-copy cannot converge, raise the "
      "downtime limit (up to 1 s unless --max-downtime or --max-downtime-cap is given), then "
      "switch to post-copy (with --postcopy, or by default when the destination can and "
      "--parallel is not given), else slow the guest down", "on|off" },
    { NULL }
};

static gboolean opt_completed;

static const GOptionEntry domjobinfo_options[] = {
    { "completed", 0, 0, G_OPTION_ARG_NONE, &opt_completed,
      "The last job that ended on this host, with its final statistics, instead of the "
      "current one", NULL },
    { NULL }
};

/* ------------------------------------------------------------------ */
/* Numbers for people */

static char *
format_rate(guint64 bps)
{
    g_autofree char *mib = cli_format_mib(bps);

    return g_strconcat(mib, "/s", NULL);
}

/* One "Label:  value" line of domjobinfo. */
static void
print_field(const char *label, const char *value)
{
    g_autofree char *with_colon = g_strconcat(label, ":", NULL);

    printf("%-25s %s\n", with_colon, value);
}

static void
print_ms_field(const char *label, gint64 ms)
{
    g_autofree char *value = cli_format_ms(ms);

    print_field(label, value);
}

static void
print_mib_field(const char *label, guint64 bytes)
{
    g_autofree char *value = cli_format_mib(bytes);

    print_field(label, value);
}

static void
print_rate_field(const char *label, guint64 bps)
{
    g_autofree char *value = format_rate(bps);

    print_field(label, value);
}

/* ------------------------------------------------------------------ */
/* domjobinfo */

static gboolean
job_ended(const ferry_job_info *info)
{
    return info->type == FERRY_JOB_INFO_COMPLETED || info->type == FERRY_JOB_INFO_FAILED ||
           info->type == FERRY_JOB_INFO_CANCELLED;
}

/* ------------------------------------------------------------------ */
/* migrate --estimate */

static const char *
strategy_text(const char *strategy)
{
    static const struct {
        const char *name, *text;
    } texts[] = {
        { "precopy", "pre-copy" },
        { "downtime", "pre-copy, the downtime limit raised" },
        { "postcopy", "post-copy after pre-copy" },
        { "throttle", "pre-copy, the guest slowed down" },
        { "none", "none: pre-copy never converges" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(texts); i++) {
        if (strcmp(texts[i].name, strategy) == 0)
            return texts[i].text;
    }
    return strategy;
}

/* What Ctrl-C says during an estimate, made before the call: a signal
 * handler may only write() it. */
static char *estimate_interrupted_msg;
static size_t estimate_interrupted_len;

static void
on_estimate_sigint(int sig)
{
    ssize_t n G_GNUC_UNUSED;

    n = write(STDERR_FILENO, estimate_interrupted_msg, estimate_interrupted_len);
    /* _exit(): the main thread is inside the library.  The source's daemon
     * sees the connection close and stops measuring; nothing had moved. */
    _exit(EXIT_INTERRUPTED);
}

/* Until estimate_sigint_restore(), Ctrl-C says that nothing moved and
 * exits with status 130; the estimate is read-only, so there is nothing to
 * abort (unlike a migration, see tools/watch.c). */
static void
estimate_sigint_catch(const char *name, const char *source)
{
    struct sigaction sa = { .sa_handler = on_estimate_sigint };

    estimate_interrupted_msg =
        g_strdup_printf("ferry: estimate for '%s' interrupted by Ctrl-C: nothing moved, it "
                        "keeps running on %s\n", name, source);
    estimate_interrupted_len = strlen(estimate_interrupted_msg);
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

static void
estimate_sigint_restore(void)
{
    struct sigaction dfl = { .sa_handler = SIG_DFL };

    sigemptyset(&dfl.sa_mask);
    sigaction(SIGINT, &dfl, NULL);
    g_clear_pointer(&estimate_interrupted_msg, g_free);
}

static void
print_estimate(cli *c, const char *name, const ferry_migrate_estimate *e)
{
    if (c->json) {
        g_autoptr(json_object) o = json_object_new_object();

        json_object_object_add(o, "domain", json_object_new_string(name));
        json_object_object_add(o, "mem_total", cli_json_count(e->mem_total));
        json_object_object_add(o, "mem_data", cli_json_count(e->mem_data));
        json_object_object_add(o, "mem_data_source",
                               json_object_new_string(e->mem_data_source));
        json_object_object_add(o, "dirty_rate_bps", cli_json_count(e->dirty_rate_bps));
        json_object_object_add(o, "dirty_set", cli_json_count(e->dirty_set));
        json_object_object_add(o, "link_bps", cli_json_count(e->link_bps));
        json_object_object_add(o, "rate_bps", cli_json_count(e->rate_bps));
        json_object_object_add(o, "passes", cli_json_count(e->passes));
        json_object_object_add(o, "total_ms", e->total_ms ? cli_json_ms((gint64)e->total_ms)
                                                          : NULL);
        json_object_object_add(o, "downtime_ms", e->total_ms
                                                 ? cli_json_ms((gint64)e->downtime_ms) : NULL);
        json_object_object_add(o, "strategy", json_object_new_string(e->strategy));
        json_object_object_add(o, "reason", json_object_new_string(e->reason));
        cli_print_json(o);
        return;
    }
    printf("Estimate of the migration of '%s' (nothing moved):\n", name);
    print_mib_field("Memory", e->mem_total);
    {
        g_autofree char *data = cli_format_mib(e->mem_data);
        const char *source = strcmp(e->mem_data_source, "nonzero") == 0
                             ? "its pages that are not zero"
                             : strcmp(e->mem_data_source, "resident") == 0
                             ? "the RAM its QEMU holds"
                             : strcmp(e->mem_data_source, "last-migration") == 0
                             ? "its last migration's non-zero pages" : "all of its RAM";
        g_autofree char *text = g_strdup_printf("%s (%s)", data, source);

        print_field("Data of the first pass", text);
    }
    print_rate_field("Dirty rate", e->dirty_rate_bps);
    if (e->dirty_set)
        print_mib_field("Dirty working set", e->dirty_set);
    else
        print_field("Dirty working set", "not bounded in 2 s");
    print_rate_field("Link measured", e->link_bps);
    print_rate_field("Transfer rate", e->rate_bps);
    print_field("Strategy", strategy_text(e->strategy));
    if (e->total_ms) {
        g_autofree char *passes = g_strdup_printf("%" G_GUINT64_FORMAT, e->passes);

        print_field("Pre-copy passes", passes);
        print_ms_field("Total time", (gint64)e->total_ms);
        print_ms_field("Downtime", (gint64)e->downtime_ms);
    } else {
        print_field("Total time", "cannot be predicted");
    }
    print_field("Why", e->reason);
}

json_object *
cli_job_to_json(const ferry_job_info *info)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "type",
                           json_object_new_string(ferry_job_info_type_to_string(info->type)));
    json_object_object_add(o, "phase", json_object_new_string(info->phase));
    json_object_object_add(o, "elapsed_ms", cli_json_ms(info->elapsed_ms));
    json_object_object_add(o, "mem_total", cli_json_count(info->mem_total));
    json_object_object_add(o, "mem_processed", cli_json_count(info->mem_processed));
    json_object_object_add(o, "mem_remaining", cli_json_count(info->mem_remaining));
    json_object_object_add(o, "disk_total", cli_json_count(info->disk_total));
    json_object_object_add(o, "disk_processed", cli_json_count(info->disk_processed));
    json_object_object_add(o, "disk_remaining", cli_json_count(info->disk_remaining));
    json_object_object_add(o, "rate_bps", cli_json_count(info->rate_bps));
    json_object_object_add(o, "downtime_ms", cli_json_ms(info->downtime_ms));
    json_object_object_add(o, "total_ms", cli_json_ms(info->total_ms));
    json_object_object_add(o, "state", json_object_new_string(info->state));
    json_object_object_add(o, "role", json_object_new_string(info->role));
    json_object_object_add(o, "id", json_object_new_string(info->id));
    json_object_object_add(o, "dirty_rate_bps", cli_json_count(info->dirty_rate_bps));
    json_object_object_add(o, "passes", cli_json_count(info->passes));
    json_object_object_add(o, "bandwidth_bps", cli_json_count(info->bandwidth_bps));
    json_object_object_add(o, "expected_downtime_ms", cli_json_ms(info->expected_downtime_ms));
    json_object_object_add(o, "max_downtime_ms", cli_json_ms(info->max_downtime_ms));
    json_object_object_add(o, "max_downtime_cap_ms", cli_json_ms(info->max_downtime_cap_ms));
    json_object_object_add(o, "setup_ms", cli_json_ms(info->setup_ms));
    json_object_object_add(o, "guest_downtime_ms", cli_json_ms(info->guest_downtime_ms));
    json_object_object_add(o, "time_setup_ms", cli_json_ms(info->time_setup_ms));
    json_object_object_add(o, "time_disk_ms", cli_json_ms(info->time_disk_ms));
    json_object_object_add(o, "time_memory_ms", cli_json_ms(info->time_memory_ms));
    json_object_object_add(o, "time_switchover_ms", cli_json_ms(info->time_switchover_ms));
    json_object_object_add(o, "time_overhead_ms", cli_json_ms(info->time_overhead_ms));
    /* 0 is "unknown" here too, not a protocol. */
    json_object_object_add(o, "protocol",
                           info->protocol > 0 ? json_object_new_int(info->protocol) : NULL);
    json_object_object_add(o, "message", json_object_new_string(info->message));
    json_object_object_add(o, "reconnects", cli_json_count(info->reconnects));
    json_object_object_add(o, "postcopy", json_object_new_string(info->postcopy));
    json_object_object_add(o, "postcopy_requests", cli_json_count(info->postcopy_requests));
    json_object_object_add(o, "postcopy_bytes", cli_json_count(info->postcopy_bytes));
    json_object_object_add(o, "postcopy_ms", cli_json_ms(info->postcopy_ms));
    json_object_object_add(o, "throttle_percent", cli_json_count(info->throttle_percent));
    json_object_object_add(o, "multifd_bytes", cli_json_count(info->multifd_bytes));
    json_object_object_add(o, "xbzrle_bytes", cli_json_count(info->xbzrle_bytes));
    json_object_object_add(o, "xbzrle_pages", cli_json_count(info->xbzrle_pages));
    json_object_object_add(o, "xbzrle_cache_miss", cli_json_count(info->xbzrle_cache_miss));
    json_object_object_add(o, "xbzrle_overflow", cli_json_count(info->xbzrle_overflow));
    json_object_object_add(o, "normal_pages", cli_json_count(info->normal_pages));
    json_object_object_add(o, "zero_pages", cli_json_count(info->zero_pages));
    json_object_object_add(o, "policy", json_object_new_string(info->policy));
    return o;
}

static void
print_job_json(const ferry_job_info *info)
{
    g_autoptr(json_object) o = cli_job_to_json(info);

    cli_print_json(o);
}

/* The figures of an ended job; a completed one shows every time (an
 * unknown one as such), a failed or cancelled one only those it reached. */
static void
print_job_final_text(const ferry_job_info *info)
{
    gboolean completed = info->type == FERRY_JOB_INFO_COMPLETED;
    const struct {
        const char *label;
        gint64 ms;
        gboolean shown;
    } times[] = {
        { "QEMU total time", info->total_ms, TRUE },
        { "QEMU setup time", info->setup_ms, FALSE },
        { "Downtime (QEMU)", info->downtime_ms, TRUE },
        { "Downtime (guest saw it)", info->guest_downtime_ms, TRUE },
        { "Setup time", info->time_setup_ms, TRUE },
        { "Disk copy time", info->time_disk_ms, info->disk_total > 0 },
        { "Memory time", info->time_memory_ms, TRUE },
        { "Switch-over time", info->time_switchover_ms, TRUE },
        { "Overhead time", info->time_overhead_ms, TRUE },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(times); i++) {
        if (times[i].ms > 0 || (completed && times[i].shown))
            print_ms_field(times[i].label, times[i].ms);
    }
    if (info->protocol > 0) {
        g_autofree char *protocol = g_strdup_printf("v%d", info->protocol);

        print_field("Protocol", protocol);
    }
    if (info->reconnects > 0) {
        g_autofree char *n = g_strdup_printf("%" G_GUINT64_FORMAT, info->reconnects);

        print_field("Reconnects", n);
    }
}

static void
print_count_field(const char *label, guint64 n)
{
    g_autofree char *value = g_strdup_printf("%" G_GUINT64_FORMAT, n);

    print_field(label, value);
}

/* Post-copy, the throttle, the parallel connections and compression: only
 * what the migration used. */
static void
print_convergence_text(const ferry_job_info *info)
{
    if (*info->policy)
        print_field("Policy's last step", info->policy);
    if (*info->postcopy) {
        print_field("Post-copy", info->postcopy);
        if (info->postcopy_ms > 0)
            print_ms_field("Post-copy began at", info->postcopy_ms);
        print_count_field("Post-copy requests", info->postcopy_requests);
        print_mib_field("Post-copy sent", info->postcopy_bytes);
    }
    if (info->throttle_percent) {
        g_autofree char *pct = g_strdup_printf("%u %%", info->throttle_percent);

        print_field("CPU throttle", pct);
    }
    if (info->multifd_bytes)
        print_mib_field("Parallel connections sent", info->multifd_bytes);
    if (info->xbzrle_pages || info->xbzrle_cache_miss) {
        print_count_field("XBZRLE pages", info->xbzrle_pages);
        print_mib_field("XBZRLE sent", info->xbzrle_bytes);
        print_count_field("XBZRLE cache misses", info->xbzrle_cache_miss);
        print_count_field("XBZRLE overflows", info->xbzrle_overflow);
    }
}

static void
print_job_text(const ferry_job_info *info)
{
    gboolean ended = job_ended(info);

    print_field("Job type", ferry_job_info_type_to_string(info->type));
    if (info->type == FERRY_JOB_INFO_NONE)
        return;
    if (*info->id)
        print_field("Migration id", info->id);
    if (*info->role)
        print_field("Role", info->role);
    if (*info->phase)
        print_field("Phase", info->phase);
    if (*info->state)
        print_field("State", info->state);
    print_ms_field("Time elapsed", info->elapsed_ms);
    if (info->mem_total || info->mem_processed) {
        print_mib_field("Memory total", info->mem_total);
        print_mib_field("Memory sent", info->mem_processed);
        print_mib_field("Memory left", info->mem_remaining);
    }
    if (info->disk_total) {
        print_mib_field("Disk total", info->disk_total);
        print_mib_field("Disk copied", info->disk_processed);
        print_mib_field("Disk left", info->disk_remaining);
    }
    if (info->rate_bps)
        print_rate_field("Rate", info->rate_bps);
    if (info->dirty_rate_bps)
        print_rate_field("Dirty rate", info->dirty_rate_bps);
    if (info->passes) {
        g_autofree char *passes = g_strdup_printf("%" G_GUINT64_FORMAT, info->passes);

        print_field("Passes", passes);
    }
    /* 0 is "unlimited" while the job runs; of an ended job it may just be
     * unrecorded. */
    if (info->bandwidth_bps)
        print_rate_field("Bandwidth limit", info->bandwidth_bps);
    else if (!ended)
        print_field("Bandwidth limit", "unlimited");
    if (!ended && info->expected_downtime_ms > 0)
        print_ms_field("Expected downtime", info->expected_downtime_ms);
    print_convergence_text(info);
    if (info->max_downtime_ms > 0)
        print_ms_field("Max downtime", info->max_downtime_ms);
    if (info->max_downtime_cap_ms > 0)
        print_ms_field("Downtime cap", info->max_downtime_cap_ms);
    if (ended)
        print_job_final_text(info);
    if (*info->message)
        print_field("Message", info->message);
}

static gboolean
cmd_domjobinfo(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(ferry_domain) dom = cli_find_domain(c, args[0], error);
    ferry_job_info info = { 0 };

    if (!dom || !ferry_domain_get_job_stats(dom, opt_completed ? FERRY_JOB_STATS_COMPLETED : 0,
                                            &info, error))
        return FALSE;
    if (c->json)
        print_job_json(&info);
    else
        print_job_text(&info);
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* domjobabort and the tunables */

static gboolean
cmd_domjobabort(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(ferry_domain) dom = cli_find_domain(c, args[0], error);

    if (!dom || !ferry_domain_abort_job(dom, 0, error))
        return FALSE;
    printf("Job of domain '%s' aborted\n", ferry_domain_get_name(dom));
    return TRUE;
}

static gboolean
cmd_migrate_postcopy(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(ferry_domain) dom = cli_find_domain(c, args[0], error);

    if (!dom || !ferry_domain_migrate_start_postcopy(dom, 0, error))
        return FALSE;
    printf("Migration of '%s': switching to post-copy\n", ferry_domain_get_name(dom));
    return TRUE;
}

static gboolean
cmd_setmaxdowntime(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(ferry_domain) dom = NULL;
    guint64 ms;

    if (!cli_parse_number("MS", args[1], 1, MAX_DOWNTIME_MS, "milliseconds", &ms, error) ||
        !(dom = cli_find_domain(c, args[0], error)) ||
        !ferry_domain_migrate_set_max_downtime(dom, ms, 0, error))
        return FALSE;
    printf("Migration of '%s': maximum downtime set to %" G_GUINT64_FORMAT " ms\n",
           ferry_domain_get_name(dom), ms);
    return TRUE;
}

static gboolean
cmd_getmaxdowntime(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(ferry_domain) dom = cli_find_domain(c, args[0], error);
    guint64 ms = 0;

    if (!dom || !ferry_domain_migrate_get_max_downtime(dom, &ms, 0, error))
        return FALSE;
    if (c->json) {
        g_autoptr(json_object) o = json_object_new_object();

        json_object_object_add(o, "downtime_ms", cli_json_count(ms));
        cli_print_json(o);
    } else {
        printf("%" G_GUINT64_FORMAT "\n", ms);
    }
    return TRUE;
}

static gboolean
cmd_setspeed(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(ferry_domain) dom = NULL;
    guint64 mib;

    if (!cli_parse_number("MiB/s", args[1], 0, BANDWIDTH_MAX_MIB, "MiB/s", &mib,
                          error) ||
        !(dom = cli_find_domain(c, args[0], error)) ||
        !ferry_domain_migrate_set_max_speed(dom, mib, 0, error))
        return FALSE;
    if (mib)
        printf("Migration of '%s': bandwidth limited to %" G_GUINT64_FORMAT " MiB/s\n",
               ferry_domain_get_name(dom), mib);
    else
        printf("Migration of '%s': bandwidth unlimited\n", ferry_domain_get_name(dom));
    return TRUE;
}

static gboolean
cmd_getspeed(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(ferry_domain) dom = cli_find_domain(c, args[0], error);
    guint64 mib = 0;

    if (!dom || !ferry_domain_migrate_get_max_speed(dom, &mib, 0, error))
        return FALSE;
    if (c->json) {
        g_autoptr(json_object) o = json_object_new_object();

        json_object_object_add(o, "bandwidth_mib", cli_json_count(mib));
        cli_print_json(o);
    } else {
        printf("%" G_GUINT64_FORMAT "\n", mib);
    }
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* migrate */

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
    if (opt_relay)
        flags |= FERRY_MIGRATE_RELAY;
    if (opt_no_relay)
        flags |= FERRY_MIGRATE_NO_RELAY;
    if (opt_tls)
        flags |= FERRY_MIGRATE_TLS;
    if (opt_no_tls)
        flags |= FERRY_MIGRATE_NO_TLS;
    if (opt_postcopy)
        flags |= FERRY_MIGRATE_POSTCOPY;
    if (opt_postcopy_after_precopy)
        flags |= FERRY_MIGRATE_POSTCOPY_AFTER_PRECOPY;
    if (opt_parallel)
        flags |= FERRY_MIGRATE_PARALLEL;
    if (opt_compressed)
        flags |= FERRY_MIGRATE_COMPRESSED;
    if (opt_auto_converge)
        flags |= FERRY_MIGRATE_AUTO_CONVERGE;
    if (opt_policy_off)
        flags |= FERRY_MIGRATE_NO_POLICY;
    if (opt_no_postcopy)
        flags |= FERRY_MIGRATE_NO_POSTCOPY;
    if (opt_force)
        flags |= FERRY_MIGRATE_FORCE;
    if (opt_tunnelled)
        flags |= FERRY_MIGRATE_TUNNELLED;
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
print_migrate_json(const char *name, const char *dest, const ferry_migrate_stats *st,
                   const ferry_job_info *last)
{
    g_autoptr(json_object) o = json_object_new_object();

    json_object_object_add(o, "domain", json_object_new_string(name));
    json_object_object_add(o, "destination", json_object_new_string(dest));
    json_object_object_add(o, "protocol", json_object_new_int(st->protocol));
    json_object_object_add(o, "wall_ms", json_object_new_int64(st->wall_ms));
    json_object_object_add(o, "total_ms", cli_json_ms(st->total_ms));
    json_object_object_add(o, "downtime_ms", cli_json_ms(st->downtime_ms));
    json_object_object_add(o, "guest_downtime_ms", cli_json_ms(st->guest_downtime_ms));
    json_object_object_add(o, "setup_ms", cli_json_ms(st->setup_ms));
    json_object_object_add(o, "passes", st->passes ? cli_json_count(st->passes) : NULL);
    json_object_object_add(o, "time_setup_ms", cli_json_ms(st->time_setup_ms));
    json_object_object_add(o, "time_disk_ms", cli_json_ms(st->time_disk_ms));
    json_object_object_add(o, "time_memory_ms", cli_json_ms(st->time_memory_ms));
    json_object_object_add(o, "time_switchover_ms", cli_json_ms(st->time_switchover_ms));
    json_object_object_add(o, "time_overhead_ms", cli_json_ms(st->time_overhead_ms));
    json_object_object_add(o, "data_total", cli_json_count(st->data_total));
    json_object_object_add(o, "data_transferred", cli_json_count(st->data_transferred));
    json_object_object_add(o, "disk_total", cli_json_count(st->disk_total));
    json_object_object_add(o, "disk_transferred", cli_json_count(st->disk_transferred));
    json_object_object_add(o, "attempts", st->attempts ? cli_json_count(st->attempts) : NULL);
    json_object_object_add(o, "reconnects", cli_json_count(st->reconnects));
    json_object_object_add(o, "snapshots_moved", cli_json_count(st->snapshots_moved));
    json_object_object_add(o, "snapshots_left", cli_json_count(st->snapshots_left));
    json_object_object_add(o, "snapshots_note", st->snapshots_left
                           ? json_object_new_string(st->snapshots_note) : NULL);
    json_object_object_add(o, "control_plane_ms", st->total_ms > 0
                           ? json_object_new_int64(control_plane_ms(st)) : NULL);
    /* How it converged, as the last job event seen said. */
    json_object_object_add(o, "policy", json_object_new_string(last->policy));
    json_object_object_add(o, "postcopy", json_object_new_string(last->postcopy));
    json_object_object_add(o, "throttle_percent", cli_json_count(last->throttle_percent));
    cli_print_json(o);
}

/* "(setup 210 ms, memory 1.40 s, switch-over 84 ms, overhead 150 ms)": the
 * daemons' split of the whole, or NULL when they measured none of it.  The
 * disk copy is a part only when disks were copied. */
static char *
format_split(const ferry_migrate_stats *st)
{
    const struct {
        const char *name;
        gint64 ms;
        gboolean part;
    } parts[] = {
        { "setup", st->time_setup_ms, TRUE },
        { "disk copy", st->time_disk_ms, st->disk_total > 0 },
        { "memory", st->time_memory_ms, TRUE },
        { "switch-over", st->time_switchover_ms, TRUE },
        { "overhead", st->time_overhead_ms, TRUE },
    };
    g_autoptr(GString) s = g_string_new("(");
    gboolean known = FALSE;

    for (gsize i = 0; i < G_N_ELEMENTS(parts); i++) {
        g_autofree char *ms = NULL;

        if (!parts[i].part)
            continue;
        ms = cli_format_ms(parts[i].ms);
        known = known || parts[i].ms > 0;
        g_string_append_printf(s, "%s%s %s", s->len > 1 ? ", " : "", parts[i].name, ms);
    }
    if (!known)
        return NULL;
    g_string_append_c(s, ')');
    return g_string_free(g_steal_pointer(&s), FALSE);
}

/* The guest's own view first (what its users felt), QEMU's plan beside. */
static char *
format_downtime(const ferry_migrate_stats *st)
{
    g_autofree char *guest = cli_format_ms(st->guest_downtime_ms);
    g_autofree char *qemu = cli_format_ms(st->downtime_ms);

    if (st->guest_downtime_ms > 0)
        return g_strdup_printf("%s as the guest saw it (QEMU: %s)", guest, qemu);
    if (st->downtime_ms > 0)
        return g_strdup_printf("unknown (QEMU: %s)", qemu);
    return g_strdup("unknown");
}

static void
print_migrate_text(const char *name, const char *dest, const ferry_migrate_stats *st,
                   const ferry_job_info *last)
{
    g_autoptr(GString) head = g_string_new(NULL);
    g_autofree char *wall = cli_format_ms(st->wall_ms);
    g_autofree char *split = format_split(st);
    g_autofree char *downtime = format_downtime(st);
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
    if (st->attempts > 1)
        printf("  %-12s %u (its connection broke; the guest ran on the source meanwhile)\n",
               "attempts", st->attempts);
    if (st->reconnects > 0)
        printf("  %-12s %" G_GUINT64_FORMAT " (a stream broke; its relay connected again and "
               "it went on)\n", "reconnects", st->reconnects);
    if (st->snapshots_moved)
        printf("  %-12s %u moved with it (same parents, same current one)\n", "snapshots",
               st->snapshots_moved);
    if (opt_offline) {
        /* Only the definition moved: no transfer to speak of. */
        printf("  %-12s %s\n", "total time", wall);
        return;
    }
    if (split) {
        printf("  %-12s %s   %s\n", "total time", wall, split);
    } else if (st->total_ms > 0) {
        /* Daemons that do not split the time: QEMU's part and the rest. */
        g_autofree char *qemu = cli_format_ms(st->total_ms);
        g_autofree char *control = cli_format_ms(control_plane_ms(st));

        printf("  %-12s %s   (QEMU %s, control plane %s)\n", "total time", wall, qemu, control);
    } else {
        printf("  %-12s %s\n", "total time", wall);
    }
    printf("  %-12s %s\n", "downtime", downtime);
    if (*last->policy || *last->postcopy)
        printf("  %-12s %s%s%s\n", "converged", *last->postcopy ? "in post-copy" : "in pre-copy",
               *last->policy ? ", the policy's last step: " : "", last->policy);
    if (st->passes)
        printf("  %-12s %" G_GUINT64_FORMAT "\n", "passes", st->passes);
    printf("  %-12s %s of %s RAM\n", "data sent", sent, ram);
    if (st->disk_total) {
        g_autofree char *disk = cli_format_mib(st->disk_transferred);
        g_autofree char *disk_total = cli_format_mib(st->disk_total);

        printf("  %-12s %s of %s\n", "disk copied", disk, disk_total);
    }
}

/* The source host as people name it, asked before the migration: once it
 * is aborted, that is where the guest runs. */
static char *
source_name(ferry_conn *conn)
{
    char *name = ferry_conn_get_hostname(conn, NULL);

    return name ? name : g_strdup(ferry_conn_get_uri(conn));
}

static gboolean
cmd_migrate(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(ferry_domain) dom = cli_find_domain(c, args[0], error);
    g_autoptr(ferry_conn) dconn = NULL;
    g_autoptr(ferry_domain) ddom = NULL;
    g_autoptr(GError) local = NULL;
    g_autofree char *dest = NULL;
    g_autofree char *source = NULL;
    ferry_migrate_params params = {
        .flags = migrate_flags(),
        .dname = opt_dname,
        .uri = opt_migrate_uri,
        .dxml = opt_xml_text,
        .bandwidth_mib = opt_bandwidth,
        .migrate_disks = (const char *const *)opt_migrate_disks,
        .disks_port = (guint)opt_disks_port,
        .timeout_s = (guint)opt_timeout,
        .timeout_action = opt_timeout_action_value,
        .max_downtime_ms = opt_max_downtime,
        .max_downtime_cap_ms = opt_max_downtime_cap,
        .retry_s = !opt_retry_timeout_set ? 0
                   : opt_retry_timeout == 0 ? FERRY_MIGRATE_RETRY_NEVER : (int)opt_retry_timeout,
        .postcopy_bandwidth_mib = opt_postcopy_bandwidth,
        .parallel_connections = (guint)opt_parallel_connections,
        .comp_methods = opt_comp_methods,
        .auto_converge_initial = (guint)opt_auto_converge_initial,
        .auto_converge_increment = (guint)opt_auto_converge_increment,
    };
    ferry_migrate_stats stats = { 0 };
    ferry_migrate_estimate estimate;
    ferry_job_info last;
    cli_watch *watch;
    gboolean aborted_by_user;
    gint64 start_us;
    gboolean ok;

    if (!dom)
        return FALSE;
    if (opt_postcopy_resume) {
        /* Nothing else applies: the migration runs already. */
        if (!ferry_domain_migrate_postcopy_resume(dom, args[1], 0, error))
            return FALSE;
        printf("Migration of '%s': post-copy goes on\n", ferry_domain_get_name(dom));
        return TRUE;
    }
    if (opt_estimate) {
        /* The source's daemon measures and predicts; nothing moves. */
        source = source_name(c->conn);
        estimate_sigint_catch(ferry_domain_get_name(dom), source);
        ok = ferry_domain_migrate_estimate(dom, args[1], &params, &estimate, 0, error);
        estimate_sigint_restore();
        if (!ok)
            return FALSE;
        print_estimate(c, ferry_domain_get_name(dom), &estimate);
        return TRUE;
    }
    /* Without --p2p this client runs the sequence between two connections;
     * with it, DEST_URI is for the source daemon and is not opened here. */
    if (!opt_p2p && !(dconn = ferry_conn_open(args[1], error)))
        return FALSE;
    dest = destination_name(dconn, args[1]);
    source = source_name(c->conn);
    /* From here until the call returns, Ctrl-C aborts the migration; the
     * watch runs without a line too (--json, no terminal) for that. */
    watch = cli_watch_start(dom, stderr, !c->json && isatty(STDERR_FILENO));
    start_us = g_get_monotonic_time();
    if (opt_p2p) {
        ok = ferry_domain_migrate_to_uri(dom, args[1], &params, &stats, &local);
    } else {
        ddom = ferry_domain_migrate(dom, dconn, &params, &stats, &local);
        ok = ddom != NULL;
    }
    /* The line is erased before the error or the summary is printed. */
    aborted_by_user = cli_watch_stop(watch, &last);
    if (!ok) {
        if (aborted_by_user &&
            g_error_matches(local, FERRY_ERROR, FERRY_ERROR_OPERATION_ABORTED)) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_ABORTED,
                        "migration of '%s' aborted by Ctrl-C: it keeps running on %s",
                        ferry_domain_get_name(dom), source);
            return FALSE;
        }
        g_propagate_error(error, g_steal_pointer(&local));
        return FALSE;
    }
    if (stats.wall_ms <= 0)
        stats.wall_ms = (g_get_monotonic_time() - start_us) / 1000;
    if (c->json)
        print_migrate_json(ferry_domain_get_name(dom), dest, &stats, &last);
    else
        print_migrate_text(ferry_domain_get_name(dom), dest, &stats, &last);
    /* --force left snapshots behind: said on stderr whatever the output
     * format, so that it is never missed. */
    if (stats.snapshots_left)
        g_printerr("ferry: warning: %s\n", stats.snapshots_note);
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* The table */

const command cli_migrate_commands[] = {
    { "migrate", "DOMAIN DEST_URI", 2, "Move a domain to another host (Ctrl-C aborts)",
      cmd_migrate, TRUE, migrate_options, check_migrate_usage },
    { "domjobinfo", "DOMAIN", 1, "Show a domain's migration job (--completed: last one)",
      cmd_domjobinfo, TRUE, domjobinfo_options, NULL },
    { "domjobabort", "DOMAIN", 1, "Abort a domain's migration job", cmd_domjobabort, FALSE,
      NULL, NULL },
    { "migrate-postcopy", "DOMAIN", 1, "Switch a running migration to post-copy (it was "
      "started with --postcopy)", cmd_migrate_postcopy, FALSE, NULL, NULL },
    { "migrate-setmaxdowntime", "DOMAIN MS", 2, "Set a running migration's max downtime (ms)",
      cmd_setmaxdowntime, FALSE, NULL, NULL },
    { "migrate-getmaxdowntime", "DOMAIN", 1, "Print a running migration's max downtime (ms)",
      cmd_getmaxdowntime, TRUE, NULL, NULL },
    { "migrate-setspeed", "DOMAIN MiB/s", 2, "Set a running migration's bandwidth (0: no limit)",
      cmd_setspeed, FALSE, NULL, NULL },
    { "migrate-getspeed", "DOMAIN", 1, "Print a running migration's bandwidth (MiB/s)",
      cmd_getspeed, TRUE, NULL, NULL },
};

const gsize cli_migrate_n_commands = G_N_ELEMENTS(cli_migrate_commands);
