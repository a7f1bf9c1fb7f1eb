#!/usr/bin/env python3
"""Count test cases across meson test logs and print `N passed, N failed`.

Each test program speaks TAP; a test case is one `ok`/`not ok` line.  A
skipped case counts as failed (nothing is skipped silently in ferry), and a
program that failed or timed out without reporting a failing case counts as
one failure, so a crash can never hide.
"""
import json
import re
import sys

# A failing case's detail: the "#   " lines after it (ferrytest.py, GLib's
# TAP output), at most this many, so that a CI log names the cause.
DETAIL_LINES = 15
DETAIL_CHARS = 300

OK = re.compile(r'^ok \d+')
NOT_OK = re.compile(r'^not ok \d+')
SKIP = re.compile(r'#\s*(SKIP|TODO)', re.IGNORECASE)


def count(logfile):
    passed = failed = 0
    failures = []
    with open(logfile, encoding='utf-8', errors='replace') as f:
        for line in f:
            entry = json.loads(line)
            name = entry.get('name', '?')
            result = entry.get('result', 'ERROR')
            p = fl = 0
            detail = None
            for out in (entry.get('stdout') or '').splitlines():
                out = out.strip()
                if detail is not None and out.startswith('#') and len(detail) < DETAIL_LINES:
                    detail.append(out[:DETAIL_CHARS])
                    continue
                detail = None
                if NOT_OK.match(out):
                    fl += 1
                    detail = []
                    failures.append((f'{name}: {out}', detail))
                elif OK.match(out):
                    if SKIP.search(out):
                        fl += 1
                        failures.append((f'{name}: skipped: {out}', []))
                    else:
                        p += 1
            if result not in ('OK', 'EXPECTEDFAIL') and fl == 0:
                fl += 1
                failures.append((f'{name}: program ended with {result}', []))
            if p + fl == 0:
                # A program that reports no case at all still counts once.
                if result == 'OK':
                    p = 1
                else:
                    fl = 1
            passed += p
            failed += fl
    return passed, failed, failures


def main():
    passed = failed = 0
    failures = []
    for logfile in sys.argv[1:]:
        p, f, fl = count(logfile)
        passed += p
        failed += f
        failures += fl
    for line, detail in failures:
        print('FAILED: ' + line)
        for d in detail:
            print('        ' + d)
    print(f'{passed} passed, {failed} failed')
    return 0 if failed == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
