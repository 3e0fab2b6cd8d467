package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, which Linux fixes at 100 for /proc on every
// architecture Go supports.
const clockTicks = 100

// treePIDs returns pid and all its descendants.
func treePIDs(pid int) []int {
	pids := []int{pid}
	for i := 0; i < len(pids); i++ {
		kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pids[i], pids[i]))
		for _, f := range strings.Fields(string(kids)) {
			if k, err := strconv.Atoi(f); err == nil {
				pids = append(pids, k)
			}
		}
	}
	return pids
}

// cpuSeconds is the user plus system CPU time used so far by pid and its
// descendants.
func cpuSeconds(pid int) float64 {
	var ticks float64
	for _, p := range treePIDs(pid) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		// fields after the command name, which may contain spaces
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		ticks += ut + st
	}
	return ticks / clockTicks
}

// peakRSSMiB is the sum of the peak resident set sizes (VmHWM) of pid and
// its descendants.
func peakRSSMiB(pid int) float64 {
	var kb float64
	for _, p := range treePIDs(pid) {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				n, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				kb += n
			}
		}
	}
	return kb / 1024
}
