/*
 * test-rpc-limits.c: nothing a client or a peer does holds the daemon's
 * workers (issue #9): a daemon of this process (the dispatch and an RPC
 * server with ferryd's worker counts, serving the test driver) is given
 * peer-to-peer migrations to itself and to a silent peer -- a server that
 * takes every call, answers keepalive pings and never replies -- and must
 * still list its domains at once.
 */
#include "ferry-config.h"

#include <string.h>

#include "api/migrate-internal.h"
#include "daemon/dispatch.h"
#include "migrate-test-util.h"
#include "rpc-test-util.h"
#include "test/test-driver.h"

#define SRC_UUID "5e0c7c1a-8f1e-4d0b-9a52-3c6f0d1e2b47"
#define DST_UUID "a7b3c2d1-0e9f-4a8b-b7c6-d5e4f3a2b1c0"
/* More calls than the daemon has workers of either kind. */
#define N_CALLS 10
/* ferryd's defaults. */
#define WORKERS 8
#define PRIORITY_WORKERS 2
/* What the issue asks of `ferry list` while the calls wait. */
#define LIST_LIMIT_US (100 * 1000)

static const ferry_driver *const daemon_drivers[] = { &ferry_test_driver, NULL };

/* ------------------------------------------------------------------------ */
/* A silent peer                                                             */
/* ------------------------------------------------------------------------ */

typedef struct {
    GMutex lock;
    GCond cond;                 /* signalled when a call comes */
    GPtrArray *calls;           /* ferry_rpc_call*, never answered until the end */
    gboolean opens;             /* answers the connection's calls, silent after */
} silent_peer;

/* What a peer that `opens` answers at once: opening and closing the
 * connection, and every feature. */
static gboolean
answer_connection_call(guint32 procedure, ferry_rpc_call *call)
{
    Ferry__ConnectSupportsFeatureRet yes = FERRY__CONNECT_SUPPORTS_FEATURE_RET__INIT;
    g_autoptr(GBytes) body = NULL;

    switch (procedure) {
    case FERRY__PROCEDURE__CONNECT_OPEN:
    case FERRY__PROCEDURE__CONNECT_CLOSE:
        ferry_rpc_call_return(call, NULL);
        return TRUE;
    case FERRY__PROCEDURE__CONNECT_SUPPORTS_FEATURE:
        yes.supported = TRUE;
        body = ferry_rpc_message_pack(&yes.base);
        ferry_rpc_call_return(call, body);
        return TRUE;
    default:
        return FALSE;
    }
}

static void
silent_call(gpointer handler_data, ferry_rpc_server_client *client, gpointer client_data,
            guint32 procedure, GBytes *args, ferry_rpc_call *call)
{
    silent_peer *sp = handler_data;

    if (sp->opens && answer_connection_call(procedure, call))
        return;
    g_mutex_lock(&sp->lock);
    g_ptr_array_add(sp->calls, call);
    g_cond_broadcast(&sp->cond);
    g_mutex_unlock(&sp->lock);
}

static const ferry_rpc_handler silent_handler = { .call = silent_call };

/* Waits (up to 10 s, else fails the test) until it keeps @n calls. */
static void
silent_peer_wait(silent_peer *sp, guint n)
{
    gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&sp->lock);

    while (sp->calls->len < n) {
        if (!g_cond_wait_until(&sp->cond, &sp->lock, end))
            g_error("the silent peer got %u calls in 10 s, not %u", sp->calls->len, n);
    }
}

/* Answers every call it kept, so that nothing leaks. */
static void
silent_peer_release(silent_peer *sp)
{
    g_mutex_lock(&sp->lock);
    for (guint i = 0; i < sp->calls->len; i++)
        ferry_rpc_call_return_error(g_ptr_array_index(sp->calls, i),
                                    g_error_new(FERRY_ERROR, FERRY_ERROR_INTERNAL,
                                                "the silent peer of the test stops"));
    g_ptr_array_set_size(sp->calls, 0);
    g_mutex_unlock(&sp->lock);
}

/* ------------------------------------------------------------------------ */
/* The fixture                                                               */
/* ------------------------------------------------------------------------ */

typedef struct {
    ferry_dispatch *dispatch;
    test_server *daemon;
    silent_peer silent;
    test_server *peer;
} fixture;

static void
fixture_setup(fixture *f, gconstpointer data)
{
    test_log_clear();
    g_mutex_init(&f->silent.lock);
    g_cond_init(&f->silent.cond);
    f->silent.calls = g_ptr_array_new();
}

