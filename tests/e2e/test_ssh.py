#!/usr/bin/env python3
"""The ssh transport, qemu+ssh:// (issue #9).

Two ferryd in network namespaces; an sshd of this test in B's namespace
(its own host key, config and authorized key, on B's address only); the
CLI in A's namespace.  ssh runs ferry-ssh-helper on B, which connects to
B's UNIX socket: B's daemon sees a local peer with the credentials of the
user ssh logged in as.

* `ferry -c qemu+ssh://root@B/system?...` answers; B's log shows the
  helper as a UNIX client, uid 0.
* A live migration whose destination is qemu+ssh://: the guest arrives
  intact.
* A key B does not know: ferry fails at once (no prompt: no_tty=1),
  saying ssh ended before ferryd answered; a socket that is not there: the
  helper's message names it.
"""
import os
import re
import subprocess

import ferrytest as ft

CALM_ARGS = 'mem=16 rate=100 hb=100'
SSH_PORT = 2222
HELPER = os.path.join(ft.BUILD, 'tools', 'ferry-ssh-helper')


def keygen(path):
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', path], check=True)


def start_sshd(t, wd, host):
    d = os.path.join(wd.path, 'ssh')
    os.makedirs(d)
    keygen(os.path.join(d, 'hostkey'))
    keygen(os.path.join(d, 'userkey'))
    keygen(os.path.join(d, 'strangerkey'))
    with open(os.path.join(d, 'userkey.pub')) as f, \
            open(os.path.join(d, 'authorized_keys'), 'w') as out:
        out.write(f.read())
    with open(os.path.join(d, 'hostkey.pub')) as f, \
            open(os.path.join(d, 'known_hosts'), 'w') as out:
        kind, key = f.read().split()[:2]
        out.write('[%s]:%d %s %s\n' % (host.address, SSH_PORT, kind, key))
    conf = os.path.join(d, 'sshd_config')
    with open(conf, 'w') as f:
        f.write('Port %d\nListenAddress %s\nHostKey %s\nPidFile %s\n'
                'AuthorizedKeysFile %s\nPermitRootLogin prohibit-password\n'
                'PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n'
                'StrictModes no\n' % (SSH_PORT, host.address, os.path.join(d, 'hostkey'),
                                      os.path.join(d, 'sshd.pid'),
                                      os.path.join(d, 'authorized_keys')))
    # sshd's privilege separation directory (the package makes it when its
    # service starts, which it never does here).
    os.makedirs('/run/sshd', mode=0o755, exist_ok=True)
    proc = subprocess.Popen(ft.netns_prefix(host.netns) + ['/usr/sbin/sshd', '-D', '-e', '-f',
                                                           conf],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, 'sshd.log'),
                                                                   'w'))
    ok = ft.wait_until(lambda: SSH_PORT in ft.listening_tcp_ports(host.netns), 20, 0.1)
    t.ok(ok, 'sshd of the test listens on %s:%d' % (host.address, SSH_PORT),
         open(os.path.join(d, 'sshd.log')).read()[-500:])
    return proc, d


def ssh_uri(host, d, key='userkey', socket=None):
    return ('qemu+ssh://root@%s:%d/system?socket=%s&keyfile=%s&known_hosts=%s&helper=%s'
            '&no_tty=1' % (host.address, SSH_PORT, socket or host.socket,
                           os.path.join(d, key), os.path.join(d, 'known_hosts'), HELPER))


def ferry_in(host, uri, *args):
    return subprocess.run(ft.netns_prefix(host.netns) + [ft.FERRY, '-c', uri] + list(args),
                          capture_output=True, text=True, timeout=120)


def main(t):
    ft.require_e2e(t)
    ft.require(t, os.geteuid() == 0, 'sshd in a network namespace needs root')
    ft.require(t, os.access('/usr/sbin/sshd', os.X_OK),
               'sshd installed (openssh-server, scripts/install-deps)')
    wd = ft.Workdir('ferry-e2e-ssh-')
    net = ft.TwoHosts(wd.path, t=t)
    a, b = net.hosts
    uuids = []
    sshd = None
    try:
        net.start()
        sshd, d = start_sshd(t, wd, b)
        r = ferry_in(a, ssh_uri(b, d), 'list', '--all')
        t.ok(r.returncode == 0, 'ferry -c qemu+ssh://root@hostb answers', r.stderr)
        t.ok(re.search(r'client \d+ \(unix, pid \d+, uid 0\): opened', b.log_text()),
             'B\'s daemon sees the helper as a local client of uid 0',
             '\n'.join(l for l in b.log_text().splitlines() if 'opened' in l)[-400:])

        g = ft.start_guest(t, a, wd, 'sshguest', CALM_ARGS)
        uuids.append(g.uuid)
        before = int(ft.wait_heartbeat(g.serial, 0)[0]['last_hb'])
        r = ferry_in(a, a.uri, 'migrate', '--live', g.name, ssh_uri(b, d))
        t.ok(r.returncode == 0, 'migrate A -> qemu+ssh://hostb', r.stderr)
        t.ok(not a.qemu_pids(g.uuid) and len(b.qemu_pids(g.uuid)) == 1,
             'one QEMU of the guest, on B', (a.qemu_pids(g.uuid), b.qemu_pids(g.uuid)))
        log, err = ft.wait_heartbeat(g.serial, before + 5)
        t.ok(ft.intact(log), 'the heartbeat goes on, intact', err or log)

        r = ferry_in(a, ssh_uri(b, d, key='strangerkey'), 'list')
        t.ok(r.returncode == 1 and 'ssh to \'%s\' ended before ferryd answered' % b.address
             in r.stderr, 'a key B does not know: refused, saying ssh ended', r.stderr)
        r = ferry_in(a, ssh_uri(b, d, socket='/nonexistent/ferryd.sock'), 'list')
        t.ok(r.returncode == 1 and
             "cannot connect to ferryd at UNIX socket '/nonexistent/ferryd.sock'" in r.stderr,
             'a socket that is not there: the helper says so', r.stderr)
    finally:
        if sshd:
            sshd.terminate()
            sshd.wait(timeout=10)
        ft.teardown(net, wd, uuids)


if __name__ == '__main__':
    ft.run(main)
