/*
 * domain-conf-priv.h: how domain-conf.c (the domain's own elements) and
 * domain-conf-devices.c (everything under <devices>) share one definition.
 *
 * Owns: the seam between the two files and the address assignment of
 * domain-addr.c.  Must not: be included outside src/conf.
 */
#pragma once

#include "conf/domain-conf.h"
#include "conf/xml-util.h"

G_BEGIN_DECLS

/* The device arrays of a new definition: every one exists and frees its
 * elements; memballoon and watchdog are NULL. */
void ferry_domain_devices_init(ferry_domain_def *def);

/* Frees what ferry_domain_devices_init() and the parser filled in. */
void ferry_domain_devices_clear(ferry_domain_def *def);

/* Deep-copies every device of @src into @dst (whose arrays exist, empty). */
void ferry_domain_devices_copy(ferry_domain_def *dst, const ferry_domain_def *src);

/*
 * Reads <devices> (@devices may be NULL: no devices).  Each device that is
 * wrong is deferred on @r (ferry_xml_reader_defer()) and the walk goes on,
 * so one call reports every bad device; returns FALSE only for an error
 * that stops the walk.
 */
gboolean ferry_domain_devices_parse(ferry_xml_reader *r, xmlNodePtr devices,
                                    ferry_domain_def *def, GError **error);

/* Appends "  <devices>...</devices>\n" in the canonical order, or nothing
 * when the definition has no device. */
void ferry_domain_devices_format(GString *out, const ferry_domain_def *def);

/* Formats one <address .../> line at @indent, nothing for FERRY_ADDRESS_NONE. */
void ferry_domain_address_format(GString *out, const char *indent,
                                 const ferry_device_address *addr);

/*
 * ferry_domain_def_assign_addresses() for a definition the walk @r has
 * just read: each refusal names the file, line and element of the device
 * (ferry_xml_reader_origin()); what the assignment added itself is blamed
 * on <devices>.  @r NULL: refusals name the device only.
 */
gboolean ferry_domain_def_assign_addresses_from(ferry_domain_def *def, ferry_xml_reader *r,
                                                GError **error);

/* The largest number of vCPUs a definition may have. */
#define FERRY_CONF_VCPUS_MAX 64

/* Shared value checks and formatting (domain-conf.c). */

/* "'a', 'b' or 'c'" (transfer full). */
char *ferry_conf_choices_text(const char *const *table, gsize n);

/* An attribute whose value, when present, must be one of @table; it
 * replaces *@ret_value.  Required and absent, or not in @table: an error
 * naming the attribute, the value and the choices. */
gboolean ferry_conf_parse_choice_attr(ferry_xml_reader *r, xmlNodePtr node, const char *name,
                                      gboolean required, const char *const *table, gsize n,
                                      char **ret_value, GError **error);

/* An optional yes/no attribute; absent is no. */
gboolean ferry_conf_parse_yes_no_attr(ferry_xml_reader *r, xmlNodePtr node, const char *name,
                                      gboolean *ret, GError **error);

/* A number attribute in [@min, @max]; *@ret is left alone when absent. */
gboolean ferry_conf_parse_uint_attr(ferry_xml_reader *r, xmlNodePtr node, const char *name,
                                    gboolean required, guint64 min, guint64 max, guint64 *ret,
                                    GError **error);

/* Appends " name='value'" when @value is not NULL. */
void ferry_conf_format_opt_attr(GString *out, const char *name, const char *value);

void ferry_conf_named_value_free(ferry_named_value *v);
void ferry_conf_timer_free(ferry_timer_def *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_named_value, ferry_conf_named_value_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_timer_def, ferry_conf_timer_free)

/* <features>, <cpu> and <clock> (domain-conf-cpu.c): each reads its one
 * optional element of <domain> @root into @def; the formatters append it
 * at two spaces of indentation, or nothing when absent.  <cpu> comes after
 * <vcpu>, whose count its topology must match. */
gboolean ferry_conf_parse_features(ferry_xml_reader *r, xmlNodePtr root, ferry_domain_def *def,
                                   GError **error);
gboolean ferry_conf_parse_cpu(ferry_xml_reader *r, xmlNodePtr root, ferry_domain_def *def,
                              GError **error);
gboolean ferry_conf_parse_clock(ferry_xml_reader *r, xmlNodePtr root, ferry_domain_def *def,
                                GError **error);
void ferry_conf_format_features(GString *out, const ferry_domain_def *def);
void ferry_conf_format_cpu(GString *out, const ferry_domain_def *def);
void ferry_conf_format_clock(GString *out, const ferry_domain_def *def);

/* The index of @name in @table of @n names, -1 if absent or NULL. */
int ferry_conf_string_index(const char *const *table, gsize n, const char *name);

/* Refuses a relative @path, naming @attribute (NULL: the element's text). */
gboolean ferry_conf_check_absolute(ferry_xml_reader *r, xmlNodePtr node, const char *attribute,
                                   const char *path, GError **error);

/* An attribute that, when present, must have the one value ferry supports. */
gboolean ferry_conf_expect_attr(ferry_xml_reader *r, xmlNodePtr node, const char *name,
                                gboolean required, const char *only, GError **error);

G_END_DECLS
