#!/usr/bin/env python3
"""Check model/ferry-v3.pml, the Promela model of ferry's v3 migration
protocol, with spin; and check that its moves are the engine's.

Speaks TAP.  The checks:

  1. the model's MOVES block lists exactly the rows of table[] in
     src/migration/migration-job.c (each row either modelled or skipped with
     a reason), and the model's SMOVE/DMOVE calls make exactly the modelled
     rows;
  2. (a) safety: no reachable state runs the guest twice, or runs it on the
     source after the destination ran it (assertions of the Monitor);
  3. every SMOVE/DMOVE line of the model is made in the search of check 2
     (a move never made is dead model code: the model would claim a row it
     does not cover);
  4. (c) no invalid end state: the system never stops with a job left
     unresolved (the Resolver blocks until everything settled);
  5. (b) LTL `settles` (<> settled) under weak fairness: every execution --
     the faults are bounded, so they stop in all of them -- reaches a state
     where both jobs ended and exactly one copy runs (none only if the copy
     holding the guest was killed).

Every spin search must be exhaustive; an incomplete one fails.  On a
violation the counterexample is printed: first the moves and faults in
order, then spin's own replay (spin -t -p).

Environment: FERRY_SOURCE_DIR (default: two levels up from this script);
SPIN_FLAGS, extra -D flags for spin (e.g. "-DMAX_FAULTS=4"; or "-DWITHOUT_FIX_1",
_2, _3: the engine before the fix of a hole the model found, model/README.md).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

SOURCE_DIR = os.environ.get("FERRY_SOURCE_DIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
MODEL = os.path.join(SOURCE_DIR, "model", "ferry-v3.pml")
TABLE = os.path.join(SOURCE_DIR, "src", "migration", "migration-job.c")
SPIN_FLAGS = os.environ.get("SPIN_FLAGS", "").split()
# Deep enough for every execution of the model (under 250 steps with the
# default budget); pan says so if it is not, and that fails the check.
DEPTH = "-m20000"

PHASES = {"NONE", "BEGIN", "PREPARE", "PERFORM", "FINISH", "CONFIRM"}
STATES = {"NEW", "RUNNING", "WAITING", "IN_DOUBT", "COMMITTED", "ROLLBACK",
          "COMPLETED", "FAILED", "CANCELLED"}

test_number = 0
failures = 0


def tap(ok, name, details=""):
    global test_number, failures
    test_number += 1
    if not ok:
        failures += 1
    print("%s %d - %s" % ("ok" if ok else "not ok", test_number, name))
    for line in details.rstrip("\n").splitlines():
        print("# " + line)
    sys.stdout.flush()


def bail(why):
    print("Bail out! " + why)
    sys.exit(1)


def fmt_row(row):
    return "%s (%s, %s) -> (%s, %s)" % row


# --------------------------------------------------------------------------
# 1. The moves: the engine's table, the model's block, the model's code
# --------------------------------------------------------------------------

def engine_rows(text):
    """The rows of table[] in migration-job.c, as (role, fp, fs, tp, ts)."""
    m = re.search(r"static\s+const\s+transition\s+table\s*\[\s*\]\s*=\s*\{(.*?)\n\};",
                  text, re.S)
    if not m:
        bail("no 'static const transition table[] = { ... };' in " + TABLE)
    body = re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S)
    row_re = re.compile(r"\{\s*(SRC|DST)\s*,\s*P\((\w+)\)\s*,\s*S\((\w+)\)\s*,"
                        r"\s*P\((\w+)\)\s*,\s*S\((\w+)\)\s*\}")
    rows = [tuple(r) for r in row_re.findall(body)]
    # Anything else between the braces is a row this parser cannot read.
    leftover = row_re.sub("", body).replace(",", "").strip()
    if leftover:
        bail("table[] in %s holds text that is not a row: %r" % (TABLE, leftover[:200]))
    if not rows:
        bail("table[] in %s has no rows" % TABLE)
    return rows


def model_block(text):
    """The MOVES block of the model: ({row: 'move'|'skip'}, problems)."""
    m = re.search(r"BEGIN MOVES\n(.*?)\n\s*\*\s*END MOVES", text, re.S)
    if not m:
        bail("no 'BEGIN MOVES ... END MOVES' block in " + MODEL)
    rows, problems = {}, []
    line_re = re.compile(r"^\s*\*\s*(move|skip)\s+(SRC|DST)\s+(\w+)\s+(\w+)\s*->\s*(\w+)\s+(\w+)"
                         r"\s*(?::\s*(.*))?$")
    for line in m.group(1).splitlines():
        lm = line_re.match(line)
        if not lm:
            problems.append("cannot read MOVES line: %r" % line.strip())
            continue
        kind, row, why = lm.group(1), tuple(lm.group(2, 3, 4, 5, 6)), lm.group(7)
        if row[1] not in PHASES or row[3] not in PHASES or \
                row[2] not in STATES or row[4] not in STATES:
            problems.append("unknown phase or state in MOVES line: %r" % line.strip())
        if kind == "skip" and not why:
            problems.append("a skipped row must say why: %r" % line.strip())
        if row in rows:
            problems.append("row listed twice in MOVES: " + fmt_row(row))
        rows[row] = kind
    return rows, problems


def model_calls(text):
    """The SMOVE/DMOVE calls of the model: {row: [line numbers]}."""
    calls = {}
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#define"):
            continue
        found = re.findall(r"\b([SD])MOVE\(\s*(\w+)\s*,\s*(\w+)\s*,\s*(\w+)\s*,\s*(\w+)\s*\)",
                           line)
        if len(found) > 1:
            bail("%s:%d: one SMOVE/DMOVE per line, please (pan names moves by line)"
                 % (MODEL, number))
        for role, fp, fs, tp, ts in found:
            row = ("SRC" if role == "S" else "DST", fp, fs, tp, ts)
            calls.setdefault(row, []).append(number)
    return calls


def check_table(model_text):
    with open(TABLE) as f:
        engine = engine_rows(f.read())
    block, problems = model_block(model_text)
    calls = model_calls(model_text)
    engine_set = set(engine)
    for row in sorted(engine_set):
        if engine.count(row) > 1:
            problems.append("table[] lists a row twice: " + fmt_row(row))
    for row in engine:
        if row not in block:
            problems.append("in the engine's table[], not in the model's MOVES: " + fmt_row(row))
    for row in block:
        if row not in engine_set:
            problems.append("in the model's MOVES, not in the engine's table[]: " + fmt_row(row))
    for row, kind in block.items():
        if kind == "move" and row not in calls:
            problems.append("in MOVES as modelled, but no SMOVE/DMOVE makes it: " + fmt_row(row))
        if kind == "skip" and row in calls:
            problems.append("in MOVES as skipped, but made at line(s) %s: %s"
                            % (calls[row], fmt_row(row)))
    for row, lines in calls.items():
        if row not in block:
            problems.append("made at line(s) %s, not in MOVES: %s" % (lines, fmt_row(row)))
    modelled = sum(1 for k in block.values() if k == "move")
    tap(not problems,
        "the model's moves are table[] of src/migration/migration-job.c "
        "(%d rows, %d modelled, %d skipped)" % (len(engine), modelled, len(block) - modelled),
        "\n".join(problems))
    return calls


# --------------------------------------------------------------------------
# spin
# --------------------------------------------------------------------------

def run(cmd, cwd, check=True):
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
    if check and proc.returncode != 0:
        bail("%s failed (exit %d):\n%s" % (" ".join(cmd), proc.returncode, proc.stdout))
    return proc.stdout


def compile_pan(work, name, defines):
    run(["gcc", "-O2", "-w", "-o", name] + defines + ["pan.c"], work)


def search(work, pan, flags):
    """Runs a pan; returns (errors, complete, output)."""
    out = run(["./" + pan, DEPTH] + flags, work, check=False)
    m = re.search(r"errors: (\d+)", out)
    if not m:
        bail("%s printed no error count:\n%s" % (pan, out))
    errors = int(m.group(1))
    complete = ("Full statespace search" in out and "Search not completed" not in out
                and "max search depth too small" not in out and "out of memory" not in out.lower())
    return errors, complete, out


def summary(out):
    """pan's figures: states, depth, time."""
    states = re.search(r"([\d.e+]+) states, stored", out)
    depth = re.search(r"depth reached (\d+)", out)
    elapsed = re.search(r"elapsed time ([\d.e+]+) seconds", out)
    return "%s states, depth %s, %s s" % (states.group(1) if states else "?",
                                          depth.group(1) if depth else "?",
                                          elapsed.group(1) if elapsed else "?")


