/*
 * stream-test-util.h: what the stream tests share: a pump that writes a
 * known pseudo-random sequence into a stream and one that reads a stream
 * and sums what it got, both driven by the streams' own callbacks, and a
 * bounded wait on the thread's context.
 */
#pragma once

#include "rpc/rpc-stream.h"

G_BEGIN_DECLS

/**
 * stream_pump:
 * @stream: the stream pumped (a reference)
 * @to_write: how many bytes the writer sends before it ends the stream
 * @block: the size of each write
 * @seed: the sequence's seed; the reader's expected sum uses the same
 * @written: bytes whose write completed
 * @write_done: the writer sent everything and ended its direction
 * @write_error: why writing stopped, if it failed
 * @read_max: the most each read asks for
 * @read_bytes: bytes read so far
 * @eof: the reader saw the peer's end
 * @read_error: why reading stopped, if it failed
 * @on_read: (nullable): called after each successful read with its size
 * @on_read_data: for @on_read
 *
 * One side of a test stream.  Both halves are optional: start either with
 * stream_pump_start_write() / stream_pump_start_read().
 */
typedef struct {
    ferry_rpc_stream *stream;
    guint64 to_write;
    gsize block;
    guint32 seed;
    guint64 written;
    gboolean write_done;
    GError *write_error;
    gsize read_max;
    guint64 read_bytes;
    gboolean eof;
    GError *read_error;
    void (*on_read)(gsize n, gpointer data);
    gpointer on_read_data;
    /* private */
    guint32 gen;
    GChecksum *sum_out;
    GChecksum *sum_in;
    gboolean reading;
    gboolean continuous;
} stream_pump;

/** stream_pump_init: zeroes @p and takes a reference on @stream. */
void stream_pump_init(stream_pump *p, ferry_rpc_stream *stream);

/** stream_pump_clear: frees what @p holds. */
void stream_pump_clear(stream_pump *p);

/**
 * stream_pump_start_write:
 * @p: a pump
 * @total: bytes to send, then the end
 * @block: bytes per write
 * @seed: the sequence's seed (not 0)
 */
void stream_pump_start_write(stream_pump *p, guint64 total, gsize block, guint32 seed);

/** stream_pump_start_read: reads until the end or a failure, @max bytes at a time. */
void stream_pump_start_read(stream_pump *p, gsize max);

/**
 * stream_pump_read_once:
 * @p: a pump that is not reading continuously
 * @max: the most bytes wanted
 *
 * Starts a single read; wait for it with stream_wait_reads().
 */
void stream_pump_read_once(stream_pump *p, gsize max);

/** stream_pump_failed: Returns: TRUE once a read or a write of @data (a stream_pump) failed. */
gboolean stream_pump_failed(gpointer data);

/** stream_pump_read_pending: Returns: TRUE while a read of @p is pending. */
gboolean stream_pump_read_pending(stream_pump *p);

/**
 * stream_expected_sum:
 * @total: bytes of the sequence
 * @seed: its seed
 *
 * Returns: (transfer full): the SHA-256 of what a writer of @total bytes
 *   with @seed sends.
 */
char *stream_expected_sum(guint64 total, guint32 seed);

/** stream_pump_read_sum: Returns: (transfer full): the SHA-256 of what @p read. */
char *stream_pump_read_sum(stream_pump *p);

/**
 * stream_wait:
 * @context: the thread-default context the callbacks come to
 * @done: the condition
 * @data: for @done
 *
 * Iterates @context until @done says TRUE; fails the test after 120 s.
 */
void stream_wait(GMainContext *context, gboolean (*done)(gpointer data), gpointer data);

/**
 * stream_wait_flag:
 * @context: the context
 * @flag: a flag a callback sets
 *
 * stream_wait() until *@flag.
 */
void stream_wait_flag(GMainContext *context, const gboolean *flag);

/**
 * stream_write_wait:
 * @context: this thread's thread-default context
 * @stream: a stream
 * @data: what to write
 *
 * Writes @data and iterates @context until the write completed.
 *
 * Returns: (transfer full) (nullable): the write's error.
 */
GError *stream_write_wait(GMainContext *context, ferry_rpc_stream *stream, GBytes *data);

/**
 * stream_assert_error:
 * @error: an error
 * @code: the FERRY_ERROR code expected
 * @part: text it must contain
 */
void stream_assert_error(const GError *error, gint code, const char *part);

G_END_DECLS
