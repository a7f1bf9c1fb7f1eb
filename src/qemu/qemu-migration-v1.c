/*
 * qemu-migration-v1.c: protocol v1 (Prepare, Perform, Finish) in the QEMU
 * driver.
 *
 * v1's Prepare gets no domain XML, so the destination cannot start a QEMU
 * in it.  Instead the destination's Prepare only takes a migration port,
 * listens on it itself and puts a random token in its cookie
 * (<definition token='...'/>).  The source's Perform connects to that
 * port and sends, before anything else,
 *
 *     FERRY-V1 <token> <length>\n<length bytes of domain XML>
 *
 * then hands the same connection to its QEMU (getfd, migrate
 * fd:migration-out).  The destination's launch step accepts the
 * connection, checks the token, gives the job its domain
 * (ferry_mig_job_adopt_definition(): the checks of Prepare3's XML) and
 * starts its QEMU with the rest of the connection as its incoming stream
 * (getfd, migrate-incoming fd:migration-in).  So the data brings the
 * domain, as v1 means, without QEMU having to.
 *
 * Owns: the v1 listening socket, its token and its port until the domain
 * exists (job->backend_data), the greeting's format and limits.  A
 * connection that does not greet with the token is refused and logged;
 * the listener goes on waiting for the source, for at most
 * V1_ACCEPT_SECONDS.
 */
#include "ferry-config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "conf/migration-cookie.h"
#include "qemu/qemu-migration-priv.h"
#include "qemu/qemu-migration.h"
#include "qemu/qemu-process.h"
#include "util/error.h"

/* How long the destination waits for the source to connect after Prepare
 * answered (the client calls Perform right after it). */
#define V1_ACCEPT_SECONDS 60
/* How long a connected peer may take over its greeting. */
#define V1_GREETING_SECONDS 10
/* The greeting's first line: "FERRY-V1 " + 32 hex digits + " " + length. */
#define V1_MAGIC "FERRY-V1 "
#define V1_LINE_MAX 64
/* The largest domain XML taken (the library's own limit on a document). */
#define V1_XML_MAX (4u * 1024u * 1024u)

typedef struct {
    qemu_driver_state *state;
    GSocket *listener;
    guint port;                 /* held until the domain's QEMU owns it */
    char *token;
} v1_incoming;

static void
v1_incoming_free(gpointer data)
{
    v1_incoming *v1 = data;

    g_clear_object(&v1->listener);
    if (v1->port)
        qemu_migration_release_port(v1->state, v1->port);
    g_free(v1->token);
    g_free(v1);
}

static v1_incoming *
v1_of(ferry_mig_job *job)
{
    return job->protocol == 1 && job->backend_data_free == v1_incoming_free
               ? job->backend_data : NULL;
}

gboolean
qemu_mig_v1_listen(ferry_mig_job *job, ferry_migration_cookie *cookie_out, char **ret_uri,
                   GError **error)
{
    qemu_driver_state *state = ferry_mig_engine_get_backend_self(job->engine);
    g_auto(mig_uri) want = { 0 };
    g_autofree char *listen = NULL;
    g_autofree char *advertise = NULL;
    v1_incoming *v1;
    guint port;

    if (!qemu_mig_uri_parse(job->params->p.uri, &want, error) ||
        !(listen = qemu_migration_listen_address(&state->config, want.host, error)))
        return FALSE;
    port = qemu_migration_acquire_port(state, listen, want.port, error);
    if (!port)
        return FALSE;
    v1 = g_new0(v1_incoming, 1);
    v1->state = state;
    v1->port = port;
    v1->listener = qemu_mig_bind_incoming(listen, port, error);
    if (v1->listener)
        v1->token = qemu_mig_new_token(error);
    if (!v1->token) {
        v1_incoming_free(v1);
        return FALSE;
    }
    g_socket_set_blocking(v1->listener, FALSE);
    job->backend_data = v1;
    job->backend_data_free = v1_incoming_free;
    cookie_out->definition_token = g_strdup(v1->token);
    advertise = qemu_mig_host_for_uri(want.host ? want.host : listen);
    *ret_uri = g_strdup_printf("tcp://%s:%u/", advertise, port);
    return TRUE;
}

