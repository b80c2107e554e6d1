/*
 * packet_io.h - packets the proxy makes itself (greetings, ERR, a login it
 * ends), appended to a leg's output buffer. Framing and parsing live in
 * protocol/; the relay moves the packets it forwards without this file.
 */
#ifndef ACCTGATE_PACKET_IO_H
#define ACCTGATE_PACKET_IO_H

#include <stdbool.h>
#include <stdint.h>

#include "iobuf.h"
#include "proto.h"

/* Append one packet (payload < 16 MiB). False when out of memory. */
bool pio_write_packet(struct iobuf *out, uint8_t seq, const void *payload, size_t len);

/* Append an ERR packet: code, "#" + sql_state, message (printf format). */
bool pio_write_err(struct iobuf *out, uint8_t seq, uint16_t code, const char *sql_state, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#endif
