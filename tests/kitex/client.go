package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bytedance/gopkg/cloud/metainfo"
	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/discovery"
	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/cloudwego/kitex/pkg/transmeta"
	"github.com/cloudwego/kitex/transport"
	"github.com/kitex-contrib/registry-nacos/v2/resolver"
	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"

	"fanone/tests/kitex/kitex_gen/base"
	"fanone/tests/kitex/kitex_gen/chat/chatservice"
	"fanone/tests/kitex/kitex_gen/image/imageservice"
	"fanone/tests/kitex/kitex_gen/interaction/interactionservice"
	"fanone/tests/kitex/kitex_gen/social/socialservice"
	"fanone/tests/kitex/kitex_gen/user"
	"fanone/tests/kitex/kitex_gen/user/userservice"
	"fanone/tests/kitex/kitex_gen/video/videoservice"
)

// Metainfo keys FanOne reads and writes (docs/rpc.md).
const (
	credentialKey  = "FANONE_CREDENTIAL" // transient, checked before any handler
	traceparentKey = "traceparent"       // transient, W3C trace context
	servedByKey    = "FANONE_INSTANCE"   // backward: <service>@<ip:port> that answered
)

// services are the six Thrift services of FanOne, by registry name.
var services = []string{"user", "video", "interaction", "social", "chat", "image"}

type config struct {
	addrs     addrFlags
	nacos     string
	namespace string
	group     string
	secret    string
	caller    string
	imageURL  string
	imageFile string
	tag       string
	timeout   time.Duration
}

// credential is FanOne's internal credential: v1:<caller>:<unix secs>:<hex HMAC-SHA256
// over "v1:<caller>:<unix secs>" keyed with rpc.internal_secret>.
func credential(secret, caller string, now time.Time) string {
	payload := "v1:" + caller + ":" + strconv.FormatInt(now.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(payload))
	return payload + ":" + hex.EncodeToString(mac.Sum(nil))
}

// traceparent is a fresh W3C trace context (version 00, sampled) for one call.
func traceparent() string {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return "00-" + hex.EncodeToString(b[:16]) + "-" + hex.EncodeToString(b[16:]) + "-01"
}

type clients6 struct {
	user        userservice.Client
	video       videoservice.Client
	interaction interactionservice.Client
	social      socialservice.Client
	chat        chatservice.Client
	image       imageservice.Client
}

// nacosResolver is the kitex-contrib resolver over a Nacos 2.x naming client.
func nacosResolver(cfg config) (discovery.Resolver, error) {
	host, portText, ok := strings.Cut(cfg.nacos, ":")
	port, err := strconv.ParseUint(portText, 10, 16)
	if !ok || err != nil {
		return nil, fmt.Errorf("-nacos wants host:port, got %q", cfg.nacos)
	}
	dir, err := os.MkdirTemp("", "fanone-kitex-nacos-")
	if err != nil {
		return nil, err
	}
	cc := constant.NewClientConfig(
		constant.WithNamespaceId(cfg.namespace),
		constant.WithTimeoutMs(5000),
		constant.WithNotLoadCacheAtStart(true),
		constant.WithCacheDir(filepath.Join(dir, "cache")),
		constant.WithLogDir(filepath.Join(dir, "log")),
		constant.WithLogLevel("warn"),
	)
	naming, err := clients.NewNamingClient(vo.NacosClientParam{
		ClientConfig:  cc,
		ServerConfigs: []constant.ServerConfig{*constant.NewServerConfig(host, port)},
	})
	if err != nil {
		return nil, fmt.Errorf("nacos naming client: %w", err)
	}
	return resolver.NewNacosResolver(naming, resolver.WithGroup(cfg.group)), nil
}

