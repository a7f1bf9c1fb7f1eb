/*
 * qmp.c: the QMP client behind qmp.h.
 *
 * Owns: one UNIX-socket connection to a QEMU monitor -- connecting (with
 * retries while the socket does not exist yet), the greeting and
 * qmp_capabilities, the queue of outgoing commands (with SCM_RIGHTS for a
 * passed fd), line framing of what QEMU sends (qmp-message.c parses each
 * line), matching replies to commands by "id", events, per-command timeouts
 * and the close.
 * Must not: know what the commands mean, log above debug, or block the
 * monitor's context.
 *
 * Concurrency: every piece of state below "context-only" is touched only by
 * code that owns the monitor's GMainContext (a dispatch on it, or a caller
 * that acquired it); entry points from other threads hand their work to the
 * context.  Owning the context is therefore the lock of that state.  The
 * handlers, the timeout and the version are behind @lock because setters
 * and getters may run on any thread.
 *
 * The *_sync() calls live in qmp-sync.c, on top of the async API.
 *
 * Lifetime: GSources owned by the monitor do all I/O, so closing destroys
 * them and no callback can arrive afterwards; the only foreign callback
 * (GSocketClient's connect) goes through a qmp_attempt that the monitor
 * abandons when it closes.  Every dispatch holds a reference on the
 * monitor so user code run from it may drop the last one.
 */
#include "ferry-config.h"

#include <string.h>
#include <sys/un.h>

#include <gio/gunixfdlist.h>
#include <gio/gunixfdmessage.h>
#include <gio/gunixsocketaddress.h>

#include "qmp/qmp-message.h"
#include "qmp/qmp.h"
#include "util/error.h"
#include "util/json-util.h"

#define QMP_DEFAULT_TIMEOUT_MS 30000
#define QMP_CONNECT_RETRY_MS 50
#define QMP_MAX_LINE (16 * 1024 * 1024)
#define QMP_READ_CHUNK 65536
#define QMP_QUOTE_MAX 80

typedef enum {
    QMP_STATE_NEW,
    QMP_STATE_CONNECTING,
    QMP_STATE_OPEN,
    QMP_STATE_CLOSED,
} qmp_state;

typedef struct _qmp_pending qmp_pending;

/* An internal command's completion (qmp_capabilities during connect). */
typedef void (*qmp_internal_done)(ferry_qmp *qmp, json_object *ret, GError *err);

/* One line waiting to be written. */
typedef struct {
    char *data;
    gsize len;
    gsize off;              /* bytes already sent */
    GUnixFDList *fds;       /* sent with the first byte, then dropped */
    qmp_pending *pending;   /* (nullable) the command this line carries */
} qmp_out;

/* One command waiting for its reply. */
struct _qmp_pending {
    ferry_qmp *qmp;
    char *id;
    char *command;
    GTask *task;                /* NULL for an internal command */
    qmp_internal_done internal;
    GSource *timeout_source;
    GSource *cancel_source;
    qmp_out *out;               /* while its line is still queued */
};

/* A handler set by the user: callback, its data and the data's destroy. */
typedef struct {
    GCallback cb;
    gpointer data;
    GDestroyNotify destroy;
} qmp_handler;

/* A GSocketClient connect in flight; ->qmp is cleared when abandoned. */
typedef struct {
    ferry_qmp *qmp;
} qmp_attempt;

struct _ferry_qmp {
    gint ref;
    GMainContext *context;
    char *name;
    gint state;                 /* qmp_state; read atomically anywhere */

    GMutex lock;                /* guards the members up to "context-only" */
    qmp_handler event;          /* a ferry_qmp_event_cb */
    qmp_handler close;          /* a ferry_qmp_close_cb */
    guint timeout_ms;
    char *version;
    guint64 next_id;

    /* context-only */
    char *path;
    GTask *connect_task;
    gint64 connect_deadline;
    guint connect_timeout_ms;
    GSocketClient *client;
    qmp_attempt *attempt;
    GCancellable *attempt_cancel;
    GSource *retry_source;
    GSource *greeting_source;
    GSource *connect_cancel_source;
    gboolean greeted;

    GSocketConnection *conn;
    GSocket *socket;
    GSource *read_source;
    GSource *write_source;
    guint8 *readbuf;
    GByteArray *inbuf;
    gsize scanned;              /* inbuf bytes known to hold no newline */
    GQueue outq;                /* of qmp_out */
    GHashTable *pending;        /* id -> qmp_pending */
};

static void qmp_fail(ferry_qmp *qmp, GError *reason);
static void qmp_kick_writer(ferry_qmp *qmp);

/* FERRY_QMP_TRACE=1 in ferryd's environment logs every line to and from
 * every QEMU monitor (debug level): what a person needs to follow QEMU's
 * side of a failure, too much to log always (a job's progress is polled). */
static gboolean
qmp_tracing(void)
{
    static gsize once;
    static gboolean on;

    if (g_once_init_enter(&once)) {
        on = g_strcmp0(g_getenv("FERRY_QMP_TRACE"), "1") == 0;
        g_once_init_leave(&once, 1);
    }
    return on;
}

/* Commands whose arguments hold a secret (a display's password): the
 * trace shows that they were sent, never what they said. */
static gboolean
qmp_carries_secret(const char *command)
{
    static const char *const secret[] = { "set_password", NULL };

    return command && g_strv_contains(secret, command);
}

static void
qmp_json_put(gpointer obj)
{
    json_object_put(obj);
}

static qmp_state
qmp_get_state(ferry_qmp *qmp)
{
    return (qmp_state)g_atomic_int_get(&qmp->state);
}

