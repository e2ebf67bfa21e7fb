/* insn_count: a QEMU TCG plugin that counts executed guest instructions, as a proxy for Arm
 * speed when there is no Arm hardware (benchmarks/arm-insn-per-mac.sh uses it).
 *
 *   qemu-aarch64 -plugin ./libinsn_count.so[,ARG=VALUE...] ./program
 *
 * Arguments (each may be given more than once where it says so):
 *   sym=NAME        count only instructions inside ELF symbol NAME (repeatable). QEMU reads the
 *                   symbol table of the guest executable only, not of shared libraries.
 *   range=LO-HI     count only instructions at LO <= address < HI, hexadecimal (repeatable).
 *   begin=NAME      a region starts each time the function NAME is entered, and ends when the
 *   end=NAME        function NAME is entered; the counts between them are summed separately, so a
 *                   kernel can be measured without the harness around it (both or neither).
 *   out=FILE        write the result to FILE instead of stderr.
 * Without sym= or range= every instruction counts; with both, an instruction counts when it
 * matches either.
 *
 * Output, one line: "insn_count: total=T" and, with begin/end, " region=R regions=N", then
 * " vcpus=V". The counters are plain inline additions: exact for a single-threaded guest; with
 * several guest threads (vcpus > 1) concurrent additions can be lost, so a warning follows.
 *
 * Counting is per translation block: when a block is translated, its matching instructions are
 * counted once and an inline "add n" runs each time the block executes. A block left early by a
 * fault or signal is counted whole, which does not happen in the kernels measured here. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef CRUMB_USE_SYSTEM_QEMU_PLUGIN_H
#include <qemu-plugin.h>
#else
#include "qemu-plugin.h"
#endif

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define MAX_FILTERS 16

static uint64_t total;    /* matching instructions executed */
static uint64_t snapshot; /* total when the current region began */
static uint64_t region;   /* sum over finished regions */
static uint64_t regions;  /* number of finished regions */
static int in_region;
static unsigned vcpus;

static const char* syms[MAX_FILTERS];
static size_t n_syms;
static uint64_t range_lo[MAX_FILTERS], range_hi[MAX_FILTERS];
static size_t n_ranges;
static const char* begin_sym;
static const char* end_sym;
static const char* out_path;

static int Matches(struct qemu_plugin_insn* insn) {
  if (n_syms == 0 && n_ranges == 0) return 1;
  const uint64_t pc = qemu_plugin_insn_vaddr(insn);
  for (size_t i = 0; i < n_ranges; i++) {
    if (pc >= range_lo[i] && pc < range_hi[i]) return 1;
  }
  if (n_syms) {
    const char* s = qemu_plugin_insn_symbol(insn);
    if (s) {
      for (size_t i = 0; i < n_syms; i++) {
        if (strcmp(s, syms[i]) == 0) return 1;
      }
    }
  }
  return 0;
}

static void OnBegin(unsigned int vcpu_index, void* userdata) {
  (void)vcpu_index;
  (void)userdata;
  /* A nested or repeated begin restarts the region: the innermost measurement wins. */
  snapshot = total;
  in_region = 1;
}

static void OnEnd(unsigned int vcpu_index, void* userdata) {
  (void)vcpu_index;
  (void)userdata;
  if (!in_region) return;
  region += total - snapshot;
  regions++;
  in_region = 0;
}

static int IsEntry(const struct qemu_plugin_tb* tb, size_t i, const char* name) {
  const char* s = qemu_plugin_insn_symbol(qemu_plugin_tb_get_insn(tb, i));
  if (!s || strcmp(s, name) != 0) return 0;
  if (i == 0) return 1;
  const char* prev = qemu_plugin_insn_symbol(qemu_plugin_tb_get_insn(tb, i - 1));
  return !prev || strcmp(prev, name) != 0;
}

