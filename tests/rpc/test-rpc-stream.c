/*
 * test-rpc-stream.c: streams between the RPC server and client over a
 * UNIX socket: data both ways with calls in between, the orderly end,
 * aborts by either side, the connection ending under a stream, a call that
 * fails or opens no stream, and what the server refuses from a peer that
 * breaks the protocol while its other calls go on.
 *
 * The handler opens a stream on each CONNECT_MIGRATE_PROBE call and hands
 * it to the test's thread, which drives both ends from its own context.
 */
#include "ferry-config.h"

#include <string.h>

#include "rpc-test-util.h"
#include "stream-test-util.h"

#define PROC FERRY__PROCEDURE__CONNECT_MIGRATE_PROBE
#define MiB (1024u * 1024u)

/* What goes each way in /rpc/stream/both-ways.  Under AddressSanitizer
 * each large allocation costs a mapping: a quarter is enough there. */
#if defined(__SANITIZE_ADDRESS__)
#define BOTH_WAYS_MIB 16
#else
#define BOTH_WAYS_MIB 64
#endif

/* ------------------------------------------------------------------------ */
/* The handler                                                               */
/* ------------------------------------------------------------------------ */

/*
 * CONNECT_GET_HOSTNAME answers "stream-host".  CONNECT_MIGRATE_PROBE's
 * arguments are a word: "hold" opens the stream and answers at once,
 * "fail" opens it and answers an error, "noopen" answers without opening
 * one.
 */
static struct {
    GAsyncQueue *streams;       /* ferry_rpc_stream*: the server's ends */
    ferry_rpc_stream_config config;
} handler_state;

static void
stream_call(gpointer handler_data, ferry_rpc_server_client *client, gpointer client_data,
            guint32 procedure, GBytes *args, ferry_rpc_call *call)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *mode = NULL;
    gsize len = 0;
    const char *data = g_bytes_get_data(args, &len);
    ferry_rpc_stream *stream;

    if (procedure == FERRY__PROCEDURE__CONNECT_GET_HOSTNAME) {
        Ferry__ConnectGetHostnameRet ret = FERRY__CONNECT_GET_HOSTNAME_RET__INIT;
        g_autoptr(GBytes) body = NULL;

        ret.hostname = (char *)"stream-host";
        body = ferry_rpc_message_pack(&ret.base);
        ferry_rpc_call_return(call, body);
        return;
    }
    g_assert_cmpuint(procedure, ==, PROC);
    mode = g_strndup(data, len);
    if (g_str_equal(mode, "noopen")) {
        ferry_rpc_call_return(call, NULL);
        return;
    }
    stream = ferry_rpc_call_open_stream(call, &handler_state.config, &error);
    g_assert_no_error(error);
    g_async_queue_push(handler_state.streams, stream);
    if (g_str_equal(mode, "fail"))
        ferry_rpc_call_return_error(call, g_error_new(FERRY_ERROR, FERRY_ERROR_MIGRATE,
                                                      "the destination refused the stream"));
    else
        ferry_rpc_call_return(call, NULL);
}

static const ferry_rpc_handler handler = {
    .call = stream_call,
};

/* ------------------------------------------------------------------------ */
/* Fixture                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct {
    test_server *ts;
    ferry_rpc_client *client;
    GMainContext *context;
} fixture;

static void
fx_start(fixture *f, gsize server_window)
{
    ferry_rpc_server_config config = { .handler = &handler };
    g_autoptr(GError) error = NULL;

    handler_state.config.window = server_window;
    f->context = test_context_push();
    f->ts = test_server_start(&config);
    f->client = ferry_rpc_client_new_unix(test_server_socket(f->ts), NULL, &error);
    g_assert_no_error(error);
}

/* Stops what is left: the server, unless the test stopped it (ts NULL). */
static void
fx_stop(fixture *f)
{
    /* Aborts and failures are no protocol errors: nothing was refused. */
    g_assert_cmpuint(test_log_count("refused"), ==, 0);
    g_clear_pointer(&f->client, ferry_rpc_client_unref);
    if (f->ts) {
        test_server_wait_n_clients(f->ts, 0);
        test_server_stop(f->ts);
    }
    test_context_pop(f->context);
    g_assert_cmpint(g_async_queue_length(handler_state.streams), ==, 0);
}

