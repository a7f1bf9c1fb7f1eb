#!/usr/bin/env python3
"""End-to-end test of storage migration over NBD (issue #4), real QEMU.

Two hosts (network namespaces when root); the images of each host live in
its own directory, which is its ferryd's storage_dirs, so nothing is shared
unless a test says so.  The bundled guest writes numbered sectors to its
IDE disk during the whole migration and verifies them, before and after.
"""
import json
import os
import re
import signal
import subprocess

import ferrytest as ft

TAMPER = os.path.join(ft.BUILD, 'tests', 'e2e', 'migrate-tamper')
QEMU_IMG = '/usr/bin/qemu-img'
MiB = 1024 * 1024


def qemu_img(*args):
    return subprocess.run([QEMU_IMG] + list(args), capture_output=True, text=True, timeout=120)


class StorageGuest:
    """A guest and its XML for each host (the disks at each host's paths)."""

    def __init__(self, wd, name, args, disks_a, disks_b, mem_kib=ft.MIGRATABLE_MEM_KIB):
        self.name = name
        self.serial = os.path.join(wd, name + '.serial')
        self.uuid = None
        import uuid
        u = str(uuid.uuid4())
        self.xml_a = os.path.join(wd, name + '-a.xml')
        self.xml_b = os.path.join(wd, name + '-b.xml')
        for path, disks in ((self.xml_a, disks_a), (self.xml_b, disks_b)):
            with open(path, 'w') as f:
                f.write(ft.guest_xml(name, self.serial, args=args, mem_kib=mem_kib,
                                     dom_uuid=u, disks=disks))
        self.uuid = u


def beats(serial, n):
    log, err = ft.wait_heartbeat(serial, n)
    return log, err


def disk_ok(log):
    return (log is not None and log['restarts'] == '0' and log['errors'] == '0' and
            log['derrors'] == '0' and log['disk_error_lines'] == '0')


def last(serial):
    log, _ = ft.wait_heartbeat(serial, 0)
    return log


def files_in(d):
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def check_source_kept(t, what, a, b, g, pid, b_dir, b_files_before):
    info = ft.dominfo(a, g.name)
    t.ok(info is not None and info['state'] == 'running' and info['pid'] == pid,
         '%s: still running on A in the same QEMU' % what, info)
    t.ok(ft.wait_until(lambda: not b.qemu_pids(g.uuid), 10),
         '%s: no QEMU of it on B' % what, b.qemu_pids(g.uuid))
    t.ok(files_in(b_dir) == b_files_before, '%s: no image left on B' % what,
         '%s -> %s' % (b_files_before, files_in(b_dir)))
    t.ok(ft.wait_until(lambda: not b.migration_ports_listening(), 10),
         '%s: no migration or NBD port left listening on B' % what,
         b.migration_ports_listening())


