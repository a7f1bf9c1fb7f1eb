/*
 * remote-driver.c: the remote driver, a client of ferryd.
 *
 * Owns: turning each driver entry into one CALL of the wire protocol
 * (proto/ferry.proto) and its reply back into the driver's result, and
 * relaying the daemon's events to this process's subscribers.  Must not
 * decide anything a driver decides: the daemon's driver does, and its
 * errors come back with their code and message unchanged.
 *
 * Events: the first subscription on a connection registers with the daemon
 * (EVENTS_REGISTER), the last unsubscription deregisters; the daemon's
 * EVENT packets arrive on the RPC client's I/O thread and go out through
 * this connection's event bus, which runs each callback in its
 * subscriber's context.
 */
#include "ferry-config.h"

#include <string.h>

#include "driver/event-bus.h"
#include "remote/remote-driver.h"
#include "remote/remote-snapshot.h"
#include "rpc/rpc-client.h"
#include "rpc/rpc-message.h"
#include "rpc/rpc-splice.h"
#include "util/uri.h"

/* How long closing waits for the daemon to acknowledge CONNECT_CLOSE. */
#define CLOSE_TIMEOUT_MS 5000

typedef struct {
    ferry_rpc_client *rpc;
    ferry_event_bus *bus;
    GMutex lock;                /* guards the two fields below */
    guint n_subscriptions;
    gboolean registered;        /* EVENTS_REGISTER done */
} remote_priv;

static remote_priv *
priv_of(ferry_conn *conn)
{
    return conn->driver_data;
}

/* How long a quick call (see timeout_of()) may wait for its answer. */
#define QUICK_CALL_TIMEOUT_MS 30000
/* How long one call of the link probe (1 MiB, ferry_mig_engine_probe_link())
 * may wait: a link slower than 100 KiB/s is not measured. */
#define PROBE_CALL_TIMEOUT_MS 10000

/*
 * How long a call of @procedure may wait, in ms; 0: as long as it takes.
 * A daemon answers the quick calls (ferry_rpc_procedure_is_quick()) and
 * CONNECT_OPEN at once, on workers of their own: one that does not within
 * 30 s is stuck, or a peer that takes calls and never answers -- and a
 * ferryd opening a connection to another host's daemon (peer-to-peer,
 * resolving a migration) must not wait for it for ever.
 * The link probe's calls (CONNECT_MIGRATE_PROBE) have a bound of their
 * own: `ferry migrate --estimate` must not wait for ever on a peer that
 * takes them and never answers (keepalive would not notice).
 * The other calls have no bound: a migration's Perform or Finish may run
 * for minutes, a domain's start as long as QEMU takes, and a dead daemon is
 * detected by keepalive, which fails every call in flight.
 */
static guint
timeout_of(guint32 procedure)
{
    if (procedure == FERRY__PROCEDURE__CONNECT_OPEN || ferry_rpc_procedure_is_quick(procedure))
        return QUICK_CALL_TIMEOUT_MS;
    if (procedure == FERRY__PROCEDURE__CONNECT_MIGRATE_PROBE)
        return PROBE_CALL_TIMEOUT_MS;
    return 0;
}

/*
 * Calls @procedure with @args, within its bound (timeout_of()); returns
 * its Ret message.  Calls from several threads share the connection (e.g.
 * DOMAIN_GET_JOB_INFO while another thread waits in Perform).
 */
static ProtobufCMessage *
call(ferry_conn *conn, guint32 procedure, const ProtobufCMessage *args, GError **error)
{
    return ferry_rpc_client_call_message(priv_of(conn)->rpc, procedure, args,
                                         timeout_of(procedure), error);
}

ProtobufCMessage *
remote_call_message(ferry_conn *conn, guint32 procedure, const ProtobufCMessage *args,
                    GError **error)
{
    return call(conn, procedure, args, error);
}

ferry_rpc_client *
remote_rpc_client(ferry_conn *conn)
{
    return priv_of(conn)->rpc;
}

/* Calls a procedure whose Ret carries nothing. */
static gboolean
call_no_ret(ferry_conn *conn, guint32 procedure, const ProtobufCMessage *args,
            GError **error)
{
    g_autoptr(ProtobufCMessage) ret = call(conn, procedure, args, error);

    return ret != NULL;
}

static Ferry__Domain *
domain_to_wire(ferry_domain *dom, Ferry__Domain *wire)
{
    ferry__domain__init(wire);
    wire->name = dom->name;
    wire->uuid = dom->uuid;
    return wire;
}

/* ------------------------------------------------------------------------ */
/* Connection                                                                */
/* ------------------------------------------------------------------------ */

static gboolean
remote_conn_probe(const ferry_uri *uri)
{
    if (uri->transport)
        return TRUE;
    return strcmp(uri->driver, "qemu") == 0 && !uri->host &&
           strcmp(uri->path, "/system") == 0;
}

/*
 * The URI parameters this driver reads itself -- the daemon never sees
 * them -- and the transports each one belongs to (no transport is the
 * local UNIX socket).
 */
static const struct {
    const char *name;
    const char *transports[3];
    const char *words;          /* the transports, as an error says them */
} transport_params[] = {
    { "socket", { "unix", "ssh", NULL }, "the unix and ssh transports" },
    { "pkipath", { "tls", NULL }, "the tls transport" },
    { "helper", { "ssh", NULL }, "the ssh transport" },
    { "keyfile", { "ssh", NULL }, "the ssh transport" },
    { "known_hosts", { "ssh", NULL }, "the ssh transport" },
    { "no_tty", { "ssh", NULL }, "the ssh transport" },
};

static gboolean
transport_param(const char *name)
{
    for (gsize i = 0; i < G_N_ELEMENTS(transport_params); i++) {
        if (strcmp(transport_params[i].name, name) == 0)
            return TRUE;
    }
    return FALSE;
}

/* Every transport parameter of @uri belongs to its transport. */
static gboolean
check_transport_params(const ferry_uri *uri, GError **error)
{
    const char *transport = uri->transport ? uri->transport : "unix";

    for (gsize i = 0; i < G_N_ELEMENTS(transport_params); i++) {
        if (ferry_uri_get_param(uri, transport_params[i].name) &&
            !g_strv_contains(transport_params[i].transports, transport)) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                        "URI '%s': parameter '%s' is only for %s", uri->original,
                        transport_params[i].name, transport_params[i].words);
            return FALSE;
        }
    }
    return TRUE;
}

/* The URI the daemon opens: no transport, no host, no parameter of ours. */
static char *
daemon_uri(const ferry_uri *uri)
{
    g_autoptr(GHashTable) params = g_hash_table_new(g_str_hash, g_str_equal);
    ferry_uri local = {
        .driver = uri->driver,
        .port = -1,
        .path = uri->path,
        .params = params,
    };
    GHashTableIter iter;
    gpointer key;
    gpointer value;

    g_hash_table_iter_init(&iter, uri->params);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        if (!transport_param(key))
            g_hash_table_insert(params, key, value);
    }
    return ferry_uri_to_string(&local);
}

