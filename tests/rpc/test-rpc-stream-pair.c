/*
 * test-rpc-stream-pair.c: streams between two channels on a socketpair,
 * both in this thread's context: the flow control measured exactly (a slow
 * reader bounds the writer's memory), refusals of what the protocol does
 * not allow, and keepalive ending a stream.  Everything here is driven by
 * the streams' callbacks and the channels' packets, never by time.
 */
#include "ferry-config.h"

#include <string.h>
#include <sys/socket.h>

#include "rpc/rpc-stream.h"
#include "stream-test-util.h"

#define PROC FERRY__PROCEDURE__CONNECT_MIGRATE_PROBE

typedef struct {
    GMainContext *context;
    ferry_rpc_channel *chan[2];
    ferry_rpc_stream_table *table[2];
    GPtrArray *refusals[2];     /* what each side's table refused */
    GError *closed[2];          /* why each channel closed */
    GSocket *raw;               /* the peer of a lone channel (pair_new_lone) */
} pair;

typedef struct {
    pair *p;
    guint side;
} side_ref;

static side_ref sides[2];

static void
on_packet(ferry_rpc_channel *chan, const Ferry__Packet *packet, gpointer user_data)
{
    side_ref *s = user_data;

    g_assert_cmpint(packet->type, ==, FERRY__PACKET_TYPE__STREAM);
    ferry_rpc_stream_table_handle_packet(s->p->table[s->side], packet);
}

static void
on_closed(ferry_rpc_channel *chan, const GError *reason, gpointer user_data)
{
    side_ref *s = user_data;

    s->p->closed[s->side] = g_error_copy(reason);
    ferry_rpc_stream_table_close_all(s->p->table[s->side], reason);
}

static void
on_refusal(const char *message, gpointer user_data)
{
    side_ref *s = user_data;

    g_ptr_array_add(s->p->refusals[s->side], g_strdup(message));
}

static GIOStream *
stream_of_fd(int fd)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocket) socket = g_socket_new_from_fd(fd, &error);

    g_assert_no_error(error);
    return G_IO_STREAM(g_socket_connection_factory_create_connection(socket));
}

static void
side_start(pair *p, guint side, int fd, const ferry_rpc_channel_config *config)
{
    g_autoptr(GIOStream) io = stream_of_fd(fd);

    sides[side].p = p;
    sides[side].side = side;
    p->refusals[side] = g_ptr_array_new_with_free_func(g_free);
    p->chan[side] = ferry_rpc_channel_new(io, p->context, config, on_packet, on_closed,
                                          &sides[side]);
    p->table[side] = ferry_rpc_stream_table_new(p->chan[side], 0, 0, on_refusal,
                                                &sides[side]);
    ferry_rpc_channel_start(p->chan[side]);
}

static pair *
pair_new(void)
{
    pair *p = g_new0(pair, 1);
    int fds[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), ==, 0);
    p->context = g_main_context_new();
    g_main_context_push_thread_default(p->context);
    side_start(p, 0, fds[0], NULL);
    side_start(p, 1, fds[1], NULL);
    return p;
}

/* Side 1 only; its peer is a socket nobody reads nor writes. */
static pair *
pair_new_lone(const ferry_rpc_channel_config *config)
{
    g_autoptr(GError) error = NULL;
    pair *p = g_new0(pair, 1);
    int fds[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), ==, 0);
    p->context = g_main_context_new();
    g_main_context_push_thread_default(p->context);
    p->raw = g_socket_new_from_fd(fds[0], &error);
    g_assert_no_error(error);
    side_start(p, 1, fds[1], config);
    return p;
}