static void OnTranslate(qemu_plugin_id_t id, struct qemu_plugin_tb* tb) {
  (void)id;
  const size_t n = qemu_plugin_tb_n_insns(tb);
  uint64_t matching = 0;
  for (size_t i = 0; i < n; i++) {
    struct qemu_plugin_insn* insn = qemu_plugin_tb_get_insn(tb, i);
    matching += (uint64_t)Matches(insn);
    /* The block's inline addition runs before its instruction callbacks, so a marker
     * function's own instructions fall inside the region at its end, not at its start: a
     * constant of a few instructions per region. */
    if (begin_sym && IsEntry(tb, i, begin_sym)) {
      qemu_plugin_register_vcpu_insn_exec_cb(insn, OnBegin, QEMU_PLUGIN_CB_NO_REGS, NULL);
    }
    if (end_sym && IsEntry(tb, i, end_sym)) {
      qemu_plugin_register_vcpu_insn_exec_cb(insn, OnEnd, QEMU_PLUGIN_CB_NO_REGS, NULL);
    }
  }
  if (matching) {
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &total, matching);
  }
}

static void OnVcpuInit(qemu_plugin_id_t id, unsigned int vcpu_index) {
  (void)id;
  (void)vcpu_index;
  __atomic_fetch_add(&vcpus, 1u, __ATOMIC_RELAXED);
}

static void OnExit(qemu_plugin_id_t id, void* userdata) {
  (void)id;
  (void)userdata;
  char line[256];
  int len = snprintf(line, sizeof line, "insn_count: total=%" PRIu64, total);
  if (begin_sym) {
    len += snprintf(line + len, sizeof line - (size_t)len, " region=%" PRIu64 " regions=%" PRIu64,
                    region, regions);
  }
  snprintf(line + len, sizeof line - (size_t)len, " vcpus=%u\n", vcpus);
  const char* warning =
      vcpus > 1 ? "insn_count: warning: the guest ran several threads; counts are approximate.\n"
                : "";
  if (out_path) {
    FILE* f = fopen(out_path, "w");
    if (f) {
      fputs(line, f);
      fputs(warning, f);
      fclose(f);
      return;
    }
    fprintf(stderr, "insn_count: cannot write %s; printing the count here instead.\n", out_path);
  }
  /* stderr, not qemu_plugin_outs(): QEMU shows that only with -d plugin. */
  fputs(line, stderr);
  fputs(warning, stderr);
}

static int ParseHex(const char* s, char** end, uint64_t* v) {
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s += 2;
  if (!*s) return 0;
  *v = strtoull(s, end, 16);
  return *end != s;
}

static int Usage(const char* arg) {
  fprintf(stderr,
          "insn_count: cannot use the argument '%s'. Arguments: sym=NAME, range=LO-HI (hex), "
          "begin=NAME and end=NAME (together), out=FILE.\n",
          arg);
  return -1;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t* info, int argc,
                                           char** argv) {
  (void)info;
  for (int i = 0; i < argc; i++) {
    const char* a = argv[i];
    const char* eq = strchr(a, '=');
    if (!eq) return Usage(a);
    const size_t key = (size_t)(eq - a);
    /* QEMU may free argv after installing: keep copies. */
    const char* v = strdup(eq + 1);
    if (!v) return -1;
    if (key == 3 && strncmp(a, "sym", key) == 0 && *v && n_syms < MAX_FILTERS) {
      syms[n_syms++] = v;
    } else if (key == 5 && strncmp(a, "range", key) == 0 && n_ranges < MAX_FILTERS) {
      char* end;
      uint64_t lo, hi;
      if (!ParseHex(v, &end, &lo) || *end != '-' || !ParseHex(end + 1, &end, &hi) || *end ||
          hi <= lo) {
        return Usage(a);
      }
      range_lo[n_ranges] = lo;
      range_hi[n_ranges++] = hi;
    } else if (key == 5 && strncmp(a, "begin", key) == 0 && *v) {
      begin_sym = v;
    } else if (key == 3 && strncmp(a, "end", key) == 0 && *v) {
      end_sym = v;
    } else if (key == 3 && strncmp(a, "out", key) == 0 && *v) {
      out_path = v;
    } else {
      return Usage(a);
    }
  }
  if (!begin_sym != !end_sym)
    return Usage(begin_sym ? "begin= without end=" : "end= without begin=");
  qemu_plugin_register_vcpu_init_cb(id, OnVcpuInit);
  qemu_plugin_register_vcpu_tb_trans_cb(id, OnTranslate);
  qemu_plugin_register_atexit_cb(id, OnExit, NULL);
  return 0;
}
