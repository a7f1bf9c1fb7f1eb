#!/usr/bin/env python3
"""A broken migration connection delays a migration, never fails it (issue #8).

Two ferryd in network namespaces, real QEMU, the bundled guest checking its
own memory (and, with a disk, its own sectors).  A connection is broken for
real: `ss -K` in the source's namespace destroys the TCP socket (the kernel
resets it), as a firewall, a NAT or a peer's reboot would; or the link goes
down for longer than every timeout of the streams.

The streams travel through the two ferryd's relays (src/relay; the default
with a disk, --relay without): QEMU never sees the break, the relay
connects again and the stream goes on.

* The memory stream, mid pre-copy, plain and --p2p, --relay: the migration goes on
  over a new connection and completes in one attempt; both daemons say in
  their logs that the stream went on; the job counted the reconnection;
  exactly one copy runs on B, intact, and B listens on no migration port.
* The same with --retry-timeout 0: the migration fails at once, saying the
  connection broke, and the guest runs on A, intact.
* The memory stream not relayed (the default without a disk): QEMU's
  migration fails, the guest runs on A meanwhile, and the migration is
  tried again by itself; it completes, `ferry migrate` says it took 2
  attempts.
* The NBD connection of a disk being copied (--copy-storage-all): the
  mirror goes on from where it was -- one attempt, and the disk data sent
  is less than twice the disk.
* The memory stream of a migration with its disk (--copy-storage-all): the
  disk is not copied again either.
* The link down for 20 s (more than the relay's 5 s silence, QEMU's 10 s
  NBD reconnect delay, the daemons' keepalive) while the disk is copied:
  one attempt, the disk not copied again.
* Ctrl-C (SIGINT) on `ferry migrate` while a relayed disk is copied: the
  CLI says it aborted, both jobs end cancelled, the guest runs on A intact,
  B keeps no QEMU, port, image or relay socket, A no relay socket; the
  next migration of the guest completes.

In the sanitized build (ferrytest.SANITIZED) the --p2p and not-relayed
memory cells, the memory stream with a disk and the 20 s outage run in the
plain build only: the relay's code is the same, and its breaks and
outages are also tested under the sanitizers in tests/relay.
"""
import glob
import json
import os
import re
import signal
import subprocess

import faults as fm
import ferrytest as ft

# Touches 16 MiB, dirties little: at --bandwidth 2 a pass takes ~8 s, then
# it converges.
SLOW_ARGS = 'mem=16 rate=100 hb=100'
BANDWIDTH = '2'
DISK_BANDWIDTH = '2'
MiB = 1024 * 1024


def connections(src, dst):
    """Established TCP connections from @src's namespace to @dst's
    migration ports: [(local port, remote port)]."""
    r = subprocess.run(ft.netns_prefix(src.netns) + ['ss', '-tnH', 'state', 'established',
                                                     'dst', dst.address],
                       capture_output=True, text=True)
    lo, hi = dst.migration_ports
    out = []
    for line in r.stdout.splitlines():
        cols = line.split()
        if len(cols) < 4:
            continue
        local = int(cols[2].rsplit(':', 1)[1])
        remote = int(cols[3].rsplit(':', 1)[1])
        if lo <= remote <= hi:
            out.append((local, remote))
    return out


def reset(src, dst, remote_port):
    """Destroys @src's connections to @dst's @remote_port (the kernel
    resets them)."""
    return subprocess.run(ft.netns_prefix(src.netns) + [
        'ss', '-K', 'state', 'established', 'dst', dst.address, 'dport', '=',
        str(remote_port)], capture_output=True, text=True)


def progress(a, g, key):
    j = ft.job_info(a, g.name)
    return (j or {}).get(key) or 0


def break_when(t, what, a, b, g, key, at_least, old, cli):
    """Waits until A's job has sent @at_least bytes (@key) over one new
    connection to B (not in @old, those before the migration), then resets
    it; returns its port or None (also when the migration, @cli, ended
    first: said).  With a disk, the memory stream and the
    disk's NBD connection use two ports, the memory's allocated first: the
    lower one is the memory's, the higher the disk's."""
    def new():
        conns = [c for c in connections(a, b) if c not in old]
        if not conns:
            return conns
        pick = min if key == 'mem_processed' else max
        port = pick(c[1] for c in conns)
        return [c for c in conns if c[1] == port]

    seen = {}

    def ready():
        if cli.poll() is not None:
            return True
        seen['progress'] = progress(a, g, key)
        seen['conns'] = new()
        return seen['progress'] >= at_least and len(seen['conns']) == 1

    ok = ft.wait_until(ready, 60, 0.05) and cli.poll() is None
    conns = seen.get('conns') or []
    if not ok:
        ended = ''
        if cli.poll() is not None:
            ended = '; ferry migrate ended first (exit %d)' % cli.returncode
        t.ok(False, '%s: the transfer runs over one connection' % what,
             'last seen: new connections %s (before: %s), %s %s; now: connections %s, '
             'job %s%s' % (conns, old, key, seen.get('progress'), connections(a, b),
                           ft.job_info(a, g.name), ended))
        return None
    t.ok(True, '%s: the transfer runs over one connection' % what)
    r = reset(a, b, conns[0][1])
    t.ok(r.returncode == 0 and conns[0] not in connections(a, b),
         '%s: the connection to port %d is reset' % (what, conns[0][1]), r.stderr)
    return conns[0][1]


