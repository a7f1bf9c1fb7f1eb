/*
 * test-relay.c: the migration relay (src/relay/relay.c) on loopback.
 *
 * Two "QEMU" ends are played by threads doing blocking I/O on the relay's
 * unix sockets: the source end writes a pseudo-random stream and reads the
 * destination's answer, the destination end the other way round; each
 * checks every byte it receives.  Connections are broken on purpose
 * (ferry_relay_break(), the fault injection ferryd also uses) while the
 * streams run: not one byte may be lost, repeated or reordered.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <string.h>

#include "relay/relay.h"

#define MiB (1024u * 1024u)

/* The byte at @offset of stream @seed. */
static guint8
stream_byte(guint32 seed, guint64 offset)
{
    guint64 x = (offset / 8) * 0x9E3779B97F4A7C15ull + seed;

    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 32;
    return (guint8)(x >> (8 * (offset % 8)));
}

typedef struct {
    GSocketConnection *conn;
    guint32 send_seed, recv_seed;
    guint64 send_len;      /* bytes to write, then shut down writing */
    guint64 received;      /* bytes read until the end */
    gboolean bad;          /* a byte differed */
    gboolean read_error;
    guint64 first_bad;
} end_io;

static gpointer
writer_thread(gpointer data)
{
    end_io *e = data;
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(e->conn));
    guint8 buf[65536];
    guint64 off = 0;

    while (off < e->send_len) {
        gsize n = (gsize)MIN(sizeof(buf), e->send_len - off);

        for (gsize i = 0; i < n; i++)
            buf[i] = stream_byte(e->send_seed, off + i);
        if (!g_output_stream_write_all(out, buf, n, NULL, NULL, NULL))
            return NULL;
        off += n;
    }
    g_socket_shutdown(g_socket_connection_get_socket(e->conn), FALSE, TRUE, NULL);
    return NULL;
}

/* Reads until the end, checking; writes concurrently. */
static void
run_end(end_io *e)
{
    GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(e->conn));
    GThread *w = g_thread_new("writer", writer_thread, e);
    guint8 buf[65536];

    for (;;) {
        gssize n = g_input_stream_read(in, buf, sizeof(buf), NULL, NULL);

        if (n < 0)
            e->read_error = TRUE;
        if (n <= 0)
            break;
        for (gssize i = 0; i < n; i++) {
            if (!e->bad && buf[i] != stream_byte(e->recv_seed, e->received + (guint64)i)) {
                e->bad = TRUE;
                e->first_bad = e->received + (guint64)i;
            }
        }
        e->received += (guint64)n;
    }
    g_thread_join(w);
}

typedef struct {
    char *dir;
    char *qemu_path;       /* the destination "QEMU" listens here */
    char *out_path;        /* the dialler's socket */
    GSocket *qemu_listener;
    guint port;
    end_io dst;
    GThread *dst_thread;
} fixture;

static gpointer
dst_main(gpointer data)
{
    fixture *f = data;
    g_autoptr(GSocket) sock = g_socket_accept(f->qemu_listener, NULL, NULL);

    if (!sock)
        return NULL;
    f->dst.conn = g_socket_connection_factory_create_connection(sock);
    run_end(&f->dst);
    g_io_stream_close(G_IO_STREAM(f->dst.conn), NULL, NULL);
    return NULL;
}

static guint
free_port(void)
{
    g_autoptr(GSocket) s = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                        G_SOCKET_PROTOCOL_DEFAULT, NULL);
    g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) a = g_inet_socket_address_new(lo, 0);
    g_autoptr(GSocketAddress) bound = NULL;

    g_assert_true(g_socket_bind(s, a, TRUE, NULL));
    bound = g_socket_get_local_address(s, NULL);
    return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
}

static void
fixture_setup(fixture *f, guint64 dst_sends)
{
    g_autoptr(GSocketAddress) addr = NULL;

    f->dir = g_dir_make_tmp("ferry-relay-XXXXXX", NULL);
    g_assert_nonnull(f->dir);
    f->qemu_path = g_build_filename(f->dir, "qemu.sock", NULL);
    f->out_path = g_build_filename(f->dir, "out.sock", NULL);
    addr = g_unix_socket_address_new(f->qemu_path);
    f->qemu_listener = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                                    G_SOCKET_PROTOCOL_DEFAULT, NULL);
    g_assert_true(g_socket_bind(f->qemu_listener, addr, FALSE, NULL));
    g_assert_true(g_socket_listen(f->qemu_listener, NULL));
    f->port = free_port();
    f->dst.send_seed = 2;
    f->dst.recv_seed = 1;
    f->dst.send_len = dst_sends;
    f->dst_thread = g_thread_new("dst", dst_main, f);
}