static void
pair_free(pair *p)
{
    for (guint i = 0; i < 2; i++) {
        if (!p->chan[i])
            continue;
        ferry_rpc_channel_close(p->chan[i], NULL);
        while (ferry_rpc_channel_is_busy(p->chan[i]))
            g_main_context_iteration(p->context, TRUE);
    }
    while (g_main_context_iteration(p->context, FALSE))
        ;
    for (guint i = 0; i < 2; i++) {
        g_clear_pointer(&p->table[i], ferry_rpc_stream_table_unref);
        g_clear_pointer(&p->chan[i], ferry_rpc_channel_unref);
        g_clear_pointer(&p->refusals[i], g_ptr_array_unref);
        g_clear_error(&p->closed[i]);
    }
    g_clear_object(&p->raw);
    g_main_context_pop_thread_default(p->context);
    g_main_context_unref(p->context);
    g_free(p);
}

/* Opens stream @serial: side 0 made the call, side 1 answers it. */
static void
pair_open(pair *p, guint32 serial, const ferry_rpc_stream_config *config0,
          const ferry_rpc_stream_config *config1, ferry_rpc_stream **ret0,
          ferry_rpc_stream **ret1)
{
    g_autoptr(GError) error = NULL;

    *ret0 = ferry_rpc_stream_table_open(p->table[0], PROC, serial, config0, TRUE, &error);
    g_assert_no_error(error);
    *ret1 = ferry_rpc_stream_table_open(p->table[1], PROC, serial, config1, FALSE, &error);
    g_assert_no_error(error);
}

/* Sends a hand-made STREAM packet from side @side. */
static void
send_raw(pair *p, guint side, guint32 serial, Ferry__PacketStatus status, GBytes *body)
{
    g_autoptr(GBytes) frame = ferry_rpc_frame_new(PROC, FERRY__PACKET_TYPE__STREAM, serial,
                                                  status, body);

    g_assert_true(ferry_rpc_channel_send(p->chan[side], frame));
}

static gboolean
refused_on(pair *p, guint side, const char *part)
{
    for (guint i = 0; i < p->refusals[side]->len; i++) {
        if (strstr(g_ptr_array_index(p->refusals[side], i), part))
            return TRUE;
    }
    return FALSE;
}

/* ------------------------------------------------------------------------ */
/* Flow control                                                              */
/* ------------------------------------------------------------------------ */

#define SLOW_WINDOW (64u * 1024u)
#define SLOW_CHUNK (16u * 1024u)
#define SLOW_TOTAL (4u * 1024u * 1024u)
#define SLOW_READ (4u * 1024u)

/* The writer cannot go on: everything it may have in flight is out, or it
 * is done. */
static gboolean
writer_stopped(gpointer data)
{
    stream_pump *w = data;
    ferry_rpc_stream_stats st;

    ferry_rpc_stream_get_stats(w->stream, &st);
    return w->write_done || w->write_error || st.in_flight == SLOW_WINDOW;
}

static gboolean
read_done(gpointer data)
{
    return !stream_pump_read_pending(data);
}

/*
 * The reader reads 4 KiB each time the writer is stopped by the window,
 * so the writer is always ahead of it: what the writer holds must stay
 * within the window, and what the reader buffers too.
 */
