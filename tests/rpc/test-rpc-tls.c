/*
 * test-rpc-tls.c: TLS between the RPC client and server (src/rpc/rpc-tls.c)
 * with certificates made by scripts/make-certs: a client the CA signed
 * and the server allows gets its calls answered; a client with a
 * certificate from another CA, with none, an expired one, or a name not
 * in the allowed list, and a plaintext client, are refused before any of
 * their frames reaches the handler, and the server says why in its log;
 * a client refuses a server whose certificate does not name the host it
 * dialled, or that another CA signed.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <glib/gstdio.h>
#include <string.h>

#include "ferry.pb-c.h"
#include "rpc-test-util.h"
#include "rpc/rpc-message.h"

/* ------------------------------------------------------------------------ */
/* Certificates, made once                                                   */
/* ------------------------------------------------------------------------ */

static char *pki;               /* the temporary directory of them all */

static void
make_certs(const char *const *args)
{
    g_autofree char *script = g_build_filename(g_getenv("FERRY_SOURCE_DIR"), "scripts",
                                               "make-certs", NULL);
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GError) error = NULL;
    g_autofree char *err = NULL;
    gint status = 0;

    g_ptr_array_add(argv, script);
    for (guint i = 0; args[i]; i++)
        g_ptr_array_add(argv, (char *)args[i]);
    g_ptr_array_add(argv, NULL);
    g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, &err,
                 &status, &error);
    g_assert_no_error(error);
    if (!g_spawn_check_wait_status(status, NULL))
        g_error("make-certs %s failed: %s", args[0], err);
}

static char *
pki_path(const char *name)
{
    return g_build_filename(pki, name, NULL);
}

static void
copy_file(const char *from, const char *to)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    g_autoptr(GError) error = NULL;

    g_file_get_contents(from, &data, &len, &error);
    g_assert_no_error(error);
    g_file_set_contents(to, data, (gssize)len, &error);
    g_assert_no_error(error);
}

static void
setup_certs(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *ca = NULL, *ca2 = NULL, *srv = NULL, *srv2 = NULL;
    g_autofree char *good = NULL, *stranger = NULL, *old = NULL, *evil = NULL;
    g_autofree char *from = NULL, *to = NULL;

    pki = g_dir_make_tmp("ferry-tls-test-XXXXXX", &error);
    g_assert_no_error(error);
    ca = pki_path("ca");
    ca2 = pki_path("ca2");
    srv = pki_path("server");
    srv2 = pki_path("server-other-ca");
    good = pki_path("admin");
    stranger = pki_path("stranger");
    old = pki_path("old");
    evil = pki_path("evil");
    make_certs((const char *[]){ "ca", ca, "test CA", NULL });
    make_certs((const char *[]){ "ca", ca2, "another CA", NULL });
    make_certs((const char *[]){ "host", ca, srv, "hosta", "127.0.0.1", NULL });
    make_certs((const char *[]){ "host", ca2, srv2, "hosta", "127.0.0.1", NULL });
    make_certs((const char *[]){ "client", ca, good, "admin", NULL });
    make_certs((const char *[]){ "client", ca, stranger, "stranger", NULL });
    make_certs((const char *[]){ "client", ca, old, "admin", "--expired", NULL });
    /* Signed by the other CA, but trusting ours: only its certificate is
     * wrong. */
    make_certs((const char *[]){ "client", ca2, evil, "admin", NULL });
    from = g_build_filename(ca, "cacert.pem", NULL);
    to = g_build_filename(evil, "cacert.pem", NULL);
    copy_file(from, to);
}

static void
remove_tree(const char *path)
{
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    const char *name;

    while (dir && (name = g_dir_read_name(dir))) {
        g_autofree char *child = g_build_filename(path, name, NULL);

        if (g_file_test(child, G_FILE_TEST_IS_DIR))
            remove_tree(child);
        else
            g_unlink(child);
    }
    g_rmdir(path);
}

/* ------------------------------------------------------------------------ */
/* A handler that counts                                                     */
/* ------------------------------------------------------------------------ */

static gint opened;            /* atomic: clients the handler saw */
static gint calls;             /* atomic: calls that reached it */
static char *last_name;        /* the TLS name of the last client opened */
static GMutex name_lock;

static gpointer
count_open(gpointer handler_data, ferry_rpc_server_client *client)
{
    g_mutex_lock(&name_lock);
    g_free(last_name);
    last_name = g_strdup(ferry_rpc_server_client_get_tls_name(client));
    g_mutex_unlock(&name_lock);
    g_atomic_int_inc(&opened);
    return NULL;
}

