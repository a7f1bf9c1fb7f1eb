/*
 * rpc-stream.c: the streams of one connection and their flow control.
 *
 * Owns: each stream's state -- what the peer granted and what this side
 * sent, what arrived and what the application read, the ends and the
 * failure -- the pending read and write, and the table mapping serials to
 * open streams.  Must not do I/O other than queueing frames on the channel,
 * must not interpret procedures, and must not log.
 *
 * Threads and locking: one lock per table guards the table and every field
 * of its streams.  Frames are queued on the channel with the lock held, so
 * that the packets of a stream leave in the order its state changed
 * (ferry_rpc_channel_send() never calls back into its owner).  GTasks are
 * returned after the lock is released (deliver()), since a callback may
 * run at once and call back in.  The table's hash holds its streams
 * without a reference: a stream whose last reference goes takes itself out
 * under the lock, and every pending operation holds a reference, so a
 * stream found in the table with the lock held is alive.
 */
#include "ferry-config.h"

#include "rpc/rpc-stream.h"

/* Room for a STREAM packet's header fields around its data. */
#define PACKET_OVERHEAD 64

/* How many ended streams a table remembers, to drop quietly what their
 * peers sent before they learnt of the end. */
#define REMEMBERED_ENDS 64

struct ferry_rpc_stream_table {
    gint ref;                   /* atomic: the owner's and one per stream */
    GMutex lock;
    ferry_rpc_channel *chan;
    gsize max_frame;
    guint max_streams;
    ferry_rpc_stream_refusal_func on_refusal;
    gpointer user_data;
    GHashTable *streams;        /* serial -> open ferry_rpc_stream*, not referenced */
    GHashTable *ended;          /* serials of streams that ended lately (a set) */
    GQueue ended_order;         /* the same serials, oldest first */
    GError *closed;             /* why the connection ended, once it has */
};

/* A read or a write waiting for data or for the peer's window. */
typedef struct {
    GTask *task;                /* holds a reference on the stream (task data) */
    GCancellable *cancellable;
    gulong cancel_handler;
    GBytes *data;               /* a write's data, sent up to `offset` */
    gsize offset;
    gsize max;                  /* a read's limit */
} pending_op;

struct ferry_rpc_stream {
    gint ref;                   /* atomic */
    ferry_rpc_stream_table *table; /* a reference; NULL for a failed-at-birth stream */
    guint32 procedure;
    guint32 serial;
    char *desc;
    gsize window;               /* what this side grants the peer in all */
    gsize chunk;
    gboolean caller;

    /* The rest: table lock (no lock for a failed-at-birth stream). */
    gboolean in_table;
    gboolean peer_opened;       /* the peer's first WINDOW came */
    gboolean granted;           /* this side's first WINDOW went */
    gsize peer_window;          /* the peer's first grant: its window */
    guint64 credit;             /* bytes this side may still send */
    guint64 allowed;            /* bytes the peer may still send */
    gsize unreturned;           /* bytes read by the application, not granted back */
    GQueue inbox;               /* GBytes* received, the head read from `inbox_offset` */
    gsize inbox_offset;
    gboolean sent_end;
    gboolean got_end;
    /* The caller side, before the peer opened its end: what waits for the
     * peer's first WINDOW, since the peer could not place it before. */
    gboolean end_unsent;
    GBytes *abort_unsent;       /* an Error body; the stream stays in the table */
    GError *failed;             /* set once: every later operation gets a copy */
    pending_op *read;
    pending_op *write;
    gboolean waiting_window;    /* the pending write's stop is counted in window_waits */
    ferry_rpc_stream_stats stats;
};

/* A GTask to return once the lock is released, with its outcome. */
typedef struct {
    GTask *task;
    GBytes *bytes;              /* a read's data */
    GError *error;
    GCancellable *cancellable;  /* still connected: disconnected in deliver() */
    gulong cancel_handler;
} completion;

/* ------------------------------------------------------------------------ */
/* Completions                                                               */
/* ------------------------------------------------------------------------ */

static void
completion_clear(gpointer data)
{
    completion *c = data;

    g_clear_object(&c->task);
    g_clear_object(&c->cancellable);
    g_clear_pointer(&c->bytes, g_bytes_unref);
    g_clear_error(&c->error);
}

static GArray *
completions_new(void)
{
    GArray *done = g_array_new(FALSE, TRUE, sizeof(completion));

    g_array_set_clear_func(done, completion_clear);
    return done;
}

