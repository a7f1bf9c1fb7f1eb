#!/usr/bin/env python3
"""A real VM and its network across two moves.

Two ferryd in network namespaces; the guests' layer-2 segment is a bridge
in each host (br0 on A, lan0 on B), the two joined by a veth pair, and a
third namespace, the peer, plugged into A's bridge.  The guest is a Debian
kernel with a busybox initramfs (guest/linux) and the devices people run:
a virtio NIC on the bridge, a virtio-blk and a virtio-scsi disk, a cdrom on
the scsi bus, a pty console, a VNC display, a memballoon holding back 32
MiB, and a virtio-serial channel on which the guest says it is ready.

* define: every device is accepted, addresses and the MAC are written into
  the definition; the guest boots and says so on its channel.
* A destination XML that changes the NIC's model, or a disk's PCI address,
  is refused naming the device; one naming a bridge B does not have is
  refused by B, naming the bridge, and leaves no tap there; the guest
  keeps running on A.
* The peer opens a TCP connection to the guest's echo service and keeps it
  busy through A -> B (with a destination XML that changes only host-side
  things: the bridge's name and the channel's path) and B -> A: the
  connection stays open, every byte comes back intact, and each move's
  stall (the longest gap in the echo) is reported.
* After each move: the guest's disks verify (the virtio disk's sha256 as
  the host computed it; a pattern written to the scsi disk before the first
  move reads back), the balloon still holds (MemTotal), the VNC and SPICE
  displays (autoport) listen on the host the guest runs on, the console's pty exists there,
  and A's bridge forwards the guest's MAC the right way.
* A's ferryd killed and started again: the live and persistent
  definitions read back the same, and the guest still answers.
"""
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time

import ferrytest as ft
import linuxguest

NAME = 'lan1'
GUEST_IP = ft.TwoHosts.LAN_PREFIX + '10'
MEM_MIB = 256
CURRENT_MIB = 224


def sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def random_image(path, mib):
    with open(path, 'wb') as f:
        f.write(os.urandom(mib << 20))
    return sha256(path)


def domain_xml(wd, kernel, initrd, bridge, chan, vda, sda, cdrom, slot=None, model='virtio'):
    """The domain as `virsh dumpxml` would write it (no addresses but the
    one @slot forces on vda, so the test sees ferry assign them)."""
    vda_addr = ("\n      <address type='pci' domain='0x0000' bus='0x00' slot='%s' "
                "function='0x0'/>" % slot) if slot else ''
    return """<domain type='qemu'>
  <name>%(name)s</name>
  <uuid>5a0c4a8e-3f7d-4b7e-9d61-2c8f0e9b1a11</uuid>
  <title>Linux guest on a bridge</title>
  <description>e2e: a real VM and its network across two moves</description>
  <metadata>
    <ferrytest:case xmlns:ferrytest="http://ferry.example/test/1">real-vm</ferrytest:case>
  </metadata>
  <memory unit='KiB'>%(mem)d</memory>
  <currentMemory unit='KiB'>%(cur)d</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>%(kernel)s</kernel>
    <initrd>%(initrd)s</initrd>
    <cmdline>console=ttyS0 ferry.ip=%(ip)s/24 quiet</cmdline>
  </os>
  <features>
    <acpi/>
    <apic/>
  </features>
  <cpu mode='custom' match='exact' check='none'>
    <model fallback='forbid'>qemu64</model>
  </cpu>
  <clock offset='utc'>
    <timer name='rtc' tickpolicy='catchup'/>
    <timer name='pit' tickpolicy='delay'/>
  </clock>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='writeback' discard='unmap'/>
      <source file='%(vda)s'/>
      <target dev='vda' bus='virtio'/>%(vda_addr)s
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='%(sda)s'/>
      <target dev='sda' bus='scsi'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='%(cdrom)s'/>
      <target dev='sdb' bus='scsi'/>
      <readonly/>
    </disk>
    <controller type='scsi' index='0' model='virtio-scsi'/>
    <controller type='virtio-serial' index='0'/>
    <interface type='bridge'>
      <source bridge='%(bridge)s'/>
      <model type='%(model)s'/>
    </interface>
    <console type='pty'>
      <target type='serial' port='0'/>
    </console>
    <channel type='unix'>
      <source mode='bind' path='%(chan)s'/>
      <target type='virtio' name='org.ferry.test.0'/>
    </channel>
    <input type='mouse' bus='ps2'/>
    <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'>
      <listen type='address' address='127.0.0.1'/>
    </graphics>
    <graphics type='spice' autoport='yes' listen='127.0.0.1'>
      <listen type='address' address='127.0.0.1'/>
    </graphics>
    <audio id='1' type='spice'/>
    <video>
      <model type='cirrus' vram='16384' heads='1' primary='yes'/>
    </video>
    <memballoon model='virtio'/>
  </devices>
  <seclabel type='dynamic' model='dac' relabel='yes'/>
</domain>
""" % {'name': NAME, 'mem': MEM_MIB * 1024, 'cur': CURRENT_MIB * 1024, 'kernel': kernel,
       'initrd': initrd, 'ip': GUEST_IP, 'vda': vda, 'sda': sda, 'cdrom': cdrom,
       'bridge': bridge, 'chan': chan, 'vda_addr': vda_addr, 'model': model}


