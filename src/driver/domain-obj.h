/*
 * domain-obj.h: a driver's domains: definitions, state and jobs.
 *
 * Owns: the list of domains of one driver instance, the rules for defining
 * (name and uuid must not clash), the persistent/transient bookkeeping, the
 * state and its reason, and the per-domain job that serialises operations
 * which change the domain.  Must not: start processes, talk to QEMU or emit
 * events (drivers do, after a change here succeeded).
 *
 * Locking: the list has its own mutex, each object another.  Take an object's
 * lock only for short field updates.  Long operations hold the object's *job*
 * (ferry_domain_obj_begin_job), not its lock, so queries and event handlers
 * never wait behind a QEMU command.  Never take the list lock while holding an
 * object lock.
 */
#pragma once

#include "conf/domain-conf.h"
#include "driver/driver.h"

G_BEGIN_DECLS

/** What a domain's current job is doing; NONE when idle. */
typedef enum {
    FERRY_JOB_NONE = 0,
    FERRY_JOB_MODIFY,           /* start, destroy, suspend, resume, define… */
    FERRY_JOB_MIGRATION_OUT,
    FERRY_JOB_MIGRATION_IN,
} ferry_job_type;

typedef struct ferry_domain_obj {
    gint ref;
    GMutex lock;
    /* Guarded by lock: */
    ferry_domain_def *def;      /* persistent definition; NULL if transient */
    ferry_domain_def *live;     /* definition of the running instance; NULL if inactive */
    int state;                  /* ferry_domain_state */
    int reason;
    gboolean removed;           /* no longer in the list */
    ferry_job_type job;
    char *job_owner;            /* what holds the job, for "busy" errors */
    GCond job_cond;
    /* Driver-specific runtime data (QEMU process, monitor…). */
    gpointer priv;
    GDestroyNotify priv_free;
    /* Immutable while in the list: */
    char *name;
    char *uuid;
} ferry_domain_obj;

typedef struct ferry_domain_obj_list ferry_domain_obj_list;

/** ferry_domain_obj_ref: Returns: @obj with one more reference. */
ferry_domain_obj *ferry_domain_obj_ref(ferry_domain_obj *obj);
/** ferry_domain_obj_unref: drops a reference; accepts NULL. */
void ferry_domain_obj_unref(ferry_domain_obj *obj);

/**
 * ferry_domain_obj_is_active:
 * @obj: a domain (lock held by the caller)
 *
 * Returns: TRUE if it runs or is paused (has a live definition).
 */
gboolean ferry_domain_obj_is_active(const ferry_domain_obj *obj);

/**
 * ferry_domain_obj_set_state:
 * @obj: a domain (lock held by the caller)
 * @state: a ferry_domain_state
 * @reason: its reason
 */
void ferry_domain_obj_set_state(ferry_domain_obj *obj, int state, int reason);

/**
 * ferry_domain_obj_begin_job:
 * @obj: a domain (lock NOT held)
 * @job: the job to start
 * @owner: a short description of the operation, for "busy" errors
 * @error: return location for an error
 *
 * Waits up to 30 seconds for the current job to end, then takes the job.
 * A migration job is not waited for: it may last minutes.
 *
 * Returns: FALSE with FERRY_ERROR_TIMEOUT naming the job in the way,
 *   FERRY_ERROR_OPERATION_INVALID when a migration holds the domain, or
 *   FERRY_ERROR_NO_DOMAIN if the domain was removed meanwhile.
 */
gboolean ferry_domain_obj_begin_job(ferry_domain_obj *obj, ferry_job_type job,
                                    const char *owner, GError **error);

/**
 * ferry_domain_obj_end_job:
 * @obj: a domain whose job the caller holds (lock NOT held)
 */
void ferry_domain_obj_end_job(ferry_domain_obj *obj);

/** ferry_domain_obj_list_new: Returns: (transfer full): an empty list. */
ferry_domain_obj_list *ferry_domain_obj_list_new(void);

/**
 * ferry_domain_obj_list_set_max:
 * @list: a list
 * @max: how many domains it may hold; 0: no limit
 *
 * From now on a new domain (a definition, a transient domain, an incoming
 * migration) is refused with FERRY_ERROR_LIMIT once @list holds @max; the
 * domains it holds already stay, and a redefinition is not a new domain.
 * Set it after loading what the host had, so that a lowered limit loses
 * nothing.
 */
void ferry_domain_obj_list_set_max(ferry_domain_obj_list *list, guint max);

/** ferry_domain_obj_list_free: frees the list and drops its references. */
void ferry_domain_obj_list_free(ferry_domain_obj_list *list);

