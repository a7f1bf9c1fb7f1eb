#!/usr/bin/env python3
"""End-to-end test of live migration between two hosts.

Two ferryd (network namespaces joined by a veth pair as root, loopback
otherwise: ferrytest.TwoHosts), real QEMU, the bundled guest dirtying
memory.  The guest's serial log is one file both hosts' QEMUs append to, so
after a migration it must show the heartbeat continuing: no restart, no
memory error, no number skipped or repeated.

Covered: live A->B (JSON summary) and back B->A peer-to-peer (progress line
on a terminal, text summary), --paused, --dname both ways, --persistent
with --undefinesource, --offline of a stopped domain; failures that must
leave the VM running on the source and nothing behind on the destination:
a hook on B vetoing Prepare, bad --migrateuri values, an invalid --dname,
the source host as destination, B's incoming QEMU killed during Perform;
and a peer-to-peer migration that completes although its client is killed
in the middle.
"""
import json
import os
import pty
import re
import signal
import subprocess

import ferrytest as ft

VETO_MESSAGE = 'ferry-test hook: migrations to hostb are closed for maintenance'

# Host B's hook: vetoes the Prepare of an incoming migration while the flag
# file exists, and lets everything else through.
HOOK = """#!/bin/sh
if [ "$2" = migrate ] && [ "$3" = prepare ] && [ -e '%s' ]; then
    echo '%s' >&2
    exit 1
fi
exit 0
"""

SUMMARY_KEYS = {'domain', 'destination', 'protocol', 'wall_ms', 'total_ms', 'downtime_ms',
                'guest_downtime_ms', 'setup_ms', 'passes', 'time_setup_ms', 'time_disk_ms',
                'time_memory_ms', 'time_switchover_ms', 'time_overhead_ms', 'data_total',
                'data_transferred', 'disk_total', 'disk_transferred', 'attempts', 'reconnects',
                'control_plane_ms', 'policy', 'postcopy', 'throttle_percent', 'snapshots_moved',
                'snapshots_left', 'snapshots_note'}


TAMPER = os.path.join(ft.BUILD, 'tests', 'e2e', 'migrate-tamper')


def heartbeat(serial):
    log, _ = ft.wait_heartbeat(serial, 0)
    return int(log['last_hb']) if log else 0


def intact(log):
    """The guest log (a wait_heartbeat() summary) shows one uninterrupted
    run: never restarted, every heartbeat the previous one + 1, no memory
    error."""
    return (log is not None and log['restarts'] == '0' and log['consecutive'] == '1' and
            log['errors'] == '0')


def ferry_on_tty(host, *args):
    """Runs the CLI with its stderr on a pseudo-terminal (where the progress
    line is drawn) and stdout on a pipe; returns (status, stdout, tty text)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([ft.FERRY, '-c', host.uri] + list(args), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    tty = b''
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:         # EIO: every writer of the terminal is gone
            break
        if not data:
            break
        tty += data
    os.close(master)
    out = proc.stdout.read().decode(errors='replace')
    proc.wait(timeout=120)
    return proc.returncode, out, tty.decode(errors='replace')


class Guest:
    """A domain of the test and the file its serial console appends to."""

    def __init__(self, wd, name, args):
        self.name = name
        self.serial = os.path.join(wd.path, name + '.serial')
        self.xml = os.path.join(wd.path, name + '.xml')
        with open(self.xml, 'w') as f:
            f.write(ft.migratable_guest_xml(name, self.serial, args=args))
        self.uuid = None


def check_arrived(t, what, src, dst, g, before, name=None, state='running'):
    """After a migration that succeeded: @dst runs it (or holds it paused),
    no QEMU of it is left on @src, and the guest's heartbeat continues from
    @before with no restart and no memory error."""
    name = name or g.name
    info = ft.dominfo(dst, name)
    t.ok(info is not None and info['state'] == state,
         '%s: %s on %s' % (what, state, dst.name), info)
    t.ok(ft.wait_until(lambda: not src.qemu_pids(g.uuid), 15),
         '%s: no QEMU of the domain left on %s' % (what, src.name), src.qemu_pids(g.uuid))
    t.ok(len(dst.qemu_pids(g.uuid)) == 1, '%s: one QEMU of it on %s' % (what, dst.name),
         dst.qemu_pids(g.uuid))
    if state != 'running':
        return
    log, err = ft.wait_heartbeat(g.serial, before + 5)
    t.ok(intact(log),
         '%s: heartbeat continues, no restart, no memory error' % what,
         'before the migration: %d; %s' % (before, err or log))


def check_refused(t, what, r, src, dst, g, pid, must_say=None):
    """After a migration that must fail: exit 1 with one line (naming the
    problem: one of @must_say), the VM still running on @src in the same
    QEMU and only there, nothing left on @dst."""
    text = r.stderr.strip()
    t.ok(r.returncode == 1 and text.startswith('ferry: error: ') and len(text.splitlines()) == 1
         and (must_say is None or any(m.lower() in text.lower() for m in must_say)),
         '%s: exit 1, one error line%s' % (what, ' naming the problem' if must_say else ''),
         '%d %s' % (r.returncode, text))
    info = ft.dominfo(src, g.name)
    t.ok(info is not None and info['state'] == 'running' and info['pid'] == pid and
         src.qemu_pids(g.uuid) == [pid],
         '%s: still running on %s in the same QEMU' % (what, src.name), info)
    t.ok(ft.wait_until(lambda: not dst.qemu_pids(g.uuid), 10),
         '%s: no QEMU of it on %s' % (what, dst.name), dst.qemu_pids(g.uuid))
    t.ok(ft.wait_until(lambda: not dst.migration_ports_listening(), 10),
         '%s: no migration port left listening on %s' % (what, dst.name),
         dst.migration_ports_listening())


def last_job_id(host, name):
    """The id of @name's last ended job on @host, or None."""
    j = ft.job_info(host, name, completed=True)
    return j['id'] if j else None