static void
test_slow_reader(void)
{
    pair *p = pair_new();
    ferry_rpc_stream_config cfg = { .window = SLOW_WINDOW, .chunk = SLOW_CHUNK };
    g_autoptr(ferry_rpc_stream) s0 = NULL;
    g_autoptr(ferry_rpc_stream) s1 = NULL;
    g_autofree char *expected = stream_expected_sum(SLOW_TOTAL, 7);
    g_autofree char *got = NULL;
    ferry_rpc_stream_stats ws;
    ferry_rpc_stream_stats rs;
    stream_pump writer;
    stream_pump reader;
    guint stops = 0;
    /* One frame: the largest data packet with its header and prefix. */
    gsize frame = SLOW_CHUNK + 64 + FERRY_RPC_HEADER_SIZE;

    pair_open(p, 1, &cfg, &cfg, &s0, &s1);
    stream_pump_init(&writer, s1);
    stream_pump_init(&reader, s0);
    stream_pump_start_write(&writer, SLOW_TOTAL, 1024 * 1024, 7);
    while (!reader.eof && !reader.read_error) {
        stream_wait(p->context, writer_stopped, &writer);
        g_assert_no_error(writer.write_error);
        ferry_rpc_stream_get_stats(s1, &ws);
        ferry_rpc_stream_get_stats(s0, &rs);
        g_assert_cmpuint(ws.max_in_flight, <=, SLOW_WINDOW);
        g_assert_cmpuint(ws.max_channel_queued, <=, SLOW_WINDOW + frame);
        g_assert_cmpuint(rs.max_buffered, <=, SLOW_WINDOW);
        if (!writer.write_done)
            stops++;
        stream_pump_read_once(&reader, SLOW_READ);
        stream_wait(p->context, read_done, &reader);
    }
    g_assert_no_error(reader.read_error);
    g_assert_true(writer.write_done);
    got = stream_pump_read_sum(&reader);
    g_assert_cmpstr(got, ==, expected);
    g_assert_cmpuint(reader.read_bytes, ==, SLOW_TOTAL);

    ferry_rpc_stream_get_stats(s1, &ws);
    ferry_rpc_stream_get_stats(s0, &rs);
    g_test_message("writer: %u waits for the window, at most %" G_GSIZE_FORMAT " bytes in "
                   "flight, %" G_GSIZE_FORMAT " queued; reader buffered at most %"
                   G_GSIZE_FORMAT, ws.window_waits, ws.max_in_flight, ws.max_channel_queued,
                   rs.max_buffered);
    /* The window, not the reader's pace, is what stopped the writer. */
    g_assert_cmpuint(ws.window_waits, >, SLOW_TOTAL / SLOW_WINDOW);
    g_assert_cmpuint(stops, >, SLOW_TOTAL / SLOW_WINDOW);
    g_assert_cmpuint(ws.max_in_flight, ==, SLOW_WINDOW);
    g_assert_cmpuint(ws.max_channel_queued, <=, SLOW_WINDOW + frame);
    g_assert_cmpuint(rs.max_buffered, <=, SLOW_WINDOW);
    g_assert_cmpuint(ws.bytes_sent, ==, SLOW_TOTAL);

    /* Side 0 ends too: the stream is over on both sides. */
    g_assert_true(ferry_rpc_stream_end(s0, NULL));
    stream_pump_read_once(&writer, 1);
    stream_wait(p->context, read_done, &writer);
    g_assert_true(writer.eof);
    g_assert_false(ferry_rpc_stream_is_open(s0));
    g_assert_false(ferry_rpc_stream_is_open(s1));
    g_assert_cmpuint(p->refusals[0]->len + p->refusals[1]->len, ==, 0);
    stream_pump_clear(&writer);
    stream_pump_clear(&reader);
    g_clear_pointer(&s0, ferry_rpc_stream_unref);
    g_clear_pointer(&s1, ferry_rpc_stream_unref);
    pair_free(p);
}

/* Writes before the peer opened its end wait for it, and the end too. */
static void
test_write_before_open(void)
{
    pair *p = pair_new();
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_rpc_stream) s0 = NULL;
    g_autoptr(ferry_rpc_stream) s1 = NULL;
    g_autofree char *expected = stream_expected_sum(100000, 3);
    g_autofree char *got = NULL;
    stream_pump writer;
    stream_pump reader;

    s0 = ferry_rpc_stream_table_open(p->table[0], PROC, 4, NULL, TRUE, &error);
    g_assert_no_error(error);
    stream_pump_init(&writer, s0);
    stream_pump_start_write(&writer, 100000, 30000, 3);
    /* Nothing can move yet: the peer has not opened its end. */
    while (g_main_context_iteration(p->context, FALSE))
        ;
    g_assert_false(writer.write_done);
    g_assert_cmpuint(writer.written, ==, 0);

    s1 = ferry_rpc_stream_table_open(p->table[1], PROC, 4, NULL, FALSE, &error);
    g_assert_no_error(error);
    stream_pump_init(&reader, s1);
    stream_pump_start_read(&reader, 8192);
    stream_wait_flag(p->context, &reader.eof);
    g_assert_true(writer.write_done);
    got = stream_pump_read_sum(&reader);
    g_assert_cmpstr(got, ==, expected);
    stream_pump_clear(&writer);
    stream_pump_clear(&reader);
    pair_free(p);
}

