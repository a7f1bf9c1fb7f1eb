/*
 * watch.c: the watch thread of `ferry migrate`: the progress line drawn
 * from the job's events, and Ctrl-C.
 *
 * Owns: a thread iterating its own GMainContext (thread-default there, so
 * that the events of the subscription made in it arrive there), a 1 s timer
 * that only moves the clock of the line, the SIGINT source, and a
 * short-lived thread for ferry_domain_abort_job().  Must not: ask the host
 * for job information (the events carry it), or block the context (the
 * abort runs elsewhere so that the line and a second Ctrl-C still work);
 * the main thread is inside ferry_domain_migrate() meanwhile, and the
 * library's connections are thread-safe.
 */
#include "ferry-config.h"

#include "watch.h"

#include <glib-unix.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"
#include "progress.h"

#define TICK_MS 1000

struct cli_watch {
    ferry_domain *dom;
    char *name;               /* the domain's name, for messages */
    char *uuid;               /* what events are matched by */
    FILE *out;
    gboolean draw;
    GMainContext *ctx;
    GThread *thread;
    GThread *abort_thread;    /* set in the watch thread; joined once it ended */

    GMutex lock;              /* guards the four below and every write to out */
    GCond cond;
    gboolean ready;           /* the thread handles SIGINT and has subscribed */
    gboolean stopping;
    gboolean drawn;           /* a line is on the terminal */
    gboolean abort_asked;     /* the first Ctrl-C came */

    /* The watch thread's own. */
    gint64 start_us;
    gboolean have_info;       /* a job event came */
    gboolean ended;           /* it was JOB_ENDED: the clock stops */
    ferry_job_info info;      /* the last event's */
    gint64 info_us;           /* when it came */
    guint64 last_sent;        /* bytes sent at the last event, for the rate */
    double rate;              /* bytes per second, measured when not given */
};