/* The server's end of the stream the handler opened last. */
static ferry_rpc_stream *
server_end(void)
{
    ferry_rpc_stream *stream = g_async_queue_timeout_pop(handler_state.streams,
                                                         10 * G_USEC_PER_SEC);

    g_assert_nonnull(stream);
    return stream;
}

/* Calls CONNECT_MIGRATE_PROBE with @mode; the reply goes to @reply. */
static ferry_rpc_stream *
open_stream(fixture *f, const char *mode, const ferry_rpc_stream_config *config,
            test_async *reply)
{
    g_autoptr(GBytes) args = g_bytes_new(mode, strlen(mode));

    test_async_prepare(reply, f->client);
    return ferry_rpc_client_call_stream_async(f->client, PROC, args, config,
                                              test_async_bytes_cb, reply);
}

/*
 * One stream opened through CONNECT_MIGRATE_PROBE: the client's end @c and
 * its pump, the server's end @s (NULL for "noopen") and its pump, and the
 * call's reply.
 */
typedef struct {
    fixture f;
    test_async reply;
    ferry_rpc_stream *c;
    ferry_rpc_stream *s;
    stream_pump cp;
    stream_pump sp;
} session;

static void
session_open(session *ss, const char *mode, gsize server_window)
{
    memset(ss, 0, sizeof(*ss));
    fx_start(&ss->f, server_window);
    ss->c = open_stream(&ss->f, mode, NULL, &ss->reply);
    stream_pump_init(&ss->cp, ss->c);
    if (g_str_equal(mode, "noopen"))
        return;
    ss->s = server_end();
    stream_pump_init(&ss->sp, ss->s);
}

static void
session_close(session *ss)
{
    stream_pump_clear(&ss->cp);
    stream_pump_clear(&ss->sp);
    test_async_clear(&ss->reply);
    g_clear_pointer(&ss->c, ferry_rpc_stream_unref);
    g_clear_pointer(&ss->s, ferry_rpc_stream_unref);
    fx_stop(&ss->f);
}

/* Waits for @p to fail, and checks it failed with @code and "<stream
 * description><rest>". */
static void
expect_failure(session *ss, stream_pump *p, gint code, const char *rest)
{
    g_autofree char *expect = g_strconcat(ferry_rpc_stream_get_description(p->stream), rest,
                                          NULL);

    stream_wait(ss->f.context, stream_pump_failed, p);
    stream_assert_error(p->read_error ? p->read_error : p->write_error, code, expect);
}

/* ------------------------------------------------------------------------ */
/* Data                                                                      */
/* ------------------------------------------------------------------------ */

typedef struct {
    fixture *f;
    guint64 next_call_at;       /* bytes read when the next call goes */
    guint sent;
    guint answered;
} call_mixer;

static void
hostname_cb(GObject *source, GAsyncResult *result, gpointer data)
{
    call_mixer *mix = data;
    g_autoptr(GError) error = NULL;
    g_autoptr(ProtobufCMessage) msg =
        ferry_rpc_client_call_message_finish(mix->f->client, result, &error);

    g_assert_no_error(error);
    g_assert_cmpstr(((Ferry__ConnectGetHostnameRet *)msg)->hostname, ==, "stream-host");
    mix->answered++;
}

/* After each read of the client's reader: a call every 4 MiB. */
static void
mix_call(gsize n, gpointer data)
{
    call_mixer *mix = data;
    Ferry__ConnectGetHostnameArgs args = FERRY__CONNECT_GET_HOSTNAME_ARGS__INIT;

    mix->next_call_at = mix->next_call_at > n ? mix->next_call_at - n : 0;
    if (mix->next_call_at > 0)
        return;
    mix->next_call_at = 4 * MiB;
    mix->sent++;
    ferry_rpc_client_call_message_async(mix->f->client,
                                        FERRY__PROCEDURE__CONNECT_GET_HOSTNAME, &args.base,
                                        0, NULL, hostname_cb, mix);
}

