/*
 * replay.h - `acctgate replay`: the journal's committed transactions
 * applied to a server, in commit order, each with the context it was
 * recorded with, every statement's affected rows and insert id checked
 * against the record.
 */
#ifndef ACCTGATE_REPLAY_H
#define ACCTGATE_REPLAY_H

#include <stdbool.h>
#include <stdio.h>

#include "journal_walk.h"

enum replay_tls {
	REPLAY_TLS_DISABLED,
	REPLAY_TLS_REQUIRED,        /* encrypted, the certificate not checked */
	REPLAY_TLS_VERIFY_IDENTITY, /* the default: CA and host name checked */
};

struct replay_options {
	const char *journal_dir;
	const char *host;
	unsigned port;
	const char *user;
	const char *password;
	enum replay_tls tls;
	const char *tls_ca, *tls_cert, *tls_key; /* NULL or "" = none */
	struct journal_walk_range range;
	bool progress;             /* a progress line on stderr */
	bool local_infile;         /* connections may LOAD DATA LOCAL (restore) */
	/* Replay the transactions of database db_from into db_to (a restore
	 * under another name); NULL = as recorded. */
	const char *db_from, *db_to;
	/* Only the transactions whose database is one of these (a snapshot's
	 * databases, restored); the others are counted, not applied: on a
	 * restore beside the live database they would apply twice. ndatabases
	 * 0 = every transaction. */
	const char (*databases)[65];
	size_t ndatabases;
};

/* Connection settings that own their strings, for a thread of acctgate's
 * own that outlives the caller's copy: conn points into the buffers. */
struct replay_account {
	char host[256], user[128], password[256], tls_ca[512], tls_cert[512], tls_key[512];
	struct replay_options conn;
};
/* Copy o's server, account and TLS settings into a (NULL strings as ""). */
void replay_account_copy(struct replay_account *a, const struct replay_options *o);

/* A connection to o's server as o's user over o's TLS settings (also
 * acctgate's own, for in-doubt resolution); NULL with err filled. The
 * caller includes <mysql.h> to use it. */
struct st_mysql;
struct st_mysql *replay_connect(const struct replay_options *o, char *err, size_t err_len);

/* Exit status: 0 replayed without divergence, 1 divergences (each
 * printed with its sequence number), 2 the journal is corrupt or cannot
 * be read, 3 the target cannot be reached. */
int replay_run(const struct replay_options *o, FILE *out, FILE *err);

#endif
