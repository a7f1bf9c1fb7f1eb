/*
 * test-rpc-frame.c: the frame decoder and the message helpers, without I/O.
 */
#include "ferry-config.h"

#include <string.h>

#include "rpc/rpc-frame.h"

/* A CALL frame of DOMAIN_START for domain @name. */
static GBytes *
start_frame(const char *name, guint32 serial)
{
    Ferry__DomainStartArgs args = FERRY__DOMAIN_START_ARGS__INIT;
    Ferry__Domain dom = FERRY__DOMAIN__INIT;
    g_autoptr(GBytes) body = NULL;

    dom.name = (char *)name;
    dom.uuid = (char *)"c7a5fdbd-cdaf-9455-926a-d65c16db1809";
    args.dom = &dom;
    args.flags = 1;
    body = ferry_rpc_message_pack(&args.base);
    return ferry_rpc_frame_new(FERRY__PROCEDURE__DOMAIN_START, FERRY__PACKET_TYPE__CALL,
                               serial, FERRY__PACKET_STATUS__OK, body);
}

static void
assert_start_packet(const Ferry__Packet *packet, const char *name, guint32 serial)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) body = ferry_rpc_packet_body(packet);
    g_autoptr(ProtobufCMessage) msg = NULL;
    const Ferry__DomainStartArgs *args;

    g_assert_cmpuint(packet->procedure, ==, FERRY__PROCEDURE__DOMAIN_START);
    g_assert_cmpint(packet->type, ==, FERRY__PACKET_TYPE__CALL);
    g_assert_cmpint(packet->status, ==, FERRY__PACKET_STATUS__OK);
    g_assert_cmpuint(packet->serial, ==, serial);
    msg = ferry_rpc_message_unpack(&ferry__domain_start_args__descriptor, body, "args",
                                   &error);
    g_assert_no_error(error);
    args = (const Ferry__DomainStartArgs *)msg;
    g_assert_cmpstr(args->dom->name, ==, name);
    g_assert_cmpuint(args->flags, ==, 1);
}

static void
test_roundtrip(void)
{
    g_autoptr(ferry_rpc_decoder) dec = ferry_rpc_decoder_new(0);
    g_autoptr(GBytes) frame = start_frame("web1", 7);
    g_autoptr(Ferry__Packet) packet = NULL;
    g_autoptr(Ferry__Packet) none = NULL;
    g_autoptr(GError) error = NULL;
    gsize size;
    const guint8 *data = g_bytes_get_data(frame, &size);

    /* The prefix is the big-endian length of the rest. */
    g_assert_cmpuint(size, >, FERRY_RPC_HEADER_SIZE);
    g_assert_cmpuint(((guint32)data[0] << 24 | (guint32)data[1] << 16 |
                      (guint32)data[2] << 8 | data[3]), ==, size - FERRY_RPC_HEADER_SIZE);

    ferry_rpc_decoder_feed(dec, data, size);
    g_assert_true(ferry_rpc_decoder_next(dec, &packet, &error));
    g_assert_no_error(error);
    g_assert_nonnull(packet);
    assert_start_packet(packet, "web1", 7);
    g_assert_true(ferry_rpc_decoder_next(dec, &none, &error));
    g_assert_null(none);
    g_assert_true(ferry_rpc_decoder_finish(dec, &error));
    g_assert_no_error(error);
}

