#!/usr/bin/env python3
"""End-to-end test of confinement (issue #9): what a peer or an untrusted
client names must lie in the host's directories, and migrations listen on
one address.

Two hosts (network namespaces when root).  Everything meant to be refused
is sent to B over TCP, from A's side of the link -- a made-up peer's
Prepare3 (prepare-crafted), a define by a TCP client, --p2p migrations run
by A's daemon (refused at Prepare, or at Finish for the definition to
persist) -- and each refusal must name the path and create nothing:
no image, no file, no domain, no QEMU, no listening port.  The case the
issue was filed for comes first: a Prepare3 cookie for --copy-storage-inc
whose backing file is a root-only file, which ferryd used to put under an
overlay and export writable over NBD on every address.  Root on the UNIX
socket stays trusted.

Then where B listens for a migration it accepted: its migration address
only -- QEMU's incoming migration and NBD server, or the relays in front of
them -- never 0.0.0.0 or ::.
"""
import os
import socket
import subprocess
import uuid

import ferrytest as ft

CRAFTED = os.path.join(ft.BUILD, 'tests', 'e2e', 'prepare-crafted')


def vda(path, fmt='raw'):
    """The guest's one disk, virtio."""
    return ft.disk_xml('vda', path, fmt=fmt, bus='virtio')


def cookie_xml(disks=(), features=('nbd',)):
    """A cookie from a host that does not exist: @disks are (target, format,
    bytes, backing or None) for the <nbd> section."""
    nbd = ''
    if disks:
        nbd = '  <nbd>\n%s  </nbd>\n' % ''.join(
            "    <disk target='%s' format='%s' capacity='%d'%s/>\n"
            % (tgt, fmt, size, " backing='%s'" % back if back else '')
            for tgt, fmt, size, back in disks)
    return """<ferry-migration>
  <id>%s</id>
  <host uuid='%s' name='nowhere'/>
  <features>%s</features>
%s</ferry-migration>
""" % (uuid.uuid4(), uuid.uuid4(), ''.join("<feature name='%s'/>" % f for f in features), nbd)


class Case:
    """One crafted Prepare: its XML and cookie files in @wd."""

    def __init__(self, wd, name, disks='', cookie=None, serial=None, kernel=None):
        self.name = name
        self.uuid = str(uuid.uuid4())
        self.xml = os.path.join(wd, name + '.xml')
        self.cookie = os.path.join(wd, name + '.cookie')
        text = ft.guest_xml(name, serial or os.path.join(wd, name + '.serial'),
                            dom_uuid=self.uuid, disks=disks)
        if kernel:
            text = text.replace('<kernel>%s</kernel>' % ft.GUEST, '<kernel>%s</kernel>' % kernel)
        with open(self.xml, 'w') as f:
            f.write(text)
        with open(self.cookie, 'w') as f:
            f.write(cookie or cookie_xml())


def crafted(a, b, case, *opts, hold=False):
    """prepare-crafted from A's side of the link to B's TCP listener."""
    cmd = ft.netns_prefix(a.netns) + [CRAFTED, '--name', case.name] + list(opts) + \
        (['--hold'] if hold else []) + [b.tcp_uri, case.xml, case.cookie]
    if hold:
        return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def tcp_ferry(a, b, *args):
    """The CLI as a client over TCP, from A's side of the link, to B."""
    return subprocess.run(ft.netns_prefix(a.netns) + [ft.FERRY, '-c', b.tcp_uri] + list(args),
                          capture_output=True, text=True, timeout=120)


def files_in(d):
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def decode_address(hex_addr):
    """An address of /proc/net/tcp{,6}: 32-bit words in host (little-endian)
    order."""
    raw = bytes.fromhex(hex_addr)
    words = b''.join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, words)


def listening(host):
    """(address, port) of every TCP socket listening in @host's network
    namespace on a port of its migration range."""
    r = subprocess.run(ft.netns_prefix(host.netns) + ['cat', '/proc/net/tcp', '/proc/net/tcp6'],
                       capture_output=True, text=True, timeout=30)
    lo, hi = host.migration_ports
    out = []
    for line in r.stdout.splitlines():
        f = line.split()
        if len(f) > 3 and f[3] == '0A' and ':' in f[1]:
            addr, port = f[1].rsplit(':', 1)
            if lo <= int(port, 16) <= hi:
                out.append((decode_address(addr), int(port, 16)))
    return sorted(out)


