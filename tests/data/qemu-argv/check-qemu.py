#!/usr/bin/env python3
"""check-qemu.py: start the real QEMU with each golden command line and
check that every device sits where the command line (and so the XML) puts it.

Run by hand (it needs root: taps, a loop device, a network namespace), not
by meson: it takes seconds per case and a host with QEMU.

    sudo tests/data/qemu-argv/check-qemu.py [--qemu BIN] [CASE.args ...]

Each .args file (one argument per line, as test-qemu-command writes them) is
started as is, but for what only a real host has:
  - the monitor is a unix socket in a temporary directory (not fd=3), the
    pid file goes there too;
  - every file the command line names (images, ISOs, floppies, pflash,
    kernel, logs, unix sockets) becomes a file of that directory: a qcow2
    for a qcow2 node, an empty raw image otherwise, the bundled guest
    kernel for -kernel; a host_device is a loop device over such a file;
  - an NBD disk is served by a qemu-nbd started here;
  - KVM is replaced by TCG (this host has none): accel=tcg, -cpu host -> max;
  - QEMU runs in a network namespace of its own ("ferryqc-<pid>"), where
    the taps it opens by name are created and dropped with it.
QEMU starts with -S (no guest code runs); over QMP the script reads
query-pci and `info qtree` and checks:
  - a -device with bus=pci.0|pcie.0,addr=0xS[.0xF] is at that slot and
    function of bus 0, under its id;
  - a -device with bus=ide.N / sata0.N / scsi0.0 / usb.0 / virtio-serial0.0
    sits on that bus, with its unit, scsi-id, lun, port or nr;
  - an isa-serial has its index (given, or 0 for the port-0 form);
  - every -blockdev node exists (query-named-block-nodes);
  - -vnc / -spice servers are enabled.
A device without addr= is reported with the slot QEMU gave it.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))


class Qmp:
    def __init__(self, path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.f = self.sock.makefile("rw")
        json.loads(self.f.readline())
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.f.write(json.dumps(msg) + "\n")
        self.f.flush()
        while True:
            reply = json.loads(self.f.readline())
            if "event" in reply:
                continue
            if "error" in reply:
                raise RuntimeError("%s: %s" % (name, reply["error"]["desc"]))
            return reply["return"]

    def close(self):
        self.sock.close()


def split_opt(value):
    """QEMU's key=value list, ',,' being a literal comma."""
    parts, cur, i = [], "", 0
    while i < len(value):
        c = value[i]
        if c == "," and value[i + 1:i + 2] == ",":
            cur += ","
            i += 2
            continue
        if c == ",":
            parts.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    parts.append(cur)
    return parts


def join_opt(parts):
    return ",".join(p.replace(",", ",,") for p in parts)


def opt_dict(value):
    d = {}
    for i, part in enumerate(split_opt(value)):
        if "=" in part:
            k, v = part.split("=", 1)
            d[k] = v
        elif i == 0:
            d[""] = part
    return d


def set_key(value, key, new):
    parts = split_opt(value)
    for i, part in enumerate(parts):
        if part.startswith(key + "="):
            parts[i] = key + "=" + new
    return join_opt(parts)


def parse_qtree(text):
    """{id: {"type", "bus", "props"}} from `info qtree`."""
    devices = {}
    buses = []          # (indent, name)
    current = None
    current_indent = -1
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip())
        s = line.strip()
        m = re.match(r'bus: (\S+)', s)
        if m:
            while buses and buses[-1][0] >= indent:
                buses.pop()
            buses.append((indent, m.group(1)))
            current = None
            continue
        m = re.match(r'dev: ([^,]+), id "(.*)"', s)
        if m:
            while buses and buses[-1][0] >= indent:
                buses.pop()
            current = {"type": m.group(1), "bus": buses[-1][1] if buses else None,
                       "props": {}}
            current_indent = indent
            if m.group(2):
                devices[m.group(2)] = current
            continue
        if current is not None and indent > current_indent:
            m = re.match(r'([\w.-]+) = (.*)', s)
            if m and m.group(1) not in current["props"]:
                current["props"][m.group(1)] = m.group(2)
    return devices


def prop_int(text):
    """'3 (0x3)' or '"2"' as an int or a string."""
    text = text.strip().strip('"')
    m = re.match(r'(-?\d+)', text)
    return int(m.group(1)) if m else text


