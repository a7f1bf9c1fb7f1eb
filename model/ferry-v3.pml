/*
 * ferry-v3.pml: ferry's v3 live-migration protocol, with daemon crashes and
 * restarts, lost and delayed messages, a client that dies or stalls, and a
 * QEMU that is killed -- checked by spin (tests/model/check-model.py).
 *
 * What is modelled (model/README.md says more, and what is left out):
 *
 *   Client  -- `ferry migrate` without --p2p (src/migration/migration-sequence.c):
 *              Begin (source), Prepare (destination), Perform (source),
 *              Finish or Finish(cancelled) (destination), Confirm (source);
 *              a connection to the destination lost before Finish is made
 *              again (or not); it may fall silent between two phases (a
 *              stall), and lose its calls.
 *   Source  -- the source host's ferryd, its job (migration-source.c) and
 *              its restart recovery (docs/recovery.md); it answers the
 *              destination's query from its job's record
 *              (ferry_mig_engine_query()).
 *   Dest    -- the destination host's ferryd, its job (migration-dest.c),
 *              its question to the source about a migration left waiting
 *              (driver_lost(), source_answered()), and its restart recovery
 *              (may_have_run).
 *   World   -- the two QEMUs and the memory stream between them, and the
 *              faults that belong to no daemon: a QEMU killed, a
 *              one-way "cancel" lost, the client dying.
 *   Monitor -- the safety properties, checked in every reachable state.
 *   Resolver-- blocks until the migration is settled; a deadlock before
 *              that is an invalid end state (the liveness check for runs
 *              that end; the LTL claim `settles` is the same under fairness).
 *
 * A daemon's job state (phase, state) is its record: ferry writes the record
 * before every move, so a daemon that crashes restarts from exactly that.
 * Everything else a daemon holds (pending calls, flags) is volatile and lost
 * in a crash.  The moves a job makes are SMOVE/DMOVE(from, to); each asserts
 * that the job is in `from`, and the set of them must be table[] of
 * src/migration/migration-job.c (the MOVES block below; the check script
 * compares the three and fails on any difference).
 *
 * Faults are bounded (the -D macros below) so that the search is exhaustive:
 * every execution ends, and "the faults stop" holds in all of them.
 *
 * Each step of a daemon is one atomic sequence: ferry's engine handles one
 * event of a job at a time, on one thread, and writes the record before the
 * move; a crash falls between two steps.  (atomic, not d_step: pan's report
 * of unreached statements does not look inside a d_step, and the check
 * script uses it to prove that every move is made.)  Steps that ferry splits -- a record
 * written, then a QEMU acted on by a step thread -- are split here too, so
 * that a crash, a fault or the other side can come in between.
 */

/* ------------------------------------------------------------------------ */
/* Fault budgets (override with spin -DMAX_CRASHES=... etc.)                 */
/* ------------------------------------------------------------------------ */

#ifndef MAX_CRASHES
#define MAX_CRASHES 2   /* daemon crashes (and restarts), both hosts together */
#endif
#ifndef MAX_LOSSES
#define MAX_LOSSES 2    /* calls that fail in transit: dropped or timed out */
#endif
#ifndef MAX_KILLS
#define MAX_KILLS 1     /* a QEMU killed (destroy, OOM, crash) */
#endif
#ifndef MAX_STALLS
#define MAX_STALLS 1    /* the client silent past migration_abandon_timeout */
#endif
#ifndef MAX_FAULTS
#define MAX_FAULTS 3    /* all of the above together (the client's death is not counted) */
#endif
#define FAULTS (crashes + losses + kills + stalls)
/* Another fault of a kind counted by @n, at most @max of them. */
#define MAY(n, max) (n < max && FAULTS < MAX_FAULTS)

/*
 * The engine as it was before the fixes of the three holes this model found
 * (model/README.md, "Found and fixed"), one switch each, so that the
 * counterexamples can be found again (the test runs without them):
 *
 *   WITHOUT_FIX_1  the source takes a client's Confirm(CANCELLED) as the
 *                  destination's word even when its own daemon sent a Finish
 *                  (no ctl->sent_finish in committed_event());
 *   WITHOUT_FIX_2  the destination never asks the source's daemon about a
 *                  migration left waiting (no PEER_QUERY in driver_lost());
 *   WITHOUT_FIX_3  a restarted destination that finds its committed job's
 *                  QEMU gone, or fails to start it, ends it failed and refuses
 *                  a Finish of it (no may_have_run).
 */

/* ------------------------------------------------------------------------ */
/* The job: phases and states, as ferry_mig_phase / ferry_mig_state          */
/* ------------------------------------------------------------------------ */

#define P_NONE     0
#define P_BEGIN    1
#define P_PREPARE  2
#define P_PERFORM  3
#define P_FINISH   4
#define P_CONFIRM  5

#define S_NEW        0
#define S_RUNNING    1
#define S_WAITING    2
#define S_IN_DOUBT   3
#define S_COMMITTED  4
#define S_ROLLBACK   5
#define S_COMPLETED  6
#define S_FAILED     7
#define S_CANCELLED  8

/*
 * MOVES -- every row of table[] in src/migration/migration-job.c, one line
 * each (parsed by tests/model/check-model.py; keep the format).
 *   move ROLE FROM_PHASE FROM_STATE -> TO_PHASE TO_STATE
 *        a move the model makes: an SMOVE/DMOVE with exactly these
 *        arguments exists below, and the search reaches it;
 *   skip ROLE FROM_PHASE FROM_STATE -> TO_PHASE TO_STATE : why
 *        a row of the engine the model leaves out, and why.
 *
 * BEGIN MOVES
 * move SRC NONE NEW -> BEGIN RUNNING
 * skip SRC NONE NEW -> PERFORM RUNNING : protocols v1/v2 only; the model is v3
 * move SRC BEGIN RUNNING -> BEGIN WAITING
 * move SRC BEGIN RUNNING -> BEGIN ROLLBACK
 * move SRC BEGIN WAITING -> PERFORM RUNNING
 * move SRC BEGIN WAITING -> CONFIRM RUNNING
 * move SRC BEGIN WAITING -> BEGIN ROLLBACK
 * move SRC PERFORM RUNNING -> PERFORM WAITING
 * move SRC PERFORM RUNNING -> PERFORM ROLLBACK
 * move SRC PERFORM WAITING -> CONFIRM RUNNING
 * move SRC PERFORM WAITING -> FINISH RUNNING
 * move SRC PERFORM WAITING -> CONFIRM IN_DOUBT
 * move SRC FINISH RUNNING -> CONFIRM RUNNING
 * move SRC FINISH RUNNING -> CONFIRM IN_DOUBT
 * move SRC CONFIRM IN_DOUBT -> CONFIRM RUNNING
 * move SRC CONFIRM RUNNING -> CONFIRM IN_DOUBT
 * move SRC CONFIRM RUNNING -> CONFIRM COMPLETED
 * move SRC CONFIRM RUNNING -> CONFIRM ROLLBACK
 * move SRC BEGIN ROLLBACK -> BEGIN FAILED
 * move SRC BEGIN ROLLBACK -> BEGIN CANCELLED
 * move SRC PERFORM ROLLBACK -> PERFORM FAILED
 * move SRC PERFORM ROLLBACK -> PERFORM CANCELLED
 * move SRC CONFIRM ROLLBACK -> CONFIRM FAILED
 * move SRC CONFIRM ROLLBACK -> CONFIRM CANCELLED
 * move DST NONE NEW -> PREPARE RUNNING
 * move DST PREPARE RUNNING -> PREPARE WAITING
 * move DST PREPARE RUNNING -> PREPARE ROLLBACK
 * move DST PREPARE WAITING -> FINISH RUNNING
 * move DST PREPARE WAITING -> PREPARE ROLLBACK
 * move DST FINISH RUNNING -> FINISH COMMITTED
 * move DST FINISH RUNNING -> FINISH ROLLBACK
 * move DST FINISH COMMITTED -> FINISH COMPLETED
 * move DST FINISH COMMITTED -> FINISH ROLLBACK
 * move DST PREPARE ROLLBACK -> PREPARE FAILED
 * move DST PREPARE ROLLBACK -> PREPARE CANCELLED
 * move DST FINISH ROLLBACK -> FINISH FAILED
 * move DST FINISH ROLLBACK -> FINISH CANCELLED
 * END MOVES
 */