static void
qmp_set_state(ferry_qmp *qmp, qmp_state state)
{
    g_atomic_int_set(&qmp->state, (gint)state);
}

/* Takes a reference unless the last one is already gone (no resurrection). */
static gboolean
qmp_try_ref(ferry_qmp *qmp)
{
    gint old;

    do {
        old = g_atomic_int_get(&qmp->ref);
        if (old <= 0)
            return FALSE;
    } while (!g_atomic_int_compare_and_exchange(&qmp->ref, old, old + 1));
    return TRUE;
}

static void
qmp_destroy_source(GSource **source)
{
    if (*source) {
        g_source_destroy(*source);
        g_clear_pointer(source, g_source_unref);
    }
}

static GSource *
qmp_attach(ferry_qmp *qmp, GSource *source, GSourceFunc func, gpointer data)
{
    g_source_set_callback(source, func, data, NULL);
    g_source_attach(source, qmp->context);
    return source;
}

/* "abc\x01..." -> at most QMP_QUOTE_MAX bytes, non-printables as '?'. */
static char *
qmp_quote_line(const char *line, gsize len)
{
    gsize n = MIN(len, QMP_QUOTE_MAX);
    GString *out = g_string_sized_new(n + 5);

    for (gsize i = 0; i < n; i++) {
        guchar c = (guchar)line[i];
        g_string_append_c(out, (c >= 0x20 && c < 0x7f) ? (char)c : '?');
    }
    if (len > n)
        g_string_append(out, "...");
    return g_string_free(out, FALSE);
}

static GError *
qmp_protocol_error(ferry_qmp *qmp, const char *what, const char *line, gsize len)
{
    g_autofree char *quoted = qmp_quote_line(line, len);

    return g_error_new(FERRY_ERROR, FERRY_ERROR_QMP,
                       "%s: QMP protocol error: %s: '%s'", qmp->name, what, quoted);
}

static void
qmp_set_handler(ferry_qmp *qmp, qmp_handler *handler, GCallback cb, gpointer data,
                GDestroyNotify destroy)
{
    qmp_handler old;

    g_mutex_lock(&qmp->lock);
    old = *handler;
    handler->cb = cb;
    handler->data = data;
    handler->destroy = destroy;
    g_mutex_unlock(&qmp->lock);
    if (old.destroy)
        old.destroy(old.data);
}

/* A copy of @handler, to call without the lock. */
static qmp_handler
qmp_get_handler(ferry_qmp *qmp, qmp_handler *handler)
{
    qmp_handler copy;

    g_mutex_lock(&qmp->lock);
    copy = *handler;
    g_mutex_unlock(&qmp->lock);
    return copy;
}

static guint
qmp_get_timeout(ferry_qmp *qmp)
{
    guint timeout_ms;

    g_mutex_lock(&qmp->lock);
    timeout_ms = qmp->timeout_ms;
    g_mutex_unlock(&qmp->lock);
    return timeout_ms;
}

/* ---- running work on the monitor's context ---------------------------- */

typedef void (*qmp_op_func)(ferry_qmp *qmp, gpointer op);

typedef struct {
    ferry_qmp *qmp;
    qmp_op_func func;
    gpointer op;
    GDestroyNotify free_op;
} qmp_call;

static void
qmp_call_run(qmp_call *call)
{
    g_main_context_push_thread_default(call->qmp->context);
    call->func(call->qmp, call->op);
    g_main_context_pop_thread_default(call->qmp->context);
}

static gboolean
qmp_call_idle(gpointer data)
{
    qmp_call_run(data);
    return G_SOURCE_REMOVE;
}

static void
qmp_call_free(gpointer data)
{
    qmp_call *call = data;

    if (call->free_op)
        call->free_op(call->op);
    ferry_qmp_unref(call->qmp);
    g_free(call);
}

/*
 * Runs @func now if this thread can own the context, else from an idle
 * source on it.  Either way it runs with the context as thread default, so
 * GTasks created there complete on the monitor's context.
 */
static void
qmp_run_on_context(ferry_qmp *qmp, qmp_op_func func, gpointer op,
                   GDestroyNotify free_op)
{
    qmp_call *call = g_new0(qmp_call, 1);
    GMainContext *context = qmp->context;

    call->qmp = ferry_qmp_ref(qmp);
    call->func = func;
    call->op = op;
    call->free_op = free_op;
    if (g_main_context_acquire(context)) {
        qmp_call_run(call);
        qmp_call_free(call);
        g_main_context_release(context);
    } else {
        g_autoptr(GSource) source = g_idle_source_new();

        g_source_set_priority(source, G_PRIORITY_DEFAULT);
        g_source_set_callback(source, qmp_call_idle, call, qmp_call_free);
        g_source_attach(source, context);
    }
}

/* ---- commands waiting for replies --------------------------------------- */

static void
qmp_out_free(qmp_out *out)
{
    if (out->pending)
        out->pending->out = NULL;
    g_clear_object(&out->fds);
    g_free(out->data);
    g_free(out);
}

static void
qmp_pending_free(qmp_pending *p)
{
    qmp_destroy_source(&p->timeout_source);
    qmp_destroy_source(&p->cancel_source);
    g_clear_object(&p->task);
    g_free(p->id);
    g_free(p->command);
    g_free(p);
}

/*
 * Takes @p out of the table and the queue (a line not yet started is not
 * sent at all) and hands it its result.  @ret and @err are transferred.
 */