def in_perform(host, name):
    """The source reports the job in Perform with memory moving."""
    j = ft.job_info(host, name)
    return bool(j and j['type'] == 'active' and j['phase'] == 'perform' and j['mem_processed'])


def live_migrations(t, a, b, g):
    """web1 travels between the hosts with every option that keeps it
    running; returns with it running on A, B holding its persistent
    definition."""
    # 1. A -> B, this client driving the phases; JSON summary.
    before = heartbeat(g.serial)
    watch = ft.EventWatch(a, g.name, 1)
    r = a.ferry('migrate', '--live', '--json', g.name, b.uri)
    t.ok(r.returncode == 0, 'A->B live: ferry migrate exits 0', r.stderr)
    events, err = watch.events()
    t.ok([e['event'] for e in events] == ['migration-begin'],
         'A->B live: the source announced the migration first (migration-begin event)',
         '%s %s' % (events, err))
    summary = json.loads(r.stdout) if r.returncode == 0 else {}
    t.comment('measured: A->B live migration: %s' % json.dumps(summary))
    t.ok(set(summary) == SUMMARY_KEYS and summary['domain'] == g.name and
         summary['destination'] == 'hostb' and summary['protocol'] == 3,
         'A->B live: JSON summary with every key, protocol v3, destination hostb', summary)
    t.ok(summary.get('data_total', 0) >= ft.MIGRATABLE_MEM_KIB * 1024 and
         summary.get('data_transferred', 0) > 0 and summary.get('downtime_ms') != 0 and
         summary.get('wall_ms', 0) > 0,
         'A->B live: RAM size, bytes sent, wall time; downtime null or measured, never 0',
         summary)
    if summary.get('total_ms') is not None:
        t.ok(summary['control_plane_ms'] == summary['wall_ms'] - summary['total_ms'] >= 0,
             'A->B live: control plane = wall - QEMU time', summary)
    t.ok((summary.get('guest_downtime_ms') or 0) > 0 and (summary.get('passes') or 0) >= 1 and
         (summary.get('time_memory_ms') or 0) > 0,
         'A->B live: the downtime the guest saw (daemons\' clocks), passes, memory time',
         summary)
    split = sum(summary.get(k) or 0 for k in ('time_setup_ms', 'time_disk_ms', 'time_memory_ms',
                                               'time_switchover_ms', 'time_overhead_ms'))
    t.ok(0 < split <= summary.get('wall_ms', 0),
         'A->B live: the split adds up to no more than the wall time', summary)
    check_arrived(t, 'A->B live', a, b, g, before)
    info = ft.dominfo(a, g.name)
    t.ok(info is not None and (info['state'], info['reason']) == ('shut off', 'migrated'),
         'A->B live: A keeps the persistent definition, shut off (migrated)', info)
    info = ft.dominfo(b, g.name)
    t.ok(info is not None and not info['persistent'], 'A->B live: transient on B', info)

    # 2. B -> A peer-to-peer over TCP, on a terminal: progress line, text
    # summary.  The limit makes the copy last long enough to be drawn.
    before = heartbeat(g.serial)
    status, out, tty = ferry_on_tty(b, 'migrate', '--live', '--p2p', '--bandwidth', '32',
                                    g.name, a.tcp_uri)
    t.ok(status == 0, 'B->A p2p: ferry migrate exits 0', tty)
    t.comment('measured: B->A p2p at 32 MiB/s:\n' + out)
    t.ok('\r' in tty and re.search(r'perform .*\d+%.*MiB sent.*MiB left.*MiB/s.*ETA', tty)
         and tty.endswith('\r\x1b[K'),
         'B->A p2p: a progress line was redrawn in place and erased at the end', repr(tty[-600:]))
    lines = out.splitlines()
    t.ok(len(lines) == 5 and lines[0] == "Migration of '%s' to %s: done (protocol v3)"
         % (g.name, a.address)
         and re.match(r'  total time   \S+ \S+   \(setup .*, memory .*, switch-over .*, '
                      r'overhead .*\)$', lines[1])
         and re.match(r'  downtime     (\d+ ms|[\d.]+ s) as the guest saw it \(QEMU: '
                      r'(\d+ ms|[\d.]+ s|unknown)\)$', lines[2])
         and re.match(r'  passes       \d+$', lines[3])
         and re.match(r'  data sent    [\d.]+ MiB of [\d.]+ MiB RAM$', lines[4]),
         'B->A p2p: five-line summary: the time split, the downtime the guest saw, passes',
         out)
    check_arrived(t, 'B->A p2p', b, a, g, before)
    t.ok(ft.dominfo(b, g.name) is None, 'B->A p2p: the transient domain is gone from B')

    # 3. A -> B, left paused; it runs on from where it stopped once resumed.
    before = heartbeat(g.serial)
    r = a.ferry('migrate', '--live', '--paused', g.name, b.uri)
    t.ok(r.returncode == 0, '--paused: ferry migrate exits 0', r.stderr)
    check_arrived(t, '--paused', a, b, g, before, state='paused')
    r = b.ferry('resume', g.name)
    t.ok(r.returncode == 0, '--paused: resume on B', r.stderr)
    log, err = ft.wait_heartbeat(g.serial, heartbeat(g.serial) + 5)
    t.ok(intact(log), '--paused: heartbeat continues after resume on B', err or log)

    # 4. B -> A back (A holds the definition), then A -> B under a new name.
    before = heartbeat(g.serial)
    r = b.ferry('migrate', g.name, a.uri)
    t.ok(r.returncode == 0 and "to hosta: done" in r.stdout, 'B->A: default flags', r.stderr)
    check_arrived(t, 'B->A', b, a, g, before)

    # A domain paused by its user stays paused wherever it goes.
    r = a.ferry('suspend', g.name)
    t.ok(r.returncode == 0, 'suspend on A before migrating', r.stderr)
    r = a.ferry('migrate', g.name, b.uri)
    t.ok(r.returncode == 0, 'paused source: ferry migrate exits 0', r.stderr)
    check_arrived(t, 'paused source', a, b, g, before, state='paused')
    r = b.ferry('migrate', g.name, a.uri)
    t.ok(r.returncode == 0, 'paused source back to A', r.stderr)
    check_arrived(t, 'paused source back', b, a, g, before, state='paused')
    r = a.ferry('resume', g.name)
    log, err = ft.wait_heartbeat(g.serial, heartbeat(g.serial) + 5)
    t.ok(r.returncode == 0 and intact(log), 'resumed on A: heartbeat continues', err or log)

    before = heartbeat(g.serial)
    r = a.ferry('migrate', '--dname', 'web1b', g.name, b.uri)
    t.ok(r.returncode == 0 and "as 'web1b'" in r.stdout, '--dname: ferry migrate exits 0',
         r.stdout + r.stderr)
    check_arrived(t, '--dname web1b', a, b, g, before, name='web1b')
    t.ok(ft.dominfo(b, g.name) is None, "--dname: no '%s' on B" % g.name)
    before = heartbeat(g.serial)
    r = b.ferry('migrate', '--dname', g.name, 'web1b', a.uri)
    t.ok(r.returncode == 0, '--dname back to the original name on A', r.stderr)
    check_arrived(t, '--dname back', b, a, g, before)
    t.ok(ft.dominfo(b, 'web1b') is None, '--dname back: web1b gone from B')

    # 5. The definition moves with the VM.
    before = heartbeat(g.serial)
    r = a.ferry('migrate', '--live', '--persistent', '--undefinesource', g.name, b.uri)
    t.ok(r.returncode == 0, '--persistent --undefinesource: exits 0', r.stderr)
    check_arrived(t, '--persistent --undefinesource', a, b, g, before)
    info = ft.dominfo(b, g.name)
    t.ok(info is not None and info['persistent'], '--persistent: defined on B', info)
    r = a.ferry('list', '--all', '--json')
    t.ok(r.returncode == 0 and json.loads(r.stdout) == [], '--undefinesource: A has no domain',
         r.stdout + r.stderr)

    # 6. Back to A for the failure cases (transient there).
    before = heartbeat(g.serial)
    r = b.ferry('migrate', g.name, a.uri)
    t.ok(r.returncode == 0, 'B->A again', r.stderr)
    check_arrived(t, 'B->A again', b, a, g, before)