def live_with_disk(t, a, b, wd, a_dir, b_dir, shared_dir):
    """A guest writing to its disk moves A->B (only hda copied, hdb shared),
    then back B->A paused, where both images must be equal."""
    qemu_img('create', '-q', '-f', 'raw', os.path.join(a_dir, 'st1.raw'), '64M')
    qemu_img('create', '-q', '-f', 'raw', os.path.join(shared_dir, 'st1-data.raw'), '16M')
    shared = ft.disk_xml('hdb', os.path.join(shared_dir, 'st1-data.raw'))
    g = StorageGuest(wd, 'st1', 'mem=16 rate=1000 hb=100 disk=1 dblocks=8192 drate=2000',
                     ft.disk_xml('hda', os.path.join(a_dir, 'st1.raw')) + shared,
                     ft.disk_xml('hda', os.path.join(b_dir, 'st1.raw')) + shared)
    r = a.ferry('define', g.xml_a)
    r = a.ferry('start', g.name) if r.returncode == 0 else r
    t.ok(r.returncode == 0, 'st1: define and start on A', r.stderr)
    log, err = beats(g.serial, 10)
    t.ok(disk_ok(log) and int(log['dverified']) > 0, 'st1 writes and verifies its disk on A',
         err or log)

    before = last(g.serial)
    r = a.ferry('migrate', '--live', '--copy-storage-all', '--migrate-disks', 'hda',
                '--xml', g.xml_b, '--json', g.name, b.uri)
    t.ok(r.returncode == 0, 'st1 A->B with its disk: ferry migrate exits 0', r.stderr)
    s = json.loads(r.stdout) if r.returncode == 0 else {}
    t.comment('measured: st1 A->B with a 64 MiB disk: %s' % json.dumps(s))
    t.ok(s.get('disk_total') == 64 * MiB and s.get('disk_transferred', 0) > 0,
         'st1: the summary counts the disk (64 MiB) and its copied bytes', s)
    info = ft.dominfo(b, g.name)
    t.ok(info is not None and info['state'] == 'running', 'st1: running on B', info)
    t.ok(ft.wait_until(lambda: not a.qemu_pids(g.uuid), 10), 'st1: no QEMU of it left on A')
    log, err = beats(g.serial, int(before['last_hb']) + 10)
    t.ok(disk_ok(log) and int(log['dverified']) > int(before['dverified']),
         'st1 on B: heartbeat continues, keeps writing and verifying, no disk error',
         err or log)
    t.ok(files_in(b_dir) == ['st1.raw'], 'st1: only the listed disk was created on B',
         files_in(b_dir))
    r = b.ferry('dumpxml', g.name)
    t.ok(r.returncode == 0 and os.path.join(shared_dir, 'st1-data.raw') in r.stdout,
         'st1: the unlisted disk is used as shared on B', r.stdout[-400:])

    # Back to A, paused: with both sides still the images must be equal.
    r = b.ferry('migrate', '--live', '--paused', '--copy-storage-all', '--migrate-disks', 'hda',
                '--xml', g.xml_a, g.name, a.uri)
    t.ok(r.returncode == 0, 'st1 B->A --paused with its disk', r.stderr)
    info = ft.dominfo(a, g.name)
    t.ok(info is not None and info['state'] == 'paused', 'st1: paused on A', info)
    t.ok(ft.wait_until(lambda: not b.qemu_pids(g.uuid), 10), 'st1: no QEMU of it left on B')
    r = qemu_img('compare', '-U', os.path.join(a_dir, 'st1.raw'), os.path.join(b_dir, 'st1.raw'))
    t.ok(r.returncode == 0, 'st1: destination image equals the source image (qemu-img compare)',
         r.stdout + r.stderr)
    before = last(g.serial)
    r = a.ferry('resume', g.name)
    log, err = beats(g.serial, int(before['last_hb']) + 10)
    t.ok(r.returncode == 0 and disk_ok(log) and int(log['dverified']) > int(before['dverified']),
         'st1 resumed on A: keeps writing and verifying, no disk error', err or log)
    r = a.ferry('destroy', g.name)
    a.ferry('undefine', g.name)
    os.unlink(os.path.join(b_dir, 'st1.raw'))


