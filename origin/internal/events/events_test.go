package events_test

import (
	"context"
	"testing"
	"time"

	"github.com/picket-edge/picket/internal/pgtest"
	"github.com/picket-edge/picket/origin/internal/database/dbtest"
	"github.com/picket-edge/picket/origin/internal/events"
)

func TestPurgeKeepsOnlyTheLast24Hours(t *testing.T) {
	urls := dbtest.Setup(t, map[string]*pgtest.Cluster{"": pgtest.Start(t)})
	pools := dbtest.Open(t, urls)
	ctx := context.Background()
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

	ages := []struct {
		name string
		age  time.Duration
		kept bool
	}{
		{name: "two days", age: 48 * time.Hour, kept: false},
		{name: "just over a day", age: 24*time.Hour + time.Second, kept: false},
		{name: "just under a day", age: 24*time.Hour - time.Second, kept: true},
		{name: "an hour", age: time.Hour, kept: true},
		{name: "now", age: 0, kept: true},
	}
	for _, a := range ages {
		at := now.Add(-a.age)
		if err := events.New(pools["content"], func() time.Time { return at }).Record(ctx, "test."+
			map[bool]string{true: "kept", false: "gone"}[a.kept]); err != nil {
			t.Fatal(err)
		}
	}

	log := events.New(pools["content"], func() time.Time { return now })
	n, err := log.Purge(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("purged: got %d, want 2", n)
	}
	counts, err := log.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts["test.kept"] != 3 || counts["test.gone"] != 0 {
		t.Errorf("left: got %v, want 3 kept and 0 gone", counts)
	}
}
