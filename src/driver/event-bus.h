/*
 * event-bus.h: delivery of events from a driver to its subscribers.
 *
 * A driver instance owns one bus.  Each subscription remembers the
 * connection it was made on and the thread-default GMainContext of the
 * subscriber; emitting queues the callback into that context.  The bus never
 * blocks the emitter on a subscriber.
 */
#pragma once

#include "driver/driver.h"

G_BEGIN_DECLS

typedef struct ferry_event_bus ferry_event_bus;

/** ferry_event_bus_new: Returns: (transfer full): an empty bus. */
ferry_event_bus *ferry_event_bus_new(void);

/**
 * ferry_event_bus_free:
 * @bus: (nullable): a bus
 *
 * Ends every subscription (their destroy notifies run once pending callbacks
 * are dropped) and frees the bus.
 */
void ferry_event_bus_free(ferry_event_bus *bus);

/**
 * ferry_event_bus_subscribe:
 * @bus: a bus
 * @conn: the connection the subscription belongs to (not referenced: the
 *   driver must call ferry_event_bus_unsubscribe_conn() when it closes)
 * @callback: the subscriber's callback
 * @user_data: for @callback
 * @destroy: (nullable): frees @user_data when the subscription ends
 *
 * Returns: a subscription id, never 0.
 */
guint ferry_event_bus_subscribe(ferry_event_bus *bus, ferry_conn *conn,
                                ferry_event_cb callback, gpointer user_data,
                                GDestroyNotify destroy);

/**
 * ferry_event_bus_unsubscribe:
 * @bus: a bus
 * @conn: the connection that made the subscription
 * @id: the subscription id
 * @error: return location for an error
 *
 * Returns: FALSE with FERRY_ERROR_INVALID_ARG if @conn has no subscription @id.
 */
gboolean ferry_event_bus_unsubscribe(ferry_event_bus *bus, ferry_conn *conn,
                                     guint id, GError **error);

/**
 * ferry_event_bus_unsubscribe_conn:
 * @bus: a bus
 * @conn: a connection that is closing
 *
 * Ends all of @conn's subscriptions.
 */
void ferry_event_bus_unsubscribe_conn(ferry_event_bus *bus, ferry_conn *conn);

/**
 * ferry_event_bus_emit:
 * @bus: a bus
 * @event: the event; its domain field is ignored (each subscriber gets a
 *   handle on its own connection made from @name and @uuid)
 * @name: the domain's name
 * @uuid: the domain's uuid
 *
 * Queues @event to every subscriber; safe from any thread.
 */
void ferry_event_bus_emit(ferry_event_bus *bus, const ferry_event *event,
                          const char *name, const char *uuid);

G_END_DECLS
