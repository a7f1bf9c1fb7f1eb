#!/usr/bin/env python3
"""End-to-end test of tunnelled migration between two namespace hosts,
real QEMU.

With --p2p --tunnelled the migration stream goes through the two daemons'
own RPC connection: the destination's QEMU reads it from a socket its
ferryd gives it, and no port is opened for it.  Checked here:

* what a tunnel cannot be combined with is refused, naming why, and the
  guest runs on;
* A->B while the stream flows (slowed down): B runs the incoming QEMU, and
  nothing in B's namespace listens on a migration port, nor does that QEMU
  listen on any TCP port; then the migration completes, the guest's
  heartbeat and memory checks go on;
* B->A at full speed;
* Ctrl-C on the client, then faults during a tunnelled transfer (the
  destination's QEMU killed, the source's and the destination's ferryd
  killed): each time the guest runs on, on A, from the same QEMU, and B
  keeps nothing;
* the link down for 10 s during a tunnelled transfer: it completes.
"""
import os
import signal
import subprocess
import time

import ferrytest as ft

ARGS = 'mem=16 rate=200 hb=100'
# A link cut shorter than every keepalive (the library's: about 30 s).
LINK_CUT_S = 10


def qemu_tcp_listeners(host, pids):
    """Lines of `ss -ltnp` in @host's namespace owned by one of @pids."""
    r = subprocess.run(ft.netns_prefix(host.netns) + ['ss', '-ltnpH'], capture_output=True,
                       text=True)
    return [line for line in r.stdout.splitlines()
            if any('pid=%d,' % p in line for p in pids)]


def runs_on(t, host, g, what, pid=None):
    info = ft.dominfo(host, g.name)
    t.ok(info is not None and info['state'] == 'running' and
         (pid is None or info.get('pid') == pid), what, info)


def still_intact(t, g, what):
    before, _ = ft.wait_heartbeat(g.serial, 0)
    log, err = ft.wait_heartbeat(g.serial, int(before['last_hb']) + 5 if before else 5)
    t.ok(ft.intact(log), what, err or log)


