/*
 * contention_check.c - after the run, the final state against what the
 * sessions were told: every cluster's ledger read back and compared, token
 * by token, with the markers each acknowledged transaction wrote
 * (contention.h says why a marker stands for its write exactly).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contention.h"

/* Read cluster c's ledger into the tokens' present counts. */
static int read_ledger(MYSQL *m, const struct ct_opts *o, int c, struct ct_session *ss, int nsess,
		       struct ct_verdict *v, char *err, size_t errlen)
{
	char db[96], sql[256];
	MYSQL_RES *res = NULL;
	MYSQL_ROW r;
	ct_cluster_db(o, c, db, sizeof(db));
	snprintf(sql, sizeof(sql), "SELECT sess, n, COUNT(*) FROM `%s`.`c%d_ledger` GROUP BY sess, n", db, c);
	if (mysql_real_query(m, sql, (unsigned long)strlen(sql)) != 0)
		goto fail;
	if (!(res = mysql_use_result(m)))
		goto fail;
	while ((r = mysql_fetch_row(res))) {
		long sess = strtol(r[0], NULL, 10), n = strtol(r[1], NULL, 10), count = strtol(r[2], NULL, 10);
		if (sess < 0 || sess >= nsess || n < 1 || (size_t)n >= ss[sess].ntokens) {
			v->phantom++; /* a token no session handed out */
			continue;
		}
		struct ct_token *tk = &ss[sess].tokens[n];
		switch ((enum ct_fate)tk->fate) {
		case CT_UNACKED:
			v->phantom++;
			break;
		case CT_INDOUBT:
			v->indoubt_present++;
			break;
		case CT_ACKED:
		case CT_ACKED_LOSSY:
			tk->present = count > 255 ? 255 : (uint8_t)count;
			break;
		}
	}
	unsigned e = mysql_errno(m);
	mysql_free_result(res);
	if (e)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "check: ERR %u %s on: %s", mysql_errno(m), mysql_error(m), sql);
	return -1;
}

int ct_check(const struct ct_opts *o, struct ct_session *ss, int nsess, struct ct_verdict *v, char *err,
	     size_t errlen)
{
	memset(v, 0, sizeof(*v));
	MYSQL *m = ct_connect(o, o->port, NULL, false, err, errlen);
	if (!m)
		return -1;
	for (int i = 0; i < nsess; i++)
		for (size_t n = 1; n < ss[i].ntokens; n++)
			ss[i].tokens[n].present = 0;
	int rc = 0;
	for (int c = 1; c <= o->clusters && rc == 0; c++)
		rc = read_ledger(m, o, c, ss, nsess, v, err, errlen);
	mysql_close(m);
	if (rc)
		return rc;
	for (int i = 0; i < nsess; i++) {
		for (size_t n = 1; n < ss[i].ntokens; n++) {
			const struct ct_token *tk = &ss[i].tokens[n];
			if (tk->fate != CT_ACKED && tk->fate != CT_ACKED_LOSSY)
				continue;
			bool lost = tk->present < tk->markers, expected = tk->fate == CT_ACKED_LOSSY;
			v->acked++;
			v->lost += lost;
			v->lost_expected += expected;
			if (lost)
				v->lost_statements += tk->markers - tk->present;
			/* more markers than written cannot be (the primary
			 * key), unless a write was made twice */
			if (lost != expected || tk->present > tk->markers)
				v->mismatch++;
		}
	}
	return 0;
}

int ct_self_check(const struct ct_opts *o, struct ct_session *ss, int nsess, const struct ct_verdict *before,
		  char *err, size_t errlen)
{
	struct ct_session *victim = NULL;
	size_t vn = 0;
	for (int i = 0; i < nsess && !victim; i++) {
		for (size_t n = 1; n < ss[i].ntokens; n++) {
			const struct ct_token *tk = &ss[i].tokens[n];
			if (tk->fate == CT_ACKED && tk->markers > 0 && tk->present == tk->markers) {
				victim = &ss[i], vn = n;
				break;
			}
		}
	}
	if (!victim) {
		snprintf(err, errlen, "self-check: no complete acknowledged transaction to take a marker from");
		return -1;
	}
	MYSQL *m = ct_connect(o, o->port, NULL, false, err, errlen);
	if (!m)
		return -1;
	char db[96], sql[2][256];
	ct_cluster_db(o, victim->cluster, db, sizeof(db));
	/* one marker less for a complete transaction, one for a token that
	 * was never handed out (n one past the session's last) */
	snprintf(sql[0], sizeof(sql[0]), "DELETE FROM `%s`.`c%d_ledger` WHERE sess = %d AND n = %zu AND stmt = 1", db,
		 victim->cluster, victim->id, vn);
	snprintf(sql[1], sizeof(sql[1]), "INSERT INTO `%s`.`c%d_ledger` (sess, n, stmt) VALUES (%d, %zu, 1)", db,
		 victim->cluster, victim->id, victim->ntokens);
	for (int i = 0; i < 2; i++) {
		/* mysql_real_query alone: draining results (ct_query) resets the affected rows */
		if (mysql_real_query(m, sql[i], (unsigned long)strlen(sql[i])) != 0 || mysql_affected_rows(m) != 1) {
			snprintf(err, errlen, "self-check: ERR %u %s (%llu rows) on: %s", mysql_errno(m), mysql_error(m),
				 (unsigned long long)mysql_affected_rows(m), sql[i]);
			mysql_close(m);
			return -1;
		}
	}
	mysql_close(m);
	struct ct_verdict after;
	if (ct_check(o, ss, nsess, &after, err, errlen) != 0)
		return -1;
	const struct ct_token *tk = &victim->tokens[vn];
	if (after.lost != before->lost + 1 || after.phantom != before->phantom + 1 ||
	    after.lost_expected != before->lost_expected || after.mismatch != before->mismatch + 1 ||
	    after.lost_statements != before->lost_statements + 1 || tk->present + 1 != tk->markers) {
		snprintf(err, errlen,
			 "self-check: one marker of token (%d, %zu) deleted, one phantom added: expected lost %ld "
			 "phantom %ld mismatch %ld lost_statements %ld, got lost %ld phantom %ld mismatch %ld "
			 "lost_statements %ld (token present %u of %u)",
			 victim->id, vn, before->lost + 1, before->phantom + 1, before->mismatch + 1,
			 before->lost_statements + 1, after.lost, after.phantom, after.mismatch, after.lost_statements,
			 tk->present, tk->markers);
		return -1;
	}
	return 0;
}
