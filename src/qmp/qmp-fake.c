/*
 * qmp-fake.c: the fake QEMU monitor behind qmp-fake.h.
 *
 * Owns: parsing .qmp transcripts and replaying one of them on a UNIX socket
 * from a thread of its own, recording the first mismatch.
 * Must not: be used outside tests; know what any command means.
 *
 * Everything but the fields under @lock lives on the fake's thread.
 */
#include "ferry-config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <gio/gunixfdmessage.h>
#include <gio/gunixsocketaddress.h>

#include <ferry/ferry.h>

#include "qmp/qmp-fake.h"
#include "util/json-util.h"

#define FAKE_FINISH_TIMEOUT_S 10
#define FAKE_IO_TIMEOUT_S 10
#define FAKE_READ_CHUNK 65536

typedef enum {
    STEP_SEND,
    STEP_EXPECT,
    STEP_RAW,
    STEP_FILL,
    STEP_CLOSE,
} fake_step_kind;

typedef struct {
    fake_step_kind kind;
    guint line;
    json_object *json;          /* SEND: as written; EXPECT: without "id" */
    char *text;                 /* SEND, RAW: the text as written */
    gsize count;                /* FILL */
} fake_step;

struct _ferry_qmp_fake {
    char *name;                 /* the transcript's base name, for messages */
    char *socket_path;
    GPtrArray *steps;
    guint next;
    json_object *client_id;

    GMainContext *context;
    GMainLoop *loop;
    GThread *thread;
    GSocket *listener;
    GSource *accept_source;
    GSocket *client;
    GSource *client_source;
    GByteArray *inbuf;

    GMutex lock;
    GCond cond;
    gboolean connected;
    gboolean ended;
    char *failure;
    guint fds_received;
};

static void
fake_step_free(gpointer data)
{
    fake_step *step = data;

    if (step->json)
        json_object_put(step->json);
    g_free(step->text);
    g_free(step);
}

static const char *
fake_json_text(json_object *obj)
{
    return json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
                                                   JSON_C_TO_STRING_NOSLASHESCAPE);
}

static json_object *
fake_parse_json(const char *text)
{
    json_tokener *tok = json_tokener_new();
    json_object *obj;
    gsize len = strlen(text);

    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    obj = json_tokener_parse_ex(tok, text, (int)len);
    if (json_tokener_get_error(tok) != json_tokener_success ||
        json_tokener_get_parse_end(tok) != len)
        g_clear_pointer(&obj, json_object_put);
    json_tokener_free(tok);
    return obj;
}

/* ---- the transcript ----------------------------------------------------- */

static fake_step *
fake_parse_step(const char *name, guint lineno, const char *line, GError **error)
{
    g_autoptr(json_object) json = NULL;
    fake_step *step;

    if (g_str_has_prefix(line, "<- ") || g_str_has_prefix(line, "-> ")) {
        gboolean expect = line[0] == '-';

        json = fake_parse_json(line + 3);
        if (!json || (expect && !json_object_is_type(json, json_type_object))) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                        "transcript '%s' line %u: '%s' is not %s", name, lineno, line + 3,
                        expect ? "a JSON object" : "valid JSON");
            return NULL;
        }
        step = g_new0(fake_step, 1);
        step->kind = expect ? STEP_EXPECT : STEP_SEND;
        if (expect)
            json_object_object_del(json, "id");
        else
            step->text = g_strdup(line + 3);
        step->json = g_steal_pointer(&json);
    } else if (strcmp(line, "!close") == 0) {
        step = g_new0(fake_step, 1);
        step->kind = STEP_CLOSE;
    } else if (g_str_has_prefix(line, "!raw ")) {
        step = g_new0(fake_step, 1);
        step->kind = STEP_RAW;
        step->text = g_strdup(line + 5);
    } else if (g_str_has_prefix(line, "!fill ")) {
        guint64 count;

        if (!g_ascii_string_to_unsigned(line + 6, 10, 1, G_MAXSIZE, &count, NULL)) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                        "transcript '%s' line %u: '%s' is not a byte count",
                        name, lineno, line + 6);
            return NULL;
        }
        step = g_new0(fake_step, 1);
        step->kind = STEP_FILL;
        step->count = count;
    } else {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "transcript '%s' line %u: '%s' starts with neither '<- ', '-> ', "
                    "'!' nor '#'", name, lineno, line);
        return NULL;
    }
    step->line = lineno;
    return step;
}

