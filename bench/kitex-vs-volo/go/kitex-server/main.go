// Command kitex-server serves the benchmark's EchoService with Kitex (TTHeader or
// Framed, detected per connection; -mux serves Kitex's multiplexed transport).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"

	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/cloudwego/kitex/server"

	"fanone/bench/kitex-vs-volo/kitex_gen/base"
	"fanone/bench/kitex-vs-volo/kitex_gen/echo"
	"fanone/bench/kitex-vs-volo/kitex_gen/echo/echoservice"
)

// users is the in-memory table MGetUsers reads: ids 1..=1000.
var users = func() map[int64]*base.User {
	m := make(map[int64]*base.User, 1000)
	for id := int64(1); id <= 1000; id++ {
		m[id] = &base.User{
			Id:        id,
			Username:  fmt.Sprintf("user%d", id),
			AvatarUrl: fmt.Sprintf("http://127.0.0.1:10001/static/avatars/%d/%d.png", id, id),
			CreatedAt: 1_700_000_000_000 + id,
			UpdatedAt: 1_700_000_000_000 + id,
		}
	}
	return m
}()

type handler struct{}

func (*handler) Echo(_ context.Context, req *echo.EchoRequest) (*echo.EchoResponse, error) {
	return &echo.EchoResponse{Msg: req.Msg}, nil
}

func (*handler) MGetUsers(_ context.Context, req *echo.MGetUsersRequest) (*echo.MGetUsersResponse, error) {
	out := make([]*base.User, 0, len(req.UserIds))
	for _, id := range req.UserIds {
		if u, ok := users[id]; ok {
			out = append(out, u)
		}
	}
	return &echo.MGetUsersResponse{Users: out}, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	mux := flag.Bool("mux", false, "serve Kitex's multiplexed transport (connection multiplexing)")
	flag.Parse()
	klog.SetLevel(klog.LevelError)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	opts := []server.Option{server.WithListener(ln)}
	if *mux {
		opts = append(opts, server.WithMuxTransport())
	}
	// Run stops gracefully on SIGINT/SIGTERM
	svr := echoservice.NewServer(&handler{}, opts...)
	fmt.Printf("READY %s\n", ln.Addr())
	if err := svr.Run(); err != nil {
		log.Fatal(err)
	}
}
