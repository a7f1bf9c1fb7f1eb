/*
 * dispatch.c: the daemon's side of each CALL procedure.
 *
 * Owns: one dispatch_client per RPC client (its connection and its event
 * subscription), the procedure -> function table (built from the schema's
 * list, proto/ferry-procedures.h, so a procedure without a function here
 * fails the build), and the event thread.  Must not call driver entries:
 * only the public API on the client's connection, and for the migration
 * phases the library's phase calls (src/api/migrate-internal.h), which
 * check arguments as the public API does.
 *
 * Threads: calls run on the server's workers, several at once for one
 * client; the quick ones (handler_is_priority()) on workers of their own.
 * `lock` of a dispatch_client guards its connection and subscription, and
 * each call holds its own reference on the connection.  The event thread
 * runs a GMainContext of its own: event subscriptions are made there, so
 * the API delivers events there (ferry_conn_subscribe_events() uses the
 * thread-default context), and the migration calls start there, so their
 * callbacks answer from there; nothing in it blocks.
 */
#include "ferry-config.h"

#include <unistd.h>

#include "api/migrate-internal.h"
#include "daemon/dispatch.h"
#include "daemon/dispatch-snapshot.h"
#include "daemon/dispatch-tunnel.h"
#include "daemon/log-filter.h"
#include "proto/ferry-procedures.h"
#include "rpc/rpc-message.h"

struct ferry_dispatch {
    const ferry_driver **drivers;   /* NULL-terminated copy */
    GMainContext *events_context;
    GMainLoop *events_loop;
    GThread *events_thread;
};

typedef struct {
    ferry_dispatch *dispatch;
    ferry_rpc_server_client *client; /* not referenced: it owns this */
    GMutex lock;
    ferry_conn *conn;               /* lock; NULL until CONNECT_OPEN */
    gboolean opening;               /* lock; a CONNECT_OPEN is running */
    guint events_id;                /* lock; 0 when not registered */
    gboolean closed;                /* lock; the client is gone */
} dispatch_client;

typedef struct {
    dispatch_client *dc;
    ferry_rpc_call *rpc;            /* what the server gave us */
    ferry_conn *conn;               /* a reference; NULL for CONNECT_OPEN */
    const ProtobufCMessage *args;
    ProtobufCMessage *owned_args;   /* = args until an asynchronous call takes them */
    GBytes *ret;                    /* the packed Ret, set on success */
    gboolean async;                 /* start_async() took the call over */
} dispatch_call;

typedef gboolean (*dispatch_func)(dispatch_call *c, GError **error);

/* Packs @msg as the call's result. */
static gboolean
set_ret(dispatch_call *c, const ProtobufCMessage *msg)
{
    c->ret = ferry_rpc_message_pack(msg);
    return TRUE;
}

static Ferry__Domain *
domain_to_wire(ferry_domain *dom, Ferry__Domain *wire)
{
    ferry__domain__init(wire);
    wire->name = (char *)ferry_domain_get_name(dom);
    wire->uuid = (char *)ferry_domain_get_uuid(dom);
    return wire;
}

/* A handle on the client's connection for the domain a call names. */
static ferry_domain *
domain_from_wire(dispatch_call *c, const Ferry__Domain *wire, GError **error)
{
    if (!g_uuid_string_is_valid(wire->uuid)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "domain '%s': '%s' is not a valid uuid", wire->name, wire->uuid);
        return NULL;
    }
    return ferry_domain_new_handle(c->conn, wire->name, wire->uuid);
}

/* ------------------------------------------------------------------------ */
/* Events                                                                    */
/* ------------------------------------------------------------------------ */

static void
on_event(ferry_conn *conn, const ferry_event *event, gpointer user_data)
{
    ferry_rpc_server_client *client = user_data;
    Ferry__LifecycleEvent msg = FERRY__LIFECYCLE_EVENT__INIT;
    Ferry__Domain wire;
    Ferry__JobInfo job;
    g_autoptr(GBytes) body = NULL;

    msg.domain = domain_to_wire(event->domain, &wire);
    if (event->job) {
        ferry_rpc_job_info_to_wire(event->job, &job);
        msg.job = &job;
    }
    msg.type = event->type;
    msg.lifecycle = event->lifecycle;
    msg.state = event->state;
    msg.reason = event->reason;
    msg.timestamp_us = event->timestamp_us;
    body = ferry_rpc_message_pack(&msg.base);
    ferry_rpc_server_client_send_event(client, FERRY__PROCEDURE__EVENT_LIFECYCLE, body);
}

typedef struct {
    GMutex lock;
    GCond cond;
    gboolean done;
    ferry_conn *conn;
    ferry_rpc_server_client *client;
    guint id;
    GError *error;
} subscribe_request;

static gboolean
subscribe_in_event_thread(gpointer data)
{
    subscribe_request *req = data;
    ferry_rpc_server_client *ref = ferry_rpc_server_client_ref(req->client);
    GError *local = NULL;
    guint id;

    id = ferry_conn_subscribe_events(req->conn, on_event, ref,
                                     (GDestroyNotify)ferry_rpc_server_client_unref, &local);
    if (!id)
        ferry_rpc_server_client_unref(ref);
    g_mutex_lock(&req->lock);
    req->id = id;
    req->error = local;
    req->done = TRUE;
    g_cond_signal(&req->cond);
    g_mutex_unlock(&req->lock);
    return G_SOURCE_REMOVE;
}

/* Subscribes @client to @conn's events from the event thread. */
static guint
subscribe(ferry_dispatch *dispatch, ferry_conn *conn, ferry_rpc_server_client *client,
          GError **error)
{
    subscribe_request req = { .conn = conn, .client = client };

    g_mutex_init(&req.lock);
    g_cond_init(&req.cond);
    g_main_context_invoke(dispatch->events_context, subscribe_in_event_thread, &req);
    g_mutex_lock(&req.lock);
    while (!req.done)
        g_cond_wait(&req.cond, &req.lock);
    g_mutex_unlock(&req.lock);
    g_mutex_clear(&req.lock);
    g_cond_clear(&req.cond);
    if (req.error)
        g_propagate_error(error, req.error);
    return req.id;
}

