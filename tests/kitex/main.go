// Command fanone-kitex-interop calls every method of every FanOne Thrift service
// with a Kitex client (TTHeader framed, the internal credential and a W3C
// traceparent in the transient metainfo) and checks the answers, business errors
// included: each must arrive as the typed *base.BizError with FanOne's code and
// message. It exits 1 at the first failed check.
//
// Addresses come either from flags (-addr user=127.0.0.1:10011 ...) or from a Nacos
// registry through the kitex-contrib resolver (-nacos 127.0.0.1:8848). Code is
// generated from ../../idl by scripts/kitex.sh (kitex_gen/ is never committed).
//
//	scripts/kitex.sh build   # prints the binary's path
//	fanone-kitex-interop -secret "$FANONE__RPC__INTERNAL_SECRET" -addr user=... -addr video=... ...
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// addrFlags collects repeated -addr service=host:port flags.
type addrFlags map[string]string

func (a addrFlags) String() string { return fmt.Sprint(map[string]string(a)) }

func (a addrFlags) Set(v string) error {
	svc, addr, ok := strings.Cut(v, "=")
	if !ok || svc == "" || addr == "" {
		return fmt.Errorf("want service=host:port, got %q", v)
	}
	a[svc] = addr
	return nil
}

func main() {
	cfg := config{addrs: addrFlags{}}
	flag.Var(cfg.addrs, "addr", "service=host:port of a FanOne service (repeat for each of user, video, interaction, social, chat, image)")
	flag.StringVar(&cfg.nacos, "nacos", "", "Nacos server host:port (HTTP port; gRPC is port+1000): resolve every service through the kitex-contrib Nacos resolver instead of -addr")
	flag.StringVar(&cfg.namespace, "nacos-namespace", "fanone", "Nacos namespace id FanOne registers in (registry.namespace)")
	flag.StringVar(&cfg.group, "nacos-group", "DEFAULT_GROUP", "Nacos group (registry.group)")
	flag.StringVar(&cfg.secret, "secret", os.Getenv("FANONE_INTERNAL_SECRET"), "rpc.internal_secret of the cluster (default $FANONE_INTERNAL_SECRET)")
	flag.StringVar(&cfg.caller, "caller", "kitex-interop", "caller name in the internal credential")
	flag.StringVar(&cfg.imageURL, "image-url", "", "URL of an image stored in FanOne's object store (<public url>/static/<key>) to index")
	flag.StringVar(&cfg.imageFile, "image-file", "", "the bytes of that image, to search with")
	flag.StringVar(&cfg.tag, "tag", fmt.Sprintf("k%d", time.Now().UnixNano()%1_000_000_000), "suffix that makes usernames and titles of this run unique")
	flag.DurationVar(&cfg.timeout, "timeout", 30*time.Second, "deadline of each call")
	flag.Parse()

	if err := run(cfg); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL %v\n", err)
		os.Exit(1)
	}
}
