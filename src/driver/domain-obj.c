/*
 * domain-obj.c: the domain list shared by the test and QEMU drivers.
 *
 * Keeping the define/transient/lookup rules here means both drivers refuse
 * the same clashes with the same words; only what runs a domain differs.
 */
#include "ferry-config.h"

#include <string.h>

#include "driver/event-bus.h"
#include "driver/domain-obj.h"

#define JOB_WAIT_SECONDS 30

struct ferry_domain_obj_list {
    GMutex lock;
    GHashTable *by_uuid;    /* uuid -> ferry_domain_obj* (a reference) */
    GHashTable *by_name;    /* name -> ferry_domain_obj* (borrowed from by_uuid) */
    guint max;              /* new domains refused at this count; 0: no limit */
};

static ferry_domain_obj *
domain_obj_new(const char *name, const char *uuid)
{
    ferry_domain_obj *obj = g_new0(ferry_domain_obj, 1);

    obj->ref = 1;
    g_mutex_init(&obj->lock);
    g_cond_init(&obj->job_cond);
    obj->name = g_strdup(name);
    obj->uuid = g_strdup(uuid);
    obj->state = FERRY_DOMAIN_SHUTOFF;
    obj->reason = FERRY_SHUTOFF_UNKNOWN;
    return obj;
}

ferry_domain_obj *
ferry_domain_obj_ref(ferry_domain_obj *obj)
{
    if (obj)
        g_atomic_int_inc(&obj->ref);
    return obj;
}

void
ferry_domain_obj_unref(ferry_domain_obj *obj)
{
    if (!obj || !g_atomic_int_dec_and_test(&obj->ref))
        return;
    if (obj->priv_free)
        obj->priv_free(obj->priv);
    ferry_domain_def_free(obj->def);
    ferry_domain_def_free(obj->live);
    g_free(obj->job_owner);
    g_free(obj->name);
    g_free(obj->uuid);
    g_mutex_clear(&obj->lock);
    g_cond_clear(&obj->job_cond);
    g_free(obj);
}

gboolean
ferry_domain_obj_is_active(const ferry_domain_obj *obj)
{
    return obj->live != NULL;
}

void
ferry_domain_obj_set_state(ferry_domain_obj *obj, int state, int reason)
{
    obj->state = state;
    obj->reason = reason;
}

gboolean
ferry_domain_obj_begin_job(ferry_domain_obj *obj, ferry_job_type job,
                           const char *owner, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + JOB_WAIT_SECONDS * G_TIME_SPAN_SECOND;
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&obj->lock);

    while (obj->job != FERRY_JOB_NONE && !obj->removed) {
        /* A migration lasts as long as it lasts: do not wait behind it. */
        if (obj->job == FERRY_JOB_MIGRATION_OUT || obj->job == FERRY_JOB_MIGRATION_IN) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                        "domain '%s' is busy with its %s; abort it first "
                        "(ferry domjobabort)", obj->name, obj->job_owner);
            return FALSE;
        }
        if (!g_cond_wait_until(&obj->job_cond, &obj->lock, deadline)) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_TIMEOUT,
                        "domain '%s' is busy: %s has not finished after %d seconds",
                        obj->name, obj->job_owner, JOB_WAIT_SECONDS);
            return FALSE;
        }
    }
    if (obj->removed) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_DOMAIN,
                    "domain '%s' no longer exists", obj->name);
        return FALSE;
    }
    obj->job = job;
    g_free(obj->job_owner);
    obj->job_owner = g_strdup(owner);
    return TRUE;
}

void
ferry_domain_obj_end_job(ferry_domain_obj *obj)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&obj->lock);

    obj->job = FERRY_JOB_NONE;
    g_clear_pointer(&obj->job_owner, g_free);
    g_cond_broadcast(&obj->job_cond);
}

ferry_domain_obj_list *
ferry_domain_obj_list_new(void)
{
    ferry_domain_obj_list *list = g_new0(ferry_domain_obj_list, 1);

    g_mutex_init(&list->lock);
    list->by_uuid = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                          (GDestroyNotify)ferry_domain_obj_unref);
    list->by_name = g_hash_table_new(g_str_hash, g_str_equal);
    return list;
}

void
ferry_domain_obj_list_set_max(ferry_domain_obj_list *list, guint max)
{
    g_mutex_lock(&list->lock);
    list->max = max;
    g_mutex_unlock(&list->lock);
}

