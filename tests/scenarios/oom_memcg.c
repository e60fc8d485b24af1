/* oom_memcg <limit_MiB>
 *
 * Ground truth: exactly one OOM kill, inside a memory cgroup of <limit_MiB> MiB.
 *   1. Creates the memory cgroup "memsight-oom-<parent pid>" at the root of the memory
 *      hierarchy, found through /proc/self/mountinfo:
 *        cgroup v1: <memory mount>/memsight-oom-<pid>; memory.oom_control's
 *                   oom_kill_disable set to 0 (if present), memory.limit_in_bytes =
 *                   limit, memory.memsw.limit_in_bytes = limit (if present: no swap);
 *        cgroup v2: <cgroup2 mount>/memsight-oom-<pid> (memory enabled in the root's
 *                   cgroup.subtree_control if needed), memory.max = limit,
 *                   memory.swap.max = 0 (if present).
 *   2. Forks a child which sets its comm to "oom_victim" (prctl PR_SET_NAME) BEFORE it
 *      writes its own pid to the cgroup's cgroup.procs, then mmaps and touches anonymous
 *      memory in 4 MiB steps until the kernel OOM killer kills it with SIGKILL when its
 *      charge reaches the limit (oom:mark_victim fires for it; dmesg shows "Memory cgroup
 *      out of memory: Killed process <victim_pid> (oom_victim)").
 *      Safety net (never reached when the limit works): the child gives up with exit
 *      code 3 after touching 4 x limit + 256 MiB, and with exit code 4 if it cannot join
 *      the cgroup, so a broken setup never drives the host into a global OOM.
 *   3. The parent waitpid()s, prints one JSON line
 *        {"victim_pid":N,"signal":9,"cgroup":"/memsight-oom-<pid>"}
 *      ("signal" is the child's terminating signal, 0 if it exited; "cgroup" is the path
 *      inside the memory hierarchy, as in /proc/<pid>/cgroup), removes the cgroup (rmdir,
 *      retried) and exits 0 iff the child died of SIGKILL, else 1. Needs root.
 */
#include "scenario_common.h"

#include <fcntl.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>

#define PAGE 4096L
#define STEP (4 * SCENARIO_MIB)

static bool file_exists(const char *path) { return access(path, F_OK) == 0; }

/* Writes a string to a cgroupfs file; returns 0 or -errno. */
static int write_file(const char *path, const char *value) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  ssize_t len = (ssize_t)strlen(value);
  ssize_t n = write(fd, value, (size_t)len);
  int err = n == len ? 0 : (n < 0 ? -errno : -EIO);
  close(fd);
  return err;
}

static bool file_has_word(const char *path, const char *word) {
  FILE *f = fopen(path, "re");
  if (f == NULL) return false;
  char tok[128];
  bool found = false;
  while (!found && fscanf(f, "%127s", tok) == 1) found = strcmp(tok, word) == 0;
  fclose(f);
  return found;
}

static bool has_option(const char *opts, const char *opt) {
  size_t n = strlen(opt);
  for (const char *p = opts; p != NULL; p = strchr(p, ',')) {
    if (*p == ',') p++;
    if (strncmp(p, opt, n) == 0 && (p[n] == ',' || p[n] == '\0')) return true;
  }
  return false;
}

/* Finds the memory controller's mount point (preferring cgroup v1) and its root inside
 * the hierarchy. Returns 1 for v1, 2 for v2, 0 if none. */
static int find_memory_mount(char *mnt, size_t mnt_len, char *root, size_t root_len) {
  FILE *f = fopen("/proc/self/mountinfo", "re");
  if (f == NULL) return 0;
  char line[4096];
  char v2_mnt[1024] = "", v2_root[1024] = "";
  int version = 0;
  while (version == 0 && fgets(line, sizeof line, f) != NULL) {
    /* id parent maj:min root mountpoint options [optional...] - fstype source superopts */
    char r[1024], m[1024];
    if (sscanf(line, "%*s %*s %*s %1023s %1023s", r, m) != 2) continue;
    const char *sep = strstr(line, " - ");
    if (sep == NULL) continue;
    char fstype[64], source[1024], super[2048] = "";
    if (sscanf(sep + 3, "%63s %1023s %2047s", fstype, source, super) < 2) continue;
    if (strcmp(fstype, "cgroup") == 0 && has_option(super, "memory")) {
      snprintf(mnt, mnt_len, "%s", m);
      snprintf(root, root_len, "%s", r);
      version = 1;
    } else if (strcmp(fstype, "cgroup2") == 0 && v2_mnt[0] == '\0') {
      char ctl[1100];
      snprintf(ctl, sizeof ctl, "%s/cgroup.controllers", m);
      if (file_has_word(ctl, "memory")) {
        snprintf(v2_mnt, sizeof v2_mnt, "%s", m);
        snprintf(v2_root, sizeof v2_root, "%s", r);
      }
    }
  }
  fclose(f);
  if (version == 0 && v2_mnt[0] != '\0') {
    snprintf(mnt, mnt_len, "%s", v2_mnt);
    snprintf(root, root_len, "%s", v2_root);
    version = 2;
  }
  return version;
}

