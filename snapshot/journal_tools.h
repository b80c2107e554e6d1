/*
 * journal_tools.h - `acctgate journal verify` and `acctgate journal cat`:
 * the journal read offline, without the daemon or a database.
 */
#ifndef ACCTGATE_JOURNAL_TOOLS_H
#define ACCTGATE_JOURNAL_TOOLS_H

#include <stdio.h>

#include "journal_walk.h"

/* Check every record and print what the journal holds: segments, first
 * and last sequence number and time, transactions, flagged statements,
 * in-doubt PREPAREs, a torn tail. Exit status: 0 good, 1 corrupt, 2 the
 * directory cannot be read. */
int journal_verify(const char *dir, FILE *out, FILE *err);

/* The committed transactions in range as SQL the stock mariadb client
 * runs: each statement with the SET statements that fix its context, as
 * mysqlbinlog prints a binlog. Same exit status as journal_verify. */
int journal_cat(const char *dir, const struct journal_walk_range *range, FILE *out, FILE *err);

#endif