/* ------------------------------------------------------------------------ */
/* Local aborts                                                              */
/* ------------------------------------------------------------------------ */

typedef struct {
    GError *error;
    gboolean done;
} read_outcome;

static void
cancelled_read_cb(GObject *source, GAsyncResult *result, gpointer data)
{
    read_outcome *out = data;
    ferry_rpc_stream *stream = g_task_get_task_data(G_TASK(result));
    g_autoptr(GBytes) bytes = ferry_rpc_stream_read_finish(stream, result, &out->error);

    g_assert_null(bytes);
    out->done = TRUE;
}

/* Cancelling a pending read aborts the stream on both sides. */
static void
test_cancel_read(void)
{
    pair *p = pair_new();
    g_autoptr(ferry_rpc_stream) s0 = NULL;
    g_autoptr(ferry_rpc_stream) s1 = NULL;
    g_autoptr(GCancellable) cancellable = g_cancellable_new();
    read_outcome out = { 0 };
    stream_pump r1;

    pair_open(p, 1, NULL, NULL, &s0, &s1);
    stream_pump_init(&r1, s1);
    stream_pump_start_read(&r1, 10);
    ferry_rpc_stream_read_async(s0, 10, cancellable, cancelled_read_cb, &out);
    while (g_main_context_iteration(p->context, FALSE))
        ;
    g_assert_false(out.done);
    g_cancellable_cancel(cancellable);
    stream_wait_flag(p->context, &out.done);
    stream_assert_error(out.error, FERRY_ERROR_OPERATION_ABORTED,
                        "stream 1 of CONNECT_MIGRATE_PROBE aborted by this side: the "
                        "application cancelled a read");
    stream_wait(p->context, stream_pump_failed, &r1);
    stream_assert_error(r1.read_error, FERRY_ERROR_OPERATION_ABORTED,
                        "stream 1 of CONNECT_MIGRATE_PROBE aborted by the peer: the "
                        "application cancelled a read");
    g_clear_error(&out.error);
    stream_pump_clear(&r1);
    g_clear_pointer(&s0, ferry_rpc_stream_unref);
    g_clear_pointer(&s1, ferry_rpc_stream_unref);
    pair_free(p);
}

/* Dropping a stream still open aborts it: the peer is not left waiting. */
static void
test_drop_aborts(void)
{
    pair *p = pair_new();
    ferry_rpc_stream *s0 = NULL;
    g_autoptr(ferry_rpc_stream) s1 = NULL;
    stream_pump r1;

    pair_open(p, 1, NULL, NULL, &s0, &s1);
    stream_pump_init(&r1, s1);
    stream_pump_start_read(&r1, 10);
    while (g_main_context_iteration(p->context, FALSE))
        ;
    ferry_rpc_stream_unref(s0);
    stream_wait(p->context, stream_pump_failed, &r1);
    stream_assert_error(r1.read_error, FERRY_ERROR_OPERATION_ABORTED,
                        "stream 1 of CONNECT_MIGRATE_PROBE aborted by the peer: the "
                        "application let go of it while open");
    g_assert_cmpuint(p->refusals[0]->len + p->refusals[1]->len, ==, 0);
    stream_pump_clear(&r1);
    g_clear_pointer(&s1, ferry_rpc_stream_unref);
    pair_free(p);
}

