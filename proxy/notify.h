/*
 * notify.h - readiness and status for systemd's Type=notify services: the
 * NOTIFY_SOCKET datagram protocol of sd_notify(3), without libsystemd.
 *
 * Messages are newline-separated VAR=VALUE lines: READY=1 once acctgate
 * listens with its certificates loaded, RELOADING=1 (with MONOTONIC_USEC)
 * when a SIGHUP reload starts and READY=1 when it is over, STOPPING=1 when
 * the drain starts, STATUS=... for `systemctl status`.
 */
#ifndef ACCTGATE_NOTIFY_H
#define ACCTGATE_NOTIFY_H

#include <stdbool.h>

/*
 * Send one message (its lines joined by '\n', printf-style) to
 * $NOTIFY_SOCKET. Without NOTIFY_SOCKET (not started by systemd) nothing is
 * sent and the result is true; false when the variable is set but the
 * message could not be sent (the reason goes to the log once).
 */
bool notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* CLOCK_MONOTONIC in microseconds, as RELOADING=1's MONOTONIC_USEC wants. */
unsigned long long notify_monotonic_usec(void);

#endif
