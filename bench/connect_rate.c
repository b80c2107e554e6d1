/*
 * connect_rate.c - how many whole sessions per second a server (or acctgate
 * in front of it) takes: connect, TLS when asked, log in, COM_PING, COM_QUIT.
 * The cost bench/tls_connect.sh compares across CA store sizes.
 *
 *   connect_rate HOST PORT USER PASSWORD SECONDS [CA_FILE]
 *
 * With CA_FILE the client uses TLS and verifies the server against it.
 * Prints "<sessions> sessions in <s> s: <rate>/s"; exits 1 on the first
 * failed session (a rate of failures means nothing).
 */
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 6 || argc > 7) {
		fprintf(stderr, "usage: connect_rate HOST PORT USER PASSWORD SECONDS [CA_FILE]\n");
		return 2;
	}
	const char *host = argv[1], *user = argv[3], *pw = argv[4], *ca = argc == 7 ? argv[6] : NULL;
	unsigned port = (unsigned)atoi(argv[2]);
	double seconds = atof(argv[5]);
	my_bool on = 1;
	long n = 0;
	double t0 = now_s(), t = t0;
	while (t - t0 < seconds) {
		MYSQL *m = mysql_init(NULL);
		if (ca) {
			mysql_options(m, MYSQL_OPT_SSL_CA, ca);
			mysql_options(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on);
		}
		if (!mysql_real_connect(m, host, user, pw, NULL, port, NULL, 0) || mysql_ping(m)) {
			fprintf(stderr, "session %ld failed: %u %s\n", n + 1, mysql_errno(m), mysql_error(m));
			mysql_close(m);
			return 1;
		}
		mysql_close(m);
		n++;
		t = now_s();
	}
	printf("%ld sessions in %.1f s: %.1f/s\n", n, t - t0, (double)n / (t - t0));
	return 0;
}
