"""faults: the fault matrix of ferry's migrations (issue #8, docs/faults.md).

One *cell* is one migration of the bundled guest from host A to host B (two
ferryd in two network namespaces of their own, ferrytest.TwoHosts), plain or
peer-to-peer (--p2p), with one fault injected at one point of it:

  points  where the migration is when the fault strikes (FERRY_FAULT points
          of ferryd: begin, perform* and confirm on the source, prepare,
          launch and finish* on the destination);
  faults  what goes wrong there (FAULTS below).

How a fault is put at an exact point: the daemon that reaches the point is
started with FERRY_FAULT=POINT:stall, so it stops itself (SIGSTOP) there;
the cell waits until /proc says it is stopped, does the harm (kills a
daemon, a QEMU, the client, cuts the link...), and lets it go on (SIGCONT).
The fault "fail" is FERRY_FAULT=POINT:fail itself.

After the fault every cell checks the same invariants (check_invariants):
exactly one copy of the guest runs -- none only when the fault killed its
single running QEMU, and then the jobs say so --, its heartbeat goes on
from where it was with no memory error, no stale QEMU, migration port,
created image or unfinished job record remains, both daemons still answer
`ferry list`, the client has ended, and the outcome the source reports
(`ferry domjobinfo --completed`, `state`) matches where the guest runs.

This module is used by test_faults.py, which runs cells in parallel (each in
a process of its own, hence namespaces of its own) and prints the matrix.
"""
import glob
import json
import os
import shutil
import signal
import time

import ferrytest as ft

# -------------------------------------------------------------------------
# The matrix
# -------------------------------------------------------------------------

# (point, the side whose daemon reaches it, what it is)
POINTS = (
    ('begin', 'src', 'Begin: the source checked the domain, before its answer'),
    ('prepare', 'dst', 'Prepare: the destination makes its incoming side listen'),
    ('launch', 'dst', 'Prepare answered: the incoming QEMU not started yet, the source may '
                      'be sending'),
    ('perform', 'src', 'Perform, at its start: nothing sent yet'),
    ('perform-mid', 'src', 'Perform, mid-transfer: the first pre-copy pass'),
    ('perform-sent', 'src', 'Perform, after QEMU completed: everything sent, source paused'),
    ('finish', 'dst', 'Finish, before the destination commits'),
    ('finish-committed', 'dst', 'Finish, committed and recorded, guest not started yet'),
    ('confirm', 'src', 'Confirm: the destination runs the guest, the source not stopped yet'),
)
POINT_NAMES = tuple(p[0] for p in POINTS)
SIDE = {p[0]: p[1] for p in POINTS}

FAULTS = (
    ('fail', 'the phase returns an error (FERRY_FAULT=POINT:fail)'),
    ('src-kill', 'the source ferryd is killed (SIGKILL), then started again'),
    ('dst-kill', 'the destination ferryd is killed (SIGKILL), then started again'),
    ('dst-stop', 'the destination ferryd is stopped (SIGSTOP) for STOP_S s, then SIGCONT'),
    ('src-qemu', 'the source QEMU is killed (SIGKILL)'),
    ('dst-qemu', 'the destination QEMU is killed (SIGKILL)'),
    ('link-10s', 'the link between the hosts goes down for SHORT_CUT_S s, then up'),
    ('link-long', 'the link goes down for LONG_CUT_S s (longer than any keepalive), then up'),
    ('client-kill', 'the client (`ferry migrate`) is killed (SIGKILL)'),
)
FAULT_NAMES = tuple(f[0] for f in FAULTS)
MODES = ('plain', 'p2p')

# The subset `make check` runs (meson test e2e-faults): every fault and every
# point at least once, plain and --p2p mixed.
SUBSET = (
    ('begin', 'fail', 'plain'),
    ('begin', 'client-kill', 'p2p'),
    ('prepare', 'fail', 'p2p'),
    ('prepare', 'client-kill', 'plain'),
    ('launch', 'fail', 'plain'),
    ('launch', 'dst-kill', 'p2p'),
    ('perform', 'src-qemu', 'plain'),
    ('perform-mid', 'dst-qemu', 'p2p'),
    ('perform-mid', 'src-kill', 'p2p'),
    ('perform-mid', 'link-10s', 'p2p'),
    ('perform-sent', 'dst-kill', 'plain'),
    ('perform-sent', 'link-long', 'p2p'),
    ('finish', 'dst-stop', 'plain'),
    ('finish', 'src-kill', 'p2p'),
    ('finish-committed', 'dst-kill', 'p2p'),
    ('finish-committed', 'src-qemu', 'plain'),
    ('confirm', 'client-kill', 'plain'),
    ('confirm', 'dst-qemu', 'plain'),
)


