/*
 * test-driver.c: the test driver, a simulated host kept in memory.
 *
 * Owns: `test:///NAME` connections.  Each open creates a new, empty host with
 * its own host uuid, so two connections in one process are two hosts (the
 * migration tests rely on that).  Domains follow the QEMU driver's semantics
 * where a caller can see them: the same states, reasons, events and errors.
 * It runs nothing: a "running" domain is a state in memory.
 *
 * URI parameters (docs/uri.md):
 *   host_uuid=UUID   the host's uuid (default: random)
 *   hostname=NAME    the host's name (default: "test-NAME")
 */
#include "ferry-config.h"

#include <string.h>

#include "api/event-bus.h"
#include "conf/capabilities.h"
#include "driver/domain-obj.h"
#include "test/test-driver.h"
#include "util/uri.h"

typedef struct {
    char *host_uuid;
    char *hostname;
    ferry_domain_obj_list *domains;
    ferry_event_bus *bus;
} test_host;

static void
test_host_free(test_host *host)
{
    if (!host)
        return;
    ferry_event_bus_free(host->bus);
    ferry_domain_obj_list_free(host->domains);
    g_free(host->host_uuid);
    g_free(host->hostname);
    g_free(host);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(test_host, test_host_free)

static test_host *
host_of(ferry_conn *conn)
{
    return conn->driver_data;
}

static gboolean
test_conn_probe(const ferry_uri *uri)
{
    return strcmp(uri->driver, "test") == 0 && uri->transport == NULL;
}

static gboolean
test_conn_open(ferry_conn *conn, const ferry_uri *uri, GError **error)
{
    static const char *const allowed[] = { "host_uuid", "hostname", NULL };
    g_autoptr(test_host) host = g_new0(test_host, 1);
    const char *uuid = ferry_uri_get_param(uri, "host_uuid");
    const char *hostname = ferry_uri_get_param(uri, "hostname");
    const char *name = uri->path[0] == '/' ? uri->path + 1 : uri->path;

    if (!ferry_uri_check_params(uri, allowed, error))
        return FALSE;
    if (!*name) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                    "URI '%s' names no test host (use test:///default)", uri->original);
        return FALSE;
    }
    if (uuid && !g_uuid_string_is_valid(uuid)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                    "URI '%s': host_uuid '%s' is not a valid uuid", uri->original, uuid);
        return FALSE;
    }
    host->host_uuid = uuid ? g_ascii_strdown(uuid, -1) : g_uuid_string_random();
    host->hostname = hostname ? g_strdup(hostname) : g_strdup_printf("test-%s", name);
    host->domains = ferry_domain_obj_list_new();
    host->bus = ferry_event_bus_new();
    conn->driver_data = g_steal_pointer(&host);
    return TRUE;
}

static void
test_conn_close(ferry_conn *conn)
{
    test_host *host = host_of(conn);

    ferry_event_bus_unsubscribe_conn(host->bus, conn);
    test_host_free(host);
    conn->driver_data = NULL;
}

static char *
test_conn_get_capabilities(ferry_conn *conn, GError **error)
{
    test_host *host = host_of(conn);
    g_autoptr(ferry_caps) caps = ferry_caps_new();
    ferry_caps_guest *guest = ferry_caps_add_guest(caps, "hvm", "x86_64");

    caps->host_uuid = g_strdup(host->host_uuid);
    caps->hostname = g_strdup(host->hostname);
    caps->arch = g_strdup("x86_64");
    guest->emulator = g_strdup("/bin/true");
    guest->wordsize = 64;
    g_ptr_array_add(guest->machines, g_strdup("test"));
    g_ptr_array_add(guest->domain_types, g_strdup("test"));
    return ferry_caps_format(caps);
}

static char *
test_conn_get_hostname(ferry_conn *conn, GError **error)
{
    return g_strdup(host_of(conn)->hostname);
}

static gboolean
test_conn_supports_feature(ferry_conn *conn, ferry_feature feature,
                           gboolean *ret_supported, GError **error)
{
    *ret_supported = (feature == FERRY_FEATURE_EVENTS);
    return TRUE;
}

static gboolean
test_conn_list_domains(ferry_conn *conn, guint flags, GPtrArray **ret_domains,
                       GError **error)
{
    *ret_domains = ferry_domain_obj_list_handles(host_of(conn)->domains, conn, flags);
    return TRUE;
}

static guint
test_conn_subscribe_events(ferry_conn *conn, ferry_event_cb callback,
                           gpointer user_data, GDestroyNotify destroy,
                           GError **error)
{
    return ferry_event_bus_subscribe(host_of(conn)->bus, conn, callback,
                                     user_data, destroy);
}

static gboolean
test_conn_unsubscribe_events(ferry_conn *conn, guint id, GError **error)
{
    return ferry_event_bus_unsubscribe(host_of(conn)->bus, conn, id, error);
}

static void
emit_lifecycle(test_host *host, ferry_domain_obj *obj, ferry_lifecycle_event what)
{
    ferry_domain_obj_emit_lifecycle(host->bus, obj, what);
}

