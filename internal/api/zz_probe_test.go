package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
	"github.com/gatehouse-dev/gatehouse/internal/bearer"
	"github.com/gatehouse-dev/gatehouse/internal/bearer/bearertest"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
)

func BenchmarkZZList(b *testing.B) {
	ctx := context.Background()
	dsn := "sqlite:" + filepath.Join(b.TempDir(), "x.db")
	ss, err := sqlstore.Open(ctx, dsn, sqlstore.Options{Migrate: true})
	if err != nil {
		b.Fatal(err)
	}
	defer ss.Close()
	ds, _ := docstore.New(ss.DB(), ss.ReadDB(), ss.Dialect())
	set, err := resource.Parse([]byte(strings.Replace(string(resource.DefaultYAML()), "GET: {requests: 1000,", "GET: {requests: 100000000,", 1)), "x")
	if err != nil {
		b.Fatal(err)
	}
	r, _ := set.ByURL("todos")
	if err := ds.Ensure(ctx, r.Collection()); err != nil {
		b.Fatal(err)
	}
	base := time.Now().UTC()
	var buf []docstore.Document
	own, total := 10000, 50000
	stride := total / own
	for i := range total {
		owner, n := "other-"+strconv.Itoa(i%1000), i
		if i%stride == 0 {
			owner, n = "alice", i/stride
		}
		due := base.Add(time.Duration(n%365) * 24 * time.Hour).Format(time.RFC3339)
		data := `{"title":"todo ` + strconv.Itoa(n) + `","done":` + strconv.FormatBool(n%2 == 1) + `,"due":"` + due + `","tags":["load"]}`
		buf = append(buf, docstore.Document{ID: docstore.NewID(), Owner: owner, Created: base, Updated: base, ETag: docstore.NewETag(), Data: []byte(data)})
		if len(buf) == 5000 {
			if err := ds.Insert(ctx, "todos", buf); err != nil {
				b.Fatal(err)
			}
			buf = buf[:0]
		}
	}
	is := bearertest.New(b, "https://api.test")
	v, _ := bearer.NewJWTVerifier(ctx, bearer.JWTConfig{Issuer: is.URL, Audience: "https://api.test"})
	s, err := api.New(ctx, api.Config{Resources: set, Store: ds, Verifier: v, PublicURL: "https://gh.test"})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	tok := is.Token(b, "alice", "todos:read")
	f, _ := os.Create(os.Getenv("PROF"))
	pprof.StartCPUProfile(f)
	defer pprof.StopCPUProfile()
	b.ResetTimer()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			req, _ := http.NewRequest("GET", srv.URL+"/api/todos?where=%7B%22done%22%3Afalse%7D&sort=due&max_results=25&page="+fmt.Sprint(1+i%20), nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				b.Fatal(res.StatusCode)
			}
		}
	})
}
