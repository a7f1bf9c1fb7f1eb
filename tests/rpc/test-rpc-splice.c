/*
 * test-rpc-splice.c: a stream between two channels, each end spliced to a
 * local socketpair, as a tunnelled migration uses it: bytes go both ways
 * intact, an end of file travels as the stream's end, a socket whose
 * reader left while the peer still sends drains instead of cutting the
 * peer short, and a stopped splice aborts the stream so that the other
 * side's socket closes.  The channels run in this thread's context; the
 * socket ends are driven by threads of the test.
 */
#include "ferry-config.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rpc/rpc-splice.h"
#include "util/error.h"

#define PROC FERRY__PROCEDURE__CONNECT_MIGRATE_PROBE
#define WAIT_US (30 * G_TIME_SPAN_SECOND)

typedef struct {
    GMainContext *context;
    ferry_rpc_channel *chan[2];
    ferry_rpc_stream_table *table[2];
    ferry_rpc_stream *stream[2];
    ferry_rpc_splice *splice[2];
    int app[2];                 /* the test's end of each side's socketpair */
} tunnel;

static void
on_packet(ferry_rpc_channel *chan, const Ferry__Packet *packet, gpointer user_data)
{
    ferry_rpc_stream_table *const *table = user_data;

    ferry_rpc_stream_table_handle_packet(*table, packet);
}

static void
on_closed(ferry_rpc_channel *chan, const GError *reason, gpointer user_data)
{
    ferry_rpc_stream_table *const *table = user_data;

    ferry_rpc_stream_table_close_all(*table, reason);
}

/* Two channels on a socketpair, one stream between them (side 0 made the
 * call), each stream spliced to a socketpair whose other end is app[i]. */
static tunnel *
tunnel_new(void)
{
    tunnel *t = g_new0(tunnel, 1);
    int link[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, link), ==, 0);
    t->context = g_main_context_new();
    g_main_context_push_thread_default(t->context);
    for (guint i = 0; i < 2; i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GSocket) sock = g_socket_new_from_fd(link[i], &error);
        g_autoptr(GIOStream) io = NULL;
        g_autoptr(GSocket) local = NULL;
        int pair[2];

        g_assert_no_error(error);
        io = G_IO_STREAM(g_socket_connection_factory_create_connection(sock));
        /* The table needs the channel: the handlers find it through its
         * slot, filled before the channel starts. */
        t->chan[i] = ferry_rpc_channel_new(io, t->context, NULL, on_packet, on_closed,
                                           &t->table[i]);
        t->table[i] = ferry_rpc_stream_table_new(t->chan[i], 0, 0, NULL, NULL);
        ferry_rpc_channel_start(t->chan[i]);
        t->stream[i] = ferry_rpc_stream_table_open(t->table[i], PROC, 1, NULL, i == 0, &error);
        g_assert_no_error(error);

        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), ==, 0);
        t->app[i] = pair[0];
        local = g_socket_new_from_fd(pair[1], &error);
        g_assert_no_error(error);
        t->splice[i] = ferry_rpc_splice_start(i == 0 ? "side 0" : "side 1", t->stream[i], local,
                                              &error);
        g_assert_no_error(error);
    }
    return t;
}

/* Iterates the channels' context until both splices ended. */
static void
tunnel_wait(tunnel *t)
{
    gint64 deadline = g_get_monotonic_time() + WAIT_US;

    while (!ferry_rpc_splice_wait(t->splice[0], 0) || !ferry_rpc_splice_wait(t->splice[1], 0)) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_main_context_iteration(t->context, FALSE);
        g_usleep(1000);
    }
}

static void
tunnel_free(tunnel *t)
{
    for (guint i = 0; i < 2; i++) {
        ferry_rpc_splice_unref(t->splice[i]);
        ferry_rpc_stream_unref(t->stream[i]);
        ferry_rpc_channel_close(t->chan[i], NULL);
        while (ferry_rpc_channel_is_busy(t->chan[i]))
            g_main_context_iteration(t->context, TRUE);
        if (t->app[i] >= 0)
            close(t->app[i]);
    }
    while (g_main_context_iteration(t->context, FALSE))
        ;
    for (guint i = 0; i < 2; i++) {
        ferry_rpc_stream_table_unref(t->table[i]);
        ferry_rpc_channel_unref(t->chan[i]);
    }
    g_main_context_pop_thread_default(t->context);
    g_main_context_unref(t->context);
    g_free(t);
}