/* Starts the daemon with ferryd's worker counts and @limits' limits. */
static void
daemon_start(fixture *f, const ferry_rpc_server_config *limits)
{
    ferry_rpc_server_config config = *limits;

    config.max_workers = WORKERS;
    config.max_priority_workers = PRIORITY_WORKERS;
    f->dispatch = ferry_dispatch_new(daemon_drivers);
    ferry_dispatch_configure(f->dispatch, &config);
    f->daemon = test_server_start(&config);
}

/* Starts the daemon and the silent peer, for the migration tests. */
static void
daemon_and_peer_start(fixture *f)
{
    ferry_rpc_server_config config = { .max_calls_per_client = 64 };
    ferry_rpc_server_config peer_config = { .handler = &silent_handler,
                                            .handler_data = &f->silent,
                                            .max_calls_per_client = 64 };

    daemon_start(f, &config);
    f->peer = test_server_start(&peer_config);
}

/* The setup of the migration tests: the daemon and the silent peer run. */
static void
fixture_setup_peer(fixture *f, gconstpointer data)
{
    fixture_setup(f, data);
    daemon_and_peer_start(f);
}

static void
fixture_teardown(fixture *f, gconstpointer data)
{
    silent_peer_release(&f->silent);
    if (f->peer)
        test_server_stop(f->peer);
    if (f->daemon)
        test_server_stop(f->daemon);
    ferry_dispatch_free(f->dispatch);
    g_ptr_array_unref(f->silent.calls);
    g_mutex_clear(&f->silent.lock);
    g_cond_clear(&f->silent.cond);
}

/* The URI of test host @name on the daemon, with extra parameters. */
static char *
daemon_uri(fixture *f, const char *name, const char *params)
{
    return g_strdup_printf("test+unix:///%s?socket=%s%s%s", name,
                           test_server_socket(f->daemon), params ? "&" : "",
                           params ? params : "");
}

/* Domain vmN on @conn, defined and running. */
static ferry_domain *
start_vm(ferry_conn *conn, guint n)
{
    g_autofree char *xml = g_strdup_printf("<domain type='test'><name>vm%u</name>"
                                           "<uuid>0b5e7a3c-1d2f-4e6a-8b9c-%012u</uuid>"
                                           "<memory unit='MiB'>64</memory><vcpu>1</vcpu>"
                                           "<os><type arch='x86_64' machine='pc'>hvm</type>"
                                           "</os></domain>", n, n);

    return mt_domain_start(conn, xml);
}

/* How long listing @conn's domains takes, in microseconds. */
static gint64
time_list(ferry_conn *conn)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) doms = NULL;
    gint64 start = g_get_monotonic_time();

    g_assert_true(ferry_conn_list_domains(conn, 0, &doms, &error));
    g_assert_no_error(error);
    return g_get_monotonic_time() - start;
}

/* The outcome of one asynchronous Perform3. */
typedef struct {
    gboolean done;
    GError *error;
} perform_outcome;

static void
perform_done(GObject *source, GAsyncResult *res, gpointer data)
{
    perform_outcome *o = data;
    g_autoptr(ferry_phase_result) r = ferry_phase_finish(res, &o->error);

    o->done = TRUE;
}

static gboolean
all_done(const perform_outcome *o, guint n)
{
    for (guint i = 0; i < n; i++) {
        if (!o[i].done)
            return FALSE;
    }
    return TRUE;
}

static gboolean
watchdog(gpointer data)
{
    g_error("%s", (const char *)data);
    return G_SOURCE_REMOVE;
}

/* Iterates this thread's context until every outcome of @o is in, or fails
 * the test after @limit_s seconds. */
static void
wait_all(perform_outcome *o, guint n, guint limit_s)
{
    g_autoptr(GSource) dog = g_timeout_source_new_seconds(limit_s);

    g_source_set_callback(dog, watchdog, "the Perform3 calls did not all end in time", NULL);
    g_source_attach(dog, g_main_context_get_thread_default());
    while (!all_done(o, n))
        g_main_context_iteration(g_main_context_get_thread_default(), TRUE);
    g_source_destroy(dog);
}

/* Waits until @n transfers of the source host are held (hold=perform):
 * the host says nothing when one starts, so this polls, bounded. */
static void
wait_held(guint n)
{
    gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    while (ferry_test_driver_held(SRC_UUID) < n) {
        if (g_get_monotonic_time() > end)
            g_error("%u of %u migrations reached their transfer in 10 s",
                    ferry_test_driver_held(SRC_UUID), n);
        g_usleep(1000);
    }
}