/* Whether the engine gave the job up while the launch step waits. */
static gboolean
given_up(ferry_mig_job *job)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&job->lock);

    return job->state == FERRY_MIG_STATE_ROLLBACK || ferry_mig_state_is_final(job->state);
}

/* Reads exactly @len bytes (blocking, under the socket's timeout). */
static gboolean
read_exact(GSocket *sock, char *buf, gsize len, GError **error)
{
    for (gsize got = 0; got < len;) {
        gssize n = g_socket_receive(sock, buf + got, len - got, NULL, error);

        if (n < 0)
            return FALSE;
        if (n == 0) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                        "the connection closed after %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT
                        " bytes", got, len);
            return FALSE;
        }
        got += (gsize)n;
    }
    return TRUE;
}

char *
qemu_mig_v1_read_greeting(GSocket *conn, const char *token, GError **error)
{
    char line[V1_LINE_MAX + 1];
    g_autofree char *xml = NULL;
    gsize used = 0;
    guint64 len = 0;
    char *end = NULL;

    g_socket_set_blocking(conn, TRUE);
    g_socket_set_timeout(conn, V1_GREETING_SECONDS);
    /* One byte at a time: what follows the line is QEMU's, not ours. */
    while (used < V1_LINE_MAX) {
        if (!read_exact(conn, line + used, 1, error))
            return NULL;
        if (line[used++] == '\n')
            break;
    }
    line[used] = '\0';
    if (used == 0 || line[used - 1] != '\n' || !g_str_has_prefix(line, V1_MAGIC) ||
        used < strlen(V1_MAGIC) + 32 + 2 || line[strlen(V1_MAGIC) + 32] != ' ') {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "its first %" G_GSIZE_FORMAT " bytes are not a v1 greeting "
                    "(\"" V1_MAGIC "TOKEN LENGTH\")", used);
        return NULL;
    }
    if (memcmp(line + strlen(V1_MAGIC), token, 32) != 0) {
        g_set_error_literal(error, FERRY_ERROR, FERRY_ERROR_ACCESS_DENIED,
                            "it did not present this migration's token");
        return NULL;
    }
    len = g_ascii_strtoull(line + strlen(V1_MAGIC) + 33, &end, 10);
    if (!end || *end != '\n' || len == 0 || len > V1_XML_MAX) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "its greeting gives a domain XML length that is not between 1 and %u",
                    V1_XML_MAX);
        return NULL;
    }
    xml = g_malloc(len + 1);
    if (!read_exact(conn, xml, len, error)) {
        g_prefix_error(error, "reading its domain XML: ");
        return NULL;
    }
    xml[len] = '\0';
    return g_steal_pointer(&xml);
}

static char *
peer_name(GSocket *conn)
{
    g_autoptr(GSocketAddress) addr = g_socket_get_remote_address(conn, NULL);

    if (addr && G_IS_INET_SOCKET_ADDRESS(addr)) {
        g_autofree char *ip = g_inet_address_to_string(
            g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(addr)));

        return g_strdup_printf("%s:%u", ip,
                               g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(addr)));
    }
    return g_strdup("(unknown)");
}

/* Waits for the source's connection and its greeting; refuses, and logs,
 * any other.  Returns the connection and the XML. */
