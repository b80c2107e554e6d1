/*
 * gate.h - the process-wide context: one struct gate owns the listener, the
 * workers, the current configuration generation and the upstream pool.
 * There are no other globals (but the log level).
 */
#ifndef ACCTGATE_GATE_H
#define ACCTGATE_GATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "config.h"
#include "hooks.h"
#include "replay.h"
#include "tls.h"
#include "upstream.h"

/*
 * One configuration generation with the TLS contexts and keys built from
 * it. A session holds a reference for its whole life, so a reload never
 * changes the rules under a running session; new sessions get the new
 * generation.
 */
struct auth_ed25519;
struct settings {
	atomic_int refs;
	struct config cfg;
	SSL_CTX *client_ctx;   /* NULL when [proxy] client_tls = disabled */
	SSL_CTX *upstream_ctx; /* NULL when [upstream] tls = disabled */
	/* The admin password's client_ed25519 public key, derived here once
	 * per generation rather than per login; NULL without [admin]
	 * password_file. */
	struct auth_ed25519 *admin_ed25519;
};

/* Build a generation (loads certificates, keys and CA store). NULL with err
 * filled when a file is missing or unusable. */
struct settings *settings_build(const struct config *cfg, char *err, size_t errlen);
void settings_release(struct settings *s);

struct worker;

struct gate {
	struct event_base *base; /* main thread: listener, signals */
	struct evconnlistener *listener;
	struct event *sig_term, *sig_int, *sig_hup;
	pthread_mutex_t settings_lock;
	struct settings *settings;
	struct worker **workers;
	int nworkers;
	unsigned next_worker;
	atomic_int connections;
	atomic_uint_fast64_t next_session_id;
	struct upstream_pool pool;
	struct health *health;
	struct auth_key *auth_key; /* lent to caching_sha2 logins (auth_key.h) */
	const char *config_path;
	char status[1024]; /* "listening on ...": systemd's STATUS line */
	/* The session layer's hooks (hooks.h): set before the workers start,
	 * read without locks afterwards. */
	const struct session_hooks *hooks[HOOKS_MAX];
	int nhooks;
	bool hooks_keep_statements; /* some hook has on_txn_end */
	struct recorder *recorder;  /* [journal] dir set: the write stream's journal */
	struct admin *admin;        /* [admin] user set: the admin port (admin.h) */
	struct throttle *throttle;  /* [throttle] heavy_limit or bulk_limit > 0: admission (throttle.h) */
	struct digests *digests;    /* [digests] max > 0: per-digest statistics (digests.h) */
	struct quiesce *quiesce;    /* the admin port can restore in place: sessions held for it (quiesce.h) */
	struct snapshots *snapshots; /* the snapshot job, schedule and keep (snapshots.h) */
	/* redo.c: transactions run again after a deadlock or lock wait
	 * timeout, and how it went (SHOW STATUS). */
	atomic_uint_fast64_t replays;         /* the whole transaction ran again, every result matched */
	atomic_uint_fast64_t replay_retries;  /* the failed command alone went again (a lock wait timeout) */
	atomic_uint_fast64_t replays_failed;  /* the client got the error after all: a result differed, a
	                                         statement failed, or the attempts ran out */
	atomic_uint_fast64_t replays_refused; /* the client got the error: nothing could run again (redo.c says why) */
	struct timespec started;    /* CLOCK_MONOTONIC, for uptime */
	struct timespec stopping;   /* CLOCK_MONOTONIC: SIGTERM or SIGINT, where drain_timeout counts from */
};

/*
 * Reload the configuration file: what SIGHUP and the admin port's RELOAD
 * both do, on the main thread. A new generation (certificates, keys, CA
 * store, upstream list, limits) is built beside the running one and swapped
 * in only if all of it loads; systemd hears RELOADING=1 before and READY=1
 * after. `trigger` ("SIGHUP", "admin RELOAD") is for the log. False when the
 * reload was refused: the running generation stays, and `why` says why.
 */
bool gate_reload(struct gate *g, const char *trigger, char *why, size_t whylen);

/* Register hooks (before gate_run starts the workers). False when
 * HOOKS_MAX are registered already. */
bool gate_add_hooks(struct gate *g, const struct session_hooks *h);

/* What [upstream] tls asks of the server's certificate. */
enum tls_verify gate_upstream_verify(enum upstream_tls_mode mode);
/* The same for acctgate's own connections (libmariadb: replay, snapshots,
 * in-doubt resolution). verify_ca cannot be had there without the name
 * check: they check both, stricter, never weaker. */
enum replay_tls gate_replay_tls(enum upstream_tls_mode mode);

/* The server, account and TLS of acctgate's own connections ([snapshot]
 * user, the first [upstream] server), copied into acct so that a thread
 * can use them after the settings are released. */
struct gate_db_account {
	char host[CONFIG_HOST_MAX];
	char user[128], password[256];
	char tls_ca[CONFIG_STR_MAX], tls_cert[CONFIG_STR_MAX], tls_key[CONFIG_STR_MAX];
};
void gate_db_account(const struct config *cfg, struct gate_db_account *acct, struct replay_options *conn);

/* A reference to the current generation; release with settings_release. */
struct settings *gate_settings(struct gate *g);

/* Run the proxy until SIGTERM/SIGINT and the drain are over. Returns the
 * process exit status (0 after a clean drain, 1 when it could not start). */
int gate_run(const char *config_path, const struct config *cfg);

#endif