static void
remote_on_event(ferry_rpc_client *rpc, guint32 procedure, GBytes *body, gpointer data)
{
    remote_priv *priv = data;
    g_autoptr(GError) local = NULL;
    g_autoptr(ProtobufCMessage) msg = NULL;
    const Ferry__LifecycleEvent *wire;
    ferry_event event = { 0 };
    ferry_job_info job;

    if (procedure != FERRY__PROCEDURE__EVENT_LIFECYCLE) {
        g_debug("%s: ignoring event %s (%u), unknown to this client",
                ferry_rpc_client_get_description(rpc), ferry_rpc_procedure_name(procedure),
                procedure);
        return;
    }
    msg = ferry_rpc_message_unpack(&ferry__lifecycle_event__descriptor, body,
                                   "a lifecycle event", &local);
    if (!msg) {
        g_debug("%s: dropping an event: %s", ferry_rpc_client_get_description(rpc),
                local->message);
        return;
    }
    wire = (const Ferry__LifecycleEvent *)msg;
    event.type = wire->type;
    event.lifecycle = wire->lifecycle;
    event.state = wire->state;
    event.reason = wire->reason;
    event.timestamp_us = wire->timestamp_us;
    if (wire->job) {
        ferry_rpc_job_info_from_wire(wire->job, &job);
        event.job = &job;
    }
    ferry_event_bus_emit(priv->bus, &event, wire->domain->name, wire->domain->uuid);
}

static void
remote_priv_free(remote_priv *priv)
{
    /* The RPC client first: once its thread is joined no event comes. */
    ferry_rpc_client_unref(priv->rpc);
    ferry_event_bus_free(priv->bus);
    g_mutex_clear(&priv->lock);
    g_free(priv);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(remote_priv, remote_priv_free)

static GMutex pki_lock;
static char *pki_dir;           /* pki_lock: ferry_remote_set_pki_dir() */

void
ferry_remote_set_pki_dir(const char *dir)
{
    g_mutex_lock(&pki_lock);
    g_free(pki_dir);
    pki_dir = g_strdup(dir);
    g_mutex_unlock(&pki_lock);
}

/* The directory of this connection's client certificate. */
static char *
client_pki_dir(const ferry_uri *uri)
{
    const char *param = ferry_uri_get_param(uri, "pkipath");
    char *dir;

    if (param)
        return g_strdup(param);
    g_mutex_lock(&pki_lock);
    dir = g_strdup(pki_dir);
    g_mutex_unlock(&pki_lock);
    return dir ? dir : ferry_rpc_tls_default_pki_dir();
}

/*
 * ssh to the host, where ferry-ssh-helper connects to the daemon's UNIX
 * socket: the daemon checks the credentials of the user ssh logged in as.
 * The remote command is one string for the remote shell: each part quoted.
 */
static ferry_rpc_client *
connect_ssh(const ferry_uri *uri, const ferry_rpc_client_config *config, GError **error)
{
    const char *socket = ferry_uri_get_param(uri, "socket");
    const char *helper = ferry_uri_get_param(uri, "helper");
    const char *keyfile = ferry_uri_get_param(uri, "keyfile");
    const char *known_hosts = ferry_uri_get_param(uri, "known_hosts");
    const char *no_tty = ferry_uri_get_param(uri, "no_tty");
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *q_helper = g_shell_quote(helper ? helper : "ferry-ssh-helper");
    g_autofree char *q_socket = g_shell_quote(socket ? socket : FERRY_DEFAULT_SOCKET);
    g_autofree char *desc = g_strdup_printf("ferryd at ssh %s%s%s", uri->user ? uri->user : "",
                                            uri->user ? "@" : "", uri->host);

    g_ptr_array_add(argv, g_strdup("ssh"));
    g_ptr_array_add(argv, g_strdup("-T"));
    g_ptr_array_add(argv, g_strdup("-e"));
    g_ptr_array_add(argv, g_strdup("none"));
    if (g_strcmp0(no_tty, "1") == 0) {
        /* Nobody to answer a password or host key question: fail instead. */
        g_ptr_array_add(argv, g_strdup("-o"));
        g_ptr_array_add(argv, g_strdup("BatchMode=yes"));
    }
    if (uri->port != -1) {
        g_ptr_array_add(argv, g_strdup("-p"));
        g_ptr_array_add(argv, g_strdup_printf("%d", uri->port));
    }
    if (uri->user) {
        g_ptr_array_add(argv, g_strdup("-l"));
        g_ptr_array_add(argv, g_strdup(uri->user));
    }
    if (keyfile) {
        g_ptr_array_add(argv, g_strdup("-i"));
        g_ptr_array_add(argv, g_strdup(keyfile));
    }
    if (known_hosts) {
        g_ptr_array_add(argv, g_strdup("-o"));
        g_ptr_array_add(argv, g_strdup_printf("UserKnownHostsFile=%s", known_hosts));
    }
    g_ptr_array_add(argv, g_strdup("--"));
    g_ptr_array_add(argv, g_strdup(uri->host));
    g_ptr_array_add(argv, g_strdup_printf("%s %s", q_helper, q_socket));
    g_ptr_array_add(argv, NULL);
    return ferry_rpc_client_new_command((const char *const *)argv->pdata, desc, config, error);
}

/* Connects to the daemon the URI names. */
static ferry_rpc_client *
connect_daemon(const ferry_uri *uri, const ferry_rpc_client_config *config,
               GError **error)
{
    const char *socket = ferry_uri_get_param(uri, "socket");
    gboolean tls = g_strcmp0(uri->transport, "tls") == 0;

    if (!check_transport_params(uri, error))
        return NULL;
    if (g_strcmp0(uri->transport, "ssh") == 0)
        return connect_ssh(uri, config, error);
    if (tls) {
        g_autofree char *dir = client_pki_dir(uri);
        g_autoptr(ferry_rpc_tls) creds = ferry_rpc_tls_new_client(dir, error);

        if (!creds)
            return NULL;
        return ferry_rpc_client_new_tls(uri->host,
                                        uri->port != -1 ? uri->port : FERRY_DEFAULT_TLS_PORT,
                                        creds, config, error);
    }
    if (g_strcmp0(uri->transport, "tcp") == 0)
        return ferry_rpc_client_new_tcp(uri->host,
                                        uri->port != -1 ? uri->port : FERRY_DEFAULT_TCP_PORT,
                                        config, error);
    if (!socket)
        socket = g_getenv("FERRY_SOCKET");
    if (!socket || !*socket)
        socket = FERRY_DEFAULT_SOCKET;
    return ferry_rpc_client_new_unix(socket, config, error);
}

static gboolean
remote_conn_open(ferry_conn *conn, const ferry_uri *uri, GError **error)
{
    g_autoptr(remote_priv) priv = g_new0(remote_priv, 1);
    g_autofree char *target = daemon_uri(uri);
    Ferry__ConnectOpenArgs args = FERRY__CONNECT_OPEN_ARGS__INIT;
    g_autoptr(GError) local = NULL;
    ferry_rpc_client_config config = {
        .event_func = remote_on_event,
        .event_data = priv,
    };

    g_mutex_init(&priv->lock);
    priv->bus = ferry_event_bus_new();
    priv->rpc = connect_daemon(uri, &config, error);
    if (!priv->rpc)
        return FALSE;
    conn->driver_data = priv;
    args.uri = target;
    if (!call_no_ret(conn, FERRY__PROCEDURE__CONNECT_OPEN, &args.base, &local)) {
        conn->driver_data = NULL;
        /* With TLS 1.3 the client's handshake ends before the server has
         * judged the client's certificate: a refusal shows as the
         * connection closing at the first call. */
        if (g_strcmp0(uri->transport, "tls") == 0 &&
            g_error_matches(local, FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED)) {
            g_autofree char *dir = client_pki_dir(uri);

            g_set_error(error, FERRY_ERROR, FERRY_ERROR_AUTH_FAILED,
                        "ferryd at '%s' closed the connection after the TLS handshake: it "
                        "did not accept this client's certificate '%s/clientcert.pem' (its "
                        "log says why): %s", uri->original, dir, local->message);
            return FALSE;
        }
        if (g_strcmp0(uri->transport, "ssh") == 0 &&
            g_error_matches(local, FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED)) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_CONNECT,
                        "ssh to '%s' ended before ferryd answered (ssh's own messages above "
                        "say why): %s", uri->host, local->message);
            return FALSE;
        }
        g_propagate_error(error, g_steal_pointer(&local));
        return FALSE;
    }
    g_steal_pointer(&priv);
    return TRUE;
}