static void
qmp_pending_complete(ferry_qmp *qmp, qmp_pending *p, json_object *ret, GError *err)
{
    g_hash_table_steal(qmp->pending, p->id);
    if (p->out) {
        if (p->out->off == 0) {
            g_queue_remove(&qmp->outq, p->out);
            qmp_out_free(p->out);
        } else {
            p->out->pending = NULL;
            p->out = NULL;
        }
    }
    if (p->task) {
        if (err)
            g_task_return_error(p->task, err);
        else
            g_task_return_pointer(p->task, ret, qmp_json_put);
    } else {
        p->internal(qmp, ret, err);
        if (ret)
            json_object_put(ret);
        if (err)
            g_error_free(err);
    }
    qmp_pending_free(p);
}

static gboolean
qmp_on_command_timeout(gpointer data)
{
    qmp_pending *p = data;
    ferry_qmp *qmp = p->qmp;
    guint timeout_ms = qmp_get_timeout(qmp);

    if (!qmp_try_ref(qmp))
        return G_SOURCE_REMOVE;
    qmp_pending_complete(qmp, p,
                         NULL, g_error_new(FERRY_ERROR, FERRY_ERROR_TIMEOUT,
                                           "%s: QMP command '%s' got no reply within %u ms",
                                           qmp->name, p->command, timeout_ms));
    ferry_qmp_unref(qmp);
    return G_SOURCE_REMOVE;
}

static gboolean
qmp_on_command_cancelled(GCancellable *cancellable, gpointer data)
{
    qmp_pending *p = data;
    ferry_qmp *qmp = p->qmp;

    if (!qmp_try_ref(qmp))
        return G_SOURCE_REMOVE;
    qmp_pending_complete(qmp, p,
                         NULL, g_error_new(FERRY_ERROR, FERRY_ERROR_OPERATION_ABORTED,
                                           "%s: QMP command '%s' was cancelled",
                                           qmp->name, p->command));
    ferry_qmp_unref(qmp);
    return G_SOURCE_REMOVE;
}

/* Queues @line (transfer full) for @p and arms its timeout and cancel. */
static void
qmp_pending_send(ferry_qmp *qmp, qmp_pending *p, char *line, GUnixFDList *fds,
                 GCancellable *cancellable)
{
    qmp_out *out = g_new0(qmp_out, 1);
    guint timeout_ms = qmp_get_timeout(qmp);

    p->qmp = qmp;
    if (qmp_tracing() && qmp_carries_secret(p->command))
        g_debug("%s: QMP -> {\"execute\":\"%s\",\"arguments\":(not traced: a secret),"
                "\"id\":\"%s\"}", qmp->name, p->command, p->id);
    else if (qmp_tracing())
        g_debug("%s: QMP -> %.*s", qmp->name, (int)strcspn(line, "\r\n"), line);
    out->data = line;
    out->len = strlen(line);
    out->fds = fds ? g_object_ref(fds) : NULL;
    out->pending = p;
    p->out = out;
    g_hash_table_insert(qmp->pending, p->id, p);
    g_queue_push_tail(&qmp->outq, out);
    if (timeout_ms > 0)
        p->timeout_source = qmp_attach(qmp, g_timeout_source_new(timeout_ms),
                                       qmp_on_command_timeout, p);
    if (cancellable)
        p->cancel_source = qmp_attach(qmp, g_cancellable_source_new(cancellable),
                                      G_SOURCE_FUNC(qmp_on_command_cancelled), p);
    qmp_kick_writer(qmp);
}

/* {"execute": command, "arguments": arguments, "id": id} + CRLF */
static char *
qmp_build_command(const char *command, json_object *arguments, const char *id)
{
    g_autoptr(json_object) msg = json_object_new_object();

    json_object_object_add(msg, "execute", json_object_new_string(command));
    if (arguments)
        json_object_object_add(msg, "arguments", json_object_get(arguments));
    json_object_object_add(msg, "id", json_object_new_string(id));
    return g_strconcat(json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN |
                                                            JSON_C_TO_STRING_NOSLASHESCAPE),
                       "\r\n", NULL);
}

static char *
qmp_new_id(ferry_qmp *qmp)
{
    guint64 n;

    g_mutex_lock(&qmp->lock);
    n = ++qmp->next_id;
    g_mutex_unlock(&qmp->lock);
    return g_strdup_printf("ferry-%" G_GUINT64_FORMAT, n);
}

/* ---- writing ------------------------------------------------------------ */

static gboolean
qmp_on_writable(GSocket *socket, GIOCondition condition, gpointer data)
{
    ferry_qmp *qmp = data;

    if (!qmp_try_ref(qmp))
        return G_SOURCE_CONTINUE;
    while (!g_queue_is_empty(&qmp->outq)) {
        qmp_out *out = g_queue_peek_head(&qmp->outq);
        GOutputVector vec = { out->data + out->off, out->len - out->off };
        g_autoptr(GSocketControlMessage) fdmsg = NULL;
        g_autoptr(GError) err = NULL;
        GPollableReturn res;
        gsize written = 0;

        if (out->fds)
            fdmsg = g_unix_fd_message_new_with_fd_list(out->fds);
        res = g_socket_send_message_with_timeout(socket, NULL, &vec, 1,
                                                 fdmsg ? &fdmsg : NULL, fdmsg ? 1 : 0,
                                                 0, 0, &written, NULL, &err);
        if (res == G_POLLABLE_RETURN_WOULD_BLOCK) {
            ferry_qmp_unref(qmp);
            return G_SOURCE_CONTINUE;
        }
        if (res == G_POLLABLE_RETURN_FAILED) {
            qmp_fail(qmp, g_error_new(FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED,
                                      "%s: cannot write to the QMP socket: %s",
                                      qmp->name, err->message));
            ferry_qmp_unref(qmp);
            return G_SOURCE_REMOVE;
        }
        out->off += written;
        g_clear_object(&out->fds);
        if (out->off == out->len)
            qmp_out_free(g_queue_pop_head(&qmp->outq));
    }
    g_clear_pointer(&qmp->write_source, g_source_unref);
    ferry_qmp_unref(qmp);
    return G_SOURCE_REMOVE;
}

