/*
 * ata.c: the bundled guest's driver for one ATA disk, PIO, polled.
 *
 * Owns: the registers of the primary IDE channel (0x1F0-0x1F7, 0x3F6) and
 * the three commands the guest needs: IDENTIFY DEVICE, READ SECTORS and
 * WRITE SECTORS, one LBA28 sector at a time, on the master drive.  Must not
 * enable interrupts (the drive's interrupt is masked with nIEN and the CPU
 * runs with IF clear) or print anything: callers report errors.  Every wait
 * is bounded by ATA_TIMEOUT_MS of guest time (the PIT, which stops while the
 * VM is paused, so a migration never times a command out).
 */
#include "ferry-config.h"

#include "kernel.h"

#define ATA_DATA 0x1F0
#define ATA_ERROR 0x1F1
#define ATA_COUNT 0x1F2
#define ATA_LBA_LOW 0x1F3
#define ATA_LBA_MID 0x1F4
#define ATA_LBA_HIGH 0x1F5
#define ATA_DRIVE 0x1F6
#define ATA_STATUS 0x1F7         /* read */
#define ATA_COMMAND 0x1F7        /* write */
#define ATA_CONTROL 0x3F6        /* write: device control */
#define ATA_ALT_STATUS 0x3F6     /* read: status without side effects */

#define ATA_SR_BSY 0x80
#define ATA_SR_DRDY 0x40
#define ATA_SR_DF 0x20
#define ATA_SR_DRQ 0x08
#define ATA_SR_ERR 0x01

#define ATA_CTL_NIEN 0x02

#define ATA_DRIVE_MASTER 0xA0    /* CHS addressing, for IDENTIFY */
#define ATA_DRIVE_MASTER_LBA 0xE0

#define ATA_CMD_READ_SECTORS 0x20
#define ATA_CMD_WRITE_SECTORS 0x30
#define ATA_CMD_IDENTIFY 0xEC

#define ATA_SECTOR_WORDS 256u
#define ATA_TIMEOUT_MS 10000u

/* IDENTIFY DEVICE words */
#define ID_MODEL 27u
#define ID_LBA28_SECTORS 60u

/* After selecting a drive, its status is valid 400 ns later: four reads of
 * the alternate status register take at least that long. */
static void
ata_delay400(void)
{
    for (int i = 0; i < 4; i++)
        (void)inb(ATA_ALT_STATUS);
}

/*
 * ata_wait: waits until the drive is not busy and (status & @mask) == @want.
 * Returns 0 with @ret filled in if it reports ERR or DF first, or on timeout.
 */
static int
ata_wait(uint8_t mask, uint8_t want, struct ata_result *ret)
{
    uint32_t start = timer_now_ms();

    for (;;) {
        uint8_t status = inb(ATA_STATUS);

        if (!(status & ATA_SR_BSY)) {
            if (status & (ATA_SR_ERR | ATA_SR_DF)) {
                ret->status = status;
                ret->error = inb(ATA_ERROR);
                ret->timed_out = 0;
                return 0;
            }
            if ((status & mask) == want)
                return 1;
        }
        if (timer_now_ms() - start >= ATA_TIMEOUT_MS) {
            ret->status = status;
            ret->error = 0;
            ret->timed_out = 1;
            return 0;
        }
    }
}

/* ata_command: selects the master drive at sector @lba and issues @cmd. */
static int
ata_command(uint8_t cmd, uint32_t lba, struct ata_result *ret)
{
    if (!ata_wait(ATA_SR_DRDY | ATA_SR_DRQ, ATA_SR_DRDY, ret))
        return 0;
    outb(ATA_DRIVE, (uint8_t)(ATA_DRIVE_MASTER_LBA | ((lba >> 24) & 0x0F)));
    outb(ATA_COUNT, 1);
    outb(ATA_LBA_LOW, (uint8_t)lba);
    outb(ATA_LBA_MID, (uint8_t)(lba >> 8));
    outb(ATA_LBA_HIGH, (uint8_t)(lba >> 16));
    outb(ATA_COMMAND, cmd);
    return 1;
}

int
ata_write_sector(uint32_t lba, const uint16_t *buf, struct ata_result *ret)
{
    if (!ata_command(ATA_CMD_WRITE_SECTORS, lba, ret) ||
        !ata_wait(ATA_SR_DRQ, ATA_SR_DRQ, ret))
        return 0;
    for (uint32_t i = 0; i < ATA_SECTOR_WORDS; i++)
        outw(ATA_DATA, buf[i]);
    /* Busy until the write is done, then neither BSY nor DRQ. */
    return ata_wait(ATA_SR_DRQ, 0, ret);
}

int
ata_read_sector(uint32_t lba, uint16_t *buf, struct ata_result *ret)
{
    if (!ata_command(ATA_CMD_READ_SECTORS, lba, ret) ||
        !ata_wait(ATA_SR_DRQ, ATA_SR_DRQ, ret))
        return 0;
    for (uint32_t i = 0; i < ATA_SECTOR_WORDS; i++)
        buf[i] = inw(ATA_DATA);
    return ata_wait(ATA_SR_DRQ, 0, ret);
}

int
ata_identify(uint32_t *ret_sectors, char ret_model[ATA_MODEL_LEN + 1])
{
    uint16_t id[ATA_SECTOR_WORDS];
    struct ata_result res;
    uint8_t status;
    uint32_t len;

    outb(ATA_CONTROL, ATA_CTL_NIEN);
    outb(ATA_DRIVE, ATA_DRIVE_MASTER);
    ata_delay400();
    /* 0xFF: nothing drives the bus; QEMU reads 0 for an absent drive. */
    status = inb(ATA_STATUS);
    if (status == 0xFF || status == 0)
        return 0;
    outb(ATA_COUNT, 0);
    outb(ATA_LBA_LOW, 0);
    outb(ATA_LBA_MID, 0);
    outb(ATA_LBA_HIGH, 0);
    outb(ATA_COMMAND, ATA_CMD_IDENTIFY);
    ata_delay400();
    if (inb(ATA_STATUS) == 0)
        return 0;
    /* An ATAPI device aborts IDENTIFY DEVICE and leaves its signature
     * (0x14 0xEB) in the LBA registers; an ATA disk leaves them zero. */
    if (!ata_wait(0, 0, &res) && res.timed_out)
        return 0;
    if (inb(ATA_LBA_MID) != 0 || inb(ATA_LBA_HIGH) != 0)
        return 0;
    if (!ata_wait(ATA_SR_DRQ, ATA_SR_DRQ, &res))
        return 0;
    for (uint32_t i = 0; i < ATA_SECTOR_WORDS; i++)
        id[i] = inw(ATA_DATA);

    *ret_sectors = (uint32_t)id[ID_LBA28_SECTORS] | ((uint32_t)id[ID_LBA28_SECTORS + 1] << 16);
    /* The model is ASCII, two characters a word, the first in the high byte;
     * anything unprintable becomes '?' so the serial line stays one line. */
    for (uint32_t i = 0; i < ATA_MODEL_LEN; i++) {
        uint16_t word = id[ID_MODEL + i / 2];
        char c = (char)(i % 2 ? word & 0xFF : word >> 8);

        ret_model[i] = c >= ' ' && c <= '~' ? c : '?';
    }
    len = ATA_MODEL_LEN;
    while (len > 0 && ret_model[len - 1] == ' ')
        len--;
    ret_model[len] = '\0';
    return 1;
}
