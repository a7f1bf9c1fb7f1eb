#!/usr/bin/env python3
"""The fault matrix (issue #8): a fault at each point of a migration.

Rows: the points of a migration (faults.POINTS); columns: the faults
(faults.FAULTS); each for a plain and a peer-to-peer (--p2p) migration.
Each cell runs in a process of its own, with two ferryd in two network
namespaces of its own (ferrytest.TwoHosts), so cells run side by side
(--jobs, default 2).  See docs/faults.md and tests/e2e/faults.py.

Usage:
  test_faults.py [--set subset|full] [--cells P/F/M,...] [--jobs N]
                 [--tap] [--memory-only] [--logs DIR] [-v]

  --set      subset: the cells `make check` runs (meson test e2e-faults);
             full: the whole matrix (`make faults`).  Default: the
             environment's FERRY_FAULTS, else subset.
  --cells    only these cells, e.g. finish/dst-stop/plain,confirm/fail/p2p
  --jobs     cells at once (FERRY_FAULTS_JOBS; default 2)
  --tap      TAP output (one test per check) for meson; otherwise a line per
             cell and the failures' details
  --memory-only  the guest has no disk: memory-only migrations
             (FERRY_FAULTS_STORAGE=0).  By default it has one, copied with
             --copy-storage-all (hosts without shared storage: each
             migration creates an image and an NBD export on B)
  --logs     where failed cells leave their daemons' logs (default
             BUILD/faults-logs)
  -v         print what every cell found (comments), not only failed ones

Either way it ends with the matrix as tables (cell: outcome -- src, dst,
lost* (no copy: its only running QEMU was killed), FAIL -- and the recovery
time in seconds, from the end of the fault to one copy and no job) and the
line "N passed, N failed" (cells).
"""
import argparse
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faults as fm       # noqa: E402
import ferrytest as ft    # noqa: E402

CELL_TIMEOUT_S = 420


class Terminated(Exception):
    pass


def on_term(signum, frame):
    raise Terminated()


# -------------------------------------------------------------------------
# A cell, in its own process
# -------------------------------------------------------------------------

def run_one(spec, storage, keep_dir):
    signal.signal(signal.SIGTERM, on_term)
    point, fault, mode = fm.parse_cell(spec)
    cell = fm.Cell(point, fault, mode, storage=storage, keep_dir=keep_dir)
    try:
        result = cell.run()
    except Terminated:
        cell.t.ok(False, 'the cell ended in time (it was stopped)')
        result = {'cell': spec, 'point': point, 'fault': fault, 'mode': mode,
                  'outcome': 'FAIL', 'took': None, 'passed': False,
                  'checks': cell.t.checks, 'comments': cell.t.comments, 'wall': None}
    sys.stdout.write('RESULT ' + json.dumps(result) + '\n')
    sys.stdout.flush()
    return 0 if result['passed'] else 1


# -------------------------------------------------------------------------
# The matrix, cells run side by side
# -------------------------------------------------------------------------

