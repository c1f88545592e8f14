package learn

import (
	"cmp"
	"math/rand/v2"
	"slices"

	"github.com/guided-response/guided/guide"
)

// ActionsVersion names the action model's format.
const ActionsVersion = "actions-v2"

// ActionModel recommends remediation actions for an incident (multi-label). The frequent actions have a
// classifier each: boosted trees over the triage features, trained on the training incidents that
// carry action labels, answering "was this action among those taken?". The rarer ones are voted for
// by the K nearest labelled incidents (cosine similarity of the embedding), each with its similarity;
// the same neighbours are the "similar incidents where this was done" a card can show. The incidents
// with action labels are few (about 26,000 of GUIDE's million), so both are cheap.
type ActionModel struct {
	Version string `json:"version"`
	// Names are the actions, sorted; Labels[i] the indexes of the actions of labelled incident i, whose
	// embedding is Vectors.At(i).
	Names   []string  `json:"names"`
	Labels  [][]int32 `json:"labels"`
	Vectors Vectors   `json:"vectors"`
	// K neighbours vote; an action with no classifier is recommended at MinVote of the votes.
	K       int     `json:"k"`
	MinVote float64 `json:"minVote"`
	// Classifiers[a] is action a's two-class model (class 1: taken), nil for actions with too few
	// examples; an action is recommended at MinProbability.
	Classifiers    []*GBDT `json:"classifiers"`
	MinProbability float64 `json:"minProbability"`
}

// ActionOptions configure FitActions. The zero value uses the defaults.
type ActionOptions struct {
	// K neighbours vote (default 10); MinVote is the share of votes that recommends (default 0.5).
	K       int
	MinVote float64
	// MinExamples is the fewest labelled incidents with (and without) an action for it to get a
	// classifier (default 30); MaxClassifiers caps how many of the most frequent actions get one
	// (default 24); MinProbability recommends (default 0.5).
	MinExamples    int
	MaxClassifiers int
	MinProbability float64
	Seed           int64
	Workers        int
}

