#!/usr/bin/env python3
"""End-to-end test of issue #9's definitions, restarts and logs, with a real
ferryd and a real QEMU (docs/security.md, "Definitions and restarts" and
"Logs"):

* a definition near the daemon's limit once formatted, its description all
  '>' (each "&gt;" in the file), runs and survives a SIGKILL of ferryd: the
  restarted daemon lists it running, the same QEMU, the same XML, and the
  guest never stopped beating;
* 1.1 MB of '>' (what an attacker sent: 4.4 MB once formatted) is refused
  at define, naming the domain, the size and the limit;
* its status file and its definition file made unloadable, ferryd restarts:
  both are reported in the log, naming the file and why; the QEMU is
  re-attached (running, same pid, still beating); the same uuid under
  another name cannot be defined, the domain cannot be started again, and
  one QEMU of the uuid runs; what dumpxml shows defines it again;
* a migration to a host where the uuid already runs (a QEMU started there
  behind its daemon's back) is refused at Prepare, and the guest runs on;
* a ConnectOpen whose URI is 1 MB long, accepted or refused, leaves no long
  line in the log (the URI cut with a marker), and 300 failing calls from
  one client are mostly suppressed, then said in "N messages suppressed".
"""
import os
import re
import signal
import socket
import struct
import subprocess
import time

import ferrytest as ft

CALM_ARGS = 'mem=16 rate=100 hb=100'
LIMIT = 1048576             # FERRY_DOMAIN_XML_MAX_FORMATTED
NEAR = 250000               # '>' characters: 1,000,000 bytes once escaped

# ---------------------------------------------------------------------------
# The wire protocol, by hand (proto/ferry.proto): just enough for CALLs.

PROGRAM, VERSION_1 = 0x46455259, 1
CALL, REPLY = 0, 1
CONNECT_OPEN = 1


def varint(n):
    out = b''
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field_varint(num, value):
    return varint(num << 3) + varint(value)


def field_bytes(num, data):
    return varint((num << 3) | 2) + varint(len(data)) + data


def read_varint(data, pos):
    n = shift = 0
    while True:
        b = data[pos]
        pos += 1
        n |= (b & 0x7f) << shift
        shift += 7
        if not b & 0x80:
            return n, pos


def decode(data):
    """A protobuf message as {field number: value} (varints and bytes)."""
    fields, pos = {}, 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        if key & 7 == 0:
            fields[key >> 3], pos = read_varint(data, pos)
        else:
            n, pos = read_varint(data, pos)
            fields[key >> 3] = data[pos:pos + n]
            pos += n
    return fields


class RawClient:
    """A connection speaking ferry's protocol by hand, so that a URI can be
    longer than a command line allows (128 KiB per argument)."""

    def __init__(self, host):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(host.socket)
        self.serial = 0

    def _read(self, n):
        data = b''
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise RuntimeError('ferryd closed the connection')
            data += chunk
        return data

    def connect_open(self, uri):
        """Sends ConnectOpen(@uri); returns the error message of the reply,
        or None if it succeeded."""
        self.serial += 1
        body = field_bytes(1, uri.encode())
        packet = (field_varint(1, PROGRAM) + field_varint(2, VERSION_1) +
                  field_varint(3, CONNECT_OPEN) + field_varint(4, CALL) +
                  field_varint(5, self.serial) + field_varint(6, 0) + field_bytes(7, body))
        self.sock.sendall(struct.pack('>I', len(packet)) + packet)
        while True:
            length, = struct.unpack('>I', self._read(4))
            reply = decode(self._read(length))
            # Keepalive pings are events: not ours.
            if reply.get(4, 0) == REPLY and reply.get(5) == self.serial:
                break
        if reply.get(6, 0) == 0:
            return None
        return decode(reply.get(7, b'')).get(2, b'').decode(errors='replace')

    def close(self):
        self.sock.close()


# ---------------------------------------------------------------------------

def big_xml(name, serial, n, dom_uuid=None):
    """The guest with a description of @n '>' characters."""
    xml = ft.guest_xml(name, serial, args=CALM_ARGS, dom_uuid=dom_uuid)
    return xml.replace('  <vcpu>', '  <description>%s</description>\n  <vcpu>' % ('>' * n), 1)


def write(path, text):
    with open(path, 'w') as f:
        f.write(text)


def status_file(host, dom_uuid):
    return os.path.join(host.state_dir, 'qemu', 'run', dom_uuid + '.json')


def def_file(host, name):
    return os.path.join(host.state_dir, 'qemu', 'domains', name + '.xml')


def check_same_guest(t, host, name, pid, serial, last_hb, what):
    """The domain is running in the same QEMU and its guest still beats."""
    info = ft.dominfo(host, name)
    t.ok(info is not None and info['state'] == 'running' and info.get('pid') == pid,
         '%s: %s running, same QEMU pid %d' % (what, name, pid), info)
    log, err = ft.wait_heartbeat(serial, last_hb + 3)
    t.ok(ft.intact(log), '%s: the guest kept beating, never restarted' % what, err or log)
    return int(log['last_hb']) if log else last_hb