typedef struct {
    session *ss;
    call_mixer *mix;
} both_ways;

static gboolean
both_ways_done(gpointer data)
{
    both_ways *bw = data;
    session *ss = bw->ss;

    g_assert_no_error(ss->cp.write_error);
    g_assert_no_error(ss->cp.read_error);
    g_assert_no_error(ss->sp.write_error);
    g_assert_no_error(ss->sp.read_error);
    return ss->cp.write_done && ss->sp.write_done && ss->cp.eof && ss->sp.eof &&
           bw->mix->answered == bw->mix->sent;
}

/* 64 MiB each way at once (16 under ASan), with calls answered in between. */
static void
test_both_ways(void)
{
    const guint64 total = BOTH_WAYS_MIB * (guint64)MiB;
    session ss;
    call_mixer mix = { .f = &ss.f };
    both_ways bw = { &ss, &mix };
    g_autofree char *want_c = stream_expected_sum(total, 1);
    g_autofree char *want_s = stream_expected_sum(total, 2);
    g_autofree char *got_c = NULL;
    g_autofree char *got_s = NULL;
    ferry_rpc_stream_stats st;

    session_open(&ss, "hold", 0);
    g_assert_cmpuint(ferry_rpc_stream_get_serial(ss.c), ==, ferry_rpc_stream_get_serial(ss.s));
    g_assert_cmpstr(ferry_rpc_stream_get_description(ss.c), ==,
                    ferry_rpc_stream_get_description(ss.s));
    ss.cp.on_read = mix_call;
    ss.cp.on_read_data = &mix;
    stream_pump_start_write(&ss.cp, total, MiB, 1);
    stream_pump_start_write(&ss.sp, total, 3 * MiB / 2, 2);
    stream_pump_start_read(&ss.cp, 256 * 1024);
    stream_pump_start_read(&ss.sp, 100 * 1000);
    stream_wait(ss.f.context, both_ways_done, &bw);

    got_c = stream_pump_read_sum(&ss.cp);
    got_s = stream_pump_read_sum(&ss.sp);
    g_assert_cmpstr(got_s, ==, want_c);
    g_assert_cmpstr(got_c, ==, want_s);
    g_assert_cmpuint(ss.cp.read_bytes, ==, total);
    g_assert_cmpuint(ss.sp.read_bytes, ==, total);
    g_assert_cmpuint(mix.answered, >=, BOTH_WAYS_MIB / 4);
    test_async_wait(&ss.reply, 1);
    g_assert_no_error(ss.reply.error);
    g_assert_false(ferry_rpc_stream_is_open(ss.c));
    g_assert_false(ferry_rpc_stream_is_open(ss.s));
    ferry_rpc_stream_get_stats(ss.c, &st);
    g_assert_cmpuint(st.max_in_flight, <=, FERRY_RPC_STREAM_DEFAULT_WINDOW);
    g_assert_cmpuint(st.max_buffered, <=, FERRY_RPC_STREAM_DEFAULT_WINDOW);
    session_close(&ss);
}

/* Each side ends its direction; then the stream is over, and what comes
 * after the end is refused locally. */
