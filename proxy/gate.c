/*
 * gate.c - the process: configuration generations, the listener, signals.
 *
 * Signals are handled on the main thread's event base:
 *  SIGTERM/SIGINT: stop accepting, let every session finish its transaction
 *    and a running snapshot end (drain_timeout at most, counted from the
 *    signal), then exit 0.
 *  SIGHUP: reload the file; a new generation (certificates, keys, CA store,
 *    upstream list, limits) is built beside the running one and swapped in
 *    only if all of it loads; otherwise the running one stays and the log says
 *    why. Running sessions keep the generation they started with.
 * Under systemd (Type=notify, notify.c) the main thread reports READY=1 once
 * it listens, RELOADING=1 and READY=1 around each reload, STOPPING=1 when a
 * drain starts.
 */
#include "gate.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "admin.h"
#include "auth_ed25519.h"
#include "auth_key.h"
#include "digests.h"
#include "health.h"
#include "log.h"
#include "notify.h"
#include "quiesce.h"
#include "recorder.h"
#include "snapshots.h"
#include "throttle.h"
#include "tls.h"
#include "worker.h"

enum tls_verify gate_upstream_verify(enum upstream_tls_mode mode)
{
	switch (mode) {
	case UPSTREAM_TLS_VERIFY_IDENTITY:
		return TLS_VERIFY_IDENTITY;
	case UPSTREAM_TLS_VERIFY_CA:
		return TLS_VERIFY_CA;
	default:
		return TLS_VERIFY_NONE;
	}
}

enum replay_tls gate_replay_tls(enum upstream_tls_mode mode)
{
	if (mode == UPSTREAM_TLS_DISABLED)
		return REPLAY_TLS_DISABLED;
	return mode >= UPSTREAM_TLS_VERIFY_CA ? REPLAY_TLS_VERIFY_IDENTITY : REPLAY_TLS_REQUIRED;
}

struct settings *settings_build(const struct config *cfg, char *err, size_t errlen)
{
	struct settings *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	atomic_init(&s->refs, 1);
	s->cfg = *cfg;
	char why[400];
	if (cfg->client_tls != CLIENT_TLS_DISABLED) {
		struct tls_listener_params p = {cfg->tls_cert, cfg->tls_key, cfg->tls_client_ca, cfg->tls_ciphers,
						cfg->tls_ciphersuites};
		s->client_ctx = tls_listener_ctx_new(&p, why, sizeof(why));
		if (!s->client_ctx) {
			snprintf(err, errlen, "%s: [proxy] TLS: %s", cfg->path, why);
			goto fail;
		}
	}
	if (cfg->upstream_tls != UPSTREAM_TLS_DISABLED) {
		struct tls_upstream_params p = {gate_upstream_verify(cfg->upstream_tls), cfg->upstream_tls_ca, cfg->upstream_tls_cert, cfg->upstream_tls_key};
		s->upstream_ctx = tls_upstream_ctx_new(&p, why, sizeof(why));
		if (!s->upstream_ctx) {
			snprintf(err, errlen, "%s: [upstream] TLS: %s", cfg->path, why);
			goto fail;
		}
	}
	if (cfg->admin_password[0]) {
		s->admin_ed25519 = auth_ed25519_new(cfg->admin_password, strlen(cfg->admin_password), why, sizeof(why));
		if (!s->admin_ed25519) {
			snprintf(err, errlen, "%s: [admin] password_file: %s", cfg->path, why);
			goto fail;
		}
	}
	return s;
fail:
	settings_release(s);
	return NULL;
}

void settings_release(struct settings *s)
{
	if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	SSL_CTX_free(s->client_ctx);
	SSL_CTX_free(s->upstream_ctx);
	auth_ed25519_free(s->admin_ed25519);
	config_wipe_secrets(&s->cfg);
	free(s);
}

void gate_db_account(const struct config *cfg, struct gate_db_account *acct, struct replay_options *conn)
{
	snprintf(acct->host, sizeof(acct->host), "%s", cfg->servers[0].host);
	snprintf(acct->user, sizeof(acct->user), "%s", cfg->snapshot_user);
	snprintf(acct->password, sizeof(acct->password), "%s", cfg->snapshot_password);
	snprintf(acct->tls_ca, sizeof(acct->tls_ca), "%s", cfg->upstream_tls_ca);
	snprintf(acct->tls_cert, sizeof(acct->tls_cert), "%s", cfg->upstream_tls_cert);
	snprintf(acct->tls_key, sizeof(acct->tls_key), "%s", cfg->upstream_tls_key);
	*conn = (struct replay_options){.host = acct->host,
					.port = cfg->servers[0].port,
					.user = acct->user,
					.password = acct->password,
					.tls = gate_replay_tls(cfg->upstream_tls),
					.tls_ca = acct->tls_ca,
					.tls_cert = acct->tls_cert,
					.tls_key = acct->tls_key};
}

