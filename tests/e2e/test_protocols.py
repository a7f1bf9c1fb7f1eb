#!/usr/bin/env python3
"""End-to-end test of protocols v2 and v1 between QEMU hosts, real QEMU.

Host B plays an older host: its ferryd offers migration protocols up to
v2 (migration_max_protocol = 2), so the client falls back from v3 to v2
(Prepare2, Perform, Finish2) both ways; then, restarted with
migration_max_protocol = 1, to v1 (Prepare, Perform, Finish) both ways.
The bundled guest checks its own memory on every heartbeat.
"""
import os
import signal
import types

import ferrytest as ft


def both_ways(t, a, b, serial, proto):
    """p2 moves A->B, then B->A, with protocol @proto: it runs on the
    destination, nothing of it is left on the source, the destination
    listens on no migration port afterwards, and the guest's heartbeat and
    memory checks go on."""
    for src, dst, what in ((a, b, proto + ' A->B'), (b, a, proto + ' B->A')):
        before, _ = ft.wait_heartbeat(serial, 0)
        r = src.ferry('migrate', '--live', 'p2', dst.uri)
        t.ok(r.returncode == 0 and '(protocol %s' % proto in r.stdout,
             '%s: migrates with protocol %s' % (what, proto), r.stdout + r.stderr)
        info = ft.dominfo(dst, 'p2')
        t.ok(info is not None and info['state'] == 'running', '%s: p2 runs on the '
             'destination' % what, info)
        t.ok(ft.wait_until(lambda: not src.qemu_pids(info['uuid'] if info else ''), 10),
             '%s: no QEMU of p2 left on the source' % what)
        src_info = ft.dominfo(src, 'p2')
        t.ok(src_info is None or src_info['state'] == 'shut off',
             '%s: the source no longer runs it' % what, src_info)
        t.ok(not dst.migration_ports_listening(),
             '%s: the destination listens on no migration port afterwards' % what,
             dst.migration_ports_listening())
        log, err = ft.wait_heartbeat(serial, int(before['last_hb']) + 10)
        t.ok(log is not None and log['errors'] == '0' and log['restarts'] == '0' and
             log['consecutive'] == '1',
             '%s: the heartbeat goes on, memory verifies, no restart' % what, err or log)


def main(t):
    ft.require_e2e(t)
    wd = ft.Workdir('ferry-e2e-protocols-')
    net = ft.TwoHosts(wd.path, extra_config=('', 'migration_max_protocol = 2\n'), t=t)
    a, b = net.hosts
    try:
        net.start()
        r = b.ferry('capabilities')
        t.ok(r.returncode == 0 and 'v2' in r.stdout and 'v3' not in r.stdout,
             "B's capabilities list protocol v2 and not v3", r.stdout[-600:])
        serial = os.path.join(wd.path, 'p2.serial')
        xml = os.path.join(wd.path, 'p2.xml')
        with open(xml, 'w') as f:
            f.write(ft.migratable_guest_xml('p2', serial))
        r = a.ferry('define', xml)
        r = a.ferry('start', 'p2') if r.returncode == 0 else r
        t.ok(r.returncode == 0, 'p2: define and start on A', r.stderr)
        before, err = ft.wait_heartbeat(serial, 5)
        t.ok(before is not None and before['errors'] == '0', 'p2 runs on A', err or before)

        both_ways(t, a, b, serial, 'v2')

        # Storage migration needs v3 (a v2-only host does not offer NBD):
        # refused naming the host, nothing moves.
        r = a.ferry('migrate', '--live', '--copy-storage-all', 'p2', b.uri)
        t.ok(r.returncode != 0 and 'storage migration needs NBD on both hosts' in r.stderr and
             'hostb' in r.stderr, 'storage migration to a v2 host is refused, naming it',
             r.stderr)
        info = ft.dominfo(a, 'p2')
        t.ok(info is not None and info['state'] == 'running', 'after the refusal p2 still runs '
             'on A', info)

        # B plays an even older host: protocol v1 only (Prepare, Perform,
        # Finish; Prepare gets no domain XML, the source sends it first on
        # the migration connection).
        b.stop()
        with open(b.conf) as f:
            conf = f.read().replace('migration_max_protocol = 2', 'migration_max_protocol = 1')
        with open(b.conf, 'w') as f:
            f.write(conf)
        b.start()
        r = b.ferry('capabilities')
        t.ok(r.returncode == 0 and '<protocol>v1</protocol>' in r.stdout and
             '<protocol>v2</protocol>' not in r.stdout,
             "B restarted with migration_max_protocol = 1 lists only v1", r.stdout[-600:])
        both_ways(t, a, b, serial, 'v1')

        # v1 has no Confirm, but a Perform that fails leaves the source
        # running: B's QEMU killed while the stream flows.
        g = types.SimpleNamespace(name='p2')
        pid_a = ft.domain_pid(a, 'p2')
        cli = ft.start_migration(t, "v1 A->B, B's QEMU killed", a, b, g)
        info = ft.dominfo(a, 'p2')
        for p in b.qemu_pids(info['uuid'] if info else ''):
            os.kill(p, signal.SIGKILL)
        out, err = cli.communicate(timeout=120)
        t.ok(cli.returncode != 0, "v1: the migration fails when B's QEMU is killed", out + err)
        t.ok(ft.domain_pid(a, 'p2') == pid_a and ft.dominfo(a, 'p2')['state'] == 'running',
             "v1: after B's QEMU died p2 runs on A in the same QEMU", ft.dominfo(a, 'p2'))
        before, _ = ft.wait_heartbeat(serial, 0)
        log, err = ft.wait_heartbeat(serial, int(before['last_hb']) + 5)
        t.ok(ft.intact(log), "v1: B's QEMU killed: the heartbeat and memory go on", err or log)
        t.ok(not b.migration_ports_listening(), 'v1: B listens on no migration port afterwards',
             b.migration_ports_listening())

        a.ferry('destroy', 'p2')
    finally:
        net.cleanup()
        wd.cleanup()


if __name__ == '__main__':
    ft.run(main)