static GPtrArray *
fake_parse_transcript(const char *path, const char *name, GError **error)
{
    g_autofree char *contents = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) steps = g_ptr_array_new_with_free_func(fake_step_free);

    if (!g_file_get_contents(path, &contents, NULL, &err)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "cannot read transcript '%s': %s", path, err->message);
        return NULL;
    }
    lines = g_strsplit(contents, "\n", -1);
    for (guint i = 0; lines[i]; i++) {
        char *line = g_strchomp(lines[i]);
        fake_step *step;

        if (*line == '\0' || *line == '#')
            continue;
        step = fake_parse_step(name, i + 1, line, error);
        if (!step)
            return NULL;
        g_ptr_array_add(steps, step);
    }
    return g_steal_pointer(&steps);
}

/* ---- the conversation (fake thread) ------------------------------------- */

static void
fake_end(ferry_qmp_fake *fake)
{
    if (fake->client_source) {
        g_source_destroy(fake->client_source);
        g_clear_pointer(&fake->client_source, g_source_unref);
    }
    if (fake->client)
        g_socket_close(fake->client, NULL);
    g_mutex_lock(&fake->lock);
    fake->ended = TRUE;
    g_cond_broadcast(&fake->cond);
    g_mutex_unlock(&fake->lock);
}

static void G_GNUC_PRINTF(2, 3)
fake_fail(ferry_qmp_fake *fake, const char *format, ...)
{
    va_list ap;

    g_mutex_lock(&fake->lock);
    if (!fake->failure) {
        va_start(ap, format);
        fake->failure = g_strdup_vprintf(format, ap);
        va_end(ap);
    }
    g_mutex_unlock(&fake->lock);
    fake_end(fake);
}

static gboolean
fake_send(ferry_qmp_fake *fake, const char *data, gsize len, GError **error)
{
    while (len > 0) {
        gssize n = g_socket_send(fake->client, data, len, NULL, error);

        if (n < 0)
            return FALSE;
        data += n;
        len -= (gsize)n;
    }
    return TRUE;
}

/*
 * The line for a SEND step: the text as written, unless the client's id
 * goes into a reply (for "id":"$ID", or a reply written without an id).
 */
static char *
fake_render(ferry_qmp_fake *fake, fake_step *step)
{
    g_autoptr(json_object) copy = NULL;
    json_object *id = NULL;
    gboolean placeholder, reply;

    if (!json_object_is_type(step->json, json_type_object))
        return g_strconcat(step->text, "\r\n", NULL);
    json_object_object_get_ex(step->json, "id", &id);
    placeholder = json_object_is_type(id, json_type_string) &&
                  strcmp(json_object_get_string(id), "$ID") == 0;
    reply = json_object_object_get_ex(step->json, "return", NULL) ||
            json_object_object_get_ex(step->json, "error", NULL);
    if (!placeholder && (id || !reply || !fake->client_id))
        return g_strconcat(step->text, "\r\n", NULL);

    json_object_deep_copy(step->json, &copy, NULL);
    if (fake->client_id)
        json_object_object_add(copy, "id", json_object_get(fake->client_id));
    else
        json_object_object_del(copy, "id");
    return g_strconcat(fake_json_text(copy), "\r\n", NULL);
}

static gboolean
fake_play_step(ferry_qmp_fake *fake, fake_step *step, GError **error)
{
    g_autofree char *data = NULL;

    switch (step->kind) {
    case STEP_SEND:
        data = fake_render(fake, step);
        return fake_send(fake, data, strlen(data), error);
    case STEP_RAW:
        data = g_strconcat(step->text, "\r\n", NULL);
        return fake_send(fake, data, strlen(data), error);
    case STEP_FILL: {
        g_autofree char *chunk = g_malloc(FAKE_READ_CHUNK);
        g_autoptr(GError) err = NULL;
        gsize left = step->count;

        memset(chunk, 'x', FAKE_READ_CHUNK);
        while (left > 0) {
            gsize n = MIN(left, (gsize)FAKE_READ_CHUNK);

            /* the client is expected to hang up on an endless line */
            if (!fake_send(fake, chunk, n, &err))
                return TRUE;
            left -= n;
        }
        return TRUE;
    }
    case STEP_CLOSE:
    case STEP_EXPECT:
        break;
    }
    g_assert_not_reached();
}

/* Plays everything up to the next "->" or the end. */
static void
fake_run(ferry_qmp_fake *fake)
{
    while (fake->next < fake->steps->len && !fake->ended) {
        fake_step *step = fake->steps->pdata[fake->next];
        g_autoptr(GError) err = NULL;

        if (step->kind == STEP_EXPECT)
            return;
        fake->next++;
        if (step->kind == STEP_CLOSE) {
            fake_end(fake);
            return;
        }
        if (!fake_play_step(fake, step, &err)) {
            fake_fail(fake, "transcript '%s' line %u: cannot send to the client: %s",
                      fake->name, step->line, err->message);
            return;
        }
    }
}