static void
remote_conn_close(ferry_conn *conn)
{
    remote_priv *priv = priv_of(conn);
    Ferry__ConnectCloseArgs args = FERRY__CONNECT_CLOSE_ARGS__INIT;
    g_autoptr(ProtobufCMessage) ret = NULL;

    ferry_event_bus_unsubscribe_conn(priv->bus, conn);
    /* Lets the daemon close its side before this one goes; a dead daemon
     * only costs the call's failure. */
    if (ferry_rpc_client_is_alive(priv->rpc))
        ret = ferry_rpc_client_call_message(priv->rpc, FERRY__PROCEDURE__CONNECT_CLOSE,
                                            &args.base, CLOSE_TIMEOUT_MS, NULL);
    remote_priv_free(priv);
    conn->driver_data = NULL;
}

static gboolean
remote_conn_is_alive(ferry_conn *conn)
{
    return ferry_rpc_client_is_alive(priv_of(conn)->rpc);
}

static char *
remote_conn_get_capabilities(ferry_conn *conn, GError **error)
{
    Ferry__ConnectGetCapabilitiesArgs args = FERRY__CONNECT_GET_CAPABILITIES_ARGS__INIT;
    g_autoptr(ProtobufCMessage) ret =
        call(conn, FERRY__PROCEDURE__CONNECT_GET_CAPABILITIES, &args.base, error);

    return ret ? g_strdup(((Ferry__ConnectGetCapabilitiesRet *)ret)->capabilities) : NULL;
}

static char *
remote_conn_get_hostname(ferry_conn *conn, GError **error)
{
    Ferry__ConnectGetHostnameArgs args = FERRY__CONNECT_GET_HOSTNAME_ARGS__INIT;
    g_autoptr(ProtobufCMessage) ret =
        call(conn, FERRY__PROCEDURE__CONNECT_GET_HOSTNAME, &args.base, error);

    return ret ? g_strdup(((Ferry__ConnectGetHostnameRet *)ret)->hostname) : NULL;
}

static gboolean
remote_conn_supports_feature(ferry_conn *conn, ferry_feature feature,
                             gboolean *ret_supported, GError **error)
{
    Ferry__ConnectSupportsFeatureArgs args = FERRY__CONNECT_SUPPORTS_FEATURE_ARGS__INIT;
    g_autoptr(ProtobufCMessage) ret = NULL;

    args.feature = feature;
    ret = call(conn, FERRY__PROCEDURE__CONNECT_SUPPORTS_FEATURE, &args.base, error);
    if (!ret)
        return FALSE;
    *ret_supported = ((Ferry__ConnectSupportsFeatureRet *)ret)->supported;
    return TRUE;
}

static gboolean
remote_conn_list_domains(ferry_conn *conn, guint flags, GPtrArray **ret_domains,
                         GError **error)
{
    Ferry__ConnectListDomainsArgs args = FERRY__CONNECT_LIST_DOMAINS_ARGS__INIT;
    g_autoptr(ProtobufCMessage) ret = NULL;
    const Ferry__ConnectListDomainsRet *list;
    GPtrArray *domains;

    args.flags = flags;
    ret = call(conn, FERRY__PROCEDURE__CONNECT_LIST_DOMAINS, &args.base, error);
    if (!ret)
        return FALSE;
    list = (const Ferry__ConnectListDomainsRet *)ret;
    domains = g_ptr_array_new_full(list->n_domains, (GDestroyNotify)ferry_domain_unref);
    for (gsize i = 0; i < list->n_domains; i++)
        g_ptr_array_add(domains, ferry_domain_new_handle(conn, list->domains[i]->name,
                                                         list->domains[i]->uuid));
    *ret_domains = domains;
    return TRUE;
}

static guint
remote_conn_subscribe_events(ferry_conn *conn, ferry_event_cb callback,
                             gpointer user_data, GDestroyNotify destroy, GError **error)
{
    remote_priv *priv = priv_of(conn);
    Ferry__EventsRegisterArgs args = FERRY__EVENTS_REGISTER_ARGS__INIT;
    guint id;

    g_mutex_lock(&priv->lock);
    if (!priv->registered) {
        if (!call_no_ret(conn, FERRY__PROCEDURE__EVENTS_REGISTER, &args.base, error)) {
            g_mutex_unlock(&priv->lock);
            return 0;
        }
        priv->registered = TRUE;
    }
    id = ferry_event_bus_subscribe(priv->bus, conn, callback, user_data, destroy);
    priv->n_subscriptions++;
    g_mutex_unlock(&priv->lock);
    return id;
}

static gboolean
remote_conn_unsubscribe_events(ferry_conn *conn, guint id, GError **error)
{
    remote_priv *priv = priv_of(conn);
    Ferry__EventsDeregisterArgs args = FERRY__EVENTS_DEREGISTER_ARGS__INIT;
    gboolean ok = TRUE;

    g_mutex_lock(&priv->lock);
    if (!ferry_event_bus_unsubscribe(priv->bus, conn, id, error)) {
        g_mutex_unlock(&priv->lock);
        return FALSE;
    }
    if (--priv->n_subscriptions == 0) {
        /* Whatever the daemon answers, nothing here listens any more. */
        priv->registered = FALSE;
        ok = call_no_ret(conn, FERRY__PROCEDURE__EVENTS_DEREGISTER, &args.base, error);
    }
    g_mutex_unlock(&priv->lock);
    return ok;
}

/* ------------------------------------------------------------------------ */
/* Domains                                                                   */
/* ------------------------------------------------------------------------ */

/* Makes a handle from the Domain of a Ret message. */
static ferry_domain *
domain_result(ferry_conn *conn, ProtobufCMessage *ret, const Ferry__Domain *wire)
{
    return ret ? ferry_domain_new_handle(conn, wire->name, wire->uuid) : NULL;
}

static ferry_domain *
remote_domain_lookup_by_name(ferry_conn *conn, const char *name, GError **error)
{
    Ferry__DomainLookupByNameArgs args = FERRY__DOMAIN_LOOKUP_BY_NAME_ARGS__INIT;
    g_autoptr(ProtobufCMessage) ret = NULL;

    args.name = (char *)name;
    ret = call(conn, FERRY__PROCEDURE__DOMAIN_LOOKUP_BY_NAME, &args.base, error);
    return domain_result(conn, ret, ret ? ((Ferry__DomainLookupByNameRet *)ret)->dom : NULL);
}