func newClients(cfg config) (*clients6, error) {
	klog.SetLevel(klog.LevelWarn)
	common := []client.Option{
		// what Volo serves: TTHeader framing; its header carries the metainfo
		client.WithTransportProtocol(transport.TTHeaderFramed),
		client.WithMetaHandler(transmeta.ClientTTHeaderHandler),
		client.WithRPCTimeout(cfg.timeout),
		client.WithConnectTimeout(2 * time.Second),
	}
	var r discovery.Resolver
	if cfg.nacos != "" {
		var err error
		if r, err = nacosResolver(cfg); err != nil {
			return nil, err
		}
	}
	opts := func(svc string) ([]client.Option, error) {
		o := append([]client.Option{}, common...)
		if r != nil {
			return append(o, client.WithResolver(r)), nil
		}
		addr, ok := cfg.addrs[svc]
		if !ok {
			return nil, fmt.Errorf("no -addr %s=host:port (and no -nacos)", svc)
		}
		return append(o, client.WithHostPorts(addr)), nil
	}
	var c clients6
	var errs []error
	for _, svc := range services {
		o, err := opts(svc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		switch svc {
		case "user":
			c.user, err = userservice.NewClient(svc, o...)
		case "video":
			c.video, err = videoservice.NewClient(svc, o...)
		case "interaction":
			c.interaction, err = interactionservice.NewClient(svc, o...)
		case "social":
			c.social, err = socialservice.NewClient(svc, o...)
		case "chat":
			c.chat, err = chatservice.NewClient(svc, o...)
		case "image":
			c.image, err = imageservice.NewClient(svc, o...)
		}
		errs = append(errs, err)
	}
	return &c, errors.Join(errs...)
}

// suite runs checks and counts them.
type suite struct {
	cfg    config
	c      *clients6
	calls  int
	biz    int
	served map[string]string
}

// ctx carries what every FanOne caller sends: the credential and a trace context;
// it also asks for the backward metainfo (which instance answered).
func (s *suite) ctx() (context.Context, context.CancelFunc) {
	ctx := context.Background()
	ctx = metainfo.WithValue(ctx, credentialKey, credential(s.cfg.secret, s.cfg.caller, time.Now()))
	ctx = metainfo.WithValue(ctx, traceparentKey, traceparent())
	ctx = metainfo.WithBackwardValues(ctx)
	return context.WithTimeout(ctx, s.cfg.timeout)
}

// servedBy checks the backward metainfo names an instance of svc.
func (s *suite) servedBy(ctx context.Context, svc, method string) error {
	// Volo writes backward keys with the RPC_BACKWARD_ prefix on the wire (like its
	// transient RPC_TRANSIT_ ones); Kitex's server writes them bare, so Kitex's client
	// hands them over as they came: look for both spellings
	who, ok := metainfo.RecvBackwardValue(ctx, servedByKey)
	if !ok {
		who, ok = metainfo.RecvBackwardValue(ctx, "RPC_BACKWARD_"+servedByKey)
	}
	if !ok || !strings.HasPrefix(who, svc+"@") {
		return fmt.Errorf("%s.%s: backward metainfo %s = %q, want %s@<addr> (received %v)",
			svc, method, servedByKey, who, svc, metainfo.RecvAllBackwardValues(ctx))
	}
	s.served[svc] = strings.TrimPrefix(who, svc+"@")
	return nil
}

// call runs one call that must succeed and passes its answer to check.
func call[T any](s *suite, svc, method string, f func(context.Context) (T, error), check func(T) error) (T, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	s.calls++
	r, err := f(ctx)
	if err != nil {
		return r, fmt.Errorf("%s.%s: %w", svc, method, err)
	}
	if err := s.servedBy(ctx, svc, method); err != nil {
		return r, err
	}
	if check != nil {
		if err := check(r); err != nil {
			return r, fmt.Errorf("%s.%s: %w", svc, method, err)
		}
	}
	fmt.Printf("ok   %s.%s\n", svc, method)
	return r, nil
}

// bizError runs one call that must fail with *base.BizError{code, msg}.
func bizError[T any](s *suite, svc, method string, code int32, msg string, f func(context.Context) (T, error)) error {
	ctx, cancel := s.ctx()
	defer cancel()
	s.calls++
	_, err := f(ctx)
	var be *base.BizError
	if !errors.As(err, &be) {
		return fmt.Errorf("%s.%s: want *base.BizError{%d, %q}, got %T: %v", svc, method, code, msg, err, err)
	}
	if be.Code != code || be.Msg != msg {
		return fmt.Errorf("%s.%s: want BizError{%d, %q}, got {%d, %q}", svc, method, code, msg, be.Code, be.Msg)
	}
	if err := s.servedBy(ctx, svc, method); err != nil {
		return err
	}
	s.biz++
	fmt.Printf("ok   %s.%s -> BizError{%d, %q}\n", svc, method, be.Code, be.Msg)
	return nil
}

func run(cfg config) error {
	if cfg.secret == "" {
		return errors.New("-secret (or FANONE_INTERNAL_SECRET) is required: the cluster's rpc.internal_secret")
	}
	c, err := newClients(cfg)
	if err != nil {
		return err
	}
	s := &suite{cfg: cfg, c: c, served: map[string]string{}}
	if err := s.refused(); err != nil {
		return err
	}
	if err := s.all(); err != nil {
		return err
	}
	for _, svc := range services {
		if _, ok := s.served[svc]; !ok {
			return fmt.Errorf("no call reached %s", svc)
		}
	}
	how := "-addr"
	if cfg.nacos != "" {
		how = "the kitex-contrib Nacos resolver"
	}
	fmt.Printf("PASS %d calls to %d services found through %s (%d typed BizError checks); served by %v\n",
		s.calls, len(s.served), how, s.biz, s.served)
	return nil
}

// refused checks a call without the credential is refused before any handler.
func (s *suite) refused() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.timeout)
	defer cancel()
	s.calls++
	_, err := s.c.user.GetUser(ctx, &user.GetUserRequest{UserId: 1})
	var be *base.BizError
	if err == nil || errors.As(err, &be) || !strings.Contains(err.Error(), "refused: no internal credential") {
		return fmt.Errorf("user.GetUser without a credential: want an application exception \"refused: no internal credential\", got %v", err)
	}
	fmt.Printf("ok   user.GetUser without a credential -> %v\n", err)
	return nil
}