static GSocketConnection *
connect_unix(const char *path)
{
    g_autoptr(GSocketClient) c = g_socket_client_new();
    g_autoptr(GSocketAddress) a = g_unix_socket_address_new(path);
    g_autoptr(GError) error = NULL;
    GSocketConnection *conn = g_socket_client_connect(c, G_SOCKET_CONNECTABLE(a), NULL, &error);

    g_assert_no_error(error);
    return conn;
}

static void
fixture_teardown(fixture *f)
{
    if (f->dst_thread) {
        /* Still waiting for a stream that never came: one that ends at once. */
        GSocketConnection *wake = connect_unix(f->qemu_path);

        g_io_stream_close(G_IO_STREAM(wake), NULL, NULL);
        g_object_unref(wake);
        g_thread_join(f->dst_thread);
    }
    g_socket_close(f->qemu_listener, NULL);
    g_clear_object(&f->qemu_listener);
    g_clear_object(&f->dst.conn);
    g_unlink(f->qemu_path);
    g_unlink(f->out_path);
    g_rmdir(f->dir);
    g_free(f->qemu_path);
    g_free(f->out_path);
    g_free(f->dir);
}

typedef struct {
    ferry_relay *relay;
    end_io *src;
    guint64 every;         /* break after this many more bytes arrived */
    guint breaks;
    gint stop;
} breaker;

static gpointer
breaker_thread(gpointer data)
{
    breaker *b = data;
    guint64 next = b->every;

    while (!g_atomic_int_get(&b->stop) && b->breaks < 4) {
        if (*(volatile guint64 *)&b->src->received >= next) {
            ferry_relay_break(b->relay);
            b->breaks++;
            next += b->every;
        }
        g_usleep(2000);
    }
    return NULL;
}

/* Both directions, @src_len and @dst_len bytes; with @break_every, the
 * relay's connections are broken after every so many bytes. */
static void
transfer(guint64 src_len, guint64 dst_len, guint64 break_every)
{
    fixture f = { 0 };
    g_autoptr(GError) error = NULL;
    ferry_relay *in, *out;
    end_io src = { .send_seed = 1, .recv_seed = 2, .send_len = src_len };
    breaker b = { 0 };
    GThread *bt = NULL;

    fixture_setup(&f, dst_len);
    in = ferry_relay_listen("test in", "127.0.0.1", f.port, f.qemu_path, "t0ken", &error);
    g_assert_no_error(error);
    out = ferry_relay_dial("test out", f.out_path, "127.0.0.1", f.port, "t0ken", 30, &error);
    g_assert_no_error(error);
    src.conn = connect_unix(f.out_path);
    if (break_every) {
        b.relay = out;
        b.src = &f.dst;
        b.every = break_every;
        bt = g_thread_new("breaker", breaker_thread, &b);
    }
    run_end(&src);
    if (bt) {
        g_atomic_int_set(&b.stop, 1);
        g_thread_join(bt);
    }
    g_thread_join(f.dst_thread);
    f.dst_thread = NULL;

    g_assert_false(src.bad);
    g_assert_false(f.dst.bad);
    g_assert_cmpuint(f.dst.received, ==, src_len);
    g_assert_cmpuint(src.received, ==, dst_len);
    if (break_every) {
        g_test_message("%u breaks, %u reconnects", b.breaks, ferry_relay_reconnects(out));
        g_assert_cmpuint(b.breaks, >=, 1);
        g_assert_cmpuint(ferry_relay_reconnects(out), >=, 1);
        g_assert_cmpuint(ferry_relay_reconnects(in), ==, ferry_relay_reconnects(out));
    } else {
        g_assert_cmpuint(ferry_relay_reconnects(out), ==, 0);
    }
    g_io_stream_close(G_IO_STREAM(src.conn), NULL, NULL);
    g_object_unref(src.conn);
    ferry_relay_close(out);
    ferry_relay_close(in);
    fixture_teardown(&f);
}