static ferry_domain *
remote_domain_lookup_by_uuid(ferry_conn *conn, const char *uuid, GError **error)
{
    Ferry__DomainLookupByUuidArgs args = FERRY__DOMAIN_LOOKUP_BY_UUID_ARGS__INIT;
    g_autoptr(ProtobufCMessage) ret = NULL;

    args.uuid = (char *)uuid;
    ret = call(conn, FERRY__PROCEDURE__DOMAIN_LOOKUP_BY_UUID, &args.base, error);
    return domain_result(conn, ret, ret ? ((Ferry__DomainLookupByUuidRet *)ret)->dom : NULL);
}

/* A define's handle, with the warnings its Ret brought. */
static ferry_domain *
domain_result_warned(ferry_conn *conn, ProtobufCMessage *ret, const Ferry__Domain *wire,
                     char **warnings, size_t n_warnings)
{
    ferry_domain *dom = domain_result(conn, ret, wire);

    if (dom && n_warnings > 0) {
        dom->warnings = g_new0(char *, n_warnings + 1);
        for (size_t i = 0; i < n_warnings; i++)
            dom->warnings[i] = g_strdup(warnings[i]);
    }
    return dom;
}

static ferry_domain *
remote_domain_define_xml(ferry_conn *conn, const char *xml, GError **error)
{
    Ferry__DomainDefineXmlArgs args = FERRY__DOMAIN_DEFINE_XML_ARGS__INIT;
    g_autoptr(ProtobufCMessage) ret = NULL;

    args.xml = (char *)xml;
    ret = call(conn, FERRY__PROCEDURE__DOMAIN_DEFINE_XML, &args.base, error);
    if (!ret)
        return NULL;
    return domain_result_warned(conn, ret, ((Ferry__DomainDefineXmlRet *)ret)->dom,
                                ((Ferry__DomainDefineXmlRet *)ret)->warnings,
                                ((Ferry__DomainDefineXmlRet *)ret)->n_warnings);
}

static ferry_domain *
remote_domain_create_xml(ferry_conn *conn, const char *xml, guint flags, GError **error)
{
    Ferry__DomainCreateXmlArgs args = FERRY__DOMAIN_CREATE_XML_ARGS__INIT;
    g_autoptr(ProtobufCMessage) ret = NULL;

    args.xml = (char *)xml;
    args.flags = flags;
    ret = call(conn, FERRY__PROCEDURE__DOMAIN_CREATE_XML, &args.base, error);
    if (!ret)
        return NULL;
    return domain_result_warned(conn, ret, ((Ferry__DomainCreateXmlRet *)ret)->dom,
                                ((Ferry__DomainCreateXmlRet *)ret)->warnings,
                                ((Ferry__DomainCreateXmlRet *)ret)->n_warnings);
}

/* Calls a procedure on @dom: fills the Args' domain field @field, expects
 * an empty Ret. */
static gboolean
domain_call(ferry_domain *dom, guint32 procedure, ProtobufCMessage *args,
            Ferry__Domain **field, GError **error)
{
    Ferry__Domain wire;

    *field = domain_to_wire(dom, &wire);
    return call_no_ret(dom->conn, procedure, args, error);
}

static gboolean
remote_domain_undefine(ferry_domain *dom, guint flags, GError **error)
{
    Ferry__DomainUndefineArgs args = FERRY__DOMAIN_UNDEFINE_ARGS__INIT;

    args.flags = flags;
    return domain_call(dom, FERRY__PROCEDURE__DOMAIN_UNDEFINE, &args.base, &args.dom, error);
}

static gboolean
remote_domain_start(ferry_domain *dom, guint flags, GError **error)
{
    Ferry__DomainStartArgs args = FERRY__DOMAIN_START_ARGS__INIT;

    args.flags = flags;
    return domain_call(dom, FERRY__PROCEDURE__DOMAIN_START, &args.base, &args.dom, error);
}

static gboolean
remote_domain_destroy(ferry_domain *dom, GError **error)
{
    Ferry__DomainDestroyArgs args = FERRY__DOMAIN_DESTROY_ARGS__INIT;

    return domain_call(dom, FERRY__PROCEDURE__DOMAIN_DESTROY, &args.base, &args.dom, error);
}

static gboolean
remote_domain_suspend(ferry_domain *dom, GError **error)
{
    Ferry__DomainSuspendArgs args = FERRY__DOMAIN_SUSPEND_ARGS__INIT;

    return domain_call(dom, FERRY__PROCEDURE__DOMAIN_SUSPEND, &args.base, &args.dom, error);
}

static gboolean
remote_domain_resume(ferry_domain *dom, GError **error)
{
    Ferry__DomainResumeArgs args = FERRY__DOMAIN_RESUME_ARGS__INIT;

    return domain_call(dom, FERRY__PROCEDURE__DOMAIN_RESUME, &args.base, &args.dom, error);
}

static gboolean
remote_domain_get_info(ferry_domain *dom, ferry_domain_info *ret_info, GError **error)
{
    Ferry__DomainGetInfoArgs args = FERRY__DOMAIN_GET_INFO_ARGS__INIT;
    Ferry__Domain wire;
    g_autoptr(ProtobufCMessage) ret = NULL;
    const Ferry__DomainGetInfoRet *info;

    args.dom = domain_to_wire(dom, &wire);
    ret = call(dom->conn, FERRY__PROCEDURE__DOMAIN_GET_INFO, &args.base, error);
    if (!ret)
        return FALSE;
    info = (const Ferry__DomainGetInfoRet *)ret;
    ret_info->state = info->state;
    ret_info->reason = info->reason;
    ret_info->memory_kib = info->memory_kib;
    ret_info->vcpus = info->vcpus;
    ret_info->cpu_time_ns = info->cpu_time_ns;
    ret_info->persistent = info->persistent;
    ret_info->pid = info->pid;
    return TRUE;
}

static char *
remote_domain_get_xml(ferry_domain *dom, guint flags, GError **error)
{
    Ferry__DomainGetXmlArgs args = FERRY__DOMAIN_GET_XML_ARGS__INIT;
    Ferry__Domain wire;
    g_autoptr(ProtobufCMessage) ret = NULL;

    args.dom = domain_to_wire(dom, &wire);
    args.flags = flags;
    ret = call(dom->conn, FERRY__PROCEDURE__DOMAIN_GET_XML, &args.base, error);
    return ret ? g_strdup(((Ferry__DomainGetXmlRet *)ret)->xml) : NULL;
}

/* ------------------------------------------------------------------------ */
/* Migration (since 0.2)                                                     */
/*                                                                           */
/* Every phase is an asynchronous call: the reply comes on the RPC client's  */
/* I/O thread and completes the phase's GTask in its caller's context.  No   */
/* thread waits for a phase that lasts minutes, which is what lets a daemon  */
/* drive a peer-to-peer migration without holding one.                       */
/* ------------------------------------------------------------------------ */

