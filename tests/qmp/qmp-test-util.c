/*
 * qmp-test-util.c: helpers shared by the QMP tests (see qmp-test-util.h).
 *
 * Owns: recording a monitor's events and close; bounded waits.
 * Must not: sleep; hide failures (a wait that runs out fails the test).
 */
#include "ferry-config.h"

#include <string.h>

#include <ferry/ferry.h>

#include "qmp-test-util.h"

#define QMP_TEST_RESULT_TIMEOUT_MS 10000

static void
qmp_test_event_free(gpointer data)
{
    qmp_test_event *ev = data;

    g_free(ev->name);
    if (ev->data)
        json_object_put(ev->data);
    g_free(ev);
}

static void
on_event(ferry_qmp *qmp, const char *event, json_object *data, gint64 timestamp_us,
         gpointer user_data)
{
    qmp_test_monitor *mon = user_data;
    qmp_test_event *ev = g_new0(qmp_test_event, 1);

    ev->name = g_strdup(event);
    ev->data = data ? json_object_get(data) : NULL;
    ev->timestamp_us = timestamp_us;
    ev->thread = g_thread_self();
    g_mutex_lock(&mon->lock);
    g_ptr_array_add(mon->events, ev);
    g_mutex_unlock(&mon->lock);
    if (mon->hook)
        mon->hook(mon, event);
}

static void
on_close(ferry_qmp *qmp, const GError *reason, gpointer user_data)
{
    qmp_test_monitor *mon = user_data;

    g_mutex_lock(&mon->lock);
    mon->closes++;
    g_clear_error(&mon->close_reason);
    mon->close_reason = g_error_copy(reason);
    g_mutex_unlock(&mon->lock);
}

qmp_test_monitor *
qmp_test_monitor_new(GMainContext *context, const char *name)
{
    qmp_test_monitor *mon = g_new0(qmp_test_monitor, 1);

    mon->context = context ? g_main_context_ref(context) : g_main_context_ref_thread_default();
    mon->qmp = ferry_qmp_new(mon->context, name);
    g_mutex_init(&mon->lock);
    mon->events = g_ptr_array_new_with_free_func(qmp_test_event_free);
    ferry_qmp_set_event_handler(mon->qmp, on_event, mon, NULL);
    ferry_qmp_set_close_handler(mon->qmp, on_close, mon, NULL);
    return mon;
}

void
qmp_test_monitor_free(qmp_test_monitor *mon)
{
    if (!mon)
        return;
    g_clear_pointer(&mon->qmp, ferry_qmp_unref);
    g_ptr_array_unref(mon->events);
    g_clear_error(&mon->close_reason);
    g_mutex_clear(&mon->lock);
    g_main_context_unref(mon->context);
    g_free(mon);
}

static gboolean
on_deadline(gpointer data)
{
    gboolean *expired = data;

    *expired = TRUE;
    return G_SOURCE_REMOVE;
}

gboolean
qmp_test_wait(GMainContext *context, qmp_test_condition cond, gpointer data, guint timeout_ms)
{
    gboolean expired = FALSE;
    GSource *deadline = g_timeout_source_new(timeout_ms);

    g_source_set_callback(deadline, on_deadline, &expired, NULL);
    g_source_attach(deadline, context);
    while (!cond(data) && !expired)
        g_main_context_iteration(context, TRUE);
    g_source_destroy(deadline);
    g_source_unref(deadline);
    return cond(data);
}

typedef struct {
    qmp_test_monitor *mon;
    const char *name;
    const qmp_test_event *found;
} event_wait;

static gboolean
event_seen(gpointer data)
{
    event_wait *w = data;

    g_mutex_lock(&w->mon->lock);
    for (guint i = 0; i < w->mon->events->len && !w->found; i++) {
        const qmp_test_event *ev = w->mon->events->pdata[i];

        if (strcmp(ev->name, w->name) == 0)
            w->found = ev;
    }
    g_mutex_unlock(&w->mon->lock);
    return w->found != NULL;
}

const qmp_test_event *
qmp_test_wait_event(qmp_test_monitor *mon, const char *name, guint timeout_ms)
{
    event_wait w = { mon, name, NULL };

    qmp_test_wait(mon->context, event_seen, &w, timeout_ms);
    return w.found;
}

static gboolean
closed(gpointer data)
{
    qmp_test_monitor *mon = data;
    gboolean ret;

    g_mutex_lock(&mon->lock);
    ret = mon->closes > 0;
    g_mutex_unlock(&mon->lock);
    return ret;
}

guint
qmp_test_wait_closed(qmp_test_monitor *mon, guint timeout_ms)
{
    guint n;

    qmp_test_wait(mon->context, closed, mon, timeout_ms);
    g_mutex_lock(&mon->lock);
    n = mon->closes;
    g_mutex_unlock(&mon->lock);
    return n;
}

void
qmp_test_store_result(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GAsyncResult **ret = user_data;

    g_assert_null(*ret);
    *ret = g_object_ref(result);
}

static gboolean
result_set(gpointer data)
{
    GAsyncResult **result = data;

    return *result != NULL;
}

void
qmp_test_wait_result(GMainContext *context, GAsyncResult **result)
{
    if (!qmp_test_wait(context, result_set, result, QMP_TEST_RESULT_TIMEOUT_MS))
        g_error("no result within %d ms", QMP_TEST_RESULT_TIMEOUT_MS);
}

json_object *
qmp_test_command(qmp_test_monitor *mon, const char *command, json_object *arguments, int fd,
                 GError **error)
{
    g_autoptr(GAsyncResult) result = NULL;

    ferry_qmp_command_async(mon->qmp, command, arguments, fd, NULL, qmp_test_store_result,
                            &result);
    qmp_test_wait_result(mon->context, &result);
    return ferry_qmp_command_finish(mon->qmp, result, error);
}

gboolean
qmp_test_connect(qmp_test_monitor *mon, const char *path, guint timeout_ms, GError **error)
{
    g_autoptr(GAsyncResult) result = NULL;

    ferry_qmp_connect_async(mon->qmp, path, timeout_ms, NULL, qmp_test_store_result, &result);
    qmp_test_wait_result(mon->context, &result);
    return ferry_qmp_connect_finish(mon->qmp, result, error);
}

const char *
qmp_test_get_string(json_object *obj, const char *key)
{
    json_object *member = NULL;

    if (!json_object_object_get_ex(obj, key, &member) ||
        !json_object_is_type(member, json_type_string))
        return NULL;
    return json_object_get_string(member);
}

char *
qmp_test_data_path(const char *name)
{
    return g_build_filename(FERRY_SOURCE_DIR, "tests", "qmp", "data", name, NULL);
}