static guint
terminal_width(FILE *out)
{
    struct winsize ws;

    if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

/* Called with w->lock held. */
static void
erase_line_locked(cli_watch *w)
{
    if (!w->drawn)
        return;
    fputs("\r\033[K", w->out);
    fflush(w->out);
    w->drawn = FALSE;
}

static void
redraw(cli_watch *w)
{
    gint64 now = g_get_monotonic_time();
    guint width;
    g_autofree char *line = NULL;

    if (!w->draw)
        return;
    width = terminal_width(w->out);
    if (!w->have_info) {
        line = cli_progress_format_waiting((now - w->start_us) / 1000, width);
    } else {
        ferry_job_info info = w->info;

        /* Between two events only the clock moves; the job's own figure
         * is the base when it gave one. */
        if (!w->ended) {
            info.elapsed_ms = info.elapsed_ms > 0
                              ? info.elapsed_ms + (now - w->info_us) / 1000
                              : (now - w->start_us) / 1000;
        }
        line = cli_progress_format(&info, w->rate, width);
    }
    g_mutex_lock(&w->lock);
    if (!w->stopping) {
        fprintf(w->out, "\r%s\033[K", line);
        fflush(w->out);
        w->drawn = TRUE;
    }
    g_mutex_unlock(&w->lock);
}

static void
on_event(ferry_conn *conn, const ferry_event *ev, gpointer data)
{
    cli_watch *w = data;
    gint64 now = g_get_monotonic_time();
    guint64 sent;

    if ((ev->type != FERRY_EVENT_JOB_PROGRESS && ev->type != FERRY_EVENT_JOB_ENDED) ||
        !ev->job || !ev->domain || strcmp(ferry_domain_get_uuid(ev->domain), w->uuid) != 0)
        return;
    sent = ev->job->mem_processed + ev->job->disk_processed;
    if (ev->job->rate_bps > 0) {
        w->rate = (double)ev->job->rate_bps;
    } else if (w->last_sent > 0 && now > w->info_us && sent > w->last_sent) {
        /* The driver gave no rate: measure it between two events that
         * both saw data moving, smoothed a little. */
        double r = (double)(sent - w->last_sent) * 1e6 / (double)(now - w->info_us);

        w->rate = w->rate > 0 ? 0.5 * w->rate + 0.5 * r : r;
    }
    w->info = *ev->job;
    w->have_info = TRUE;
    w->ended = ev->type == FERRY_EVENT_JOB_ENDED;
    w->info_us = now;
    w->last_sent = sent;
    redraw(w);
}

static gboolean
on_tick(gpointer data)
{
    redraw(data);
    return G_SOURCE_CONTINUE;
}

static gpointer
abort_thread(gpointer data)
{
    cli_watch *w = data;
    g_autoptr(GError) error = NULL;

    /* Success needs no word here: the migration call returns the abort,
     * and the main thread says it. */
    if (ferry_domain_abort_job(w->dom, 0, &error))
        return NULL;
    /* The line goes on being drawn after this (cli_watch_stop() joins this
     * thread before it returns, so the message is never late). */
    g_mutex_lock(&w->lock);
    erase_line_locked(w);
    fprintf(w->out, "ferry: cannot abort: %s\n", error->message);
    fflush(w->out);
    g_mutex_unlock(&w->lock);
    return NULL;
}

static gboolean
on_sigint(gpointer data)
{
    cli_watch *w = data;

    g_mutex_lock(&w->lock);
    if (w->stopping) {
        /* The migration call has returned: nothing left to abort. */
        g_mutex_unlock(&w->lock);
        return G_SOURCE_CONTINUE;
    }
    /* On a terminal, also the "^C" it echoed. */
    if (w->draw)
        w->drawn = TRUE;
    erase_line_locked(w);
    if (w->abort_asked) {
        fputs("ferry: not waiting for the migration to end; its daemons finish it\n", w->out);
        fflush(w->out);
        /* _exit(), not exit(): the main thread is inside the library, whose
         * state exit()'s handlers must not tear down under it.  The
         * daemons resolve the migration by themselves. */
        _exit(EXIT_INTERRUPTED);
    }
    w->abort_asked = TRUE;
    fprintf(w->out, "ferry: aborting the migration of '%s' (press Ctrl-C again to stop "
                    "waiting)\n", w->name);
    fflush(w->out);
    g_mutex_unlock(&w->lock);
    /* Not in this thread: the abort returns only once the host's job
     * ended, and the line and a second Ctrl-C must not wait for that. */
    w->abort_thread = g_thread_new("ferry-abort", abort_thread, w);
    return G_SOURCE_CONTINUE;
}

static gpointer
watch_thread(gpointer data)
{
    cli_watch *w = data;
    g_autoptr(GSource) sigint = g_unix_signal_source_new(SIGINT);
    g_autoptr(GSource) tick = g_timeout_source_new(TICK_MS);
    guint sub;

    g_main_context_push_thread_default(w->ctx);
    /* Events run in the subscribing thread's thread-default context: this
     * one.  Without them (a driver that has none) the line says
     * "preparing" throughout, and Ctrl-C still works. */
    sub = ferry_conn_subscribe_events(ferry_domain_get_conn(w->dom), on_event, w, NULL, NULL);
    g_source_set_callback(sigint, on_sigint, w, NULL);
    g_source_attach(sigint, w->ctx);
    g_source_set_callback(tick, on_tick, w, NULL);
    g_source_attach(tick, w->ctx);
    redraw(w);

    g_mutex_lock(&w->lock);
    w->ready = TRUE;
    g_cond_signal(&w->cond);
    while (!w->stopping) {
        g_mutex_unlock(&w->lock);
        /* cli_watch_stop() wakes the context up after setting stopping. */
        g_main_context_iteration(w->ctx, TRUE);
        g_mutex_lock(&w->lock);
    }
    g_mutex_unlock(&w->lock);

    if (sub)
        ferry_conn_unsubscribe_events(ferry_domain_get_conn(w->dom), sub, NULL);
    g_source_destroy(tick);
    /* GLib puts back SIGINT's default disposition once no source watches
     * it any more (when the last reference, below, goes). */
    g_source_destroy(sigint);
    g_main_context_pop_thread_default(w->ctx);
    return NULL;
}

cli_watch *
cli_watch_start(ferry_domain *dom, FILE *out, gboolean draw)
{
    cli_watch *w = g_new0(cli_watch, 1);

    w->dom = ferry_domain_ref(dom);
    w->name = g_strdup(ferry_domain_get_name(dom));
    w->uuid = g_strdup(ferry_domain_get_uuid(dom));
    w->out = out;
    w->draw = draw;
    w->ctx = g_main_context_new();
    w->start_us = g_get_monotonic_time();
    g_mutex_init(&w->lock);
    g_cond_init(&w->cond);
    w->thread = g_thread_new("ferry-watch", watch_thread, w);
    /* A Ctrl-C from now on aborts the migration instead of killing this
     * client halfway through its phases. */
    g_mutex_lock(&w->lock);
    while (!w->ready)
        g_cond_wait(&w->cond, &w->lock);
    g_mutex_unlock(&w->lock);
    return w;
}

gboolean
cli_watch_stop(cli_watch *w, ferry_job_info *ret_last)
{
    struct sigaction dfl = { .sa_handler = SIG_DFL };
    gboolean abort_asked;

    g_mutex_lock(&w->lock);
    w->stopping = TRUE;
    g_mutex_unlock(&w->lock);
    g_main_context_wakeup(w->ctx);
    g_thread_join(w->thread);
    /* Its message, if the abort failed, comes before what the caller
     * prints next. */
    if (w->abort_thread)
        g_thread_join(w->abort_thread);
    /* GLib did it when the source went; said again so that the default
     * holds whatever GLib version this runs on. */
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGINT, &dfl, NULL);
    g_mutex_lock(&w->lock);
    erase_line_locked(w);
    abort_asked = w->abort_asked;
    g_mutex_unlock(&w->lock);
    /* The thread that wrote it was joined. */
    if (ret_last) {
        if (w->have_info)
            *ret_last = w->info;
        else
            memset(ret_last, 0, sizeof(*ret_last));
    }
    ferry_domain_unref(w->dom);
    g_free(w->name);
    g_free(w->uuid);
    g_main_context_unref(w->ctx);
    g_mutex_clear(&w->lock);
    g_cond_clear(&w->cond);
    g_free(w);
    return abort_asked;
}