bool gate_add_hooks(struct gate *g, const struct session_hooks *h)
{
	if (g->nhooks >= HOOKS_MAX)
		return false;
	g->hooks[g->nhooks++] = h;
	if (h->on_txn_end)
		g->hooks_keep_statements = true;
	return true;
}

struct settings *gate_settings(struct gate *g)
{
	pthread_mutex_lock(&g->settings_lock);
	struct settings *s = g->settings;
	atomic_fetch_add(&s->refs, 1);
	pthread_mutex_unlock(&g->settings_lock);
	return s;
}

static void warn_weak_tls(const struct config *cfg)
{
	if (cfg->upstream_tls == UPSTREAM_TLS_DISABLED)
		log_warning("[upstream] tls = disabled: credentials and accounting data cross the network in clear");
	else if (cfg->upstream_tls == UPSTREAM_TLS_PREFERRED)
		log_warning("[upstream] tls = preferred: a server (or impostor) without TLS gets plaintext; use verify_identity");
	else if (cfg->upstream_tls < UPSTREAM_TLS_VERIFY_IDENTITY)
		log_warning("[upstream] tls = %s: the server's name is not checked; use verify_identity",
			    config_upstream_tls_name(cfg->upstream_tls));
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *addr, int len, void *arg)
{
	struct gate *g = arg;
	atomic_fetch_add(&g->connections, 1);
	struct worker *w = g->workers[g->next_worker++ % (unsigned)g->nworkers];
	if (!worker_hand_over(w, fd, addr, (socklen_t)len)) {
		log_error("cannot hand a connection to worker %d: %s", w->index, strerror(errno));
		evutil_closesocket(fd);
		atomic_fetch_sub(&g->connections, 1);
	}
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();
	/* EMFILE and friends pass; the listener keeps going. */
	log_error("accept: %s", evutil_socket_error_to_string(err));
}

/*
 * Build the next generation from the file and swap it in. False when the
 * file or something it names does not load: the running generation stays,
 * and `why` says what failed (for systemd's STATUS line).
 */
static bool reload(struct gate *g, const char *trigger, char *why, size_t whylen)
{
	struct config *fresh = malloc(sizeof(*fresh));
	char err[1024];
	if (!fresh) {
		snprintf(why, whylen, "out of memory");
		return false;
	}
	log_notice("%s: reloading %s", trigger, g->config_path);
	if (!config_load(g->config_path, fresh, err, sizeof(err))) {
		log_error("reload refused, running configuration kept: %s", err);
		snprintf(why, whylen, "%s", err);
		config_wipe_secrets(fresh);
		free(fresh);
		return false;
	}
	struct settings *running = gate_settings(g);
	config_keep_restart_only(fresh, &running->cfg);
	settings_release(running);
	struct settings *next = settings_build(fresh, err, sizeof(err));
	if (!next) {
		log_error("reload refused, running configuration and certificates kept: %s", err);
		snprintf(why, whylen, "%s", err);
		config_wipe_secrets(fresh);
		free(fresh);
		return false;
	}
	log_set_level(fresh->log_level);
	upstream_pool_configure(&g->pool, fresh);
	warn_weak_tls(fresh);
	pthread_mutex_lock(&g->settings_lock);
	struct settings *old = g->settings;
	g->settings = next;
	pthread_mutex_unlock(&g->settings_lock);
	settings_release(old);
	config_wipe_secrets(fresh);
	free(fresh);
	/* [snapshot] schedule and keep are read from the new generation. */
	snapshots_reconfigure(g->snapshots);
	log_notice("reload done: new sessions use the new configuration and certificates");
	return true;
}

/* systemd hears RELOADING=1 before and READY=1 after, whatever the
 * verdict: a refused reload leaves acctgate serving, so it is ready. */
bool gate_reload(struct gate *g, const char *trigger, char *why, size_t whylen)
{
	notify_send("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading %s", notify_monotonic_usec(),
		    g->config_path);
	bool ok = reload(g, trigger, why, whylen);
	if (ok)
		notify_send("READY=1\nSTATUS=%s; reloaded", g->status);
	else
		notify_send("READY=1\nSTATUS=%s; reload refused: %s", g->status, why);
	return ok;
}

