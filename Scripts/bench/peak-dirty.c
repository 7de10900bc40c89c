/*
 * Runs a command under ptrace and prints the peak of its private dirty memory, on stderr:
 *   peak_private_dirty_kib=<N> status=<exit status>
 * Private dirty memory (smaps_rollup's Private_Dirty: pages the process wrote and shares with
 * nobody) grows by page faults but only shrinks by system calls (munmap, madvise, exit), so
 * reading it at every system-call stop of every thread gives its exact peak. The command's own
 * output goes to /dev/null. Used by Scripts/bench-startup.sh.
 * Build: cc -O2 -o peak-dirty peak-dirty.c
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

static long private_dirty_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Private_Dirty: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: peak-dirty COMMAND [ARGUMENT...]\n");
        return 2;
    }
    pid_t child = fork();
    if (child < 0) {
        perror("peak-dirty: fork");
        return 2;
    }
    if (child == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        execvp(argv[1], argv + 1);
        _exit(127);
    }
    int status;
    if (waitpid(child, &status, 0) < 0 || !WIFSTOPPED(status)) {
        fprintf(stderr, "peak-dirty: the child did not stop\n");
        return 2;
    }
    ptrace(PTRACE_SETOPTIONS, child, 0,
           PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL);
    ptrace(PTRACE_SYSCALL, child, 0, 0);
    long peak = 0;
    int exit_status = -1;
    for (;;) {
        pid_t pid = waitpid(-1, &status, __WALL);
        if (pid < 0)
            break;
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            if (pid == child)
                exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            continue;
        }
        if (!WIFSTOPPED(status))
            continue;
        int signal = WSTOPSIG(status);
        int deliver = 0;
        if (signal == (SIGTRAP | 0x80)) {
            long kib = private_dirty_kib(child);
            if (kib > peak)
                peak = kib;
        } else if (signal == SIGTRAP || (signal == SIGSTOP && status >> 16 == 0 && pid != child)) {
            /* a ptrace event (clone, exec) or a new thread's first stop: nothing to deliver */
        } else if (status >> 16 == PTRACE_EVENT_STOP) {
        } else {
            deliver = signal;
        }
        ptrace(PTRACE_SYSCALL, pid, 0, deliver);
    }
    fprintf(stderr, "peak_private_dirty_kib=%ld status=%d\n", peak, exit_status);
    return 0;
}
