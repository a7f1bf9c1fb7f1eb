/*
 * lock-manager.c: the lock-manager object, its public wrappers, the "nop"
 * implementation, the lease holder record and the lease state of the
 * migration cookie.
 *
 * Owns: argument checks (a uuid is canonical before any implementation
 * sees it) and the text formats (lease records, lease states), which are
 * read from other hosts and so are size-checked before they are decoded.
 * Must not: touch files (lock-fcntl.c does) or log above debug.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>
#include <unistd.h>

#include "locking/lock-manager-private.h"

struct ferry_lock_manager {
    gint ref;
    const ferry_lock_driver *driver;
    gpointer self;
};

/* ---- the object -------------------------------------------------------- */

ferry_lock_manager *
ferry_lock_manager_new_with_driver(const ferry_lock_driver *driver, gpointer self)
{
    ferry_lock_manager *mgr = g_new0(ferry_lock_manager, 1);

    mgr->ref = 1;
    mgr->driver = driver;
    mgr->self = self;
    return mgr;
}

ferry_lock_manager *
ferry_lock_manager_ref(ferry_lock_manager *mgr)
{
    if (mgr)
        g_atomic_int_inc(&mgr->ref);
    return mgr;
}

void
ferry_lock_manager_unref(ferry_lock_manager *mgr)
{
    if (!mgr || !g_atomic_int_dec_and_test(&mgr->ref))
        return;
    mgr->driver->free(mgr->self);
    g_free(mgr);
}

const char *
ferry_lock_manager_get_name(ferry_lock_manager *mgr)
{
    g_return_val_if_fail(mgr != NULL, NULL);
    return mgr->driver->name;
}

const char *
ferry_lock_manager_get_lockspace_id(ferry_lock_manager *mgr)
{
    g_return_val_if_fail(mgr != NULL, NULL);
    return mgr->driver->lockspace_id(mgr->self);
}

gboolean
ferry_lease_uuid_check(const char *uuid, GError **error)
{
    gboolean ok = uuid && strlen(uuid) == 36;

    for (gsize i = 0; ok && i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            ok = uuid[i] == '-';
        else
            ok = g_ascii_isdigit(uuid[i]) || (uuid[i] >= 'a' && uuid[i] <= 'f');
    }
    if (!ok) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "'%.64s' is not a canonical domain uuid (expected the lower-case "
                    "form 4f9a2c1e-0b7d-4c3a-9e51-8d2f6a7b3c10)", uuid ? uuid : "");
    }
    return ok;
}