/* The caller's end and abort, before the peer opened its end, wait for it:
 * the peer could not have placed them before. */
static void
test_end_and_abort_before_open(void)
{
    pair *p = pair_new();
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) reason = g_error_new(FERRY_ERROR, FERRY_ERROR_OPERATION_ABORTED,
                                           "changed its mind");
    g_autoptr(ferry_rpc_stream) a0 = NULL;
    g_autoptr(ferry_rpc_stream) a1 = NULL;
    g_autoptr(ferry_rpc_stream) b0 = NULL;
    g_autoptr(ferry_rpc_stream) b1 = NULL;
    stream_pump ra;
    stream_pump rb;

    a0 = ferry_rpc_stream_table_open(p->table[0], PROC, 5, NULL, TRUE, &error);
    g_assert_no_error(error);
    b0 = ferry_rpc_stream_table_open(p->table[0], PROC, 6, NULL, TRUE, &error);
    g_assert_no_error(error);
    g_assert_true(ferry_rpc_stream_end(a0, &error));
    ferry_rpc_stream_abort(b0, reason);
    while (g_main_context_iteration(p->context, FALSE))
        ;
    a1 = ferry_rpc_stream_table_open(p->table[1], PROC, 5, NULL, FALSE, &error);
    g_assert_no_error(error);
    b1 = ferry_rpc_stream_table_open(p->table[1], PROC, 6, NULL, FALSE, &error);
    g_assert_no_error(error);
    stream_pump_init(&ra, a1);
    stream_pump_init(&rb, b1);
    stream_pump_start_read(&ra, 10);
    stream_pump_start_read(&rb, 10);
    stream_wait_flag(p->context, &ra.eof);
    g_assert_no_error(ra.read_error);
    stream_wait(p->context, stream_pump_failed, &rb);
    stream_assert_error(rb.read_error, FERRY_ERROR_OPERATION_ABORTED,
                        "stream 6 of CONNECT_MIGRATE_PROBE aborted by the peer: changed its "
                        "mind");
    g_assert_cmpuint(p->refusals[0]->len + p->refusals[1]->len, ==, 0);
    stream_pump_clear(&ra);
    stream_pump_clear(&rb);
    g_clear_pointer(&a0, ferry_rpc_stream_unref);
    g_clear_pointer(&a1, ferry_rpc_stream_unref);
    g_clear_pointer(&b0, ferry_rpc_stream_unref);
    g_clear_pointer(&b1, ferry_rpc_stream_unref);
    pair_free(p);
}

/* ------------------------------------------------------------------------ */
/* Refusals                                                                  */
/* ------------------------------------------------------------------------ */

/* Stream 2 keeps working while stream 1 is refused. */
static void
check_other_stream(pair *p)
{
    g_autoptr(ferry_rpc_stream) a = NULL;
    g_autoptr(ferry_rpc_stream) b = NULL;
    g_autofree char *expected = stream_expected_sum(50000, 11);
    g_autofree char *got = NULL;
    stream_pump w;
    stream_pump r;

    pair_open(p, 2, NULL, NULL, &a, &b);
    stream_pump_init(&w, a);
    stream_pump_init(&r, b);
    stream_pump_start_write(&w, 50000, 7000, 11);
    stream_pump_start_read(&r, 4096);
    stream_wait_flag(p->context, &r.eof);
    got = stream_pump_read_sum(&r);
    g_assert_cmpstr(got, ==, expected);
    g_assert_null(p->closed[0]);
    g_assert_null(p->closed[1]);
    stream_pump_clear(&w);
    stream_pump_clear(&r);
}

/*
 * Side 0 sends what side 1 must refuse by hand; side 1's stream fails with
 * a message naming it, side 0's stream gets the abort, and the connection
 * goes on.
 */
