/*
 * rpc-test-util.c: the server thread, the log recorder and the outcomes of
 * asynchronous calls of the RPC tests.
 */
#include "ferry-config.h"

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <string.h>

#include "rpc-test-util.h"

#define WAIT_LIMIT_US (10 * G_USEC_PER_SEC)

struct test_server {
    ferry_rpc_server_config config;
    char *dir;
    char *path;
    GThread *thread;
    GMainContext *context;
    GMainLoop *loop;
    ferry_rpc_server *srv;
    guint16 tcp_port;
    ferry_rpc_tls *tls;         /* a TLS listener too, with these credentials */
    guint16 tls_port;
    GMutex lock;
    GCond cond;
    gboolean ready;
};

static test_server *server_start(const ferry_rpc_server_config *config, const char *path,
                                 ferry_rpc_tls *tls);

static gpointer
server_thread(gpointer data)
{
    test_server *ts = data;
    g_autoptr(GError) error = NULL;

    g_main_context_push_thread_default(ts->context);
    ts->srv = ferry_rpc_server_new(&ts->config, &error);
    g_assert_no_error(error);
    ferry_rpc_server_add_unix(ts->srv, ts->path, 0600, &error);
    g_assert_no_error(error);
    ferry_rpc_server_add_tcp(ts->srv, "127.0.0.1", 0, &ts->tcp_port, &error);
    g_assert_no_error(error);
    if (ts->tls) {
        ferry_rpc_server_add_tls(ts->srv, "127.0.0.1", 0, ts->tls, &ts->tls_port, &error);
        g_assert_no_error(error);
    }

    g_mutex_lock(&ts->lock);
    ts->ready = TRUE;
    g_cond_signal(&ts->cond);
    g_mutex_unlock(&ts->lock);

    g_main_loop_run(ts->loop);
    g_clear_pointer(&ts->srv, ferry_rpc_server_free);
    /* What the closed connections and the listener left behind. */
    while (g_main_context_iteration(ts->context, FALSE))
        ;
    g_main_context_pop_thread_default(ts->context);
    return NULL;
}

test_server *
test_server_start(const ferry_rpc_server_config *config)
{
    return test_server_start_tls(config, NULL);
}

test_server *
test_server_start_tls(const ferry_rpc_server_config *config, ferry_rpc_tls *tls)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = g_dir_make_tmp("ferry-rpc-test-XXXXXX", &error);
    g_autofree char *path = NULL;
    test_server *ts;

    g_assert_no_error(error);
    path = g_build_filename(dir, "ferryd.sock", NULL);
    ts = server_start(config, path, tls);
    ts->dir = g_steal_pointer(&dir);
    return ts;
}

guint16
test_server_tls_port(test_server *ts)
{
    return ts->tls_port;
}

test_server *
test_server_start_at(const ferry_rpc_server_config *config, const char *path)
{
    return server_start(config, path, NULL);
}

static test_server *
server_start(const ferry_rpc_server_config *config, const char *path, ferry_rpc_tls *tls)
{
    test_server *ts = g_new0(test_server, 1);

    ts->tls = tls ? ferry_rpc_tls_ref(tls) : NULL;
    ts->config = *config;
    ts->path = g_strdup(path);
    ts->context = g_main_context_new();
    ts->loop = g_main_loop_new(ts->context, FALSE);
    g_mutex_init(&ts->lock);
    g_cond_init(&ts->cond);
    ts->thread = g_thread_new("test-server", server_thread, ts);
    g_mutex_lock(&ts->lock);
    while (!ts->ready)
        g_cond_wait(&ts->cond, &ts->lock);
    g_mutex_unlock(&ts->lock);
    return ts;
}

static gboolean
quit_cb(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_REMOVE;
}

void
test_server_stop(test_server *ts)
{
    g_main_context_invoke(ts->context, quit_cb, ts->loop);
    g_thread_join(ts->thread);
    g_assert_false(g_file_test(ts->path, G_FILE_TEST_EXISTS));
    if (ts->dir)
        g_rmdir(ts->dir);
    g_main_loop_unref(ts->loop);
    g_main_context_unref(ts->context);
    g_mutex_clear(&ts->lock);
    g_cond_clear(&ts->cond);
    g_free(ts->path);
    g_free(ts->dir);
    ferry_rpc_tls_unref(ts->tls);
    g_free(ts);
}

const char *
test_server_socket(test_server *ts)
{
    return ts->path;
}

guint16
test_server_tcp_port(test_server *ts)
{
    return ts->tcp_port;
}

typedef struct {
    test_server *ts;
    guint n;
    gboolean done;
} count_request;

