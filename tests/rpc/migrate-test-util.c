/*
 * migrate-test-util.c: the helpers of the migration tests
 * (migrate-test-util.h).
 */
#include "ferry-config.h"

#include <string.h>

#include "migrate-test-util.h"

#define WEB1_HEAD                                                         \
    "<domain type='test'>\n"                                              \
    "  <name>web1</name>\n"                                               \
    "  <uuid>" MT_WEB1_UUID "</uuid>\n"                                   \
    "  <memory unit='MiB'>64</memory>\n"                                  \
    "  <vcpu>1</vcpu>\n"                                                  \
    "  <os><type arch='x86_64' machine='pc'>hvm</type></os>\n"

#define DISK(dev, extra)                                                  \
    "    <disk type='file' device='disk'>\n"                              \
    "      <driver name='qemu' type='qcow2'/>\n"                          \
    "      <source file='/var/lib/ferry/images/web1-" dev ".qcow2'/>\n"   \
    "      <target dev='" dev "'/>\n" extra                               \
    "    </disk>\n"

const char *const mt_web1_xml = WEB1_HEAD "</domain>\n";

const char *const mt_web1_disks_xml =
    WEB1_HEAD
    "  <devices>\n"
    DISK("vda", "")
    DISK("vdb", "")
    DISK("vdc", "      <readonly/>\n")
    "  </devices>\n"
    "</domain>\n";

ferry_conn *
mt_conn_open(const char *uri)
{
    g_autoptr(GError) error = NULL;
    ferry_conn *conn = ferry_conn_open(uri, &error);

    g_assert_no_error(error);
    g_assert_nonnull(conn);
    return conn;
}

ferry_conn *
mt_open_test_host(const char *name, const char *params)
{
    g_autofree char *uri = g_strdup_printf("test:///%s%s%s", name, params ? "?" : "",
                                           params ? params : "");

    return mt_conn_open(uri);
}

ferry_domain *
mt_domain_start(ferry_conn *conn, const char *xml)
{
    g_autoptr(GError) error = NULL;
    ferry_domain *dom = ferry_domain_define_xml(conn, xml, &error);

    g_assert_no_error(error);
    g_assert_true(ferry_domain_start(dom, 0, &error));
    g_assert_no_error(error);
    return dom;
}

guint
mt_count_domains(ferry_conn *conn)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) doms = NULL;

    g_assert_true(ferry_conn_list_domains(conn, 0, &doms, &error));
    g_assert_no_error(error);
    return doms->len;
}

void
mt_assert_state(ferry_conn *conn, const char *name, int state, int reason)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) dom = ferry_domain_lookup_by_name(conn, name, &error);
    ferry_domain_info info = { 0 };

    g_assert_no_error(error);
    g_assert_true(ferry_domain_get_info(dom, &info, &error));
    g_assert_cmpstr(ferry_domain_state_to_string(info.state), ==,
                    ferry_domain_state_to_string(state));
    g_assert_cmpstr(ferry_domain_state_reason_to_string(info.state, info.reason), ==,
                    ferry_domain_state_reason_to_string(state, reason));
}

void
mt_assert_strv(char *const *got, const char *const *want)
{
    g_autofree char *got_s = got ? g_strjoinv(",", (char **)got) : g_strdup("(null)");
    g_autofree char *want_s = want ? g_strjoinv(",", (char **)want) : g_strdup("(null)");

    g_assert_cmpstr(got_s, ==, want_s);
}

struct mt_migration {
    ferry_domain *dom;
    ferry_conn *dconn;
    const ferry_migrate_params *params;
    GThread *thread;
    guint events_id;
    gboolean progress;          /* main context: a job-progress event came */
    ferry_domain *result;
    GError *error;
    gint done;                  /* atomic: the migration returned */
};

static gpointer
migration_thread(gpointer data)
{
    mt_migration *m = data;

    m->result = ferry_domain_migrate(m->dom, m->dconn, m->params, NULL, &m->error);
    /* Should it end without its event, the waiting test must not hang. */
    g_atomic_int_set(&m->done, 1);
    g_main_context_wakeup(NULL);
    return NULL;
}

static void
on_event(ferry_conn *conn, const ferry_event *ev, gpointer data)
{
    if (ev->type == FERRY_EVENT_JOB_PROGRESS)
        ((mt_migration *)data)->progress = TRUE;
}

mt_migration *
mt_migration_start(ferry_domain *dom, ferry_conn *dconn, const ferry_migrate_params *params)
{
    g_autoptr(GError) error = NULL;
    mt_migration *m = g_new0(mt_migration, 1);

    m->dom = ferry_domain_ref(dom);
    m->dconn = ferry_conn_ref(dconn);
    m->params = params;
    m->events_id = ferry_conn_subscribe_events(ferry_domain_get_conn(dom), on_event, m, NULL,
                                               &error);
    g_assert_no_error(error);
    m->thread = g_thread_new("migrate", migration_thread, m);
    return m;
}

void
mt_migration_wait_progress(mt_migration *m)
{
    while (!m->progress && !g_atomic_int_get(&m->done))
        g_main_context_iteration(NULL, TRUE);
    g_assert_true(m->progress);
}

ferry_domain *
mt_migration_finish(mt_migration *m, GError **error)
{
    g_autoptr(GError) local = NULL;
    ferry_domain *result;

    g_thread_join(m->thread);
    g_assert_true(ferry_conn_unsubscribe_events(ferry_domain_get_conn(m->dom), m->events_id,
                                                &local));
    g_assert_no_error(local);
    result = m->result;
    if (m->error)
        g_propagate_error(error, m->error);
    ferry_domain_unref(m->dom);
    ferry_conn_unref(m->dconn);
    g_free(m);
    return result;
}

/* ------------------------------------------------------------------------ */
/* The engine's warnings                                                     */
/* ------------------------------------------------------------------------ */

static GMutex log_lock;
static GPtrArray *log_warnings;

static GLogWriterOutput
log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
    const char *domain = NULL;
    const char *message = NULL;

    for (gsize i = 0; i < n_fields; i++) {
        if (g_strcmp0(fields[i].key, "GLIB_DOMAIN") == 0)
            domain = fields[i].value;
        else if (g_strcmp0(fields[i].key, "MESSAGE") == 0)
            message = fields[i].value;
    }
    if (g_strcmp0(domain, "ferry-migration") == 0 && (level & G_LOG_LEVEL_WARNING)) {
        g_test_message("recorded warning: %s", message);
        g_mutex_lock(&log_lock);
        g_ptr_array_add(log_warnings, g_strdup(message));
        g_mutex_unlock(&log_lock);
        return G_LOG_WRITER_HANDLED;
    }
    return g_log_writer_default(level, fields, n_fields, data);
}

void
mt_log_init(void)
{
    log_warnings = g_ptr_array_new_with_free_func(g_free);
    g_log_set_writer_func(log_writer, NULL, NULL);
}

guint
mt_log_take(const char *substring)
{
    guint n = 0;

    g_mutex_lock(&log_lock);
    for (guint i = 0; i < log_warnings->len;) {
        if (strstr(log_warnings->pdata[i], substring)) {
            g_ptr_array_remove_index(log_warnings, i);
            n++;
        } else {
            i++;
        }
    }
    g_mutex_unlock(&log_lock);
    return n;
}

void
mt_log_assert_empty(void)
{
    g_mutex_lock(&log_lock);
    if (log_warnings->len > 0)
        g_error("unexpected warning: %s", (char *)log_warnings->pdata[0]);
    g_mutex_unlock(&log_lock);
}