def test_large_definition(t, wd, host):
    serial = os.path.join(wd.path, 'big.serial')
    path = os.path.join(wd.path, 'big.xml')
    write(path, big_xml('big', serial, NEAR))
    r = host.ferry('define', path)
    r = host.ferry('start', 'big') if r.returncode == 0 else r
    t.ok(r.returncode == 0, 'a definition of %d formatted bytes (limit %d) defines and starts'
         % (NEAR * 4, LIMIT), r.stderr)
    dumped = host.ferry('dumpxml', 'big').stdout
    t.ok(dumped.count('&gt;') == NEAR and len(dumped) <= LIMIT,
         'dumpxml: %d bytes, every > escaped' % len(dumped))
    info = ft.dominfo(host, 'big')
    pid, dom_uuid = info.get('pid'), info['uuid']
    log, err = ft.wait_heartbeat(serial, 3)
    t.ok(log is not None, 'big beats', err)

    host.kill(signal.SIGKILL)
    host.start()
    last = check_same_guest(t, host, 'big', pid, serial, int(log['last_hb']) if log else 0,
                            'after ferryd SIGKILL and restart')
    again = host.ferry('dumpxml', 'big').stdout
    t.ok(again == dumped, 'the same definition came back')
    t.ok('cannot load' not in host.log_text(), 'nothing was left unloaded')
    return dom_uuid, pid, serial, last


def test_too_large_refused(t, wd, host):
    path = os.path.join(wd.path, 'huge.xml')
    n = 1100000
    write(path, big_xml('huge', os.path.join(wd.path, 'huge.serial'), n))
    r = host.ferry('define', path)
    m = re.search(r"domain 'huge': its definition is (\d+) bytes once formatted, more than the "
                  r"limit of %d bytes" % LIMIT, r.stderr)
    t.ok(r.returncode == 1 and m is not None and int(m.group(1)) > 4 * n,
         'define of 1.1 MB of ">" (4.4 MB formatted) is refused naming the size and the limit',
         r.stderr)
    t.ok(ft.dominfo(host, 'huge') is None and not os.path.exists(def_file(host, 'huge')),
         'nothing of it was kept')


def test_unloadable_files(t, wd, host, dom_uuid, pid, serial, last_hb):
    status = status_file(host, dom_uuid)
    definition = def_file(host, 'big')
    host.stop()
    write(status, '{ this is not json')
    write(definition, '<' * (5 * 1024 * 1024))
    host.start()
    text = host.log_text()
    t.ok("cannot load status file '%s': it is not a version 1 status file" % status in text,
         'the status file is reported, naming it and why')
    t.ok("cannot load domain definition '%s', left as it is: '%s' is %d bytes long, more "
         "than the 4194304 this ferryd reads" % (definition, definition, 5 * 1024 * 1024) in text,
         'the definition file is reported, naming it and why')
    t.ok("re-attaching to QEMU pid %d from its command line" % pid in text and
         os.path.exists(status + '.bad'),
         're-attached from its command line; the bad status file kept as .bad')
    last_hb = check_same_guest(t, host, 'big', pid, serial, last_hb, 'unloadable files')
    info = ft.dominfo(host, 'big')
    t.ok(info is not None and info.get('persistent') is False, 'it is transient now', info)

    other = os.path.join(wd.path, 'other.xml')
    write(other, ft.guest_xml('other', os.path.join(wd.path, 'other.serial'), args=CALM_ARGS,
                              dom_uuid=dom_uuid))
    r = host.ferry('define', other)
    t.ok(r.returncode == 1 and "uuid %s is already used by domain 'big'" % dom_uuid in r.stderr,
         'the same uuid under another name is refused', r.stderr)
    r = host.ferry('start', 'big')
    t.ok(r.returncode == 1 and 'already' in r.stderr, 'a second start is refused', r.stderr)
    t.ok(host.qemu_pids(dom_uuid) == [pid], 'one QEMU of the uuid runs',
         host.qemu_pids(dom_uuid))

    dumped = os.path.join(wd.path, 'big-again.xml')
    write(dumped, host.ferry('dumpxml', 'big').stdout)
    r = host.ferry('define', dumped)
    info = ft.dominfo(host, 'big')
    t.ok(r.returncode == 0 and info and info.get('persistent') is True and info.get('pid') == pid,
         'what dumpxml shows defines it again: persistent, the same QEMU', r.stderr)
    r = host.ferry('destroy', 'big')
    t.ok(r.returncode == 0 and ft.wait_until(lambda: not ft.pid_alive(pid), 10),
         'destroy stops it: it was managed')


def max_line(text):
    return max((len(line) for line in text.splitlines()), default=0)