static gboolean
count_cb(gpointer data)
{
    count_request *req = data;

    g_mutex_lock(&req->ts->lock);
    req->n = ferry_rpc_server_get_n_clients(req->ts->srv);
    req->done = TRUE;
    g_cond_broadcast(&req->ts->cond);
    g_mutex_unlock(&req->ts->lock);
    return G_SOURCE_REMOVE;
}

guint
test_server_n_clients(test_server *ts)
{
    count_request req = { .ts = ts };

    g_main_context_invoke(ts->context, count_cb, &req);
    g_mutex_lock(&ts->lock);
    while (!req.done)
        g_cond_wait(&ts->cond, &ts->lock);
    g_mutex_unlock(&ts->lock);
    return req.n;
}

void
test_server_wait_n_clients(test_server *ts, guint n)
{
    gint64 end = g_get_monotonic_time() + WAIT_LIMIT_US;

    /* The server says nothing when its count changes: poll, bounded. */
    while (test_server_n_clients(ts) != n) {
        if (g_get_monotonic_time() > end)
            g_error("the server still has %u clients, not %u, after 10 s",
                    test_server_n_clients(ts), n);
        g_usleep(2000);
    }
}

/* ------------------------------------------------------------------------ */
/* Logs                                                                      */
/* ------------------------------------------------------------------------ */

static GMutex log_lock;
static GCond log_cond;
static GPtrArray *log_messages;
static GPtrArray *log_infos;     /* "[PEER] MESSAGE" of ferry-rpc's info lines */

static const char *
field(const GLogField *fields, gsize n_fields, const char *key)
{
    for (gsize i = 0; i < n_fields; i++) {
        if (g_strcmp0(fields[i].key, key) == 0)
            return fields[i].value;
    }
    return NULL;
}

static GLogWriterOutput
writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
    const char *domain = field(fields, n_fields, "GLIB_DOMAIN");
    const char *message = field(fields, n_fields, "MESSAGE");

    if ((g_strcmp0(domain, "ferry-rpc") == 0 || g_strcmp0(domain, "ferryd") == 0) &&
        (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))) {
        g_test_message("recorded %s warning: %s", domain, message);
        g_mutex_lock(&log_lock);
        g_ptr_array_add(log_messages, g_strdup(message));
        g_cond_broadcast(&log_cond);
        g_mutex_unlock(&log_lock);
        return G_LOG_WRITER_HANDLED;
    }
    if (g_strcmp0(domain, "ferry-rpc") == 0 && (level & G_LOG_LEVEL_INFO)) {
        g_mutex_lock(&log_lock);
        g_ptr_array_add(log_infos, g_strdup_printf("[%s] %s",
                                                   field(fields, n_fields, "FERRY_PEER"),
                                                   message));
        g_mutex_unlock(&log_lock);
    }
    return g_log_writer_default(level, fields, n_fields, data);
}

void
test_log_init(void)
{
    log_messages = g_ptr_array_new_with_free_func(g_free);
    log_infos = g_ptr_array_new_with_free_func(g_free);
    g_log_set_writer_func(writer, NULL, NULL);
}

void
test_log_clear(void)
{
    g_mutex_lock(&log_lock);
    g_ptr_array_set_size(log_messages, 0);
    g_ptr_array_set_size(log_infos, 0);
    g_mutex_unlock(&log_lock);
}

guint
test_log_info_count(const char *pattern)
{
    guint n = 0;

    g_mutex_lock(&log_lock);
    for (guint i = 0; i < log_infos->len; i++) {
        if (g_pattern_match_simple(pattern, g_ptr_array_index(log_infos, i)))
            n++;
    }
    g_mutex_unlock(&log_lock);
    return n;
}

static char *
find_locked(const char *substring)
{
    for (guint i = 0; i < log_messages->len; i++) {
        const char *msg = g_ptr_array_index(log_messages, i);

        if (strstr(msg, substring))
            return g_strdup(msg);
    }
    return NULL;
}

char *
test_log_wait(const char *substring)
{
    gint64 end = g_get_monotonic_time() + WAIT_LIMIT_US;
    char *found;

    g_mutex_lock(&log_lock);
    while (!(found = find_locked(substring))) {
        if (!g_cond_wait_until(&log_cond, &log_lock, end)) {
            g_mutex_unlock(&log_lock);
            g_error("no warning containing '%s' was logged within 10 s", substring);
        }
    }
    g_mutex_unlock(&log_lock);
    return found;
}

guint
test_log_count(const char *substring)
{
    guint n = 0;

    g_mutex_lock(&log_lock);
    for (guint i = 0; i < log_messages->len; i++) {
        if (strstr(g_ptr_array_index(log_messages, i), substring))
            n++;
    }
    g_mutex_unlock(&log_lock);
    return n;
}

/* ------------------------------------------------------------------------ */
/* Raw connections                                                           */
/* ------------------------------------------------------------------------ */

