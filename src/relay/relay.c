/*
 * relay.c: migration streams relayed between two ferryd (see relay.h).
 *
 * Owns: the relay thread and its GMainContext, the listening sockets of
 * relays, and every relayed stream ("session"): its QEMU-side connection,
 * its current TCP connection to the other ferryd, what it sent and the
 * other side did not acknowledge yet, and the re-connection with back-off.
 * Must not: know about migrations, jobs or QEMU's protocols -- it moves
 * bytes, in order, exactly once, or closes QEMU's side.
 *
 * Everything below the public functions runs on the relay thread only;
 * the public functions hand their work to it (run_on_relay_thread()).
 *
 * Why not a second connection of QEMU's: QEMU 7.2 has no way to resume a
 * pre-copy stream or to keep an incoming QEMU alive when its stream
 * fails, so the break must not reach QEMU at all.
 */
#include "ferry-config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include <gio/gunixsocketaddress.h>

#include "proto/ferry.pb-c.h"
#include "relay/relay.h"
#include "util/error.h"

#define FRAME_HEADER 16
#define CHUNK (1024u * 1024u)         /* one read of QEMU's side */
#define MAX_PAYLOAD (1024u * 1024u)   /* the largest frame accepted */
#define MAX_GREETING 4096u
#define WINDOW (16u * 1024u * 1024u)  /* sent and not acknowledged, per direction */
#define ACK_EVERY (4u * 1024u * 1024u)
#define TICK_MS 250
#define PING_MS 1000
/* Nothing heard for this long: the connection is taken as broken (a link
 * that is down sends no reset; TCP alone would wait for many minutes). */
#define DEAD_MS 5000
#define CONNECT_TIMEOUT_S 5
#define BACKOFF_FIRST_MS 200
#define BACKOFF_MAX_MS 5000

enum {
    FRAME_HELLO = 1,
    FRAME_WELCOME = 2,
    FRAME_DATA = 3,
    FRAME_ACK = 4,
    FRAME_EOF = 5,
    FRAME_RESET = 6,
};

struct _ferry_relay {
    gint ref;
    gboolean dialler;
    char *name;
    char *local_path;
    char *host;                 /* dialler: the other ferryd */
    guint port;
    char *token;
    guint give_up_s;            /* dialler: for its sessions */
    GSocket *socket;            /* the listening socket */
    GSource *accept_source;
    GSource *tick;
    GHashTable *sessions;       /* id -> session (a reference) */
    gint reconnects;            /* atomic */
    gboolean closed;
    GMutex error_lock;
    char *last_error;           /* under error_lock */
};

typedef struct {
    gint ref;
    ferry_relay *relay;
    char *id;
    guint give_up_ms;
    gboolean ended;

    GSocketConnection *local;   /* QEMU's side */
    GCancellable *cancel;       /* every operation of the session */
    GSocketConnection *remote;  /* NULL while broken */
    GCancellable *remote_cancel;
    guint gen;                  /* bumped per remote connection */
    gboolean ready;             /* the greeting was exchanged on `remote` */
    gboolean connected_before;
    gboolean dialling;
    GSource *redial;
    guint backoff_ms;
    gint64 broken_since;        /* monotonic; 0 while connected */
    gint64 last_heard, last_sent;
    gboolean ping_due;

    /* QEMU's side -> the other ferryd */
    GQueue chunks;              /* GBytes, from offset head_off on */
    guint64 head_off;
    guint64 acked;              /* the other side delivered this much */
    guint64 read_total;         /* read from QEMU's side */
    guint64 wire;               /* next offset to send on `remote` */
    gboolean local_eof, eof_sent, reading_local, writing_remote;
    gboolean eof_written;       /* the EOF frame left on the current connection */

    /* the other ferryd -> QEMU's side */
    guint64 delivered;          /* written to QEMU's side */
    guint64 ack_sent;
    guint64 ack_written;        /* the last ACK that left on the current connection */
    gboolean peer_eof, local_shut, writing_local, reader_waiting;
    guint64 peer_eof_at;
} session;

/* One asynchronous operation of a session, on one remote generation. */
typedef struct {
    session *s;
    guint gen;
    guint8 header[FRAME_HEADER];
    guint8 *buf;
    gsize len;
    GBytes *bytes;
    GOutputVector v[2];
    guint32 type;               /* of the frame written */
    guint64 value;
} op;

static void remote_broke(session *s, const char *why);
static void pump_remote(session *s);
static void pump_local_read(session *s);
static void read_header(session *s);

/* ------------------------------------------------------------------ */
/* The relay thread */

static GMainContext *relay_ctx;

static gpointer
relay_main(gpointer data)
{
    g_autoptr(GMainLoop) loop = g_main_loop_new(relay_ctx, FALSE);

    g_main_context_push_thread_default(relay_ctx);
    g_main_loop_run(loop);
    return NULL;
}

static GMainContext *
relay_context(void)
{
    static gsize once = 0;

    if (g_once_init_enter(&once)) {
        relay_ctx = g_main_context_new();
        g_thread_unref(g_thread_new("ferry-relay", relay_main, NULL));
        g_once_init_leave(&once, 1);
    }
    return relay_ctx;
}

typedef struct {
    GMutex lock;
    GCond cond;
    gboolean done;
    void (*fn)(gpointer);
    gpointer data;
} sync_call;

static gboolean
sync_call_run(gpointer p)
{
    sync_call *c = p;

    c->fn(c->data);
    g_mutex_lock(&c->lock);
    c->done = TRUE;
    g_cond_signal(&c->cond);
    g_mutex_unlock(&c->lock);
    return G_SOURCE_REMOVE;
}

