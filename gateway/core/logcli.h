/* `ailgate log verify|export`: the message log's offline tools on the command
 * line (store/logverify does the work; this file reads options and plugs the
 * member-signature verifier in as its signature hook). */
#ifndef AILGATE_CORE_LOGCLI_H
#define AILGATE_CORE_LOGCLI_H

/* argv after "log". Returns the process exit code: 0 good, 1 a problem was
 * found (verify) or the export failed, 2 usage or I/O errors. */
int logcli_main(int argc, char **argv);

#endif
