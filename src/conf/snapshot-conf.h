/*
 * snapshot-conf.h: the metadata of one domain snapshot (libvirt's
 * domainsnapshot XML, the subset internal qcow2 snapshots need).
 *
 * Owns: the snapshot definition, its parser (all problems of a document at
 * once, each naming file, line and element) and its canonical format.
 * Must not: know other snapshots (snapshot-list.c relates them), touch
 * disks or QEMU (the drivers do), or touch the file system.
 */
#pragma once

#include <glib.h>
#include <libxml/tree.h>

#include "conf/domain-conf.h"

G_BEGIN_DECLS

/** The domain's state when the snapshot was taken (<state>). */
typedef enum {
    FERRY_SNAPSHOT_STATE_NONE = 0,     /* not given (a new snapshot: the driver fills it) */
    FERRY_SNAPSHOT_STATE_RUNNING,
    FERRY_SNAPSHOT_STATE_PAUSED,
    FERRY_SNAPSHOT_STATE_SHUTOFF,
} ferry_snapshot_state;

/** Where a snapshot keeps something (memory or a disk): snapshot='...'. */
typedef enum {
    FERRY_SNAPSHOT_LOCATION_DEFAULT = 0,  /* not given: the driver decides */
    FERRY_SNAPSHOT_LOCATION_INTERNAL,     /* inside the qcow2 image */
    FERRY_SNAPSHOT_LOCATION_NO,           /* not kept */
} ferry_snapshot_location;

/** <disks><disk name='vda' snapshot='internal'/></disks> */
typedef struct {
    char *name;                         /* the disk's target, e.g. "vda" */
    ferry_snapshot_location location;
} ferry_snapshot_disk;

typedef struct {
    char *name;                         /* nullable only before a driver names it */
    char *description;                  /* nullable */
    ferry_snapshot_state state;
    gint64 creation_time;               /* seconds since the epoch; 0: not given */
    char *parent;                       /* nullable: a root snapshot */
    ferry_snapshot_location memory;
    GPtrArray *disks;                   /* ferry_snapshot_disk*; never NULL */
    ferry_domain_def *dom;              /* the definition at snapshot time (nullable) */
    gboolean current;                   /* <active>1</active>: FERRY_SNAPSHOT_FORMAT_INTERNAL */
    /* Where <parent> was, e.g. "s2.xml:4: element 'parent'", so that the
     * list's refusal of an unknown parent names file and line; nullable. */
    char *parent_origin;
} ferry_snapshot_def;

/** Flags of ferry_snapshot_def_parse_string(). */
typedef enum {
    /* The caller redefines metadata of a snapshot that exists already (on
     * this or another host): <state>, <creationTime>, <parent> and <domain>
     * are accepted, <state> and <domain> required.  Without it, those are
     * what the driver records and a document giving them is refused. */
    FERRY_SNAPSHOT_PARSE_REDEFINE = 1 << 0,
    /* The document is ferryd's own file: <active> is accepted. */
    FERRY_SNAPSHOT_PARSE_INTERNAL = 1 << 1,
} ferry_snapshot_parse_flags;

/** Flags of ferry_snapshot_def_format(). */
typedef enum {
    /* Writes <active>, for ferryd's own files. */
    FERRY_SNAPSHOT_FORMAT_INTERNAL = 1 << 0,
} ferry_snapshot_format_flags;

/** The longest snapshot name accepted, in bytes. */
#define FERRY_SNAPSHOT_NAME_MAX 64

/**
 * ferry_snapshot_name_is_valid:
 * @name: (nullable): a snapshot name
 * @error: return location for an error (FERRY_ERROR_INVALID_ARG) saying
 *   what is wrong with it
 *
 * A name becomes a file name and a qcow2 snapshot tag: 1 to 64 letters,
 * digits and "_.+-:", not starting with '.' or '-'.
 *
 * Returns: TRUE if @name is one.
 */
gboolean ferry_snapshot_name_is_valid(const char *name, GError **error);

/**
 * ferry_snapshot_def_parse_string:
 * @xml: the document
 * @source_name: (nullable): how to name it in errors, e.g. a file name;
 *   NULL means "snapshot XML"
 * @flags: ferry_snapshot_parse_flags
 * @error: return location for an error (FERRY_ERROR_XML) listing every
 *   problem found, one per line, each as
 *   "snap1.xml:4: element 'disk': disk 'vdz' does not exist in domain 'web1'"
 *
 * Parses and validates a snapshot definition, and the embedded <domain>
 * with the domain parser.
 *
 * Returns: (transfer full): the definition, or NULL on error.
 */
ferry_snapshot_def *ferry_snapshot_def_parse_string(const char *xml, const char *source_name,
                                                    guint flags, GError **error);

/**
 * ferry_snapshot_def_format:
 * @def: a definition
 * @flags: ferry_snapshot_format_flags
 *
 * Formats in the canonical form: two-space indentation, libvirt's element
 * order, the embedded domain as ferry_domain_def_format() writes it.
 * Parsing the output (with REDEFINE, and INTERNAL for INTERNAL) gives back
 * an equal definition.
 *
 * Returns: (transfer full): the XML text.
 */
char *ferry_snapshot_def_format(const ferry_snapshot_def *def, guint flags);

/**
 * ferry_snapshot_def_new:
 *
 * Returns: (transfer full): an empty definition (disks array present).
 */
ferry_snapshot_def *ferry_snapshot_def_new(void);

/**
 * ferry_snapshot_def_copy:
 * @def: a definition
 *
 * Returns: (transfer full): a deep copy.
 */
ferry_snapshot_def *ferry_snapshot_def_copy(const ferry_snapshot_def *def);

/** ferry_snapshot_def_free: frees @def; accepts NULL. */
void ferry_snapshot_def_free(ferry_snapshot_def *def);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_snapshot_def, ferry_snapshot_def_free)

/**
 * ferry_snapshot_def_find_disk:
 * @def: a definition
 * @name: a disk target
 *
 * Returns: (transfer none) (nullable): its <disk> entry.
 */
ferry_snapshot_disk *ferry_snapshot_def_find_disk(const ferry_snapshot_def *def,
                                                  const char *name);

/** ferry_snapshot_state_to_string: Returns: "running", "paused", "shutoff" or NULL. */
const char *ferry_snapshot_state_to_string(ferry_snapshot_state state);

/** ferry_snapshot_location_to_string: Returns: "internal", "no" or NULL. */
const char *ferry_snapshot_location_to_string(ferry_snapshot_location location);

G_END_DECLS
