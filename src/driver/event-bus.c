/*
 * event-bus.c: subscriptions and queued delivery of driver events.
 *
 * Locking: one mutex guards the subscription list.  A queued delivery holds a
 * reference on its subscription and checks the subscription's atomic `active`
 * flag right before calling out, so no callback starts after unsubscribe
 * returns.  Deliveries are always queued as idle sources, never run inside
 * emit, so a callback may (un)subscribe freely and runs without any lock.
 */
#include "ferry-config.h"

#include "driver/event-bus.h"

typedef struct {
    gint ref;
    guint id;
    ferry_conn *conn;          /* not owned; only compared */
    ferry_event_cb callback;
    gpointer user_data;
    GDestroyNotify destroy;
    GMainContext *context;
    gint active;               /* atomic */
} subscription;

struct ferry_event_bus {
    GMutex lock;
    GList *subs;               /* subscription* */
    guint next_id;
};

typedef struct {
    subscription *sub;
    ferry_event event;         /* event.domain owned; event.job points to job */
    ferry_job_info job;        /* a copy of the emitter's, which is gone by delivery */
} delivery;

static void
subscription_unref(subscription *sub)
{
    if (!g_atomic_int_dec_and_test(&sub->ref))
        return;
    if (sub->destroy)
        sub->destroy(sub->user_data);
    g_main_context_unref(sub->context);
    g_free(sub);
}

ferry_event_bus *
ferry_event_bus_new(void)
{
    ferry_event_bus *bus = g_new0(ferry_event_bus, 1);

    g_mutex_init(&bus->lock);
    bus->next_id = 1;
    return bus;
}

void
ferry_event_bus_free(ferry_event_bus *bus)
{
    GList *subs;

    if (!bus)
        return;
    g_mutex_lock(&bus->lock);
    subs = g_steal_pointer(&bus->subs);
    for (GList *l = subs; l; l = l->next)
        g_atomic_int_set(&((subscription *)l->data)->active, FALSE);
    g_mutex_unlock(&bus->lock);
    g_list_free_full(subs, (GDestroyNotify)subscription_unref);
    g_mutex_clear(&bus->lock);
    g_free(bus);
}

guint
ferry_event_bus_subscribe(ferry_event_bus *bus, ferry_conn *conn,
                          ferry_event_cb callback, gpointer user_data,
                          GDestroyNotify destroy)
{
    subscription *sub = g_new0(subscription, 1);
    guint id;

    sub->ref = 1;
    sub->conn = conn;
    sub->callback = callback;
    sub->user_data = user_data;
    sub->destroy = destroy;
    sub->context = g_main_context_ref_thread_default();
    sub->active = TRUE;

    g_mutex_lock(&bus->lock);
    id = sub->id = bus->next_id++;
    bus->subs = g_list_append(bus->subs, sub);
    g_mutex_unlock(&bus->lock);
    return id;
}

/* Removes from the list, under the lock, the subscriptions @match accepts;
 * returns them (still referenced by the caller's list). */
static GList *
take_matching(ferry_event_bus *bus, ferry_conn *conn, guint id)
{
    GList *taken = NULL;
    GList *l = bus->subs;

    while (l) {
        GList *next = l->next;
        subscription *sub = l->data;

        if (sub->conn == conn && (id == 0 || sub->id == id)) {
            g_atomic_int_set(&sub->active, FALSE);
            bus->subs = g_list_remove_link(bus->subs, l);
            taken = g_list_concat(taken, l);
        }
        l = next;
    }
    return taken;
}

gboolean
ferry_event_bus_unsubscribe(ferry_event_bus *bus, ferry_conn *conn, guint id,
                            GError **error)
{
    GList *taken;

    if (id == 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "event subscription id 0 is never valid");
        return FALSE;
    }
    g_mutex_lock(&bus->lock);
    taken = take_matching(bus, conn, id);
    g_mutex_unlock(&bus->lock);
    if (!taken) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "no event subscription with id %u on this connection", id);
        return FALSE;
    }
    g_list_free_full(taken, (GDestroyNotify)subscription_unref);
    return TRUE;
}

void
ferry_event_bus_unsubscribe_conn(ferry_event_bus *bus, ferry_conn *conn)
{
    GList *taken;

    g_mutex_lock(&bus->lock);
    taken = take_matching(bus, conn, 0);
    g_mutex_unlock(&bus->lock);
    g_list_free_full(taken, (GDestroyNotify)subscription_unref);
}

static gboolean
deliver(gpointer data)
{
    delivery *d = data;
    subscription *sub = d->sub;

    if (g_atomic_int_get(&sub->active))
        sub->callback(d->event.domain->conn, &d->event, sub->user_data);
    return G_SOURCE_REMOVE;
}

static void
delivery_free(gpointer data)
{
    delivery *d = data;

    ferry_domain_unref(d->event.domain);
    subscription_unref(d->sub);
    g_free(d);
}

void
ferry_event_bus_emit(ferry_event_bus *bus, const ferry_event *event,
                     const char *name, const char *uuid)
{
    g_mutex_lock(&bus->lock);
    for (GList *l = bus->subs; l; l = l->next) {
        subscription *sub = l->data;
        delivery *d;
        g_autoptr(GSource) source = NULL;

        /* A connection whose last reference is being dropped right now is
         * about to unsubscribe: do not bring it back to life. */
        if (!ferry_conn_try_ref(sub->conn))
            continue;
        d = g_new0(delivery, 1);
        source = g_idle_source_new();
        g_atomic_int_inc(&sub->ref);
        d->sub = sub;
        d->event = *event;
        if (event->job) {
            d->job = *event->job;
            d->event.job = &d->job;
        }
        d->event.domain = ferry_domain_new_handle(sub->conn, name, uuid);
        ferry_conn_unref(sub->conn);
        g_source_set_priority(source, G_PRIORITY_DEFAULT);
        g_source_set_name(source, "ferry-event");
        g_source_set_callback(source, deliver, d, delivery_free);
        g_source_attach(source, sub->context);
    }
    g_mutex_unlock(&bus->lock);
}
