#!/usr/bin/env python3
"""End-to-end test of restart recovery (issue #8, docs/recovery.md).

Two ferryd in network namespaces, real QEMU, the bundled guest checking its
own memory.  In each cell one daemon is started with FERRY_FAULT=POINT:kill,
so that it dies (SIGKILL, as in a crash) at that point of a migration; it
is then started again, without the fault, and must resolve the migration by
itself: afterwards exactly one QEMU of the guest runs, its heartbeat goes
on from where it was with no memory error, both jobs have ended (none
"active"), their records are final, the destination listens on no
migration port, and the source's job says "completed" exactly when the
guest ended on the destination.  Each recovery's time is reported (from
the restart to the one copy).

The cells (the subset of the fault matrix that `make check` runs):
  source killed mid-transfer            (perform-mid)     plain
  source killed once everything was sent (perform-sent)   plain and --p2p
  destination killed before it commits  (finish)          plain
  destination killed after it committed (finish-committed) plain
  source killed before it stops its copy (confirm)        plain
"""
import glob
import json
import os
import signal
import time

import ferrytest as ft

# Dirties little: converges quickly at any bandwidth.
CALM_ARGS = 'mem=16 rate=100 hb=100'

CELLS = (
    # (name, faulty side, point, p2p)
    ('src-mid', 'source', 'perform-mid', False),
    ('src-sent', 'source', 'perform-sent', False),
    ('src-sent-p2p', 'source', 'perform-sent', True),
    ('dst-finish', 'destination', 'finish', False),
    ('dst-committed', 'destination', 'finish-committed', False),
    ('src-confirm', 'source', 'confirm', False),
)


def records(host, uuid):
    """The job record of the domain on @host, as a dict, or None."""
    for path in glob.glob(os.path.join(host.state_dir, 'qemu', 'migrations', uuid + '.json')):
        with open(path) as f:
            return json.load(f)
    return None


def settled(a, b, g):
    """Both jobs ended and one QEMU of the guest runs."""
    for h in (a, b):
        j = ft.job_info(h, g.name)
        if j is not None and j.get('type') == 'active':
            return False
    return len(a.qemu_pids(g.uuid)) + len(b.qemu_pids(g.uuid)) == 1


def cell(t, net, wd, name, side, point, p2p):
    a, b = net.hosts
    faulty = a if side == 'source' else b
    what = '%s killed at %s%s' % (side, point, ' (--p2p)' if p2p else '')
    g = ft.start_guest(t, a, wd, name, CALM_ARGS)
    log, err = ft.wait_heartbeat(g.serial, 5)
    before = int(log['last_hb']) if log else 0

    # The faulty daemon again, with the fault (its QEMUs stay as they are).
    faulty.stop()
    faulty.start(env={'FERRY_FAULT': point + ':kill'})
    dest = b.tcp_uri if p2p else b.uri
    cli = a.ferry_bg('migrate', '--live', *(['--p2p'] if p2p else []), g.name, dest)
    code = faulty.proc.wait(timeout=120)
    faulty.proc.stderr.close()
    faulty.proc = None
    t.ok(code == -signal.SIGKILL, '%s: the fault killed ferryd' % what, 'exit %s' % code)

    # Started again: it resolves the migration by itself.  (The client may
    # still wait: a source in doubt answers its Confirm once it knows.)
    t0 = time.monotonic()
    faulty.start()
    ok = ft.wait_until(lambda: settled(a, b, g), 120, 0.1)
    took = time.monotonic() - t0
    out, errout = cli.communicate(timeout=120)
    t.comment('%s: ferry migrate exited %d: %s' % (what, cli.returncode,
                                                  (errout or out).strip()[-300:]))
    t.ok(ok, '%s: after the restart exactly one QEMU of the guest runs, no job active' % what,
         'A %s B %s; A job %s; B job %s' % (a.qemu_pids(g.uuid), b.qemu_pids(g.uuid),
                                            ft.job_info(a, g.name), ft.job_info(b, g.name)))
    t.comment('%s: recovered in %.2f s (restart to one copy)' % (what, took))
    where = a if a.qemu_pids(g.uuid) else b
    info = ft.dominfo(where, g.name)
    t.ok(info is not None and info['state'] == 'running', '%s: the guest runs on %s' %
         (what, where.name), info)
    log, err = ft.wait_heartbeat(g.serial, before + 5)
    t.ok(ft.intact(log), '%s: heartbeat continues from %d, no restart, no memory error' %
         (what, before), err or log)
    ja = ft.job_info(a, g.name, completed=True)
    t.ok(ja is not None and (where is b) == (ja.get('state') == 'completed'),
         '%s: the source\'s job says %s' % (what, 'completed' if where is b else 'not completed'),
         ja)
    for h in (a, b):
        rec = records(h, g.uuid)
        t.ok(rec is None or rec.get('state') in ('completed', 'failed', 'cancelled'),
             '%s: %s\'s job record is final' % (what, h.name), rec)
    t.ok(b.migration_ports_listening() == [], '%s: %s listens on no migration port' %
         (what, b.name), b.migration_ports_listening())
    # Leaves the hosts as it found them.
    where.ferry('destroy', g.name)
    for h in (a, b):
        h.ferry('undefine', g.name)
    return took


def stopped(pid):
    with open('/proc/%d/stat' % pid) as f:
        return f.read().rsplit(')', 1)[1].split()[0] == 'T'