/* Starts a peer-to-peer Perform3 of each of @doms to @dconn_uri. */
static void
start_p2p(GPtrArray *doms, const char *dconn_uri, perform_outcome *o)
{
    ferry_migrate_params params = { .flags = FERRY_MIGRATE_LIVE | FERRY_MIGRATE_PEER2PEER };

    for (guint i = 0; i < doms->len; i++)
        ferry_domain_migrate_perform3_async(g_ptr_array_index(doms, i), &params, dconn_uri,
                                            NULL, NULL, perform_done, &o[i]);
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                     */
/* ------------------------------------------------------------------------ */

/* A raw TCP connection to the daemon from @local_address (nullable: any). */
static GSocketConnection *
tcp_connect_from(fixture *f, const char *local_address)
{
    g_autoptr(GSocketClient) sc = g_socket_client_new();
    g_autoptr(GError) error = NULL;
    GSocketConnection *conn;

    if (local_address) {
        g_autoptr(GInetAddress) inet = g_inet_address_new_from_string(local_address);
        g_autoptr(GSocketAddress) addr = g_inet_socket_address_new(inet, 0);

        g_socket_client_set_local_address(sc, addr);
    }
    conn = g_socket_client_connect_to_host(sc, "127.0.0.1", test_server_tcp_port(f->daemon),
                                           NULL, &error);
    g_assert_no_error(error);
    /* A bound on every read, so a server that never closes fails the test. */
    g_socket_set_timeout(g_socket_connection_get_socket(conn), 10);
    return conn;
}

/* Sends the first bytes of a frame that never ends: the peer holds its
 * place and the daemon waits for the rest. */
static void
send_half_frame(GSocketConnection *conn)
{
    static const guint8 half[] = { 0, 0, 0, 100, 0x08, 0x01 };
    g_autoptr(GError) error = NULL;

    g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn)), half,
                              sizeof(half), NULL, NULL, &error);
    g_assert_no_error(error);
}

/* Lists the domains of a test host over the daemon's UNIX socket. */
static void
assert_unix_serves(fixture *f)
{
    g_autofree char *uri = daemon_uri(f, "local", NULL);
    g_autoptr(ferry_conn) conn = mt_conn_open(uri);

    g_assert_cmpuint(mt_count_domains(conn), ==, 0);
}

/*
 * TCP peers holding every TCP place, each in the middle of a frame, do not
 * keep the UNIX socket's clients out: they are counted apart.
 */
static void
test_clients_per_transport(fixture *f, gconstpointer data)
{
    ferry_rpc_server_config limits = { .max_clients = 4, .max_unix_clients = 2 };
    g_autoptr(GPtrArray) held = g_ptr_array_new_with_free_func(g_object_unref);
    g_autoptr(GSocketConnection) extra = NULL;
    g_autoptr(GBytes) rest = NULL;
    g_autofree char *logged = NULL;

    daemon_start(f, &limits);
    for (guint i = 0; i < limits.max_clients; i++) {
        g_ptr_array_add(held, tcp_connect_from(f, NULL));
        send_half_frame(g_ptr_array_index(held, i));
    }
    test_server_wait_n_clients(f->daemon, limits.max_clients);
    /* One TCP peer more is refused... */
    extra = tcp_connect_from(f, NULL);
    rest = test_raw_read_until_eof(extra);
    g_assert_cmpuint(g_bytes_get_size(rest), ==, 0);
    logged = test_log_wait("refused: the limit of 4 connected TCP clients is reached; "
                           "closing");
    g_assert_true(g_str_has_prefix(logged, "client 5 (tcp, 127.0.0.1:"));
    /* ...while the UNIX socket serves, up to its own limit. */
    assert_unix_serves(f);
    {
        g_autoptr(GSocketConnection) a = test_raw_connect(test_server_socket(f->daemon));
        g_autoptr(GSocketConnection) b = test_raw_connect(test_server_socket(f->daemon));
        g_autoptr(GSocketConnection) c = NULL;
        g_autoptr(GBytes) none = NULL;

        test_server_wait_n_clients(f->daemon, limits.max_clients + 2);
        c = test_raw_connect(test_server_socket(f->daemon));
        none = test_raw_read_until_eof(c);
        g_assert_cmpuint(g_bytes_get_size(none), ==, 0);
        g_free(test_log_wait("refused: the limit of 2 connected UNIX clients is reached; "
                             "closing"));
    }
}