class Runner:
    def __init__(self, cells, jobs, tap, storage, keep_dir, verbose=False):
        self.verbose = verbose
        self.pending = sorted(cells, key=fm.estimate_s, reverse=True)
        self.total = len(cells)
        self.jobs = jobs
        self.tap = ft.TAP() if tap else None
        self.storage = storage
        self.keep_dir = keep_dir
        self.running = {}       # fd -> (Popen, cell, start, output chunks, stderr file)
        self.results = {}
        self.sel = selectors.DefaultSelector()

    def say(self, text):
        if self.tap:
            self.tap.comment(text)
        else:
            print(text, flush=True)

    def start(self, cell):
        spec = fm.cell_name(cell)
        err = tempfile.TemporaryFile()
        cmd = [sys.executable, os.path.abspath(__file__), '--run-cell', spec]
        cmd.append('--storage' if self.storage else '--memory-only')
        if self.keep_dir:
            cmd += ['--logs', self.keep_dir]
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=err)
        self.sel.register(p.stdout, selectors.EVENT_READ)
        self.running[p.stdout.fileno()] = [p, cell, time.monotonic(), [], err]

    def finish(self, fd):
        p, cell, started, chunks, err = self.running.pop(fd)
        self.sel.unregister(p.stdout)
        p.stdout.close()
        p.wait()
        out = b''.join(chunks).decode(errors='replace')
        result = None
        for line in out.splitlines():
            if line.startswith('RESULT '):
                result = json.loads(line[len('RESULT '):])
        if result is None:
            err.seek(0)
            result = {'cell': fm.cell_name(cell), 'outcome': 'FAIL', 'took': None,
                      'passed': False, 'comments': [], 'wall': time.monotonic() - started,
                      'checks': [{'ok': False, 'name': 'the cell reported a result',
                                  'detail': 'exit %s; %s' % (p.returncode,
                                                             err.read().decode(
                                                                 errors='replace')[-2000:])}]}
        err.close()
        self.results[cell] = result
        self.report(cell, result)

    def report(self, cell, r):
        name = fm.cell_name(cell)
        if r.get('during') is not None:
            when = ' %.1f s into the fault' % r['during']
        else:
            when = '' if r['took'] is None else ' in %.1f s' % r['took']
        head = '%s: %s%s (cell %.0f s)' % (name, r['outcome'], when, r['wall'] or 0)
        if self.tap:
            self.tap.comment(head)
            for c in r['checks']:
                self.tap.ok(c['ok'], '%s: %s' % (name, c['name']), c['detail'])
            if not r['passed']:
                for line in r['comments']:
                    self.tap.comment('%s: %s' % (name, line))
        else:
            done = len(self.results)
            print('[%d/%d] %s %s' % (done, self.total, 'ok  ' if r['passed'] else 'FAIL', head),
                  flush=True)
            if not r['passed'] or self.verbose:
                for c in r['checks']:
                    if not c['ok']:
                        print('    failed: %s' % c['name'])
                        for line in (c['detail'] or '').splitlines():
                            print('      ' + line)
                for line in r['comments']:
                    for i, sub in enumerate(line.splitlines()):
                        print(('    # ' if i == 0 else '      ') + sub)
                sys.stdout.flush()

    def kill_all(self):
        for fd, (p, cell, started, chunks, err) in list(self.running.items()):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for fd, (p, cell, started, chunks, err) in list(self.running.items()):
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def run(self):
        while self.pending or self.running:
            while self.pending and len(self.running) < self.jobs:
                self.start(self.pending.pop(0))
            now = time.monotonic()
            wait = min(CELL_TIMEOUT_S - (now - v[2]) for v in self.running.values())
            for key, _ in self.sel.select(max(0.1, wait)):
                fd = key.fileobj.fileno()
                data = os.read(fd, 65536)
                if data:
                    self.running[fd][3].append(data)
                else:
                    self.finish(fd)
            for fd, (p, cell, started, chunks, err) in list(self.running.items()):
                if time.monotonic() - started > CELL_TIMEOUT_S and p.poll() is None:
                    self.say('%s: over %d s, stopping it' % (fm.cell_name(cell),
                                                            CELL_TIMEOUT_S))
                    p.send_signal(signal.SIGTERM)
                    started = time.monotonic() - CELL_TIMEOUT_S + 60
                    self.running[fd][2] = started


LEGEND = (
    'src / dst: the one copy runs on the source / destination, and the source\'s job says so;',
    'lost*: no copy runs: the fault killed its only running QEMU, and the job says so;',
    'FAIL: an invariant does not hold (details above).  The number: seconds from the end',
    'of the fault (restart, SIGCONT, link up, kill, failed phase) until no job is active and',
    'one copy runs; @N: settled N s into a link cut, before the link came back.',
    '~: the stopped daemon went on past the point before the stop took (it logged',
    'migration lines after the fault\'s), so the fault struck a little later.',
)


def cell_text(r):
    if r is None:
        return '-'
    late = '~' if r.get('ran_on') else ''
    if r.get('during') is not None:
        return '%s @%.1f%s' % (r['outcome'], r['during'], late)
    t = '' if r['took'] is None else ' %.1f' % r['took']
    return r['outcome'] + t + late


