#!/usr/bin/env python3
"""Smoke test of the Linux test guest (guest/linux/), without ferry's daemons.

Builds the guest (guest/linux/build.sh, through linuxguest.ensure_built),
then starts QEMU itself -- ferry's support for these devices is being
written -- with the devices the guest is for: a virtio NIC on a tap in a
bridge br0 (10.88.0.1/24) of a network namespace of this run, a virtio-blk
and a virtio-scsi disk, an IDE cdrom holding an ISO, a serial console in a
file, a virtio console on a pty, a memballoon, a virtio rng and the
virtio-serial channel org.ferry.test.0 on a unix socket.  It waits for the
guest's READY line on the channel (an event: the boot time printed is QEMU
start to READY), then checks from the namespace: 1 MiB of random bytes
through the echo service, with a second connection served while the first
is open; the control service's sums of the disks and the cdrom against the
images' on the host; its list of devices; fill and check, and that check
reads the disk (a byte changed on the host is seen); its other commands,
and that it refuses what it does not know.

Needs root (namespace, bridge, tap), QEMU and genisoimage: without them it
fails, saying which.
"""
import ctypes
import hashlib
import os
import signal
import subprocess
import time

import ferrytest as ft
import linuxguest as lg

QEMU = '/usr/bin/qemu-system-x86_64'
GENISOIMAGE = '/usr/bin/genisoimage'
GUEST_IP = '10.88.0.10'
HOST_IP = '10.88.0.1'
MiB = 1024 * 1024
VDA_SIZE = 16 * MiB
SDA_SIZE = 8 * MiB


def sha256_file(path, limit=None):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        left = limit
        while left is None or left > 0:
            chunk = f.read(MiB if left is None else min(MiB, left))
            if not chunk:
                break
            h.update(chunk)
            if left is not None:
                left -= len(chunk)
    return h.hexdigest()


def die_with_parent():
    """In QEMU's process before it runs: killed if the test dies (a meson
    timeout) rather than left running; PR_SET_PDEATHSIG survives the
    exec of `ip netns exec` and of QEMU."""
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def make_namespace(ns):
    """The namespace @ns with a bridge br0 (HOST_IP/24) and a tap in it,
    for QEMU.  Returns the tap's name."""
    ft.ip('netns', 'add', ns)
    ft.ip('-n', ns, 'link', 'set', 'lo', 'up')
    ft.ip('-n', ns, 'link', 'add', 'br0', 'type', 'bridge')
    # A port forwards as soon as it is up, as a plain switch does.
    ft.ip('-n', ns, 'link', 'set', 'br0', 'type', 'bridge', 'stp_state', '0',
          'forward_delay', '0')
    ft.ip('-n', ns, 'addr', 'add', HOST_IP + '/24', 'dev', 'br0')
    ft.ip('-n', ns, 'link', 'set', 'br0', 'up')
    tap = 'flgtap0'
    ft.ip('-n', ns, 'tuntap', 'add', 'dev', tap, 'mode', 'tap')
    ft.ip('-n', ns, 'link', 'set', tap, 'master', 'br0')
    ft.ip('-n', ns, 'link', 'set', tap, 'up')
    return tap


def qemu_command(ns, tap, kernel, initrd, wd, images):
    """QEMU's command line, in namespace @ns, for the devices
    linuxguest.domain_xml() describes."""
    def blockdev(node, path, readonly=False):
        ro = 'on' if readonly else 'off'
        return ['-blockdev', 'driver=file,filename=%s,node-name=%s-file,read-only=%s' %
                (path, node, ro),
                '-blockdev', 'driver=raw,file=%s-file,node-name=%s,read-only=%s' % (node, node, ro)]
    return (ft.netns_prefix(ns) + [
        QEMU, '-machine', 'pc,accel=tcg', '-m', '256', '-nodefaults', '-no-user-config',
        '-display', 'none',
        '-kernel', kernel, '-initrd', initrd,
        '-append', lg.kernel_cmdline(GUEST_IP),
        '-chardev', 'file,id=serial0,path=%s' % images['serial'],
        '-device', 'isa-serial,chardev=serial0',
        '-netdev', 'tap,id=net0,ifname=%s,script=no,downscript=no' % tap,
        '-device', 'virtio-net-pci,netdev=net0,mac=52:54:00:4c:47:0a'] +
        blockdev('vda', images['vda']) + ['-device', 'virtio-blk-pci,drive=vda,id=vda'] +
        ['-device', 'virtio-scsi-pci,id=scsi0'] +
        blockdev('sda', images['sda']) + ['-device', 'scsi-hd,drive=sda,bus=scsi0.0,id=sda'] +
        blockdev('hdc', images['cdrom'], readonly=True) +
        ['-device', 'ide-cd,drive=hdc,bus=ide.1,unit=0,id=hdc',
         '-device', 'virtio-serial-pci,id=vserial0',
         '-chardev', 'pty,id=console0',
         '-device', 'virtconsole,chardev=console0,bus=vserial0.0,nr=0',
         '-chardev', 'socket,id=channel0,path=%s,server=on,wait=off' % images['channel'],
         '-device', 'virtserialport,chardev=channel0,bus=vserial0.0,name=%s' % lg.CHANNEL_NAME,
         '-device', 'virtio-balloon-pci,id=balloon0',
         '-object', 'rng-random,id=rng0,filename=/dev/urandom',
         '-device', 'virtio-rng-pci,rng=rng0',
         '-pidfile', os.path.join(wd, 'qemu.pid')])