/* Writes happen from a dispatch, never inside the caller of a command. */
static void
qmp_kick_writer(ferry_qmp *qmp)
{
    if (qmp->write_source || !qmp->socket || g_queue_is_empty(&qmp->outq))
        return;
    qmp->write_source = qmp_attach(qmp, g_socket_create_source(qmp->socket, G_IO_OUT, NULL),
                                   G_SOURCE_FUNC(qmp_on_writable), qmp);
}

/* ---- closing ------------------------------------------------------------ */

static void
qmp_teardown_io(ferry_qmp *qmp)
{
    if (qmp->attempt) {
        qmp->attempt->qmp = NULL;
        qmp->attempt = NULL;
        g_cancellable_cancel(qmp->attempt_cancel);
    }
    g_clear_object(&qmp->attempt_cancel);
    qmp_destroy_source(&qmp->retry_source);
    qmp_destroy_source(&qmp->greeting_source);
    qmp_destroy_source(&qmp->connect_cancel_source);
    qmp_destroy_source(&qmp->read_source);
    qmp_destroy_source(&qmp->write_source);
    if (qmp->conn)
        g_io_stream_close(G_IO_STREAM(qmp->conn), NULL, NULL);
    g_clear_object(&qmp->socket);
    g_clear_object(&qmp->conn);
    g_queue_clear_full(&qmp->outq, (GDestroyNotify)qmp_out_free);
}

/*
 * Closes the connection for @reason: the connect (if in progress) fails,
 * pending commands fail with FERRY_ERROR_CONNECTION_CLOSED, and when
 * @notify and the monitor was open the close handler runs.
 */
static void
qmp_shutdown(ferry_qmp *qmp, const GError *reason, gboolean notify)
{
    qmp_state was = qmp_get_state(qmp);
    g_autoptr(GTask) connect_task = NULL;
    g_autoptr(GPtrArray) pending = NULL;
    GHashTableIter iter;
    gpointer value;

    if (was == QMP_STATE_CLOSED)
        return;
    qmp_set_state(qmp, QMP_STATE_CLOSED);
    qmp_teardown_io(qmp);

    connect_task = g_steal_pointer(&qmp->connect_task);
    if (connect_task) {
        /* connect_finish() promises NO_CONNECT, TIMEOUT or QMP */
        int code = reason->code == FERRY_ERROR_CONNECTION_CLOSED ? FERRY_ERROR_NO_CONNECT
                                                                  : reason->code;
        g_task_return_new_error(connect_task, FERRY_ERROR, code, "%s", reason->message);
    }

    /*
     * Take every command out first: a callback run from here may iterate
     * the context, and no timeout of a listed command may fire then.
     */
    pending = g_ptr_array_new();
    g_hash_table_iter_init(&iter, qmp->pending);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        qmp_pending *p = value;

        qmp_destroy_source(&p->timeout_source);
        qmp_destroy_source(&p->cancel_source);
        g_ptr_array_add(pending, p);
    }
    g_hash_table_steal_all(qmp->pending);
    for (guint i = 0; i < pending->len; i++) {
        qmp_pending *p = pending->pdata[i];

        if (!p->task) {         /* internal: the connect already failed */
            qmp_pending_free(p);
            continue;
        }
        qmp_pending_complete(qmp, p, NULL,
                             g_error_new(FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED,
                                         "%s: the QMP connection closed before command '%s' "
                                         "got a reply: %s",
                                         qmp->name, p->command, reason->message));
    }

    if (notify && was == QMP_STATE_OPEN) {
        qmp_handler handler = qmp_get_handler(qmp, &qmp->close);

        if (handler.cb)
            ((ferry_qmp_close_cb)handler.cb)(qmp, reason, handler.data);
    }
}

/* Closes for a reason found on the wire; takes @reason. */
static void
qmp_fail(ferry_qmp *qmp, GError *reason)
{
    qmp_shutdown(qmp, reason, TRUE);
    g_error_free(reason);
}

/* ---- what QEMU sends ---------------------------------------------------- */

static void
qmp_on_capabilities(ferry_qmp *qmp, json_object *ret, GError *err)
{
    g_autoptr(GTask) task = NULL;

    if (err) {
        qmp_fail(qmp, g_error_copy(err));
        return;
    }
    qmp_destroy_source(&qmp->connect_cancel_source);
    qmp_set_state(qmp, QMP_STATE_OPEN);
    task = g_steal_pointer(&qmp->connect_task);
    g_task_return_boolean(task, TRUE);
}

static void
qmp_handle_greeting(ferry_qmp *qmp, ferry_qmp_message *msg)
{
    qmp_pending *p;

    g_mutex_lock(&qmp->lock);
    g_free(qmp->version);
    qmp->version = g_steal_pointer(&msg->version);
    g_mutex_unlock(&qmp->lock);
    qmp->greeted = TRUE;
    qmp_destroy_source(&qmp->greeting_source);

    p = g_new0(qmp_pending, 1);
    p->id = qmp_new_id(qmp);
    p->command = g_strdup("qmp_capabilities");
    p->internal = qmp_on_capabilities;
    qmp_pending_send(qmp, p, qmp_build_command(p->command, NULL, p->id), NULL, NULL);
}

