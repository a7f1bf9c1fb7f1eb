#!/usr/bin/env python3
"""End-to-end test of leases (issue #8, docs/leases.md) with real QEMU.

Two ferryd in network namespaces with `lock_manager = "fcntl"` and one
lockspace directory both see (as hosts sharing NFS would):

* a started domain holds its lease, named by its host; the same domain
  started on the other host is refused, naming the holder;
* a migration hands the lease over: afterwards the destination holds it;
* a destination whose daemon dies before it commits (FERRY_FAULT) leaves
  the guest on the source, which holds its lease again;
* a lease taken by a third party while the destination is stopped at
  Finish (FERRY_FAULT=finish:stall): the destination does not run the
  guest, the source does not resume it (the job says who holds the lease),
  `ferry resume` is refused naming the holder, and works once the third
  party lets go: the guest, paused all that time, goes on intact;
* a destination with another lockspace refuses the migration in Prepare.
"""
import fcntl
import os
import signal
import struct
import time

import ferrytest as ft

CALM_ARGS = 'mem=16 rate=100 hb=100'


def lease_text(lockspace, uuid):
    try:
        with open(os.path.join(lockspace, uuid + '.lease')) as f:
            return f.read()
    except FileNotFoundError:
        return ''


def holder(lockspace, uuid):
    for line in lease_text(lockspace, uuid).splitlines():
        if line.startswith('host='):
            return line[5:]
    return None


