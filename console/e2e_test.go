package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/workflows"
)

// chromiumPath finds Debian's Chromium (`apt-get install chromium`; .ci/run installs it).
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("GUIDED_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium: install Debian's chromium (apt-get install chromium) or set GUIDED_CHROMIUM to a Chrome binary")
	return ""
}

// artifactsDir is where the screenshots go: $GUIDED_ARTIFACTS_DIR, else testdata/artifacts (ignored by git).
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("GUIDED_ARTIFACTS_DIR")
	if dir == "" {
		dir = filepath.Join("testdata", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// newBrowser starts headless Chromium with the flags this machine needs (no sandbox as root, no
// background connections to a network that is closed) and a fresh profile.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1440, 1000),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// step bounds one step of a test.
func step(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 45*time.Second)
	t.Cleanup(cancel)
	return c
}

// do runs browser actions, failing the test with what was being done and the page.
func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(step(t, ctx), actions...); err != nil {
		fail(t, ctx, what, err)
	}
}

// get runs one browser action that answers a value.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(step(t, ctx), a)
	if err != nil {
		fail(t, ctx, what, err)
	}
	return v
}

func fail(t *testing.T, ctx context.Context, what string, err error) {
	t.Helper()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	html, _ := chromedp.Run(pctx, chromedp.OuterHTML(chromedp.CSS("main")))
	if len(html) > 4000 {
		html = html[:4000] + "…"
	}
	t.Fatalf("%s: %v\npage: %s", what, err, html)
}

// selectOption chooses value in the select sel, as a user does (the change event fires).
func selectOption(sel, value string) chromedp.Action[chromedp.Void] {
	js := fmt.Sprintf(`(function(){var e=document.querySelector(%s); e.value=%s; e.dispatchEvent(new Event("change",{bubbles:true})); return e.value;})()`,
		jsString(sel), jsString(value))
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		got, err := chromedp.Evaluate[string](js)(ctx, tg)
		if err != nil {
			return chromedp.Void{}, err
		}
		if got != value {
			return chromedp.Void{}, fmt.Errorf("select %s: value %q, want %q", sel, got, value)
		}
		return chromedp.Void{}, nil
	}
}

// waitJS waits until the JavaScript expression is true.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(40*time.Second))(ctx, tg)
		return chromedp.Void{}, err
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

func signIn(t *testing.T, ctx context.Context, baseURL, token string) {
	t.Helper()
	do(t, ctx, "sign-in page", chromedp.Navigate(baseURL+"/console/"), chromedp.WaitVisible(css(`#token`)))
	checkAccessibility(t, ctx, "sign-in page")
	do(t, ctx, "sign in",
		chromedp.SendKeys(css(`#token`), token),
		chromedp.Click(css(`form[action="/console/sign-in"] button[type=submit]`)),
		chromedp.WaitVisible(css(`table.queue`)),
	)
}