static void
count_call(gpointer handler_data, ferry_rpc_server_client *client, gpointer client_data,
           guint32 procedure, GBytes *args, ferry_rpc_call *call)
{
    Ferry__ConnectGetHostnameRet ret = FERRY__CONNECT_GET_HOSTNAME_RET__INIT;
    g_autoptr(GBytes) body = NULL;

    g_atomic_int_inc(&calls);
    ret.hostname = (char *)"tls-host";
    body = ferry_rpc_message_pack(&ret.base);
    ferry_rpc_call_return(call, body);
}

static const ferry_rpc_handler count_handler = {
    .client_open = count_open,
    .call = count_call,
};

static test_server *
start(const char *server_dir, const char *const *names)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = pki_path(server_dir);
    g_autoptr(ferry_rpc_tls) tls = ferry_rpc_tls_new_server(dir, names, &error);
    ferry_rpc_server_config config = { .handler = &count_handler };

    g_assert_no_error(error);
    g_atomic_int_set(&opened, 0);
    g_atomic_int_set(&calls, 0);
    test_log_clear();
    return test_server_start_tls(&config, tls);
}

/* Connects with the client credentials in @client_dir to @host. */
static ferry_rpc_client *
connect_as(test_server *ts, const char *client_dir, const char *host, GError **error)
{
    g_autofree char *dir = pki_path(client_dir);
    g_autoptr(ferry_rpc_tls) tls = ferry_rpc_tls_new_client(dir, error);

    if (!tls)
        return NULL;
    return ferry_rpc_client_new_tls(host, test_server_tls_port(ts), tls, NULL, error);
}

/* One call; its error, or NULL after checking the answer. */
static GError *
hostname_call(ferry_rpc_client *client)
{
    Ferry__ConnectGetHostnameArgs args = FERRY__CONNECT_GET_HOSTNAME_ARGS__INIT;
    GError *error = NULL;
    g_autoptr(ProtobufCMessage) ret =
        ferry_rpc_client_call_message(client, FERRY__PROCEDURE__CONNECT_GET_HOSTNAME,
                                      &args.base, 10000, &error);

    if (!ret)
        return error;
    g_assert_cmpstr(((Ferry__ConnectGetHostnameRet *)ret)->hostname, ==, "tls-host");
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                     */
/* ------------------------------------------------------------------------ */

static void
test_allowed(void)
{
    static const char *const names[] = { "admin", "host*", NULL };
    test_server *ts = start("server", names);
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_rpc_client) client = connect_as(ts, "admin", "127.0.0.1", &error);

    g_assert_no_error(error);
    error = hostname_call(client);
    g_assert_no_error(error);
    g_assert_cmpint(g_atomic_int_get(&calls), ==, 1);
    g_mutex_lock(&name_lock);
    g_assert_cmpstr(last_name, ==, "admin");
    g_mutex_unlock(&name_lock);
    g_clear_pointer(&client, ferry_rpc_client_unref);
    test_server_stop(ts);
}

/* A client the server refuses: its handshake may end (TLS 1.3 finishes
 * the client's side first), but its first call fails, the handler saw
 * nothing, and the server logged @why. */
static void
check_refused(const char *client_dir, const char *why)
{
    static const char *const names[] = { "admin", NULL };
    test_server *ts = start("server", names);
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_rpc_client) client = connect_as(ts, client_dir, "127.0.0.1", &error);
    g_autofree char *logged = NULL;

    if (client) {
        g_assert_no_error(error);
        error = hostname_call(client);
        g_assert_nonnull(error);
    }
    g_test_message("client %s: %s", client_dir, error->message);
    logged = test_log_wait(why);
    g_assert_nonnull(strstr(logged, "(tls, 127.0.0.1:"));
    g_assert_nonnull(strstr(logged, "refused"));
    g_assert_cmpint(g_atomic_int_get(&opened), ==, 0);
    g_assert_cmpint(g_atomic_int_get(&calls), ==, 0);
    g_clear_pointer(&client, ferry_rpc_client_unref);
    test_server_stop(ts);
}

static void
test_name_not_allowed(void)
{
    check_refused("stranger", "certificate name 'stranger' (subject 'O=ferry,CN=stranger') "
                              "is not in tls_allowed_names");
}

static void
test_expired(void)
{
    check_refused("old", "the client's certificate is refused: it has expired");
}

static void
test_other_ca(void)
{
    check_refused("evil", "the client's certificate is refused: it is not signed by the CA");
}

/* A client that presents no certificate at all (GIO directly: ferry's own
 * client always presents one). */