class Case:
    def __init__(self, path, qemu, keep):
        self.path = path
        self.name = os.path.basename(path)[:-len(".args")]
        self.qemu = qemu
        self.keep = keep
        self.dir = tempfile.mkdtemp(prefix="ferryqc-%s-" % self.name)
        self.files = {}
        self.procs = []
        self.nbd_pids = []
        self.loops = []
        self.netns = "ferryqc-%d" % os.getpid()
        self.problems = []
        self.notes = []

    # -- host-side stand-ins ------------------------------------------------

    def stand_in(self, path, kind="raw", size="16M"):
        if path in self.files:
            return self.files[path]
        new = os.path.join(self.dir, "%d-%s" % (len(self.files), os.path.basename(path)))
        if kind == "qcow2":
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", new, size], check=True)
        elif kind == "kernel":
            shutil.copy(os.path.join(SOURCE_ROOT, "build", "guest", "guest.elf"), new)
        elif kind == "socket":
            pass
        elif kind == "log":
            open(new, "a").close()
        else:
            with open(new, "wb") as f:
                f.truncate(parse_size(size))
        self.files[path] = new
        return new

    def loop_device(self, path):
        image = self.stand_in(path, "raw", "16M")
        out = subprocess.run(["losetup", "--find", "--show", image], check=True,
                             capture_output=True, text=True).stdout.strip()
        self.loops.append(out)
        return out

    def nbd_server(self, export, host=None, port=None, sock=None):
        image = self.stand_in("nbd-" + (export or "default") + ".img", "raw", "16M")
        pid_file = os.path.join(self.dir, "nbd%d.pid" % len(self.nbd_pids))
        argv = ["ip", "netns", "exec", self.netns, "qemu-nbd", "--persistent", "--shared=4",
                "--fork", "--pid-file=" + pid_file, "-f", "raw"]
        if export:
            argv += ["-x", export]
        if sock:
            argv += ["-k", sock]
        else:
            argv += ["-b", host, "-p", str(port)]
        argv.append(image)
        # --fork: returns once the server listens.
        subprocess.run(argv, check=True)
        self.nbd_pids.append(int(open(pid_file).read().strip()))

    # -- the command line ---------------------------------------------------

    def rewrite(self, args):
        formats = {}   # file node -> format driver
        for i, a in enumerate(args):
            if a == "-blockdev":
                d = opt_dict(args[i + 1])
                if "file" in d and d.get("driver") in ("raw", "qcow2"):
                    formats[d["file"]] = d["driver"]
        out = [self.qemu]
        i = 1
        while i < len(args):
            opt = args[i]
            if opt in ("-nodefaults", "-no-user-config", "-S", "-no-shutdown"):
                out.append(opt)
                i += 1
                continue
            val = args[i + 1]
            i += 2
            if opt == "-chardev":
                d = opt_dict(val)
                if d.get("id") == "monitor":
                    val = "socket,id=monitor,path=%s,server=on,wait=off" % self.monitor
                elif d.get("") == "file":
                    val = set_key(val, "path", self.stand_in(d["path"], "log"))
                elif d.get("") == "socket" and "path" in d:
                    val = set_key(val, "path", self.stand_in(d["path"], "socket"))
            elif opt == "-pidfile":
                val = os.path.join(self.dir, "qemu.pid")
            elif opt == "-machine":
                val = val.replace("accel=kvm", "accel=tcg")
            elif opt == "-cpu":
                parts = split_opt(val)
                if parts[0] == "host":
                    parts[0] = "max"
                val = join_opt(parts)
            elif opt in ("-kernel",):
                val = self.stand_in(val, "kernel")
            elif opt in ("-initrd", "-dtb"):
                val = self.stand_in(val, "raw", "64K")
            elif opt == "-bios":
                if not os.path.exists(val):
                    val = "/usr/share/seabios/bios-256k.bin"
            elif opt == "-blockdev":
                d = opt_dict(val)
                node = d.get("node-name", "")
                if d.get("driver") == "file":
                    fmt = formats.get(node, "raw")
                    size = "1440K" if node.startswith("drive-fd") else "16M"
                    if node.startswith("pflash0"):
                        size = "4M"
                    elif node.startswith("pflash1"):
                        size = "528K"
                    val = set_key(val, "filename", self.stand_in(d["filename"], fmt, size))
                elif d.get("driver") == "host_device":
                    val = set_key(val, "filename", self.loop_device(d["filename"]))
                elif d.get("driver") == "nbd":
                    if d.get("server.type") == "unix":
                        sock = self.stand_in(d["server.path"], "socket")
                        self.nbd_server(d.get("export"), sock=sock)
                        val = set_key(val, "server.path", sock)
                    else:
                        self.nbd_server(d.get("export"), host=d["server.host"],
                                        port=d["server.port"])
            out += [opt, val]
        return out

    # -- run and check ------------------------------------------------------

    def run(self):
        args = [l for l in open(self.path).read().split("\n") if l != ""]
        self.monitor = os.path.join(self.dir, "monitor.sock")
        subprocess.run(["ip", "netns", "add", self.netns], check=True)
        subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True)
        try:
            argv = self.rewrite(args)
            log = open(os.path.join(self.dir, "qemu.log"), "w+")
            start = time.time()
            qemu = subprocess.Popen(["ip", "netns", "exec", self.netns] + argv,
                                    stdout=log, stderr=subprocess.STDOUT)
            self.procs.insert(0, qemu)
            while not os.path.exists(self.monitor) and qemu.poll() is None:
                time.sleep(0.02)
            if qemu.poll() is not None:
                log.seek(0)
                self.problems.append("QEMU exited (%d): %s" % (qemu.returncode,
                                                               log.read().strip()))
                return
            try:
                qmp = Qmp(self.monitor)
            except (ConnectionError, OSError) as e:
                log.seek(0)
                self.problems.append("no monitor: %s %s" % (e, log.read().strip()))
                return
            self.check(args, qmp)
            qmp.cmd("quit")
            qemu.wait(10)
            self.notes.append("started and checked in %.2fs" % (time.time() - start))
            log.seek(0)
            warnings = log.read().strip()
            if warnings:
                self.notes.append("QEMU said: " + warnings.replace("\n", " | "))
        finally:
            self.cleanup()

    def check(self, args, qmp):
        pci = {}
        for bus in qmp.cmd("query-pci"):
            for dev in bus["devices"]:
                if dev.get("qdev_id"):
                    pci[dev["qdev_id"]] = (bus["bus"], dev["slot"], dev["function"])
        qtree = parse_qtree(qmp.cmd("human-monitor-command", **{"command-line": "info qtree"}))
        nodes = {n["node-name"] for n in qmp.cmd("query-named-block-nodes")}
        checked = 0
        for i, a in enumerate(args):
            if a == "-blockdev":
                node = opt_dict(args[i + 1]).get("node-name")
                if node not in nodes:
                    self.problems.append("block node %s missing" % node)
            if a == "-vnc" and not qmp.cmd("query-vnc")["enabled"]:
                self.problems.append("VNC is not enabled")
            if a == "-spice" and not qmp.cmd("query-spice")["enabled"]:
                self.problems.append("SPICE is not enabled")
            if a != "-device":
                continue
            d = opt_dict(args[i + 1])
            dev_id = d.get("id")
            model = d.get("")
            if not dev_id:
                self.problems.append("-device %s has no id" % args[i + 1])
                continue
            bus = d.get("bus")
            if "addr" in d:
                m = re.match(r'0x([0-9a-f]+)(?:\.0x([0-9a-f]+))?$', d["addr"])
                want = (0, int(m.group(1), 16), int(m.group(2) or "0", 16))
                got = pci.get(dev_id)
                if got != want:
                    self.problems.append("%s (%s): PCI %s, want bus 0 slot %#x function %d"
                                         % (dev_id, model, got, want[1], want[2]))
                checked += 1
                continue
            dev = qtree.get(dev_id)
            if dev is None:
                self.problems.append("%s (%s) is not in the qtree" % (dev_id, model))
                continue
            if dev_id in pci:
                self.notes.append("%s (%s) without addr=: QEMU put it at slot %#x" %
                                  (dev_id, model, pci[dev_id][1]))
            if bus and dev["bus"] != bus:
                self.problems.append("%s (%s) is on bus %s, want %s" % (dev_id, model,
                                                                        dev["bus"], bus))
            for key in ("unit", "scsi-id", "lun", "channel", "nr", "port", "index"):
                if key in d:
                    got = prop_int(dev["props"].get(key, "?"))
                    want = prop_int(d[key])
                    if got != want:
                        self.problems.append("%s (%s): %s %s, want %s" % (dev_id, model, key,
                                                                          got, want))
            if model == "isa-serial" and "index" not in d:
                got = prop_int(dev["props"].get("index", "?"))
                if got != 0:
                    self.problems.append("%s: index %s, want 0" % (dev_id, got))
            checked += 1
        self.notes.append("%d devices checked" % checked)

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for pid in self.nbd_pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for loop in self.loops:
            subprocess.run(["losetup", "-d", loop])
        subprocess.run(["ip", "netns", "delete", self.netns])
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def parse_size(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if text[-1] in units:
        return int(text[:-1]) * units[text[-1]]
    return int(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--qemu", default="/usr/bin/qemu-system-x86_64")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directories")
    ap.add_argument("cases", nargs="*")
    opts = ap.parse_args()
    cases = opts.cases or sorted(os.path.join(HERE, f) for f in os.listdir(HERE)
                                 if f.endswith(".args"))
    failed = 0
    for path in cases:
        case = Case(path, opts.qemu, opts.keep)
        try:
            case.run()
        except Exception as e:  # a broken case must not hide the others
            case.problems.append("%s: %s" % (type(e).__name__, e))
        status = "FAIL" if case.problems else "ok"
        print("%s %s" % (status, case.name))
        for note in case.notes:
            print("    " + note)
        for problem in case.problems:
            print("    PROBLEM: " + problem)
        failed += bool(case.problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