def postcopy_with_disk(t, a, b, wd, a_dir, b_dir):
    """A guest whose memory cannot converge over 4 MiB/s and that writes to
    its disk, with --copy-storage-all and no other option: once the disk is
    mirrored, the policy switches to post-copy by itself (the streams go
    through the relay, the default with storage); the disk's mirror is
    completed at the switch.  On B the guest goes on verifying its disk;
    moved back paused, both images are equal."""
    what = 'st4 post-copy with its disk'
    qemu_img('create', '-q', '-f', 'raw', os.path.join(a_dir, 'st4.raw'), '16M')
    g = StorageGuest(wd, 'st4', 'mem=16 rate=4000 hb=100 disk=1 dblocks=2048 drate=500',
                     ft.disk_xml('hda', os.path.join(a_dir, 'st4.raw')),
                     ft.disk_xml('hda', os.path.join(b_dir, 'st4.raw')))
    r = a.ferry('define', g.xml_a)
    r = a.ferry('start', g.name) if r.returncode == 0 else r
    t.ok(r.returncode == 0, 'st4: define and start on A', r.stderr)
    before, err = beats(g.serial, 10)
    t.ok(disk_ok(before) and int(before['dverified']) > 0,
         'st4 writes and verifies its disk on A', err or before)
    r = a.ferry('migrate', '--live', '--copy-storage-all', '--bandwidth', '4', '--xml', g.xml_b,
                '--json', g.name, b.uri)
    t.ok(r.returncode == 0, '%s: ferry migrate exits 0' % what, r.stderr)
    s = json.loads(r.stdout) if r.returncode == 0 else {}
    t.comment('measured: %s: %s' % (what, json.dumps(s)))
    t.ok(s.get('policy') == 'postcopy' and s.get('postcopy') == 'done' and
         s.get('disk_transferred', 0) > 0,
         '%s: the policy switched to post-copy by itself, after copying the disk' % what, s)
    t.ok('the destination can receive post-copy' in a.log_text(),
         '%s: A\'s log says why post-copy was allowed' % what)
    info = ft.dominfo(b, g.name)
    t.ok(info is not None and info['state'] == 'running', '%s: running on B' % what, info)
    t.ok(ft.wait_until(lambda: not a.qemu_pids(g.uuid), 10), '%s: no QEMU of it on A' % what)
    log, err = beats(g.serial, int(before['last_hb']) + 10)
    t.ok(disk_ok(log) and log['errors'] == '0' and log['consecutive'] == '1' and
         int(log['dverified']) > int(before['dverified']),
         '%s: on B the heartbeat continues, memory and disk verify' % what, err or log)
    r = b.ferry('migrate', '--live', '--paused', '--copy-storage-all', '--xml', g.xml_a,
                g.name, a.uri)
    t.ok(r.returncode == 0, 'st4 B->A --paused with its disk', r.stderr)
    r = qemu_img('compare', '-U', os.path.join(a_dir, 'st4.raw'), os.path.join(b_dir, 'st4.raw'))
    t.ok(r.returncode == 0, 'st4: both images are equal (qemu-img compare)', r.stdout + r.stderr)
    a.ferry('destroy', g.name)
    a.ferry('undefine', g.name)
    os.unlink(os.path.join(b_dir, 'st4.raw'))


def sparse_disk(t, a, b, wd, a_dir, b_dir):
    """1 GiB image holding 8 MiB of data: about 8 MiB travel."""
    img = os.path.join(a_dir, 'big.raw')
    qemu_img('create', '-q', '-f', 'raw', img, '1G')
    with open('/dev/urandom', 'rb') as rnd, open(img, 'r+b') as f:
        f.seek(300 * MiB)
        f.write(rnd.read(8 * MiB))
    g = StorageGuest(wd, 'big', 'mem=8 rate=0 hb=100',
                     ft.disk_xml('vda', img, bus='virtio'),
                     ft.disk_xml('vda', os.path.join(b_dir, 'big.raw'), bus='virtio'))
    r = a.ferry('define', g.xml_a)
    r = a.ferry('start', g.name) if r.returncode == 0 else r
    t.ok(r.returncode == 0, 'big: define and start on A', r.stderr)
    # With a downtime cap: at the switch-over, the check counts what the
    # disk's mirror still holds too (qemu_storage_mirrors_sum()).
    r = a.ferry('migrate', '--copy-storage-all', '--max-downtime-cap', '2000', '--xml', g.xml_b,
                '--json', g.name, b.uri)
    s = json.loads(r.stdout) if r.returncode == 0 else {}
    t.ok(r.returncode == 0, 'big A->B: exits 0', r.stderr)
    t.ok(re.search(r"domain 'big': .*switch-over: [0-9.]+ MiB left at .*within the cap of 2000 ms",
                   a.log_text()) is not None,
         'big: the cap was checked at the switch-over, disks counted')
    t.comment('measured: 1 GiB disk with 8 MiB of data: %s' % json.dumps(s))
    sent = s.get('disk_transferred', 0)
    t.ok(s.get('disk_total') == 1024 * MiB and 8 * MiB <= sent <= 9 * MiB,
         'big: about 8 MiB of the 1 GiB disk sent (%.2f MiB)' % (sent / MiB), s)
    du = os.stat(os.path.join(b_dir, 'big.raw')).st_blocks * 512
    t.ok(du <= 16 * MiB, 'big: the destination image stays sparse (%.1f MiB allocated)'
         % (du / MiB))
    r = qemu_img('compare', '-U', img, os.path.join(b_dir, 'big.raw'))
    t.ok(r.returncode == 0, 'big: images equal', r.stdout + r.stderr)
    b.ferry('destroy', g.name)
    a.ferry('undefine', g.name)
    os.unlink(os.path.join(b_dir, 'big.raw'))
    return g, img