def link_cut_cell(t, net, wd, name, point):
    """--p2p: the link between the hosts goes down for 15 s (longer than
    the daemons' keepalive) at @point (perform-mid: during pre-copy;
    perform-sent: once everything was sent).  Afterwards one copy runs, and
    neither host keeps a job or a stale incoming copy."""
    a, b = net.hosts
    what = 'link cut 15 s at %s (--p2p)' % point
    g = ft.start_guest(t, a, wd, name, CALM_ARGS)
    log, err = ft.wait_heartbeat(g.serial, 5)
    before = int(log['last_hb']) if log else 0
    a.stop()
    a.start(env={'FERRY_FAULT': point + ':stall'})
    cli = a.ferry_bg('migrate', '--live', '--p2p', g.name, b.tcp_uri)
    t.ok(ft.wait_until(lambda: stopped(a.proc.pid), 120, 0.02),
         '%s: the source stopped there (fault injected)' % what)
    net.link(False)
    os.kill(a.proc.pid, signal.SIGCONT)
    time.sleep(15)      # the fault itself: the link stays down 15 s
    t0 = time.monotonic()
    net.link(True)
    ok = ft.wait_until(lambda: settled(a, b, g), 120, 0.1)
    took = time.monotonic() - t0
    t.ok(ok, '%s: one QEMU of the guest runs, no job active' % what,
         'A %s B %s; A job %s; B job %s' % (a.qemu_pids(g.uuid), b.qemu_pids(g.uuid),
                                            ft.job_info(a, g.name), ft.job_info(b, g.name)))
    t.comment('%s: resolved %.2f s after the link came back' % (what, took))
    out, errout = cli.communicate(timeout=120)
    t.comment('%s: ferry migrate exited %d: %s' % (what, cli.returncode,
                                                  (errout or out).strip()[-300:]))
    where = a if a.qemu_pids(g.uuid) else b
    log, err = ft.wait_heartbeat(g.serial, before + 5)
    t.ok(ft.intact(log), '%s: heartbeat continues, no memory error' % what, err or log)
    ja = ft.job_info(a, g.name, completed=True)
    t.ok(ja is not None and (where is b) == (ja.get('state') == 'completed'),
         '%s: the source\'s job says what happened' % what, ja)
    t.ok(b.migration_ports_listening() == [], '%s: %s listens on no migration port' %
         (what, b.name), b.migration_ports_listening())
    where.ferry('destroy', g.name)
    for h in (a, b):
        h.ferry('undefine', g.name)
    a.stop()
    a.start()
    return took


def committed_lost_cell(t, net, wd, name):
    """The destination's daemon dies once it committed (before the guest's
    CPUs start), and its QEMU is killed before the daemon comes back.  The
    guest may have run there as far as anyone can tell, so the source must
    never run it again: no copy runs, and the destination's job says the
    guest is lost."""
    a, b = net.hosts
    what = 'destination committed, then its daemon and QEMU killed'
    g = ft.start_guest(t, a, wd, name, CALM_ARGS)
    b.stop()
    b.start(env={'FERRY_FAULT': 'finish-committed:kill'})
    cli = a.ferry_bg('migrate', '--live', g.name, b.uri)
    code = b.proc.wait(timeout=120)
    b.proc.stderr.close()
    b.proc = None
    t.ok(code == -signal.SIGKILL, '%s: the fault killed ferryd' % what, 'exit %s' % code)
    for pid in b.qemu_pids(g.uuid):
        os.kill(pid, signal.SIGKILL)
    t.ok(ft.wait_until(lambda: b.qemu_pids(g.uuid) == [], 30, 0.05),
         '%s: the destination\'s QEMU is gone' % what)
    b.start()
    cli.communicate(timeout=120)
    ok = ft.wait_until(lambda: all((ft.job_info(h, g.name) or {}).get('type') != 'active'
                                   for h in (a, b)), 60, 0.1)
    t.ok(ok and a.qemu_pids(g.uuid) == [] and b.qemu_pids(g.uuid) == [],
         '%s: the source did not run it again: no copy runs' % what,
         'A %s B %s; A job %s' % (a.qemu_pids(g.uuid), b.qemu_pids(g.uuid),
                                  ft.job_info(a, g.name, completed=True)))
    # The domain left host b with its QEMU; its job record stays.
    rec = records(b, g.uuid) or {}
    t.ok(rec.get('state') == 'failed' and 'lost' in rec.get('message', ''),
         '%s: the destination\'s job record says the guest is lost' % what, rec)
    for h in (a, b):
        h.ferry('undefine', g.name)


def main(t):
    ft.require_e2e(t)
    wd = ft.Workdir('ferry-e2e-recovery-')
    net = ft.TwoHosts(wd.path, names=('reca', 'recb'), t=t)
    uuids = []
    times = {}
    try:
        net.start()
        for name, side, point, p2p in CELLS:
            times[name] = cell(t, net, wd, name, side, point, p2p)
            info = ft.dominfo(net.hosts[0], name) or ft.dominfo(net.hosts[1], name)
            if info:
                uuids.append(info['uuid'])
        committed_lost_cell(t, net, wd, 'committed-lost')
        if net.isolated:
            for point in ('perform-mid', 'perform-sent'):
                name = 'cut-' + point
                times[name] = link_cut_cell(t, net, wd, name, point)
                info = ft.dominfo(net.hosts[0], name) or ft.dominfo(net.hosts[1], name)
                if info:
                    uuids.append(info['uuid'])
        else:
            t.ok(False, 'link cut: needs root for network namespaces')
        t.comment('recovery times: ' + ', '.join('%s %.2f s' % kv for kv in times.items()))
    finally:
        ft.teardown(net, wd, uuids)


if __name__ == '__main__':
    ft.run(main)