/* A thread writing @total pseudo-random bytes to @fd, then shutting its
 * writing side down (or closing @fd when @close_after). */
typedef struct {
    int fd;
    gsize total;
    guint32 seed;
    gboolean close_after;
    char *sum;
} writer_job;

static gpointer
writer_thread(gpointer data)
{
    writer_job *w = data;
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_autoptr(GRand) rand = g_rand_new_with_seed(w->seed);
    guint32 block[4096];

    for (gsize done = 0; done < w->total;) {
        gsize n = MIN(sizeof(block), w->total - done);
        gsize off = 0;

        for (guint i = 0; i < G_N_ELEMENTS(block); i++)
            block[i] = g_rand_int(rand);
        g_checksum_update(sum, (const guchar *)block, n);
        while (off < n) {
            ssize_t k = write(w->fd, (const char *)block + off, n - off);

            g_assert_cmpint(k, >, 0);
            off += (gsize)k;
        }
        done += n;
    }
    w->sum = g_strdup(g_checksum_get_string(sum));
    if (w->close_after) {
        close(w->fd);
        w->fd = -1;
    } else {
        shutdown(w->fd, SHUT_WR);
    }
    return NULL;
}

/* A thread reading @fd to its end. */
typedef struct {
    int fd;
    gsize got;
    char *sum;
} reader_job;

static gpointer
reader_thread(gpointer data)
{
    reader_job *r = data;
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    char buf[65536];
    ssize_t k;

    while ((k = read(r->fd, buf, sizeof(buf))) > 0) {
        g_checksum_update(sum, (const guchar *)buf, (gsize)k);
        r->got += (gsize)k;
    }
    r->sum = g_strdup(g_checksum_get_string(sum));
    return NULL;
}

/* Waits for @thread while the channels run. */
static void
join_iterating(tunnel *t, GThread *thread, gboolean *done_flag)
{
    gint64 deadline = g_get_monotonic_time() + WAIT_US;

    while (!g_atomic_int_get(done_flag)) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_main_context_iteration(t->context, FALSE);
        g_usleep(500);
    }
    g_thread_join(thread);
}

typedef struct {
    GThreadFunc func;
    gpointer data;
    gboolean done;
} flagged;

static gpointer
flagged_thread(gpointer data)
{
    flagged *f = data;

    f->func(f->data);
    g_atomic_int_set(&f->done, TRUE);
    return NULL;
}

static GThread *
start(flagged *f, GThreadFunc func, gpointer data)
{
    f->func = func;
    f->data = data;
    f->done = FALSE;
    return g_thread_new("test", flagged_thread, f);
}

#define BOTH_WAYS (8u * 1024u * 1024u)

/* 8 MiB each way at once, each end's end of file ending the stream in
 * order: everything arrives, both splices end without an error. */
static void
test_both_ways(void)
{
    tunnel *t = tunnel_new();
    writer_job w0 = { .fd = t->app[0], .total = BOTH_WAYS, .seed = 3 };
    writer_job w1 = { .fd = t->app[1], .total = BOTH_WAYS + 12345, .seed = 4 };
    reader_job r0 = { .fd = t->app[0] };
    reader_job r1 = { .fd = t->app[1] };
    flagged fw0, fw1, fr0, fr1;
    GThread *tw0 = start(&fw0, writer_thread, &w0);
    GThread *tw1 = start(&fw1, writer_thread, &w1);
    GThread *tr0 = start(&fr0, reader_thread, &r0);
    GThread *tr1 = start(&fr1, reader_thread, &r1);
    guint64 up = 0, down = 0;

    join_iterating(t, tw0, &fw0.done);
    join_iterating(t, tw1, &fw1.done);
    join_iterating(t, tr0, &fr0.done);
    join_iterating(t, tr1, &fr1.done);
    tunnel_wait(t);

    g_assert_cmpuint(r1.got, ==, w0.total);
    g_assert_cmpstr(r1.sum, ==, w0.sum);
    g_assert_cmpuint(r0.got, ==, w1.total);
    g_assert_cmpstr(r0.sum, ==, w1.sum);
    for (guint i = 0; i < 2; i++) {
        g_autofree char *why = ferry_rpc_splice_get_error(t->splice[i]);

        g_assert_null(why);
    }
    ferry_rpc_splice_get_counts(t->splice[0], &up, &down);
    g_assert_cmpuint(up, ==, w0.total);
    g_assert_cmpuint(down, ==, w1.total);
    g_assert_false(ferry_rpc_stream_is_open(t->stream[0]));
    g_free(w0.sum);
    g_free(w1.sum);
    g_free(r0.sum);
    g_free(r1.sum);
    tunnel_free(t);
}