static void
test_orderly_end(void)
{
    session ss;
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) more = g_bytes_new_static("more", 4);

    session_open(&ss, "hold", 0);
    stream_pump_start_write(&ss.cp, 1000, 300, 5);
    stream_pump_start_read(&ss.sp, 64);
    stream_wait_flag(ss.f.context, &ss.sp.eof);
    g_assert_cmpuint(ss.sp.read_bytes, ==, 1000);
    /* The client's direction is over, the server's not yet. */
    g_assert_true(ferry_rpc_stream_is_open(ss.c));
    g_assert_true(ferry_rpc_stream_is_open(ss.s));
    stream_pump_start_write(&ss.sp, 10, 10, 6);
    stream_pump_start_read(&ss.cp, 64);
    stream_wait_flag(ss.f.context, &ss.cp.eof);
    g_assert_cmpuint(ss.cp.read_bytes, ==, 10);
    g_assert_true(ss.sp.write_done);
    g_assert_false(ferry_rpc_stream_is_open(ss.c));
    g_assert_false(ferry_rpc_stream_is_open(ss.s));

    g_assert_false(ferry_rpc_stream_end(ss.c, &error));
    stream_assert_error(error, FERRY_ERROR_INVALID_ARG, "ended twice");
    g_clear_error(&error);
    error = stream_write_wait(ss.f.context, ss.c, more);
    stream_assert_error(error, FERRY_ERROR_INVALID_ARG, "write after this side's end");
    test_async_wait(&ss.reply, 1);
    g_assert_no_error(ss.reply.error);
    session_close(&ss);
}

/* ------------------------------------------------------------------------ */
/* Aborts and failures                                                       */
/* ------------------------------------------------------------------------ */

/* The client aborts: its own reads fail, and the server's. */
static void
test_client_aborts(void)
{
    session ss;
    g_autoptr(GError) reason = g_error_new(FERRY_ERROR, FERRY_ERROR_OPERATION_ABORTED,
                                           "the operator cancelled the migration");

    session_open(&ss, "hold", 0);
    test_async_wait(&ss.reply, 1);
    g_assert_no_error(ss.reply.error);
    stream_pump_start_read(&ss.cp, 100);
    stream_pump_start_read(&ss.sp, 100);
    ferry_rpc_stream_abort(ss.c, reason);
    expect_failure(&ss, &ss.cp, FERRY_ERROR_OPERATION_ABORTED,
                   " aborted by this side: the operator cancelled the migration");
    expect_failure(&ss, &ss.sp, FERRY_ERROR_OPERATION_ABORTED,
                   " aborted by the peer: the operator cancelled the migration");
    g_assert_false(ferry_rpc_stream_is_open(ss.s));
    /* Aborting again changes nothing. */
    ferry_rpc_stream_abort(ss.c, reason);
    session_close(&ss);
}

/* The server aborts while the client's write waits for its window: the
 * pending write fails. */
static void
test_server_aborts(void)
{
    session ss;
    g_autoptr(GError) reason = g_error_new(FERRY_ERROR, FERRY_ERROR_MIGRATE,
                                           "the destination ran out of disk");
    ferry_rpc_stream_stats st;

    session_open(&ss, "hold", 64 * 1024);
    /* 4 MiB against a window of 64 KiB nobody reads: it waits. */
    stream_pump_start_write(&ss.cp, 4 * MiB, 4 * MiB, 9);
    test_async_wait(&ss.reply, 1);
    g_assert_false(ss.cp.write_done);
    ferry_rpc_stream_abort(ss.s, reason);
    expect_failure(&ss, &ss.cp, FERRY_ERROR_MIGRATE,
                   " aborted by the peer: the destination ran out of disk");
    g_assert_cmpuint(ss.cp.written, ==, 0);
    ferry_rpc_stream_get_stats(ss.c, &st);
    g_assert_cmpuint(st.bytes_sent, <=, 64 * 1024);
    session_close(&ss);
}

/* The client's connection closes in the middle: the pending operations of
 * both ends fail. */
static void
test_connection_closed(void)
{
    session ss;
    test_async late = { 0 };
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_rpc_stream) c = NULL;

    session_open(&ss, "hold", 64 * 1024);
    stream_pump_start_write(&ss.cp, 8 * MiB, MiB, 4);
    stream_pump_start_read(&ss.sp, 4096);
    /* Some data went through before the end. */
    while (ss.sp.read_bytes < 100000)
        g_main_context_iteration(ss.f.context, TRUE);
    stream_pump_start_read(&ss.cp, 4096);
    ferry_rpc_client_close(ss.f.client);
    expect_failure(&ss, &ss.cp, FERRY_ERROR_CONNECTION_CLOSED,
                   ": the connection ended: connection to ferryd at UNIX socket");
    stream_assert_error(ss.cp.write_error, FERRY_ERROR_CONNECTION_CLOSED, "the connection ended");
    stream_assert_error(ss.cp.read_error, FERRY_ERROR_CONNECTION_CLOSED, "the connection ended");
    expect_failure(&ss, &ss.sp, FERRY_ERROR_CONNECTION_CLOSED, ": the connection ended:");
    /* No stream opens on a closed connection: it is born failed. */
    c = open_stream(&ss.f, "hold", NULL, &late);
    g_assert_false(ferry_rpc_stream_end(c, &error));
    stream_assert_error(error, FERRY_ERROR_CONNECTION_CLOSED, "connection to ferryd");
    test_async_wait(&late, 1);
    g_assert_error(late.error, FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED);
    test_async_clear(&late);
    session_close(&ss);
}