/* Takes @op out of its stream and queues its task's outcome in @done: a
 * read's @bytes or @error (both taken; neither means a completed write). */
static void
complete_op(pending_op *op, GBytes *bytes, GError *error, GArray *done)
{
    /* The cancellable stays connected until deliver(), without the lock:
     * disconnecting waits for a handler running in another thread. */
    completion c = { g_steal_pointer(&op->task), bytes, error,
                     g_steal_pointer(&op->cancellable), op->cancel_handler };

    g_array_append_val(done, c);
    g_clear_pointer(&op->data, g_bytes_unref);
    g_free(op);
}

/* Without the lock: returns the tasks of @done. */
static void
deliver(GArray *done)
{
    for (guint i = 0; i < done->len; i++) {
        completion *c = &g_array_index(done, completion, i);

        if (c->cancellable)
            g_cancellable_disconnect(c->cancellable, c->cancel_handler);
        if (c->error)
            g_task_return_error(c->task, g_steal_pointer(&c->error));
        else if (c->bytes)
            g_task_return_pointer(c->task, g_steal_pointer(&c->bytes),
                                  (GDestroyNotify)g_bytes_unref);
        else
            g_task_return_boolean(c->task, TRUE);
    }
    g_array_set_size(done, 0);
}

/* ------------------------------------------------------------------------ */
/* Sending                                                                   */
/* ------------------------------------------------------------------------ */

/* Queues a STREAM packet; a closed channel drops it, and its closed
 * callback fails the streams. */
static void
send_on(ferry_rpc_stream_table *table, guint32 procedure, guint32 serial,
        Ferry__PacketStatus status, GBytes *body)
{
    g_autoptr(GBytes) frame = ferry_rpc_frame_new(procedure, FERRY__PACKET_TYPE__STREAM, serial,
                                                  status, body);

    ferry_rpc_channel_send(table->chan, frame);
}

static void
send_packet(ferry_rpc_stream *stream, Ferry__PacketStatus status, GBytes *body)
{
    send_on(stream->table, stream->procedure, stream->serial, status, body);
}


/* Grants the peer @grant bytes more. */
static void
send_window(ferry_rpc_stream *stream, gsize grant)
{
    Ferry__StreamWindow msg = FERRY__STREAM_WINDOW__INIT;
    g_autoptr(GBytes) body = NULL;

    msg.has_grant = TRUE;
    msg.grant = grant;
    body = ferry_rpc_message_pack(&msg.base);
    send_packet(stream, FERRY__PACKET_STATUS__WINDOW, body);
    stream->allowed += grant;
}

static void
update_in_flight(ferry_rpc_stream *stream)
{
    ferry_rpc_stream_stats *st = &stream->stats;

    st->in_flight = stream->credit >= stream->peer_window
                    ? 0 : stream->peer_window - (gsize)stream->credit;
    st->max_in_flight = MAX(st->max_in_flight, st->in_flight);
}

/* ------------------------------------------------------------------------ */
/* State changes, with the lock held                                        */
/* ------------------------------------------------------------------------ */

/*
 * A stream leaves the table when it ended; its serial is remembered for a
 * while.  When one side aborts, the other may have sent data, a window or
 * its own abort before it learnt of it: those are dropped quietly rather
 * than refused as packets for an unknown stream (which would log, and
 * answer an abort with another).
 */
static void
remove_locked(ferry_rpc_stream *stream)
{
    ferry_rpc_stream_table *table = stream->table;
    gpointer key = GUINT_TO_POINTER(stream->serial);

    if (!stream->in_table)
        return;
    stream->in_table = FALSE;
    g_hash_table_remove(table->streams, key);
    if (!g_hash_table_add(table->ended, key))
        return;
    g_queue_push_tail(&table->ended_order, key);
    if (g_queue_get_length(&table->ended_order) > REMEMBERED_ENDS)
        g_hash_table_remove(table->ended, g_queue_pop_head(&table->ended_order));
}

/* The stream is over once both directions ended: the serial is free. */
static void
check_over_locked(ferry_rpc_stream *stream)
{
    if (stream->sent_end && stream->got_end && !stream->end_unsent)
        remove_locked(stream);
}

/*
 * Fails @stream with @error (taken) unless it failed already: its pending
 * operations get the error, its buffered data goes.  It leaves the table,
 * unless an abort waits there for the peer to open its end.
 */