/* Child: name itself, join the cgroup, then touch memory in 4 MiB steps forever. */
static void victim(const char *procs_path, const char *cg_name, long limit_mib) {
  prctl(PR_SET_NAME, "oom_victim", 0, 0, 0); /* before moving: the OOM report shows it */
  char pid[32];
  snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
  int err = write_file(procs_path, pid);
  if (err != 0) {
    fprintf(stderr, "oom_victim: cannot write %s: %s\n", procs_path, strerror(-err));
    _exit(4);
  }
  /* Make sure the move took effect before allocating anything. */
  char cg[64];
  snprintf(cg, sizeof cg, "/%s", cg_name);
  FILE *f = fopen("/proc/self/cgroup", "re");
  char line[4096];
  bool inside = false;
  while (f != NULL && !inside && fgets(line, sizeof line, f) != NULL) {
    char *nl = strchr(line, '\n');
    if (nl != NULL) *nl = '\0';
    size_t ll = strlen(line), cl = strlen(cg);
    inside = ll >= cl && strcmp(line + ll - cl, cg) == 0;
  }
  if (f != NULL) fclose(f);
  if (!inside) {
    fprintf(stderr, "oom_victim: not inside %s after the move\n", cg);
    _exit(4);
  }

  long max_steps = (4 * limit_mib + 256) / 4;
  for (long step = 0; step < max_steps; step++) {
    char *p = mmap(NULL, STEP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      perror("oom_victim: mmap");
      _exit(5);
    }
    for (long off = 0; off < STEP; off += PAGE) p[off] = 1;
  }
  fprintf(stderr, "oom_victim: touched %ld MiB without being OOM-killed\n", max_steps * 4);
  _exit(3);
}

static int remove_cgroup(const char *dir) {
  for (int attempt = 0; attempt < 50; attempt++) {
    if (rmdir(dir) == 0 || errno == ENOENT) return 0;
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  fprintf(stderr, "oom_memcg: cannot remove %s: %s\n", dir, strerror(errno));
  return -1;
}

int main(int argc, char **argv) {
  long limit_mib = argc == 2 ? scenario_parse_num(argv[1], 4, 1L << 20) : -1;
  if (limit_mib < 0) {
    fprintf(stderr, "usage: oom_memcg <limit_MiB>   (limit_MiB >= 4; needs root)\n");
    return 2;
  }

  char mnt[1024], root[1024];
  int version = find_memory_mount(mnt, sizeof mnt, root, sizeof root);
  if (version == 0) {
    fprintf(stderr, "oom_memcg: no memory cgroup (v1 memory controller or v2 with memory) "
                    "in /proc/self/mountinfo\n");
    return 1;
  }

  char name[64], dir[1200], path[1400], value[64];
  snprintf(name, sizeof name, "memsight-oom-%ld", (long)getpid());
  snprintf(dir, sizeof dir, "%s/%s", mnt, name);

  if (version == 2) {
    /* Children of the v2 root only get the memory controller if the root delegates it. */
    snprintf(path, sizeof path, "%s/cgroup.subtree_control", mnt);
    if (!file_has_word(path, "memory")) write_file(path, "+memory");
  }
  if (mkdir(dir, 0755) != 0) {
    fprintf(stderr, "oom_memcg: mkdir %s: %s\n", dir, strerror(errno));
    return 1;
  }

  int err = 0;
  long long limit = (long long)limit_mib * SCENARIO_MIB;
  snprintf(value, sizeof value, "%lld\n", limit);
  if (version == 1) {
    snprintf(path, sizeof path, "%s/memory.oom_control", dir);
    if (file_exists(path)) write_file(path, "0\n"); /* OOM killer on (inherited otherwise) */
    snprintf(path, sizeof path, "%s/memory.limit_in_bytes", dir);
    err = write_file(path, value);
    snprintf(path, sizeof path, "%s/memory.memsw.limit_in_bytes", dir);
    if (err == 0 && file_exists(path)) write_file(path, value); /* memory+swap = memory */
  } else {
    snprintf(path, sizeof path, "%s/cgroup.controllers", dir);
    if (!file_has_word(path, "memory")) {
      fprintf(stderr, "oom_memcg: memory controller not enabled in %s\n", dir);
      remove_cgroup(dir);
      return 1;
    }
    snprintf(path, sizeof path, "%s/memory.max", dir);
    err = write_file(path, value);
    snprintf(path, sizeof path, "%s/memory.swap.max", dir);
    if (err == 0 && file_exists(path)) write_file(path, "0\n");
  }
  if (err != 0) {
    fprintf(stderr, "oom_memcg: cannot set the limit in %s: %s\n", path, strerror(-err));
    remove_cgroup(dir);
    return 1;
  }

  char procs[1300];
  snprintf(procs, sizeof procs, "%s/cgroup.procs", dir);
  fflush(stdout);
  fflush(stderr);
  pid_t child = fork();
  if (child < 0) {
    perror("fork");
    remove_cgroup(dir);
    return 1;
  }
  if (child == 0) victim(procs, name, limit_mib);

  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  if (sig == 0) fprintf(stderr, "oom_memcg: victim exited with code %d\n", WEXITSTATUS(status));

  const char *sep = strcmp(root, "/") == 0 ? "" : root;
  printf("{\"victim_pid\":%ld,\"signal\":%d,\"cgroup\":\"%s/%s\"}\n", (long)child, sig, sep,
         name);
  fflush(stdout);
  remove_cgroup(dir);
  return sig == SIGKILL ? 0 : 1;
}
