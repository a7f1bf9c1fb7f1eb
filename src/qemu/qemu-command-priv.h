/*
 * qemu-command-priv.h: how qemu-command.c (the domain-level options and the
 * reading back) and qemu-command-devices.c (every device) build one
 * command line together.
 *
 * Owns: the builder's shared state and helpers.  Must not: be included
 * outside src/qemu/qemu-command*.c.
 */
#pragma once

#include "qemu/qemu-command.h"

G_BEGIN_DECLS

/* The length of a device array of the definition: a definition assembled
 * in C may leave an array it does not use NULL. */
#define QEMU_CMD_LEN(array) ((array) ? (array)->len : 0u)

/* One command line being built. */
typedef struct {
    const ferry_domain_def *def;
    const ferry_qemu_command_opts *opts;
    GPtrArray *argv;
    /* The root bus is PCI Express (q35): devices on bus 0 name "pcie.0"
     * and the SATA controller of index 0 is the built-in one, id "ide". */
    gboolean q35;
    /* Some device has <boot order=...>: the boot order is given per
     * device (bootindex=) and -boot order= is left out, as libvirt does,
     * since QEMU lets bootindex win anyway. */
    gboolean per_device_boot;
} qemu_cmd;

/* Appends @arg to the command line. */
void qemu_cmd_add(qemu_cmd *cmd, const char *arg);

/* Appends a formatted argument. */
void qemu_cmd_addf(qemu_cmd *cmd, const char *format, ...) G_GNUC_PRINTF(2, 3);

/* Appends "-OPTION" then @value, taking @value. */
void qemu_cmd_add_opt(qemu_cmd *cmd, const char *option, GString *value);

/* @value with each ',' doubled: QEMU option values separate keys with
 * ',', and a doubled comma is a literal one. */
char *qemu_escape_opt(const char *value);

/* Appends ",KEY=VALUE" with the value escaped. */
void qemu_append_kv(GString *s, const char *key, const char *value);

/* Appends ",bus=...,addr=0xSS[.0xF][,multifunction=on]" for a PCI address,
 * nothing for any other kind (QEMU picks a slot: only definitions made
 * before addresses were assigned have none). */
void qemu_append_pci_address(const qemu_cmd *cmd, GString *s, const ferry_device_address *addr);

/* The QEMU id of a USB controller of that index, and of its bus ("usb",
 * "usb.0"; "usb1", "usb1.0"). */
char *qemu_usb_controller_id(guint index);

/* Every -device (and its -blockdev, -netdev, -chardev, -object) of the
 * definition, in the order QEMU needs: controllers before what plugs into
 * them. */
void qemu_cmd_add_devices(qemu_cmd *cmd);

/* "-vnc" / "-spice" / "-k" of the definition's graphics. */
void qemu_cmd_add_graphics(qemu_cmd *cmd);

/* The value of "-action watchdog=..." for the definition's watchdog, NULL
 * when QEMU's default (reset) is what the definition asks. */
const char *qemu_watchdog_action(const ferry_domain_def *def);

/* Sets @error (FERRY_ERROR_INVALID_ARG) to "domain 'NAME': " and the
 * message; returns FALSE. */
gboolean qemu_refuse(GError **error, const ferry_domain_def *def, const char *format, ...)
    G_GNUC_PRINTF(3, 4);

/* The device checks of ferry_qemu_command_check(). */
gboolean qemu_check_devices(const ferry_domain_def *def, const ferry_qemu_command_opts *opts,
                            gboolean q35, GError **error);

G_END_DECLS