static void
fail_locked(ferry_rpc_stream *stream, GError *error, GArray *done)
{
    if (stream->failed) {
        g_error_free(error);
        return;
    }
    stream->failed = error;
    g_queue_clear_full(&stream->inbox, (GDestroyNotify)g_bytes_unref);
    stream->inbox_offset = 0;
    stream->stats.buffered = 0;
    if (stream->read)
        complete_op(g_steal_pointer(&stream->read), NULL, g_error_copy(error), done);
    if (stream->write)
        complete_op(g_steal_pointer(&stream->write), NULL, g_error_copy(error), done);
    if (!stream->abort_unsent)
        remove_locked(stream);
}

/* Completes the pending read if there is something to give it. */
static void
pump_read_locked(ferry_rpc_stream *stream, GArray *done)
{
    pending_op *op = stream->read;
    GBytes *head;
    GBytes *slice;
    gsize size;
    gsize n;

    if (!op || stream->failed)
        return;
    head = g_queue_peek_head(&stream->inbox);
    if (!head) {
        if (stream->got_end)
            complete_op(g_steal_pointer(&stream->read), g_bytes_new(NULL, 0), NULL, done);
        return;
    }
    size = g_bytes_get_size(head);
    n = MIN(size - stream->inbox_offset, op->max);
    slice = g_bytes_new_from_bytes(head, stream->inbox_offset, n);
    stream->inbox_offset += n;
    if (stream->inbox_offset == size) {
        g_bytes_unref(g_queue_pop_head(&stream->inbox));
        stream->inbox_offset = 0;
    }
    stream->stats.buffered -= n;
    stream->unreturned += n;
    /* Room goes back in quarters of the window, not per read: the sender
     * still has three quarters to go on meanwhile.  None after the peer's
     * end: it sends no more, and may have forgotten the stream. */
    if (!stream->got_end && stream->unreturned >= MAX(stream->window / 4, 1)) {
        send_window(stream, stream->unreturned);
        stream->unreturned = 0;
    }
    complete_op(g_steal_pointer(&stream->read), slice, NULL, done);
}

/* Sends as much of the pending write as the peer's window allows. */
static void
pump_write_locked(ferry_rpc_stream *stream, GArray *done)
{
    pending_op *op = stream->write;
    gboolean sent;
    gsize size;

    if (!op || stream->failed)
        return;
    size = g_bytes_get_size(op->data);
    sent = FALSE;
    while (op->offset < size && stream->credit > 0) {
        gsize n = MIN(MIN(stream->chunk, size - op->offset), (gsize)stream->credit);
        g_autoptr(GBytes) slice = g_bytes_new_from_bytes(op->data, op->offset, n);
        gsize queued;

        send_packet(stream, FERRY__PACKET_STATUS__CONTINUE, slice);
        op->offset += n;
        stream->credit -= n;
        stream->stats.bytes_sent += n;
        update_in_flight(stream);
        queued = ferry_rpc_channel_get_queued(stream->table->chan);
        stream->stats.max_channel_queued = MAX(stream->stats.max_channel_queued, queued);
        sent = TRUE;
    }
    if (op->offset == size) {
        stream->waiting_window = FALSE;
        complete_op(g_steal_pointer(&stream->write), NULL, NULL, done);
        return;
    }
    /* Stopped by the window: once per stop, not per pump while stopped. */
    if (sent || !stream->waiting_window)
        stream->stats.window_waits++;
    stream->waiting_window = TRUE;
}

/* Aborts @stream from this side: the peer gets an Error body carrying
 * @wire (code and message), this side @local (taken). */
static void
abort_locked(ferry_rpc_stream *stream, const GError *wire, GError *local, GArray *done)
{
    g_autoptr(GBytes) body = ferry_rpc_error_pack(wire);

    if (stream->failed || !stream->in_table) {
        g_error_free(local);
        return;
    }
    if (stream->caller && !stream->peer_opened)
        stream->abort_unsent = g_steal_pointer(&body);
    else
        send_packet(stream, FERRY__PACKET_STATUS__ERROR, body);
    fail_locked(stream, local, done);
}

/* ------------------------------------------------------------------------ */
/* Packets from the peer                                                     */
/* ------------------------------------------------------------------------ */

/* Each returns NULL, or what is refused (a phrase, without the stream). */

