/*
 * cmd-snapshot.c: the snapshot commands of the ferry client, with virsh's
 * names: snapshot-create-as, snapshot-list, snapshot-dumpxml,
 * snapshot-revert, snapshot-delete, snapshot-current (docs/snapshots.md).
 *
 * Owns: their options and how their results are printed.  Must not: reach
 * past the public API in <ferry/ferry.h>.
 */
#include "ferry-config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

static char *opt_description;
static gboolean opt_parent;

static const GOptionEntry create_options[] = {
    { "description", 0, 0, G_OPTION_ARG_STRING, &opt_description,
      "What the snapshot is for", "TEXT" },
    { NULL }
};

static const GOptionEntry list_options[] = {
    { "parent", 0, 0, G_OPTION_ARG_NONE, &opt_parent, "Show each snapshot's parent", NULL },
    { NULL }
};

/* Builds the <domainsnapshot> of a new snapshot from the arguments. */
static char *
create_xml(const char *name, const char *description)
{
    GString *out = g_string_new("<domainsnapshot>\n");
    g_autofree char *n = g_markup_escape_text(name, -1);

    g_string_append_printf(out, "  <name>%s</name>\n", n);
    if (description) {
        g_autofree char *d = g_markup_escape_text(description, -1);

        g_string_append_printf(out, "  <description>%s</description>\n", d);
    }
    g_string_append(out, "</domainsnapshot>\n");
    return g_string_free(out, FALSE);
}

static gboolean
cmd_snapshot_create_as(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(ferry_domain) dom = cli_find_domain(c, args[0], error);
    g_autofree char *xml = create_xml(args[1], opt_description);
    g_autofree char *name = NULL;

    if (!dom || !(name = ferry_domain_snapshot_create_xml(dom, xml, 0, error)))
        return FALSE;
    printf("Domain snapshot %s created\n", name);
    return TRUE;
}

static const char *
state_name(int state)
{
    switch (state) {
    case FERRY_DOMAIN_RUNNING:
        return "running";
    case FERRY_DOMAIN_PAUSED:
        return "paused";
    default:
        return "shutoff";
    }
}

static gboolean
cmd_snapshot_list(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(ferry_domain) dom = cli_find_domain(c, args[0], error);
    g_autoptr(GPtrArray) infos = NULL;

    if (!dom || !ferry_domain_snapshot_list(dom, 0, &infos, error))
        return FALSE;
    if (c->json) {
        g_autoptr(json_object) arr = json_object_new_array();

        for (guint i = 0; i < infos->len; i++) {
            const ferry_snapshot_info *info = infos->pdata[i];
            json_object *o = json_object_new_object();

            json_object_object_add(o, "name", json_object_new_string(info->name));
            json_object_object_add(o, "parent",
                                   info->parent ? json_object_new_string(info->parent) : NULL);
            json_object_object_add(o, "creation_time",
                                   json_object_new_int64(info->creation_time));
            json_object_object_add(o, "state", json_object_new_string(state_name(info->state)));
            json_object_object_add(o, "current", json_object_new_boolean(info->current));
            json_object_array_add(arr, o);
        }
        cli_print_json(arr);
        return TRUE;
    }
    if (opt_parent)
        printf(" %-20s %-20s %s\n", "Name", "Parent", "State");
    else
        printf(" %-20s %-26s %s\n", "Name", "Creation Time", "State");
    printf("%s\n", "-------------------------------------------------------------");
    for (guint i = 0; i < infos->len; i++) {
        const ferry_snapshot_info *info = infos->pdata[i];

        if (opt_parent) {
            printf(" %-20s %-20s %s%s\n", info->name, info->parent ? info->parent : "",
                   state_name(info->state), info->current ? " (current)" : "");
        } else {
            g_autoptr(GDateTime) t = g_date_time_new_from_unix_local(info->creation_time);
            g_autofree char *when = t ? g_date_time_format(t, "%Y-%m-%d %H:%M:%S %z")
                                      : g_strdup("?");

            printf(" %-20s %-26s %s%s\n", info->name, when, state_name(info->state),
                   info->current ? " (current)" : "");
        }
    }
    return TRUE;
}

static gboolean
cmd_snapshot_dumpxml(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(ferry_domain) dom = cli_find_domain(c, args[0], error);
    g_autofree char *xml = NULL;

    if (!dom || !(xml = ferry_domain_snapshot_get_xml(dom, args[1], 0, error)))
        return FALSE;
    fputs(xml, stdout);
    return TRUE;
}

static gboolean
cmd_snapshot_revert(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(ferry_domain) dom = cli_find_domain(c, args[0], error);

    if (!dom || !ferry_domain_snapshot_revert(dom, args[1], 0, error))
        return FALSE;
    printf("Domain '%s' reverted to snapshot %s\n", ferry_domain_get_name(dom), args[1]);
    return TRUE;
}

static gboolean
cmd_snapshot_delete(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(ferry_domain) dom = cli_find_domain(c, args[0], error);

    if (!dom || !ferry_domain_snapshot_delete(dom, args[1], 0, error))
        return FALSE;
    printf("Domain snapshot %s deleted\n", args[1]);
    return TRUE;
}

static gboolean
cmd_snapshot_current(cli *c, const command *cmd, char **args, GError **error)
{
    g_autoptr(ferry_domain) dom = cli_find_domain(c, args[0], error);
    g_autofree char *name = NULL;

    if (!dom || !(name = ferry_domain_snapshot_current(dom, error)))
        return FALSE;
    printf("%s\n", name);
    return TRUE;
}

const command cli_snapshot_commands[] = {
    { "snapshot-create-as", "DOMAIN NAME", 2, "Take a snapshot of a domain",
      cmd_snapshot_create_as, FALSE, create_options, NULL },
    { "snapshot-list", "DOMAIN", 1, "List a domain's snapshots", cmd_snapshot_list, TRUE,
      list_options, NULL },
    { "snapshot-dumpxml", "DOMAIN NAME", 2, "Print a snapshot's XML", cmd_snapshot_dumpxml,
      FALSE, NULL, NULL },
    { "snapshot-revert", "DOMAIN NAME", 2, "Bring a domain back to a snapshot",
      cmd_snapshot_revert, FALSE, NULL, NULL },
    { "snapshot-delete", "DOMAIN NAME", 2, "Delete a snapshot (children go to its parent)",
      cmd_snapshot_delete, FALSE, NULL, NULL },
    { "snapshot-current", "DOMAIN", 1, "Print the name of the current snapshot",
      cmd_snapshot_current, FALSE, NULL, NULL },
};

const gsize cli_snapshot_n_commands = G_N_ELEMENTS(cli_snapshot_commands);
