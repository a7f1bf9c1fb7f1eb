/*
 * migration-policy.h: the convergence policy -- from what each pre-copy
 * pass measured, whether pre-copy can meet the downtime target, and when it
 * cannot, the next step: raise the downtime limit within its ceiling, then
 * post-copy (when allowed), then throttle the guest, then nothing more (the
 * caller's timeout action decides).
 *
 * Pure: no QMP, no engine, no clock.  The engine
 * (migration-source-converge.c) feeds it a sample per pass and carries its
 * decisions out; the unit tests feed it passes recorded from real
 * migrations (tests/migration/test-policy.c).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/** What the policy says to do. */
typedef enum {
    FERRY_POLICY_WAIT = 0,          /* pre-copy converges (or cannot be judged yet) */
    FERRY_POLICY_RAISE_DOWNTIME,    /* raise the downtime limit to .downtime_ms */
    FERRY_POLICY_POSTCOPY,          /* switch to post-copy */
    FERRY_POLICY_THROTTLE,          /* slow the guest's CPUs down */
    FERRY_POLICY_GIVE_UP,           /* nothing left to try: the timeout action decides */
} ferry_policy_step;

/** One pre-copy pass, as measured when the next one began. */
typedef struct {
    guint64 pass;                   /* QEMU's pass count (1: the first, over all memory) */
    guint64 remaining;              /* bytes still to send */
    guint64 dirty_rate_bps;         /* bytes the guest dirties per second */
    guint64 link_bps;               /* bytes per second the transfer moves */
} ferry_policy_sample;

/** What the policy may do. */
typedef struct {
    guint64 downtime_ms;            /* the downtime target */
    guint64 ceiling_ms;             /* the highest it may raise it to (<= target: never) */
    gboolean postcopy_allowed;
    gboolean throttle_allowed;
} ferry_policy_config;

/** A decision, with what it is based on. */
typedef struct {
    ferry_policy_step step;
    guint64 downtime_ms;            /* RAISE_DOWNTIME: the new limit */
    guint64 switch_ms;              /* what switching over now would cost, at the link */
    char reason[200];               /* one sentence for people */
} ferry_policy_decision;

typedef struct ferry_policy ferry_policy;

/* How high the policy may raise the downtime limit when the caller set
 * none (--max-downtime sets a hard one). */
#define FERRY_POLICY_CEILING_MS 1000
/* QEMU's own downtime-limit when none is set. */
#define FERRY_POLICY_QEMU_DOWNTIME_MS 300

/**
 * ferry_policy_config_init:
 * @config: (out): the configuration
 * @max_downtime_ms: the caller's --max-downtime (0: none)
 * @cap_ms: the caller's --max-downtime-cap (0: none)
 * @postcopy_allowed: post-copy is allowed (and possible)
 * @throttle_allowed: the guest may be slowed down
 *
 * The target is ferry_policy_cap_target(); the ceiling is
 * @max_downtime_ms (a limit the caller set is never raised), else the
 * target when post-copy is allowed (it pauses the guest for a few ms
 * only), else 1 s -- and never above what the cap leaves QEMU.
 */
void ferry_policy_config_init(ferry_policy_config *config, guint64 max_downtime_ms,
                              guint64 cap_ms, gboolean postcopy_allowed,
                              gboolean throttle_allowed);

/* The guest's pause at a switch-over beyond QEMU sending what is left:
 * the devices' state, stopping and starting the CPUs, the destination's
 * Finish (make bench: median 17 ms, at most 31 ms between namespace
 * hosts).  A cap keeps this much room (at most half the cap). */
#define FERRY_POLICY_CAP_MARGIN_MS 20