static char *
receive_data(ferry_rpc_stream *stream, const Ferry__Packet *packet, GArray *done)
{
    gsize len = packet->has_body ? packet->body.len : 0;

    if (stream->got_end)
        return g_strdup_printf("refused %" G_GSIZE_FORMAT " bytes of data after the end "
                               "the peer sent", len);
    if (len == 0)
        return g_strdup("refused a data packet without data");
    if (len > stream->allowed)
        return g_strdup_printf("refused %" G_GSIZE_FORMAT " bytes of data beyond the window "
                               "(%" G_GUINT64_FORMAT " allowed)", len, stream->allowed);
    stream->allowed -= len;
    g_queue_push_tail(&stream->inbox, g_bytes_new(packet->body.data, len));
    stream->stats.bytes_received += len;
    stream->stats.buffered += len;
    stream->stats.max_buffered = MAX(stream->stats.max_buffered, stream->stats.buffered);
    pump_read_locked(stream, done);
    return NULL;
}

static char *
receive_end(ferry_rpc_stream *stream, const Ferry__Packet *packet, GArray *done)
{
    if (packet->has_body && packet->body.len > 0)
        return g_strdup_printf("refused an end packet with a body of %" G_GSIZE_FORMAT
                               " bytes", packet->body.len);
    if (stream->got_end)
        return g_strdup("refused a second end from the peer");
    stream->got_end = TRUE;
    pump_read_locked(stream, done);
    check_over_locked(stream);
    return NULL;
}

/* The peer's first WINDOW: it opened its end. */
static void
peer_opened_locked(ferry_rpc_stream *stream, guint64 grant)
{
    stream->peer_opened = TRUE;
    stream->peer_window = (gsize)grant;
    if (!stream->granted) {
        stream->granted = TRUE;
        send_window(stream, stream->window);
    }
    if (stream->end_unsent) {
        stream->end_unsent = FALSE;
        send_packet(stream, FERRY__PACKET_STATUS__OK, NULL);
    }
}

static char *
receive_window(ferry_rpc_stream *stream, const Ferry__Packet *packet, GArray *done)
{
    g_autoptr(GBytes) body = ferry_rpc_packet_body(packet);
    g_autoptr(GError) local = NULL;
    g_autoptr(ProtobufCMessage) msg = NULL;
    const Ferry__StreamWindow *win;

    msg = ferry_rpc_message_unpack(&ferry__stream_window__descriptor, body,
                                   "a WINDOW packet", &local);
    if (!msg)
        return g_strdup_printf("refused a malformed WINDOW packet: %s", local->message);
    win = (const Ferry__StreamWindow *)msg;
    if (!win->has_grant || win->grant == 0)
        return g_strdup("refused a WINDOW packet granting nothing");
    if (win->grant > FERRY_RPC_STREAM_MAX_WINDOW - MIN(stream->credit,
                                                       FERRY_RPC_STREAM_MAX_WINDOW))
        return g_strdup_printf("refused a WINDOW packet granting %" G_GUINT64_FORMAT " bytes "
                               "on top of %" G_GUINT64_FORMAT ": more than %u in all",
                               (guint64)win->grant, stream->credit,
                               FERRY_RPC_STREAM_MAX_WINDOW);
    if (!stream->peer_opened)
        peer_opened_locked(stream, win->grant);
    /* Room given back after this side's end changes nothing. */
    if (stream->sent_end)
        return NULL;
    stream->credit += win->grant;
    update_in_flight(stream);
    pump_write_locked(stream, done);
    return NULL;
}

static void
receive_abort(ferry_rpc_stream *stream, const Ferry__Packet *packet, GArray *done)
{
    g_autoptr(GBytes) body = ferry_rpc_packet_body(packet);
    g_autoptr(GError) peer = ferry_rpc_error_unpack(body, packet->procedure);

    fail_locked(stream, g_error_new(peer->domain, peer->code, "%s aborted by the peer: %s",
                                    stream->desc, peer->message), done);
}

/* Refuses a packet for a serial with no open stream; returns the sentence
 * for the owner.  An abort is never answered: both sides may have sent one. */
static char *
refuse_unknown(ferry_rpc_stream_table *table, const Ferry__Packet *packet)
{
    const char *proc = ferry_rpc_procedure_name(packet->procedure);
    g_autoptr(GError) wire = g_error_new(FERRY_ERROR, FERRY_ERROR_RPC,
                                         "refused a STREAM packet: no stream of serial %u "
                                         "is open", packet->serial);
    g_autoptr(GBytes) body = ferry_rpc_error_pack(wire);

    send_on(table, packet->procedure, packet->serial, FERRY__PACKET_STATUS__ERROR, body);
    return g_strdup_printf("stream %u of %s: %s", packet->serial, proc, wire->message);
}

