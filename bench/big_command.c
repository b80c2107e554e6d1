/*
 * big_command.c - send one COM_QUERY of MIB mebibytes ("SELECT
 * LENGTH('xxx...')") and print how long the answer took. Used by
 * large_command.sh to show that acctgate frames a command in linear time.
 *
 *   big_command HOST PORT USER PASSWORD MIB
 */
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: big_command HOST PORT USER PASSWORD MIB\n");
		return 2;
	}
	size_t n = (size_t)atol(argv[5]) << 20;
	MYSQL *m = mysql_init(NULL);
	unsigned long max_packet = 1ul << 30;
	mysql_optionsv(m, MYSQL_OPT_MAX_ALLOWED_PACKET, &max_packet);
	if (!mysql_real_connect(m, argv[1], argv[3], argv[4], NULL, (unsigned)atoi(argv[2]), NULL, 0)) {
		fprintf(stderr, "connect: %s\n", mysql_error(m));
		return 1;
	}
	static const char head[] = "SELECT LENGTH('", tail[] = "')";
	size_t len = sizeof(head) - 1 + n + sizeof(tail) - 1;
	char *q = malloc(len);
	if (!q)
		return 1;
	memcpy(q, head, sizeof(head) - 1);
	memset(q + sizeof(head) - 1, 'x', n);
	memcpy(q + sizeof(head) - 1 + n, tail, sizeof(tail) - 1);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (mysql_real_query(m, q, len)) {
		fprintf(stderr, "query: %s\n", mysql_error(m));
		return 1;
	}
	MYSQL_RES *r = mysql_store_result(m);
	MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (!row || strtoull(row[0], NULL, 10) != n) {
		fprintf(stderr, "wrong answer: %s\n", row ? row[0] : "(none)");
		return 1;
	}
	printf("%.3f\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	mysql_free_result(r);
	mysql_close(m);
	free(q);
	return 0;
}
