// Package procstat reads a process's CPU time and RSS from /proc and formats the
// benchmark's result line.
package procstat

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

// Snapshot is one reading of a server process and of this process.
type Snapshot struct {
	serverTicks, selfTicks int64
	serverRSSKiB           int64
}

func ticks(pid string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return u + k
}

func rssKiB(pid string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// Sample reads the server (pid 0: none) and this process.
func Sample(serverPid int) Snapshot {
	s := Snapshot{selfTicks: ticks("self")}
	if serverPid > 0 {
		p := strconv.Itoa(serverPid)
		s.serverTicks, s.serverRSSKiB = ticks(p), rssKiB(p)
	}
	return s
}

func pct(lat []uint32, p float64) uint32 {
	if len(lat) == 0 {
		return 0
	}
	i := int(float64(len(lat))*p+0.999999) - 1
	return lat[max(0, min(i, len(lat)-1))]
}

// Report is the CSV fragment
// calls,errors,qps,p50_us,p99_us,p999_us,server_cpu_pct,server_rss_mb,client_cpu_pct.
func Report(perWorker [][]uint32, errs int64, elapsed time.Duration, before, after Snapshot) string {
	all := slices.Concat(perWorker...)
	slices.Sort(all)
	secs := elapsed.Seconds()
	cpu := func(d int64) float64 { return float64(d) / clockTicks / secs * 100 }
	return fmt.Sprintf("%d,%d,%.0f,%d,%d,%d,%.1f,%.1f,%.1f",
		len(all), errs, float64(len(all))/secs, pct(all, 0.50), pct(all, 0.99), pct(all, 0.999),
		cpu(after.serverTicks-before.serverTicks), float64(after.serverRSSKiB)/1024,
		cpu(after.selfTicks-before.selfTicks))
}
