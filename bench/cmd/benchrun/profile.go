package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// cpuProfile takes a CPU profile of t's gateway through Caddy's admin API
// (loopback) for most of a run and returns the top of "go tool pprof -top",
// or a line saying why there is none.
func cpuProfile(o options, t target) string {
	secs := int(o.time.Seconds()) - 1
	if secs < 1 {
		secs = 1
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", t.admin, secs)
	resp, err := http.Get(url)
	if err != nil {
		return "no profile: " + err.Error()
	}
	defer resp.Body.Close()
	path := filepath.Join(o.work, t.name+".pprof")
	f, err := os.Create(path)
	if err != nil {
		return "no profile: " + err.Error()
	}
	_, err = io.Copy(f, resp.Body)
	f.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("no profile: status %d", resp.StatusCode)
	}
	out, err := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=40", path).Output()
	if err != nil {
		return "no profile: go tool pprof: " + err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "flat") {
			return strings.Join(lines[i:], "\n")
		}
	}
	return strings.Join(lines, "\n")
}