static gpointer
event_thread(gpointer data)
{
    ferry_dispatch *dispatch = data;

    g_main_context_push_thread_default(dispatch->events_context);
    g_main_loop_run(dispatch->events_loop);
    g_main_context_pop_thread_default(dispatch->events_context);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Connection procedures                                                     */
/* ------------------------------------------------------------------------ */

/*
 * Who may name any path on this host (docs/security.md, "Confinement"):
 * a UNIX peer whose credentials say root or ferryd's own user -- like
 * libvirt's local root, it could do as much without ferryd.  Everyone else
 * is confined: anything over TCP (a client or a peer daemon, with no
 * authentication yet), another local user, a peer whose credentials could
 * not be read.  Their connection's calls may only name paths inside
 * storage_dirs and file_dirs.
 */
static gboolean
client_is_trusted(ferry_rpc_server_client *client)
{
    gint64 uid;

    if (!ferry_rpc_server_client_get_credentials(client, NULL, &uid))
        return FALSE;
    return uid == 0 || uid == (gint64)geteuid();
}

static gboolean
dispatch_connect_open(dispatch_call *c, GError **error)
{
    const Ferry__ConnectOpenArgs *args = (const Ferry__ConnectOpenArgs *)c->args;
    Ferry__ConnectOpenRet ret = FERRY__CONNECT_OPEN_RET__INIT;
    dispatch_client *dc = c->dc;
    ferry_conn *conn;
    gboolean kept;

    g_mutex_lock(&dc->lock);
    if (dc->conn || dc->opening) {
        g_mutex_unlock(&dc->lock);
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "cannot open '%s': this client already has a connection open",
                    args->uri);
        return FALSE;
    }
    dc->opening = TRUE;
    g_mutex_unlock(&dc->lock);

    conn = ferry_conn_open_with_drivers(args->uri,
                                        (const ferry_driver *const *)dc->dispatch->drivers,
                                        error);
    /* Before any call can use it: it is not the client's until stored. */
    if (conn && !client_is_trusted(dc->client))
        ferry_conn_set_confined(conn);
    g_mutex_lock(&dc->lock);
    dc->opening = FALSE;
    kept = conn && !dc->closed;
    if (kept)
        dc->conn = ferry_conn_ref(conn);
    g_mutex_unlock(&dc->lock);
    if (!conn)
        return FALSE;
    if (!kept) {
        ferry_conn_unref(conn);
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED,
                    "the client closed its connection while '%s' was opening", args->uri);
        return FALSE;
    }
    g_info("%s: opened '%s'%s", ferry_rpc_server_client_get_description(dc->client),
           ferry_conn_get_uri(conn),
           ferry_conn_is_confined(conn) ? " (confined to storage_dirs and file_dirs)" : "");
    ferry_conn_unref(conn);
    return set_ret(c, &ret.base);
}

/* Takes the client's connection and subscription away from it. */
static void
drop_connection(dispatch_client *dc)
{
    ferry_conn *conn;
    guint id;

    g_mutex_lock(&dc->lock);
    conn = g_steal_pointer(&dc->conn);
    id = dc->events_id;
    dc->events_id = 0;
    g_mutex_unlock(&dc->lock);
    if (id)
        ferry_conn_unsubscribe_events(conn, id, NULL);
    ferry_conn_unref(conn);
}

/* The client went away without closing: the migrations it drove lost
 * their driver, which the connection's driver must hear before the
 * connection goes (a migration job then decides alone). */
static void
drop_vanished_connection(dispatch_client *dc)
{
    g_autoptr(ferry_conn) conn = NULL;

    g_mutex_lock(&dc->lock);
    conn = ferry_conn_ref(dc->conn);
    g_mutex_unlock(&dc->lock);
    ferry_conn_client_gone(conn);
    drop_connection(dc);
}

static gboolean
dispatch_connect_close(dispatch_call *c, GError **error)
{
    Ferry__ConnectCloseRet ret = FERRY__CONNECT_CLOSE_RET__INIT;

    drop_connection(c->dc);
    return set_ret(c, &ret.base);
}

static gboolean
dispatch_connect_get_capabilities(dispatch_call *c, GError **error)
{
    Ferry__ConnectGetCapabilitiesRet ret = FERRY__CONNECT_GET_CAPABILITIES_RET__INIT;
    g_autofree char *caps = ferry_conn_get_capabilities(c->conn, error);

    if (!caps)
        return FALSE;
    ret.capabilities = caps;
    return set_ret(c, &ret.base);
}

static gboolean
dispatch_connect_get_hostname(dispatch_call *c, GError **error)
{
    Ferry__ConnectGetHostnameRet ret = FERRY__CONNECT_GET_HOSTNAME_RET__INIT;
    g_autofree char *hostname = ferry_conn_get_hostname(c->conn, error);

    if (!hostname)
        return FALSE;
    ret.hostname = hostname;
    return set_ret(c, &ret.base);
}

static gboolean
dispatch_connect_supports_feature(dispatch_call *c, GError **error)
{
    const Ferry__ConnectSupportsFeatureArgs *args =
        (const Ferry__ConnectSupportsFeatureArgs *)c->args;
    Ferry__ConnectSupportsFeatureRet ret = FERRY__CONNECT_SUPPORTS_FEATURE_RET__INIT;
    gboolean supported = FALSE;

    if (!ferry_conn_supports_feature(c->conn, args->feature, &supported, error))
        return FALSE;
    ret.supported = supported;
    return set_ret(c, &ret.base);
}

static gboolean
dispatch_connect_list_domains(dispatch_call *c, GError **error)
{
    const Ferry__ConnectListDomainsArgs *args =
        (const Ferry__ConnectListDomainsArgs *)c->args;
    Ferry__ConnectListDomainsRet ret = FERRY__CONNECT_LIST_DOMAINS_RET__INIT;
    g_autoptr(GPtrArray) domains = NULL;
    g_autofree Ferry__Domain *wires = NULL;
    g_autofree Ferry__Domain **ptrs = NULL;

    if (!ferry_conn_list_domains(c->conn, args->flags, &domains, error))
        return FALSE;
    wires = g_new0(Ferry__Domain, domains->len);
    ptrs = g_new0(Ferry__Domain *, domains->len);
    for (guint i = 0; i < domains->len; i++)
        ptrs[i] = domain_to_wire(g_ptr_array_index(domains, i), &wires[i]);
    ret.n_domains = domains->len;
    ret.domains = ptrs;
    return set_ret(c, &ret.base);
}

static gboolean
dispatch_events_register(dispatch_call *c, GError **error)
{
    Ferry__EventsRegisterRet ret = FERRY__EVENTS_REGISTER_RET__INIT;
    dispatch_client *dc = c->dc;
    gboolean registered;
    guint id;

    g_mutex_lock(&dc->lock);
    registered = dc->events_id != 0;
    g_mutex_unlock(&dc->lock);
    if (registered)
        return set_ret(c, &ret.base);

    id = subscribe(dc->dispatch, c->conn, dc->client, error);
    if (!id)
        return FALSE;
    g_mutex_lock(&dc->lock);
    /* Keeps the first of two racing registrations, and none for a client
     * whose connection was closed meanwhile. */
    if (dc->events_id == 0 && dc->conn == c->conn && !dc->closed) {
        dc->events_id = id;
        id = 0;
    }
    g_mutex_unlock(&dc->lock);
    if (id)
        ferry_conn_unsubscribe_events(c->conn, id, NULL);
    return set_ret(c, &ret.base);
}

static gboolean
dispatch_events_deregister(dispatch_call *c, GError **error)
{
    Ferry__EventsDeregisterRet ret = FERRY__EVENTS_DEREGISTER_RET__INIT;
    dispatch_client *dc = c->dc;
    guint id;

    g_mutex_lock(&dc->lock);
    id = dc->events_id;
    dc->events_id = 0;
    g_mutex_unlock(&dc->lock);
    if (!id) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "this connection has not registered for events");
        return FALSE;
    }
    if (!ferry_conn_unsubscribe_events(c->conn, id, error))
        return FALSE;
    return set_ret(c, &ret.base);
}

