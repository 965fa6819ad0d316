/* wrapexec.c - starting the program of stp-connect --wrap (wrapexec.h). */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/wrapexec.h"

int stp_wrap_find(const char *cmd, char *path, size_t cap, struct stp_err *e)
{
	const char *p = getenv("PATH");
	bool seen = false;

	if (!*cmd)
		return stp_err_set(e, 127, "--wrap: empty command");
	if (strchr(cmd, '/')) {
		if (strlen(cmd) >= cap)
			return stp_err_set(e, 126, "--wrap: %s: path too long", cmd);
		snprintf(path, cap, "%s", cmd);
		if (access(path, X_OK) < 0)
			return stp_err_set(e, errno == ENOENT ? 127 : 126, "--wrap: %s: %s", cmd,
					   strerror(errno));
		return 0;
	}
	if (!p)
		p = "/usr/local/bin:/usr/bin:/bin";
	while (*p || !seen) {
		const char *end = strchrnul(p, ':');
		size_t dl = (size_t)(end - p);
		struct stat st;

		seen = true;
		if (dl + 1 + strlen(cmd) < cap) {
			/* an empty element is the current folder */
			if (dl)
				snprintf(path, cap, "%.*s/%s", (int)dl, p, cmd);
			else
				snprintf(path, cap, "./%s", cmd);
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0)
				return 0;
		}
		if (!*end)
			break;
		p = end + 1;
	}
	return stp_err_set(e, 127, "--wrap: %s: command not found", cmd);
}

/* Whether the ELF file open on fd asks for a program interpreter (the
 * dynamic loader). Returns 1, 0 (static), or -1 (not ELF as expected). */
static int elf_dynamic(int fd)
{
	Elf64_Ehdr h;   /* the 32-bit header is a prefix of the same shape up to e_ident */

	if (pread(fd, &h, sizeof(h), 0) < (ssize_t)EI_NIDENT + 4 ||
	    memcmp(h.e_ident, ELFMAG, SELFMAG) != 0)
		return -1;
	if (h.e_ident[EI_CLASS] == ELFCLASS64) {
		for (unsigned i = 0; i < h.e_phnum && i < 4096; i++) {
			Elf64_Phdr ph;
			if (pread(fd, &ph, sizeof(ph), (off_t)(h.e_phoff + (uint64_t)i * h.e_phentsize))
			    != (ssize_t)sizeof(ph))
				return -1;
			if (ph.p_type == PT_INTERP)
				return 1;
		}
		return 0;
	}
	if (h.e_ident[EI_CLASS] == ELFCLASS32) {
		Elf32_Ehdr h32;
		if (pread(fd, &h32, sizeof(h32), 0) != (ssize_t)sizeof(h32))
			return -1;
		for (unsigned i = 0; i < h32.e_phnum && i < 4096; i++) {
			Elf32_Phdr ph;
			if (pread(fd, &ph, sizeof(ph), (off_t)(h32.e_phoff + (uint32_t)i * h32.e_phentsize))
			    != (ssize_t)sizeof(ph))
				return -1;
			if (ph.p_type == PT_INTERP)
				return 1;
		}
		return 0;
	}
	return -1;
}

int stp_wrap_check(const char *path, struct stp_err *e)
{
	struct stat st;
	char magic[2] = { 0, 0 };
	int fd = open(path, O_RDONLY | O_CLOEXEC), dyn;

	if (fd < 0)
		return stp_err_set(e, 126, "--wrap: %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		int err = errno;
		close(fd);
		return stp_err_set(e, 126, "--wrap: %s: %s", path, strerror(err));
	}
	if (((st.st_mode & S_ISUID) && st.st_uid != geteuid()) ||
	    ((st.st_mode & S_ISGID) && st.st_gid != getegid())) {
		close(fd);
		return stp_err_set(e, STP_EXIT_UNSUPPORTED, "--wrap: %s is set-user-ID or "
				   "set-group-ID: the dynamic loader ignores LD_PRELOAD for it, so "
				   "its connections cannot be wrapped; use stp-serve --transparent", path);
	}
	if (pread(fd, magic, 2, 0) == 2 && magic[0] == '#' && magic[1] == '!') {
		close(fd);   /* a script: its interpreter is what loads the library */
		return 0;
	}
	dyn = elf_dynamic(fd);
	close(fd);
	if (dyn == 0)
		return stp_err_set(e, STP_EXIT_UNSUPPORTED, "--wrap: %s is statically linked: "
				   "no dynamic loader reads LD_PRELOAD, so its connections cannot "
				   "be wrapped; use stp-serve --transparent", path);
	return 0;   /* dynamic, or not ELF: execve says what it thinks of it */
}

int stp_wrap_lib(char *path, size_t cap, struct stp_err *e)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	const char *where[] = { "/", "/../lib/stp/" };

	if (n <= 0)
		return stp_err_set(e, STP_EXIT_FAIL, "--wrap: /proc/self/exe: %s",
				   n < 0 ? strerror(errno) : "empty");
	self[n] = 0;
	char *slash = strrchr(self, '/');
	if (slash)
		*slash = 0;
	for (size_t i = 0; i < 2; i++) {
		if ((size_t)snprintf(path, cap, "%s%s%s", self, where[i], STP_WRAP_LIB_NAME) >= cap)
			continue;
		if (access(path, R_OK) == 0)
			return 0;
	}
	return stp_err_set(e, STP_EXIT_UNSUPPORTED, "--wrap: %s not found in %s or %s/../lib/stp "
			   "(make all builds it, make install installs it)", STP_WRAP_LIB_NAME,
			   self, self);
}

int stp_wrap_exec(const char *path, char *const argv[], const char *lib,
		  const struct stp_wrap_agent *a, long timeout_ms, struct stp_err *e)
{
	const char *old = getenv("LD_PRELOAD");
	char v[64];
	char *pre;

	if (old && *old) {
		pre = malloc(strlen(old) + strlen(lib) + 2);
		if (!pre)
			return stp_err_set(e, STP_EXIT_FAIL, "--wrap: out of memory");
		sprintf(pre, "%s:%s", old, lib);
	} else {
		pre = strdup(lib);
		if (!pre)
			return stp_err_set(e, STP_EXIT_FAIL, "--wrap: out of memory");
	}
	snprintf(v, sizeof(v), "127.0.0.1:%u", a->port);
	if (setenv("LD_PRELOAD", pre, 1) < 0 || setenv("STP_WRAP", v, 1) < 0 ||
	    setenv("STP_WRAP_TOKEN", a->token, 1) < 0) {
		free(pre);
		return stp_err_set(e, STP_EXIT_FAIL, "--wrap: setenv: %s", strerror(errno));
	}
	free(pre);
	if ((a->door[0] ? setenv("STP_WRAP_DOOR", a->door, 1) : unsetenv("STP_WRAP_DOOR")) < 0 ||
	    (a->proxy[0] ? setenv("STP_WRAP_PROXY", a->proxy, 1) : unsetenv("STP_WRAP_PROXY")) < 0)
		return stp_err_set(e, STP_EXIT_FAIL, "--wrap: setenv: %s", strerror(errno));
	/* the library waits a little longer than the agent, which answers
	 * within -w however the chain fails */
	snprintf(v, sizeof(v), "%ld", timeout_ms + 5000);
	if (setenv("STP_WRAP_TIMEOUT_MS", v, 1) < 0)
		return stp_err_set(e, STP_EXIT_FAIL, "--wrap: setenv: %s", strerror(errno));
	execv(path, argv);
	return stp_err_set(e, errno == ENOENT ? 127 : 126, "--wrap: %s: %s", path, strerror(errno));
}
