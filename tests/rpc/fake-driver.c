/*
 * fake-driver.c: the RPC tests' in-memory driver (see fake-driver.h).
 *
 * Owns: hosts shared by name, their domains and event buses.  Follows the
 * test driver's states, reasons, events and error codes.
 */
#include "ferry-config.h"

#include <string.h>

#include "driver/event-bus.h"
#include "fake-driver.h"
#include "util/uri.h"

typedef struct {
    char *name;
    char *uuid;
    char *xml;
    int state;
    int reason;
    gboolean persistent;
} fake_dom;

typedef struct {
    gint ref;                   /* registry_lock */
    char *name;
    GMutex lock;
    GHashTable *domains;        /* name -> fake_dom* */
    ferry_event_bus *bus;
} fake_host;

static GMutex registry_lock;
static GHashTable *registry;    /* name -> fake_host* */

static void
fake_dom_free(fake_dom *d)
{
    g_free(d->name);
    g_free(d->uuid);
    g_free(d->xml);
    g_free(d);
}

static fake_host *
host_of(ferry_conn *conn)
{
    return conn->driver_data;
}

static gboolean
fake_conn_probe(const ferry_uri *uri)
{
    return strcmp(uri->driver, "fake") == 0 && uri->transport == NULL;
}

static gboolean
fake_conn_open(ferry_conn *conn, const ferry_uri *uri, GError **error)
{
    const char *name = uri->path + 1;
    fake_host *host;

    if (!ferry_uri_check_params(uri, NULL, error))
        return FALSE;
    g_mutex_lock(&registry_lock);
    if (!registry)
        registry = g_hash_table_new(g_str_hash, g_str_equal);
    host = g_hash_table_lookup(registry, name);
    if (!host) {
        host = g_new0(fake_host, 1);
        host->name = g_strdup(name);
        g_mutex_init(&host->lock);
        host->domains = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                              (GDestroyNotify)fake_dom_free);
        host->bus = ferry_event_bus_new();
        g_hash_table_insert(registry, host->name, host);
    }
    host->ref++;
    g_mutex_unlock(&registry_lock);
    conn->driver_data = host;
    return TRUE;
}

static void
fake_conn_close(ferry_conn *conn)
{
    fake_host *host = host_of(conn);
    gboolean last;

    ferry_event_bus_unsubscribe_conn(host->bus, conn);
    g_mutex_lock(&registry_lock);
    last = --host->ref == 0;
    if (last)
        g_hash_table_remove(registry, host->name);
    g_mutex_unlock(&registry_lock);
    if (!last)
        return;
    ferry_event_bus_free(host->bus);
    g_hash_table_unref(host->domains);
    g_mutex_clear(&host->lock);
    g_free(host->name);
    g_free(host);
}

static char *
fake_conn_get_capabilities(ferry_conn *conn, GError **error)
{
    return g_strdup_printf("<capabilities><host><name>fake-%s</name></host>"
                           "</capabilities>", host_of(conn)->name);
}

static char *
fake_conn_get_hostname(ferry_conn *conn, GError **error)
{
    /* The suffix lets the tests see which connections ferryd confined. */
    return g_strdup_printf("fake-%s%s", host_of(conn)->name,
                           ferry_conn_is_confined(conn) ? " (confined)" : "");
}

static gboolean
fake_conn_supports_feature(ferry_conn *conn, ferry_feature feature,
                           gboolean *ret_supported, GError **error)
{
    *ret_supported = feature == FERRY_FEATURE_EVENTS;
    return TRUE;
}

static gint
compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(ferry_domain_get_name(*(ferry_domain **)a),
                  ferry_domain_get_name(*(ferry_domain **)b));
}

static gboolean
is_active(const fake_dom *d)
{
    return d->state == FERRY_DOMAIN_RUNNING || d->state == FERRY_DOMAIN_PAUSED;
}

