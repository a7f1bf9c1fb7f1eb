/*
 * snapshot-stream.h: the bytes that carry a domain's snapshot metadata
 * from a migration's source to its destination (docs/snapshots.md,
 * "Migrating a domain with snapshots").
 *
 *   count              u32, big-endian: how many documents follow
 *   then count times:
 *     length           u32, big-endian: the document's bytes
 *     document         that many bytes of snapshot XML (no NUL)
 *
 * and nothing after the last document.
 *
 * Owns: encoding the documents, and decoding them from data that arrives
 * in pieces of any size, refusing what breaks the format or the limits
 * with an error that says where (the offset, which document of how
 * many).  Must not: parse the XML (the receiver does, naming the
 * snapshot), or do any I/O.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The most documents a stream may carry: a bound on what a source can
 * make a destination hold and redefine. */
#define FERRY_SNAPSHOT_STREAM_MAX_COUNT 1024
/* The longest document, in bytes (a snapshot's XML embeds the domain's). */
#define FERRY_SNAPSHOT_STREAM_MAX_DOC (1024 * 1024)
/* The most bytes of documents in all. */
#define FERRY_SNAPSHOT_STREAM_MAX_TOTAL (64 * 1024 * 1024)

/**
 * ferry_snapshot_stream_encode:
 * @docs: char*: the documents, in the order the receiver redefines them
 *
 * Returns: (transfer full): the stream's bytes.  The caller keeps within
 *   the limits (the decoder refuses what does not).
 */
GBytes *ferry_snapshot_stream_encode(const GPtrArray *docs);

typedef struct ferry_snapshot_stream_decoder ferry_snapshot_stream_decoder;

/**
 * ferry_snapshot_stream_decoder_new:
 * @what: how errors name the stream, e.g. "snapshot stream from host 'a'"
 *
 * Returns: (transfer full): a decoder waiting for the count.
 */
ferry_snapshot_stream_decoder *ferry_snapshot_stream_decoder_new(const char *what);

/** ferry_snapshot_stream_decoder_free: frees @dec; accepts NULL. */
void ferry_snapshot_stream_decoder_free(ferry_snapshot_stream_decoder *dec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_snapshot_stream_decoder, ferry_snapshot_stream_decoder_free)

/**
 * ferry_snapshot_stream_decoder_feed:
 * @dec: a decoder
 * @data: the next bytes of the stream
 * @len: how many
 * @error: return location for an error (FERRY_ERROR_RPC), e.g.
 *   "snapshot stream from host 'a': offset 4: document 1 of 3 is
 *    2000000 bytes long, more than the limit of 1048576"
 *
 * Takes the next piece.  Once an error was returned, every later call
 * fails the same way.
 *
 * Returns: TRUE if the data is acceptable so far.
 */
gboolean ferry_snapshot_stream_decoder_feed(ferry_snapshot_stream_decoder *dec,
                                            const guint8 *data, gsize len, GError **error);

/**
 * ferry_snapshot_stream_decoder_finish:
 * @dec: a decoder whose stream ended
 * @error: return location for an error (FERRY_ERROR_RPC) when the stream
 *   ended early ("ended at offset 30, inside document 2 of 3: 12 bytes
 *   of 40 arrived")
 *
 * Returns: (transfer full): the documents (char*, the array frees them),
 *   or NULL.
 */
GPtrArray *ferry_snapshot_stream_decoder_finish(ferry_snapshot_stream_decoder *dec,
                                                GError **error);

G_END_DECLS