/* Runs @fn on the relay thread and waits for it. */
static void
run_on_relay_thread(void (*fn)(gpointer), gpointer data)
{
    GMainContext *ctx = relay_context();
    sync_call c = { .fn = fn, .data = data };

    if (g_main_context_is_owner(ctx)) {
        fn(data);
        return;
    }
    g_mutex_init(&c.lock);
    g_cond_init(&c.cond);
    g_main_context_invoke(ctx, sync_call_run, &c);
    g_mutex_lock(&c.lock);
    while (!c.done)
        g_cond_wait(&c.cond, &c.lock);
    g_mutex_unlock(&c.lock);
    g_mutex_clear(&c.lock);
    g_cond_clear(&c.cond);
}

/* ------------------------------------------------------------------ */
/* Objects */

static ferry_relay *
relay_ref(ferry_relay *r)
{
    g_atomic_int_inc(&r->ref);
    return r;
}

static void
relay_unref(ferry_relay *r)
{
    if (!r || !g_atomic_int_dec_and_test(&r->ref))
        return;
    g_clear_pointer(&r->sessions, g_hash_table_unref);
    g_clear_object(&r->socket);
    g_free(r->name);
    g_free(r->local_path);
    g_free(r->host);
    g_free(r->token);
    g_free(r->last_error);
    g_mutex_clear(&r->error_lock);
    g_free(r);
}

static session *
session_ref(session *s)
{
    s->ref++;
    return s;
}

static void
session_unref(session *s)
{
    if (!s || --s->ref > 0)
        return;
    g_queue_clear_full(&s->chunks, (GDestroyNotify)g_bytes_unref);
    g_clear_object(&s->local);
    g_clear_object(&s->remote);
    g_clear_object(&s->cancel);
    g_clear_object(&s->remote_cancel);
    relay_unref(s->relay);
    g_free(s->id);
    g_free(s);
}

static session *
session_new(ferry_relay *r, const char *id, GSocketConnection *local, guint give_up_ms)
{
    session *s = g_new0(session, 1);

    s->ref = 1;
    s->relay = relay_ref(r);
    s->id = g_strdup(id);
    s->local = local;
    s->give_up_ms = give_up_ms;
    s->cancel = g_cancellable_new();
    s->broken_since = g_get_monotonic_time();
    g_queue_init(&s->chunks);
    g_hash_table_insert(r->sessions, s->id, session_ref(s));
    g_debug("%s: stream %.8s begins", r->name, s->id);
    return s;
}

static op *
op_new(session *s)
{
    op *o = g_new0(op, 1);

    o->s = session_ref(s);
    o->gen = s->gen;
    return o;
}

static void
op_free(op *o)
{
    session_unref(o->s);
    g_clear_pointer(&o->bytes, g_bytes_unref);
    g_free(o->buf);
    g_free(o);
}

static void
put_header(guint8 *h, guint32 type, guint32 len, guint64 value)
{
    guint32 t = GUINT32_TO_BE(type), l = GUINT32_TO_BE(len);
    guint64 v = GUINT64_TO_BE(value);

    memcpy(h, &t, 4);
    memcpy(h + 4, &l, 4);
    memcpy(h + 8, &v, 8);
}

static void
get_header(const guint8 *h, guint32 *type, guint32 *len, guint64 *value)
{
    guint32 t, l;
    guint64 v;

    memcpy(&t, h, 4);
    memcpy(&l, h + 4, 4);
    memcpy(&v, h + 8, 8);
    *type = GUINT32_FROM_BE(t);
    *len = GUINT32_FROM_BE(l);
    *value = GUINT64_FROM_BE(v);
}