static GSocket *
accept_source(ferry_mig_job *job, v1_incoming *v1, char **ret_xml, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + V1_ACCEPT_SECONDS * G_TIME_SPAN_SECOND;

    for (;;) {
        g_autoptr(GError) local = NULL;
        g_autoptr(GSocket) conn = g_socket_accept(v1->listener, NULL, &local);
        g_autofree char *who = NULL;

        if (!conn) {
            if (!g_error_matches(local, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
                g_propagate_prefixed_error(error, g_steal_pointer(&local),
                                           "accepting the source's connection: ");
                return NULL;
            }
            if (given_up(job)) {
                g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_ABORTED,
                            "migration %s was given up before the source connected", job->id);
                return NULL;
            }
            if (g_get_monotonic_time() > deadline) {
                g_set_error(error, FERRY_ERROR, FERRY_ERROR_TIMEOUT,
                            "no source connected to port %u within %d s of Prepare",
                            v1->port, V1_ACCEPT_SECONDS);
                return NULL;
            }
            g_socket_condition_timed_wait(v1->listener, G_IO_IN, 200 * 1000, NULL, NULL);
            continue;
        }
        who = peer_name(conn);
        *ret_xml = qemu_mig_v1_read_greeting(conn, v1->token, &local);
        if (*ret_xml)
            return g_steal_pointer(&conn);
        g_warning("migration %s: refused the connection from %s to port %u: %s", job->id, who,
                  v1->port, local->message);
    }
}

gboolean
qemu_mig_v1_launch(ferry_mig_job *job, GError **error)
{
    v1_incoming *v1 = v1_of(job);
    g_autoptr(GSocket) conn = NULL;
    g_autofree char *xml = NULL;
    ferry_domain_obj *obj;

    if (!v1 || !v1->listener)
        return TRUE;
    conn = accept_source(job, v1, &xml, error);
    if (!conn || !ferry_mig_job_adopt_definition(job, xml, error))
        return FALSE;
    obj = job->obj;
    if (!qemu_process_check_not_running(v1->state, "receive", obj->name, obj->uuid, error))
        return FALSE;
    /* The domain's cleanup releases the port from now on. */
    g_mutex_lock(&obj->lock);
    qemu_domain_priv_get(obj)->mig_port = v1->port;
    v1->port = 0;
    g_mutex_unlock(&obj->lock);
    g_clear_object(&v1->listener);
    if (!qemu_mig_start_incoming_qemu(v1->state, obj, &job->params->p, FALSE,
                                      "fd:migration-in", conn, error))
        return FALSE;
    /* QEMU holds its own copy: its end of file must be the stream's. */
    g_socket_close(conn, NULL);
    return TRUE;
}

void
qemu_mig_v1_discard(ferry_mig_job *job)
{
    v1_incoming *v1 = v1_of(job);

    if (!v1)
        return;
    g_clear_object(&v1->listener);
    if (v1->port) {
        qemu_migration_release_port(v1->state, v1->port);
        v1->port = 0;
    }
}

GSocket *
qemu_mig_v1_connect(ferry_mig_job *job, const char *host, guint port, GError **error)
{
    ferry_migration_cookie *prepared = ferry_mig_job_get_prepared(job);
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketConnectable) where = g_network_address_new(host, (guint16)port);
    g_autoptr(GSocketConnection) conn = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *line = NULL;
    GOutputStream *out;
    GSocket *sock;
    int fd;

    g_mutex_lock(&job->obj->lock);
    xml = ferry_domain_def_format(job->obj->live ? job->obj->live : job->obj->def);
    g_mutex_unlock(&job->obj->lock);
    g_socket_client_set_timeout(client, V1_GREETING_SECONDS);
    conn = g_socket_client_connect(client, where, NULL, error);
    if (!conn) {
        g_prefix_error(error, "cannot connect to %s port %u: ", host, port);
        return NULL;
    }
    line = g_strdup_printf(V1_MAGIC "%s %" G_GSIZE_FORMAT "\n", prepared->definition_token,
                           strlen(xml));
    out = g_io_stream_get_output_stream(G_IO_STREAM(conn));
    if (!g_output_stream_write_all(out, line, strlen(line), NULL, NULL, error) ||
        !g_output_stream_write_all(out, xml, strlen(xml), NULL, NULL, error)) {
        g_prefix_error(error, "sending the domain's definition to %s port %u: ", host, port);
        return NULL;
    }
    /* QEMU gets a copy of its own; the connection's goes with it. */
    fd = fcntl(g_socket_get_fd(g_socket_connection_get_socket(conn)), F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_SYSTEM, "dup: %s", g_strerror(errno));
        return NULL;
    }
    sock = g_socket_new_from_fd(fd, error);
    if (!sock)
        close(fd);
    return sock;
}