# What the short story of a counterexample shows: moves, QEMU states, faults.
STORY_VARS = ("sp", "ss", "dp", "ds", "sq", "dq", "xfer", "crashes", "losses", "kills",
              "stalls", "c_kill", "d_mhr", "d_recv", "s_sent_finish", "c_dconn", "d_ran",
              "lost_ok")
PHASE_NAMES = ["NONE", "BEGIN", "PREPARE", "PERFORM", "FINISH", "CONFIRM"]
STATE_NAMES = ["NEW", "RUNNING", "WAITING", "IN_DOUBT", "COMMITTED", "ROLLBACK",
               "COMPLETED", "FAILED", "CANCELLED"]
NAMES = {
    "sp": PHASE_NAMES, "dp": PHASE_NAMES, "ss": STATE_NAMES, "ds": STATE_NAMES,
    "sq": ["runs the guest", "paused", "killed", "stopped (the guest moved)"],
    "dq": ["none", "incoming, paused", "runs the guest", "killed", "discarded"],
    "xfer": ["none", "sending", "all sent, source paused", "broken"],
}
REQUESTS = ["?", "Begin", "Perform", "Confirm(OK)", "Confirm(CANCELLED)", "Confirm(UNKNOWN)",
            "Prepare", "Finish", "Finish(cancelled)", "cancel", "connection closed"]