static void
tune_tcp(GSocketConnection *conn)
{
    GSocket *sock = g_socket_connection_get_socket(conn);

    /* Acknowledgements are small and open the sender's window: Nagle's
     * delay would slow the whole stream. */
    if (g_socket_get_family(sock) != G_SOCKET_FAMILY_UNIX)
        g_socket_set_option(sock, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
}

static const char *
peer_name(session *s, char *buf, gsize size)
{
    if (s->relay->dialler) {
        g_snprintf(buf, size, "%s:%u", s->relay->host, s->relay->port);
        return buf;
    }
    return "the source";
}

/* ------------------------------------------------------------------ */
/* Ending a session */

static void
drop_remote(session *s)
{
    if (s->remote_cancel)
        g_cancellable_cancel(s->remote_cancel);
    g_clear_object(&s->remote_cancel);
    if (s->remote) {
        g_io_stream_close(G_IO_STREAM(s->remote), NULL, NULL);
        g_clear_object(&s->remote);
    }
    s->gen++;
    s->ready = FALSE;
    s->writing_remote = FALSE;
    s->eof_sent = s->eof_written = FALSE;
    s->ack_written = 0;
    s->ping_due = FALSE;
}

/* Ends @s: QEMU's side and the connection close.  @why: NULL for a stream
 * that ended well (or a relay closed on purpose), else said in the log and
 * to the other side. */
static void
session_end(session *s, const char *why)
{
    ferry_relay *r = s->relay;

    if (s->ended)
        return;
    s->ended = TRUE;
    session_ref(s);
    g_debug("%s: stream %.8s ends: %" G_GUINT64_FORMAT " bytes sent, %" G_GUINT64_FORMAT
            " delivered%s%s", r->name, s->id, s->read_total, s->delivered, why ? ": " : "",
            why ? why : "");
    if (why) {
        g_message("%s: %s; QEMU's side of the stream is closed", r->name, why);
        g_mutex_lock(&r->error_lock);
        g_free(r->last_error);
        r->last_error = g_strdup(why);
        g_mutex_unlock(&r->error_lock);
    }
    if (s->remote && s->ready && !s->writing_remote) {
        /* Best effort, never blocking: the other side ends at once instead
         * of waiting for a connection that will not come (an empty reason:
         * closed on purpose). */
        gsize len = why ? strlen(why) : 0;
        g_autofree guint8 *frame = g_malloc(FRAME_HEADER + len);

        put_header(frame, FRAME_RESET, (guint32)len, 0);
        if (len)
            memcpy(frame + FRAME_HEADER, why, len);
        g_socket_send_with_blocking(g_socket_connection_get_socket(s->remote), (gchar *)frame,
                                    FRAME_HEADER + len, FALSE, NULL, NULL);
    }
    g_cancellable_cancel(s->cancel);
    drop_remote(s);
    if (s->redial) {
        g_source_destroy(s->redial);
        g_clear_pointer(&s->redial, g_source_unref);
    }
    if (s->local)
        g_io_stream_close(G_IO_STREAM(s->local), NULL, NULL);
    g_queue_clear_full(&s->chunks, (GDestroyNotify)g_bytes_unref);
    if (r->sessions)
        g_hash_table_remove(r->sessions, s->id);
    session_unref(s);
}

/* Both directions are over: everything read was acknowledged and its end
 * said, everything the other side sent was delivered and QEMU told. */
static void
check_done(session *s)
{
    if (!s->ended && s->local_eof && s->eof_written && s->acked == s->read_total &&
        s->local_shut && s->ack_written == s->delivered)
        session_end(s, NULL);
}

/* ------------------------------------------------------------------ */
/* Towards the other ferryd */

static void
on_remote_written(GObject *src, GAsyncResult *res, gpointer data)
{
    op *o = data;
    session *s = o->s;
    g_autoptr(GError) error = NULL;
    gboolean ok = g_output_stream_writev_all_finish(G_OUTPUT_STREAM(src), res, NULL, &error);

    if (o->gen == s->gen && !s->ended) {
        s->writing_remote = FALSE;
        if (!ok) {
            remote_broke(s, error->message);
        } else {
            s->last_sent = g_get_monotonic_time();
            if (o->type == FRAME_EOF)
                s->eof_written = TRUE;
            else if (o->type == FRAME_ACK)
                s->ack_written = MAX(s->ack_written, o->value);
            pump_remote(s);
            check_done(s);
        }
    }
    op_free(o);
}

static void
send_frame(session *s, op *o, guint32 type, guint64 value)
{
    gsize payload = o->bytes ? g_bytes_get_size(o->bytes) : 0;
    guint n = 1;

    o->type = type;
    o->value = value;
    put_header(o->header, type, (guint32)payload, value);
    o->v[0].buffer = o->header;
    o->v[0].size = FRAME_HEADER;
    if (payload) {
        o->v[1].buffer = g_bytes_get_data(o->bytes, NULL);
        o->v[1].size = payload;
        n = 2;
    }
    s->writing_remote = TRUE;
    g_output_stream_writev_all_async(g_io_stream_get_output_stream(G_IO_STREAM(s->remote)),
                                     o->v, n, G_PRIORITY_DEFAULT, s->remote_cancel,
                                     on_remote_written, o);
}

static void
send_ack(session *s)
{
    s->ack_sent = s->delivered;
    s->ping_due = FALSE;
    send_frame(s, op_new(s), FRAME_ACK, s->delivered);
}

/* Sends the next frame, if any and if none is being written. */
static void
pump_remote(session *s)
{
    if (s->ended || !s->remote || !s->ready || s->writing_remote)
        return;
    if (s->delivered > s->ack_sent &&
        (s->delivered - s->ack_sent >= ACK_EVERY || s->ping_due)) {
        send_ack(s);
    } else if (s->wire < s->read_total) {
        guint64 off = s->head_off;

        for (GList *l = s->chunks.head; l; l = l->next) {
            gsize size = g_bytes_get_size(l->data);

            if (s->wire < off + size) {
                gsize start = (gsize)(s->wire - off);
                gsize n = MIN(size - start, MAX_PAYLOAD);
                op *o = op_new(s);

                o->bytes = g_bytes_new_from_bytes(l->data, start, n);
                send_frame(s, o, FRAME_DATA, s->wire);
                s->wire += n;
                return;
            }
            off += size;
        }
        session_end(s, "internal error: the data to send again is gone");
    } else if (s->local_eof && !s->eof_sent) {
        s->eof_sent = TRUE;
        send_frame(s, op_new(s), FRAME_EOF, s->read_total);
    } else if (s->ping_due) {
        send_ack(s);
    }
}

/* The other side delivered @value bytes: what it has is dropped here. */
static gboolean
acknowledged(session *s, guint64 value)
{
    GBytes *b;

    if (value > s->read_total) {
        session_end(s, "the other side acknowledged data never sent");
        return FALSE;
    }
    if (value <= s->acked)
        return TRUE;
    s->acked = value;
    while ((b = g_queue_peek_head(&s->chunks)) && s->head_off + g_bytes_get_size(b) <= value) {
        g_queue_pop_head(&s->chunks);
        s->head_off += g_bytes_get_size(b);
        g_bytes_unref(b);
    }
    pump_local_read(s);
    check_done(s);
    return !s->ended;
}

/* ------------------------------------------------------------------ */
/* QEMU's side */

static void
on_local_read(GObject *src, GAsyncResult *res, gpointer data)
{
    op *o = data;
    session *s = o->s;
    g_autoptr(GError) error = NULL;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(src), res, &error);

    s->reading_local = FALSE;
    if (s->ended) {
        op_free(o);
        return;
    }
    if (n < 0) {
        g_autofree char *why = g_strdup_printf("reading QEMU's side: %s", error->message);

        session_end(s, why);
    } else if (n == 0) {
        g_debug("%s: stream %.8s: QEMU's side ended after %" G_GUINT64_FORMAT " bytes",
                s->relay->name, s->id, s->read_total);
        s->local_eof = TRUE;
        pump_remote(s);
        check_done(s);
    } else {
        GBytes *b;

        /* Large reads keep their buffer; small ones (NBD replies) a copy. */
        if ((gsize)n >= CHUNK / 2) {
            b = g_bytes_new_take(g_realloc(o->buf, (gsize)n), (gsize)n);
            o->buf = NULL;
        } else {
            b = g_bytes_new(o->buf, (gsize)n);
        }
        g_queue_push_tail(&s->chunks, b);
        s->read_total += (guint64)n;
        pump_remote(s);
        pump_local_read(s);
    }
    op_free(o);
}