/* One address has at most max_clients_per_address of the TCP places. */
static void
test_clients_per_address(fixture *f, gconstpointer data)
{
    ferry_rpc_server_config limits = { .max_clients = 4, .max_clients_per_address = 2 };
    g_autoptr(GSocketConnection) a = NULL;
    g_autoptr(GSocketConnection) b = NULL;
    g_autoptr(GSocketConnection) c = NULL;
    g_autoptr(GSocketConnection) other = NULL;
    g_autoptr(GBytes) rest = NULL;

    daemon_start(f, &limits);
    a = tcp_connect_from(f, "127.0.0.1");
    b = tcp_connect_from(f, "127.0.0.1");
    test_server_wait_n_clients(f->daemon, 2);
    c = tcp_connect_from(f, "127.0.0.1");
    rest = test_raw_read_until_eof(c);
    g_assert_cmpuint(g_bytes_get_size(rest), ==, 0);
    g_free(test_log_wait("refused: the limit of 2 connected clients from address 127.0.0.1 is "
                         "reached; closing"));
    /* Another address still gets in: loopback answers all of 127/8. */
    other = tcp_connect_from(f, "127.0.0.2");
    test_server_wait_n_clients(f->daemon, 3);
    /* A place freed is a place taken again. */
    g_clear_object(&a);
    test_server_wait_n_clients(f->daemon, 2);
    a = tcp_connect_from(f, "127.0.0.1");
    test_server_wait_n_clients(f->daemon, 3);
    g_assert_cmpuint(test_log_count("is reached"), ==, 1);
}

/* The frame timeout of the frame tests. */
#define FRAME_TIMEOUT_MS 400
/* How often the trickling peers send a byte: keepalive alone would keep
 * them (each byte is traffic). */
#define TRICKLE_MS 100

/* Waits up to @ms for the peer to close @conn; TRUE if it did.  What the
 * peer sends meanwhile goes to @got (nullable: dropped). */
static gboolean
closed_within(GSocketConnection *conn, guint ms, GByteArray *got)
{
    GSocket *socket = g_socket_connection_get_socket(conn);
    g_autoptr(GCancellable) cancellable = g_cancellable_new();
    g_autoptr(GError) error = NULL;
    guint8 buf[256];
    gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;

    for (;;) {
        gint64 left = end - g_get_monotonic_time();
        gssize n;

        if (left <= 0)
            return FALSE;
        if (!g_socket_condition_timed_wait(socket, G_IO_IN, left, NULL, &error)) {
            g_assert_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
            return FALSE;
        }
        /* Keepalive pings may come first: read past them. */
        n = g_socket_receive(socket, (gchar *)buf, sizeof(buf), NULL, &error);
        if (n <= 0)
            return TRUE;
        if (got)
            g_byte_array_append(got, buf, (guint)n);
    }
}

/* Writes @len bytes of @data to @conn. */
static void
send_bytes(GSocketConnection *conn, const guint8 *data, gsize len)
{
    g_autoptr(GError) error = NULL;

    g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn)), data, len,
                              NULL, NULL, &error);
    g_assert_no_error(error);
}

/*
 * A peer that began a frame and sends one byte of it now and then is
 * closed once the frame timeout has passed since its first byte, though
 * it was never silent for a keepalive interval.
 */
static void
test_frame_timeout(fixture *f, gconstpointer data)
{
    ferry_rpc_server_config limits = { .frame_timeout_ms = FRAME_TIMEOUT_MS,
                                       .keepalive_interval_ms = 2 * TRICKLE_MS };
    static const guint8 prefix[] = { 0, 0, 0, 100 };
    g_autoptr(GSocketConnection) conn = NULL;
    g_autofree char *logged = NULL;
    gint64 start;
    gint64 took;
    guint sent = 0;

    daemon_start(f, &limits);
    conn = tcp_connect_from(f, NULL);
    start = g_get_monotonic_time();
    for (;;) {
        /* The length first, then body bytes: one every TRICKLE_MS. */
        if (sent < sizeof(prefix))
            send_bytes(conn, &prefix[sent], 1);
        else
            send_bytes(conn, (const guint8 *)"x", 1);
        sent++;
        if (closed_within(conn, TRICKLE_MS, NULL))
            break;
        g_assert_cmpint(g_get_monotonic_time() - start, <, 10 * G_USEC_PER_SEC);
    }
    took = (g_get_monotonic_time() - start) / 1000;
    g_test_message("closed after %" G_GINT64_FORMAT " ms and %u bytes", took, sent);
    g_assert_cmpint(took, >=, FRAME_TIMEOUT_MS);
    g_assert_cmpint(took, <, FRAME_TIMEOUT_MS + 1000);
    logged = test_log_wait("the peer began a frame 400 ms ago and sent only ");
    g_assert_true(g_str_has_suffix(logged, " of its 100 bytes; closing"));
    g_assert_true(g_str_has_prefix(logged, "client 1 (tcp, 127.0.0.1:"));
}

