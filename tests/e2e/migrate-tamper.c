/*
 * migrate-tamper.c: test helper: a migration client that spoils the cookie
 * Begin produced before handing it to the destination's Prepare, the way a
 * buggy or hostile peer could.  Runs Begin on the source daemon, Prepare on
 * the destination daemon with the spoiled cookie, then -- as a correct
 * client must when Prepare fails -- Confirm(cancelled) on the source.
 *
 * Usage: migrate-tamper SRC_URI DST_URI DOMAIN MODE [DEST_XML_FILE]
 *   MODE malformed | mandatory: spoil the document;
 *   abandon-begin | abandon-prepare: run Begin (and Prepare) with a good
 *   cookie, then exit as if the client died: the daemons must give the
 *   migration up on their own (on the disconnect);
 *   stall-begin: run Begin, then keep the connections open without a next
 *   phase until stdin closes (migration_abandon_timeout must act);
 *   disk-zero | disk-negative | disk-huge: a storage migration (full copy,
 *   DEST_XML_FILE giving the destination's disk paths) whose cookie lists a
 *   disk of 0 bytes, -5 bytes or 1 PiB.
 * Prints Prepare's error on stdout.  Exit 0 when Prepare refused the cookie
 * and Confirm released the source; 1 otherwise.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <stdio.h>
#include <string.h>

#include "api/migrate-internal.h"

int
main(int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) prep_error = NULL;
    g_autoptr(ferry_conn) src = NULL;
    g_autoptr(ferry_conn) dst = NULL;
    g_autoptr(ferry_domain) dom = NULL;
    g_autofree char *cookie = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *bad = NULL;
    g_autofree char *cookie_out = NULL;
    g_autofree char *uri_out = NULL;
    ferry_migrate_params params = { .flags = FERRY_MIGRATE_LIVE };
    gboolean refused;

    g_autofree char *dxml = NULL;
    gboolean disk_mode = argc >= 5 && g_str_has_prefix(argv[4], "disk-");

    if (argc < 5 || argc > 6 || (disk_mode && argc != 6)) {
        fprintf(stderr, "usage: migrate-tamper SRC_URI DST_URI DOMAIN MODE [DEST_XML_FILE]\n");
        return 2;
    }
    if (disk_mode) {
        if (!g_file_get_contents(argv[5], &dxml, NULL, &error)) {
            fprintf(stderr, "migrate-tamper: %s\n", error->message);
            return 2;
        }
        params.flags |= FERRY_MIGRATE_NON_SHARED_DISK;
        params.dxml = dxml;
    }
    if (!(src = ferry_conn_open(argv[1], &error)) || !(dst = ferry_conn_open(argv[2], &error)) ||
        !(dom = ferry_domain_lookup_by_name(src, argv[3], &error)) ||
        !(xml = ferry_domain_migrate_begin3(dom, &params, &cookie, &error))) {
        fprintf(stderr, "migrate-tamper: %s\n", error->message);
        return 1;
    }
    if (!strcmp(argv[4], "stall-begin")) {
        char buf[64];

        printf("stalled after begin\n");
        fflush(stdout);
        while (fread(buf, 1, sizeof(buf), stdin) > 0)
            ;
        return 0;
    }
    if (g_str_has_prefix(argv[4], "abandon-")) {
        if (!strcmp(argv[4], "abandon-prepare") &&
            !ferry_conn_migrate_prepare3(dst, &params, xml, cookie, &cookie_out, &uri_out,
                                         &prep_error)) {
            fprintf(stderr, "migrate-tamper: Prepare: %s\n", prep_error->message);
            return 1;
        }
        printf("left migration after %s\n", argv[4] + strlen("abandon-"));
        return 0;
    }
    if (!strcmp(argv[4], "malformed")) {
        /* Cut the document in half. */
        bad = g_strndup(cookie, strlen(cookie) / 2);
    } else if (disk_mode) {
        const char *size = !strcmp(argv[4], "disk-zero") ? "0"
                           : !strcmp(argv[4], "disk-negative") ? "-5"
                                                               : "1125899906842624";
        g_autoptr(GRegex) re = g_regex_new("capacity='[0-9]+'", 0, 0, NULL);
        g_autofree char *repl = g_strdup_printf("capacity='%s'", size);

        bad = g_regex_replace_literal(re, cookie, -1, 0, repl, 0, NULL);
    } else {
        /* A section from the future that the receiver must understand. */
        const char *end = strstr(cookie, "</ferry-migration>");

        bad = g_strdup_printf("%.*s  <lease-v9 mandatory='yes'><token>x</token></lease-v9>\n%s",
                              (int)(end - cookie), cookie, end);
    }
    refused = !ferry_conn_migrate_prepare3(dst, &params, xml, bad, &cookie_out, &uri_out,
                                           &prep_error);
    if (refused)
        printf("%s\n", prep_error->message);
    if (!ferry_domain_migrate_confirm3(dom, &params, NULL, TRUE, &error)) {
        fprintf(stderr, "migrate-tamper: Confirm: %s\n", error->message);
        return 1;
    }
    return refused ? 0 : 1;
}