static void
qmp_handle_event(ferry_qmp *qmp, const ferry_qmp_message *msg)
{
    /* QEMU always stamps events; a peer that does not gets the local time */
    gint64 timestamp_us = msg->has_timestamp ? msg->timestamp_us : g_get_real_time();
    qmp_handler handler = qmp_get_handler(qmp, &qmp->event);

    if (handler.cb)
        ((ferry_qmp_event_cb)handler.cb)(qmp, msg->event, msg->data, timestamp_us,
                                         handler.data);
}

static void
qmp_handle_reply(ferry_qmp *qmp, const ferry_qmp_message *msg)
{
    json_object *cls = NULL, *desc = NULL;
    qmp_pending *p = NULL;

    if (json_object_is_type(msg->id, json_type_string))
        p = g_hash_table_lookup(qmp->pending, json_object_get_string(msg->id));
    if (!p) {
        /* e.g. the late reply of a command that timed out */
        g_debug("%s: dropping a QMP reply with unknown id %s", qmp->name,
                msg->id ? json_object_to_json_string(msg->id) : "(none)");
        return;
    }
    if (!msg->error) {
        qmp_pending_complete(qmp, p, msg->ret ? json_object_get(msg->ret)
                                              : json_object_new_object(),
                             NULL);
        return;
    }
    json_object_object_get_ex(msg->error, "class", &cls);
    json_object_object_get_ex(msg->error, "desc", &desc);
    qmp_pending_complete(qmp, p, NULL,
                         g_error_new(FERRY_ERROR, FERRY_ERROR_QMP,
                                     "%s: QMP command '%s' failed: %s (%s)",
                                     qmp->name, p->command,
                                     desc ? json_object_get_string(desc) : "no description",
                                     cls ? json_object_get_string(cls) : "no class"));
}

static void
qmp_handle_line(ferry_qmp *qmp, const char *line, gsize len)
{
    g_auto(ferry_qmp_message) msg = { 0 };
    const char *problem = NULL;

    while (len > 0 && g_ascii_isspace(line[len - 1]))
        len--;
    if (len == 0)
        return;
    if (qmp_tracing())
        g_debug("%s: QMP <- %.*s", qmp->name, (int)MIN(len, 4096), line);
    if (!ferry_qmp_message_parse(line, len, !qmp->greeted, &msg, &problem)) {
        qmp_fail(qmp, qmp_protocol_error(qmp, problem, line, len));
        return;
    }
    switch (msg.kind) {
    case FERRY_QMP_MESSAGE_GREETING:
        qmp_handle_greeting(qmp, &msg);
        break;
    case FERRY_QMP_MESSAGE_EVENT:
        qmp_handle_event(qmp, &msg);
        break;
    case FERRY_QMP_MESSAGE_REPLY:
        qmp_handle_reply(qmp, &msg);
        break;
    }
}

/*
 * Handles every complete line in the input buffer.  Each line leaves the
 * buffer before it is handled, so a handler that iterates the context (a
 * sync command from an event handler) may read and handle the next lines.
 */
static void
qmp_process_input(ferry_qmp *qmp)
{
    while (qmp_get_state(qmp) != QMP_STATE_CLOSED) {
        guint8 *start = qmp->inbuf->data;
        guint8 *nl = memchr(start + qmp->scanned, '\n', qmp->inbuf->len - qmp->scanned);
        g_autofree char *line = NULL;
        gsize len;

        if (!nl) {
            qmp->scanned = qmp->inbuf->len;
            if (qmp->inbuf->len > QMP_MAX_LINE)
                qmp_fail(qmp, qmp_protocol_error(qmp, "a line is longer than 16 MiB",
                                                 (const char *)start, qmp->inbuf->len));
            return;
        }
        len = (gsize)(nl - start);
        if (len > QMP_MAX_LINE) {
            qmp_fail(qmp, qmp_protocol_error(qmp, "a line is longer than 16 MiB",
                                             (const char *)start, len));
            return;
        }
        line = g_malloc(len + 1);
        memcpy(line, start, len);
        line[len] = '\0';
        g_byte_array_remove_range(qmp->inbuf, 0, (guint)len + 1);
        qmp->scanned = 0;
        qmp_handle_line(qmp, line, len);
    }
}

static gboolean
qmp_on_readable(GObject *stream, gpointer data)
{
    ferry_qmp *qmp = data;
    g_autoptr(GError) err = NULL;
    gssize n;

    if (!qmp_try_ref(qmp))
        return G_SOURCE_CONTINUE;
    n = g_pollable_input_stream_read_nonblocking(G_POLLABLE_INPUT_STREAM(stream), qmp->readbuf,
                                                 QMP_READ_CHUNK, NULL, &err);
    if (n > 0) {
        g_byte_array_append(qmp->inbuf, qmp->readbuf, (guint)n);
        qmp_process_input(qmp);
    } else if (n == 0) {
        qmp_fail(qmp, g_error_new(FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED,
                                  "%s: QEMU closed the QMP connection (end of file)",
                                  qmp->name));
    } else if (!g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
        qmp_fail(qmp, g_error_new(FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED,
                                  "%s: cannot read from the QMP socket: %s",
                                  qmp->name, err->message));
    }
    ferry_qmp_unref(qmp);
    return G_SOURCE_CONTINUE;
}

/* ---- connecting --------------------------------------------------------- */