void
ferry_domain_obj_list_free(ferry_domain_obj_list *list)
{
    if (!list)
        return;
    g_hash_table_unref(list->by_name);
    g_hash_table_unref(list->by_uuid);
    g_mutex_clear(&list->lock);
    g_free(list);
}

static ferry_domain_obj *
find_locked(GHashTable *table, ferry_domain_obj_list *list, const char *key)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&list->lock);

    return ferry_domain_obj_ref(g_hash_table_lookup(table, key));
}

ferry_domain_obj *
ferry_domain_obj_list_find_by_name(ferry_domain_obj_list *list, const char *name)
{
    return find_locked(list->by_name, list, name);
}

ferry_domain_obj *
ferry_domain_obj_list_find_by_uuid(ferry_domain_obj_list *list, const char *uuid)
{
    return find_locked(list->by_uuid, list, uuid);
}

ferry_domain_obj *
ferry_domain_obj_list_lookup(ferry_domain_obj_list *list, ferry_domain *dom,
                             const char *host, GError **error)
{
    ferry_domain_obj *obj = ferry_domain_obj_list_find_by_uuid(list, dom->uuid);

    if (!obj) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_DOMAIN,
                    "no domain '%s' (uuid %s) on host '%s'", dom->name, dom->uuid, host);
        return NULL;
    }
    return obj;
}

ferry_domain_obj *
ferry_domain_obj_list_lookup_job(ferry_domain_obj_list *list, ferry_domain *dom,
                                 const char *host, const char *what, GError **error)
{
    g_autoptr(ferry_domain_obj) obj = ferry_domain_obj_list_lookup(list, dom, host, error);

    if (!obj || !ferry_domain_obj_begin_job(obj, FERRY_JOB_MODIFY, what, error))
        return NULL;
    return g_steal_pointer(&obj);
}

/* Checks, with the list locked, that @def's name and uuid do not clash with
 * another domain, and that a new domain fits under the list's limit.
 * Returns the existing domain with both the same name and uuid (a
 * reference), or NULL and no error when neither is taken. */
static ferry_domain_obj *
check_clash_locked(ferry_domain_obj_list *list, const ferry_domain_def *def,
                   GError **error)
{
    ferry_domain_obj *by_name = g_hash_table_lookup(list->by_name, def->name);
    ferry_domain_obj *by_uuid = g_hash_table_lookup(list->by_uuid, def->uuid);

    if (by_name && strcmp(by_name->uuid, def->uuid) != 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_DOMAIN_EXISTS,
                    "domain '%s' already exists with uuid %s, not %s",
                    def->name, by_name->uuid, def->uuid);
        return NULL;
    }
    if (by_uuid && strcmp(by_uuid->name, def->name) != 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_DOMAIN_EXISTS,
                    "uuid %s is already used by domain '%s', not '%s'",
                    def->uuid, by_uuid->name, def->name);
        return NULL;
    }
    if (!by_uuid && list->max && g_hash_table_size(list->by_uuid) >= list->max) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_LIMIT,
                    "domain '%s' refused: this host has %u domains, its limit (max_domains)",
                    def->name, g_hash_table_size(list->by_uuid));
        return NULL;
    }
    return ferry_domain_obj_ref(by_uuid);
}

static void
insert_locked(ferry_domain_obj_list *list, ferry_domain_obj *obj)
{
    g_hash_table_insert(list->by_uuid, obj->uuid, ferry_domain_obj_ref(obj));
    g_hash_table_insert(list->by_name, obj->name, obj);
}

ferry_domain_obj *
ferry_domain_obj_list_define(ferry_domain_obj_list *list, ferry_domain_def *def,
                             gboolean *ret_created, GError **error)
{
    g_autoptr(ferry_domain_def) owned = def;
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&list->lock);
    g_autoptr(GError) clash = NULL;
    ferry_domain_obj *obj = check_clash_locked(list, def, &clash);

    if (clash) {
        g_propagate_error(error, g_steal_pointer(&clash));
        return NULL;
    }
    if (ret_created)
        *ret_created = (obj == NULL);
    if (!obj) {
        obj = domain_obj_new(def->name, def->uuid);
        obj->def = g_steal_pointer(&owned);
        insert_locked(list, obj);
        return obj;
    }
    g_mutex_lock(&obj->lock);
    ferry_domain_def_free(obj->def);
    obj->def = g_steal_pointer(&owned);
    g_mutex_unlock(&obj->lock);
    return obj;
}

