/*
 * test-qmp-message.c: parsing one monitor line (qmp-message.h) -- what is a
 * greeting, an event or a reply, and what each refused line is refused for.
 */
#include "ferry-config.h"

#include <string.h>

#include "qmp/qmp-message.h"

#define GREETING "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, " \
                 "\"major\": 7}, \"package\": \"\"}, \"capabilities\": [\"oob\"]}}"

/* A line that must be refused, and why. */
typedef struct {
    const char *line;
    gboolean greeting;
    const char *problem;
} refused_case;

static const refused_case refused_cases[] = {
    { "this is not JSON", FALSE, "the line is not valid JSON" },
    { "{\"return\": {}", FALSE, "the line is truncated JSON" },
    { "[1, 2, 3]", FALSE, "the line is not a JSON object" },
    { "{\"QMP\": {\"version\": {\"qemu\": {\"major\": \"7\", \"minor\": 2, \"micro\": 0}}}}",
      TRUE, "expected the greeting with QEMU's version" },
    { "{\"return\": {}, \"id\": \"ferry-1\"}", TRUE,
      "expected the greeting with QEMU's version" },
    { "{\"event\": 7}", FALSE, "the event name is not a string" },
    { "{\"error\": \"no\", \"id\": \"ferry-1\"}", FALSE, "the error member is not an object" },
    { "{\"hello\": 1}", FALSE, "neither a reply nor an event" },
};

static void
test_refused(gconstpointer data)
{
    const refused_case *rc = data;
    g_auto(ferry_qmp_message) msg = { 0 };
    const char *problem = NULL;

    g_assert_false(ferry_qmp_message_parse(rc->line, strlen(rc->line), rc->greeting, &msg,
                                           &problem));
    g_assert_cmpstr(problem, ==, rc->problem);
    g_assert_null(msg.root);
}

/* Parses @line, which must be accepted, into @msg. */
static void
accept_line(const char *line, gboolean greeting, ferry_qmp_message *msg)
{
    const char *problem = NULL;

    g_assert_true(ferry_qmp_message_parse(line, strlen(line), greeting, msg, &problem));
    g_assert_null(problem);
    g_assert_nonnull(msg->root);
}

/* A NUL byte ends the JSON text early; what follows it is still the line. */
static void
test_nul_byte(void)
{
    static const char line[] = "{\"return\": {}}\0junk";
    g_auto(ferry_qmp_message) msg = { 0 };
    const char *problem = NULL;

    g_assert_false(ferry_qmp_message_parse(line, sizeof(line) - 1, FALSE, &msg, &problem));
    g_assert_cmpstr(problem, ==, "the line has data after the JSON value");
}

static void
test_greeting(void)
{
    g_auto(ferry_qmp_message) msg = { 0 };

    accept_line(GREETING, TRUE, &msg);
    g_assert_cmpint(msg.kind, ==, FERRY_QMP_MESSAGE_GREETING);
    g_assert_cmpstr(msg.version, ==, "7.2.22");
}

static void
test_event(void)
{
    const char *line = "{\"timestamp\": {\"seconds\": 1700000001, \"microseconds\": 5}, "
                       "\"event\": \"BLOCK_JOB_READY\", \"data\": {\"device\": \"drive0\"}}";
    g_auto(ferry_qmp_message) msg = { 0 };
    json_object *device = NULL;

    accept_line(line, FALSE, &msg);
    g_assert_cmpint(msg.kind, ==, FERRY_QMP_MESSAGE_EVENT);
    g_assert_cmpstr(msg.event, ==, "BLOCK_JOB_READY");
    g_assert_true(msg.has_timestamp);
    g_assert_cmpint(msg.timestamp_us, ==, G_GINT64_CONSTANT(1700000001000005));
    g_assert_true(json_object_object_get_ex(msg.data, "device", &device));
    g_assert_cmpstr(json_object_get_string(device), ==, "drive0");
}

