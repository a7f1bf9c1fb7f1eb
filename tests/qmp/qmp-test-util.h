/*
 * qmp-test-util.h: what the QMP tests share -- a monitor that records its
 * events and its close, and waiting on a context with a deadline.
 *
 * Owns: test scaffolding only.  Must not: sleep to synchronise; every wait
 * is a condition checked while iterating a context, bounded by a deadline.
 */
#pragma once

#include <gio/gio.h>
#include <json-c/json.h>

#include "qmp/qmp.h"

G_BEGIN_DECLS

/* One event as the monitor's event handler saw it. */
typedef struct {
    char *name;
    json_object *data;          /* (nullable) */
    gint64 timestamp_us;
    GThread *thread;            /* where the handler ran */
} qmp_test_event;

typedef struct _qmp_test_monitor qmp_test_monitor;

/* Called by the event handler after it recorded @event (outside the lock). */
typedef void (*qmp_test_event_hook)(qmp_test_monitor *mon, const char *event);

/*
 * A monitor whose event and close handlers record into it.  The lock
 * guards everything below it: the handlers run on the monitor's context,
 * which may be iterated by another thread than the test's.
 */
struct _qmp_test_monitor {
    GMainContext *context;
    ferry_qmp *qmp;
    qmp_test_event_hook hook;   /* (nullable) set before connecting */
    gpointer hook_data;
    GMutex lock;
    GPtrArray *events;          /* of qmp_test_event */
    guint closes;
    GError *close_reason;
};

/**
 * qmp_test_monitor_new:
 * @context: (nullable): the monitor's context; NULL for the default one
 * @name: the monitor's name in errors
 */
qmp_test_monitor *qmp_test_monitor_new(GMainContext *context, const char *name);

/** qmp_test_monitor_free: drops the monitor (closing it) and the records. */
void qmp_test_monitor_free(qmp_test_monitor *mon);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(qmp_test_monitor, qmp_test_monitor_free)

/** qmp_test_condition: a condition qmp_test_wait() polls after each iteration. */
typedef gboolean (*qmp_test_condition)(gpointer data);

/**
 * qmp_test_wait:
 * Iterates @context until @cond holds or @timeout_ms pass.
 * Returns: whether @cond holds.
 */
gboolean qmp_test_wait(GMainContext *context, qmp_test_condition cond, gpointer data,
                       guint timeout_ms);

/**
 * qmp_test_wait_event:
 * Iterates the monitor's context until an event called @name has been
 * recorded (at any time, before or during the wait) or @timeout_ms pass.
 * Returns: (transfer none) (nullable): the first such event.
 */
const qmp_test_event *qmp_test_wait_event(qmp_test_monitor *mon, const char *name,
                                          guint timeout_ms);

/**
 * qmp_test_wait_closed:
 * Iterates until the close handler ran or @timeout_ms pass.
 * Returns: how many times the close handler ran.
 */
guint qmp_test_wait_closed(qmp_test_monitor *mon, guint timeout_ms);

/**
 * qmp_test_command:
 * Runs @command through the async API and iterates the monitor's context
 * until its callback ran (at most 10 s, then the test fails).
 */
json_object *qmp_test_command(qmp_test_monitor *mon, const char *command,
                              json_object *arguments, int fd, GError **error);

/**
 * qmp_test_connect:
 * Connects through the async API, iterating the context (at most 10 s).
 */
gboolean qmp_test_connect(qmp_test_monitor *mon, const char *path, guint timeout_ms,
                          GError **error);

/**
 * qmp_test_wait_result:
 * Iterates @context until *@result is set (by qmp_test_store_result) or
 * 10 s pass, failing the test then.
 */
void qmp_test_wait_result(GMainContext *context, GAsyncResult **result);

/** qmp_test_store_result: a GAsyncReadyCallback storing a ref in *user_data. */
void qmp_test_store_result(GObject *source, GAsyncResult *result, gpointer user_data);

/** qmp_test_get_string: Returns: (transfer none): @obj's string member @key, or NULL. */
const char *qmp_test_get_string(json_object *obj, const char *key);

/** qmp_test_data_path: Returns: the path of tests/qmp/data/@name. */
char *qmp_test_data_path(const char *name);

G_END_DECLS