ferry_domain_obj *
ferry_domain_obj_list_add_transient(ferry_domain_obj_list *list,
                                    ferry_domain_def *def, GError **error)
{
    g_autoptr(ferry_domain_def) owned = def;
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&list->lock);
    g_autoptr(GError) clash = NULL;
    ferry_domain_obj *obj = check_clash_locked(list, def, &clash);

    if (clash) {
        g_propagate_error(error, g_steal_pointer(&clash));
        return NULL;
    }
    if (!obj) {
        obj = domain_obj_new(def->name, def->uuid);
        obj->live = g_steal_pointer(&owned);
        insert_locked(list, obj);
        return obj;
    }
    g_mutex_lock(&obj->lock);
    if (ferry_domain_obj_is_active(obj) || obj->job != FERRY_JOB_NONE) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s' is already active", obj->name);
        g_mutex_unlock(&obj->lock);
        ferry_domain_obj_unref(obj);
        return NULL;
    }
    obj->live = g_steal_pointer(&owned);
    g_mutex_unlock(&obj->lock);
    return obj;
}

void
ferry_domain_obj_list_remove(ferry_domain_obj_list *list, ferry_domain_obj *obj)
{
    g_mutex_lock(&list->lock);
    if (g_hash_table_lookup(list->by_uuid, obj->uuid) == obj) {
        g_hash_table_remove(list->by_name, obj->name);
        /* by_uuid holds the list's reference: drop it last. */
        g_hash_table_remove(list->by_uuid, obj->uuid);
    }
    g_mutex_unlock(&list->lock);

    g_mutex_lock(&obj->lock);
    obj->removed = TRUE;
    g_cond_broadcast(&obj->job_cond);
    g_mutex_unlock(&obj->lock);
}

static gboolean
matches_flags(ferry_domain_obj *obj, guint flags)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&obj->lock);
    gboolean active = ferry_domain_obj_is_active(obj);

    if (flags == 0)
        return TRUE;
    return ((flags & FERRY_LIST_ACTIVE) && active) ||
           ((flags & FERRY_LIST_INACTIVE) && !active);
}

static int
compare_by_name(gconstpointer a, gconstpointer b)
{
    const ferry_domain_obj *x = *(ferry_domain_obj *const *)a;
    const ferry_domain_obj *y = *(ferry_domain_obj *const *)b;

    return strcmp(x->name, y->name);
}

GPtrArray *
ferry_domain_obj_list_collect(ferry_domain_obj_list *list, guint flags)
{
    GPtrArray *all = g_ptr_array_new_with_free_func((GDestroyNotify)ferry_domain_obj_unref);
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)ferry_domain_obj_unref);
    GHashTableIter iter;
    gpointer value;

    /* Reference everything under the list lock, filter without it: the
     * filter takes object locks, which must never nest inside the list's. */
    g_mutex_lock(&list->lock);
    g_hash_table_iter_init(&iter, list->by_uuid);
    while (g_hash_table_iter_next(&iter, NULL, &value))
        g_ptr_array_add(all, ferry_domain_obj_ref(value));
    g_mutex_unlock(&list->lock);

    for (guint i = 0; i < all->len; i++) {
        ferry_domain_obj *obj = all->pdata[i];

        if (matches_flags(obj, flags))
            g_ptr_array_add(out, ferry_domain_obj_ref(obj));
    }
    g_ptr_array_unref(all);
    g_ptr_array_sort(out, compare_by_name);
    return out;
}

GPtrArray *
ferry_domain_obj_list_handles(ferry_domain_obj_list *list, ferry_conn *conn,
                              guint flags)
{
    g_autoptr(GPtrArray) objs = ferry_domain_obj_list_collect(list, flags);
    GPtrArray *handles = g_ptr_array_new_full(objs->len,
                                              (GDestroyNotify)ferry_domain_unref);

    for (guint i = 0; i < objs->len; i++) {
        ferry_domain_obj *obj = objs->pdata[i];

        g_ptr_array_add(handles, ferry_domain_new_handle(conn, obj->name, obj->uuid));
    }
    return handles;
}

