package learn

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/guided-response/guided/guide"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/internal/incidentgen"
)

// BenchmarkTrain measures training throughput on synthetic incidents: the whole of Train (features
// with out-of-fold encodings, bins, boosting with early stopping, calibration, threshold, embedding and
// action model), reported as incidents per second of wall time.
func BenchmarkTrain(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("incidents=%d", n), func(b *testing.B) {
			incs := Pointers(synthIncidents(synthOptions{Incidents: n, Orgs: max(20, n/150), Detectors: 2000, Seed: 1}))
			b.ResetTimer()
			var rounds int
			for b.Loop() {
				m, err := Train(incs, TrainOptions{Seed: 1})
				if err != nil {
					b.Fatal(err)
				}
				rounds = m.Trees.Rounds()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "incidents/s")
			b.ReportMetric(float64(rounds), "rounds")
		})
	}
}

// BenchmarkBoostingRound measures one boosting round (three trees) over binned rows.
func BenchmarkBoostingRound(b *testing.B) {
	incs := Pointers(synthIncidents(synthOptions{Incidents: 100_000, Orgs: 600, Detectors: 2000, Seed: 2}))
	f := FitFeatures(incs, FeatureOptions{})
	var sample [][]float32
	f.OutOfFoldSubset(incs, nil, OOFOptions{Folds: 5, Seed: 1}, func(_ int, x []float32) {
		if len(sample) < 50_000 {
			sample = append(sample, append([]float32(nil), x...))
		}
	})
	d := NewDataset(FitBinner(sample, MaxBins), len(incs))
	f.OutOfFold(incs, OOFOptions{Folds: 5, Seed: 1}, func(i int, x []float32) { d.Set(i, x, GradeIndex(incs[i].Grade)) })
	p := DefaultGBDTParams()
	p.Rounds, p.EarlyStopping = 20, 0
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := TrainGBDT(d, nil, NumClasses, p, nil); err != nil {
			b.Fatal(err)
		}
	}
	perRound := b.Elapsed().Seconds() / float64(b.N*p.Rounds)
	b.ReportMetric(perRound*1000, "ms/round")
	b.ReportMetric(float64(len(incs))/perRound, "rows·round/s")
}

var benchModel struct {
	once sync.Once
	m    *Model
	test []*guide.Incident
}

// scoringModel is a model of 300 rounds (900 trees of depth 6, no early stopping): a worst case for
// scoring latency.
func scoringModel(b *testing.B) (*Model, []*guide.Incident) {
	benchModel.once.Do(func() {
		incs := Pointers(synthIncidents(synthOptions{Incidents: 20_000, Orgs: 150, Detectors: 1000, Seed: 3}))
		train, test := Split(incs, SplitByIncident, 0.8, 3)
		p := DefaultGBDTParams()
		p.Rounds, p.EarlyStopping = 300, 0
		m, err := Train(train, TrainOptions{Seed: 3, GBDT: p})
		if err != nil {
			panic(err)
		}
		benchModel.m, benchModel.test = m, test
	})
	return benchModel.m, benchModel.test
}

// BenchmarkPredict is the latency of scoring one incident: features (target-encoding look-ups), 900
// trees, calibration.
func BenchmarkPredict(b *testing.B) {
	m, test := scoringModel(b)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		_ = m.Predict(test[i%len(test)])
		i++
	}
}

// BenchmarkExplain adds the path attributions (the triage card's "why") to Predict.
func BenchmarkExplain(b *testing.B) {
	m, test := scoringModel(b)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		_, _ = m.Explain(test[i%len(test)], 5)
		i++
	}
}

// BenchmarkLiveIncident is the triage card's path for one of our incidents: the GUIDE aggregate of it,
// the prediction with its reasons, the embedding and the action recommendation.
func BenchmarkLiveIncident(b *testing.B) {
	m, _ := scoringModel(b)
	gen, err := incidentgen.New(incidentgen.Options{Seed: 4, Now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		b.Fatal(err)
	}
	incs := make([]guideInput, 16)
	for i := range incs {
		inc, _ := gen.Next()
		incs[i] = guideInput{inc.TenantID, inc.Alerts}
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		in := incs[i%len(incs)]
		g := FromLive(in.tenant, in.alerts)
		_, _ = m.Explain(&g, 5)
		_, _ = m.RecommendActions(&g)
		i++
	}
}

// BenchmarkSimilarExact is one exact similar-incident query against 100,000 training embeddings.
func BenchmarkSimilarExact(b *testing.B) {
	incs := Pointers(synthIncidents(synthOptions{Incidents: 100_000, Orgs: 600, Detectors: 2000, Seed: 5}))
	e := FitEmbedder(incs)
	corpus := &Vectors{Dim: e.Dim}
	for _, inc := range incs {
		corpus.Append(e.Embed(inc, nil))
	}
	q := corpus.At(17)
	b.ResetTimer()
	for b.Loop() {
		_ = Nearest(q, corpus, 5, nil)
	}
}

type guideInput struct {
	tenant string
	alerts []incident.Alert
}