static void on_reload(evutil_socket_t sig, short what, void *arg)
{
	char why[1024];
	(void)gate_reload(arg, "SIGHUP", why, sizeof(why));
}

static void on_terminate(evutil_socket_t sig, short what, void *arg)
{
	struct gate *g = arg;
	clock_gettime(CLOCK_MONOTONIC, &g->stopping);
	log_notice("%s: no new connections; draining sessions", sig == SIGINT ? "SIGINT" : "SIGTERM");
	notify_send("STOPPING=1\nSTATUS=%s: draining sessions", sig == SIGINT ? "SIGINT" : "SIGTERM");
	if (g->listener) {
		evconnlistener_free(g->listener);
		g->listener = NULL;
	}
	for (int i = 0; i < g->nworkers; i++)
		worker_request_drain(g->workers[i]);
	event_base_loopbreak(g->base);
}

static struct evconnlistener *open_listener(struct gate *g, const struct config_endpoint *ep, char *err,
					    size_t errlen)
{
	struct evutil_addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_PASSIVE;
	char port[8];
	snprintf(port, sizeof(port), "%u", (unsigned)ep->port);
	int rc = evutil_getaddrinfo(ep->host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "[proxy] listen: cannot resolve '%s': %s", ep->host, evutil_gai_strerror(rc));
		return NULL;
	}
	struct evconnlistener *l = evconnlistener_new_bind(
		g->base, on_accept, g, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 512,
		res->ai_addr, (int)res->ai_addrlen);
	if (!l)
		snprintf(err, errlen, "[proxy] listen: cannot listen on %s:%u: %s", ep->host, (unsigned)ep->port,
			 strerror(errno));
	evutil_freeaddrinfo(res);
	if (l)
		evconnlistener_set_error_cb(l, on_accept_error);
	return l;
}

