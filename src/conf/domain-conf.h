/*
 * domain-conf.h: the domain definition, parsed from and formatted to
 * libvirt-compatible domain XML.
 *
 * Owns: the in-memory form of a definition, its XML parser and formatter,
 * validation against docs/schemas/domain.rng plus the checks a schema cannot
 * express.  Must not: touch the file system beyond reading the schema, start
 * processes, or know about drivers.
 *
 * The subset understood:
 *
 *   <domain type='qemu'>                     type: qemu | kvm | test
 *     <name>web1</name>                      [A-Za-z0-9_.+-], 1..64 chars, not starting with '.' or '-'
 *     <uuid>…</uuid>                         optional; generated when absent
 *     <description>…</description>           optional
 *     <memory unit='MiB'>128</memory>        unit: b, bytes, k, KB, KiB, M, MB, MiB, G, GB, GiB (default KiB)
 *     <vcpu>1</vcpu>                         1..64
 *     <os>
 *       <type arch='x86_64' machine='pc'>hvm</type>
 *       <kernel>/abs/path</kernel>           optional
 *       <initrd>/abs/path</initrd>           optional
 *       <cmdline>…</cmdline>                 optional
 *     </os>
 *     <devices>
 *       <disk type='file' device='disk'>     zero or more
 *         <driver name='qemu' type='raw|qcow2'/>
 *         <source file='/abs/path'/>
 *         <target dev='vda' bus='virtio|ide'/>   bus defaults from dev prefix: vd->virtio, hd->ide
 *         <readonly/>                        optional
 *       </disk>
 *       <serial type='file'>                 zero or one
 *         <source path='/abs/path'/>
 *         <target port='0'/>
 *       </serial>
 *     </devices>
 *   </domain>
 */
#pragma once

#include <glib.h>
#include <libxml/tree.h>

G_BEGIN_DECLS

typedef enum {
    FERRY_DISK_FORMAT_RAW = 0,
    FERRY_DISK_FORMAT_QCOW2 = 1,
} ferry_disk_format;

typedef enum {
    FERRY_DISK_BUS_VIRTIO = 0,
    FERRY_DISK_BUS_IDE = 1,
} ferry_disk_bus;

typedef struct {
    char *target;             /* "vda" */
    ferry_disk_bus bus;
    char *source;             /* absolute path of the image file */
    ferry_disk_format format;
    gboolean readonly;
} ferry_disk_def;

typedef struct {
    char *type;               /* "qemu", "kvm" or "test" */
    char *name;
    char *uuid;               /* lower-case textual form */
    char *description;        /* nullable */
    guint64 memory_kib;
    guint vcpus;
    char *os_type;            /* "hvm" */
    char *arch;               /* "x86_64" */
    char *machine;            /* "pc" */
    char *kernel;             /* nullable */
    char *initrd;             /* nullable */
    char *cmdline;            /* nullable */
    GPtrArray *disks;         /* ferry_disk_def*, in document order; never NULL */
    char *serial_log;         /* nullable: path of the serial port's log file */
} ferry_domain_def;

/** Flags of ferry_domain_def_parse_*(). */
typedef enum {
    /* Do not generate a uuid when the XML has none (keep def->uuid NULL). */
    FERRY_DOMAIN_DEF_PARSE_NO_UUID = 1 << 0,
} ferry_domain_def_parse_flags;

/**
 * ferry_domain_def_parse_string:
 * @xml: the document
 * @source_name: (nullable): how to name the document in errors, e.g. a file
 *   name; NULL means "domain XML"
 * @flags: ferry_domain_def_parse_flags
 * @error: return location for an error (FERRY_ERROR_XML)
 *
 * Parses and validates a definition.  Every error names the element or
 * attribute and its line, e.g.
 *   "web1.xml:7: element 'memory': '12x' is not a valid size"
 *
 * Returns: (transfer full): the definition, or NULL on error.
 */
