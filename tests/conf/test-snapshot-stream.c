/*
 * test-snapshot-stream.c: the snapshot stream of a migration
 * (src/conf/snapshot-stream.c): a round trip fed in pieces of every size,
 * and the decoder refusing each kind of malformed input with an error
 * that says where, without reading past what it was given.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "conf/snapshot-stream.h"

#define WHAT "snapshot stream from host 'a'"

static GPtrArray *
three_docs(void)
{
    GPtrArray *docs = g_ptr_array_new_with_free_func(g_free);

    g_ptr_array_add(docs, g_strdup("<domainsnapshot><name>s1</name></domainsnapshot>"));
    g_ptr_array_add(docs, g_strdup("<domainsnapshot><name>s2</name><parent><name>s1</name>"
                                   "</parent></domainsnapshot>"));
    g_ptr_array_add(docs, g_strdup("<x/>"));
    return docs;
}

/* Encodes three documents and decodes them fed @step bytes at a time. */
static void
test_round_trip(void)
{
    g_autoptr(GPtrArray) docs = three_docs();
    g_autoptr(GBytes) bytes = ferry_snapshot_stream_encode(docs);
    gsize size;
    const guint8 *data = g_bytes_get_data(bytes, &size);

    g_assert_cmpuint(size, ==, 4 + 3 * 4 + strlen(docs->pdata[0]) + strlen(docs->pdata[1]) + 4);
    /* The count, big-endian. */
    g_assert_cmpuint(data[0], ==, 0);
    g_assert_cmpuint(data[3], ==, 3);
    for (gsize step = 1; step <= size; step++) {
        g_autoptr(ferry_snapshot_stream_decoder) dec = ferry_snapshot_stream_decoder_new(WHAT);
        g_autoptr(GPtrArray) out = NULL;
        g_autoptr(GError) error = NULL;

        for (gsize at = 0; at < size; at += step)
            g_assert_true(ferry_snapshot_stream_decoder_feed(dec, data + at,
                                                             MIN(step, size - at), &error));
        out = ferry_snapshot_stream_decoder_finish(dec, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(out->len, ==, 3);
        for (guint i = 0; i < 3; i++)
            g_assert_cmpstr(out->pdata[i], ==, docs->pdata[i]);
    }
}

static void
test_empty_list(void)
{
    g_autoptr(GPtrArray) docs = g_ptr_array_new();
    g_autoptr(GBytes) bytes = ferry_snapshot_stream_encode(docs);
    g_autoptr(ferry_snapshot_stream_decoder) dec = ferry_snapshot_stream_decoder_new(WHAT);
    g_autoptr(GPtrArray) out = NULL;
    g_autoptr(GError) error = NULL;

    g_assert_cmpuint(g_bytes_get_size(bytes), ==, 4);
    g_assert_true(ferry_snapshot_stream_decoder_feed(dec, g_bytes_get_data(bytes, NULL), 4,
                                                     &error));
    out = ferry_snapshot_stream_decoder_finish(dec, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(out->len, ==, 0);
}

typedef struct {
    const char *path;
    const guint8 *data;
    gsize len;
    gboolean feed_fails;       /* refused while fed, else at finish */
    const char *message;       /* the whole message expected */
} bad_case;

static const guint8 too_many[] = { 0, 0, 0x04, 0x01 };
static const guint8 huge_doc[] = { 0, 0, 0, 2, 0, 0x10, 0, 1, '<' };
static const guint8 empty_doc[] = { 0, 0, 0, 1, 0, 0, 0, 0 };
static const guint8 short_count[] = { 0, 0 };
static const guint8 short_length[] = { 0, 0, 0, 2, 0, 0, 0, 2, '<', '>', 0, 0 };
static const guint8 truncated[] = { 0, 0, 0, 3, 0, 0, 0, 40, '<', 'a' };
static const guint8 trailing[] = { 0, 0, 0, 1, 0, 0, 0, 2, '<', '>', 'x', 'y' };
static const guint8 nul_byte[] = { 0, 0, 0, 1, 0, 0, 0, 3, '<', 0, '>' };

static const bad_case bad_cases[] = {
    { "/snapshot-stream/bad/count-over-limit", too_many, sizeof(too_many), TRUE,
      WHAT ": offset 4: it announces 1025 snapshots, more than the limit of 1024" },
    { "/snapshot-stream/bad/document-over-limit", huge_doc, sizeof(huge_doc), TRUE,
      WHAT ": offset 8: document 1 of 2 is 1048577 bytes long, more than the limit of "
      "1048576" },
    { "/snapshot-stream/bad/empty-document", empty_doc, sizeof(empty_doc), TRUE,
      WHAT ": offset 8: document 1 of 1 is empty" },
    { "/snapshot-stream/bad/no-count", NULL, 0, FALSE,
      WHAT ": offset 0: the stream ended before its count (0 of 4 bytes arrived)" },
    { "/snapshot-stream/bad/short-count", short_count, sizeof(short_count), FALSE,
      WHAT ": offset 2: the stream ended before its count (2 of 4 bytes arrived)" },
    { "/snapshot-stream/bad/short-length", short_length, sizeof(short_length), FALSE,
      WHAT ": offset 12: the stream ended before the length of document 2 of 2 "
      "(2 of 4 bytes arrived)" },
    { "/snapshot-stream/bad/truncated-document", truncated, sizeof(truncated), FALSE,
      WHAT ": offset 10: the stream ended inside document 1 of 3 (2 of 40 bytes arrived)" },
    { "/snapshot-stream/bad/trailing-bytes", trailing, sizeof(trailing), TRUE,
      WHAT ": offset 10: 2 bytes after the last of 1 snapshots" },
    { "/snapshot-stream/bad/nul-byte", nul_byte, sizeof(nul_byte), TRUE,
      WHAT ": offset 8: document 1 of 1 holds a NUL byte: it is not XML text" },
};

static void
test_bad(gconstpointer data)
{
    const bad_case *c = data;
    g_autoptr(ferry_snapshot_stream_decoder) dec = ferry_snapshot_stream_decoder_new(WHAT);
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) again = NULL;
    g_autoptr(GPtrArray) out = NULL;
    gboolean fed = ferry_snapshot_stream_decoder_feed(dec, c->data, c->len, &error);

    g_assert_cmpint(fed, ==, !c->feed_fails);
    if (fed)
        out = ferry_snapshot_stream_decoder_finish(dec, &error);
    g_assert_null(out);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_RPC);
    g_assert_cmpstr(error->message, ==, c->message);
    /* A refused stream stays refused, with the same words. */
    g_assert_false(ferry_snapshot_stream_decoder_feed(dec, (const guint8 *)"x", 1, &again));
    g_assert_error(again, FERRY_ERROR, FERRY_ERROR_RPC);
    g_assert_cmpstr(again->message, ==, c->message);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/snapshot-stream/round-trip", test_round_trip);
    g_test_add_func("/snapshot-stream/empty-list", test_empty_list);
    for (gsize i = 0; i < G_N_ELEMENTS(bad_cases); i++)
        g_test_add_data_func(bad_cases[i].path, &bad_cases[i], test_bad);
    return g_test_run();
}