static void
fake_handle_line(ferry_qmp_fake *fake, const char *line)
{
    g_autoptr(json_object) got = fake_parse_json(line);
    fake_step *step;
    json_object *id = NULL;

    if (fake->next >= fake->steps->len) {
        fake_fail(fake, "transcript '%s': after its end the client sent '%s'", fake->name, line);
        return;
    }
    step = fake->steps->pdata[fake->next];
    if (!got || !json_object_is_type(got, json_type_object)) {
        fake_fail(fake, "transcript '%s' line %u: expected -> %s, got a line that is not a "
                  "JSON object: '%s'", fake->name, step->line, fake_json_text(step->json), line);
        return;
    }
    g_clear_pointer(&fake->client_id, json_object_put);
    if (json_object_object_get_ex(got, "id", &id))
        fake->client_id = json_object_get(id);
    json_object_object_del(got, "id");
    if (!json_object_equal(got, step->json)) {
        fake_fail(fake, "transcript '%s' line %u: expected -> %s, got -> %s",
                  fake->name, step->line, fake_json_text(step->json), fake_json_text(got));
        return;
    }
    fake->next++;
    fake_run(fake);
}

static void
fake_count_fds(ferry_qmp_fake *fake, GSocketControlMessage **messages, gint n)
{
    for (gint i = 0; i < n; i++) {
        if (G_IS_UNIX_FD_MESSAGE(messages[i])) {
            gint count = 0;
            g_autofree gint *fds = g_unix_fd_message_steal_fds(G_UNIX_FD_MESSAGE(messages[i]),
                                                                 &count);

            for (gint j = 0; j < count; j++)
                close(fds[j]);
            g_mutex_lock(&fake->lock);
            fake->fds_received += (guint)count;
            g_mutex_unlock(&fake->lock);
        }
        g_object_unref(messages[i]);
    }
    g_free(messages);
}

static gboolean
fake_on_client(GSocket *socket, GIOCondition condition, gpointer data)
{
    ferry_qmp_fake *fake = data;
    guint8 buf[FAKE_READ_CHUNK];
    GInputVector vec = { buf, sizeof(buf) };
    GSocketControlMessage **messages = NULL;
    gint nmessages = 0;
    gint flags = 0;
    g_autoptr(GError) err = NULL;
    gssize n;
    guint8 *nl;

    n = g_socket_receive_message(socket, NULL, &vec, 1, &messages, &nmessages, &flags,
                                 NULL, &err);
    fake_count_fds(fake, messages, nmessages);
    if (n <= 0) {
        if (fake->next < fake->steps->len) {
            fake_step *step = fake->steps->pdata[fake->next];

            fake_fail(fake, "transcript '%s' line %u: the client closed the connection (%s)",
                      fake->name, step->line, err ? err->message : "end of file");
        } else {
            fake_end(fake);
        }
        return G_SOURCE_CONTINUE;   /* fake_end() destroyed this source */
    }
    g_byte_array_append(fake->inbuf, buf, (guint)n);
    while (!fake->ended && (nl = memchr(fake->inbuf->data, '\n', fake->inbuf->len))) {
        gsize len = (gsize)(nl - fake->inbuf->data);
        g_autofree char *line = g_strndup((const char *)fake->inbuf->data, len);

        g_byte_array_remove_range(fake->inbuf, 0, (guint)len + 1);
        fake_handle_line(fake, g_strchomp(line));
    }
    return G_SOURCE_CONTINUE;
}

static gboolean
fake_on_accept(GSocket *listener, GIOCondition condition, gpointer data)
{
    ferry_qmp_fake *fake = data;
    g_autoptr(GError) err = NULL;

    fake->client = g_socket_accept(listener, NULL, &err);
    if (!fake->client)
        return G_SOURCE_CONTINUE;
    g_socket_set_timeout(fake->client, FAKE_IO_TIMEOUT_S);
    g_clear_pointer(&fake->accept_source, g_source_unref);   /* one client only */
    g_mutex_lock(&fake->lock);
    fake->connected = TRUE;
    g_mutex_unlock(&fake->lock);

    fake->client_source = g_socket_create_source(fake->client, G_IO_IN, NULL);
    g_source_set_callback(fake->client_source, G_SOURCE_FUNC(fake_on_client), fake, NULL);
    g_source_attach(fake->client_source, fake->context);
    fake_run(fake);
    return G_SOURCE_REMOVE;
}

static gpointer
fake_thread(gpointer data)
{
    ferry_qmp_fake *fake = data;

    g_main_context_push_thread_default(fake->context);
    g_main_loop_run(fake->loop);
    /* drop the sources while this thread still owns the context */
    if (fake->accept_source)
        g_source_destroy(fake->accept_source);
    if (fake->client_source)
        g_source_destroy(fake->client_source);
    g_main_context_pop_thread_default(fake->context);
    return NULL;
}

static gboolean
fake_quit(gpointer data)
{
    ferry_qmp_fake *fake = data;

    g_main_loop_quit(fake->loop);
    return G_SOURCE_REMOVE;
}