/* The source's job (its record): phase and state. */
byte sp = P_NONE;
byte ss = S_NEW;
/* The destination's job (its record). */
byte dp = P_NONE;
byte ds = S_NEW;
/* The destination job's may_have_run (kept in its record): a restarted
 * ferryd found it committed (recover_record()), so the guest may have run
 * here, whatever becomes of this copy: a Finish of it succeeds, a cancel is
 * too late, a query says committed (ferry_mig_answer_waiter(), status_of()). */
bit d_mhr;

/* One move of a job: it must be in `from`; then it is in `to`.  One per line:
 * the check script reads them, and pan's report of unreached statements
 * names their lines. */
#define SMOVE(fp, fs, tp, ts) assert(sp == P_##fp && ss == S_##fs); sp = P_##tp; ss = S_##ts
#define DMOVE(fp, fs, tp, ts) assert(dp == P_##fp && ds == S_##fs); dp = P_##tp; ds = S_##ts

#define FINAL(s) ((s) >= S_COMPLETED)

/* ------------------------------------------------------------------------ */
/* QEMU and the memory stream                                                */
/* ------------------------------------------------------------------------ */

/* The source's QEMU: the guest runs there at first. */
#define Q_RUN      0    /* its CPUs run the guest */
#define Q_PAUSED   1    /* paused by QEMU at the end of the transfer */
#define Q_DEAD     2    /* killed (a fault) */
#define Q_STOPPED  3    /* stopped by Confirm: the guest moved */
byte sq = Q_RUN;

/* The destination's QEMU. */
#define D_NONE  0       /* not started (no Prepare yet) */
#define D_IN    1       /* incoming: paused, takes the stream */
#define D_RUN   2       /* its CPUs run the guest */
#define D_DEAD  3       /* killed (a fault) */
#define D_GONE  4       /* discarded by a rollback */
#define D_LAUNCH 5      /* Prepare answered: ferryd's socket listens, QEMU not
                         * started yet (the launch step); a stream waits */
byte dq = D_NONE;

/* The stream from the source's QEMU to the destination's. */
#define X_NONE    0
#define X_RUN     1     /* memory being sent; the source guest still runs */
#define X_DONE    2     /* everything arrived; QEMU paused the source guest */
#define X_BROKEN  3     /* cancelled, or one of the QEMUs died */
byte xfer = X_NONE;

/* ------------------------------------------------------------------------ */
/* Messages                                                                  */
/* ------------------------------------------------------------------------ */

/* Requests. */
#define M_BEGIN          1
#define M_PERFORM        2
#define M_CONF_OK        3      /* Confirm after Finish succeeded */
#define M_CONF_CANCEL    4      /* Confirm(CANCELLED) */
#define M_CONF_UNKNOWN   5      /* Confirm(UNKNOWN): Finish's answer was lost */
#define M_PREPARE        6
#define M_FINISH         7
#define M_FINISH_CANCEL  8      /* Finish(cancelled): the source gave up */
#define M_CANCEL         9      /* "cancel migration ID", source to destination */
#define M_CLOSED         10     /* the client's connection closed (after all it sent) */

/* Answers. */
#define R_OK        1
#define R_REFUSED   2   /* an answer, not a lost one: does not run / did not take it */
#define R_TOO_LATE  3   /* cancel refused: the guest runs (or starts) there */
#define R_DOUBT     4   /* no answer: the call failed in transit or timed out */

/*
 * One channel per direction and pair, FIFO like the TCP connection it
 * stands for; a message may wait in it for as long as the other processes
 * go on (delayed arbitrarily).  Answers carry the kind of the request they
 * answer.  An answer that nobody waits for any more -- its call timed out,
 * or its caller crashed -- is dropped when sent: ferry's RPC client drops
 * it on arrival.  The destination answers the same question the same way
 * whenever it is asked (its answers are final states), so which of two
 * calls of one kind an answer belongs to does not matter.  A request from
 * the source's daemon with 0 as second field wants no answer
 * (ferry_mig_peer_cancel_sync, whose result is only logged).
 */
#define C2S_CAP 4
#define S2C_CAP 3
#define C2D_CAP 4
#define D2C_CAP 3
#define S2D_CAP 8
#define D2S_CAP 8
chan c2s = [C2S_CAP] of { byte };               /* client -> source */
chan s2c = [S2C_CAP] of { byte, byte };         /* source -> client: answer, request kind */
chan c2d = [C2D_CAP] of { byte };               /* client -> destination */
chan d2c = [D2C_CAP] of { byte, byte };         /* destination -> client */
chan s2d = [S2D_CAP] of { byte, byte };         /* source daemon -> destination: kind, wants an answer */
chan d2s = [D2S_CAP] of { byte, byte };         /* destination -> source daemon: answer, request kind */

/* ------------------------------------------------------------------------ */
/* Volatile state (lost when its daemon crashes)                             */
/* ------------------------------------------------------------------------ */

/* Source daemon. */
bit s_rec;          /* just restarted: the recovery has not decided yet */
bit s_cgone;        /* the client is gone (closed, silent too long, or restart) */
bit s_begin;        /* Begin's step runs; the client waits for its answer */
bit s_perf;         /* the client's Perform waits for its answer */
bit s_aborting;     /* an abort (the client vanished mid-transfer) */
bit s_busy;         /* a call to the destination's daemon is out */
bit s_sent_finish;  /* ctl->sent_finish: this daemon itself sent a Finish (a call
                       of it started: the connection to the destination opened) */