static Ferry__MigrateParams *
params_to_wire(const ferry_migrate_params *params, Ferry__MigrateParams *wire)
{
    ferry__migrate_params__init(wire);
    wire->flags = params->flags;
    wire->dname = (char *)params->dname;
    wire->uri = (char *)params->uri;
    wire->dxml = (char *)params->dxml;
    wire->has_bandwidth_mib = params->bandwidth_mib != 0;
    wire->bandwidth_mib = params->bandwidth_mib;
    /* The API refused an empty list: none on the wire means NULL. */
    wire->migrate_disks = (char **)params->migrate_disks;
    wire->n_migrate_disks =
        params->migrate_disks ? g_strv_length((char **)params->migrate_disks) : 0;
    wire->has_disks_port = params->disks_port != 0;
    wire->disks_port = params->disks_port;
    wire->has_timeout_s = params->timeout_s != 0;
    wire->timeout_s = params->timeout_s;
    wire->has_timeout_action = params->timeout_action != 0;
    wire->timeout_action = params->timeout_action;
    wire->has_max_downtime_ms = params->max_downtime_ms != 0;
    wire->max_downtime_ms = params->max_downtime_ms;
    wire->has_retry_s = params->retry_s != 0;
    wire->retry_s = params->retry_s;
#define SET_NONZERO(field) (wire->has_##field = params->field != 0, wire->field = params->field)
    SET_NONZERO(postcopy_bandwidth_mib);
    SET_NONZERO(parallel_connections);
    SET_NONZERO(comp_methods);
    SET_NONZERO(auto_converge_initial);
    SET_NONZERO(auto_converge_increment);
    SET_NONZERO(max_downtime_cap_ms);
#undef SET_NONZERO
    return wire;
}

/* Turns a phase's Ret message into its result. */
typedef void (*reply_to_result)(ferry_conn *conn, const ProtobufCMessage *ret,
                                ferry_phase_result *result);

typedef struct {
    ferry_conn *conn;           /* a reference: the reply needs its RPC client */
    reply_to_result convert;
    GTask *task;
} phase_call;

static void
on_phase_reply(GObject *source, GAsyncResult *res, gpointer data)
{
    phase_call *pc = data;
    g_autoptr(ProtobufCMessage) ret = NULL;
    GError *error = NULL;
    ferry_phase_result *result;

    ret = ferry_rpc_client_call_message_finish(priv_of(pc->conn)->rpc, res, &error);
    if (!ret) {
        g_task_return_error(pc->task, error);
        g_object_unref(pc->task);
    } else {
        result = g_new0(ferry_phase_result, 1);
        if (pc->convert)
            pc->convert(pc->conn, ret, result);
        ferry_phase_task_return(pc->task, result);
    }
    ferry_conn_unref(pc->conn);
    g_free(pc);
}

/* Calls @procedure with @args (packed at once: they may go after this). */
static void
call_phase(ferry_conn *conn, guint32 procedure, const ProtobufCMessage *args,
           reply_to_result convert, GCancellable *cancellable, GAsyncReadyCallback callback,
           gpointer user_data)
{
    phase_call *pc = g_new0(phase_call, 1);

    pc->conn = ferry_conn_ref(conn);
    pc->convert = convert;
    pc->task = g_task_new(NULL, cancellable, callback, user_data);
    ferry_rpc_client_call_message_async(priv_of(conn)->rpc, procedure, args,
                                        timeout_of(procedure), cancellable, on_phase_reply, pc);
}

static void
begin3_reply(ferry_conn *conn, const ProtobufCMessage *ret, ferry_phase_result *r)
{
    const Ferry__DomainMigrateBegin3Ret *m = (const Ferry__DomainMigrateBegin3Ret *)ret;

    r->xml = g_strdup(m->xml);
    r->cookie = g_strdup(m->cookie);
}

static void
remote_domain_migrate_begin3(ferry_domain *dom, const ferry_migrate_params *params,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data)
{
    Ferry__DomainMigrateBegin3Args args = FERRY__DOMAIN_MIGRATE_BEGIN3_ARGS__INIT;
    Ferry__Domain wire;
    Ferry__MigrateParams wparams;

    args.dom = domain_to_wire(dom, &wire);
    args.params = params_to_wire(params, &wparams);
    call_phase(dom->conn, FERRY__PROCEDURE__DOMAIN_MIGRATE_BEGIN3, &args.base, begin3_reply,
               cancellable, callback, user_data);
}

static void
prepare3_reply(ferry_conn *conn, const ProtobufCMessage *ret, ferry_phase_result *r)
{
    const Ferry__ConnectMigratePrepare3Ret *m = (const Ferry__ConnectMigratePrepare3Ret *)ret;

    r->cookie = g_strdup(m->cookie);
    r->uri = g_strdup(m->uri);
}

static void
remote_conn_migrate_prepare3(ferry_conn *dconn, const ferry_migrate_params *params,
                             const char *dom_xml, const char *cookie_in,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data)
{
    Ferry__ConnectMigratePrepare3Args args = FERRY__CONNECT_MIGRATE_PREPARE3_ARGS__INIT;
    Ferry__MigrateParams wparams;

    args.params = params_to_wire(params, &wparams);
    args.dom_xml = (char *)dom_xml;
    args.cookie_in = (char *)cookie_in;
    call_phase(dconn, FERRY__PROCEDURE__CONNECT_MIGRATE_PREPARE3, &args.base, prepare3_reply,
               cancellable, callback, user_data);
}

/* A tunnelled Prepare: its reply, and the splice that carries the tunnel. */
typedef struct {
    ferry_conn *conn;
    GTask *task;
} tunnel_call;

static void
on_tunnel_reply(GObject *source, GAsyncResult *res, gpointer data)
{
    tunnel_call *tc = data;
    const guint32 proc = FERRY__PROCEDURE__CONNECT_MIGRATE_PREPARE_TUNNEL3;
    g_autoptr(GBytes) body = NULL;
    g_autoptr(ProtobufCMessage) ret = NULL;
    GError *error = NULL;

    body = ferry_rpc_client_call_finish(priv_of(tc->conn)->rpc, res, &error);
    if (body)
        ret = ferry_rpc_message_unpack(ferry_rpc_procedure_ret(proc), body,
                                       ferry_rpc_procedure_name(proc), &error);
    if (!ret) {
        g_task_return_error(tc->task, error);
        g_object_unref(tc->task);
    } else {
        ferry_phase_result *result = g_new0(ferry_phase_result, 1);

        result->cookie =
            g_strdup(((const Ferry__ConnectMigratePrepareTunnel3Ret *)ret)->cookie);
        ferry_phase_task_return(tc->task, result);
    }
    ferry_conn_unref(tc->conn);
    g_free(tc);
}

/* The call opens a stream; @tunnel's bytes go over it both ways, on a
 * splice of their own, until either end closes or the connection goes
 * (keepalive ends it for a daemon that stopped answering). */
