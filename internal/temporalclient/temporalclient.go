// Package temporalclient builds the Temporal client that the worker and the starter share: where the
// cluster is, how to authenticate (mutual TLS or an API key), and the hclog adapter for the SDK.
package temporalclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/hashicorp/go-hclog"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
)

// Config says how to reach a Temporal cluster.
type Config struct {
	Address       string
	Namespace     string
	TLSCertFile   string
	TLSKeyFile    string
	TLSCAFile     string
	TLSServerName string
	TLS           bool
	APIKey        string
	// MetricsHandler, when set, receives the SDK's metrics (not a flag: the worker sets it).
	MetricsHandler client.MetricsHandler
}

// DefaultAddress is the embedded dev server's frontend.
const DefaultAddress = "127.0.0.1:7233"

// RegisterFlags adds the connection flags to fs, each defaulting to its environment variable.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Address, "temporal-address", Env("TEMPORAL_ADDRESS", DefaultAddress), "Temporal frontend host:port (env TEMPORAL_ADDRESS)")
	fs.StringVar(&c.Namespace, "temporal-namespace", Env("TEMPORAL_NAMESPACE", "default"), "Temporal namespace (env TEMPORAL_NAMESPACE)")
	fs.StringVar(&c.TLSCertFile, "temporal-tls-cert", Env("TEMPORAL_TLS_CERT", ""), "client certificate PEM file for mutual TLS (env TEMPORAL_TLS_CERT)")
	fs.StringVar(&c.TLSKeyFile, "temporal-tls-key", Env("TEMPORAL_TLS_KEY", ""), "client private key PEM file for mutual TLS (env TEMPORAL_TLS_KEY)")
	fs.StringVar(&c.TLSCAFile, "temporal-tls-ca", Env("TEMPORAL_TLS_CA", ""), "CA certificate PEM file to verify the server (env TEMPORAL_TLS_CA)")
	fs.StringVar(&c.TLSServerName, "temporal-tls-server-name", Env("TEMPORAL_TLS_SERVER_NAME", ""), "server name to verify in the server's certificate (env TEMPORAL_TLS_SERVER_NAME)")
	fs.BoolVar(&c.TLS, "temporal-tls", EnvBool("TEMPORAL_TLS", false), "use TLS without a client certificate, e.g. with an API key (env TEMPORAL_TLS)")
	fs.StringVar(&c.APIKey, "temporal-api-key", Env("TEMPORAL_API_KEY", ""), "API key sent as a bearer token; implies TLS (env TEMPORAL_API_KEY; prefer the variable, flags show in process lists)")
}

// Env returns the environment variable name, or def when it is unset or empty.
func Env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// EnvBool returns the boolean environment variable name, or def when it is unset or not a boolean.
func EnvBool(name string, def bool) bool {
	switch os.Getenv(name) {
	case "1", "true", "TRUE", "True", "yes":
		return true
	case "0", "false", "FALSE", "False", "no":
		return false
	}
	return def
}

// Options turns the config into SDK client options.
func (c Config) Options(logger hclog.Logger) (client.Options, error) {
	opts := client.Options{
		HostPort:  c.Address,
		Namespace: c.Namespace,
		Logger:    NewLogger(logger),
	}
	if c.MetricsHandler != nil {
		opts.MetricsHandler = c.MetricsHandler
	}
	tlsConf, err := c.tlsConfig()
	if err != nil {
		return client.Options{}, err
	}
	opts.ConnectionOptions.TLS = tlsConf
	if c.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(c.APIKey)
	}
	return opts, nil
}

func (c Config) tlsConfig() (*tls.Config, error) {
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return nil, errors.New("temporal TLS: set both --temporal-tls-cert and --temporal-tls-key (TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY), or neither")
	}
	if !c.TLS && c.APIKey == "" && c.TLSCertFile == "" && c.TLSCAFile == "" {
		return nil, nil
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TLSServerName}
	if c.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("temporal TLS: load client certificate %s and key %s: %w", c.TLSCertFile, c.TLSKeyFile, err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	if c.TLSCAFile != "" {
		pem, err := os.ReadFile(c.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("temporal TLS: read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("temporal TLS: %s holds no PEM certificate", c.TLSCAFile)
		}
		conf.RootCAs = pool
	}
	return conf, nil
}

// Dial connects to Temporal, retrying for up to wait while the server is starting.
func Dial(ctx context.Context, c Config, logger hclog.Logger, wait time.Duration) (client.Client, error) {
	opts, err := c.Options(logger)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for {
		cl, err := client.DialContext(ctx, opts)
		if err == nil {
			return cl, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("connect to temporal at %s (namespace %s): %w; is the server running? `go run ./worker --dev` starts one", c.Address, c.Namespace, err)
		}
		logger.Info("temporal not reachable yet, retrying", "address", c.Address, "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// EnsureSearchAttributes registers the search attributes that namespace lacks. One that exists with
// another type is an error: the operator must resolve it, the worker cannot.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string, want map[string]enumspb.IndexedValueType) ([]string, error) {
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, fmt.Errorf("list search attributes of %s: %w", namespace, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range want {
		got, ok := have.CustomAttributes[name]
		if !ok {
			missing[name] = typ
			continue
		}
		if got != typ {
			return nil, fmt.Errorf("search attribute %s in namespace %s has type %s, this version needs %s: remove or rename it", name, namespace, got, typ)
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return nil, fmt.Errorf("add search attributes to %s: %w", namespace, err)
	}
	added := make([]string, 0, len(missing))
	for name := range missing {
		added = append(added, name)
	}
	sort.Strings(added)
	return added, nil
}

// logger adapts hclog to the SDK's logger, keeping With.
type logger struct{ l hclog.Logger }

// NewLogger returns an SDK logger writing to l.
func NewLogger(l hclog.Logger) sdklog.Logger { return logger{l: l} }

func (s logger) Debug(msg string, kv ...any) { s.l.Debug(msg, kv...) }
func (s logger) Info(msg string, kv ...any)  { s.l.Info(msg, kv...) }
func (s logger) Warn(msg string, kv ...any)  { s.l.Warn(msg, kv...) }
func (s logger) Error(msg string, kv ...any) { s.l.Error(msg, kv...) }

func (s logger) With(kv ...any) sdklog.Logger { return logger{l: s.l.With(kv...)} }