static ferry_domain *
handle_for(ferry_conn *conn, ferry_domain_obj *obj)
{
    return ferry_domain_new_handle(conn, obj->name, obj->uuid);
}

static ferry_domain *
test_domain_lookup_by_name(ferry_conn *conn, const char *name, GError **error)
{
    test_host *host = host_of(conn);

    return ferry_domain_obj_list_handle_by_name(host->domains, conn, name, host->hostname,
                                                error);
}

static ferry_domain *
test_domain_lookup_by_uuid(ferry_conn *conn, const char *uuid, GError **error)
{
    test_host *host = host_of(conn);

    return ferry_domain_obj_list_handle_by_uuid(host->domains, conn, uuid, host->hostname,
                                                error);
}

static ferry_domain *
test_domain_define_xml(ferry_conn *conn, const char *xml, GError **error)
{
    test_host *host = host_of(conn);
    g_autoptr(ferry_domain_obj) obj = NULL;
    ferry_domain_def *def = ferry_domain_def_parse_string(xml, NULL, 0, error);

    if (!def)
        return NULL;
    obj = ferry_domain_obj_list_define(host->domains, def, NULL, error);
    if (!obj)
        return NULL;
    emit_lifecycle(host, obj, FERRY_LIFECYCLE_DEFINED);
    return handle_for(conn, obj);
}

/* Marks an inactive domain running (or paused) and announces it. */
static void
start_locked_job(test_host *host, ferry_domain_obj *obj, guint flags)
{
    gboolean paused = (flags & FERRY_START_PAUSED) != 0;

    g_mutex_lock(&obj->lock);
    if (!obj->live)
        obj->live = ferry_domain_def_copy(obj->def);
    if (paused)
        ferry_domain_obj_set_state(obj, FERRY_DOMAIN_PAUSED, FERRY_PAUSED_STARTING_UP);
    else
        ferry_domain_obj_set_state(obj, FERRY_DOMAIN_RUNNING, FERRY_RUNNING_BOOTED);
    g_mutex_unlock(&obj->lock);
    emit_lifecycle(host, obj, FERRY_LIFECYCLE_STARTED);
}

static ferry_domain *
test_domain_create_xml(ferry_conn *conn, const char *xml, guint flags, GError **error)
{
    test_host *host = host_of(conn);
    g_autoptr(ferry_domain_obj) obj = NULL;
    ferry_domain_def *def = ferry_domain_def_parse_string(xml, NULL, 0, error);

    if (!def)
        return NULL;
    obj = ferry_domain_obj_list_add_transient(host->domains, def, error);
    if (!obj)
        return NULL;
    start_locked_job(host, obj, flags);
    return handle_for(conn, obj);
}

/* Looks the domain up and takes its job; on success the caller must end it. */
static ferry_domain_obj *
begin_modify(ferry_domain *dom, const char *what, GError **error)
{
    test_host *host = host_of(dom->conn);
    g_autoptr(ferry_domain_obj) obj =
        ferry_domain_obj_list_lookup(host->domains, dom, host->hostname, error);

    if (!obj || !ferry_domain_obj_begin_job(obj, FERRY_JOB_MODIFY, what, error))
        return NULL;
    return g_steal_pointer(&obj);
}

static void
end_modify(ferry_domain_obj *obj)
{
    ferry_domain_obj_end_job(obj);
    ferry_domain_obj_unref(obj);
}

static gboolean
test_domain_undefine(ferry_domain *dom, guint flags, GError **error)
{
    test_host *host = host_of(dom->conn);
    ferry_domain_obj *obj = begin_modify(dom, "undefine", error);
    gboolean active;

    if (!obj)
        return FALSE;
    g_mutex_lock(&obj->lock);
    if (!obj->def) {
        g_mutex_unlock(&obj->lock);
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s' is transient: it has no definition to undefine",
                    obj->name);
        end_modify(obj);
        return FALSE;
    }
    g_clear_pointer(&obj->def, ferry_domain_def_free);
    active = ferry_domain_obj_is_active(obj);
    g_mutex_unlock(&obj->lock);
    if (!active)
        ferry_domain_obj_list_remove(host->domains, obj);
    emit_lifecycle(host, obj, FERRY_LIFECYCLE_UNDEFINED);
    end_modify(obj);
    return TRUE;
}

static gboolean
test_domain_start(ferry_domain *dom, guint flags, GError **error)
{
    test_host *host = host_of(dom->conn);
    ferry_domain_obj *obj = begin_modify(dom, "start", error);
    gboolean active;

    if (!obj)
        return FALSE;
    g_mutex_lock(&obj->lock);
    active = ferry_domain_obj_is_active(obj);
    g_mutex_unlock(&obj->lock);
    if (active) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s' is already running", obj->name);
        end_modify(obj);
        return FALSE;
    }
    start_locked_job(host, obj, flags);
    end_modify(obj);
    return TRUE;
}

