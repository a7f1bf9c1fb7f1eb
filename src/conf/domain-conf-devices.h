/*
 * domain-conf-devices.h: what the parts of the <devices> code share:
 * domain-conf-devices.c (the walk, disks, controllers, interfaces,
 * memballoon, rng, watchdog), domain-conf-address.c (<address>, claims),
 * domain-conf-console.c (serial ports, consoles, channels, graphics,
 * video, input), domain-conf-hostdev.c (host devices) and domain-addr.c
 * (the guest ABI).
 *
 * Owns: the walk's state, the attribute helpers, the claims that find two
 * devices on one address, target, boot order or MAC.  Must not: be
 * included outside src/conf, or by domain-conf.c (its seam is
 * domain-conf-priv.h).
 */
#pragma once

#include "conf/domain-conf-priv.h"

G_BEGIN_DECLS

/* One walk over <devices>. */
typedef struct {
    ferry_xml_reader *r;
    ferry_domain_def *def;
    GPtrArray *claims;        /* (element-type dev_claim), see ferry_dev_claim() */
    GHashTable *next_index;   /* controller type -> 1 + the highest index read so far */
    guint virtio_consoles;    /* read so far: the default port of the next one */
} ferry_dev_walk;

/* A parser of one device element: adds the device to w->def, or sets
 * @error and adds nothing. */
typedef gboolean (*ferry_dev_parser)(ferry_dev_walk *w, xmlNodePtr node, GError **error);

#define FERRY_DEV_CHOICES(table) (table), G_N_ELEMENTS(table)

/* The length of a device array; the formatter copes with a definition
 * assembled by code whose arrays are missing. */
#define FERRY_DEV_LEN(array) ((array) ? (array)->len : 0u)

/* A mask of address types, for ferry_dev_parse_address(). */
#define FERRY_DEV_ADDR(type) (1u << (type))

/* Controllers of one type are numbered 0 to this. */
#define FERRY_DEV_CONTROLLER_INDEX_MAX 31

/* "a, b or c", for the errors that list what is accepted. */
char *ferry_dev_choice_list(const char *const *table, gsize n);

/*
 * Reads attribute @name, which must be one of the @n names of @table:
 * *@ret is its index, or @absent when the attribute is missing.  The error
 * lists the table: "model 'ne2k' is not supported (expected virtio, e1000
 * or rtl8139)".
 */
gboolean ferry_dev_attr_choice(ferry_xml_reader *r, xmlNodePtr node, const char *name,
                               gboolean required, const char *const *table, gsize n,
                               int absent, int *ret, GError **error);

/* As ferry_dev_attr_choice(), returning the name itself (NULL if absent). */
gboolean ferry_dev_attr_choice_str(ferry_xml_reader *r, xmlNodePtr node, const char *name,
                                   gboolean required, const char *const *table, gsize n,
                                   char **ret, GError **error);

/* Reads a decimal attribute in [@min, @max]; *@ret is left alone when the
 * attribute is absent, and @ret_present (nullable) says which. */
gboolean ferry_dev_attr_uint(ferry_xml_reader *r, xmlNodePtr node, const char *name,
                             gboolean required, guint min, guint max, guint *ret,
                             gboolean *ret_present, GError **error);

/* Reads and drops <alias name='...'/>: libvirt's live XML names every
 * device; the names are libvirt's own and mean nothing to ferry. */
gboolean ferry_dev_skip_alias(ferry_xml_reader *r, xmlNodePtr node, GError **error);

/*
 * Reads number attribute @name of an <address>-like element, decimal or
 * (with @hex_allowed) hexadecimal after 0x, into *@ret (0 when absent);
 * refuses a value above @max.
 */
gboolean ferry_dev_address_number(ferry_xml_reader *r, xmlNodePtr node, const char *name,
                                  gboolean hex_allowed, guint max, guint *ret, GError **error);

/* <boot order='N'/> (optional), claimed across disks and interfaces. */
gboolean ferry_dev_parse_boot(ferry_dev_walk *w, xmlNodePtr node, const char *owner,
                              guint *ret_order, GError **error);