bit s_noconn;       /* the call out is one whose connection does not open
                       (STEP_PEER_OPEN fails, a loss): nothing is sent */
bit s_dead_seen;    /* the source QEMU's death was handled */
byte s_intent;      /* what the daemon asks while in doubt: M_FINISH or M_CANCEL */
byte s_callkind;    /* the kind of the call that is out */
byte s_final;       /* how the rollback under way ends: S_FAILED / S_CANCELLED */
#define N_STOP 1    /* (CONFIRM, RUNNING) leads to: stop the source (the guest moved) */
#define N_RB   2    /*   ... or: roll back (the destination does not run it) */
byte s_next;

/* Destination daemon. */
bit d_rec;          /* just restarted */
bit d_prep;         /* Prepare's step runs; the client waits for its answer */
bit d_launch;       /* the launch step runs (after Prepare answered) */
bit d_cgone;        /* the client is gone */
bit d_activated;    /* the committed guest's CPUs were started */
bit d_recovered;    /* this committed job was taken over after a restart */
bit d_recv;         /* ctl->receiving || ctl->received: the daemon learned (the
                       backend's event) that the data arrives or arrived */
byte d_final;       /* how the rollback under way ends */

/* Client. */
bit c_alive = 1;    /* running (not finished, not dead) */
bit c_sconn = 1;    /* its connection to the source's daemon is up */
bit c_dconn = 1;    /* its connection to the destination's daemon is up */
bit c_kill;         /* the World kills it (not counted in MAX_FAULTS: once) */
byte c_await;       /* the request whose answer it waits for (0: none); an
                       answer it no longer waits for is dropped when sent */
bit c_stalled;      /* silent too long since its last call: the daemons'
                       abandon watchdogs may fire, until it speaks again */
bit c_finished;     /* gone, its connections closed */

/* Fault counters. */
byte crashes;
byte losses;
byte kills;
byte stalls;

/* Ghosts, for the properties only. */
bit d_ran;          /* the destination's CPUs ran the guest at some point */
bit lost_ok;        /* a QEMU killed held the only valid copy: zero copies is allowed */

/* ------------------------------------------------------------------------ */
/* Properties                                                                */
/* ------------------------------------------------------------------------ */

#define SRC_RUNNING (sq == Q_RUN)
#define DST_RUNNING (dq == D_RUN)
#define NRUNNING (SRC_RUNNING + DST_RUNNING)
/* The destination holds the guest: it decided to run it (or did). */
#define DST_HOLDS ((dp == P_FINISH && (ds == S_COMMITTED || ds == S_COMPLETED)) || d_mhr)

/* (b) and (c): everything settled -- the client is gone, both jobs ended
 * (or never began), no request is left unanswered, no QEMU is left paused,
 * and exactly one copy runs, or none because the copy that held the guest
 * was killed. */
#define SRC_ENDED (sp == P_NONE || FINAL(ss))
#define DST_ENDED (dp == P_NONE || FINAL(ds))
#define SETTLED (c_finished && SRC_ENDED && DST_ENDED && !s_rec && !d_rec && \
                 len(c2s) == 0 && len(c2d) == 0 && len(s2d) == 0 && \
                 sq != Q_PAUSED && dq != D_IN && dq != D_LAUNCH && \
                 (NRUNNING == 1 || (NRUNNING == 0 && lost_ok)))

ltl settles { <> SETTLED }

/* (a): never two copies running; and, stronger, the source never runs the
 * guest again once the destination ran it (even if that copy died since:
 * it may have written to shared disks). */
active proctype Monitor()
{
end_monitor:
    atomic {
        (SRC_RUNNING && (DST_RUNNING || d_ran)) ->
            assert(!(SRC_RUNNING && DST_RUNNING));
            assert(!(SRC_RUNNING && d_ran))
    }
}

/* (b)/(c) for the safety search: blocks until settled; if the system can
 * move no more before that, pan reports an invalid end state here. */
active proctype Resolver()
{
    SETTLED
}

/* ------------------------------------------------------------------------ */
/* Client: ferry migrate, v3 (migration-sequence.c)                          */
/* ------------------------------------------------------------------------ */

/* Once a call is over the client may fall silent, before its next call, for
 * longer than migration_abandon_timeout (then speak again).  Chosen in the
 * step that ends the call, so that a stall costs no step of its own. */
#define MAY_STALL \
    if \
    :: MAY(stalls, MAX_STALLS) -> stalls++; c_stalled = 1 \
    :: true -> skip \
    fi

/* Calls @kind on the source's daemon and waits: r is its answer, or R_DOUBT
 * when the call fails in transit (its connection closed; a loss: the
 * request dropped, or timed out -- then it may still be carried out). */
inline call_source(kind)
{
    if
    :: atomic { c_sconn -> c2s!kind; c_await = kind; c_stalled = 0 }
       do
       :: atomic { s2c?r, k -> if :: k == kind -> c_await = 0; MAY_STALL :: else -> skip fi };
          if :: k == kind -> break :: else -> skip fi
       :: atomic { !c_sconn && len(s2c) == 0 -> c_await = 0; r = R_DOUBT; MAY_STALL }; break
       :: atomic { MAY(losses, MAX_LOSSES) -> losses++; c_await = 0; r = R_DOUBT; MAY_STALL }; break
       :: atomic { MAY(losses, MAX_LOSSES) && c2s??[eval(kind)] ->
                   losses++; c2s??eval(kind); c_await = 0; r = R_DOUBT; MAY_STALL }; break
       od
    :: atomic { !c_sconn -> r = R_DOUBT; MAY_STALL }
    fi
}

inline call_dest(kind)
{
    if
    :: atomic { c_dconn -> c2d!kind; c_await = kind; c_stalled = 0 }
       do
       :: atomic { d2c?r, k -> if :: k == kind -> c_await = 0; MAY_STALL :: else -> skip fi };
          if :: k == kind -> break :: else -> skip fi
       :: atomic { !c_dconn && len(d2c) == 0 -> c_await = 0; r = R_DOUBT; MAY_STALL }; break
       :: atomic { MAY(losses, MAX_LOSSES) -> losses++; c_await = 0; r = R_DOUBT; MAY_STALL }; break
       :: atomic { MAY(losses, MAX_LOSSES) && c2d??[eval(kind)] ->
                   losses++; c2d??eval(kind); c_await = 0; r = R_DOUBT; MAY_STALL }; break
       od
    :: atomic { !c_dconn -> r = R_DOUBT; MAY_STALL }
    fi
}


/* Confirm: the client's last call; what it answers changes nothing (the
 * source's daemon decided), so the client does not wait for it. */
inline confirm(kind)
{
    if
    :: atomic { c_sconn -> c2s!kind; c_stalled = 0 }
    :: atomic { c_sconn && MAY(losses, MAX_LOSSES) -> losses++ }   /* lost on the way */
    :: atomic { !c_sconn -> skip }
    fi
}