static void
remote_conn_migrate_prepare_tunnel3(ferry_conn *dconn, const ferry_migrate_params *params,
                                    const char *dom_xml, const char *cookie_in,
                                    GSocket *tunnel, GCancellable *cancellable,
                                    GAsyncReadyCallback callback, gpointer user_data)
{
    Ferry__ConnectMigratePrepareTunnel3Args args =
        FERRY__CONNECT_MIGRATE_PREPARE_TUNNEL3_ARGS__INIT;
    Ferry__MigrateParams wparams;
    g_autoptr(GBytes) packed = NULL;
    g_autoptr(ferry_rpc_stream) stream = NULL;
    g_autoptr(ferry_rpc_splice) splice = NULL;
    g_autofree char *name = NULL;
    g_autoptr(GError) error = NULL;
    tunnel_call *tc = g_new0(tunnel_call, 1);

    args.params = params_to_wire(params, &wparams);
    args.dom_xml = (char *)dom_xml;
    args.cookie_in = (char *)cookie_in;
    packed = ferry_rpc_message_pack(&args.base);
    tc->conn = ferry_conn_ref(dconn);
    tc->task = g_task_new(NULL, cancellable, callback, user_data);
    stream = ferry_rpc_client_call_stream_async(priv_of(dconn)->rpc,
                                                FERRY__PROCEDURE__CONNECT_MIGRATE_PREPARE_TUNNEL3,
                                                packed, NULL, on_tunnel_reply, tc);
    name = g_strdup_printf("the tunnel to '%s' (%s)", ferry_conn_get_uri(dconn),
                           ferry_rpc_stream_get_description(stream));
    splice = ferry_rpc_splice_start(name, stream, tunnel, &error);
    /* Without its splice the stream goes: the daemon's Prepare then fails
     * on its own aborted stream, and the reply says so. */
    if (!splice)
        ferry_rpc_stream_abort(stream, error);
}

static void
cookie_reply(ferry_conn *conn, const ProtobufCMessage *ret, ferry_phase_result *r)
{
    /* Perform3's and Confirm3's Ret both carry one optional cookie first. */
    r->cookie = g_strdup(((const Ferry__DomainMigratePerform3Ret *)ret)->cookie);
}

static void
remote_domain_migrate_perform3(ferry_domain *dom, const ferry_migrate_params *params,
                               const char *dconn_uri, const char *cookie_in,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data)
{
    Ferry__DomainMigratePerform3Args args = FERRY__DOMAIN_MIGRATE_PERFORM3_ARGS__INIT;
    Ferry__Domain wire;
    Ferry__MigrateParams wparams;

    args.dom = domain_to_wire(dom, &wire);
    args.params = params_to_wire(params, &wparams);
    args.dconn_uri = (char *)dconn_uri;
    args.cookie_in = (char *)cookie_in;
    call_phase(dom->conn, FERRY__PROCEDURE__DOMAIN_MIGRATE_PERFORM3, &args.base, cookie_reply,
               cancellable, callback, user_data);
}

static void
finish3_reply(ferry_conn *conn, const ProtobufCMessage *ret, ferry_phase_result *r)
{
    const Ferry__ConnectMigrateFinish3Ret *m = (const Ferry__ConnectMigrateFinish3Ret *)ret;

    r->cookie = g_strdup(m->cookie);
    r->dom = ferry_domain_new_handle(conn, m->dom->name, m->dom->uuid);
}

static void
remote_conn_migrate_finish3(ferry_conn *dconn, const ferry_migrate_params *params,
                            const char *dname, const char *cookie_in, gboolean cancelled,
                            GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data)
{
    Ferry__ConnectMigrateFinish3Args args = FERRY__CONNECT_MIGRATE_FINISH3_ARGS__INIT;
    Ferry__MigrateParams wparams;

    args.params = params_to_wire(params, &wparams);
    args.dname = (char *)dname;
    args.cookie_in = (char *)cookie_in;
    args.cancelled = cancelled;
    call_phase(dconn, FERRY__PROCEDURE__CONNECT_MIGRATE_FINISH3, &args.base, finish3_reply,
               cancellable, callback, user_data);
}

static void
confirm3_reply(ferry_conn *conn, const ProtobufCMessage *ret, ferry_phase_result *r)
{
    r->cookie = g_strdup(((const Ferry__DomainMigrateConfirm3Ret *)ret)->cookie);
}

static void
remote_domain_migrate_confirm3(ferry_domain *dom, const ferry_migrate_params *params,
                               const char *cookie_in, int outcome, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data)
{
    Ferry__DomainMigrateConfirm3Args args = FERRY__DOMAIN_MIGRATE_CONFIRM3_ARGS__INIT;
    Ferry__Domain wire;
    Ferry__MigrateParams wparams;

    args.dom = domain_to_wire(dom, &wire);
    args.params = params_to_wire(params, &wparams);
    args.cookie_in = (char *)cookie_in;
    args.cancelled = outcome == FERRY_CONFIRM_CANCELLED;
    args.has_in_doubt = outcome == FERRY_CONFIRM_UNKNOWN;
    args.in_doubt = outcome == FERRY_CONFIRM_UNKNOWN;
    call_phase(dom->conn, FERRY__PROCEDURE__DOMAIN_MIGRATE_CONFIRM3, &args.base,
               confirm3_reply, cancellable, callback, user_data);
}

static void
prepare2_reply(ferry_conn *conn, const ProtobufCMessage *ret, ferry_phase_result *r)
{
    const Ferry__ConnectMigratePrepare2Ret *m = (const Ferry__ConnectMigratePrepare2Ret *)ret;

    r->cookie = g_strdup(m->cookie);
    r->uri = g_strdup(m->uri);
}

static void
remote_conn_migrate_prepare2(ferry_conn *dconn, const ferry_migrate_params *params,
                             const char *dom_xml, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
    Ferry__ConnectMigratePrepare2Args args = FERRY__CONNECT_MIGRATE_PREPARE2_ARGS__INIT;
    Ferry__MigrateParams wparams;

    args.params = params_to_wire(params, &wparams);
    args.dom_xml = (char *)dom_xml;
    call_phase(dconn, FERRY__PROCEDURE__CONNECT_MIGRATE_PREPARE2, &args.base, prepare2_reply,
               cancellable, callback, user_data);
}

static void
remote_domain_migrate_perform(ferry_domain *dom, const ferry_migrate_params *params,
                              const char *cookie_in, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
    Ferry__DomainMigratePerformArgs args = FERRY__DOMAIN_MIGRATE_PERFORM_ARGS__INIT;
    Ferry__Domain wire;
    Ferry__MigrateParams wparams;

    args.dom = domain_to_wire(dom, &wire);
    args.params = params_to_wire(params, &wparams);
    args.cookie_in = (char *)cookie_in;
    call_phase(dom->conn, FERRY__PROCEDURE__DOMAIN_MIGRATE_PERFORM, &args.base, NULL,
               cancellable, callback, user_data);
}

static void
finish2_reply(ferry_conn *conn, const ProtobufCMessage *ret, ferry_phase_result *r)
{
    const Ferry__ConnectMigrateFinish2Ret *m = (const Ferry__ConnectMigrateFinish2Ret *)ret;

    r->dom = ferry_domain_new_handle(conn, m->dom->name, m->dom->uuid);
}

static void
remote_conn_migrate_finish2(ferry_conn *dconn, const ferry_migrate_params *params,
                            const char *dname, const char *cookie_in, gboolean ok,
                            GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data)
{
    Ferry__ConnectMigrateFinish2Args args = FERRY__CONNECT_MIGRATE_FINISH2_ARGS__INIT;
    Ferry__MigrateParams wparams;

    args.params = params_to_wire(params, &wparams);
    args.dname = (char *)dname;
    args.cookie_in = (char *)cookie_in;
    args.ok = ok;
    call_phase(dconn, FERRY__PROCEDURE__CONNECT_MIGRATE_FINISH2, &args.base, finish2_reply,
               cancellable, callback, user_data);
}

static void
prepare_reply(ferry_conn *conn, const ProtobufCMessage *ret, ferry_phase_result *r)
{
    const Ferry__ConnectMigratePrepareRet *m = (const Ferry__ConnectMigratePrepareRet *)ret;

    r->cookie = g_strdup(m->cookie);
    r->uri = g_strdup(m->uri);
}