/* ------------------------------------------------------------------------ */
/* Domain procedures                                                         */
/* ------------------------------------------------------------------------ */

/* Answers with @dom (taken) in the Ret message @ret's field @field. */
static gboolean
reply_domain(dispatch_call *c, ferry_domain *dom, ProtobufCMessage *ret,
             Ferry__Domain **field)
{
    g_autoptr(ferry_domain) owned = dom;
    Ferry__Domain wire;

    if (!owned)
        return FALSE;
    *field = domain_to_wire(owned, &wire);
    return set_ret(c, ret);
}

static gboolean
dispatch_domain_lookup_by_name(dispatch_call *c, GError **error)
{
    const Ferry__DomainLookupByNameArgs *args =
        (const Ferry__DomainLookupByNameArgs *)c->args;
    Ferry__DomainLookupByNameRet ret = FERRY__DOMAIN_LOOKUP_BY_NAME_RET__INIT;

    return reply_domain(c, ferry_domain_lookup_by_name(c->conn, args->name, error),
                        &ret.base, &ret.dom);
}

static gboolean
dispatch_domain_lookup_by_uuid(dispatch_call *c, GError **error)
{
    const Ferry__DomainLookupByUuidArgs *args =
        (const Ferry__DomainLookupByUuidArgs *)c->args;
    Ferry__DomainLookupByUuidRet ret = FERRY__DOMAIN_LOOKUP_BY_UUID_RET__INIT;

    return reply_domain(c, ferry_domain_lookup_by_uuid(c->conn, args->uuid, error),
                        &ret.base, &ret.dom);
}

static gboolean
dispatch_domain_define_xml(dispatch_call *c, GError **error)
{
    const Ferry__DomainDefineXmlArgs *args = (const Ferry__DomainDefineXmlArgs *)c->args;
    Ferry__DomainDefineXmlRet ret = FERRY__DOMAIN_DEFINE_XML_RET__INIT;
    g_autoptr(ferry_domain) dom = ferry_domain_define_xml(c->conn, args->xml, error);

    if (!dom)
        return FALSE;
    ret.warnings = (char **)ferry_domain_get_warnings(dom);
    ret.n_warnings = g_strv_length(ret.warnings);
    return reply_domain(c, g_steal_pointer(&dom), &ret.base, &ret.dom);
}

static gboolean
dispatch_domain_create_xml(dispatch_call *c, GError **error)
{
    const Ferry__DomainCreateXmlArgs *args = (const Ferry__DomainCreateXmlArgs *)c->args;
    Ferry__DomainCreateXmlRet ret = FERRY__DOMAIN_CREATE_XML_RET__INIT;
    g_autoptr(ferry_domain) dom = ferry_domain_create_xml(c->conn, args->xml, args->flags,
                                                          error);

    if (!dom)
        return FALSE;
    ret.warnings = (char **)ferry_domain_get_warnings(dom);
    ret.n_warnings = g_strv_length(ret.warnings);
    return reply_domain(c, g_steal_pointer(&dom), &ret.base, &ret.dom);
}

/*
 * Runs @action (or @flags_action with @flags) on the domain a call names.
 * The Ret messages of these procedures are empty.
 */
static gboolean
run_domain_action(dispatch_call *c, const Ferry__Domain *wire,
                  gboolean (*action)(ferry_domain *, GError **),
                  gboolean (*flags_action)(ferry_domain *, guint, GError **), guint flags,
                  GError **error)
{
    g_autoptr(ferry_domain) dom = domain_from_wire(c, wire, error);

    if (!dom)
        return FALSE;
    if (action ? !action(dom, error) : !flags_action(dom, flags, error))
        return FALSE;
    c->ret = g_bytes_new(NULL, 0);
    return TRUE;
}

static gboolean
dispatch_domain_undefine(dispatch_call *c, GError **error)
{
    const Ferry__DomainUndefineArgs *args = (const Ferry__DomainUndefineArgs *)c->args;

    return run_domain_action(c, args->dom, NULL, ferry_domain_undefine, args->flags, error);
}

static gboolean
dispatch_domain_start(dispatch_call *c, GError **error)
{
    const Ferry__DomainStartArgs *args = (const Ferry__DomainStartArgs *)c->args;

    return run_domain_action(c, args->dom, NULL, ferry_domain_start, args->flags, error);
}

static gboolean
dispatch_domain_destroy(dispatch_call *c, GError **error)
{
    const Ferry__DomainDestroyArgs *args = (const Ferry__DomainDestroyArgs *)c->args;

    return run_domain_action(c, args->dom, ferry_domain_destroy, NULL, 0, error);
}

static gboolean
dispatch_domain_suspend(dispatch_call *c, GError **error)
{
    const Ferry__DomainSuspendArgs *args = (const Ferry__DomainSuspendArgs *)c->args;

    return run_domain_action(c, args->dom, ferry_domain_suspend, NULL, 0, error);
}

static gboolean
dispatch_domain_resume(dispatch_call *c, GError **error)
{
    const Ferry__DomainResumeArgs *args = (const Ferry__DomainResumeArgs *)c->args;

    return run_domain_action(c, args->dom, ferry_domain_resume, NULL, 0, error);
}

static gboolean
dispatch_domain_get_info(dispatch_call *c, GError **error)
{
    const Ferry__DomainGetInfoArgs *args = (const Ferry__DomainGetInfoArgs *)c->args;
    Ferry__DomainGetInfoRet ret = FERRY__DOMAIN_GET_INFO_RET__INIT;
    g_autoptr(ferry_domain) dom = domain_from_wire(c, args->dom, error);
    ferry_domain_info info = { 0 };

    if (!dom || !ferry_domain_get_info(dom, &info, error))
        return FALSE;
    ret.state = info.state;
    ret.reason = info.reason;
    ret.memory_kib = info.memory_kib;
    ret.vcpus = info.vcpus;
    ret.cpu_time_ns = info.cpu_time_ns;
    ret.persistent = info.persistent;
    ret.pid = info.pid;
    return set_ret(c, &ret.base);
}

static gboolean
dispatch_domain_get_xml(dispatch_call *c, GError **error)
{
    const Ferry__DomainGetXmlArgs *args = (const Ferry__DomainGetXmlArgs *)c->args;
    Ferry__DomainGetXmlRet ret = FERRY__DOMAIN_GET_XML_RET__INIT;
    g_autoptr(ferry_domain) dom = domain_from_wire(c, args->dom, error);
    g_autofree char *xml = NULL;

    if (!dom)
        return FALSE;
    xml = ferry_domain_get_xml(dom, args->flags, error);
    if (!xml)
        return FALSE;
    ret.xml = xml;
    return set_ret(c, &ret.base);
}