def ofd_lock(path):
    """Takes the lease as a third party would: an OFD write lock on the
    whole file, with a holder record naming 'intruder'.  Returns the fd."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    # struct flock: l_type, l_whence, l_start, l_len, l_pid
    lk = struct.pack('hhqqi', fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
    fcntl.fcntl(fd, fcntl.F_OFD_SETLK, lk)
    os.ftruncate(fd, 0)
    os.write(fd, b'# ferry lease\nhost=intruder\nhost_uuid=00000000-0000-4000-8000-000000000000\n'
                 b'domain=x\npid=%d\nsince=%d\n' % (os.getpid(), int(time.time())))
    return fd


def wait_stopped(pid, timeout=60):
    def stopped():
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] == 'T'
    return ft.wait_until(stopped, timeout, 0.02)


def main(t):
    ft.require_e2e(t)
    wd = ft.Workdir('ferry-e2e-leases-')
    lockspace = os.path.join(wd.path, 'lockspace')
    os.makedirs(lockspace)
    conf = 'lock_manager = "fcntl"\nlockspace_dir = "%s"\n' % lockspace
    net = ft.TwoHosts(wd.path, names=('lsa', 'lsb'), extra_config=(conf, conf), t=t)
    a, b = net.hosts
    uuids = []
    intruder = None
    try:
        net.start()
        g = ft.start_guest(t, a, wd, 'leased', CALM_ARGS)
        uuids.append(g.uuid)
        t.ok(holder(lockspace, g.uuid) == 'lsa', 'the running domain\'s lease names lsa',
             lease_text(lockspace, g.uuid))

        # The same domain on the other host: refused, naming the holder.
        r = b.ferry('define', g.xml)
        r = b.ferry('start', g.name) if r.returncode == 0 else r
        t.ok(r.returncode != 0 and "lease is held by host 'lsa'" in r.stderr,
             'starting it on lsb too is refused, naming lsa', r.stderr)
        t.ok(len(b.qemu_pids(g.uuid)) == 0, 'no QEMU of it started on lsb', b.qemu_pids(g.uuid))
        b.ferry('undefine', g.name)

        # A migration hands the lease over.
        r = a.ferry('migrate', '--live', g.name, b.uri)
        t.ok(r.returncode == 0, 'migrate lsa -> lsb', r.stderr)
        t.ok(holder(lockspace, g.uuid) == 'lsb', 'after the migration lsb holds the lease',
             lease_text(lockspace, g.uuid))

        # The destination's daemon dies before it commits: the guest stays
        # on the source, which holds its lease again.
        before = int(ft.wait_heartbeat(g.serial, 0)[0]['last_hb'])
        a.stop()
        a.start(env={'FERRY_FAULT': 'finish:kill'})
        cli = b.ferry_bg('migrate', '--live', g.name, a.uri)
        code = a.proc.wait(timeout=120)
        a.proc.stderr.close()
        a.proc = None
        t.ok(code == -signal.SIGKILL, 'lsa\'s ferryd died at Finish (fault injected)', code)
        a.start()
        cli.communicate(timeout=120)
        ok = ft.wait_until(lambda: len(a.qemu_pids(g.uuid)) + len(b.qemu_pids(g.uuid)) == 1 and
                           (ft.job_info(b, g.name) or {}).get('type') != 'active', 60, 0.1)
        t.ok(ok and len(b.qemu_pids(g.uuid)) == 1, 'the guest stays on lsb, alone',
             (a.qemu_pids(g.uuid), b.qemu_pids(g.uuid)))
        t.ok(holder(lockspace, g.uuid) == 'lsb', 'lsb holds its lease again',
             lease_text(lockspace, g.uuid))
        log, err = ft.wait_heartbeat(g.serial, before + 5)
        t.ok(ft.intact(log), 'the guest goes on intact', err or log)

        # A third party takes the lease while lsa is stopped at Finish.
        a.stop()
        a.start(env={'FERRY_FAULT': 'finish:stall'})
        cli = b.ferry_bg('migrate', '--live', g.name, a.uri)
        t.ok(wait_stopped(a.proc.pid), 'lsa\'s ferryd stopped itself at Finish (fault injected)')
        t.ok(holder(lockspace, g.uuid) is None, 'the source released the lease at the end of '
             'Perform', lease_text(lockspace, g.uuid))
        intruder = ofd_lock(os.path.join(lockspace, g.uuid + '.lease'))
        os.kill(a.proc.pid, signal.SIGCONT)
        out, errout = cli.communicate(timeout=120)
        t.ok(cli.returncode != 0 and 'intruder' in errout,
             'the migration fails, naming the lease\'s holder', errout)
        t.ok(len(a.qemu_pids(g.uuid)) == 0, 'lsa did not run the guest', a.qemu_pids(g.uuid))
        info = ft.dominfo(b, g.name)
        t.ok(info is not None and info['state'] == 'paused',
             'lsb did not resume it either: it stays paused', info)
        job = ft.job_info(b, g.name, completed=True) or {}
        t.ok('intruder' in job.get('message', ''), 'lsb\'s job says who holds the lease', job)
        r = b.ferry('resume', g.name)
        t.ok(r.returncode != 0 and "held by host 'intruder'" in r.stderr,
             '`ferry resume` is refused, naming the holder', r.stderr)
        os.close(intruder)
        intruder = None
        r = b.ferry('resume', g.name)
        t.ok(r.returncode == 0, 'once the third party let go, `ferry resume` works', r.stderr)
        t.ok(holder(lockspace, g.uuid) == 'lsb', 'lsb holds the lease', lease_text(lockspace,
                                                                                  g.uuid))
        before = int(ft.wait_heartbeat(g.serial, 0)[0]['last_hb'])
        log, err = ft.wait_heartbeat(g.serial, before + 5)
        t.ok(ft.intact(log), 'the guest goes on intact after its pause', err or log)

        # A destination with another lockspace refuses the migration.
        other = os.path.join(wd.path, 'other-lockspace')
        os.makedirs(other)
        a.stop()
        with open(a.conf) as f:
            text = f.read()
        with open(a.conf, 'w') as f:
            f.write(text.replace(lockspace, other))
        a.start()
        r = b.ferry('migrate', '--live', g.name, a.uri)
        t.ok(r.returncode != 0 and 'same lockspace' in r.stderr,
             'a destination with another lockspace refuses the migration', r.stderr)
        info = ft.dominfo(b, g.name)
        t.ok(info is not None and info['state'] == 'running', 'the guest runs on lsb', info)
    finally:
        if intruder is not None:
            os.close(intruder)
        ft.teardown(net, wd, uuids)


if __name__ == '__main__':
    ft.run(main)