/**
 * ferry_domain_obj_list_find_by_name:
 * @list: a list
 * @name: a domain name
 *
 * Returns: (transfer full) (nullable): the domain.
 */
ferry_domain_obj *ferry_domain_obj_list_find_by_name(ferry_domain_obj_list *list,
                                                     const char *name);

/**
 * ferry_domain_obj_list_find_by_uuid:
 * @list: a list
 * @uuid: a domain uuid
 *
 * Returns: (transfer full) (nullable): the domain.
 */
ferry_domain_obj *ferry_domain_obj_list_find_by_uuid(ferry_domain_obj_list *list,
                                                     const char *uuid);

/**
 * ferry_domain_obj_list_lookup:
 * @list: a list
 * @dom: a handle whose uuid (and name) identify the domain
 * @host: the host's name, for the error message
 * @error: return location for an error (FERRY_ERROR_NO_DOMAIN)
 *
 * Returns: (transfer full): the domain, or NULL with an error naming it.
 */
ferry_domain_obj *ferry_domain_obj_list_lookup(ferry_domain_obj_list *list,
                                               ferry_domain *dom,
                                               const char *host,
                                               GError **error);

/**
 * ferry_domain_obj_list_lookup_job:
 * @list: a list
 * @dom: a handle naming the domain
 * @host: the host's name, for the error message
 * @what: the operation, for "busy" errors
 * @error: return location for an error
 *
 * ferry_domain_obj_list_lookup() then ferry_domain_obj_begin_job() with
 * FERRY_JOB_MODIFY: what every operation that changes a domain starts with.
 *
 * Returns: (transfer full): the domain, its job held, or NULL.
 */
ferry_domain_obj *ferry_domain_obj_list_lookup_job(ferry_domain_obj_list *list,
                                                   ferry_domain *dom, const char *host,
                                                   const char *what, GError **error);

/**
 * ferry_domain_obj_list_define:
 * @list: a list
 * @def: (transfer full): the new persistent definition
 * @ret_created: (out) (optional): TRUE if no domain of that name existed
 * @error: return location for an error
 *
 * Adds a domain, or replaces the persistent definition of the existing
 * domain with the same name and uuid.  Refuses (FERRY_ERROR_DOMAIN_EXISTS)
 * a name held by another uuid or a uuid held by another name.
 *
 * Returns: (transfer full): the domain, or NULL on error (@def freed).
 */
ferry_domain_obj *ferry_domain_obj_list_define(ferry_domain_obj_list *list,
                                               ferry_domain_def *def,
                                               gboolean *ret_created,
                                               GError **error);

/**
 * ferry_domain_obj_list_add_transient:
 * @list: a list
 * @def: (transfer full): the definition of a domain about to start
 * @error: return location for an error
 *
 * Adds a new domain with no persistent definition and def as its live
 * definition, in state SHUTOFF until the driver starts it.  Refuses any
 * name or uuid clash, and an existing active domain.  An inactive persistent
 * domain with the same name and uuid is reused (its live definition set).
 *
 * Returns: (transfer full): the domain, or NULL on error (@def freed).
 */
ferry_domain_obj *ferry_domain_obj_list_add_transient(ferry_domain_obj_list *list,
                                                      ferry_domain_def *def,
                                                      GError **error);

/**
 * ferry_domain_obj_list_remove:
 * @list: a list
 * @obj: a domain of the list (lock NOT held)
 *
 * Removes it from the list; holders of references keep a valid object with
 * removed = TRUE.
 */
void ferry_domain_obj_list_remove(ferry_domain_obj_list *list, ferry_domain_obj *obj);

/**
 * ferry_domain_obj_list_collect:
 * @list: a list
 * @flags: ferry_list_flags (0 = all)
 *
 * Returns: (transfer full): the matching domains sorted by name, an array
 *   that unrefs its elements.
 */
GPtrArray *ferry_domain_obj_list_collect(ferry_domain_obj_list *list, guint flags);

/**
 * ferry_domain_obj_list_handles:
 * @list: a list
 * @conn: the connection to make handles for
 * @flags: ferry_list_flags (0 = all)
 *
 * Returns: (transfer full): ferry_domain handles of the matching domains,
 *   sorted by name; the array frees its elements.
 */
GPtrArray *ferry_domain_obj_list_handles(ferry_domain_obj_list *list,
                                         ferry_conn *conn, guint flags);

/**
 * ferry_domain_obj_fill_info:
 * @obj: a domain (lock held by the caller)
 * @ret_info: filled with state, reason, memory, vcpus and persistence
 *   (cpu_time_ns and pid left 0 for the driver to fill)
 */
