#!/usr/bin/env python3
"""QEMU as an unprivileged user (issue #9 point 4): ferryd.conf `user` and
`group`, and the files ferryd hands to that user (docs/security.md, "The
QEMU user").

Two ferryd in network namespaces, both with user = "nobody" and group =
"nogroup"; real QEMU, the bundled guest checking its memory and disk.

* ferryd refuses to start with a user that does not exist, naming the
  setting and the value.
* A guest with a disk (0600 root) starts on A: its QEMU's real, effective,
  saved and file-system uid and gid are nobody's and nogroup's, nogroup its
  only group; the image and the serial log are nobody's while it runs.
* Live-migrated A -> B with --copy-storage-all (through the relays, whose
  sockets QEMU creates or is given): B's QEMU runs as nobody too, the guest
  goes on beating, memory and disk intact; A's image is root's again, mode
  and all, once the guest left.
* A diskless guest live-migrated A -> B plainly (memory only), then back
  with --tls (QEMU reads its own copies of the certificates and keys):
  intact each time, each QEMU nobody's.  The serial log both QEMUs held
  stays nobody's while one still runs, and is root's once the guest is
  destroyed -- after A's ferryd was restarted in between, re-attaching to
  the QEMU and remembering what to give back from the status file.
* An image in a root-only directory inside storage_dirs: the start is
  refused, naming the image and the directory the user may not search, and
  the image is root's as before.
"""
import os
import stat

import faults as fm
import ferrytest as ft

USER_CONF = 'user = "nobody"\ngroup = "nogroup"\n'
NOBODY = 65534
NOGROUP = 65534
CALM_ARGS = 'mem=16 rate=100 hb=100'


def ids(pid):
    """The Uid, Gid and Groups lines of /proc/PID/status, as lists."""
    out = {}
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            key, _, value = line.partition(':')
            if key in ('Uid', 'Gid', 'Groups'):
                out[key] = [int(v) for v in value.split()]
    return out


def runs_as_nobody(host, dom_uuid):
    """(True, ids) if @host runs exactly one QEMU of @dom_uuid, as nobody."""
    pids = host.qemu_pids(dom_uuid)
    if len(pids) != 1:
        return False, pids
    got = ids(pids[0])
    return (got.get('Uid') == [NOBODY] * 4 and got.get('Gid') == [NOGROUP] * 4 and
            got.get('Groups') == [NOGROUP]), got


def owner(path):
    st = os.stat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def owner_mark(path):
    """ferryd's record of the owner before, or None."""
    try:
        return os.getxattr(path, 'trusted.ferry.owner').decode()
    except OSError:
        return None


def refuses_missing_user(t, wd):
    h = ft.Host(wd.path, 'nouser', extra_config='user = "ferry-no-such-user"\n')
    try:
        h.start()
        t.ok(False, 'ferryd refuses a user that does not exist', 'it started')
        h.stop()
    except RuntimeError as e:
        # It closed its ready pipe; its error is complete once it exited.
        h.proc.wait(timeout=30)
        err = str(e) + h.proc.stderr.read().decode(errors='replace')
        h.proc.stderr.close()
        t.ok("setting 'user': there is no user 'ferry-no-such-user'" in err,
             'ferryd refuses a user that does not exist, naming the setting and the value',
             err)


def disk_guest(t, a, b, wd, uuids):
    d = fm.FaultGuest(wd, a, b, 'userdisk', True)
    image_a = os.path.join(fm.images_dir(a), d.disk_name)
    image_b = os.path.join(fm.images_dir(b), d.disk_name)
    os.chmod(image_a, 0o600)
    r = a.ferry('define', d.xml)
    r = a.ferry('start', d.name) if r.returncode == 0 else r
    t.ok(r.returncode == 0, 'a guest with a disk starts on A', r.stderr)
    uuids.append(d.uuid)
    ok, got = runs_as_nobody(a, d.uuid)
    t.ok(ok, "A's QEMU runs as nobody:nogroup, nogroup its only group", got)
    t.ok(owner(image_a)[:2] == (NOBODY, NOGROUP) and owner(d.serial)[:2] == (NOBODY, NOGROUP),
         'while it runs, its image and serial log are nobody\'s',
         (owner(image_a), owner(d.serial)))
    log, err = ft.wait_heartbeat(d.serial, 5)
    t.ok(fm.intact(log, True), 'it beats on A, disk intact', err or log)

    before = fm.last_hb(d.serial)
    r = a.ferry('migrate', '--live', '--copy-storage-all', '--xml', d.xml_b, d.name, b.uri)
    t.ok(r.returncode == 0, 'migrate --live --copy-storage-all A -> B', r.stderr)
    ok, got = runs_as_nobody(b, d.uuid)
    t.ok(ok and not a.qemu_pids(d.uuid), "B's QEMU runs as nobody:nogroup, none on A", got)
    log, err = ft.wait_heartbeat(d.serial, before + 5)
    t.ok(fm.intact(log, True), 'it goes on beating on B, memory and disk intact', err or log)
    t.ok(os.path.exists(image_b) and owner(image_b)[:2] == (NOBODY, NOGROUP),
         "B's image, created by B's ferryd, is nobody's while B's QEMU uses it",
         owner(image_b) if os.path.exists(image_b) else 'missing')
    t.ok(owner(image_a) == (0, 0, 0o600) and owner_mark(image_a) is None,
         "A's image is root's again, 0600, once the guest left A",
         (owner(image_a), owner_mark(image_a)))

    r = b.ferry('destroy', d.name)
    t.ok(r.returncode == 0 and owner(image_b)[:2] == (0, 0) and owner_mark(image_b) is None,
         "destroyed on B: B's image is root's (its creator's) again",
         (r.stderr, owner(image_b), owner_mark(image_b)))