/* Side 0's application writes everything and closes its socket at once
 * (a source QEMU whose migration completed), while side 1's still sends
 * (the destination's last return-path messages): side 1 still gets every
 * byte of side 0, and nothing is reported broken. */
static void
test_reader_gone_drains(void)
{
    tunnel *t = tunnel_new();
    writer_job w0 = { .fd = t->app[0], .total = 4u << 20, .seed = 5, .close_after = TRUE };
    writer_job w1 = { .fd = t->app[1], .total = 6u << 20, .seed = 6 };
    reader_job r1 = { .fd = t->app[1] };
    flagged fw0, fw1, fr1;
    GThread *tw0 = start(&fw0, writer_thread, &w0);
    GThread *tr1 = start(&fr1, reader_thread, &r1);
    GThread *tw1;

    join_iterating(t, tw0, &fw0.done);
    t->app[0] = -1;             /* closed by the writer */
    tw1 = start(&fw1, writer_thread, &w1);
    join_iterating(t, tw1, &fw1.done);
    join_iterating(t, tr1, &fr1.done);
    tunnel_wait(t);

    g_assert_cmpuint(r1.got, ==, w0.total);
    g_assert_cmpstr(r1.sum, ==, w0.sum);
    for (guint i = 0; i < 2; i++) {
        g_autofree char *why = ferry_rpc_splice_get_error(t->splice[i]);

        g_assert_null(why);
    }
    g_free(w0.sum);
    g_free(w1.sum);
    g_free(r1.sum);
    tunnel_free(t);
}

/* Stopping one side aborts the stream: the other side's socket is closed
 * (its application reads the end), and its splice names why. */
static void
test_stop_aborts(void)
{
    tunnel *t = tunnel_new();
    g_autoptr(GError) reason = g_error_new(FERRY_ERROR, FERRY_ERROR_OPERATION_ABORTED,
                                           "the migration was cancelled");
    reader_job r1 = { .fd = t->app[1] };
    flagged fr1;
    GThread *tr1 = start(&fr1, reader_thread, &r1);
    g_autofree char *why0 = NULL;
    g_autofree char *why1 = NULL;
    char c = 'x';

    g_assert_cmpint(write(t->app[0], &c, 1), ==, 1);
    ferry_rpc_splice_stop(t->splice[0], reason);
    join_iterating(t, tr1, &fr1.done);
    tunnel_wait(t);

    why0 = ferry_rpc_splice_get_error(t->splice[0]);
    why1 = ferry_rpc_splice_get_error(t->splice[1]);
    g_assert_nonnull(why0);
    g_assert_nonnull(strstr(why0, "the migration was cancelled"));
    g_assert_nonnull(why1);
    g_assert_nonnull(strstr(why1, "side 1"));
    g_assert_nonnull(strstr(why1, "aborted by the peer"));
    g_assert_nonnull(strstr(why1, "the migration was cancelled"));
    g_free(r1.sum);
    tunnel_free(t);
}

/* The connection itself ending fails both splices, naming it. */
static void
test_connection_lost(void)
{
    tunnel *t = tunnel_new();
    reader_job r0 = { .fd = t->app[0] };
    flagged fr0;
    GThread *tr0 = start(&fr0, reader_thread, &r0);
    g_autofree char *why = NULL;

    ferry_rpc_channel_close(t->chan[1], NULL);
    join_iterating(t, tr0, &fr0.done);
    tunnel_wait(t);
    why = ferry_rpc_splice_get_error(t->splice[0]);
    g_assert_nonnull(why);
    g_assert_nonnull(strstr(why, "side 0"));
    g_free(r0.sum);
    tunnel_free(t);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/rpc/splice/both-ways", test_both_ways);
    g_test_add_func("/rpc/splice/reader-gone-drains", test_reader_gone_drains);
    g_test_add_func("/rpc/splice/stop-aborts", test_stop_aborts);
    g_test_add_func("/rpc/splice/connection-lost", test_connection_lost);
    return g_test_run();
}