def write(path, text):
    with open(path, 'w') as f:
        f.write(text)
    return path


def control(net, cmd):
    """One command to the guest's control service, from the peer."""
    code = ('import socket,sys;s=socket.create_connection((sys.argv[1],2323),timeout=60);'
            's.sendall((sys.argv[2]+"\\n").encode());b=b""\n'
            'while True:\n d=s.recv(65536)\n if not d: break\n b+=d\n'
            'sys.stdout.write(b.decode(errors="replace"))')
    r = subprocess.run(['ip', 'netns', 'exec', net.lan_peer, sys.executable, '-c', code,
                        GUEST_IP, cmd], capture_output=True, text=True, timeout=120)
    return r.stdout.strip() if r.returncode == 0 else 'FAILED: ' + r.stderr.strip()


def vnc_ports(host):
    return [p for p in ft.listening_tcp_ports(host.netns) if 5900 <= p < 6000]


def taps(host):
    """The tap devices ferryd made in @host's namespace."""
    r = subprocess.run(ft.netns_prefix(host.netns) + ['ip', '-o', 'link', 'show', 'type', 'tun'],
                       capture_output=True, text=True, timeout=30)
    return [line.split(':')[1].strip() for line in r.stdout.splitlines() if ':' in line]


def live_xml(host):
    r = host.ferry('dumpxml', NAME)
    return r.stdout if r.returncode == 0 else ''


def pty_of(host):
    m = re.search(r"<console type='pty'>\s*<source path='([^']+)'", live_xml(host))
    return m.group(1) if m else None