static gboolean
qmp_on_greeting_timeout(gpointer data)
{
    ferry_qmp *qmp = data;
    guint timeout_ms = qmp_get_timeout(qmp);

    if (!qmp_try_ref(qmp))
        return G_SOURCE_REMOVE;
    qmp_fail(qmp, g_error_new(FERRY_ERROR, FERRY_ERROR_TIMEOUT,
                              "%s: no QMP greeting on '%s' within %u ms",
                              qmp->name, qmp->path, timeout_ms));
    ferry_qmp_unref(qmp);
    return G_SOURCE_REMOVE;
}

static void
qmp_start_io(ferry_qmp *qmp, GSocketConnection *conn)
{
    GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(conn));
    guint timeout_ms = qmp_get_timeout(qmp);

    qmp->conn = g_object_ref(conn);
    qmp->socket = g_object_ref(g_socket_connection_get_socket(conn));
    qmp->read_source = g_pollable_input_stream_create_source(G_POLLABLE_INPUT_STREAM(in), NULL);
    /* a handler may run a sync command, which needs this source again */
    g_source_set_can_recurse(qmp->read_source, TRUE);
    qmp_attach(qmp, qmp->read_source, G_SOURCE_FUNC(qmp_on_readable), qmp);
    if (timeout_ms > 0)
        qmp->greeting_source = qmp_attach(qmp, g_timeout_source_new(timeout_ms),
                                          qmp_on_greeting_timeout, qmp);
}

static void qmp_try_connect(ferry_qmp *qmp);

static gboolean
qmp_on_retry(gpointer data)
{
    ferry_qmp *qmp = data;

    if (!qmp_try_ref(qmp))
        return G_SOURCE_REMOVE;
    g_clear_pointer(&qmp->retry_source, g_source_unref);
    qmp_try_connect(qmp);
    ferry_qmp_unref(qmp);
    return G_SOURCE_REMOVE;
}

static void
qmp_on_connected(GObject *source, GAsyncResult *result, gpointer data)
{
    qmp_attempt *attempt = data;
    ferry_qmp *qmp = attempt->qmp;
    g_autoptr(GError) err = NULL;
    g_autoptr(GSocketConnection) conn = NULL;
    gint64 remaining_us;

    conn = g_socket_client_connect_finish(G_SOCKET_CLIENT(source), result, &err);
    g_free(attempt);
    if (!qmp)
        return;                 /* abandoned by a close */
    qmp->attempt = NULL;
    g_clear_object(&qmp->attempt_cancel);
    if (!qmp_try_ref(qmp))
        return;                 /* the last reference is gone: finalizing */

    if (conn) {
        qmp_start_io(qmp, conn);
        ferry_qmp_unref(qmp);
        return;
    }
    remaining_us = qmp->connect_deadline - g_get_monotonic_time();
    if (!g_error_matches(err, G_IO_ERROR, G_IO_ERROR_NOT_FOUND) &&
        !g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED)) {
        qmp_fail(qmp, g_error_new(FERRY_ERROR, FERRY_ERROR_NO_CONNECT,
                                  "%s: cannot connect to the QMP socket '%s': %s",
                                  qmp->name, qmp->path, err->message));
    } else if (remaining_us <= 0) {
        qmp_fail(qmp, g_error_new(FERRY_ERROR, qmp->connect_timeout_ms > 0
                                                   ? FERRY_ERROR_TIMEOUT
                                                   : FERRY_ERROR_NO_CONNECT,
                                  "%s: could not connect to the QMP socket '%s' within %u ms: %s",
                                  qmp->name, qmp->path, qmp->connect_timeout_ms, err->message));
    } else {
        guint delay_ms = (guint)MIN((gint64)QMP_CONNECT_RETRY_MS, remaining_us / 1000 + 1);

        qmp->retry_source = qmp_attach(qmp, g_timeout_source_new(delay_ms), qmp_on_retry, qmp);
    }
    ferry_qmp_unref(qmp);
}

static void
qmp_try_connect(ferry_qmp *qmp)
{
    g_autoptr(GSocketAddress) address = g_unix_socket_address_new(qmp->path);

    qmp->attempt = g_new0(qmp_attempt, 1);
    qmp->attempt->qmp = qmp;
    qmp->attempt_cancel = g_cancellable_new();
    /* the connect's callback must come back to the monitor's context */
    g_main_context_push_thread_default(qmp->context);
    g_socket_client_connect_async(qmp->client, G_SOCKET_CONNECTABLE(address),
                                  qmp->attempt_cancel, qmp_on_connected, qmp->attempt);
    g_main_context_pop_thread_default(qmp->context);
}

static gboolean
qmp_on_connect_cancelled(GCancellable *cancellable, gpointer data)
{
    ferry_qmp *qmp = data;

    if (!qmp_try_ref(qmp))
        return G_SOURCE_REMOVE;
    g_clear_pointer(&qmp->connect_cancel_source, g_source_unref);
    qmp_fail(qmp, g_error_new(FERRY_ERROR, FERRY_ERROR_OPERATION_ABORTED,
                              "%s: connecting to the QMP socket '%s' was cancelled",
                              qmp->name, qmp->path));
    ferry_qmp_unref(qmp);
    return G_SOURCE_REMOVE;
}

typedef struct {
    char *path;
    guint timeout_ms;
    GCancellable *cancellable;
    GAsyncReadyCallback callback;
    gpointer user_data;
} qmp_connect_op;

static void
qmp_connect_op_free(gpointer data)
{
    qmp_connect_op *op = data;

    g_free(op->path);
    g_clear_object(&op->cancellable);
    g_free(op);
}

