/*
 * error.c: the FERRY_ERROR domain and its helpers.
 *
 * The code names here are part of the public contract (scripts print them and
 * they appear in `ferry --json` output); keep them stable.
 */
#include "ferry-config.h"

#include <errno.h>
#include <gio/gio.h>
#include <string.h>

#include "util/error.h"

G_DEFINE_QUARK(ferry-error-quark, ferry_error)

const char *
ferry_version_string(void)
{
    return FERRY_VERSION;
}

static const char *const error_names[] = {
    [FERRY_ERROR_INTERNAL] = "internal",
    [FERRY_ERROR_INVALID_ARG] = "invalid-arg",
    [FERRY_ERROR_NO_SUPPORT] = "no-support",
    [FERRY_ERROR_INVALID_URI] = "invalid-uri",
    [FERRY_ERROR_NO_CONNECT] = "no-connect",
    [FERRY_ERROR_XML] = "xml",
    [FERRY_ERROR_NO_DOMAIN] = "no-domain",
    [FERRY_ERROR_DOMAIN_EXISTS] = "domain-exists",
    [FERRY_ERROR_OPERATION_INVALID] = "operation-invalid",
    [FERRY_ERROR_OPERATION_FAILED] = "operation-failed",
    [FERRY_ERROR_RPC] = "rpc",
    [FERRY_ERROR_CONNECTION_CLOSED] = "connection-closed",
    [FERRY_ERROR_CONFIG] = "config",
    [FERRY_ERROR_SYSTEM] = "system",
    [FERRY_ERROR_QMP] = "qmp",
    [FERRY_ERROR_TIMEOUT] = "timeout",
    [FERRY_ERROR_LIMIT] = "limit",
    [FERRY_ERROR_OPERATION_ABORTED] = "operation-aborted",
    [FERRY_ERROR_MIGRATE] = "migrate",
    [FERRY_ERROR_COOKIE] = "cookie",
    [FERRY_ERROR_HOOK] = "hook",
    [FERRY_ERROR_MIGRATE_UNSAFE] = "migrate-unsafe",
    [FERRY_ERROR_STORAGE] = "storage",
    [FERRY_ERROR_LEASE_HELD] = "lease-held",
    [FERRY_ERROR_MIGRATE_BROKEN] = "migrate-broken",
    [FERRY_ERROR_AUTH_FAILED] = "auth-failed",
    [FERRY_ERROR_ACCESS_DENIED] = "access-denied",
    [FERRY_ERROR_MIGRATE_HELD] = "migrate-held",
    [FERRY_ERROR_MIGRATE_LOST] = "migrate-lost",
    [FERRY_ERROR_MIGRATE_HOSTDEV] = "migrate-hostdev",
    [FERRY_ERROR_MIGRATE_BLOCK_JOB] = "migrate-block-job",
    [FERRY_ERROR_MIGRATE_SNAPSHOTS] = "migrate-snapshots",
    [FERRY_ERROR_NO_SNAPSHOT] = "no-snapshot",
};

const char *
ferry_error_code_to_string(int code)
{
    if (code <= 0 || code >= (int)G_N_ELEMENTS(error_names) || !error_names[code])
        return "unknown";
    return error_names[code];
}

static int
foreign_error_code(const GError *err)
{
    if (err->domain == G_IO_ERROR) {
        switch (err->code) {
        case G_IO_ERROR_CLOSED:
        case G_IO_ERROR_BROKEN_PIPE:
            return FERRY_ERROR_CONNECTION_CLOSED;
        case G_IO_ERROR_TIMED_OUT:
            return FERRY_ERROR_TIMEOUT;
        case G_IO_ERROR_CANCELLED:
            return FERRY_ERROR_OPERATION_ABORTED;
        case G_IO_ERROR_CONNECTION_REFUSED:
        case G_IO_ERROR_HOST_UNREACHABLE:
        case G_IO_ERROR_NETWORK_UNREACHABLE:
            return FERRY_ERROR_NO_CONNECT;
        default:
            return FERRY_ERROR_SYSTEM;
        }
    }
    if (err->domain == G_FILE_ERROR || err->domain == G_SPAWN_ERROR)
        return FERRY_ERROR_SYSTEM;
    if (err->domain == G_MARKUP_ERROR)
        return FERRY_ERROR_XML;
    return FERRY_ERROR_INTERNAL;
}

void
ferry_error_normalize(GError **error)
{
    GError *err;

    if (!error || !*error || (*error)->domain == FERRY_ERROR)
        return;
    err = *error;
    *error = g_error_new_literal(FERRY_ERROR, foreign_error_code(err), err->message);
    g_error_free(err);
}

void
ferry_set_error_errno(GError **error, int code, int errsv, const char *format, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, format);
    msg = g_strdup_vprintf(format, ap);
    va_end(ap);
    g_set_error(error, FERRY_ERROR, code, "%s: %s", msg, g_strerror(errsv));
}
