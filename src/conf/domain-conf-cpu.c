/*
 * domain-conf-cpu.c: the processor and platform of a domain definition:
 * <features> (acpi, apic, pae, hyperv), <cpu> (mode, model, vendor,
 * topology, features) and <clock> (offset, timers).
 *
 * Owns: parsing and formatting these three elements, and the values they
 * accept.  Must not: touch files, know about QEMU (which of these a TCG
 * guest can have is the driver's business) or parse anything else of a
 * domain (domain-conf.c walks the document and calls in here).
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "conf/domain-conf-priv.h"

#define CHOICES(table) (table), G_N_ELEMENTS(table)

static const char *const yes_no[] = { "yes", "no" };

/* The hypervisor vendor id is 12 bytes of CPUID. */
#define HYPERV_VENDOR_ID_MAX 12
/* Hyper-V's spinlock retries: libvirt refuses fewer than 4095. */
#define SPINLOCK_RETRIES_MIN 4095
static const char *const on_off[] = { "on", "off" };
static const char *const hyperv_modes[] = { "custom", "passthrough" };
/* In libvirt's order, which the parser keeps whatever the document's. */
static const char *const hyperv_features[] = {
    "relaxed", "vapic", "spinlocks", "vpindex", "runtime", "synic", "stimer", "reset",
    "vendor_id", "frequencies", "reenlightenment", "tlbflush", "ipi", "evmcs",
};
static const char *const cpu_modes[] = { "custom", "host-model", "host-passthrough", "maximum" };
static const char *const cpu_matches[] = { "exact", "minimum", "strict" };
static const char *const cpu_checks[] = { "none", "partial", "full" };
static const char *const cpu_fallbacks[] = { "allow", "forbid" };
static const char *const cpu_policies[] = { "force", "require", "optional", "disable", "forbid" };
static const char *const clock_offsets[] = { "utc", "localtime" };
static const char *const timer_names[] = { "rtc", "pit", "hpet", "kvmclock", "hypervclock", "tsc" };
static const char *const tick_policies[] = { "delay", "catchup", "merge", "discard" };

/* ---- parsing: <features> ------------------------------------------------- */

