/*
 * admin_int.h - the contract between admin.c (listener, connection phase,
 * login throttle, packets out) and admin_commands.c (what each command
 * answers). Nothing else includes it.
 */
#ifndef ACCTGATE_ADMIN_INT_H
#define ACCTGATE_ADMIN_INT_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "admin.h"
#include "admin_parse.h"
#include "auth_ed25519.h"
#include "conn.h"
#include "mailbox.h"
#include "proto.h"
#include "replay.h"

/* Admin connections at once, logins in progress included: a flood of
 * guesses waits in the kernel's backlog, not in acctgate. */
#define ADMIN_CONN_MAX 16
/* Addresses whose failed logins are remembered (the oldest is forgotten). */
#define ADMIN_THROTTLE_SLOTS 64
/* The first failure's delay, doubled per consecutive failure, capped. */
#define ADMIN_DELAY_BASE_MS 500u
#define ADMIN_DELAY_MAX_MS 10000u
/* Failures older than this no longer count. */
#define ADMIN_THROTTLE_FORGET_MS (15u * 60u * 1000u)
/* Connection-phase packets (tighter before the login), then commands. */
#define ADMIN_HANDSHAKE_MAX (16u << 10)
#define ADMIN_COMMAND_MAX (64u << 10)
/* A closing connection's last bytes get this long to drain. */
#define ADMIN_CLOSE_FLUSH_SECONDS 5

enum admin_state {
	AS_HELLO,     /* greeting sent: an SSLRequest or the HandshakeResponse is expected */
	AS_TLS,       /* TLS accept in progress (after an SSLRequest) */
	AS_SWITCHED,  /* AuthSwitchRequest to ac->plugin sent: the client's answer is expected */
	AS_VERDICT,   /* the login was decided; its OK or ERR waits for the address's throttle */
	AS_READY,     /* logged in, between commands */
	AS_GATHERING, /* a command waits for every worker's answer (admin_gather) */
	AS_CLOSING,   /* flushing the last bytes, then freed */
};

/* How a login's password is checked (admin.c). */
enum admin_plugin {
	ADMIN_PLUGIN_NATIVE,  /* mysql_native_password over the greeting's nonce */
	ADMIN_PLUGIN_ED25519, /* client_ed25519 over a nonce of its own (ac->ed_nonce) */
};

struct admin_conn {
	struct admin *admin;
	struct admin_conn *prev, *next;
	uint64_t id;
	enum admin_state state;
	struct conn *c;
	char peer[INET6_ADDRSTRLEN + 8]; /* host:port, for the log */
	char host[INET6_ADDRSTRLEN];     /* the throttle's key */
	uint8_t seq;                     /* the next sequence id: expected from the client, or ours to send */
	uint8_t nonce[PROTO_SCRAMBLE_LEN];     /* the greeting's, printable */
	enum admin_plugin plugin;             /* the one the answer being checked is for */
	uint8_t ed_nonce[AUTH_ED25519_NONCE_LEN]; /* any bytes: client_ed25519 reads it by its length */
	uint32_t caps;                   /* negotiated */
	bool tls;
	bool verdict_ok;
	char user[128];
	struct event *timer;             /* login_timeout, the verdict's delay, then the close's deadline */
	struct event *free_ev;
};

/* One failing address. */
struct admin_throttle {
	char host[INET6_ADDRSTRLEN];
	unsigned failures;               /* consecutive */
	uint64_t last_ms;                /* of the last failure */
	uint64_t busy_until_ms;          /* no verdict for this address goes out before */
};

struct admin_gather;
struct snapshot_task;

struct admin {
	struct gate *gate;
	struct event_base *base;
	struct evconnlistener *listener;
	SSL_CTX *tls_ctx;                /* NULL: TLS not offered */
	enum client_tls_mode tls_mode;
	char listen_name[CONFIG_ENDPOINT_NAME_MAX];
	struct mailbox mailbox;          /* workers' answers to admin_gather */
	bool mailbox_ready;
	struct admin_conn *conns;
	int nconns;
	uint64_t next_id;
	struct admin_gather *gathers;    /* outstanding, freed with the admin */
	uint64_t snapshot_waiter;        /* the connection whose SNAPSHOT runs (snapshots.h), 0 if none */
	struct snapshot_task *task_running;    /* VERIFY or RESTORE in progress (admin_restore.c), NULL if none */
	struct admin_throttle throttle[ADMIN_THROTTLE_SLOTS];
	struct conn_stats stats;
	uint64_t logins_ok, logins_failed;
	uint8_t scratch[64u << 10];      /* one packet being written (main thread only) */
};

/* admin.c: answers. Each appends one or more packets to the connection's
 * output with ac->seq counting on; the caller flushes (admin_flush). */
bool admin_send_ok(struct admin_conn *ac, const char *info);
bool admin_send_err(struct admin_conn *ac, uint16_t code, const char *sql_state, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* A text result set: the column definitions, rows of ncols values (NULL =
 * SQL NULL), and its end (EOF, or OK with CLIENT_DEPRECATE_EOF). */
bool admin_rs_begin(struct admin_conn *ac, const char *const *names, size_t ncols);
bool admin_rs_row(struct admin_conn *ac, const char *const *values, size_t ncols);
bool admin_rs_end(struct admin_conn *ac);
/* Name/value rows: begin with the two columns, then one call per row. */
bool admin_rs_pair(struct admin_conn *ac, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void admin_flush(struct admin_conn *ac);
/* Stop; free once the last bytes left. why == NULL logs nothing. */
void admin_close(struct admin_conn *ac, const char *why);
/* A command's answer is complete: read the next one. */
void admin_command_done(struct admin_conn *ac);
/* admin_commands.c: the live connection with this id, NULL if it closed. */
struct admin_conn *admin_find_conn(struct admin *a, uint64_t id);
/* admin_snapshot.c */
void admin_snapshot(struct admin_conn *ac);
void admin_show_snapshots(struct admin_conn *ac);
/* admin_restore.c: VERIFY SNAPSHOT and RESTORE SNAPSHOT (on a thread of
 * their own, one at a time), DROP SNAPSHOT. */
void admin_snapshot_task(struct admin_conn *ac, const struct admin_command *cmd);
void admin_drop_snapshot(struct admin_conn *ac, const struct admin_command *cmd);

/* admin_commands.c */
/* Answer one parsed command; may enter AS_GATHERING (the answer follows
 * from the workers' replies). */
void admin_run(struct admin_conn *ac, const struct admin_command *cmd);
/* Free what admin_run left outstanding (admin_free). */
void admin_gathers_free(struct admin *a);
/* The admin's mailbox delivers here (on the main thread). */
void admin_deliver(struct mail *m, void *arg);

#endif