/* ------------------------------------------------------------------------ */
/* Migration procedures                                                      */
/*                                                                           */
/* The phases, an abort and the daemons' questions to each other may wait   */
/* minutes on QEMU or on the other host.  They hold no worker meanwhile:     */
/* each is started from the event thread with the library's asynchronous   */
/* call (src/api/migrate-internal.h) and answered from its callback.         */
/* ------------------------------------------------------------------------ */

/* Migration parameters decoded from the wire, valid while the call's args
 * live: the strings belong to them; `disks` is the NULL-terminated array
 * params.migrate_disks points to. */
typedef struct {
    ferry_migrate_params p;
    const char **disks;
} wire_params;

static void
wire_params_clear(wire_params *w)
{
    g_free(w->disks);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(wire_params, wire_params_clear)

static wire_params
params_from_wire(const Ferry__MigrateParams *wire)
{
    wire_params w = {
        .p = {
            .flags = wire->flags,
            .dname = wire->dname,
            .uri = wire->uri,
            .dxml = wire->dxml,
            .bandwidth_mib = wire->has_bandwidth_mib ? wire->bandwidth_mib : 0,
            .disks_port = wire->has_disks_port ? wire->disks_port : 0,
            .timeout_s = wire->has_timeout_s ? wire->timeout_s : 0,
            .timeout_action = wire->has_timeout_action ? wire->timeout_action : 0,
            .max_downtime_ms = wire->has_max_downtime_ms ? wire->max_downtime_ms : 0,
            .retry_s = wire->has_retry_s ? wire->retry_s : 0,
            .postcopy_bandwidth_mib = wire->has_postcopy_bandwidth_mib
                                          ? wire->postcopy_bandwidth_mib : 0,
            .parallel_connections = wire->has_parallel_connections
                                        ? wire->parallel_connections : 0,
            .comp_methods = wire->has_comp_methods ? wire->comp_methods : 0,
            .auto_converge_initial = wire->has_auto_converge_initial
                                         ? wire->auto_converge_initial : 0,
            .auto_converge_increment = wire->has_auto_converge_increment
                                           ? wire->auto_converge_increment : 0,
            .max_downtime_cap_ms = wire->has_max_downtime_cap_ms
                                       ? wire->max_downtime_cap_ms : 0,
        },
    };

    /* No disks on the wire means NULL: every disk that is not read-only. */
    if (wire->n_migrate_disks > 0) {
        w.disks = g_new0(const char *, wire->n_migrate_disks + 1);
        for (size_t i = 0; i < wire->n_migrate_disks; i++)
            w.disks[i] = wire->migrate_disks[i];
        w.p.migrate_disks = w.disks;
    }
    return w;
}

typedef struct dispatch_async dispatch_async;

/* Starts the library call; runs in the event thread. */
typedef void (*async_start_func)(dispatch_async *a);
/* Packs the Ret message from what the call produced. */
typedef GBytes *(*async_reply_func)(dispatch_async *a, ferry_phase_result *result,
                                    GError **error);

/* One asynchronous call in flight: everything it needs until answered. */
struct dispatch_async {
    ferry_rpc_call *rpc;
    ferry_conn *conn;               /* a reference */
    ferry_domain *dom;              /* a reference, or NULL */
    ProtobufCMessage *args;         /* owned: `params` points into it */
    wire_params params;
    async_start_func start;
    async_reply_func reply;
};

static void
dispatch_async_free(dispatch_async *a)
{
    wire_params_clear(&a->params);
    g_clear_pointer(&a->dom, ferry_domain_unref);
    ferry_conn_unref(a->conn);
    ferry_rpc_message_free(a->args);
    g_free(a);
}

static void
async_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
    dispatch_async *a = user_data;
    g_autoptr(ferry_phase_result) result = NULL;
    GError *local = NULL;

    g_autoptr(GBytes) body = NULL;

    result = ferry_phase_finish(res, &local);
    if (result && a->reply)
        body = a->reply(a, result, &local);
    if (local)
        ferry_rpc_call_return_error(a->rpc, local);
    else
        ferry_rpc_call_return(a->rpc, body);
    dispatch_async_free(a);
}

static gboolean
async_start_in_event_thread(gpointer data)
{
    dispatch_async *a = data;

    a->start(a);
    return G_SOURCE_REMOVE;
}

/*
 * Takes the call over: @start runs in the event thread and @reply answers
 * it when the library calls back.  @wire_dom (nullable) names the domain,
 * @wire_params (nullable) the parameters.
 */
static gboolean
start_async(dispatch_call *c, const Ferry__Domain *wire_dom,
            const Ferry__MigrateParams *wire_params_, async_start_func start,
            async_reply_func reply, GError **error)
{
    dispatch_async *a;
    ferry_domain *dom = NULL;

    /* Checked again by the library; here before anything is copied. */
    if (wire_params_ && wire_params_->n_migrate_disks > FERRY_MIGRATE_DISKS_MAX) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "%s: migrate_disks names %" G_GSIZE_FORMAT " disks, more than the %u a "
                    "migration copies", ferry_rpc_procedure_name(ferry_rpc_call_get_procedure(
                        c->rpc)), wire_params_->n_migrate_disks, FERRY_MIGRATE_DISKS_MAX);
        return FALSE;
    }
    if (wire_dom && !(dom = domain_from_wire(c, wire_dom, error)))
        return FALSE;
    a = g_new0(dispatch_async, 1);
    a->rpc = c->rpc;
    a->conn = ferry_conn_ref(c->conn);
    a->dom = dom;
    a->args = g_steal_pointer(&c->owned_args);
    if (wire_params_)
        a->params = params_from_wire(wire_params_);
    a->start = start;
    a->reply = reply;
    c->async = TRUE;
    g_main_context_invoke(c->dc->dispatch->events_context, async_start_in_event_thread, a);
    return TRUE;
}

/* The Ret of Prepare3, Prepare2 and Prepare (v1): the same two fields with
 * the same numbers, so one message packs all three. */
static GBytes *
reply_cookie_uri(dispatch_async *a, ferry_phase_result *r, GError **error)
{
    Ferry__ConnectMigratePrepare3Ret ret = FERRY__CONNECT_MIGRATE_PREPARE3_RET__INIT;

    ret.cookie = r->cookie;
    ret.uri = r->uri;
    return ferry_rpc_message_pack(&ret.base);
}

/* The Ret of Perform3 and Confirm3: one optional cookie. */
static GBytes *
reply_cookie(dispatch_async *a, ferry_phase_result *r, GError **error)
{
    Ferry__DomainMigratePerform3Ret ret = FERRY__DOMAIN_MIGRATE_PERFORM3_RET__INIT;

    ret.cookie = r->cookie;
    return ferry_rpc_message_pack(&ret.base);
}

/* The Ret of the Finish calls: the domain (field 1 in all three), and for
 * Finish3 a cookie. */
