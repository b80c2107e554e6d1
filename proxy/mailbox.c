/*
 * mailbox.c - see mailbox.h.
 */
#include "mailbox.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct mailbox *mb = arg;
	uint64_t n;
	/* Resets the counter; EAGAIN only when another wake already did. */
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&mb->lock);
	struct mail *m = mb->head;
	mb->head = mb->tail = NULL;
	pthread_mutex_unlock(&mb->lock);
	while (m) {
		struct mail *next = m->next;
		mb->deliver(m, mb->arg);
		m = next;
	}
}

bool mailbox_init(struct mailbox *mb, struct event_base *base, void (*deliver)(struct mail *m, void *arg), void *arg)
{
	mb->head = mb->tail = NULL;
	mb->deliver = deliver;
	mb->arg = arg;
	mb->ev = NULL;
	mb->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (mb->efd < 0)
		return false;
	pthread_mutex_init(&mb->lock, NULL);
	mb->ev = event_new(base, mb->efd, EV_READ | EV_PERSIST, wake_cb, mb);
	if (!mb->ev || event_add(mb->ev, NULL) != 0) {
		errno = ENOMEM;
		return false;
	}
	return true;
}

void mailbox_post(struct mailbox *mb, struct mail *m)
{
	m->next = NULL;
	pthread_mutex_lock(&mb->lock);
	bool was_empty = !mb->head;
	if (mb->tail)
		mb->tail->next = m;
	else
		mb->head = m;
	mb->tail = m;
	pthread_mutex_unlock(&mb->lock);
	/* A queue that was not empty has a wake on its way: wake_cb resets
	 * the eventfd before it takes the queue, so it takes this one too. */
	if (!was_empty)
		return;
	uint64_t one = 1;
	/* Can only fail when the counter is near 2^64: then a wake is
	 * pending anyway, and the message waits in the queue for it. */
	ssize_t n = write(mb->efd, &one, sizeof(one));
	(void)n;
}

void mailbox_destroy(struct mailbox *mb)
{
	if (mb->ev)
		event_free(mb->ev);
	if (mb->efd >= 0) {
		close(mb->efd);
		pthread_mutex_destroy(&mb->lock);
	}
	for (struct mail *m = mb->head, *next; m; m = next) {
		next = m->next;
		if (m->kind == MAIL_CONNECTION)
			close(m->u.connection.fd);
		free(m);
	}
	mb->head = mb->tail = NULL;
	mb->efd = -1;
	mb->ev = NULL;
}