def check_echo(t, ns):
    data = os.urandom(MiB)
    t0 = time.monotonic()
    back = lg.echo(GUEST_IP, data, netns=ns)
    t.ok(back == data, 'echo: 1 MiB of random bytes comes back intact (%.1f s)' %
         (time.monotonic() - t0), 'sent %d bytes, got %d back, equal prefix: %s' %
         (len(data), len(back), back == data[:len(back)]))
    # Several at once: a second connection is served while the first one
    # stays open, its exchange not finished.
    first = lg.connect(GUEST_IP, lg.ECHO_PORT, ns)
    try:
        first.sendall(b'first\n')
        got = b''
        while len(got) < 6:
            chunk = first.recv(64)
            if not chunk:
                break
            got += chunk
        second = lg.echo(GUEST_IP, b'second\n' * 1000, netns=ns, timeout=30)
        rest = lg.echo_exchange(first, b'first again\n', timeout=30)
        t.ok(got == b'first\n' and second == b'second\n' * 1000 and rest == b'first again\n',
             'echo: a second connection is served while the first is open',
             'first %r, second %d bytes, first again %r' % (got, len(second), rest))
    finally:
        first.close()


def check_control(t, ns, images, cdrom_size):
    ctl = lambda cmd, timeout=60: lg.control(GUEST_IP, cmd, netns=ns, timeout=timeout)

    devs = {}
    answer = ctl('devs')
    for line in answer.splitlines():
        words = line.split()
        if len(words) == 3:
            devs[words[0]] = (int(words[1]), words[2])
    t.ok(devs.get('vda') == (VDA_SIZE, 'rw') and devs.get('sda') == (SDA_SIZE, 'rw') and
         devs.get('sr0') == (cdrom_size, 'ro'),
         'devs: vda (virtio-blk), sda (virtio-scsi) and the cdrom sr0, with their sizes',
         answer)

    for dev, image in (('vda', images['vda']), ('sda', images['sda']),
                       ('sr0', images['cdrom'])):
        t0 = time.monotonic()
        answer = ctl('sum ' + dev)
        want = '%s  /dev/%s' % (sha256_file(image), dev)
        t.ok(answer == want, 'sum %s: the sha256 of the image on the host (%.1f s)' %
             (dev, time.monotonic() - t0), 'got %r, want %r' % (answer, want))

    seed = 'smoke-1'
    pattern = lg.fill_pattern(seed)
    answer = ctl('fill sda ' + seed)
    t.ok(answer == hashlib.sha256(pattern).hexdigest(),
         'fill sda: answers the sha256 of the pattern linuxguest.fill_pattern() makes', answer)
    with open(images['sda'], 'rb') as f:
        head = f.read(MiB)
    t.ok(head == pattern, 'fill sda: the pattern is in the image on the host',
         'first difference at byte %s' % next((i for i in range(len(head))
                                               if head[i] != pattern[i]), len(head)))
    answer = ctl('check sda ' + seed)
    t.ok(answer == 'OK', 'check sda: OK after fill', answer)
    answer = ctl('check sda other')
    t.ok(answer.startswith('BAD '), 'check sda with another seed: BAD', answer)
    # A byte changed behind the guest's back: check reads the disk, not the
    # guest's page cache.
    with open(images['sda'], 'r+b') as f:
        f.seek(300000)
        old = f.read(1)
        f.seek(300000)
        f.write(bytes([old[0] ^ 0xff]))
    answer = ctl('check sda ' + seed)
    t.ok(answer.startswith('BAD '), 'check sda: BAD once a byte changed on the host', answer)
    answer = ctl('fill sr0 ' + seed)
    t.ok(answer == 'ERR /dev/sr0 is read-only', 'fill sr0: refused, read-only', answer)

    answer = ctl('net')
    t.ok('inet %s/24' % GUEST_IP in answer and 'eth0' in answer,
         'net: eth0 holds %s/24' % GUEST_IP, answer)
    answer = ctl('mem')
    words = answer.split()
    t.ok(len(words) == 3 and words[0] == 'MemTotal:' and 150000 < int(words[1]) <= 262144,
         'mem: MemTotal of a 256 MiB guest', answer)
    answer = ctl('uptime')
    try:
        up = float(answer)
    except ValueError:
        up = -1
    t.ok(up > 0, 'uptime: seconds since boot', answer)
    for bad in ('reboot', 'sum vda;reboot', 'sum $(reboot)', 'sum ../../proc/kcore',
                'sum', 'fill sda a b c', 'devs *', ''):
        answer = ctl(bad)
        t.ok(answer.startswith('ERR '), 'refused: %r' % bad, answer)
    answer = ctl('launch missiles')
    t.ok(answer == 'ERR unknown command', 'an unknown command: "ERR unknown command"', answer)


