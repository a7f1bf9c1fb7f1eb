#!/usr/bin/env python3
"""End-to-end test of the migration safety rules and --force, real QEMU.

Two hosts (network namespaces when root).  Each ferryd declares only the
work directory's 'shared' subdirectory as storage both hosts see
(shared_storage_dirs, as an NFS mount would be); 'local' stands for a
host's own disk.  The bundled guest checks its own memory on every
heartbeat.  See docs/migration-safety.md.
"""
import os
import subprocess

import ferrytest as ft

QEMU_IMG = '/usr/bin/qemu-img'


def main(t):
    ft.require_e2e(t)
    wd = ft.Workdir('ferry-e2e-safety-')
    local_dir = os.path.join(wd.path, 'local')
    shared_dir = os.path.join(wd.path, 'shared')
    for d in (local_dir, shared_dir):
        os.makedirs(d)
    conf = 'shared_storage_dirs = "%s"\n' % shared_dir
    net = ft.TwoHosts(wd.path, extra_config=(conf, conf), t=t)
    a, b = net.hosts
    try:
        net.start()
        local_img = os.path.join(local_dir, 'sf1-os.raw')
        shared_img = os.path.join(shared_dir, 'sf1-data.raw')
        for img in (local_img, shared_img):
            subprocess.run([QEMU_IMG, 'create', '-q', '-f', 'raw', img, '16M'], check=True)
        unsafe_cache = ft.disk_xml('hdb', shared_img).replace(
            "<driver name='qemu' type='raw'/>", "<driver name='qemu' type='raw' cache='unsafe'/>")
        serial = os.path.join(wd.path, 'sf1.serial')
        xml = os.path.join(wd.path, 'sf1.xml')
        with open(xml, 'w') as f:
            f.write(ft.guest_xml('sf1', serial, args='mem=8 rate=200 hb=100',
                                 mem_kib=ft.MIGRATABLE_MEM_KIB,
                                 disks=ft.disk_xml('hda', local_img) + unsafe_cache))
        r = a.ferry('define', xml)
        r = a.ferry('start', 'sf1') if r.returncode == 0 else r
        t.ok(r.returncode == 0, 'sf1: define and start on A', r.stderr)
        before, err = ft.wait_heartbeat(serial, 5)
        t.ok(before is not None and before['errors'] == '0', 'sf1 runs on A', err or before)
        info = ft.dominfo(a, 'sf1')
        pid = info['pid'] if info else None

        # Refused: hda is on A's own storage and not copied; hdb has
        # cache mode 'unsafe'.  Both named, nothing moves.
        r = a.ferry('migrate', '--live', 'sf1', b.uri)
        t.ok(r.returncode != 0 and '2 problems' in r.stderr and
             "disk 'hda' (%s) is on storage only this host sees" % local_img in r.stderr and
             "disk 'hdb' (%s) has cache mode 'unsafe'" % shared_img in r.stderr and
             '--force' in r.stderr,
             'unsafe migration refused, naming both disks and --force', r.stderr)
        t.comment('the refusal: %s' % r.stderr.strip())
        info = ft.dominfo(a, 'sf1')
        t.ok(info is not None and info['state'] == 'running' and info['pid'] == pid,
             'refused: sf1 still runs on A in the same QEMU', info)
        t.ok(not b.qemu_pids(info['uuid'] if info else ''), 'refused: no QEMU of sf1 on B')
        r = b.ferry('list', '--all')
        t.ok(r.returncode == 0 and 'sf1' not in r.stdout, 'refused: B knows nothing of sf1',
             r.stdout)

        # Forced: it moves, the guest's memory checks go on, and A's log
        # says what was overridden.
        before, _ = ft.wait_heartbeat(serial, 0)
        r = a.ferry('migrate', '--live', '--force', 'sf1', b.uri)
        t.ok(r.returncode == 0, 'forced migration A->B exits 0', r.stderr)
        info = ft.dominfo(b, 'sf1')
        t.ok(info is not None and info['state'] == 'running', 'forced: sf1 runs on B', info)
        t.ok(ft.wait_until(lambda: not a.qemu_pids(info['uuid'] if info else ''), 10),
             'forced: no QEMU of sf1 left on A')
        log, err = ft.wait_heartbeat(serial, int(before['last_hb']) + 10)
        t.ok(log is not None and log['errors'] == '0' and log['consecutive'] == '1',
             'forced: on B the heartbeat goes on and memory verifies', err or log)
        text = a.log_text()
        t.ok("forced despite: disk 'hda'" in text and "forced despite: disk 'hdb'" in text,
             "forced: A's log names both overridden rules")
        b.ferry('destroy', 'sf1')
    finally:
        net.cleanup()
        wd.cleanup()


if __name__ == '__main__':
    ft.run(main)
