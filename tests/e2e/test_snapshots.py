#!/usr/bin/env python3
"""End-to-end test of internal qcow2 snapshots (docs/snapshots.md), real QEMU.

Two hosts (network namespaces when root), the test's work directory the
storage both see.  The bundled guest runs from a qcow2 disk on host A;
through the CLI: a chain s1 -> s2 -> s3 (s2 taken paused), the list with
parents and the current one; then the domain migrates to B and its
snapshots with it (same parents, same current one, a revert on B works and
the guest runs) and back to A.  On A: reverts to s2 (paused) and s1
(running), the delete of s2 (s3's parent becomes s1), the same list after a
restart of ferryd, and `qemu-img snapshot -l -U` showing the same tags in
the image.  Last, a storage migration to B, which cannot carry internal
snapshots: refused, naming them, then with --force it goes and says which
stayed on A.  Needs QEMU and the built guest: a missing one fails, never
skips.
"""
import json
import os
import subprocess

import ferrytest as ft

QEMU_IMG = '/usr/bin/qemu-img'


def snapshot_list(t, host, name):
    r = host.ferry('snapshot-list', '--json', name)
    t.ok(r.returncode == 0, 'snapshot-list --json answers', r.stderr)
    return json.loads(r.stdout) if r.returncode == 0 else []


def parents(snaps):
    return {s['name']: s['parent'] for s in snaps}


def image_tags(path):
    r = subprocess.run([QEMU_IMG, 'snapshot', '-l', '-U', path], capture_output=True,
                       text=True, timeout=60)
    tags = []
    for line in r.stdout.splitlines()[2:]:
        fields = line.split()
        if len(fields) >= 2:
            tags.append(fields[1])
    return sorted(tags)


def state(host, name):
    info = ft.dominfo(host, name)
    return info and info.get('state')


def migrate_with_snapshots(t, a, b, serial, snaps):
    """snap1 (s1 -> s2 -> s3, s3 current) moves A -> B on shared storage:
    B lists the same tree and can revert; then it moves back to A."""
    r = a.ferry('migrate', '--live', 'snap1', b.uri)
    t.ok(r.returncode == 0 and 'snapshots' in r.stdout and '3 moved with it' in r.stdout,
         'migrate A -> B: the summary says the 3 snapshots moved', r.stdout + r.stderr)
    on_b = snapshot_list(t, b, 'snap1')
    t.ok(parents(on_b) == parents(snaps) and
         [s['name'] for s in on_b if s['current']] == ['s3'],
         'on B: the same parents, s3 current', on_b)
    r = b.ferry('snapshot-list', '--parent', 'snap1')
    t.ok(r.returncode == 0 and 's3' in r.stdout and '(current)' in r.stdout,
         'on B: snapshot-list --parent prints the tree', r.stdout + r.stderr)
    r = b.ferry('snapshot-current', 'snap1')
    t.ok(r.stdout.strip() == 's3', 'on B: snapshot-current says s3', r.stdout + r.stderr)
    # The definition stays on A (persistent, shut off); its snapshots left.
    t.ok(snapshot_list(t, a, 'snap1') == [], 'A keeps no snapshot metadata of it')
    r = b.ferry('snapshot-revert', 'snap1', 's1')
    t.ok(r.returncode == 0 and state(b, 'snap1') == 'running',
         'on B: revert to s1, the domain runs', r.stderr)
    before, _ = ft.wait_heartbeat(serial, 0)
    log, err = ft.wait_heartbeat(serial, int(before['last_hb']) + 3) if before else (None, 'no log')
    t.ok(log is not None, 'on B: the guest runs on after the revert', err)
    r = b.ferry('migrate', '--live', 'snap1', a.uri)
    t.ok(r.returncode == 0 and '3 moved with it' in r.stdout, 'migrate B -> A with them',
         r.stdout + r.stderr)
    back = snapshot_list(t, a, 'snap1')
    t.ok(parents(back) == parents(snaps) and
         [s['name'] for s in back if s['current']] == ['s1'],
         'on A again: the same parents, s1 current (the revert on B)', back)


