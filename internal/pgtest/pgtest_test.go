package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/picket-edge/picket/internal/pgtest"
)

func TestStartStopRestart(t *testing.T) {
	c := pgtest.Start(t)
	ctx := context.Background()

	query := func() error {
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		var one int
		return conn.QueryRow(ctx, "select 1").Scan(&one)
	}
	if err := query(); err != nil {
		t.Fatalf("query on a started cluster: got %v, want nil", err)
	}

	c.Stop()
	if err := query(); err == nil {
		t.Fatal("query on a stopped cluster: got nil error, want one")
	}

	c.Restart()
	if err := query(); err != nil {
		t.Fatalf("query after restart: got %v, want nil", err)
	}
}

func TestPasswordRolesAuthenticate(t *testing.T) {
	c := pgtest.Start(t)
	ctx := context.Background()
	c.Exec("postgres", "create role tester login password 'right-password'")

	tests := []struct {
		name     string
		password string
		wantOK   bool
	}{
		{name: "right password", password: "right-password", wantOK: true},
		{name: "wrong password", password: "wrong-password", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := pgx.Connect(ctx, c.RoleURL("tester", tt.password, "postgres"))
			if err == nil {
				conn.Close(ctx)
			}
			if got := err == nil; got != tt.wantOK {
				t.Fatalf("connect ok: got %v, want %v (err %v)", got, tt.wantOK, err)
			}
		})
	}
}