static void
test_byte_by_byte(void)
{
    g_autoptr(ferry_rpc_decoder) dec = ferry_rpc_decoder_new(0);
    g_autoptr(GBytes) one = start_frame("first", 1);
    g_autoptr(GBytes) two = start_frame("second", 2);
    g_autoptr(GByteArray) stream = g_byte_array_new();
    gsize len_one = g_bytes_get_size(one);
    guint n_packets = 0;

    g_byte_array_append(stream, g_bytes_get_data(one, NULL), len_one);
    g_byte_array_append(stream, g_bytes_get_data(two, NULL), g_bytes_get_size(two));

    for (guint i = 0; i < stream->len; i++) {
        g_autoptr(Ferry__Packet) packet = NULL;
        g_autoptr(GError) error = NULL;

        ferry_rpc_decoder_feed(dec, stream->data + i, 1);
        g_assert_true(ferry_rpc_decoder_next(dec, &packet, &error));
        g_assert_no_error(error);
        /* A packet comes out exactly when its last byte goes in. */
        if (i == len_one - 1) {
            g_assert_nonnull(packet);
            assert_start_packet(packet, "first", 1);
            n_packets++;
        } else if (i == stream->len - 1) {
            g_assert_nonnull(packet);
            assert_start_packet(packet, "second", 2);
            n_packets++;
        } else {
            g_assert_null(packet);
            if (i > 0)
                g_assert_false(ferry_rpc_decoder_finish(dec, NULL));
        }
    }
    g_assert_cmpuint(n_packets, ==, 2);
    g_assert_true(ferry_rpc_decoder_finish(dec, NULL));
}