static gboolean
fake_conn_list_domains(ferry_conn *conn, guint flags, GPtrArray **ret_domains,
                       GError **error)
{
    fake_host *host = host_of(conn);
    GPtrArray *list = g_ptr_array_new_with_free_func((GDestroyNotify)ferry_domain_unref);
    GHashTableIter iter;
    gpointer value;

    g_mutex_lock(&host->lock);
    g_hash_table_iter_init(&iter, host->domains);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        fake_dom *d = value;

        if (flags && !((flags & FERRY_LIST_ACTIVE) && is_active(d)) &&
            !((flags & FERRY_LIST_INACTIVE) && !is_active(d)))
            continue;
        g_ptr_array_add(list, ferry_domain_new_handle(conn, d->name, d->uuid));
    }
    g_mutex_unlock(&host->lock);
    g_ptr_array_sort(list, compare_names);
    *ret_domains = list;
    return TRUE;
}

static guint
fake_conn_subscribe_events(ferry_conn *conn, ferry_event_cb callback, gpointer user_data,
                           GDestroyNotify destroy, GError **error)
{
    return ferry_event_bus_subscribe(host_of(conn)->bus, conn, callback, user_data,
                                     destroy);
}

static gboolean
fake_conn_unsubscribe_events(ferry_conn *conn, guint id, GError **error)
{
    return ferry_event_bus_unsubscribe(host_of(conn)->bus, conn, id, error);
}

/* Announces @d's change; call without the host lock. */
static void
emit(fake_host *host, const char *name, const char *uuid, int lifecycle, int state,
     int reason)
{
    ferry_event event = {
        .type = FERRY_EVENT_LIFECYCLE,
        .lifecycle = lifecycle,
        .state = state,
        .reason = reason,
        .timestamp_us = g_get_real_time(),
    };

    ferry_event_bus_emit(host->bus, &event, name, uuid);
}

/* The text of the first <tag> element of @xml, or NULL. */
static char *
element_text(const char *xml, const char *tag)
{
    g_autofree char *open = g_strdup_printf("<%s>", tag);
    g_autofree char *close = g_strdup_printf("</%s>", tag);
    const char *start = strstr(xml, open);
    const char *end;

    if (!start)
        return NULL;
    start += strlen(open);
    end = strstr(start, close);
    return end ? g_strndup(start, end - start) : NULL;
}

static fake_dom *
parse(const char *xml, GError **error)
{
    fake_dom *d;
    char *name = element_text(xml, "name");
    char *uuid = element_text(xml, "uuid");

    if (!name || !*name) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_XML,
                    "domain XML has no <name> element");
        g_free(name);
        g_free(uuid);
        return NULL;
    }
    d = g_new0(fake_dom, 1);
    d->name = name;
    d->uuid = uuid ? uuid : g_uuid_string_random();
    d->xml = g_strdup(xml);
    d->state = FERRY_DOMAIN_SHUTOFF;
    return d;
}

/* Adds @d, or fails if its name is taken; takes @d. */
static ferry_domain *
add_domain(ferry_conn *conn, fake_dom *d, gboolean persistent, GError **error)
{
    fake_host *host = host_of(conn);
    ferry_domain *dom;
    int lifecycle = persistent ? FERRY_LIFECYCLE_DEFINED : FERRY_LIFECYCLE_STARTED;

    d->persistent = persistent;
    if (!persistent) {
        d->state = FERRY_DOMAIN_RUNNING;
        d->reason = FERRY_RUNNING_BOOTED;
    }
    g_mutex_lock(&host->lock);
    if (g_hash_table_contains(host->domains, d->name)) {
        g_mutex_unlock(&host->lock);
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_DOMAIN_EXISTS,
                    "domain '%s' already exists on host 'fake-%s'", d->name, host->name);
        fake_dom_free(d);
        return NULL;
    }
    g_hash_table_insert(host->domains, d->name, d);
    dom = ferry_domain_new_handle(conn, d->name, d->uuid);
    g_mutex_unlock(&host->lock);
    emit(host, dom->name, dom->uuid, lifecycle, persistent ? FERRY_DOMAIN_SHUTOFF
                                                          : FERRY_DOMAIN_RUNNING,
         persistent ? 0 : FERRY_RUNNING_BOOTED);
    return dom;
}

