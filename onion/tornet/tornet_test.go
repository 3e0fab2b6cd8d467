package tornet

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestClientBootstraps(t *testing.T) {
	if os.Getenv("PICKET_TOR_E2E") != "1" {
		t.Skip("private Tor network test: set PICKET_TOR_E2E=1 to run it")
	}
	n := Start(t, 3, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := n.WaitClient(ctx); err != nil {
		t.Fatalf("%v\n%s", err, n.Logs(6))
	}
}