static gboolean
test_domain_destroy(ferry_domain *dom, GError **error)
{
    test_host *host = host_of(dom->conn);
    ferry_domain_obj *obj = begin_modify(dom, "destroy", error);
    gboolean transient;

    if (!obj)
        return FALSE;
    g_mutex_lock(&obj->lock);
    if (!ferry_domain_obj_is_active(obj)) {
        g_mutex_unlock(&obj->lock);
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s' is not running", obj->name);
        end_modify(obj);
        return FALSE;
    }
    g_clear_pointer(&obj->live, ferry_domain_def_free);
    ferry_domain_obj_set_state(obj, FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_DESTROYED);
    transient = obj->def == NULL;
    g_mutex_unlock(&obj->lock);
    if (transient)
        ferry_domain_obj_list_remove(host->domains, obj);
    emit_lifecycle(host, obj, FERRY_LIFECYCLE_STOPPED);
    end_modify(obj);
    return TRUE;
}

/* Moves a domain from state @from to @to_state/@to_reason, or explains why
 * it cannot. */
static gboolean
change_run_state(ferry_domain *dom, const char *what, int from, int to_state,
                 int to_reason, ferry_lifecycle_event event, GError **error)
{
    test_host *host = host_of(dom->conn);
    ferry_domain_obj *obj = begin_modify(dom, what, error);
    int state;

    if (!obj)
        return FALSE;
    g_mutex_lock(&obj->lock);
    state = obj->state;
    if (state == from)
        ferry_domain_obj_set_state(obj, to_state, to_reason);
    g_mutex_unlock(&obj->lock);
    if (state != from) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "cannot %s domain '%s': it is %s, not %s", what, obj->name,
                    ferry_domain_state_to_string(state),
                    ferry_domain_state_to_string(from));
        end_modify(obj);
        return FALSE;
    }
    emit_lifecycle(host, obj, event);
    end_modify(obj);
    return TRUE;
}

static gboolean
test_domain_suspend(ferry_domain *dom, GError **error)
{
    return change_run_state(dom, "suspend", FERRY_DOMAIN_RUNNING, FERRY_DOMAIN_PAUSED,
                            FERRY_PAUSED_USER, FERRY_LIFECYCLE_SUSPENDED, error);
}

static gboolean
test_domain_resume(ferry_domain *dom, GError **error)
{
    return change_run_state(dom, "resume", FERRY_DOMAIN_PAUSED, FERRY_DOMAIN_RUNNING,
                            FERRY_RUNNING_UNPAUSED, FERRY_LIFECYCLE_RESUMED, error);
}

static gboolean
test_domain_get_info(ferry_domain *dom, ferry_domain_info *ret_info, GError **error)
{
    test_host *host = host_of(dom->conn);
    g_autoptr(ferry_domain_obj) obj =
        ferry_domain_obj_list_lookup(host->domains, dom, host->hostname, error);

    if (!obj)
        return FALSE;
    g_mutex_lock(&obj->lock);
    ferry_domain_obj_fill_info(obj, ret_info);
    g_mutex_unlock(&obj->lock);
    return TRUE;
}

static char *
test_domain_get_xml(ferry_domain *dom, guint flags, GError **error)
{
    test_host *host = host_of(dom->conn);
    g_autoptr(ferry_domain_obj) obj =
        ferry_domain_obj_list_lookup(host->domains, dom, host->hostname, error);
    char *xml;

    if (!obj)
        return NULL;
    g_mutex_lock(&obj->lock);
    xml = ferry_domain_obj_format_xml(obj, flags);
    g_mutex_unlock(&obj->lock);
    return xml;
}

const ferry_driver ferry_test_driver = {
    .name = "test",
    .conn_probe = test_conn_probe,                               /* since 0.1 */
    .conn_open = test_conn_open,                                 /* since 0.1 */
    .conn_close = test_conn_close,                               /* since 0.1 */
    .conn_get_capabilities = test_conn_get_capabilities,         /* since 0.1 */
    .conn_get_hostname = test_conn_get_hostname,                 /* since 0.1 */
    .conn_supports_feature = test_conn_supports_feature,         /* since 0.1 */
    .conn_list_domains = test_conn_list_domains,                 /* since 0.1 */
    .conn_subscribe_events = test_conn_subscribe_events,         /* since 0.1 */
    .conn_unsubscribe_events = test_conn_unsubscribe_events,     /* since 0.1 */
    .domain_lookup_by_name = test_domain_lookup_by_name,         /* since 0.1 */
    .domain_lookup_by_uuid = test_domain_lookup_by_uuid,         /* since 0.1 */
    .domain_define_xml = test_domain_define_xml,                 /* since 0.1 */
    .domain_create_xml = test_domain_create_xml,                 /* since 0.1 */
    .domain_undefine = test_domain_undefine,                     /* since 0.1 */
    .domain_start = test_domain_start,                           /* since 0.1 */
    .domain_destroy = test_domain_destroy,                       /* since 0.1 */
    .domain_suspend = test_domain_suspend,                       /* since 0.1 */
    .domain_resume = test_domain_resume,                         /* since 0.1 */
    .domain_get_info = test_domain_get_info,                     /* since 0.1 */
    .domain_get_xml = test_domain_get_xml,                       /* since 0.1 */
};
