/*
 * contention_load.c - acctgate_contention: several Slurm clusters' sessions
 * writing into one MariaDB at once, directly or through acctgate, and how
 * many of their acknowledged transactions the server kept whole.
 *
 *   acctgate_contention --port P [--cluster-ports P1,P2,...] [--host H]
 *       [--user U] [--password PW] [--ssl] [--ssl-ca CA]
 *       [--database NAME] [--database-per-cluster]
 *       [--clusters N] [--sessions-per-cluster K] [--seconds S] [--seed N]
 *       [--hot-users N] [--mix ASSOC,JOB,ROLLUP,PURGE]
 *       [--lock-wait-timeout S] [--self-check]
 *
 * Defaults: 127.0.0.1, slurm/slurmpw (the lab's), database
 * acct_contention, 4 clusters of 1 session, 10 s, seed 1, 4 hot users,
 * mix 40,35,15,10, the server's lock wait timeout. --port is where the
 * set-up and the check connect, and the sessions unless --cluster-ports
 * gives a port per cluster (one acctgate per cluster, each in front of the
 * same server; give --port the server's own). The schema is dropped
 * and made again first (contention_schema.c); the sessions connect, then
 * all start together and run for S seconds (contention_txn.c says what they
 * send and how they treat errors); then a fresh connection reads every
 * cluster's ledger back (contention_check.c). With --database-per-cluster
 * cluster c's tables are in "<database>_c" (ParallelCluster's layout; the
 * sessions' default database, so acctgate can tell the clusters apart) and
 * the shared tables stay in <database>, as when clusters share one
 * slurmdbd's database: without shared tables the clusters would share no
 * row, and only sessions of one cluster (--sessions-per-cluster) could
 * contend.
 *
 * One line on stdout, key=value:
 *   contention: layout=shared|per-cluster clusters= sessions= seconds= seed=
 *     attempted= acked= abandoned= indoubt= err_1213= err_1205= err_other=
 *     other_codes=CODE:N,...|- lost= lost_expected= lost_statements=
 *     mismatch= phantom= indoubt_committed= disconnects= sessions_stopped=
 *     tps= p50_ms= p99_ms= self_check=ok|failed|off
 * err_* count the errors that reached the sessions (every 1213 re-sent is
 * one more); lost counts acknowledged transactions the final state lacks
 * part of, lost_expected those the sessions' own errors predicted, mismatch
 * the tokens where the two disagree (0 unless something hid an error and
 * then lost the effects anyway, or the harness is wrong); tps and the
 * latency percentiles are of acknowledged transactions, COMMIT included.
 * The reasons sessions stopped or first failed go to stderr.
 *
 * Exit status: 0 when the run and its check ran, whatever the figures (a
 * test or bench judges them); 1 when the harness could not do its job
 * (connect, make the schema, read the ledger, pass its self-check); 2 on
 * bad usage.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contention.h"

static void usage(void)
{
	fprintf(stderr,
		"usage: acctgate_contention --port P [--cluster-ports P1,P2,...] [--host H] [--user U] [--password PW]\n"
		"       [--ssl] [--ssl-ca CA] [--database NAME] [--database-per-cluster] [--clusters N] [--sessions-per-cluster K]\n"
		"       [--seconds S] [--seed N] [--hot-users N] [--mix ASSOC,JOB,ROLLUP,PURGE]\n"
		"       [--lock-wait-timeout S] [--self-check]\n");
	exit(2);
}

static long num(const char *opt, const char *v, long lo, long hi)
{
	char *end;
	errno = 0;
	long x = strtol(v, &end, 10);
	if (errno || end == v || *end || x < lo || x > hi) {
		fprintf(stderr, "acctgate_contention: %s: expected an integer in [%ld, %ld], got '%s'\n", opt, lo, hi,
			v);
		exit(2);
	}
	return x;
}

static void parse_mix(const char *v, int mix[CT_KINDS])
{
	int total = 0;
	const char *p = v;
	for (int k = 0; k < CT_KINDS; k++) {
		char *end;
		errno = 0;
		long x = strtol(p, &end, 10);
		char want = k + 1 < CT_KINDS ? ',' : '\0';
		if (errno || end == p || *end != want || x < 0 || x > 1000) {
			fprintf(stderr, "acctgate_contention: --mix: expected 4 weights 0-1000 like 40,35,15,10, got '%s'\n",
				v);
			exit(2);
		}
		mix[k] = (int)x;
		total += (int)x;
		p = end + 1;
	}
	if (total == 0) {
		fprintf(stderr, "acctgate_contention: --mix: every weight is 0\n");
		exit(2);
	}
}

/* "P1,P2,...": one port per cluster, as many as --clusters (checked later). */
static int parse_ports(const char *v, unsigned ports[CT_MAX_CLUSTERS])
{
	int n = 0;
	const char *p = v;
	for (;;) {
		char *end;
		errno = 0;
		long x = strtol(p, &end, 10);
		if (errno || end == p || (*end != ',' && *end) || x < 1 || x > 65535 || n == CT_MAX_CLUSTERS) {
			fprintf(stderr, "acctgate_contention: --cluster-ports: expected ports like 3307,3308, got '%s'\n", v);
			exit(2);
		}
		ports[n++] = (unsigned)x;
		if (!*end)
			return n;
		p = end + 1;
	}
}

