/*
 * stream-test-util.c: pumps that write and read test streams, and waits.
 * Each pump's next operation starts from the callback of the previous one:
 * the streams' flow control alone paces them.
 */
#include "ferry-config.h"

#include <string.h>

#include "stream-test-util.h"

#define WAIT_LIMIT_US (120 * G_USEC_PER_SEC)

/* xorshift32: cheap, and the same on both sides. */
static void
fill(guint32 *state, guint8 *buf, gsize len)
{
    guint32 x = *state;

    for (gsize i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (guint8)x;
    }
    *state = x;
}

void
stream_pump_init(stream_pump *p, ferry_rpc_stream *stream)
{
    memset(p, 0, sizeof(*p));
    p->stream = ferry_rpc_stream_ref(stream);
    p->sum_out = g_checksum_new(G_CHECKSUM_SHA256);
    p->sum_in = g_checksum_new(G_CHECKSUM_SHA256);
}

void
stream_pump_clear(stream_pump *p)
{
    g_clear_pointer(&p->stream, ferry_rpc_stream_unref);
    g_clear_error(&p->write_error);
    g_clear_error(&p->read_error);
    g_clear_pointer(&p->sum_out, g_checksum_free);
    g_clear_pointer(&p->sum_in, g_checksum_free);
}

static void write_next(stream_pump *p);

static void
write_cb(GObject *source, GAsyncResult *result, gpointer data)
{
    stream_pump *p = data;

    g_assert_null(source);
    if (!ferry_rpc_stream_write_finish(p->stream, result, &p->write_error))
        return;
    p->written += MIN(p->block, p->to_write - p->written);
    write_next(p);
}

static void
write_next(stream_pump *p)
{
    gsize n = (gsize)MIN((guint64)p->block, p->to_write - p->written);
    g_autoptr(GBytes) data = NULL;
    guint8 *buf;

    if (n == 0) {
        if (ferry_rpc_stream_end(p->stream, &p->write_error))
            p->write_done = TRUE;
        return;
    }
    buf = g_malloc(n);
    fill(&p->gen, buf, n);
    g_checksum_update(p->sum_out, buf, n);
    data = g_bytes_new_take(buf, n);
    ferry_rpc_stream_write_async(p->stream, data, NULL, write_cb, p);
}

void
stream_pump_start_write(stream_pump *p, guint64 total, gsize block, guint32 seed)
{
    p->to_write = total;
    p->block = block;
    p->seed = seed;
    p->gen = seed;
    write_next(p);
}

static void read_next(stream_pump *p, gsize max, gboolean continuous);

static void
read_cb(GObject *source, GAsyncResult *result, gpointer data)
{
    stream_pump *p = data;
    g_autoptr(GBytes) bytes = ferry_rpc_stream_read_finish(p->stream, result, &p->read_error);
    gsize n;

    p->reading = FALSE;
    if (!bytes)
        return;
    n = g_bytes_get_size(bytes);
    if (n == 0) {
        p->eof = TRUE;
        return;
    }
    g_assert_cmpuint(n, <=, p->read_max);
    g_checksum_update(p->sum_in, g_bytes_get_data(bytes, NULL), n);
    p->read_bytes += n;
    if (p->on_read)
        p->on_read(n, p->on_read_data);
    if (p->continuous)
        read_next(p, p->read_max, TRUE);
}

/* Starts a read; @continuous: the callback starts the next one. */
static void
read_next(stream_pump *p, gsize max, gboolean continuous)
{
    p->read_max = max;
    p->continuous = continuous;
    p->reading = TRUE;
    ferry_rpc_stream_read_async(p->stream, max, NULL, read_cb, p);
}

void
stream_pump_start_read(stream_pump *p, gsize max)
{
    read_next(p, max, TRUE);
}

void
stream_pump_read_once(stream_pump *p, gsize max)
{
    read_next(p, max, FALSE);
}

gboolean
stream_pump_failed(gpointer data)
{
    stream_pump *p = data;

    return p->read_error != NULL || p->write_error != NULL;
}

gboolean
stream_pump_read_pending(stream_pump *p)
{
    return p->reading;
}

char *
stream_expected_sum(guint64 total, guint32 seed)
{
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_autofree guint8 *buf = g_malloc(1024 * 1024);
    guint32 state = seed;

    while (total > 0) {
        gsize n = (gsize)MIN(total, (guint64)1024 * 1024);

        fill(&state, buf, n);
        g_checksum_update(sum, buf, n);
        total -= n;
    }
    return g_strdup(g_checksum_get_string(sum));
}

char *
stream_pump_read_sum(stream_pump *p)
{
    return g_strdup(g_checksum_get_string(p->sum_in));
}

static gboolean
tick_cb(gpointer data)
{
    return G_SOURCE_CONTINUE;
}

void
stream_wait(GMainContext *context, gboolean (*done)(gpointer data), gpointer data)
{
    gint64 end = g_get_monotonic_time() + WAIT_LIMIT_US;
    /* Only so that the bound is checked while nothing happens: the
     * streams' callbacks are what the loop waits for. */
    g_autoptr(GSource) tick = g_timeout_source_new_seconds(1);

    g_source_set_callback(tick, tick_cb, NULL, NULL);
    g_source_attach(tick, context);
    while (!done(data)) {
        if (g_get_monotonic_time() > end)
            g_error("a stream test waited 120 s for its condition");
        g_main_context_iteration(context, TRUE);
    }
    g_source_destroy(tick);
}

static gboolean
flag_set(gpointer data)
{
    return *(const gboolean *)data;
}

void
stream_wait_flag(GMainContext *context, const gboolean *flag)
{
    stream_wait(context, flag_set, (gpointer)flag);
}

typedef struct {
    gboolean done;
    GError *error;
} write_outcome;

static void
write_once_cb(GObject *source, GAsyncResult *result, gpointer data)
{
    write_outcome *w = data;
    ferry_rpc_stream *stream = g_task_get_task_data(G_TASK(result));

    ferry_rpc_stream_write_finish(stream, result, &w->error);
    w->done = TRUE;
}

GError *
stream_write_wait(GMainContext *context, ferry_rpc_stream *stream, GBytes *data)
{
    write_outcome w = { 0 };

    ferry_rpc_stream_write_async(stream, data, NULL, write_once_cb, &w);
    stream_wait_flag(context, &w.done);
    return w.error;
}

void
stream_assert_error(const GError *error, gint code, const char *part)
{
    g_assert_nonnull(error);
    g_test_message("error: %s", error->message);
    g_assert_error(error, FERRY_ERROR, code);
    if (!strstr(error->message, part))
        g_error("'%s' does not contain '%s'", error->message, part);
}