active proctype Client()
{
    byte r, k;

    {
        call_source(M_BEGIN);
        if
        :: r != R_OK -> goto done
        :: else -> skip
        fi;
        call_dest(M_PREPARE);
        if
        :: r != R_OK ->
            /* Prepare failed: Confirm(CANCELLED). */
            confirm(M_CONF_CANCEL);
            goto done
        :: else -> skip
        fi;
        call_source(M_PERFORM);
        if
        :: r == R_OK && c_dconn ->
finish:
            call_dest(M_FINISH);
            if
            :: r == R_OK -> confirm(M_CONF_OK)
            :: r == R_DOUBT -> confirm(M_CONF_UNKNOWN)    /* only the source's daemon can learn */
            :: else -> confirm(M_CONF_CANCEL)             /* an error that is an answer */
            fi
        :: r == R_OK && !c_dconn ->
            /* v3_after_perform: the connection to the destination was lost
             * before Finish.  reconnect(): the same URI again, for up to 30 s;
             * connected, Finish goes on (after_reopen()).  Not connected (the
             * daemon down longer, a cut link; not counted as a fault): "Finish
             * never reached that daemon ... certain, not in doubt". */
            if
            :: c_dconn = 1; goto finish
            :: confirm(M_CONF_CANCEL)
            fi
        :: r != R_OK ->
            /* Perform failed: Finish(cancelled), whose answer matters only
             * as a log line, then Confirm(CANCELLED). */
            call_dest(M_FINISH_CANCEL);
            confirm(M_CONF_CANCEL)
        fi;
done:
        skip
    } unless { c_kill };

    /* Finished or killed: its connections close after what it sent. */
    atomic {
        c_alive = 0;
        c_stalled = 0;
        if
        :: c_sconn -> c2s!M_CLOSED
        :: else -> skip
        fi;
        if
        :: c_dconn -> c2d!M_CLOSED
        :: else -> skip
        fi;
        c_finished = 1
    }
}

/* ------------------------------------------------------------------------ */
/* Source daemon (migration-source.c, docs/recovery.md)                      */
/* ------------------------------------------------------------------------ */

/* An answer to the client, if it can still get it. */
#define TO_CLIENT(ans, kind) \
    if \
    :: c_await == kind && c_sconn -> assert(len(s2c) < S2C_CAP); s2c!ans, kind \
    :: else -> skip \
    fi

/* A call to the destination's daemon: the question of the commit zone
 * (ferry_mig_run_peer()).  Its connection may fail to open (a loss: the
 * call fails later, nothing was sent); once it opened, the call starts, and
 * a Finish sets sent_finish (ferry_mig_peer_call_start()). */
#define ASK \
    s_busy = 1; s_callkind = s_intent; \
    if \
    :: MAY(losses, MAX_LOSSES) -> losses++; s_noconn = 1 \
    :: true -> \
        if \
        :: s_intent == M_FINISH -> s_sent_finish = 1 \
        :: else -> skip \
        fi; \
        assert(len(s2d) < S2D_CAP); s2d!s_intent, 1 \
    fi

/* "cancel migration ID", answer ignored (ferry_mig_peer_cancel_sync). */
#define TELL_CANCEL assert(len(s2d) < S2D_CAP); s2d!M_CANCEL, 0

/* The commit zone: everything sent, the source paused, until the
 * destination's word. */
#define S_ZONE ((sp == P_PERFORM && ss == S_WAITING) || (sp == P_FINISH && ss == S_RUNNING) || \
                ss == S_IN_DOUBT)
/* Asking the destination (and retrying after a failed call). */
#define S_ASKING ((sp == P_FINISH && ss == S_RUNNING) || ss == S_IN_DOUBT)

/* Leaves the commit zone for (CONFIRM, RUNNING), then @n. */
inline go_confirm(n)
{
    if
    :: sp == P_PERFORM ->
        SMOVE(PERFORM, WAITING, CONFIRM, RUNNING)
    :: sp == P_FINISH ->
        SMOVE(FINISH, RUNNING, CONFIRM, RUNNING)
    :: sp == P_CONFIRM ->
        SMOVE(CONFIRM, IN_DOUBT, CONFIRM, RUNNING)
    fi;
    s_next = n
}

/* ask_peer(): from (PERFORM, WAITING) the daemon finishing for a vanished
 * client runs Finish, anything else is in doubt. */
inline ask_from_zone()
{
    if
    :: sp == P_PERFORM && s_intent == M_FINISH ->
        SMOVE(PERFORM, WAITING, FINISH, RUNNING)
    :: sp == P_PERFORM && s_intent != M_FINISH ->
        SMOVE(PERFORM, WAITING, CONFIRM, IN_DOUBT)
    :: else -> skip
    fi;
    if
    :: !s_busy -> ASK
    :: else -> skip     /* the call out answers first */
    fi
}

/* peer_answered(): the destination's word, or none. */
inline peer_answer(ans)
{
    if
    :: ans == R_DOUBT ->
        /* No answer: stay paused, in doubt, ask again. */
        if
        :: sp == P_FINISH ->
            SMOVE(FINISH, RUNNING, CONFIRM, IN_DOUBT)
        :: else -> skip
        fi
    :: ans == R_OK && s_callkind == M_FINISH -> go_confirm(N_STOP)
    :: ans == R_TOO_LATE -> s_aborting = 0; go_confirm(N_STOP)
    :: ans == R_OK && s_callkind == M_CANCEL ->
        s_final = (s_aborting -> S_CANCELLED : S_FAILED);
        go_confirm(N_RB)
    :: ans == R_REFUSED ->
        s_final = ((s_callkind == M_CANCEL && s_aborting) -> S_CANCELLED : S_FAILED);
        go_confirm(N_RB)
    fi
}

