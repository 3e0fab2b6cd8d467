package database

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// redact turns a connection error into one that names the kind of failure
// but carries no URL, host, user or password: pgx's connect errors quote
// parts of the connection string.
func redact(err error) error {
	var pgErr *pgconn.PgError
	var netErr net.Error
	switch {
	case errors.As(err, &pgErr):
		return fmt.Errorf("server refused: %s (SQLSTATE %s)", pgErr.Message, pgErr.Code)
	case errors.Is(err, syscall.ECONNREFUSED):
		return errors.New("connection refused")
	case errors.Is(err, syscall.ENOENT):
		return errors.New("no server socket")
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return errors.New("connection timed out")
	default:
		return errors.New("cannot connect")
	}
}