def check_nothing(t, what, b, case, b_dir, b_files, extra_file=None):
    """After a refusal: nothing of @case exists on B."""
    t.ok(files_in(b_dir) == b_files, '%s: no image created on B' % what,
         '%s -> %s' % (b_files, files_in(b_dir)))
    t.ok(ft.dominfo(b, case.name) is None, '%s: no domain on B' % what)
    t.ok(ft.wait_until(lambda: not b.qemu_pids(case.uuid), 10), '%s: no QEMU on B' % what,
         b.qemu_pids(case.uuid))
    t.ok(ft.wait_until(lambda: not listening(b), 10),
         '%s: nothing listens on B\'s migration ports (no NBD export)' % what, listening(b))
    if extra_file:
        t.ok(not os.path.lexists(extra_file), '%s: %s not created' % (what, extra_file))


def refused(t, what, r, says):
    """prepare-crafted's or ferry's refusal names the problem."""
    out = r.stdout + r.stderr
    t.ok(says in out and ('refused: ' in r.stdout or r.returncode == 1),
         '%s: refused, naming it' % what, 'want %r in: %s' % (says, out))


def backing_file_read(t, a, b, wd, b_dir, secret_dir, secret):
    """The issue's attack: an incremental copy over a backing file that is
    any file of the host; and the same refusal for a path that is not
    there, through a symlink, or with '..'."""
    dirs = '(%s)' % b_dir
    messages = {}
    link = os.path.join(b_dir, 'innocent.qcow2')
    os.symlink(secret, link)
    b_files = files_in(b_dir)
    for what, backing, says in (
            ('root-only backing file', secret, "backing file '%s' is outside storage_dirs %s"
             % (secret, dirs)),
            ('missing backing file', os.path.join(secret_dir, 'nothing'),
             "backing file '%s' is outside storage_dirs %s"
             % (os.path.join(secret_dir, 'nothing'), dirs)),
            ('backing symlink out of storage_dirs', link,
             "backing file '%s' is outside storage_dirs %s" % (link, dirs)),
            ('backing with ..', os.path.join(b_dir, '..', 'secret', 'secret.img'),
             "has a '..' component")):
        case = Case(wd, 'att%d' % len(messages),
                    disks=vda(os.path.join(b_dir, 'att.qcow2'), fmt='qcow2'),
                    cookie=cookie_xml([('vda', 'qcow2', 1 << 20, backing)]))
        r = crafted(a, b, case, '--inc')
        refused(t, 'Prepare3 --copy-storage-inc, ' + what, r, says)
        t.ok('Prepare3 on host \'%s\'' % b.name in r.stdout and "domain '%s': disk 'vda'"
             % case.name in r.stdout, '%s: the error names the host, domain and disk' % what,
             r.stdout)
        messages[what] = r.stdout.replace(backing, 'PATH').replace(case.name, 'NAME')
        check_nothing(t, what, b, case, b_dir, b_files)
    t.ok(messages['root-only backing file'] == messages['missing backing file'],
         'the refusal reads the same whether the file outside exists or not', messages)
    os.unlink(link)