static GBytes *
reply_finish(dispatch_async *a, ferry_phase_result *r, GError **error)
{
    Ferry__ConnectMigrateFinish3Ret ret = FERRY__CONNECT_MIGRATE_FINISH3_RET__INIT;
    Ferry__Domain wire;

    if (!r->dom) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL,
                    "%s on '%s' returned no domain and no error",
                    ferry_rpc_procedure_name(ferry_rpc_call_get_procedure(a->rpc)),
                    ferry_conn_get_uri(a->conn));
        return NULL;
    }
    ret.dom = domain_to_wire(r->dom, &wire);
    if (ferry_rpc_call_get_procedure(a->rpc) == FERRY__PROCEDURE__CONNECT_MIGRATE_FINISH3)
        ret.cookie = r->cookie;
    return ferry_rpc_message_pack(&ret.base);
}

static GBytes *
reply_begin3(dispatch_async *a, ferry_phase_result *r, GError **error)
{
    Ferry__DomainMigrateBegin3Ret ret = FERRY__DOMAIN_MIGRATE_BEGIN3_RET__INIT;

    if (!r->xml) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL,
                    "Begin3 of domain '%s' returned no XML and no error",
                    ferry_domain_get_name(a->dom));
        return NULL;
    }
    ret.xml = r->xml;
    ret.cookie = r->cookie;
    return ferry_rpc_message_pack(&ret.base);
}

static void
start_begin3(dispatch_async *a)
{
    ferry_domain_migrate_begin3_async(a->dom, &a->params.p, NULL, async_done, a);
}

static gboolean
dispatch_domain_migrate_begin3(dispatch_call *c, GError **error)
{
    const Ferry__DomainMigrateBegin3Args *args =
        (const Ferry__DomainMigrateBegin3Args *)c->args;

    return start_async(c, args->dom, args->params, start_begin3, reply_begin3, error);
}

static void
start_prepare3(dispatch_async *a)
{
    const Ferry__ConnectMigratePrepare3Args *args =
        (const Ferry__ConnectMigratePrepare3Args *)a->args;

    ferry_conn_migrate_prepare3_async(a->conn, &a->params.p, args->dom_xml, args->cookie_in,
                                      NULL, async_done, a);
}

static gboolean
dispatch_connect_migrate_prepare3(dispatch_call *c, GError **error)
{
    const Ferry__ConnectMigratePrepare3Args *args =
        (const Ferry__ConnectMigratePrepare3Args *)c->args;

    return start_async(c, NULL, args->params, start_prepare3, reply_cookie_uri, error);
}

/* Tunnelled Prepare: the call's stream carries the migration; the
 * incoming QEMU gets its end (dispatch-tunnel.c).  If Prepare fails, the
 * error reply fails the stream on both hosts. */
static void
start_prepare_tunnel3(dispatch_async *a)
{
    const Ferry__ConnectMigratePrepareTunnel3Args *args =
        (const Ferry__ConnectMigratePrepareTunnel3Args *)a->args;
    g_autoptr(GSocket) near = NULL;
    GError *error = NULL;

    near = ferry_dispatch_open_tunnel(a->rpc, &error);
    if (!near) {
        g_task_report_error(NULL, async_done, a, NULL, error);
        return;
    }
    ferry_conn_migrate_prepare_tunnel3_async(a->conn, &a->params.p, args->dom_xml,
                                             args->cookie_in, near, NULL, async_done, a);
}

static gboolean
dispatch_connect_migrate_prepare_tunnel3(dispatch_call *c, GError **error)
{
    const Ferry__ConnectMigratePrepareTunnel3Args *args =
        (const Ferry__ConnectMigratePrepareTunnel3Args *)c->args;

    return start_async(c, NULL, args->params, start_prepare_tunnel3, reply_cookie, error);
}

static void
start_perform3(dispatch_async *a)
{
    const Ferry__DomainMigratePerform3Args *args =
        (const Ferry__DomainMigratePerform3Args *)a->args;

    ferry_domain_migrate_perform3_async(a->dom, &a->params.p, args->dconn_uri,
                                        args->cookie_in, NULL, async_done, a);
}

static gboolean
dispatch_domain_migrate_perform3(dispatch_call *c, GError **error)
{
    const Ferry__DomainMigratePerform3Args *args =
        (const Ferry__DomainMigratePerform3Args *)c->args;

    return start_async(c, args->dom, args->params, start_perform3, reply_cookie, error);
}

static void
start_finish3(dispatch_async *a)
{
    const Ferry__ConnectMigrateFinish3Args *args =
        (const Ferry__ConnectMigrateFinish3Args *)a->args;

    ferry_conn_migrate_finish3_async(a->conn, &a->params.p, args->dname, args->cookie_in,
                                     args->cancelled, NULL, async_done, a);
}

static gboolean
dispatch_connect_migrate_finish3(dispatch_call *c, GError **error)
{
    const Ferry__ConnectMigrateFinish3Args *args =
        (const Ferry__ConnectMigrateFinish3Args *)c->args;

    return start_async(c, NULL, args->params, start_finish3, reply_finish, error);
}

static void
start_confirm3(dispatch_async *a)
{
    const Ferry__DomainMigrateConfirm3Args *args =
        (const Ferry__DomainMigrateConfirm3Args *)a->args;
    int outcome = FERRY_CONFIRM_OK;

    if (args->cancelled)
        outcome = FERRY_CONFIRM_CANCELLED;
    else if (args->has_in_doubt && args->in_doubt)
        outcome = FERRY_CONFIRM_UNKNOWN;
    ferry_domain_migrate_confirm3_async(a->dom, &a->params.p, args->cookie_in, outcome, NULL,
                                        async_done, a);
}

static gboolean
dispatch_domain_migrate_confirm3(dispatch_call *c, GError **error)
{
    const Ferry__DomainMigrateConfirm3Args *args =
        (const Ferry__DomainMigrateConfirm3Args *)c->args;

    return start_async(c, args->dom, args->params, start_confirm3, reply_cookie, error);
}

static void
start_prepare2(dispatch_async *a)
{
    const Ferry__ConnectMigratePrepare2Args *args =
        (const Ferry__ConnectMigratePrepare2Args *)a->args;

    ferry_conn_migrate_prepare2_async(a->conn, &a->params.p, args->dom_xml, NULL, async_done,
                                      a);
}

static gboolean
dispatch_connect_migrate_prepare2(dispatch_call *c, GError **error)
{
    const Ferry__ConnectMigratePrepare2Args *args =
        (const Ferry__ConnectMigratePrepare2Args *)c->args;

    return start_async(c, NULL, args->params, start_prepare2, reply_cookie_uri, error);
}

static void
start_perform(dispatch_async *a)
{
    const Ferry__DomainMigratePerformArgs *args =
        (const Ferry__DomainMigratePerformArgs *)a->args;

    ferry_domain_migrate_perform_async(a->dom, &a->params.p, args->cookie_in, NULL,
                                       async_done, a);
}

static gboolean
dispatch_domain_migrate_perform(dispatch_call *c, GError **error)
{
    const Ferry__DomainMigratePerformArgs *args =
        (const Ferry__DomainMigratePerformArgs *)c->args;

    return start_async(c, args->dom, args->params, start_perform, NULL, error);
}