static ferry_domain *
fake_domain_define_xml(ferry_conn *conn, const char *xml, GError **error)
{
    fake_dom *d = parse(xml, error);

    return d ? add_domain(conn, d, TRUE, error) : NULL;
}

static ferry_domain *
fake_domain_create_xml(ferry_conn *conn, const char *xml, guint flags, GError **error)
{
    fake_dom *d = parse(xml, error);

    return d ? add_domain(conn, d, FALSE, error) : NULL;
}

/* Looks @name up with the host lock held; sets NO_DOMAIN if absent. */
static fake_dom *
find_locked(fake_host *host, const char *name, GError **error)
{
    fake_dom *d = g_hash_table_lookup(host->domains, name);

    if (!d)
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_DOMAIN,
                    "no domain named '%s' on host 'fake-%s'", name, host->name);
    return d;
}

static ferry_domain *
fake_domain_lookup_by_name(ferry_conn *conn, const char *name, GError **error)
{
    fake_host *host = host_of(conn);
    ferry_domain *dom = NULL;
    fake_dom *d;

    g_mutex_lock(&host->lock);
    d = find_locked(host, name, error);
    if (d)
        dom = ferry_domain_new_handle(conn, d->name, d->uuid);
    g_mutex_unlock(&host->lock);
    return dom;
}

static ferry_domain *
fake_domain_lookup_by_uuid(ferry_conn *conn, const char *uuid, GError **error)
{
    fake_host *host = host_of(conn);
    ferry_domain *dom = NULL;
    GHashTableIter iter;
    gpointer value;

    g_mutex_lock(&host->lock);
    g_hash_table_iter_init(&iter, host->domains);
    while (!dom && g_hash_table_iter_next(&iter, NULL, &value)) {
        fake_dom *d = value;

        if (g_ascii_strcasecmp(d->uuid, uuid) == 0)
            dom = ferry_domain_new_handle(conn, d->name, d->uuid);
    }
    g_mutex_unlock(&host->lock);
    if (!dom)
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_DOMAIN,
                    "no domain with uuid %s on host 'fake-%s'", uuid, host->name);
    return dom;
}

/*
 * Moves domain @dom from a state in @from (a bit per state) to @to/@reason,
 * or explains why not; removes it if it ends inactive and transient.
 */
static gboolean
transition(ferry_domain *dom, const char *what, guint from, int to, int reason,
           int lifecycle, GError **error)
{
    fake_host *host = host_of(dom->conn);
    fake_dom *d;
    int state;

    g_mutex_lock(&host->lock);
    d = find_locked(host, dom->name, error);
    if (!d) {
        g_mutex_unlock(&host->lock);
        return FALSE;
    }
    state = d->state;
    if (!(from & (1u << state))) {
        g_mutex_unlock(&host->lock);
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "cannot %s domain '%s': it is %s", what, dom->name,
                    ferry_domain_state_to_string(state));
        return FALSE;
    }
    d->state = to;
    d->reason = reason;
    if (to == FERRY_DOMAIN_SHUTOFF && !d->persistent)
        g_hash_table_remove(host->domains, dom->name);
    g_mutex_unlock(&host->lock);
    emit(host, dom->name, dom->uuid, lifecycle, to, reason);
    return TRUE;
}

#define BIT(state) (1u << (state))

static gboolean
fake_domain_start(ferry_domain *dom, guint flags, GError **error)
{
    gboolean paused = (flags & FERRY_START_PAUSED) != 0;

    return transition(dom, "start", BIT(FERRY_DOMAIN_SHUTOFF),
                      paused ? FERRY_DOMAIN_PAUSED : FERRY_DOMAIN_RUNNING,
                      paused ? FERRY_PAUSED_STARTING_UP : FERRY_RUNNING_BOOTED,
                      FERRY_LIFECYCLE_STARTED, error);
}