active proctype Source()
{
    byte m, r, t;

end_source:
    do
    /* ---- the daemon crashes and restarts: its QEMU and record stay --- */
    :: atomic {
        MAY(crashes, MAX_CRASHES) && sp != P_NONE && !FINAL(ss) ->
            crashes++;
            s_rec = 1; s_cgone = 1; s_begin = 0; s_perf = 0; s_aborting = 0; s_busy = 0;
            s_dead_seen = 0; s_intent = 0; s_callkind = 0; s_final = 0; s_next = 0;
            s_sent_finish = 0; s_noconn = 0;
            /* The client's connection went with the process, and with it
             * the requests not read yet. */
            c_sconn = 0;
            do
            :: nempty(c2s) -> c2s?m          /* lost in the crash */
            :: empty(c2s) -> break
            od;
            /* Answers to the old process's calls have nobody to go to. */
            do
            :: nempty(d2s) -> d2s?r, t       /* lost in the crash */
            :: empty(d2s) -> break
            od
       }

    /* ---- restart recovery (docs/recovery.md, the table) --------------- */
    :: atomic {
        s_rec ->
            s_rec = 0;
            if
            :: sp == P_NONE || FINAL(ss) -> skip                        /* keep */
            :: ss == S_ROLLBACK -> s_final = S_FAILED                   /* rollback */
            :: sp == P_BEGIN && ss == S_RUNNING ->
                s_final = S_FAILED;
                SMOVE(BEGIN, RUNNING, BEGIN, ROLLBACK)
            :: sp == P_BEGIN && ss == S_WAITING ->
                s_final = S_FAILED;
                SMOVE(BEGIN, WAITING, BEGIN, ROLLBACK)
            :: sp == P_PERFORM && ss == S_RUNNING && xfer != X_DONE && sq != Q_DEAD ->
                /* QEMU still sending (or the transfer failed): rollback. */
                s_final = S_FAILED;
                SMOVE(PERFORM, RUNNING, PERFORM, ROLLBACK)
            :: sp == P_PERFORM && ss == S_RUNNING && (xfer == X_DONE || sq == Q_DEAD) ->
                /* QEMU sent everything, or is gone: ask. */
                SMOVE(PERFORM, RUNNING, PERFORM, WAITING);
                s_intent = M_FINISH;
                ask_from_zone()
            :: sp == P_PERFORM && ss == S_WAITING ->
                s_intent = M_FINISH;
                ask_from_zone()
            :: sp == P_FINISH || ss == S_IN_DOUBT ->
                s_intent = M_FINISH;
                ASK
            :: sp == P_CONFIRM && ss == S_RUNNING ->
                /* Confirm's outcome was not recorded: ask again. */
                SMOVE(CONFIRM, RUNNING, CONFIRM, IN_DOUBT);
                s_intent = M_FINISH;
                ASK
            fi
       }

    /* ---- Begin ---------------------------------------------------------- */
    :: atomic {
        !s_rec && c2s?[M_BEGIN] ->
            c2s?m;
            if
            :: sp == P_NONE ->
                s_begin = 1;
                SMOVE(NONE, NEW, BEGIN, RUNNING)
            :: else -> TO_CLIENT(R_REFUSED, M_BEGIN)
            fi
       }
    :: atomic {
        !s_rec && s_begin ->
            /* step_begin: the checks; the domain must be running. */
            s_begin = 0;
            if
            :: sq == Q_RUN ->
                SMOVE(BEGIN, RUNNING, BEGIN, WAITING);
                TO_CLIENT(R_OK, M_BEGIN)
            :: else ->
                s_final = S_FAILED;
                SMOVE(BEGIN, RUNNING, BEGIN, ROLLBACK);
                TO_CLIENT(R_REFUSED, M_BEGIN)
            fi
       }

    /* ---- Perform ------------------------------------------------------- */
    :: atomic {
        !s_rec && c2s?[M_PERFORM] ->
            c2s?m;
            if
            :: sp == P_BEGIN && ss == S_WAITING ->
                SMOVE(BEGIN, WAITING, PERFORM, RUNNING);
                s_perf = 1;
                assert(xfer == X_NONE);
                xfer = X_RUN
            :: else ->
                TO_CLIENT(R_REFUSED, M_PERFORM)   /* fail_request / ended_request */
            fi
       }
    /* Everything sent: QEMU paused the source.  The commit zone. */
    :: atomic {
        !s_rec && sp == P_PERFORM && ss == S_RUNNING && xfer == X_DONE ->
            SMOVE(PERFORM, RUNNING, PERFORM, WAITING);
            if
            :: s_aborting ->
                /* Aborted while the last bytes went: only the destination
                 * can say now. */
                s_intent = M_CANCEL;
                ask_from_zone()
            :: else ->
                if
                :: s_perf -> s_perf = 0; TO_CLIENT(R_OK, M_PERFORM)
                :: else -> skip
                fi
            fi
       }
    /* The stream broke (cancelled, a QEMU died): nothing is in doubt. */
    :: atomic {
        !s_rec && sp == P_PERFORM && ss == S_RUNNING && xfer == X_BROKEN ->
            s_final = (s_aborting -> S_CANCELLED : S_FAILED);
            SMOVE(PERFORM, RUNNING, PERFORM, ROLLBACK)
       }

    /* ---- Confirm ------------------------------------------------------- */
    :: atomic {
        !s_rec && (c2s?[M_CONF_OK] || c2s?[M_CONF_CANCEL] || c2s?[M_CONF_UNKNOWN]) ->
            c2s?m;
            if
            :: sp == P_BEGIN && ss == S_WAITING ->
                /* Prepare failed: nothing moved. */
                s_final = S_FAILED;
                SMOVE(BEGIN, WAITING, CONFIRM, RUNNING);
                s_next = N_RB
            :: S_ZONE && !s_busy ->
                if
                :: m == M_CONF_OK -> go_confirm(N_STOP)
#ifndef WITHOUT_FIX_1
                :: m == M_CONF_CANCEL && s_sent_finish ->
                    /* This daemon sent a Finish of its own: the client can
                     * not know that Finish never reached the destination;
                     * only the destination can say (ask_peer(PEER_FINISH)).
                     * sent_finish means the daemon has left PERFORM. */
                    assert(sp != P_PERFORM);
                    s_intent = M_FINISH;
                    ASK
                :: m == M_CONF_CANCEL && !s_sent_finish ->
#else
                :: m == M_CONF_CANCEL ->
#endif
                    s_final = (s_aborting -> S_CANCELLED : S_FAILED);
                    go_confirm(N_RB)
                :: m == M_CONF_UNKNOWN ->
                    /* The caller does not know Finish's outcome: ask. */
                    if
                    :: s_intent == 0 -> s_intent = M_FINISH
                    :: else -> skip
                    fi;
                    if
                    :: sp == P_PERFORM ->
                        SMOVE(PERFORM, WAITING, CONFIRM, IN_DOUBT)
                    :: else -> skip
                    fi;
                    ASK
                fi
            :: else ->
                /* A peer call is out (its answer decides), or the job is
                 * past deciding: a waiter, answered from the outcome. */
                skip
            fi
       }

    /* ---- the client gone ---------------------------------------------- */
    :: atomic { !s_rec && c2s?[M_CLOSED] -> c2s?m; s_cgone = 1 }
    /* The abandon watchdog: a client silent past migration_abandon_timeout
     * between two phases.  In (BEGIN, WAITING) the migration is given up;
     * in (PERFORM, WAITING) the client counts as gone and the daemon runs
     * Finish itself.  (A client that speaks again resets the timer.) */
    :: atomic {
        !s_rec && c_stalled && !s_cgone && sp == P_BEGIN && ss == S_WAITING ->
            s_final = S_CANCELLED;
            SMOVE(BEGIN, WAITING, BEGIN, ROLLBACK)
       }
    :: atomic {
        !s_rec && c_stalled && !s_cgone && sp == P_PERFORM && ss == S_WAITING ->
            s_cgone = 1;
            s_intent = M_FINISH;
            ask_from_zone()
       }
    :: atomic {
        !s_rec && s_cgone && sp == P_BEGIN && ss == S_WAITING ->
            s_final = S_CANCELLED;
            SMOVE(BEGIN, WAITING, BEGIN, ROLLBACK)
       }
    :: atomic {
        !s_rec && s_cgone && sp == P_PERFORM && ss == S_RUNNING && !s_aborting ->
            /* Abort: tell the destination first, then cancel the transfer
             * (too late if it completed: the commit zone follows). */
            s_aborting = 1;
            TELL_CANCEL;
            if
            :: xfer == X_RUN -> xfer = X_BROKEN
            :: else -> skip
            fi
       }
    :: atomic {
        !s_rec && s_cgone && sp == P_PERFORM && ss == S_WAITING && !s_aborting ->
            /* The daemon runs Finish itself. */
            s_intent = M_FINISH;
            ask_from_zone()
       }

    /* ---- the source QEMU died ------------------------------------------- */
    :: atomic {
        !s_rec && (sq == Q_DEAD) && !s_dead_seen && sp != P_NONE && !FINAL(ss) ->
            s_dead_seen = 1;
            if
            :: sp == P_BEGIN && ss == S_WAITING ->
                s_final = S_FAILED;
                SMOVE(BEGIN, WAITING, BEGIN, ROLLBACK)
            :: S_ZONE ->
                /* Destroyed: the destination must not run it either. */
                s_intent = M_CANCEL;
                ask_from_zone()
            :: else -> skip   /* mid-transfer the stream breaks; Begin checks it */
            fi
       }

    /* ---- the destination's answer ------------------------------------- */
    :: atomic {
        d2s?r, t ->
            if
            :: s_busy && !s_noconn && t == s_callkind -> s_busy = 0; peer_answer(r)
            :: else -> skip   /* the answer to a call that timed out, or to the old process */
            fi
       }
    /* The call fails in transit (a loss): timed out -- it may still be
     * carried out, its answer then dropped -- or dropped on the way. */
    :: atomic {
        s_busy && !s_noconn && MAY(losses, MAX_LOSSES) ->
            losses++; s_busy = 0; peer_answer(R_DOUBT)
       }
    :: atomic {
        s_busy && MAY(losses, MAX_LOSSES) && s2d??[eval(s_callkind), 1] ->
            losses++; s2d??eval(s_callkind), 1; s_busy = 0; peer_answer(R_DOUBT)
       }
    /* A connection that did not open: the call fails (as a doubt). */
    :: atomic { s_noconn -> s_noconn = 0; s_busy = 0; peer_answer(R_DOUBT) }
    /* Retry (after the back-off). */
    :: atomic { !s_rec && S_ASKING && !s_busy -> ASK }

    /* ---- Confirm's work ------------------------------------------------- */
    :: atomic {
        !s_rec && sp == P_CONFIRM && ss == S_RUNNING && s_next == N_STOP ->
            if
            :: sq == Q_RUN || sq == Q_PAUSED -> sq = Q_STOPPED
            :: else -> skip
            fi;
            SMOVE(CONFIRM, RUNNING, CONFIRM, COMPLETED)
       }
    :: atomic {
        !s_rec && sp == P_CONFIRM && ss == S_RUNNING && s_next == N_RB ->
            SMOVE(CONFIRM, RUNNING, CONFIRM, ROLLBACK)
       }

    /* ---- rollback: the source runs again as it did ------------------- */
    :: atomic {
        !s_rec && ss == S_ROLLBACK ->
            if
            :: sp == P_PERFORM && xfer == X_RUN -> xfer = X_BROKEN   /* cancel_transfer */
            :: else -> skip
            fi;
            if
            :: sq == Q_PAUSED -> sq = Q_RUN                          /* resume */
            :: else -> skip
            fi;
            if
            :: s_perf -> s_perf = 0; TO_CLIENT(R_REFUSED, M_PERFORM)
            :: else -> skip
            fi;
            /* tell_peer_to_cancel: nobody else tells the destination. */
            if
            :: s_cgone && sp != P_BEGIN -> TELL_CANCEL
            :: else -> skip
            fi;
            if
            :: sp == P_BEGIN && s_final == S_FAILED ->
                SMOVE(BEGIN, ROLLBACK, BEGIN, FAILED)
            :: sp == P_BEGIN && s_final == S_CANCELLED ->
                SMOVE(BEGIN, ROLLBACK, BEGIN, CANCELLED)
            :: sp == P_PERFORM && s_final == S_FAILED ->
                SMOVE(PERFORM, ROLLBACK, PERFORM, FAILED)
            :: sp == P_PERFORM && s_final == S_CANCELLED ->
                SMOVE(PERFORM, ROLLBACK, PERFORM, CANCELLED)
            :: sp == P_CONFIRM && s_final == S_FAILED ->
                SMOVE(CONFIRM, ROLLBACK, CONFIRM, FAILED)
            :: sp == P_CONFIRM && s_final == S_CANCELLED ->
                SMOVE(CONFIRM, ROLLBACK, CONFIRM, CANCELLED)
            fi
       }
    od
}