int gate_run(const char *config_path, const struct config *cfg)
{
	struct gate g;
	memset(&g, 0, sizeof(g));
	g.config_path = config_path;
	clock_gettime(CLOCK_MONOTONIC, &g.started);
	pthread_mutex_init(&g.settings_lock, NULL);
	upstream_pool_init(&g.pool);
	upstream_pool_configure(&g.pool, cfg);
	int status = 1;
	char err[1024];

	signal(SIGPIPE, SIG_IGN);
	g.settings = settings_build(cfg, err, sizeof(err));
	if (!g.settings) {
		log_error("%s", err);
		goto out;
	}
	warn_weak_tls(cfg);
	g.auth_key = auth_key_new(err, sizeof(err));
	if (!g.auth_key) {
		log_error("%s", err);
		goto out;
	}
	g.base = event_base_new();
	if (!g.base) {
		log_error("cannot create the main event base");
		goto out;
	}
	if (cfg->admin_user[0] && cfg->snapshot_user[0]) {
		/* The first hook: a command held for an in-place restore has
		 * taken no throttle slot and no journal time yet. */
		g.quiesce = quiesce_new(&g, err, sizeof(err));
		if (!g.quiesce) {
			log_error("%s", err);
			goto out;
		}
	}
	if (cfg->throttle_heavy_limit > 0 || cfg->throttle_bulk_limit > 0 || cfg->throttle_cluster_rate > 0) {
		/* Before the recorder: a command waits for its slot before
		 * the journal fixes its time or writes its PREPARE. */
		g.throttle = throttle_new(&g, cfg, err, sizeof(err));
		if (!g.throttle) {
			log_error("%s", err);
			goto out;
		}
	}
	if (cfg->journal_dir[0]) {
		/* Before the listener: no session may run unrecorded. */
		g.recorder = recorder_new(&g, cfg, err, sizeof(err));
		if (!g.recorder) {
			log_error("%s", err);
			goto out;
		}
	}
	/* After the recorder (the journal's floor is set before any session
	 * writes) and before the admin port (whose SNAPSHOT starts its jobs). */
	g.snapshots = snapshots_new(&g, err, sizeof(err));
	if (!g.snapshots) {
		log_error("%s", err);
		goto out;
	}
	if (cfg->digests_max > 0) {
		/* The last hook: its before_command is asked when the command
		 * is about to leave, after any other hook released it, which is
		 * where latency is measured from. Keep it last. */
		g.digests = digests_new(&g, cfg, err, sizeof(err));
		if (!g.digests) {
			log_error("%s", err);
			goto out;
		}
	}
	g.listener = open_listener(&g, &cfg->listen, err, sizeof(err));
	if (!g.listener) {
		log_error("%s", err);
		goto out;
	}
	g.workers = calloc((size_t)cfg->threads, sizeof(*g.workers));
	if (!g.workers)
		goto out;
	for (int i = 0; i < cfg->threads; i++) {
		g.workers[i] = worker_new(&g, i, cfg, err, sizeof(err));
		if (!g.workers[i]) {
			log_error("worker %d: %s", i, err);
			goto out;
		}
		g.nworkers++;
		if (!worker_start(g.workers[i])) {
			log_error("worker %d: cannot start its thread", i);
			goto out;
		}
	}
	g.sig_term = evsignal_new(g.base, SIGTERM, on_terminate, &g);
	g.sig_int = evsignal_new(g.base, SIGINT, on_terminate, &g);
	g.sig_hup = evsignal_new(g.base, SIGHUP, on_reload, &g);
	if (!g.sig_term || !g.sig_int || !g.sig_hup || evsignal_add(g.sig_term, NULL) || evsignal_add(g.sig_int, NULL) ||
	    evsignal_add(g.sig_hup, NULL)) {
		log_error("cannot install signal handlers");
		goto out;
	}
	g.health = health_new(&g, g.base, cfg, err, sizeof(err));
	if (!g.health) {
		log_error("%s", err);
		goto out;
	}
	/* After the workers (its commands ask them) and before READY=1. */
	if (!admin_start(&g, cfg, &g.admin, err, sizeof(err))) {
		log_error("%s", err);
		goto out;
	}
	snprintf(g.status, sizeof(g.status), "listening on %s:%u (%d threads, client TLS %s), upstream %s:%u%s (TLS %s)",
		 cfg->listen.host, (unsigned)cfg->listen.port, cfg->threads, config_client_tls_name(cfg->client_tls),
		 cfg->servers[0].host, (unsigned)cfg->servers[0].port, cfg->nservers > 1 ? " (+ failover)" : "",
		 config_upstream_tls_name(cfg->upstream_tls));
	log_notice("acctgate %s", g.status);
	/* Listening, certificates, keys and CA store loaded, workers and
	 * signal handlers in place: what Type=notify's READY=1 promises. */
	notify_send("READY=1\nSTATUS=%s", g.status);
	event_base_dispatch(g.base);
	status = 0;
out:
	health_free(g.health);
	if (g.listener)
		evconnlistener_free(g.listener);
	if (status == 0) {
		/* Meanwhile the workers drain: both have until drain_timeout
		 * after the signal. */
		struct settings *st = gate_settings(&g);
		struct timespec deadline = g.stopping;
		deadline.tv_sec += st->cfg.drain_timeout;
		settings_release(st);
		snapshots_stop(g.snapshots, &deadline);
	}
	struct conn_stats io = {0};
	for (int i = 0; i < g.nworkers; i++) {
		if (status != 0)
			worker_request_drain(g.workers[i]);
		worker_join(g.workers[i]);
	}
	/* No worker runs now: journal completions must not reach them. */
	recorder_stop(g.recorder);
	for (int i = 0; i < g.nworkers; i++)
		worker_join_and_free(g.workers[i], &io);
	/* No worker runs: none can answer an admin command any more. */
	admin_free(g.admin);
	snapshots_free(g.snapshots);
	if (g.nworkers > 0)
		log_info("io: records_out=%llu sends=%llu recvs=%llu flushes=%llu bytes_in=%llu bytes_out=%llu",
			 (unsigned long long)io.records_out, (unsigned long long)io.sends, (unsigned long long)io.recvs,
			 (unsigned long long)io.flushes, (unsigned long long)io.bytes_in,
			 (unsigned long long)io.bytes_out);
	free(g.workers);
	if (g.sig_term)
		event_free(g.sig_term);
	if (g.sig_int)
		event_free(g.sig_int);
	if (g.sig_hup)
		event_free(g.sig_hup);
	if (g.base)
		event_base_free(g.base);
	recorder_free(g.recorder);
	throttle_free(g.throttle);
	quiesce_free(g.quiesce);
	digests_free(g.digests);
	settings_release(g.settings);
	auth_key_free(g.auth_key);
	upstream_pool_destroy(&g.pool);
	pthread_mutex_destroy(&g.settings_lock);
	if (status == 0)
		log_notice("acctgate stopped");
	return status;
}