void
ferry_rpc_stream_table_handle_packet(ferry_rpc_stream_table *table, const Ferry__Packet *packet)
{
    g_autoptr(GArray) done = completions_new();
    g_autofree char *refused = NULL;
    g_autofree char *report = NULL;
    ferry_rpc_stream *stream;

    g_mutex_lock(&table->lock);
    stream = g_hash_table_lookup(table->streams, GUINT_TO_POINTER(packet->serial));
    if (!stream) {
        if (packet->status != FERRY__PACKET_STATUS__ERROR &&
            !g_hash_table_contains(table->ended, GUINT_TO_POINTER(packet->serial)))
            report = refuse_unknown(table, packet);
        g_mutex_unlock(&table->lock);
        if (report && table->on_refusal)
            table->on_refusal(report, table->user_data);
        return;
    }
    if (stream->abort_unsent) {
        /* Aborted before the peer opened its end: it has now. */
        send_packet(stream, FERRY__PACKET_STATUS__ERROR, stream->abort_unsent);
        g_clear_pointer(&stream->abort_unsent, g_bytes_unref);
        remove_locked(stream);
        g_mutex_unlock(&table->lock);
        return;
    }
    if (packet->procedure != stream->procedure)
        refused = g_strdup_printf("refused a STREAM packet of procedure %s",
                                  ferry_rpc_procedure_name(packet->procedure));
    else if (packet->status == FERRY__PACKET_STATUS__CONTINUE)
        refused = receive_data(stream, packet, done);
    else if (packet->status == FERRY__PACKET_STATUS__OK)
        refused = receive_end(stream, packet, done);
    else if (packet->status == FERRY__PACKET_STATUS__WINDOW)
        refused = receive_window(stream, packet, done);
    else
        receive_abort(stream, packet, done);
    if (refused) {
        g_autoptr(GError) wire = g_error_new_literal(FERRY_ERROR, FERRY_ERROR_RPC, refused);

        report = g_strdup_printf("%s: %s", stream->desc, refused);
        abort_locked(stream, wire, g_error_new_literal(FERRY_ERROR, FERRY_ERROR_RPC, report),
                     done);
    }
    g_mutex_unlock(&table->lock);
    deliver(done);
    if (report && table->on_refusal)
        table->on_refusal(report, table->user_data);
}

/* ------------------------------------------------------------------------ */
/* The table                                                                 */
/* ------------------------------------------------------------------------ */

ferry_rpc_stream_table *
ferry_rpc_stream_table_new(ferry_rpc_channel *chan, gsize max_frame, guint max_streams,
                           ferry_rpc_stream_refusal_func on_refusal, gpointer user_data)
{
    ferry_rpc_stream_table *table = g_new0(ferry_rpc_stream_table, 1);

    table->ref = 1;
    g_mutex_init(&table->lock);
    table->chan = ferry_rpc_channel_ref(chan);
    table->max_frame = max_frame ? max_frame : FERRY_RPC_DEFAULT_MAX_FRAME;
    table->max_streams = max_streams ? max_streams : FERRY_RPC_STREAM_DEFAULT_MAX;
    table->on_refusal = on_refusal;
    table->user_data = user_data;
    table->streams = g_hash_table_new(NULL, NULL);
    table->ended = g_hash_table_new(NULL, NULL);
    g_queue_init(&table->ended_order);
    return table;
}

static ferry_rpc_stream_table *
table_ref(ferry_rpc_stream_table *table)
{
    g_atomic_int_inc(&table->ref);
    return table;
}

void
ferry_rpc_stream_table_unref(ferry_rpc_stream_table *table)
{
    if (!table || !g_atomic_int_dec_and_test(&table->ref))
        return;
    /* Every stream holds a reference: the hash is empty. */
    g_hash_table_unref(table->streams);
    g_hash_table_unref(table->ended);
    g_queue_clear(&table->ended_order);
    g_clear_error(&table->closed);
    ferry_rpc_channel_unref(table->chan);
    g_mutex_clear(&table->lock);
    g_free(table);
}

static ferry_rpc_stream *
stream_new(guint32 procedure, guint32 serial)
{
    ferry_rpc_stream *stream = g_new0(ferry_rpc_stream, 1);

    stream->ref = 1;
    stream->procedure = procedure;
    stream->serial = serial;
    stream->desc = g_strdup_printf("stream %u of %s", serial,
                                   ferry_rpc_procedure_name(procedure));
    g_queue_init(&stream->inbox);
    return stream;
}