// TestIncidentPageInBrowser works a phishing incident in headless Chromium over the embedded stack: the
// queue, the incident page with its cards, an action greyed out for a read-only analyst, a classification,
// a containment action applied and seen applied without a reload, feedback, similar incidents and similar
// emails. It saves screenshots of the queue and the incident page.
func TestIncidentPageInBrowser(t *testing.T) {
	f := newFixture(t)
	// An earlier incident of the same campaign, worked to its end: it is the similar incident.
	f.ingest("../incident/testdata/native_phishing.json",
		`"id": "3201"`, `"id": "3190"`,
		"Phishing email with credential-harvesting link reported by a user", "Earlier phishing email from the same sender",
		`"createdAt": "2024-05-17T09:12:00Z"`, `"createdAt": "2024-05-16T08:00:00Z"`,
		// Its own alerts: an alert belongs to one incident.
		"fa7c1e2d3b4a-5968", "0b7c1e2d3b4a-5968", "fa9d8c7b6a5f-4e3d", "0b9d8c7b6a5f-4e3d")
	f.closeAsAnalysts("3190", string(incident.ClassificationTruePositive), string(incident.DeterminationPhishing))
	f.ingest("../incident/testdata/native_phishing.json")
	cards := f.cards("3201", alice)

	// The containment card alice may apply alone.
	var target workflows.CardView
	for _, cv := range cards.Cards {
		if cv.Category == card.CategoryContainment && cv.Available && cv.Action.Applicable() && cv.ApprovalsRequired <= 1 {
			target = cv
			break
		}
	}
	if target.ID == "" {
		t.Fatalf("no containment card alice may apply alone: %+v", cards.Cards)
	}
	cardSel := "#card-" + target.ID
	ctx := newBrowser(t)
	base := f.srv.URL
	incidentURL := base + "/console/incidents/" + tenant + "/3201"

	t.Run("a read-only analyst sees the actions greyed out with the missing permission", func(t *testing.T) {
		signIn(t, ctx, base, f.tokens[rita])
		do(t, ctx, "open the incident as rita", chromedp.Navigate(incidentURL), chromedp.WaitVisible(css(cardSel)))
		checkAccessibility(t, ctx, "incident page, read-only")
		disabled := get(t, ctx, "apply button", chromedp.Evaluate[bool](fmt.Sprintf(`document.querySelector(%s).disabled`, jsString(cardSel+` button[value=approve]`))))
		reason := get(t, ctx, "reason", chromedp.Text(css(cardSel+` .unavailable`)))
		if !disabled {
			t.Error("the Apply button is enabled for a read-only analyst")
		}
		if !strings.Contains(reason, "lacks permission") || !strings.Contains(reason, string(target.Permission)) {
			t.Errorf("reason %q does not name the missing permission %s", reason, target.Permission)
		}
		if !get(t, ctx, "classification form", chromedp.Evaluate[bool](`document.querySelector("form.classify fieldset").disabled`)) {
			t.Error("the classification form is enabled for a read-only analyst")
		}
		do(t, ctx, "sign out", chromedp.Click(css(`form[action="/console/sign-out"] button`)), chromedp.WaitVisible(css(`#token`)))
	})
	if t.Failed() {
		return
	}

	shots := artifactsDir(t)
	t.Run("the queue lists the incidents, newest first", func(t *testing.T) {
		signIn(t, ctx, base, f.tokens[alice])
		ids := get(t, ctx, "queue rows", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("table.queue tbody tr[data-incident]")).map(r => r.dataset.incident)`))
		if len(ids) != 2 || ids[0] != "3201" || ids[1] != "3190" {
			t.Errorf("queue rows %v, want [3201 3190]", ids)
		}
		writeShot(t, shots, "console-queue.png", get(t, ctx, "screenshot", chromedp.FullScreenshot(100)))
		checkAccessibility(t, ctx, "queue")
	})

	t.Run("open the phishing incident and see its cards", func(t *testing.T) {
		do(t, ctx, "open from the queue", chromedp.Click(css(`tr[data-incident="3201"] a`)), chromedp.WaitVisible(css(cardSel)))
		title := get(t, ctx, "title", chromedp.Text(css(`h1`)))
		groups := get(t, ctx, "groups", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#pane section.group h3")).map(h => h.textContent)`))
		if !strings.Contains(title, "Phishing email") {
			t.Errorf("title %q", title)
		}
		for _, want := range []string{"Triage", "Containment", "Investigation"} {
			if !contains(groups, want) {
				t.Errorf("no %s cards: groups %v", want, groups)
			}
		}
	})

	t.Run("classify as an analyst", func(t *testing.T) {
		do(t, ctx, "classify",
			selectOption(`#classification`, string(incident.ClassificationTruePositive)),
			selectOption(`#determination`, string(incident.DeterminationPhishing)),
			chromedp.Click(css(`form.classify button[type=submit]`)),
			chromedp.WaitVisible(css(`#classified`)),
		)
		classified := get(t, ctx, "classified", chromedp.Text(css(`#classified`)))
		if !strings.Contains(classified, "True positive") || !strings.Contains(classified, "Phishing") || !strings.Contains(classified, alice) {
			t.Errorf("classified %q", classified)
		}
		if fact := get(t, ctx, "header", chromedp.Text(css(`#classification-fact`))); !strings.Contains(fact, "True positive") {
			t.Errorf("the header still says %q", fact)
		}
		if st := f.status("3201"); st.Classification == nil || st.Classification.Determination != incident.DeterminationPhishing {
			t.Errorf("workflow classification %+v", st.Classification)
		}
	})

	t.Run("apply a containment action and see it applied without reloading", func(t *testing.T) {
		// A marker on the window: a reload would lose it.
		get(t, ctx, "mark the window", chromedp.Evaluate[bool](`window.__noReload = true`))
		do(t, ctx, "apply",
			chromedp.Click(css(cardSel+` button[value=approve]`)),
			waitJS(fmt.Sprintf(`(function(){var s=document.querySelector(%s); return !!s && s.dataset.status === "applied";})()`, jsString(cardSel+` [data-status]`))),
		)
		if !get(t, ctx, "no reload", chromedp.Evaluate[bool](`window.__noReload === true`)) {
			t.Error("the page reloaded")
		}
		for _, cv := range f.cards("3201", alice).Cards {
			if cv.ID == target.ID && cv.Status != card.StatusApplied {
				t.Errorf("card %s is %s in the workflow", cv.ID, cv.Status)
			}
		}
	})

	t.Run("give feedback", func(t *testing.T) {
		do(t, ctx, "helpful",
			chromedp.SendKeys(css(cardSel+` form.feedback input[name=comment]`), "isolated in time"),
			chromedp.Click(css(cardSel+` form.feedback button[value=true]`)),
			chromedp.WaitVisible(css(cardSel+` .given[data-helpful=true]`)),
		)
		fb, err := f.env.Store.ListFeedback(context.Background(), tenant, "3201")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, x := range fb {
			if x.CardID == target.ID && x.Principal == alice && x.Helpful && x.Comment == "isolated in time" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d feedback rows for the card, want 1: %+v", n, fb)
		}
	})

	t.Run("view similar incidents", func(t *testing.T) {
		const rowSel = `#similar tr[data-incident="3190"]`
		do(t, ctx, "similar tab", chromedp.Click(css(`#tab-similar`)), chromedp.WaitVisible(css(rowSel)))
		row := get(t, ctx, "row", chromedp.Text(css(rowSel)))
		href := get(t, ctx, "link", chromedp.AttributeValue(css(rowSel+` a`), "href"))
		if !strings.Contains(row, "True positive") || !strings.Contains(row, "Phishing") {
			t.Errorf("similar incident row %q lacks its grade", row)
		}
		if !href.Exists || !strings.HasSuffix(href.Value, "/console/incidents/"+tenant+"/3190") {
			t.Errorf("similar incident link %+v", href)
		}
	})

	t.Run("view similar emails and copy the query", func(t *testing.T) {
		for _, name := range []string{"clipboard-read", "clipboard-write"} {
			if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
				Permission: &browser.PermissionDescriptor{Name: name}, Setting: browser.PermissionSettingGranted, Origin: base,
			}); err != nil {
				t.Fatalf("grant %s: %v", name, err)
			}
		}
		do(t, ctx, "emails tab",
			chromedp.Click(css(`#tab-emails`)),
			chromedp.WaitVisible(css(`#kql-similar-emails`)),
			chromedp.Click(css(`#panel-emails button[data-copy]`)),
			waitJS(`document.querySelector("#panel-emails .copied").textContent !== ""`),
		)
		query := get(t, ctx, "query", chromedp.TextContent(css(`#kql-similar-emails`)))
		copied := get(t, ctx, "copy note", chromedp.Text(css(`#panel-emails .copied`)))
		clip := get(t, ctx, "clipboard", chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
		if !strings.Contains(query, "EmailEvents") {
			t.Errorf("similar-emails query %q", query)
		}
		if copied != "Copied." || clip != query {
			t.Errorf("copy said %q; clipboard %q, want the query", copied, clip)
		}
	})

	t.Run("screenshot of the incident page", func(t *testing.T) {
		do(t, ctx, "cards tab", chromedp.Click(css(`#tab-cards`)), chromedp.WaitVisible(css(cardSel)))
		// What the analyst sees on a laptop-sized window, scrolled to the top.
		get(t, ctx, "scroll", chromedp.Evaluate[bool](`(function(){ window.scrollTo(0, 0); return true; })()`))
		writeShot(t, shots, "console-incident.png", get(t, ctx, "screenshot", chromedp.CaptureScreenshot()))
		// And further down the pane: the applied containment card with the feedback given.
		get(t, ctx, "scroll to the card", chromedp.Evaluate[bool](fmt.Sprintf(`(function(){ document.querySelector(%s).scrollIntoView({block: "center"}); return true; })()`, jsString(cardSel))))
		writeShot(t, shots, "console-card.png", get(t, ctx, "screenshot", chromedp.CaptureScreenshot()))
		checkAccessibility(t, ctx, "incident page")
	})
}

