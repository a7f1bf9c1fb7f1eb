/*
 * migration-policy.c: the convergence policy (see migration-policy.h).
 *
 * The model: each pre-copy pass sends what the guest dirtied during the
 * one before, so while the guest dirties at d bytes/s and the link carries
 * l bytes/s, what is left shrinks by about d/l per pass.  QEMU switches
 * over once what is left fits in the downtime target at the link's rate.
 * At d/l near 1 or above, the passes stop shrinking: what is left stays
 * about the guest's working set, and switching over would cost
 * remaining/l.  That cost decides the first step: raise the limit to it if
 * the ceiling allows; otherwise (or if it was not enough) post-copy, which
 * always finishes; otherwise slow the guest down.
 */
#include "ferry-config.h"

#include <string.h>

#include "ferry/ferry.h"
#include "migration/migration-policy.h"

/* Passes that shrink by less than this are not converging. */
#define CONVERGE_RATIO 0.9
/* A pre-copy that needs more passes than this to fit the target is not
 * converging either: it would take too long. */
#define MAX_PASSES 8
/* A raised limit leaves this much room above the measured cost. */
#define RAISE_MARGIN 1.25

/* Passes a throttle gets to work before the policy says it has nothing
 * left: QEMU raises it by 10 % a pass, from 20 % to its 99 % in 9. */
#define THROTTLE_PASSES 10

struct ferry_policy {
    ferry_policy_config config;     /* its downtime_ms follows the raises */
    ferry_policy_step taken;        /* the last step decided */
    guint64 taken_pass;             /* at which pass */
};

ferry_policy *
ferry_policy_new(const ferry_policy_config *config)
{
    ferry_policy *policy = g_new0(ferry_policy, 1);

    policy->config = *config;
    return policy;
}

void
ferry_policy_free(ferry_policy *policy)
{
    g_free(policy);
}

gboolean
ferry_policy_may_throttle(guint flags)
{
    return !(flags & (FERRY_MIGRATE_NO_POLICY | FERRY_MIGRATE_POSTCOPY |
                      FERRY_MIGRATE_AUTO_CONVERGE | FERRY_MIGRATE_OFFLINE));
}

/* The part of @cap_ms the switch-over's own cost takes. */
static guint64
cap_margin(guint64 cap_ms)
{
    return MIN((guint64)FERRY_POLICY_CAP_MARGIN_MS, cap_ms / 2);
}

guint64
ferry_policy_cap_target(guint64 max_downtime_ms, guint64 cap_ms)
{
    guint64 target = max_downtime_ms ? max_downtime_ms : FERRY_POLICY_QEMU_DOWNTIME_MS;

    return cap_ms ? MIN(target, MAX(cap_ms - cap_margin(cap_ms), 1)) : target;
}

gboolean
ferry_policy_cap_fits(guint64 cap_ms, guint64 remaining, guint64 rate_bps,
                      guint64 *ret_predicted_ms)
{
    guint64 predicted;

    if (!remaining)
        predicted = cap_margin(cap_ms);
    else if (!rate_bps)
        predicted = G_MAXUINT64;
    else
        predicted = (guint64)((double)remaining * 1000.0 / (double)rate_bps) +
                    cap_margin(cap_ms);
    *ret_predicted_ms = predicted;
    return predicted <= cap_ms;
}

void
ferry_policy_config_init(ferry_policy_config *config, guint64 max_downtime_ms, guint64 cap_ms,
                         gboolean postcopy_allowed, gboolean throttle_allowed)
{
    memset(config, 0, sizeof(*config));
    config->downtime_ms = ferry_policy_cap_target(max_downtime_ms, cap_ms);
    /* Raising the limit trades downtime for convergence: worth it only
     * against slowing the guest down.  Post-copy finishes with a pause of
     * a few ms, so when it is allowed the default limit stays. */
    config->ceiling_ms = max_downtime_ms ? max_downtime_ms
                         : postcopy_allowed ? FERRY_POLICY_QEMU_DOWNTIME_MS
                         : FERRY_POLICY_CEILING_MS;
    if (cap_ms)
        config->ceiling_ms = MIN(config->ceiling_ms, MAX(cap_ms - cap_margin(cap_ms), 1));
    config->postcopy_allowed = postcopy_allowed;
    config->throttle_allowed = throttle_allowed;
}