def full_matrix():
    return [(p, f, m) for m in MODES for p in POINT_NAMES for f in FAULT_NAMES]


def cell_name(cell):
    return '%s/%s/%s' % cell


def parse_cell(text):
    point, fault, mode = text.split('/')
    if point not in POINT_NAMES or fault not in FAULT_NAMES or mode not in MODES:
        raise ValueError('unknown cell %r (POINT/FAULT/MODE)' % text)
    return point, fault, mode


# -------------------------------------------------------------------------
# Timeouts: the daemons' settings, and how long each fault lasts
# -------------------------------------------------------------------------

# Both ferryd of a cell get these (they follow ferrytest's own settings, so
# they win).  A server-side keepalive gives up after about
# KEEPALIVE_INTERVAL * (KEEPALIVE_COUNT + 1) s = 18 s; the connections a
# daemon or the client opens (peer-to-peer, the source's questions, the
# CLI's) use the client library's fixed keepalive, 5 s x 5: about 30 s, and
# a connect timeout of 30 s.
KEEPALIVE_INTERVAL = 3
KEEPALIVE_COUNT = 5
ABANDON_TIMEOUT = 15
DAEMON_CONFIG = ('keepalive_interval = %d\nkeepalive_count = %d\n'
                 'migration_abandon_timeout = %d\n' %
                 (KEEPALIVE_INTERVAL, KEEPALIVE_COUNT, ABANDON_TIMEOUT))
# Longer than every timeout of the other side: the keepalives (18 s, 30 s),
# the connect timeout (30 s) and migration_abandon_timeout (15 s).
STOP_S = 40
# Shorter than every keepalive and than migration_abandon_timeout: a blip
# that every connection must ride out.
SHORT_CUT_S = 10
# Longer than every keepalive (the longest: the client library's, ~30 s).
LONG_CUT_S = 35

# After the fault, how long the hosts may take to settle, and how long the
# settled state must hold (a stopped daemon let go may still act on what it
# had queued: a late incoming QEMU must not slip past the checks).
SETTLE_S = 180
STABLE_S = 2.0
# The client must have ended this long after the hosts settled (its own
# keepalive on a connection to a daemon that vanished is ~30 s).
CLIENT_END_S = 60
# How long a daemon may take to reach the point.
REACH_S = 120

# Dirties little: converges quickly under TCG at any bandwidth.
GUEST_ARGS = 'mem=16 rate=100 hb=100'
STORAGE_ARGS = 'mem=16 rate=100 hb=100 disk=1 dblocks=2048 drate=200'
DISK_MIB = 16

# Where the fault may leave no copy at all: it killed the guest's only
# running QEMU (the source's before everything was sent; the destination's
# once it runs the guest or committed to).  (fault, point) -> outcomes
# allowed besides the usual ones.
LOST_ALLOWED = {
    ('src-qemu', 'begin'), ('src-qemu', 'prepare'), ('src-qemu', 'launch'),
    ('src-qemu', 'perform'),
    ('src-qemu', 'perform-mid'),
    ('dst-qemu', 'finish-committed'), ('dst-qemu', 'confirm'),
}


def estimate_s(cell):
    """A rough duration, to start the longest cells first."""
    fault = cell[1]
    return {'dst-stop': 60, 'link-long': 55, 'link-10s': 30}.get(fault, 20)


# -------------------------------------------------------------------------
# Checks collected by a cell
# -------------------------------------------------------------------------

class Checks:
    """What a cell found: named checks with details, and comments."""

    def __init__(self):
        self.checks = []
        self.comments = []

    def ok(self, cond, name, detail=None):
        self.checks.append({'ok': bool(cond), 'name': name,
                            'detail': None if cond or detail is None else str(detail)})
        return bool(cond)

    def comment(self, text):
        self.comments.append(str(text))

    @property
    def passed(self):
        return all(c['ok'] for c in self.checks)


# -------------------------------------------------------------------------
# Helpers
# -------------------------------------------------------------------------

