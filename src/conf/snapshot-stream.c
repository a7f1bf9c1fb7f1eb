/*
 * snapshot-stream.c: encoding and decoding the snapshot metadata a
 * migration carries (snapshot-stream.h).
 *
 * The decoder is a small state machine fed pieces of any size (the RPC
 * stream cuts its data where its window and chunks fall, not where a
 * document ends): it collects four bytes of count, then for each document
 * four bytes of length and that many bytes.  Every length is checked
 * before anything is allocated for it, so a peer cannot make this side
 * hold more than the limits.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "conf/snapshot-stream.h"

GBytes *
ferry_snapshot_stream_encode(const GPtrArray *docs)
{
    GByteArray *out = g_byte_array_new();
    guint32 be = GUINT32_TO_BE(docs->len);

    g_byte_array_append(out, (const guint8 *)&be, 4);
    for (guint i = 0; i < docs->len; i++) {
        const char *doc = g_ptr_array_index(docs, i);
        gsize len = strlen(doc);

        be = GUINT32_TO_BE((guint32)len);
        g_byte_array_append(out, (const guint8 *)&be, 4);
        g_byte_array_append(out, (const guint8 *)doc, len);
    }
    return g_byte_array_free_to_bytes(out);
}

typedef enum {
    WANT_COUNT,
    WANT_LENGTH,
    WANT_DOC,
    DONE,
    FAILED,
} dec_state;

struct ferry_snapshot_stream_decoder {
    char *what;
    dec_state state;
    guint8 word[4];          /* the count or a length, as it arrives */
    guint word_have;
    guint32 count;
    guint32 doc_len;
    GString *doc;            /* the document arriving */
    guint64 offset;          /* bytes taken so far */
    guint64 total;           /* bytes of documents so far */
    GPtrArray *docs;
    GError *failure;         /* the first error, repeated afterwards */
};

ferry_snapshot_stream_decoder *
ferry_snapshot_stream_decoder_new(const char *what)
{
    ferry_snapshot_stream_decoder *dec = g_new0(ferry_snapshot_stream_decoder, 1);

    dec->what = g_strdup(what);
    dec->docs = g_ptr_array_new_with_free_func(g_free);
    return dec;
}

void
ferry_snapshot_stream_decoder_free(ferry_snapshot_stream_decoder *dec)
{
    if (!dec)
        return;
    g_free(dec->what);
    if (dec->doc)
        g_string_free(dec->doc, TRUE);
    g_ptr_array_unref(dec->docs);
    g_clear_error(&dec->failure);
    g_free(dec);
}

static gboolean fail(ferry_snapshot_stream_decoder *dec, GError **error, const char *format,
                     ...) G_GNUC_PRINTF(3, 4);

/* Records the decoder's failure ("WHAT: offset N: REASON") and returns it. */
static gboolean
fail(ferry_snapshot_stream_decoder *dec, GError **error, const char *format, ...)
{
    g_autofree char *reason = NULL;
    va_list ap;

    va_start(ap, format);
    reason = g_strdup_vprintf(format, ap);
    va_end(ap);
    dec->state = FAILED;
    dec->failure = g_error_new(FERRY_ERROR, FERRY_ERROR_RPC, "%s: offset %" G_GUINT64_FORMAT
                               ": %s", dec->what, dec->offset, reason);
    g_propagate_error(error, g_error_copy(dec->failure));
    return FALSE;
}

/* Collects the 4 bytes of a count or length; TRUE once complete. */
static gboolean
take_word(ferry_snapshot_stream_decoder *dec, const guint8 **data, gsize *len)
{
    gsize n = MIN(*len, 4 - dec->word_have);

    memcpy(dec->word + dec->word_have, *data, n);
    dec->word_have += n;
    *data += n;
    *len -= n;
    dec->offset += n;
    if (dec->word_have < 4)
        return FALSE;
    dec->word_have = 0;
    return TRUE;
}

static guint32
word_value(const ferry_snapshot_stream_decoder *dec)
{
    guint32 be;

    memcpy(&be, dec->word, 4);
    return GUINT32_FROM_BE(be);
}