/*
 * Frames that each end within the timeout keep their peer, however long
 * the peer keeps sending them slowly: the timer counts from each frame's
 * first byte.
 */
static void
test_frames_in_time(fixture *f, gconstpointer data)
{
    ferry_rpc_server_config limits = { .frame_timeout_ms = FRAME_TIMEOUT_MS,
                                       .keepalive_interval_ms = FERRY_RPC_KEEPALIVE_OFF };
    g_autoptr(GBytes) ping = ferry_rpc_frame_new(FERRY__PROCEDURE__KEEPALIVE_PING,
                                                 FERRY__PACKET_TYPE__EVENT, 0,
                                                 FERRY__PACKET_STATUS__OK, NULL);
    g_autoptr(ferry_rpc_decoder) dec = ferry_rpc_decoder_new(0);
    g_autoptr(GSocketConnection) conn = NULL;
    g_autoptr(GByteArray) got = g_byte_array_new();
    g_autoptr(GError) error = NULL;
    gsize size;
    const guint8 *frame = g_bytes_get_data(ping, &size);
    guint pongs = 0;

    daemon_start(f, &limits);
    conn = tcp_connect_from(f, NULL);
    /* Four frames over 4 x 2 x TRICKLE_MS, twice the timeout: each half a
     * frame, a pause, the other half (with the next frame's first half). */
    send_bytes(conn, frame, size / 2);
    for (guint i = 0; i < 4; i++) {
        g_assert_false(closed_within(conn, TRICKLE_MS, got));
        send_bytes(conn, frame + size / 2, size - size / 2);
        if (i < 3)
            send_bytes(conn, frame, size / 2);
        g_assert_false(closed_within(conn, TRICKLE_MS, got));
    }
    /* Each was answered: the peer was served all along. */
    ferry_rpc_decoder_feed(dec, got->data, got->len);
    for (;;) {
        g_autoptr(Ferry__Packet) packet = NULL;

        g_assert_true(ferry_rpc_decoder_next(dec, &packet, &error));
        if (!packet)
            break;
        g_assert_cmpuint(packet->procedure, ==, FERRY__PROCEDURE__KEEPALIVE_PONG);
        pongs++;
    }
    g_assert_cmpuint(pongs, ==, 4);
    g_assert_cmpuint(test_log_count("began a frame"), ==, 0);
}

/* ------------------------------------------------------------------------ */
/* Memory                                                                    */
/* ------------------------------------------------------------------------ */

/* A raw RPC client of the daemon, with a connection to test host @name
 * open on it. */
static ferry_rpc_client *
rpc_open(fixture *f, const char *name)
{
    Ferry__ConnectOpenArgs args = FERRY__CONNECT_OPEN_ARGS__INIT;
    g_autoptr(GError) error = NULL;
    g_autoptr(ProtobufCMessage) ret = NULL;
    g_autofree char *uri = g_strdup_printf("test:///%s", name);
    ferry_rpc_client *rpc = ferry_rpc_client_new_unix(test_server_socket(f->daemon), NULL,
                                                      &error);

    g_assert_no_error(error);
    args.uri = uri;
    ret = ferry_rpc_client_call_message(rpc, FERRY__PROCEDURE__CONNECT_OPEN, &args.base, 5000,
                                        &error);
    g_assert_no_error(error);
    return rpc;
}

/* Begin3 of domain web1 with @n disks named @disk, as the daemon gets it. */
static GError *
begin3_with_disks(ferry_rpc_client *rpc, guint n, const char *disk)
{
    Ferry__DomainMigrateBegin3Args args = FERRY__DOMAIN_MIGRATE_BEGIN3_ARGS__INIT;
    Ferry__Domain dom = FERRY__DOMAIN__INIT;
    Ferry__MigrateParams params = FERRY__MIGRATE_PARAMS__INIT;
    g_autofree char **disks = g_new(char *, n);
    g_autoptr(ProtobufCMessage) ret = NULL;
    GError *error = NULL;

    for (guint i = 0; i < n; i++)
        disks[i] = (char *)disk;
    dom.name = (char *)"web1";
    dom.uuid = (char *)MT_WEB1_UUID;
    params.flags = FERRY_MIGRATE_NON_SHARED_DISK;
    params.n_migrate_disks = n;
    params.migrate_disks = disks;
    args.dom = &dom;
    args.params = &params;
    ret = ferry_rpc_client_call_message(rpc, FERRY__PROCEDURE__DOMAIN_MIGRATE_BEGIN3,
                                        &args.base, 10000, &error);
    g_assert_null(ret);
    return error;
}