static void
remote_conn_migrate_prepare(ferry_conn *dconn, const ferry_migrate_params *params,
                            GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data)
{
    Ferry__ConnectMigratePrepareArgs args = FERRY__CONNECT_MIGRATE_PREPARE_ARGS__INIT;
    Ferry__MigrateParams wparams;

    args.params = params_to_wire(params, &wparams);
    call_phase(dconn, FERRY__PROCEDURE__CONNECT_MIGRATE_PREPARE, &args.base, prepare_reply,
               cancellable, callback, user_data);
}

static void
finish_reply(ferry_conn *conn, const ProtobufCMessage *ret, ferry_phase_result *r)
{
    const Ferry__ConnectMigrateFinishRet *m = (const Ferry__ConnectMigrateFinishRet *)ret;

    r->dom = ferry_domain_new_handle(conn, m->dom->name, m->dom->uuid);
}

static void
remote_conn_migrate_finish(ferry_conn *dconn, const ferry_migrate_params *params,
                           const char *dname, const char *cookie_in,
                           GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data)
{
    Ferry__ConnectMigrateFinishArgs args = FERRY__CONNECT_MIGRATE_FINISH_ARGS__INIT;
    Ferry__MigrateParams wparams;

    args.params = params_to_wire(params, &wparams);
    args.dname = (char *)dname;
    args.cookie_in = (char *)cookie_in;
    call_phase(dconn, FERRY__PROCEDURE__CONNECT_MIGRATE_FINISH, &args.base, finish_reply,
               cancellable, callback, user_data);
}

/* ------------------------------------------------------------------------ */
/* Jobs (since 0.3)                                                          */
/* ------------------------------------------------------------------------ */

static gboolean
remote_domain_get_job_stats(ferry_domain *dom, guint flags, ferry_job_info *ret_info,
                            GError **error)
{
    Ferry__DomainGetJobStatsArgs args = FERRY__DOMAIN_GET_JOB_STATS_ARGS__INIT;
    Ferry__Domain wire;
    g_autoptr(ProtobufCMessage) ret = NULL;

    args.dom = domain_to_wire(dom, &wire);
    args.flags = flags;
    ret = call(dom->conn, FERRY__PROCEDURE__DOMAIN_GET_JOB_STATS, &args.base, error);
    if (!ret)
        return FALSE;
    ferry_rpc_job_info_from_wire(((const Ferry__DomainGetJobStatsRet *)ret)->info, ret_info);
    return TRUE;
}

static void
remote_domain_abort_job(ferry_domain *dom, guint flags, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data)
{
    Ferry__DomainAbortJobArgs args = FERRY__DOMAIN_ABORT_JOB_ARGS__INIT;
    Ferry__Domain wire;

    args.dom = domain_to_wire(dom, &wire);
    args.flags = flags;
    call_phase(dom->conn, FERRY__PROCEDURE__DOMAIN_ABORT_JOB, &args.base, NULL, cancellable,
               callback, user_data);
}

static gboolean
remote_domain_migrate_start_postcopy(ferry_domain *dom, GError **error)
{
    Ferry__DomainMigrateStartPostcopyArgs args = FERRY__DOMAIN_MIGRATE_START_POSTCOPY_ARGS__INIT;
    Ferry__Domain wire;

    args.dom = domain_to_wire(dom, &wire);
    return call_no_ret(dom->conn, FERRY__PROCEDURE__DOMAIN_MIGRATE_START_POSTCOPY, &args.base,
                       error);
}

static gboolean
remote_domain_migrate_postcopy_resume(ferry_domain *dom, const char *dest_uri, GError **error)
{
    Ferry__DomainMigratePostcopyResumeArgs args = FERRY__DOMAIN_MIGRATE_POSTCOPY_RESUME_ARGS__INIT;
    Ferry__Domain wire;

    args.dom = domain_to_wire(dom, &wire);
    args.dest_uri = (char *)dest_uri;
    return call_no_ret(dom->conn, FERRY__PROCEDURE__DOMAIN_MIGRATE_POSTCOPY_RESUME, &args.base,
                       error);
}

static gboolean
remote_domain_migrate_estimate(ferry_domain *dom, const char *dest_uri,
                               const ferry_migrate_params *params, ferry_migrate_estimate *ret,
                               GError **error)
{
    Ferry__DomainMigrateEstimateArgs args = FERRY__DOMAIN_MIGRATE_ESTIMATE_ARGS__INIT;
    Ferry__MigrateParams wparams;
    Ferry__Domain wire;
    g_autoptr(ProtobufCMessage) msg = NULL;
    const Ferry__MigrateEstimate *e;

    args.dom = domain_to_wire(dom, &wire);
    args.dest_uri = (char *)dest_uri;
    args.params = params_to_wire(params, &wparams);
    msg = call(dom->conn, FERRY__PROCEDURE__DOMAIN_MIGRATE_ESTIMATE, &args.base, error);
    if (!msg)
        return FALSE;
    e = ((const Ferry__DomainMigrateEstimateRet *)msg)->estimate;
    ret->mem_total = e->mem_total;
    ret->mem_data = e->mem_data;
    g_strlcpy(ret->mem_data_source, e->mem_data_source, sizeof(ret->mem_data_source));
    ret->dirty_rate_bps = e->dirty_rate_bps;
    ret->dirty_set = e->dirty_set;
    ret->link_bps = e->link_bps;
    ret->rate_bps = e->rate_bps;
    ret->passes = e->passes;
    ret->total_ms = e->total_ms;
    ret->downtime_ms = e->downtime_ms;
    g_strlcpy(ret->strategy, e->strategy, sizeof(ret->strategy));
    g_strlcpy(ret->reason, e->reason, sizeof(ret->reason));
    return TRUE;
}

static gboolean
remote_conn_migrate_probe(ferry_conn *dconn, GBytes *data, guint64 *ret_received,
                          gboolean *ret_postcopy, GError **error)
{
    Ferry__ConnectMigrateProbeArgs args = FERRY__CONNECT_MIGRATE_PROBE_ARGS__INIT;
    g_autoptr(ProtobufCMessage) msg = NULL;
    gsize len;

    args.data.data = (uint8_t *)g_bytes_get_data(data, &len);
    args.data.len = len;
    msg = call(dconn, FERRY__PROCEDURE__CONNECT_MIGRATE_PROBE, &args.base, error);
    if (!msg)
        return FALSE;
    *ret_received = ((const Ferry__ConnectMigrateProbeRet *)msg)->received;
    *ret_postcopy = ((const Ferry__ConnectMigrateProbeRet *)msg)->postcopy;
    return TRUE;
}

static gboolean
remote_domain_migrate_set_tunable(ferry_domain *dom, int tunable, guint64 value,
                                  GError **error)
{
    Ferry__DomainMigrateSetTunableArgs args = FERRY__DOMAIN_MIGRATE_SET_TUNABLE_ARGS__INIT;
    Ferry__Domain wire;

    args.dom = domain_to_wire(dom, &wire);
    args.tunable = tunable;
    args.value = value;
    return call_no_ret(dom->conn, FERRY__PROCEDURE__DOMAIN_MIGRATE_SET_TUNABLE, &args.base,
                       error);
}

