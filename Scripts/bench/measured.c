/*
 * Runs a command and prints what it cost, on stderr, as one line:
 *   wall_ns=<wall time> cpu_ns=<user + system CPU time> maxrss_kib=<peak resident set> status=<exit status>
 * The command's own output goes to /dev/null. Used by Scripts/bench-startup.sh to measure `vmm run`
 * and the C baseline the same way (fork, exec, wait4's rusage).
 * Build: cc -O2 -o measured measured.c
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long ns(struct timespec t) { return (long long)t.tv_sec * 1000000000ll + t.tv_nsec; }

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: measured COMMAND [ARGUMENT...]\n");
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("measured: fork");
        return 2;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        execvp(argv[1], argv + 1);
        _exit(127);
    }
    int status;
    struct rusage usage;
    if (wait4(pid, &status, 0, &usage) < 0) {
        perror("measured: wait4");
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long long cpu = (long long)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000000000ll +
                    (long long)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1000ll;
    fprintf(stderr, "wall_ns=%lld cpu_ns=%lld maxrss_kib=%ld status=%d\n", ns(t1) - ns(t0), cpu,
            usage.ru_maxrss, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return 0;
}