gboolean
ferry_policy_may_postcopy(guint flags)
{
    return !(flags & (FERRY_MIGRATE_NO_POLICY | FERRY_MIGRATE_NO_POSTCOPY |
                      FERRY_MIGRATE_POSTCOPY | FERRY_MIGRATE_OFFLINE |
                      FERRY_MIGRATE_PARALLEL));
}

const char *
ferry_policy_step_name(ferry_policy_step step)
{
    switch (step) {
    case FERRY_POLICY_RAISE_DOWNTIME:
        return "downtime";
    case FERRY_POLICY_POSTCOPY:
        return "postcopy";
    case FERRY_POLICY_THROTTLE:
        return "throttle";
    case FERRY_POLICY_GIVE_UP:
        return "gave-up";
    default:
        return "";
    }
}

/* Whether pre-copy gets what is left under @target_bytes within a few
 * passes, shrinking by @ratio each. */
static gboolean
converges(guint64 remaining, guint64 target_bytes, double ratio)
{
    double left = (double)remaining;

    if (ratio >= CONVERGE_RATIO)
        return remaining <= target_bytes;
    for (int pass = 0; pass <= MAX_PASSES; pass++, left *= ratio) {
        if (left <= (double)target_bytes)
            return TRUE;
    }
    return FALSE;
}

gboolean
ferry_policy_observe(ferry_policy *policy, const ferry_policy_sample *s,
                     ferry_policy_decision *ret)
{
    const ferry_policy_config *c = &policy->config;
    double ratio;
    guint64 target_bytes;

    memset(ret, 0, sizeof(*ret));
    /* The first pass sends all of memory once: only from the second on do
     * the figures say how the guest and the link compare. */
    if (s->pass < 2 || s->link_bps == 0)
        return FALSE;
    ratio = (double)s->dirty_rate_bps / (double)s->link_bps;
    target_bytes = c->downtime_ms * s->link_bps / 1000;
    ret->switch_ms = s->remaining * 1000 / s->link_bps;
    if (converges(s->remaining, target_bytes, ratio))
        return FALSE;

    if (policy->taken < FERRY_POLICY_RAISE_DOWNTIME && c->ceiling_ms > c->downtime_ms &&
        ret->switch_ms <= c->ceiling_ms) {
        ret->step = FERRY_POLICY_RAISE_DOWNTIME;
        ret->downtime_ms = MIN((guint64)(ret->switch_ms * RAISE_MARGIN) + 10, c->ceiling_ms);
        /* QEMU switches over as soon as what is left fits the new limit. */
        policy->config.downtime_ms = ret->downtime_ms;
        g_snprintf(ret->reason, sizeof(ret->reason),
                   "pass %" G_GUINT64_FORMAT ": the guest dirties %.1f MiB/s, the link carries "
                   "%.1f MiB/s; switching over would take %" G_GUINT64_FORMAT " ms: the "
                   "downtime limit goes to %" G_GUINT64_FORMAT " ms (ceiling %" G_GUINT64_FORMAT
                   " ms)", s->pass, s->dirty_rate_bps / 1048576.0, s->link_bps / 1048576.0,
                   ret->switch_ms, ret->downtime_ms, c->ceiling_ms);
    } else if (policy->taken < FERRY_POLICY_POSTCOPY && c->postcopy_allowed) {
        ret->step = FERRY_POLICY_POSTCOPY;
        g_snprintf(ret->reason, sizeof(ret->reason),
                   "pass %" G_GUINT64_FORMAT ": pre-copy cannot converge (switching over "
                   "would take %" G_GUINT64_FORMAT " ms, the limit is %" G_GUINT64_FORMAT
                   " ms): post-copy", s->pass, ret->switch_ms, c->ceiling_ms > c->downtime_ms
                   ? MAX(c->ceiling_ms, c->downtime_ms) : c->downtime_ms);
    } else if (policy->taken < FERRY_POLICY_THROTTLE && c->throttle_allowed) {
        ret->step = FERRY_POLICY_THROTTLE;
        g_snprintf(ret->reason, sizeof(ret->reason),
                   "pass %" G_GUINT64_FORMAT ": pre-copy cannot converge and post-copy is not "
                   "allowed: the guest's CPUs are slowed down", s->pass);
    } else if (policy->taken == FERRY_POLICY_THROTTLE &&
               s->pass < policy->taken_pass + THROTTLE_PASSES) {
        return FALSE;   /* the throttle grows each pass: give it time */
    } else if (policy->taken < FERRY_POLICY_GIVE_UP) {
        ret->step = FERRY_POLICY_GIVE_UP;
        g_snprintf(ret->reason, sizeof(ret->reason),
                   "pass %" G_GUINT64_FORMAT ": pre-copy cannot converge and nothing is left "
                   "to try: the timeout (--timeout) decides", s->pass);
    } else {
        return FALSE;
    }
    policy->taken = ret->step;
    policy->taken_pass = s->pass;
    return TRUE;
}