def tables(results, cells):
    """The matrix, one table per mode that has cells: rows the points,
    columns the faults."""
    out = []
    modes = [m for m in fm.MODES if any(c[2] == m for c in cells)]
    width = max(len(p) for p in fm.POINT_NAMES)
    for mode in modes:
        out.append('')
        out.append('%s migrations (cell: outcome, recovery time in s; - not run)' %
                   ('plain' if mode == 'plain' else '--p2p'))
        cols = []
        for f in fm.FAULT_NAMES:
            texts = [cell_text(results.get((p, f, mode))) for p in fm.POINT_NAMES]
            cols.append(max([len(f)] + [len(x) for x in texts]))
        out.append('%-*s | %s' % (width, 'point', ' | '.join('%-*s' % (w, f) for f, w in
                                                             zip(fm.FAULT_NAMES, cols))))
        out.append('%s-+-%s' % ('-' * width, '-+-'.join('-' * w for w in cols)))
        for p in fm.POINT_NAMES:
            texts = [cell_text(results.get((p, f, mode))) for f in fm.FAULT_NAMES]
            out.append('%-*s | %s' % (width, p, ' | '.join('%-*s' % (w, x) for x, w in
                                                           zip(texts, cols))))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--set', choices=('subset', 'full'),
                    default=os.environ.get('FERRY_FAULTS', 'subset'))
    ap.add_argument('--cells', default=os.environ.get('FERRY_FAULTS_CELLS'))
    ap.add_argument('--jobs', type=int, default=int(os.environ.get('FERRY_FAULTS_JOBS', '2')))
    ap.add_argument('--tap', action='store_true')
    ap.add_argument('--memory-only', dest='storage', action='store_false',
                    default=os.environ.get('FERRY_FAULTS_STORAGE', '1') != '0')
    ap.add_argument('--storage', dest='storage', action='store_true', help=argparse.SUPPRESS)
    ap.add_argument('--logs', default=os.environ.get('FERRY_FAULTS_LOGS',
                                                     os.path.join(ft.BUILD, 'faults-logs')))
    ap.add_argument('-v', '--verbose', action='store_true',
                    help='print what every cell found, not only failed ones')
    ap.add_argument('--run-cell', help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.run_cell:
        return run_one(args.run_cell, args.storage, args.logs)

    t0 = time.monotonic()
    if args.cells:
        cells = [fm.parse_cell(c) for c in args.cells.split(',') if c]
    elif args.set == 'full':
        cells = fm.full_matrix()
    else:
        cells = list(fm.SUBSET)
    jobs = max(1, args.jobs)
    if os.geteuid() != 0 and jobs > 1:
        # Without namespaces the hosts share loopback and its port ranges.
        jobs = 1
    runner = Runner(cells, jobs, args.tap, args.storage, args.logs, args.verbose)
    if args.tap:
        ft.require_e2e(runner.tap)
    else:
        probe = ft.TAP()
        for cond, what in ((os.access(ft.FERRYD, os.X_OK), 'ferryd built at ' + ft.FERRYD),
                           (os.access(ft.FERRY, os.X_OK), 'ferry built at ' + ft.FERRY),
                           (os.access(ft.GUEST, os.R_OK), 'guest built at ' + ft.GUEST)):
            if not cond:
                probe.ok(False, 'prerequisite: ' + what)
                print('0 passed, %d failed' % len(cells))
                return 1
    if args.logs:
        import shutil
        shutil.rmtree(args.logs, ignore_errors=True)
    runner.say('fault matrix: %d cells (%s, %s), %d at once%s' % (
        len(cells), args.cells and 'chosen' or args.set,
        'the disk copied: --copy-storage-all' if args.storage else 'memory only', jobs,
        '' if os.geteuid() == 0 else ' (not root: no namespaces, one at a time)'))
    interrupted = False
    prev = signal.signal(signal.SIGTERM, on_term)
    try:
        runner.run()
    except (Terminated, KeyboardInterrupt):
        interrupted = True
        runner.say('interrupted: stopping the cells that run')
        runner.kill_all()
    finally:
        signal.signal(signal.SIGTERM, prev)
    results = runner.results
    passed = sum(1 for r in results.values() if r['passed'])
    failed = len(cells) - passed
    for line in tables(results, cells):
        runner.say(line)
    runner.say('')
    for line in LEGEND:
        runner.say(line)
    runner.say('total time %.0f s (%d cells, %s, %d at once)' % (
        time.monotonic() - t0, len(cells),
        'the disk copied' if args.storage else 'memory only', jobs))
    if failed and args.logs:
        runner.say('logs of failed cells: %s' % args.logs)
    runner.say('%d passed, %d failed' % (passed, failed))
    if args.tap:
        if interrupted:
            runner.tap.ok(False, 'the matrix ran to its end')
        return runner.tap.done()
    return 1 if failed or interrupted else 0


if __name__ == '__main__':
    sys.exit(main())