def stale(t, what, a, b):
    """Connections to B's migration ports before a migration: there should
    be none; said (with their owners) if there are."""
    old = connections(a, b)
    if old:
        r = subprocess.run(ft.netns_prefix(a.netns) + ['ss', '-tnpH', 'dst', b.address],
                           capture_output=True, text=True)
        t.comment('%s: before the migration A already has %s:\n%s' % (what, old, r.stdout))
    return old


def migrate_and_break(t, what, a, b, g, key, args, net=None, link_down_s=0):
    """Runs `ferry @args` on A, resets its connection to B once @key
    shows 2 MiB sent (or, with @link_down_s, takes the link down that
    long), and waits for the client: (process, stdout, stderr)."""
    old = stale(t, what, a, b)
    cli = a.ferry_bg(*args)
    try:
        if link_down_s:
            ok = ft.wait_until(lambda: progress(a, g, key) >= 2 * MiB, 60, 0.05)
            t.ok(ok, '%s: the transfer started' % what, progress(a, g, key))
            net.link(False)
            try:
                t.ok(not ft.wait_until(lambda: cli.poll() is not None, link_down_s, 0.5),
                     '%s: the migration waits while the link is down' % what,
                     'ferry migrate ended: %s' % cli.poll())
            finally:
                net.link(True)
        else:
            break_when(t, what, a, b, g, key, 2 * MiB, old, cli)
        out, err = cli.communicate(timeout=180)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.communicate()
    return cli, out, err


def went_on(t, what, a, b, g, stream):
    """Both daemons logged that @stream of @g went on over a new connection,
    and A's job counted it."""
    stream = "domain '%s': %s" % (g.name, stream)
    t.ok(re.search(r"%s: connected to \S+ again after [0-9.]+ s; the stream goes on" % stream,
                   a.log_text()) is not None,
         '%s: A\'s daemon logged that the %s went on over a new connection' % (what, stream),
         '\n'.join(l for l in a.log_text().splitlines() if 'ferry-relay' in l)[-2000:])
    t.ok(re.search(r"%s: the source connected again after [0-9.]+ s" % stream,
                   b.log_text()) is not None,
         '%s: B\'s daemon logged that the source connected again' % what,
         '\n'.join(l for l in b.log_text().splitlines() if 'ferry-relay' in l)[-2000:])
    info = ft.job_info(a, g.name, completed=True) or {}
    t.ok((info.get('reconnects') or 0) >= 1, '%s: A\'s job counted the reconnection' % what,
         info)


def moved(t, what, a, b, g, before):
    t.ok(not a.qemu_pids(g.uuid) and len(b.qemu_pids(g.uuid)) == 1,
         '%s: exactly one QEMU of the guest, on %s' % (what, b.name),
         'A %s B %s' % (a.qemu_pids(g.uuid), b.qemu_pids(g.uuid)))
    log, err = ft.wait_heartbeat(g.serial, before + 5)
    t.ok(fm.intact(log, g.storage), '%s: the heartbeat goes on, no restart, no memory or disk '
         'error' % what, err or log)
    t.ok(b.migration_ports_listening() == [], '%s: %s listens on no migration port' %
         (what, b.name), b.migration_ports_listening())


