/*
 * mailbox.h - typed messages to a worker thread from any other thread.
 *
 * A message is queued under a mutex and the worker's loop is woken through
 * an eventfd; the worker takes the whole queue at once. Unlike the one-byte
 * pipe messages this replaces, a message cannot be lost to a full pipe:
 * the queue holds it, and the eventfd's counter only says "look". Messages
 * are delivered in the order they were posted.
 */
#ifndef ACCTGATE_MAILBOX_H
#define ACCTGATE_MAILBOX_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>

#include <event2/event.h>

struct worker;

enum mail_kind {
	MAIL_CONNECTION, /* an accepted client socket to serve */
	MAIL_DRAIN,      /* close sessions as they become idle, then stop */
	MAIL_CALL,       /* run fn(worker, arg) on the worker's thread */
};

struct mail {
	enum mail_kind kind;
	struct mail *next;
	union {
		struct {
			int fd;
			socklen_t addrlen;
			struct sockaddr_storage addr;
		} connection;
		struct {
			void (*fn)(struct worker *w, void *arg);
			void *arg;
		} call;
	} u;
};

struct mailbox {
	pthread_mutex_t lock;
	struct mail *head, *tail;
	int efd;
	struct event *ev;
	void (*deliver)(struct mail *m, void *arg); /* owns m */
	void *arg;
};

/* Set up on the receiving loop's base. False (with errno) on failure. */
bool mailbox_init(struct mailbox *mb, struct event_base *base, void (*deliver)(struct mail *m, void *arg), void *arg);
/* Queue m (malloc'd; the mailbox owns it from here) and wake the loop. */
void mailbox_post(struct mailbox *mb, struct mail *m);
/* Free what was never delivered (closing the sockets of connections). */
void mailbox_destroy(struct mailbox *mb);

#endif