def main(t):
    t_start = time.monotonic()
    ft.require(t, os.geteuid() == 0, 'root: the test makes a network namespace, bridge and tap')
    ft.require(t, os.access(QEMU, os.X_OK), 'qemu-system-x86_64 installed (scripts/install-deps)')
    ft.require(t, os.access(GENISOIMAGE, os.X_OK),
               'genisoimage installed, for the cdrom (scripts/install-deps)')

    t0 = time.monotonic()
    try:
        kernel, initrd = lg.ensure_built()
        built = None
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        built = str(e)
    t.ok(built is None, 'guest/linux/build.sh builds the guest (%.1f s)' %
         (time.monotonic() - t0), built)
    if built is not None:
        return
    t.comment('kernel %s %d bytes, initramfs %d bytes' % (os.path.basename(kernel),
                                                          os.path.getsize(kernel),
                                                         os.path.getsize(initrd)))

    wd = ft.Workdir('ferry-linux-guest-')
    ns = 'flg-%d' % os.getpid()
    qemu = None
    qemu_log = None
    try:
        images = {
            'vda': os.path.join(wd.path, 'vda.img'),
            'sda': os.path.join(wd.path, 'sda.img'),
            'cdrom': os.path.join(wd.path, 'cdrom.iso'),
            'serial': os.path.join(wd.path, 'serial.log'),
            'channel': os.path.join(wd.path, 'channel.sock'),
        }
        for name, size in (('vda', VDA_SIZE), ('sda', SDA_SIZE)):
            with open(images[name], 'wb') as f:
                f.write(os.urandom(size))
        isodir = os.path.join(wd.path, 'iso')
        os.mkdir(isodir)
        with open(os.path.join(isodir, 'ferry.txt'), 'wb') as f:
            f.write(os.urandom(64 * 1024))
        r = subprocess.run([GENISOIMAGE, '-quiet', '-V', 'FERRYTEST', '-o', images['cdrom'],
                            isodir], capture_output=True, text=True, timeout=60)
        t.ok(r.returncode == 0, 'genisoimage makes the cdrom image', r.stderr)
        cdrom_size = os.path.getsize(images['cdrom'])

        tap = make_namespace(ns)
        qemu_log = open(os.path.join(wd.path, 'qemu.log'), 'wb')
        t_boot = time.monotonic()
        qemu = subprocess.Popen(qemu_command(ns, tap, kernel, initrd, wd.path, images),
                                stdin=subprocess.DEVNULL, stdout=qemu_log, stderr=qemu_log,
                                preexec_fn=die_with_parent)
        try:
            ip = lg.wait_ready(images['channel'], timeout=90, proc=qemu)
            err = None
        except (RuntimeError, TimeoutError, OSError) as e:
            ip, err = None, str(e)
        boot = time.monotonic() - t_boot
        if err:
            with open(os.path.join(wd.path, 'qemu.log'), errors='replace') as f:
                err += '\nqemu: ' + f.read()[-2000:]
            with open(images['serial'], errors='replace') as f:
                err += '\nserial console, last lines:\n' + ''.join(f.readlines()[-30:])
        t.ok(ip == GUEST_IP, 'the guest reports READY %s on its channel' % GUEST_IP, err)
        t.comment('boot time (QEMU start to READY on the channel): %.1f s' % boot)
        if ip != GUEST_IP:
            return
        with open(images['serial'], errors='replace') as f:
            console = f.read()
        t.ok('%s %s' % (lg.READY, GUEST_IP) in console, 'the console says READY too',
             console[-2000:])

        check_echo(t, ns)
        check_control(t, ns, images, cdrom_size)
        t.ok(qemu.poll() is None, 'QEMU still runs at the end', 'exit %s' % qemu.returncode)
    finally:
        if qemu is not None:
            if qemu.poll() is None:
                qemu.kill()
            qemu.wait(timeout=30)
        if qemu_log:
            qemu_log.close()
        subprocess.run(['ip', 'netns', 'delete', ns], capture_output=True, timeout=30)
        wd.cleanup()
        t.comment('test runtime: %.1f s' % (time.monotonic() - t_start))


if __name__ == '__main__':
    ft.run(main)