def memory_cell(t, wd, a, b, p2p, retry, relay=True):
    what = 'memory stream reset%s%s%s' % (' (--p2p)' if p2p else '',
                                          ' with --retry-timeout 0' if retry == '0' else '',
                                          '' if relay else ', not relayed')
    g = fm.FaultGuest(wd, a, b, 'mem%s%s%s' % ('p' if p2p else '', 'n' if retry == '0' else '',
                                               '' if relay else 'd'), False)
    with open(g.xml, 'w') as f:
        f.write(ft.guest_xml(g.name, g.serial, args=SLOW_ARGS, mem_kib=ft.MIGRATABLE_MEM_KIB,
                             dom_uuid=g.uuid))
    r = a.ferry('define', g.xml)
    r = a.ferry('start', g.name) if r.returncode == 0 else r
    t.ok(r.returncode == 0, '%s: the guest starts on A' % what, r.stderr)
    before = fm.last_hb(g.serial)
    args = ['migrate', '--live', '--json', '--bandwidth', BANDWIDTH]
    if retry is not None:
        args += ['--retry-timeout', retry]
    if p2p:
        args.append('--p2p')
    if relay:
        args.append('--relay')
    cli, out, err = migrate_and_break(t, what, a, b, g, 'mem_processed',
                                      args + [g.name, b.tcp_uri if p2p else b.uri])
    if retry == '0':
        t.ok(cli.returncode == 1 and 'ferry: error:' in err and
             re.search(r'the relay: the connection to \S+ broke', err) is not None,
             '%s: ferry migrate fails, saying the connection broke' % what, err)
        t.ok(len(a.qemu_pids(g.uuid)) == 1 and not b.qemu_pids(g.uuid),
             '%s: the guest runs on A alone' % what,
             'A %s B %s' % (a.qemu_pids(g.uuid), b.qemu_pids(g.uuid)))
        info = ft.dominfo(a, g.name)
        t.ok(info is not None and info['state'] == 'running', '%s: A says running' % what, info)
        log, e = ft.wait_heartbeat(g.serial, before + 5)
        t.ok(ft.intact(log), '%s: the heartbeat goes on, intact' % what, e or log)
        t.ok(b.migration_ports_listening() == [], '%s: B listens on no migration port' % what,
             b.migration_ports_listening())
    else:
        stats = json.loads(out) if cli.returncode == 0 and out.strip() else {}
        t.ok(cli.returncode == 0, '%s: ferry migrate completes' % what, err)
        if not relay:
            # QEMU to QEMU: the attempt fails, the guest runs on A, and the
            # migration starts again.
            t.ok(stats.get('attempts') == 2, '%s: it took 2 attempts' % what, out)
            t.ok(any(l.startswith('ferry: ') and 'trying again' in l for l in err.splitlines()),
                 '%s: ferry migrate said, in one line, that it tries again' % what, err)
        else:
            # (Peer-to-peer, the source's daemon made the attempts and
            # said how many in its last cookie.)
            t.ok(stats.get('attempts') == 1, '%s: in one attempt (the stream went on)' % what,
                 out)
            t.ok((stats.get('reconnects') or 0) >= 1,
                 '%s: ferry migrate --json counts the reconnection' % what, out)
        if relay:
            went_on(t, what, a, b, g, 'memory stream')
        moved(t, what, a, b, g, before)
    t.comment('%s: %s' % (what, (err or '').strip().splitlines()[-1:]))
    if out.strip():
        t.comment('%s: %s' % (what, json.dumps({k: v for k, v in json.loads(out).items()
                                                  if k in ('wall_ms', 'total_ms', 'attempts')})))
    return g


def disk_cell(t, wd, a, b, what, name, key, stream, net=None, link_down_s=0):
    """A migration with its disk, broken on @key's connection (@stream)."""
    g = fm.FaultGuest(wd, a, b, name, True)
    r = a.ferry('define', g.xml)
    r = a.ferry('start', g.name) if r.returncode == 0 else r
    t.ok(r.returncode == 0, '%s: the guest starts on A' % what, r.stderr)
    before = fm.last_hb(g.serial)
    cli, out, err = migrate_and_break(t, what, a, b, g, key,
                                      ['migrate', '--live', '--json', '--bandwidth',
                                       DISK_BANDWIDTH, '--copy-storage-all', '--xml', g.xml_b,
                                       g.name, b.uri], net=net, link_down_s=link_down_s)
    stats = json.loads(out) if cli.returncode == 0 and out.strip() else {}
    t.ok(cli.returncode == 0, '%s: ferry migrate completes' % what, err)
    t.ok(stats.get('attempts') == 1, '%s: in one attempt (the mirror went on)' % what, out)
    sent = stats.get('disk_transferred') or 0
    t.ok(0 < sent < 2 * fm.DISK_MIB * MiB,
         '%s: less than twice the disk was sent (it did not start again)' % what,
         '%d bytes for a %d MiB disk' % (sent, fm.DISK_MIB))
    if stream:
        t.ok((stats.get('reconnects') or 0) >= 1,
             '%s: ferry migrate --json counts the reconnection' % what, out)
        went_on(t, what, a, b, g, stream)
    moved(t, what, a, b, g, before)
    return g


def relay_sockets(host, g):
    """The relay sockets of @g's streams left in @host's relay directory."""
    return sorted(os.path.basename(p) for p in
                  glob.glob(os.path.join(host.state_dir, 'qemu', 'run', 'relay', g.uuid + '.*'))
                  if p.rsplit('.', 1)[1] in ('in', 'out', 'nbd-in', 'nbd-out'))