def incremental(t, a, b, wd, a_dir, b_dir, shared_dir):
    """--copy-storage-inc: the backing image is shared, only the top moves."""
    base = os.path.join(shared_dir, 'base.raw')
    top = os.path.join(a_dir, 'inc.qcow2')
    qemu_img('create', '-q', '-f', 'raw', base, '64M')
    with open('/dev/urandom', 'rb') as rnd, open(base, 'r+b') as f:
        f.write(rnd.read(16 * MiB))
    qemu_img('create', '-q', '-f', 'qcow2', '-b', base, '-F', 'raw', top)
    r = subprocess.run(['qemu-io', '-f', 'qcow2', '-c', 'write -P 0x5a 40M 2M', top],
                       capture_output=True, text=True, timeout=60)
    t.ok(r.returncode == 0, 'inc: 2 MiB written into the top image', r.stdout + r.stderr)
    g = StorageGuest(wd, 'inc', 'mem=8 rate=0 hb=100',
                     ft.disk_xml('vda', top, fmt='qcow2', bus='virtio'),
                     ft.disk_xml('vda', os.path.join(b_dir, 'inc.qcow2'), fmt='qcow2',
                                 bus='virtio'))
    r = a.ferry('define', g.xml_a)
    r = a.ferry('start', g.name) if r.returncode == 0 else r
    t.ok(r.returncode == 0, 'inc: define and start on A (qcow2 over a shared raw base)', r.stderr)
    r = a.ferry('migrate', '--copy-storage-inc', '--xml', g.xml_b, '--json', g.name, b.uri)
    s = json.loads(r.stdout) if r.returncode == 0 else {}
    t.ok(r.returncode == 0, '--copy-storage-inc: exits 0', r.stderr)
    sent = s.get('disk_transferred', 0)
    t.ok(2 * MiB <= sent <= 3 * MiB, '--copy-storage-inc: only the top image\'s 2 MiB '
         'travelled (%.2f MiB), not the 16 MiB base' % (sent / MiB), s)
    info = subprocess.run([QEMU_IMG, 'info', '-U', '--output=json',
                           os.path.join(b_dir, 'inc.qcow2')], capture_output=True, text=True)
    backing = json.loads(info.stdout).get('backing-filename') if info.returncode == 0 else None
    t.ok(backing == base, '--copy-storage-inc: B\'s top image uses the shared base', backing)
    r = qemu_img('compare', '-U', top, os.path.join(b_dir, 'inc.qcow2'))
    t.ok(r.returncode == 0, '--copy-storage-inc: the disks read the same on both hosts',
         r.stdout + r.stderr)
    b.ferry('destroy', g.name)
    a.ferry('undefine', g.name)
    os.unlink(os.path.join(b_dir, 'inc.qcow2'))


