/*
 * qemu-tls.c: QEMU's TLS for migration data (see qemu-tls.h for what this
 * owns).
 *
 * Both QEMUs verify their peer (verify-peer): the destination requires the
 * source's client certificate, the source checks the destination's server
 * certificate against the CA and the migration address it dials -- also
 * through a relay, where QEMU only sees a unix socket and would otherwise
 * have no name to check.
 */
#include "ferry-config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "qemu/qemu-process.h"
#include "qemu/qemu-tls.h"
#include "qemu/qemu-user.h"
#include "util/error.h"
#include "util/json-util.h"

/* QEMU's name for each file, and ferryd's. */
static const struct {
    const char *qemu;
    const char *ferry;
    gboolean server;            /* needed by the listening side only */
    gboolean client;            /* needed by the dialling side only */
} files[] = {
    { "ca-cert.pem", "cacert.pem", FALSE, FALSE },
    { "server-cert.pem", "servercert.pem", TRUE, FALSE },
    { "server-key.pem", "serverkey.pem", TRUE, FALSE },
    { "client-cert.pem", "clientcert.pem", FALSE, TRUE },
    { "client-key.pem", "clientkey.pem", FALSE, TRUE },
};

/* STATE/qemu/run/tls: links with QEMU's names to the PKI directory,
 * made again each time so that they follow a changed configuration.  For a
 * QEMU user, copies instead: the private keys are root's (0600), and the
 * user gets its own, in a directory only it and root can read. */
static char *
links_dir(qemu_driver_state *state, gboolean server, GError **error)
{
    const char *pki = state->config.pki_dir ? state->config.pki_dir : "/etc/pki/ferry";
    g_autofree char *dir = g_build_filename(state->run_dir, "tls", NULL);

    if (g_mkdir_with_parents(dir, 0700) < 0) {
        ferry_set_error_errno(error, FERRY_ERROR_SYSTEM, errno,
                              "cannot create the directory '%s'", dir);
        return NULL;
    }
    if (!qemu_user_private_dir(state, dir, error))
        return NULL;
    for (gsize i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autofree char *target = g_build_filename(pki, files[i].ferry, NULL);
        g_autofree char *link = g_build_filename(dir, files[i].qemu, NULL);
        gboolean needed = (!files[i].server && !files[i].client) ||
                          (files[i].server && server) || (files[i].client && !server);

        if (needed && access(target, R_OK) < 0) {
            ferry_set_error_errno(error, FERRY_ERROR_CONFIG, errno,
                                  "an encrypted migration needs '%s' (pki_dir)", target);
            return NULL;
        }
        if (qemu_user_enabled(state)) {
            /* A file this side does not use is not copied (nor needed). */
            if (!needed) {
                g_unlink(link);
                continue;
            }
            if (!qemu_user_copy_private(state, target, link, error))
                return NULL;
            continue;
        }
        g_unlink(link);
        if (symlink(target, link) < 0) {
            ferry_set_error_errno(error, FERRY_ERROR_SYSTEM, errno,
                                  "cannot link '%s' to '%s'", link, target);
            return NULL;
        }
    }
    return g_steal_pointer(&dir);
}

gboolean
qemu_tls_add_creds(qemu_driver_state *state, ferry_domain_obj *obj, gboolean server,
                   GError **error)
{
    g_autofree char *dir = links_dir(state, server, error);
    g_autoptr(json_object) del = json_object_new_object();
    g_autoptr(json_object) add = json_object_new_object();
    g_autoptr(json_object) ret = NULL;
    g_autoptr(json_object) gone = NULL;
    g_autoptr(GError) local = NULL;


    if (!dir)
        return FALSE;
    /* One a previous migration of this QEMU left (its endpoint may differ). */
    json_object_object_add(del, "id", json_object_new_string(QEMU_TLS_CREDS_ID));
    gone = qemu_process_command(obj, "object-del", del, &local);
    if (!gone)
        g_debug("domain '%s': no TLS credentials to replace: %s", obj->name, local->message);
    json_object_object_add(add, "qom-type", json_object_new_string("tls-creds-x509"));
    json_object_object_add(add, "id", json_object_new_string(QEMU_TLS_CREDS_ID));
    json_object_object_add(add, "dir", json_object_new_string(dir));
    json_object_object_add(add, "endpoint", json_object_new_string(server ? "server"
                                                                          : "client"));
    json_object_object_add(add, "verify-peer", json_object_new_boolean(TRUE));
    ret = qemu_process_command(obj, "object-add", add, error);
    if (!ret)
        g_prefix_error(error, "domain '%s': QEMU's TLS credentials from '%s': ", obj->name,
                       dir);
    return ret != NULL;
}

gboolean
qemu_tls_set_migration(ferry_domain_obj *obj, gboolean on, const char *hostname,
                       GError **error)
{
    g_autoptr(json_object) args = json_object_new_object();
    g_autoptr(json_object) ret = NULL;

    /* An empty string is QEMU's "no TLS". */
    json_object_object_add(args, "tls-creds", json_object_new_string(on ? QEMU_TLS_CREDS_ID
                                                                        : ""));
    json_object_object_add(args, "tls-hostname",
                           json_object_new_string(on && hostname ? hostname : ""));
    ret = qemu_process_command(obj, "migrate-set-parameters", args, error);
    return ret != NULL;
}