gboolean
ferry_lock_manager_acquire(ferry_lock_manager *mgr, const char *uuid, const char *dom_name,
                           const char *owner_host, GError **error)
{
    g_return_val_if_fail(mgr != NULL, FALSE);
    g_return_val_if_fail(dom_name != NULL, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

    if (!ferry_lease_uuid_check(uuid, error))
        return FALSE;
    return mgr->driver->acquire(mgr->self, uuid, dom_name, owner_host, error);
}

gboolean
ferry_lock_manager_release(ferry_lock_manager *mgr, const char *uuid)
{
    g_return_val_if_fail(mgr != NULL, FALSE);

    /* Nothing can be held under a uuid that acquire refuses. */
    if (!ferry_lease_uuid_check(uuid, NULL))
        return FALSE;
    return mgr->driver->release(mgr->self, uuid);
}

gboolean
ferry_lock_manager_holds(ferry_lock_manager *mgr, const char *uuid)
{
    g_return_val_if_fail(mgr != NULL, FALSE);

    if (!ferry_lease_uuid_check(uuid, NULL))
        return FALSE;
    return mgr->driver->holds(mgr->self, uuid);
}

/* The driver's answer to a query, checked arguments first. */
static gboolean
query_holder(ferry_lock_manager *mgr, const char *uuid, gboolean *ret_held,
             ferry_lease_holder **ret_holder, GError **error)
{
    g_return_val_if_fail(mgr != NULL, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

    if (!ferry_lease_uuid_check(uuid, error))
        return FALSE;
    return mgr->driver->query(mgr->self, uuid, ret_held, ret_holder, error);
}

gboolean
ferry_lock_manager_query(ferry_lock_manager *mgr, const char *uuid, gboolean *ret_held,
                         char **ret_holder, GError **error)
{
    g_autoptr(ferry_lease_holder) holder = NULL;
    gboolean held = FALSE;

    g_return_val_if_fail(ret_held != NULL, FALSE);

    if (!query_holder(mgr, uuid, &held, &holder, error))
        return FALSE;
    *ret_held = held;
    if (ret_holder)
        *ret_holder = held ? ferry_lease_holder_describe(holder) : NULL;
    return TRUE;
}

ferry_lease_state *
ferry_lock_manager_get_lease_state(ferry_lock_manager *mgr, const char *uuid,
                                   GError **error)
{
    g_autoptr(ferry_lease_holder) holder = NULL;
    gboolean held = FALSE;

    if (!query_holder(mgr, uuid, &held, &holder, error))
        return NULL;
    return ferry_lease_state_new(held, mgr->driver->lockspace_id(mgr->self),
                                 held && holder ? holder->host : NULL);
}

/* ---- the nop manager: lock_manager = "none" ---------------------------- */

static gboolean
nop_acquire(gpointer self, const char *uuid, const char *dom_name, const char *owner_host,
            GError **error)
{
    return TRUE;
}

static gboolean
nop_release(gpointer self, const char *uuid)
{
    return FALSE;
}

static gboolean
nop_holds(gpointer self, const char *uuid)
{
    return FALSE;
}

static gboolean
nop_query(gpointer self, const char *uuid, gboolean *ret_held,
          ferry_lease_holder **ret_holder, GError **error)
{
    *ret_held = FALSE;
    *ret_holder = NULL;
    return TRUE;
}

static const char *
nop_lockspace_id(gpointer self)
{
    return NULL;
}

static void
nop_free(gpointer self)
{
}

static const ferry_lock_driver nop_driver = {
    .name = "nop",
    .acquire = nop_acquire,             /* since 0.1 */
    .release = nop_release,             /* since 0.1 */
    .holds = nop_holds,                 /* since 0.1 */
    .query = nop_query,                 /* since 0.1 */
    .lockspace_id = nop_lockspace_id,   /* since 0.1 */
    .free = nop_free,                   /* since 0.1 */
};

ferry_lock_manager *
ferry_lock_manager_new_nop(void)
{
    return ferry_lock_manager_new_with_driver(&nop_driver, NULL);
}

ferry_lock_manager *
ferry_lock_manager_new(const char *kind, const char *lockspace_dir, const char *host_uuid,
                       GError **error)
{
    if (!kind || strcmp(kind, "none") == 0)
        return ferry_lock_manager_new_nop();
    if (strcmp(kind, "fcntl") != 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "unknown lock manager '%s' (expected none or fcntl)", kind);
        return NULL;
    }
    if (!lockspace_dir) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "lock manager 'fcntl' needs a lockspace directory (setting "
                    "'lockspace_dir')");
        return NULL;
    }
    return ferry_lock_manager_new_fcntl(lockspace_dir, host_uuid, error);
}

/* ---- key=value text ---------------------------------------------------- */

void
ferry_lease_kv_append(GString *out, const char *key, const char *value, char sep)
{
    g_autofree char *escaped = NULL;

    if (!value)
        return;
    escaped = g_uri_escape_string(value, NULL, FALSE);
    g_string_append_printf(out, "%s=%s%c", key, escaped, sep);
}

static gboolean
kv_key_is_valid(const char *key)
{
    if (!*key)
        return FALSE;
    for (const char *p = key; *p; p++) {
        if (!(*p >= 'a' && *p <= 'z') && *p != '_')
            return FALSE;
    }
    return TRUE;
}

static gboolean
kv_value_is_printable(const char *value)
{
    if (!g_utf8_validate(value, -1, NULL))
        return FALSE;
    for (const char *p = value; *p; p++) {
        if (g_ascii_iscntrl(*p))
            return FALSE;
    }
    return TRUE;
}