void ferry_domain_obj_fill_info(const ferry_domain_obj *obj, ferry_domain_info *ret_info);

/**
 * ferry_domain_obj_format_xml:
 * @obj: a domain (lock held by the caller)
 * @flags: ferry_xml_flags
 *
 * Returns: (transfer full): the live definition of an active domain, else
 *   (or with FERRY_XML_INACTIVE) the persistent one, formatted.
 */
char *ferry_domain_obj_format_xml(const ferry_domain_obj *obj, guint flags);

/**
 * ferry_domain_obj_list_handle_by_name:
 * @list: a domain list
 * @conn: the connection the handle is for
 * @name: a domain name
 * @host: the host's name, for the error
 * @error: return location for an error (FERRY_ERROR_NO_DOMAIN)
 *
 * Returns: (transfer full): a public handle on the domain, or NULL.
 */
ferry_domain *ferry_domain_obj_list_handle_by_name(ferry_domain_obj_list *list,
                                                   ferry_conn *conn, const char *name,
                                                   const char *host, GError **error);

/**
 * ferry_domain_obj_list_handle_by_uuid:
 * As ferry_domain_obj_list_handle_by_name(), by uuid (any case).
 */
ferry_domain *ferry_domain_obj_list_handle_by_uuid(ferry_domain_obj_list *list,
                                                   ferry_conn *conn, const char *uuid,
                                                   const char *host, GError **error);

/**
 * ferry_domain_obj_list_check_clash:
 * @list: a domain list
 * @def: a definition about to be defined
 * @error: return location for an error (FERRY_ERROR_DOMAIN_EXISTS, or
 *   FERRY_ERROR_LIMIT)
 *
 * Checks, before anything is written, that @def's name and uuid do not
 * belong to two different domains, and that a new domain fits under the
 * list's limit (what ferry_domain_obj_list_define() would refuse).
 *
 * Returns: TRUE if @def may be defined.
 */
gboolean ferry_domain_obj_list_check_clash(ferry_domain_obj_list *list,
                                           const ferry_domain_def *def, GError **error);

/**
 * ferry_domain_obj_check_active:
 * @obj: a domain whose job the caller holds (lock NOT held)
 * @want_active: whether the operation needs it running
 * @error: return location for an error (FERRY_ERROR_OPERATION_INVALID)
 *
 * The drivers' common refusal: "domain 'x' is already running" or
 * "domain 'x' is not running".
 *
 * Returns: TRUE if the domain is active exactly when @want_active.
 */
gboolean ferry_domain_obj_check_active(ferry_domain_obj *obj, gboolean want_active,
                                       GError **error);

/**
 * ferry_domain_obj_check_state:
 * @obj: a domain whose job the caller holds (lock NOT held)
 * @what: the operation, e.g. "suspend"
 * @from: the ferry_domain_state it needs (an inactive domain is shut off)
 * @error: return location for an error (FERRY_ERROR_OPERATION_INVALID)
 *
 * Returns: TRUE if the domain is in state @from.
 */
gboolean ferry_domain_obj_check_state(ferry_domain_obj *obj, const char *what, int from,
                                      GError **error);

/**
 * ferry_domain_obj_check_persistent:
 * @obj: a domain whose job the caller holds (lock NOT held)
 * @error: return location for an error (FERRY_ERROR_OPERATION_INVALID)
 *
 * Returns: TRUE if the domain has a persistent definition to undefine.
 */
gboolean ferry_domain_obj_check_persistent(ferry_domain_obj *obj, GError **error);

/**
 * ferry_domain_obj_emit_lifecycle:
 * @bus: the driver's event bus (a ferry_event_bus)
 * @obj: a domain (lock NOT held)
 * @what: the ferry_lifecycle_event
 *
 * Emits a lifecycle event carrying the domain's current state and reason.
 */
void ferry_domain_obj_emit_lifecycle(gpointer bus, ferry_domain_obj *obj, int what);

/**
 * ferry_domain_obj_emit_event:
 * @bus: the driver's event bus (a ferry_event_bus)
 * @obj: a domain (lock NOT held)
 * @type: the ferry_event_type
 * @lifecycle: for FERRY_EVENT_LIFECYCLE, the ferry_lifecycle_event; else 0
 *
 * Emits an event carrying the domain's current state and reason.
 */
void ferry_domain_obj_emit_event(gpointer bus, ferry_domain_obj *obj, int type, int lifecycle);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_domain_obj, ferry_domain_obj_unref)

G_END_DECLS