// axeViolation is one rule axe-core found broken, with the elements that break it.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any  `json:"target"`
		HTML   string `json:"html"`
	} `json:"nodes"`
}

// checkAccessibility runs axe-core (WCAG 2 A and AA rules: labels, names, contrast, ARIA, keyboard
// focusability) on the current page and fails the test for each violation.
func checkAccessibility(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "axe", "axe-4.14.1.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	// DevTools evaluation is not subject to the page's CSP: the product never serves axe.
	get(t, ctx, "load axe-core", chromedp.Evaluate[bool](string(src)+";true"))
	raw := get(t, ctx, "run axe-core", chromedp.Evaluate[string](
		`axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}).then(r => JSON.stringify(r.violations))`,
		chromedp.EvalAwaitPromise))
	var violations []axeViolation
	if err := json.Unmarshal([]byte(raw), &violations); err != nil {
		t.Fatalf("axe-core answer: %v", err)
	}
	for _, v := range violations {
		var where []string
		for i, n := range v.Nodes {
			if i == 3 {
				where = append(where, fmt.Sprintf("and %d more", len(v.Nodes)-3))
				break
			}
			where = append(where, n.HTML)
		}
		t.Errorf("%s: accessibility: %s (%s, %s): %s", what, v.ID, v.Impact, v.Help, strings.Join(where, " | "))
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.TrimSpace(x) == s {
			return true
		}
	}
	return false
}

// writeShot saves a screenshot as a test artifact; with GUIDED_UPDATE_DOCS=1 it also replaces the README's
// copy in docs/.
func writeShot(t *testing.T, dir, name string, png []byte) {
	t.Helper()
	if len(png) < 1000 {
		t.Fatalf("screenshot %s is %d bytes", name, len(png))
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	if os.Getenv("GUIDED_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(filepath.Join("..", "docs", name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