static void
start_finish2(dispatch_async *a)
{
    const Ferry__ConnectMigrateFinish2Args *args =
        (const Ferry__ConnectMigrateFinish2Args *)a->args;

    ferry_conn_migrate_finish2_async(a->conn, &a->params.p, args->dname, args->cookie_in,
                                     args->ok, NULL, async_done, a);
}

static gboolean
dispatch_connect_migrate_finish2(dispatch_call *c, GError **error)
{
    const Ferry__ConnectMigrateFinish2Args *args =
        (const Ferry__ConnectMigrateFinish2Args *)c->args;

    return start_async(c, NULL, args->params, start_finish2, reply_finish, error);
}

static void
start_prepare(dispatch_async *a)
{
    ferry_conn_migrate_prepare_async(a->conn, &a->params.p, NULL, async_done, a);
}

static gboolean
dispatch_connect_migrate_prepare(dispatch_call *c, GError **error)
{
    const Ferry__ConnectMigratePrepareArgs *args =
        (const Ferry__ConnectMigratePrepareArgs *)c->args;

    return start_async(c, NULL, args->params, start_prepare, reply_cookie_uri, error);
}

static void
start_finish(dispatch_async *a)
{
    const Ferry__ConnectMigrateFinishArgs *args =
        (const Ferry__ConnectMigrateFinishArgs *)a->args;

    ferry_conn_migrate_finish_async(a->conn, &a->params.p, args->dname, args->cookie_in, NULL,
                                    async_done, a);
}

static gboolean
dispatch_connect_migrate_finish(dispatch_call *c, GError **error)
{
    const Ferry__ConnectMigrateFinishArgs *args =
        (const Ferry__ConnectMigrateFinishArgs *)c->args;

    return start_async(c, NULL, args->params, start_finish, reply_finish, error);
}

static void
start_abort_job(dispatch_async *a)
{
    const Ferry__DomainAbortJobArgs *args = (const Ferry__DomainAbortJobArgs *)a->args;

    ferry_domain_abort_job_async(a->dom, args->flags, NULL, async_done, a);
}

static gboolean
dispatch_domain_abort_job(dispatch_call *c, GError **error)
{
    const Ferry__DomainAbortJobArgs *args = (const Ferry__DomainAbortJobArgs *)c->args;

    return start_async(c, args->dom, NULL, start_abort_job, NULL, error);
}

static GBytes *
reply_query(dispatch_async *a, ferry_phase_result *r, GError **error)
{
    Ferry__ConnectMigrateQueryRet ret = FERRY__CONNECT_MIGRATE_QUERY_RET__INIT;

    ret.status = r->status;
    ret.message = r->message;
    return ferry_rpc_message_pack(&ret.base);
}

static void
start_query(dispatch_async *a)
{
    const Ferry__ConnectMigrateQueryArgs *args = (const Ferry__ConnectMigrateQueryArgs *)a->args;

    ferry_conn_migrate_query_async(a->conn, args->id, NULL, async_done, a);
}

static gboolean
dispatch_connect_migrate_query(dispatch_call *c, GError **error)
{
    return start_async(c, NULL, NULL, start_query, reply_query, error);
}

static GBytes *
reply_recover(dispatch_async *a, ferry_phase_result *r, GError **error)
{
    Ferry__ConnectMigratePostcopyRecoverRet ret =
        FERRY__CONNECT_MIGRATE_POSTCOPY_RECOVER_RET__INIT;

    ret.uri = r->uri ? r->uri : (char *)"";
    return ferry_rpc_message_pack(&ret.base);
}

static void
start_recover(dispatch_async *a)
{
    const Ferry__ConnectMigratePostcopyRecoverArgs *args =
        (const Ferry__ConnectMigratePostcopyRecoverArgs *)a->args;

    ferry_conn_migrate_postcopy_recover_async(a->conn, args->id, NULL, async_done, a);
}

static gboolean
dispatch_connect_migrate_postcopy_recover(dispatch_call *c, GError **error)
{
    return start_async(c, NULL, NULL, start_recover, reply_recover, error);
}

static void
start_cancel(dispatch_async *a)
{
    const Ferry__ConnectMigrateCancelArgs *args =
        (const Ferry__ConnectMigrateCancelArgs *)a->args;

    ferry_conn_migrate_cancel_async(a->conn, args->id, args->reason, NULL, async_done, a);
}

static gboolean
dispatch_connect_migrate_cancel(dispatch_call *c, GError **error)
{
    return start_async(c, NULL, NULL, start_cancel, NULL, error);
}

/* ------------------------------------------------------------------------ */
/* Job procedures: answered at once                                          */
/* ------------------------------------------------------------------------ */

static gboolean
reply_job_info(dispatch_call *c, const ferry_job_info *info, ProtobufCMessage *ret,
               Ferry__JobInfo **field)
{
    Ferry__JobInfo wire;

    ferry_rpc_job_info_to_wire(info, &wire);
    *field = &wire;
    return set_ret(c, ret);
}

static gboolean
dispatch_domain_get_job_info(dispatch_call *c, GError **error)
{
    const Ferry__DomainGetJobInfoArgs *args = (const Ferry__DomainGetJobInfoArgs *)c->args;
    Ferry__DomainGetJobInfoRet ret = FERRY__DOMAIN_GET_JOB_INFO_RET__INIT;
    g_autoptr(ferry_domain) dom = domain_from_wire(c, args->dom, error);
    ferry_job_info info = { 0 };

    if (!dom || !ferry_domain_get_job_info(dom, &info, error))
        return FALSE;
    return reply_job_info(c, &info, &ret.base, &ret.info);
}

static gboolean
dispatch_domain_get_job_stats(dispatch_call *c, GError **error)
{
    const Ferry__DomainGetJobStatsArgs *args = (const Ferry__DomainGetJobStatsArgs *)c->args;
    Ferry__DomainGetJobStatsRet ret = FERRY__DOMAIN_GET_JOB_STATS_RET__INIT;
    g_autoptr(ferry_domain) dom = domain_from_wire(c, args->dom, error);
    ferry_job_info info = { 0 };

    if (!dom || !ferry_domain_get_job_stats(dom, args->flags, &info, error))
        return FALSE;
    return reply_job_info(c, &info, &ret.base, &ret.info);
}

static gboolean
dispatch_domain_migrate_start_postcopy(dispatch_call *c, GError **error)
{
    const Ferry__DomainMigrateStartPostcopyArgs *args =
        (const Ferry__DomainMigrateStartPostcopyArgs *)c->args;
    g_autoptr(ferry_domain) dom = domain_from_wire(c, args->dom, error);

    if (!dom || !ferry_domain_migrate_start_postcopy(dom, args->flags, error))
        return FALSE;
    c->ret = g_bytes_new(NULL, 0);
    return TRUE;
}

