// Package devtemporal runs a Temporal server and the Temporal Web UI inside this process: the embedded
// default behind `worker --dev` and the end-to-end tests. Persistence is SQLite in a file, so workflows
// survive a restart with the same data directory.
//
// The server is tuned for one machine: one task-queue partition (the stock four partitions add polling
// latency to every task when there is a single worker), a larger mutable-state cache, and search attribute
// changes visible at once.
package devtemporal

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"

	"github.com/guided-response/guided/internal/freeport"
	"github.com/hashicorp/go-hclog"
	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
)

// ErrPortInUse is a port asked for by number that something else holds.
var ErrPortInUse = errors.New("port in use")

const (
	clusterName = "active"
	localhost   = "127.0.0.1"
)

// Options configure the embedded server.
type Options struct {
	// DatabaseFile is the SQLite file. Empty keeps everything in memory (tests that need no restart).
	DatabaseFile string
	// FrontendPort is the gRPC port clients connect to (0 picks a free port).
	FrontendPort int
	// UIPort is the Web UI's port; 0 picks a free port, -1 runs no UI.
	UIPort int
	// Namespace is created when missing, with SearchAttributes registered on creation.
	Namespace        string
	SearchAttributes map[string]enumspb.IndexedValueType
	// Logger receives the server's logs (the server is chatty at info: give it a quieter logger).
	Logger hclog.Logger
	// DynamicConfig overrides dynamic config settings by key, e.g. "matching.numTaskqueueReadPartitions".
	DynamicConfig map[string]any
}

// Server is a running embedded Temporal server and its UI.
type Server struct {
	server       temporal.Server
	ui           *uiserver.Server
	frontendAddr string
	uiAddr       string
	uiErr        chan error
	ports        freeport.Set // reserved until Stop
	stopping     *atomic.Bool // quiets the server's warnings once Stop begins
}

// Start starts the server and, unless disabled, the UI. The server is ready for clients when it returns.
//
// Ports left to us come from internal/freeport, reserved against other processes doing the same (parallel
// test packages) until Stop. Should a port still be taken before the server binds it, Start tries again
// with fresh ones.
func Start(opts Options) (*Server, error) {
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	// A port asked for by number that something else holds fails at once, saying which: retrying cannot
	// help, and the server's own error would come after a second of building it.
	for _, p := range []struct {
		what string
		port int
	}{{"Temporal frontend", opts.FrontendPort}, {"Temporal Web UI", opts.UIPort}} {
		if p.port > 0 && !bindable(p.port) {
			return nil, fmt.Errorf("the %s's port %d on %s is in use (another Temporal server?): stop what holds it, or choose another port (%w)",
				p.what, p.port, localhost, ErrPortInUse)
		}
	}
	var err error
	for attempt := 1; ; attempt++ {
		var s *Server
		s, err = start(opts)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) || attempt == startAttempts {
			return nil, err
		}
		opts.Logger.Warn("a port was taken while the embedded temporal server started; retrying", "error", err)
	}
}

const startAttempts = 3

func start(opts Options) (s *Server, err error) {
	var ports freeport.Set
	defer func() {
		if err != nil {
			ports.Release()
		}
	}()
	take := func(fixed int) (int, error) {
		if fixed > 0 {
			return fixed, nil
		}
		p, err := freeport.Take()
		if err != nil {
			return 0, err
		}
		ports = append(ports, p)
		return p.Number, nil
	}
	frontendPort, err := take(opts.FrontendPort)
	if err != nil {
		return nil, err
	}
	httpPort, err := take(0)
	if err != nil {
		return nil, err
	}
	var servicePorts [3]int
	for i := range servicePorts {
		if servicePorts[i], err = take(0); err != nil {
			return nil, err
		}
	}

	conf, err := serverConfig(opts, frontendPort, httpPort, servicePorts)
	if err != nil {
		return nil, err
	}
	stopping := new(atomic.Bool)
	srvOpts, err := serverOptions(conf, opts.Logger, stopping, opts.DynamicConfig)
	if err != nil {
		return nil, err
	}
	// The server reports a port it cannot bind through its logger's Fatal, which panics (see log.go).
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(fatal)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("start temporal server: %w", f)
		}
	}()
	srv, err := temporal.NewServer(srvOpts...)
	if err != nil {
		return nil, fmt.Errorf("build temporal server: %w", err)
	}

	s = &Server{server: srv, stopping: stopping, frontendAddr: net.JoinHostPort(localhost, strconv.Itoa(frontendPort))}
	if opts.UIPort >= 0 {
		uiPort, err := take(opts.UIPort)
		if err != nil {
			return nil, err
		}
		s.uiAddr = net.JoinHostPort(localhost, strconv.Itoa(uiPort))
		s.ui = uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
			Host:                localhost,
			Port:                uiPort,
			TemporalGRPCAddress: s.frontendAddr,
			EnableUI:            true,
			DefaultNamespace:    opts.Namespace,
			CORS:                uiconfig.CORS{CookieInsecure: true},
			HideLogs:            true,
		}))
	}

	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start temporal server: %w", err)
	}
	if s.ui != nil {
		// The UI server's Start blocks until Stop; a failure to listen arrives on uiErr.
		s.uiErr = make(chan error, 1)
		go func() { s.uiErr <- s.ui.Start() }()
		if err := waitListening(s.uiAddr, s.uiErr); err != nil {
			_ = srv.Stop()
			return nil, fmt.Errorf("start temporal ui on %s: %w", s.uiAddr, err)
		}
	}
	s.ports = ports
	return s, nil
}

// FrontendAddress is host:port of the gRPC frontend.
func (s *Server) FrontendAddress() string { return s.frontendAddr }