static gboolean
parse_hyperv_feature(ferry_xml_reader *r, xmlNodePtr node, ferry_named_value *v,
                     GError **error)
{
    gboolean on;

    if (!ferry_conf_parse_choice_attr(r, node, "state", TRUE, CHOICES(on_off), &v->value, error))
        return FALSE;
    on = strcmp(v->value, "on") == 0;
    if (strcmp(v->name, "spinlocks") == 0) {
        guint64 retries = 0;

        if (!ferry_conf_parse_uint_attr(r, node, "retries", on, SPINLOCK_RETRIES_MIN, G_MAXUINT32,
                             &retries, error))
            return FALSE;
        if (retries)
            v->extra = g_strdup_printf("%" G_GUINT64_FORMAT, retries);
    } else if (strcmp(v->name, "vendor_id") == 0) {
        if (!ferry_xml_attr(r, node, "value", on, &v->extra, error))
            return FALSE;
        if (v->extra && (!*v->extra || strlen(v->extra) > HYPERV_VENDOR_ID_MAX)) {
            ferry_xml_error(r, error, node, "value '%s' is %zu bytes long (expected 1 to %d)",
                            v->extra, strlen(v->extra), HYPERV_VENDOR_ID_MAX);
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean
parse_hyperv(ferry_xml_reader *r, xmlNodePtr hyperv, ferry_domain_def *def, GError **error)
{
    if (!ferry_conf_parse_choice_attr(r, hyperv, "mode", FALSE, CHOICES(hyperv_modes), &def->hyperv_mode,
                           error))
        return FALSE;
    /* libvirt's default, which it writes. */
    if (!def->hyperv_mode)
        def->hyperv_mode = g_strdup("custom");

    /* An element not in the table is left unread, so refused by name. */
    for (gsize i = 0; i < G_N_ELEMENTS(hyperv_features); i++) {
        g_autoptr(ferry_named_value) v = NULL;
        xmlNodePtr node;

        if (!ferry_xml_child(r, hyperv, hyperv_features[i], FALSE, &node, error))
            return FALSE;
        if (!node)
            continue;
        v = g_new0(ferry_named_value, 1);
        v->name = g_strdup(hyperv_features[i]);
        if (!parse_hyperv_feature(r, node, v, error))
            return FALSE;
        g_ptr_array_add(def->hyperv, g_steal_pointer(&v));
    }
    return TRUE;
}

gboolean
ferry_conf_parse_features(ferry_xml_reader *r, xmlNodePtr root, ferry_domain_def *def, GError **error)
{
    xmlNodePtr features;
    xmlNodePtr node;

    if (!ferry_xml_child(r, root, "features", FALSE, &features, error))
        return FALSE;
    if (!features)
        return TRUE;
    def->has_features = TRUE;

    if (!ferry_xml_child(r, features, "acpi", FALSE, &node, error))
        return FALSE;
    def->feature_acpi = node != NULL;
    if (!ferry_xml_child(r, features, "apic", FALSE, &node, error))
        return FALSE;
    def->feature_apic = node != NULL;
    if (!ferry_xml_child(r, features, "pae", FALSE, &node, error))
        return FALSE;
    def->feature_pae = node != NULL;
    if (!ferry_xml_child(r, features, "hyperv", FALSE, &node, error))
        return FALSE;
    return !node || parse_hyperv(r, node, def, error);
}

/* ---- parsing: <cpu> ------------------------------------------------------ */

static gboolean
parse_cpu_model(ferry_xml_reader *r, xmlNodePtr cpu, ferry_domain_def *def, GError **error)
{
    xmlNodePtr node;
    char *text;

    if (!ferry_xml_child(r, cpu, "model", FALSE, &node, error))
        return FALSE;
    if (node) {
        if (!ferry_conf_parse_choice_attr(r, node, "fallback", FALSE, CHOICES(cpu_fallbacks),
                               &def->cpu_model_fallback, error))
            return FALSE;
        /* <model fallback='allow'/> alone is what host-model writes. */
        text = ferry_xml_text(r, node);
        if (*text)
            def->cpu_model = text;
        else
            g_free(text);
    }

    if (!ferry_xml_child_text(r, cpu, "vendor", FALSE, &node, &def->cpu_vendor, error))
        return FALSE;
    if (def->cpu_vendor && !*def->cpu_vendor) {
        ferry_xml_error(r, error, node, "the vendor is empty");
        return FALSE;
    }
    if (def->cpu_vendor && !def->cpu_model) {
        ferry_xml_error(r, error, node, "a vendor needs a <model> as well");
        return FALSE;
    }
    return TRUE;
}

/* After parse_vcpu(): the topology must account for every vCPU. */
static gboolean
parse_cpu_topology(ferry_xml_reader *r, xmlNodePtr cpu, ferry_domain_def *def, GError **error)
{
    xmlNodePtr node;
    guint64 sockets = 0;
    guint64 dies = 1;
    guint64 cores = 0;
    guint64 threads = 0;
    guint64 product;

    if (!ferry_xml_child(r, cpu, "topology", FALSE, &node, error))
        return FALSE;
    if (!node)
        return TRUE;
    if (!ferry_conf_parse_uint_attr(r, node, "sockets", TRUE, 1, FERRY_CONF_VCPUS_MAX, &sockets, error) ||
        !ferry_conf_parse_uint_attr(r, node, "dies", FALSE, 1, FERRY_CONF_VCPUS_MAX, &dies, error) ||
        !ferry_conf_parse_uint_attr(r, node, "cores", TRUE, 1, FERRY_CONF_VCPUS_MAX, &cores, error) ||
        !ferry_conf_parse_uint_attr(r, node, "threads", TRUE, 1, FERRY_CONF_VCPUS_MAX, &threads, error))
        return FALSE;
    product = sockets * dies * cores * threads;
    /* vcpus is 0 when <vcpu> was refused: nothing to compare. */
    if (def->vcpus && product != def->vcpus) {
        ferry_xml_error(r, error, node, "sockets %" G_GUINT64_FORMAT ", dies %" G_GUINT64_FORMAT
                        ", cores %" G_GUINT64_FORMAT " and threads %" G_GUINT64_FORMAT
                        " make %" G_GUINT64_FORMAT " vCPUs, but <vcpu> is %u",
                        sockets, dies, cores, threads, product, def->vcpus);
        return FALSE;
    }
    def->cpu_sockets = (guint)sockets;
    def->cpu_dies = (guint)dies;
    def->cpu_cores = (guint)cores;
    def->cpu_threads = (guint)threads;
    return TRUE;
}

static gboolean
parse_cpu_features(ferry_xml_reader *r, xmlNodePtr cpu, ferry_domain_def *def, GError **error)
{
    g_autoptr(GPtrArray) nodes = ferry_xml_children(r, cpu, "feature");

    for (guint i = 0; i < nodes->len; i++) {
        xmlNodePtr node = g_ptr_array_index(nodes, i);
        g_autoptr(ferry_named_value) v = g_new0(ferry_named_value, 1);

        if (!ferry_conf_parse_choice_attr(r, node, "policy", FALSE, CHOICES(cpu_policies), &v->value,
                               error) ||
            !ferry_xml_attr(r, node, "name", TRUE, &v->name, error))
            return FALSE;
        if (!*v->name) {
            ferry_xml_error(r, error, node, "the feature's name is empty");
            return FALSE;
        }
        for (guint j = 0; j < i; j++) {
            const ferry_named_value *other = g_ptr_array_index(def->cpu_features, j);

            if (strcmp(other->name, v->name) == 0) {
                ferry_xml_error(r, error, node, "feature '%s' is listed twice (the first at "
                                "line %ld)", v->name, xmlGetLineNo(g_ptr_array_index(nodes, j)));
                return FALSE;
            }
        }
        /* libvirt's default policy, which it writes. */
        if (!v->value)
            v->value = g_strdup("require");
        g_ptr_array_add(def->cpu_features, g_steal_pointer(&v));
    }
    return TRUE;
}

gboolean
ferry_conf_parse_cpu(ferry_xml_reader *r, xmlNodePtr root, ferry_domain_def *def, GError **error)
{
    xmlNodePtr cpu;

    if (!ferry_xml_child(r, root, "cpu", FALSE, &cpu, error))
        return FALSE;
    if (!cpu)
        return TRUE;
    if (!ferry_conf_parse_choice_attr(r, cpu, "mode", FALSE, CHOICES(cpu_modes), &def->cpu_mode, error) ||
        !ferry_conf_parse_choice_attr(r, cpu, "match", FALSE, CHOICES(cpu_matches), &def->cpu_match,
                           error) ||
        !ferry_conf_parse_choice_attr(r, cpu, "check", FALSE, CHOICES(cpu_checks), &def->cpu_check,
                           error) ||
        !ferry_conf_parse_choice_attr(r, cpu, "migratable", FALSE, CHOICES(on_off), &def->cpu_migratable,
                           error))
        return FALSE;
    /* libvirt's default, which it writes; a mode also records that <cpu> was there. */
    if (!def->cpu_mode)
        def->cpu_mode = g_strdup("custom");
    if (def->cpu_migratable && strcmp(def->cpu_mode, "host-passthrough") != 0 &&
        strcmp(def->cpu_mode, "maximum") != 0) {
        ferry_xml_error(r, error, cpu, "migratable is only valid with mode 'host-passthrough' "
                        "or 'maximum', not '%s'", def->cpu_mode);
        return FALSE;
    }
    return parse_cpu_model(r, cpu, def, error) &&
           parse_cpu_topology(r, cpu, def, error) &&
           parse_cpu_features(r, cpu, def, error);
}

/* ---- parsing: <clock>, life cycle, <seclabel>, <devices> ------------------ */

gboolean
ferry_conf_parse_clock(ferry_xml_reader *r, xmlNodePtr root, ferry_domain_def *def, GError **error)
{
    g_autoptr(GPtrArray) nodes = NULL;
    xmlNodePtr clock;

    if (!ferry_xml_child(r, root, "clock", FALSE, &clock, error))
        return FALSE;
    if (!clock)
        return TRUE;
    if (!ferry_conf_parse_choice_attr(r, clock, "offset", FALSE, CHOICES(clock_offsets),
                           &def->clock_offset, error))
        return FALSE;
    /* libvirt's default, which it writes; an offset also records <clock>. */
    if (!def->clock_offset)
        def->clock_offset = g_strdup("utc");

    nodes = ferry_xml_children(r, clock, "timer");
    for (guint i = 0; i < nodes->len; i++) {
        xmlNodePtr node = g_ptr_array_index(nodes, i);
        g_autoptr(ferry_timer_def) t = g_new0(ferry_timer_def, 1);

        if (!ferry_conf_parse_choice_attr(r, node, "name", TRUE, CHOICES(timer_names), &t->name, error) ||
            !ferry_conf_parse_choice_attr(r, node, "tickpolicy", FALSE, CHOICES(tick_policies),
                               &t->tickpolicy, error) ||
            !ferry_conf_parse_choice_attr(r, node, "present", FALSE, CHOICES(yes_no), &t->present, error))
            return FALSE;
        for (guint j = 0; j < i; j++) {
            const ferry_timer_def *other = g_ptr_array_index(def->timers, j);

            if (strcmp(other->name, t->name) == 0) {
                ferry_xml_error(r, error, node, "timer '%s' is listed twice (the first at "
                                "line %ld)", t->name, xmlGetLineNo(g_ptr_array_index(nodes, j)));
                return FALSE;
            }
        }
        g_ptr_array_add(def->timers, g_steal_pointer(&t));
    }
    return TRUE;
}

/* ---- formatting ---------------------------------------------------------- */

void
ferry_conf_format_features(GString *out, const ferry_domain_def *def)
{
    guint n_hyperv = def->hyperv ? def->hyperv->len : 0;

    if (!def->has_features)
        return;
    if (!def->feature_acpi && !def->feature_apic && !def->feature_pae && !def->hyperv_mode) {
        g_string_append(out, "  <features/>\n");
        return;
    }
    g_string_append(out, "  <features>\n");
    if (def->feature_acpi)
        g_string_append(out, "    <acpi/>\n");
    if (def->feature_apic)
        g_string_append(out, "    <apic/>\n");
    if (def->feature_pae)
        g_string_append(out, "    <pae/>\n");
    if (def->hyperv_mode) {
        g_string_append(out, "    <hyperv");
        ferry_xml_format_attr(out, "mode", def->hyperv_mode);
        g_string_append(out, n_hyperv ? ">\n" : "/>\n");
        for (guint i = 0; i < n_hyperv; i++) {
            const ferry_named_value *v = g_ptr_array_index(def->hyperv, i);

            g_string_append_printf(out, "      <%s", v->name);
            ferry_xml_format_attr(out, "state", v->value);
            if (v->extra)
                ferry_xml_format_attr(out, strcmp(v->name, "spinlocks") == 0 ? "retries" : "value",
                                      v->extra);
            g_string_append(out, "/>\n");
        }
        if (n_hyperv)
            g_string_append(out, "    </hyperv>\n");
    }
    g_string_append(out, "  </features>\n");
}

void
ferry_conf_format_cpu(GString *out, const ferry_domain_def *def)
{
    guint n_features = def->cpu_features ? def->cpu_features->len : 0;

    if (!def->cpu_mode)
        return;
    g_string_append(out, "  <cpu");
    ferry_xml_format_attr(out, "mode", def->cpu_mode);
    ferry_conf_format_opt_attr(out, "match", def->cpu_match);
    ferry_conf_format_opt_attr(out, "check", def->cpu_check);
    ferry_conf_format_opt_attr(out, "migratable", def->cpu_migratable);
    if (!def->cpu_model && !def->cpu_model_fallback && !def->cpu_vendor && !def->cpu_sockets &&
        !n_features) {
        g_string_append(out, "/>\n");
        return;
    }
    g_string_append(out, ">\n");
    if (def->cpu_model || def->cpu_model_fallback) {
        g_string_append(out, "    <model");
        ferry_conf_format_opt_attr(out, "fallback", def->cpu_model_fallback);
        if (def->cpu_model) {
            g_string_append_c(out, '>');
            ferry_xml_escape(out, def->cpu_model, FALSE);
            g_string_append(out, "</model>\n");
        } else {
            g_string_append(out, "/>\n");
        }
    }
    ferry_xml_format_text(out, "    ", "vendor", def->cpu_vendor);
    if (def->cpu_sockets)
        g_string_append_printf(out, "    <topology sockets='%u' dies='%u' cores='%u' "
                               "threads='%u'/>\n", def->cpu_sockets,
                               def->cpu_dies ? def->cpu_dies : 1, def->cpu_cores,
                               def->cpu_threads);
    for (guint i = 0; i < n_features; i++) {
        const ferry_named_value *v = g_ptr_array_index(def->cpu_features, i);

        g_string_append(out, "    <feature");
        ferry_xml_format_attr(out, "policy", v->value ? v->value : "require");
        ferry_xml_format_attr(out, "name", v->name);
        g_string_append(out, "/>\n");
    }
    g_string_append(out, "  </cpu>\n");
}

void
ferry_conf_format_clock(GString *out, const ferry_domain_def *def)
{
    guint n_timers = def->timers ? def->timers->len : 0;

    if (!def->clock_offset)
        return;
    g_string_append(out, "  <clock");
    ferry_xml_format_attr(out, "offset", def->clock_offset);
    g_string_append(out, n_timers ? ">\n" : "/>\n");
    for (guint i = 0; i < n_timers; i++) {
        const ferry_timer_def *t = g_ptr_array_index(def->timers, i);

        g_string_append(out, "    <timer");
        ferry_xml_format_attr(out, "name", t->name);
        ferry_conf_format_opt_attr(out, "tickpolicy", t->tickpolicy);
        ferry_conf_format_opt_attr(out, "present", t->present);
        g_string_append(out, "/>\n");
    }
    if (n_timers)
        g_string_append(out, "  </clock>\n");
}
