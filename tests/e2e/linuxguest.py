"""linuxguest: ferry's Linux test guest (guest/linux/) for the e2e tests.

A real Debian 12 kernel and busybox in an initramfs: a guest with a virtio
NIC, virtio-blk and virtio-scsi disks, a cdrom, a serial console, a
memballoon, a virtio rng and a virtio-serial channel, running two TCP
services on its address (ferry.ip= on its kernel command line): echo on
port 7 and a control service on port 2323 (guest/linux/README.md lists its
commands).  When its services are up it writes "FERRY-LINUX-READY <ip>" on
the channel org.ferry.test.0 and on its serial console.

Owns: building the guest (ensure_built), its domain XML (domain_xml), and
talking to it: the READY line (wait_ready), the control service (control),
the echo service (echo), sockets inside a network namespace
(netns_socket), the pattern of `fill` (fill_pattern).
Must not: start or stop QEMU or ferryd, or create namespaces: the tests do
(ferrytest has the pieces).
"""
import ctypes
import os
import select
import socket
import subprocess
import time
import uuid
from xml.sax.saxutils import escape

import ferrytest as ft

BUILD_SCRIPT = os.path.join(ft.SRC, 'guest', 'linux', 'build.sh')
CHANNEL_NAME = 'org.ferry.test.0'
READY = 'FERRY-LINUX-READY'
ERROR = 'FERRY-LINUX-ERROR'
ECHO_PORT = 7
CONTROL_PORT = 2323
# 256 MiB + 8 KiB: like ferrytest.MIGRATABLE_MEM_KIB, not a multiple of
# 256 KiB, the sizes QEMU 7.2 under TCG migrates correctly (see
# ferrytest.py).
MEM_KIB = 256 * 1024 + 8


def ensure_built(build_dir=ft.BUILD, compressed=False):
    """Builds the guest into @build_dir/linux-guest with guest/linux/build.sh
    (nothing to do when it is up to date; the first build downloads
    Debian's kernel and busybox-static packages with apt-get download).

    Returns (kernel path, initramfs path).  The kernel is vmlinux, the
    uncompressed kernel QEMU boots through its PVH entry point, 4 s faster
    under TCG than Debian's compressed vmlinuz; with @compressed, vmlinuz
    itself (the same kernel, booted as a bzImage).  Raises RuntimeError
    with the script's own message when it fails."""
    out = os.path.join(build_dir, 'linux-guest')
    r = subprocess.run([BUILD_SCRIPT, out], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=900)
    if r.returncode != 0:
        raise RuntimeError('%s %s failed (exit %d): %s' % (BUILD_SCRIPT, out, r.returncode,
                                                          r.stderr.strip()))
    return (os.path.join(out, 'vmlinuz' if compressed else 'vmlinux'),
            os.path.join(out, 'initramfs.cpio.gz'))


def kernel_cmdline(ip, prefix=24, gw=None, extra=''):
    """The guest's kernel command line: its console on ttyS0 and its
    address @ip/@prefix (ferry.ip=), a default route via @gw when given,
    then @extra."""
    words = ['console=ttyS0', 'ferry.ip=%s/%d' % (ip, prefix)]
    if gw:
        words.append('ferry.gw=' + gw)
    if extra:
        words.append(extra)
    return ' '.join(words)


def _q(value):
    """@value as an XML attribute value, in single quotes."""
    return "'%s'" % escape(str(value), {"'": '&apos;', '"': '&quot;'})


def _bus_of(target):
    """The bus libvirt gives a disk target by its prefix."""
    for prefix, bus in (('vd', 'virtio'), ('sd', 'scsi'), ('hd', 'ide')):
        if target.startswith(prefix):
            return bus
    raise ValueError('disk target %r: expected vdX (virtio), sdX (scsi) or hdX (ide)' % target)


def _disk(device, target, bus, path, fmt='raw', readonly=False):
    return ("    <disk type='file' device=%s>\n"
            "      <driver name='qemu' type=%s/>\n"
            "      <source file=%s/>\n"
            "      <target dev=%s bus=%s/>\n"
            "%s"
            "    </disk>\n") % (_q(device), _q(fmt), _q(path),
                                _q(target), _q(bus),
                                '      <readonly/>\n' if readonly else '')