// UIAddress is host:port of the Web UI, empty when it is not running.
func (s *Server) UIAddress() string { return s.uiAddr }

// UIURL is the Web UI's base URL, empty when it is not running.
func (s *Server) UIURL() string {
	if s.uiAddr == "" {
		return ""
	}
	return "http://" + s.uiAddr
}

// Stop stops the UI and the server, and gives their ports back.
func (s *Server) Stop() error {
	defer s.ports.Release()
	s.stopping.Store(true)
	if s.ui != nil {
		s.ui.Stop()
	}
	return s.server.Stop()
}

func serverConfig(opts Options, frontendPort, httpPort int, servicePorts [3]int) (*config.Config, error) {
	var conf config.Config
	conf.Global.Membership.MaxJoinDuration = 30_000_000_000 // 30s
	conf.Global.Membership.BroadcastAddress = localhost

	sqlConf, err := sqlConfig(opts)
	if err != nil {
		return nil, err
	}
	conf.Persistence.DefaultStore = "sqlite-default"
	conf.Persistence.VisibilityStore = "sqlite-default"
	conf.Persistence.NumHistoryShards = 1
	conf.Persistence.DataStores = map[string]config.DataStore{"sqlite-default": {SQL: sqlConf}}

	frontendAddr := net.JoinHostPort(localhost, strconv.Itoa(frontendPort))
	conf.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace:    false,
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             frontendAddr,
				HTTPAddress:            net.JoinHostPort(localhost, strconv.Itoa(httpPort)),
				ClusterID:              "5f0c2b1e-7d3a-4c8e-9b6f-1a2d3e4f5a6b", // fixed: the SQLite file keeps it
			},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{}
	for i, name := range []string{"frontend", "history", "matching", "worker"} {
		var svc config.Service
		svc.RPC.BindOnIP = localhost
		if name == "frontend" {
			svc.RPC.GRPCPort = frontendPort
			svc.RPC.HTTPPort = httpPort
		} else {
			svc.RPC.GRPCPort = servicePorts[i-1]
		}
		conf.Services[name] = svc
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = frontendAddr
	return &conf, nil
}

func sqlConfig(opts Options) (*config.SQL, error) {
	conf := &config.SQL{PluginName: sqliteplugin.PluginName}
	if opts.DatabaseFile == "" {
		conf.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
		// A unique name keeps two in-memory servers in one process apart.
		conf.DatabaseName = "guided-" + strconv.FormatInt(memoryDatabases.Add(1), 10)
	} else {
		// The plugin turns these into pragmas: write-ahead logging, and no fsync on every commit (the SQLite
		// file is a dev store; a crash may lose the last transactions, not corrupt the file).
		conf.ConnectAttributes = map[string]string{"mode": "rwc", "journal_mode": "WAL", "synchronous": "NORMAL"}
		conf.DatabaseName = opts.DatabaseFile
		if _, err := os.Stat(opts.DatabaseFile); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(filepath.Dir(opts.DatabaseFile), 0o700); err != nil {
				return nil, fmt.Errorf("create temporal data directory: %w", err)
			}
			if err := sqliteschema.SetupSchema(conf); err != nil {
				return nil, fmt.Errorf("set up temporal schema in %s: %w", opts.DatabaseFile, err)
			}
		}
	}
	ns, err := sqliteschema.NewNamespaceConfig(clusterName, opts.Namespace, false, opts.SearchAttributes)
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", opts.Namespace, err)
	}
	if err := sqliteschema.CreateNamespaces(conf, ns); err != nil {
		return nil, fmt.Errorf("create namespace %s: %w", opts.Namespace, err)
	}
	return conf, nil
}

func serverOptions(conf *config.Config, logger hclog.Logger, stopping *atomic.Bool, overrides map[string]any) ([]temporal.ServerOption, error) {
	serverLogger := newServerLogger(logger, stopping)
	authorizer, err := authorization.GetAuthorizerFromConfig(&conf.Global.Authorization)
	if err != nil {
		return nil, fmt.Errorf("temporal authorizer: %w", err)
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&conf.Global.Authorization, serverLogger)
	if err != nil {
		return nil, fmt.Errorf("temporal claim mapper: %w", err)
	}
	hosts := map[primitives.ServiceName]static.Hosts{}
	for name, svc := range conf.Services {
		hosts[primitives.ServiceName(name)] = static.SingleLocalHost(net.JoinHostPort(localhost, strconv.Itoa(svc.RPC.GRPCPort)))
	}

	dyn := dynamicconfig.StaticClient{
		// The history queues read new tasks at most 20 times a second by default: with one shard each
		// activity and workflow task waited up to 50 ms to be dispatched, about 110 ms per activity.
		dynamicconfig.TransferProcessorMaxPollRPS.Key():   1000,
		dynamicconfig.TimerProcessorMaxPollRPS.Key():      1000,
		dynamicconfig.VisibilityProcessorMaxPollRPS.Key(): 1000,
		// One partition: with a single worker, the stock four partitions make pollers and tasks meet late.
		dynamicconfig.MatchingNumTaskqueueReadPartitions.Key():           1,
		dynamicconfig.MatchingNumTaskqueueWritePartitions.Key():          1,
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key():                 8192,
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key():      true,
	}
	for k, v := range overrides {
		dyn[dynamicconfig.Key(k)] = v
	}
	return []temporal.ServerOption{
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(serverLogger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(dyn),
	}, nil
}

// bindable reports whether port is free on localhost now.
func bindable(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(localhost, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// memoryDatabases numbers the in-memory databases of this process.
var memoryDatabases atomic.Int64