/*
 * The amplification: a frame of ~2.6 MB of empty migrate_disks
 * names would take 52 times its size once decoded; it is refused within
 * the decoding budget.  A list short enough to decode but longer than a
 * migration copies is refused before anything is copied from it.
 */
static void
test_repeated_disks(fixture *f, gconstpointer data)
{
    ferry_rpc_server_config limits = { 0 };
    g_autoptr(ferry_rpc_client) rpc = NULL;
    g_autoptr(GError) error = NULL;

    daemon_start(f, &limits);
    rpc = rpc_open(f, "amplified");
    error = begin3_with_disks(rpc, 1300000, "");
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_LIMIT);
    g_assert_true(g_str_has_prefix(error->message, "the arguments of DOMAIN_MIGRATE_BEGIN3: "));
    g_assert_true(g_str_has_suffix(error->message, " bytes of memory as a "
                                   "DomainMigrateBegin3Args message: refused"));
    g_clear_error(&error);
    error = begin3_with_disks(rpc, FERRY_MIGRATE_DISKS_MAX + 1, "vda");
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
    g_assert_cmpstr(error->message, ==, "DOMAIN_MIGRATE_BEGIN3: migrate_disks names 257 disks, "
                                        "more than the 256 a migration copies");
}

/* The calls of one client waiting for their answers hold at most
 * max_call_bytes_per_client of arguments; one more is refused, and the
 * connection stays. */
static void
test_call_bytes(fixture *f, gconstpointer data)
{
    ferry_rpc_server_config config = { .handler = &silent_handler,
                                       .handler_data = &f->silent,
                                       .max_call_bytes_per_client = 10000 };
    g_autoptr(GMainContext) context = test_context_push();
    g_autoptr(GBytes) args = g_bytes_new_take(g_malloc0(4000), 4000);
    g_autoptr(ferry_rpc_client) rpc = NULL;
    g_autoptr(GError) error = NULL;
    test_async held[2] = { 0 };
    test_async refused = { 0 };
    test_async again = { 0 };

    f->peer = test_server_start(&config);
    rpc = ferry_rpc_client_new_unix(test_server_socket(f->peer), NULL, &error);
    g_assert_no_error(error);
    for (guint i = 0; i < G_N_ELEMENTS(held); i++)
        ferry_rpc_client_call_async(rpc, FERRY__PROCEDURE__DOMAIN_DEFINE_XML, args, 0, NULL,
                                    test_async_bytes_cb, test_async_prepare(&held[i], rpc));
    ferry_rpc_client_call_async(rpc, FERRY__PROCEDURE__DOMAIN_DEFINE_XML, args, 0, NULL,
                                test_async_bytes_cb, test_async_prepare(&refused, rpc));
    test_async_wait(&refused, 1);
    g_assert_error(refused.error, FERRY_ERROR, FERRY_ERROR_LIMIT);
    g_assert_cmpstr(refused.error->message, ==,
                    "call DOMAIN_DEFINE_XML (serial 3) refused: its 4000 bytes of arguments, "
                    "with the 8000 of this connection's calls in flight, pass the limit of "
                    "10000");
    g_assert_cmpuint(test_async_count(&held[0]) + test_async_count(&held[1]), ==, 0);
    /* Answered, they make room again. */
    silent_peer_release(&f->silent);
    test_async_wait(&held[0], 1);
    test_async_wait(&held[1], 1);
    g_assert_true(ferry_rpc_client_is_alive(rpc));
    ferry_rpc_client_call_async(rpc, FERRY__PROCEDURE__DOMAIN_DEFINE_XML, args, 0, NULL,
                                test_async_bytes_cb, test_async_prepare(&again, rpc));
    /* Taken this time: the silent peer keeps it, then lets it go. */
    silent_peer_wait(&f->silent, 1);
    silent_peer_release(&f->silent);
    test_async_wait(&again, 1);
    g_assert_error(again.error, FERRY_ERROR, FERRY_ERROR_INTERNAL);
    for (guint i = 0; i < G_N_ELEMENTS(held); i++)
        test_async_clear(&held[i]);
    test_async_clear(&refused);
    test_async_clear(&again);
    g_clear_pointer(&rpc, ferry_rpc_client_unref);
    test_context_pop(g_steal_pointer(&context));
}

/* Opens the source host (@params), starts N_CALLS domains on it (into
 * @doms) and a peer-to-peer migration of each to @dconn_uri. */
