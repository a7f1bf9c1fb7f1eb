/*
 * serial.c: the bundled guest's output on COM1.
 *
 * Owns: UART programming and formatting numbers as text.  Must not buffer or
 * use interrupts: every byte is written by polling, so a line is complete in
 * guest memory order and survives a migration half-way through.
 */
#include "ferry-config.h"

#include "kernel.h"

#define COM1 0x3F8
#define UART_DATA 0      /* THR when DLAB=0, divisor low when DLAB=1 */
#define UART_IER 1       /* IER when DLAB=0, divisor high when DLAB=1 */
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_LSR_THRE 0x20
#define UART_BASE_CLOCK 115200

void
serial_init(void)
{
    const uint16_t divisor = UART_BASE_CLOCK / 115200;

    outb(COM1 + UART_IER, 0x00);                   /* no interrupts */
    outb(COM1 + UART_LCR, 0x80);                   /* DLAB on */
    outb(COM1 + UART_DATA, divisor & 0xff);
    outb(COM1 + UART_IER, (divisor >> 8) & 0xff);
    outb(COM1 + UART_LCR, 0x03);                   /* 8 bits, no parity, 1 stop */
    outb(COM1 + UART_FCR, 0xC7);                   /* FIFO on, cleared */
    outb(COM1 + UART_MCR, 0x03);                   /* DTR, RTS; OUT2 off */
}

static void
serial_putc(char c)
{
    while (!(inb(COM1 + UART_LSR) & UART_LSR_THRE))
        ;
    outb(COM1 + UART_DATA, (uint8_t)c);
}

void
serial_puts(const char *s)
{
    while (*s)
        serial_putc(*s++);
}

void
serial_putn(const char *s, size_t len)
{
    while (len--)
        serial_putc(*s++);
}

void
serial_putu(uint32_t v)
{
    char buf[11];
    int i = sizeof(buf) - 1;

    buf[i] = '\0';
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    serial_puts(&buf[i]);
}

/* put_hex: writes 0x and the low @ndigits (1 to 8) hex digits of @v. */
static void
put_hex(uint32_t v, int ndigits)
{
    static const char digits[] = "0123456789abcdef";
    char buf[11];

    buf[0] = '0';
    buf[1] = 'x';
    for (int i = 0; i < ndigits; i++)
        buf[2 + i] = digits[(v >> (4 * (ndigits - 1 - i))) & 0xf];
    buf[2 + ndigits] = '\0';
    serial_puts(buf);
}

void
serial_putx(uint32_t v)
{
    put_hex(v, 8);
}

void
serial_putx2(uint8_t v)
{
    put_hex(v, 2);
}