void
ferry_domain_obj_fill_info(const ferry_domain_obj *obj, ferry_domain_info *ret_info)
{
    const ferry_domain_def *def = obj->live ? obj->live : obj->def;

    memset(ret_info, 0, sizeof(*ret_info));
    ret_info->state = obj->state;
    ret_info->reason = obj->reason;
    ret_info->persistent = obj->def != NULL;
    if (def) {
        ret_info->memory_kib = def->memory_kib;
        ret_info->vcpus = def->vcpus;
    }
}

char *
ferry_domain_obj_format_xml(const ferry_domain_obj *obj, guint flags)
{
    const ferry_domain_def *def = obj->live;

    if ((flags & FERRY_XML_INACTIVE) && obj->def)
        def = obj->def;
    if (!def)
        def = obj->def;
    if (!(flags & FERRY_XML_SECURE)) {
        g_autoptr(ferry_domain_def) shown = ferry_domain_def_copy(def);

        for (guint i = 0; i < shown->graphics->len; i++) {
            ferry_graphics_def *g = g_ptr_array_index(shown->graphics, i);

            g_clear_pointer(&g->passwd, g_free);
        }
        return ferry_domain_def_format(shown);
    }
    return ferry_domain_def_format(def);
}

ferry_domain *
ferry_domain_obj_list_handle_by_name(ferry_domain_obj_list *list, ferry_conn *conn,
                                     const char *name, const char *host, GError **error)
{
    g_autoptr(ferry_domain_obj) obj = ferry_domain_obj_list_find_by_name(list, name);

    if (!obj) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_DOMAIN,
                    "no domain named '%s' on host '%s'", name, host);
        return NULL;
    }
    return ferry_domain_new_handle(conn, obj->name, obj->uuid);
}

ferry_domain *
ferry_domain_obj_list_handle_by_uuid(ferry_domain_obj_list *list, ferry_conn *conn,
                                     const char *uuid, const char *host, GError **error)
{
    g_autofree char *lower = g_ascii_strdown(uuid, -1);
    g_autoptr(ferry_domain_obj) obj = ferry_domain_obj_list_find_by_uuid(list, lower);

    if (!obj) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_DOMAIN,
                    "no domain with uuid %s on host '%s'", uuid, host);
        return NULL;
    }
    return ferry_domain_new_handle(conn, obj->name, obj->uuid);
}

gboolean
ferry_domain_obj_list_check_clash(ferry_domain_obj_list *list, const ferry_domain_def *def,
                                  GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&list->lock);
    g_autoptr(GError) clash = NULL;
    g_autoptr(ferry_domain_obj) same = check_clash_locked(list, def, &clash);

    if (clash) {
        g_propagate_error(error, g_steal_pointer(&clash));
        return FALSE;
    }
    return TRUE;
}

void
ferry_domain_obj_emit_lifecycle(gpointer bus, ferry_domain_obj *obj, int what)
{
    ferry_domain_obj_emit_event(bus, obj, FERRY_EVENT_LIFECYCLE, what);
}

void
ferry_domain_obj_emit_event(gpointer bus, ferry_domain_obj *obj, int type, int lifecycle)
{
    ferry_event event = {
        .type = type,
        .lifecycle = lifecycle,
        .timestamp_us = g_get_real_time(),
    };

    g_mutex_lock(&obj->lock);
    event.state = obj->state;
    event.reason = obj->reason;
    g_mutex_unlock(&obj->lock);
    ferry_event_bus_emit(bus, &event, obj->name, obj->uuid);
}

gboolean
ferry_domain_obj_check_active(ferry_domain_obj *obj, gboolean want_active, GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&obj->lock);

    if (ferry_domain_obj_is_active(obj) == want_active)
        return TRUE;
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                want_active ? "domain '%s' is not running" : "domain '%s' is already running",
                obj->name);
    return FALSE;
}

gboolean
ferry_domain_obj_check_state(ferry_domain_obj *obj, const char *what, int from, GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&obj->lock);
    int state = ferry_domain_obj_is_active(obj) ? obj->state : FERRY_DOMAIN_SHUTOFF;

    if (state == from)
        return TRUE;
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                "cannot %s domain '%s': it is %s, not %s", what, obj->name,
                ferry_domain_state_to_string(state), ferry_domain_state_to_string(from));
    return FALSE;
}

gboolean
ferry_domain_obj_check_persistent(ferry_domain_obj *obj, GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&obj->lock);

    if (obj->def)
        return TRUE;
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                "domain '%s' is transient: it has no definition to undefine", obj->name);
    return FALSE;
}