/* Reads QEMU's side while the other side's window allows. */
static void
pump_local_read(session *s)
{
    op *o;

    if (s->ended || s->reading_local || s->local_eof || s->read_total - s->acked >= WINDOW)
        return;
    o = op_new(s);
    o->buf = g_malloc(CHUNK);
    s->reading_local = TRUE;
    g_input_stream_read_async(g_io_stream_get_input_stream(G_IO_STREAM(s->local)), o->buf,
                              CHUNK, G_PRIORITY_DEFAULT, s->cancel, on_local_read, o);
}

static void
shut_local_if_done(session *s)
{
    if (s->peer_eof && !s->local_shut && s->delivered == s->peer_eof_at) {
        s->local_shut = TRUE;
        g_socket_shutdown(g_socket_connection_get_socket(s->local), FALSE, TRUE, NULL);
        check_done(s);
    }
}

static void
on_local_written(GObject *src, GAsyncResult *res, gpointer data)
{
    op *o = data;
    session *s = o->s;
    g_autoptr(GError) error = NULL;
    gsize n = 0;
    gboolean ok = g_output_stream_write_all_finish(G_OUTPUT_STREAM(src), res, &n, &error);

    s->writing_local = FALSE;
    if (s->ended) {
        op_free(o);
        return;
    }
    s->delivered += n;
    if (!ok) {
        g_autofree char *why = g_strdup_printf("writing QEMU's side: %s", error->message);

        session_end(s, why);
        op_free(o);
        return;
    }
    if (s->delivered - s->ack_sent >= ACK_EVERY)
        pump_remote(s);
    shut_local_if_done(s);
    /* The reader of this connection goes on; or one of a newer connection
     * that waited for this write waits no longer. */
    if (!s->ended && s->remote && (o->gen == s->gen || s->reader_waiting)) {
        s->reader_waiting = FALSE;
        read_header(s);
    }
    op_free(o);
}

/* ------------------------------------------------------------------ */
/* From the other ferryd */

static void on_header(GObject *src, GAsyncResult *res, gpointer data);

static void
read_header(session *s)
{
    op *o;

    if (s->writing_local) {
        /* A write of an older connection's data is in flight: what comes
         * next must not overtake it. */
        s->reader_waiting = TRUE;
        return;
    }
    o = op_new(s);
    g_input_stream_read_all_async(g_io_stream_get_input_stream(G_IO_STREAM(s->remote)),
                                  o->header, FRAME_HEADER, G_PRIORITY_DEFAULT,
                                  s->remote_cancel, on_header, o);
}

static void welcomed_as(session *s, const Ferry__RelayWelcome *w);

static void
welcomed(session *s, op *o)
{
    Ferry__RelayWelcome *w = ferry__relay_welcome__unpack(NULL, o->len, o->buf);

    if (!w) {
        session_end(s, "the other side's welcome is malformed");
        return;
    }
    welcomed_as(s, w);
    ferry__relay_welcome__free_unpacked(w, NULL);
}

static void
welcomed_as(session *s, const Ferry__RelayWelcome *w)
{
    char peer[300];

    if (w->error) {
        g_autofree char *why = g_strdup_printf("%s refused the stream: %s",
                                               peer_name(s, peer, sizeof(peer)), w->error);

        session_end(s, why);
        return;
    }
    if (w->received < s->acked || w->received > s->read_total) {
        session_end(s, "the other side's welcome names an offset never sent");
        return;
    }
    s->ready = TRUE;
    s->wire = w->received;
    s->ack_sent = s->delivered;
    if (s->connected_before) {
        g_atomic_int_inc(&s->relay->reconnects);
        g_message("%s: connected to %s again after %.1f s; the stream goes on from byte %"
                  G_GUINT64_FORMAT, s->relay->name, peer_name(s, peer, sizeof(peer)),
                  (g_get_monotonic_time() - s->broken_since) / (double)G_TIME_SPAN_SECOND,
                  w->received);
    }
    s->connected_before = TRUE;
    s->broken_since = 0;
    s->backoff_ms = 0;
    if (acknowledged(s, w->received)) {
        pump_remote(s);
        read_header(s);
    }
}

