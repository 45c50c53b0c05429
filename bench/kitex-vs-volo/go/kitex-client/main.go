// Command kitex-client is the benchmark's Go load client: -c goroutines in a closed
// loop over long connections (Kitex's connection pool, or -mux connections carrying
// many requests at once), a warm-up, then a fixed measured window. It prints one CSV
// fragment: calls,errors,qps,p50_us,p99_us,p999_us,server_cpu_pct,server_rss_mb,client_cpu_pct
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/connpool"
	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/cloudwego/kitex/transport"

	"fanone/bench/kitex-vs-volo/kitex_gen/echo"
	"fanone/bench/kitex-vs-volo/kitex_gen/echo/echoservice"
	"fanone/bench/kitex-vs-volo/procstat"
)

func main() {
	addr := flag.String("addr", "", "server host:port")
	method := flag.String("method", "echo", "echo or mget")
	size := flag.Int("size", 1024, "echo payload bytes")
	conc := flag.Int("c", 16, "concurrent callers")
	warmup := flag.Duration("warmup", 2*time.Second, "warm-up (not measured)")
	duration := flag.Duration("duration", 10*time.Second, "measured window")
	mux := flag.Bool("mux", false, "multiplexed connections instead of the connection pool")
	muxConns := flag.Int("mux-conns", 1, "connections with -mux")
	serverPid := flag.Int("server-pid", 0, "pid of the server, for its CPU and RSS")
	flag.Parse()
	klog.SetLevel(klog.LevelError)
	if *addr == "" {
		log.Fatal("-addr is required")
	}
	opts := []client.Option{
		client.WithHostPorts(*addr),
		client.WithTransportProtocol(transport.TTHeaderFramed),
		client.WithRPCTimeout(10 * time.Second),
		client.WithConnectTimeout(2 * time.Second),
	}
	if *mux {
		opts = append(opts, client.WithMuxConnection(*muxConns))
	} else {
		opts = append(opts, client.WithLongConnection(connpool.IdleConfig{
			MaxIdlePerAddress: *conc,
			MaxIdleGlobal:     *conc,
			MaxIdleTimeout:    time.Minute,
		}))
	}
	cli, err := echoservice.NewClient("echo", opts...)
	if err != nil {
		log.Fatal(err)
	}
	payload := strings.Repeat("a", *size)
	one := func(worker, i int) error {
		switch *method {
		case "echo":
			r, err := cli.Echo(context.Background(), &echo.EchoRequest{Msg: payload})
			if err == nil && len(r.Msg) != len(payload) {
				err = fmt.Errorf("echo of %d bytes came back with %d", len(payload), len(r.Msg))
			}
			return err
		case "mget":
			ids := make([]int64, 20)
			start := int64((worker*7+i)%981) + 1
			for k := range ids {
				ids[k] = start + int64(k)
			}
			r, err := cli.MGetUsers(context.Background(), &echo.MGetUsersRequest{UserIds: ids})
			if err == nil && (len(r.Users) != 20 || r.Users[0].Id != start) {
				err = fmt.Errorf("mget of 20 users returned %d", len(r.Users))
			}
			return err
		}
		return fmt.Errorf("unknown -method %q", *method)
	}
	if err := one(0, 0); err != nil {
		log.Fatalf("first call: %v", err)
	}

	var measuring, stop atomic.Bool
	var errs atomic.Int64
	lat := make([][]uint32, *conc)
	var wg sync.WaitGroup
	for w := 0; w < *conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				t := time.Now()
				err := one(w, i)
				if !measuring.Load() {
					continue
				}
				if err != nil {
					errs.Add(1)
					continue
				}
				lat[w] = append(lat[w], uint32(time.Since(t).Microseconds()))
			}
		}(w)
	}
	time.Sleep(*warmup)
	before := procstat.Sample(*serverPid)
	t0 := time.Now()
	measuring.Store(true)
	time.Sleep(*duration)
	measuring.Store(false)
	elapsed := time.Since(t0)
	after := procstat.Sample(*serverPid)
	stop.Store(true)
	wg.Wait()
	fmt.Println(procstat.Report(lat, errs.Load(), elapsed, before, after))
	os.Exit(0)
}
