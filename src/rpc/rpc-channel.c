/*
 * rpc-channel.c: reading, writing and keepalive of one connection.
 *
 * Owns: the read loop, the write queue and the keepalive timer of a
 * GIOStream on a GMainContext.  Must not interpret calls or events.
 *
 * Threads and locking: `lock` guards the write queue and `closed`; every
 * other field belongs to the context's thread.  Work asked from another
 * thread (flushing, closing) is moved into the context with
 * g_main_context_invoke_full(), holding a reference.  Each outstanding
 * asynchronous operation holds a reference too and counts in `busy`; the
 * stream is closed once the last of them came back after a close.
 */
#include "ferry-config.h"

#include "rpc/rpc-channel.h"

#define READ_CHUNK (64 * 1024)
#define DEFAULT_KEEPALIVE_COUNT 5

struct ferry_rpc_channel {
    gint ref;
    GIOStream *stream;
    GMainContext *context;
    GCancellable *cancellable;
    ferry_rpc_channel_config config;
    ferry_rpc_decoder *decoder;
    ferry_rpc_packet_func on_packet;
    ferry_rpc_closed_func on_closed;
    gpointer user_data;

    GMutex lock;
    GQueue out;                 /* GBytes*, guarded by lock */
    gsize queued;               /* bytes in `out`, guarded by lock */
    gboolean flushing;          /* a flush is scheduled or running; lock */
    gboolean closed;            /* lock */

    /* context only */
    guint8 *readbuf;
    GBytes *writing;            /* the frame being written */
    guint busy;
    gboolean stream_closed;
    gint64 last_rx_us;
    guint missed_pings;
    GSource *keepalive;
    GSource *frame_timer;       /* runs while the peer is in the middle of a frame */
};

static void close_in_context(ferry_rpc_channel *chan, GError *reason);
static void stop_frame_timer(ferry_rpc_channel *chan);

ferry_rpc_channel *
ferry_rpc_channel_new(GIOStream *stream, GMainContext *context,
                      const ferry_rpc_channel_config *config,
                      ferry_rpc_packet_func on_packet, ferry_rpc_closed_func on_closed,
                      gpointer user_data)
{
    ferry_rpc_channel *chan = g_new0(ferry_rpc_channel, 1);

    chan->ref = 1;
    chan->stream = g_object_ref(stream);
    chan->context = g_main_context_ref(context);
    chan->cancellable = g_cancellable_new();
    if (config)
        chan->config = *config;
    if (!chan->config.max_frame)
        chan->config.max_frame = FERRY_RPC_DEFAULT_MAX_FRAME;
    if (!chan->config.max_queued)
        chan->config.max_queued = 4 * chan->config.max_frame;
    if (!chan->config.keepalive_count)
        chan->config.keepalive_count = DEFAULT_KEEPALIVE_COUNT;
    chan->decoder = ferry_rpc_decoder_new(chan->config.max_frame);
    chan->on_packet = on_packet;
    chan->on_closed = on_closed;
    chan->user_data = user_data;
    g_mutex_init(&chan->lock);
    g_queue_init(&chan->out);
    chan->readbuf = g_malloc(READ_CHUNK);
    return chan;
}

ferry_rpc_channel *
ferry_rpc_channel_ref(ferry_rpc_channel *chan)
{
    g_atomic_int_inc(&chan->ref);
    return chan;
}

void
ferry_rpc_channel_unref(ferry_rpc_channel *chan)
{
    if (!chan || !g_atomic_int_dec_and_test(&chan->ref))
        return;
    /* Every outstanding operation holds a reference: none is left. */
    if (chan->keepalive) {
        g_source_destroy(chan->keepalive);
        g_source_unref(chan->keepalive);
    }
    stop_frame_timer(chan);
    g_queue_clear_full(&chan->out, (GDestroyNotify)g_bytes_unref);
    g_clear_pointer(&chan->writing, g_bytes_unref);
    g_mutex_clear(&chan->lock);
    ferry_rpc_decoder_free(chan->decoder);
    g_free(chan->readbuf);
    g_object_unref(chan->cancellable);
    g_object_unref(chan->stream);
    g_main_context_unref(chan->context);
    g_free(chan);
}

gboolean
ferry_rpc_channel_is_closed(ferry_rpc_channel *chan)
{
    gboolean closed;

    g_mutex_lock(&chan->lock);
    closed = chan->closed;
    g_mutex_unlock(&chan->lock);
    return closed;
}

gsize
ferry_rpc_channel_get_queued(ferry_rpc_channel *chan)
{
    gsize queued;

    g_mutex_lock(&chan->lock);
    queued = chan->queued;
    g_mutex_unlock(&chan->lock);
    return queued;
}

