package main

import (
	"errors"
	"flag"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/guided-response/guided/internal/temporalclient"
)

// tuningConfig sizes what grows with load: the SDK's cache of open workflows, the Postgres connection
// pool, and the profiling endpoints to see where the rest goes.
type tuningConfig struct {
	// StickyCacheSize is how many workflows the worker keeps in memory between their tasks (the SDK's
	// sticky workflow cache, shared by every worker of the process). A workflow evicted from it is
	// rebuilt by replaying its history at its next task: a decision on an old incident costs a replay,
	// not a wrong answer.
	StickyCacheSize int
	// DBMaxConns bounds the worker's Postgres connections; as many are kept open when idle, so that a
	// burst of activities does not open and close connections.
	DBMaxConns int
	// PprofAddr serves net/http/pprof on a loopback address of its own; empty serves nothing.
	PprofAddr string
	// MetricsAddr serves /metrics and /healthz on a listener of its own; empty serves nothing.
	MetricsAddr string
}

// Defaults of the tuning flags; README "Deploy with compose" explains how to choose them.
const (
	// A cached incident workflow costs the worker about 210 KiB of resident memory (some 70 KiB of live
	// heap, the stacks of its nine coroutines, and the garbage collector's headroom on both): 1,000 of
	// them, about 210 MiB. The SDK's own default, 10,000, would be about 2 GiB.
	defaultStickyCacheSize = 1000
	defaultDBMaxConns      = 20
)

// register binds the worker's tuning flags (worker run).
func (t *tuningConfig) register(fs *flag.FlagSet) {
	env := temporalclient.Env
	fs.IntVar(&t.StickyCacheSize, "sticky-cache-size", envInt("GUIDED_STICKY_CACHE_SIZE", defaultStickyCacheSize), "most workflows kept in memory between their tasks (the SDK's sticky cache); an evicted one replays its history at its next task; 0 turns the cache off (env GUIDED_STICKY_CACHE_SIZE)")
	t.registerDB(fs)
	fs.StringVar(&t.MetricsAddr, "metrics-addr", env("GUIDED_METRICS_ADDR", ""), "serve Prometheus metrics (/metrics) and a liveness check (/healthz) on this address, e.g. :9090, for a worker without the API; empty: off (env GUIDED_METRICS_ADDR)")
	fs.StringVar(&t.PprofAddr, "pprof-addr", env("GUIDED_PPROF_ADDR", ""), "serve Go's profiling endpoints (/debug/pprof/) on this loopback address, e.g. 127.0.0.1:6060; empty: off (env GUIDED_PPROF_ADDR)")
}

// registerDB binds the connection pool's flag alone (worker api).
func (t *tuningConfig) registerDB(fs *flag.FlagSet) {
	fs.IntVar(&t.DBMaxConns, "db-max-conns", envInt("GUIDED_DB_MAX_CONNS", defaultDBMaxConns), "most Postgres connections of the process, all kept open when idle (env GUIDED_DB_MAX_CONNS)")
}

func (t *tuningConfig) validate() error {
	switch {
	case t.StickyCacheSize < 0:
		return errors.New("--sticky-cache-size must be 0 (no cache) or more")
	case t.DBMaxConns < 1:
		return errors.New("--db-max-conns must be at least 1")
	}
	if t.PprofAddr != "" {
		return checkLoopback(t.PprofAddr)
	}
	return nil
}

// sizePool applies DBMaxConns to db: at most that many connections, all of them kept when idle (the
// database/sql default keeps two, so each burst opened and closed connections, a process fork each on
// the Postgres side), each recycled after an hour.
func (t *tuningConfig) sizePool(db *sqlx.DB) {
	db.SetMaxOpenConns(t.DBMaxConns)
	db.SetMaxIdleConns(t.DBMaxConns)
	db.SetConnMaxLifetime(time.Hour)
}
