/* fork_loop.c: a fork-heavy program for `make bench`: fork, one malloc in the child, _exit, reap; N times. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;

	for (long i = 0; i < n; i++) {
		pid_t p = fork();

		if (p < 0) {
			perror("fork");
			return 1;
		}
		if (p == 0) {
			char *b = malloc(64);

			if (b != NULL)
				memset(b, 1, 64);
			_exit(b == NULL);
		}
		if (waitpid(p, NULL, 0) != p) {
			perror("waitpid");
			return 1;
		}
	}
	return 0;
}