/* Passes the estimate plays at most: beyond, pre-copy does not end. */
#define ESTIMATE_MAX_PASSES 100

guint64
ferry_policy_dirty_set(guint64 rate1_bps, guint64 rate2_bps)
{
    if (rate2_bps * 2 < rate1_bps + rate1_bps / 2)
        return MAX(rate2_bps * 2, rate1_bps);
    return 0;
}

guint64
ferry_policy_multifd_rate(guint64 limit_bps)
{
    guint64 budget = limit_bps / FERRY_POLICY_RATE_PERIODS;
    guint64 packet = FERRY_POLICY_MULTIFD_PAYLOAD + FERRY_POLICY_MULTIFD_HEADER;
    guint64 packets = budget / packet + 1;

    return packets * FERRY_POLICY_MULTIFD_PAYLOAD * FERRY_POLICY_RATE_PERIODS;
}

static guint64
ms_at(guint64 bytes, guint64 rate_bps)
{
    return (guint64)((double)bytes * 1000.0 / (double)rate_bps + 0.5);
}

/* The prediction once post-copy takes over with @remaining left. */
static void
estimate_postcopy(const ferry_policy_estimate_input *in, guint64 total_ms, guint64 passes,
                  guint64 remaining, const char *why, ferry_policy_estimate_result *ret)
{
    guint64 rate = in->postcopy_rate_bps ? in->postcopy_rate_bps
                   : in->link_bps ? in->link_bps : in->rate_bps;

    ret->step = FERRY_POLICY_POSTCOPY;
    ret->passes = passes;
    ret->downtime_ms = FERRY_POLICY_SWITCH_MS;
    ret->total_ms = total_ms + ms_at(remaining, rate) + ret->downtime_ms;
    g_snprintf(ret->reason, sizeof(ret->reason),
               "%s: post-copy after pass %" G_GUINT64_FORMAT ", then %.1f MiB left at %.1f MiB/s",
               why, passes, remaining / 1048576.0, rate / 1048576.0);
}