/**
 * ferry_policy_cap_target:
 * @max_downtime_ms: the caller's --max-downtime (0: none)
 * @cap_ms: the caller's --max-downtime-cap (0: none)
 *
 * The downtime limit QEMU is given: @max_downtime_ms, else QEMU's 300 ms,
 * lowered so that with the switch-over's own cost
 * (FERRY_POLICY_CAP_MARGIN_MS, at most half of @cap_ms) it stays within
 * @cap_ms.
 *
 * Returns: milliseconds, > 0.
 */
guint64 ferry_policy_cap_target(guint64 max_downtime_ms, guint64 cap_ms);

/**
 * ferry_policy_cap_fits:
 * @cap_ms: the caller's --max-downtime-cap, > 0
 * @remaining: bytes QEMU has left to send at the switch-over
 * @rate_bps: bytes per second the transfer was measured to move (0:
 *     unknown)
 * @ret_predicted_ms: (out): the guest's pause that switching over now
 *     would cost (G_MAXUINT64 if it cannot be known)
 *
 * Whether switching over now keeps the guest's pause within @cap_ms: what
 * is left, sent at the measured rate, plus the switch-over's own cost.
 * Nothing left always fits; something left at an unknown rate never does.
 *
 * Returns: TRUE if it fits.
 */
gboolean ferry_policy_cap_fits(guint64 cap_ms, guint64 remaining, guint64 rate_bps,
                               guint64 *ret_predicted_ms);

/**
 * ferry_policy_dirty_set:
 * @rate1_bps: what the guest dirtied in one second, bytes/s
 * @rate2_bps: what it dirtied in two seconds, bytes/s
 *
 * Whether the guest's dirty memory stays within a working set: when two
 * seconds dirtied not much more than one (under 1.5 times), what they
 * dirtied is the most it dirties however long.
 *
 * Returns: that working set, bytes; 0 if the dirty memory keeps growing.
 */
guint64 ferry_policy_dirty_set(guint64 rate1_bps, guint64 rate2_bps);

/* QEMU's multifd (7.2, measured): each packet carries this many bytes of
 * pages (128 pages of 4 KiB), behind a header of 64 bytes, a 256-byte
 * RAM block name and one 8-byte offset per page; the whole packet is
 * counted against the rate limit at once. */
#define FERRY_POLICY_MULTIFD_PAYLOAD (128u * 4096u)
#define FERRY_POLICY_MULTIFD_HEADER (64u + 256u + 128u * 8u)
/* QEMU's rate limit is a budget of a tenth of max-bandwidth per 100 ms. */
#define FERRY_POLICY_RATE_PERIODS 10u

/**
 * ferry_policy_multifd_rate:
 * @limit_bps: max-bandwidth, bytes/s
 *
 * What pre-copy over multifd moves under @limit_bps.  QEMU sends whole
 * packets until a period's budget is exceeded, so each period carries
 * the first whole number of packets over its budget: 8 MiB/s moves
 * 10 MiB/s (two packets of 512 KiB for a budget of 819 KiB), 10 MiB/s
 * moves 10 MiB/s.
 *
 * Returns: bytes/s.
 */
guint64 ferry_policy_multifd_rate(guint64 limit_bps);

/** What ferry_policy_estimate() starts from. */
typedef struct {
    guint64 mem_data;               /* bytes the first pass sends */
    guint64 dirty_rate_bps;         /* bytes the guest dirties per second */
    guint64 dirty_set;              /* the most it dirties however long (0: no bound) */
    guint64 rate_bps;               /* bytes per second pre-copy moves (the link, within
                                     * the bandwidth limit) */
    guint64 link_bps;               /* bytes per second the link carries: QEMU sends
                                     * what is left at the switch-over without a limit
                                     * (0: rate_bps) */
    guint64 postcopy_rate_bps;      /* bytes per second post-copy moves (0: link_bps) */
    gboolean postcopy_after_precopy; /* switch to post-copy once the first pass is done */
    gboolean policy;                /* the policy is on */
    ferry_policy_config config;     /* what it may do */
} ferry_policy_estimate_input;

