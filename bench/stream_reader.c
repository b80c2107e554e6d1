/*
 * stream_reader.c - read a large generated result row by row with
 * mysql_use_result, optionally sleeping every 1000 rows to play a slow
 * client, and print the bytes and the rate. Used by proxy_overhead.sh to
 * load acctgate's backpressure.
 *
 *   stream_reader HOST PORT USER PASSWORD MIB SLEEP_US_PER_1000_ROWS
 */
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: stream_reader HOST PORT USER PASSWORD MIB SLEEP_US\n");
		return 2;
	}
	long mib = atol(argv[5]);
	useconds_t pause = (useconds_t)atol(argv[6]);
	MYSQL *m = mysql_init(NULL);
	if (!mysql_real_connect(m, argv[1], argv[3], argv[4], "mysql", (unsigned)atoi(argv[2]), NULL, 0)) {
		fprintf(stderr, "connect: %s\n", mysql_error(m));
		return 1;
	}
	/* 1 KiB rows from a sequence: MariaDB's seq_1_to_N engine. */
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT seq, REPEAT('x', 1000) FROM seq_1_to_%ld", mib * 1024);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (mysql_query(m, sql)) {
		fprintf(stderr, "query: %s\n", mysql_error(m));
		return 1;
	}
	MYSQL_RES *res = mysql_use_result(m);
	unsigned long long rows = 0, bytes = 0;
	MYSQL_ROW row;
	while ((row = mysql_fetch_row(res))) {
		unsigned long *len = mysql_fetch_lengths(res);
		bytes += len[0] + len[1];
		if (++rows % 1000 == 0 && pause)
			usleep(pause);
	}
	if (mysql_errno(m)) {
		fprintf(stderr, "fetch: %s\n", mysql_error(m));
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("  read %llu rows, %.1f MiB in %.2f s (%.0f MiB/s)\n", rows, (double)bytes / 1048576.0, s,
	       (double)bytes / 1048576.0 / s);
	mysql_free_result(res);
	mysql_close(m);
	return 0;
}
