/*
 * prepare-crafted.c: test helper: a made-up peer.  Sends one Prepare3 with
 * the domain XML and the cookie of two files -- whatever a test crafted,
 * with no source host behind it -- to DEST_URI, as an attacker on the
 * network could (over qemu+tcp:// the daemon confines the call).
 *
 * Usage: prepare-crafted [--all|--inc] [--persistent] [--uri URI] [--disks-port N] [--hold]
 *                        [--finish FINISH_COOKIE_FILE] [--name NAME]
 *                        DEST_URI XML_FILE COOKIE_FILE
 *   --all, --inc: a storage migration (full copy, or incremental over the
 *     backing files the cookie names);
 *   --persistent: the domain is to be defined on the destination;
 *   --uri: the migration URI asked for (Prepare's --migrateuri);
 *   --disks-port: the NBD port asked for (--disks-port);
 *   --hold: once prepared, wait until stdin closes before giving the
 *     migration up (Finish3, cancelled), so that a test can look at what
 *     the destination listens on meanwhile;
 *   --finish: once prepared, send Finish3 (not cancelled) with this
 *     cookie instead of giving up -- a made-up Perform cookie, e.g. with a
 *     <persistent> definition;
 *   --name: the domain's name in the XML, for Finish3 (default "crafted").
 *
 * Prints "refused: MESSAGE" and exits 0 when Prepare refused; with
 * --finish, "finish refused: MESSAGE" and exits 0 when Finish3 refused.
 * Otherwise prints "prepared: URI" (then, with --hold, waits) and exits 1,
 * having given the migration up.  Exit 2: usage or connection error.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <stdio.h>

#include "api/migrate-internal.h"

static gboolean opt_all, opt_inc, opt_hold, opt_persistent;
static char *opt_uri;
static int opt_disks_port;
static char *opt_name;
static char *opt_finish;

static const GOptionEntry entries[] = {
    { "all", 0, 0, G_OPTION_ARG_NONE, &opt_all, "Storage migration, full copy", NULL },
    { "inc", 0, 0, G_OPTION_ARG_NONE, &opt_inc, "Storage migration, incremental", NULL },
    { "uri", 0, 0, G_OPTION_ARG_STRING, &opt_uri, "The migration URI to ask for", "URI" },
    { "disks-port", 0, 0, G_OPTION_ARG_INT, &opt_disks_port, "The NBD port to ask for", "N" },
    { "hold", 0, 0, G_OPTION_ARG_NONE, &opt_hold, "Wait for stdin to close once prepared",
      NULL },
    { "name", 0, 0, G_OPTION_ARG_STRING, &opt_name, "The domain's name", "NAME" },
    { "persistent", 0, 0, G_OPTION_ARG_NONE, &opt_persistent, "Define it on the destination",
      NULL },
    { "finish", 0, 0, G_OPTION_ARG_FILENAME, &opt_finish, "Finish3 with this cookie", "FILE" },
    { NULL }
};

/* Waits for the end of stdin (the test closes it). */
static void
wait_for_eof(void)
{
    char buf[64];

    while (fread(buf, 1, sizeof(buf), stdin) > 0)
        ;
}

int
main(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new("DEST_URI XML_FILE COOKIE_FILE");
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_conn) dst = NULL;
    g_autoptr(ferry_domain) dom = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *cookie = NULL;
    g_autofree char *cookie_out = NULL;
    g_autofree char *uri_out = NULL;
    g_autofree char *finish_cookie = NULL;
    g_autofree char *finish_in = NULL;
    ferry_migrate_params params = { .flags = FERRY_MIGRATE_LIVE };

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &error) || argc != 4) {
        fprintf(stderr, "usage: prepare-crafted [--all|--inc] [--persistent] [--uri URI] "
                        "[--disks-port N] [--hold] [--finish FILE] [--name NAME] DEST_URI XML_FILE "
                        "COOKIE_FILE%s%s\n", error ? ": " : "", error ? error->message : "");
        return 2;
    }
    if (!g_file_get_contents(argv[2], &xml, NULL, &error) ||
        !g_file_get_contents(argv[3], &cookie, NULL, &error) ||
        (opt_finish && !g_file_get_contents(opt_finish, &finish_in, NULL, &error)) ||
        !(dst = ferry_conn_open(argv[1], &error))) {
        fprintf(stderr, "prepare-crafted: %s\n", error->message);
        return 2;
    }
    if (opt_all)
        params.flags |= FERRY_MIGRATE_NON_SHARED_DISK;
    if (opt_inc)
        params.flags |= FERRY_MIGRATE_NON_SHARED_INC;
    if (opt_persistent)
        params.flags |= FERRY_MIGRATE_PERSIST_DEST;
    params.uri = opt_uri;
    params.disks_port = (guint)opt_disks_port;
    if (!ferry_conn_migrate_prepare3(dst, &params, xml, cookie, &cookie_out, &uri_out,
                                     &error)) {
        printf("refused: %s\n", error->message);
        return 0;
    }
    printf("prepared: %s\n", uri_out);
    fflush(stdout);
    if (opt_hold)
        wait_for_eof();
    if (finish_in) {
        dom = ferry_conn_migrate_finish3(dst, &params, opt_name ? opt_name : "crafted",
                                         finish_in, &finish_cookie, FALSE, &error);
        if (!dom) {
            printf("finish refused: %s\n", error->message);
            return 0;
        }
        printf("finished\n");
        return 1;
    }
    /* Finish, cancelled: the destination drops what Prepare made. */
    dom = ferry_conn_migrate_finish3(dst, &params, opt_name ? opt_name : "crafted", cookie_out,
                                     &finish_cookie, TRUE, &error);
    printf("given up: %s\n", error ? error->message : "(Finish answered a domain)");
    return 1;
}
