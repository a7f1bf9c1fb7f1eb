#!/usr/bin/env python3
"""record-transcripts.py: records QMP conversations with a real QEMU.

Owns: the scenarios behind tests/qmp/data/*.qmp that say "Recorded"; it
starts QEMU (paused, no devices), talks QMP to it and writes what was said
in the fake monitor's transcript format (see src/qmp/qmp-fake.h).
Must not: run as part of the test suite (it needs QEMU and rewrites files
under review); run it by hand when QEMU's behaviour needs re-recording:

    tests/qmp/record-transcripts.py [--qemu PATH] [--out DIR]

and review the diff.  Lines QEMU sends keep their real timestamps; the id
of each reply is written as "$ID" so the fake puts the client's id there.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

# name -> (comment, steps); a step is (command, arguments, events to wait for)
# or "EOF" (read until QEMU closes the connection).
SCENARIOS = {
    "connect": ("greeting, capabilities, query-status while paused (-S)", [
        ("query-status", None, []),
        ("query-version", None, []),
    ]),
    "run-stop": ("cont -> RESUME, stop -> STOP, and the status after each", [
        ("cont", None, ["RESUME"]),
        ("query-status", None, []),
        ("stop", None, ["STOP"]),
        ("query-status", None, []),
    ]),
    "error": ("error replies: an unknown command, a bad argument, getfd without an fd", [
        ("no-such-command", None, []),
        ("query-status", {"bogus": 1}, []),
        ("getfd", {"fdname": "nofd"}, []),
        ("query-status", None, []),
    ]),
    "quit": ("quit -> SHUTDOWN, then QEMU closes the connection", [
        ("quit", None, ["SHUTDOWN"]),
        "EOF",
    ]),
}


def dumps(obj):
    return json.dumps(obj, separators=(", ", ": "))


class Monitor:
    def __init__(self, path, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.lines = []
        self.next_id = 0

    def read(self):
        """Returns the next object QEMU sends, or None at end of file."""
        while b"\n" not in self.buf:
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:    # QEMU exits with our CRLF unread
                data = b""
            if not data:
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def record_in(self, obj, our_id):
        if obj.get("id") == our_id:
            obj = dict(obj)
            obj["id"] = "$ID"
        self.lines.append("<- " + dumps(obj))

    def command(self, name, arguments, events):
        self.next_id += 1
        our_id = "rec-%d" % self.next_id
        msg = {"execute": name}
        if arguments is not None:
            msg["arguments"] = arguments
        self.lines.append("-> " + dumps(msg))
        msg["id"] = our_id
        self.sock.sendall((json.dumps(msg) + "\r\n").encode())
        waiting = set(events)
        replied = False
        while not replied or waiting:
            obj = self.read()
            if obj is None:
                raise RuntimeError("QEMU closed the connection during %s" % name)
            self.record_in(obj, our_id)
            if obj.get("id") == our_id:
                replied = True
            waiting.discard(obj.get("event"))

    def until_eof(self):
        while True:
            obj = self.read()
            if obj is None:
                break
            self.record_in(obj, None)
        self.lines.append("!close")


def record(qemu, name, comment, steps, outdir):
    with tempfile.TemporaryDirectory(prefix="ferry-rec-") as tmp:
        path = os.path.join(tmp, "qmp.sock")
        proc = subprocess.Popen([
            qemu, "-machine", "pc", "-accel", "tcg", "-m", "64", "-nodefaults",
            "-display", "none", "-S",
            "-chardev", "socket,id=monitor,path=%s,server=on,wait=off" % path,
            "-mon", "chardev=monitor,mode=control"])
        try:
            mon = Monitor(path)
            mon.lines.append("<- " + dumps(mon.read()))
            mon.command("qmp_capabilities", None, [])
            for step in steps:
                if step == "EOF":
                    mon.until_eof()
                else:
                    mon.command(*step)
            version = subprocess.run([qemu, "--version"], capture_output=True,
                                     text=True).stdout.splitlines()[0]
        finally:
            proc.kill()
            proc.wait()
    out = os.path.join(outdir, name + ".qmp")
    with open(out, "w") as f:
        f.write("# %s\n" % comment)
        f.write("# Recorded from %s by tests/qmp/record-transcripts.py;\n" % version)
        f.write("# re-record rather than edit.\n")
        for line in mon.lines:
            f.write(line + "\n")
    print("wrote", out)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qemu", default="qemu-system-x86_64")
    parser.add_argument("--out", default=os.path.join(here, "data"))
    parser.add_argument("scenario", nargs="*", help="default: all")
    args = parser.parse_args()
    for name in args.scenario or SCENARIOS:
        if name not in SCENARIOS:
            sys.exit("unknown scenario '%s'; known: %s" % (name, ", ".join(SCENARIOS)))
        comment, steps = SCENARIOS[name]
        record(args.qemu, name, comment, steps, args.out)


if __name__ == "__main__":
    main()