def domain_xml(name, kernel, initrd, ip, disks=(), cdrom=None, cdrom_bus='ide',
               serial_log=None, channel=None, bridge='br0', mac=None, nic_model='virtio',
               prefix=24, gw=None, cmdline_extra='', mem_kib=MEM_KIB, vcpus=1,
               dom_uuid=None, pty_console=True, vnc=False, balloon=True, rng=True):
    """The Linux guest as ferry domain XML (libvirt's format).

    @kernel, @initrd: what ensure_built() returned.  @ip: the guest's
    address on the bridge @bridge (prefix length @prefix, default route
    via @gw if given).
    @disks: (target, path) or (target, path, format) tuples; the target's
    prefix sets the bus: vdX virtio-blk, sdX scsi (a virtio-scsi controller
    is added), hdX ide.
    @cdrom: an ISO (or raw) image for a cdrom on @cdrom_bus, 'ide' (target
    hdc, the secondary master) or 'sata' (a sata controller is added; the
    target is the first sdX the scsi disks left free); None: no cdrom.
    @serial_log: the serial port's log file (the console, ttyS0); None: a
    pty.  @channel: the path of the unix socket of the virtio-serial
    channel org.ferry.test.0, QEMU listening (mode bind; wait_ready()
    connects to it); None: no channel (READY on the console only).
    @mac: the NIC's MAC (None: ferry assigns one); @nic_model: virtio,
    e1000 or rtl8139 (the guest finds each by its driver).
    @mem_kib: RAM in KiB (default MEM_KIB, migratable); @pty_console: a
    virtio console (hvc0) on a pty; @vnc: a VNC display on 127.0.0.1 and
    a cirrus card; @balloon: a virtio memballoon; @rng: a virtio rng fed
    by /dev/urandom.
    """
    devices = []
    scsi_targets = []
    for d in disks:
        target, path = d[0], d[1]
        fmt = d[2] if len(d) > 2 else 'raw'
        bus = _bus_of(target)
        if bus == 'scsi':
            scsi_targets.append(target)
        devices.append(_disk('disk', target, bus, path, fmt))
    controllers = []
    if scsi_targets:
        controllers.append("    <controller type='scsi' index='0' model='virtio-scsi'/>\n")
    if cdrom:
        if cdrom_bus == 'ide':
            target = 'hdc'
        elif cdrom_bus == 'sata':
            target = next('sd' + c for c in 'abcdefghijklmnopqrstuvwxyz'
                          if 'sd' + c not in scsi_targets)
            controllers.append("    <controller type='sata' index='0'/>\n")
        else:
            raise ValueError("cdrom_bus %r: expected 'ide' or 'sata'" % cdrom_bus)
        devices.append(_disk('cdrom', target, cdrom_bus, cdrom, readonly=True))
    if channel or pty_console:
        controllers.append("    <controller type='virtio-serial' index='0'/>\n")
    nic = "    <interface type='bridge'>\n"
    if mac:
        nic += '      <mac address=%s/>\n' % _q(mac)
    nic += ('      <source bridge=%s/>\n'
            '      <model type=%s/>\n'
            '    </interface>\n') % (_q(bridge), _q(nic_model))
    devices.append(nic)
    if serial_log:
        devices.append("    <serial type='file'>\n"
                       "      <source path=%s/>\n"
                       "      <target port='0'/>\n"
                       "    </serial>\n" % _q(serial_log))
    else:
        devices.append("    <serial type='pty'>\n"
                       "      <target port='0'/>\n"
                       "    </serial>\n")
    if pty_console:
        devices.append("    <console type='pty'>\n"
                       "      <target type='virtio' port='0'/>\n"
                       "    </console>\n")
    if channel:
        devices.append("    <channel type='unix'>\n"
                       "      <source mode='bind' path=%s/>\n"
                       "      <target type='virtio' name=%s/>\n"
                       "    </channel>\n" % (_q(channel), _q(CHANNEL_NAME)))
    if vnc:
        devices.append("    <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/>\n"
                       "    <video>\n"
                       "      <model type='cirrus'/>\n"
                       "    </video>\n")
    if balloon:
        devices.append("    <memballoon model='virtio'/>\n")
    if rng:
        devices.append("    <rng model='virtio'>\n"
                       "      <backend model='random'>/dev/urandom</backend>\n"
                       "    </rng>\n")
    return """<domain type='qemu'>
  <name>%s</name>
  <uuid>%s</uuid>
  <memory unit='KiB'>%d</memory>
  <vcpu>%d</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>%s</kernel>
    <initrd>%s</initrd>
    <cmdline>%s</cmdline>
  </os>
  <devices>
%s%s  </devices>
</domain>
""" % (escape(name), dom_uuid or uuid.uuid4(), mem_kib, vcpus, escape(kernel), escape(initrd),
       escape(kernel_cmdline(ip, prefix, gw, cmdline_extra)), ''.join(controllers),
       ''.join(devices))


# setns(2) on the calling thread only: a socket made while the thread is in
# a namespace stays there, and the thread goes back at once.  (Python 3.11,
# Debian 12's, has no os.setns.)
_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd, what):
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, 'setns(%s): %s' % (what, os.strerror(err)))


def netns_socket(netns, family=socket.AF_INET, type=socket.SOCK_STREAM):
    """A new socket in the network namespace @netns (a name of `ip netns`),
    or in this process's own when @netns is None."""
    if not netns:
        return socket.socket(family, type)
    with open('/proc/thread-self/ns/net') as own, open('/run/netns/' + netns) as target:
        _setns(target.fileno(), netns)
        try:
            return socket.socket(family, type)
        finally:
            _setns(own.fileno(), 'back to the test\'s own namespace')