static void parse(int argc, char **argv, struct ct_opts *o)
{
	int nports = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--ssl")) {
			o->ssl = true;
			continue;
		}
		if (!strcmp(a, "--database-per-cluster")) {
			o->per_cluster_db = true;
			continue;
		}
		if (!strcmp(a, "--self-check")) {
			o->self_check = true;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (!strcmp(a, "--host"))
			o->host = v;
		else if (!strcmp(a, "--port"))
			o->port = (unsigned)num(a, v, 1, 65535);
		else if (!strcmp(a, "--cluster-ports"))
			nports = parse_ports(v, o->cluster_ports);
		else if (!strcmp(a, "--user"))
			o->user = v;
		else if (!strcmp(a, "--password"))
			o->password = v;
		else if (!strcmp(a, "--ssl-ca"))
			o->ssl_ca = v;
		else if (!strcmp(a, "--database"))
			o->database = v;
		else if (!strcmp(a, "--clusters"))
			o->clusters = (int)num(a, v, 1, CT_MAX_CLUSTERS);
		else if (!strcmp(a, "--sessions-per-cluster"))
			o->sessions_per_cluster = (int)num(a, v, 1, CT_MAX_SESSIONS);
		else if (!strcmp(a, "--seconds"))
			o->seconds = (double)num(a, v, 1, 86400);
		else if (!strcmp(a, "--seed"))
			o->seed = (unsigned long)num(a, v, 0, LONG_MAX);
		else if (!strcmp(a, "--hot-users"))
			o->hot_users = (int)num(a, v, 2, 10000);
		else if (!strcmp(a, "--mix"))
			parse_mix(v, o->mix);
		else if (!strcmp(a, "--lock-wait-timeout"))
			o->lock_wait_timeout = (int)num(a, v, 0, 1073741824);
		else
			usage();
	}
	if (nports && nports != o->clusters) {
		fprintf(stderr, "acctgate_contention: --cluster-ports: %d ports for %d clusters\n", nports, o->clusters);
		exit(2);
	}
	if (o->clusters * o->sessions_per_cluster > CT_MAX_SESSIONS) {
		fprintf(stderr, "acctgate_contention: at most %d sessions in all\n", CT_MAX_SESSIONS);
		exit(2);
	}
	/* names go into SQL unquoted by the harness: keep them plain */
	if (!o->database[0] || strlen(o->database) > 48 || strspn(o->database, "abcdefghijklmnopqrstuvwxyz0123456789_") !=
								     strlen(o->database)) {
		fprintf(stderr, "acctgate_contention: --database: 1-48 of [a-z0-9_], got '%s'\n", o->database);
		exit(2);
	}
}

