#!/usr/bin/env python3
"""End-to-end test of the foundation: ferryd + CLI + QEMU driver + guest.

One ferryd in a temporary state directory; the bundled guest defined and
started through the CLI; its heartbeat advances; suspend stops it and resume
restarts it; ferryd killed with SIGKILL and started again still lists it
running and can destroy it; raw clients sending garbage, an oversized length
or half a frame are disconnected with a logged reason while another client
keeps working; bad domain XML is refused naming the element, defining
nothing.
"""
import json
import os
import signal
import socket
import struct
import time

import ferrytest as ft


def raw_client(host, payload, shut_write=False):
    """Sends @payload on a fresh connection; returns True if the daemon
    closed the connection (recv gives EOF or a reset) within 10 s."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(host.socket)
    try:
        s.sendall(payload)
        if shut_write:
            s.shutdown(socket.SHUT_WR)
        while True:
            data = s.recv(4096)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    finally:
        s.close()


def main(t):
    ft.require(t, os.access(ft.FERRYD, os.X_OK), 'ferryd built at %s' % ft.FERRYD)
    ft.require(t, os.access(ft.GUEST, os.R_OK), 'guest kernel built at %s' % ft.GUEST)
    ft.require(t, os.access('/usr/bin/qemu-system-x86_64', os.X_OK),
               'qemu-system-x86_64 installed (scripts/install-deps)')
    wd = ft.Workdir('ferry-e2e-')
    host = ft.Host(wd.path, 'hosta')
    qemu_pid = None
    try:
        pid = host.start()
        r = host.ferry('list')
        t.ok(ft.pid_alive(pid) and r.returncode == 0,
             'ferryd starts, reports ready and answers', r.stderr)

        # Bad XML first: refused, naming the element and line, nothing defined.
        bad = os.path.join(wd.path, 'bad.xml')
        with open(bad, 'w') as f:
            f.write("<domain type='qemu'>\n  <name>bad1</name>\n  <memory unit='MiB'>12x"
                    "</memory>\n  <vcpu>1</vcpu>\n  <os><type>hvm</type></os>\n</domain>\n")
        r = host.ferry('define', bad)
        t.ok(r.returncode == 1 and 'memory' in r.stderr and ':3' in r.stderr
             and len(r.stderr.strip().splitlines()) == 1,
             'bad XML refused with one line naming element and line', r.stderr)
        r = host.ferry('list', '--all', '--json')
        t.ok(r.returncode == 0 and json.loads(r.stdout) == [], 'nothing defined after bad XML',
             r.stdout + r.stderr)

        # Define and start the guest.
        serial = os.path.join(wd.path, 'web1.serial')
        xml = os.path.join(wd.path, 'web1.xml')
        with open(xml, 'w') as f:
            f.write(ft.guest_xml('web1', serial))
        r = host.ferry('define', xml)
        t.ok(r.returncode == 0, 'ferry define', r.stderr)
        t0 = time.monotonic()
        r = host.ferry('start', 'web1')
        t.ok(r.returncode == 0, 'ferry start', r.stderr)
        log, err = ft.wait_heartbeat(serial, 1)
        first_hb_s = time.monotonic() - t0
        t.ok(log is not None and log['booted'] == '1', 'guest boots and beats', err)
        t.comment('measured: ferry start -> first heartbeat: %.2f s' % first_hb_s)
        log, err = ft.wait_heartbeat(serial, int(log['last_hb']) + 5 if log else 5)
        t.ok(log is not None and log['consecutive'] == '1' and log['errors'] == '0',
             'heartbeat advances consecutively, no memory errors', err or log)

        info = json.loads(host.ferry('dominfo', '--json', 'web1').stdout)
        qemu_pid = info['pid']
        t.ok(info['state'] == 'running' and ft.pid_alive(qemu_pid),
             'dominfo: running with a live QEMU pid', info)

        # Suspend: the heartbeat stops.
        r = host.ferry('suspend', 'web1')
        t.ok(r.returncode == 0, 'ferry suspend', r.stderr)
        info = json.loads(host.ferry('dominfo', '--json', 'web1').stdout)
        t.ok(info['state'] == 'paused' and info['reason'] == 'user', 'state paused (user)', info)
        before, _ = ft.wait_heartbeat(serial, 0)
        # No event marks "nothing happened": watch for 1.5 s (15 heartbeat periods).
        time.sleep(1.5)
        after, _ = ft.wait_heartbeat(serial, 0)
        t.ok(before['last_hb'] == after['last_hb'], 'no heartbeat while suspended',
             '%s -> %s' % (before['last_hb'], after['last_hb']))
        r = host.ferry('resume', 'web1')
        t.ok(r.returncode == 0, 'ferry resume', r.stderr)
        log, err = ft.wait_heartbeat(serial, int(after['last_hb']) + 3)
        t.ok(log is not None and log['consecutive'] == '1', 'heartbeat continues after resume',
             err)

        # ferryd dies hard; a new one re-attaches to the running QEMU.
        rss = ft.rss_kib(pid)
        t.comment('measured: ferryd RSS with one running domain: %d KiB' % rss)
        host.kill(signal.SIGKILL)
        t.ok(ft.pid_alive(qemu_pid), 'QEMU survives ferryd SIGKILL')
        host.start()
        r = host.ferry('list', '--json')
        doms = json.loads(r.stdout) if r.returncode == 0 else []
        t.ok([d['name'] for d in doms] == ['web1'] and doms[0]['state'] == 'running',
             'restarted ferryd lists web1 running', r.stdout + r.stderr)
        log, err = ft.wait_heartbeat(serial, int(log['last_hb']) + 3 if log else 3)
        t.ok(log is not None and log['restarts'] == '0', 'guest kept running across the restart',
             err)

        # Hostile clients, while a well-behaved one keeps working.
        ok_garbage = raw_client(host, b'\xde\xad\xbe\xef' * 64)
        ok_oversize = raw_client(host, struct.pack('>I', 0xFFFFFFF0) + b'x' * 16)
        ok_half = raw_client(host, struct.pack('>I', 100) + b'\x08\x01', shut_write=True)
        r = host.ferry('list')
        t.ok(ok_garbage, 'garbage client disconnected')
        t.ok(ok_oversize, 'oversized-length client disconnected')
        t.ok(ok_half, 'half-frame client disconnected')
        t.ok(r.returncode == 0 and 'web1' in r.stdout, 'another client keeps working', r.stderr)
        text = host.log_text()
        t.ok('exceeds' in text, 'oversized frame reason logged',
             '\n'.join(text.splitlines()[-15:]))
        t.ok('closing' in text.lower() or 'disconnect' in text.lower(),
             'disconnect reasons logged')

        r = host.ferry('capabilities')
        t.ok(r.returncode == 0 and '<live/>' in r.stdout and
             '<uri_transport>tcp</uri_transport>' in r.stdout and
             '<protocol>v3</protocol>' in r.stdout and host.host_uuid in r.stdout,
             'capabilities: host uuid and migration features', r.stdout + r.stderr)

        # Destroy after the restart: QEMU really goes away.
        r = host.ferry('destroy', 'web1')
        t.ok(r.returncode == 0, 'destroy after restart', r.stderr)
        t.ok(ft.wait_until(lambda: not ft.pid_alive(qemu_pid), 10), 'QEMU process gone')
        info = json.loads(host.ferry('dominfo', '--json', 'web1').stdout)
        t.ok(info['state'] == 'shut off' and info['reason'] == 'destroyed',
             'state shut off (destroyed)', info)
        qemu_pid = None

        # QEMU dying behind ferry's back is noticed: shut off (crashed).
        r = host.ferry('start', 'web1')
        t.ok(r.returncode == 0, 'start again', r.stderr)
        qemu_pid = ft.domain_pid(host, 'web1')
        watch = ft.EventWatch(host, 'web1', 1)
        os.kill(qemu_pid, signal.SIGKILL)
        events, err = watch.events()
        t.ok([(e['event'], e['state'], e['reason']) for e in events] ==
             [('stopped', 'shut off', 'crashed')], 'killed QEMU: event stopped (crashed)',
             '%s %s' % (events, err))
        info = json.loads(host.ferry('dominfo', '--json', 'web1').stdout)
        t.ok(info['state'] == 'shut off' and info['reason'] == 'crashed',
             'killed QEMU is seen as crashed', info)
        qemu_pid = None

        # Clean shutdown leaves the VM running; the next ferryd takes it back.
        r = host.ferry('start', 'web1')
        qemu_pid = ft.domain_pid(host, 'web1')
        code = host.stop()
        t.ok(code == 0 and qemu_pid and ft.pid_alive(qemu_pid),
             'ferryd exits 0 on SIGTERM and leaves QEMU running', code)
        t.ok(not os.path.exists(host.socket), 'socket removed on shutdown')
        host.start()
        r = host.ferry('dominfo', '--json', 'web1')
        info = json.loads(r.stdout) if r.returncode == 0 else {}
        t.ok(info.get('state') == 'running' and info.get('pid') == qemu_pid,
             'after SIGTERM and restart: same QEMU, running', r.stdout + r.stderr)
        r = host.ferry('destroy', 'web1')
        t.ok(r.returncode == 0 and ft.wait_until(lambda: not ft.pid_alive(qemu_pid), 10),
             'destroy after clean restart', r.stderr)
        qemu_pid = None

        r = host.ferry('undefine', 'web1')
        t.ok(r.returncode == 0, 'undefine', r.stderr)
        code = host.stop()
        t.ok(code == 0, 'ferryd exits 0 on SIGTERM with no domains', code)
    finally:
        if qemu_pid and ft.pid_alive(qemu_pid):
            os.kill(qemu_pid, signal.SIGKILL)
        if host.proc:
            host.kill()
        wd.cleanup()


if __name__ == '__main__':
    ft.run(main)
