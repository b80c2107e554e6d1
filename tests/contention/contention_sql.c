/*
 * contention_sql.c - the libmariadb side of the contention harness:
 * connecting the way slurmdbd does (src/database/mysql_common.c) and
 * running one query, multi-statement or not, to its last result.
 */
#include <errmsg.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contention.h"

bool ct_conn_lost(unsigned code)
{
	return code == CR_SERVER_GONE_ERROR || code == CR_SERVER_LOST || code == CR_SERVER_LOST_EXTENDED ||
	       code == CR_CONNECTION_ERROR || code == CR_CONN_HOST_ERROR || code == CR_SSL_CONNECTION_ERROR ||
	       code == CR_COMMANDS_OUT_OF_SYNC || code == CR_UNKNOWN_ERROR || code == ER_CONNECTION_KILLED;
}

MYSQL *ct_connect(const struct ct_opts *o, unsigned port, const char *db, bool slurm_session, char *err,
		  size_t errlen)
{
	MYSQL *m = mysql_init(NULL);
	if (!m) {
		snprintf(err, errlen, "mysql_init: out of memory");
		return NULL;
	}
	/* slurmdbd's settings; the read timeout is the harness's own, so a
	 * proxy that stops answering fails the run instead of hanging it. */
	unsigned connect_timeout = 30, io_timeout = 120;
	my_bool off = 0;
	mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
	mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
	mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
	mysql_optionsv(m, MYSQL_OPT_RECONNECT, &off);
	if (o->ssl_ca) {
		my_bool on = 1;
		mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &on);
		mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on);
		mysql_optionsv(m, MYSQL_OPT_SSL_CA, o->ssl_ca);
	} else if (o->ssl) {
		/* what mysql_ssl_set() does for slurmdbd: TLS forced, the
		 * server's certificate not checked */
		my_bool on = 1;
		mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &on);
		mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &off);
	}
	if (!mysql_real_connect(m, o->host, o->user, o->password, db, port, NULL, CLIENT_MULTI_STATEMENTS)) {
		snprintf(err, errlen, "cannot connect to %s:%u (database %s): ERR %u %s", o->host, port,
			 db ? db : "none", mysql_errno(m), mysql_error(m));
		mysql_close(m);
		return NULL;
	}
	if (!slurm_session)
		return m;
	char sql[128];
	const char *setup[3] = {"SET autocommit=0", "SET session sql_mode='ANSI_QUOTES,NO_ENGINE_SUBSTITUTION'", NULL};
	if (o->lock_wait_timeout > 0) {
		snprintf(sql, sizeof(sql), "SET session innodb_lock_wait_timeout=%d", o->lock_wait_timeout);
		setup[2] = sql;
	}
	for (int i = 0; i < 3 && setup[i]; i++) {
		if (ct_query(m, setup[i], NULL) != 0) {
			snprintf(err, errlen, "%s: ERR %u %s", setup[i], mysql_errno(m), mysql_error(m));
			mysql_close(m);
			return NULL;
		}
	}
	return m;
}

/* Keep the first rows of a result set (integers; NULL reads as -1). */
static void keep_rows(MYSQL_RES *res, struct ct_rows *rows)
{
	unsigned cols = mysql_num_fields(res);
	MYSQL_ROW r;
	while (rows->n < 2 && (r = mysql_fetch_row(res))) {
		for (unsigned c = 0; c < 3; c++)
			rows->v[rows->n][c] = c < cols && r[c] ? strtoll(r[c], NULL, 10) : -1;
		rows->n++;
	}
}

unsigned ct_query(MYSQL *m, const char *sql, struct ct_rows *rows)
{
	bool first = true;
	if (rows)
		rows->n = 0;
	if (mysql_real_query(m, sql, (unsigned long)strlen(sql)) != 0)
		return mysql_errno(m);
	for (;;) {
		MYSQL_RES *res = mysql_store_result(m);
		if (res) {
			if (first && rows)
				keep_rows(res, rows);
			mysql_free_result(res);
		} else if (mysql_field_count(m) != 0) {
			return mysql_errno(m);
		}
		first = false;
		int more = mysql_next_result(m);
		if (more < 0)
			return 0;
		if (more > 0)
			return mysql_errno(m);
	}
}