def proc_state(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def stopped(pid):
    """The process is stopped by a signal (SIGSTOP): /proc says 'T'."""
    return proc_state(pid) == 'T'


def stop(host):
    os.kill(host.proc.pid, signal.SIGSTOP)
    if not ft.wait_until(lambda: stopped(host.proc.pid), 10, 0.01):
        raise RuntimeError('ferryd %s did not stop' % host.name)


def cont(host):
    if host.proc:
        os.kill(host.proc.pid, signal.SIGCONT)


def records(host):
    """Every job record on @host: {file name: dict}."""
    out = {}
    for path in glob.glob(os.path.join(host.state_dir, 'qemu', 'migrations', '*.json')):
        try:
            with open(path) as f:
                out[os.path.basename(path)] = json.load(f)
        except (OSError, ValueError) as e:
            out[os.path.basename(path)] = {'unreadable': str(e)}
    return out


def images_dir(host):
    return os.path.join(host.state_dir, 'images')


def images(host):
    d = images_dir(host)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def active_jobs(hosts, g):
    out = {}
    for h in hosts:
        j = ft.job_info(h, g.name)
        if j is not None and j.get('type') == 'active':
            out[h.name] = j
    return out


def copies(hosts, g):
    return {h.name: h.qemu_pids(g.uuid) for h in hosts}


def log_excerpt(host, lines=40):
    """The end of a daemon's log: what it said about migrations, faults,
    recovery, and every warning."""
    keys = ('migration', 'fault', 'recover', 'WARNING', 'CRITICAL', 'ERROR', 'error',
            'in doubt', 'lease', 'Finish', 'Confirm', 'Prepare', 'Perform', 'Begin',
            'started', 'stopping', 'keepalive')
    picked = [l for l in host.log_text().splitlines() if any(k in l for k in keys)]
    return '\n'.join(picked[-lines:])


class FaultGuest:
    """The bundled guest, defined on A; with @storage it has a raw disk in
    A's storage_dirs and an XML naming B's (for --copy-storage-all)."""

    def __init__(self, wd, a, b, name, storage):
        import uuid as uuidmod
        self.name = name
        self.uuid = str(uuidmod.uuid4())
        self.serial = os.path.join(wd.path, name + '.serial')
        self.storage = storage
        self.xml = os.path.join(wd.path, name + '-a.xml')
        self.xml_b = os.path.join(wd.path, name + '-b.xml')
        self.disk_name = name + '.raw'
        for host, path in ((a, self.xml), (b, self.xml_b)):
            disks = ''
            if storage:
                os.makedirs(images_dir(host), exist_ok=True)
                disks = ("    <disk type='file' device='disk'>\n"
                         "      <driver name='qemu' type='raw'/>\n"
                         "      <source file='%s'/>\n"
                         "      <target dev='hda' bus='ide'/>\n"
                         "    </disk>\n" % os.path.join(images_dir(host), self.disk_name))
            with open(path, 'w') as f:
                f.write(ft.guest_xml(name, self.serial, args=STORAGE_ARGS if storage
                                     else GUEST_ARGS, mem_kib=ft.MIGRATABLE_MEM_KIB,
                                     dom_uuid=self.uuid, disks=disks))
        if storage:
            with open(os.path.join(images_dir(a), self.disk_name), 'wb') as f:
                f.truncate(DISK_MIB * 1024 * 1024)


def claims_stayed(text):
    """@text (an error or a job's message) says the guest stayed on, or runs
    again on, the source."""
    return any(w in text for w in ('runs on the source', 'keeps running on', 'it runs on host',
                                   'stays paused on host', 'runs again on'))


def lease_locked(path):
    """Some process holds a lock on the lease file at @path (F_OFD_GETLK
    reports a conflicting write lock)."""
    import fcntl
    import struct
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        # struct flock: l_type, l_whence, l_start, l_len, l_pid
        lk = struct.pack('hhqqi', fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        res = fcntl.fcntl(fd, fcntl.F_OFD_GETLK, lk)
        return struct.unpack('hhqqi', res)[0] != fcntl.F_UNLCK
    finally:
        os.close(fd)


def lease_holder(path):
    """The host the lease file names (host=...), or None."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith('host='):
                    return line[5:].strip()
    except FileNotFoundError:
        pass
    return None


def intact(log, storage):
    return ft.intact(log) and (not storage or (log.get('derrors') == '0' and
                                               log.get('disk_error_lines') == '0'))


def last_hb(serial):
    log, _ = ft.wait_heartbeat(serial, 0)
    return int(log['last_hb']) if log else 0


# -------------------------------------------------------------------------
# One cell
# -------------------------------------------------------------------------

class Cell:
    def __init__(self, point, fault, mode, storage=True, keep_dir=None):
        self.point, self.fault, self.mode = point, fault, mode
        self.p2p = mode == 'p2p'
        self.storage = storage
        self.keep_dir = keep_dir
        self.t = Checks()
        self.outcome = 'FAIL'
        self.took = None
        self.net = None
        self.wd = None
        self.g = None
        self.cli = None
        self.cli_text = None
        self.cli_killed = False
        self.injected = None      # what the fault did, in words
        self.records_at_check = {}
        self.ran_on = []           # what the stopped daemon logged past the point
        self.settled_since = None  # the hosts had settled while the fault lasted, since
        self.fault_began = None
        self.during = None         # settled that many s into the fault (and stayed so)

    @property
    def name(self):
        return cell_name((self.point, self.fault, self.mode))

    # -- running ---------------------------------------------------------

    def run(self):
        start = time.monotonic()
        try:
            self._run()
        except Exception:
            import traceback
            self.t.ok(False, 'the cell ran to its end (no exception)', traceback.format_exc())
        finally:
            self._teardown()
        if not self.t.passed:
            self.outcome = 'FAIL'
        return {
            'cell': self.name, 'point': self.point, 'fault': self.fault, 'mode': self.mode,
            'outcome': self.outcome, 'took': self.took, 'during': self.during,
            'ran_on': self.ran_on,
            'passed': self.t.passed,
            'checks': self.t.checks, 'comments': self.t.comments,
            'wall': time.monotonic() - start,
        }

    def _run(self):
        t = self.t
        self.wd = ft.Workdir('ferry-faults-')
        # Both hosts share one lockspace (as hosts sharing NFS would):
        # the lease is the second lock against a guest running twice.
        self.lockspace = os.path.join(self.wd.path, 'lockspace')
        os.makedirs(self.lockspace)
        conf = DAEMON_CONFIG + 'lock_manager = "fcntl"\nlockspace_dir = "%s"\n' % self.lockspace
        self.net = ft.TwoHosts(self.wd.path, names=('hosta', 'hostb'),
                               extra_config=(conf, conf))
        a, b = self.net.hosts
        if self.fault.startswith('link') and not self.net.isolated:
            t.ok(False, 'prerequisite: cutting the link needs root (network namespaces)')
            return
        at = a if SIDE[self.point] == 'src' else b
        action = 'fail' if self.fault == 'fail' else 'stall'
        for h in (a, b):
            h.start(env={'FERRY_FAULT': '%s:%s' % (self.point, action)} if h is at else None)

        g = self.g = FaultGuest(self.wd, a, b, 'guest1', self.storage)
        r = a.ferry('define', g.xml)
        r = a.ferry('start', g.name) if r.returncode == 0 else r
        if not t.ok(r.returncode == 0, 'the guest starts on A', r.stderr):
            return
        log, err = ft.wait_heartbeat(g.serial, 5)
        if not t.ok(log is not None and intact(log, self.storage), 'the guest beats on A',
                    err or log):
            return
        before = int(log['last_hb'])

        args = ['migrate', '--live']
        if self.p2p:
            args.append('--p2p')
        if self.storage:
            args += ['--copy-storage-all', '--xml', g.xml_b]
        args += [g.name, b.tcp_uri if self.p2p else b.uri]
        self.cli = a.ferry_bg(*args)

        if self.fault == 'fail':
            mark = "fault injection: fail at '%s'" % self.point
            reached = ft.wait_until(lambda: mark in at.log_text() or self.cli.poll() is not None,
                                    REACH_S, 0.05) and mark in at.log_text()
            t.ok(reached, 'the migration reached %s on %s (the fault fired)' %
                 (self.point, at.name), self._cli_state())
            t0 = time.monotonic()
            self.injected = 'the phase failed'
        else:
            reached = ft.wait_until(lambda: stopped(at.proc.pid) or self.cli.poll() is not None,
                                    REACH_S, 0.01)
            mark = "fault injection: stall at '%s'" % self.point
            text = at.log_text()
            reached = stopped(at.proc.pid) and mark in text
            if not t.ok(reached, 'the migration reached %s: %s stopped there' %
                        (self.point, at.name), self._cli_state()):
                return
            # What the stopped daemon did after the point (SIGSTOP stops a
            # process asynchronously: the thread that hit the point may run
            # on until the stop reaches it).
            after = text.split(mark, 1)[1].split('\n')[1:]
            self.ran_on = [l for l in after if 'ferry-migration' in l]
            if self.ran_on:
                t.comment('note: %s ran on past the point before it stopped:\n%s' %
                          (at.name, '\n'.join(self.ran_on)))
            t0 = self.inject(at)
        t.comment('fault: %s' % self.injected)

        # Settling: no job active, one copy (or none, where allowed), and it
        # holds for STABLE_S.
        ok, first = self.wait_settled(t0)
        self.took = max(0.0, first - t0) if first else None
        if first and first < t0 and self.fault_began:
            # Settled while the fault lasted, and stayed so.
            self.during = first - self.fault_began
            t.comment('settled %.1f s into the fault, before it ended' % self.during)
        hosts = (a, b)
        t.ok(ok, 'the hosts settle: no job active, %s' %
             ('one QEMU of the guest (or none: its only running one was killed)'
              if (self.fault, self.point) in LOST_ALLOWED else 'exactly one QEMU of the guest'),
             'after %d s: QEMUs %s; active jobs %s' % (SETTLE_S, copies(hosts, g),
                                                      active_jobs(hosts, g)))
        self.check_invariants(before)

    def _cli_output(self):
        """What the ended client printed (read once)."""
        if self.cli_text is None:
            out, err = self.cli.communicate()
            self.cli_text = (err.strip() + '\n' + out.strip()).strip()
        return self.cli_text

    def _cli_state(self):
        if self.cli is None or self.cli.poll() is None:
            return 'ferry migrate still runs'
        return 'ferry migrate exited %d: %s' % (self.cli.returncode, self._cli_output()[-400:])

    # -- the fault -------------------------------------------------------

    def inject(self, at):
        """@at is stopped at the point: does the harm, lets it go on;
        returns when the fault ended (the clock of the recovery time)."""
        a, b = self.net.hosts
        g = self.g
        f = self.fault
        if f in ('src-kill', 'dst-kill'):
            victim = a if f == 'src-kill' else b
            code = victim.kill()
            if at is not victim:
                cont(at)
            victim.start()
            self.injected = 'ferryd %s killed (exit %s), started again' % (victim.name, code)
        elif f == 'dst-stop':
            if at is not b:
                stop(b)
                cont(at)
            stopped_at = time.monotonic()
            time.sleep(STOP_S)              # the fault itself
            cont(b)
            self.injected = 'ferryd %s stopped %.0f s' % (b.name,
                                                        time.monotonic() - stopped_at)
        elif f in ('src-qemu', 'dst-qemu'):
            victim = a if f == 'src-qemu' else b
            pids = victim.qemu_pids(g.uuid)
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            ft.wait_until(lambda: not any(ft.pid_alive(p) for p in pids), 10, 0.01)
            cont(at)
            self.injected = ('QEMU of %s killed (pid %s)' % (victim.name, pids) if pids else
                             'no QEMU on %s to kill at this point: nothing done' % victim.name)
        elif f in ('link-10s', 'link-long'):
            secs = SHORT_CUT_S if f == 'link-10s' else LONG_CUT_S
            self.net.link(False)
            cut_at = time.monotonic()
            cont(at)
            # The fault itself: the link stays down @secs.  Meanwhile the
            # hosts are watched (their UNIX sockets do not cross the link):
            # they may settle before it comes back.
            since = None
            while time.monotonic() < cut_at + secs:
                if self.settled_now():
                    since = since or time.monotonic()
                else:
                    since = None
                time.sleep(min(0.2, max(0.0, cut_at + secs - time.monotonic())))
            self.net.link(True)
            self.settled_since = since
            self.fault_began = cut_at
            self.injected = 'link down %.1f s' % (time.monotonic() - cut_at)
        elif f == 'client-kill':
            self.cli.kill()
            self.cli.communicate(timeout=30)
            self.cli_killed = True
            cont(at)
            self.injected = 'ferry migrate killed'
        else:
            raise ValueError(f)
        return time.monotonic()

    # -- after the fault ------------------------------------------------

    def settled_now(self):
        a, b = self.net.hosts
        # A migration whose connection broke is tried again by its
        # sequence (the client's, or the source daemon's for --p2p, which
        # the client waits for): between attempts no job is active, and
        # the hosts look settled when they are not.
        if self.cli is not None and not self.cli_killed and self.cli.poll() is None:
            return False
        if active_jobs((a, b), self.g):
            return False
        n = sum(len(p) for p in copies((a, b), self.g).values())
        return n == 1 or n == 0

    def wait_settled(self, t0):
        """Waits until settled_now() holds STABLE_S in a row; returns (ok,
        the monotonic time it began to hold)."""
        deadline = t0 + SETTLE_S
        since = self.settled_since
        while time.monotonic() < deadline:
            if self.settled_now():
                if since is None:
                    since = time.monotonic()
                elif time.monotonic() - since >= STABLE_S:
                    return True, since
            else:
                since = None
            time.sleep(0.1)
        return False, since

    def check_invariants(self, before):
        t = self.t
        a, b = self.net.hosts
        g = self.g
        hosts = (a, b)
        pids = copies(hosts, g)
        where = None
        if pids[a.name] and not pids[b.name]:
            where = a
        elif pids[b.name] and not pids[a.name]:
            where = b
        n = len(pids[a.name]) + len(pids[b.name])
        lost = n == 0
        lost_ok = (self.fault, self.point) in LOST_ALLOWED
        t.ok(n == 1 or (lost and lost_ok),
             'exactly one copy of the guest runs' + (' (or none)' if lost_ok else ''),
             'QEMUs %s' % pids)

        ja = ft.job_info(a, g.name, completed=True)
        jb = ft.job_info(b, g.name, completed=True)
        t.comment('source job: %s' % json.dumps({k: ja.get(k) for k in
                                                   ('state', 'phase', 'message')} if ja else None))
        t.comment('destination job: %s' % json.dumps({k: jb.get(k) for k in
                                                        ('state', 'phase', 'message')}
                                                       if jb else None))
        if where is not None:
            other = b if where is a else a
            info = ft.dominfo(where, g.name)
            t.ok(info is not None and info['state'] == 'running',
                 'the guest runs on %s' % where.name, info)
            oinfo = ft.dominfo(other, g.name)
            if other is b:
                # B had it only as an incoming, transient domain.
                t.ok(oinfo is None, '%s does not list the domain' % b.name, oinfo)
            else:
                t.ok(oinfo is not None and oinfo['state'] == 'shut off',
                     '%s keeps its definition, shut off' % a.name, oinfo)
            log, err = ft.wait_heartbeat(g.serial, before + 5)
            t.ok(intact(log, self.storage),
                 'heartbeat continues from %d, no restart, no memory error' % before,
                 err or log)
            want = ('completed',) if where is b else ('failed', 'cancelled')
            t.ok(ja is not None and ja.get('state') in want,
                 'the source\'s job says %s (the guest runs on %s)' %
                 (' or '.join(want), where.name), ja)
            if where is b:
                t.ok(jb is not None and jb.get('state') == 'completed',
                     'the destination\'s job says completed', jb)
                t.ok(not claims_stayed((ja or {}).get('message') or ''),
                     'the source\'s job message does not say the guest stayed', ja)
            self.outcome = 'src' if where is a else 'dst'
        elif lost:
            # Its only running QEMU was killed.  The source's job says
            # where the guest was: failed, naming its QEMU, when the
            # source's QEMU died before the guest moved; completed (the
            # guest had moved, then died there) or failed saying so, when
            # the destination's did.
            victim = a if self.fault == 'src-qemu' else b
            msg = (ja or {}).get('message') or ''
            if victim is a:
                t.ok(lost_ok and ja is not None and ja.get('state') == 'failed' and
                     'qemu' in msg.lower(),
                     'no copy runs: the source\'s job failed, naming its QEMU', ja)
                info = ft.dominfo(a, g.name)
                t.ok(info is not None and (info['state'], info['reason']) ==
                     ('shut off', 'crashed'), '%s says the domain crashed' % a.name, info)
            else:
                t.ok(lost_ok and ja is not None and (
                    ja.get('state') == 'completed' or
                    (ja.get('state') == 'failed' and
                     any(w in msg.lower() for w in ('lost', 'crash', 'qemu')))),
                     'no copy runs: the source\'s job says the guest had moved (completed), '
                     'or failed saying it was lost', ja)
                info = ft.dominfo(b, g.name)
                t.ok(info is None or info['state'] == 'shut off',
                     '%s does not list it running' % b.name, info)
            self.outcome = 'lost*'

        # Nothing stale.
        self.records_at_check = {h.name: records(h) for h in hosts}
        for h in hosts:
            rec = self.records_at_check[h.name]
            bad = {k: v.get('state') for k, v in rec.items()
                   if v.get('state') not in ('completed', 'failed', 'cancelled')}
            t.ok(not bad, '%s: every job record is final' % h.name, bad)
        for h in hosts:
            ports = h.migration_ports_listening()
            t.ok(ports == [], '%s listens on no migration port' % h.name, ports)
        # B keeps the disk only if the guest moved there (even if it died
        # there afterwards: then the source's job says completed).
        moved = where is b or (lost and self.fault == 'dst-qemu' and ja is not None and
                               ja.get('state') == 'completed')
        want_b = [g.disk_name] if (self.storage and moved) else []
        t.ok(images(b) == want_b, '%s keeps no image the migration created' % b.name,
             '%s (expected %s)' % (images(b), want_b))
        if self.storage:
            t.ok(images(a) == [g.disk_name], '%s keeps its own disk' % a.name, images(a))
        for h in hosts:
            alive = h.proc is not None and h.proc.poll() is None
            r = h.ferry('list', '--all') if alive else None
            t.ok(alive and r.returncode == 0, 'ferryd %s is alive and answers ferry list' %
                 h.name, 'exited %s' % (h.proc.poll() if h.proc else None) if not alive
                 else r.stderr)
        self.check_leases(where)

        # The client.
        if not self.cli_killed and self.cli is not None:
            ended = ft.wait_until(lambda: self.cli.poll() is not None, CLIENT_END_S, 0.1)
            t.ok(ended, 'ferry migrate ended', 'still running %d s after the hosts settled' %
                 CLIENT_END_S)
            if ended:
                text = self._cli_output()
                t.comment('ferry migrate exited %d: %s' % (
                    self.cli.returncode, text.splitlines()[0][-300:] if text else ''))
                # The client reports an outcome too: "done" only if the
                # guest moved, and no claim that it stayed if it moved.
                if self.cli.returncode == 0:
                    # (A guest lost on B had moved there before it died.)
                    t.ok(where is b or (lost and self.fault == 'dst-qemu'),
                         'ferry migrate says done only if the guest moved',
                         'exit 0, but the guest %s' % ('runs on %s' % where.name if where
                                                       else 'is lost'))
                elif where is b:
                    t.ok(not claims_stayed(text),
                         'ferry migrate does not say the guest stayed on the source', text)
                if (self.point, self.fault) == ('launch', 'fail'):
                    # The source only saw its connection refused or reset:
                    # the error carries the destination's own reason.
                    t.ok(self.cli.returncode != 0 and 'injected failure at launch' in text,
                         'ferry migrate names why the destination failed', text)

        # Still one copy now (no QEMU came late).
        now = copies(hosts, g)
        t.ok(now == pids, 'still the same QEMU(s) at the end of the checks',
             'after the checks %s, before %s' % (now, pids))

        # Beyond the invariants: nothing a daemon keeps would act later.
        # Its status file would make a restarted ferryd look for a QEMU.
        for h in hosts:
            if h is not where:
                run = os.path.join(h.state_dir, 'qemu', 'run')
                status = (glob.glob(os.path.join(run, g.uuid + '*')) +
                          glob.glob(os.path.join(run, 'relay', g.uuid + '*')))
                t.ok(not status, '%s keeps no run-time state of the guest' % h.name, status)
        self.check_restart(where, pids)
        if where is not None:
            self.check_migrates_again(where)

    def check_restart(self, where, pids):
        """Both daemons stopped (SIGTERM) and started again: they keep the
        guest where it was, in the same QEMU, and start no job."""
        t = self.t
        a, b = self.net.hosts
        g = self.g
        for h in (a, b):
            h.stop()
        for h in (a, b):
            h.start()
        since = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if not active_jobs((a, b), g) and copies((a, b), g) == pids:
                since = since or time.monotonic()
                if time.monotonic() - since >= STABLE_S:
                    break
            else:
                since = None
            time.sleep(0.1)
        t.ok(since is not None and copies((a, b), g) == pids and not active_jobs((a, b), g),
             'both ferryd restarted (SIGTERM, start): the same QEMU(s), no job',
             'QEMUs %s (before %s); active jobs %s' % (copies((a, b), g), pids,
                                                       active_jobs((a, b), g)))
        if where is not None:
            info = ft.dominfo(where, g.name)
            t.ok(info is not None and info['state'] == 'running' and
                 info.get('pid') in pids[where.name],
                 'after the restart %s runs the guest in the same QEMU' % where.name, info)

    def check_migrates_again(self, where):
        """Nothing stale blocks the domain's next migration: it moves to
        the other host, and runs there alone, intact."""
        t = self.t
        a, b = self.net.hosts
        g = self.g
        dst = b if where is a else a
        before = last_hb(g.serial)
        args = ['migrate', '--live']
        if self.storage:
            if dst is a:
                # A kept the guest's old image when it left (a source
                # keeps its disks): gone, as an operator would remove it
                # before copying the disk back.
                os.unlink(os.path.join(images_dir(a), g.disk_name))
            args += ['--copy-storage-all', '--xml', g.xml_b if dst is b else g.xml]
        r = where.ferry(*(args + [g.name, dst.uri]))
        t.ok(r.returncode == 0, 'the guest migrates again, %s -> %s' % (where.name, dst.name),
             r.stderr)
        ok = ft.wait_until(lambda: not where.qemu_pids(g.uuid) and
                           len(dst.qemu_pids(g.uuid)) == 1, 30, 0.1)
        t.ok(ok, 'after it, one QEMU of the guest, on %s' % dst.name, copies((a, b), g))
        log, err = ft.wait_heartbeat(g.serial, before + 5)
        t.ok(intact(log, self.storage), 'after it, the heartbeat continues intact', err or log)

    def check_leases(self, where):
        """The guest's lease is held by exactly the host that runs it, and
        by nobody when no copy runs: the lock itself (a conflicting OFD lock
        seen from here) and the holder the file names."""
        t = self.t
        path = os.path.join(self.lockspace, self.g.uuid + '.lease')
        held = lease_locked(path)
        who = lease_holder(path)
        if where is None:
            t.ok(not held, 'no host holds the lease of a guest that runs nowhere',
                 'locked, file names %r' % who)
        else:
            t.ok(held and who == where.name, 'the lease is held by %s, which runs the guest' %
                 where.name, 'locked: %s, file names %r' % (held, who))

    # -- the end ---------------------------------------------------------

    def _teardown(self):
        if self.cli is not None and self.cli.poll() is None:
            self.cli.kill()
            try:
                self.cli.communicate(timeout=30)
            except Exception:
                pass
        if self.net is not None:
            if self.net.isolated:
                try:
                    self.net.link(True)
                except Exception:
                    pass
            if not self.t.passed:
                self._keep_logs()
            uuids = [self.g.uuid] if self.g else []
            ft.teardown(self.net, self.wd, uuids)
        elif self.wd is not None:
            self.wd.cleanup()

    def _keep_logs(self):
        """A failed cell's daemon logs, records and guest log, for later."""
        if not self.keep_dir:
            return
        dest = os.path.join(self.keep_dir, self.name.replace('/', '_'))
        try:
            os.makedirs(dest, exist_ok=True)
            for h in self.net.hosts:
                if os.path.exists(h.log):
                    shutil.copy(h.log, os.path.join(dest, h.name + '.log'))
                # The records as the invariants saw them, and at the end
                # (after the extra checks' restart and migration).
                for when, recs in (('checked', self.records_at_check.get(h.name, {})),
                                   ('end', records(h))):
                    for fname, rec in recs.items():
                        with open(os.path.join(dest, '%s-record-%s-%s' % (h.name, when, fname)),
                                  'w') as f:
                            json.dump(rec, f, indent=1)
                self.t.comment('%s log (excerpt):\n%s' % (h.name, log_excerpt(h)))
            if self.g and os.path.exists(self.g.serial):
                shutil.copy(self.g.serial, os.path.join(dest, 'guest.serial'))
            self.t.comment('logs kept in %s' % dest)
        except OSError as e:
            self.t.comment('could not keep the logs: %s' % e)