def ctrl_c_cell(t, wd, a, b):
    """Ctrl-C on `ferry migrate` while its relayed disk is copied."""
    what = 'Ctrl-C while a relayed disk is copied'
    g = fm.FaultGuest(wd, a, b, 'diskc', True)
    r = a.ferry('define', g.xml)
    r = a.ferry('start', g.name) if r.returncode == 0 else r
    t.ok(r.returncode == 0, '%s: the guest starts on A' % what, r.stderr)
    before = fm.last_hb(g.serial)
    pid = a.qemu_pids(g.uuid)
    cli = a.ferry_bg('migrate', '--live', '--bandwidth', DISK_BANDWIDTH, '--copy-storage-all',
                     '--xml', g.xml_b, g.name, b.uri)
    try:
        ok = ft.wait_until(lambda: progress(a, g, 'disk_processed') >= 2 * MiB, 60, 0.05)
        t.ok(ok, '%s: the disk copy started' % what, progress(a, g, 'disk_processed'))
        t.ok(len(relay_sockets(a, g)) >= 1 and len(relay_sockets(b, g)) >= 1,
             '%s: the streams go through the relays' % what,
             'A %s B %s' % (relay_sockets(a, g), relay_sockets(b, g)))
        cli.send_signal(signal.SIGINT)
        out, err = cli.communicate(timeout=60)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.communicate()
    t.ok(cli.returncode == 1 and re.search(r'ferry: error: .*aborted by Ctrl-C', err),
         '%s: ferry migrate says it aborted the migration' % what,
         '%s %r' % (cli.returncode, err[-300:]))
    j = ft.job_info(a, g.name, completed=True)
    t.ok(j is not None and j.get('state') == 'cancelled',
         '%s: the source\'s job ended cancelled' % what, j)
    # B no longer has the domain to ask about: its job record says.
    rec = [r for r in fm.records(b).values() if j and r.get('id') == j.get('id')]
    t.ok(len(rec) == 1 and rec[0].get('state') == 'cancelled',
         '%s: the destination\'s job record says cancelled' % what, rec)
    t.ok(a.qemu_pids(g.uuid) == pid and not b.qemu_pids(g.uuid),
         '%s: the guest runs on A alone, in the same QEMU' % what,
         'A %s (was %s) B %s' % (a.qemu_pids(g.uuid), pid, b.qemu_pids(g.uuid)))
    info = ft.dominfo(a, g.name)
    t.ok(info is not None and info['state'] == 'running', '%s: A says running' % what, info)
    log, e = ft.wait_heartbeat(g.serial, before + 5)
    t.ok(fm.intact(log, True), '%s: the heartbeat goes on, no memory or disk error' % what,
         e or log)
    t.ok(ft.wait_until(lambda: not relay_sockets(a, g) and not relay_sockets(b, g), 10),
         '%s: no relay socket is left on either host' % what,
         'A %s B %s' % (relay_sockets(a, g), relay_sockets(b, g)))
    t.ok(b.migration_ports_listening() == [], '%s: B listens on no migration port' % what,
         b.migration_ports_listening())
    t.ok(g.disk_name not in fm.images(b), '%s: B keeps no image the migration created' % what,
         fm.images(b))
    # Nothing left behind blocks the next migration.
    before = fm.last_hb(g.serial)
    r = a.ferry('migrate', '--live', '--copy-storage-all', '--xml', g.xml_b, g.name, b.uri)
    t.ok(r.returncode == 0, '%s: the next migration completes' % what, r.stderr)
    moved(t, what + ', then migrated again', a, b, g, before)
    return g


def main(t):
    ft.require_e2e(t)
    ft.require(t, os.geteuid() == 0, 'resetting a connection needs root (network namespaces)')
    wd = ft.Workdir('ferry-e2e-broken-')
    net = ft.TwoHosts(wd.path, t=t)
    a, b = net.hosts
    uuids = []
    try:
        net.start()
        for p2p, retry in ((False, None), (True, None), (False, '0')):
            if p2p and ft.SANITIZED:
                continue
            uuids.append(memory_cell(t, wd, a, b, p2p, retry).uuid)
        if not ft.SANITIZED:
            uuids.append(memory_cell(t, wd, a, b, False, None, relay=False).uuid)
        uuids.append(disk_cell(t, wd, a, b, 'NBD connection reset', 'disk', 'disk_processed',
                               'disks').uuid)
        if not ft.SANITIZED:
            uuids.append(disk_cell(t, wd, a, b, 'memory stream reset with a disk', 'diskm',
                                   'mem_processed', 'memory stream').uuid)
            uuids.append(disk_cell(t, wd, a, b, 'link down 20 s while the disk is copied',
                                   'diskl', 'disk_processed', 'disks', net=net,
                                   link_down_s=20).uuid)
        uuids.append(ctrl_c_cell(t, wd, a, b).uuid)
    finally:
        ft.teardown(net, wd, uuids)


if __name__ == '__main__':
    ft.run(main)
