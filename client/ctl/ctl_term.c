/* ctl_term.c: the terminal for `memprobectl watch`: raw keys, the alternate screen, the size; restored on every way out. */
#include "ctl_term.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

/* Alternate screen on, cursor hidden, screen cleared; and back. */
#define SEQ_ENTER "\033[?1049h\033[?25l\033[H\033[2J"
#define SEQ_LEAVE "\033[0m\033[?25h\033[?1049l"

static struct termios saved;            /* the input's settings before us */
static int in_fd = -1;                  /* the terminal we read keys from, or -1 */
static int own_fd = -1;                 /* /dev/tty when we opened it */
static bool have_saved;                 /* saved holds in_fd's settings */
static volatile sig_atomic_t active;    /* raw mode and alternate screen in effect */
static volatile sig_atomic_t caught;    /* a terminating signal */
static volatile sig_atomic_t redraw;    /* SIGWINCH or SIGCONT */
static volatile sig_atomic_t stop_req;  /* SIGTSTP sent by someone */
static bool installed;

static const int term_sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
static const int crash_sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };

static void
write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* Only async-signal-safe calls: this runs in the crash handler too. */
static void
restore(void)
{
	int saved_errno = errno;

	if (active) {
		active = 0;
		write_all(STDOUT_FILENO, SEQ_LEAVE, sizeof(SEQ_LEAVE) - 1);
		if (have_saved)
			tcsetattr(in_fd, TCSADRAIN, &saved);
	}
	errno = saved_errno;
}

/* Raw mode and the alternate screen, from the settings in `saved`. */
static int
take(void)
{
	struct termios raw;

	if (in_fd >= 0) {
		if (tcgetattr(in_fd, &saved) < 0)
			return -errno;
		have_saved = true;
		raw = saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ISIG | IEXTEN);
		raw.c_iflag &= ~(tcflag_t)(IXON | ICRNL);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		if (tcsetattr(in_fd, TCSADRAIN, &raw) < 0)
			return -errno;
	}
	/* Whatever stdio holds goes out before the screen changes. */
	fflush(stdout);
	active = 1;
	write_all(STDOUT_FILENO, SEQ_ENTER, sizeof(SEQ_ENTER) - 1);
	return 0;
}

static void
on_term(int sig)
{
	caught = sig;
}

static void
on_redraw(int sig)
{
	(void)sig;
	redraw = 1;
}

static void
on_tstp(int sig)
{
	(void)sig;
	stop_req = 1;
}

static void
on_crash(int sig)
{
	restore();
	/* SA_RESETHAND put the default action back; SA_NODEFER lets it act now. */
	raise(sig);
}

static void
at_exit(void)
{
	ctl_term_leave();
}

static void
install(void)
{
	struct sigaction sa;
	size_t i;

	if (installed)
		return;
	installed = true;
	atexit(at_exit);
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a signal must wake the wait for a key. */
	sa.sa_handler = on_term;
	for (i = 0; i < sizeof(term_sigs) / sizeof(term_sigs[0]); i++)
		sigaction(term_sigs[i], &sa, NULL);
	sa.sa_handler = on_redraw;
	sigaction(SIGWINCH, &sa, NULL);
	sigaction(SIGCONT, &sa, NULL);
	sa.sa_handler = on_tstp;
	sigaction(SIGTSTP, &sa, NULL);
	sa.sa_handler = on_crash;
	sa.sa_flags = SA_RESETHAND | SA_NODEFER;
	for (i = 0; i < sizeof(crash_sigs) / sizeof(crash_sigs[0]); i++)
		sigaction(crash_sigs[i], &sa, NULL);
}

int
ctl_term_enter(void)
{
	int r;

	if (!isatty(STDOUT_FILENO))
		return -ENOTTY;
	if (isatty(STDIN_FILENO)) {
		in_fd = STDIN_FILENO;
	} else {
		/* Output on a terminal, input redirected: keys from the terminal. */
		own_fd = open("/dev/tty", O_RDONLY | O_CLOEXEC | O_NOCTTY);
		in_fd = own_fd;
	}
	install();
	r = take();
	if (r < 0) {
		restore();
		return r;
	}
	return 0;
}

void
ctl_term_leave(void)
{
	restore();
	fflush(stdout);
	if (own_fd >= 0) {
		close(own_fd);
		own_fd = -1;
	}
	in_fd = -1;
	have_saved = false;
}

void
ctl_term_size(int *rows, int *cols)
{
	struct winsize ws;

	*rows = 24;
	*cols = 80;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
		*rows = ws.ws_row;
		*cols = ws.ws_col;
	}
}

void
ctl_term_suspend(void)
{
	struct sigaction sa, old;

	stop_req = 0;
	restore();
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGTSTP, &sa, &old);
	raise(SIGTSTP);
	/* Continued: the shell may have changed the settings meanwhile. */
	sigaction(SIGTSTP, &old, NULL);
	take();
	redraw = 1;
}

int
ctl_term_key(int timeout_ms)
{
	struct pollfd pfd = { .fd = in_fd, .events = POLLIN };
	unsigned char buf[32];
	ssize_t n;
	int r;

	if (stop_req) {
		ctl_term_suspend();
		return -EINTR;
	}
	r = poll(&pfd, in_fd >= 0 ? 1 : 0, timeout_ms);
	if (r < 0)
		return errno == EINTR ? -EINTR : -errno;
	if (r == 0)
		return 0;
	if (pfd.revents & (POLLHUP | POLLERR | POLLNVAL))
		return -EIO;
	n = read(in_fd, buf, sizeof(buf));
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? -EINTR : -errno;
	if (n == 0)
		return -EIO;
	if (buf[0] == CTL_KEY_CTRL_Z) {
		ctl_term_suspend();
		return -EINTR;
	}
	/* ESC alone, or an escape sequence (arrows, function keys): nothing. */
	if (buf[0] == 0x1b)
		return CTL_KEY_NONE;
	return buf[0];
}

int
ctl_term_signal(void)
{
	return caught;
}

int
ctl_term_resized(void)
{
	int r = redraw;

	redraw = 0;
	return r;
}

void
ctl_term_die(int sig)
{
	struct sigaction sa;

	ctl_term_leave();
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_DFL;
	sigaction(sig, &sa, NULL);
	raise(sig);
	/* A signal whose default is not to end the process (none of ours). */
	_exit(128 + sig);
}