/* The count arrived: 0 documents is a complete stream. */
static gboolean
got_count(ferry_snapshot_stream_decoder *dec, GError **error)
{
    dec->count = word_value(dec);
    if (dec->count > FERRY_SNAPSHOT_STREAM_MAX_COUNT)
        return fail(dec, error, "it announces %u snapshots, more than the limit of %d",
                    dec->count, FERRY_SNAPSHOT_STREAM_MAX_COUNT);
    dec->state = dec->count ? WANT_LENGTH : DONE;
    return TRUE;
}

/* A document's length arrived: checked before its bytes are kept. */
static gboolean
got_length(ferry_snapshot_stream_decoder *dec, GError **error)
{
    guint n = dec->docs->len + 1;

    dec->doc_len = word_value(dec);
    if (dec->doc_len == 0)
        return fail(dec, error, "document %u of %u is empty", n, dec->count);
    if (dec->doc_len > FERRY_SNAPSHOT_STREAM_MAX_DOC)
        return fail(dec, error, "document %u of %u is %u bytes long, more than the limit of %d",
                    n, dec->count, dec->doc_len, FERRY_SNAPSHOT_STREAM_MAX_DOC);
    if (dec->total + dec->doc_len > FERRY_SNAPSHOT_STREAM_MAX_TOTAL)
        return fail(dec, error, "document %u of %u (%u bytes) brings the documents over the "
                    "limit of %d bytes in all", n, dec->count, dec->doc_len,
                    FERRY_SNAPSHOT_STREAM_MAX_TOTAL);
    dec->total += dec->doc_len;
    dec->doc = g_string_sized_new(dec->doc_len);
    dec->state = WANT_DOC;
    return TRUE;
}

/* Takes document bytes; the document is kept once complete. */
static gboolean
take_doc(ferry_snapshot_stream_decoder *dec, const guint8 **data, gsize *len,
         GError **error)
{
    gsize n = MIN(*len, dec->doc_len - dec->doc->len);

    /* A document becomes a C string for the XML parser: a NUL would
     * silently cut it there. */
    if (memchr(*data, '\0', n))
        return fail(dec, error, "document %u of %u holds a NUL byte: it is not XML text",
                    dec->docs->len + 1, dec->count);
    g_string_append_len(dec->doc, (const char *)*data, n);
    *data += n;
    *len -= n;
    dec->offset += n;
    if (dec->doc->len < dec->doc_len)
        return TRUE;
    g_ptr_array_add(dec->docs, g_string_free(g_steal_pointer(&dec->doc), FALSE));
    dec->state = dec->docs->len < dec->count ? WANT_LENGTH : DONE;
    return TRUE;
}

gboolean
ferry_snapshot_stream_decoder_feed(ferry_snapshot_stream_decoder *dec, const guint8 *data,
                                   gsize len, GError **error)
{
    while (len > 0 || dec->state == FAILED) {
        switch (dec->state) {
        case FAILED:
            g_propagate_error(error, g_error_copy(dec->failure));
            return FALSE;
        case DONE:
            return fail(dec, error, "%" G_GSIZE_FORMAT " bytes after the last of %u snapshots",
                        len, dec->count);
        case WANT_COUNT:
            if (take_word(dec, &data, &len) && !got_count(dec, error))
                return FALSE;
            break;
        case WANT_LENGTH:
            if (take_word(dec, &data, &len) && !got_length(dec, error))
                return FALSE;
            break;
        case WANT_DOC:
            if (!take_doc(dec, &data, &len, error))
                return FALSE;
            break;
        }
    }
    return TRUE;
}

GPtrArray *
ferry_snapshot_stream_decoder_finish(ferry_snapshot_stream_decoder *dec, GError **error)
{
    switch (dec->state) {
    case FAILED:
        g_propagate_error(error, g_error_copy(dec->failure));
        return NULL;
    case WANT_COUNT:
        fail(dec, error, "the stream ended before its count (%u of 4 bytes arrived)",
             dec->word_have);
        return NULL;
    case WANT_LENGTH:
        fail(dec, error, "the stream ended before the length of document %u of %u "
             "(%u of 4 bytes arrived)", dec->docs->len + 1, dec->count, dec->word_have);
        return NULL;
    case WANT_DOC:
        fail(dec, error, "the stream ended inside document %u of %u (%" G_GSIZE_FORMAT
             " of %u bytes arrived)", dec->docs->len + 1, dec->count, dec->doc->len,
             dec->doc_len);
        return NULL;
    case DONE:
        break;
    }
    return g_ptr_array_ref(dec->docs);
}