static void
test_plain(void)
{
    transfer(64 * MiB, 1 * MiB, 0);
}

static void
test_broken(void)
{
    /* More than the relay's window between breaks, and both ways. */
    transfer(96 * MiB, 24 * MiB, 20 * MiB);
}

/* The other side takes the connection and never answers (a stopped
 * daemon): after the give-up bound QEMU's side ends.  Nobody listening at
 * all (the other relay is gone) ends it at once. */
static void
test_give_up(void)
{
    fixture f = { 0 };
    g_autoptr(GError) error = NULL;
    ferry_relay *out;
    end_io src = { .send_seed = 1, .recv_seed = 2, .send_len = 1 * MiB };
    end_io refused = { .send_seed = 1, .recv_seed = 2, .send_len = 1 * MiB };
    g_autoptr(GSocket) mute = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                           G_SOCKET_PROTOCOL_DEFAULT, NULL);
    g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) a = NULL;
    gint64 t0;

    fixture_setup(&f, 0);
    out = ferry_relay_dial("test out", f.out_path, "127.0.0.1", f.port, "t0ken", 1, &error);
    g_assert_no_error(error);
    t0 = g_get_monotonic_time();
    refused.conn = connect_unix(f.out_path);
    run_end(&refused);
    g_assert_cmpuint(refused.received, ==, 0);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, G_TIME_SPAN_SECOND);
    g_object_unref(refused.conn);

    a = g_inet_socket_address_new(lo, (guint16)f.port);
    g_assert_true(g_socket_bind(mute, a, TRUE, NULL));
    g_assert_true(g_socket_listen(mute, NULL));
    t0 = g_get_monotonic_time();
    src.conn = connect_unix(f.out_path);
    run_end(&src);
    g_assert_cmpuint(src.received, ==, 0);
    g_assert_cmpint(g_get_monotonic_time() - t0, >=, G_TIME_SPAN_SECOND);
    g_object_unref(src.conn);
    ferry_relay_close(out);
    fixture_teardown(&f);
}

typedef struct {
    ferry_relay *in;
    end_io *dst;
} closer;

static gpointer
closer_thread(gpointer data)
{
    closer *c = data;

    while (*(volatile guint64 *)&c->dst->received < 8 * MiB)
        g_usleep(2000);
    ferry_relay_close(c->in);
    return NULL;
}

/* The destination's relay goes away mid-stream (its migration ended, its
 * ferryd restarted): the source's side ends at once, not after the 30 s
 * give-up bound. */
static void
test_other_side_gone(void)
{
    fixture f = { 0 };
    g_autoptr(GError) error = NULL;
    ferry_relay *out;
    end_io src = { .send_seed = 1, .recv_seed = 2, .send_len = 256 * MiB };
    closer c = { 0 };
    GThread *ct;
    gint64 t0;

    fixture_setup(&f, 0);
    c.in = ferry_relay_listen("test in", "127.0.0.1", f.port, f.qemu_path, "t0ken", &error);
    g_assert_no_error(error);
    c.dst = &f.dst;
    out = ferry_relay_dial("test out", f.out_path, "127.0.0.1", f.port, "t0ken", 30, &error);
    g_assert_no_error(error);
    ct = g_thread_new("closer", closer_thread, &c);
    t0 = g_get_monotonic_time();
    src.conn = connect_unix(f.out_path);
    run_end(&src);
    g_thread_join(ct);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 15 * G_TIME_SPAN_SECOND);
    g_thread_join(f.dst_thread);
    f.dst_thread = NULL;
    g_assert_false(f.dst.bad);
    g_assert_cmpuint(f.dst.received, <, 256 * MiB);
    g_object_unref(src.conn);
    ferry_relay_close(out);
    fixture_teardown(&f);
}

/* A gate in front of the listening relay: its accept queue is kept full
 * for a while, so the kernel drops the dialler's SYN and the first connect
 * only succeeds at TCP's retry, a second later (what a busy host looks
 * like); then it copies bytes both ways. */
