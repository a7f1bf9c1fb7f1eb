#!/usr/bin/env python3
"""Who may use ferryd's UNIX sockets (issue #9, access control).

One ferryd whose read-write socket is mode 0666 for this test, so that
only its check of the peer's credentials keeps other users out; the CLI
runs as user nobody (setpriv), with and without the configured group; a
guest runs meanwhile.

* nobody on the read-write socket: refused before any call, and the
  daemon's log names the peer's pid and uid; root still served.
* nobody with unix_socket_group as a supplementary group: served.
* nobody on the read-only socket (mode 0666 by default): list, dominfo,
  dumpxml answer; destroy, suspend, define and start are refused, naming
  the call, and the guest keeps running.
"""
import os
import re
import subprocess

import ferrytest as ft

CALM_ARGS = 'mem=16 rate=100 hb=100'
GROUP = 'users'


def as_nobody(uri, *args, groups=None):
    """The CLI as user nobody (uid 65534), with @groups as supplementary
    groups."""
    cmd = ['setpriv', '--reuid=65534', '--regid=65534']
    cmd += ['--groups=%s' % ','.join(str(g) for g in groups)] if groups else ['--clear-groups']
    return subprocess.run(cmd + [ft.FERRY, '-c', uri] + list(args), capture_output=True,
                          text=True, timeout=60, env=dict(os.environ, HOME='/tmp'))


def main(t):
    ft.require_e2e(t)
    ft.require(t, os.geteuid() == 0, 'acting as another user needs root (setpriv)')
    import grp
    gid = grp.getgrnam(GROUP).gr_gid
    wd = ft.Workdir('ferry-e2e-access-')
    os.chmod(wd.path, 0o711)
    host = ft.Host(wd.path, 'hosta', 'unix_socket_mode = 0666\nunix_socket_group = "%s"\n' %
                   GROUP)
    uuids = []
    try:
        host.start()
        os.chmod(host.dir, 0o755)
        ro = os.path.join(host.dir, 'ferryd-ro.sock')
        rw_uri = 'qemu+unix:///system?socket=%s' % host.socket
        ro_uri = 'qemu+unix:///system?socket=%s' % ro
        g = ft.start_guest(t, host, wd, 'acl', CALM_ARGS)
        uuids.append(g.uuid)
        t.ok(os.stat(host.socket).st_gid == gid, 'the read-write socket belongs to group %s' %
             GROUP, os.stat(host.socket).st_gid)

        r = as_nobody(rw_uri, 'list', '--all')
        t.ok(r.returncode != 0, 'nobody on the read-write socket is refused', r.stdout + r.stderr)
        t.ok(ft.wait_until(lambda: re.search(r'client \d+ \(unix, pid \d+, uid 65534\): refused: '
                                             r'uid 65534 is neither root nor in group %d' % gid,
                                             host.log_text()) is not None, 10),
             'the log names the refused peer and why',
             '\n'.join(l for l in host.log_text().splitlines() if 'refused' in l)[-600:])
        r = host.ferry('list', '--all')
        t.ok(r.returncode == 0 and 'acl' in r.stdout, 'root is still served', r.stderr)

        r = as_nobody(rw_uri, 'list', '--all', groups=[gid])
        t.ok(r.returncode == 0 and 'acl' in r.stdout,
             'nobody in group %s is served on the read-write socket' % GROUP, r.stderr)

        for args in (('list', '--all'), ('dominfo', 'acl'), ('dumpxml', 'acl')):
            r = as_nobody(ro_uri, *args)
            t.ok(r.returncode == 0 and 'acl' in r.stdout,
                 'read-only socket: ferry %s answers' % args[0], r.stderr)
        for args, call in ((('destroy', 'acl'), 'DOMAIN_DESTROY'),
                           (('suspend', 'acl'), 'DOMAIN_SUSPEND'),
                           (('define', g.xml), 'DOMAIN_DEFINE_XML'),
                           (('start', 'acl'), 'DOMAIN_START')):
            r = as_nobody(ro_uri, *args)
            t.ok(r.returncode == 1 and
                 re.search(r'%s is not allowed on a read-only connection' % call, r.stderr),
                 'read-only socket: ferry %s is refused, naming the call' % args[0], r.stderr)
        info = ft.dominfo(host, 'acl')
        t.ok(info is not None and info['state'] == 'running',
             'the guest still runs after the refused calls', info)
        log, err = ft.wait_heartbeat(g.serial, 5)
        t.ok(ft.intact(log), 'its heartbeat is intact', err or log)
    finally:
        for u in uuids:
            ft.kill_qemus(u)
        host.stop()
        wd.cleanup()


if __name__ == '__main__':
    ft.run(main)
