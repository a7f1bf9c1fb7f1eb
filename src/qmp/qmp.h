/*
 * qmp.h: an asynchronous client of QEMU's machine protocol (QMP).
 *
 * Owns: one monitor connection -- the greeting, qmp_capabilities, commands
 * matched to replies by "id", events, passing file descriptors with a
 * command (SCM_RIGHTS), timeouts, and the close of the connection.
 * Must not: know about domains, drivers or migration; it only speaks QMP.
 *
 * Threading: a ferry_qmp lives on the GMainContext given to ferry_qmp_new();
 * all I/O, callbacks, event and close handlers run there.  The *_sync()
 * functions may be called from any thread: from a thread other than the one
 * iterating the context they hand the work to the context and wait; from
 * the thread that owns (or can acquire) the context they iterate it
 * themselves.  JSON objects are json-c's.
 */
#pragma once

#include <gio/gio.h>
#include <json-c/json.h>

G_BEGIN_DECLS

typedef struct _ferry_qmp ferry_qmp;

/**
 * ferry_qmp_event_cb:
 * @qmp: the monitor
 * @event: the event name, e.g. "STOP"
 * @data: (nullable) (transfer none): the event's "data" member
 * @timestamp_us: the event's timestamp, microseconds since the epoch
 * @user_data: as given to ferry_qmp_set_event_handler()
 */
typedef void (*ferry_qmp_event_cb)(ferry_qmp *qmp, const char *event,
                                   json_object *data, gint64 timestamp_us,
                                   gpointer user_data);

/**
 * ferry_qmp_close_cb:
 * @qmp: the monitor
 * @reason: why it closed: end of file, an I/O error or a protocol error
 *   (never called after ferry_qmp_close())
 * @user_data: as given to ferry_qmp_set_close_handler()
 */
typedef void (*ferry_qmp_close_cb)(ferry_qmp *qmp, const GError *reason,
                                   gpointer user_data);

/**
 * ferry_qmp_new:
 * @context: (nullable): the context the connection lives on; NULL means the
 *   thread-default context of the caller
 * @name: how errors name this monitor, e.g. "domain 'web1'"
 *
 * Returns: (transfer full): a new, unconnected monitor client.
 */
ferry_qmp *ferry_qmp_new(GMainContext *context, const char *name);

/** ferry_qmp_ref: Returns: (transfer full): @qmp */
ferry_qmp *ferry_qmp_ref(ferry_qmp *qmp);

/** ferry_qmp_unref: drops a reference; the last one closes the connection. */
void ferry_qmp_unref(ferry_qmp *qmp);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_qmp, ferry_qmp_unref)

/**
 * ferry_qmp_set_event_handler:
 * @qmp: the monitor
 * @cb: (nullable): called for every event
 * @user_data: passed to @cb
 * @destroy: (nullable): frees @user_data when replaced or on the last unref
 */
void ferry_qmp_set_event_handler(ferry_qmp *qmp, ferry_qmp_event_cb cb,
                                 gpointer user_data, GDestroyNotify destroy);

/**
 * ferry_qmp_set_close_handler:
 * @qmp: the monitor
 * @cb: (nullable): called once when the peer closes or the stream fails;
 *   pending commands have already failed with FERRY_ERROR_CONNECTION_CLOSED
 * @user_data: passed to @cb
 * @destroy: (nullable): frees @user_data
 */
void ferry_qmp_set_close_handler(ferry_qmp *qmp, ferry_qmp_close_cb cb,
                                 gpointer user_data, GDestroyNotify destroy);

/**
 * ferry_qmp_set_timeout:
 * @qmp: the monitor
 * @timeout_ms: how long a command may wait for its reply; 0 means forever.
 *   The default is 30000.  A timed-out command fails with
 *   FERRY_ERROR_TIMEOUT naming the command; its late reply is dropped.
 */