static void
test_no_certificate(void)
{
    test_server *ts = start("server", NULL);
    g_autoptr(GSocketClient) sc = g_socket_client_new();
    g_autoptr(GSocketConnection) conn = NULL;
    g_autoptr(GIOStream) tls = NULL;
    g_autoptr(GTlsDatabase) ca = NULL;
    g_autoptr(GSocketConnectable) id = g_network_address_new("127.0.0.1",
                                                             test_server_tls_port(ts));
    g_autofree char *ca_file = g_build_filename(pki, "ca", "cacert.pem", NULL);
    g_autoptr(GError) error = NULL;
    g_autofree char *logged = NULL;
    char byte;

    /* As ferry's own clients: no proxy (whose resolver would load GIO
     * modules, and threads, this test has no use for). */
    g_socket_client_set_enable_proxy(sc, FALSE);
    conn = g_socket_client_connect_to_host(sc, "127.0.0.1", test_server_tls_port(ts), NULL,
                                           &error);
    g_assert_no_error(error);
    ca = g_tls_file_database_new(ca_file, &error);
    g_assert_no_error(error);
    tls = g_tls_client_connection_new(G_IO_STREAM(conn), id, &error);
    g_assert_no_error(error);
    g_tls_connection_set_database(G_TLS_CONNECTION(tls), ca);
    /* Either the handshake fails, or the first read finds the door shut
     * (errors taken: GIO's TLS module leaks one dropped on a NULL). */
    if (g_tls_connection_handshake(G_TLS_CONNECTION(tls), NULL, &error))
        g_assert_cmpint(g_input_stream_read(g_io_stream_get_input_stream(tls), &byte, 1, NULL,
                                            &error), <=, 0);
    g_clear_error(&error);
    logged = test_log_wait("refused: TLS");
    g_test_message("%s", logged);
    g_assert_cmpint(g_atomic_int_get(&opened), ==, 0);
    g_io_stream_close(tls, NULL, NULL);
    test_server_stop(ts);
}

/* Plaintext frames to the TLS port are no handshake. */
static void
test_plaintext_refused(void)
{
    test_server *ts = start("server", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_rpc_client) client =
        ferry_rpc_client_new_tcp("127.0.0.1", test_server_tls_port(ts), NULL, &error);
    g_autofree char *logged = NULL;

    g_assert_no_error(error);
    error = hostname_call(client);
    g_assert_nonnull(error);
    logged = test_log_wait("refused: TLS handshake failed");
    g_assert_cmpint(g_atomic_int_get(&calls), ==, 0);
    g_clear_pointer(&client, ferry_rpc_client_unref);
    test_server_stop(ts);
}

/* The client checks the server: the name it dialled, and the CA. */
static void
test_server_checked(void)
{
    test_server *ts = start("server", NULL);
    test_server *other = start("server-other-ca", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_rpc_client) client = connect_as(ts, "admin", "localhost", &error);

    g_assert_null(client);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_AUTH_FAILED);
    g_assert_nonnull(strstr(error->message, "it does not name the host dialled"));
    g_clear_error(&error);
    client = connect_as(other, "admin", "127.0.0.1", &error);
    g_assert_null(client);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_AUTH_FAILED);
    g_assert_nonnull(strstr(error->message, "it is not signed by the CA"));
    g_assert_cmpint(g_atomic_int_get(&calls), ==, 0);
    test_server_stop(other);
    test_server_stop(ts);
}

/* Files that are not there are named. */
static void
test_missing_files(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = pki_path("nowhere");
    g_autoptr(ferry_rpc_tls) tls = ferry_rpc_tls_new_server(dir, NULL, &error);
    g_autofree char *want = g_strdup_printf("'%s/cacert.pem'", dir);

    g_assert_null(tls);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG);
    g_assert_nonnull(strstr(error->message, want));
    g_clear_error(&error);
    /* A client directory with the CA only: its certificate is named. */
    g_free(dir);
    dir = pki_path("ca");
    tls = ferry_rpc_tls_new_client(dir, &error);
    g_assert_null(tls);
    g_assert_nonnull(strstr(error->message, "clientcert.pem"));
}

int
main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    test_log_init();
    if (!g_tls_backend_supports_tls(g_tls_backend_get_default())) {
        /* Said, and failed: CI must have glib-networking. */
        g_printerr("GIO has no TLS backend: install glib-networking\n");
        return 1;
    }
    setup_certs();
    g_test_add_func("/rpc/tls/allowed", test_allowed);
    g_test_add_func("/rpc/tls/refused/name-not-allowed", test_name_not_allowed);
    g_test_add_func("/rpc/tls/refused/expired", test_expired);
    g_test_add_func("/rpc/tls/refused/other-ca", test_other_ca);
    g_test_add_func("/rpc/tls/refused/no-certificate", test_no_certificate);
    g_test_add_func("/rpc/tls/refused/plaintext", test_plaintext_refused);
    g_test_add_func("/rpc/tls/server-checked", test_server_checked);
    g_test_add_func("/rpc/tls/missing-files", test_missing_files);
    ret = g_test_run();
    remove_tree(pki);
    g_free(pki);
    g_free(last_name);
    return ret;
}