/* A whole frame (its payload in o->buf) from the other side. */
static void
handle_frame(session *s, op *o, guint32 type, guint64 value)
{
    if (!s->ready) {
        if (type != FRAME_WELCOME || !s->relay->dialler) {
            session_end(s, "the other side did not answer the greeting");
            return;
        }
        welcomed(s, o);
        return;
    }
    switch (type) {
    case FRAME_DATA: {
        gsize skip;

        if (value > s->delivered) {
            session_end(s, "the other side skipped part of the stream");
            return;
        }
        skip = (gsize)MIN(s->delivered - value, (guint64)o->len);
        if (skip == o->len)
            break;
        s->writing_local = TRUE;
        {
            op *w = op_new(s);

            w->buf = g_steal_pointer(&o->buf);
            w->len = o->len;
            w->gen = o->gen;
            g_output_stream_write_all_async(
                g_io_stream_get_output_stream(G_IO_STREAM(s->local)), w->buf + skip,
                w->len - skip, G_PRIORITY_DEFAULT, s->cancel, on_local_written, w);
        }
        return;
    }
    case FRAME_ACK:
        if (!acknowledged(s, value))
            return;
        break;
    case FRAME_EOF:
        s->peer_eof = TRUE;
        s->peer_eof_at = value;
        shut_local_if_done(s);
        if (s->ended)
            return;
        break;
    case FRAME_RESET: {
        g_autofree char *why = NULL;

        if (o->len)
            why = g_strdup_printf("the other side ended the stream: %.*s", (int)o->len,
                                  (char *)o->buf);
        else if (!s->local_eof || s->delivered < s->peer_eof_at || !s->peer_eof)
            why = g_strdup("the other side closed the stream before its end");
        session_end(s, why);
        return;
    }
    default:
        session_end(s, "the other side sent a frame of an unknown type");
        return;
    }
    read_header(s);
}

/* The end of a read of the other side's frame (@want bytes): TRUE if it
 * arrived whole on the current connection; otherwise @o is freed and the
 * connection, if it broke, is taken as broken. */
static gboolean
read_arrived(op *o, GObject *src, GAsyncResult *res, gsize want)
{
    session *s = o->s;
    g_autoptr(GError) error = NULL;
    gsize n = 0;
    gboolean ok = g_input_stream_read_all_finish(G_INPUT_STREAM(src), res, &n, &error);

    if (o->gen != s->gen || s->ended) {
        op_free(o);
        return FALSE;
    }
    if (!ok || n < want) {
        remote_broke(s, error ? error->message : "the connection closed");
        op_free(o);
        return FALSE;
    }
    s->last_heard = g_get_monotonic_time();
    return TRUE;
}

static void
on_payload(GObject *src, GAsyncResult *res, gpointer data)
{
    op *o = data;
    guint32 type, len;
    guint64 value;

    if (!read_arrived(o, src, res, o->len))
        return;
    get_header(o->header, &type, &len, &value);
    handle_frame(o->s, o, type, value);
    op_free(o);
}

static void
on_header(GObject *src, GAsyncResult *res, gpointer data)
{
    op *o = data;
    session *s = o->s;
    guint32 type, len;
    guint64 value;

    if (!read_arrived(o, src, res, FRAME_HEADER))
        return;
    get_header(o->header, &type, &len, &value);
    if (len > MAX_PAYLOAD) {
        session_end(s, "the other side sent a frame too large");
        op_free(o);
        return;
    }
    if (len) {
        o->buf = g_malloc(len);
        o->len = len;
        g_input_stream_read_all_async(G_INPUT_STREAM(src), o->buf, len, G_PRIORITY_DEFAULT,
                                      s->remote_cancel, on_payload, o);
        return;
    }
    handle_frame(s, o, type, value);
    op_free(o);
}

/* ------------------------------------------------------------------ */
/* Connections: broken, dialled, accepted */

static void dial(session *s);

static gboolean
redial_now(gpointer data)
{
    session *s = data;

    g_clear_pointer(&s->redial, g_source_unref);
    if (!s->ended && !s->remote && !s->dialling)
        dial(s);
    return G_SOURCE_REMOVE;
}

static void
schedule_redial(session *s)
{
    s->backoff_ms = s->backoff_ms ? MIN(s->backoff_ms * 2, BACKOFF_MAX_MS) : BACKOFF_FIRST_MS;
    if (s->redial)
        return;
    s->redial = g_timeout_source_new(s->backoff_ms);
    g_source_set_callback(s->redial, redial_now, session_ref(s),
                          (GDestroyNotify)session_unref);
    g_source_attach(s->redial, relay_ctx);
}

static void
remote_broke(session *s, const char *why)
{
    char peer[300];

    if (s->ended)
        return;
    if (s->give_up_ms == 0) {
        g_autofree char *msg = g_strdup_printf("the connection to %s broke (%s)",
                                               peer_name(s, peer, sizeof(peer)), why);

        session_end(s, msg);
        return;
    }
    if (s->ready || s->connected_before)
        g_message("%s: the connection to %s broke (%s); %s", s->relay->name,
                  peer_name(s, peer, sizeof(peer)), why,
                  s->relay->dialler ? "connecting again" : "waiting for it to connect again");
    drop_remote(s);
    if (!s->broken_since)
        s->broken_since = g_get_monotonic_time();
    if (s->relay->dialler)
        schedule_redial(s);
}

static void
attach_remote(session *s, GSocketConnection *conn)
{
    drop_remote(s);
    tune_tcp(conn);
    /* A dialled socket keeps the client's connect timeout: silence and
     * stalls are this relay's to judge (DEAD_MS), not the socket's. */
    g_socket_set_timeout(g_socket_connection_get_socket(conn), 0);
    s->remote = conn;
    s->remote_cancel = g_cancellable_new();
    s->last_heard = s->last_sent = g_get_monotonic_time();
}

