/*
 * qmp-message.h: one line a QEMU monitor sends, parsed and classified.
 *
 * Owns: the JSON parse of a line (strict, depth-bounded) and the reading of
 * the members ferry's QMP client acts on in a greeting, an event or a reply.
 * Must not: do I/O, keep state or know about commands; qmp.c acts on the
 * result.  A separate, pure step so that tests/fuzz/fuzz-qmp.c can feed it
 * what a hostile monitor could send without a socket.
 */
#pragma once

#include <glib.h>
#include <json-c/json.h>

G_BEGIN_DECLS

typedef enum {
    FERRY_QMP_MESSAGE_GREETING,
    FERRY_QMP_MESSAGE_EVENT,
    FERRY_QMP_MESSAGE_REPLY,
} ferry_qmp_message_kind;

/* What one line says.  Every json_object and string below points into
 * @root and lives as long as it. */
typedef struct {
    ferry_qmp_message_kind kind;
    json_object *root;          /* the whole line, owned */

    char *version;              /* GREETING: QEMU's version, "7.2.22" (owned) */

    const char *event;          /* EVENT: its name, e.g. "STOP" */
    json_object *data;          /* EVENT: its "data" member (nullable) */
    gboolean has_timestamp;     /* EVENT: the line carried a "timestamp" whose seconds
                                 * and microseconds fit (both >= 0, microseconds < 10^6) */
    gint64 timestamp_us;        /* EVENT: microseconds since the epoch, when has_timestamp */

    json_object *id;            /* REPLY: the "id" member as sent, any type (nullable) */
    json_object *ret;           /* REPLY: the "return" member (nullable) */
    json_object *error;         /* REPLY: the "error" member, an object (nullable) */
} ferry_qmp_message;

/**
 * ferry_qmp_message_parse:
 * @line: one line from the monitor, without its newline or trailing blanks
 * @len: its length in bytes (not 0)
 * @greeting: whether this is the first line of the connection, which must
 *   be the greeting
 * @ret_msg: (out caller-allocates): filled on success; clear it with
 *   ferry_qmp_message_clear()
 * @ret_problem: (out) (transfer none): on failure, what is wrong with the
 *   line, e.g. "the line is not valid JSON"
 *
 * Returns: FALSE if the line is not what a monitor may send at this point;
 *   @ret_msg is then untouched.
 */
gboolean ferry_qmp_message_parse(const char *line, gsize len, gboolean greeting,
                                 ferry_qmp_message *ret_msg, const char **ret_problem);

/**
 * ferry_qmp_message_clear:
 * @msg: a message filled by ferry_qmp_message_parse(), or zeroed
 *
 * Frees what @msg owns and zeroes it.
 */
void ferry_qmp_message_clear(ferry_qmp_message *msg);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(ferry_qmp_message, ferry_qmp_message_clear)

G_END_DECLS