/* ------------------------------------------------------------------------ */
/* Destination daemon (migration-dest.c, docs/recovery.md)                   */
/* ------------------------------------------------------------------------ */

#define TO_CLIENT_D(ans, kind) \
    if \
    :: c_await == kind && c_dconn -> assert(len(d2c) < D2C_CAP); d2c!ans, kind \
    :: else -> skip \
    fi

/* An answer to the source's daemon -- dropped at once when no call of
 * that kind waits for it (it would be dropped on arrival). */
#define TO_SOURCE(ans, want, kind) \
    if \
    :: want != 0 && s_busy && !s_noconn && s_callkind == kind -> assert(len(d2s) < D2S_CAP); d2s!ans, kind \
    :: else -> skip \
    fi

/* Finish is answered once the job ended (or when it never existed, or is
 * being given up before Finish).  A Finish before that waits. */
#define D_ANSWERS_FINISH (dp == P_NONE || FINAL(ds) || (dp == P_PREPARE && ds == S_ROLLBACK))
/* A job that may have run here (d_mhr): Finish succeeds, cancel is too late
 * (ferry_mig_answer_waiter()). */
#define FINISH_ANSWER ((ds == S_COMPLETED || d_mhr) -> R_OK : R_REFUSED)
#define CANCEL_ANSWER ((ds == S_COMMITTED || ds == S_COMPLETED || d_mhr) -> R_TOO_LATE : R_OK)
/* A cancel is answered at once when nothing is to be dropped. */
#define D_ANSWERS_CANCEL (dp == P_NONE || FINAL(ds) || ds == S_COMMITTED)

/* recover_record() marks a committed destination job may_have_run. */
#ifndef WITHOUT_FIX_3
#define MAY_HAVE_RUN d_mhr = 1
#else
#define MAY_HAVE_RUN skip
#endif