static void
on_dialled(GObject *src, GAsyncResult *res, gpointer data)
{
    op *o = data;
    session *s = o->s;
    g_autoptr(GError) error = NULL;
    GSocketConnection *conn = g_socket_client_connect_finish(G_SOCKET_CLIENT(src), res, &error);
    Ferry__RelayHello hello = FERRY__RELAY_HELLO__INIT;
    op *h;

    s->dialling = FALSE;
    if (s->ended) {
        g_clear_object(&conn);
        op_free(o);
        return;
    }
    if (!conn && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED)) {
        /* The host answers and nobody listens on the port: the other
         * relay is gone (closed with its migration, or its ferryd
         * restarted), and the stream with it -- it listened before
         * Perform began.  A link that is down does not refuse. */
        g_autofree char *why = g_strdup_printf("%s:%u refuses connections: the other side's "
                                               "relay is gone", s->relay->host,
                                               s->relay->port);

        session_end(s, why);
        op_free(o);
        return;
    }
    if (!conn) {
        g_debug("%s: cannot connect to %s:%u: %s", s->relay->name, s->relay->host,
                s->relay->port, error->message);
        schedule_redial(s);
        op_free(o);
        return;
    }
    attach_remote(s, conn);
    hello.token = s->relay->token;
    hello.session = s->id;
    hello.received = s->delivered;
    hello.give_up_s = s->give_up_ms / 1000;
    h = op_new(s);
    {
        gsize len = ferry__relay_hello__get_packed_size(&hello);
        guint8 *buf = g_malloc(len);

        ferry__relay_hello__pack(&hello, buf);
        h->bytes = g_bytes_new_take(buf, len);
    }
    send_frame(s, h, FRAME_HELLO, 0);
    read_header(s);
    op_free(o);
}

static void
dial(session *s)
{
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketConnectable) addr = g_network_address_new(s->relay->host,
                                                                (guint16)s->relay->port);

    s->dialling = TRUE;
    g_socket_client_set_timeout(client, CONNECT_TIMEOUT_S);
    g_socket_client_connect_async(client, addr, s->cancel, on_dialled, op_new(s));
}

static char *
new_session_id(void)
{
    GString *id = g_string_new(NULL);

    for (int i = 0; i < 4; i++)
        g_string_append_printf(id, "%08x", g_random_int());
    return g_string_free(id, FALSE);
}

/* The dialler's listening socket: QEMU connected. */
static gboolean
on_local_accept(GSocket *listener, GIOCondition cond, gpointer data)
{
    ferry_relay *r = data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocket) sock = g_socket_accept(listener, NULL, &error);
    g_autofree char *id = NULL;
    session *s;

    if (!sock) {
        if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            g_warning("%s: accepting QEMU's connection: %s", r->name, error->message);
        return G_SOURCE_CONTINUE;
    }
    id = new_session_id();
    s = session_new(r, id, g_socket_connection_factory_create_connection(sock),
                    r->give_up_s * 1000);
    pump_local_read(s);
    dial(s);
    session_unref(s);
    return G_SOURCE_CONTINUE;
}

/* A connection accepted by a listener, until its greeting is read. */
typedef struct {
    ferry_relay *relay;
    GSocketConnection *conn;
    GCancellable *cancel;
    GSource *timeout;
    guint8 header[FRAME_HEADER];
    guint8 *buf;
    gsize len;
} greeting;

static void
greeting_free(greeting *g)
{
    if (g->timeout) {
        g_source_destroy(g->timeout);
        g_source_unref(g->timeout);
    }
    g_clear_object(&g->conn);
    g_clear_object(&g->cancel);
    g_free(g->buf);
    relay_unref(g->relay);
    g_free(g);
}

static void
refuse(greeting *g, const char *why)
{
    Ferry__RelayWelcome w = FERRY__RELAY_WELCOME__INIT;
    gsize len;
    g_autofree guint8 *frame = NULL;

    g_message("%s: refused a stream: %s", g->relay->name, why);
    w.error = (char *)why;
    len = ferry__relay_welcome__get_packed_size(&w);
    frame = g_malloc(FRAME_HEADER + len);
    put_header(frame, FRAME_WELCOME, (guint32)len, 0);
    ferry__relay_welcome__pack(&w, frame + FRAME_HEADER);
    g_socket_send_with_blocking(g_socket_connection_get_socket(g->conn), (gchar *)frame,
                                FRAME_HEADER + len, FALSE, NULL, NULL);
    g_io_stream_close(G_IO_STREAM(g->conn), NULL, NULL);
}

static gboolean
token_equal(const char *a, const char *b)
{
    gsize la = strlen(a), lb = strlen(b);
    guint8 diff = la != lb;

    for (gsize i = 0; i < la && i < lb; i++)
        diff |= (guint8)(a[i] ^ b[i]);
    return diff == 0;
}

static GSocketConnection *
connect_local(const char *path, GError **error)
{
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);

    GSocketConnection *conn;

    /* Synchronous, on the relay thread: bounded, since a QEMU that does
     * not accept (its backlog full, or it hangs) would stall every relay.
     * The client's timeout stays on the socket: only the connect has it. */
    g_socket_client_set_timeout(client, CONNECT_TIMEOUT_S);
    conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(addr), NULL, error);
    if (conn)
        g_socket_set_timeout(g_socket_connection_get_socket(conn), 0);
    return conn;
}