static void
qmp_connect_start(ferry_qmp *qmp, gpointer data)
{
    qmp_connect_op *op = data;
    g_autoptr(GTask) task = g_task_new(NULL, op->cancellable, op->callback, op->user_data);

    g_task_set_source_tag(task, ferry_qmp_connect_async);
    g_task_set_check_cancellable(task, FALSE);
    if (qmp_get_state(qmp) != QMP_STATE_NEW) {
        g_task_return_new_error(task, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                                "%s: the QMP monitor was already connected once",
                                qmp->name);
        return;
    }
    if (strlen(op->path) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
        g_task_return_new_error(task, FERRY_ERROR, FERRY_ERROR_NO_CONNECT,
                                "%s: the QMP socket path '%s' is too long for a UNIX socket",
                                qmp->name, op->path);
        return;
    }
    if (g_cancellable_is_cancelled(op->cancellable)) {
        g_task_return_new_error(task, FERRY_ERROR, FERRY_ERROR_OPERATION_ABORTED,
                                "%s: connecting to the QMP socket '%s' was cancelled",
                                qmp->name, op->path);
        return;
    }
    qmp_set_state(qmp, QMP_STATE_CONNECTING);
    qmp->connect_task = g_steal_pointer(&task);
    qmp->path = g_strdup(op->path);
    qmp->connect_timeout_ms = op->timeout_ms;
    qmp->connect_deadline = g_get_monotonic_time() + (gint64)op->timeout_ms * 1000;
    qmp->client = g_socket_client_new();
    g_socket_client_set_enable_proxy(qmp->client, FALSE);
    if (op->cancellable)
        qmp->connect_cancel_source = qmp_attach(qmp, g_cancellable_source_new(op->cancellable),
                                                G_SOURCE_FUNC(qmp_on_connect_cancelled), qmp);
    qmp_try_connect(qmp);
}

/* ---- public API --------------------------------------------------------- */

ferry_qmp *
ferry_qmp_new(GMainContext *context, const char *name)
{
    ferry_qmp *qmp;

    g_return_val_if_fail(name != NULL, NULL);
    qmp = g_new0(ferry_qmp, 1);
    qmp->ref = 1;
    qmp->context = context ? g_main_context_ref(context) : g_main_context_ref_thread_default();
    qmp->name = g_strdup(name);
    qmp->state = QMP_STATE_NEW;
    g_mutex_init(&qmp->lock);
    qmp->timeout_ms = QMP_DEFAULT_TIMEOUT_MS;
    qmp->readbuf = g_malloc(QMP_READ_CHUNK);
    qmp->inbuf = g_byte_array_new();
    g_queue_init(&qmp->outq);
    qmp->pending = g_hash_table_new(g_str_hash, g_str_equal);
    return qmp;
}

ferry_qmp *
ferry_qmp_ref(ferry_qmp *qmp)
{
    g_return_val_if_fail(qmp != NULL, NULL);
    g_atomic_int_inc(&qmp->ref);
    return qmp;
}

static void
qmp_finalize(ferry_qmp *qmp)
{
    g_autoptr(GError) reason = g_error_new(FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED,
                                           "%s: the QMP monitor was released", qmp->name);

    qmp_shutdown(qmp, reason, FALSE);
    if (qmp->event.destroy)
        qmp->event.destroy(qmp->event.data);
    if (qmp->close.destroy)
        qmp->close.destroy(qmp->close.data);
    g_hash_table_unref(qmp->pending);
    g_byte_array_unref(qmp->inbuf);
    g_free(qmp->readbuf);
    g_clear_object(&qmp->client);
    g_free(qmp->path);
    g_free(qmp->version);
    g_free(qmp->name);
    g_mutex_clear(&qmp->lock);
    g_main_context_unref(qmp->context);
    g_free(qmp);
}

static gboolean
qmp_finalize_idle(gpointer data)
{
    qmp_finalize(data);
    return G_SOURCE_REMOVE;
}

void
ferry_qmp_unref(ferry_qmp *qmp)
{
    GMainContext *context;

    if (!qmp || !g_atomic_int_dec_and_test(&qmp->ref))
        return;
    context = g_main_context_ref(qmp->context);
    if (g_main_context_acquire(context)) {
        qmp_finalize(qmp);
        g_main_context_release(context);
    } else {
        /* the context is busy in another thread: finish there */
        g_autoptr(GSource) source = g_idle_source_new();

        g_source_set_callback(source, qmp_finalize_idle, qmp, NULL);
        g_source_attach(source, context);
    }
    g_main_context_unref(context);
}

void
ferry_qmp_set_event_handler(ferry_qmp *qmp, ferry_qmp_event_cb cb, gpointer user_data,
                            GDestroyNotify destroy)
{
    g_return_if_fail(qmp != NULL);
    qmp_set_handler(qmp, &qmp->event, G_CALLBACK(cb), user_data, destroy);
}

void
ferry_qmp_set_close_handler(ferry_qmp *qmp, ferry_qmp_close_cb cb, gpointer user_data,
                            GDestroyNotify destroy)
{
    g_return_if_fail(qmp != NULL);
    qmp_set_handler(qmp, &qmp->close, G_CALLBACK(cb), user_data, destroy);
}

void
ferry_qmp_set_timeout(ferry_qmp *qmp, guint timeout_ms)
{
    g_return_if_fail(qmp != NULL);
    g_mutex_lock(&qmp->lock);
    qmp->timeout_ms = timeout_ms;
    g_mutex_unlock(&qmp->lock);
}