func (o ActionOptions) withDefaults() ActionOptions {
	if o.K <= 0 {
		o.K = 10
	}
	if o.MinVote <= 0 {
		o.MinVote = 0.5
	}
	if o.MinExamples <= 0 {
		o.MinExamples = 30
	}
	if o.MaxClassifiers <= 0 {
		o.MaxClassifiers = 24
	}
	if o.MinProbability <= 0 {
		o.MinProbability = 0.5
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	return o
}

// FitActions learns the action model from the training incidents that have actions: their embeddings
// and actions for the votes, and a classifier for each frequent action over the features f.
func FitActions(e *Embedder, f *Features, train []*guide.Incident, opts ActionOptions) (*ActionModel, error) {
	opts = opts.withDefaults()
	m := &ActionModel{Version: ActionsVersion, K: opts.K, MinVote: opts.MinVote, MinProbability: opts.MinProbability,
		Vectors: Vectors{Dim: e.Dim}}
	count := map[string]int{}
	var labelled []*guide.Incident
	for _, inc := range train {
		if len(inc.Actions) == 0 {
			continue
		}
		labelled = append(labelled, inc)
		for _, a := range inc.Actions {
			count[a]++
		}
	}
	for a := range count {
		m.Names = append(m.Names, a)
	}
	slices.Sort(m.Names)
	var v []float32
	for _, inc := range labelled {
		labels := make([]int32, 0, len(inc.Actions))
		for _, a := range inc.Actions {
			i, _ := slices.BinarySearch(m.Names, a)
			labels = append(labels, int32(i))
		}
		slices.Sort(labels)
		m.Labels = append(m.Labels, slices.Compact(labels))
		v = e.Embed(inc, v)
		m.Vectors.Append(v)
	}
	m.Classifiers = make([]*GBDT, len(m.Names))
	if f == nil || len(labelled) < 2*opts.MinExamples {
		return m, nil
	}

	// The frequent actions, most frequent first.
	byCount := slices.Clone(m.Names)
	slices.SortStableFunc(byCount, func(a, b string) int { return cmp.Compare(count[b], count[a]) })
	var chosen []int
	for _, a := range byCount {
		if len(chosen) == opts.MaxClassifiers || count[a] < opts.MinExamples || len(labelled)-count[a] < opts.MinExamples {
			continue
		}
		i, _ := slices.BinarySearch(m.Names, a)
		chosen = append(chosen, i)
	}
	if len(chosen) == 0 {
		return m, nil
	}
	// One binning and one split (85% fit, 15% for early stopping) for all of them.
	X := make([][]float32, len(labelled))
	for i, inc := range labelled {
		X[i] = f.Vector(inc, nil)
	}
	binner := FitBinner(X, MaxBins)
	rng := rand.New(rand.NewPCG(uint64(opts.Seed), 0xac7))
	perm := rng.Perm(len(labelled))
	nValid := max(1, len(labelled)*15/100)
	validIdx, fitIdx := perm[:nValid], perm[nValid:]
	slices.Sort(validIdx)
	slices.Sort(fitIdx)
	p := GBDTParams{Rounds: 200, LearningRate: 0.1, MaxDepth: 4, MinSamplesLeaf: 5, MinHessian: 1e-3, Lambda: 1,
		RowSample: 1, FeatureSample: 0.8, EarlyStopping: 20, MinImprovement: 1e-4, Workers: opts.Workers, Seed: opts.Seed}
	fitDS, validDS := NewDataset(binner, len(fitIdx)), NewDataset(binner, len(validIdx))
	for _, a := range chosen {
		taken := func(i int) int {
			if slices.Contains(m.Labels[i], int32(a)) {
				return 1
			}
			return 0
		}
		for j, i := range fitIdx {
			fitDS.Set(j, X[i], taken(i))
		}
		for j, i := range validIdx {
			validDS.Set(j, X[i], taken(i))
		}
		c, _, err := TrainGBDT(fitDS, validDS, 2, p, nil)
		if err != nil {
			return nil, err
		}
		m.Classifiers[a] = c
	}
	return m, nil
}

// ActionScore is an action and how strongly it is recommended (0..1): its classifier's probability, or
// its share of the neighbours' votes for an action without a classifier.
type ActionScore struct {
	Action string  `json:"action"`
	Score  float64 `json:"score"`
	// Voted is set when the score is the neighbours' vote.
	Voted bool `json:"voted,omitempty"`
}

// Scores are the actions the K nearest labelled incidents took, each with its share of their
// similarity-weighted votes, highest first (ties by name): "in 4 of the 5 most similar incidents,
// analysts isolated the device". Empty when the model has no labelled incidents.
func (m *ActionModel) Scores(embedding []float32) []ActionScore {
	if m == nil || m.Vectors.Len() == 0 {
		return nil
	}
	var out []ActionScore
	for a, v := range m.votes(embedding) {
		if v > 0 {
			out = append(out, ActionScore{Action: m.Names[a], Score: v, Voted: true})
		}
	}
	sortScores(out)
	return out
}

// Probabilities are the candidate actions for an incident with feature vector x and embedding,
// highest first (ties by name): the classifier's probability for the actions that have one, the
// neighbours' vote share for the others. Empty when the model has no labelled incidents.
func (m *ActionModel) Probabilities(x, embedding []float32) []ActionScore {
	if m == nil || len(m.Names) == 0 {
		return nil
	}
	var out []ActionScore
	var votes []float64
	for a, c := range m.Classifiers {
		if c != nil {
			if p := c.Predict(x)[1]; p > 0.01 {
				out = append(out, ActionScore{Action: m.Names[a], Score: p})
			}
			continue
		}
		if votes == nil {
			votes = m.votes(embedding)
		}
		if votes[a] > 0 {
			out = append(out, ActionScore{Action: m.Names[a], Score: votes[a], Voted: true})
		}
	}
	sortScores(out)
	return out
}

func sortScores(s []ActionScore) {
	slices.SortFunc(s, func(a, b ActionScore) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.Action, b.Action)
	})
}

// votes is each action's share of the similarity-weighted votes of the K nearest labelled incidents.
func (m *ActionModel) votes(embedding []float32) []float64 {
	votes := make([]float64, len(m.Names))
	if m.Vectors.Len() == 0 || len(embedding) != m.Vectors.Dim {
		return votes
	}
	total := 0.0
	for _, n := range m.Neighbours(embedding) {
		w := max(float64(n.Similarity), 0)
		total += w
		for _, a := range m.Labels[n.Index] {
			votes[a] += w
		}
	}
	if total > 0 {
		for a := range votes {
			votes[a] /= total
		}
	}
	return votes
}

// Neighbours are the K labelled training incidents nearest the embedding (indexes into Labels).
func (m *ActionModel) Neighbours(embedding []float32) []Neighbour {
	return Nearest(embedding, &m.Vectors, m.K, nil)
}

// Recommend is the actions whose score reaches the model's bar (MinProbability for a classifier,
// MinVote for a vote), highest first.
func (m *ActionModel) Recommend(x, embedding []float32) []string {
	var out []string
	for _, s := range m.Probabilities(x, embedding) {
		if (s.Voted && s.Score >= m.MinVote) || (!s.Voted && s.Score >= m.MinProbability) {
			out = append(out, s.Action)
		}
	}
	return out
}