/*
 * Reads the optional <address> of @parent, which must be of a type in
 * @allowed (a mask of 1 << ferry_address_type), and claims it for @owner
 * (e.g. "disk 'vda'").  @drive_bus names the controller type of a drive
 * address ("ide", "scsi", ...): two buses have separate address spaces.
 */
gboolean ferry_dev_parse_address(ferry_dev_walk *w, xmlNodePtr parent, const char *owner,
                                 guint allowed, const char *drive_bus,
                                 ferry_device_address *addr, GError **error);

/*
 * Something only one device may have: @key identifies it, @what names it
 * ("PCI address 0000:00:03.0", "disk target 'vda'"), @owner (nullable) the
 * device.  After the walk, the later of two claims with one key is
 * refused, naming the earlier one's line (and owner).  @defined words the
 * error "is already defined" instead of "is already used".  Takes the
 * three strings.
 */
void ferry_dev_claim(ferry_dev_walk *w, xmlNodePtr node, gboolean defined, char *key,
                     char *what, char *owner);

/* The array of a walk's claims. */
GPtrArray *ferry_dev_claims_new(void);

/* After the walk: defers an error on w->r for each claim already made. */
void ferry_dev_check_claims(ferry_dev_walk *w);

/* The line of the element a device was read from (0 if unknown). */
long ferry_dev_line(ferry_dev_walk *w, gconstpointer device);

void ferry_dev_address_copy(ferry_device_address *dst, const ferry_device_address *src);
void ferry_dev_address_clear(ferry_device_address *addr);

/* ---- domain-conf-console.c ---- */

gboolean ferry_dev_parse_serial(ferry_dev_walk *w, xmlNodePtr node, GError **error);
gboolean ferry_dev_parse_console(ferry_dev_walk *w, xmlNodePtr node, GError **error);
gboolean ferry_dev_parse_channel(ferry_dev_walk *w, xmlNodePtr node, GError **error);
gboolean ferry_dev_parse_input(ferry_dev_walk *w, xmlNodePtr node, GError **error);
gboolean ferry_dev_parse_graphics(ferry_dev_walk *w, xmlNodePtr node, GError **error);
gboolean ferry_dev_parse_video(ferry_dev_walk *w, xmlNodePtr node, GError **error);

/* After the walk: default serial ports, def->serial_log, the primary
 * video; problems are deferred on w->r. */
void ferry_dev_finish_console(ferry_dev_walk *w);

void ferry_dev_format_chardevs(GString *out, const ferry_domain_def *def);
void ferry_dev_format_inputs(GString *out, const ferry_domain_def *def);
void ferry_dev_format_graphics(GString *out, const ferry_domain_def *def);
void ferry_dev_format_videos(GString *out, const ferry_domain_def *def);

void ferry_chr_def_free(ferry_chr_def *chr);
ferry_chr_def *ferry_chr_def_copy(const ferry_chr_def *chr);
void ferry_chr_source_copy(ferry_chr_source *dst, const ferry_chr_source *src);
void ferry_chr_source_clear(ferry_chr_source *src);
void ferry_graphics_def_free(ferry_graphics_def *graphics);
ferry_graphics_def *ferry_graphics_def_copy(const ferry_graphics_def *graphics);
void ferry_video_def_free(ferry_video_def *video);
ferry_video_def *ferry_video_def_copy(const ferry_video_def *video);
void ferry_input_def_free(ferry_input_def *input);
ferry_input_def *ferry_input_def_copy(const ferry_input_def *input);

/* ---- domain-conf-hostdev.c ---- */

gboolean ferry_dev_parse_hostdev(ferry_dev_walk *w, xmlNodePtr node, GError **error);
void ferry_dev_format_hostdevs(GString *out, const ferry_domain_def *def);
void ferry_hostdev_def_free(ferry_hostdev_def *h);
ferry_hostdev_def *ferry_hostdev_def_copy(const ferry_hostdev_def *h);

G_END_DECLS