static void
test_two_in_one_chunk(void)
{
    g_autoptr(ferry_rpc_decoder) dec = ferry_rpc_decoder_new(0);
    g_autoptr(GBytes) one = start_frame("first", 1);
    g_autoptr(GBytes) two = start_frame("second", 2);
    g_autoptr(GByteArray) chunk = g_byte_array_new();
    g_autoptr(Ferry__Packet) p1 = NULL;
    g_autoptr(Ferry__Packet) p2 = NULL;
    g_autoptr(Ferry__Packet) p3 = NULL;
    g_autoptr(GError) error = NULL;

    g_byte_array_append(chunk, g_bytes_get_data(one, NULL), g_bytes_get_size(one));
    g_byte_array_append(chunk, g_bytes_get_data(two, NULL), g_bytes_get_size(two));
    /* And the first 3 bytes of a third frame. */
    g_byte_array_append(chunk, g_bytes_get_data(one, NULL), 3);
    ferry_rpc_decoder_feed(dec, chunk->data, chunk->len);

    g_assert_true(ferry_rpc_decoder_next(dec, &p1, &error));
    g_assert_true(ferry_rpc_decoder_next(dec, &p2, &error));
    g_assert_true(ferry_rpc_decoder_next(dec, &p3, &error));
    g_assert_no_error(error);
    assert_start_packet(p1, "first", 1);
    assert_start_packet(p2, "second", 2);
    g_assert_null(p3);
    g_assert_false(ferry_rpc_decoder_finish(dec, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_RPC);
    g_assert_cmpstr(error->message, ==,
                    "connection closed in the middle of a frame's length: 3 of 4 bytes "
                    "received");
}

/* Feeds @data and expects the decoder to fail with @message, and to stay failed. */
static void
expect_failure(ferry_rpc_decoder *dec, const void *data, gsize len, const char *message)
{
    g_autoptr(Ferry__Packet) packet = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) again = NULL;
    g_autoptr(GBytes) good = start_frame("after", 9);

    ferry_rpc_decoder_feed(dec, data, len);
    g_assert_false(ferry_rpc_decoder_next(dec, &packet, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_RPC);
    g_assert_cmpstr(error->message, ==, message);
    g_assert_null(packet);

    /* A good frame after a bad one does not revive the stream. */
    ferry_rpc_decoder_feed(dec, g_bytes_get_data(good, NULL), g_bytes_get_size(good));
    g_assert_false(ferry_rpc_decoder_next(dec, &packet, &again));
    g_assert_error(again, FERRY_ERROR, FERRY_ERROR_RPC);
    g_assert_cmpstr(again->message, ==, message);
    g_assert_false(ferry_rpc_decoder_finish(dec, NULL));
}

static void
test_oversized(void)
{
    static const guint8 huge[] = { 0xff, 0xff, 0xff, 0xff };
    g_autoptr(ferry_rpc_decoder) dec = ferry_rpc_decoder_new(0);
    g_autoptr(ferry_rpc_decoder) small = ferry_rpc_decoder_new(20);
    g_autoptr(ferry_rpc_decoder) exact = NULL;
    g_autoptr(GBytes) frame = start_frame("web1", 3);
    gsize size;
    const guint8 *data = g_bytes_get_data(frame, &size);
    g_autoptr(Ferry__Packet) packet = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *expected = g_strdup_printf("frame length %" G_GSIZE_FORMAT
                                                " exceeds limit 20",
                                                size - FERRY_RPC_HEADER_SIZE);

    /* Refused on the 4 bytes of the length alone, before any body. */
    expect_failure(dec, huge, sizeof(huge), "frame length 4294967295 exceeds limit 4194304");

    g_assert_cmpuint(size - FERRY_RPC_HEADER_SIZE, >, 20);
    expect_failure(small, data, FERRY_RPC_HEADER_SIZE, expected);

    /* A frame exactly at the limit passes. */
    exact = ferry_rpc_decoder_new(size - FERRY_RPC_HEADER_SIZE);
    ferry_rpc_decoder_feed(exact, data, size);
    g_assert_true(ferry_rpc_decoder_next(exact, &packet, &error));
    g_assert_no_error(error);
    g_assert_nonnull(packet);
}

static void
test_zero_length(void)
{
    static const guint8 zero[] = { 0, 0, 0, 0 };
    g_autoptr(ferry_rpc_decoder) dec = ferry_rpc_decoder_new(0);

    expect_failure(dec, zero, sizeof(zero),
                   "frame length 0 is invalid: a frame holds at least a packet header");
}

static void
test_garbage(void)
{
    static const guint8 junk[] = { 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff };
    static const char text[] = "GET / HTTP/1.1\r\n\r\n";
    g_autoptr(ferry_rpc_decoder) dec = ferry_rpc_decoder_new(0);
    g_autoptr(ferry_rpc_decoder) http = ferry_rpc_decoder_new(0);

    expect_failure(dec, junk, sizeof(junk), "frame of 5 bytes is not a valid Packet");
    /* "GET " read as a length. */
    expect_failure(http, text, strlen(text), "frame length 1195725856 exceeds limit 4194304");
}

/* A frame whose Packet carries @program and @version. */
static GBytes *
frame_with_header(guint32 program, guint32 version, guint type)
{
    Ferry__Packet packet = FERRY__PACKET__INIT;
    gsize size;
    guint8 *buf;
    guint32 be;

    packet.program = program;
    packet.version = version;
    packet.procedure = FERRY__PROCEDURE__CONNECT_GET_HOSTNAME;
    packet.type = type;
    size = protobuf_c_message_get_packed_size(&packet.base);
    buf = g_malloc(size + 4);
    be = GUINT32_TO_BE((guint32)size);
    memcpy(buf, &be, 4);
    protobuf_c_message_pack(&packet.base, buf + 4);
    return g_bytes_new_take(buf, size + 4);
}

static void
test_bad_header(void)
{
    g_autoptr(ferry_rpc_decoder) d1 = ferry_rpc_decoder_new(0);
    g_autoptr(ferry_rpc_decoder) d2 = ferry_rpc_decoder_new(0);
    g_autoptr(ferry_rpc_decoder) d3 = ferry_rpc_decoder_new(0);
    g_autoptr(GBytes) program = frame_with_header(0x12345678, 1, 0);
    g_autoptr(GBytes) version = frame_with_header(FERRY__PROGRAM__FERRY, 2, 0);
    g_autoptr(GBytes) type = frame_with_header(FERRY__PROGRAM__FERRY, 1, 9);

    expect_failure(d1, g_bytes_get_data(program, NULL), g_bytes_get_size(program),
                   "packet program 0x12345678 is not ferry's (0x46455259)");
    expect_failure(d2, g_bytes_get_data(version, NULL), g_bytes_get_size(version),
                   "packet version 2 is not supported (this side speaks version 1)");
    expect_failure(d3, g_bytes_get_data(type, NULL), g_bytes_get_size(type),
                   "packet type 9 is unknown");
}

static void
test_truncated(void)
{
    g_autoptr(ferry_rpc_decoder) dec = ferry_rpc_decoder_new(0);
    g_autoptr(GBytes) frame = start_frame("web1", 3);
    gsize size;
    const guint8 *data = g_bytes_get_data(frame, &size);
    g_autoptr(Ferry__Packet) packet = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *expected = NULL;

    ferry_rpc_decoder_feed(dec, data, size - 5);
    g_assert_true(ferry_rpc_decoder_next(dec, &packet, &error));
    g_assert_null(packet);
    g_assert_false(ferry_rpc_decoder_finish(dec, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_RPC);
    expected = g_strdup_printf("connection closed in the middle of a frame: %" G_GSIZE_FORMAT
                               " of %" G_GSIZE_FORMAT " bytes received",
                               size - 5 - FERRY_RPC_HEADER_SIZE,
                               size - FERRY_RPC_HEADER_SIZE);
    g_assert_cmpstr(error->message, ==, expected);
}

/* What the decoder says of a frame in progress: nothing between frames,
 * the prefix's bytes before the length is known, the body's after. */
static void
test_partial(void)
{
    g_autoptr(ferry_rpc_decoder) dec = ferry_rpc_decoder_new(0);
    g_autoptr(GBytes) frame = start_frame("web1", 3);
    gsize size;
    const guint8 *data = g_bytes_get_data(frame, &size);
    g_autoptr(Ferry__Packet) packet = NULL;
    g_autoptr(GError) error = NULL;
    gsize have = 99;
    gsize want = 99;

    g_assert_false(ferry_rpc_decoder_get_partial(dec, &have, &want));
    g_assert_cmpuint(have, ==, 99);
    ferry_rpc_decoder_feed(dec, data, 2);
    g_assert_true(ferry_rpc_decoder_next(dec, &packet, &error));
    g_assert_true(ferry_rpc_decoder_get_partial(dec, &have, &want));
    g_assert_cmpuint(have, ==, 2);
    g_assert_cmpuint(want, ==, 0);
    ferry_rpc_decoder_feed(dec, data + 2, 5);
    g_assert_true(ferry_rpc_decoder_next(dec, &packet, &error));
    g_assert_null(packet);
    g_assert_true(ferry_rpc_decoder_get_partial(dec, &have, &want));
    g_assert_cmpuint(have, ==, 3);
    g_assert_cmpuint(want, ==, size - FERRY_RPC_HEADER_SIZE);
    ferry_rpc_decoder_feed(dec, data + 7, size - 7);
    g_assert_true(ferry_rpc_decoder_next(dec, &packet, &error));
    g_assert_nonnull(packet);
    g_clear_pointer(&packet, ferry_rpc_packet_free);
    g_assert_true(ferry_rpc_decoder_next(dec, &packet, &error));
    g_assert_null(packet);
    g_assert_false(ferry_rpc_decoder_get_partial(dec, NULL, NULL));
}

static void
test_error_body(void)
{
    g_autoptr(GError) sent = g_error_new(FERRY_ERROR, FERRY_ERROR_NO_DOMAIN,
                                         "no domain named 'web1' on host 'a'");
    g_autoptr(GError) io = g_error_new(G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "took too long");
    g_autoptr(GBytes) body = ferry_rpc_error_pack(sent);
    g_autoptr(GBytes) io_body = ferry_rpc_error_pack(io);
    g_autoptr(GBytes) junk = g_bytes_new_static("\xff\xff", 2);
    g_autoptr(GError) got = ferry_rpc_error_unpack(body, FERRY__PROCEDURE__DOMAIN_START);
    g_autoptr(GError) got_io = ferry_rpc_error_unpack(io_body, FERRY__PROCEDURE__DOMAIN_START);
    g_autoptr(GError) bad = ferry_rpc_error_unpack(junk, FERRY__PROCEDURE__DOMAIN_START);

    g_assert_error(got, FERRY_ERROR, FERRY_ERROR_NO_DOMAIN);
    g_assert_cmpstr(got->message, ==, "no domain named 'web1' on host 'a'");
    /* Foreign errors travel as the FERRY_ERROR code they map to. */
    g_assert_error(got_io, FERRY_ERROR, FERRY_ERROR_TIMEOUT);
    g_assert_cmpstr(got_io->message, ==, "took too long");
    g_assert_error(bad, FERRY_ERROR, FERRY_ERROR_RPC);
    g_assert_cmpstr(bad->message, ==, "the error reply to DOMAIN_START: 2 bytes that are "
                                      "not a valid Error message");
}

static void
test_message_unpack(void)
{
    /* Only field 2 (flags = 1): the required `dom` is missing. */
    g_autoptr(GBytes) incomplete = g_bytes_new_static("\x10\x01", 2);
    g_autoptr(GError) error = NULL;
    g_autoptr(ProtobufCMessage) msg = NULL;

    msg = ferry_rpc_message_unpack(&ferry__domain_start_args__descriptor, incomplete,
                                   "the arguments of DOMAIN_START", &error);
    g_assert_null(msg);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_RPC);
    g_assert_cmpstr(error->message, ==, "the arguments of DOMAIN_START: 2 bytes that are "
                                        "not a valid DomainStartArgs message");
}

/* Begin3's arguments for web1 with @n disks named @disk. */
static GBytes *
begin3_with_disks(guint n, const char *disk)
{
    Ferry__DomainMigrateBegin3Args args = FERRY__DOMAIN_MIGRATE_BEGIN3_ARGS__INIT;
    Ferry__Domain dom = FERRY__DOMAIN__INIT;
    Ferry__MigrateParams params = FERRY__MIGRATE_PARAMS__INIT;
    g_autofree char **disks = g_new(char *, n);

    for (guint i = 0; i < n; i++)
        disks[i] = (char *)disk;
    dom.name = (char *)"web1";
    dom.uuid = (char *)"c7a5fdbd-cdaf-9455-926a-d65c16db1809";
    params.n_migrate_disks = n;
    params.migrate_disks = disks;
    args.dom = &dom;
    args.params = &params;
    return ferry_rpc_message_pack(&args.base);
}

/*
 * Decoding has a memory budget: a message of many tiny elements, which
 * would take 52 times its size, is refused; big strings and a long list of
 * domains, which take about their size or five times it, are not.
 */
static void
test_message_budget(void)
{
    g_autoptr(GBytes) many = begin3_with_disks(300000, "");
    g_autoptr(GBytes) few = begin3_with_disks(16, "vda");
    Ferry__DomainDefineXmlArgs define = FERRY__DOMAIN_DEFINE_XML_ARGS__INIT;
    g_autofree char *xml = g_strnfill(3 * 1024 * 1024, 'x');
    g_autoptr(GBytes) big = NULL;
    Ferry__ConnectListDomainsRet list = FERRY__CONNECT_LIST_DOMAINS_RET__INIT;
    g_autofree Ferry__Domain *doms = g_new0(Ferry__Domain, 20000);
    g_autofree Ferry__Domain **ptrs = g_new0(Ferry__Domain *, 20000);
    g_autoptr(GBytes) long_list = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(ProtobufCMessage) msg = NULL;
    g_autofree char *expected = NULL;

    msg = ferry_rpc_message_unpack(&ferry__domain_migrate_begin3_args__descriptor, many,
                                   "the arguments of DOMAIN_MIGRATE_BEGIN3", &error);
    g_assert_null(msg);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_LIMIT);
    expected = g_strdup_printf("the arguments of DOMAIN_MIGRATE_BEGIN3: %" G_GSIZE_FORMAT
                               " bytes that would take more than %" G_GSIZE_FORMAT " bytes "
                               "of memory as a DomainMigrateBegin3Args message: refused",
                               g_bytes_get_size(many), 6 * g_bytes_get_size(many) + 65536);
    g_assert_cmpstr(error->message, ==, expected);
    g_clear_error(&error);

    msg = ferry_rpc_message_unpack(&ferry__domain_migrate_begin3_args__descriptor, few,
                                   "few", &error);
    g_assert_no_error(error);
    g_assert_cmpuint(((Ferry__DomainMigrateBegin3Args *)msg)->params->n_migrate_disks, ==, 16);
    g_clear_pointer(&msg, ferry_rpc_message_free);

    define.xml = xml;
    big = ferry_rpc_message_pack(&define.base);
    msg = ferry_rpc_message_unpack(&ferry__domain_define_xml_args__descriptor, big, "big",
                                   &error);
    g_assert_no_error(error);
    g_assert_cmpuint(strlen(((Ferry__DomainDefineXmlArgs *)msg)->xml), ==, strlen(xml));
    g_clear_pointer(&msg, ferry_rpc_message_free);

    /* The shortest names: the list costs the most for its size. */
    for (guint i = 0; i < 20000; i++) {
        ferry__domain__init(&doms[i]);
        doms[i].name = (char *)"a";
        doms[i].uuid = (char *)"c7a5fdbd-cdaf-9455-926a-d65c16db1809";
        ptrs[i] = &doms[i];
    }
    list.n_domains = 20000;
    list.domains = ptrs;
    long_list = ferry_rpc_message_pack(&list.base);
    msg = ferry_rpc_message_unpack(&ferry__connect_list_domains_ret__descriptor, long_list,
                                   "a long list", &error);
    g_assert_no_error(error);
    g_assert_cmpuint(((Ferry__ConnectListDomainsRet *)msg)->n_domains, ==, 20000);
}