gboolean
ferry_rpc_channel_is_busy(ferry_rpc_channel *chan)
{
    return chan->busy > 0;
}

/* Closes the stream itself once nothing uses it any more. */
static void
finish_close(ferry_rpc_channel *chan)
{
    if (chan->busy > 0 || chan->stream_closed)
        return;
    chan->stream_closed = TRUE;
    g_io_stream_close(chan->stream, NULL, NULL);
}

/* Runs @func(@chan) in the channel's context with a reference held. */
static void
invoke_in_context(ferry_rpc_channel *chan, GSourceFunc func)
{
    g_main_context_invoke_full(chan->context, G_PRIORITY_DEFAULT, func,
                               ferry_rpc_channel_ref(chan),
                               (GDestroyNotify)ferry_rpc_channel_unref);
}

/* ------------------------------------------------------------------------ */
/* Writing                                                                   */
/* ------------------------------------------------------------------------ */

static void flush(ferry_rpc_channel *chan);

static void
write_done(GObject *source, GAsyncResult *result, gpointer data)
{
    g_autoptr(ferry_rpc_channel) chan = data;
    g_autoptr(GError) local = NULL;
    gboolean ok = g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result,
                                                   NULL, &local);
    gsize size = g_bytes_get_size(chan->writing);

    chan->busy--;
    g_clear_pointer(&chan->writing, g_bytes_unref);
    if (!ok) {
        if (!g_error_matches(local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            close_in_context(chan, g_error_new(FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED,
                                               "writing to the peer failed: %s",
                                               local->message));
        finish_close(chan);
        return;
    }
    g_mutex_lock(&chan->lock);
    chan->queued -= size;
    g_mutex_unlock(&chan->lock);
    flush(chan);
}

/* Starts writing the next queued frame, if any and none is being written. */
static void
flush(ferry_rpc_channel *chan)
{
    gconstpointer data;
    gsize size;

    if (chan->writing)
        return;
    g_mutex_lock(&chan->lock);
    chan->writing = chan->closed ? NULL : g_queue_pop_head(&chan->out);
    if (!chan->writing)
        chan->flushing = FALSE;
    g_mutex_unlock(&chan->lock);
    if (!chan->writing)
        return;

    data = g_bytes_get_data(chan->writing, &size);
    chan->busy++;
    g_main_context_push_thread_default(chan->context);
    g_output_stream_write_all_async(g_io_stream_get_output_stream(chan->stream),
                                    data, size, G_PRIORITY_DEFAULT, chan->cancellable,
                                    write_done, ferry_rpc_channel_ref(chan));
    g_main_context_pop_thread_default(chan->context);
}

static gboolean
flush_cb(gpointer data)
{
    flush(data);
    return G_SOURCE_REMOVE;
}

static gboolean
close_stuck_cb(gpointer data)
{
    ferry_rpc_channel *chan = data;

    close_in_context(chan, g_error_new(FERRY_ERROR, FERRY_ERROR_LIMIT,
                                       "more than %" G_GSIZE_FORMAT " bytes wait to be "
                                       "written to a peer that does not read them",
                                       chan->config.max_queued));
    return G_SOURCE_REMOVE;
}

gboolean
ferry_rpc_channel_send(ferry_rpc_channel *chan, GBytes *frame)
{
    gboolean start_flush = FALSE;
    gboolean stuck = FALSE;

    g_mutex_lock(&chan->lock);
    if (chan->closed) {
        g_mutex_unlock(&chan->lock);
        return FALSE;
    }
    if (chan->queued + g_bytes_get_size(frame) > chan->config.max_queued) {
        stuck = TRUE;
    } else {
        g_queue_push_tail(&chan->out, g_bytes_ref(frame));
        chan->queued += g_bytes_get_size(frame);
        if (!chan->flushing)
            start_flush = chan->flushing = TRUE;
    }
    g_mutex_unlock(&chan->lock);

    if (stuck) {
        /* Always from a source, never at once: a sender (a stream) may hold
         * its own lock here, which the closed callback takes. */
        g_autoptr(GSource) idle = g_idle_source_new();

        g_source_set_callback(idle, close_stuck_cb, ferry_rpc_channel_ref(chan),
                              (GDestroyNotify)ferry_rpc_channel_unref);
        g_source_attach(idle, chan->context);
        return FALSE;
    }
    if (start_flush)
        invoke_in_context(chan, flush_cb);
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                   */
/* ------------------------------------------------------------------------ */

static void start_read(ferry_rpc_channel *chan);

static void
send_keepalive(ferry_rpc_channel *chan, Ferry__Procedure procedure)
{
    g_autoptr(GBytes) frame = ferry_rpc_frame_new(procedure, FERRY__PACKET_TYPE__EVENT, 0,
                                                  FERRY__PACKET_STATUS__OK, NULL);

    ferry_rpc_channel_send(chan, frame);
}

/* Hands out every complete packet buffered, counting them in
 * @ret_delivered; FALSE once the channel closed. */
static gboolean
deliver_packets(ferry_rpc_channel *chan, guint *ret_delivered)
{
    for (;;) {
        g_autoptr(Ferry__Packet) packet = NULL;
        GError *err = NULL;

        if (!ferry_rpc_decoder_next(chan->decoder, &packet, &err)) {
            close_in_context(chan, err);
            return FALSE;
        }
        if (!packet)
            return TRUE;
        (*ret_delivered)++;
        if (packet->type == FERRY__PACKET_TYPE__EVENT &&
            packet->procedure == FERRY__PROCEDURE__KEEPALIVE_PING) {
            send_keepalive(chan, FERRY__PROCEDURE__KEEPALIVE_PONG);
            continue;
        }
        if (packet->type == FERRY__PACKET_TYPE__EVENT &&
            packet->procedure == FERRY__PROCEDURE__KEEPALIVE_PONG)
            continue;
        chan->on_packet(chan, packet, chan->user_data);
        if (ferry_rpc_channel_is_closed(chan))
            return FALSE;
    }
}

static void
stop_frame_timer(ferry_rpc_channel *chan)
{
    if (!chan->frame_timer)
        return;
    g_source_destroy(chan->frame_timer);
    g_clear_pointer(&chan->frame_timer, g_source_unref);
}

static gboolean
frame_timeout_cb(gpointer data)
{
    ferry_rpc_channel *chan = data;
    gsize have = 0;
    gsize want = 0;
    GError *reason;

    ferry_rpc_decoder_get_partial(chan->decoder, &have, &want);
    if (want > 0)
        reason = g_error_new(FERRY_ERROR, FERRY_ERROR_TIMEOUT,
                             "the peer began a frame %u ms ago and sent only %" G_GSIZE_FORMAT
                             " of its %" G_GSIZE_FORMAT " bytes", chan->config.frame_timeout_ms,
                             have, want);
    else
        reason = g_error_new(FERRY_ERROR, FERRY_ERROR_TIMEOUT,
                             "the peer began a frame %u ms ago and sent only %" G_GSIZE_FORMAT
                             " of the %u bytes of its length", chan->config.frame_timeout_ms,
                             have, FERRY_RPC_HEADER_SIZE);
    /* Destroys this source first. */
    close_in_context(chan, reason);
    return G_SOURCE_REMOVE;
}

/*
 * After a read: a frame left unfinished must be finished within the frame
 * timeout, counted from its first byte -- so the timer starts with a new
 * frame (@delivered: the read completed at least one) and not with each
 * byte, which is how a peer sending one byte now and then is caught.
 */
static void
watch_frame(ferry_rpc_channel *chan, gboolean delivered)
{
    if (!chan->config.frame_timeout_ms)
        return;
    if (!ferry_rpc_decoder_get_partial(chan->decoder, NULL, NULL)) {
        stop_frame_timer(chan);
        return;
    }
    if (chan->frame_timer && !delivered)
        return;
    stop_frame_timer(chan);
    chan->frame_timer = g_timeout_source_new(chan->config.frame_timeout_ms);
    g_source_set_name(chan->frame_timer, "ferry-rpc-frame-timeout");
    /* The source does not own the channel: close destroys it first. */
    g_source_set_callback(chan->frame_timer, frame_timeout_cb, chan, NULL);
    g_source_attach(chan->frame_timer, chan->context);
}

static void
read_done(GObject *source, GAsyncResult *result, gpointer data)
{
    g_autoptr(ferry_rpc_channel) chan = data;
    g_autoptr(GError) local = NULL;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, &local);
    guint delivered = 0;

    chan->busy--;
    if (ferry_rpc_channel_is_closed(chan)) {
        finish_close(chan);
        return;
    }
    if (n < 0) {
        close_in_context(chan, g_error_new(FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED,
                                           "reading from the peer failed: %s",
                                           local->message));
        finish_close(chan);
        return;
    }
    if (n == 0) {
        GError *err = NULL;

        if (ferry_rpc_decoder_finish(chan->decoder, &err))
            err = g_error_new(FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED,
                              "the peer closed the connection");
        close_in_context(chan, err);
        finish_close(chan);
        return;
    }

    chan->last_rx_us = g_get_monotonic_time();
    chan->missed_pings = 0;
    ferry_rpc_decoder_feed(chan->decoder, chan->readbuf, (gsize)n);
    if (deliver_packets(chan, &delivered)) {
        watch_frame(chan, delivered > 0);
        start_read(chan);
    }
    finish_close(chan);
}

static void
start_read(ferry_rpc_channel *chan)
{
    chan->busy++;
    g_main_context_push_thread_default(chan->context);
    g_input_stream_read_async(g_io_stream_get_input_stream(chan->stream), chan->readbuf,
                              READ_CHUNK, G_PRIORITY_DEFAULT, chan->cancellable,
                              read_done, ferry_rpc_channel_ref(chan));
    g_main_context_pop_thread_default(chan->context);
}

/* ------------------------------------------------------------------------ */
/* Keepalive, start and close                                                */
/* ------------------------------------------------------------------------ */

static gboolean
keepalive_tick(gpointer data)
{
    ferry_rpc_channel *chan = data;
    gint64 idle_ms = (g_get_monotonic_time() - chan->last_rx_us) / 1000;

    if (idle_ms < chan->config.keepalive_interval_ms)
        return G_SOURCE_CONTINUE;
    if (chan->missed_pings >= chan->config.keepalive_count) {
        close_in_context(chan, g_error_new(FERRY_ERROR, FERRY_ERROR_TIMEOUT,
                                           "the peer answered none of %u keepalive "
                                           "pings in %" G_GINT64_FORMAT " ms",
                                           chan->missed_pings, idle_ms));
        return G_SOURCE_CONTINUE;    /* close_in_context destroyed the source */
    }
    chan->missed_pings++;
    send_keepalive(chan, FERRY__PROCEDURE__KEEPALIVE_PING);
    return G_SOURCE_CONTINUE;
}

void
ferry_rpc_channel_start(ferry_rpc_channel *chan)
{
    chan->last_rx_us = g_get_monotonic_time();
    if (chan->config.keepalive_interval_ms) {
        chan->keepalive = g_timeout_source_new(chan->config.keepalive_interval_ms);
        g_source_set_name(chan->keepalive, "ferry-rpc-keepalive");
        /* The source does not own the channel: close destroys it first. */
        g_source_set_callback(chan->keepalive, keepalive_tick, chan, NULL);
        g_source_attach(chan->keepalive, chan->context);
    }
    start_read(chan);
}

static void
close_in_context(ferry_rpc_channel *chan, GError *reason)
{
    g_autoptr(GError) owned = reason;
    g_autoptr(ferry_rpc_channel) hold = ferry_rpc_channel_ref(chan);
    GSocket *socket;

    g_mutex_lock(&chan->lock);
    if (chan->closed) {
        g_mutex_unlock(&chan->lock);
        return;
    }
    chan->closed = TRUE;
    g_queue_clear_full(&chan->out, (GDestroyNotify)g_bytes_unref);
    chan->queued = 0;
    g_mutex_unlock(&chan->lock);

    if (chan->keepalive) {
        g_source_destroy(chan->keepalive);
        g_clear_pointer(&chan->keepalive, g_source_unref);
    }
    stop_frame_timer(chan);
    g_cancellable_cancel(chan->cancellable);
    /* The peer sees the end at once; the descriptor is closed when the
     * cancelled operations have come back. */
    if (G_IS_SOCKET_CONNECTION(chan->stream)) {
        socket = g_socket_connection_get_socket(G_SOCKET_CONNECTION(chan->stream));
        g_socket_shutdown(socket, TRUE, TRUE, NULL);
    }
    finish_close(chan);

    if (!owned)
        owned = g_error_new(FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED,
                            "the connection was closed by this side");
    chan->on_closed(chan, owned, chan->user_data);
    chan->on_packet = NULL;
    chan->on_closed = NULL;
    chan->user_data = NULL;
}

typedef struct {
    ferry_rpc_channel *chan;
    GError *reason;
} close_request;

static gboolean
close_request_cb(gpointer data)
{
    close_request *req = data;

    close_in_context(req->chan, g_steal_pointer(&req->reason));
    return G_SOURCE_REMOVE;
}

static void
close_request_free(gpointer data)
{
    close_request *req = data;

    ferry_rpc_channel_unref(req->chan);
    if (req->reason)
        g_error_free(req->reason);
    g_free(req);
}

void
ferry_rpc_channel_close(ferry_rpc_channel *chan, GError *reason)
{
    close_request *req = g_new0(close_request, 1);

    req->chan = ferry_rpc_channel_ref(chan);
    req->reason = reason;
    g_main_context_invoke_full(chan->context, G_PRIORITY_DEFAULT, close_request_cb, req,
                               close_request_free);
}
