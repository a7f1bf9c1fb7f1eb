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
 * client; `lock` of a dispatch_client guards its connection and
 * subscription, and each call holds its own reference on the connection.
 * Event subscriptions are made in the event thread, so the API delivers
 * events there (ferry_conn_subscribe_events() uses the thread-default
 * context); from there they are queued to the client, which is thread-safe.
 */
#include "ferry-config.h"

#include "api/migrate-internal.h"
#include "daemon/dispatch.h"
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
    ferry_conn *conn;               /* a reference; NULL for CONNECT_OPEN */
    const ProtobufCMessage *args;
    GBytes *ret;                    /* the packed Ret, set on success */
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
    g_autoptr(GBytes) body = NULL;

    msg.domain = domain_to_wire(event->domain, &wire);
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
    g_info("%s: opened '%s'", ferry_rpc_server_client_get_description(dc->client),
           ferry_conn_get_uri(conn));
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

    return reply_domain(c, ferry_domain_define_xml(c->conn, args->xml, error),
                        &ret.base, &ret.dom);
}

static gboolean
dispatch_domain_create_xml(dispatch_call *c, GError **error)
{
    const Ferry__DomainCreateXmlArgs *args = (const Ferry__DomainCreateXmlArgs *)c->args;
    Ferry__DomainCreateXmlRet ret = FERRY__DOMAIN_CREATE_XML_RET__INIT;

    return reply_domain(c, ferry_domain_create_xml(c->conn, args->xml, args->flags, error),
                        &ret.base, &ret.dom);
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
/* Migration procedures (since 0.2)                                          */
/*                                                                           */
/* Each calls the phase of src/api/migrate-internal.h on the client's        */
/* connection.  Perform and Finish may take minutes: they hold one worker    */
/* while other calls of the same client (e.g. DOMAIN_GET_JOB_INFO) run on    */
/* the others.                                                               */
/* ------------------------------------------------------------------------ */

/* Migration parameters decoded from the wire, valid for one call: the
 * strings belong to the call's args; `disks` is the NULL-terminated array
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

static gboolean
dispatch_domain_migrate_begin3(dispatch_call *c, GError **error)
{
    const Ferry__DomainMigrateBegin3Args *args =
        (const Ferry__DomainMigrateBegin3Args *)c->args;
    Ferry__DomainMigrateBegin3Ret ret = FERRY__DOMAIN_MIGRATE_BEGIN3_RET__INIT;
    g_autoptr(ferry_domain) dom = domain_from_wire(c, args->dom, error);
    g_auto(wire_params) params = params_from_wire(args->params);
    g_autofree char *xml = NULL;
    g_autofree char *cookie = NULL;

    if (!dom)
        return FALSE;
    xml = ferry_domain_migrate_begin3(dom, &params.p, &cookie, error);
    if (!xml)
        return FALSE;
    ret.xml = xml;
    ret.cookie = cookie;
    return set_ret(c, &ret.base);
}

static gboolean
dispatch_connect_migrate_prepare3(dispatch_call *c, GError **error)
{
    const Ferry__ConnectMigratePrepare3Args *args =
        (const Ferry__ConnectMigratePrepare3Args *)c->args;
    Ferry__ConnectMigratePrepare3Ret ret = FERRY__CONNECT_MIGRATE_PREPARE3_RET__INIT;
    g_auto(wire_params) params = params_from_wire(args->params);
    g_autofree char *cookie = NULL;
    g_autofree char *uri = NULL;

    if (!ferry_conn_migrate_prepare3(c->conn, &params.p, args->dom_xml, args->cookie_in,
                                     &cookie, &uri, error))
        return FALSE;
    ret.cookie = cookie;
    ret.uri = uri;
    return set_ret(c, &ret.base);
}

static gboolean
dispatch_domain_migrate_perform3(dispatch_call *c, GError **error)
{
    const Ferry__DomainMigratePerform3Args *args =
        (const Ferry__DomainMigratePerform3Args *)c->args;
    Ferry__DomainMigratePerform3Ret ret = FERRY__DOMAIN_MIGRATE_PERFORM3_RET__INIT;
    g_autoptr(ferry_domain) dom = domain_from_wire(c, args->dom, error);
    g_auto(wire_params) params = params_from_wire(args->params);
    g_autofree char *cookie = NULL;

    if (!dom || !ferry_domain_migrate_perform3(dom, &params.p, args->dconn_uri, args->cookie_in,
                                               &cookie, error))
        return FALSE;
    ret.cookie = cookie;
    return set_ret(c, &ret.base);
}

static gboolean
dispatch_connect_migrate_finish3(dispatch_call *c, GError **error)
{
    const Ferry__ConnectMigrateFinish3Args *args =
        (const Ferry__ConnectMigrateFinish3Args *)c->args;
    Ferry__ConnectMigrateFinish3Ret ret = FERRY__CONNECT_MIGRATE_FINISH3_RET__INIT;
    g_auto(wire_params) params = params_from_wire(args->params);
    g_autofree char *cookie = NULL;
    ferry_domain *ddom;

    ddom = ferry_conn_migrate_finish3(c->conn, &params.p, args->dname, args->cookie_in,
                                      &cookie, args->cancelled, error);
    ret.cookie = cookie;
    return reply_domain(c, ddom, &ret.base, &ret.dom);
}

static gboolean
dispatch_domain_migrate_confirm3(dispatch_call *c, GError **error)
{
    const Ferry__DomainMigrateConfirm3Args *args =
        (const Ferry__DomainMigrateConfirm3Args *)c->args;
    Ferry__DomainMigrateConfirm3Ret ret = FERRY__DOMAIN_MIGRATE_CONFIRM3_RET__INIT;
    g_autoptr(ferry_domain) dom = domain_from_wire(c, args->dom, error);
    g_auto(wire_params) params = params_from_wire(args->params);

    if (!dom || !ferry_domain_migrate_confirm3(dom, &params.p, args->cookie_in, args->cancelled,
                                               error))
        return FALSE;
    return set_ret(c, &ret.base);
}

static gboolean
dispatch_connect_migrate_prepare2(dispatch_call *c, GError **error)
{
    const Ferry__ConnectMigratePrepare2Args *args =
        (const Ferry__ConnectMigratePrepare2Args *)c->args;
    Ferry__ConnectMigratePrepare2Ret ret = FERRY__CONNECT_MIGRATE_PREPARE2_RET__INIT;
    g_auto(wire_params) params = params_from_wire(args->params);
    g_autofree char *cookie = NULL;
    g_autofree char *uri = NULL;

    if (!ferry_conn_migrate_prepare2(c->conn, &params.p, args->dom_xml, &cookie, &uri, error))
        return FALSE;
    ret.cookie = cookie;
    ret.uri = uri;
    return set_ret(c, &ret.base);
}

static gboolean
dispatch_domain_migrate_perform(dispatch_call *c, GError **error)
{
    const Ferry__DomainMigratePerformArgs *args =
        (const Ferry__DomainMigratePerformArgs *)c->args;
    Ferry__DomainMigratePerformRet ret = FERRY__DOMAIN_MIGRATE_PERFORM_RET__INIT;
    g_autoptr(ferry_domain) dom = domain_from_wire(c, args->dom, error);
    g_auto(wire_params) params = params_from_wire(args->params);

    if (!dom || !ferry_domain_migrate_perform(dom, &params.p, args->cookie_in, error))
        return FALSE;
    return set_ret(c, &ret.base);
}

static gboolean
dispatch_connect_migrate_finish2(dispatch_call *c, GError **error)
{
    const Ferry__ConnectMigrateFinish2Args *args =
        (const Ferry__ConnectMigrateFinish2Args *)c->args;
    Ferry__ConnectMigrateFinish2Ret ret = FERRY__CONNECT_MIGRATE_FINISH2_RET__INIT;
    g_auto(wire_params) params = params_from_wire(args->params);

    return reply_domain(c, ferry_conn_migrate_finish2(c->conn, &params.p, args->dname,
                                                      args->cookie_in, args->ok, error),
                        &ret.base, &ret.dom);
}

static gboolean
dispatch_connect_migrate_prepare(dispatch_call *c, GError **error)
{
    const Ferry__ConnectMigratePrepareArgs *args =
        (const Ferry__ConnectMigratePrepareArgs *)c->args;
    Ferry__ConnectMigratePrepareRet ret = FERRY__CONNECT_MIGRATE_PREPARE_RET__INIT;
    g_auto(wire_params) params = params_from_wire(args->params);
    g_autofree char *cookie = NULL;
    g_autofree char *uri = NULL;

    if (!ferry_conn_migrate_prepare(c->conn, &params.p, &cookie, &uri, error))
        return FALSE;
    ret.cookie = cookie;
    ret.uri = uri;
    return set_ret(c, &ret.base);
}

static gboolean
dispatch_connect_migrate_finish(dispatch_call *c, GError **error)
{
    const Ferry__ConnectMigrateFinishArgs *args =
        (const Ferry__ConnectMigrateFinishArgs *)c->args;
    Ferry__ConnectMigrateFinishRet ret = FERRY__CONNECT_MIGRATE_FINISH_RET__INIT;
    g_auto(wire_params) params = params_from_wire(args->params);

    return reply_domain(c, ferry_conn_migrate_finish(c->conn, &params.p, args->dname,
                                                     args->cookie_in, error),
                        &ret.base, &ret.dom);
}

static gboolean
dispatch_domain_get_job_info(dispatch_call *c, GError **error)
{
    const Ferry__DomainGetJobInfoArgs *args = (const Ferry__DomainGetJobInfoArgs *)c->args;
    Ferry__DomainGetJobInfoRet ret = FERRY__DOMAIN_GET_JOB_INFO_RET__INIT;
    Ferry__JobInfo wire = FERRY__JOB_INFO__INIT;
    g_autoptr(ferry_domain) dom = domain_from_wire(c, args->dom, error);
    ferry_job_info info = { 0 };

    if (!dom || !ferry_domain_get_job_info(dom, &info, error))
        return FALSE;
    wire.type = info.type;
    wire.phase = info.phase;
    wire.elapsed_ms = info.elapsed_ms;
    wire.mem_total = info.mem_total;
    wire.mem_processed = info.mem_processed;
    wire.mem_remaining = info.mem_remaining;
    wire.disk_total = info.disk_total;
    wire.disk_processed = info.disk_processed;
    wire.disk_remaining = info.disk_remaining;
    wire.rate_bps = info.rate_bps;
    wire.downtime_ms = info.downtime_ms;
    wire.total_ms = info.total_ms;
    ret.info = &wire;
    return set_ret(c, &ret.base);
}

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

static gboolean
handler_call(gpointer handler_data, ferry_rpc_server_client *client, gpointer client_data,
             guint32 procedure, GBytes *args, GBytes **ret_body, GError **error)
{
    dispatch_client *dc = client_data;
    const char *name = ferry_rpc_procedure_name(procedure);
    g_autofree char *what = NULL;
    g_autoptr(ProtobufCMessage) msg = NULL;
    g_autoptr(ferry_conn) conn = NULL;
    dispatch_call c = { .dc = dc };

    if (procedure >= G_N_ELEMENTS(dispatch_table) || !dispatch_table[procedure]) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                    "procedure %u (%s) is not a call this ferryd (version %s) knows",
                    procedure, name, FERRY_VERSION);
        return FALSE;
    }
    what = g_strdup_printf("the arguments of %s", name);
    msg = ferry_rpc_message_unpack(ferry_rpc_procedure_args(procedure), args, what, error);
    if (!msg)
        return FALSE;
    if (procedure != FERRY__PROCEDURE__CONNECT_OPEN) {
        g_mutex_lock(&dc->lock);
        conn = ferry_conn_ref(dc->conn);
        g_mutex_unlock(&dc->lock);
        if (!conn) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                        "%s needs an open connection: send CONNECT_OPEN first", name);
            return FALSE;
        }
    }
    c.conn = conn;
    c.args = msg;
    if (!dispatch_table[procedure](&c, error))
        return FALSE;
    *ret_body = c.ret;
    return TRUE;
}

static void
handler_client_close(gpointer handler_data, ferry_rpc_server_client *client,
                     gpointer client_data)
{
    dispatch_client *dc = client_data;

    g_mutex_lock(&dc->lock);
    dc->closed = TRUE;
    g_mutex_unlock(&dc->lock);
    drop_connection(dc);
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
    .call = handler_call,
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
