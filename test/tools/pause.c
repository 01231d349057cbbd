/*
 * The pod sandbox ("pause") process of the test cluster's image, built with gcc -static by ensure-images.sh.
 *
 * As PID 1 of a pod's namespaces it must: never exit on its own, exit promptly when the kubelet/containerd stop
 * the sandbox (SIGTERM, or SIGINT), and reap zombies of processes that end up re-parented to it (shared PID
 * namespace). A PID 1 gets no default signal actions, so `sleep infinity` would ignore SIGTERM and be killed only
 * after the grace period; hence the explicit handlers.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig) {
  _exit(128 + sig);
}

static void on_child(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "-v") == 0) {
    printf("ssm-test pause 1\n");
    return 0;
  }
  struct sigaction stop = {.sa_handler = on_stop};
  struct sigaction child = {.sa_handler = on_child, .sa_flags = SA_NOCLDSTOP | SA_RESTART};
  sigemptyset(&stop.sa_mask);
  sigemptyset(&child.sa_mask);
  if (sigaction(SIGTERM, &stop, NULL) < 0 || sigaction(SIGINT, &stop, NULL) < 0 ||
      sigaction(SIGCHLD, &child, NULL) < 0) {
    perror("sigaction");
    return 1;
  }
  for (;;) {
    pause();
  }
}
