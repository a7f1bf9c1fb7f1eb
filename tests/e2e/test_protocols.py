#!/usr/bin/env python3
"""End-to-end test of protocol v2 between QEMU hosts, real QEMU.

Host B plays an older host: its ferryd offers migration protocols up to
v2 (migration_max_protocol = 2), so the client falls back from v3 to v2
(Prepare2, Perform, Finish2) both ways.  The bundled guest checks its own
memory on every heartbeat.
"""
import os

import ferrytest as ft


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

        for src, dst, what in ((a, b, 'A->B'), (b, a, 'B->A')):
            before, _ = ft.wait_heartbeat(serial, 0)
            r = src.ferry('migrate', '--live', 'p2', dst.uri)
            t.ok(r.returncode == 0 and '(protocol v2' in r.stdout,
                 '%s: migrates with protocol v2' % what, r.stdout + r.stderr)
            info = ft.dominfo(dst, 'p2')
            t.ok(info is not None and info['state'] == 'running', '%s: p2 runs on the '
                 'destination' % what, info)
            t.ok(ft.wait_until(lambda: not src.qemu_pids(info['uuid'] if info else ''), 10),
                 '%s: no QEMU of p2 left on the source' % what)
            src_info = ft.dominfo(src, 'p2')
            t.ok(src_info is None or src_info['state'] == 'shut off',
                 '%s: the source no longer runs it' % what, src_info)
            log, err = ft.wait_heartbeat(serial, int(before['last_hb']) + 10)
            t.ok(log is not None and log['errors'] == '0' and log['restarts'] == '0' and
                 log['consecutive'] == '1',
                 '%s: the heartbeat goes on, memory verifies, no restart' % what, err or log)

        # Storage migration needs v3 (a v2-only host does not offer NBD):
        # refused naming the host, nothing moves.
        r = a.ferry('migrate', '--live', '--copy-storage-all', 'p2', b.uri)
        t.ok(r.returncode != 0 and 'storage migration needs NBD on both hosts' in r.stderr and
             'hostb' in r.stderr, 'storage migration to a v2 host is refused, naming it',
             r.stderr)
        info = ft.dominfo(a, 'p2')
        t.ok(info is not None and info['state'] == 'running', 'after the refusal p2 still runs '
             'on A', info)
        a.ferry('destroy', 'p2')
    finally:
        net.cleanup()
        wd.cleanup()


if __name__ == '__main__':
    ft.run(main)
