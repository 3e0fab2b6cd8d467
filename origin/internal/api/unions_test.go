package api_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/picket-edge/picket/internal/pgtest"
	"github.com/picket-edge/picket/origin/internal/accounts"
	"github.com/picket-edge/picket/origin/internal/database/dbtest"
	"github.com/picket-edge/picket/origin/internal/unions"
)

func TestUnions(t *testing.T) {
	h := newHarness(t, map[string]*pgtest.Cluster{"": pgtest.Start(t)})
	admin := h.signUp(t, newAuthenticator(), "Organiser")
	member := h.signUp(t, newAuthenticator(), "Member")
	outsider := h.signUp(t, newAuthenticator(), "Outsider")

	var u unions.Union
	r := h.call(t, "POST", "/unions", admin, map[string]string{
		"slug": "riders", "name": "Riders United", "description": "Delivery riders",
	}, &u)
	if r.status != http.StatusCreated {
		t.Fatalf("create: got %d, want 201 (%s)", r.status, r.body)
	}
	if r := h.call(t, "POST", "/unions", outsider, map[string]string{"slug": "riders", "name": "X"}, nil); r.status != 409 {
		t.Errorf("taken slug: got %d, want 409", r.status)
	}

	t.Run("join, post, leave", func(t *testing.T) {
		if r := h.call(t, "POST", "/unions/riders/posts", member, map[string]string{"body": "hi"}, nil); r.status != 403 {
			t.Fatalf("post before joining: got %d, want 403", r.status)
		}
		if r := h.call(t, "POST", "/unions/riders/join", member, nil, nil); r.status != 204 {
			t.Fatalf("join: got %d, want 204", r.status)
		}
		assertMembership(t, h, member, true, false)
		assertMembership(t, h, admin, true, true)
		assertMembership(t, h, outsider, false, false)

		var p unions.Post
		if r := h.call(t, "POST", "/unions/riders/posts", member, map[string]string{"body": "Strike on Friday"}, &p); r.status != 201 {
			t.Fatalf("post: got %d, want 201 (%s)", r.status, r.body)
		}
		if p.Author != "Member" {
			t.Errorf("author: got %q, want Member", p.Author)
		}
		if r := h.call(t, "POST", "/unions/riders/posts/"+p.ID+"/report", outsider, nil, nil); r.status != 204 {
			t.Errorf("report: got %d, want 204", r.status)
		}
		if r := h.call(t, "POST", "/unions/riders/leave", member, nil, nil); r.status != 204 {
			t.Fatalf("leave: got %d, want 204", r.status)
		}
		assertMembership(t, h, member, false, false)
	})

	t.Run("public views", func(t *testing.T) { testPublicViews(t, h) })

	t.Run("admin sees aggregates only", func(t *testing.T) {
		var view struct {
			Aggregates map[string]json.RawMessage `json:"aggregates"`
		}
		if r := h.call(t, "GET", "/unions/riders/admin", admin, nil, &view); r.status != 200 {
			t.Fatalf("admin view: got %d, want 200 (%s)", r.status, r.body)
		}
		want := map[string]string{"members": "1", "posts": "1", "reports": "1", "ballots": "0"}
		for k, v := range want {
			if string(view.Aggregates[k]) != v {
				t.Errorf("aggregate %s: got %s, want %s", k, view.Aggregates[k], v)
			}
		}
		if len(view.Aggregates) != len(want) {
			t.Errorf("aggregates: got %v, want only counts", view.Aggregates)
		}
		for _, tok := range []string{member, outsider} {
			if r := h.call(t, "GET", "/unions/riders/admin", tok, nil, nil); r.status != 403 {
				t.Errorf("admin view as non-admin: got %d, want 403", r.status)
			}
		}
	})

	t.Run("no route lists members", func(t *testing.T) {
		for _, p := range []string{
			"/unions/riders/members", "/unions/riders/admin/members", "/unions/riders/memberships",
			"/members", "/admin/members", "/unions/riders/admin?members=1",
		} {
			r := h.call(t, "GET", p, admin, nil, nil)
			if r.status == 200 && strings.Contains(p, "?") {
				if strings.Contains(string(r.body), "Member") {
					t.Errorf("%s: body names a member", p)
				}
				continue
			}
			if r.status != 404 {
				t.Errorf("%s: got %d, want 404", p, r.status)
			}
		}
	})

	t.Run("membership list blob", func(t *testing.T) { testBlob(t, h, member) })
	t.Run("key rotation keeps memberships", func(t *testing.T) { testRotation(t, h, admin) })
}

func assertMembership(t *testing.T, h *harness, token string, member, admin bool) {
	t.Helper()
	var got map[string]bool
	if r := h.call(t, "GET", "/unions/riders/membership", token, nil, &got); r.status != 200 {
		t.Fatalf("membership: got %d, want 200", r.status)
	}
	if got["member"] != member || got["admin"] != admin {
		t.Errorf("membership: got %v, want member=%v admin=%v", got, member, admin)
	}
}

