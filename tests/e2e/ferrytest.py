"""ferrytest: shared pieces of ferry's end-to-end tests.

Real daemons, real QEMU, real sockets: each Host is one ferryd with its own
state directory, configuration and socket (later also its own network
namespace).  Output is TAP, which meson counts test by test.

Synchronisation never sleeps on a guess: ferryd reports readiness on a pipe
(--ready-fd), guest heartbeats are awaited with inotify (wait-heartbeat),
process exits with waitpid or pidfd-like polling of /proc with a deadline.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import uuid

SRC = os.environ.get('FERRY_SOURCE_DIR', os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
BUILD = os.environ.get('FERRY_BUILD_DIR', os.path.join(SRC, 'build'))
FERRYD = os.path.join(BUILD, 'src', 'daemon', 'ferryd')
FERRY = os.path.join(BUILD, 'tools', 'ferry')
WAIT_HB = os.path.join(BUILD, 'tests', 'e2e', 'wait-heartbeat')
GUEST = os.path.join(BUILD, 'guest', 'guest.elf')


class TAP:
    """Minimal TAP producer: each check is one numbered test."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, detail=None):
        self.n += 1
        print('%sok %d - %s' % ('' if cond else 'not ', self.n, name), flush=True)
        if not cond:
            self.failed += 1
            if detail:
                for line in str(detail).splitlines():
                    print('#   ' + line, flush=True)
        return cond

    def comment(self, text):
        for line in str(text).splitlines():
            print('# ' + line, flush=True)

    def done(self):
        print('1..%d' % self.n, flush=True)
        return 1 if self.failed else 0


def require(t, cond, what):
    """A missing prerequisite is a failure that says so, never a skip."""
    if not cond:
        t.ok(False, 'prerequisite: ' + what)
        sys.exit(t.done())


def pid_alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            state = f.read().rsplit(')', 1)[1].split()[0]
        return state != 'Z'
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def wait_until(pred, timeout, step=0.05):
    """Waits for a condition that has no event to wait on (a process that is
    not our child going away); bounded, returns the final truth."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return -1


class Host:
    """One ferryd with its own state directory and UNIX socket."""

    def __init__(self, base, name, extra_config='', netns=None):
        self.name = name
        self.dir = os.path.join(base, name)
        os.makedirs(self.dir, exist_ok=True)
        self.state_dir = os.path.join(self.dir, 'state')
        self.socket = os.path.join(self.dir, 'ferryd.sock')
        self.log = os.path.join(self.dir, 'ferryd.log')
        self.conf = os.path.join(self.dir, 'ferryd.conf')
        self.host_uuid = str(uuid.uuid4())
        self.netns = netns
        self.proc = None
        with open(self.conf, 'w') as f:
            f.write('unix_socket_path = "%s"\n' % self.socket)
            f.write('state_dir = "%s"\n' % self.state_dir)
            f.write('host_uuid = "%s"\n' % self.host_uuid)
            f.write('hostname = "%s"\n' % name)
            f.write('log_file = "%s"\n' % self.log)
            f.write('log_level = "debug"\n')
            f.write('keepalive_interval = 2\n')
            f.write(extra_config)

    @property
    def uri(self):
        return 'qemu+unix:///system?socket=%s' % self.socket

    def _prefix(self):
        return ['ip', 'netns', 'exec', self.netns] if self.netns else []

    def start(self, timeout=20):
        r, w = os.pipe()
        cmd = self._prefix() + [FERRYD, '--config', self.conf, '--ready-fd', str(w)]
        self.proc = subprocess.Popen(cmd, pass_fds=(w,), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(w)
        # ferryd writes "READY" once it listens, or closes the pipe on failure.
        with os.fdopen(r, 'rb') as rf:
            data = rf.read()
        if not data.startswith(b'READY'):
            err = self.proc.stderr.read().decode(errors='replace') if self.proc.poll() is not None else ''
            raise RuntimeError('ferryd %s did not start: %s' % (self.name, err.strip()))
        return self.proc.pid

    def kill(self, sig=signal.SIGKILL):
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)
        code = self.proc.returncode
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None
        return code

    def stop(self):
        if self.proc:
            return self.kill(signal.SIGTERM)
        return None

    def ferry(self, *args, input=None):
        return subprocess.run([FERRY, '-c', self.uri] + list(args), input=input,
                              capture_output=True, text=True, timeout=120)

    def log_text(self):
        try:
            with open(self.log, errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''


class EventWatch:
    """`ferry event` in the background, subscribed before start() returns."""

    def __init__(self, host, domain, count, timeout=30):
        self.proc = subprocess.Popen([FERRY, '-c', host.uri, 'event', '--json', '--domain',
                                      domain, '--count', str(count), '--timeout', str(timeout)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        if 'waiting for events' not in line:
            raise RuntimeError('ferry event did not subscribe: ' + line + self.proc.stderr.read())

    def events(self):
        """Waits for the watcher to finish; returns (events, error text)."""
        out, err = self.proc.communicate(timeout=120)
        import json
        return [json.loads(l) for l in out.splitlines() if l.strip()], err.strip()


def guest_xml(name, serial_log, mem_mib=64, args='mem=16 rate=200 hb=100',
              dom_uuid=None, disks=''):
    return """<domain type='qemu'>
  <name>%s</name>
  <uuid>%s</uuid>
  <memory unit='MiB'>%d</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>%s</kernel>
    <cmdline>%s</cmdline>
  </os>
  <devices>
%s    <serial type='file'>
      <source path='%s'/>
      <target port='0'/>
    </serial>
  </devices>
</domain>
""" % (name, dom_uuid or uuid.uuid4(), mem_mib, GUEST, args, disks, serial_log)


def wait_heartbeat(log, min_hb, timeout_ms=30000):
    """Returns (dict of the log's summary, error text or None)."""
    r = subprocess.run([WAIT_HB, log, str(min_hb), str(timeout_ms)], capture_output=True,
                       text=True, timeout=timeout_ms / 1000 + 30)
    if r.returncode != 0:
        return None, r.stderr.strip()
    return dict(kv.split('=', 1) for kv in r.stdout.split()), None


def domain_pid(host, name):
    r = host.ferry('dominfo', '--json', name)
    if r.returncode != 0:
        return None
    import json
    return json.loads(r.stdout).get('pid') or None


class Workdir:
    def __init__(self, prefix):
        self.path = tempfile.mkdtemp(prefix=prefix, dir=os.environ.get('TMPDIR', '/tmp'))

    def cleanup(self):
        shutil.rmtree(self.path, ignore_errors=True)


def run(main):
    """Runs main(t) and turns an exception into a failed test, not a crash."""
    t = TAP()
    try:
        main(t)
    except Exception:
        t.ok(False, 'unexpected exception', traceback.format_exc())
    sys.exit(t.done())