static void
check_refusal(void (*misbehave)(pair *p), const char *what)
{
    pair *p = pair_new();
    ferry_rpc_stream_config cfg = { .window = 4096 };
    g_autoptr(ferry_rpc_stream) s0 = NULL;
    g_autoptr(ferry_rpc_stream) s1 = NULL;
    g_autofree char *mine = g_strdup_printf("stream 1 of CONNECT_MIGRATE_PROBE: %s", what);
    g_autofree char *theirs = g_strdup_printf("stream 1 of CONNECT_MIGRATE_PROBE aborted by "
                                              "the peer: %s", what);
    stream_pump r0;
    stream_pump r1;

    pair_open(p, 1, &cfg, &cfg, &s0, &s1);
    stream_pump_init(&r0, s0);
    stream_pump_init(&r1, s1);
    stream_pump_start_read(&r0, 4096);
    stream_pump_start_read(&r1, 4096);
    misbehave(p);
    while (!refused_on(p, 1, mine))
        g_main_context_iteration(p->context, TRUE);
    /* Side 1's reader saw the failure, or the end just before it (data
     * after the end): a read now fails. */
    if (!r1.read_error) {
        g_assert_true(r1.eof);
        stream_pump_read_once(&r1, 1);
        stream_wait(p->context, stream_pump_failed, &r1);
    }
    stream_assert_error(r1.read_error, FERRY_ERROR_RPC, mine);
    stream_wait(p->context, stream_pump_failed, &r0);
    stream_assert_error(r0.read_error, FERRY_ERROR_RPC, theirs);
    g_assert_true(refused_on(p, 1, mine));
    g_assert_false(ferry_rpc_stream_is_open(s0));
    g_assert_false(ferry_rpc_stream_is_open(s1));
    check_other_stream(p);
    stream_pump_clear(&r0);
    stream_pump_clear(&r1);
    g_clear_pointer(&s0, ferry_rpc_stream_unref);
    g_clear_pointer(&s1, ferry_rpc_stream_unref);
    pair_free(p);
}

/* Side 1 granted 4096 bytes: 4097 are too many. */
static void
over_window(pair *p)
{
    g_autofree guint8 *data = g_malloc0(4097);
    g_autoptr(GBytes) body = g_bytes_new(data, 4097);

    /* After side 0's own first WINDOW, so that side 1 has seen it open. */
    while (g_main_context_iteration(p->context, FALSE))
        ;
    send_raw(p, 0, 1, FERRY__PACKET_STATUS__CONTINUE, body);
}

static void
test_refuse_over_window(void)
{
    check_refusal(over_window, "refused 4097 bytes of data beyond the window (4096 allowed)");
}

static void
data_after_end(pair *p)
{
    g_autoptr(GBytes) body = g_bytes_new_static("late", 4);

    while (g_main_context_iteration(p->context, FALSE))
        ;
    send_raw(p, 0, 1, FERRY__PACKET_STATUS__OK, NULL);
    send_raw(p, 0, 1, FERRY__PACKET_STATUS__CONTINUE, body);
}

static void
test_refuse_after_end(void)
{
    check_refusal(data_after_end, "refused 4 bytes of data after the end the peer sent");
}

static void
malformed_window(pair *p)
{
    static const guint8 junk[] = { 0x08, 0xff };   /* a varint cut short */
    g_autoptr(GBytes) body = g_bytes_new_static(junk, sizeof(junk));

    send_raw(p, 0, 1, FERRY__PACKET_STATUS__WINDOW, body);
}

static void
test_refuse_malformed_window(void)
{
    check_refusal(malformed_window, "refused a malformed WINDOW packet");
}

static void
empty_window(pair *p)
{
    Ferry__StreamWindow msg = FERRY__STREAM_WINDOW__INIT;
    g_autoptr(GBytes) body = ferry_rpc_message_pack(&msg.base);

    send_raw(p, 0, 1, FERRY__PACKET_STATUS__WINDOW, body);
}