static void
test_event_without_timestamp(void)
{
    const char *line = "{\"event\": \"STOP\"}";
    g_auto(ferry_qmp_message) msg = { 0 };

    accept_line(line, FALSE, &msg);
    g_assert_cmpint(msg.kind, ==, FERRY_QMP_MESSAGE_EVENT);
    g_assert_cmpstr(msg.event, ==, "STOP");
    g_assert_false(msg.has_timestamp);
    g_assert_null(msg.data);
}

/* Timestamps whose microseconds would overflow, or that no clock gives,
 * count as absent: the client stamps the event itself (found by
 * tests/fuzz/fuzz-qmp.c: 1e30 seconds overflowed the product). */
static void
test_event_bad_timestamp(void)
{
    static const char *const lines[] = {
        "{\"timestamp\": {\"seconds\": 1e30, \"microseconds\": 1}, \"event\": \"RESUME\"}",
        "{\"timestamp\": {\"seconds\": 9223372036854, \"microseconds\": 0}, \"event\": \"STOP\"}",
        "{\"timestamp\": {\"seconds\": -9223372036854775808, \"microseconds\": 0}, "
        "\"event\": \"STOP\"}",
        "{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 1000000}, "
        "\"event\": \"STOP\"}",
        "{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": -1}, \"event\": \"STOP\"}",
    };

    for (gsize i = 0; i < G_N_ELEMENTS(lines); i++) {
        g_auto(ferry_qmp_message) msg = { 0 };

        accept_line(lines[i], FALSE, &msg);
        g_assert_cmpint(msg.kind, ==, FERRY_QMP_MESSAGE_EVENT);
        g_assert_false(msg.has_timestamp);
    }
}

/* The largest timestamp that fits is kept. */
static void
test_event_last_timestamp(void)
{
    const char *line = "{\"timestamp\": {\"seconds\": 9223372036853, "
                       "\"microseconds\": 999999}, \"event\": \"STOP\"}";
    g_auto(ferry_qmp_message) msg = { 0 };

    accept_line(line, FALSE, &msg);
    g_assert_true(msg.has_timestamp);
    g_assert_cmpint(msg.timestamp_us, ==, G_GINT64_CONSTANT(9223372036853999999));
}

static void
test_reply(void)
{
    const char *line = "{\"return\": {\"status\": \"running\"}, \"id\": \"ferry-3\"}";
    g_auto(ferry_qmp_message) msg = { 0 };

    accept_line(line, FALSE, &msg);
    g_assert_cmpint(msg.kind, ==, FERRY_QMP_MESSAGE_REPLY);
    g_assert_cmpstr(json_object_get_string(msg.id), ==, "ferry-3");
    g_assert_true(json_object_is_type(msg.ret, json_type_object));
    g_assert_null(msg.error);
}

static void
test_error_reply(void)
{
    const char *line = "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}, \"id\": 4}";
    g_auto(ferry_qmp_message) msg = { 0 };

    accept_line(line, FALSE, &msg);
    g_assert_cmpint(msg.kind, ==, FERRY_QMP_MESSAGE_REPLY);
    g_assert_true(json_object_is_type(msg.id, json_type_int));
    g_assert_null(msg.ret);
    g_assert_true(json_object_is_type(msg.error, json_type_object));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/qmp/message/greeting", test_greeting);
    g_test_add_func("/qmp/message/event", test_event);
    g_test_add_func("/qmp/message/event-without-timestamp", test_event_without_timestamp);
    g_test_add_func("/qmp/message/event-bad-timestamp", test_event_bad_timestamp);
    g_test_add_func("/qmp/message/event-last-timestamp", test_event_last_timestamp);
    g_test_add_func("/qmp/message/reply", test_reply);
    g_test_add_func("/qmp/message/error-reply", test_error_reply);
    g_test_add_func("/qmp/message/nul-byte", test_nul_byte);
    for (gsize i = 0; i < G_N_ELEMENTS(refused_cases); i++) {
        g_autofree char *path = g_strdup_printf("/qmp/message/refused/%zu", i);

        g_test_add_data_func(path, &refused_cases[i], test_refused);
    }
    return g_test_run();
}