/* The daemon goes away: the client's stream fails. */
static void
test_server_gone(void)
{
    session ss;

    session_open(&ss, "hold", 0);
    stream_pump_start_read(&ss.cp, 4096);
    test_server_stop(ss.f.ts);
    ss.f.ts = NULL;
    expect_failure(&ss, &ss.cp, FERRY_ERROR_CONNECTION_CLOSED,
                   ": the connection ended: connection to ferryd");
    g_assert_false(ferry_rpc_stream_is_open(ss.s));
    session_close(&ss);
}

/* A call answered with an error fails its stream on both sides. */
static void
test_call_fails(void)
{
    session ss;

    session_open(&ss, "fail", 0);
    stream_pump_start_read(&ss.cp, 4096);
    stream_pump_start_read(&ss.sp, 4096);
    test_async_wait(&ss.reply, 1);
    stream_assert_error(ss.reply.error, FERRY_ERROR_MIGRATE,
                        "the destination refused the stream");
    expect_failure(&ss, &ss.cp, FERRY_ERROR_MIGRATE,
                   ": its call failed: the destination refused the stream");
    expect_failure(&ss, &ss.sp, FERRY_ERROR_MIGRATE,
                   ": its call failed: the destination refused the stream");
    session_close(&ss);
}

/* A procedure that answers without opening the stream fails it. */
static void
test_call_opens_none(void)
{
    session ss;

    session_open(&ss, "noopen", 0);
    stream_pump_start_write(&ss.cp, 10, 10, 1);
    test_async_wait(&ss.reply, 1);
    g_assert_no_error(ss.reply.error);
    expect_failure(&ss, &ss.cp, FERRY_ERROR_RPC,
                   ": the call succeeded without opening a stream");
    session_close(&ss);
}

/* ------------------------------------------------------------------------ */
/* A peer that breaks the protocol                                           */
/* ------------------------------------------------------------------------ */

typedef struct {
    GSocketConnection *conn;
    ferry_rpc_decoder *dec;
} raw_peer;

static void
raw_send(raw_peer *r, guint32 procedure, Ferry__PacketType type, guint32 serial,
         Ferry__PacketStatus status, GBytes *body)
{
    g_autoptr(GBytes) frame = ferry_rpc_frame_new(procedure, type, serial, status, body);
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(r->conn));
    g_autoptr(GError) error = NULL;
    gsize size;
    gconstpointer data = g_bytes_get_data(frame, &size);

    g_output_stream_write_all(out, data, size, NULL, NULL, &error);
    g_assert_no_error(error);
}

/* The next packet from the server (keepalive skipped); the socket's
 * timeout bounds the wait. */
static Ferry__Packet *
raw_next(raw_peer *r)
{
    GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(r->conn));
    guint8 buf[4096];

    for (;;) {
        g_autoptr(GError) error = NULL;
        Ferry__Packet *packet = NULL;
        gssize n;

        g_assert_true(ferry_rpc_decoder_next(r->dec, &packet, &error));
        g_assert_no_error(error);
        if (packet && packet->procedure == FERRY__PROCEDURE__KEEPALIVE_PING) {
            ferry_rpc_packet_free(packet);
            continue;
        }
        if (packet)
            return packet;
        n = g_input_stream_read(in, buf, sizeof(buf), NULL, &error);
        g_assert_no_error(error);
        g_assert_cmpint(n, >, 0);
        ferry_rpc_decoder_feed(r->dec, buf, (gsize)n);
    }
}