static void
greeted(greeting *g, const Ferry__RelayHello *hello)
{
    ferry_relay *r = g->relay;
    Ferry__RelayWelcome w = FERRY__RELAY_WELCOME__INIT;
    session *s;
    op *o;

    if (!token_equal(hello->token, r->token)) {
        refuse(g, "wrong token");
        return;
    }
    s = g_hash_table_lookup(r->sessions, hello->session);
    if (s) {
        session_ref(s);
    } else {
        g_autoptr(GError) error = NULL;
        GSocketConnection *local;

        if (hello->received != 0 || strlen(hello->session) != 32) {
            refuse(g, "no such stream here (it ended)");
            return;
        }
        if (!(local = connect_local(r->local_path, &error))) {
            g_autofree char *why = g_strdup_printf("cannot reach QEMU at %s: %s",
                                                   r->local_path, error->message);

            refuse(g, why);
            return;
        }
        s = session_new(r, hello->session, local, hello->give_up_s * 1000);
        pump_local_read(s);
    }
    if (hello->received < s->acked || hello->received > s->read_total) {
        refuse(g, "the greeting names an offset never sent");
        session_end(s, "the source asked for an offset never sent");
        session_unref(s);
        return;
    }
    attach_remote(s, g_steal_pointer(&g->conn));
    s->ready = TRUE;
    s->wire = hello->received;
    w.received = s->delivered;
    o = op_new(s);
    {
        gsize len = ferry__relay_welcome__get_packed_size(&w);
        guint8 *buf = g_malloc(len);

        ferry__relay_welcome__pack(&w, buf);
        o->bytes = g_bytes_new_take(buf, len);
    }
    send_frame(s, o, FRAME_WELCOME, 0);
    s->ack_sent = s->delivered;
    if (s->connected_before) {
        g_atomic_int_inc(&r->reconnects);
        g_message("%s: the source connected again after %.1f s; the stream goes on from byte "
                  "%" G_GUINT64_FORMAT, r->name,
                  (g_get_monotonic_time() - s->broken_since) / (double)G_TIME_SPAN_SECOND,
                  s->delivered);
    }
    s->connected_before = TRUE;
    s->broken_since = 0;
    if (acknowledged(s, hello->received))
        read_header(s);
    session_unref(s);
}

static void
on_greeting(GObject *src, GAsyncResult *res, gpointer data)
{
    greeting *g = data;
    g_autoptr(GError) error = NULL;
    gsize n = 0;
    gboolean ok = g_input_stream_read_all_finish(G_INPUT_STREAM(src), res, &n, &error);
    guint32 type, len;
    guint64 value;

    if (!ok || g->relay->closed) {
        greeting_free(g);
        return;
    }
    if (!g->buf) {
        get_header(g->header, &type, &len, &value);
        if (n < FRAME_HEADER || type != FRAME_HELLO || len == 0 || len > MAX_GREETING) {
            refuse(g, "not a ferry relay greeting");
            greeting_free(g);
            return;
        }
        g->buf = g_malloc(len);
        g->len = len;
        g_input_stream_read_all_async(G_INPUT_STREAM(src), g->buf, len, G_PRIORITY_DEFAULT,
                                      g->cancel, on_greeting, g);
        return;
    }
    if (n < g->len) {
        greeting_free(g);
        return;
    }
    {
        Ferry__RelayHello *hello = ferry__relay_hello__unpack(NULL, g->len, g->buf);

        if (!hello)
            refuse(g, "a malformed greeting");
        else
            greeted(g, hello);
        if (hello)
            ferry__relay_hello__free_unpacked(hello, NULL);
    }
    greeting_free(g);
}

static gboolean
on_greeting_timeout(gpointer data)
{
    greeting *g = data;

    g_cancellable_cancel(g->cancel);
    return G_SOURCE_REMOVE;
}

/* The listener's socket: a dialler connected. */
static gboolean
on_remote_accept(GSocket *listener, GIOCondition cond, gpointer data)
{
    ferry_relay *r = data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocket) sock = g_socket_accept(listener, NULL, &error);
    greeting *g;

    if (!sock) {
        if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            g_warning("%s: accepting a connection: %s", r->name, error->message);
        return G_SOURCE_CONTINUE;
    }
    g = g_new0(greeting, 1);
    g->relay = relay_ref(r);
    g->conn = g_socket_connection_factory_create_connection(sock);
    g->cancel = g_cancellable_new();
    g->timeout = g_timeout_source_new(DEAD_MS);
    g_source_set_callback(g->timeout, on_greeting_timeout, g, NULL);
    g_source_attach(g->timeout, relay_ctx);
    g_input_stream_read_all_async(g_io_stream_get_input_stream(G_IO_STREAM(g->conn)),
                                  g->header, FRAME_HEADER, G_PRIORITY_DEFAULT, g->cancel,
                                  on_greeting, g);
    return G_SOURCE_CONTINUE;
}

/* ------------------------------------------------------------------ */
/* The tick: pings, silent connections, give-up */

/* Runs @fn on each session of @r, each held while it runs (it may end). */
static void
each_session(ferry_relay *r, void (*fn)(session *s, gint64 now))
{
    g_autoptr(GList) all = g_hash_table_get_values(r->sessions);
    gint64 now = g_get_monotonic_time();

    for (GList *l = all; l; l = l->next)
        session_ref(l->data);
    for (GList *l = all; l; l = l->next) {
        if (!((session *)l->data)->ended)
            fn(l->data, now);
    }
    g_list_free_full(g_steal_pointer(&all), (GDestroyNotify)session_unref);
}

/* How long @s may go without its connection, in ms: the user's retry
 * timeout once it was connected; a first connection gets at least the
 * connect timeout, even with --retry-timeout 0 (which forbids connecting
 * again, not connecting at all: a busy host may take a tick to answer). */
static guint
give_up_after_ms(const session *s)
{
    if (s->connected_before)
        return s->give_up_ms;
    return MAX(s->give_up_ms, CONNECT_TIMEOUT_S * 1000u);
}

static void
tick_session(session *s, gint64 now)
{
    if (s->remote && now - s->last_heard > (gint64)DEAD_MS * 1000) {
        g_autofree char *why = g_strdup_printf("nothing heard for %d s", DEAD_MS / 1000);

        remote_broke(s, why);
    } else if (s->remote && s->ready) {
        if (s->delivered > s->ack_sent || now - s->last_sent >= (gint64)PING_MS * 1000) {
            s->ping_due = TRUE;
            pump_remote(s);
        }
    } else if (!s->remote && s->broken_since &&
               now - s->broken_since > (gint64)give_up_after_ms(s) * 1000) {
        char peer[300];
        g_autofree char *why = g_strdup_printf(
            "%s %s within %u s", s->relay->dialler ? "could not reach" : "no connection from",
            peer_name(s, peer, sizeof(peer)), give_up_after_ms(s) / 1000);

        session_end(s, why);
    }
}

