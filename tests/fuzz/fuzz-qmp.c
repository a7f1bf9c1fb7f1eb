/*
 * fuzz-qmp.c: feeds ferry_qmp_message_parse() (src/qmp/qmp-message.c) the
 * lines of any byte stream, as a QEMU monitor -- which a compromised guest
 * may control -- could send them: split at '\n' and stripped of trailing
 * blanks as qmp.c does, the first line as the greeting, and the stream
 * ended at the first line qmp.c would close the connection on.
 *
 * Must hold: no crash, leak or undefined behaviour; every accepted message
 * has the members its kind promises.  Must not: open a socket or write
 * files.
 */
#include "ferry-config.h"

#include <string.h>

#include "fuzz.h"
#include "qmp/qmp-message.h"

/* What qmp.c reads from a message; any member may be of any JSON type. */
static void
use_message(const ferry_qmp_message *msg)
{
    json_object *cls = NULL, *desc = NULL;

    switch (msg->kind) {
    case FERRY_QMP_MESSAGE_GREETING:
        g_assert_nonnull(msg->version);
        break;
    case FERRY_QMP_MESSAGE_EVENT:
        g_assert_nonnull(msg->event);
        (void)json_object_to_json_string(msg->data);
        break;
    case FERRY_QMP_MESSAGE_REPLY:
        if (msg->id)
            (void)json_object_to_json_string(msg->id);
        if (msg->error) {
            json_object_object_get_ex(msg->error, "class", &cls);
            json_object_object_get_ex(msg->error, "desc", &desc);
            (void)json_object_get_string(cls);
            (void)json_object_get_string(desc);
        }
        break;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    const char *end = p + size;
    gboolean greeted = FALSE;

    fuzz_init();
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        g_auto(ferry_qmp_message) msg = { 0 };
        g_autofree char *line = NULL;
        const char *problem = NULL;
        gsize len;

        /* A last line without its newline is never handled by qmp.c. */
        if (!nl)
            break;
        /* qmp.c hands each line on in a buffer of its own, NUL-terminated. */
        len = (gsize)(nl - p);
        line = g_malloc(len + 1);
        memcpy(line, p, len);
        line[len] = '\0';
        while (len > 0 && g_ascii_isspace(line[len - 1]))
            len--;
        if (len > 0) {
            if (!ferry_qmp_message_parse(line, len, !greeted, &msg, &problem)) {
                g_assert_nonnull(problem);
                break;
            }
            use_message(&msg);
            greeted = TRUE;
        }
        p = nl + 1;
    }
    return 0;
}