void
ferry_policy_estimate(const ferry_policy_estimate_input *in, ferry_policy_estimate_result *ret)
{
    g_autoptr(ferry_policy) policy = ferry_policy_new(&in->config);
    guint64 limit_ms = in->config.downtime_ms;
    guint64 total_ms = FERRY_POLICY_FIXED_MS;
    guint64 link = in->link_bps ? in->link_bps : in->rate_bps;
    guint64 pass_ms, remaining;
    guint64 bound = in->dirty_set ? MIN(in->dirty_set, in->mem_data) : in->mem_data;
    ferry_policy_step raised = FERRY_POLICY_WAIT;

    memset(ret, 0, sizeof(*ret));
    if (in->rate_bps == 0) {
        ret->step = FERRY_POLICY_GIVE_UP;
        g_strlcpy(ret->reason, "the link carried nothing", sizeof(ret->reason));
        return;
    }
    pass_ms = ms_at(in->mem_data, in->rate_bps);
    total_ms += pass_ms;
    for (guint64 pass = 2; pass <= ESTIMATE_MAX_PASSES; pass++) {
        ferry_policy_sample sample = { .pass = pass, .dirty_rate_bps = in->dirty_rate_bps,
                                       .link_bps = in->rate_bps };
        ferry_policy_decision d;

        /* What the guest dirtied while the last pass went. */
        remaining = MIN((guint64)((double)in->dirty_rate_bps * pass_ms / 1000.0), bound);
        sample.remaining = remaining;
        /* QEMU judges by the rate it measured, the limited one. */
        if (ms_at(remaining, in->rate_bps) <= limit_ms) {
            /* It switches over: the rest goes while the guest is paused,
             * at the link's full rate (no limit applies then). */
            ret->step = raised;
            ret->passes = pass - 1;
            ret->downtime_ms = ms_at(remaining, link) + FERRY_POLICY_SWITCH_MS;
            ret->total_ms = total_ms + ret->downtime_ms;
            g_snprintf(ret->reason, sizeof(ret->reason),
                       "pre-copy converges after %" G_GUINT64_FORMAT " pass%s: %.1f MiB left "
                       "fit%s the %" G_GUINT64_FORMAT " ms limit at %.1f MiB/s", ret->passes,
                       ret->passes == 1 ? "" : "es", remaining / 1048576.0,
                       remaining == 0 ? "" : "s", limit_ms, in->rate_bps / 1048576.0);
            return;
        }
        if (in->postcopy_after_precopy && pass == 2) {
            estimate_postcopy(in, total_ms, 1, remaining, "asked for (after pre-copy)", ret);
            return;
        }
        if (in->policy && ferry_policy_observe(policy, &sample, &d)) {
            switch (d.step) {
            case FERRY_POLICY_RAISE_DOWNTIME:
                limit_ms = d.downtime_ms;
                raised = FERRY_POLICY_RAISE_DOWNTIME;
                pass--;     /* QEMU judges this same pass again, with the new limit */
                continue;
            case FERRY_POLICY_POSTCOPY: {
                /* QEMU switches within a chunk of the pass just begun;
                 * then the guest runs on the destination, which receives
                 * what was left (the guest no longer dirties the source's
                 * copy). */
                g_autofree char *why = g_strdup_printf(
                    "pre-copy cannot converge (%.1f MiB/s dirtied, %.1f MiB/s carried)",
                    in->dirty_rate_bps / 1048576.0, in->rate_bps / 1048576.0);

                estimate_postcopy(in, total_ms, pass - 1, remaining, why, ret);
                return;
            }
            case FERRY_POLICY_THROTTLE:
                ret->step = FERRY_POLICY_THROTTLE;
                ret->passes = pass;
                g_snprintf(ret->reason, sizeof(ret->reason),
                           "pre-copy cannot converge (%.1f MiB/s dirtied, %.1f MiB/s "
                           "carried) and post-copy is not allowed: the guest would be slowed "
                           "down from pass %" G_GUINT64_FORMAT ", for how long cannot be "
                           "predicted", in->dirty_rate_bps / 1048576.0,
                           in->rate_bps / 1048576.0, pass);
                return;
            default:
                break;
            }
            if (d.step == FERRY_POLICY_GIVE_UP)
                break;
        }
        pass_ms = ms_at(remaining, in->rate_bps);
        total_ms += pass_ms;
    }
    ret->step = FERRY_POLICY_GIVE_UP;
    g_snprintf(ret->reason, sizeof(ret->reason),
               "pre-copy never converges (%.1f MiB/s dirtied, %.1f MiB/s carried) and "
               "nothing is allowed to help: only the timeout ends it",
               in->dirty_rate_bps / 1048576.0, in->rate_bps / 1048576.0);
}
