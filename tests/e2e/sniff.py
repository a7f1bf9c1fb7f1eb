#!/usr/bin/env python3
"""Records the TCP payload sent to a host's migration ports, as an
eavesdropper on the link would see it (tests of encrypted migrations).

    sniff.py OUT ADDRESS PORT_MIN PORT_MAX

Run inside the receiving host's network namespace (root: a raw AF_PACKET
socket).  Prints "ready" once it listens; on SIGTERM it writes every
payload byte of IPv4 TCP segments to ADDRESS with a destination port in
[PORT_MIN, PORT_MAX], in arrival order, to OUT, and exits.
"""
import signal
import socket
import struct
import sys

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800


def main():
    out, address, lo, hi = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    want = socket.inet_aton(address)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    # Megabytes arrive in bursts: room for them, so that few are dropped
    # (FORCE: beyond net.core.rmem_max, which root may).
    s.setsockopt(socket.SOL_SOCKET, getattr(socket, 'SO_RCVBUFFORCE', 33), 32 * 1024 * 1024)
    s.settimeout(0.2)
    chunks = []
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(True))
    print('ready', flush=True)
    while not stop:
        try:
            frame, meta = s.recvfrom(65536)
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        # Outgoing copies (PACKET_OUTGOING = 4) are the same bytes again.
        if meta[2] == 4 or len(frame) < 34 or struct.unpack('!H', frame[12:14])[0] != ETH_P_IP:
            continue
        ip = frame[14:]
        ihl = (ip[0] & 0x0f) * 4
        if ip[9] != 6 or ip[16:20] != want:
            continue
        total = struct.unpack('!H', ip[2:4])[0]
        tcp = ip[ihl:total]
        if len(tcp) < 20:
            continue
        dport = struct.unpack('!H', tcp[2:4])[0]
        if not lo <= dport <= hi:
            continue
        payload = tcp[(tcp[12] >> 4) * 4:]
        if payload:
            chunks.append(payload)
    with open(out, 'wb') as f:
        f.write(b''.join(chunks))


if __name__ == '__main__':
    main()
