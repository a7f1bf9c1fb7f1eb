#!/usr/bin/env python3
"""TLS between clients and daemons and between daemons (issue #9).

Two ferryd in network namespaces, each listening for TLS only (no
plaintext TCP) with certificates of a CA made for this run by
scripts/make-certs, clients allowed by name ("admin", "hosta", "hostb");
real QEMU, the bundled guest checking its own memory.  The CLI runs
inside A's namespace, as an administrator on host A would.

* `ferry -c qemu+tls://B` with the admin certificate answers; B's log names
  the client by its certificate.
* Refused before any call, each with B's log saying why and B still serving:
  a client certificate whose name is not allowed, one from another CA, an
  expired one; a client whose CA does not know B's certificate refuses B;
  plaintext TCP to B's TLS port; plaintext TCP to B's plaintext port,
  which B does not open without listen_insecure_tcp.
* A live migration A -> B with the client talking TLS to both daemons,
  then a --p2p one back B -> A over TLS, where B's daemon presents its own
  certificate ("hostb") to A: the guest arrives intact each time.
"""
import os
import re
import shutil
import subprocess

import ferrytest as ft

CALM_ARGS = 'mem=16 rate=100 hb=100'


def ferry_in(host, uri, *args):
    """The CLI inside @host's namespace (where the other host is reachable)."""
    return subprocess.run(ft.netns_prefix(host.netns) + [ft.FERRY, '-c', uri] + list(args),
                          capture_output=True, text=True, timeout=180)


def with_pki(uri, pki):
    return '%s?pkipath=%s' % (uri, pki)


def refused(t, what, a, b, pki, want_client, want_log):
    """A client with the credentials in @pki is refused by B: the CLI's
    error matches @want_client, B's log @want_log, and B still serves."""
    before = b.log_text().count('refused')
    r = ferry_in(a, with_pki(b.tls_uri, pki), 'list', '--all')
    t.ok(r.returncode != 0 and re.search(want_client, r.stderr) is not None,
         '%s: the client is refused, and says why' % what, r.stderr)
    if want_log:
        ok = ft.wait_until(lambda: re.search(want_log, b.log_text()) is not None and
                           b.log_text().count('refused') > before, 10)
        t.ok(ok, '%s: B\'s log says why, naming the client\'s address' % what,
             '\n'.join(l for l in b.log_text().splitlines() if 'refused' in l)[-800:])
    r = b.ferry('list', '--all')
    t.ok(r.returncode == 0, '%s: B still serves' % what, r.stderr)