class Stream:
    """lan-stream.py in the peer's namespace."""

    def __init__(self, net):
        self.proc = subprocess.Popen(
            ['ip', 'netns', 'exec', net.lan_peer, sys.executable,
             os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lan-stream.py'),
             GUEST_IP, '7'], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def line(self):
        return self.proc.stdout.readline().strip()

    def mark(self, name):
        self.proc.stdin.write('mark %s\n' % name)
        self.proc.stdin.flush()
        while True:
            got = self.line()
            if got == 'ok %s' % name or not got:
                return
            if got.startswith('error'):
                self.error = got

    def stop(self):
        self.proc.stdin.write('stop\n')
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith('{'):
                self.proc.wait(30)
                return json.loads(line)
        self.proc.wait(30)
        return None


def stall(result, start, end):
    """The longest echo gap beginning between marks @start and @end (the
    end mark is taken right after the move, so allow 5 s more)."""
    m = result['marks']
    gaps = [g[1] for g in result['gaps'] if m[start] - 0.5 <= g[0] <= m[end] + 5]
    return max(gaps) if gaps else 0


def check_guest(t, net, host, where, vda_sum):
    got = control(net, 'sum vda')
    t.ok(got.split()[:1] == [vda_sum], '%s: the virtio disk reads as the host wrote it' % where,
         got)
    got = control(net, 'check sda 7')
    t.ok('OK' in got, '%s: the pattern written on the scsi disk reads back' % where, got)
    got = control(net, 'mem')
    kib = int(re.search(r'(\d+)', got).group(1)) if re.search(r'(\d+)', got) else 0
    t.ok(0 < kib <= CURRENT_MIB * 1024, '%s: the balloon holds (MemTotal %d KiB <= %d MiB)'
         % (where, kib, CURRENT_MIB), got)
    t.ok(vnc_ports(host) != [], '%s: the VNC display listens on %s' % (where, host.name),
         ft.listening_tcp_ports(host.netns))
    m = re.search(r"<graphics type='spice' port='(\d+)'", live_xml(host))
    spice = int(m.group(1)) if m else None
    t.ok(spice is not None and spice in ft.listening_tcp_ports(host.netns),
         '%s: the SPICE display listens on %s, port %s' % (where, host.name, spice),
         live_xml(host))
    pty = pty_of(host)
    t.ok(pty is not None and os.path.exists(pty), '%s: the console is pty %s' % (where, pty),
         live_xml(host))


def main(t):
    ft.require_e2e(t)
    ft.require(t, os.geteuid() == 0, 'root (network namespaces, bridges and taps)')
    kernel, initrd = linuxguest.ensure_built(ft.BUILD)
    wd = ft.Workdir('ferry-realvm-')
    net = ft.TwoHosts(wd.path, t=t)
    stream = None
    try:
        net.add_lan(bridges=('br0', 'lan0'))
        a, b = net.hosts
        net.start()
        t.comment('guests\' segment: br0 on A, lan0 on B, joined; peer %s at %s3' %
                  (net.lan_peer, ft.TwoHosts.LAN_PREFIX))
        vda = os.path.join(wd.path, 'vda.raw')
        sda = os.path.join(wd.path, 'sda.raw')
        cdrom = os.path.join(wd.path, 'cdrom.raw')
        vda_sum = random_image(vda, 16)
        random_image(sda, 8)
        random_image(cdrom, 1)
        chan_a = os.path.join(wd.path, 'a-chan.sock')
        chan_b = os.path.join(wd.path, 'b-chan.sock')
        xml_a = write(os.path.join(wd.path, 'a.xml'),
                      domain_xml(wd, kernel, initrd, 'br0', chan_a, vda, sda, cdrom))
        xml_b = write(os.path.join(wd.path, 'b.xml'),
                      domain_xml(wd, kernel, initrd, 'lan0', chan_b, vda, sda, cdrom))
        r = a.ferry('define', xml_a)
        t.ok(r.returncode == 0, 'define: the whole device set is accepted', r.stderr)
        t.ok("warning: domain '%s': <seclabel> is kept in the definition but not enforced"
             % NAME in r.stderr, 'define: the CLI prints the warning about <seclabel>',
             r.stderr)
        defined = a.ferry('dumpxml', NAME).stdout
        mac = re.search(r"<mac address='([0-9a-f:]+)'/>", defined)
        mac = mac.group(1) if mac else None
        t.ok(mac is not None and mac.startswith('52:54:00:'),
             'define: the interface got a MAC (%s)' % mac, defined)
        t.ok(defined.count("<address type='pci'") >= 5,
             'define: PCI addresses are written into the definition', defined)
        t0 = time.monotonic()
        r = a.ferry('start', NAME)
        t.ok(r.returncode == 0, 'the guest starts on A', r.stderr)
        try:
            ready, why = linuxguest.wait_ready(chan_a, 180), None
        except (TimeoutError, RuntimeError, OSError) as e:
            ready, why = None, str(e)
        t.ok(ready == GUEST_IP, 'the guest says it is ready on its channel (%.1f s)' %
             (time.monotonic() - t0), why)
        info = ft.dominfo(a, NAME)
        dom_uuid = info['uuid'] if info else None

        got = control(net, 'fill sda 7')
        t.ok(re.fullmatch(r'[0-9a-f]{64}', got.split()[0] if got else '') is not None,
             'a pattern is written on the scsi disk', got)
        check_guest(t, net, a, 'on A', vda_sum)
        stream = Stream(net)
        t.ok(stream.line() == 'flowing', 'the peer\'s connection to the guest flows')

        bad_model = write(os.path.join(wd.path, 'b-e1000.xml'),
                          domain_xml(wd, kernel, initrd, 'lan0', chan_b, vda, sda, cdrom,
                                     model='e1000'))
        r = a.ferry('migrate', '--live', '--xml', bad_model, NAME, b.uri)
        t.ok(r.returncode != 0 and "interface 0 (%s): model 'e1000' on the destination, "
             "'virtio' on the source" % mac in r.stderr,
             'a destination XML with another NIC model is refused, naming the interface',
             r.stderr)
        bad_slot = write(os.path.join(wd.path, 'b-slot.xml'),
                         domain_xml(wd, kernel, initrd, 'lan0', chan_b, vda, sda, cdrom,
                                    slot='0x1e'))
        r = a.ferry('migrate', '--live', '--xml', bad_slot, NAME, b.uri)
        t.ok(r.returncode != 0 and "disk 0 ('vda'): address pci 0000:00:1e.0 on the "
             "destination" in r.stderr,
             'a destination XML that moves a disk\'s PCI slot is refused, naming the disk',
             r.stderr)
        bad_bridge = write(os.path.join(wd.path, 'b-nobridge.xml'),
                           domain_xml(wd, kernel, initrd, 'nosuchbr', chan_b, vda, sda, cdrom))
        r = a.ferry('migrate', '--live', '--xml', bad_bridge, NAME, b.uri)
        t.ok(r.returncode != 0 and "bridge 'nosuchbr' does not exist on this host" in r.stderr,
             'a destination XML naming a bridge B does not have is refused by B, naming it',
             r.stderr)
        info = ft.dominfo(a, NAME)
        t.ok(info is not None and info['state'] == 'running' and not b.qemu_pids(dom_uuid),
             'refused: the guest still runs on A only', info)
        t.ok(taps(b) == [], 'refused: B is left with no tap', taps(b))

        moves = [(a, b, xml_b, 'A -> B'), (b, a, xml_a, 'B -> A')]
        for i, (src, dst, xml, what) in enumerate(moves):
            stream.mark('move%d-start' % i)
            r = src.ferry('migrate', '--live', '--xml', xml, NAME, dst.uri)
            stream.mark('move%d-end' % i)
            t.ok(r.returncode == 0, '%s: live migration with only host-side changes' % what,
                 r.stdout + r.stderr)
            info = ft.dominfo(dst, NAME)
            t.ok(info is not None and info['state'] == 'running' and
                 not src.qemu_pids(dom_uuid), '%s: the guest runs on %s only' %
                 (what, dst.name), info)
            check_guest(t, net, dst, 'after %s' % what, vda_sum)
            port = net.fdb_port(0, mac) if mac else None
            want = net.lan_trunk[0] if dst is b else None
            t.ok(port is not None and (want is None or port == want) and
                 (want is not None or port.startswith(('vnet', 'ferry', 'tap'))),
                 '%s: A\'s bridge sends the guest\'s frames to port %s' % (what, port))
        t.ok(taps(b) == [], 'the guest left B: B is left with no tap', taps(b))
        result = stream.stop()
        stream = None
        t.ok(result is not None and result['intact'],
             'the peer\'s connection stayed open through both moves, every byte echoed '
             'intact (%s bytes)' % (result and result['received']), result)
        if result:
            for i, (_, _, _, what) in enumerate(moves):
                t.comment('%s: the connection stalled %d ms' %
                          (what, stall(result, 'move%d-start' % i, 'move%d-end' % i)))
        # Kept across a daemon restart: ferryd killed and started again
        # re-attaches to the QEMU and reads back the same live definition
        # (addresses, MAC, tap, pty, display ports) from its status file.
        before = a.ferry('dumpxml', '--security-info', NAME).stdout
        inactive = a.ferry('dumpxml', '--inactive', NAME).stdout
        a.kill()
        a.start()
        after = a.ferry('dumpxml', '--security-info', NAME).stdout
        t.ok(before != '' and after == before and
             a.ferry('dumpxml', '--inactive', NAME).stdout == inactive,
             'A\'s ferryd killed and started again: the same live and persistent definitions',
             after)
        got = control(net, 'sum vda')
        t.ok(got.split()[:1] == [vda_sum], 'after the restart the guest still answers', got)
        a.ferry('destroy', NAME)
        a.ferry('undefine', NAME)
    finally:
        if stream:
            stream.proc.kill()
        net.cleanup()
        wd.cleanup()


if __name__ == '__main__':
    ft.run(main)