def failures(t, a, b, wd, a_dir, b_dir):
    """The destination dies (its QEMU, then its daemon) while disks copy."""
    img = os.path.join(a_dir, 'slow.raw')
    qemu_img('create', '-q', '-f', 'raw', img, '256M')
    with open('/dev/urandom', 'rb') as rnd, open(img, 'r+b') as f:
        f.write(rnd.read(48 * MiB))
    pristine = os.path.join(wd, 'slow-pristine.raw')
    qemu_img('convert', '-f', 'raw', '-O', 'raw', img, pristine)
    g = StorageGuest(wd, 'slow', 'mem=8 rate=100 hb=100',
                     ft.disk_xml('vda', img, bus='virtio'),
                     ft.disk_xml('vda', os.path.join(b_dir, 'slow.raw'), bus='virtio'))
    r = a.ferry('define', g.xml_a)
    r = a.ferry('start', g.name) if r.returncode == 0 else r
    t.ok(r.returncode == 0, 'slow: define and start on A', r.stderr)
    pid = ft.domain_pid(a, g.name)
    b_files = files_in(b_dir)

    def copying():
        j = ft.job_info(a, g.name)
        return bool(j and j['phase'] == 'perform' and j.get('disk_processed', 0) > 0)

    # 1. B's QEMU is killed while the disk copies (at 8 MiB/s: ~6 s).
    proc = a.ferry_bg('migrate', '--copy-storage-all', '--bandwidth', '8', '--xml', g.xml_b,
                      g.name, b.uri)
    t.ok(ft.wait_until(copying, 30), 'dest QEMU killed: the disk copy is running')
    for p in b.qemu_pids(g.uuid):
        os.kill(p, signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    t.ok(proc.returncode == 1 and err.strip().startswith('ferry: error:'),
         'dest QEMU killed while mirroring: migrate fails with one error line', err)
    check_source_kept(t, 'dest QEMU killed', a, b, g, pid, b_dir, b_files)
    r = qemu_img('compare', '-U', img, pristine)
    t.ok(r.returncode == 0, 'dest QEMU killed: the source disk is intact', r.stdout + r.stderr)

    # 2. B's daemon stops before Finish, in the middle of the copy.
    proc = a.ferry_bg('migrate', '--retry-timeout', '0', '--copy-storage-all', '--bandwidth',
                      '8', '--xml', g.xml_b, g.name, b.uri)
    copied = ft.wait_until(copying, 30)
    if not copied:
        proc.wait(timeout=60)
    t.ok(copied, 'dest daemon stopped: the disk copy is running',
         '%s %s' % (ft.job_info(a, g.name), '' if copied else proc.stderr.read()))
    code = b.stop()
    out, err = proc.communicate(timeout=120)
    t.ok(code == 0 and proc.returncode == 1, 'dest daemon stopped before Finish: migrate fails',
         '%s %s' % (code, err))
    check_source_kept(t, 'dest daemon stopped', a, b, g, pid, b_dir, b_files)
    r = qemu_img('compare', '-U', img, pristine)
    t.ok(r.returncode == 0, 'dest daemon stopped: the source disk is intact', r.stdout + r.stderr)
    b.start()
    t.ok(ft.dominfo(b, g.name) is None, 'dest daemon restarted: it knows nothing of the domain')

    # (Both with --retry-timeout 0: by default the source would try again
    # until the daemon is back, as tests/e2e/test_broken.py checks.)
    # 3. B's daemon is SIGKILLed mid-copy: its incoming QEMU carries on
    # alone, the client's Finish fails, Confirm resumes A; the restarted
    # ferryd finds that QEMU and gives it up with its image.
    proc = a.ferry_bg('migrate', '--retry-timeout', '0', '--copy-storage-all', '--bandwidth',
                      '8', '--xml', g.xml_b, g.name, b.uri)
    t.ok(ft.wait_until(copying, 30), 'dest daemon killed: the disk copy is running')
    b.kill(signal.SIGKILL)
    out, err = proc.communicate(timeout=180)
    t.ok(proc.returncode == 1, 'dest daemon killed mid-copy: migrate fails', err)
    info = ft.dominfo(a, g.name)
    t.ok(info is not None and info['state'] == 'running' and info['pid'] == pid,
         'dest daemon killed: still running on A in the same QEMU', info)
    b.start()
    t.ok(ft.wait_until(lambda: re.search(r'left in \([a-z]+, [a-z]+\) by the previous ferryd;'
                                         r'.*: discard', b.log_text()) is not None, 30),
         'dest daemon restarted: it gave up the unfinished incoming migration')
    check_source_kept(t, 'dest daemon killed and restarted', a, b, g, pid, b_dir, b_files)
    r = qemu_img('compare', '-U', img, pristine)
    t.ok(r.returncode == 0, 'dest daemon killed: the source disk is intact', r.stdout + r.stderr)

    # 4. Bad cookies and paths: refused, nothing created.
    for mode, says in (('disk-zero', 'capacity of 0 bytes'), ('disk-negative', 'capacity'),
                       ('disk-huge', 'needs')):
        r = subprocess.run([TAMPER, a.uri, b.uri, g.name, mode, g.xml_b], capture_output=True,
                           text=True, timeout=120)
        t.ok(r.returncode == 0 and says in r.stdout, '%s cookie refused by Prepare' % mode,
             r.stdout + r.stderr)
        check_source_kept(t, mode, a, b, g, pid, b_dir, b_files)
    outside = os.path.join(wd, 'elsewhere')
    os.makedirs(outside, exist_ok=True)
    bad_xml = os.path.join(wd, 'slow-outside.xml')
    with open(g.xml_b) as f:
        text = f.read().replace(os.path.join(b_dir, 'slow.raw'), os.path.join(outside, 'slow.raw'))
    with open(bad_xml, 'w') as f:
        f.write(text)
    r = a.ferry('migrate', '--copy-storage-all', '--xml', bad_xml, g.name, b.uri)
    t.ok(r.returncode == 1 and "image '%s' is outside storage_dirs" % os.path.join(
        outside, 'slow.raw') in r.stderr,
         'a target path outside B\'s storage directories is refused', r.stderr)
    t.ok(files_in(outside) == [], 'nothing created outside the storage directories')
    check_source_kept(t, 'outside path', a, b, g, pid, b_dir, b_files)
    a.ferry('destroy', g.name)
    a.ferry('undefine', g.name)


def main(t):
    ft.require_e2e(t)
    wd = ft.Workdir('ferry-e2e-storage-')
    a_dir = os.path.join(wd.path, 'images-a')
    b_dir = os.path.join(wd.path, 'images-b')
    shared_dir = os.path.join(wd.path, 'shared')
    for d in (a_dir, b_dir, shared_dir):
        os.makedirs(d)
    # The shared directory holds the base of the incremental copy: a backing
    # file a cookie names must lie in the destination's storage_dirs.
    # B gives a migration left between phases up after 3 s (60 s by
    # default), shorter than every disk copy here: a destination whose disks
    # are being copied must not take the long Perform for a lost client.
    net = ft.TwoHosts(wd.path, extra_config=('storage_dirs = "%s"\n' % a_dir,
                                             'storage_dirs = "%s:%s"\n'
                                             'migration_abandon_timeout = 3\n'
                                             % (b_dir, shared_dir)),
                      t=t)
    a, b = net.hosts
    try:
        net.start()
        answers = [h.ferry('list') for h in (a, b)]
        t.ok(all(r.returncode == 0 for r in answers), 'two ferryd start and answer',
             ' '.join(r.stderr for r in answers))
        if os.environ.get('FERRY_STORAGE_ONLY') == 'postcopy':
            postcopy_with_disk(t, a, b, wd.path, a_dir, b_dir)
            return
        live_with_disk(t, a, b, wd.path, a_dir, b_dir, shared_dir)
        sparse_disk(t, a, b, wd.path, a_dir, b_dir)
        incremental(t, a, b, wd.path, a_dir, b_dir, shared_dir)
        postcopy_with_disk(t, a, b, wd.path, a_dir, b_dir)
        failures(t, a, b, wd.path, a_dir, b_dir)
    finally:
        net.cleanup()
        wd.cleanup()


if __name__ == '__main__':
    ft.run(main)