GHashTable *
ferry_lease_kv_parse(const char *text, gsize len, char sep, GError **error)
{
    g_autoptr(GHashTable) pairs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autofree char *copy = NULL;
    g_auto(GStrv) pieces = NULL;
    const char seps[2] = { sep, '\0' };

    if (len > FERRY_LEASE_RECORD_MAX) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "%" G_GSIZE_FORMAT " bytes is more than the %d allowed", len,
                    FERRY_LEASE_RECORD_MAX);
        return NULL;
    }
    if (memchr(text, '\0', len)) {
        g_set_error_literal(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                            "it holds a NUL byte");
        return NULL;
    }
    copy = g_strndup(text, len);
    pieces = g_strsplit(copy, seps, -1);
    for (guint i = 0; pieces[i]; i++) {
        char *eq = strchr(pieces[i], '=');
        g_autofree char *value = NULL;

        if (!pieces[i][0] || pieces[i][0] == '#')
            continue;
        if (eq)
            *eq = '\0';
        if (!eq || !kv_key_is_valid(pieces[i])) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                        "piece %u is not 'name=value'", i + 1);
            return NULL;
        }
        value = g_uri_unescape_string(eq + 1, NULL);
        if (!value || !kv_value_is_printable(value)) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                        "field '%s': its value is not printable escaped UTF-8", pieces[i]);
            return NULL;
        }
        if (g_hash_table_contains(pairs, pieces[i])) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                        "field '%s' appears twice", pieces[i]);
            return NULL;
        }
        g_hash_table_insert(pairs, g_strdup(pieces[i]), g_steal_pointer(&value));
    }
    return g_steal_pointer(&pairs);
}

/* ---- the holder record in a lease file --------------------------------- */

ferry_lease_holder *
ferry_lease_holder_new(const char *host, const char *host_uuid, const char *dom_name)
{
    ferry_lease_holder *holder = g_new0(ferry_lease_holder, 1);

    holder->host = g_strdup(host);
    holder->host_uuid = g_strdup(host_uuid);
    holder->dom_name = g_strdup(dom_name);
    holder->pid = getpid();
    holder->since = g_get_real_time() / G_USEC_PER_SEC;
    return holder;
}

ferry_lease_holder *
ferry_lease_holder_copy(const ferry_lease_holder *holder)
{
    ferry_lease_holder *copy = g_new0(ferry_lease_holder, 1);

    copy->host = g_strdup(holder->host);
    copy->host_uuid = g_strdup(holder->host_uuid);
    copy->dom_name = g_strdup(holder->dom_name);
    copy->pid = holder->pid;
    copy->since = holder->since;
    return copy;
}

void
ferry_lease_holder_free(ferry_lease_holder *holder)
{
    if (!holder)
        return;
    g_free(holder->host);
    g_free(holder->host_uuid);
    g_free(holder->dom_name);
    g_free(holder);
}

char *
ferry_lease_holder_format(const ferry_lease_holder *holder)
{
    GString *out = g_string_new("# ferry lease: held by the process below while it "
                                "holds the lock on this file\n");
    g_autofree char *pid = holder->pid > 0 ?
        g_strdup_printf("%" G_GINT64_FORMAT, holder->pid) : NULL;
    g_autofree char *since = holder->since > 0 ?
        g_strdup_printf("%" G_GINT64_FORMAT, holder->since) : NULL;

    ferry_lease_kv_append(out, "host", holder->host, '\n');
    ferry_lease_kv_append(out, "host_uuid", holder->host_uuid, '\n');
    ferry_lease_kv_append(out, "domain", holder->dom_name, '\n');
    ferry_lease_kv_append(out, "pid", pid, '\n');
    ferry_lease_kv_append(out, "since", since, '\n');
    return g_string_free(out, FALSE);
}

/* A positive number, or 0 for a missing or malformed one. */
static gint64
holder_number(GHashTable *pairs, const char *key)
{
    const char *text = g_hash_table_lookup(pairs, key);
    gint64 n = 0;

    if (!text || !g_ascii_string_to_signed(text, 10, 1, G_MAXINT64, &n, NULL))
        return 0;
    return n;
}