ANSWERS = ["?", "ok", "refused", "too late", "no answer"]
# channel: (what it links, what its first field means, the process reading it)
CHANNELS = {"c2s": ("client -> source", REQUESTS, "Source"),
            "c2d": ("client -> destination", REQUESTS, "Dest"),
            "s2d": ("source -> destination", REQUESTS, "Dest"),
            "s2c": ("source -> client", ANSWERS, "Client"),
            "d2c": ("destination -> client", ANSWERS, "Client"),
            "d2s": ("destination -> source", ANSWERS, "Source")}
FAULTS = {"crashes": "a daemon crashes (and restarts)", "losses": "a call is lost",
          "kills": "a QEMU is killed", "stalls": "the client falls silent",
          "c_kill": "the client dies"}


def name_of(table, value):
    try:
        return table[int(value)]
    except (ValueError, IndexError):
        return value


def story(replay):
    """The counterexample in short: who moved, what was sent and received,
    which fault -- from spin -t -p -g -s -r."""
    with open(MODEL) as f:
        source = f.read().splitlines()
    lines = []
    step_re = re.compile(r"\s*(\d+):\s+proc\s+\d+\s+\((\w+):\d+\)\s+\S+:(\d+)\s+(.*)$")
    for line in replay.splitlines():
        m = step_re.match(line)
        if not m:
            continue
        step, proc, lineno, rest = m.groups()
        what = None
        msg = re.match(r"(Send|Recv) ([\d,]+)\s+(?:->|<-) queue \d+ \((\w+)\)", rest)
        assign = re.match(r"\(state \d+\)\s+\[(\w+) = (.*)\]$", rest)
        if msg and msg.group(3) in CHANNELS:
            where, kinds, reader = CHANNELS[msg.group(3)]
            kind = name_of(kinds, msg.group(2).split(",")[0])
            if msg.group(1) == "Send":
                what = "sends %s: %s" % (where, kind)
            elif proc == reader and "lost in the crash" in source[int(lineno) - 1]:
                what = "drops %s: %s (lost in the crash)" % (where, kind)
            elif proc == reader:
                what = "receives %s: %s" % (where, kind)
            else:
                what = "drops %s: %s (lost)" % (where, kind)
        elif assign and assign.group(1) in FAULTS:
            what = "FAULT: " + FAULTS[assign.group(1)]
        elif assign and assign.group(1) in STORY_VARS:
            var, value = assign.groups()
            if var in NAMES and value.isdigit():
                value = name_of(NAMES[var], value)
            what = "%s = %s" % (var, value)
        if what:
            lines.append("%5s  %-8s line %-5s %s" % (step, proc, lineno, what))
    # Where it ends: the values spin prints after the last step.
    end = replay[replay.rfind("trail ends"):] if "trail ends" in replay else ""
    final = []
    for var in ("sp", "ss", "dp", "ds", "sq", "dq", "xfer"):
        m = re.search(r"^\s+%s = (\d+)$" % var, end, re.M)
        if m:
            final.append("%s = %s" % (var, name_of(NAMES[var], m.group(1))))
    if final:
        lines.append("  end  " + ", ".join(final))
    return "\n".join(lines)


