/*
 * cli_tools.h - the offline subcommands (see cli_tools.c for their
 * command lines). argv[0] is the subcommand's name; each returns the
 * process exit status.
 */
#ifndef ACCTGATE_CLI_TOOLS_H
#define ACCTGATE_CLI_TOOLS_H

int cli_journal(int argc, char **argv);
int cli_replay(int argc, char **argv);
int cli_snapshot(int argc, char **argv);
int cli_restore(int argc, char **argv);

#endif