static gboolean
remote_domain_migrate_get_tunable(ferry_domain *dom, int tunable, guint64 *ret_value,
                                  GError **error)
{
    Ferry__DomainMigrateGetTunableArgs args = FERRY__DOMAIN_MIGRATE_GET_TUNABLE_ARGS__INIT;
    Ferry__Domain wire;
    g_autoptr(ProtobufCMessage) ret = NULL;

    args.dom = domain_to_wire(dom, &wire);
    args.tunable = tunable;
    ret = call(dom->conn, FERRY__PROCEDURE__DOMAIN_MIGRATE_GET_TUNABLE, &args.base, error);
    if (!ret)
        return FALSE;
    *ret_value = ((const Ferry__DomainMigrateGetTunableRet *)ret)->value;
    return TRUE;
}

static void
query_reply(ferry_conn *conn, const ProtobufCMessage *ret, ferry_phase_result *r)
{
    const Ferry__ConnectMigrateQueryRet *m = (const Ferry__ConnectMigrateQueryRet *)ret;

    r->status = m->status;
    r->message = g_strdup(m->message);
}

static void
remote_conn_migrate_query(ferry_conn *dconn, const char *id, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data)
{
    Ferry__ConnectMigrateQueryArgs args = FERRY__CONNECT_MIGRATE_QUERY_ARGS__INIT;

    args.id = (char *)id;
    call_phase(dconn, FERRY__PROCEDURE__CONNECT_MIGRATE_QUERY, &args.base, query_reply,
               cancellable, callback, user_data);
}

static void
recover_reply(ferry_conn *conn, const ProtobufCMessage *ret, ferry_phase_result *r)
{
    r->uri = g_strdup(((const Ferry__ConnectMigratePostcopyRecoverRet *)ret)->uri);
}

static void
remote_conn_migrate_postcopy_recover(ferry_conn *dconn, const char *id,
                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data)
{
    Ferry__ConnectMigratePostcopyRecoverArgs args =
        FERRY__CONNECT_MIGRATE_POSTCOPY_RECOVER_ARGS__INIT;

    args.id = (char *)id;
    call_phase(dconn, FERRY__PROCEDURE__CONNECT_MIGRATE_POSTCOPY_RECOVER, &args.base,
               recover_reply, cancellable, callback, user_data);
}

static void
remote_conn_migrate_cancel(ferry_conn *dconn, const char *id, const char *reason,
                           GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data)
{
    Ferry__ConnectMigrateCancelArgs args = FERRY__CONNECT_MIGRATE_CANCEL_ARGS__INIT;

    args.id = (char *)id;
    args.reason = (char *)reason;
    call_phase(dconn, FERRY__PROCEDURE__CONNECT_MIGRATE_CANCEL, &args.base, NULL, cancellable,
               callback, user_data);
}

const ferry_driver ferry_remote_driver = {
    .name = "remote",
    .conn_probe = remote_conn_probe,                             /* since 0.1 */
    .conn_open = remote_conn_open,                               /* since 0.1 */
    .conn_close = remote_conn_close,                             /* since 0.1 */
    .conn_is_alive = remote_conn_is_alive,                       /* since 0.1 */
    .conn_get_capabilities = remote_conn_get_capabilities,       /* since 0.1 */
    .conn_get_hostname = remote_conn_get_hostname,               /* since 0.1 */
    .conn_supports_feature = remote_conn_supports_feature,       /* since 0.1 */
    .conn_list_domains = remote_conn_list_domains,               /* since 0.1 */
    .conn_subscribe_events = remote_conn_subscribe_events,       /* since 0.1 */
    .conn_unsubscribe_events = remote_conn_unsubscribe_events,   /* since 0.1 */
    .domain_lookup_by_name = remote_domain_lookup_by_name,       /* since 0.1 */
    .domain_lookup_by_uuid = remote_domain_lookup_by_uuid,       /* since 0.1 */
    .domain_define_xml = remote_domain_define_xml,               /* since 0.1 */
    .domain_create_xml = remote_domain_create_xml,               /* since 0.1 */
    .domain_undefine = remote_domain_undefine,                   /* since 0.1 */
    .domain_start = remote_domain_start,                         /* since 0.1 */
    .domain_destroy = remote_domain_destroy,                     /* since 0.1 */
    .domain_suspend = remote_domain_suspend,                     /* since 0.1 */
    .domain_resume = remote_domain_resume,                       /* since 0.1 */
    .domain_get_info = remote_domain_get_info,                   /* since 0.1 */
    .domain_get_xml = remote_domain_get_xml,                     /* since 0.1 */
    .domain_migrate_begin3 = remote_domain_migrate_begin3,       /* since 0.2 */
    .conn_migrate_prepare3 = remote_conn_migrate_prepare3,       /* since 0.2 */
    .conn_migrate_prepare_tunnel3 = remote_conn_migrate_prepare_tunnel3, /* since 0.6 */
    .domain_migrate_perform3 = remote_domain_migrate_perform3,   /* since 0.2 */
    .conn_migrate_finish3 = remote_conn_migrate_finish3,         /* since 0.2 */
    .domain_migrate_confirm3 = remote_domain_migrate_confirm3,   /* since 0.2 */
    .conn_migrate_prepare2 = remote_conn_migrate_prepare2,       /* since 0.2 */
    .domain_migrate_perform = remote_domain_migrate_perform,     /* since 0.2 */
    .conn_migrate_finish2 = remote_conn_migrate_finish2,         /* since 0.2 */
    .conn_migrate_prepare = remote_conn_migrate_prepare,         /* since 0.2 */
    .conn_migrate_finish = remote_conn_migrate_finish,           /* since 0.2 */
    .domain_get_job_stats = remote_domain_get_job_stats,         /* since 0.3 */
    .domain_abort_job = remote_domain_abort_job,                 /* since 0.3 */
    .domain_migrate_set_tunable = remote_domain_migrate_set_tunable, /* since 0.3 */
    .domain_migrate_get_tunable = remote_domain_migrate_get_tunable, /* since 0.3 */
    .domain_migrate_start_postcopy = remote_domain_migrate_start_postcopy, /* since 0.5 */
    .domain_migrate_postcopy_resume = remote_domain_migrate_postcopy_resume, /* since 0.5 */
    .domain_migrate_estimate = remote_domain_migrate_estimate, /* since 0.5 */
    .conn_migrate_probe = remote_conn_migrate_probe, /* since 0.5 */
    .conn_migrate_snapshots = remote_conn_migrate_snapshots, /* since 0.6 */
    .conn_migrate_query = remote_conn_migrate_query,             /* since 0.3 */
    .conn_migrate_cancel = remote_conn_migrate_cancel,           /* since 0.3 */
    .conn_migrate_postcopy_recover = remote_conn_migrate_postcopy_recover, /* since 0.5 */
    .domain_snapshot_create_xml = remote_domain_snapshot_create_xml, /* since 0.6 */
    .domain_snapshot_list = remote_domain_snapshot_list,         /* since 0.6 */
    .domain_snapshot_get_xml = remote_domain_snapshot_get_xml,   /* since 0.6 */
    .domain_snapshot_current = remote_domain_snapshot_current,   /* since 0.6 */
    .domain_snapshot_revert = remote_domain_snapshot_revert,     /* since 0.6 */
    .domain_snapshot_delete = remote_domain_snapshot_delete,     /* since 0.6 */
};