void ferry_qmp_set_timeout(ferry_qmp *qmp, guint timeout_ms);

/**
 * ferry_qmp_connect_async:
 * @qmp: the monitor
 * @path: the UNIX socket QEMU listens on
 * @timeout_ms: keep retrying (the socket may not exist yet) for this long
 * @cancellable: (nullable)
 * @callback: called on the monitor's context when connected (the greeting
 *   read and qmp_capabilities accepted) or failed
 * @user_data: passed to @callback
 */
void ferry_qmp_connect_async(ferry_qmp *qmp, const char *path, guint timeout_ms,
                             GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data);

/**
 * ferry_qmp_connect_finish:
 * Returns: TRUE when connected; FALSE with @error (FERRY_ERROR_NO_CONNECT,
 *   FERRY_ERROR_TIMEOUT or FERRY_ERROR_QMP) otherwise.
 */
gboolean ferry_qmp_connect_finish(ferry_qmp *qmp, GAsyncResult *result,
                                  GError **error);

/**
 * ferry_qmp_connect_sync:
 * As ferry_qmp_connect_async(), waiting for the result (see threading above).
 */
gboolean ferry_qmp_connect_sync(ferry_qmp *qmp, const char *path,
                                guint timeout_ms, GError **error);

/**
 * ferry_qmp_command_async:
 * @qmp: a connected monitor
 * @command: e.g. "query-status"
 * @arguments: (nullable) (transfer none): the "arguments" object
 * @fd: a file descriptor to pass with the command (e.g. for "getfd"), or -1;
 *   it is duplicated, the caller keeps its own
 * @cancellable: (nullable)
 * @callback: called on the monitor's context with the reply
 * @user_data: passed to @callback
 */
void ferry_qmp_command_async(ferry_qmp *qmp, const char *command,
                             json_object *arguments, int fd,
                             GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data);

/**
 * ferry_qmp_command_finish:
 * Returns: (transfer full): the reply's "return" member (an empty object
 *   when QEMU returned {}), or NULL with @error: FERRY_ERROR_QMP carrying
 *   QEMU's "desc" and the command name, FERRY_ERROR_TIMEOUT,
 *   FERRY_ERROR_CONNECTION_CLOSED, FERRY_ERROR_OPERATION_ABORTED.
 */
json_object *ferry_qmp_command_finish(ferry_qmp *qmp, GAsyncResult *result,
                                      GError **error);

/**
 * ferry_qmp_command_sync:
 * As ferry_qmp_command_async() with no fd, waiting for the reply.
 */
json_object *ferry_qmp_command_sync(ferry_qmp *qmp, const char *command,
                                    json_object *arguments, GError **error);

/**
 * ferry_qmp_command_sync_fd:
 * As ferry_qmp_command_sync(), passing @fd with the command.
 */
json_object *ferry_qmp_command_sync_fd(ferry_qmp *qmp, const char *command,
                                       json_object *arguments, int fd,
                                       GError **error);

/**
 * ferry_qmp_close:
 * @qmp: the monitor
 *
 * Closes the connection now (from the monitor's context); pending commands
 * fail with FERRY_ERROR_CONNECTION_CLOSED; the close handler is not called.
 * Safe to call more than once.
 */
void ferry_qmp_close(ferry_qmp *qmp);

/**
 * ferry_qmp_get_context:
 * Returns: (transfer none): the context @qmp lives on (see threading above).
 */
GMainContext *ferry_qmp_get_context(ferry_qmp *qmp);

/** ferry_qmp_is_open: Returns: TRUE between a successful connect and the close. */
gboolean ferry_qmp_is_open(ferry_qmp *qmp);

/**
 * ferry_qmp_get_version:
 * Returns: (transfer none) (nullable): QEMU's version from the greeting,
 *   e.g. "7.2.22", or NULL before connecting.
 */
const char *ferry_qmp_get_version(ferry_qmp *qmp);

G_END_DECLS
