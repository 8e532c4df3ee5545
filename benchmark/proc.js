'use strict'
// What the benchmark scripts read of a server process (Linux /proc), and their median.

const fs = require('fs')

const CLK_TCK = 100 // getconf CLK_TCK on Linux

/** CPU time (user + system) of all the process's threads, in µs; NaN once it is gone. */
function procCpuUs(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // fields after "(comm) ": state=0 ... utime=11 stime=12
    return ((Number(f[11]) + Number(f[12])) * 1e6) / CLK_TCK
  } catch {
    return NaN
  }
}

function procRssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) : NaN
  } catch {
    return NaN
  }
}

/** The median of the finite numbers in `xs` (NaN if none). */
function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b)
  if (!v.length) return NaN
  const m = v.length >> 1
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2
}

module.exports = { CLK_TCK, procCpuUs, procRssKiB, median }