def storage_migration_refused(t, a, b, xml, image, b_images):
    """snap1 (s1, s3) on A: a storage migration cannot carry the images'
    internal snapshots: refused, then forced, saying what stays on A."""
    copy = os.path.join(b_images, 'snap1.qcow2')
    xml_b = xml + '-b'
    with open(xml) as f, open(xml_b, 'w') as out:
        out.write(f.read().replace(image, copy))
    r = a.ferry('migrate', '--live', '--copy-storage-all', '--xml', xml_b, 'snap1', b.uri)
    t.ok(r.returncode != 0 and "snapshots 's1', 's3'" in r.stderr and
         "domain 'snap1'" in r.stderr and '--force migrates without them' in r.stderr,
         'storage migration refused, naming the snapshots and --force', r.stderr)
    t.comment('the refusal: %s' % r.stderr.strip())
    t.ok(state(a, 'snap1') == 'running', 'refused: snap1 still runs on A', state(a, 'snap1'))
    r = a.ferry('migrate', '--live', '--copy-storage-all', '--force', '--xml', xml_b, 'snap1',
                b.uri)
    t.ok(r.returncode == 0 and
         "snapshots 's1', 's3' stayed on host '%s'" % a.name in r.stderr,
         'forced: it moves, and ferry migrate says which snapshots stayed on A',
         r.stdout + r.stderr)
    t.comment('forced: %s' % r.stderr.strip())
    t.ok(state(b, 'snap1') == 'running', 'forced: snap1 runs on B', state(b, 'snap1'))
    r = b.ferry('snapshot-list', '--json', 'snap1')
    t.ok(r.returncode == 0 and json.loads(r.stdout) == [], 'forced: B has no snapshot of it',
         r.stdout + r.stderr)
    t.ok("forced despite: its snapshots 's1', 's3'" in a.log_text(),
         "forced: A's log says what was overridden")