ferry_rpc_stream *
ferry_rpc_stream_table_open(ferry_rpc_stream_table *table, guint32 procedure, guint32 serial,
                            const ferry_rpc_stream_config *config, gboolean caller,
                            GError **error)
{
    ferry_rpc_stream *stream;
    gsize max_chunk = table->max_frame - MIN(table->max_frame - 1, PACKET_OVERHEAD);

    g_mutex_lock(&table->lock);
    if (table->closed) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED,
                    "cannot open a stream for %s (serial %u): %s",
                    ferry_rpc_procedure_name(procedure), serial, table->closed->message);
        g_mutex_unlock(&table->lock);
        return NULL;
    }
    if (g_hash_table_size(table->streams) >= table->max_streams) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_LIMIT,
                    "cannot open a stream for %s (serial %u): %u streams are open on this "
                    "connection, the limit", ferry_rpc_procedure_name(procedure), serial,
                    table->max_streams);
        g_mutex_unlock(&table->lock);
        return NULL;
    }
    if (g_hash_table_contains(table->streams, GUINT_TO_POINTER(serial))) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "cannot open a stream for %s (serial %u): a stream of that serial is "
                    "open", ferry_rpc_procedure_name(procedure), serial);
        g_mutex_unlock(&table->lock);
        return NULL;
    }
    /* A serial used again is a new stream: its packets count. */
    if (g_hash_table_remove(table->ended, GUINT_TO_POINTER(serial)))
        g_queue_remove(&table->ended_order, GUINT_TO_POINTER(serial));
    stream = stream_new(procedure, serial);
    stream->table = table_ref(table);
    stream->caller = caller;
    stream->window = config && config->window ? config->window
                                              : FERRY_RPC_STREAM_DEFAULT_WINDOW;
    stream->window = MIN(stream->window, FERRY_RPC_STREAM_MAX_WINDOW);
    stream->chunk = config && config->chunk ? config->chunk : FERRY_RPC_STREAM_DEFAULT_CHUNK;
    stream->chunk = MIN(stream->chunk, max_chunk);
    stream->in_table = TRUE;
    g_hash_table_insert(table->streams, GUINT_TO_POINTER(serial), stream);
    if (!caller) {
        stream->granted = TRUE;
        send_window(stream, stream->window);
    }
    g_mutex_unlock(&table->lock);
    return stream;
}

ferry_rpc_stream *
ferry_rpc_stream_new_failed(guint32 procedure, const GError *error)
{
    ferry_rpc_stream *stream = stream_new(procedure, 0);

    stream->failed = g_error_copy(error);
    return stream;
}

void
ferry_rpc_stream_table_call_replied(ferry_rpc_stream_table *table, guint32 serial,
                                    const GError *error, gboolean caller)
{
    g_autoptr(GArray) done = completions_new();
    ferry_rpc_stream *stream;

    g_mutex_lock(&table->lock);
    stream = g_hash_table_lookup(table->streams, GUINT_TO_POINTER(serial));
    if (stream && error) {
        g_clear_pointer(&stream->abort_unsent, g_bytes_unref);
        fail_locked(stream, g_error_new(error->domain, error->code, "%s: its call failed: %s",
                                        stream->desc, error->message), done);
        remove_locked(stream);
    } else if (stream && caller && !stream->peer_opened) {
        g_clear_pointer(&stream->abort_unsent, g_bytes_unref);
        fail_locked(stream, g_error_new(FERRY_ERROR, FERRY_ERROR_RPC,
                                        "%s: the call succeeded without opening a stream",
                                        stream->desc), done);
        remove_locked(stream);
    }
    g_mutex_unlock(&table->lock);
    deliver(done);
}

void
ferry_rpc_stream_table_close_all(ferry_rpc_stream_table *table, const GError *reason)
{
    g_autoptr(GArray) done = completions_new();
    g_autoptr(GList) streams = NULL;

    g_mutex_lock(&table->lock);
    if (!table->closed)
        table->closed = g_error_copy(reason);
    /* Failing takes a stream out of the table: walk a list of them. */
    streams = g_hash_table_get_values(table->streams);
    for (GList *l = streams; l; l = l->next) {
        ferry_rpc_stream *stream = l->data;

        g_clear_pointer(&stream->abort_unsent, g_bytes_unref);
        fail_locked(stream, g_error_new(FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED,
                                        "%s: the connection ended: %s", stream->desc,
                                        reason->message), done);
        remove_locked(stream);
    }
    g_mutex_unlock(&table->lock);
    deliver(done);
}