static void
test_refuse_empty_window(void)
{
    check_refusal(empty_window, "refused a WINDOW packet granting nothing");
}

static void
empty_data(pair *p)
{
    while (g_main_context_iteration(p->context, FALSE))
        ;
    send_raw(p, 0, 1, FERRY__PACKET_STATUS__CONTINUE, NULL);
}

static void
test_refuse_empty_data(void)
{
    check_refusal(empty_data, "refused a data packet without data");
}

/* A packet for a serial nobody opened: refused with an abort naming it, and
 * the abort that comes back for it is not answered in turn. */
static void
test_refuse_unknown_serial(void)
{
    pair *p = pair_new();
    g_autoptr(GBytes) body = g_bytes_new_static("stray", 5);

    send_raw(p, 0, 9, FERRY__PACKET_STATUS__CONTINUE, body);
    while (!refused_on(p, 1, "stream 9 of CONNECT_MIGRATE_PROBE: refused a STREAM packet: "
                       "no stream of serial 9 is open"))
        g_main_context_iteration(p->context, TRUE);
    /* Side 0 has no stream 9 either; the abort it got is dropped quietly. */
    check_other_stream(p);
    g_assert_cmpuint(p->refusals[0]->len, ==, 0);
    g_assert_cmpuint(p->refusals[1]->len, ==, 1);
    pair_free(p);
}

/* ------------------------------------------------------------------------ */
/* The end of the connection                                                 */
/* ------------------------------------------------------------------------ */

/* A peer that never answers keepalive: the stream fails when it is
 * declared dead. */
static void
test_keepalive_ends_stream(void)
{
    ferry_rpc_channel_config cc = { .keepalive_interval_ms = 20, .keepalive_count = 2 };
    pair *p = pair_new_lone(&cc);
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_rpc_stream) s1 = NULL;
    stream_pump r;

    s1 = ferry_rpc_stream_table_open(p->table[1], PROC, 3, NULL, FALSE, &error);
    g_assert_no_error(error);
    stream_pump_init(&r, s1);
    stream_pump_start_read(&r, 100);
    stream_wait(p->context, stream_pump_failed, &r);
    stream_assert_error(r.read_error, FERRY_ERROR_CONNECTION_CLOSED,
                        "stream 3 of CONNECT_MIGRATE_PROBE: the connection ended: the peer "
                        "answered none of 2 keepalive pings");
    /* And nothing opens on the dead connection. */
    g_assert_null(ferry_rpc_stream_table_open(p->table[1], PROC, 4, NULL, FALSE, &error));
    stream_assert_error(error, FERRY_ERROR_CONNECTION_CLOSED, "cannot open a stream");
    stream_pump_clear(&r);
    pair_free(p);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/rpc/stream-pair/slow-reader", test_slow_reader);
    g_test_add_func("/rpc/stream-pair/write-before-open", test_write_before_open);
    g_test_add_func("/rpc/stream-pair/cancel-read", test_cancel_read);
    g_test_add_func("/rpc/stream-pair/drop-aborts", test_drop_aborts);
    g_test_add_func("/rpc/stream-pair/end-and-abort-before-open",
                    test_end_and_abort_before_open);
    g_test_add_func("/rpc/stream-pair/refuse-over-window", test_refuse_over_window);
    g_test_add_func("/rpc/stream-pair/refuse-after-end", test_refuse_after_end);
    g_test_add_func("/rpc/stream-pair/refuse-malformed-window", test_refuse_malformed_window);
    g_test_add_func("/rpc/stream-pair/refuse-empty-window", test_refuse_empty_window);
    g_test_add_func("/rpc/stream-pair/refuse-empty-data", test_refuse_empty_data);
    g_test_add_func("/rpc/stream-pair/refuse-unknown-serial", test_refuse_unknown_serial);
    g_test_add_func("/rpc/stream-pair/keepalive-ends-stream", test_keepalive_ends_stream);
    return g_test_run();
}