/* ---- public API --------------------------------------------------------- */

ferry_qmp_fake *
ferry_qmp_fake_new(const char *transcript_path, const char *socket_path, GError **error)
{
    g_autoptr(ferry_qmp_fake) fake = NULL;
    g_autoptr(GSocketAddress) address = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *name = NULL;
    g_autoptr(GPtrArray) steps = NULL;

    g_return_val_if_fail(transcript_path != NULL, NULL);
    g_return_val_if_fail(socket_path != NULL, NULL);
    name = g_path_get_basename(transcript_path);
    steps = fake_parse_transcript(transcript_path, name, error);
    if (!steps)
        return NULL;

    fake = g_new0(ferry_qmp_fake, 1);
    fake->name = g_steal_pointer(&name);
    fake->steps = g_steal_pointer(&steps);
    fake->inbuf = g_byte_array_new();
    g_mutex_init(&fake->lock);
    g_cond_init(&fake->cond);
    fake->context = g_main_context_new();
    fake->loop = g_main_loop_new(fake->context, FALSE);

    if (unlink(socket_path) < 0 && errno != ENOENT) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_SYSTEM,
                    "fake monitor: cannot remove '%s': %s", socket_path, g_strerror(errno));
        return NULL;
    }
    address = g_unix_socket_address_new(socket_path);
    fake->listener = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                                  G_SOCKET_PROTOCOL_DEFAULT, &err);
    if (!fake->listener || !g_socket_bind(fake->listener, address, TRUE, &err) ||
        !g_socket_listen(fake->listener, &err)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_SYSTEM,
                    "fake monitor: cannot listen on '%s': %s", socket_path, err->message);
        return NULL;
    }
    fake->socket_path = g_strdup(socket_path);
    fake->accept_source = g_socket_create_source(fake->listener, G_IO_IN, NULL);
    g_source_set_callback(fake->accept_source, G_SOURCE_FUNC(fake_on_accept), fake, NULL);
    g_source_attach(fake->accept_source, fake->context);
    fake->thread = g_thread_new("qmp-fake", fake_thread, fake);
    return g_steal_pointer(&fake);
}

gboolean
ferry_qmp_fake_finish(ferry_qmp_fake *fake, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + FAKE_FINISH_TIMEOUT_S * G_USEC_PER_SEC;
    gboolean ok = FALSE;

    g_return_val_if_fail(fake != NULL, FALSE);
    g_mutex_lock(&fake->lock);
    while (!fake->ended && g_cond_wait_until(&fake->cond, &fake->lock, deadline))
        ;
    if (fake->failure) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_QMP, "%s", fake->failure);
    } else if (!fake->connected) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_QMP,
                    "transcript '%s': no client connected to '%s'", fake->name,
                    fake->socket_path);
    } else if (!fake->ended) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_QMP,
                    "transcript '%s': the conversation did not end within %d s",
                    fake->name, FAKE_FINISH_TIMEOUT_S);
    } else {
        ok = TRUE;
    }
    g_mutex_unlock(&fake->lock);
    return ok;
}

guint
ferry_qmp_fake_get_fds_received(ferry_qmp_fake *fake)
{
    guint n;

    g_return_val_if_fail(fake != NULL, 0);
    g_mutex_lock(&fake->lock);
    n = fake->fds_received;
    g_mutex_unlock(&fake->lock);
    return n;
}

void
ferry_qmp_fake_free(ferry_qmp_fake *fake)
{
    if (!fake)
        return;
    if (fake->thread) {
        /* from a source, so a quit before the loop runs is not lost */
        g_autoptr(GSource) quit = g_idle_source_new();

        g_source_set_callback(quit, fake_quit, fake, NULL);
        g_source_attach(quit, fake->context);
        g_thread_join(fake->thread);
    }
    g_clear_pointer(&fake->accept_source, g_source_unref);
    g_clear_pointer(&fake->client_source, g_source_unref);
    if (fake->client)
        g_socket_close(fake->client, NULL);
    g_clear_object(&fake->client);
    if (fake->listener)
        g_socket_close(fake->listener, NULL);
    g_clear_object(&fake->listener);
    if (fake->socket_path)
        unlink(fake->socket_path);
    g_clear_pointer(&fake->loop, g_main_loop_unref);
    g_clear_pointer(&fake->context, g_main_context_unref);
    g_clear_pointer(&fake->client_id, json_object_put);
    g_clear_pointer(&fake->steps, g_ptr_array_unref);
    g_clear_pointer(&fake->inbuf, g_byte_array_unref);
    g_free(fake->failure);
    g_free(fake->socket_path);
    g_free(fake->name);
    g_mutex_clear(&fake->lock);
    g_cond_clear(&fake->cond);
    g_free(fake);
}