static gboolean
dispatch_domain_migrate_postcopy_resume(dispatch_call *c, GError **error)
{
    const Ferry__DomainMigratePostcopyResumeArgs *args =
        (const Ferry__DomainMigratePostcopyResumeArgs *)c->args;
    g_autoptr(ferry_domain) dom = domain_from_wire(c, args->dom, error);

    if (!dom || !ferry_domain_migrate_postcopy_resume(dom, args->dest_uri, args->flags, error))
        return FALSE;
    c->ret = g_bytes_new(NULL, 0);
    return TRUE;
}

static gboolean
dispatch_domain_migrate_estimate(dispatch_call *c, GError **error)
{
    const Ferry__DomainMigrateEstimateArgs *args =
        (const Ferry__DomainMigrateEstimateArgs *)c->args;
    g_autoptr(ferry_domain) dom = domain_from_wire(c, args->dom, error);
    g_auto(wire_params) params = { 0 };
    Ferry__DomainMigrateEstimateRet ret = FERRY__DOMAIN_MIGRATE_ESTIMATE_RET__INIT;
    Ferry__MigrateEstimate wire = FERRY__MIGRATE_ESTIMATE__INIT;
    ferry_migrate_estimate e;

    if (!dom)
        return FALSE;
    params = params_from_wire(args->params);
    if (!ferry_domain_migrate_estimate(dom, args->dest_uri, &params.p, &e, args->flags, error))
        return FALSE;
    wire.mem_total = e.mem_total;
    wire.mem_data = e.mem_data;
    wire.mem_data_source = e.mem_data_source;
    wire.dirty_rate_bps = e.dirty_rate_bps;
    wire.dirty_set = e.dirty_set;
    wire.link_bps = e.link_bps;
    wire.rate_bps = e.rate_bps;
    wire.passes = e.passes;
    wire.total_ms = e.total_ms;
    wire.downtime_ms = e.downtime_ms;
    wire.strategy = e.strategy;
    wire.reason = e.reason;
    ret.estimate = &wire;
    return set_ret(c, &ret.base);
}

static gboolean
dispatch_connect_migrate_probe(dispatch_call *c, GError **error)
{
    const Ferry__ConnectMigrateProbeArgs *args = (const Ferry__ConnectMigrateProbeArgs *)c->args;
    Ferry__ConnectMigrateProbeRet ret = FERRY__CONNECT_MIGRATE_PROBE_RET__INIT;
    g_autoptr(GBytes) data = g_bytes_new_static(args->data.data, args->data.len);
    gboolean postcopy = FALSE;

    if (!ferry_conn_migrate_probe(c->conn, data, &ret.received, &postcopy, error))
        return FALSE;
    ret.postcopy = postcopy;
    return set_ret(c, &ret.base);
}

/* CONNECT_MIGRATE_SNAPSHOTS lives in dispatch-snapshot.c; its stream's
 * write starts in the dispatch's event thread, whose context runs. */
static gboolean
dispatch_connect_migrate_snapshots(dispatch_call *c, GError **error)
{
    return ferry_dispatch_connect_migrate_snapshots(c->conn, c->args, c->rpc,
                                                    c->dc->dispatch->events_context, &c->ret,
                                                    error);
}

static gboolean
dispatch_domain_migrate_set_tunable(dispatch_call *c, GError **error)
{
    const Ferry__DomainMigrateSetTunableArgs *args =
        (const Ferry__DomainMigrateSetTunableArgs *)c->args;
    g_autoptr(ferry_domain) dom = domain_from_wire(c, args->dom, error);
    gboolean ok;

    if (!dom)
        return FALSE;
    switch (args->tunable) {
    case FERRY_MIGRATE_TUNABLE_MAX_DOWNTIME:
        ok = ferry_domain_migrate_set_max_downtime(dom, args->value, 0, error);
        break;
    case FERRY_MIGRATE_TUNABLE_MAX_SPEED:
        ok = ferry_domain_migrate_set_max_speed(dom, args->value, 0, error);
        break;
    default:
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "domain '%s': migration tunable %d is not one this ferryd (version %s) "
                    "knows", ferry_domain_get_name(dom), args->tunable, FERRY_VERSION);
        return FALSE;
    }
    if (!ok)
        return FALSE;
    c->ret = g_bytes_new(NULL, 0);
    return TRUE;
}

static gboolean
dispatch_domain_migrate_get_tunable(dispatch_call *c, GError **error)
{
    const Ferry__DomainMigrateGetTunableArgs *args =
        (const Ferry__DomainMigrateGetTunableArgs *)c->args;
    Ferry__DomainMigrateGetTunableRet ret = FERRY__DOMAIN_MIGRATE_GET_TUNABLE_RET__INIT;
    g_autoptr(ferry_domain) dom = domain_from_wire(c, args->dom, error);
    guint64 value = 0;
    gboolean ok;

    if (!dom)
        return FALSE;
    switch (args->tunable) {
    case FERRY_MIGRATE_TUNABLE_MAX_DOWNTIME:
        ok = ferry_domain_migrate_get_max_downtime(dom, &value, 0, error);
        break;
    case FERRY_MIGRATE_TUNABLE_MAX_SPEED:
        ok = ferry_domain_migrate_get_max_speed(dom, &value, 0, error);
        break;
    default:
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "domain '%s': migration tunable %d is not one this ferryd (version %s) "
                    "knows", ferry_domain_get_name(dom), args->tunable, FERRY_VERSION);
        return FALSE;
    }
    if (!ok)
        return FALSE;
    ret.value = value;
    return set_ret(c, &ret.base);
}