static void
raw_expect(raw_peer *r, guint32 serial, Ferry__PacketType type, Ferry__PacketStatus status)
{
    g_autoptr(Ferry__Packet) packet = raw_next(r);

    g_assert_cmpuint(packet->serial, ==, serial);
    g_assert_cmpint(packet->type, ==, type);
    g_assert_cmpint(packet->status, ==, status);
}

/* Expects the abort of stream @serial carrying @part. */
static void
raw_expect_abort(raw_peer *r, guint32 serial, const char *part)
{
    g_autoptr(Ferry__Packet) packet = raw_next(r);
    g_autoptr(GBytes) body = NULL;
    g_autoptr(GError) error = NULL;

    g_assert_cmpuint(packet->serial, ==, serial);
    g_assert_cmpint(packet->type, ==, FERRY__PACKET_TYPE__STREAM);
    g_assert_cmpint(packet->status, ==, FERRY__PACKET_STATUS__ERROR);
    body = ferry_rpc_packet_body(packet);
    error = ferry_rpc_error_unpack(body, packet->procedure);
    stream_assert_error(error, FERRY_ERROR_RPC, part);
}

/* An ordinary call on the same connection is still answered. */
static void
raw_call_works(raw_peer *r, guint32 serial)
{
    raw_send(r, FERRY__PROCEDURE__CONNECT_GET_HOSTNAME, FERRY__PACKET_TYPE__CALL, serial,
             FERRY__PACKET_STATUS__OK, NULL);
    raw_expect(r, serial, FERRY__PACKET_TYPE__REPLY, FERRY__PACKET_STATUS__OK);
}

/* Opens stream @serial: the CALL, the server's first WINDOW, the reply,
 * and this side's first WINDOW. */
static ferry_rpc_stream *
raw_open(raw_peer *r, guint32 serial)
{
    g_autoptr(GBytes) args = g_bytes_new_static("hold", 4);
    Ferry__StreamWindow win = FERRY__STREAM_WINDOW__INIT;
    g_autoptr(GBytes) grant = NULL;

    raw_send(r, PROC, FERRY__PACKET_TYPE__CALL, serial, FERRY__PACKET_STATUS__OK, args);
    raw_expect(r, serial, FERRY__PACKET_TYPE__STREAM, FERRY__PACKET_STATUS__WINDOW);
    raw_expect(r, serial, FERRY__PACKET_TYPE__REPLY, FERRY__PACKET_STATUS__OK);
    win.has_grant = TRUE;
    win.grant = 4096;
    grant = ferry_rpc_message_pack(&win.base);
    raw_send(r, PROC, FERRY__PACKET_TYPE__STREAM, serial, FERRY__PACKET_STATUS__WINDOW, grant);
    return server_end();
}

/* Reads once from the server's end @s, which must have failed with @part. */
static void
check_server_failed(GMainContext *context, ferry_rpc_stream *s, const char *part)
{
    stream_pump sp;

    stream_pump_init(&sp, s);
    stream_pump_read_once(&sp, 10);
    stream_wait(context, stream_pump_failed, &sp);
    stream_assert_error(sp.read_error, FERRY_ERROR_RPC, part);
    stream_pump_clear(&sp);
}