GSocketConnection *
test_raw_connect(const char *path)
{
    g_autoptr(GSocketClient) sc = g_socket_client_new();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
    g_autoptr(GError) error = NULL;
    GSocketConnection *conn;

    conn = g_socket_client_connect(sc, G_SOCKET_CONNECTABLE(addr), NULL, &error);
    g_assert_no_error(error);
    /* A bound on every read, so a server that never closes fails the test. */
    g_socket_set_timeout(g_socket_connection_get_socket(conn), 10);
    return conn;
}

GBytes *
test_raw_read_until_eof(GSocketConnection *conn)
{
    GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(conn));
    g_autoptr(GByteArray) all = g_byte_array_new();
    guint8 buf[4096];

    for (;;) {
        g_autoptr(GError) error = NULL;
        gssize n = g_input_stream_read(in, buf, sizeof(buf), NULL, &error);

        /* A peer closing with our bytes unread resets the connection. */
        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED))
            break;
        g_assert_no_error(error);
        if (n == 0)
            break;
        g_byte_array_append(all, buf, (guint)n);
    }
    return g_byte_array_free_to_bytes(g_steal_pointer(&all));
}

/* ------------------------------------------------------------------------ */
/* Asynchronous calls                                                        */
/* ------------------------------------------------------------------------ */

/* Guards the test_async of callbacks that run on a client's I/O thread. */
static GMutex async_lock;
static GCond async_cond;

test_async *
test_async_prepare(test_async *ta, ferry_rpc_client *client)
{
    ta->client = client;
    ta->thread = g_thread_self();
    ta->context = g_main_context_ref_thread_default();
    return ta;
}

void
test_async_clear(test_async *ta)
{
    g_clear_pointer(&ta->context, g_main_context_unref);
    g_clear_pointer(&ta->reply, g_bytes_unref);
    g_clear_pointer(&ta->msg, ferry_rpc_message_free);
    g_clear_error(&ta->error);
}

guint
test_async_count(test_async *ta)
{
    guint n;

    g_mutex_lock(&async_lock);
    n = ta->n_callbacks;
    g_mutex_unlock(&async_lock);
    return n;
}

/* Checks where the callback runs, and counts it. */
static void
async_called(test_async *ta)
{
    g_autoptr(GMainContext) here = g_main_context_ref_thread_default();

    g_assert_true(g_thread_self() == ta->thread);
    g_assert_true(here == ta->context);
    g_mutex_lock(&async_lock);
    ta->n_callbacks++;
    g_cond_broadcast(&async_cond);
    g_mutex_unlock(&async_lock);
}

void
test_async_bytes_cb(GObject *source, GAsyncResult *result, gpointer data)
{
    test_async *ta = data;

    g_assert_null(source);
    ta->reply = ferry_rpc_client_call_finish(ta->client, result, &ta->error);
    g_assert_true((ta->reply == NULL) != (ta->error == NULL));
    async_called(ta);
}

void
test_async_message_cb(GObject *source, GAsyncResult *result, gpointer data)
{
    test_async *ta = data;

    g_assert_null(source);
    ta->msg = ferry_rpc_client_call_message_finish(ta->client, result, &ta->error);
    g_assert_true((ta->msg == NULL) != (ta->error == NULL));
    async_called(ta);
}

static gboolean
async_watchdog(gpointer data)
{
    g_error("an asynchronous call did not complete within 10 s");
    return G_SOURCE_REMOVE;
}

void
test_async_wait(test_async *ta, guint n)
{
    g_autoptr(GSource) limit = g_timeout_source_new_seconds(10);

    g_source_set_callback(limit, async_watchdog, NULL, NULL);
    g_source_attach(limit, ta->context);
    while (test_async_count(ta) < n)
        g_main_context_iteration(ta->context, TRUE);
    g_source_destroy(limit);
}

void
test_async_wait_elsewhere(test_async *ta)
{
    gint64 end = g_get_monotonic_time() + WAIT_LIMIT_US;

    g_mutex_lock(&async_lock);
    while (ta->n_callbacks == 0) {
        if (!g_cond_wait_until(&async_cond, &async_lock, end))
            g_error("a callback on another thread did not run within 10 s");
    }
    g_mutex_unlock(&async_lock);
}

GMainContext *
test_context_push(void)
{
    GMainContext *context = g_main_context_new();

    g_main_context_push_thread_default(context);
    return context;
}

void
test_context_drain(GMainContext *context)
{
    g_usleep(50 * 1000);
    while (g_main_context_iteration(context, FALSE))
        ;
}

void
test_context_pop(GMainContext *context)
{
    test_context_drain(context);
    g_main_context_pop_thread_default(context);
    g_main_context_unref(context);
}