static gboolean
on_tick(gpointer data)
{
    each_session(data, tick_session);
    return G_SOURCE_CONTINUE;
}

/* ------------------------------------------------------------------ */
/* Public functions */

static void
start_cb(gpointer data)
{
    ferry_relay *r = data;

    r->accept_source = g_socket_create_source(r->socket, G_IO_IN, NULL);
    g_source_set_callback(r->accept_source,
                          (GSourceFunc)(void (*)(void))(r->dialler ? on_local_accept
                                                                   : on_remote_accept),
                          relay_ref(r), (GDestroyNotify)relay_unref);
    g_source_attach(r->accept_source, relay_ctx);
    r->tick = g_timeout_source_new(TICK_MS);
    g_source_set_callback(r->tick, on_tick, relay_ref(r), (GDestroyNotify)relay_unref);
    g_source_attach(r->tick, relay_ctx);
}

static ferry_relay *
relay_new(gboolean dialler, const char *name, const char *local_path, const char *token)
{
    ferry_relay *r = g_new0(ferry_relay, 1);

    r->ref = 1;
    g_mutex_init(&r->error_lock);
    r->dialler = dialler;
    r->name = g_strdup(name);
    r->local_path = g_strdup(local_path);
    r->token = g_strdup(token);
    r->sessions = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                        (GDestroyNotify)session_unref);
    return r;
}

static gboolean
listen_on(ferry_relay *r, GSocketAddress *addr, const char *what, GError **error)
{
    g_autoptr(GError) local = NULL;

    r->socket = g_socket_new(g_socket_address_get_family(addr), G_SOCKET_TYPE_STREAM,
                             G_SOCKET_PROTOCOL_DEFAULT, &local);
    /* allow_reuse: SO_REUSEADDR, so that the connections of the migration
     * before, in TIME_WAIT on this port, do not keep it (QEMU does the same). */
    if (!r->socket || !g_socket_bind(r->socket, addr, TRUE, &local) ||
        !g_socket_listen(r->socket, &local)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_SYSTEM, "%s: cannot listen on %s: %s",
                    r->name, what, local->message);
        return FALSE;
    }
    g_socket_set_blocking(r->socket, FALSE);
    return TRUE;
}

ferry_relay *
ferry_relay_listen(const char *name, const char *address, guint port, const char *local_path,
                   const char *token, GError **error)
{
    ferry_relay *r = relay_new(FALSE, name, local_path, token);
    g_autoptr(GInetAddress) ia = g_inet_address_new_from_string(address);
    g_autoptr(GSocketAddress) addr = NULL;
    g_autofree char *what = g_strdup_printf("%s port %u", address, port);

    if (!ia) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "%s: '%s' is not an IP address", name, address);
        relay_unref(r);
        return NULL;
    }
    /* A guest's memory and writable disks go through here: never offered
     * on every network of the host. */
    if (g_inet_address_get_is_any(ia)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "%s: '%s' is the wildcard address; a relay listens on one address",
                    name, address);
        relay_unref(r);
        return NULL;
    }
    addr = g_inet_socket_address_new(ia, (guint16)port);
    if (!listen_on(r, addr, what, error)) {
        relay_unref(r);
        return NULL;
    }
    r->port = port;
    run_on_relay_thread(start_cb, r);
    return r;
}

ferry_relay *
ferry_relay_dial(const char *name, const char *local_path, const char *host, guint port,
                 const char *token, guint give_up_s, GError **error)
{
    ferry_relay *r = relay_new(TRUE, name, local_path, token);
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(local_path);

    r->host = g_strdup(host);
    r->port = port;
    r->give_up_s = give_up_s;
    g_unlink(local_path);
    if (!listen_on(r, addr, local_path, error)) {
        relay_unref(r);
        return NULL;
    }
    run_on_relay_thread(start_cb, r);
    return r;
}

guint
ferry_relay_reconnects(ferry_relay *relay)
{
    return (guint)g_atomic_int_get(&relay->reconnects);
}

char *
ferry_relay_last_error(ferry_relay *relay)
{
    char *why;

    g_mutex_lock(&relay->error_lock);
    why = g_strdup(relay->last_error);
    g_mutex_unlock(&relay->error_lock);
    return why;
}

static void
break_session(session *s, gint64 now)
{
    if (s->remote)
        remote_broke(s, "broken on purpose");
}

static void
break_cb(gpointer data)
{
    each_session(data, break_session);
}

void
ferry_relay_break(ferry_relay *relay)
{
    run_on_relay_thread(break_cb, relay);
}

static void
end_session_quietly(session *s, gint64 now)
{
    session_end(s, NULL);
}

static void
close_cb(gpointer data)
{
    ferry_relay *r = data;

    r->closed = TRUE;
    if (r->accept_source) {
        g_source_destroy(r->accept_source);
        g_clear_pointer(&r->accept_source, g_source_unref);
    }
    if (r->tick) {
        g_source_destroy(r->tick);
        g_clear_pointer(&r->tick, g_source_unref);
    }
    if (r->socket)
        g_socket_close(r->socket, NULL);
    if (r->dialler)
        g_unlink(r->local_path);
    each_session(r, end_session_quietly);
}

void
ferry_relay_close(ferry_relay *relay)
{
    if (!relay)
        return;
    run_on_relay_thread(close_cb, relay);
    relay_unref(relay);
}
