/*
 * notify.c - the sd_notify(3) datagram protocol, written out.
 *
 * Why not libsystemd: the protocol is one sendmsg() of a text datagram to
 * the unix socket named by $NOTIFY_SOCKET (a path, or an abstract name
 * written with a leading '@' that stands for the NUL byte). That is a few
 * lines; libsystemd would be one more shared library (and its own
 * dependencies: libcap, liblz4, libzstd, libgcrypt...) loaded into a
 * process that handles database credentials, for no other use. The daemon
 * also runs outside systemd (tests, other service managers), where
 * NOTIFY_SOCKET is unset and this file does nothing.
 *
 * The socket is opened per message: acctgate sends a handful in its
 * lifetime (start, each reload, stop), so keeping a descriptor open buys
 * nothing. MSG_NOSIGNAL: a vanished receiver must not raise SIGPIPE.
 * vsock addresses ("vsock:CID:PORT", for VMs) are not supported.
 */
#include "notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

unsigned long long notify_monotonic_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL;
}

/* Fill `sa` from NOTIFY_SOCKET's value; its length, or 0 when unusable. */
static socklen_t notify_address(const char *name, struct sockaddr_un *sa)
{
	size_t len = strlen(name);
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if ((name[0] != '/' && name[0] != '@') || len < 2 || len > sizeof(sa->sun_path))
		return 0;
	memcpy(sa->sun_path, name, len);
	if (name[0] == '@') {
		/* Abstract: the name is the bytes after the NUL, no terminator. */
		sa->sun_path[0] = '\0';
		return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	}
	if (len == sizeof(sa->sun_path))
		return 0; /* a path needs room for its NUL */
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
}

bool notify_send(const char *fmt, ...)
{
	static bool warned;
	const char *name = getenv("NOTIFY_SOCKET");
	if (!name || !*name)
		return true;

	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = (int)strlen(msg); /* truncated STATUS text is still worth sending */

	struct sockaddr_un sa;
	socklen_t salen = notify_address(name, &sa);
	if (salen == 0) {
		if (!warned)
			log_warning("NOTIFY_SOCKET is neither a path nor an @abstract name; systemd is not told");
		warned = true;
		return false;
	}
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		if (!warned)
			log_warning("NOTIFY_SOCKET: socket: %s", strerror(errno));
		warned = true;
		return false;
	}
	struct iovec iov = {.iov_base = msg, .iov_len = (size_t)n};
	struct msghdr mh = {.msg_name = &sa, .msg_namelen = salen, .msg_iov = &iov, .msg_iovlen = 1};
	ssize_t sent = sendmsg(fd, &mh, MSG_NOSIGNAL);
	int saved = errno;
	close(fd);
	if (sent != (ssize_t)n) {
		if (!warned)
			log_warning("NOTIFY_SOCKET: cannot send to %s: %s", name, sent < 0 ? strerror(saved) : "short send");
		warned = true;
		return false;
	}
	return true;
}