def counterexample(work, flags, what, faults):
    """The replay of the trail pan wrote, for the TAP diagnostics."""
    replay = run(["spin", "-t", "-p", "-g", "-s", "-r"] + flags + ["ferry-v3.pml"], work,
                 check=False)
    plain = run(["spin", "-t", "-p"] + flags + ["ferry-v3.pml"], work, check=False)
    return ("counterexample (with the fewest faults: %d; then the shortest): %s.\n"
            "In short (sp/ss: the source's job, dp/ds: the destination's, sq/dq: their QEMUs):"
            "\n%s\n\nspin -t -p:\n%s" % (faults, what, story(replay), plain))


def max_faults():
    """The model's fault budget: MAX_FAULTS, unless SPIN_FLAGS sets it."""
    for flag in SPIN_FLAGS:
        m = re.match(r"-DMAX_FAULTS=(\d+)$", flag)
        if m:
            return int(m.group(1))
    with open(MODEL) as f:
        m = re.search(r"#define MAX_FAULTS (\d+)", f.read())
    if not m:
        bail("no '#define MAX_FAULTS N' in " + MODEL)
    return int(m.group(1))


def failed_search(work, defines, flags, what):
    """Finds the counterexample of a failed search with the fewest faults --
    the budget raised one by one -- and the shortest of those (-i, which
    needs -DREACH), and replays it."""
    for faults in range(1, max_faults() + 1):
        here = tempfile.mkdtemp(prefix="faults-%d-" % faults, dir=work)
        shutil.copy(MODEL, os.path.join(here, "ferry-v3.pml"))
        spin_flags = [f for f in SPIN_FLAGS if not f.startswith("-DMAX_FAULTS=")]
        spin_flags.append("-DMAX_FAULTS=%d" % faults)
        run(["spin", "-a"] + spin_flags + ["ferry-v3.pml"], here)
        compile_pan(here, "pan", defines + ["-DREACH"])
        run(["./pan", DEPTH, "-i"] + flags, here, check=False)
        if os.path.exists(os.path.join(here, "ferry-v3.pml.trail")):
            return counterexample(here, spin_flags, what, faults)
    return "(no counterexample found again: %s)" % what


def unreached_statements(report):
    """pan's 'unreached in proctype' lists: {(process, state): line}."""
    found = {}
    proc = None
    for line in report.splitlines():
        m = re.match(r"unreached in (?:proctype|claim) (\S+)", line)
        if m:
            proc = m.group(1)
            continue
        m = re.match(r"\s+ferry-v3\.pml:(\d+), state (\d+),", line)
        if m and proc:
            found[(proc, int(m.group(2)))] = int(m.group(1))
    return found


