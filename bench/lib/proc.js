// /proc readers for the bench: CPU time and resident memory of a process we started,
// summed over its threads (the kernel reports thread-group totals for the leader pid).
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let ticks;
function clockTicks() {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** utime + stime of pid in microseconds (10 ms resolution at CLK_TCK 100). */
export function cpuMicros(pid) {
  return statCpuMicros(`/proc/${pid}/stat`);
}

/** The same for pid's main thread alone (the event loop of a Node process). */
export function mainThreadCpuMicros(pid) {
  return statCpuMicros(`/proc/${pid}/task/${pid}/stat`);
}

function statCpuMicros(path) {
  const stat = readFileSync(path, 'utf8');
  // The command name (field 2) may hold spaces; everything after its ')' is fixed.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1e6) / clockTicks();
}

/**
 * The machine's CPU time so far, in clock ticks over all cores: `idle` counts idle and
 * iowait (a core waiting on a disk is a core nothing else ran on), `total` everything.
 */
export function machineTicks() {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  return { idle: fields[3] + fields[4], total: fields.reduce((a, v) => a + v, 0) };
}

/** VmRSS of pid in bytes. */
export function rssBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Machine load, for the report: cores and 1-minute load average. */
export function machine() {
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? 'unknown CPU';
  const cores = (cpuinfo.match(/^processor\s*:/gm) ?? []).length;
  return { cores, model, load1: Number(load) };
}

function statFields(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** CPU (µs) of the children this process has waited for: pgbench, once it has exited. */
export function reapedChildrenCpuMicros() {
  const f = statFields('self');
  return ((Number(f[13]) + Number(f[14])) * 1e6) / clockTicks();
}

/**
 * CPU (µs) of a PostgreSQL server: the postmaster, its live children (backends, the
 * checkpointer, ...) and the children it has reaped. Backends that exit between two
 * readings move from "live" to "reaped" with their whole lifetime, so read it after the
 * clients have gone and the postmaster has reaped them.
 */
export function postgresCpuMicros(postmasterPid) {
  const pm = statFields(postmasterPid);
  let ticksUsed = Number(pm[11]) + Number(pm[12]) + Number(pm[13]) + Number(pm[14]);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const f = statFields(entry);
      if (Number(f[1]) === postmasterPid) ticksUsed += Number(f[11]) + Number(f[12]);
    } catch {
      // gone meanwhile
    }
  }
  return (ticksUsed * 1e6) / clockTicks();
}