/** Its prediction. */
typedef struct {
    ferry_policy_step step;         /* WAIT: pre-copy converges as it is; RAISE_DOWNTIME:
                                     * once the limit is raised; POSTCOPY; THROTTLE (no
                                     * figures); GIVE_UP: never ends */
    guint64 passes;                 /* pre-copy passes before the switch */
    guint64 total_ms;               /* 0 for THROTTLE and GIVE_UP */
    guint64 downtime_ms;
    char reason[256];
} ferry_policy_estimate_result;

/* The fixed costs the estimate adds, as measured by make bench: starting
 * the destination's QEMU and the phases around the transfer (84 ms on the
 * namespace hosts), and the switch-over beyond sending what is left (a few
 * ms: the devices' state, stopping and starting the CPUs). */
#define FERRY_POLICY_FIXED_MS 100
#define FERRY_POLICY_SWITCH_MS 5

/**
 * ferry_policy_estimate:
 * @in: the guest, the link and what the policy may do
 * @ret: (out): the prediction
 *
 * Plays the migration through pass by pass, as the model of this module
 * sees it -- each pass sends what the guest dirtied during the one before,
 * at most its dirty set and all of its data -- and through the policy's own decisions
 * (ferry_policy_observe()), until QEMU would switch over, post-copy would
 * take over, the throttle would start (whose effect it does not predict),
 * or pre-copy would never end.
 */
void ferry_policy_estimate(const ferry_policy_estimate_input *in,
                           ferry_policy_estimate_result *ret);

/**
 * ferry_policy_may_throttle:
 * @flags: a migration's ferry_migrate_flags
 *
 * Whether the policy may slow the guest down in such a migration: it is
 * on, and neither post-copy (which always finishes) nor the caller's own
 * auto-converge is asked for.  The QEMU driver sets its auto-converge up
 * dormant for exactly these.
 *
 * Returns: TRUE if it may.
 */
gboolean ferry_policy_may_throttle(guint flags);

/**
 * ferry_policy_may_postcopy:
 * @flags: a migration's ferry_migrate_flags
 *
 * Whether the policy may switch such a migration to post-copy without
 * FERRY_MIGRATE_POSTCOPY: it is on, post-copy is not refused
 * (NO_POSTCOPY) nor asked for already, and no parallel connections are
 * used (QEMU 7.2 refuses them with post-copy).  The disks are shared, or
 * copied (NON_SHARED_*): memory moves only once their mirrors are in sync,
 * and the switch completes the mirrors while the source is paused, so in
 * both cases the destination has all of the guest but its RAM once the
 * switch is made.  The destination still has the last word (it must be
 * able to receive post-copy).
 *
 * Returns: TRUE if it may.
 */
gboolean ferry_policy_may_postcopy(guint flags);

/**
 * ferry_policy_new:
 * @config: what it may do (copied)
 *
 * Returns: (transfer full): a policy for one migration.
 */
ferry_policy *ferry_policy_new(const ferry_policy_config *config);

/** ferry_policy_free: frees @policy (NULL is fine). */
void ferry_policy_free(ferry_policy *policy);

/**
 * ferry_policy_observe:
 * @policy: a policy
 * @sample: the pass that just ended
 * @ret: (out): the decision
 *
 * Judges the pass: WAIT while pre-copy converges -- what is left shrinks
 * each pass, fast enough to fit the target within a few passes -- else the
 * next step not taken yet.  Each step is decided once.
 *
 * Returns: TRUE if @ret says to act (a step other than WAIT).
 */
gboolean ferry_policy_observe(ferry_policy *policy, const ferry_policy_sample *sample,
                              ferry_policy_decision *ret);

/**
 * ferry_policy_step_name:
 * @step: a ferry_policy_step
 *
 * Returns: "", "downtime", "postcopy", "throttle" or "gave-up".
 */
const char *ferry_policy_step_name(ferry_policy_step step);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_policy, ferry_policy_free)

G_END_DECLS