/* ------------------------------------------------------------------------ */
/* The application's side                                                    */
/* ------------------------------------------------------------------------ */

static void
lock_stream(ferry_rpc_stream *stream)
{
    if (stream->table)
        g_mutex_lock(&stream->table->lock);
}

static void
unlock_stream(ferry_rpc_stream *stream)
{
    if (stream->table)
        g_mutex_unlock(&stream->table->lock);
}

ferry_rpc_stream *
ferry_rpc_stream_ref(ferry_rpc_stream *stream)
{
    g_atomic_int_inc(&stream->ref);
    return stream;
}

void
ferry_rpc_stream_unref(ferry_rpc_stream *stream)
{
    g_autoptr(GArray) done = NULL;

    if (!stream || !g_atomic_int_dec_and_test(&stream->ref))
        return;
    if (stream->table) {
        g_autoptr(GError) reason = g_error_new(FERRY_ERROR, FERRY_ERROR_OPERATION_ABORTED,
                                               "the application let go of it while open");

        /* No operation is pending (each holds a reference): nothing is
         * delivered, but abort_locked() wants somewhere to put it. */
        done = completions_new();
        g_mutex_lock(&stream->table->lock);
        g_clear_pointer(&stream->abort_unsent, g_bytes_unref);
        abort_locked(stream, reason, g_error_copy(reason), done);
        remove_locked(stream);
        g_mutex_unlock(&stream->table->lock);
        ferry_rpc_stream_table_unref(stream->table);
    }
    g_queue_clear_full(&stream->inbox, (GDestroyNotify)g_bytes_unref);
    g_clear_pointer(&stream->abort_unsent, g_bytes_unref);
    g_clear_error(&stream->failed);
    g_free(stream->desc);
    g_free(stream);
}

const char *
ferry_rpc_stream_get_description(ferry_rpc_stream *stream)
{
    return stream->desc;
}

guint32
ferry_rpc_stream_get_serial(ferry_rpc_stream *stream)
{
    return stream->serial;
}

gboolean
ferry_rpc_stream_is_open(ferry_rpc_stream *stream)
{
    gboolean open;

    lock_stream(stream);
    open = !stream->failed && stream->in_table;
    unlock_stream(stream);
    return open;
}

void
ferry_rpc_stream_get_stats(ferry_rpc_stream *stream, ferry_rpc_stream_stats *ret_stats)
{
    lock_stream(stream);
    *ret_stats = stream->stats;
    unlock_stream(stream);
}

/* Why @stream cannot start a @what now, or NULL. */
static GError *
refuse_op(ferry_rpc_stream *stream, const char *what, gboolean pending)
{
    if (stream->failed)
        return g_error_copy(stream->failed);
    if (pending)
        return g_error_new(FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                           "%s: a %s is pending already", stream->desc, what);
    if (stream->sent_end && g_str_equal(what, "write"))
        return g_error_new(FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                           "%s: write after this side's end", stream->desc);
    return NULL;
}

typedef struct {
    ferry_rpc_stream *stream;
    GTask *task;
} cancel_request;

static void
cancel_request_free(gpointer data)
{
    cancel_request *req = data;

    ferry_rpc_stream_unref(req->stream);
    g_object_unref(req->task);
    g_free(req);
}

/* In the task's context: aborts the stream if the cancelled operation is
 * still pending. */
static gboolean
cancel_cb(gpointer data)
{
    cancel_request *req = data;
    ferry_rpc_stream *stream = req->stream;
    g_autoptr(GArray) done = completions_new();
    const char *what = g_task_get_source_tag(req->task) == ferry_rpc_stream_read_async
                       ? "read" : "write";

    lock_stream(stream);
    if ((stream->read && stream->read->task == req->task) ||
        (stream->write && stream->write->task == req->task)) {
        g_autoptr(GError) reason = g_error_new(FERRY_ERROR, FERRY_ERROR_OPERATION_ABORTED,
                                               "the application cancelled a %s", what);

        abort_locked(stream, reason,
                     g_error_new(FERRY_ERROR, FERRY_ERROR_OPERATION_ABORTED,
                                 "%s aborted by this side: %s", stream->desc,
                                 reason->message), done);
    }
    unlock_stream(stream);
    deliver(done);
    return G_SOURCE_REMOVE;
}

/* The cancellable's signal, in whatever thread cancels, or at once when
 * connected to a cancelled one, with the lock held: only schedules. */