ferry_domain_def *ferry_domain_def_parse_string(const char *xml,
                                                const char *source_name,
                                                guint flags, GError **error);

/**
 * ferry_domain_def_parse_node:
 * @doc: the document holding @root
 * @root: a <domain> element, e.g. embedded in a migration cookie
 * @source_name: (nullable): as for ferry_domain_def_parse_string()
 * @flags: ferry_domain_def_parse_flags
 * @error: return location for an error
 *
 * Returns: (transfer full): the definition, or NULL on error.
 */
ferry_domain_def *ferry_domain_def_parse_node(xmlDocPtr doc, xmlNodePtr root,
                                              const char *source_name,
                                              guint flags, GError **error);

/**
 * ferry_domain_def_format:
 * @def: a definition
 *
 * Formats in the canonical form: two-space indentation, memory in KiB,
 * elements in the order of the subset above, no XML declaration, ending
 * with a newline.  Parsing the output gives back an equal definition.
 *
 * Returns: (transfer full): the XML text.
 */
char *ferry_domain_def_format(const ferry_domain_def *def);

/**
 * FERRY_DOMAIN_XML_MAX_FORMATTED:
 *
 * The largest definition a daemon keeps, in bytes once formatted.  What a
 * daemon accepts it must be able to read back and send on: the definition
 * file is read under FERRY_XML_MAX_SIZE; the status file holds the live
 * definition JSON-escaped (up to twice as long); one frame may carry it
 * twice (Begin's XML and a --persistent cookie) under the default
 * max_frame_size of 4 MiB.  A quarter of those 4 MiB keeps all three.
 */
#define FERRY_DOMAIN_XML_MAX_FORMATTED (1024 * 1024)

/**
 * ferry_domain_def_format_checked:
 * @def: a definition
 * @error: return location for an error (FERRY_ERROR_XML)
 *
 * As ferry_domain_def_format(), refusing a definition longer than
 * FERRY_DOMAIN_XML_MAX_FORMATTED once formatted.  Escaping makes a
 * definition grow ('>' becomes "&gt;"), so the size accepted on input says
 * nothing about this one; the error names the domain, the size and the
 * limit.
 *
 * Returns: (transfer full): the XML text, or NULL on error.
 */
char *ferry_domain_def_format_checked(const ferry_domain_def *def, GError **error);

/**
 * ferry_domain_def_new:
 *
 * For code that assembles a definition from something other than XML: the
 * caller fills every field the XML would require, then formats and parses
 * it again to have it checked.
 *
 * Returns: (transfer full): an empty definition whose disks array exists
 *   and frees its ferry_disk_def elements.
 */
ferry_domain_def *ferry_domain_def_new(void);

/**
 * ferry_domain_def_copy:
 * @def: a definition
 *
 * Returns: (transfer full): a deep copy.
 */
ferry_domain_def *ferry_domain_def_copy(const ferry_domain_def *def);

/**
 * ferry_domain_def_free:
 * @def: (nullable): a definition
 */
void ferry_domain_def_free(ferry_domain_def *def);

/**
 * ferry_domain_def_find_disk:
 * @def: a definition
 * @target: a target name such as "vda"
 *
 * Returns: (transfer none) (nullable): the disk with that target.
 */
ferry_disk_def *ferry_domain_def_find_disk(const ferry_domain_def *def,
                                           const char *target);

/**
 * ferry_domain_name_is_valid:
 * @name: a candidate domain name
 * @error: return location for an error naming what is wrong
 *
 * Domain names become file names, so they are restricted (see above).
 *
 * Returns: TRUE if @name is acceptable.
 */
gboolean ferry_domain_name_is_valid(const char *name, GError **error);

/**
 * ferry_disk_format_to_string / ferry_disk_format_from_string:
 * "raw" and "qcow2".  from_string returns -1 for an unknown name.
 */
const char *ferry_disk_format_to_string(ferry_disk_format format);
int ferry_disk_format_from_string(const char *name);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_domain_def, ferry_domain_def_free)

G_END_DECLS