def plain_and_tls(t, a, b, wd, uuids):
    g = ft.start_guest(t, a, wd, 'userplain', CALM_ARGS)
    uuids.append(g.uuid)

    r = a.ferry('migrate', '--live', g.name, b.uri)
    t.ok(r.returncode == 0, 'migrate --live A -> B, memory only', r.stderr)
    ok, got = runs_as_nobody(b, g.uuid)
    t.ok(ok, "B's QEMU runs as nobody:nogroup", got)
    log, err = ft.wait_heartbeat(g.serial, 5)
    t.ok(ft.intact(log), 'memory only: the heartbeat goes on, intact', err or log)
    t.ok(owner(g.serial)[:2] == (NOBODY, NOGROUP),
         "the serial log B's QEMU writes stays nobody's after A's QEMU let it go",
         owner(g.serial))
    # The policy may choose post-copy for a diskless guest only if B's
    # unprivileged QEMU can open userfaultfd.
    with open('/proc/sys/vm/unprivileged_userfaultfd') as f:
        uffd = f.read().strip() == '1'
    if uffd:
        t.ok('the destination can receive post-copy' in a.log_text(),
             "vm.unprivileged_userfaultfd = 1: B offered post-copy to A's policy")
    else:
        t.ok('cannot receive post-copy: QEMU runs as an unprivileged user' in b.log_text() and
             'the destination can receive post-copy' not in a.log_text(),
             "vm.unprivileged_userfaultfd = 0: B's log says why it cannot receive post-copy, "
             "A's policy was not offered it")

    before = fm.last_hb(g.serial)
    r = b.ferry('migrate', '--live', '--tls', g.name, a.uri)
    t.ok(r.returncode == 0, 'migrate --live --tls B -> A: QEMU reads its own certificates',
         r.stderr)
    ok, got = runs_as_nobody(a, g.uuid)
    t.ok(ok, "A's QEMU runs as nobody:nogroup", got)
    log, err = ft.wait_heartbeat(g.serial, before + 5)
    t.ok(ft.intact(log), '--tls: the heartbeat goes on, intact', err or log)
    # A listened (server), B dialled (client).
    tls_a = os.path.join(a.state_dir, 'qemu', 'run', 'tls')
    tls_b = os.path.join(b.state_dir, 'qemu', 'run', 'tls')
    got = [owner(p) for p in (tls_a, os.path.join(tls_a, 'server-key.pem'),
                              os.path.join(tls_b, 'client-key.pem'))]
    t.ok(got == [(NOBODY, NOGROUP, 0o500), (NOBODY, NOGROUP, 0o400), (NOBODY, NOGROUP, 0o400)],
         "QEMU's copies of the keys: readable by nobody (and root) only", got)

    # A restarted ferryd re-attaches, and still knows what to give back.
    pid = ft.domain_pid(a, g.name)
    a.stop()
    a.start()
    t.ok(ft.domain_pid(a, g.name) == pid, "A's restarted ferryd re-attaches to the QEMU",
         (pid, ft.dominfo(a, g.name)))
    r = a.ferry('destroy', g.name)
    # ferryd made it, as root, for QEMU (as QEMU would have as root).
    t.ok(r.returncode == 0 and owner(g.serial) == (0, 0, 0o600) and
         owner_mark(g.serial) is None,
         'destroyed after the restart: the serial log is root\'s again',
         (r.stderr, owner(g.serial), owner_mark(g.serial)))


def root_only(t, a, wd):
    secret = os.path.join(fm.images_dir(a), 'secret')
    os.makedirs(secret, mode=0o700, exist_ok=True)
    os.chmod(secret, 0o700)
    image = os.path.join(secret, 'hidden.raw')
    with open(image, 'wb') as f:
        f.truncate(1024 * 1024)
    os.chmod(image, 0o600)
    serial = os.path.join(wd.path, 'userhidden.serial')
    xml = os.path.join(wd.path, 'userhidden.xml')
    with open(xml, 'w') as f:
        f.write(ft.guest_xml('userhidden', serial, args=CALM_ARGS,
                             disks=ft.disk_xml('hda', image)))
    r = a.ferry('define', xml)
    r = a.ferry('start', 'userhidden') if r.returncode == 0 else r
    want = ("domain 'userhidden': disk 'hda': user 'nobody' cannot reach image '%s': it may "
            "not search directory '%s'" % (image, secret))
    t.ok(r.returncode != 0 and want in r.stderr,
         'an image in a root-only directory: the start is refused, naming both', r.stderr)
    info = ft.dominfo(a, 'userhidden')
    t.ok(info is not None and info['state'] == 'shut off' and
         owner(image) == (0, 0, 0o600) and owner_mark(image) is None,
         'the guest is shut off and the image root\'s, 0600, as before',
         (info, owner(image), owner_mark(image)))


def main(t):
    ft.require_e2e(t)
    ft.require(t, os.geteuid() == 0, 'running QEMU as another user needs root')
    wd = ft.Workdir('ferry-e2e-user-')
    # The administrator's part: the QEMU user may search the way to the
    # hosts' directories (ferryd opens its own state directory to it).
    os.chmod(wd.path, 0o711)
    uuids = []
    refuses_missing_user(t, wd)
    net = ft.TwoHosts(wd.path, t=t, tls=True, extra_config=(USER_CONF, USER_CONF))
    a, b = net.hosts
    try:
        net.start()
        disk_guest(t, a, b, wd, uuids)
        plain_and_tls(t, a, b, wd, uuids)
        root_only(t, a, wd)
    finally:
        ft.teardown(net, wd, uuids)


if __name__ == '__main__':
    ft.run(main)