def main(t):
    ft.require_e2e(t)
    ft.require(t, os.geteuid() == 0, 'TLS between two hosts needs root (network namespaces)')
    wd = ft.Workdir('ferry-e2e-tls-')
    net = ft.TwoHosts(wd.path, t=t, tls=True, tls_allowed_names='admin,hosta,hostb',
                      insecure_tcp=False)
    a, b = net.hosts
    uuids = []
    try:
        net.start()
        pki = net.pki
        ca = os.path.join(pki, 'ca')

        # The administrator.
        r = ferry_in(a, with_pki(b.tls_uri, net.admin_pki), 'list', '--all')
        t.ok(r.returncode == 0, 'ferry -c qemu+tls://hostb with the admin certificate answers',
             r.stderr)
        t.ok(re.search(r"client \d+ \(tls, 10\.77\.0\.1:\d+, certificate 'admin'\): opened",
                       b.log_text()) is not None,
             'B\'s log names the client by its certificate',
             '\n'.join(l for l in b.log_text().splitlines() if '(tls' in l)[-600:])

        # Who is not let in.
        stranger = os.path.join(pki, 'stranger')
        ft.make_certs('client', ca, stranger, 'stranger')
        refused(t, 'a certificate name not in tls_allowed_names', a, b, stranger,
                r'did not accept this client\'s certificate',
                r"certificate name 'stranger' .* is not in tls_allowed_names")
        old = os.path.join(pki, 'old')
        ft.make_certs('client', ca, old, 'admin', '--expired')
        refused(t, 'an expired certificate', a, b, old,
                r'did not accept this client\'s certificate',
                r"the client's certificate is refused: it has expired")
        ca2 = os.path.join(pki, 'ca2')
        ft.make_certs('ca', ca2, 'another CA')
        evil = os.path.join(pki, 'evil')
        ft.make_certs('client', ca2, evil, 'admin')
        # It trusts B's CA: only its own certificate is wrong.
        shutil.copy(os.path.join(ca, 'cacert.pem'), os.path.join(evil, 'cacert.pem'))
        refused(t, 'a certificate from another CA', a, b, evil,
                r'did not accept this client\'s certificate',
                r"the client's certificate is refused: it is not signed by the CA")
        lost = os.path.join(pki, 'lost')
        ft.make_certs('client', ca2, lost, 'admin')
        refused(t, 'a client that does not trust B\'s CA', a, b, lost,
                r'its certificate is refused: it is not signed by the CA', None)
        r = ferry_in(a, 'qemu+tcp://%s:%d/system' % (b.address, b.tls_port), 'list')
        t.ok(r.returncode != 0, 'plaintext TCP to B\'s TLS port is refused', r.stderr)
        t.ok(ft.wait_until(lambda: 'An unexpected TLS packet' in b.log_text() or
                           'refused: TLS handshake failed' in b.log_text(), 10),
             'B logs the plaintext client as refused', b.log_text()[-400:])
        r = ferry_in(a, 'qemu+tcp://%s:%d/system' % (b.address, b.tcp_port), 'list')
        t.ok(r.returncode != 0 and 'cannot connect' in r.stderr,
             'B opens no plaintext TCP port without listen_insecure_tcp', r.stderr)

        # Migrations over TLS.
        g = ft.start_guest(t, a, wd, 'tlsguest', CALM_ARGS)
        uuids.append(g.uuid)
        before = int(ft.wait_heartbeat(g.serial, 0)[0]['last_hb'])
        r = ferry_in(a, with_pki(a.tls_uri, net.admin_pki), 'migrate', '--live', g.name,
                     with_pki(b.tls_uri, net.admin_pki))
        t.ok(r.returncode == 0, 'migrate A -> B, the client on TLS to both', r.stderr)
        t.ok(not a.qemu_pids(g.uuid) and len(b.qemu_pids(g.uuid)) == 1,
             'A -> B: one QEMU of the guest, on B', (a.qemu_pids(g.uuid), b.qemu_pids(g.uuid)))
        log, err = ft.wait_heartbeat(g.serial, before + 5)
        t.ok(ft.intact(log), 'A -> B: the heartbeat goes on, intact', err or log)

        before = int(log['last_hb']) if log else 0
        r = ferry_in(b, with_pki(b.tls_uri, net.admin_pki), 'migrate', '--live', '--p2p',
                     g.name, a.tls_uri)
        t.ok(r.returncode == 0, 'migrate --p2p B -> A over TLS', r.stderr)
        t.ok(re.search(r"client \d+ \(tls, 10\.77\.0\.2:\d+, certificate 'hostb'\): opened",
                       a.log_text()) is not None,
             '--p2p: B\'s daemon came to A with its own certificate',
             '\n'.join(l for l in a.log_text().splitlines() if '(tls' in l)[-600:])
        t.ok(len(a.qemu_pids(g.uuid)) == 1 and not b.qemu_pids(g.uuid),
             'B -> A: one QEMU of the guest, on A', (a.qemu_pids(g.uuid), b.qemu_pids(g.uuid)))
        log, err = ft.wait_heartbeat(g.serial, before + 5)
        t.ok(ft.intact(log), 'B -> A: the heartbeat goes on, intact', err or log)
    finally:
        ft.teardown(net, wd, uuids)


if __name__ == '__main__':
    ft.run(main)