active proctype Dest()
{
    byte m, t;

end_dest:
    do
    /* ---- the daemon crashes and restarts ------------------------------ */
    :: atomic {
        MAY(crashes, MAX_CRASHES) && dp != P_NONE && !FINAL(ds) ->
            crashes++;
            d_rec = 1; d_prep = 0; d_cgone = 1; d_final = 0; d_activated = 0; d_recovered = 0;
            /* The socket it listened on dies with it. */
            if
            :: d_launch -> d_launch = 0; dq = D_GONE
            :: else -> skip
            fi;
            d_recv = 0;
            c_dconn = 0;
            do
            :: nempty(c2d) -> c2d?m          /* lost in the crash */
            :: empty(c2d) -> break
            od;
            do
            :: nempty(s2d) -> s2d?m, t       /* lost in the crash */
            :: empty(s2d) -> break
            od;
            /* The source's call out fails: its connection closed. */
            if
            :: s_busy && !s_noconn -> assert(len(d2s) < D2S_CAP); d2s!R_DOUBT, s_callkind
            :: else -> skip
            fi
       }

    /* ---- restart recovery --------------------------------------------- */
    :: atomic {
        d_rec ->
            d_rec = 0;
            if
            :: dp == P_NONE || FINAL(ds) -> skip                      /* keep */
            :: ds == S_COMMITTED && (dq == D_IN || dq == D_RUN) ->
                /* recover_record(): committed before the crash, so the guest
                 * may have run here (recorded); then activate. */
                MAY_HAVE_RUN;
                d_recovered = 1                                       /* activate */
            :: ds == S_COMMITTED && !(dq == D_IN || dq == D_RUN) ->
                /* Committed, its QEMU gone: the guest is lost
                 * (ferry_mig_dest_recover()); the job ends failed, but what
                 * it answers says the guest may have run here. */
                MAY_HAVE_RUN;
                d_final = S_FAILED;
                DMOVE(FINISH, COMMITTED, FINISH, ROLLBACK)
            :: ds == S_ROLLBACK -> d_final = S_FAILED                 /* discard */
            :: dp == P_PREPARE && ds == S_RUNNING ->
                d_final = S_FAILED;
                DMOVE(PREPARE, RUNNING, PREPARE, ROLLBACK)
            :: dp == P_PREPARE && ds == S_WAITING ->
                d_final = S_FAILED;
                DMOVE(PREPARE, WAITING, PREPARE, ROLLBACK)
            :: dp == P_FINISH && ds == S_RUNNING ->
                d_final = S_FAILED;
                DMOVE(FINISH, RUNNING, FINISH, ROLLBACK)
            fi
       }

    /* ---- Prepare ------------------------------------------------------- */
    :: atomic {
        !d_rec && c2d?[M_PREPARE] ->
            c2d?m;
            if
            :: dp == P_NONE ->
                d_prep = 1;
                DMOVE(NONE, NEW, PREPARE, RUNNING)
            :: else -> TO_CLIENT_D(R_REFUSED, M_PREPARE)
            fi
       }
    :: atomic {
        !d_rec && d_prep ->
            /* step_prepare: the port listens (the plain stream: QEMU
             * starts in the launch step, after the answer). */
            d_prep = 0;
            dq = D_LAUNCH;
            d_launch = 1;
            DMOVE(PREPARE, RUNNING, PREPARE, WAITING);
            TO_CLIENT_D(R_OK, M_PREPARE)
       }
    /* step_launch: QEMU starts and takes the socket, or fails (the job is
     * given up; the source's stream is refused or reset). */
    :: atomic {
        !d_rec && d_launch ->
            d_launch = 0;
            if
            :: dq == D_LAUNCH -> dq = D_IN
            :: dq == D_LAUNCH && ds == S_WAITING ->
                dq = D_GONE;
                d_final = S_FAILED;
                DMOVE(PREPARE, WAITING, PREPARE, ROLLBACK)
            :: else -> skip
            fi
       }

    /* ---- Finish (the client's, or the source daemon's) ---------------- */
    /* Of a live job: it runs Finish.  The request stays until answered. */
    :: atomic {
        !d_rec && (c2d?[M_FINISH] || s2d?[M_FINISH, t]) && dp == P_PREPARE && ds == S_WAITING &&
        !d_launch ->
            DMOVE(PREPARE, WAITING, FINISH, RUNNING)
       }
    :: atomic {
        !d_rec && c2d?[M_FINISH] && D_ANSWERS_FINISH ->
            c2d?m;
            if
            :: dp == P_NONE -> TO_CLIENT_D(R_REFUSED, M_FINISH)
            :: else -> TO_CLIENT_D(FINISH_ANSWER, M_FINISH)
            fi
       }
    :: atomic {
        !d_rec && s2d?[M_FINISH, t] && D_ANSWERS_FINISH ->
            s2d?m, t;
            if
            :: dp == P_NONE -> TO_SOURCE(R_REFUSED, t, M_FINISH)
            :: else -> TO_SOURCE(FINISH_ANSWER, t, M_FINISH)
            fi
       }
    /* Finish(cancelled): the source gave up; the answer is not read. */
    :: atomic {
        !d_rec && c2d?[M_FINISH_CANCEL] && !(dp == P_PREPARE && ds == S_RUNNING) ->
            c2d?m;
            if
            :: dp == P_PREPARE && ds == S_WAITING ->
                d_final = S_FAILED;
                DMOVE(PREPARE, WAITING, PREPARE, ROLLBACK)
            :: else -> skip   /* refused: committed, ended, or not there */
            fi;
            TO_CLIENT_D(R_REFUSED, M_FINISH_CANCEL)
       }

    /* ---- "cancel migration ID" from the source's daemon --------------- */
    :: atomic {
        !d_rec && s2d?[M_CANCEL, t] &&
        ((dp == P_PREPARE && ds == S_WAITING) || (dp == P_FINISH && ds == S_RUNNING)) ->
            d_final = S_CANCELLED;
            if
            :: dp == P_PREPARE ->
                DMOVE(PREPARE, WAITING, PREPARE, ROLLBACK)
            :: dp == P_FINISH ->
                DMOVE(FINISH, RUNNING, FINISH, ROLLBACK)
            fi;
            /* Answered when it ended; one that wants no answer goes now. */
            s2d?<m, t>;
            if
            :: t == 0 -> s2d?m, t
            :: else -> skip
            fi
       }
    :: atomic {
        !d_rec && s2d?[M_CANCEL, t] && D_ANSWERS_CANCEL ->
            s2d?m, t;
            TO_SOURCE(CANCEL_ANSWER, t, M_CANCEL)
       }

    /* ---- the data: the backend's INCOMING_ACTIVE / INCOMING_DONE -------- */
    /* Handled in its turn, after whatever the job's queue held before it
     * (a closed connection, say): receiving / received. */
    :: atomic {
        !d_rec && !d_recv && xfer != X_NONE && dp == P_PREPARE &&
        (ds == S_RUNNING || ds == S_WAITING) ->
            d_recv = 1
       }

    /* ---- the client gone ---------------------------------------------- */
    :: atomic { !d_rec && c2d?[M_CLOSED] -> c2d?m; d_cgone = 1 }
    /* driver_lost() -- the client's connection closed (EV_CONN_CLOSED), or
     * the watchdog found no phase for migration_abandon_timeout -- gives up
     * at once only what no source can still claim: nothing received.  (A
     * close that comes while the job is not yet waiting is not acted on,
     * but then the watchdog fires: the same.) */
    :: atomic {
        !d_rec && (d_cgone || c_stalled) && dp == P_PREPARE && ds == S_WAITING && !d_recv ->
            d_final = S_CANCELLED;
            DMOVE(PREPARE, WAITING, PREPARE, ROLLBACK)
       }
#ifndef WITHOUT_FIX_2
    /* With data arriving or arrived, driver_lost() keeps waiting and asks
     * the source's daemon (TIMER_RETRY, PEER_QUERY -> conn_migrate_query,
     * answered by ferry_mig_engine_query() from the source's job or its
     * record -- not through the job's queue, so even while that job waits
     * on a call of its own).  source_answered(): failed, cancelled or
     * unknown there -> give up; under way (or completed), or no answer ->
     * ask again later.
     *
     * Abstracted into this one step, taken only when the answer gives up:
     * - driver_lost() needs the client gone or the watchdog, and in
     *   (PREPARE, WAITING) the watchdog fires once migration_abandon_timeout
     *   passed without a move -- in a model without time, at any point
     *   (also for a live client whose Perform takes that long);
     * - the answers that give up are final states of the source's record
     *   (or no job at all), which never change again, so when the answer
     *   is computed and when the destination acts on it does not matter --
     *   and while the query is out the destination's job handles nothing
     *   else (busy), so nothing here comes in between either;
     * - every other answer, a lost call, or a source daemon down (a call
     *   that fails) only schedules the next question: no change here.
     * peer_uri is assumed known (a daemon with a TCP listener). */
    :: atomic {
        !d_rec && d_recv && dp == P_PREPARE && ds == S_WAITING &&
        (sp == P_NONE || ss == S_FAILED || ss == S_CANCELLED) ->
            d_final = S_FAILED;
            DMOVE(PREPARE, WAITING, PREPARE, ROLLBACK)
       }
#endif

    /* ---- the stream and the QEMU ------------------------------------- */
    :: atomic {
        !d_rec && dp == P_PREPARE && ds == S_WAITING && (xfer == X_BROKEN || dq == D_DEAD) ->
            d_final = S_FAILED;
            DMOVE(PREPARE, WAITING, PREPARE, ROLLBACK)
       }
    /* Finish waits for the last of the data, then decides. */
    :: atomic {
        !d_rec && dp == P_FINISH && ds == S_RUNNING && xfer != X_RUN ->
            if
            :: xfer == X_DONE && dq == D_IN ->
                /* Recorded (and synced) before the guest runs. */
                DMOVE(FINISH, RUNNING, FINISH, COMMITTED)
            :: else ->
                d_final = S_FAILED;
                DMOVE(FINISH, RUNNING, FINISH, ROLLBACK)
            fi
       }
    /* step_activate: the guest's CPUs start here. */
    :: atomic {
        !d_rec && dp == P_FINISH && ds == S_COMMITTED && !d_activated ->
            if
            :: dq == D_IN -> dq = D_RUN; d_ran = 1; d_activated = 1
            :: dq == D_RUN -> d_activated = 1        /* started before a restart */
            :: dq != D_IN && dq != D_RUN && !d_recovered ->
                /* It never ran here: Finish fails, the source runs on. */
                d_final = S_FAILED;
                DMOVE(FINISH, COMMITTED, FINISH, ROLLBACK)
            :: dq != D_IN && dq != D_RUN && d_recovered ->
                /* After a restart nobody knows whether it ran before
                 * (resumed by the daemon that crashed): it is lost, and
                 * the job says it may have run here (d_mhr, set by the
                 * recovery). */
                d_final = S_FAILED;
                DMOVE(FINISH, COMMITTED, FINISH, ROLLBACK)
            fi
       }
    :: atomic {
        !d_rec && dp == P_FINISH && ds == S_COMMITTED && d_activated ->
            DMOVE(FINISH, COMMITTED, FINISH, COMPLETED)
       }

    /* ---- rollback: the incoming side dropped ------------------------- */
    :: atomic {
        !d_rec && ds == S_ROLLBACK && !d_launch ->
            assert(dq != D_RUN);
            if
            :: dq == D_IN || dq == D_LAUNCH -> dq = D_GONE
            :: else -> skip
            fi;
            if
            :: dp == P_PREPARE && d_final == S_FAILED ->
                DMOVE(PREPARE, ROLLBACK, PREPARE, FAILED)
            :: dp == P_PREPARE && d_final == S_CANCELLED ->
                DMOVE(PREPARE, ROLLBACK, PREPARE, CANCELLED)
            :: dp == P_FINISH && d_final == S_FAILED ->
                DMOVE(FINISH, ROLLBACK, FINISH, FAILED)
            :: dp == P_FINISH && d_final == S_CANCELLED ->
                DMOVE(FINISH, ROLLBACK, FINISH, CANCELLED)
            fi
       }
    od
}