struct run {
	struct ct_session *s;
	double deadline;
};

static void *session_main(void *arg)
{
	struct run *r = arg;
	ct_session_run(r->s, r->deadline);
	mysql_thread_end();
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The p-th percentile (0 < p <= 100) of sorted v[n]; 0 when n is 0. */
static double percentile(const double *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t k = (size_t)(p / 100 * (double)n + 0.999999);
	return v[k == 0 ? 0 : k - 1];
}

/* Sum the sessions' figures and print the summary line. */
static int summarise(const struct ct_opts *o, struct ct_session *ss, int nsess, double wall,
		     const struct ct_verdict *v, const char *self_check)
{
	long attempted = 0, acked = 0, abandoned = 0, indoubt = 0, e1213 = 0, e1205 = 0, eother = 0,
	     disconnects = 0, stopped = 0;
	struct ct_errcount codes[CT_ERR_CODES * 4] = {{0}};
	size_t nlat = 0;
	for (int i = 0; i < nsess; i++) {
		const struct ct_session *s = &ss[i];
		attempted += s->attempted, acked += s->acked, abandoned += s->abandoned, indoubt += s->indoubt;
		e1213 += s->err_deadlock, e1205 += s->err_timeout, eother += s->err_other;
		disconnects += s->disconnects, stopped += s->stopped;
		nlat += s->nlat;
		for (int k = 0; k < CT_ERR_CODES && s->other[k].code; k++) {
			for (size_t j = 0; j < sizeof(codes) / sizeof(codes[0]); j++) {
				if (codes[j].code == s->other[k].code || codes[j].code == 0) {
					codes[j].code = s->other[k].code;
					codes[j].count += s->other[k].count;
					break;
				}
			}
		}
		if (s->why[0])
			fprintf(stderr, "contention: session %d (cluster %s)%s: %s\n", s->id, s->cname,
				s->stopped ? " stopped" : "", s->why);
	}
	double *lat = malloc((nlat ? nlat : 1) * sizeof(*lat));
	if (!lat) {
		fprintf(stderr, "contention: out of memory for %zu latencies\n", nlat);
		return -1;
	}
	size_t k = 0;
	for (int i = 0; i < nsess; i++) {
		memcpy(lat + k, ss[i].lat_ms, ss[i].nlat * sizeof(*lat));
		k += ss[i].nlat;
	}
	qsort(lat, nlat, sizeof(*lat), cmp_double);
	char other[256] = "-";
	size_t len = 0;
	for (size_t j = 0; j < sizeof(codes) / sizeof(codes[0]) && codes[j].code && len + 1 < sizeof(other); j++)
		len += (size_t)snprintf(other + len, sizeof(other) - len, "%s%u:%ld", j ? "," : "", codes[j].code,
					codes[j].count);
	printf("contention: layout=%s clusters=%d sessions=%d seconds=%.2f seed=%lu attempted=%ld acked=%ld "
	       "abandoned=%ld indoubt=%ld err_1213=%ld err_1205=%ld err_other=%ld other_codes=%s lost=%ld "
	       "lost_expected=%ld lost_statements=%ld mismatch=%ld phantom=%ld indoubt_committed=%ld "
	       "disconnects=%ld sessions_stopped=%ld tps=%.1f p50_ms=%.2f p99_ms=%.2f self_check=%s\n",
	       o->per_cluster_db ? "per-cluster" : "shared", o->clusters, nsess, wall, o->seed, attempted, acked,
	       abandoned, indoubt, e1213, e1205, eother, other, v->lost, v->lost_expected, v->lost_statements,
	       v->mismatch, v->phantom, v->indoubt_present, disconnects, stopped, wall > 0 ? (double)acked / wall : 0,
	       percentile(lat, nlat, 50), percentile(lat, nlat, 99), self_check);
	fflush(stdout);
	free(lat);
	return 0;
}

int main(int argc, char **argv)
{
	struct ct_opts o = {
		.host = "127.0.0.1",
		.user = "slurm",
		.password = "slurmpw",
		.database = "acct_contention",
		.port = 3306,
		.clusters = 4,
		.sessions_per_cluster = 1,
		.hot_users = 4,
		.seconds = 10,
		.seed = 1,
		.mix = {[CT_ASSOC] = 40, [CT_JOB] = 35, [CT_ROLLUP] = 15, [CT_PURGE] = 10},
	};
	parse(argc, argv, &o);
	char err[512];
	int rc = 1, nsess = o.clusters * o.sessions_per_cluster;
	mysql_library_init(0, NULL, NULL);
	struct ct_session *ss = calloc((size_t)nsess, sizeof(*ss));
	pthread_t *tids = calloc((size_t)nsess, sizeof(*tids));
	struct run *runs = calloc((size_t)nsess, sizeof(*runs));
	int started = 0;
	if (!ss || !tids || !runs) {
		fprintf(stderr, "acctgate_contention: out of memory\n");
		goto out;
	}
	if (ct_schema_create(&o, err, sizeof(err)) != 0) {
		fprintf(stderr, "acctgate_contention: %s\n", err);
		goto out;
	}
	/* every session connected before any starts, so they start together */
	for (int i = 0; i < nsess; i++) {
		struct ct_session *s = &ss[i];
		s->o = &o;
		s->id = i;
		s->cluster = 1 + i / o.sessions_per_cluster;
		snprintf(s->cname, sizeof(s->cname), "c%d", s->cluster);
		ct_cluster_db(&o, s->cluster, s->db, sizeof(s->db));
		s->port = o.cluster_ports[s->cluster - 1] ? o.cluster_ports[s->cluster - 1] : o.port;
		if (o.per_cluster_db)
			snprintf(s->shared, sizeof(s->shared), "\"%s\".", o.database);
		s->rng = (o.seed + 1) * 0x9e3779b97f4a7c15ull + (uint64_t)i * 0xbf58476d1ce4e5b9ull + 1;
		if (!(s->m = ct_connect(&o, s->port, s->db, true, err, sizeof(err)))) {
			fprintf(stderr, "acctgate_contention: session %d: %s\n", i, err);
			goto out;
		}
	}
	double t0 = ct_now();
	for (; started < nsess; started++) {
		runs[started] = (struct run){.s = &ss[started], .deadline = t0 + o.seconds};
		if (pthread_create(&tids[started], NULL, session_main, &runs[started]) != 0) {
			fprintf(stderr, "acctgate_contention: cannot start session %d's thread\n", started);
			break; /* the ones started run out their time, then the run fails */
		}
	}
	for (int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	double wall = ct_now() - t0;
	if (started < nsess)
		goto out;
	for (int i = 0; i < nsess; i++) {
		if (ss[i].err[0]) {
			fprintf(stderr, "acctgate_contention: session %d: %s\n", i, ss[i].err);
			goto out;
		}
	}
	struct ct_verdict v;
	if (ct_check(&o, ss, nsess, &v, err, sizeof(err)) != 0) {
		fprintf(stderr, "acctgate_contention: %s\n", err);
		goto out;
	}
	const char *self = "off";
	if (o.self_check) {
		self = ct_self_check(&o, ss, nsess, &v, err, sizeof(err)) == 0 ? "ok" : "failed";
		if (strcmp(self, "ok"))
			fprintf(stderr, "acctgate_contention: %s\n", err);
	}
	if (summarise(&o, ss, nsess, wall, &v, self) == 0 && strcmp(self, "failed"))
		rc = 0;
out:
	for (int i = 0; ss && i < nsess; i++) {
		if (ss[i].m)
			mysql_close(ss[i].m);
		free(ss[i].tokens);
		free(ss[i].lat_ms);
	}
	free(ss);
	free(tids);
	free(runs);
	mysql_library_end();
	return rc;
}