def test_logs(t, host):
    # One URI accepted (the test driver takes any host name), one refused.
    big = 'A' * (1024 * 1024)
    client = RawClient(host)
    err = client.connect_open('test:///default?hostname=' + big)
    client.close()
    t.ok(err is None, 'a 1 MB URI the test driver accepts opens', (err or '')[:200])
    client = RawClient(host)
    err = client.connect_open('qemu:///system?x=' + big)
    client.close()
    t.ok(err is not None and 'unknown parameter' in err, 'a 1 MB URI the QEMU driver refuses',
         (err or '')[:200])
    ft.wait_until(lambda: 'CONNECT_OPEN (serial 1) failed' in host.log_text(), 10)
    text = host.log_text()
    lines = [l for l in text.splitlines() if 'AAAAAAAA' in l]
    t.ok(len(lines) == 2 and "opened 'test:///default?hostname=AAAA" in lines[0] and
         'CONNECT_OPEN (serial 1) failed' in lines[1],
         'the opening and the refusal are logged once each', '\n'.join(l[:200] for l in lines))
    t.ok(all(len(l) < 4096 and re.search(r'AAAA\.\.\.\[\+\d+ bytes\]', l) for l in lines),
         'the URI cut with a marker in both (%s bytes)' % [len(l) for l in lines])
    t.ok(max_line(text) < 8192, 'no line of the log is long (longest: %d bytes)'
         % max_line(text))

    # A flood of failing calls from one client: most of it suppressed, then said.
    client = RawClient(host)
    start = len(host.log_text())
    n = 300
    for i in range(n):
        client.connect_open('qemu:///flood%d' % i)
    logged = host.log_text()[start:].count("the QEMU driver serves only '/system', not '/flood")

    def reports():
        found = re.findall(r'unix uid 0: (\d+) messages suppressed', host.log_text()[start:])
        return sum(int(x) for x in found)

    # A report comes with the client's next line once its budget refills
    # (on a slow machine, some during the flood already).
    deadline = time.monotonic() + 10
    while reports() < n - logged and time.monotonic() < deadline:
        client.connect_open('qemu:///after')
        time.sleep(0.2)
    client.close()
    t.ok(logged < n, '%d of %d failing calls logged' % (logged, n))
    t.ok(reports() >= n - logged, 'the rest said in "N messages suppressed" lines (%d)'
         % reports(), host.log_text()[start:][-2000:])


def test_incoming_refused(t, wd):
    """A uuid that runs on the destination (a QEMU started there behind its
    daemon's back, with that daemon's pid file) cannot be migrated there."""
    net = ft.TwoHosts(wd.path, names=('rla', 'rlb'), t=t)
    a, b = net.hosts
    stray = None
    uuids = []
    try:
        net.start()
        g = ft.start_guest(t, a, wd, 'moving', CALM_ARGS)
        uuids.append(g.uuid)
        pid = ft.domain_pid(a, g.name)
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            argv = f.read().decode().split('\0')[:-1]
        # A's command line as B's daemon would make it, the monitor a path
        # (no inherited socket), the CPUs stopped (-S).
        monitor = os.path.join(wd.path, 'stray.qmp')
        argv = ['socket,id=monitor,path=%s,server=on,wait=off' % monitor
                if x.startswith('socket,id=monitor,') else x.replace(a.state_dir, b.state_dir)
                for x in argv]
        # Popen returns once the exec succeeded: /proc shows its arguments.
        stray = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        r = a.ferry('migrate', '--live', g.name, b.uri)
        want = ("cannot receive domain 'moving': its uuid %s already runs on host 'rlb' in "
                "QEMU pid %d" % (g.uuid, stray.pid))
        t.ok(r.returncode == 1 and want in r.stderr,
             'a migration to a host where the uuid runs is refused at Prepare, naming the QEMU',
             r.stderr)
        info = ft.dominfo(a, g.name)
        t.ok(info is not None and info['state'] == 'running' and info.get('pid') == pid,
             'the guest runs on in its QEMU on the source', info)
        t.ok(b.qemu_pids(g.uuid) == [stray.pid] and ft.dominfo(b, g.name) is None,
             'the destination started nothing and lists nothing', b.qemu_pids(g.uuid))
        log, err = ft.wait_heartbeat(g.serial, 8)
        t.ok(ft.intact(log), 'its heartbeat is intact', err or log)
    finally:
        if stray:
            stray.kill()
            stray.wait()
        for u in uuids:
            ft.kill_qemus(u)
        net.cleanup()


def main(t):
    ft.require_e2e(t)
    wd = ft.Workdir('ferry-e2e-reload-')
    host = ft.Host(wd.path, 'hosta')
    dom_uuid = None
    try:
        host.start()
        dom_uuid, pid, serial, last_hb = test_large_definition(t, wd, host)
        test_too_large_refused(t, wd, host)
        test_unloadable_files(t, wd, host, dom_uuid, pid, serial, last_hb)
        test_logs(t, host)
        host.stop()
        test_incoming_refused(t, wd)
    finally:
        if host.proc:
            host.stop()
        if dom_uuid:
            ft.kill_qemus(dom_uuid)
        wd.cleanup()


if __name__ == '__main__':
    ft.run(main)