void
ferry_qmp_connect_async(ferry_qmp *qmp, const char *path, guint timeout_ms,
                        GCancellable *cancellable, GAsyncReadyCallback callback,
                        gpointer user_data)
{
    qmp_connect_op *op;

    g_return_if_fail(qmp != NULL);
    g_return_if_fail(path != NULL);
    op = g_new0(qmp_connect_op, 1);
    op->path = g_strdup(path);
    op->timeout_ms = timeout_ms;
    op->cancellable = cancellable ? g_object_ref(cancellable) : NULL;
    op->callback = callback;
    op->user_data = user_data;
    qmp_run_on_context(qmp, qmp_connect_start, op, qmp_connect_op_free);
}

gboolean
ferry_qmp_connect_finish(ferry_qmp *qmp, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, NULL), FALSE);
    g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == ferry_qmp_connect_async,
                         FALSE);
    return g_task_propagate_boolean(G_TASK(result), error);
}

typedef struct {
    char *command;
    char *id;
    char *line;                 /* NULL when the arguments were refused */
    GUnixFDList *fds;
    GError *error;              /* found in the caller's thread */
    GCancellable *cancellable;
    GAsyncReadyCallback callback;
    gpointer user_data;
} qmp_command_op;

static void
qmp_command_op_free(gpointer data)
{
    qmp_command_op *op = data;

    g_free(op->command);
    g_free(op->id);
    g_free(op->line);
    g_clear_object(&op->fds);
    g_clear_error(&op->error);
    g_clear_object(&op->cancellable);
    g_free(op);
}

static void
qmp_command_start(ferry_qmp *qmp, gpointer data)
{
    qmp_command_op *op = data;
    g_autoptr(GTask) task = g_task_new(NULL, op->cancellable, op->callback, op->user_data);
    qmp_pending *p;

    g_task_set_source_tag(task, ferry_qmp_command_async);
    g_task_set_check_cancellable(task, FALSE);
    if (op->error) {
        g_task_return_error(task, g_steal_pointer(&op->error));
        return;
    }
    if (qmp_get_state(qmp) != QMP_STATE_OPEN) {
        g_task_return_new_error(task, FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED,
                                "%s: cannot send QMP command '%s': the monitor is not connected",
                                qmp->name, op->command);
        return;
    }
    if (g_cancellable_is_cancelled(op->cancellable)) {
        g_task_return_new_error(task, FERRY_ERROR, FERRY_ERROR_OPERATION_ABORTED,
                                "%s: QMP command '%s' was cancelled", qmp->name, op->command);
        return;
    }
    p = g_new0(qmp_pending, 1);
    p->id = g_steal_pointer(&op->id);
    p->command = g_strdup(op->command);
    p->task = g_steal_pointer(&task);
    qmp_pending_send(qmp, p, g_steal_pointer(&op->line), op->fds, op->cancellable);
}

void
ferry_qmp_command_async(ferry_qmp *qmp, const char *command, json_object *arguments, int fd,
                        GCancellable *cancellable, GAsyncReadyCallback callback,
                        gpointer user_data)
{
    qmp_command_op *op;

    g_return_if_fail(qmp != NULL);
    g_return_if_fail(command != NULL);
    op = g_new0(qmp_command_op, 1);
    op->command = g_strdup(command);
    op->cancellable = cancellable ? g_object_ref(cancellable) : NULL;
    op->callback = callback;
    op->user_data = user_data;
    /* everything that reads the caller's objects happens in the caller's thread */
    if (*command == '\0') {
        op->error = g_error_new(FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                                "%s: the QMP command name is empty", qmp->name);
    } else if (arguments && !json_object_is_type(arguments, json_type_object)) {
        op->error = g_error_new(FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                                "%s: the arguments of QMP command '%s' are not a JSON object",
                                qmp->name, command);
    } else {
        op->id = qmp_new_id(qmp);
        op->line = qmp_build_command(command, arguments, op->id);
    }
    if (!op->error && fd >= 0) {
        g_autoptr(GError) err = NULL;

        op->fds = g_unix_fd_list_new();
        if (g_unix_fd_list_append(op->fds, fd, &err) < 0)
            op->error = g_error_new(FERRY_ERROR, FERRY_ERROR_SYSTEM,
                                    "%s: cannot pass fd %d with QMP command '%s': %s",
                                    qmp->name, fd, command, err->message);
    }
    qmp_run_on_context(qmp, qmp_command_start, op, qmp_command_op_free);
}

json_object *
ferry_qmp_command_finish(ferry_qmp *qmp, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
    g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == ferry_qmp_command_async,
                         NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

static void
qmp_close_now(ferry_qmp *qmp, gpointer op)
{
    g_autoptr(GError) reason = g_error_new(FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED,
                                           "%s: the QMP connection was closed", qmp->name);

    qmp_shutdown(qmp, reason, FALSE);
}

void
ferry_qmp_close(ferry_qmp *qmp)
{
    g_return_if_fail(qmp != NULL);
    qmp_run_on_context(qmp, qmp_close_now, NULL, NULL);
}

GMainContext *
ferry_qmp_get_context(ferry_qmp *qmp)
{
    g_return_val_if_fail(qmp != NULL, NULL);
    return qmp->context;
}

gboolean
ferry_qmp_is_open(ferry_qmp *qmp)
{
    g_return_val_if_fail(qmp != NULL, FALSE);
    return qmp_get_state(qmp) == QMP_STATE_OPEN;
}

const char *
ferry_qmp_get_version(ferry_qmp *qmp)
{
    const char *version;

    g_return_val_if_fail(qmp != NULL, NULL);
    /* set once, from the greeting, and kept until the last unref */
    g_mutex_lock(&qmp->lock);
    version = qmp->version;
    g_mutex_unlock(&qmp->lock);
    return version;
}