static ferry_conn *
migrate_many(fixture *f, const char *params, const char *dconn_uri, GPtrArray *doms,
             perform_outcome *o)
{
    g_autofree char *src_uri = daemon_uri(f, "src", params);
    ferry_conn *src = mt_conn_open(src_uri);

    for (guint i = 0; i < N_CALLS; i++)
        g_ptr_array_add(doms, start_vm(src, i));
    start_p2p(doms, dconn_uri, o);
    return src;
}

/* `ferry list` on @conn answers at once, while @what. */
static void
assert_list_quick(ferry_conn *conn, const char *what)
{
    gint64 took = time_list(conn);

    g_test_message("list took %" G_GINT64_FORMAT " us with %u migrations %s", took, N_CALLS,
                   what);
    g_assert_cmpint(took, <, LIST_LIMIT_US);
}

/* Migrations whose destination is the daemon itself, another host of it:
 * they complete, and the daemon answers meanwhile. */
static void
test_p2p_to_self(fixture *f, gconstpointer data)
{
    g_autoptr(GMainContext) context = test_context_push();
    g_autofree char *dst_uri = daemon_uri(f, "dst", "host_uuid=" DST_UUID);
    g_autoptr(ferry_conn) dst = mt_conn_open(dst_uri);
    g_autoptr(GPtrArray) doms = g_ptr_array_new_with_free_func((GDestroyNotify)ferry_domain_unref);
    perform_outcome o[N_CALLS] = { 0 };
    g_autoptr(ferry_conn) src = migrate_many(f, "host_uuid=" SRC_UUID "&hold=perform", dst_uri,
                                             doms, o);

    wait_held(N_CALLS);
    assert_list_quick(src, "to itself in their transfer");
    ferry_test_driver_release(SRC_UUID);
    wait_all(o, N_CALLS, 30);
    for (guint i = 0; i < N_CALLS; i++)
        g_assert_no_error(o[i].error);
    g_assert_cmpuint(mt_count_domains(dst), ==, N_CALLS);
    test_context_pop(g_steal_pointer(&context));
}

/* Every migration of @doms failed with @code, saying @words, and left its
 * domain running on the source @src. */
static void
assert_all_refused(ferry_conn *src, GPtrArray *doms, perform_outcome *o, int code,
                   const char *words)
{
    for (guint i = 0; i < doms->len; i++) {
        const char *name = ferry_domain_get_name(g_ptr_array_index(doms, i));

        g_assert_error(o[i].error, FERRY_ERROR, code);
        g_assert_nonnull(strstr(o[i].error->message, words));
        g_clear_error(&o[i].error);
        mt_assert_state(src, name, FERRY_DOMAIN_RUNNING, FERRY_RUNNING_BOOTED);
    }
}

/* Migrations whose destination is the source host itself: each fails
 * cleanly, the domains run on. */
static void
test_p2p_to_same_host(fixture *f, gconstpointer data)
{
    g_autoptr(GMainContext) context = test_context_push();
    g_autofree char *self_uri = daemon_uri(f, "src", "host_uuid=" SRC_UUID);
    g_autoptr(GPtrArray) doms = g_ptr_array_new_with_free_func((GDestroyNotify)ferry_domain_unref);
    perform_outcome o[N_CALLS] = { 0 };
    g_autoptr(ferry_conn) src = migrate_many(f, "host_uuid=" SRC_UUID, self_uri, doms, o);

    assert_list_quick(src, "to their own host");
    wait_all(o, N_CALLS, 30);
    assert_all_refused(src, doms, o, FERRY_ERROR_MIGRATE, "migration to the same host refused");
    test_context_pop(g_steal_pointer(&context));
}

/* Migrations to a peer that never answers: the daemon answers meanwhile,
 * and the migrations fail once opening the connection timed out. */
static void
test_p2p_to_silent_peer(fixture *f, gconstpointer data)
{
    g_autoptr(GMainContext) context = test_context_push();
    g_autofree char *peer_uri = g_strdup_printf("test+unix:///dst?socket=%s",
                                                test_server_socket(f->peer));
    g_autoptr(GPtrArray) doms = g_ptr_array_new_with_free_func((GDestroyNotify)ferry_domain_unref);
    perform_outcome o[N_CALLS] = { 0 };
    g_autoptr(ferry_conn) src = migrate_many(f, "host_uuid=" SRC_UUID, peer_uri, doms, o);
    g_autofree char *expected = NULL;

    test_server_wait_n_clients(f->peer, N_CALLS);
    assert_list_quick(src, "to a silent peer");
    /* Opening the connection is a quick call: bounded (30 s). */
    wait_all(o, N_CALLS, 45);
    expected = g_strdup_printf("': ferryd at UNIX socket '%s' did not answer CONNECT_OPEN "
                               "within 30000 ms", test_server_socket(f->peer));
    assert_all_refused(src, doms, o, FERRY_ERROR_TIMEOUT, expected);
    test_context_pop(g_steal_pointer(&context));
}