/* The snapshot procedures live in dispatch-snapshot.c. */
#define SNAPSHOT_HANDLER(name) \
    static gboolean dispatch_##name(dispatch_call *c, GError **error) \
    { return ferry_dispatch_##name(c->conn, c->args, &c->ret, error); }
SNAPSHOT_HANDLER(domain_snapshot_create_xml)
SNAPSHOT_HANDLER(domain_snapshot_list)
SNAPSHOT_HANDLER(domain_snapshot_get_xml)
SNAPSHOT_HANDLER(domain_snapshot_current)
SNAPSHOT_HANDLER(domain_snapshot_revert)
SNAPSHOT_HANDLER(domain_snapshot_delete)

#define DISPATCH_ENTRY(NAME, name, args_desc, ret_desc) \
    [FERRY__PROCEDURE__##NAME] = dispatch_##name,

static const dispatch_func dispatch_table[] = {
    FERRY_RPC_CALL_PROCEDURES(DISPATCH_ENTRY)
};

/* ------------------------------------------------------------------------ */
/* The handler the server calls                                              */
/* ------------------------------------------------------------------------ */

static gpointer
handler_client_open(gpointer handler_data, ferry_rpc_server_client *client)
{
    dispatch_client *dc = g_new0(dispatch_client, 1);

    dc->dispatch = handler_data;
    dc->client = client;
    g_mutex_init(&dc->lock);
    return dc;
}

/*
 * What each procedure is: QUICK ones run on the priority workers, so that
 * listing domains or reading a job's progress never waits behind a domain
 * starting or a slow client's calls; READ_ONLY ones are what a client of
 * the read-only socket may call (queries and watching events: nothing that
 * starts, stops, changes or migrates anything).
 */
enum {
    QUICK = 1 << 0,
    READ_ONLY = 1 << 1,
};

static guint
procedure_traits(guint32 procedure)
{
    switch (procedure) {
    case FERRY__PROCEDURE__CONNECT_OPEN:
    case FERRY__PROCEDURE__CONNECT_CLOSE:
        return QUICK | READ_ONLY;
    case FERRY__PROCEDURE__DOMAIN_ABORT_JOB:
    case FERRY__PROCEDURE__CONNECT_MIGRATE_CANCEL:
    case FERRY__PROCEDURE__DOMAIN_MIGRATE_START_POSTCOPY:
    case FERRY__PROCEDURE__CONNECT_MIGRATE_POSTCOPY_RECOVER:
        return QUICK;
    default:
        /* The queries (ferry_rpc_procedure_is_quick()) change nothing. */
        return ferry_rpc_procedure_is_quick(procedure) ? QUICK | READ_ONLY : 0;
    }
}

/*
 * Runs one call on a worker.  Most answer before returning; the migration
 * calls hand theirs to the event thread (start_async()) and return at once.
 */
static void
run_call(gpointer handler_data, ferry_rpc_server_client *client, gpointer client_data,
         guint32 procedure, GBytes *args, ferry_rpc_call *rpc)
{
    dispatch_client *dc = client_data;
    const char *name = ferry_rpc_procedure_name(procedure);
    g_autofree char *what = NULL;
    g_autoptr(ProtobufCMessage) msg = NULL;
    g_autoptr(ferry_conn) conn = NULL;
    dispatch_call c = { .dc = dc, .rpc = rpc };
    GError *error = NULL;

    if (procedure >= G_N_ELEMENTS(dispatch_table) || !dispatch_table[procedure]) {
        g_set_error(&error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                    "procedure %u (%s) is not a call this ferryd (version %s) knows",
                    procedure, name, FERRY_VERSION);
        ferry_rpc_call_return_error(rpc, error);
        return;
    }
    if (ferry_rpc_server_client_is_read_only(client) &&
        !(procedure_traits(procedure) & READ_ONLY)) {
        g_set_error(&error, FERRY_ERROR, FERRY_ERROR_ACCESS_DENIED,
                    "%s is not allowed on a read-only connection (it may change the host); "
                    "use the read-write socket", name);
        /* Logged once, with the client, by the server as every call
         * answered with an error. */
        ferry_rpc_call_return_error(rpc, error);
        return;
    }
    what = g_strdup_printf("the arguments of %s", name);
    msg = ferry_rpc_message_unpack(ferry_rpc_procedure_args(procedure), args, what, &error);
    if (!msg) {
        ferry_rpc_call_return_error(rpc, error);
        return;
    }
    if (procedure != FERRY__PROCEDURE__CONNECT_OPEN) {
        g_mutex_lock(&dc->lock);
        conn = ferry_conn_ref(dc->conn);
        g_mutex_unlock(&dc->lock);
        if (!conn) {
            g_set_error(&error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                        "%s needs an open connection: send CONNECT_OPEN first", name);
            ferry_rpc_call_return_error(rpc, error);
            return;
        }
    }
    c.conn = conn;
    c.args = msg;
    c.owned_args = g_steal_pointer(&msg);
    if (!dispatch_table[procedure](&c, &error))
        ferry_rpc_call_return_error(rpc, error);
    else if (!c.async)
        ferry_rpc_call_return(rpc, c.ret);
    g_clear_pointer(&c.ret, g_bytes_unref);
    if (c.owned_args)
        ferry_rpc_message_free(c.owned_args);
}

/* What the drivers log while a call runs is the client's doing: it counts
 * against the client's peer in the daemon's log rate limit. */
static void
handler_call_async(gpointer handler_data, ferry_rpc_server_client *client,
                   gpointer client_data, guint32 procedure, GBytes *args,
                   ferry_rpc_call *rpc)
{
    ferry_log_set_thread_peer(ferry_rpc_server_client_get_peer(client));
    run_call(handler_data, client, client_data, procedure, args, rpc);
    ferry_log_set_thread_peer(NULL);
}

static gboolean
handler_is_priority(gpointer handler_data, guint32 procedure)
{
    return (procedure_traits(procedure) & QUICK) != 0;
}

static void
handler_client_close(gpointer handler_data, ferry_rpc_server_client *client,
                     gpointer client_data)
{
    dispatch_client *dc = client_data;

    g_mutex_lock(&dc->lock);
    dc->closed = TRUE;
    g_mutex_unlock(&dc->lock);
    drop_vanished_connection(dc);
}

static void
handler_client_free(gpointer client_data)
{
    dispatch_client *dc = client_data;

    g_mutex_clear(&dc->lock);
    g_free(dc);
}

static const ferry_rpc_handler dispatch_handler = {
    .client_open = handler_client_open,
    .call = handler_call_async,
    .is_priority = handler_is_priority,
    .client_close = handler_client_close,
    .client_free = handler_client_free,
};

/* ------------------------------------------------------------------------ */
/* The dispatch                                                              */
/* ------------------------------------------------------------------------ */

ferry_dispatch *
ferry_dispatch_new(const ferry_driver *const *drivers)
{
    ferry_dispatch *dispatch = g_new0(ferry_dispatch, 1);
    guint n = 0;

    while (drivers[n])
        n++;
    dispatch->drivers = g_new0(const ferry_driver *, n + 1);
    for (guint i = 0; i < n; i++)
        dispatch->drivers[i] = drivers[i];
    dispatch->events_context = g_main_context_new();
    dispatch->events_loop = g_main_loop_new(dispatch->events_context, FALSE);
    dispatch->events_thread = g_thread_new("ferryd-events", event_thread, dispatch);
    return dispatch;
}

static gboolean
quit_loop(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_REMOVE;
}

void
ferry_dispatch_free(ferry_dispatch *dispatch)
{
    g_autoptr(GSource) quit = NULL;

    if (!dispatch)
        return;
    /* A source, not g_main_loop_quit(): the loop may not run yet. */
    quit = g_idle_source_new();
    g_source_set_callback(quit, quit_loop, dispatch->events_loop, NULL);
    g_source_attach(quit, dispatch->events_context);
    g_thread_join(dispatch->events_thread);
    /* Answers that came after the loop stopped (the drivers shut down):
     * their calls complete, the replies go nowhere. */
    while (g_main_context_iteration(dispatch->events_context, FALSE))
        ;
    g_main_loop_unref(dispatch->events_loop);
    g_main_context_unref(dispatch->events_context);
    g_free(dispatch->drivers);
    g_free(dispatch);
}

void
ferry_dispatch_configure(ferry_dispatch *dispatch, ferry_rpc_server_config *config)
{
    config->handler = &dispatch_handler;
    config->handler_data = dispatch;
}