/* ------------------------------------------------------------------------ */
/* World: the QEMUs, the stream, and the faults outside the daemons          */
/* ------------------------------------------------------------------------ */

active proctype World()
{
end_world:
    do
    /* The last pass: QEMU pauses the source guest, the destination has it all. */
    :: atomic { xfer == X_RUN && sq == Q_RUN && dq == D_IN -> xfer = X_DONE; sq = Q_PAUSED }
    /* One end of the stream died. */
    :: atomic { xfer == X_RUN && (sq != Q_RUN || (dq != D_IN && dq != D_LAUNCH)) -> xfer = X_BROKEN }
    /* A QEMU killed.  Zero copies is then acceptable only if this one held
     * the guest: the source before the destination committed, the
     * destination after. */
    :: atomic {
        MAY(kills, MAX_KILLS) && (sq == Q_RUN || sq == Q_PAUSED) ->
            kills++;
            if
            :: !DST_HOLDS -> lost_ok = 1
            :: else -> skip
            fi;
            sq = Q_DEAD
       }
    :: atomic {
        MAY(kills, MAX_KILLS) && (dq == D_IN || dq == D_RUN) ->
            kills++;
            if
            :: DST_HOLDS -> lost_ok = 1
            :: else -> skip
            fi;
            dq = D_DEAD
       }
    /* A "cancel migration ID" whose answer nobody reads is lost. */
    :: atomic { MAY(losses, MAX_LOSSES) && s2d??[M_CANCEL, 0] -> losses++; s2d??M_CANCEL, 0 }
    /* The client dies. */
    :: atomic { c_alive && !c_kill -> c_kill = 1 }
    od
}
