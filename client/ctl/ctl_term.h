/* ctl_term.h: the terminal for `memprobectl watch`: raw keys, the alternate screen, the size; restored on every way out. */
#ifndef MEMPROBE_CTL_TERM_H
#define MEMPROBE_CTL_TERM_H

/* Keys ctl_term_key() reports besides plain bytes. */
#define CTL_KEY_NONE    0
#define CTL_KEY_CTRL_C  3
#define CTL_KEY_CTRL_Z  26

/*
 * Takes the terminal on stdout: saves the settings of its input (stdin, or
 * /dev/tty when stdin is not a terminal), turns off line buffering, echo
 * and the keys that send signals (so Ctrl-C and Ctrl-Z arrive as keys),
 * switches to the alternate screen and hides the cursor. Installs handlers
 * so that the terminal is restored however the program ends: exit(),
 * SIGINT, SIGTERM, SIGHUP, SIGQUIT (noted for ctl_term_signal(); the
 * caller restores and re-raises), and crashes (SIGSEGV, SIGBUS, SIGFPE,
 * SIGILL, SIGABRT: restored in the handler, then the default action).
 * Returns 0, or a negative errno when stdout is not a terminal.
 */
int ctl_term_enter(void);

/* Gives the terminal back as ctl_term_enter() found it. Safe to call more
 * than once, and when ctl_term_enter() failed or was never called. */
void ctl_term_leave(void);

/* The terminal's size; 24 x 80 when it does not say. */
void ctl_term_size(int *rows, int *cols);

/*
 * Waits up to TIMEOUT_MS for a key. Returns the key (a byte, CTL_KEY_*;
 * escape sequences such as arrows are swallowed and return CTL_KEY_NONE),
 * 0 when the time ran out, or -EINTR when a signal came (see
 * ctl_term_signal() and ctl_term_resized()).
 */
int ctl_term_key(int timeout_ms);

/* The terminating signal caught since ctl_term_enter() (SIGINT, SIGTERM,
 * SIGHUP, SIGQUIT), or 0. */
int ctl_term_signal(void);

/* Whether the window changed size (or the program was continued after a
 * stop) since the last call: the screen must be drawn afresh. */
int ctl_term_resized(void);

/* Ctrl-Z: gives the terminal back, stops the process as the shell
 * expects, and takes the terminal again when continued. */
void ctl_term_suspend(void);

/* Restores the terminal, then ends the process by SIG with its default
 * action (the status a shell expects for a signal). Does not return. */
void ctl_term_die(int sig) __attribute__((noreturn));

#endif