def main(t):
    ft.require_e2e(t)
    ft.require(t, os.access(QEMU_IMG, os.X_OK), 'qemu-img installed')
    wd = ft.Workdir('ferry-e2e-snap-')
    images = [os.path.join(wd.path, d) for d in ('a-images', 'b-images')]
    for d in images:
        os.makedirs(d)
    # Where a storage migration may create the copy of a disk.
    net = ft.TwoHosts(wd.path, extra_config=tuple('storage_dirs = "%s"\n' % d for d in images),
                      t=t)
    host, hostb = net.hosts
    dom_uuid = None
    try:
        image = os.path.join(wd.path, 'snap1.qcow2')
        r = subprocess.run([QEMU_IMG, 'create', '-f', 'qcow2', image, '64M'],
                           capture_output=True, text=True)
        ft.require(t, r.returncode == 0, 'qemu-img create: ' + r.stderr)
        serial = os.path.join(wd.path, 'snap1.serial')
        xml = os.path.join(wd.path, 'snap1.xml')
        import uuid
        dom_uuid = str(uuid.uuid4())
        with open(xml, 'w') as f:
            f.write(ft.guest_xml('snap1', serial, dom_uuid=dom_uuid,
                                 mem_kib=ft.MIGRATABLE_MEM_KIB,
                                 disks=ft.disk_xml('hda', image, fmt='qcow2')))
        net.start()
        r = host.ferry('define', xml)
        t.ok(r.returncode == 0, 'define a domain with a qcow2 disk', r.stderr)
        r = host.ferry('start', 'snap1')
        t.ok(r.returncode == 0, 'start it', r.stderr)
        log, err = ft.wait_heartbeat(serial, 3)
        t.ok(log is not None, 'the guest runs', err)

        r = host.ferry('snapshot-create-as', 'snap1', 's1', '--description', 'first')
        t.ok(r.returncode == 0 and 's1' in r.stdout, 'snapshot s1 of the running domain',
             r.stderr)
        t.ok(state(host, 'snap1') == 'running', 'still running after the snapshot',
             state(host, 'snap1'))
        r = host.ferry('suspend', 'snap1')
        r = host.ferry('snapshot-create-as', 'snap1', 's2')
        t.ok(r.returncode == 0, 'snapshot s2 of the paused domain', r.stderr)
        t.ok(state(host, 'snap1') == 'paused', 'still paused after the snapshot',
             state(host, 'snap1'))
        host.ferry('resume', 'snap1')
        r = host.ferry('snapshot-create-as', 'snap1', 's3')
        t.ok(r.returncode == 0, 'snapshot s3', r.stderr)
        r = host.ferry('snapshot-create-as', 'snap1', 's3')
        t.ok(r.returncode != 0 and "already has a snapshot 's3'" in r.stderr,
             'a second s3 is refused', r.stderr)

        snaps = snapshot_list(t, host, 'snap1')
        t.ok(parents(snaps) == {'s1': None, 's2': 's1', 's3': 's2'},
             'the chain s1 -> s2 -> s3', snaps)
        t.ok([s['name'] for s in snaps if s['current']] == ['s3'], 's3 is current', snaps)
        t.ok([s['state'] for s in snaps] == ['running', 'paused', 'running'],
             'each snapshot records the state it was taken in', snaps)
        r = host.ferry('snapshot-list', '--parent', 'snap1')
        t.ok(r.returncode == 0 and 's1' in r.stdout and '(current)' in r.stdout,
             'snapshot-list --parent prints the tree', r.stdout + r.stderr)
        r = host.ferry('snapshot-current', 'snap1')
        t.ok(r.stdout.strip() == 's3', 'snapshot-current says s3', r.stdout + r.stderr)
        r = host.ferry('snapshot-dumpxml', 'snap1', 's2')
        t.ok(r.returncode == 0 and '<name>s1</name>' in r.stdout and
             '<state>paused</state>' in r.stdout and "<domain type='qemu'>" in r.stdout,
             'snapshot-dumpxml gives s2 with its parent, state and domain', r.stdout + r.stderr)
        t.ok(image_tags(image) == ['s1', 's2', 's3'], 'the image holds tags s1 s2 s3',
             image_tags(image))

        migrate_with_snapshots(t, host, hostb, serial, snaps)

        r = host.ferry('snapshot-revert', 'snap1', 's2')
        t.ok(r.returncode == 0, 'revert to s2', r.stderr)
        t.ok(state(host, 'snap1') == 'paused', 'the domain is paused, as s2 was',
             state(host, 'snap1'))
        r = host.ferry('snapshot-revert', 'snap1', 's1')
        t.ok(r.returncode == 0, 'revert to s1', r.stderr)
        t.ok(state(host, 'snap1') == 'running', 'the domain runs, as s1 did',
             state(host, 'snap1'))
        log, err = ft.wait_heartbeat(serial, 3)
        t.ok(log is not None, 'the guest runs on after the revert', err)
        r = host.ferry('snapshot-current', 'snap1')
        t.ok(r.stdout.strip() == 's1', 's1 is current after the revert', r.stdout + r.stderr)

        r = host.ferry('snapshot-delete', 'snap1', 's2')
        t.ok(r.returncode == 0, 'delete s2', r.stderr)
        snaps = snapshot_list(t, host, 'snap1')
        t.ok(parents(snaps) == {'s1': None, 's3': 's1'}, "s3's parent is now s1", snaps)
        t.ok(image_tags(image) == ['s1', 's3'], 'the image holds tags s1 s3',
             image_tags(image))
        r = host.ferry('snapshot-revert', 'snap1', 's2')
        t.ok(r.returncode != 0 and "snapshot 's2' does not exist in domain 'snap1'" in r.stderr,
             'reverting to the deleted s2 is refused, naming it', r.stderr)

        host.stop()
        host.start()
        after = snapshot_list(t, host, 'snap1')
        t.ok(after == snaps, 'the same snapshots after a restart of ferryd', after)
        t.ok([s['name'] for s in after if s['current']] == ['s1'],
             's1 is still current after the restart', after)
        storage_migration_refused(t, host, hostb, xml, image, images[1])
        hostb.ferry('destroy', 'snap1')
        host.ferry('destroy', 'snap1')
        t.ok(image_tags(image) == ['s1', 's3'], 'qemu-img with QEMU stopped sees s1 s3',
             image_tags(image))
    finally:
        for h in (host, hostb):
            try:
                h.ferry('destroy', 'snap1')
            except Exception:
                pass
        net.cleanup()
        if dom_uuid:
            ft.kill_qemus(dom_uuid)
        wd.cleanup()


if __name__ == '__main__':
    ft.run(main)