def paths_in_xml(t, a, b, wd, outside, b_dir, secret):
    """Prepare3's domain XML from a peer: disks in storage_dirs, the rest in
    file_dirs; the cookie's size limits."""
    b_files = files_in(b_dir)
    evil_log = os.path.join(outside, 'evil.log')
    kernel = os.path.join(outside, 'guest.elf')
    with open(ft.GUEST, 'rb') as src, open(kernel, 'wb') as dst:
        dst.write(src.read())
    cases = (
        ('disk outside storage_dirs', Case(wd, 'xdisk', disks=vda(secret)), (),
         "disk 'vda': image '%s' is outside storage_dirs (%s)" % (secret, b_dir)),
        ('serial log outside file_dirs', Case(wd, 'xserial', serial=evil_log), (),
         "serial log '%s' is outside file_dirs" % evil_log),
        ('kernel outside file_dirs', Case(wd, 'xkernel', kernel=kernel), (),
         "kernel '%s' is outside file_dirs" % kernel),
        ('65 disks in the cookie',
         Case(wd, 'xmany', disks=vda(os.path.join(b_dir, 'm.raw')),
              cookie=cookie_xml([('vd%s' % chr(97 + i // 26) + chr(97 + i % 26), 'raw',
                                  1 << 20, None) for i in range(65)])), ('--all',),
         '65 disks, more than the limit of 64'),
        ('migration URI 0.0.0.0',
         Case(wd, 'xany', disks=vda(os.path.join(b_dir, 'any.raw')),
              cookie=cookie_xml([('vda', 'raw', 1 << 20, None)])),
         ('--all', '--uri', 'tcp://0.0.0.0/'),
         "migration URI names '0.0.0.0', which is not one address"),
        # A peer picks a port of the migration range, never any port.
        ('migration URI port 22',
         Case(wd, 'xport', disks=vda(os.path.join(b_dir, 'port.raw')),
              cookie=cookie_xml([('vda', 'raw', 1 << 20, None)])),
         ('--all', '--uri', 'tcp://%s:22/' % b.address),
         "migration port 22 is outside this host's range migration_port_min-"
         "migration_port_max (%d-%d)" % b.migration_ports),
        ('NBD port 80',
         Case(wd, 'xnbd', disks=vda(os.path.join(b_dir, 'nbd.raw')),
              cookie=cookie_xml([('vda', 'raw', 1 << 20, None)])),
         ('--all', '--disks-port', '80'),
         "migration port 80 is outside this host's range migration_port_min-"
         "migration_port_max (%d-%d)" % b.migration_ports),
    )
    for what, case, opts, says in cases:
        r = crafted(a, b, case, *opts)
        refused(t, 'Prepare3 over TCP, ' + what, r, says)
        check_nothing(t, what, b, case, b_dir, b_files, extra_file=evil_log)


def define_over_tcp(t, a, b, wd, outside, b_dir, secret):
    """A client over TCP defines domains: confined; root on the UNIX socket
    is not."""
    evil_log = os.path.join(outside, 'define.log')
    for what, case, says in (
            ('a root-only file as its disk', Case(wd, 'tdisk', disks=vda(secret)),
             "domain 'tdisk': disk 'vda': image '%s' is outside storage_dirs (%s)"
             % (secret, b_dir)),
            ('a serial log outside file_dirs', Case(wd, 'tserial', serial=evil_log),
             "domain 'tserial': serial log '%s' is outside file_dirs" % evil_log)):
        r = tcp_ferry(a, b, 'define', case.xml)
        refused(t, 'define over TCP with ' + what, r, says)
        t.ok(r.returncode == 1 and ft.dominfo(b, case.name) is None,
             'define over TCP with %s: not defined' % what, r.stderr)
        t.ok(not os.path.lexists(evil_log), 'define over TCP: %s not created' % evil_log)
    good_image = os.path.join(b_dir, 'tgood.raw')
    good = Case(wd, 'tgood', disks=vda(good_image))
    # Define checks that the image exists (qemu-define-check.c).
    with open(good_image, 'wb') as f:
        f.truncate(1 << 20)
    r = tcp_ferry(a, b, 'define', good.xml)
    t.ok(r.returncode == 0 and ft.dominfo(b, 'tgood') is not None,
         'define over TCP with every path inside: accepted', r.stderr)
    r = tcp_ferry(a, b, 'undefine', 'tgood')
    t.ok(r.returncode == 0, 'undefine over TCP', r.stderr)
    os.unlink(good_image)
    trusted = Case(wd, 'troot', disks=vda(secret))
    r = b.ferry('define', trusted.xml)
    t.ok(r.returncode == 0, 'root on the UNIX socket is trusted: its disk may be anywhere',
         r.stderr)
    b.ferry('undefine', 'troot')


def p2p_refused(t, a, b, wd, outside):
    """A --p2p migration: A's daemon runs Prepare on B over TCP, confined."""
    serial = os.path.join(wd, 'pp.serial')
    xml = os.path.join(wd, 'pp.xml')
    with open(xml, 'w') as f:
        f.write(ft.migratable_guest_xml('pp', serial, args='mem=8 rate=0 hb=100'))
    r = a.ferry('define', xml)
    r = a.ferry('start', 'pp') if r.returncode == 0 else r
    t.ok(r.returncode == 0, 'p2p: guest pp runs on A', r.stderr)
    info = ft.dominfo(a, 'pp')
    dom_uuid = info['uuid'] if info else None
    log, err = ft.wait_heartbeat(serial, 3)
    t.ok(log is not None, 'p2p: pp beats on A', err)
    evil_log = os.path.join(outside, 'p2p.log')
    bad_xml = os.path.join(wd, 'pp-bad.xml')
    with open(xml) as f, open(bad_xml, 'w') as out:
        out.write(f.read().replace(serial, evil_log))
    r = a.ferry('migrate', '--live', '--p2p', '--xml', bad_xml, 'pp', b.tcp_uri)
    t.ok(r.returncode == 1 and "serial log '%s' is outside file_dirs" % evil_log in r.stderr,
         'p2p with a serial log outside B\'s file_dirs: refused by B, naming it', r.stderr)
    info = ft.dominfo(a, 'pp')
    t.ok(info is not None and info['state'] == 'running', 'p2p refused: pp still runs on A',
         info)
    t.ok(not b.qemu_pids(dom_uuid) and not os.path.lexists(evil_log),
         'p2p refused: no QEMU on B, no file created')
    a.ferry('destroy', 'pp')
    a.ferry('undefine', 'pp')
    return dom_uuid


def persist_refused(t, a, b, wd, outside, b_dir):
    """The definition to persist travels in the cookies (<persistent>):
    refused by B's Prepare when a --p2p --persistent migration brings one
    naming a serial log outside B's file_dirs (A's own definition; the XML
    for B, --xml, is fine), and by B's Finish when a made-up Perform cookie
    brings it."""
    serial = os.path.join(outside, 'pf.serial')
    xml = os.path.join(wd, 'pf.xml')
    good_xml = os.path.join(wd, 'pf-b.xml')
    with open(xml, 'w') as f:
        f.write(ft.migratable_guest_xml('pf', serial, args='mem=8 rate=0 hb=100'))
    with open(xml) as f, open(good_xml, 'w') as out:
        out.write(f.read().replace(serial, os.path.join(wd, 'pf.serial')))
    # Root on A's UNIX socket may put its serial log anywhere.
    r = a.ferry('define', xml)
    r = a.ferry('start', 'pf') if r.returncode == 0 else r
    t.ok(r.returncode == 0, 'persist: guest pf runs on A, its serial log outside', r.stderr)
    info = ft.dominfo(a, 'pf')
    dom_uuid = info['uuid'] if info else None
    r = a.ferry('migrate', '--live', '--p2p', '--persistent', '--xml', good_xml, 'pf',
                b.tcp_uri)
    t.ok(r.returncode == 1 and "serial log '%s' is outside file_dirs" % serial in r.stderr,
         'p2p --persistent: A\'s definition to persist is refused by B, naming it', r.stderr)
    info = ft.dominfo(a, 'pf')
    t.ok(info is not None and info['state'] == 'running', 'persist refused: pf runs on A', info)
    t.ok(ft.wait_until(lambda: not b.qemu_pids(dom_uuid), 10) and
         ft.dominfo(b, 'pf') is None, 'persist refused: nothing of pf on B')
    a.ferry('destroy', 'pf')
    a.ferry('undefine', 'pf')

    # Finish: a Prepare B accepts, then a Perform cookie of the same
    # migration whose <persistent> definition names a file outside.
    b_files = files_in(b_dir)
    case = Case(wd, 'fin', disks=vda(os.path.join(b_dir, 'fin.raw')),
                cookie=cookie_xml([('vda', 'raw', 1 << 20, None)]))
    with open(case.cookie) as f:
        prepare_cookie = f.read()
    with open(case.xml) as f:
        definition = f.read().replace(os.path.join(wd, 'fin.serial'), serial)
    finish_cookie = os.path.join(wd, 'fin-finish.cookie')
    with open(finish_cookie, 'w') as f:
        f.write(prepare_cookie.replace('</ferry-migration>', '<persistent>%s</persistent>\n'
                                       '</ferry-migration>' % definition))
    r = crafted(a, b, case, '--all', '--persistent', '--finish', finish_cookie)
    t.ok('finish refused: Finish3 on host \'%s\': domain \'fin\': serial log \'%s\' is '
         'outside file_dirs' % (b.name, serial) in r.stdout,
         'Finish3 with a <persistent> definition naming a serial log outside: refused, '
         'naming it', r.stdout + r.stderr)
    check_nothing(t, 'Finish3 refused', b, case, b_dir, b_files)
    return dom_uuid


def listen_addresses(t, a, b, wd, b_dir):
    """A migration B accepted: everything it listens on is its migration
    address, with QEMU listening itself and with the relays."""
    for what, features in (('QEMU listening', ('nbd',)), ('relayed', ('nbd', 'relay'))):
        b_files = files_in(b_dir)
        case = Case(wd, 'lis%d' % len(features),
                    disks=vda(os.path.join(b_dir, 'lis.raw')),
                    cookie=cookie_xml([('vda', 'raw', 1 << 20, None)], features=features))
        p = crafted(a, b, case, '--all', hold=True)
        line = p.stdout.readline()
        t.ok(line.startswith('prepared: tcp://%s:' % b.address),
             '%s: a valid Prepare over TCP is accepted, URI on B\'s address' % what, line)
        socks = listening(b)
        t.ok(len(socks) >= 2 and all(addr == b.address for addr, _ in socks),
             '%s: the migration and NBD ports listen on %s only' % (what, b.address), socks)
        t.ok(not any(addr in ('0.0.0.0', '::') for addr, _ in socks),
             '%s: nothing on 0.0.0.0 or ::' % what, socks)
        out, err = p.communicate(input='', timeout=120)
        t.ok('given up' in out, '%s: given up (Finish3 cancelled)' % what, out + err)
        check_nothing(t, what + ', given up', b, case, b_dir, b_files)


def main(t):
    ft.require_e2e(t)
    t.ok(os.access(CRAFTED, os.X_OK), 'prerequisite: prepare-crafted built')
    wd = ft.Workdir('ferry-e2e-confine-')
    # Outside every directory B lets others name (not under the work
    # directory, which is in file_dirs).
    outside = ft.Workdir('ferry-e2e-outside-')
    a_dir = os.path.join(wd.path, 'images-a')
    b_dir = os.path.join(wd.path, 'images-b')
    secret_dir = os.path.join(outside.path, 'secret')
    secret = os.path.join(secret_dir, 'secret.img')
    for d in (a_dir, b_dir):
        os.makedirs(d)
    os.makedirs(secret_dir, mode=0o700)
    with open(secret, 'wb') as f:
        f.write(b'the root-only secret\n' * 1000)
    os.chmod(secret, 0o600)
    net = ft.TwoHosts(wd.path, extra_config=('storage_dirs = "%s"\n' % a_dir,
                                             'storage_dirs = "%s"\n' % b_dir), t=t)
    a, b = net.hosts
    uuids = []
    try:
        net.start()
        backing_file_read(t, a, b, wd.path, b_dir, secret_dir, secret)
        paths_in_xml(t, a, b, wd.path, outside.path, b_dir, secret)
        define_over_tcp(t, a, b, wd.path, outside.path, b_dir, secret)
        uuids.append(p2p_refused(t, a, b, wd.path, outside.path))
        uuids.append(persist_refused(t, a, b, wd.path, outside.path, b_dir))
        listen_addresses(t, a, b, wd.path, b_dir)
        log = b.log_text()
        t.ok('(confined to storage_dirs and file_dirs)' in log,
             'B\'s log says which connections it confined')
    finally:
        ft.teardown(net, wd, [u for u in uuids if u])
        outside.cleanup()


if __name__ == '__main__':
    ft.run(main)