typedef struct {
    GSocket *listener;     /* backlog 0, one connection already queued */
    guint to_port;         /* the listening relay */
    GSocket *in, *out;
} gate;

typedef struct {
    GSocket *from, *to;
} pipe_dir;

static gpointer
pipe_thread(gpointer data)
{
    pipe_dir *d = data;
    char buf[65536];
    gssize n;

    while ((n = g_socket_receive(d->from, buf, sizeof(buf), NULL, NULL)) > 0) {
        for (gssize off = 0; off < n;) {
            gssize w = g_socket_send(d->to, buf + off, (gsize)(n - off), NULL, NULL);

            if (w <= 0)
                return NULL;
            off += w;
        }
    }
    g_socket_shutdown(d->to, FALSE, TRUE, NULL);
    return NULL;
}

static gpointer
gate_thread(gpointer data)
{
    gate *g = data;
    g_autoptr(GSocket) queued = NULL;
    g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) to = g_inet_socket_address_new(lo, (guint16)g->to_port);
    pipe_dir there, back;
    GThread *t1, *t2;

    /* Several of the relay's ticks with its first connect unanswered. */
    g_usleep(800 * 1000);
    queued = g_socket_accept(g->listener, NULL, NULL);
    g_assert_nonnull(queued);
    g->in = g_socket_accept(g->listener, NULL, NULL);
    g_assert_nonnull(g->in);
    g->out = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                          G_SOCKET_PROTOCOL_DEFAULT, NULL);
    g_assert_true(g_socket_connect(g->out, to, NULL, NULL));
    there = (pipe_dir){ g->in, g->out };
    back = (pipe_dir){ g->out, g->in };
    t1 = g_thread_new("gate there", pipe_thread, &there);
    t2 = g_thread_new("gate back", pipe_thread, &back);
    g_thread_join(t1);
    g_thread_join(t2);
    return NULL;
}

/* --retry-timeout 0 forbids connecting again, not connecting: a first
 * connection slower than the relay's tick still carries the stream. */
static void
test_slow_first_connect(void)
{
    fixture f = { 0 };
    g_autoptr(GError) error = NULL;
    g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) gate_addr = NULL;
    g_autoptr(GSocket) filler = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                             G_SOCKET_PROTOCOL_DEFAULT, NULL);
    end_io src = { .send_seed = 1, .recv_seed = 2, .send_len = 4 * MiB };
    guint gate_port = free_port();
    gate g = { 0 };
    ferry_relay *in, *out;
    GThread *gt;
    gint64 t0;

    fixture_setup(&f, 1 * MiB);
    in = ferry_relay_listen("test in", "127.0.0.1", f.port, f.qemu_path, "t0ken", &error);
    g_assert_no_error(error);
    gate_addr = g_inet_socket_address_new(lo, (guint16)gate_port);
    g.listener = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                              G_SOCKET_PROTOCOL_DEFAULT, NULL);
    g.to_port = f.port;
    g_assert_true(g_socket_bind(g.listener, gate_addr, TRUE, NULL));
    g_socket_set_listen_backlog(g.listener, 0);
    g_assert_true(g_socket_listen(g.listener, NULL));
    /* Fills the queue: the next SYN is dropped. */
    g_assert_true(g_socket_connect(filler, gate_addr, NULL, NULL));
    out = ferry_relay_dial("test out", f.out_path, "127.0.0.1", gate_port, "t0ken", 0, &error);
    g_assert_no_error(error);
    gt = g_thread_new("gate", gate_thread, &g);
    t0 = g_get_monotonic_time();
    src.conn = connect_unix(f.out_path);
    run_end(&src);
    g_test_message("first connection after %.1f s",
                   (g_get_monotonic_time() - t0) / (double)G_TIME_SPAN_SECOND);
    /* Before joining anything: a relay that gave up leaves the other
     * threads waiting for a stream that never comes. */
    g_assert_false(src.bad);
    g_assert_cmpuint(src.received, ==, 1 * MiB);
    g_assert_cmpint(g_get_monotonic_time() - t0, >=, 800 * G_TIME_SPAN_MILLISECOND);
    g_thread_join(f.dst_thread);
    f.dst_thread = NULL;
    g_assert_false(f.dst.bad);
    g_assert_cmpuint(f.dst.received, ==, 4 * MiB);
    g_io_stream_close(G_IO_STREAM(src.conn), NULL, NULL);
    g_object_unref(src.conn);
    ferry_relay_close(out);
    ferry_relay_close(in);
    g_thread_join(gt);
    g_clear_object(&g.in);
    g_clear_object(&g.out);
    g_socket_close(g.listener, NULL);
    g_clear_object(&g.listener);
    fixture_teardown(&f);
}

