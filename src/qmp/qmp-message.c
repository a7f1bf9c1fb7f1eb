/*
 * qmp-message.c: parsing and classifying one line of a QEMU monitor (see
 * qmp-message.h).
 *
 * Owns: what makes a line acceptable -- one JSON object, nothing after it,
 * no deeper than QMP_JSON_DEPTH -- and what makes it a greeting, an event or
 * a reply.  Must not: do I/O or log; the monitor's peer is QEMU, which a
 * compromised guest may control, so nothing here trusts a member's type.
 */
#include "ferry-config.h"

#include "qmp/qmp-message.h"
#include "util/json-util.h"

#define QMP_JSON_DEPTH 64

/* One JSON object spanning exactly @len bytes, or NULL with @ret_problem. */
static json_object *
parse_object(const char *line, gsize len, const char **ret_problem)
{
    json_tokener *tok = json_tokener_new_ex(QMP_JSON_DEPTH);
    json_object *obj;
    enum json_tokener_error jerr;

    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    obj = json_tokener_parse_ex(tok, line, (int)len);
    jerr = json_tokener_get_error(tok);
    if (jerr == json_tokener_success && json_tokener_get_parse_end(tok) < len) {
        *ret_problem = "the line has data after the JSON value";
        g_clear_pointer(&obj, json_object_put);
    } else if (jerr == json_tokener_continue) {
        *ret_problem = "the line is truncated JSON";
        g_clear_pointer(&obj, json_object_put);
    } else if (jerr != json_tokener_success) {
        *ret_problem = "the line is not valid JSON";
        g_clear_pointer(&obj, json_object_put);
    } else if (!json_object_is_type(obj, json_type_object)) {
        *ret_problem = "the line is not a JSON object";
        g_clear_pointer(&obj, json_object_put);
    }
    json_tokener_free(tok);
    return obj;
}

/* {"QMP": {"version": {"qemu": {"major": M, "minor": N, "micro": P}}}} */
static char *
greeting_version(json_object *root)
{
    json_object *qmpobj, *version, *qemu, *major, *minor, *micro;

    if (!json_object_object_get_ex(root, "QMP", &qmpobj) ||
        !json_object_object_get_ex(qmpobj, "version", &version) ||
        !json_object_object_get_ex(version, "qemu", &qemu) ||
        !json_object_object_get_ex(qemu, "major", &major) ||
        !json_object_object_get_ex(qemu, "minor", &minor) ||
        !json_object_object_get_ex(qemu, "micro", &micro) ||
        !json_object_is_type(major, json_type_int) ||
        !json_object_is_type(minor, json_type_int) ||
        !json_object_is_type(micro, json_type_int))
        return NULL;
    return g_strdup_printf("%d.%d.%d", json_object_get_int(major),
                           json_object_get_int(minor), json_object_get_int(micro));
}

/* The event's "timestamp": {"seconds": S, "microseconds": U}.  One that
 * would not fit in microseconds is no timestamp: the caller's fallback is
 * better than an overflowed product (found by tests/fuzz/fuzz-qmp.c). */
static gboolean
event_timestamp(json_object *root, gint64 *ret_us)
{
    json_object *ts, *sec, *usec;
    gint64 seconds, microseconds;

    if (!json_object_object_get_ex(root, "timestamp", &ts) ||
        !json_object_object_get_ex(ts, "seconds", &sec) ||
        !json_object_object_get_ex(ts, "microseconds", &usec))
        return FALSE;
    seconds = json_object_get_int64(sec);
    microseconds = json_object_get_int64(usec);
    if (seconds < 0 || seconds >= G_MAXINT64 / G_USEC_PER_SEC ||
        microseconds < 0 || microseconds >= G_USEC_PER_SEC)
        return FALSE;
    *ret_us = seconds * G_USEC_PER_SEC + microseconds;
    return TRUE;
}

gboolean
ferry_qmp_message_parse(const char *line, gsize len, gboolean greeting,
                        ferry_qmp_message *ret_msg, const char **ret_problem)
{
    g_autoptr(json_object) root = parse_object(line, len, ret_problem);
    ferry_qmp_message msg = { 0 };
    json_object *event = NULL;

    if (!root)
        return FALSE;

    if (greeting) {
        msg.kind = FERRY_QMP_MESSAGE_GREETING;
        msg.version = greeting_version(root);
        if (!msg.version) {
            *ret_problem = "expected the greeting with QEMU's version";
            return FALSE;
        }
    } else if (json_object_object_get_ex(root, "event", &event)) {
        if (!json_object_is_type(event, json_type_string)) {
            *ret_problem = "the event name is not a string";
            return FALSE;
        }
        msg.kind = FERRY_QMP_MESSAGE_EVENT;
        msg.event = json_object_get_string(event);
        json_object_object_get_ex(root, "data", &msg.data);
        msg.has_timestamp = event_timestamp(root, &msg.timestamp_us);
    } else if (json_object_object_get_ex(root, "return", &msg.ret) ||
               json_object_object_get_ex(root, "error", &msg.error)) {
        if (msg.error && !json_object_is_type(msg.error, json_type_object)) {
            *ret_problem = "the error member is not an object";
            return FALSE;
        }
        msg.kind = FERRY_QMP_MESSAGE_REPLY;
        json_object_object_get_ex(root, "id", &msg.id);
    } else {
        *ret_problem = "neither a reply nor an event";
        return FALSE;
    }
    msg.root = g_steal_pointer(&root);
    *ret_msg = msg;
    return TRUE;
}

void
ferry_qmp_message_clear(ferry_qmp_message *msg)
{
    g_free(msg->version);
    g_clear_pointer(&msg->root, json_object_put);
    *msg = (ferry_qmp_message){ 0 };
}