def dead_lines(work, lines, report):
    """Of @lines (each a move: one per line), those no statement of which
    the complete search (@report) reached.  pan lists the statements it
    never reached, one per copy of an inline body; to know all statements
    of a line, a search cut after one step lists nearly all of them (no
    move can happen in the first step)."""
    everything = unreached_statements(run(["./pan_safety", "-m1", "-E", "-A"], work,
                                          check=False))
    unreached = unreached_statements(report)
    dead = []
    for line in lines:
        mine = [key for key, where in everything.items() if where == line]
        if not mine or all(key in unreached for key in mine):
            dead.append(line)
    return dead


def main():
    print("TAP version 13")
    for tool in ("spin", "gcc"):
        if not shutil.which(tool):
            bail("%s is not installed (scripts/install-deps installs it)" % tool)
    with open(MODEL) as f:
        model_text = f.read()
    calls = check_table(model_text)

    with tempfile.TemporaryDirectory(prefix="ferry-model-") as work:
        shutil.copy(MODEL, os.path.join(work, "ferry-v3.pml"))
        run(["spin", "-a"] + SPIN_FLAGS + ["ferry-v3.pml"], work)
        safety = ["-DSAFETY", "-DNOCLAIM", "-DCOLLAPSE"]
        compile_pan(work, "pan_safety", safety)

        # 2. (a): assertions only (-E: end states are check 4); -c0: go on
        # past a violation, so that the search is complete and its report
        # of unreached statements true.
        errors, complete, out = search(work, "pan_safety", ["-E", "-c0"])
        detail = summary(out)
        if errors:
            detail += "\n" + failed_search(work, safety, ["-E"],
                                           "a state with two copies running, or the source "
                                           "running after the destination ran the guest")
        elif not complete:
            detail += "\nthe search did not complete:\n" + out
        tap(errors == 0 and complete,
            "(a) never two copies running; the source never runs after the destination ran",
            detail)

        # 3. Every move reached (a move never made is dead model code).
        dead = []
        if complete:
            by_line = {line: row for row, lines in calls.items() for line in lines}
            for line in dead_lines(work, sorted(by_line), out):
                dead.append("line %d: %s is never made" % (line, fmt_row(by_line[line])))
        tap(complete and not dead, "every move of the model is made in the search",
            "\n".join(dead) if complete else "(the search did not complete)")

        # 4. (c): invalid end states only (-A: assertions were check 2).
        errors, complete, out = search(work, "pan_safety", ["-A"])
        detail = summary(out)
        if errors:
            detail += "\n" + failed_search(work, safety, ["-A"],
                                           "the system stops with a job unresolved, a QEMU "
                                           "left paused, or not exactly one copy running")
        elif not complete:
            detail += "\nthe search did not complete:\n" + out
        tap(errors == 0 and complete,
            "(c) no invalid end state: nothing stops with a job unresolved", detail)

        # 5. (b): the LTL claim under weak fairness (-f); -A: assertions were
        # check 2.  NFAIR: room for the model's six processes.
        liveness = ["-DCOLLAPSE", "-DNFAIR=3"]
        compile_pan(work, "pan_live", liveness)
        errors, complete, out = search(work, "pan_live", ["-a", "-f", "-A", "-N", "settles"])
        detail = summary(out)
        if errors:
            detail += "\n" + failed_search(work, liveness, ["-a", "-f", "-A", "-N", "settles"],
                                           "an execution that never settles (LTL settles: "
                                           "<> settled)")
        elif not complete:
            detail += "\nthe search did not complete:\n" + out
        tap(errors == 0 and complete,
            "(b) after the faults, always settled: both jobs ended, exactly one copy runs "
            "(LTL, weak fairness)", detail)

    print("1..%d" % test_number)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