def main(t):
    ft.require_e2e(t)
    wd = ft.Workdir('ferry-e2e-tunnelled-')
    net = ft.TwoHosts(wd.path, t=t)
    a, b = net.hosts
    uuids = []
    try:
        net.start()
        r = b.ferry('capabilities')
        t.ok(r.returncode == 0 and '<tunnelled/>' in r.stdout,
             "B's capabilities offer tunnelled migration", r.stdout[-600:])
        g = ft.start_guest(t, a, wd, 'tn', ARGS)
        uuids.append(g.uuid)
        pid_a = ft.domain_pid(a, g.name)

        # Refusals: the guest stays where it is.
        r = a.ferry('migrate', '--live', '--tunnelled', g.name, b.uri)
        t.ok(r.returncode != 0 and 'needs peer-to-peer' in r.stderr,
             '--tunnelled without --p2p is refused, saying why', r.stderr)
        r = a.ferry('migrate', '--live', '--p2p', '--tunnelled', '--copy-storage-all',
                    g.name, b.uri)
        t.ok(r.returncode != 0 and 'cannot copy disks' in r.stderr,
             '--tunnelled with --copy-storage-all is refused, saying why', r.stderr)
        runs_on(t, a, g, 'after the refusals the guest runs on A in the same QEMU', pid_a)
        t.ok(not b.qemu_pids(g.uuid), 'B started nothing for the refused migrations')

        # A->B, slowed down so that B can be looked at while the stream flows.
        cli = ft.start_migration(t, 'A->B tunnelled', a, b, g, '--p2p', '--tunnelled',
                                 bandwidth='4', dest_uri=b.tcp_uri)
        pids_b = b.qemu_pids(g.uuid)
        t.ok(len(pids_b) == 1, 'B runs the incoming QEMU while the stream flows', pids_b)
        t.ok(not b.migration_ports_listening(),
             'nothing listens on a migration port of B during the tunnelled transfer',
             b.migration_ports_listening())
        listeners = qemu_tcp_listeners(b, pids_b)
        t.ok(not listeners, "B's incoming QEMU listens on no TCP port", listeners)
        r = a.ferry('migrate-setspeed', g.name, '0')
        t.ok(r.returncode == 0, 'the bandwidth limit is lifted', r.stderr)
        out, err = cli.communicate(timeout=180)
        t.ok(cli.returncode == 0, 'A->B tunnelled migration completes', out + err)
        runs_on(t, b, g, 'the guest runs on B')
        t.ok(ft.wait_until(lambda: not a.qemu_pids(g.uuid), 10), 'no QEMU of it is left on A')
        still_intact(t, g, 'A->B: the heartbeat goes on, memory verifies, no restart')

        # B->A at full speed.
        r = b.ferry('migrate', '--live', '--p2p', '--tunnelled', g.name, a.tcp_uri)
        t.ok(r.returncode == 0, 'B->A tunnelled migration completes', r.stdout + r.stderr)
        runs_on(t, a, g, 'the guest runs on A again')
        t.ok(ft.wait_until(lambda: not b.qemu_pids(g.uuid), 10), 'no QEMU of it is left on B')
        still_intact(t, g, 'B->A: the heartbeat goes on, memory verifies, no restart')
        pid_a = ft.domain_pid(a, g.name)

        # Ctrl-C on the client mid-transfer: the migration is cancelled on
        # both hosts, the guest runs on in the same QEMU on A.
        cli = ft.start_migration(t, 'A->B, Ctrl-C', a, b, g, '--p2p', '--tunnelled',
                                 dest_uri=b.tcp_uri)
        cli.send_signal(signal.SIGINT)
        out, err = cli.communicate(timeout=60)
        t.ok(cli.returncode == 1 and 'aborted by Ctrl-C' in err,
             'Ctrl-C: ferry migrate says it aborted the tunnelled migration',
             '%s %r' % (cli.returncode, err[-300:]))
        j = ft.job_info(a, g.name, completed=True)
        t.ok(j is not None and j.get('state') == 'cancelled',
             "Ctrl-C: the source's job ended cancelled", j)
        runs_on(t, a, g, 'Ctrl-C: the guest runs on A in the same QEMU', pid_a)
        t.ok(ft.wait_until(lambda: not b.qemu_pids(g.uuid), 10), 'Ctrl-C: B keeps no QEMU of it')
        still_intact(t, g, 'Ctrl-C: the heartbeat goes on, memory verifies, no restart')

        # The destination's QEMU dies mid-transfer: the source runs on.
        cli = ft.start_migration(t, 'A->B, B\'s QEMU killed', a, b, g, '--p2p', '--tunnelled',
                                 dest_uri=b.tcp_uri)
        for p in b.qemu_pids(g.uuid):
            os.kill(p, signal.SIGKILL)
        out, err = cli.communicate(timeout=120)
        t.ok(cli.returncode != 0, "the migration fails when B's QEMU is killed", out + err)
        runs_on(t, a, g, "after B's QEMU died the guest runs on A in the same QEMU", pid_a)
        t.ok(ft.wait_until(lambda: not b.qemu_pids(g.uuid), 10), 'B keeps no QEMU of it')
        still_intact(t, g, "B's QEMU killed: the guest's heartbeat and memory go on")

        # The link goes down for 10 s mid-transfer (shorter than any
        # keepalive): the tunnel's connection rides it out, the stream only
        # pauses, and the migration completes.
        cli = ft.start_migration(t, 'A->B, link down 10 s', a, b, g, '--p2p', '--tunnelled',
                                 dest_uri=b.tcp_uri)
        net.link(False)
        time.sleep(LINK_CUT_S)      # the fault's length, not a wait for an event
        net.link(True)
        r = a.ferry('migrate-setspeed', g.name, '0')
        out, err = cli.communicate(timeout=120)
        t.ok(cli.returncode == 0, 'link down %d s: the tunnelled migration completes anyway'
             % LINK_CUT_S, out + err)
        runs_on(t, b, g, 'link down: the guest runs on B')
        t.ok(ft.wait_until(lambda: not a.qemu_pids(g.uuid), 10), 'link down: no QEMU of it on A')
        still_intact(t, g, 'link down: the heartbeat goes on, memory verifies, no restart')
        r = b.ferry('migrate', '--live', '--p2p', '--tunnelled', g.name, a.tcp_uri)
        t.ok(r.returncode == 0, 'and back to A, tunnelled', r.stdout + r.stderr)
        pid_a = ft.domain_pid(a, g.name)

        # The source's ferryd dies mid-transfer: its end of the tunnel
        # closes, the source QEMU's migration fails and the guest runs on;
        # the destination's QEMU ends with the stream.  Started again, the
        # source's ferryd finds the guest running.
        cli = ft.start_migration(t, "A->B, A's ferryd killed", a, b, g, '--p2p', '--tunnelled',
                                 dest_uri=b.tcp_uri)
        a.kill(signal.SIGKILL)
        cli.communicate(timeout=60)
        t.ok(ft.wait_until(lambda: not b.qemu_pids(g.uuid), 15),
             "A's ferryd killed: B's incoming QEMU ends with the tunnel", b.qemu_pids(g.uuid))
        a.start()
        t.ok(ft.wait_until(lambda: (ft.dominfo(a, g.name) or {}).get('state') == 'running', 30),
             "A's ferryd killed: started again, it finds the guest running",
             ft.dominfo(a, g.name))
        runs_on(t, a, g, "A's ferryd killed: the guest runs on A in the same QEMU", pid_a)
        still_intact(t, g, "A's ferryd killed: the heartbeat and memory go on")

        # The destination's ferryd dies mid-transfer: the tunnel breaks, the
        # source runs on; B's incoming QEMU ends with its stream.  (Without
        # --retry-timeout 0 the source's daemon would try again, for as
        # long as B's ferryd may take to come back.)
        cli = ft.start_migration(t, "A->B, B's ferryd killed", a, b, g, '--p2p', '--tunnelled',
                                 '--retry-timeout', '0', dest_uri=b.tcp_uri)
        b.kill(signal.SIGKILL)
        out, err = cli.communicate(timeout=120)
        t.ok(cli.returncode != 0, "the migration fails when B's ferryd is killed", out + err)
        runs_on(t, a, g, "after B's ferryd died the guest runs on A in the same QEMU", pid_a)
        # A QEMU that had the tunnel's end reads its end and exits; one that
        # B's ferryd had only started (the source may send into the
        # tunnel's window before it runs) waits for a stream that never
        # comes, until B's ferryd, started again, drops the migration it
        # recorded.
        b.start()
        t.ok(ft.wait_until(lambda: not b.qemu_pids(g.uuid), 30),
             "B's ferryd started again: B keeps no QEMU of it", b.qemu_pids(g.uuid))
        info_b = ft.dominfo(b, g.name)
        t.ok(info_b is None or info_b['state'] != 'running', 'B does not run the guest', info_b)
        still_intact(t, g, "B's ferryd killed: the guest's heartbeat and memory go on")
        a.ferry('destroy', g.name)
    finally:
        ft.teardown(net, wd, uuids)


if __name__ == '__main__':
    ft.run(main)