static void
on_cancelled(GCancellable *cancellable, gpointer data)
{
    cancel_request *template = data;
    cancel_request *req = g_new0(cancel_request, 1);
    g_autoptr(GSource) idle = g_idle_source_new();

    req->stream = ferry_rpc_stream_ref(template->stream);
    req->task = g_object_ref(template->task);
    g_source_set_callback(idle, cancel_cb, req, cancel_request_free);
    g_source_attach(idle, g_task_get_context(req->task));
}

/* Starts an operation of @tag; returns it pending (lock held) or NULL when
 * it was refused and returned already (lock released). */
static pending_op *
start_op(ferry_rpc_stream *stream, gpointer tag, GCancellable *cancellable,
         GAsyncReadyCallback callback, gpointer user_data)
{
    gboolean is_read = tag == ferry_rpc_stream_read_async;
    g_autoptr(GTask) task = g_task_new(NULL, NULL, callback, user_data);
    pending_op *op;
    GError *refused;

    g_task_set_source_tag(task, tag);
    g_task_set_task_data(task, ferry_rpc_stream_ref(stream),
                         (GDestroyNotify)ferry_rpc_stream_unref);
    lock_stream(stream);
    refused = refuse_op(stream, is_read ? "read" : "write",
                        is_read ? stream->read != NULL : stream->write != NULL);
    if (refused) {
        unlock_stream(stream);
        g_task_return_error(task, refused);
        return NULL;
    }
    op = g_new0(pending_op, 1);
    op->task = g_steal_pointer(&task);
    if (cancellable) {
        cancel_request *template = g_new0(cancel_request, 1);

        template->stream = ferry_rpc_stream_ref(stream);
        template->task = g_object_ref(op->task);
        op->cancellable = g_object_ref(cancellable);
        op->cancel_handler = g_cancellable_connect(cancellable, G_CALLBACK(on_cancelled),
                                                   template, cancel_request_free);
    }
    if (is_read)
        stream->read = op;
    else
        stream->write = op;
    return op;
}

void
ferry_rpc_stream_write_async(ferry_rpc_stream *stream, GBytes *data, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GArray) done = completions_new();
    pending_op *op = start_op(stream, ferry_rpc_stream_write_async, cancellable, callback,
                              user_data);

    if (!op)
        return;
    op->data = g_bytes_ref(data);
    pump_write_locked(stream, done);
    unlock_stream(stream);
    deliver(done);
}

gboolean
ferry_rpc_stream_write_finish(ferry_rpc_stream *stream, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, NULL), FALSE);
    g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) ==
                         ferry_rpc_stream_write_async, FALSE);
    return g_task_propagate_boolean(G_TASK(result), error);
}

void
ferry_rpc_stream_read_async(ferry_rpc_stream *stream, gsize max, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GArray) done = completions_new();
    pending_op *op;

    g_return_if_fail(max > 0);
    op = start_op(stream, ferry_rpc_stream_read_async, cancellable, callback, user_data);
    if (!op)
        return;
    op->max = max;
    pump_read_locked(stream, done);
    unlock_stream(stream);
    deliver(done);
}

GBytes *
ferry_rpc_stream_read_finish(ferry_rpc_stream *stream, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
    g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) ==
                         ferry_rpc_stream_read_async, NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

gboolean
ferry_rpc_stream_end(ferry_rpc_stream *stream, GError **error)
{
    GError *refused;

    lock_stream(stream);
    if (stream->failed)
        refused = g_error_copy(stream->failed);
    else if (stream->sent_end)
        refused = g_error_new(FERRY_ERROR, FERRY_ERROR_INVALID_ARG, "%s: ended twice",
                              stream->desc);
    else
        refused = refuse_op(stream, "write", stream->write != NULL);
    if (refused) {
        unlock_stream(stream);
        g_propagate_error(error, refused);
        return FALSE;
    }
    stream->sent_end = TRUE;
    if (stream->caller && !stream->peer_opened)
        stream->end_unsent = TRUE;
    else
        send_packet(stream, FERRY__PACKET_STATUS__OK, NULL);
    check_over_locked(stream);
    unlock_stream(stream);
    return TRUE;
}

void
ferry_rpc_stream_abort(ferry_rpc_stream *stream, const GError *reason)
{
    g_autoptr(GArray) done = completions_new();

    lock_stream(stream);
    if (stream->table)
        abort_locked(stream, reason,
                     g_error_new(reason->domain, reason->code, "%s aborted by this side: %s",
                                 stream->desc, reason->message), done);
    unlock_stream(stream);
    deliver(done);
}