def connect(addr, port, netns=None, timeout=30):
    """A connected stream socket: to TCP @addr:@port from namespace
    @netns, or, when @addr is a path (starts with '/'), to that unix
    socket.  @timeout applies to the connect and to later operations."""
    if addr.startswith('/'):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target = addr
    else:
        s = netns_socket(netns)
        target = (addr, port)
    s.settimeout(timeout)
    try:
        s.connect(target)
    except OSError:
        s.close()
        raise
    return s


def wait_ready(channel_socket_path, timeout=60, proc=None):
    """Waits for the guest's "FERRY-LINUX-READY <ip>" line on its channel,
    whose unix socket QEMU listens on at @channel_socket_path; returns
    <ip>.

    QEMU creates the socket as it starts: until it exists and accepts,
    connecting is retried every 20 ms.  Then the line is awaited with
    select (the guest writes it once its services listen; its write waits
    for this connection).  Raises TimeoutError after @timeout seconds,
    RuntimeError if the guest reports "FERRY-LINUX-ERROR ...", the channel
    closes, or @proc (QEMU's Popen, optional) exits first."""
    deadline = time.monotonic() + timeout
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        while True:
            try:
                s.connect(channel_socket_path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError('QEMU exited (%s) before its channel %s accepted' %
                                       (proc.returncode, channel_socket_path))
                if time.monotonic() > deadline:
                    raise TimeoutError('channel %s: no socket to connect to after %d s' %
                                       (channel_socket_path, timeout))
                time.sleep(0.02)
        buf = b''
        while True:
            while b'\n' in buf:
                line, buf = buf.split(b'\n', 1)
                text = line.decode(errors='replace').strip()
                if text.startswith(READY + ' '):
                    return text.split()[1]
                if text.startswith(ERROR):
                    raise RuntimeError('guest: ' + text)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError('channel %s: no %s line within %d s (read %r)' %
                                   (channel_socket_path, READY, timeout, buf[-200:]))
            # QEMU's exit closes the socket: the read sees it.
            if not select.select([s], [], [], min(left, 1.0))[0]:
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError('QEMU exited (%s) before the guest was ready' %
                                       proc.returncode)
                continue
            data = s.recv(4096)
            if not data:
                raise RuntimeError('channel %s closed before the %s line' %
                                   (channel_socket_path, READY))
            buf += data
    finally:
        s.close()


def control(addr, cmd, netns=None, timeout=60, port=CONTROL_PORT):
    """Sends one command line @cmd to the guest's control service and
    returns its answer (text, the final newline removed).

    @addr: the guest's IP address, reached from namespace @netns, or the
    path of a unix socket that leads to the service (a forwarder).  Long
    commands (`sum` of a large disk under TCG, `fill`) take seconds:
    @timeout bounds the whole exchange."""
    s = connect(addr, port, netns, timeout)
    try:
        s.sendall(cmd.encode() + b'\n')
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    finally:
        s.close()
    text = b''.join(chunks).decode(errors='replace')
    return text[:-1] if text.endswith('\n') else text


def echo_exchange(s, data, timeout=60):
    """Sends @data on the connected socket @s while reading what comes
    back (both at once: the echo returns bytes as they arrive, and waiting
    to read after sending everything would fill both socket buffers), half
    closes, and returns everything read until the peer closes."""
    s.setblocking(False)
    deadline = time.monotonic() + timeout
    sent = 0
    got = []
    shut = False
    while True:
        if sent == len(data) and not shut:
            s.shutdown(socket.SHUT_WR)
            shut = True
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError('echo: %d of %d bytes sent, %d back after %d s' %
                               (sent, len(data), sum(map(len, got)), timeout))
        readable, writable, _ = select.select([s], [s] if not shut else [], [], left)
        if writable:
            try:
                sent += s.send(data[sent:sent + 65536])
            except BlockingIOError:
                pass
        if readable:
            chunk = s.recv(65536)
            if not chunk:
                return b''.join(got)
            got.append(chunk)


def echo(addr, data, netns=None, timeout=60, port=ECHO_PORT):
    """Sends @data to the guest's echo service at @addr (from namespace
    @netns) and returns what came back."""
    s = connect(addr, port, netns, timeout)
    try:
        return echo_exchange(s, data, timeout)
    finally:
        s.close()


def fill_pattern(seed):
    """The 1 MiB the guest's `fill DEV SEED` writes (and `check` expects):
    2048 sectors, each a 32-byte line naming @seed and the sector's offset,
    then @seed repeated.  The same bytes as ferry-ctl's awk makes."""
    filler = ''
    while len(filler) < 480:
        filler += seed + '.'
    filler = filler[:479] + '\n'
    return b''.join(('ferry %-16s %08x\n%s' % (seed, i * 512, filler)).encode()
                    for i in range(2048))