def refused_migrations(t, a, b, g, flag):
    """Migrations that must fail and leave web1 running on A."""
    pid = ft.domain_pid(a, g.name)
    before = heartbeat(g.serial)

    with open(flag, 'w'):
        pass
    r = a.ferry('migrate', '--live', g.name, b.uri)
    os.unlink(flag)
    check_refused(t, 'hook veto on B', r, a, b, g, pid, [VETO_MESSAGE])

    for uri, says in (('tcp://', ['tcp://']), ('udp://x/', ['udp']),
                      ('host:99999', ['99999'])):
        r = a.ferry('migrate', '--live', '--migrateuri', uri, g.name, b.uri)
        check_refused(t, "--migrateuri '%s'" % uri, r, a, b, g, pid, says)
    r = a.ferry('migrate', '--live', '--dname', 'bad/name', g.name, b.uri)
    check_refused(t, "--dname 'bad/name'", r, a, b, g, pid, ['bad/name'])
    r = a.ferry('migrate', '--live', g.name, a.uri)
    check_refused(t, 'destination is the source host', r, a, b, g, pid,
                  ['same host', a.host_uuid])

    # Cookies spoiled on the way: Prepare on B must refuse them by name.
    for mode, says in (('malformed', 'malformed'), ('mandatory', "'lease-v9' is mandatory")):
        r = subprocess.run([TAMPER, a.uri, b.uri, g.name, mode], capture_output=True,
                           text=True, timeout=120)
        t.ok(r.returncode == 0 and 'cookie' in r.stdout and says in r.stdout,
             '%s cookie refused by Prepare on B, naming the problem' % mode,
             r.stdout + r.stderr)
        info = ft.dominfo(a, g.name)
        t.ok(info is not None and info['state'] == 'running' and info['pid'] == pid,
             '%s cookie: still running on A in the same QEMU' % mode, info)
        t.ok(ft.wait_until(lambda: not b.qemu_pids(g.uuid), 10),
             '%s cookie: no QEMU of it on B' % mode, b.qemu_pids(g.uuid))

    # A client that dies between phases: the daemons give the migration up.
    for mode in ('abandon-begin', 'abandon-prepare'):
        last = last_job_id(a, g.name)
        r = subprocess.run([TAMPER, a.uri, b.uri, g.name, mode], capture_output=True,
                           text=True, timeout=120)
        t.ok(r.returncode == 0, '%s: the client left the migration' % mode, r.stdout + r.stderr)

        def released():
            j = ft.job_info(a, g.name, completed=True)
            return j is not None and j['id'] != last and j['type'] == 'cancelled'
        t.ok(ft.wait_until(released, 15), '%s: A gives the migration up (cancelled)' % mode,
             ft.job_info(a, g.name, completed=True))
        t.ok('the client driving it disconnected' in a.log_text() + b.log_text(),
             '%s: given up because the client disconnected' % mode)
        r = a.ferry('suspend', g.name)
        r2 = a.ferry('resume', g.name)
        t.ok(r.returncode == 0 and r2.returncode == 0,
             '%s: the domain takes jobs again on A' % mode, r.stderr + r2.stderr)
        t.ok(ft.wait_until(lambda: not b.qemu_pids(g.uuid) and
                           not b.migration_ports_listening(), 15),
             '%s: nothing left on B' % mode, b.qemu_pids(g.uuid))
        info = ft.dominfo(b, g.name)
        t.ok(info is None or info['state'] == 'shut off',
             '%s: B has no running copy (at most its old definition)' % mode, info)

    # A client that stays connected but never sends the next phase: the
    # watchdog (migration_abandon_timeout = 6 here) releases the source.
    last = last_job_id(a, g.name)
    stall = subprocess.Popen([TAMPER, a.uri, b.uri, g.name, 'stall-begin'],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = stall.stdout.readline()

    def released_by_watchdog():
        j = ft.job_info(a, g.name, completed=True)
        return j is not None and j['id'] != last and j['type'] == 'cancelled'
    t.ok('stalled' in line and ft.wait_until(released_by_watchdog, 25),
         'stalled client: A gives the migration up after the timeout, client still connected',
         line)
    stall.stdin.close()
    stall.wait(timeout=30)
    r = a.ferry('suspend', g.name)
    r2 = a.ferry('resume', g.name)
    t.ok(r.returncode == 0 and r2.returncode == 0, 'stalled client: the domain takes jobs again',
         r.stderr + r2.stderr)
    t.ok('no phase came within migration_abandon_timeout' in a.log_text(),
         'stalled client: given up by the watchdog')

    # Finish fails after every byte arrived: Confirm resumes the source.
    b.stop()
    with open(b.conf, 'a') as f:
        f.write('debug_inject_failure = "finish"\n')
    b.start()
    r = a.ferry('migrate', '--live', g.name, b.uri)
    check_refused(t, 'Finish fails on B', r, a, b, g, pid, ['injected failure'])
    info = ft.dominfo(a, g.name)
    t.ok(info and info['reason'] == 'migration canceled',
         'Finish fails on B: source resumed (reason migration canceled)', info)
    b.stop()
    with open(b.conf) as f:
        conf = f.read().replace('debug_inject_failure = "finish"\n', '')
    with open(b.conf, 'w') as f:
        f.write(conf)
    b.start()

    log, err = ft.wait_heartbeat(g.serial, before + 5)
    t.ok(intact(log), 'refused migrations: the guest ran on undisturbed',
         err or log)


def offline_migration(t, a, b, wd):
    cold = Guest(wd, 'cold1', 'mem=8 rate=0 hb=100')
    r = a.ferry('define', cold.xml)
    t.ok(r.returncode == 0, 'offline: define cold1 on A', r.stderr)
    r = a.ferry('migrate', '--offline', '--persistent', '--undefinesource', cold.name, b.uri)
    t.ok(r.returncode == 0 and 'offline' in r.stdout, '--offline: exits 0', r.stdout + r.stderr)
    info = ft.dominfo(b, cold.name)
    t.ok(info is not None and info['state'] == 'shut off' and info['persistent'],
         '--offline: cold1 defined, shut off, on B', info)
    t.ok(ft.dominfo(a, cold.name) is None, '--offline: cold1 gone from A')
    r = a.ferry('migrate', '--live', '--offline', cold.name, b.uri)
    t.ok(r.returncode == 2 and 'exclude' in r.stderr, '--live with --offline: usage error',
         r.stderr)


def destination_killed(t, a, b, g):
    """B's incoming QEMU dies during Perform: the migration fails, the VM
    runs on on A, B keeps nothing."""
    pid = ft.domain_pid(a, g.name)
    before = heartbeat(g.serial)
    cli = a.ferry_bg('migrate', '--live', '--bandwidth', '4', g.name, b.uri)
    reached = ft.wait_until(lambda: b.qemu_pids(g.uuid) and in_perform(a, g.name), 60, 0.1)
    t.ok(reached, 'dest killed: the job reached Perform with B\'s QEMU up')
    for qpid in b.qemu_pids(g.uuid):
        os.kill(qpid, signal.SIGKILL)
    out, err = cli.communicate(timeout=120)
    check_refused(t, "B's QEMU killed in Perform", subprocess.CompletedProcess(
        cli.args, cli.returncode, out, err), a, b, g, pid)
    t.ok(ft.dominfo(b, g.name) is None, 'dest killed: B does not list the domain')
    log, err = ft.wait_heartbeat(g.serial, before + 5)
    t.ok(intact(log), 'dest killed: the guest ran on on A, memory intact',
         err or log)


def p2p_client_killed(t, a, b, g):
    """Peer-to-peer: the source daemon finishes the job without its client."""
    before = heartbeat(g.serial)
    watch = ft.EventWatch(b, g.name, 20, timeout=120)
    try:
        cli = a.ferry_bg('migrate', '--live', '--p2p', '--bandwidth', '8', g.name, b.tcp_uri)
        reached = ft.wait_until(lambda: in_perform(a, g.name), 60, 0.1)
        still_running = cli.poll() is None
        cli.kill()
        cli.communicate(timeout=30)
        t.ok(reached and still_running, 'p2p: client killed while the source is in Perform')
        ev = watch.wait_for(lambda e: e['state'] == 'running', 90)
        t.ok(ev is not None, 'p2p: B reports the domain running without the client',
             watch.seen)
    finally:
        watch.close()
    check_arrived(t, 'p2p without client', a, b, g, before)
    info = ft.dominfo(a, g.name)
    t.ok(info is not None and (info['state'], info['reason']) == ('shut off', 'migrated'),
         'p2p without client: A shut off (migrated)', info)


def main(t):
    ft.require_e2e(t)
    wd = ft.Workdir('ferry-e2e-mig-')
    flag = os.path.join(wd.path, 'veto-migrations')
    hook = os.path.join(wd.path, 'hook')
    with open(hook, 'w') as f:
        f.write(HOOK % (flag, VETO_MESSAGE))
    os.chmod(hook, 0o755)
    # Migrations left between phases are given up after 6 s here (60 s by
    # default): short for the stalled client's case, yet longer than a
    # Prepare on a loaded host takes (B's QEMU starting; 2 s was not, under
    # the sanitizers on two cores).
    abandon = 'migration_abandon_timeout = 6\n'
    net = ft.TwoHosts(wd.path, extra_config=(abandon, abandon + 'hook_path = "%s"\n' % hook),
                      t=t)
    a, b = net.hosts
    guests = []
    try:
        net.start()
        answers = [h.ferry('list') for h in (a, b)]
        t.ok(all(r.returncode == 0 for r in answers), 'two ferryd start and answer',
             ' '.join(r.stderr for r in answers))

        web = Guest(wd, 'web1', 'mem=32 rate=2000 hb=100')
        guests.append(web)
        r = a.ferry('define', web.xml)
        t.ok(r.returncode == 0, 'define web1 on A', r.stderr)
        r = a.ferry('start', web.name)
        t.ok(r.returncode == 0, 'start web1 on A', r.stderr)
        web.uuid = ft.dominfo(a, web.name)['uuid']
        log, err = ft.wait_heartbeat(web.serial, 5)
        t.ok(log is not None and log['errors'] == '0', 'web1 beats on A', err)

        live_migrations(t, a, b, web)
        refused_migrations(t, a, b, web, flag)
        r = a.ferry('destroy', web.name)
        t.ok(r.returncode == 0 and ft.wait_until(lambda: not a.qemu_pids(web.uuid), 10),
             'destroy web1 on A', r.stderr)

        offline_migration(t, a, b, wd)

        # A guest that dirties little, so that a slow link still converges.
        slow = Guest(wd, 'slow1', 'mem=32 rate=100 hb=100')
        guests.append(slow)
        r = a.ferry('define', slow.xml)
        r = a.ferry('start', slow.name) if r.returncode == 0 else r
        t.ok(r.returncode == 0, 'define and start slow1 on A', r.stderr)
        slow.uuid = ft.dominfo(a, slow.name)['uuid']
        log, err = ft.wait_heartbeat(slow.serial, 5)
        t.ok(log is not None, 'slow1 beats on A', err)
        destination_killed(t, a, b, slow)
        p2p_client_killed(t, a, b, slow)
        r = b.ferry('destroy', slow.name)
        t.ok(r.returncode == 0, 'destroy slow1 on B', r.stderr)
    finally:
        for g in guests:
            if g.uuid:
                ft.kill_qemus(g.uuid)
        net.cleanup()
        wd.cleanup()


if __name__ == '__main__':
    ft.run(main)