static void
test_refusals(void)
{
    ferry_rpc_server_config config = { .handler = &handler };
    GMainContext *context = test_context_push();
    test_server *ts;
    raw_peer r = { 0 };
    g_autofree guint8 *big = g_malloc0(65537);
    g_autoptr(GBytes) too_much = g_bytes_new(big, 65537);
    g_autoptr(GBytes) little = g_bytes_new_static("0123456789", 10);
    static const guint8 junk[] = { 0x08, 0xff };
    g_autoptr(GBytes) bad_window = g_bytes_new_static(junk, sizeof(junk));
    g_autofree char *log = NULL;
    g_autoptr(ferry_rpc_stream) s5 = NULL;
    g_autoptr(ferry_rpc_stream) s8 = NULL;
    g_autoptr(ferry_rpc_stream) s9 = NULL;

    handler_state.config.window = 65536;
    ts = test_server_start(&config);
    test_log_clear();
    r.conn = test_raw_connect(test_server_socket(ts));
    r.dec = ferry_rpc_decoder_new(0);

    /* Beyond the window the server granted. */
    s5 = raw_open(&r, 5);
    raw_send(&r, PROC, FERRY__PACKET_TYPE__STREAM, 5, FERRY__PACKET_STATUS__CONTINUE, too_much);
    raw_expect_abort(&r, 5, "refused 65537 bytes of data beyond the window (65536 allowed)");
    log = test_log_wait("stream 5 of CONNECT_MIGRATE_PROBE: refused 65537 bytes of data "
                        "beyond the window");
    check_server_failed(context, s5, "stream 5 of CONNECT_MIGRATE_PROBE: refused 65537 bytes");
    raw_call_works(&r, 6);

    /* A serial nobody opened. */
    raw_send(&r, PROC, FERRY__PACKET_TYPE__STREAM, 77, FERRY__PACKET_STATUS__CONTINUE, little);
    raw_expect_abort(&r, 77, "no stream of serial 77 is open");
    g_free(test_log_wait("stream 77 of CONNECT_MIGRATE_PROBE: refused a STREAM packet"));
    raw_call_works(&r, 7);

    /* Data after this side's end. */
    s8 = raw_open(&r, 8);
    raw_send(&r, PROC, FERRY__PACKET_TYPE__STREAM, 8, FERRY__PACKET_STATUS__OK, NULL);
    raw_send(&r, PROC, FERRY__PACKET_TYPE__STREAM, 8, FERRY__PACKET_STATUS__CONTINUE, little);
    raw_expect_abort(&r, 8, "refused 10 bytes of data after the end");
    g_free(test_log_wait("stream 8 of CONNECT_MIGRATE_PROBE: refused 10 bytes of data after"));
    check_server_failed(context, s8, "stream 8 of CONNECT_MIGRATE_PROBE: refused 10 bytes");

    /* A WINDOW that does not decode. */
    s9 = raw_open(&r, 9);
    raw_send(&r, PROC, FERRY__PACKET_TYPE__STREAM, 9, FERRY__PACKET_STATUS__WINDOW, bad_window);
    raw_expect_abort(&r, 9, "refused a malformed WINDOW packet");
    check_server_failed(context, s9, "stream 9 of CONNECT_MIGRATE_PROBE: refused a malformed");
    raw_call_works(&r, 10);
    g_assert_cmpuint(test_server_n_clients(ts), ==, 1);

    g_clear_object(&r.conn);
    ferry_rpc_decoder_free(r.dec);
    test_server_wait_n_clients(ts, 0);
    test_server_stop(ts);
    test_log_clear();
    g_clear_pointer(&s5, ferry_rpc_stream_unref);
    g_clear_pointer(&s8, ferry_rpc_stream_unref);
    g_clear_pointer(&s9, ferry_rpc_stream_unref);
    test_context_pop(context);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_log_init();
    handler_state.streams = g_async_queue_new_full((GDestroyNotify)ferry_rpc_stream_unref);

    g_test_add_func("/rpc/stream/both-ways", test_both_ways);
    g_test_add_func("/rpc/stream/orderly-end", test_orderly_end);
    g_test_add_func("/rpc/stream/client-aborts", test_client_aborts);
    g_test_add_func("/rpc/stream/server-aborts", test_server_aborts);
    g_test_add_func("/rpc/stream/connection-closed", test_connection_closed);
    g_test_add_func("/rpc/stream/server-gone", test_server_gone);
    g_test_add_func("/rpc/stream/call-fails", test_call_fails);
    g_test_add_func("/rpc/stream/call-opens-none", test_call_opens_none);
    g_test_add_func("/rpc/stream/refusals", test_refusals);
    return g_test_run();
}