func testPublicViews(t *testing.T, h *harness) {
	tests := []struct {
		name, path, accept, wantType, wantText string
	}{
		{name: "union html", path: "/unions/riders", accept: "text/html",
			wantType: "text/html", wantText: "Strike on Friday"},
		{name: "union json", path: "/unions/riders", accept: "application/json",
			wantType: "application/json", wantText: `"author":"Member"`},
		{name: "posts html", path: "/unions/riders/posts", accept: "",
			wantType: "text/html", wantText: "Riders United"},
		{name: "list html", path: "/unions", accept: "text/html",
			wantType: "text/html", wantText: `href="/unions/riders"`},
		{name: "list json", path: "/unions", accept: "application/json",
			wantType: "application/json", wantText: `"slug":"riders"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tt.accept != "" {
				hdr["Accept"] = tt.accept
			}
			r := h.do(t, "GET", tt.path, hdr, nil)
			if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), tt.wantType) {
				t.Fatalf("got %d %s, want 200 %s", r.status, r.header.Get("Content-Type"), tt.wantType)
			}
			if !strings.Contains(string(r.body), tt.wantText) {
				t.Errorf("body: want %q in %s", tt.wantText, r.body)
			}
			if strings.Contains(string(r.body), "<script") {
				t.Error("page has a script")
			}
		})
	}
	if r := h.do(t, "GET", "/unions/nobody-here", nil, nil); r.status != 404 {
		t.Errorf("unknown union: got %d, want 404", r.status)
	}
}

func testBlob(t *testing.T, h *harness, token string) {
	if r := h.call(t, "GET", "/me/memberships", token, nil, nil); r.status != 404 {
		t.Fatalf("blob before put: got %d, want 404", r.status)
	}
	blob := "\x00\x01sealed-on-device\xff"
	hdr := map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/octet-stream"}
	if r := h.do(t, "PUT", "/me/memberships", hdr, strings.NewReader(blob)); r.status != 204 {
		t.Fatalf("put: got %d, want 204 (%s)", r.status, r.body)
	}
	r := h.do(t, "GET", "/me/memberships", hdr, nil)
	if r.status != 200 || string(r.body) != blob {
		t.Fatalf("get: got %d %q, want 200 with the stored bytes", r.status, r.body)
	}
	big := strings.Repeat("x", unions.MaxBlobBytes+1)
	if r := h.do(t, "PUT", "/me/memberships", hdr, strings.NewReader(big)); r.status != 413 {
		t.Errorf("oversize blob: got %d, want 413", r.status)
	}
}

func testRotation(t *testing.T, h *harness, admin string) {
	if err := h.keys.Rotate(context.Background(), unions.KeyName); err != nil {
		t.Fatal(err)
	}
	assertMembership(t, h, admin, true, true)
	if r := h.call(t, "GET", "/unions/riders/admin", admin, nil, nil); r.status != 200 {
		t.Errorf("admin after rotation: got %d, want 200", r.status)
	}
}

// TestMembershipDatabaseHoldsNoUserID joins a few hundred accounts and
// dumps the membership database: no account id or user handle appears, in
// any encoding.
func TestMembershipDatabaseHoldsNoUserID(t *testing.T) {
	h := newHarness(t, map[string]*pgtest.Cluster{"": pgtest.Start(t)})
	admin := h.signUp(t, newAuthenticator(), "Founder")
	if r := h.call(t, "POST", "/unions", admin, map[string]string{"slug": "bakers", "name": "Bakers"}, nil); r.status != 201 {
		t.Fatalf("create: got %d", r.status)
	}
	for i := range 5 {
		tok := h.signUp(t, newAuthenticator(), "Joiner")
		if r := h.call(t, "POST", "/unions/bakers/join", tok, nil, nil); r.status != 204 {
			t.Fatalf("join %d: got %d", i, r.status)
		}
		hdr := map[string]string{"Authorization": "Bearer " + tok}
		h.do(t, "PUT", "/me/memberships", hdr, strings.NewReader("opaque"))
	}

	// the bulk through the store, with the same keyed hashes the API makes
	ctx := context.Background()
	pools := dbtest.Open(t, h.urls)
	store := unions.New(pools["content"], pools["membership"], h.keys)
	u, err := store.BySlug(ctx, "bakers")
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for range 300 {
		id := accounts.NewID()
		ids = append(ids, id)
		if err := store.Join(ctx, id, u.ID); err != nil {
			t.Fatal(err)
		}
	}

	content := connect(t, h.urls.Owner["content"])
	rows, err := content.Query(ctx, "select id::text, user_handle from picket.accounts")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var handle []byte
		if err := rows.Scan(&id, &handle); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id, hex.EncodeToString(handle))
	}

	dump := dumpDatabase(t, h.urls.Owner["membership"])
	if !strings.Contains(dump, u.ID) {
		t.Fatal("dump: want the union id (counts need it), found none: is the dump empty?")
	}
	for _, id := range ids {
		for _, form := range []string{id, strings.ReplaceAll(id, "-", "")} {
			if strings.Contains(dump, form) {
				t.Fatalf("membership database holds user id %s", form)
			}
		}
	}

	var view struct {
		Aggregates struct {
			Members int `json:"members"`
		} `json:"aggregates"`
	}
	h.call(t, "GET", "/unions/bakers/admin", admin, nil, &view)
	if view.Aggregates.Members != 306 {
		t.Errorf("members: got %d, want 306", view.Aggregates.Members)
	}
}

func connect(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return conn
}

// dumpDatabase renders every row of every table outside the system
// schemas as JSON text, bytea as hex.
func dumpDatabase(t testing.TB, url string) string {
	t.Helper()
	ctx := context.Background()
	conn := connect(t, url)
	rows, err := conn.Query(ctx, `select format('%I.%I', schemaname, tablename) from pg_tables
		where schemaname not in ('pg_catalog', 'information_schema')`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, tbl := range tables {
		rows, err := conn.Query(ctx, "select row_to_json(x)::text from "+tbl+" x")
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(strings.Join(lines, "\n"))
	}
	return b.String()
}