/*
 * A destination that opens and then never answers Prepare: the source's
 * job gives up after migration_abandon_timeout (1 s here), and with it the
 * peer-to-peer sequence, which answers its caller instead of waiting for
 * the destination forever.
 */
static void
test_p2p_prepare_unanswered(fixture *f, gconstpointer data)
{
    g_autoptr(GMainContext) context = test_context_push();
    g_autofree char *peer_uri = g_strdup_printf("test+unix:///dst?socket=%s",
                                                test_server_socket(f->peer));
    g_autoptr(GPtrArray) doms = g_ptr_array_new_with_free_func((GDestroyNotify)ferry_domain_unref);
    perform_outcome o[N_CALLS] = { 0 };
    g_autoptr(ferry_conn) src = NULL;

    f->silent.opens = TRUE;
    src = migrate_many(f, "host_uuid=" SRC_UUID "&abandon_timeout=1", peer_uri, doms, o);
    assert_list_quick(src, "waiting for Prepare");
    wait_all(o, N_CALLS, 20);
    assert_all_refused(src, doms, o, FERRY_ERROR_OPERATION_ABORTED,
                       "' aborted: no phase came within migration_abandon_timeout (1 s)");
    test_context_pop(g_steal_pointer(&context));
}

/*
 * The link probe of `ferry migrate --estimate` to a peer that takes its
 * call and never answers (keepalive pings it does answer): the call gives
 * up after its bound (10 s), saying so, instead of holding the estimate,
 * and the worker that made it, for ever.
 */
static void
test_probe_unanswered(fixture *f, gconstpointer data)
{
    g_autoptr(GMainContext) context = test_context_push();
    g_autofree char *peer_uri = g_strdup_printf("test+unix:///dst?socket=%s",
                                                test_server_socket(f->peer));
    g_autoptr(GBytes) chunk = g_bytes_new_take(g_malloc0(1024 * 1024), 1024 * 1024);
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_conn) peer = NULL;
    guint64 received = 0;
    gboolean postcopy = FALSE;
    gint64 start;

    f->silent.opens = TRUE;
    peer = mt_conn_open(peer_uri);
    g_assert_nonnull(peer->driver->conn_migrate_probe);
    start = g_get_monotonic_time();
    g_assert_false(peer->driver->conn_migrate_probe(peer, chunk, &received, &postcopy, &error));
    g_test_message("after %.1f s: %s", (g_get_monotonic_time() - start) / 1e6,
                   error ? error->message : "(no error)");
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_TIMEOUT);
    g_assert_cmpint(g_get_monotonic_time() - start, >=, 9 * G_TIME_SPAN_SECOND);
    g_assert_cmpint(g_get_monotonic_time() - start, <, 20 * G_TIME_SPAN_SECOND);
    silent_peer_wait(&f->silent, 1);
    test_context_pop(g_steal_pointer(&context));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_log_init();
#define ADD(path, func) g_test_add(path, fixture, NULL, fixture_setup, func, fixture_teardown)
#define ADD_PEER(path, func) \
    g_test_add(path, fixture, NULL, fixture_setup_peer, func, fixture_teardown)
    ADD("/rpc-limits/clients-per-transport", test_clients_per_transport);
    ADD("/rpc-limits/clients-per-address", test_clients_per_address);
    ADD("/rpc-limits/frame-timeout", test_frame_timeout);
    ADD("/rpc-limits/frames-in-time", test_frames_in_time);
    ADD("/rpc-limits/repeated-disks", test_repeated_disks);
    ADD("/rpc-limits/call-bytes", test_call_bytes);
    ADD_PEER("/rpc-limits/p2p-to-self", test_p2p_to_self);
    ADD_PEER("/rpc-limits/p2p-to-same-host", test_p2p_to_same_host);
    ADD_PEER("/rpc-limits/p2p-to-silent-peer", test_p2p_to_silent_peer);
    ADD_PEER("/rpc-limits/p2p-prepare-unanswered", test_p2p_prepare_unanswered);
    ADD_PEER("/rpc-limits/probe-unanswered", test_probe_unanswered);
#undef ADD_PEER
#undef ADD
    return g_test_run();
}