static gboolean
fake_domain_destroy(ferry_domain *dom, GError **error)
{
    return transition(dom, "destroy", BIT(FERRY_DOMAIN_RUNNING) | BIT(FERRY_DOMAIN_PAUSED),
                      FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_DESTROYED,
                      FERRY_LIFECYCLE_STOPPED, error);
}

static gboolean
fake_domain_suspend(ferry_domain *dom, GError **error)
{
    return transition(dom, "suspend", BIT(FERRY_DOMAIN_RUNNING), FERRY_DOMAIN_PAUSED,
                      FERRY_PAUSED_USER, FERRY_LIFECYCLE_SUSPENDED, error);
}

static gboolean
fake_domain_resume(ferry_domain *dom, GError **error)
{
    return transition(dom, "resume", BIT(FERRY_DOMAIN_PAUSED), FERRY_DOMAIN_RUNNING,
                      FERRY_RUNNING_UNPAUSED, FERRY_LIFECYCLE_RESUMED, error);
}

static gboolean
fake_domain_undefine(ferry_domain *dom, guint flags, GError **error)
{
    fake_host *host = host_of(dom->conn);
    fake_dom *d;
    int state;

    g_mutex_lock(&host->lock);
    d = find_locked(host, dom->name, error);
    if (!d) {
        g_mutex_unlock(&host->lock);
        return FALSE;
    }
    state = d->state;
    d->persistent = FALSE;
    if (!is_active(d))
        g_hash_table_remove(host->domains, dom->name);
    g_mutex_unlock(&host->lock);
    emit(host, dom->name, dom->uuid, FERRY_LIFECYCLE_UNDEFINED, state, 0);
    return TRUE;
}

static gboolean
fake_domain_get_info(ferry_domain *dom, ferry_domain_info *ret_info, GError **error)
{
    fake_host *host = host_of(dom->conn);
    fake_dom *d;

    g_mutex_lock(&host->lock);
    d = find_locked(host, dom->name, error);
    if (d) {
        ret_info->state = d->state;
        ret_info->reason = d->reason;
        ret_info->memory_kib = 65536;
        ret_info->vcpus = 1;
        ret_info->cpu_time_ns = is_active(d) ? 1000 : 0;
        ret_info->persistent = d->persistent;
        ret_info->pid = 0;
    }
    g_mutex_unlock(&host->lock);
    return d != NULL;
}

static char *
fake_domain_get_xml(ferry_domain *dom, guint flags, GError **error)
{
    fake_host *host = host_of(dom->conn);
    fake_dom *d;
    char *xml = NULL;

    g_mutex_lock(&host->lock);
    d = find_locked(host, dom->name, error);
    if (d)
        xml = g_strdup(d->xml);
    g_mutex_unlock(&host->lock);
    return xml;
}

const ferry_driver fake_driver = {
    .name = "fake",
    .conn_probe = fake_conn_probe,
    .conn_open = fake_conn_open,
    .conn_close = fake_conn_close,
    .conn_get_capabilities = fake_conn_get_capabilities,
    .conn_get_hostname = fake_conn_get_hostname,
    .conn_supports_feature = fake_conn_supports_feature,
    .conn_list_domains = fake_conn_list_domains,
    .conn_subscribe_events = fake_conn_subscribe_events,
    .conn_unsubscribe_events = fake_conn_unsubscribe_events,
    .domain_lookup_by_name = fake_domain_lookup_by_name,
    .domain_lookup_by_uuid = fake_domain_lookup_by_uuid,
    .domain_define_xml = fake_domain_define_xml,
    .domain_create_xml = fake_domain_create_xml,
    .domain_undefine = fake_domain_undefine,
    .domain_start = fake_domain_start,
    .domain_destroy = fake_domain_destroy,
    .domain_suspend = fake_domain_suspend,
    .domain_resume = fake_domain_resume,
    .domain_get_info = fake_domain_get_info,
    .domain_get_xml = fake_domain_get_xml,
};