ferry_lease_holder *
ferry_lease_holder_parse(const char *text, gsize len)
{
    g_autoptr(GHashTable) pairs = ferry_lease_kv_parse(text, len, '\n', NULL);
    ferry_lease_holder *holder;

    if (!pairs || g_hash_table_size(pairs) == 0)
        return NULL;
    holder = g_new0(ferry_lease_holder, 1);
    holder->host = g_strdup(g_hash_table_lookup(pairs, "host"));
    holder->host_uuid = g_strdup(g_hash_table_lookup(pairs, "host_uuid"));
    holder->dom_name = g_strdup(g_hash_table_lookup(pairs, "domain"));
    holder->pid = holder_number(pairs, "pid");
    holder->since = holder_number(pairs, "since");
    return holder;
}

char *
ferry_lease_holder_describe(const ferry_lease_holder *holder)
{
    GString *out;
    g_autoptr(GDateTime) when = NULL;

    if (!holder)
        return g_strdup("a process that has not written its name into the lease");
    out = g_string_new(NULL);
    if (holder->host)
        g_string_append_printf(out, "host '%s'", holder->host);
    else
        g_string_append(out, "a host that gave no name");
    if (holder->pid > 0)
        g_string_append_printf(out, " (pid %" G_GINT64_FORMAT ")", holder->pid);
    when = holder->since > 0 ? g_date_time_new_from_unix_utc(holder->since) : NULL;
    if (when) {
        g_autofree char *date = g_date_time_format(when, "%Y-%m-%d %H:%M:%S UTC");

        g_string_append_printf(out, " since %s", date);
    }
    return g_string_free(out, FALSE);
}

/* ---- the lease state of a migration cookie ------------------------------ */

ferry_lease_state *
ferry_lease_state_new(gboolean held, const char *lockspace, const char *holder)
{
    ferry_lease_state *state = g_new0(ferry_lease_state, 1);

    state->held = held;
    state->lockspace = g_strdup(lockspace);
    state->holder = g_strdup(holder);
    return state;
}

ferry_lease_state *
ferry_lease_state_copy(const ferry_lease_state *state)
{
    if (!state)
        return NULL;
    return ferry_lease_state_new(state->held, state->lockspace, state->holder);
}

void
ferry_lease_state_free(ferry_lease_state *state)
{
    if (!state)
        return;
    g_free(state->lockspace);
    g_free(state->holder);
    g_free(state);
}

char *
ferry_lease_state_format(const ferry_lease_state *state)
{
    GString *out = g_string_new(NULL);

    g_return_val_if_fail(state != NULL, NULL);

    ferry_lease_kv_append(out, "held", state->held ? "yes" : "no", ';');
    ferry_lease_kv_append(out, "lockspace", state->lockspace, ';');
    ferry_lease_kv_append(out, "holder", state->holder, ';');
    g_string_truncate(out, out->len - 1);       /* the last ';' */
    return g_string_free(out, FALSE);
}

ferry_lease_state *
ferry_lease_state_parse(const char *text, GError **error)
{
    g_autoptr(GHashTable) pairs = NULL;
    g_autoptr(GError) local = NULL;
    const char *held;
    gboolean is_held;

    g_return_val_if_fail(text != NULL, NULL);

    pairs = ferry_lease_kv_parse(text, strlen(text), ';', &local);
    if (!pairs) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_COOKIE, "lease state: %s",
                    local->message);
        return NULL;
    }
    held = g_hash_table_lookup(pairs, "held");
    if (!held) {
        g_set_error_literal(error, FERRY_ERROR, FERRY_ERROR_COOKIE,
                            "lease state: field 'held' is missing");
        return NULL;
    }
    if (strcmp(held, "yes") != 0 && strcmp(held, "no") != 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_COOKIE,
                    "lease state: field 'held': expected yes or no, got '%s'", held);
        return NULL;
    }
    is_held = strcmp(held, "yes") == 0;
    if (is_held && !g_hash_table_contains(pairs, "lockspace")) {
        g_set_error_literal(error, FERRY_ERROR, FERRY_ERROR_COOKIE,
                            "lease state: a held lease needs field 'lockspace'");
        return NULL;
    }
    return ferry_lease_state_new(is_held, g_hash_table_lookup(pairs, "lockspace"),
                                 g_hash_table_lookup(pairs, "holder"));
}
