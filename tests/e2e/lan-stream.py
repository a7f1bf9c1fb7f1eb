#!/usr/bin/env python3
"""lan-stream.py HOST PORT: one TCP connection to an echo service, kept
busy and checked, for the tests that move a guest while a peer talks to it.

Run inside the peer's network namespace (ip netns exec NS python3 ...).
It sends a pseudo-random byte stream (a seeded generator, so the expected
echo is known) in 1 KiB chunks every 5 ms, reads the echo back and compares
every byte.  Each gap between two echoed chunks longer than 50 ms is
recorded: across a migration that gap is how long the connection stalled.

Commands on stdin, one per line:
  mark NAME   records the time NAME (e.g. "move1-start"), answered "ok NAME"
  stop        stops sending, waits up to 30 s for the rest of the echo, and
              prints one JSON line: sent, received, intact, first_bad (offset
              of the first differing byte or null), error, gaps [[start_s,
              length_ms]...], marks {name: s}; then exits.
It prints "flowing" once the first echo arrives and "error <reason>" if the
connection breaks (the JSON line follows at "stop").
"""
import json
import random
import socket
import sys
import threading
import time

CHUNK = 1024
PERIOD = 0.005
GAP = 0.050


class Stream:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.settimeout(None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.sent = bytearray()
        self.received = 0
        self.first_bad = None
        self.error = None
        self.gaps = []
        self.marks = {}
        self.sending = True
        self.flowing = threading.Event()
        self.drained = threading.Event()
        self.rng = random.Random(20261206)

    def now(self):
        return time.monotonic() - self.t0

    def send_loop(self):
        try:
            while self.sending and not self.error:
                data = self.rng.randbytes(CHUNK)
                with self.lock:
                    self.sent += data
                self.sock.sendall(data)
                time.sleep(PERIOD)
        except OSError as e:
            self.fail('send: %s' % e)

    def recv_loop(self):
        last = None
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    if self.sending:
                        self.fail('the guest closed the connection')
                    return
                t = self.now()
                if last is not None and t - last > GAP:
                    self.gaps.append([round(last, 3), round((t - last) * 1000)])
                last = t
                with self.lock:
                    expect = self.sent[self.received:self.received + len(data)]
                if self.first_bad is None and expect != data:
                    for i, (x, y) in enumerate(zip(expect, data)):
                        if x != y:
                            self.first_bad = self.received + i
                            break
                    else:
                        self.first_bad = self.received + len(expect)
                self.received += len(data)
                self.flowing.set()
                if not self.sending and self.received >= len(self.sent):
                    self.drained.set()
        except OSError as e:
            self.fail('receive: %s' % e)

    def fail(self, reason):
        if not self.error:
            self.error = reason
            print('error %s' % reason, flush=True)
        self.drained.set()

    def result(self):
        return {'sent': len(self.sent), 'received': self.received,
                'intact': self.error is None and self.first_bad is None and
                self.received == len(self.sent),
                'first_bad': self.first_bad, 'error': self.error,
                'gaps': self.gaps, 'marks': self.marks}


def main():
    s = Stream(sys.argv[1], int(sys.argv[2]))
    sender = threading.Thread(target=s.send_loop, daemon=True)
    receiver = threading.Thread(target=s.recv_loop, daemon=True)
    sender.start()
    receiver.start()
    if s.flowing.wait(30):
        print('flowing', flush=True)
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ['mark'] and len(words) == 2:
            s.marks[words[1]] = round(s.now(), 3)
            print('ok %s' % words[1], flush=True)
        elif words[:1] == ['stop']:
            break
    s.sending = False
    sender.join(10)
    if s.received < len(s.sent) and not s.error:
        s.drained.wait(30)
    try:
        s.sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    print(json.dumps(s.result()), flush=True)


if __name__ == '__main__':
    main()
