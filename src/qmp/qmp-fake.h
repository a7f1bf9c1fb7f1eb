/*
 * qmp-fake.h: a fake QEMU monitor for tests, replaying a recorded transcript.
 *
 * Owns: a UNIX socket server on a thread of its own (with its own
 * GMainContext) that plays one QMP conversation from a transcript file and
 * checks what the client sends against it.
 * Must not: be linked into anything but tests; interpret commands.
 *
 * Transcript format (.qmp), one item a line:
 *   <- JSON     the fake sends this value (one line); the first is the greeting.
 *               In a reply (an object with "return" or "error"), "id":"$ID"
 *               is replaced by the id of the client's last command, and a
 *               reply with no "id" gets that id added.  Any other "id" is
 *               sent as written (to test replies with unknown ids).
 *   -> JSON     the client must send an object equal to this one; "id"
 *               members are ignored on both sides.
 *   !close      the fake closes the connection (QEMU exiting).
 *   !raw TEXT   the fake sends TEXT and CRLF verbatim (not parsed).
 *   !fill N     the fake sends N bytes of 'x' with no newline.
 *   # ...       a comment; blank lines are ignored.
 * Lines the fake sends go out as soon as the previous "->" has matched.
 * Only one client connects; the conversation ends when the client closes
 * the connection or the fake does (!close).
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _ferry_qmp_fake ferry_qmp_fake;

/**
 * ferry_qmp_fake_new:
 * @transcript_path: the .qmp file to replay
 * @socket_path: where to listen; an existing socket file there is replaced
 * @error: return location for an error
 *
 * Parses the transcript, listens on @socket_path and starts the fake's
 * thread.  Returns: (transfer full): the fake, or NULL with @error
 * (FERRY_ERROR_INVALID_ARG for a bad transcript, FERRY_ERROR_SYSTEM when it
 * cannot listen).
 */
ferry_qmp_fake *ferry_qmp_fake_new(const char *transcript_path, const char *socket_path,
                                   GError **error);

/**
 * ferry_qmp_fake_finish:
 * @fake: the fake
 * @error: return location for an error
 *
 * Waits (at most 10 s) for the conversation to end -- call it after the
 * client closed or dropped its connection -- and checks it.
 * Returns: TRUE if a client connected and the whole transcript was played
 *   and matched; FALSE with @error (FERRY_ERROR_QMP) saying the transcript
 *   line where it went wrong, what was expected and what came instead.
 */
gboolean ferry_qmp_fake_finish(ferry_qmp_fake *fake, GError **error);

/**
 * ferry_qmp_fake_get_fds_received:
 * Returns: how many file descriptors the client passed (SCM_RIGHTS) so far.
 */
guint ferry_qmp_fake_get_fds_received(ferry_qmp_fake *fake);

/**
 * ferry_qmp_fake_free:
 * @fake: (nullable): the fake
 *
 * Stops the fake's thread, closes its sockets and removes @socket_path.
 */
void ferry_qmp_fake_free(ferry_qmp_fake *fake);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_qmp_fake, ferry_qmp_fake_free)

G_END_DECLS