static void
test_procedures(void)
{
    g_assert_cmpstr(ferry_rpc_procedure_name(FERRY__PROCEDURE__DOMAIN_START), ==,
                    "DOMAIN_START");
    g_assert_cmpstr(ferry_rpc_procedure_name(9999), ==, "UNKNOWN");
    g_assert_cmpstr(ferry_rpc_procedure_name(G_MAXUINT32), ==, "UNKNOWN");
    g_assert_true(ferry_rpc_procedure_args(FERRY__PROCEDURE__DOMAIN_START) ==
                  &ferry__domain_start_args__descriptor);
    g_assert_true(ferry_rpc_procedure_ret(FERRY__PROCEDURE__CONNECT_LIST_DOMAINS) ==
                  &ferry__connect_list_domains_ret__descriptor);
    /* Keepalive and events are not calls. */
    g_assert_null(ferry_rpc_procedure_args(FERRY__PROCEDURE__KEEPALIVE_PING));
    g_assert_null(ferry_rpc_procedure_ret(FERRY__PROCEDURE__EVENT_LIFECYCLE));
    g_assert_null(ferry_rpc_procedure_args(9999));
    /* The numbers are part of the protocol. */
    g_assert_cmpint(FERRY__PROCEDURE__CONNECT_OPEN, ==, 1);
    g_assert_cmpint(FERRY__PROCEDURE__DOMAIN_GET_XML, ==, 19);
    g_assert_cmpint(FERRY__PROCEDURE__EVENT_LIFECYCLE, ==, 22);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/rpc/frame/roundtrip", test_roundtrip);
    g_test_add_func("/rpc/frame/byte-by-byte", test_byte_by_byte);
    g_test_add_func("/rpc/frame/two-in-one-chunk", test_two_in_one_chunk);
    g_test_add_func("/rpc/frame/oversized", test_oversized);
    g_test_add_func("/rpc/frame/zero-length", test_zero_length);
    g_test_add_func("/rpc/frame/garbage", test_garbage);
    g_test_add_func("/rpc/frame/bad-header", test_bad_header);
    g_test_add_func("/rpc/frame/truncated", test_truncated);
    g_test_add_func("/rpc/frame/partial", test_partial);
    g_test_add_func("/rpc/message/error-body", test_error_body);
    g_test_add_func("/rpc/message/unpack", test_message_unpack);
    g_test_add_func("/rpc/message/budget", test_message_budget);
    g_test_add_func("/rpc/message/procedures", test_procedures);
    return g_test_run();
}
