/*
 * relay.h: migration streams relayed between two ferryd, across broken
 * connections.
 *
 * QEMU 7.2 cannot resume a pre-copy stream: when its TCP connection breaks
 * the source's migration fails and the destination QEMU exits, taking its
 * NBD server, and so the disk copies, with it.  A relay sits between each
 * QEMU and the network instead.  The source's QEMU writes to a unix socket
 * of its ferryd (the dialler), which carries the bytes over TCP to the
 * destination's ferryd (the listener), which writes them to its QEMU's
 * unix socket.  Each side keeps what it sent until the other acknowledged
 * it; when the TCP connection breaks (a reset, or nothing heard for a few
 * seconds) the dialler connects again, with back-off, and both sides send
 * again from where the other one was.  Neither QEMU sees the break: the
 * stream only pauses.  The wire format is in proto/ferry.proto (Relay*).
 *
 * A relay gives up -- closes its QEMU's side, so that QEMU's migration
 * fails as it would have without it -- when the other side stays out of
 * reach for longer than the give-up bound (the migration's retry bound),
 * or at once when that bound is 0.
 *
 * Threading: relays run on a thread of their own; the functions below may
 * be called from any thread.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _ferry_relay ferry_relay;

/**
 * ferry_relay_listen:
 * @name: what the relay serves, for messages ("domain 'web1': memory")
 * @address: the IP address to listen on: one address, not a wildcard
 *   (0.0.0.0 or :: is refused)
 * @port: the TCP port
 * @local_path: the unix socket of QEMU each new stream is connected to
 * @token: what a dialler must present (from the destination's cookie)
 * @error: return location for an error
 *
 * The destination's side.  Returns: (transfer full) (nullable): the relay,
 * listening.
 */
ferry_relay *ferry_relay_listen(const char *name, const char *address, guint port,
                                const char *local_path, const char *token, GError **error);

/**
 * ferry_relay_dial:
 * @name: as for ferry_relay_listen()
 * @local_path: the unix socket to create, for QEMU to connect to
 * @host: the destination ferryd's host (name or address)
 * @port: its relay's port
 * @token: the token the destination gave
 * @give_up_s: how long a stream may wait for the other side; 0: not at all
 * @error: return location for an error
 *
 * The source's side: every connection QEMU makes to @local_path is one
 * relayed stream.  Returns: (transfer full) (nullable): the relay.
 */
ferry_relay *ferry_relay_dial(const char *name, const char *local_path, const char *host,
                              guint port, const char *token, guint give_up_s, GError **error);

/**
 * ferry_relay_reconnects:
 * @relay: a relay
 *
 * Returns: how many times one of its streams went on over a new connection.
 */
guint ferry_relay_reconnects(ferry_relay *relay);

/**
 * ferry_relay_last_error:
 * @relay: a relay
 *
 * Returns: (transfer full) (nullable): why its last stream that failed
 * failed, or NULL.  QEMU only sees its side close; this says why.
 */
char *ferry_relay_last_error(ferry_relay *relay);

/**
 * ferry_relay_break:
 * @relay: a relay
 *
 * Closes the TCP connections of its streams as a broken link would (fault
 * injection and tests); the streams connect again.
 */
void ferry_relay_break(ferry_relay *relay);

/**
 * ferry_relay_close:
 * @relay: (nullable) (transfer full): a relay
 *
 * Stops listening and ends every stream (QEMU's side is closed).  When it
 * returns, the listening socket is closed.
 */
void ferry_relay_close(ferry_relay *relay);

G_END_DECLS