/* A wrong token, and a stranger's bytes: refused, and the listener goes on
 * serving a right one. */
static void
test_refused(void)
{
    fixture f = { 0 };
    g_autoptr(GError) error = NULL;
    ferry_relay *in, *bad;
    end_io src = { .send_seed = 1, .recv_seed = 2, .send_len = 1 * MiB };
    g_autofree char *bad_path = NULL;

    fixture_setup(&f, 0);
    in = ferry_relay_listen("test in", "127.0.0.1", f.port, f.qemu_path, "right", &error);
    g_assert_no_error(error);
    bad_path = g_build_filename(f.dir, "bad.sock", NULL);
    bad = ferry_relay_dial("test bad", bad_path, "127.0.0.1", f.port, "wrong", 30, &error);
    g_assert_no_error(error);
    src.conn = connect_unix(bad_path);
    run_end(&src);
    /* Refused at once, not after the 30 s bound. */
    g_assert_cmpuint(src.received, ==, 0);
    g_object_unref(src.conn);
    ferry_relay_close(bad);
    g_unlink(bad_path);

    {
        g_autoptr(GSocketClient) c = g_socket_client_new();
        g_autoptr(GSocketConnection) conn =
            g_socket_client_connect_to_host(c, "127.0.0.1", (guint16)f.port, NULL, &error);
        static const char junk[] = "GET / HTTP/1.0\r\n\r\nand more than a header of junk";
        char reply[64];

        g_assert_no_error(error);
        g_assert_true(g_output_stream_write_all(
            g_io_stream_get_output_stream(G_IO_STREAM(conn)), junk, sizeof(junk), NULL,
            NULL, NULL));
        /* Answered with a refusal, then closed. */
        while (g_input_stream_read(g_io_stream_get_input_stream(G_IO_STREAM(conn)), reply,
                                   sizeof(reply), NULL, NULL) > 0)
            ;
    }
    {
        /* The right one, after all that, to the same listener. */
        end_io good = { .send_seed = 1, .recv_seed = 2, .send_len = 4 * MiB };
        ferry_relay *out = ferry_relay_dial("test out", f.out_path, "127.0.0.1", f.port,
                                            "right", 30, &error);

        g_assert_no_error(error);
        good.conn = connect_unix(f.out_path);
        run_end(&good);
        g_thread_join(f.dst_thread);
        f.dst_thread = NULL;
        g_assert_false(f.dst.bad);
        g_assert_cmpuint(f.dst.received, ==, 4 * MiB);
        g_object_unref(good.conn);
        ferry_relay_close(out);
    }
    ferry_relay_close(in);
    fixture_teardown(&f);
}

/* A relay carries a guest's memory and disks: it listens on one address,
 * never on every one of the host. */
static void
test_no_wildcard(void)
{
    const char *const wildcards[] = { "0.0.0.0", "::", NULL };

    for (guint i = 0; wildcards[i]; i++) {
        g_autoptr(GError) error = NULL;
        g_autofree char *want = g_strdup_printf("test in: '%s' is the wildcard address; a "
                                                "relay listens on one address", wildcards[i]);
        ferry_relay *r = ferry_relay_listen("test in", wildcards[i], 0, "/nonexistent.sock",
                                            "t0ken", &error);

        g_assert_null(r);
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
        g_assert_cmpstr(error->message, ==, want);
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/relay/plain", test_plain);
    g_test_add_func("/relay/broken", test_broken);
    g_test_add_func("/relay/give-up", test_give_up);
    g_test_add_func("/relay/slow-first-connect", test_slow_first_connect);
    g_test_add_func("/relay/refused", test_refused);
    g_test_add_func("/relay/other-side-gone", test_other_side_gone);
    g_test_add_func("/relay/no-wildcard", test_no_wildcard);
    return g_test_run();
}
